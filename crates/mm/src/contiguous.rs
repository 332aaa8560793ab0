//! Contiguous and non-cached memory: `MmAllocateContiguousMemory(SpecifyCache)`,
//! `MmFreeContiguousMemory`, `MmAllocateNonCachedMemory` and `MmFreeNonCachedMemory` as safe
//! Rust.
//!
//! Both kinds are RAM frames taken from the PFN database (`PageUse::Allocated`) whose cache
//! attribute is recorded in the PFN database for as long as they are allocated, mapped into
//! fresh system VA with that memory type. Every live allocation is kept in a registry with its
//! frames and call site, so frees are checked against what was allocated and leaks can be
//! reported ([`MemoryManager::contiguous_allocations`]).
//!
//! # Decisions (contract §6 and §15)
//! - Contiguous memory is not zeroed (claim 66): it holds what the frames held before.
//! - Executability (§15, discrepancy 4): C30030's reading is taken. Contiguous memory is
//!   executable only when it is cached (`MmCached`, which `MmAllocateContiguousMemory` implies);
//!   `MmNonCached` and `MmWriteCombined` contiguous memory is no-execute. Non-cached memory is
//!   always no-execute.
//! - `HighestAcceptableAddress` is inclusive of the last byte: every byte of the block is at or
//!   below it. `LowestAcceptableAddress` is rounded up to a frame. Both are taken as unsigned,
//!   so the customary `-1` means "no limit".
//! - `BoundaryAddressMultiple` must be 0 or a power of two; a boundary smaller than a page, or
//!   smaller than the block, can never be met and the allocation fails.
//! - Zero bytes, an invalid caching type, impossible constraints and exhaustion all make the
//!   allocators return NULL.
//!
//! # Bug checks for bad frees (raised by the facade in [`crate::nt`])
//! - `MmFreeContiguousMemory` of an address that is not the base of a live contiguous
//!   allocation (never allocated, already freed, inside one, or non-cached memory): 0xC2
//!   `BAD_POOL_CALLER` with P1 = 0x60, the code Windows documents for "the caller of
//!   MmFreeContiguousMemory is passing a bad pointer", P2 = the address.
//! - `MmFreeNonCachedMemory`: non-cached memory is a run of system PTEs, so its misuse is the
//!   0xDA `SYSTEM_PTE_MISUSE` family for releasing system PTEs: 0x303 for an address that is not
//!   a live non-cached allocation (P2 = address, P3 = pages of the size given), 0x304 for an
//!   address inside one but not its base (P2 = address, P3 = pages of the size given), 0x305
//!   for a size that spans a different number of pages (P2 = base, P3 = pages of the size
//!   given, P4 = pages allocated).
//! - IRQL violations (no verifier subcode exists for these routines): 0x0A
//!   `IRQL_NOT_LESS_OR_EQUAL`, P1 = the address involved (0 for an allocation), P2 = IRQL.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use spin::Mutex;

use crate::address::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress, bytes_to_pages};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::memory_manager::MemoryManager;
use crate::pfn_database::{PageUse, PfnError};
use crate::range_allocator::Placement;
use crate::system_mapping::{FrameRights, MapFramesError};

/// Which allocator made an allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContiguousKind {
    /// `MmAllocateContiguousMemory(SpecifyCache)`: one physically contiguous run.
    Contiguous,
    /// `MmAllocateNonCachedMemory`: whole pages, uncached, physically discontiguous.
    NonCached,
}

/// A live contiguous or non-cached allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContiguousAllocation {
    /// Which allocator made it.
    pub kind: ContiguousKind,
    /// The address returned (page-aligned).
    pub address: VirtualAddress,
    /// Bytes asked for.
    pub bytes: u64,
    /// Pages allocated and mapped.
    pub pages: u64,
    /// The memory type of the mapping, recorded as the frames' cache attribute.
    pub cache: CachePolicy,
    /// The physical address of the first byte, for contiguous memory.
    pub physical: Option<PhysicalAddress>,
    /// Where it was allocated.
    pub location: &'static Location<'static>,
}

