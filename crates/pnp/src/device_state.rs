//! The PnP states of a device (contract §9) and the IRPs that move it between them.
//!
//! | From | Event | To |
//! |---|---|---|
//! | NotStarted | START succeeds | Started |
//! | NotStarted | START fails | REMOVE → Deleted |
//! | Started | QUERY_STOP succeeds | StopPending |
//! | Started | QUERY_STOP fails | CANCEL_STOP → Started |
//! | StopPending | CANCEL_STOP | Started |
//! | StopPending | STOP | Stopped |
//! | Stopped | START succeeds (new resources) | Started |
//! | Stopped | START fails | SURPRISE_REMOVAL → SurpriseRemoved, then REMOVE → Deleted |
//! | Started | QUERY_REMOVE succeeds | RemovePending |
//! | Started | QUERY_REMOVE fails | CANCEL_REMOVE → Started |
//! | RemovePending | CANCEL_REMOVE | Started |
//! | RemovePending | REMOVE | Deleted |
//! | any but Deleted | SURPRISE_REMOVAL | SurpriseRemoved |
//! | NotStarted, Stopped, SurpriseRemoved | REMOVE | Deleted |
//!
//! Not modelled: a START sent to a Started device (rebalance in place), and QUERY_STOP / STOP
//! sent to a NotStarted device that has a boot configuration.
//!
//! Invariant the manager enforces: in Stopped, SurpriseRemoved and Deleted the device holds no
//! I/O-space mapping (nor MDL mapping, locked MDL or reservation).

use core::fmt;

use crate::irp_minor;
use crate::status::NtStatus;

/// Where a device is in its PnP life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceState {
    /// Added, never started (or its only START failed and REMOVE has not come yet).
    NotStarted,
    /// Running with its current resources.
    Started,
    /// QUERY_STOP succeeded; STOP or CANCEL_STOP comes next.
    StopPending,
    /// STOP completed: resources given back, I/O held until the next START.
    Stopped,
    /// QUERY_REMOVE succeeded; REMOVE or CANCEL_REMOVE comes next.
    RemovePending,
    /// SURPRISE_REMOVAL completed: the hardware is gone, REMOVE follows.
    SurpriseRemoved,
    /// REMOVE completed: the device object is gone.
    Deleted,
}

impl DeviceState {
    /// Whether the device may hold hardware resources in this state. In the others the
    /// invariant of contract §9 applies: nothing mapped, locked or reserved.
    pub const fn may_hold_resources(self) -> bool {
        !matches!(self, Self::Stopped | Self::SurpriseRemoved | Self::Deleted)
    }
}

impl fmt::Display for DeviceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A PnP IRP the manager sends to a function driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PnpIrp {
    /// `IRP_MN_START_DEVICE`.
    Start,
    /// `IRP_MN_QUERY_REMOVE_DEVICE`.
    QueryRemove,
    /// `IRP_MN_REMOVE_DEVICE`.
    Remove,
    /// `IRP_MN_CANCEL_REMOVE_DEVICE`.
    CancelRemove,
    /// `IRP_MN_STOP_DEVICE`.
    Stop,
    /// `IRP_MN_QUERY_STOP_DEVICE`.
    QueryStop,
    /// `IRP_MN_CANCEL_STOP_DEVICE`.
    CancelStop,
    /// `IRP_MN_SURPRISE_REMOVAL`.
    SurpriseRemoval,
}

impl PnpIrp {
    /// The IRP's minor function code.
    pub const fn minor(self) -> u8 {
        match self {
            Self::Start => irp_minor::IRP_MN_START_DEVICE,
            Self::QueryRemove => irp_minor::IRP_MN_QUERY_REMOVE_DEVICE,
            Self::Remove => irp_minor::IRP_MN_REMOVE_DEVICE,
            Self::CancelRemove => irp_minor::IRP_MN_CANCEL_REMOVE_DEVICE,
            Self::Stop => irp_minor::IRP_MN_STOP_DEVICE,
            Self::QueryStop => irp_minor::IRP_MN_QUERY_STOP_DEVICE,
            Self::CancelStop => irp_minor::IRP_MN_CANCEL_STOP_DEVICE,
            Self::SurpriseRemoval => irp_minor::IRP_MN_SURPRISE_REMOVAL,
        }
    }

    /// Whether the IRP cannot fail (claim 17): the driver's method for it returns nothing, so
    /// the manager always completes it with `STATUS_SUCCESS`.
    pub const fn must_succeed(self) -> bool {
        matches!(
            self,
            Self::Remove | Self::CancelRemove | Self::Stop | Self::CancelStop | Self::SurpriseRemoval
        )
    }

    /// The documented name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Start => "IRP_MN_START_DEVICE",
            Self::QueryRemove => "IRP_MN_QUERY_REMOVE_DEVICE",
            Self::Remove => "IRP_MN_REMOVE_DEVICE",
            Self::CancelRemove => "IRP_MN_CANCEL_REMOVE_DEVICE",
            Self::Stop => "IRP_MN_STOP_DEVICE",
            Self::QueryStop => "IRP_MN_QUERY_STOP_DEVICE",
            Self::CancelStop => "IRP_MN_CANCEL_STOP_DEVICE",
            Self::SurpriseRemoval => "IRP_MN_SURPRISE_REMOVAL",
        }
    }
}

impl fmt::Display for PnpIrp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One IRP sent to a device and the status it completed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrpRecord {
    /// Which IRP.
    pub irp: PnpIrp,
    /// `IoStatus.Status` at completion.
    pub status: NtStatus,
}

impl IrpRecord {
    /// The IRP's minor function code.
    pub const fn minor(&self) -> u8 {
        self.irp.minor()
    }
}

impl fmt::Display for IrpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.irp, self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_codes_match_the_contract() {
        let codes = [
            (PnpIrp::Start, 0x00),
            (PnpIrp::QueryRemove, 0x01),
            (PnpIrp::Remove, 0x02),
            (PnpIrp::CancelRemove, 0x03),
            (PnpIrp::Stop, 0x04),
            (PnpIrp::QueryStop, 0x05),
            (PnpIrp::CancelStop, 0x06),
            (PnpIrp::SurpriseRemoval, 0x17),
        ];
        for (irp, minor) in codes {
            assert_eq!(irp.minor(), minor, "{irp}");
        }
    }

    #[test]
    fn only_queries_and_start_can_fail() {
        assert!(!PnpIrp::Start.must_succeed());
        assert!(!PnpIrp::QueryStop.must_succeed());
        assert!(!PnpIrp::QueryRemove.must_succeed());
        assert!(PnpIrp::Stop.must_succeed() && PnpIrp::SurpriseRemoval.must_succeed());
    }

    #[test]
    fn released_states_hold_nothing() {
        assert!(DeviceState::Started.may_hold_resources());
        assert!(!DeviceState::Stopped.may_hold_resources());
        assert!(!DeviceState::SurpriseRemoved.may_hold_resources());
        assert!(!DeviceState::Deleted.may_hold_resources());
    }
}
