//! The 64-bit GDT with a TSS, and the IDT: every exception vector runs on an IST stack of its
//! own kind, so that an exception never lands on the interrupted code's red zone.
//!
//! | IST | vectors | why its own stack |
//! |---|---|---|
//! | 1 | page fault (14) | the page-fault handler must run even when the fault is a stack overflow |
//! | 2 | double fault (8) | a fault while handling a fault |
//! | 3 | every other exception | the red zone of the interrupted code stays intact |

use core::arch::asm;
use core::mem::size_of;

use crate::exceptions::{EXCEPTION_VECTORS, exception_stub_address};

/// Bytes of each IST stack.
pub const IST_STACK_BYTES: usize = 16 * 1024;

/// The IST slot (1-based) of the page-fault handler.
pub const PAGE_FAULT_IST: u8 = 1;
/// The IST slot of the double-fault handler.
pub const DOUBLE_FAULT_IST: u8 = 2;
/// The IST slot of every other exception.
pub const OTHER_EXCEPTIONS_IST: u8 = 3;

const KERNEL_CODE_SELECTOR: u16 = 0x08;
const TSS_SELECTOR: u16 = 0x18;

#[repr(C, align(16))]
struct Stack([u8; IST_STACK_BYTES]);

static mut IST_STACKS: [Stack; 3] = [const { Stack([0; IST_STACK_BYTES]) }; 3];

/// The 64-bit task-state segment: only the IST pointers are used.
#[repr(C, packed(4))]
struct TaskStateSegment {
    reserved0: u32,
    privilege_stacks: [u64; 3],
    reserved1: u64,
    interrupt_stacks: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    io_map_base: u16,
}

static mut TSS: TaskStateSegment = TaskStateSegment {
    reserved0: 0,
    privilege_stacks: [0; 3],
    reserved1: 0,
    interrupt_stacks: [0; 7],
    reserved2: 0,
    reserved3: 0,
    // No I/O permission bitmap: the offset points past the segment's limit.
    io_map_base: size_of::<TaskStateSegment>() as u16,
};

/// Null, 64-bit code, data, and the two halves of the TSS descriptor.
static mut GDT: [u64; 5] = [0, 0x00AF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF, 0, 0];

/// One interrupt gate.
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    attributes: u8,
    offset_middle: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const MISSING: Self = Self {
        offset_low: 0,
        selector: 0,
        ist: 0,
        attributes: 0,
        offset_middle: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A present 64-bit interrupt gate (interrupts stay off inside the handler) at ring 0.
    const fn interrupt(handler: u64, ist: u8) -> Self {
        Self {
            offset_low: handler as u16,
            selector: KERNEL_CODE_SELECTOR,
            ist,
            attributes: 0x8E,
            offset_middle: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

static mut IDT: [Gate; EXCEPTION_VECTORS] = [Gate::MISSING; EXCEPTION_VECTORS];

/// The operand of `lgdt` and `lidt`.
#[repr(C, packed)]
struct TablePointer {
    limit: u16,
    base: u64,
}

/// The `[bottom, top)` range of IST stack `ist` (1-based), for checks that a handler ran there.
pub fn ist_stack_range(ist: u8) -> (u64, u64) {
    let stack = (&raw const IST_STACKS).cast::<Stack>().wrapping_add(usize::from(ist) - 1);
    let bottom = stack as u64;
    (bottom, bottom + IST_STACK_BYTES as u64)
}

/// Loads the GDT with the TSS and the IDT with a gate per exception vector. Called once, at
/// boot, with interrupts off.
pub fn init() {
    let tss = &raw mut TSS;
    let mut interrupt_stacks = [0u64; 7];
    for ist in [PAGE_FAULT_IST, DOUBLE_FAULT_IST, OTHER_EXCEPTIONS_IST] {
        interrupt_stacks[usize::from(ist) - 1] = ist_stack_range(ist).1;
    }
    let base = tss as u64;
    let limit = (size_of::<TaskStateSegment>() - 1) as u64;
    // Available 64-bit TSS (type 9), present, in the low quadword; the high quadword holds
    // bits 32..63 of the base.
    let low = (limit & 0xFFFF)
        | (base & 0xFF_FFFF) << 16
        | 0x89 << 40
        | ((limit >> 16) & 0xF) << 48
        | ((base >> 24) & 0xFF) << 56;
    let high = base >> 32;
    let gdt = &raw mut GDT;
    let idt = &raw mut IDT;
    for vector in 0..EXCEPTION_VECTORS {
        let ist = match vector {
            14 => PAGE_FAULT_IST,
            8 => DOUBLE_FAULT_IST,
            _ => OTHER_EXCEPTIONS_IST,
        };
        let gate = Gate::interrupt(exception_stub_address(vector), ist);
        // SAFETY: boot runs on one CPU with interrupts off; nothing reads the IDT until `lidt`.
        unsafe { (*idt)[vector] = gate };
    }
    // SAFETY: one CPU, interrupts off, and the tables are not in use yet (the boot GDT has the
    // same code and data selectors, so reloading CS keeps executing the same code). The
    // pointers are to statics that live forever.
    unsafe {
        (*tss).interrupt_stacks = interrupt_stacks;
        (*gdt)[3] = low;
        (*gdt)[4] = high;
        let gdt_pointer = TablePointer { limit: (size_of::<[u64; 5]>() - 1) as u16, base: gdt as u64 };
        let idt_pointer =
            TablePointer { limit: (size_of::<[Gate; EXCEPTION_VECTORS]>() - 1) as u16, base: idt as u64 };
        asm!(
            "lgdt [{gdt}]",
            "push {code}",
            "lea {scratch}, [rip + 2f]",
            "push {scratch}",
            "retfq",
            "2:",
            "ltr {tss:x}",
            "lidt [{idt}]",
            gdt = in(reg) &raw const gdt_pointer,
            idt = in(reg) &raw const idt_pointer,
            code = in(reg) u64::from(KERNEL_CODE_SELECTOR),
            tss = in(reg) TSS_SELECTOR,
            scratch = out(reg) _,
        );
    }
}
