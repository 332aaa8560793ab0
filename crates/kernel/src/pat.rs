//! Programming the page attribute table with the layout the memory manager encodes its cache
//! policies in (`iospace_mm::pat`): WB, WT, WC, UC in entries 0..=3, repeated in 4..=7.

use iospace_mm::pat::PAT_MSR_VALUE;

use crate::cpu::{IA32_PAT, has_pat, read_msr, reload_cr3, write_back_and_invalidate_caches, write_msr};

/// Why the PAT could not be programmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatError {
    /// The CPU has no PAT (`CPUID.01H:EDX.PAT` clear).
    Unsupported,
    /// The MSR did not keep the value written.
    NotRetained(u64),
}

/// Writes [`PAT_MSR_VALUE`] to `IA32_PAT` and returns the value it had at power-on.
///
/// Entry 0 is write-back before and after, and the boot tables use only entry 0, so no live
/// mapping changes type; the caches and TLBs are flushed once anyway, as the SDM's procedure
/// for changing the PAT asks.
pub fn program() -> Result<u64, PatError> {
    if !has_pat() {
        return Err(PatError::Unsupported);
    }
    let power_on = read_msr(IA32_PAT);
    write_back_and_invalidate_caches();
    // SAFETY: see above: the only live mappings select entry 0, which stays write-back.
    unsafe { write_msr(IA32_PAT, PAT_MSR_VALUE) };
    write_back_and_invalidate_caches();
    reload_cr3();
    match read_msr(IA32_PAT) {
        PAT_MSR_VALUE => Ok(power_on),
        other => Err(PatError::NotRetained(other)),
    }
}
