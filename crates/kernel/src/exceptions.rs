//! Exception handlers: an assembly stub per vector saves the registers on the vector's IST
//! stack and calls [`exception_dispatch`] with them.
//!
//! A page fault is a bug check (`PAGE_FAULT_IN_NONPAGED_AREA`, 0x50), as on Windows, unless it
//! comes from [`probe_read`]: that one load is allowed to fault, and the handler resumes it with
//! a fault indication. This is how the kernel's self-test shows that an unmapped system address
//! really faults, and that the handler runs on its own stack. Every other exception is
//! `KMODE_EXCEPTION_NOT_HANDLED` (0x1E), and a double fault `UNEXPECTED_KERNEL_MODE_TRAP` (0x7F).

use core::arch::global_asm;
use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering};

use iospace_mm::bug_check::{BugCheck, code, kmode_exception_not_handled};

use crate::cpu::read_cr2;

/// Vectors 0..32: the architectural exceptions.
pub const EXCEPTION_VECTORS: usize = 32;

const PAGE_FAULT: u64 = 14;
const DOUBLE_FAULT: u64 = 8;
/// `UNEXPECTED_KERNEL_MODE_TRAP`.
const UNEXPECTED_KERNEL_MODE_TRAP: u32 = 0x7F;

// Vectors whose exception pushes an error code: 8, 10-14, 17, 21, 29, 30. The others push a
// zero in its place so that every frame has the same shape.
global_asm!(
    r#"
    .pushsection .text.exceptions, "ax"
    .irp vector, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
exception_stub_\vector:
    push 0
    push \vector
    jmp exception_common
    .endr
    .irp vector, 8,10,11,12,13,14,17,21,29,30
exception_stub_\vector:
    push \vector
    jmp exception_common
    .endr

exception_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    cld
    call exception_dispatch
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

    .global kernel_probe_read
kernel_probe_read:
    xor edx, edx
    .global kernel_probe_read_load
kernel_probe_read_load:
    mov rax, qword ptr [rdi]
    .global kernel_probe_read_resume
kernel_probe_read_resume:
    ret
    .popsection

    .pushsection .rodata.exception_stubs, "a"
    .p2align 3
    .global exception_stubs
exception_stubs:
    .irp vector, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad exception_stub_\vector
    .endr
    .popsection
    "#
);

/// What a stub leaves on the stack: the saved registers, the vector, the error code and the
/// frame the CPU pushed.
#[repr(C)]
#[derive(Debug)]
pub struct ExceptionFrame {
    r15: u64,
    r14: u64,
    r13: u64,
    r12: u64,
    r11: u64,
    r10: u64,
    r9: u64,
    r8: u64,
    rbp: u64,
    rdi: u64,
    rsi: u64,
    rdx: u64,
    rcx: u64,
    rbx: u64,
    rax: u64,
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

/// What [`kernel_probe_read`] returns in `rax:rdx`.
#[repr(C)]
struct ProbeOutcome {
    value: u64,
    faulted: u64,
}

unsafe extern "C" {
    static exception_stubs: [u64; EXCEPTION_VECTORS];
    /// Loads the quadword at the address in `rdi`; a page fault on that load resumes at the
    /// return with `rdx = 1`.
    fn kernel_probe_read(address: u64) -> ProbeOutcome;
    static kernel_probe_read_load: u8;
    static kernel_probe_read_resume: u8;
}

/// The entry point of vector `vector`'s stub.
pub fn exception_stub_address(vector: usize) -> u64 {
    // SAFETY: the table is immutable data emitted with the stubs, with one entry per vector.
    unsafe { exception_stubs[vector] }
}

/// A page fault the probe caught.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaughtFault {
    /// The faulting linear address (CR2).
    pub address: u64,
    /// The page-fault error code (bit 0: the page was present).
    pub error_code: u64,
    /// Where the handler's stack was when it ran.
    pub handler_stack: u64,
}

static LAST_FAULT_ADDRESS: AtomicU64 = AtomicU64::new(0);
static LAST_FAULT_ERROR: AtomicU64 = AtomicU64::new(0);
static LAST_FAULT_STACK: AtomicU64 = AtomicU64::new(0);

/// Reads the quadword at `address`, or reports the page fault it raised.
pub fn probe_read(address: u64) -> Result<u64, CaughtFault> {
    // SAFETY: the load either reads a mapped quadword (the value is returned, nothing is
    // referenced) or faults, and the page-fault handler resumes after it with `faulted = 1`.
    let outcome = unsafe { kernel_probe_read(address) };
    if outcome.faulted == 0 {
        return Ok(outcome.value);
    }
    Err(CaughtFault {
        address: LAST_FAULT_ADDRESS.load(Ordering::Relaxed),
        error_code: LAST_FAULT_ERROR.load(Ordering::Relaxed),
        handler_stack: LAST_FAULT_STACK.load(Ordering::Relaxed),
    })
}

/// Called by every stub with the saved state, on the vector's IST stack.
#[unsafe(no_mangle)]
extern "C" fn exception_dispatch(frame: &mut ExceptionFrame) {
    let here = Location::caller();
    if frame.vector == PAGE_FAULT {
        let address = read_cr2();
        if frame.rip == &raw const kernel_probe_read_load as u64 {
            LAST_FAULT_ADDRESS.store(address, Ordering::Relaxed);
            LAST_FAULT_ERROR.store(frame.error_code, Ordering::Relaxed);
            LAST_FAULT_STACK.store(frame as *const ExceptionFrame as u64, Ordering::Relaxed);
            frame.rdx = 1;
            frame.rip = &raw const kernel_probe_read_resume as u64;
            return;
        }
        // P2: 0 read, 1 write (error code bit 1); P3: the faulting instruction; P4: the error
        // code (Windows puts a reserved value there; the error code is more useful).
        let write = (frame.error_code >> 1) & 1;
        crate::stop::bug_check(&BugCheck::new(
            code::PAGE_FAULT_IN_NONPAGED_AREA,
            [address, write, frame.rip, frame.error_code],
            here,
        ));
    }
    if frame.vector == DOUBLE_FAULT {
        crate::stop::bug_check(&BugCheck::new(UNEXPECTED_KERNEL_MODE_TRAP, [DOUBLE_FAULT, 0, 0, 0], here));
    }
    crate::stop::bug_check(&BugCheck::new(
        kmode_exception_not_handled::CODE,
        [frame.vector, frame.rip, frame.error_code, frame.rsp],
        here,
    ))
}
