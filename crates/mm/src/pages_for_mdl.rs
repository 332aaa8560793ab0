//! Physical pages handed out through an MDL: `MmAllocatePagesForMdl`,
//! `MmAllocatePagesForMdlEx` and `MmFreePagesFromMdl`.
//!
//! The frames come straight from the PFN database (not mapped), locked once each so that they
//! count as locked for every later mapping, zeroed unless asked not to. The MDL is a pool block
//! of its own that the caller frees with `ExFreePool` after `MmFreePagesFromMdl`.
//!
//! Cache attributes (contract §15, discrepancy 5): the Ex routine records `CacheType` for its
//! frames; `MmAllocatePagesForMdl` records none, so the first mapping decides while it lives.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use crate::address::{LARGE_PAGE_SIZE, PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::locked_pages::{MAXIMUM_MDL_LENGTH, MDL_POOL_TAG};
use crate::mdl::{MdlPtr, flags};
use crate::memory_manager::MemoryManager;
use crate::pfn_database::PageUse;
use crate::range_allocator::Placement;

/// `MM_DONT_ZERO_ALLOCATION`.
pub const MM_DONT_ZERO_ALLOCATION: u32 = 0x01;
/// `MM_ALLOCATE_FROM_LOCAL_NODE_ONLY` (one node here: no effect).
pub const MM_ALLOCATE_FROM_LOCAL_NODE_ONLY: u32 = 0x02;
/// `MM_ALLOCATE_FULLY_REQUIRED`.
pub const MM_ALLOCATE_FULLY_REQUIRED: u32 = 0x04;
/// `MM_ALLOCATE_NO_WAIT` (this machine never waits: no effect).
pub const MM_ALLOCATE_NO_WAIT: u32 = 0x08;
/// `MM_ALLOCATE_PREFER_CONTIGUOUS`.
pub const MM_ALLOCATE_PREFER_CONTIGUOUS: u32 = 0x10;
/// `MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS`.
pub const MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS: u32 = 0x20;
/// `MM_ALLOCATE_FAST_LARGE_PAGES`.
pub const MM_ALLOCATE_FAST_LARGE_PAGES: u32 = 0x40;
/// `MM_ALLOCATE_TRIM_IF_NECESSARY`.
pub const MM_ALLOCATE_TRIM_IF_NECESSARY: u32 = 0x80;
/// `MM_ALLOCATE_AND_HOT_REMOVE`.
pub const MM_ALLOCATE_AND_HOT_REMOVE: u32 = 0x100;

const KNOWN_FLAGS: u32 = 0x1FF;

/// The pool tag of MDLs made by these routines ('MmPg').
pub const PAGES_FOR_MDL_TAG: u32 = u32::from_le_bytes(*b"MmPg");

/// A request to `MmAllocatePagesForMdlEx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagesRequest {
    /// Lowest acceptable physical address of the first window.
    pub low: PhysicalAddress,
    /// Highest acceptable physical address of the first window (inclusive).
    pub high: PhysicalAddress,
    /// Shift between search windows, or the chunk size with `REQUIRE_CONTIGUOUS_CHUNKS`.
    pub skip: u64,
    /// Bytes wanted.
    pub total: u64,
    /// Cache attribute to record, or `None` (`MmAllocatePagesForMdl`).
    pub cache: Option<CachePolicy>,
    /// `MM_ALLOCATE_*` flags.
    pub flags: u32,
}

/// Why no MDL was returned (the routines return NULL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagesForMdlError {
    /// Called above `DISPATCH_LEVEL` (0xC4/0x7E).
    Irql(IrqlTooHigh),
    /// Unknown or contradictory flags, a bad `SkipBytes`, or a zero size.
    InvalidParameter,
    /// No page at all (or not all of them with `FULLY_REQUIRED`, or no contiguous run).
    NoPages,
    /// No pool for the MDL.
    NoPool,
}

impl fmt::Display for PagesForMdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmAllocatePagesForMdlEx {error}"),
            Self::InvalidParameter => f.write_str("invalid flags, SkipBytes or size"),
            Self::NoPages => f.write_str("not enough physical pages in the acceptable ranges"),
            Self::NoPool => f.write_str("no pool for the MDL"),
        }
    }
}

impl core::error::Error for PagesForMdlError {}

/// Why `MmFreePagesFromMdl` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreePagesError {
    /// Called above `DISPATCH_LEVEL` (0xC4/0x7E).
    Irql(IrqlTooHigh),
    /// The MDL did not come from `MmAllocatePagesForMdl(Ex)`, or its pages were freed already.
    NotPagesForMdl,
    /// The MDL is mapped by something `MmUnmapLockedPages` cannot release (a reserved mapping):
    /// freeing the pages would leave that mapping over free frames.
    StillMapped,
}

