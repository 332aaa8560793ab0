//! From QEMU's PVH entry to Rust: the ELF note that names the entry, and the 32-bit trampoline
//! that enters long mode and calls [`kernel_main`](crate::kernel_main).
//!
//! PVH starts the kernel in 32-bit protected mode with paging off and `EBX` pointing at the
//! `hvm_start_info`. The trampoline:
//! 1. loads a GDT with a 64-bit code segment and flat data segments;
//! 2. zeroes `.bss` (boot page tables and stacks live there);
//! 3. identity-maps the first 1 GiB with 2 MiB pages, enough to run the image at 1 MiB and to
//!    reach the RAM from which the direct map's first tables come;
//! 4. enables PAE, SSE (the host target's `core` uses it: CR0.EM clear, CR0.MP, CR4.OSFXSR,
//!    CR4.OSXMMEXCPT), long mode and no-execute pages (`EFER.LME`, `EFER.NXE`) and paging;
//! 5. far-jumps to 64-bit code, which sets a stack and calls `kernel_main(start_info)`.
//!
//! Interrupts stay disabled for the kernel's whole life: the host target's code uses the red
//! zone, so only exceptions (each on an IST stack, see `exceptions.rs`) may interrupt it.

use core::arch::global_asm;

/// Bytes of the boot stack, on which all of the kernel's Rust code runs.
pub const BOOT_STACK_BYTES: usize = 1 << 20;

// The PVH note: name "Xen", type 18 (XEN_ELFNOTE_PHYS32_ENTRY), an 8-byte payload holding the
// 32-bit physical entry address.
global_asm!(
    r#"
    .pushsection .note.pvh, "a", @note
    .p2align 2
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .p2align 2
    .quad pvh_start32
    .popsection
    "#
);

global_asm!(
    r#"
    .pushsection .text.boot, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    movl %ebx, %esi

    lgdt boot_gdt_pointer
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    movl $boot_stack_top, %esp

    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb

    movl $boot_pdpt, %eax
    orl $0x3, %eax
    movl %eax, boot_pml4
    movl $boot_pd, %eax
    orl $0x3, %eax
    movl %eax, boot_pdpt
    movl $boot_pd, %edi
    movl $0x83, %eax
    movl $512, %ecx
1:
    movl %eax, (%edi)
    movl $0, 4(%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    movl %cr4, %eax
    orl $((1 << 5) | (1 << 9) | (1 << 10)), %eax
    movl %eax, %cr4
    movl $boot_pml4, %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    movl %cr0, %eax
    andl $~(1 << 2), %eax
    orl $((1 << 31) | (1 << 1) | 1), %eax
    movl %eax, %cr0
    ljmp $0x08, $long_mode_entry

    .code64
long_mode_entry:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_stack_top, %rsp
    movl %esi, %edi
    call kernel_main
2:
    hlt
    jmp 2b
    .popsection

    .pushsection .rodata.boot_gdt, "a"
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdt_end:
boot_gdt_pointer:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
    .popsection

    .pushsection .bss.boot_tables, "aw", @nobits
    .p2align 12
    .global boot_pml4
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096
    .popsection

    .pushsection .bss.boot_stack, "aw", @nobits
    .p2align 12
    .global boot_stack_bottom
boot_stack_bottom:
    .skip {stack_bytes}
    .global boot_stack_top
boot_stack_top:
    .popsection
    "#,
    stack_bytes = const BOOT_STACK_BYTES,
    options(att_syntax)
);

/// Bytes the boot page tables identity-map: the image runs there, and RAM below it is reachable
/// before the direct map exists.
pub const BOOT_IDENTITY_BYTES: u64 = 1 << 30;
