//! The PFN database: one entry per RAM frame, recording what the frame is used for, how many
//! times it is locked, and the cache attribute it carries.
//!
//! Frames that are not RAM (device memory, holes) have no entry: that is how the memory manager
//! tells I/O space from RAM. Free frames are also kept as ranges in a [`RangeAllocator`], so
//! that single frames, contiguous runs and constrained runs are all found in O(log n) or by a
//! walk of the free runs, never of every frame.

use alloc::vec::Vec;
use core::fmt;

use spin::Mutex;

use crate::address::Pfn;
use crate::caching::CachePolicy;
use crate::memory_map::MemoryMap;
use crate::physical_memory::FrameAllocator;
use crate::range_allocator::{Placement, RangeAllocator};

/// What a RAM frame is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PageUse {
    /// On the free list.
    Free,
    /// Held by the platform or firmware; never handed out.
    Reserved,
    /// A paging structure of the system address space.
    PageTable,
    /// Allocated to a caller (pool, contiguous memory, pages for an MDL, ...).
    Allocated,
}

/// The state of one RAM frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PfnEntry {
    /// What the frame is used for.
    pub use_: PageUse,
    /// How many locks are held on it (MDLs that locked it).
    pub lock_count: u32,
    /// The cache attribute recorded for the frame: set by the allocator that handed the frame
    /// out (pool, contiguous, non-cached, `MmAllocatePagesForMdlEx`), or by the live mappings of a
    /// frame that had none.
    pub cache: Option<CachePolicy>,
    /// How many live mappings hold `cache` (0 when the allocator set it).
    pub cache_mappings: u32,
}

impl PfnEntry {
    const FREE: Self = Self { use_: PageUse::Free, lock_count: 0, cache: None, cache_mappings: 0 };
}

/// Why a PFN-database operation was refused. Nothing changes when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfnError {
    /// The frame is not RAM.
    NotRam(Pfn),
    /// No free run satisfies the request.
    Exhausted,
    /// The request itself is malformed (zero frames, bad alignment or bounds).
    BadRequest,
    /// The frame is not in the state the operation needs (e.g. freeing a free frame).
    WrongState(Pfn, PageUse),
    /// The frame is still locked.
    Locked(Pfn),
    /// Unlocking a frame that holds no lock.
    NotLocked(Pfn),
}

impl fmt::Display for PfnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRam(pfn) => write!(f, "frame {pfn} is not RAM"),
            Self::Exhausted => f.write_str("no free physical frames satisfy the request"),
            Self::BadRequest => f.write_str("malformed physical allocation request"),
            Self::WrongState(pfn, use_) => write!(f, "frame {pfn} is {use_:?}"),
            Self::Locked(pfn) => write!(f, "frame {pfn} is still locked"),
            Self::NotLocked(pfn) => write!(f, "frame {pfn} is not locked"),
        }
    }
}

impl core::error::Error for PfnError {}

/// How a mapping treats a frame's recorded cache attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheRule {
    /// MDL mappings: an attribute the frame already has silently replaces the request.
    Adopt,
    /// `MmMapIoSpace`: a request that differs from the frame's attribute is a conflict.
    Strict,
}

/// A mapping would give a frame a second, different memory type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConflict {
    /// The frame.
    pub pfn: Pfn,
    /// The attribute it has.
    pub existing: CachePolicy,
    /// The attribute requested.
    pub requested: CachePolicy,
}

impl fmt::Display for CacheConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame {} is {} but {} was requested: two live mappings with different memory types",
            self.pfn, self.existing, self.requested
        )
    }
}

impl core::error::Error for CacheConflict {}

/// The entries of one RAM region.
#[derive(Debug)]
struct RamRange {
    first: Pfn,
    entries: Vec<PfnEntry>,
}

#[derive(Debug)]
struct Inner {
    ranges: Vec<RamRange>,
    free: RangeAllocator,
}

impl Inner {
    fn entry_mut(&mut self, pfn: Pfn) -> Result<&mut PfnEntry, PfnError> {
        let index = self.ranges.partition_point(|range| range.first.0 <= pfn.0);
        let range = index.checked_sub(1).map(|i| &mut self.ranges[i]).ok_or(PfnError::NotRam(pfn))?;
        let offset = (pfn.0 - range.first.0) as usize;
        range.entries.get_mut(offset).ok_or(PfnError::NotRam(pfn))
    }

