//! How the kernel stops: a bug check prints its STOP line on the console and leaves QEMU with
//! [`ExitCode::BugCheck`]; a panic of the kernel itself is reported the same way.

use core::panic::PanicInfo;

use iospace_mm::bug_check::BugCheck;

use crate::console::write_unlocked;
use crate::qemu_exit::{ExitCode, exit};

/// `KMODE_EXCEPTION_NOT_HANDLED`, the code a panic of the kernel is reported under (P1 = 0,
/// no exception code; the panic message follows the STOP line).
const KERNEL_PANIC_CODE: u32 = iospace_mm::bug_check::kmode_exception_not_handled::CODE;

/// Prints `bug_check`'s STOP line and ends the machine with a failure code.
pub fn bug_check(bug_check: &BugCheck) -> ! {
    write_unlocked(format_args!("\n{bug_check}\n"));
    exit(ExitCode::BugCheck)
}

/// Reports a panic of the kernel (a bug here, not in a driver) and stops.
pub fn kernel_panic(info: &PanicInfo<'_>) -> ! {
    match info.location() {
        Some(at) => write_unlocked(format_args!("\nkernel panic at {at}: {}\n", info.message())),
        None => write_unlocked(format_args!("\nkernel panic: {}\n", info.message())),
    }
    bug_check(&BugCheck { code: KERNEL_PANIC_CODE, parameters: [0; 4], location: None })
}
