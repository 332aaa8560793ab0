//! The PnP manager: sends the §9 IRPs to function drivers in the documented order, keeps each
//! device's state and resources, and checks after every release point that the device really
//! gave its resources back.
//!
//! # Ownership and leak checks
//!
//! Each device gets an [`OwnerId`] from the memory manager. While a driver method runs, that id
//! is the platform's current owner ([`Platform::set_current_owner`]), so every I/O-space
//! mapping, MDL mapping, locked MDL and reservation the driver makes is recorded as the
//! device's, with the driver's call site. After STOP, SURPRISE_REMOVAL, REMOVE and a failed
//! START the manager asks [`MemoryManager::held_by`]; anything left is a leak and stops the
//! machine, with the *leaked item's creation location* as the bug check's location — the line
//! of the driver that made the mapping, which is what one needs to fix it.
//!
//! The bug checks (this project's choices; Windows documents no code for "device released
//! while still mapped"):
//!
//! | Leak | Code | P1 | P2 | P3 | P4 |
//! |---|---|---|---|---|---|
//! | I/O-space mapping | 0xC4 | [`IO_SPACE_MAPPING_LEAKED`] (0x1001) | VA returned | pages | owner |
//! | MDL mapping | 0xC4 | [`MDL_MAPPING_LEAKED`] (0x1002) | mapping's base VA | pages | owner |
//! | locked MDL | 0xCB `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS` | 0 | 0 | MDL | pages |
//! | reservation | 0xC4 | [`RESERVATION_LEAKED`] (0x1003) | reserved base VA | pages | owner |
//!
//! 0x1001–0x1003 are not among the 0xC4 subcodes of contract §12.3. (Real Windows uses
//! 0x1000–0x1010 for Driver Verifier's deadlock detection, which this machine does not model,
//! so the numbers are free here; a STOP line from this machine is never read against a Windows
//! debugger's table.) 0xCB follows its Windows parameters except P1, which names the tracking
//! structure on Windows and is 0 here (there is none). When several items leak, the first in
//! the table's order (then address order) is reported: a mapping is the more dangerous leak,
//! since a later access through it reaches a device that may have new resources.
//!
//! The checks need a platform that keeps the current owner; [`PnpManager::new`] refuses one
//! that does not, rather than check nothing.
//!
//! # IRQL
//! Every operation is a PnP IRP: `PASSIVE_LEVEL`.
//!
//! [`Platform::set_current_owner`]: iospace_mm::platform::Platform::set_current_owner

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use iospace_hal::access::IoAccess;
use iospace_mm::bug_check::code;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::ownership::OwnerId;
use iospace_mm::platform::Platform;

use crate::device_state::{DeviceState, IrpRecord, PnpIrp};
use crate::driver::{DeviceContext, Driver};
use crate::status::NtStatus;
use crate::translation::ResourcePair;

/// 0xC4 P1: a device was stopped, surprise-removed, removed or failed its start while it still
/// held an I/O-space mapping (P2 = VA, P3 = pages, P4 = owner).
pub const IO_SPACE_MAPPING_LEAKED: u64 = 0x1001;
/// 0xC4 P1: as [`IO_SPACE_MAPPING_LEAKED`], for an MDL mapping (P2 = base VA, P3 = pages,
/// P4 = owner).
pub const MDL_MAPPING_LEAKED: u64 = 0x1002;
/// 0xC4 P1: as [`IO_SPACE_MAPPING_LEAKED`], for a reservation (P2 = base VA, P3 = pages,
/// P4 = owner).
pub const RESERVATION_LEAKED: u64 = 0x1003;

/// A device known to a [`PnpManager`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId(usize);

/// Why the manager could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnershipUnsupported;

impl fmt::Display for OwnershipUnsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the platform does not keep a current owner, so leaks could not be attributed")
    }
}

impl core::error::Error for OwnershipUnsupported {}