impl fmt::Display for FreePagesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmFreePagesFromMdl {error}"),
            Self::NotPagesForMdl => f.write_str("the MDL holds no pages from MmAllocatePagesForMdl"),
            Self::StillMapped => f.write_str("the MDL's pages are still mapped by a reserved mapping"),
        }
    }
}

impl core::error::Error for FreePagesError {}

/// MDLs whose pages were allocated here, by MDL address: frames per MDL.
#[derive(Debug, Default)]
pub struct PagesForMdl {
    map: spin::Mutex<BTreeMap<usize, (u64, &'static Location<'static>)>>,
}

impl PagesForMdl {
    /// Drops the record of the MDL at `address` (its pool block is being freed).
    pub(crate) fn forget(&self, address: VirtualAddress) {
        self.map.lock().remove(&(address.0 as usize));
    }

    /// Live allocations: MDL address, pages, where allocated.
    pub fn list(&self) -> Vec<(usize, u64, &'static Location<'static>)> {
        self.map.lock().iter().map(|(&mdl, &(pages, location))| (mdl, pages, location)).collect()
    }
}

impl PagesRequest {
    fn validate(&self) -> Result<(), PagesForMdlError> {
        let flags = self.flags;
        let chunks = flags & MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS != 0;
        let bad = flags & !KNOWN_FLAGS != 0
            || self.total == 0
            || self.skip % PAGE_SIZE != 0
            || self.low > self.high
            || (flags & MM_ALLOCATE_AND_HOT_REMOVE != 0 && flags & MM_ALLOCATE_FULLY_REQUIRED != 0)
            || (chunks && self.skip != 0 && (!self.skip.is_power_of_two() || self.total % self.skip != 0))
            || (flags & MM_ALLOCATE_FAST_LARGE_PAGES != 0 && (!chunks || self.skip % LARGE_PAGE_SIZE != 0));
        if bad { Err(PagesForMdlError::InvalidParameter) } else { Ok(()) }
    }
}

impl MemoryManager {
    /// `MmAllocatePagesForMdlEx` (and, with `cache: None`, `MmAllocatePagesForMdl`): an MDL
    /// describing as much of the request as could be allocated (`ByteCount` may be less than
    /// asked), or an error when nothing could be.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL` (`PASSIVE_LEVEL` with `MM_ALLOCATE_AND_HOT_REMOVE`).
    pub fn allocate_pages_for_mdl(
        &self,
        request: &PagesRequest,
        location: &'static Location<'static>,
    ) -> Result<MdlPtr, PagesForMdlError> {
        let maximum =
            if request.flags & MM_ALLOCATE_AND_HOT_REMOVE != 0 { Irql::PASSIVE } else { Irql::DISPATCH };
        irql::check(self.current_irql(), maximum).map_err(PagesForMdlError::Irql)?;
        request.validate()?;
        let wanted = request.total.min(MAXIMUM_MDL_LENGTH).div_ceil(PAGE_SIZE);
        let all_or_nothing = request.flags & MM_ALLOCATE_FULLY_REQUIRED != 0
            || (request.flags & MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS != 0 && request.skip == 0);
        // The MDL comes first, sized for no more pages than are free: taking the frames first
        // could leave no RAM for the MDL's own pool page, and RAM that is short is exactly when
        // a partial result is due.
        let room = wanted.min(self.pfns.free_frames());
        if room == 0 || (all_or_nothing && room < wanted) {
            return Err(PagesForMdlError::NoPages);
        }
        let mdl = self
            .allocate_mdl(VirtualAddress(0), room * PAGE_SIZE, location)
            .map_err(|_| PagesForMdlError::NoPool)?;
        // The MDL's pool page may have taken one of the frames counted above.
        let room = room.min(self.pfns.free_frames());
        let runs = self.take_frames(request, room);
        let got: u64 = runs.iter().map(|&(_, count)| count).sum();
        if got == 0 || (all_or_nothing && got < wanted) {
            self.give_back(&runs);
            let _ = self.free_pool(VirtualAddress::from_ptr(mdl.as_ptr()), Some(MDL_POOL_TAG));
            return Err(PagesForMdlError::NoPages);
        }
        // SAFETY: `got` pages fit the PFN array sized for `room >= got` pages.
        unsafe { mdl.set_header(core::ptr::null_mut(), 0, (got * PAGE_SIZE) as u32) };
        let memory = self.platform.physical_memory();
        let zero = request.flags & MM_DONT_ZERO_ALLOCATION == 0;
        let mut index = 0;
        for &(first, count) in &runs {
            for pfn in (first.0..first.0 + count).map(Pfn) {
                if zero {
                    memory.zero(pfn);
                }
                let _ = self.pfns.lock(pfn);
                let _ = self.pfns.set_cache(pfn, request.cache);
                mdl.set_pfn(index, pfn);
                index += 1;
            }
        }
        mdl.insert_flags(flags::MDL_PAGES_LOCKED);
        self.pages_for_mdl.map.lock().insert(mdl.as_ptr() as usize, (got, location));
        Ok(mdl)
    }

