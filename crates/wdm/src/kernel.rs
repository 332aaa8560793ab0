//! The kernel routines a driver's hardware code uses beside the memory manager:
//! `KeGetCurrentIrql`, `KeRaiseIrql`, `KeLowerIrql`, `KeStallExecutionProcessor` and
//! `KeBugCheckEx`.
//!
//! The IRQL is per thread: each host thread is a CPU of the machine with its own level, as the
//! hosted platform keeps it.

use iospace_mm::nt;

use crate::boundary::{enter, page_fault};

/// `KIRQL KeGetCurrentIrql(VOID)`: the calling thread's IRQL.
///
/// # IRQL
/// Any.
#[unsafe(no_mangle)]
pub extern "C" fn KeGetCurrentIrql() -> u8 {
    enter("KeGetCurrentIrql", |machine| nt::ke_get_current_irql(machine.mm()))
}

/// `VOID KeRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql)`: raises the calling thread's IRQL to
/// `NewIrql` and stores the previous level in `*OldIrql`.
///
/// # IRQL
/// Any; `NewIrql` must not be below the current level.
///
/// # Bug checks
/// 0x09 `IRQL_NOT_GREATER_OR_EQUAL` for a lower (or above `HIGH_LEVEL`) `NewIrql`; 0x50 for a
/// NULL `OldIrql`.
///
/// # Safety
/// `old_irql` is NULL or points to a writable `KIRQL`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn KeRaiseIrql(new_irql: u8, old_irql: *mut u8) {
    enter("KeRaiseIrql", |machine| {
        if old_irql.is_null() {
            page_fault(0, true);
        }
        let previous = nt::ke_raise_irql(machine.mm(), new_irql);
        // SAFETY: the caller passes a writable KIRQL (checked non-null).
        unsafe { old_irql.write(previous) };
    })
}

/// `VOID KeLowerIrql(KIRQL NewIrql)`: lowers the calling thread's IRQL to `NewIrql`.
///
/// # IRQL
/// Any; `NewIrql` must not be above the current level.
///
/// # Bug checks
/// 0x0A `IRQL_NOT_LESS_OR_EQUAL` for a higher `NewIrql`.
#[unsafe(no_mangle)]
pub extern "C" fn KeLowerIrql(new_irql: u8) {
    enter("KeLowerIrql", |machine| nt::ke_lower_irql(machine.mm(), new_irql))
}

/// `VOID KeStallExecutionProcessor(ULONG MicroSeconds)`: busy-waits. The machine has no clock,
/// so a stall is where time passes for the devices: every pending device operation (an edu
/// factorial, a DMA transfer) completes, whatever the number of microseconds.
///
/// # IRQL
/// Any.
#[unsafe(no_mangle)]
pub extern "C" fn KeStallExecutionProcessor(_micro_seconds: u32) {
    enter("KeStallExecutionProcessor", |machine| machine.tick())
}

/// `VOID KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR BugCheckParameter1, ...4)`: stops the
/// machine with the driver's own code and parameters: the bug-check callback, then the STOP
/// line and exit status 1.
///
/// # IRQL
/// Any.
#[unsafe(no_mangle)]
pub extern "C" fn KeBugCheckEx(bug_check_code: u32, p1: usize, p2: usize, p3: usize, p4: usize) -> ! {
    enter("KeBugCheckEx", |machine| {
        nt::ke_bug_check_ex(machine.mm(), bug_check_code, p1 as u64, p2 as u64, p3 as u64, p4 as u64)
    })
}