    fn entry(&self, pfn: Pfn) -> Option<&PfnEntry> {
        let index = self.ranges.partition_point(|range| range.first.0 <= pfn.0);
        let range = &self.ranges[index.checked_sub(1)?];
        range.entries.get((pfn.0 - range.first.0) as usize)
    }

    /// Checks that all `count` frames from `first` are RAM in state `use_`.
    fn check_run(&self, first: Pfn, count: u64, use_: PageUse) -> Result<(), PfnError> {
        for pfn in (first.0..first.0 + count).map(Pfn) {
            let entry = self.entry(pfn).ok_or(PfnError::NotRam(pfn))?;
            if entry.use_ != use_ {
                return Err(PfnError::WrongState(pfn, entry.use_));
            }
            if entry.lock_count != 0 {
                return Err(PfnError::Locked(pfn));
            }
        }
        Ok(())
    }

    fn set_run(&mut self, first: Pfn, count: u64, state: PfnEntry) {
        for pfn in (first.0..first.0 + count).map(Pfn) {
            if let Ok(entry) = self.entry_mut(pfn) {
                *entry = state;
            }
        }
    }
}

/// The PFN database of a machine.
#[derive(Debug)]
pub struct PfnDatabase {
    inner: Mutex<Inner>,
    total: u64,
}

impl PfnDatabase {
    /// One entry per RAM frame of `map`, all free. Frame 0 is kept reserved so that no
    /// allocation ever has physical address 0.
    pub fn new(map: &MemoryMap) -> Self {
        let mut ranges = Vec::new();
        let mut free = RangeAllocator::new();
        let mut total = 0;
        for region in map.ram() {
            let first = region.start.pfn();
            let frames = region.bytes / crate::address::PAGE_SIZE;
            ranges.push(RamRange { first, entries: alloc::vec![PfnEntry::FREE; frames as usize] });
            // Regions of a validated map never overlap, so this cannot fail.
            let _ = free.add_free(first.0, frames);
            total += frames;
        }
        let mut inner = Inner { ranges, free };
        if inner.entry(Pfn(0)).is_some() && inner.free.allocate_at(0, 1).is_ok() {
            inner.set_run(Pfn(0), 1, PfnEntry { use_: PageUse::Reserved, ..PfnEntry::FREE });
        }
        Self { inner: Mutex::new(inner), total }
    }

    /// RAM frames in the machine.
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Frames on the free list.
    pub fn free_frames(&self) -> u64 {
        self.inner.lock().free.free_units()
    }

    /// Whether `pfn` is a RAM frame (has an entry).
    pub fn is_ram(&self, pfn: Pfn) -> bool {
        self.inner.lock().entry(pfn).is_some()
    }

    /// A copy of the entry of `pfn`, or `None` if it is not RAM.
    pub fn entry(&self, pfn: Pfn) -> Option<PfnEntry> {
        self.inner.lock().entry(pfn).copied()
    }

    /// Takes `count` free frames that are physically contiguous and satisfy `placement`
    /// (in frame numbers), for `use_`. Returns the first frame.
    pub fn allocate(&self, count: u64, placement: &Placement, use_: PageUse) -> Result<Pfn, PfnError> {
        if count == 0 || matches!(use_, PageUse::Free) {
            return Err(PfnError::BadRequest);
        }
        let mut inner = self.inner.lock();
        let first = inner.free.allocate(count, placement).map_err(|error| match error {
            crate::range_allocator::RangeError::Exhausted => PfnError::Exhausted,
            _ => PfnError::BadRequest,
        })?;
        inner.set_run(Pfn(first), count, PfnEntry { use_, ..PfnEntry::FREE });
        Ok(Pfn(first))
    }

    /// Takes the specific free frames `first..first + count` out of the free list (the
    /// platform's own memory, firmware tables).
    pub fn reserve(&self, first: Pfn, count: u64) -> Result<(), PfnError> {
        let mut inner = self.inner.lock();
        inner.check_run(first, count, PageUse::Free)?;
        inner.free.allocate_at(first.0, count).map_err(|_| PfnError::WrongState(first, PageUse::Free))?;
        inner.set_run(first, count, PfnEntry { use_: PageUse::Reserved, ..PfnEntry::FREE });
        Ok(())
    }

