//! Reserved mappings: system VA reserved once (`MmAllocateMappingAddress`) and later given MDL
//! mappings (`MmMapLockedPagesWithReservedMapping`) that never fail for lack of resources.
//!
//! The promise holds because the page tables of a reservation are built when it is reserved:
//! mapping writes leaf entries into tables that already exist and unmapping clears them, so
//! neither allocates RAM, VA or heap memory. The hosted machine's window follows by remapping
//! the pages touched, which is a system call, not an allocation.
//!
//! A reservation is kept in a registry by its base address, with its tag and how many of its
//! pages are mapped (always a prefix: an MDL's pages go at the start of the range).

use alloc::collections::BTreeMap;
use core::fmt;
use core::panic::Location;

use crate::address::{PAGE_SIZE, Pfn, VirtualAddress, bytes_to_pages};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::mdl::{MdlPtr, flags};
use crate::memory_manager::MemoryManager;
use crate::ownership::OwnerId;
use crate::page_table::{LeafAttributes, TlbFlush};
use crate::pfn_database::CacheRule;

/// `MM_MAPPING_ADDRESS_DIVISIBLE`: the reservation's address is a multiple of its size.
pub const MM_MAPPING_ADDRESS_DIVISIBLE: u32 = 0x1;

/// Pages whose cache-attribute holds are taken or dropped under one PFN lock.
const CACHE_BATCH: usize = 16;

/// The largest reservation `MmAllocateMappingAddressEx` accepts: less than 4 GB worth of pages.
const MAXIMUM_RESERVATION: u64 = 1 << 32;

/// One reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// First address of the range.
    pub base: VirtualAddress,
    /// Pages reserved.
    pub pages: u64,
    /// The owner's pool tag.
    pub tag: u32,
    /// Pages mapped, from the start of the range.
    pub mapped_pages: u64,
    /// Where it was reserved.
    pub location: &'static Location<'static>,
    /// Who reserved it: the platform's current owner at the time.
    pub owner: OwnerId,
}

/// The registry of reservations, by base address.
#[derive(Debug, Default)]
pub struct Reservations {
    map: spin::Mutex<BTreeMap<u64, Reservation>>,
}

/// Why a reservation was refused. Nothing is reserved when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveError {
    /// Called above `APC_LEVEL`.
    Irql(IrqlTooHigh),
    /// Zero bytes (`MmAllocateMappingAddress` bug-checks 0xDA/0x100).
    ZeroBytes,
    /// A zero tag, unknown flags, or 4 GB or more (`MmAllocateMappingAddressEx` returns NULL).
    InvalidParameter,
    /// No run of system VA, or no RAM for its page tables.
    NoResources,
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmAllocateMappingAddress {error}"),
            Self::ZeroBytes => f.write_str("a reservation of zero bytes"),
            Self::InvalidParameter => f.write_str("zero tag, unknown flags or a reservation of 4 GB or more"),
            Self::NoResources => f.write_str("no system VA or page-table memory for the reservation"),
        }
    }
}

impl core::error::Error for ReserveError {}

/// Why `MmFreeMappingAddress` refused. Nothing changes when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeReservationError {
    /// Called above `APC_LEVEL`.
    Irql(IrqlTooHigh),
    /// No reservation starts at the address (0xDA/0x102).
    NotReserved,
    /// The tag is not the owner's (0xDA/0x101).
    WrongTag {
        /// The owner's tag.
        owner: u32,
    },
    /// Pages are still mapped (0xDA/0x103).
    StillMapped {
        /// How many.
        mapped_pages: u64,
    },
}

impl fmt::Display for FreeReservationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmFreeMappingAddress {error}"),
            Self::NotReserved => f.write_str("no reservation starts at this address"),
            Self::WrongTag { owner } => write!(f, "the reservation belongs to tag {owner:#010x}"),
            Self::StillMapped { mapped_pages } => write!(f, "{mapped_pages} pages are still mapped"),
        }
    }
}

impl core::error::Error for FreeReservationError {}