/// Why an operation did not complete as asked. The IRPs sent, and their statuses, are in the
/// device's log either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PnpError {
    /// No such device.
    UnknownDevice(DeviceId),
    /// The operation does not apply in the device's state (nothing was sent).
    InvalidState {
        /// The device's state.
        state: DeviceState,
        /// The IRP that would have been sent.
        irp: PnpIrp,
    },
    /// The driver failed START; the device was then removed (contract §9).
    StartFailed(NtStatus),
    /// The driver failed QUERY_STOP; CANCEL_STOP was sent and the device is still started.
    QueryStopFailed(NtStatus),
    /// The driver failed QUERY_REMOVE; CANCEL_REMOVE was sent and the device is still started.
    QueryRemoveFailed(NtStatus),
}

impl fmt::Display for PnpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownDevice(id) => write!(f, "no device {}", id.0),
            Self::InvalidState { state, irp } => {
                write!(f, "{irp} does not apply to a device in state {state}")
            }
            Self::StartFailed(status) => write!(f, "START failed with {status}; the device was removed"),
            Self::QueryStopFailed(status) => {
                write!(f, "QUERY_STOP failed with {status}; the stop was cancelled")
            }
            Self::QueryRemoveFailed(status) => {
                write!(f, "QUERY_REMOVE failed with {status}; the removal was cancelled")
            }
        }
    }
}

impl core::error::Error for PnpError {}

/// One device: its driver, state, resources and the IRPs it was sent.
struct Device<'mm> {
    context: DeviceContext<'mm>,
    /// `None` once REMOVE completed: the device object is gone.
    driver: Option<Box<dyn Driver<'mm> + 'mm>>,
    state: DeviceState,
    resources: Option<ResourcePair>,
    log: Vec<IrpRecord>,
    start_failure: Option<NtStatus>,
}

/// Makes an owner current for as long as it lives, and restores the previous one when dropped,
/// even when a bug check unwinds out of the driver.
struct OwnerScope<'a> {
    platform: &'a dyn Platform,
    previous: OwnerId,
}

impl<'a> OwnerScope<'a> {
    fn enter(platform: &'a dyn Platform, owner: OwnerId) -> Self {
        let previous = platform.current_owner();
        platform.set_current_owner(owner);
        Self { platform, previous }
    }
}

impl Drop for OwnerScope<'_> {
    fn drop(&mut self) {
        self.platform.set_current_owner(self.previous);
    }
}

/// The PnP manager of one machine.
pub struct PnpManager<'mm> {
    mm: &'mm MemoryManager,
    io: &'mm dyn IoAccess,
    devices: Vec<Device<'mm>>,
}

impl fmt::Debug for PnpManager<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for device in &self.devices {
            list.entry(&(device.context.name(), device.state));
        }
        list.finish()
    }
}

impl<'mm> PnpManager<'mm> {
    /// A manager for the machine of `mm`, whose drivers reach devices through `io`.
    ///
    /// # Errors
    /// [`OwnershipUnsupported`] if the platform does not keep the current owner (its
    /// `set_current_owner` is the default that forgets): leaks could not be checked.
    pub fn new(mm: &'mm MemoryManager, io: &'mm dyn IoAccess) -> Result<Self, OwnershipUnsupported> {
        let probe = mm.allocate_owner();
        let kept = {
            let _scope = OwnerScope::enter(mm.platform(), probe);
            mm.current_owner() == probe
        };
        if !kept {
            return Err(OwnershipUnsupported);
        }
        Ok(Self { mm, io, devices: Vec::new() })
    }

    /// Adds a device driven by `driver`, not yet started, with a fresh owner identity.
    pub fn add_device(&mut self, name: impl Into<String>, driver: Box<dyn Driver<'mm> + 'mm>) -> DeviceId {
        let owner = self.mm.allocate_owner();
        let context = DeviceContext::new(self.mm, self.io, owner, name.into());
        self.devices.push(Device {
            context,
            driver: Some(driver),
            state: DeviceState::NotStarted,
            resources: None,
            log: Vec::new(),
            start_failure: None,
        });
        DeviceId(self.devices.len() - 1)
    }

    /// The devices, in the order they were added.
    pub fn devices(&self) -> impl Iterator<Item = DeviceId> + use<'_, 'mm> {
        (0..self.devices.len()).map(DeviceId)
    }

