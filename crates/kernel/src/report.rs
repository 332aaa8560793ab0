//! The report the kernel prints on the console: `iospace run`'s
//! [`RunReport`], headed with this machine. The memory-manager tour is the self-tests on the
//! real page tables.

use alloc::format;

use iospace_drivers::run_report::{RunReport, left_behind};
use iospace_mm::memory_manager::MemoryManager;

use crate::machine::Machine;

/// An empty report about the metal `machine`.
pub fn new(machine: &Machine) -> RunReport {
    RunReport::new("metal machine \"q35\" (PVH boot, real page tables)", "x86".into(), &machine.mm)
}

/// Counts what is still mapped, locked, reserved or allocated, as the verifier does after stop,
/// and records it as a check.
pub fn finish(report: &mut RunReport, mm: &MemoryManager) {
    let outstanding = left_behind(mm);
    report.check(
        "every mapping, reservation and allocation released",
        outstanding == 0,
        format!("{outstanding} outstanding"),
    );
    report.outstanding = outstanding;
}