    /// Returns `count` frames from `first`, all allocated for `use_` and unlocked, to the
    /// free list. Their cache attribute is forgotten.
    pub fn free(&self, first: Pfn, count: u64, use_: PageUse) -> Result<(), PfnError> {
        if count == 0 {
            return Err(PfnError::BadRequest);
        }
        let mut inner = self.inner.lock();
        inner.check_run(first, count, use_)?;
        inner.free.free(first.0, count).map_err(|_| PfnError::WrongState(first, PageUse::Free))?;
        inner.set_run(first, count, PfnEntry::FREE);
        Ok(())
    }

    /// Takes one more lock on `pfn`, which must be RAM in use. Returns the new lock count.
    pub fn lock(&self, pfn: Pfn) -> Result<u32, PfnError> {
        let mut inner = self.inner.lock();
        let entry = inner.entry_mut(pfn)?;
        if entry.use_ == PageUse::Free {
            return Err(PfnError::WrongState(pfn, PageUse::Free));
        }
        entry.lock_count = entry.lock_count.checked_add(1).ok_or(PfnError::Locked(pfn))?;
        Ok(entry.lock_count)
    }

    /// Drops one lock on `pfn`. Returns the remaining lock count.
    pub fn unlock(&self, pfn: Pfn) -> Result<u32, PfnError> {
        let mut inner = self.inner.lock();
        let entry = inner.entry_mut(pfn)?;
        entry.lock_count = entry.lock_count.checked_sub(1).ok_or(PfnError::NotLocked(pfn))?;
        Ok(entry.lock_count)
    }

    /// Records `cache` as the attribute of `pfn`.
    pub fn set_cache(&self, pfn: Pfn, cache: Option<CachePolicy>) -> Result<(), PfnError> {
        self.inner.lock().entry_mut(pfn)?.cache = cache;
        Ok(())
    }

    /// The memory type a new mapping of each of `frames` gets, taking a hold on the attribute
    /// of frames that had none (the mapping's request becomes their attribute while it lives).
    /// Frames that are not RAM are given `requested`. On a conflict nothing changes.
    ///
    /// `attributes[i]` receives the type for `frames[i]`.
    pub fn acquire_cache(
        &self,
        frames: &[Pfn],
        requested: CachePolicy,
        rule: CacheRule,
        attributes: &mut [CachePolicy],
    ) -> Result<(), CacheConflict> {
        let mut inner = self.inner.lock();
        for (i, &pfn) in frames.iter().enumerate() {
            attributes[i] = match inner.entry(pfn) {
                None => requested,
                Some(entry) => match entry.cache {
                    None => requested,
                    Some(existing) if existing == requested => existing,
                    Some(existing) if rule == CacheRule::Adopt && entry.cache_mappings == 0 => existing,
                    Some(existing) => return Err(CacheConflict { pfn, existing, requested }),
                },
            };
        }
        for (i, &pfn) in frames.iter().enumerate() {
            if let Ok(entry) = inner.entry_mut(pfn)
                && (entry.cache.is_none() || entry.cache_mappings > 0)
            {
                entry.cache = Some(attributes[i]);
                entry.cache_mappings += 1;
            }
        }
        Ok(())
    }

    /// Releases the holds [`acquire_cache`](Self::acquire_cache) took on `frames`: a frame whose
    /// attribute came only from mappings has none again once its last mapping is gone.
    pub fn release_cache(&self, frames: impl Iterator<Item = Pfn>) {
        let mut inner = self.inner.lock();
        for pfn in frames {
            if let Ok(entry) = inner.entry_mut(pfn)
                && entry.cache_mappings > 0
            {
                entry.cache_mappings -= 1;
                if entry.cache_mappings == 0 {
                    entry.cache = None;
                }
            }
        }
    }

