//! `iospace.h`: the hosted machine's controls, which have no Windows counterpart.

use std::ffi::{CStr, OsStr, c_char};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use iospace_mm::bug_check::BugCheck;

use crate::boundary::{self, BugCheckCallback};
use crate::machine::{self, BootFailure};
use crate::status;

/// The bug-check code of a routine called while no machine is booted:
/// `PHASE0_INITIALIZATION_FAILED` (0x31), the code Windows raises when the kernel cannot start,
/// with P1..P4 = 0. It is a mistake of the program that hosts the driver, not of the driver.
pub const NO_MACHINE: u32 = 0x31;

pub(crate) fn no_machine_bug_check() -> BugCheck {
    BugCheck { code: NO_MACHINE, parameters: [0; 4], location: None }
}

/// `NTSTATUS IospBoot(const char *Machine)`: boots the default machine (`Machine` NULL) or the
/// one the TOML description at path `Machine` describes.
///
/// Returns `STATUS_SUCCESS`, or (with the reason on standard error):
/// `STATUS_INVALID_DEVICE_STATE` if a machine is already booted, `STATUS_OBJECT_NAME_NOT_FOUND`
/// if the file cannot be read, `STATUS_INVALID_PARAMETER` if the description is invalid, and
/// `STATUS_INSUFFICIENT_RESOURCES` if the host refused memory for the machine.
///
/// The calling thread starts at `PASSIVE_LEVEL`.
///
/// # Safety
/// `machine` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IospBoot(machine: *const c_char) -> i32 {
    let path = (!machine.is_null()).then(|| {
        // SAFETY: the caller passes a NUL-terminated string (checked non-null).
        let bytes = unsafe { CStr::from_ptr(machine) }.to_bytes();
        Path::new(OsStr::from_bytes(bytes)).to_path_buf()
    });
    boundary::enter_without_machine("IospBoot", || match machine::boot(path.as_deref()) {
        Ok(()) => status::SUCCESS,
        Err(failure) => {
            let _ = writeln!(std::io::stderr(), "iospace: IospBoot: {failure}");
            boot_status(&failure)
        }
    })
}

/// The `NTSTATUS` `IospBoot` returns for `failure`.
fn boot_status(failure: &BootFailure) -> i32 {
    use iospace_hosted::BootError;
    match failure {
        BootFailure::AlreadyBooted => status::INVALID_DEVICE_STATE,
        BootFailure::Read { .. } => status::OBJECT_NAME_NOT_FOUND,
        BootFailure::Boot(BootError::Description(_)) => status::INVALID_PARAMETER,
        BootFailure::Boot(BootError::Host(_) | BootError::SharedFile(_) | BootError::MemoryManager(_)) => {
            status::INSUFFICIENT_RESOURCES
        }
    }
}

/// `VOID IospShutdown(VOID)`: stops the machine. Anything it still had mapped, locked or
/// reserved is listed on standard error first. Does nothing when no machine is booted. A later
/// `IospBoot` starts a fresh machine.
///
/// After a bug check whose callback jumped away, this is the documented way back: the bug
/// check had already unwound every Rust frame it crossed before the callback ran (see
/// [`boundary`]), so the old machine holds no lock and is dropped normally.
#[unsafe(no_mangle)]
pub extern "C" fn IospShutdown() {
    boundary::enter_without_machine("IospShutdown", || {
        let Some(leftovers) = machine::shutdown() else { return };
        if leftovers.is_empty() {
            return;
        }
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "iospace: shutdown with {} items outstanding:", leftovers.items.len());
        for item in &leftovers.items {
            let _ = writeln!(stderr, "  {item}");
        }
    })
}

/// `VOID IospSetBugCheckCallback(PIOSP_BUGCHECK_CALLBACK Callback)`: installs the function
/// called on every bug check, on the thread that raised it, before anything else (NULL removes
/// it). If it returns, the STOP line is printed and the process exits with status 1. It may
/// `longjmp` out instead; the program must then call `IospShutdown` and `IospBoot` before it
/// uses the machine again. The callback stays installed across shutdown and boot.
#[unsafe(no_mangle)]
pub extern "C" fn IospSetBugCheckCallback(callback: Option<BugCheckCallback>) {
    boundary::set_callback(callback);
}

/// `ULONG IospOutstandingMappings(VOID)`: the number of live system mappings made through the
/// API: I/O-space mappings, MDL mappings and reservations (one each, whether or not anything
/// is mapped in a reservation). 0 when no machine is booted.
#[unsafe(no_mangle)]
pub extern "C" fn IospOutstandingMappings() -> u32 {
    boundary::enter_without_machine("IospOutstandingMappings", || {
        u32::try_from(machine::outstanding_mappings()).unwrap_or(u32::MAX)
    })
}

/// `VOID IospSetCallSite(const char *File, ULONG Line)`: records where the next routine this
/// thread calls is called from, so that its STOP line names the driver's line. The headers'
/// routine macros call it; programs do not need to.
///
/// # Safety
/// `file` is NULL or a NUL-terminated string that lives as long as the program (`__FILE__`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn IospSetCallSite(file: *const c_char, line: u32) {
    boundary::set_call_site(file, line);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_boot_failure_has_its_documented_status() {
        assert_eq!(boot_status(&BootFailure::AlreadyBooted), status::INVALID_DEVICE_STATE);
        let missing = BootFailure::Read {
            path: "/nonexistent".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(boot_status(&missing), status::OBJECT_NAME_NOT_FOUND);
        let invalid = iospace_hosted::MachineDescription::from_toml("ram_mib = 1").unwrap_err();
        assert_eq!(boot_status(&BootFailure::from(invalid)), status::INVALID_PARAMETER);
        let host = BootFailure::Boot(iospace_hosted::BootError::Host(std::io::Error::from(
            std::io::ErrorKind::OutOfMemory,
        )));
        assert_eq!(boot_status(&host), status::INSUFFICIENT_RESOURCES);
    }
}