/// Why `MmMapLockedPagesWithReservedMapping` refused. Nothing is mapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedMapError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// No reservation starts at the address (0xDA/0x105).
    NotReserved,
    /// The tag is not the owner's (0xDA/0x104).
    WrongTag {
        /// The owner's tag.
        owner: u32,
    },
    /// The reservation still holds a mapping (0xDA/0x107).
    StillMapped {
        /// Pages mapped.
        mapped_pages: u64,
    },
    /// The MDL's pages are not locked (0xC4/0x85).
    NotLocked,
    /// The MDL is already mapped to system space or built for nonpaged pool (0xC4/0xB2).
    AlreadyMapped,
    /// The MDL spans more pages than were reserved (NULL).
    TooLarge,
    /// A page already carries another memory type through a live mapping (NULL).
    CacheConflict(crate::pfn_database::CacheConflict),
}

impl fmt::Display for ReservedMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmMapLockedPagesWithReservedMapping {error}"),
            Self::NotReserved => f.write_str("no reservation starts at this address"),
            Self::WrongTag { owner } => write!(f, "the reservation belongs to tag {owner:#010x}"),
            Self::StillMapped { mapped_pages } => {
                write!(f, "the reservation still maps {mapped_pages} pages")
            }
            Self::NotLocked => f.write_str("the MDL's pages are not locked"),
            Self::AlreadyMapped => f.write_str("the MDL is already mapped to system space"),
            Self::TooLarge => f.write_str("the MDL does not fit in the reservation"),
            Self::CacheConflict(conflict) => conflict.fmt(f),
        }
    }
}

impl core::error::Error for ReservedMapError {}

/// Why `MmUnmapReservedMapping` refused. Nothing is unmapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedUnmapError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// No reservation starts at the address, or nothing is mapped in it (0xDA/0x109).
    Empty,
    /// The tag is not the owner's (0xDA/0x108).
    WrongTag {
        /// The owner's tag.
        owner: u32,
    },
    /// The MDL spans more pages than are mapped (0xDA/0x10A).
    MoreThanMapped {
        /// Pages mapped.
        mapped_pages: u64,
        /// Pages the MDL spans.
        requested_pages: u64,
    },
    /// A page the MDL covers is not mapped (0xDA/0x10B).
    PartNotMapped {
        /// Pages the MDL spans.
        requested_pages: u64,
    },
    /// The MDL spans fewer pages than are mapped (0xDA/0x10C).
    NotAllUnmapped {
        /// Pages the MDL spans.
        requested_pages: u64,
    },
}

impl fmt::Display for ReservedUnmapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmUnmapReservedMapping {error}"),
            Self::Empty => f.write_str("nothing is mapped in the reservation"),
            Self::WrongTag { owner } => write!(f, "the reservation belongs to tag {owner:#010x}"),
            Self::MoreThanMapped { mapped_pages, requested_pages } => {
                write!(f, "unmapping {requested_pages} pages but only {mapped_pages} are mapped")
            }
            Self::PartNotMapped { requested_pages } => {
                write!(f, "part of the {requested_pages} pages to unmap is not mapped")
            }
            Self::NotAllUnmapped { requested_pages } => {
                write!(f, "unmapping {requested_pages} pages leaves part of the mapping in place")
            }
        }
    }
}

impl core::error::Error for ReservedUnmapError {}

impl Reservations {
    /// Every live reservation, by address.
    pub fn list(&self) -> alloc::vec::Vec<Reservation> {
        self.map.lock().values().copied().collect()
    }

    /// The reservation that starts at `base`.
    pub fn get(&self, base: VirtualAddress) -> Option<Reservation> {
        self.map.lock().get(&base.0).copied()
    }

    /// The live reservations `owner` made.
    pub fn held_by(&self, owner: OwnerId) -> alloc::vec::Vec<Reservation> {
        self.map.lock().values().filter(|reservation| reservation.owner == owner).copied().collect()
    }
}

