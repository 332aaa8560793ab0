//! The line between C and Rust that every exported routine crosses.
//!
//! A routine's body runs inside `enter`, which
//! 1. finds the booted machine (a routine called before `IospBoot` is bug check
//!    [`NO_MACHINE`](crate::control::NO_MACHINE));
//! 2. runs the body under `catch_bug_check`, so a bug check raised anywhere below unwinds the
//!    Rust frames it crossed (dropping their lock guards and references) and comes back here as
//!    a value;
//! 3. catches any other panic, so no unwind ever reaches C: a panic is a defect of iospace, not
//!    of the driver, and it ends the process with `abort` after the panic message;
//! 4. only then, with nothing left to drop on the Rust side, hands the bug check to the C
//!    callback (see `stop`).
//!
//! Because of step 4 a callback that `longjmp`s out skips nothing but frames with no
//! destructors (this function's and the exported routine's): every lock is released and the
//! memory manager is as consistent as after any caught bug check. The rule that a test calls
//! `IospShutdown` and `IospBoot` before it uses the machine again is still the documented
//! contract (it is what a Windows crash would demand, and it leaves room to change this
//! design), but shutdown never has to abandon a machine whose locks are held.

use std::cell::Cell;
use std::ffi::{CStr, c_char};
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::RwLock;

use iospace_hosted::Machine;
use iospace_hosted::platform::catch_bug_check;
use iospace_mm::bug_check::BugCheck;

use crate::machine;

/// `PIOSP_BUGCHECK_CALLBACK`: receives the code and the four parameters of every bug check.
pub type BugCheckCallback = unsafe extern "C" fn(code: u32, p1: usize, p2: usize, p3: usize, p4: usize);

/// The callback `IospSetBugCheckCallback` installed, shared by every thread.
static CALLBACK: RwLock<Option<BugCheckCallback>> = RwLock::new(None);

thread_local! {
    /// The C call site the header's macros recorded for the routine this thread is about to
    /// enter (`IospSetCallSite`): a file name literal and a line.
    static CALL_SITE: Cell<Option<(*const c_char, u32)>> = const { Cell::new(None) };
}

/// Installs (or with `None` removes) the C bug-check callback.
pub(crate) fn set_callback(callback: Option<BugCheckCallback>) {
    *CALLBACK.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = callback;
}

/// The installed C bug-check callback.
pub(crate) fn callback() -> Option<BugCheckCallback> {
    *CALLBACK.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Records the C call site of the next routine this thread enters.
pub(crate) fn set_call_site(file: *const c_char, line: u32) {
    CALL_SITE.with(|site| site.set((!file.is_null()).then_some((file, line))));
}

/// Where a routine was called from, for the STOP line.
#[derive(Clone, Copy, Debug)]
struct CallSite {
    routine: &'static str,
    /// The C file and line, when the header's macros recorded them.
    file_and_line: Option<(*const c_char, u32)>,
}

impl CallSite {
    fn take(routine: &'static str) -> Self {
        Self { routine, file_and_line: CALL_SITE.with(Cell::take) }
    }
}

impl std::fmt::Display for CallSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "in {}", self.routine)?;
        if let Some((file, line)) = self.file_and_line {
            // SAFETY: `IospSetCallSite` is given `__FILE__`, a NUL-terminated literal that lives
            // as long as the program; it was checked non-null when recorded.
            let file = unsafe { CStr::from_ptr(file) };
            write!(f, " at {}:{line}", file.to_string_lossy())?;
        }
        Ok(())
    }
}

/// Runs `body` on the booted machine as the exported `routine`; see the
/// [module documentation](self).
pub(crate) fn enter<R>(routine: &'static str, body: impl FnOnce(&Machine) -> R) -> R {
    let site = CallSite::take(routine);
    let Some(machine) = machine::current() else {
        let _ = writeln!(
            std::io::stderr(),
            "iospace: {routine} called with no machine booted (call IospBoot first)"
        );
        stop(crate::control::no_machine_bug_check(), site)
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| catch_bug_check(|| body(&machine))));
    // Released before the callback runs: a callback that jumps away must not leak the machine.
    drop(machine);
    finish(outcome, site)
}

/// Runs `body`, which needs no machine (a header formula, a resource encoding), as the exported
/// `routine`, with the same handling of bug checks and panics as [`enter`].
pub(crate) fn enter_without_machine<R>(routine: &'static str, body: impl FnOnce() -> R) -> R {
    let site = CallSite::take(routine);
    let outcome = catch_unwind(AssertUnwindSafe(|| catch_bug_check(body)));
    finish(outcome, site)
}

fn finish<R>(outcome: std::thread::Result<Result<R, BugCheck>>, site: CallSite) -> R {
    match outcome {
        Ok(Ok(value)) => value,
        Ok(Err(bug_check)) => stop(bug_check, site),
        Err(_panic) => {
            // The panic hook has printed the message; unwinding into C is not an option.
            let _ = writeln!(std::io::stderr(), "iospace: internal error {site}; aborting");
            std::process::abort()
        }
    }
}

/// Raises `bug_check` from code running inside [`enter`] or [`enter_without_machine`], exactly
/// as the hosted platform raises the memory manager's: by unwinding to the boundary.
pub(crate) fn raise(bug_check: BugCheck) -> ! {
    std::panic::resume_unwind(Box::new(bug_check))
}

/// The bug check a kernel-mode access to `address` with no valid translation raises: 0x50
/// `PAGE_FAULT_IN_NONPAGED_AREA`, P2 = 0 for a read and 1 for a write (the HAL's numbering).
pub(crate) fn page_fault(address: u64, write: bool) -> ! {
    raise(BugCheck {
        code: iospace_mm::bug_check::code::PAGE_FAULT_IN_NONPAGED_AREA,
        parameters: [address, u64::from(write), 0, 0],
        location: None,
    })
}

/// Ends the machine with `bug_check`: the C callback first, then (if it returns) the STOP line
/// on standard error and exit status 1. Nothing on the Rust side is left to drop when this runs.
fn stop(bug_check: BugCheck, site: CallSite) -> ! {
    call_callback(&bug_check);
    // The location is the facade line inside this crate, which means nothing to a C driver;
    // the routine and the C call site replace it.
    let line = BugCheck { location: None, ..bug_check };
    let _ = writeln!(std::io::stderr(), "{line} {site}");
    std::process::exit(1)
}

/// Hands `bug_check` to the C callback, if one is installed. The callback may not return.
pub(crate) fn call_callback(bug_check: &BugCheck) {
    if let Some(callback) = callback() {
        let [p1, p2, p3, p4] = bug_check.parameters.map(|parameter| parameter as usize);
        // SAFETY: the callback is a C function the program installed with this signature; it
        // may longjmp away, which skips only this frame and the boundary's, neither of which
        // owns anything that needs dropping (see the module documentation).
        unsafe { callback(bug_check.code, p1, p2, p3, p4) };
    }
}