    /// Takes up to `wanted` frames as runs, following the request's windows and chunking.
    fn take_frames(&self, request: &PagesRequest, wanted: u64) -> Vec<(Pfn, u64)> {
        let mut runs = Vec::new();
        let mut got = 0;
        let ram_end = self.memory_map.ram_end() / PAGE_SIZE;
        let low = request.low.0.div_ceil(PAGE_SIZE);
        let high = request.high.0 / PAGE_SIZE;
        // The last page of the window shifted by `shift - 1` pages. A range that holds no whole
        // page (high < low once rounded) stays empty: the placement refuses it.
        let window_high = |shift: u64| high.saturating_add(shift).saturating_sub(1);
        let chunks = request.flags & MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS != 0;
        if chunks {
            // One run of everything, or `skip`-sized, `skip`-aligned chunks.
            let chunk = if request.skip == 0 { wanted } else { request.skip / PAGE_SIZE };
            let placement =
                Placement::aligned(if request.skip == 0 { 1 } else { chunk }, 0).within(low, window_high(1));
            while got + chunk <= wanted {
                match self.pfns.allocate(chunk, &placement, PageUse::Allocated) {
                    Ok(first) => runs.push((first, chunk)),
                    Err(_) => break,
                }
                got += chunk;
            }
            return runs;
        }
        let mut shift = 0;
        loop {
            let placement = Placement::ANY.within(low.saturating_add(shift), window_high(shift + 1));
            while got < wanted {
                match self.pfns.allocate(1, &placement, PageUse::Allocated) {
                    Ok(pfn) => match runs.last_mut() {
                        Some((first, count)) if first.0 + *count == pfn.0 => *count += 1,
                        _ => runs.push((pfn, 1)),
                    },
                    Err(_) => break,
                }
                got += 1;
            }
            let step = request.skip / PAGE_SIZE;
            if got >= wanted || step == 0 || low.saturating_add(shift + step) >= ram_end {
                return runs;
            }
            shift += step;
        }
    }

    fn give_back(&self, runs: &[(Pfn, u64)]) {
        for &(first, count) in runs {
            let _ = self.pfns.free(first, count, PageUse::Allocated);
        }
    }

    /// `MmFreePagesFromMdl`: releases a system mapping of the MDL (the Windows 7 model), then
    /// unlocks and frees its pages. The MDL itself stays for the caller to free with
    /// `ExFreePool`; its byte count becomes 0.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn free_pages_from_mdl(&self, mdl: MdlPtr) -> Result<(), FreePagesError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(FreePagesError::Irql)?;
        let key = mdl.as_ptr() as usize;
        let Some(&(pages, _)) = self.pages_for_mdl.map.lock().get(&key) else {
            return Err(FreePagesError::NotPagesForMdl);
        };
        if mdl.flags() & flags::MDL_MAPPED_TO_SYSTEM_VA != 0 {
            // Only a mapping made by `MmMapLockedPagesSpecifyCache` can be released here; the
            // frames must not be freed under any other (a reserved mapping, say).
            self.unmap_locked_pages(VirtualAddress::from_ptr(mdl.mapped_system_va()), mdl)
                .map_err(|_| FreePagesError::StillMapped)?;
        }
        self.pages_for_mdl.map.lock().remove(&key);
        for index in 0..pages {
            if let Some(pfn) = mdl.pfn(index) {
                let _ = self.pfns.unlock(pfn);
                let _ = self.pfns.set_cache(pfn, None);
                let _ = self.pfns.free(pfn, 1, PageUse::Allocated);
            }
        }
        mdl.remove_flags(flags::MDL_PAGES_LOCKED);
        // SAFETY: a byte count of 0 describes no pages, which fits any MDL.
        unsafe { mdl.set_header(mdl.start_va(), 0, 0) };
        Ok(())
    }

    /// MDLs holding pages from `MmAllocatePagesForMdl(Ex)`.
    pub fn pages_for_mdl(&self) -> &PagesForMdl {
        &self.pages_for_mdl
    }
}
