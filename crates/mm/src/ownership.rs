//! Who holds what: an owner identity for every device (or driver) that maps, locks or reserves,
//! and the query that lists what one owner still holds.
//!
//! The Plug and Play manager gives each device an [`OwnerId`] and makes it the current CPU's
//! *current owner* while it calls into the device's driver ([`Platform::set_current_owner`]).
//! Every I/O-space mapping, MDL mapping, locked MDL and reservation records the owner current
//! when it was made, next to the driver's call site. After STOP, SURPRISE_REMOVAL, REMOVE or a
//! failed START the manager asks [`MemoryManager::held_by`]: anything still there is a leak, and
//! the record says which line of the driver made it.
//!
//! The core is `no_std` with no thread-locals, so "current" is the platform's to keep: per CPU
//! on metal, per thread on the hosted machine. A platform that keeps nothing reports
//! [`OwnerId::NONE`], and then nothing is attributed to anyone.
//!
//! [`Platform::set_current_owner`]: crate::platform::Platform::set_current_owner

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::io_space::IoMappingRecord;
use crate::locked_pages::LockedMdlRecord;
use crate::mdl_mapping::MdlMappingRecord;
use crate::memory_manager::MemoryManager;
use crate::reserved_mapping::Reservation;

/// The identity of whoever made a mapping, lock or reservation: in practice a device, as the
/// PnP manager names them. `0` is [`OwnerId::NONE`].
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct OwnerId(pub u32);

impl OwnerId {
    /// Nobody: work done outside any driver call (or on a platform that keeps no owner).
    pub const NONE: Self = Self(0);

    /// Whether this is [`OwnerId::NONE`].
    pub const fn is_none(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OwnerId({})", self.0)
    }
}

impl fmt::Display for OwnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "owner {}", self.0)
    }
}

/// Hands out owner identities, unique within one memory manager.
#[derive(Debug)]
pub(crate) struct OwnerAllocator {
    next: AtomicU32,
}

impl Default for OwnerAllocator {
    fn default() -> Self {
        // 0 is NONE, so the first identity handed out is 1.
        Self { next: AtomicU32::new(1) }
    }
}

/// Everything one owner holds right now, each item with the call site that made it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Live `MmMapIoSpace(Ex)` mappings.
    pub io_mappings: Vec<IoMappingRecord>,
    /// Live MDL mappings (`MmMapLockedPagesSpecifyCache`, `MmGetSystemAddressForMdlSafe`).
    pub mdl_mappings: Vec<MdlMappingRecord>,
    /// MDLs whose pages `MmProbeAndLockPages` locked and nobody unlocked.
    pub locked_mdls: Vec<LockedMdlRecord>,
    /// Live reservations (`MmAllocateMappingAddress(Ex)`), mapped or not.
    pub reservations: Vec<Reservation>,
}

impl Holdings {
    /// Whether the owner holds nothing.
    pub fn is_empty(&self) -> bool {
        self.io_mappings.is_empty()
            && self.mdl_mappings.is_empty()
            && self.locked_mdls.is_empty()
            && self.reservations.is_empty()
    }
}

impl MemoryManager {
    /// A fresh owner identity, never [`OwnerId::NONE`] and never handed out before by this
    /// memory manager.
    pub fn allocate_owner(&self) -> OwnerId {
        OwnerId(self.owners.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The owner the platform says the current CPU works for.
    pub fn current_owner(&self) -> OwnerId {
        self.platform.current_owner()
    }

    /// Everything `owner` holds: live I/O-space mappings, MDL mappings, locked MDLs and
    /// reservations, each in address order with the location of the call that made it.
    pub fn held_by(&self, owner: OwnerId) -> Holdings {
        Holdings {
            io_mappings: self.io_mappings.list().into_iter().filter(|record| record.owner == owner).collect(),
            mdl_mappings: self.mdl_mappings.held_by(owner),
            locked_mdls: self.locked_mdls.held_by(owner),
            reservations: self.reservations.held_by(owner),
        }
    }
}