/// Why `allocate_contiguous` refused. Nothing is allocated when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContiguousError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// Zero bytes were asked for.
    ZeroLength,
    /// The boundary is neither 0 nor a power of two.
    BoundaryNotPowerOfTwo(u64),
    /// No placement can satisfy the bounds and boundary, whatever memory is free.
    ImpossibleConstraints,
    /// No free run of frames satisfies the request.
    Exhausted,
    /// No run of system VA is large enough.
    VaExhausted,
    /// No RAM frame for a new page table.
    OutOfPageTableFrames,
}

impl fmt::Display for ContiguousError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmAllocateContiguousMemory {error}"),
            Self::ZeroLength => f.write_str("a contiguous allocation of zero bytes"),
            Self::BoundaryNotPowerOfTwo(boundary) => {
                write!(f, "boundary {boundary:#x} is neither 0 nor a power of two")
            }
            Self::ImpossibleConstraints => {
                f.write_str("no physical placement can satisfy the bounds and boundary")
            }
            Self::Exhausted => f.write_str("no free physically contiguous run satisfies the request"),
            Self::VaExhausted => f.write_str("system VA space is exhausted"),
            Self::OutOfPageTableFrames => f.write_str("no RAM for a page table"),
        }
    }
}

impl core::error::Error for ContiguousError {}

/// Why `free_contiguous` refused. Nothing is freed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeContiguousError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// The address is not the base of a live contiguous allocation.
    NotAllocated {
        /// The address passed.
        address: VirtualAddress,
    },
}

impl fmt::Display for FreeContiguousError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmFreeContiguousMemory {error}"),
            Self::NotAllocated { address } => {
                write!(f, "{address} is not the base of a live contiguous allocation")
            }
        }
    }
}

impl core::error::Error for FreeContiguousError {}

/// Why `allocate_non_cached` refused. Nothing is allocated when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonCachedError {
    /// Called above `APC_LEVEL`.
    Irql(IrqlTooHigh),
    /// Zero bytes were asked for.
    ZeroLength,
    /// Not enough free RAM frames.
    Exhausted,
    /// No run of system VA is large enough.
    VaExhausted,
    /// No RAM frame for a new page table.
    OutOfPageTableFrames,
}

impl fmt::Display for NonCachedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmAllocateNonCachedMemory {error}"),
            Self::ZeroLength => f.write_str("a non-cached allocation of zero bytes"),
            Self::Exhausted => f.write_str("not enough free RAM"),
            Self::VaExhausted => f.write_str("system VA space is exhausted"),
            Self::OutOfPageTableFrames => f.write_str("no RAM for a page table"),
        }
    }
}

impl core::error::Error for NonCachedError {}

/// Why `free_non_cached` refused. Nothing is freed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeNonCachedError {
    /// Called above `APC_LEVEL`.
    Irql(IrqlTooHigh),
    /// No live non-cached allocation covers the address.
    NotAllocated {
        /// The address passed.
        address: VirtualAddress,
        /// Pages the size given spans.
        pages: u64,
    },
    /// The address is inside a non-cached allocation but is not its base.
    NotTheBase {
        /// The allocation's base.
        base: VirtualAddress,
        /// The address passed.
        address: VirtualAddress,
        /// Pages the size given spans.
        pages: u64,
    },
    /// The size spans a different number of pages than were allocated.
    SizeMismatch {
        /// The allocation's base.
        address: VirtualAddress,
        /// Pages allocated.
        allocated_pages: u64,
        /// Pages the size given spans.
        requested_pages: u64,
    },
}

impl fmt::Display for FreeNonCachedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmFreeNonCachedMemory {error}"),
            Self::NotAllocated { address, .. } => write!(f, "{address} is not non-cached memory"),
            Self::NotTheBase { base, address, .. } => {
                write!(f, "{address} is inside the non-cached allocation at {base}, not its base")
            }
            Self::SizeMismatch { address, allocated_pages, requested_pages } => write!(
                f,
                "the non-cached allocation at {address} has {allocated_pages} pages, the size given spans {requested_pages}"
            ),
        }
    }
}

impl core::error::Error for FreeNonCachedError {}

/// The frames behind an allocation.
#[derive(Debug)]
enum Frames {
    /// `pages` frames from this one.
    Run(Pfn),
    /// One frame per page.
    List(Box<[Pfn]>),
}

#[derive(Debug)]
struct Record {
    info: ContiguousAllocation,
    frames: Frames,
}

