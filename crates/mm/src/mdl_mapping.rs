//! System mappings of MDLs: `MmMapLockedPages`, `MmMapLockedPagesSpecifyCache`,
//! `MmUnmapLockedPages` and `MmGetSystemAddressForMdlSafe`.
//!
//! The pages' recorded cache attribute wins over the caching type asked for, except for pages
//! that have none yet (from `MmAllocatePagesForMdl`); those take the request while the mapping
//! lives, and a second live mapping that asks for another type is refused (NULL) rather than
//! created with a conflicting memory type (contract claims 53 and 71).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use crate::address::{PAGE_SIZE, Pfn, VirtualAddress};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::locked_pages::ProcessorMode;
use crate::mdl::{MdlPtr, flags};
use crate::memory_manager::MemoryManager;
use crate::ownership::OwnerId;
use crate::pfn_database::{CacheConflict, CacheRule};
use crate::system_mapping::{FrameRights, MapFramesError};

/// `LowPagePriority`.
pub const LOW_PAGE_PRIORITY: u32 = 0;
/// `NormalPagePriority`.
pub const NORMAL_PAGE_PRIORITY: u32 = 16;
/// `HighPagePriority`.
pub const HIGH_PAGE_PRIORITY: u32 = 32;
/// `MdlMappingNoWrite`: a read-only mapping.
pub const MDL_MAPPING_NO_WRITE: u32 = 0x8000_0000;
/// `MdlMappingNoExecute`: a non-executable mapping.
pub const MDL_MAPPING_NO_EXECUTE: u32 = 0x4000_0000;
/// `MdlMappingWithGuardPtes` (accepted and ignored).
pub const MDL_MAPPING_WITH_GUARD_PTES: u32 = 0x2000_0000;

/// A live MDL mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdlMappingRecord {
    /// First page of the mapping.
    pub base: VirtualAddress,
    /// Pages mapped.
    pub pages: u64,
    /// The MDL's address.
    pub mdl: usize,
    /// Where it was mapped.
    pub location: &'static Location<'static>,
    /// Who mapped it: the platform's current owner at the time.
    pub owner: OwnerId,
}

/// The registry of MDL mappings, by base page.
#[derive(Debug, Default)]
pub struct MdlMappings {
    map: spin::Mutex<BTreeMap<u64, MdlMappingRecord>>,
}

impl MdlMappings {
    /// Every live MDL mapping.
    pub fn list(&self) -> Vec<MdlMappingRecord> {
        self.map.lock().values().copied().collect()
    }

    /// The live MDL mappings `owner` made.
    pub fn held_by(&self, owner: OwnerId) -> Vec<MdlMappingRecord> {
        self.map.lock().values().filter(|record| record.owner == owner).copied().collect()
    }
}

/// Why an MDL was not mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapMdlError {
    /// Called above the routine's IRQL (0xC4/0x76).
    Irql(IrqlTooHigh),
    /// The MDL's pages are not locked (0xC4/0x85).
    NotLocked,
    /// The MDL is already mapped to system space or built for nonpaged pool (0xC4/0xB2).
    AlreadyMapped,
    /// A frame is not RAM but the MDL lacks `MDL_IO_SPACE` (0xC4/0x89).
    NotMarkedIoSpace(Pfn),
    /// User-mode mappings need a process; the hosted machine has none.
    UserMode,
    /// A page already carries another memory type through a live mapping (NULL).
    CacheConflict(CacheConflict),
    /// No system VA or page-table memory (NULL, or a bug check when asked for).
    NoResources(MapFramesError),
}

impl fmt::Display for MapMdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmMapLockedPagesSpecifyCache {error}"),
            Self::NotLocked => f.write_str("the MDL's pages are not locked"),
            Self::AlreadyMapped => f.write_str("the MDL is already mapped to system space"),
            Self::NotMarkedIoSpace(pfn) => write!(f, "frame {pfn} is not RAM and the MDL lacks MDL_IO_SPACE"),
            Self::UserMode => f.write_str("user-mode mappings are not supported on this machine"),
            Self::CacheConflict(conflict) => conflict.fmt(f),
            Self::NoResources(error) => error.fmt(f),
        }
    }
}

impl core::error::Error for MapMdlError {}

/// Why an MDL mapping was not removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapMdlError {
    /// Called above `DISPATCH_LEVEL` (0xC4/0x79).
    Irql(IrqlTooHigh),
    /// The MDL is not mapped to system space (0xC4/0xB6).
    NotMapped,
    /// A partial MDL that only borrows its parent's mapping (0xC4/0xB5).
    PartialBorrowsParent,
    /// The address is not the MDL's mapping (0xDA/0x06).
    WrongAddress,
}

impl fmt::Display for UnmapMdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmUnmapLockedPages {error}"),
            Self::NotMapped => f.write_str("the MDL is not mapped to system space"),
            Self::PartialBorrowsParent => f.write_str("the partial MDL only borrows its parent's mapping"),
            Self::WrongAddress => f.write_str("the address is not this MDL's mapping"),
        }
    }
}

impl core::error::Error for UnmapMdlError {}

/// A validated `Priority` argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingPriority {
    /// `MdlMappingNoWrite`.
    pub no_write: bool,
    /// `MdlMappingNoExecute`.
    pub no_execute: bool,
}

impl MappingPriority {
    /// Splits a `Priority` value into its flags; the priority itself does not change what this
    /// machine can map (every request gets the same resources).
    pub const fn from_raw(priority: u32) -> Self {
        Self {
            no_write: priority & MDL_MAPPING_NO_WRITE != 0,
            no_execute: priority & MDL_MAPPING_NO_EXECUTE != 0,
        }
    }
}

