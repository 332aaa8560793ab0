//! The `NTSTATUS` values the exported routines return, as `wdm.h` defines them.

/// `STATUS_SUCCESS`.
pub const SUCCESS: i32 = 0;
/// `STATUS_UNSUCCESSFUL`.
pub const UNSUCCESSFUL: i32 = 0xC000_0001_u32 as i32;
/// `STATUS_ACCESS_VIOLATION`: the exception `MmProbeAndLockPages` raises.
pub const ACCESS_VIOLATION: i32 = iospace_mm::nt_mdl::STATUS_ACCESS_VIOLATION;
/// `STATUS_INVALID_PARAMETER`.
pub const INVALID_PARAMETER: i32 = 0xC000_000D_u32 as i32;
/// `STATUS_OBJECT_NAME_NOT_FOUND`.
pub const OBJECT_NAME_NOT_FOUND: i32 = 0xC000_0034_u32 as i32;
/// `STATUS_INSUFFICIENT_RESOURCES`.
pub const INSUFFICIENT_RESOURCES: i32 = 0xC000_009A_u32 as i32;
/// `STATUS_INVALID_DEVICE_STATE`.
pub const INVALID_DEVICE_STATE: i32 = 0xC000_0184_u32 as i32;