/// Live contiguous and non-cached allocations, by base address.
#[derive(Debug, Default)]
pub struct ContiguousAllocations {
    records: Mutex<BTreeMap<u64, Record>>,
}

impl From<MapFramesError> for ContiguousError {
    fn from(error: MapFramesError) -> Self {
        match error {
            MapFramesError::VaExhausted => Self::VaExhausted,
            MapFramesError::OutOfPageTableFrames => Self::OutOfPageTableFrames,
        }
    }
}

impl From<MapFramesError> for NonCachedError {
    fn from(error: MapFramesError) -> Self {
        match error {
            MapFramesError::VaExhausted => Self::VaExhausted,
            MapFramesError::OutOfPageTableFrames => Self::OutOfPageTableFrames,
        }
    }
}

/// The frame placement for `pages` frames with every byte in `[lowest, highest]` and no
/// crossing of a multiple of `boundary` bytes.
fn contiguous_placement(
    pages: u64,
    lowest: PhysicalAddress,
    highest: PhysicalAddress,
    boundary: u64,
) -> Result<Placement, ContiguousError> {
    if boundary != 0 && !boundary.is_power_of_two() {
        return Err(ContiguousError::BoundaryNotPowerOfTwo(boundary));
    }
    // First frame that starts at or above `lowest`; last frame whose last byte is <= `highest`.
    let first = lowest.0.div_ceil(PAGE_SIZE);
    let last = match highest.0.checked_add(1) {
        Some(end) => (end >> PAGE_SHIFT).checked_sub(1).ok_or(ContiguousError::ImpossibleConstraints)?,
        None => u64::MAX >> PAGE_SHIFT,
    };
    if first > last || last - first < pages - 1 {
        return Err(ContiguousError::ImpossibleConstraints);
    }
    let boundary_frames = boundary >> PAGE_SHIFT;
    if boundary != 0 && boundary_frames < pages {
        return Err(ContiguousError::ImpossibleConstraints);
    }
    Ok(Placement::ANY.within(first, last).not_crossing(boundary_frames))
}