impl MemoryManager {
    /// `MmAllocateMappingAddress` / `MmAllocateMappingAddressEx`: reserves `bytes` of system VA
    /// for `tag`, and builds its page tables now so that later maps cannot fail for want of
    /// memory. Nothing is mapped: touching the range faults until a mapping is made.
    ///
    /// `flags` is 0 or [`MM_MAPPING_ADDRESS_DIVISIBLE`] (the address is then a multiple of the
    /// reservation's size in whole pages).
    ///
    /// # IRQL
    /// At most `APC_LEVEL`.
    pub fn allocate_mapping_address(
        &self,
        bytes: u64,
        tag: u32,
        flags: u32,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, ReserveError> {
        irql::check(self.current_irql(), Irql::APC).map_err(ReserveError::Irql)?;
        if bytes == 0 {
            return Err(ReserveError::ZeroBytes);
        }
        if flags & !MM_MAPPING_ADDRESS_DIVISIBLE != 0 || bytes >= MAXIMUM_RESERVATION {
            return Err(ReserveError::InvalidParameter);
        }
        let pages = bytes_to_pages(bytes);
        let base = if flags & MM_MAPPING_ADDRESS_DIVISIBLE != 0 {
            self.system_va.allocate_multiple_of(pages, pages * PAGE_SIZE)
        } else {
            self.system_va.allocate(pages, 1, 0)
        }
        .ok_or(ReserveError::NoResources)?;
        let memory = self.platform.physical_memory();
        if self.page_tables.populate(memory, &self.pfns, base, pages).is_err() {
            self.system_va.free(base, pages);
            return Err(ReserveError::NoResources);
        }
        let owner = self.current_owner();
        let reservation = Reservation { base, pages, tag, mapped_pages: 0, location, owner };
        self.reservations.map.lock().insert(base.0, reservation);
        Ok(base)
    }

    /// `MmFreeMappingAddress`: gives back a reservation that holds no mapping.
    ///
    /// # IRQL
    /// At most `APC_LEVEL`.
    pub fn free_mapping_address(&self, base: VirtualAddress, tag: u32) -> Result<(), FreeReservationError> {
        irql::check(self.current_irql(), Irql::APC).map_err(FreeReservationError::Irql)?;
        let reservation = {
            let mut map = self.reservations.map.lock();
            let reservation = map.get(&base.0).ok_or(FreeReservationError::NotReserved)?;
            if reservation.tag != tag {
                return Err(FreeReservationError::WrongTag { owner: reservation.tag });
            }
            if reservation.mapped_pages != 0 {
                return Err(FreeReservationError::StillMapped { mapped_pages: reservation.mapped_pages });
            }
            let reservation = *reservation;
            map.remove(&base.0);
            reservation
        };
        // The page tables stay: a later mapping of this VA reuses them.
        self.system_va.free(reservation.base, reservation.pages);
        Ok(())
    }

    /// `MmMapLockedPagesWithReservedMapping`: maps the locked pages `mdl` describes at the start
    /// of the reservation at `base`. Returns the address of the MDL's first byte (it includes
    /// the byte offset); the MDL's `MappedSystemVa` is set to `base`, without the offset, as
    /// Windows does (contract §15, discrepancy 8).
    ///
    /// It allocates nothing: neither RAM, nor VA, nor heap memory.
    ///
    /// `CacheType` applies only to pages with no attribute yet; pages that have one keep it.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn map_locked_pages_with_reserved_mapping(
        &self,
        base: VirtualAddress,
        tag: u32,
        mdl: MdlPtr,
        cache: CachePolicy,
    ) -> Result<VirtualAddress, ReservedMapError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(ReservedMapError::Irql)?;
        let mdl_flags = mdl.flags();
        let pages = mdl.page_count();
        let mut map = self.reservations.map.lock();
        let reservation = map.get_mut(&base.0).ok_or(ReservedMapError::NotReserved)?;
        if reservation.tag != tag {
            return Err(ReservedMapError::WrongTag { owner: reservation.tag });
        }
        if reservation.mapped_pages != 0 {
            return Err(ReservedMapError::StillMapped { mapped_pages: reservation.mapped_pages });
        }
        if mdl_flags & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            return Err(ReservedMapError::AlreadyMapped);
        }
        if mdl_flags & flags::MDL_PAGES_LOCKED == 0 {
            return Err(ReservedMapError::NotLocked);
        }
        if pages > reservation.pages {
            return Err(ReservedMapError::TooLarge);
        }

        let memory = self.platform.physical_memory();
        let mut flush = TlbFlush::empty();
        // The cache holds are taken a batch at a time (one PFN lock per batch, not per page),
        // in arrays on the stack: this path allocates nothing.
        let mut frames = [Pfn(0); CACHE_BATCH];
        let mut resolved = [cache; CACHE_BATCH];
        let mut done = 0;
        while done < pages {
            let batch = (pages - done).min(CACHE_BATCH as u64) as usize;
            for (slot, index) in frames[..batch].iter_mut().zip(done..) {
                *slot = mdl.pfn(index).unwrap_or(Pfn(0));
            }
            if let Err(conflict) =
                self.pfns.acquire_cache(&frames[..batch], cache, CacheRule::Adopt, &mut resolved[..batch])
            {
                self.release_reserved_pages(base, mdl, done, flush);
                return Err(ReservedMapError::CacheConflict(conflict));
            }
            for (offset, (&pfn, &page_cache)) in frames[..batch].iter().zip(&resolved[..batch]).enumerate() {
                let attributes =
                    LeafAttributes { writable: true, executable: false, cache: page_cache, global: true };
                let va = base.add((done + offset as u64) * PAGE_SIZE);
                match self.page_tables.map_preallocated(memory, va, pfn.address(), attributes) {
                    Ok(leaf) => flush = flush.merge(leaf),
                    Err(_) => {
                        // The tables were built at reservation time and the range holds
                        // nothing, so this only happens if the tables were damaged; undo and
                        // refuse.
                        self.pfns.release_cache(frames[offset..batch].iter().copied());
                        self.release_reserved_pages(base, mdl, done + offset as u64, flush);
                        return Err(ReservedMapError::NotReserved);
                    }
                }
            }
            done += batch as u64;
        }
        self.flush(flush);
        reservation.mapped_pages = pages;
        drop(map);

        let mut new_flags = flags::MDL_MAPPED_TO_SYSTEM_VA;
        if mdl_flags & flags::MDL_PARTIAL != 0 {
            new_flags |= flags::MDL_PARTIAL_HAS_BEEN_MAPPED;
        }
        mdl.set_mapped_system_va(base.as_ptr());
        mdl.insert_flags(new_flags);
        Ok(base.add(mdl.byte_offset().into()))
    }

    /// Clears the first `pages` leaves of a reserved mapping and drops their cache holds.
    fn release_reserved_pages(&self, base: VirtualAddress, mdl: MdlPtr, pages: u64, flush: TlbFlush) {
        let memory = self.platform.physical_memory();
        let mut flush = flush;
        let mut frames = [Pfn(0); CACHE_BATCH];
        let mut held = 0;
        for index in 0..pages {
            let pfn = match self.page_tables.unmap(memory, base.add(index * PAGE_SIZE)) {
                Ok((translation, leaf)) => {
                    flush = flush.merge(leaf);
                    Some(translation.frame_base.pfn())
                }
                Err(_) => mdl.pfn(index),
            };
            if let Some(pfn) = pfn {
                frames[held] = pfn;
                held += 1;
            }
            if held == CACHE_BATCH || index + 1 == pages {
                self.pfns.release_cache(frames[..held].iter().copied());
                held = 0;
            }
        }
        self.flush(flush);
    }

    /// `MmUnmapReservedMapping`: removes the mapping `mdl` made in the reservation at `base`.
    /// The reservation stays and can be mapped again.
    ///
    /// It allocates nothing.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn unmap_reserved_mapping(
        &self,
        base: VirtualAddress,
        tag: u32,
        mdl: MdlPtr,
    ) -> Result<(), ReservedUnmapError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(ReservedUnmapError::Irql)?;
        let requested_pages = mdl.page_count();
        let mut map = self.reservations.map.lock();
        let reservation = map.get_mut(&base.0).ok_or(ReservedUnmapError::Empty)?;
        if reservation.tag != tag {
            return Err(ReservedUnmapError::WrongTag { owner: reservation.tag });
        }
        let mapped_pages = reservation.mapped_pages;
        if mapped_pages == 0 {
            return Err(ReservedUnmapError::Empty);
        }
        if requested_pages > mapped_pages {
            return Err(ReservedUnmapError::MoreThanMapped { mapped_pages, requested_pages });
        }
        if requested_pages < mapped_pages {
            return Err(ReservedUnmapError::NotAllUnmapped { requested_pages });
        }
        let memory = self.platform.physical_memory();
        if (0..requested_pages)
            .any(|index| self.page_tables.translate(memory, base.add(index * PAGE_SIZE)).is_none())
        {
            return Err(ReservedUnmapError::PartNotMapped { requested_pages });
        }
        self.release_reserved_pages(base, mdl, requested_pages, TlbFlush::empty());
        reservation.mapped_pages = 0;
        drop(map);
        mdl.remove_flags(flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_PARTIAL_HAS_BEEN_MAPPED);
        Ok(())
    }

    /// Live reservations.
    pub fn reservations(&self) -> &Reservations {
        &self.reservations
    }
}
