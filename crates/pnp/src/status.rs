//! `NTSTATUS` values that the PnP routines return or leave in an `IO_STATUS_BLOCK`.

use core::fmt;

/// An `NTSTATUS`: negative values are errors, the rest are successes (possibly informational).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct NtStatus(pub i32);

impl NtStatus {
    /// `STATUS_SUCCESS`.
    pub const SUCCESS: Self = Self(0);
    /// `STATUS_RESOURCE_REQUIREMENTS_CHANGED`: success, and the caller should query the
    /// requirements again (a bus driver's answer to QUERY_STOP).
    pub const RESOURCE_REQUIREMENTS_CHANGED: Self = Self(0x0000_0119);
    /// `STATUS_UNSUCCESSFUL`.
    pub const UNSUCCESSFUL: Self = Self(0xC000_0001_u32 as i32);
    /// `STATUS_INVALID_PARAMETER`.
    pub const INVALID_PARAMETER: Self = Self(0xC000_000D_u32 as i32);
    /// `STATUS_INSUFFICIENT_RESOURCES`.
    pub const INSUFFICIENT_RESOURCES: Self = Self(0xC000_009A_u32 as i32);
    /// `STATUS_NOT_SUPPORTED`: what the PnP manager puts in `IoStatus.Status` before it sends a
    /// PnP IRP, so a stack that does not handle the IRP leaves it there.
    pub const NOT_SUPPORTED: Self = Self(0xC000_00BB_u32 as i32);
    /// `STATUS_DEVICE_CONFIGURATION_ERROR`: the hardware is not what the driver expects (a
    /// driver's answer to START when its device fails a check).
    pub const DEVICE_CONFIGURATION_ERROR: Self = Self(0xC000_0182_u32 as i32);

    /// `NT_SUCCESS`: the status is not an error (severity success or informational).
    pub const fn is_success(self) -> bool {
        self.0 >= 0
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NtStatus({:#010x})", self.0 as u32)
    }
}

impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0 as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_values_match_ntstatus_h() {
        assert_eq!(NtStatus::UNSUCCESSFUL.0 as u32, 0xC000_0001);
        assert_eq!(NtStatus::INVALID_PARAMETER.0 as u32, 0xC000_000D);
        assert_eq!(NtStatus::DEVICE_CONFIGURATION_ERROR.0 as u32, 0xC000_0182);
        assert!(NtStatus::SUCCESS.is_success());
        assert!(NtStatus::RESOURCE_REQUIREMENTS_CHANGED.is_success());
        assert!(!NtStatus::NOT_SUPPORTED.is_success());
    }
}