impl MemoryManager {
    /// `MmAllocateContiguousMemorySpecifyCache`: `bytes` bytes (whole pages) of physically
    /// contiguous RAM, every byte in `[lowest, highest]`, not crossing a multiple of `boundary`
    /// (0 for none, else a power of two), mapped with `cache` and recorded with that attribute.
    /// The contents are left as they were (not zeroed). The mapping is read-write, and
    /// executable only when `cache` is write-back.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn allocate_contiguous(
        &self,
        bytes: u64,
        lowest: PhysicalAddress,
        highest: PhysicalAddress,
        boundary: u64,
        cache: CachePolicy,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, ContiguousError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(ContiguousError::Irql)?;
        if bytes == 0 {
            return Err(ContiguousError::ZeroLength);
        }
        let pages = bytes_to_pages(bytes);
        let placement = contiguous_placement(pages, lowest, highest, boundary)?;
        if pages > self.pfns.free_frames() {
            return Err(ContiguousError::Exhausted);
        }
        let first =
            self.pfns.allocate(pages, &placement, PageUse::Allocated).map_err(|error| match error {
                PfnError::BadRequest => ContiguousError::ImpossibleConstraints,
                _ => ContiguousError::Exhausted,
            })?;
        let frames: Vec<Pfn> = (first.0..first.0 + pages).map(Pfn).collect();
        for &frame in &frames {
            // Just allocated, so RAM: cannot fail.
            let _ = self.pfns.set_cache(frame, Some(cache));
        }
        let caches = alloc::vec![cache; frames.len()];
        let rights = FrameRights { writable: true, executable: cache == CachePolicy::WriteBack };
        let address = match self.map_frames(&frames, &caches, rights) {
            Ok(address) => address,
            Err(error) => {
                self.release_contiguous_frames(&Frames::Run(first), pages);
                return Err(error.into());
            }
        };
        let info = ContiguousAllocation {
            kind: ContiguousKind::Contiguous,
            address,
            bytes,
            pages,
            cache,
            physical: Some(first.address()),
            location,
        };
        self.contiguous.records.lock().insert(address.0, Record { info, frames: Frames::Run(first) });
        Ok(address)
    }

    /// `MmAllocateContiguousMemory`: cached contiguous memory anywhere at or below `highest`.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    #[track_caller]
    pub fn allocate_contiguous_memory(
        &self,
        bytes: u64,
        highest: PhysicalAddress,
    ) -> Result<VirtualAddress, ContiguousError> {
        self.allocate_contiguous(
            bytes,
            PhysicalAddress(0),
            highest,
            0,
            CachePolicy::WriteBack,
            Location::caller(),
        )
    }

    /// `MmFreeContiguousMemory`: frees the contiguous allocation returned at `address` (which
    /// must be exactly that address).
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn free_contiguous(&self, address: VirtualAddress) -> Result<(), FreeContiguousError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(FreeContiguousError::Irql)?;
        let record = {
            let mut records = self.contiguous.records.lock();
            match records.get(&address.0) {
                Some(record) if record.info.kind == ContiguousKind::Contiguous => records.remove(&address.0),
                _ => None,
            }
        };
        let record = record.ok_or(FreeContiguousError::NotAllocated { address })?;
        self.unmap_frames(address, record.info.pages);
        self.release_contiguous_frames(&record.frames, record.info.pages);
        Ok(())
    }

    /// `MmAllocateNonCachedMemory`: `bytes` bytes rounded up to whole pages of RAM (not
    /// necessarily physically contiguous), mapped uncached, read-write, no-execute, and
    /// recorded uncached. The contents are uninitialised.
    ///
    /// # IRQL
    /// At most `APC_LEVEL`.
    #[track_caller]
    pub fn allocate_non_cached(&self, bytes: u64) -> Result<VirtualAddress, NonCachedError> {
        self.allocate_non_cached_with(bytes, Location::caller())
    }

    /// As [`allocate_non_cached`](Self::allocate_non_cached), naming the caller explicitly.
    ///
    /// # IRQL
    /// At most `APC_LEVEL`.
    pub fn allocate_non_cached_with(
        &self,
        bytes: u64,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, NonCachedError> {
        irql::check(self.current_irql(), Irql::APC).map_err(NonCachedError::Irql)?;
        if bytes == 0 {
            return Err(NonCachedError::ZeroLength);
        }
        let pages = bytes_to_pages(bytes);
        // Checked first so that an absurd size never reaches a vector allocation.
        if pages > self.pfns.free_frames() {
            return Err(NonCachedError::Exhausted);
        }
        if pages > self.system_va.free_pages() {
            return Err(NonCachedError::VaExhausted);
        }
        let cache = CachePolicy::Uncached;
        let mut frames = Vec::with_capacity(pages as usize);
        for _ in 0..pages {
            match self.pfns.allocate(1, &Placement::ANY, PageUse::Allocated) {
                Ok(frame) => {
                    // Just allocated, so RAM: cannot fail.
                    let _ = self.pfns.set_cache(frame, Some(cache));
                    frames.push(frame);
                }
                Err(_) => {
                    let count = frames.len() as u64;
                    self.release_contiguous_frames(&Frames::List(frames.into_boxed_slice()), count);
                    return Err(NonCachedError::Exhausted);
                }
            }
        }
        let caches = alloc::vec![cache; frames.len()];
        let mapped = self.map_frames(&frames, &caches, FrameRights { writable: true, executable: false });
        let frames = Frames::List(frames.into_boxed_slice());
        let address = match mapped {
            Ok(address) => address,
            Err(error) => {
                self.release_contiguous_frames(&frames, pages);
                return Err(error.into());
            }
        };
        let info = ContiguousAllocation {
            kind: ContiguousKind::NonCached,
            address,
            bytes,
            pages,
            cache,
            physical: None,
            location,
        };
        self.contiguous.records.lock().insert(address.0, Record { info, frames });
        Ok(address)
    }

    /// `MmFreeNonCachedMemory`: frees the non-cached allocation returned at `address`; `bytes`
    /// must span the same number of pages as the size allocated.
    ///
    /// # IRQL
    /// At most `APC_LEVEL`.
    pub fn free_non_cached(&self, address: VirtualAddress, bytes: u64) -> Result<(), FreeNonCachedError> {
        irql::check(self.current_irql(), Irql::APC).map_err(FreeNonCachedError::Irql)?;
        let requested_pages = bytes_to_pages(bytes);
        let record = {
            let mut records = self.contiguous.records.lock();
            let record = match records.get(&address.0) {
                Some(record) if record.info.kind == ContiguousKind::NonCached => record,
                _ => {
                    let containing =
                        records.range(..=address.0).next_back().map(|(_, record)| record.info).filter(
                            |info| {
                                info.kind == ContiguousKind::NonCached
                                    && address.0 - info.address.0 < info.pages * PAGE_SIZE
                            },
                        );
                    return Err(match containing {
                        Some(info) => FreeNonCachedError::NotTheBase {
                            base: info.address,
                            address,
                            pages: requested_pages,
                        },
                        None => FreeNonCachedError::NotAllocated { address, pages: requested_pages },
                    });
                }
            };
            if record.info.pages != requested_pages {
                return Err(FreeNonCachedError::SizeMismatch {
                    address,
                    allocated_pages: record.info.pages,
                    requested_pages,
                });
            }
            records.remove(&address.0)
        };
        let Some(record) = record else {
            return Err(FreeNonCachedError::NotAllocated { address, pages: requested_pages });
        };
        self.unmap_frames(address, record.info.pages);
        self.release_contiguous_frames(&record.frames, record.info.pages);
        Ok(())
    }

    /// Every live contiguous and non-cached allocation, by address (for leak reports).
    ///
    /// # IRQL
    /// Any.
    pub fn contiguous_allocations(&self) -> Vec<ContiguousAllocation> {
        self.contiguous.records.lock().values().map(|record| record.info).collect()
    }

    /// Returns an allocation's frames to the free list, forgetting their attribute.
    fn release_contiguous_frames(&self, frames: &Frames, pages: u64) {
        let free = |frame: Pfn| {
            // The registry owns these frames. Freeing forgets the attribute; a frame a driver
            // left locked stays allocated (the free is refused) rather than being handed out
            // while locked.
            let _ = self.pfns.free(frame, 1, PageUse::Allocated);
        };
        match frames {
            Frames::Run(first) => (first.0..first.0 + pages).map(Pfn).for_each(free),
            Frames::List(list) => list.iter().copied().for_each(free),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_become_frames_with_an_inclusive_last_byte() {
        let placement = contiguous_placement(2, PhysicalAddress(0x1001), PhysicalAddress(0x4FFF), 0).unwrap();
        assert_eq!((placement.lowest, placement.highest, placement.boundary), (2, 4, 0));
        let placement =
            contiguous_placement(1, PhysicalAddress(0), PhysicalAddress(u64::MAX), 0x10000).unwrap();
        assert_eq!((placement.lowest, placement.highest, placement.boundary), (0, u64::MAX >> 12, 16));
        let placement = contiguous_placement(1, PhysicalAddress(0), PhysicalAddress(0x1FFE), 0).unwrap();
        assert_eq!(placement.highest, 0, "frame 1 ends past 0x1FFE");
    }

    #[test]
    fn impossible_requests_are_refused_before_any_search() {
        let impossible = Err(ContiguousError::ImpossibleConstraints);
        assert_eq!(contiguous_placement(1, PhysicalAddress(0), PhysicalAddress(0xFFE), 0), impossible);
        assert_eq!(contiguous_placement(3, PhysicalAddress(0), PhysicalAddress(0x2FFE), 0), impossible);
        assert_eq!(contiguous_placement(1, PhysicalAddress(0x3000), PhysicalAddress(0x2000), 0), impossible);
        assert_eq!(contiguous_placement(1, PhysicalAddress(0), PhysicalAddress(u64::MAX), 0x800), impossible);
        assert_eq!(
            contiguous_placement(2, PhysicalAddress(0), PhysicalAddress(u64::MAX), 0x1000),
            impossible
        );
        assert_eq!(
            contiguous_placement(1, PhysicalAddress(0), PhysicalAddress(u64::MAX), 0x3000),
            Err(ContiguousError::BoundaryNotPowerOfTwo(0x3000))
        );
        assert_eq!(
            contiguous_placement(1, PhysicalAddress(u64::MAX), PhysicalAddress(u64::MAX), 0),
            impossible
        );
    }
}