    fn device(&self, id: DeviceId) -> Result<&Device<'mm>, PnpError> {
        self.devices.get(id.0).ok_or(PnpError::UnknownDevice(id))
    }

    /// The device's state.
    pub fn state(&self, id: DeviceId) -> Result<DeviceState, PnpError> {
        Ok(self.device(id)?.state)
    }

    /// The resources the device is started with (`None` unless started or stop-pending).
    pub fn resources(&self, id: DeviceId) -> Result<Option<&ResourcePair>, PnpError> {
        Ok(self.device(id)?.resources.as_ref())
    }

    /// The IRPs sent to the device, in order, with the status each completed with.
    pub fn log(&self, id: DeviceId) -> Result<&[IrpRecord], PnpError> {
        Ok(&self.device(id)?.log)
    }

    /// The identity the device's mappings are recorded under.
    pub fn owner(&self, id: DeviceId) -> Result<OwnerId, PnpError> {
        Ok(self.device(id)?.context.owner())
    }

    /// The device's name.
    pub fn name(&self, id: DeviceId) -> Result<&str, PnpError> {
        Ok(self.device(id)?.context.name())
    }

    /// The status of the device's last failed START, if it failed to start (the device is
    /// marked as having failed to start).
    pub fn start_failure(&self, id: DeviceId) -> Result<Option<NtStatus>, PnpError> {
        Ok(self.device(id)?.start_failure)
    }

    /// Refuses `irp` unless the device is in one of `allowed`.
    fn expect(&self, id: DeviceId, irp: PnpIrp, allowed: &[DeviceState]) -> Result<DeviceState, PnpError> {
        let state = self.state(id)?;
        if allowed.contains(&state) { Ok(state) } else { Err(PnpError::InvalidState { state, irp }) }
    }

    /// Calls the driver with the device's owner current, and logs the IRP with its status.
    /// A driver's `Err` carrying a success status is logged as `STATUS_UNSUCCESSFUL`: an
    /// `Err` is a failure whatever it carries.
    fn send<F>(&mut self, id: DeviceId, irp: PnpIrp, call: F) -> Result<(), NtStatus>
    where
        F: FnOnce(&mut (dyn Driver<'mm> + 'mm), &DeviceContext<'mm>) -> Result<(), NtStatus>,
    {
        let platform = self.mm.platform();
        let device = &mut self.devices[id.0];
        let Some(driver) = device.driver.as_deref_mut() else {
            // Only a Deleted device has no driver, and every operation refuses that state.
            unreachable!("an IRP for a deleted device")
        };
        let result = {
            let _scope = OwnerScope::enter(platform, device.context.owner());
            call(driver, &device.context)
        };
        let result =
            result.map_err(|status| if status.is_success() { NtStatus::UNSUCCESSFUL } else { status });
        let status = match result {
            Ok(()) => NtStatus::SUCCESS,
            Err(status) => status,
        };
        device.log.push(IrpRecord { irp, status });
        result
    }

    /// Sends an IRP that cannot fail (claim 17) and logs it as `STATUS_SUCCESS`.
    fn send_infallible<F>(&mut self, id: DeviceId, irp: PnpIrp, call: F)
    where
        F: FnOnce(&mut (dyn Driver<'mm> + 'mm), &DeviceContext<'mm>),
    {
        debug_assert!(irp.must_succeed());
        let _ = self.send(id, irp, |driver, context| {
            call(driver, context);
            Ok(())
        });
    }

    /// Checks the invariant of §9 after a release point: the device holds nothing. A leak
    /// stops the machine at the line that made the leaked item (see the module documentation).
    fn check_released(&self, id: DeviceId) {
        let owner = self.devices[id.0].context.owner();
        let held = self.mm.held_by(owner);
        let owner_parameter = u64::from(owner.0);
        if let Some(mapping) = held.io_mappings.first() {
            self.mm.bug_check(
                code::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [IO_SPACE_MAPPING_LEAKED, mapping.address.0, mapping.pages, owner_parameter],
                mapping.location,
            );
        }
        if let Some(mapping) = held.mdl_mappings.first() {
            self.mm.bug_check(
                code::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [MDL_MAPPING_LEAKED, mapping.base.0, mapping.pages, owner_parameter],
                mapping.location,
            );
        }
        if let Some(locked) = held.locked_mdls.first() {
            self.mm.bug_check(
                code::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS,
                [0, 0, locked.mdl as u64, locked.pages],
                locked.location,
            );
        }
        if let Some(reservation) = held.reservations.first() {
            self.mm.bug_check(
                code::DRIVER_VERIFIER_DETECTED_VIOLATION,
                [RESERVATION_LEAKED, reservation.base.0, reservation.pages, owner_parameter],
                reservation.location,
            );
        }
    }

    fn set_state(&mut self, id: DeviceId, state: DeviceState) {
        let device = &mut self.devices[id.0];
        device.state = state;
        if !matches!(state, DeviceState::Started | DeviceState::StopPending | DeviceState::RemovePending) {
            device.resources = None;
        }
        if state == DeviceState::Deleted {
            // The device object is gone. Anything the driver still owns was already reported.
            device.driver = None;
        }
    }

    /// `IRP_MN_START_DEVICE` with `resources`, for a device that is not started or is stopped.
    ///
    /// On failure the driver must already have unmapped what it mapped (claim 13; a leak is
    /// bug check 0xC4/0x1001). Then a device that was never started is sent REMOVE (claim 14),
    /// and a stopped one (a restart after a rebalance) is sent SURPRISE_REMOVAL and then, as
    /// this machine has no open handles to wait for, REMOVE (claim 15); either way it ends
    /// Deleted.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn start(&mut self, id: DeviceId, resources: ResourcePair) -> Result<(), PnpError> {
        let before = self.expect(id, PnpIrp::Start, &[DeviceState::NotStarted, DeviceState::Stopped])?;
        match self.send(id, PnpIrp::Start, |driver, context| driver.start(context, &resources)) {
            Ok(()) => {
                let device = &mut self.devices[id.0];
                device.state = DeviceState::Started;
                device.resources = Some(resources);
                device.start_failure = None;
                Ok(())
            }
            Err(status) => {
                self.devices[id.0].start_failure = Some(status);
                self.check_released(id);
                if before == DeviceState::Stopped {
                    self.send_surprise_removal(id);
                }
                self.send_remove(id);
                Err(PnpError::StartFailed(status))
            }
        }
    }

    /// `IRP_MN_QUERY_STOP_DEVICE` to a started device. On success the device is stop-pending;
    /// on failure CANCEL_STOP is sent and it is started again (claim 16).
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn query_stop(&mut self, id: DeviceId) -> Result<(), PnpError> {
        self.expect(id, PnpIrp::QueryStop, &[DeviceState::Started])?;
        match self.send(id, PnpIrp::QueryStop, |driver, context| driver.query_stop(context)) {
            Ok(()) => {
                self.set_state(id, DeviceState::StopPending);
                Ok(())
            }
            Err(status) => {
                self.send_infallible(id, PnpIrp::CancelStop, |driver, context| driver.cancel_stop(context));
                self.set_state(id, DeviceState::Started);
                Err(PnpError::QueryStopFailed(status))
            }
        }
    }

    /// `IRP_MN_CANCEL_STOP_DEVICE` to a stop-pending device: it is started again.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn cancel_stop(&mut self, id: DeviceId) -> Result<(), PnpError> {
        self.expect(id, PnpIrp::CancelStop, &[DeviceState::StopPending])?;
        self.send_infallible(id, PnpIrp::CancelStop, |driver, context| driver.cancel_stop(context));
        self.set_state(id, DeviceState::Started);
        Ok(())
    }

    /// `IRP_MN_STOP_DEVICE`, only to a device whose QUERY_STOP succeeded (claim 16). Afterwards
    /// the device must hold nothing (claim 11), or the machine stops with the leak.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn stop(&mut self, id: DeviceId) -> Result<(), PnpError> {
        self.expect(id, PnpIrp::Stop, &[DeviceState::StopPending])?;
        self.send_infallible(id, PnpIrp::Stop, |driver, context| driver.stop(context));
        self.check_released(id);
        self.set_state(id, DeviceState::Stopped);
        Ok(())
    }

    /// Rebalances a started device onto `resources`: QUERY_STOP (a failure sends CANCEL_STOP
    /// and leaves the device started on its old resources), STOP, then START with the new
    /// resources (a failure sends SURPRISE_REMOVAL and REMOVE).
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn rebalance(&mut self, id: DeviceId, resources: ResourcePair) -> Result<(), PnpError> {
        self.query_stop(id)?;
        self.stop(id)?;
        self.start(id, resources)
    }

    /// `IRP_MN_QUERY_REMOVE_DEVICE` to a started device. On success the device is
    /// remove-pending; on failure CANCEL_REMOVE is sent and it is started again.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn query_remove(&mut self, id: DeviceId) -> Result<(), PnpError> {
        self.expect(id, PnpIrp::QueryRemove, &[DeviceState::Started])?;
        match self.send(id, PnpIrp::QueryRemove, |driver, context| driver.query_remove(context)) {
            Ok(()) => {
                self.set_state(id, DeviceState::RemovePending);
                Ok(())
            }
            Err(status) => {
                self.send_infallible(id, PnpIrp::CancelRemove, |driver, context| {
                    driver.cancel_remove(context)
                });
                self.set_state(id, DeviceState::Started);
                Err(PnpError::QueryRemoveFailed(status))
            }
        }
    }

    /// `IRP_MN_CANCEL_REMOVE_DEVICE` to a remove-pending device: it is started again.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn cancel_remove(&mut self, id: DeviceId) -> Result<(), PnpError> {
        self.expect(id, PnpIrp::CancelRemove, &[DeviceState::RemovePending])?;
        self.send_infallible(id, PnpIrp::CancelRemove, |driver, context| driver.cancel_remove(context));
        self.set_state(id, DeviceState::Started);
        Ok(())
    }

    /// Removes the device: a started device is sent QUERY_REMOVE first (a failure sends
    /// CANCEL_REMOVE and leaves it started); then REMOVE, which may also reach a device that
    /// is not started, stopped, remove-pending or surprise-removed. Afterwards the device must
    /// hold nothing, or the machine stops with the leak; then it is Deleted.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn remove(&mut self, id: DeviceId) -> Result<(), PnpError> {
        let state = self.expect(
            id,
            PnpIrp::Remove,
            &[
                DeviceState::NotStarted,
                DeviceState::Started,
                DeviceState::Stopped,
                DeviceState::RemovePending,
                DeviceState::SurpriseRemoved,
            ],
        )?;
        if state == DeviceState::Started {
            self.query_remove(id)?;
        }
        self.send_remove(id);
        Ok(())
    }

    /// `IRP_MN_SURPRISE_REMOVAL`: the hardware is gone, in whatever state the device was.
    /// Afterwards the device must hold nothing (claim 12), or the machine stops with the leak.
    /// [`remove`](Self::remove) follows once the device's handles are closed.
    ///
    /// # IRQL
    /// `PASSIVE_LEVEL`.
    pub fn surprise_remove(&mut self, id: DeviceId) -> Result<(), PnpError> {
        self.expect(
            id,
            PnpIrp::SurpriseRemoval,
            &[
                DeviceState::NotStarted,
                DeviceState::Started,
                DeviceState::StopPending,
                DeviceState::Stopped,
                DeviceState::RemovePending,
            ],
        )?;
        self.send_surprise_removal(id);
        Ok(())
    }

    fn send_surprise_removal(&mut self, id: DeviceId) {
        self.send_infallible(id, PnpIrp::SurpriseRemoval, |driver, context| driver.surprise_removal(context));
        self.check_released(id);
        self.set_state(id, DeviceState::SurpriseRemoved);
    }

    fn send_remove(&mut self, id: DeviceId) {
        self.send_infallible(id, PnpIrp::Remove, |driver, context| driver.remove(context));
        self.check_released(id);
        self.set_state(id, DeviceState::Deleted);
    }
}

#[cfg(test)]
mod tests;