    /// The first RAM frame among `count` frames from `first` that holds no lock, if any.
    /// Frames that are not RAM are skipped: they are I/O space.
    pub fn first_unlocked_ram(&self, first: Pfn, count: u64) -> Option<Pfn> {
        let inner = self.inner.lock();
        let last = first.0.saturating_add(count);
        // Only the RAM ranges the request overlaps are walked: a 64 GiB device range costs
        // one comparison per RAM range, not one per frame.
        inner.ranges.iter().find_map(|range| {
            let start = range.first.0.max(first.0);
            let end = (range.first.0 + range.entries.len() as u64).min(last);
            (start..end).find(|&pfn| range.entries[(pfn - range.first.0) as usize].lock_count == 0).map(Pfn)
        })
    }

    /// Whether any of `count` frames from `first` is RAM.
    pub fn any_ram(&self, first: Pfn, count: u64) -> bool {
        let inner = self.inner.lock();
        let last = first.0.saturating_add(count);
        inner
            .ranges
            .iter()
            .any(|range| range.first.0 < last && first.0 < range.first.0 + range.entries.len() as u64)
    }
}

/// Page tables take their frames from the free list.
impl FrameAllocator for PfnDatabase {
    fn allocate_frame(&self) -> Option<Pfn> {
        self.allocate(1, &Placement::ANY, PageUse::PageTable).ok()
    }

    fn free_frame(&self, pfn: Pfn) {
        // A frame handed out by `allocate_frame` is always a free-able page table.
        let _ = self.free(pfn, 1, PageUse::PageTable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::PhysicalAddress;
    use crate::memory_map::{Region, RegionKind};
    use alloc::vec;

    fn database() -> PfnDatabase {
        let map = MemoryMap::new(vec![
            Region { start: PhysicalAddress(0), bytes: 0x10_000, kind: RegionKind::Ram },
            Region { start: PhysicalAddress(0x100_000), bytes: 0x10_000, kind: RegionKind::Ram },
            Region { start: PhysicalAddress(0xFE00_0000), bytes: 0x1000, kind: RegionKind::Device },
        ])
        .unwrap();
        PfnDatabase::new(&map)
    }

    #[test]
    fn ram_frames_have_entries_and_device_frames_do_not() {
        let db = database();
        assert_eq!(db.total_frames(), 32);
        assert_eq!(db.free_frames(), 31, "frame 0 is reserved");
        assert!(db.is_ram(Pfn(0x100)));
        assert!(!db.is_ram(Pfn(0x10)));
        assert!(!db.is_ram(Pfn(0xFE000)));
        assert_eq!(db.entry(Pfn(0)).unwrap().use_, PageUse::Reserved);
    }

    #[test]
    fn lock_counts_accumulate_and_underflow_is_refused() {
        let db = database();
        let pfn = db.allocate(1, &Placement::ANY, PageUse::Allocated).unwrap();
        assert_eq!(db.lock(pfn), Ok(1));
        assert_eq!(db.lock(pfn), Ok(2));
        assert_eq!(db.free(pfn, 1, PageUse::Allocated), Err(PfnError::Locked(pfn)));
        assert_eq!(db.unlock(pfn), Ok(1));
        assert_eq!(db.unlock(pfn), Ok(0));
        assert_eq!(db.unlock(pfn), Err(PfnError::NotLocked(pfn)));
        assert_eq!(db.first_unlocked_ram(pfn, 1), Some(pfn));
        assert_eq!(db.first_unlocked_ram(Pfn(0xFE000), 1), None, "I/O space is never 'unlocked RAM'");
        db.free(pfn, 1, PageUse::Allocated).unwrap();
        assert_eq!(db.free(pfn, 1, PageUse::Allocated), Err(PfnError::WrongState(pfn, PageUse::Free)));
        assert_eq!(db.lock(pfn), Err(PfnError::WrongState(pfn, PageUse::Free)));
    }

    #[test]
    fn contiguous_allocation_exhausts_and_recovers() {
        let db = database();
        let first = db.allocate(16, &Placement::ANY, PageUse::Allocated).unwrap();
        assert_eq!(db.allocate(16, &Placement::ANY, PageUse::Allocated), Err(PfnError::Exhausted));
        db.free(first, 16, PageUse::Allocated).unwrap();
        assert!(db.allocate(16, &Placement::ANY, PageUse::Allocated).is_ok());
    }
}