impl MemoryManager {
    /// `MmMapLockedPagesSpecifyCache` in kernel mode: maps the MDL's locked pages into system
    /// space. Returns the address of the buffer's first byte (it includes the byte offset),
    /// stores it in `MappedSystemVa` and sets `MDL_MAPPED_TO_SYSTEM_VA`
    /// (and `MDL_PARTIAL_HAS_BEEN_MAPPED` for a partial MDL).
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL` (kernel mode).
    pub fn map_locked_pages(
        &self,
        mdl: MdlPtr,
        mode: ProcessorMode,
        cache: CachePolicy,
        priority: MappingPriority,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, MapMdlError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(MapMdlError::Irql)?;
        if mode == ProcessorMode::User {
            return Err(MapMdlError::UserMode);
        }
        let mdl_flags = mdl.flags();
        if mdl_flags & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            return Err(MapMdlError::AlreadyMapped);
        }
        if mdl_flags & flags::MDL_PAGES_LOCKED == 0 {
            return Err(MapMdlError::NotLocked);
        }
        let pages = mdl.page_count();
        let frames: Vec<Pfn> = (0..pages).map(|index| mdl.pfn(index).unwrap_or_default()).collect();
        if mdl_flags & flags::MDL_IO_SPACE == 0
            && let Some(&pfn) = frames.iter().find(|&&pfn| !self.pfns.is_ram(pfn))
        {
            return Err(MapMdlError::NotMarkedIoSpace(pfn));
        }
        let mut caches = alloc::vec![cache; frames.len()];
        self.pfns
            .acquire_cache(&frames, cache, CacheRule::Adopt, &mut caches)
            .map_err(MapMdlError::CacheConflict)?;
        let rights = FrameRights { writable: !priority.no_write, executable: !priority.no_execute };
        let base = match self.map_frames(&frames, &caches, rights) {
            Ok(base) => base,
            Err(error) => {
                self.pfns.release_cache(frames.iter().copied());
                return Err(MapMdlError::NoResources(error));
            }
        };
        let owner = self.current_owner();
        let record = MdlMappingRecord { base, pages, mdl: mdl.as_ptr() as usize, location, owner };
        self.mdl_mappings.map.lock().insert(base.0, record);
        let address = base.add(mdl.byte_offset().into());
        mdl.set_mapped_system_va(address.as_ptr());
        let partial =
            if mdl_flags & flags::MDL_PARTIAL != 0 { flags::MDL_PARTIAL_HAS_BEEN_MAPPED } else { 0 };
        mdl.insert_flags(flags::MDL_MAPPED_TO_SYSTEM_VA | partial);
        Ok(address)
    }

    /// `MmUnmapLockedPages` for a system-space mapping made by
    /// [`map_locked_pages`](Self::map_locked_pages). Unmapping a partial MDL that has its own
    /// mapping is allowed; one that only borrows its parent's is the misuse (contract §15,
    /// discrepancy 9).
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn unmap_locked_pages(&self, address: VirtualAddress, mdl: MdlPtr) -> Result<(), UnmapMdlError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(UnmapMdlError::Irql)?;
        let mdl_flags = mdl.flags();
        if mdl_flags & flags::MDL_MAPPED_TO_SYSTEM_VA == 0 {
            return Err(UnmapMdlError::NotMapped);
        }
        if mdl_flags & flags::MDL_PARTIAL != 0 && mdl_flags & flags::MDL_PARTIAL_HAS_BEEN_MAPPED == 0 {
            return Err(UnmapMdlError::PartialBorrowsParent);
        }
        let record = {
            let mut map = self.mdl_mappings.map.lock();
            let base = address.page_base();
            match map.get(&base.0) {
                Some(record) if record.mdl == mdl.as_ptr() as usize => {
                    let record = *record;
                    map.remove(&base.0);
                    record
                }
                _ => return Err(UnmapMdlError::WrongAddress),
            }
        };
        let frames: Vec<Pfn> = (0..record.pages)
            .filter_map(|index| self.mapped_frame(record.base.add(index * PAGE_SIZE)))
            .collect();
        self.unmap_frames(record.base, record.pages);
        self.pfns.release_cache(frames.into_iter());
        mdl.remove_flags(flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_PARTIAL_HAS_BEEN_MAPPED);
        Ok(())
    }

    /// Whether `address` lies in the first page of a live mapping that
    /// [`map_locked_pages`](Self::map_locked_pages) made for `mdl`: one that
    /// [`unmap_locked_pages`](Self::unmap_locked_pages) releases.
    pub fn is_mdl_mapping(&self, address: VirtualAddress, mdl: MdlPtr) -> bool {
        self.mdl_mappings
            .map
            .lock()
            .get(&address.page_base().0)
            .is_some_and(|record| record.mdl == mdl.as_ptr() as usize)
    }

    /// `MmGetSystemAddressForMdlSafe`: the existing system address of the MDL when it has one
    /// (`MDL_MAPPED_TO_SYSTEM_VA` or `MDL_SOURCE_IS_NONPAGED_POOL`), otherwise a new cached
    /// kernel mapping; `None` when mapping fails.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn system_address_for_mdl(
        &self,
        mdl: MdlPtr,
        priority: MappingPriority,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, MapMdlError> {
        if mdl.flags() & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            return Ok(VirtualAddress::from_ptr(mdl.mapped_system_va()));
        }
        self.map_locked_pages(mdl, ProcessorMode::Kernel, CachePolicy::WriteBack, priority, location)
    }

    /// Live MDL mappings.
    pub fn mdl_mappings(&self) -> &MdlMappings {
        &self.mdl_mappings
    }
}
