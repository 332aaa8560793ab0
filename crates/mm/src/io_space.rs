//! Mapping physical ranges (device registers, locked RAM) into system space:
//! `MmMapIoSpace`, `MmMapIoSpaceEx` and `MmUnmapIoSpace` as safe Rust.
//!
//! A mapping is an owned [`IoMapping`] that unmaps on drop. Every live mapping is also recorded
//! by its base page, which is what lets the NT facade check the address and size a driver
//! passes to `MmUnmapIoSpace`, and lets the verifier report leaks with the call site.

use core::fmt;
use core::panic::Location;

use crate::address::{
    HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress, span_pages,
};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::memory_manager::MemoryManager;
use crate::memory_map::PHYSICAL_ADDRESS_LIMIT;
use crate::ownership::OwnerId;
use crate::page_table::{LeafAttributes, PageSize, TlbFlush};
use crate::pfn_database::{CacheConflict, CacheRule};
use crate::protection::PageProtection;

/// Leaves written for one mapping, by size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeafCounts {
    /// 4 KiB leaves.
    pub small: u64,
    /// 2 MiB leaves.
    pub large: u64,
    /// 1 GiB leaves.
    pub huge: u64,
}

impl LeafCounts {
    /// All leaves.
    pub const fn total(&self) -> u64 {
        self.small + self.large + self.huge
    }

    /// The largest page size used, for reports.
    pub const fn largest(&self) -> PageSize {
        if self.huge > 0 {
            PageSize::Size1GiB
        } else if self.large > 0 {
            PageSize::Size2MiB
        } else {
            PageSize::Size4KiB
        }
    }

    fn count(&mut self, size: PageSize) {
        match size {
            PageSize::Size4KiB => self.small += 1,
            PageSize::Size2MiB => self.large += 1,
            PageSize::Size1GiB => self.huge += 1,
        }
    }
}

/// What the memory manager remembers of a live I/O-space mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoMappingRecord {
    /// The address returned to the caller (keeps the physical byte offset).
    pub address: VirtualAddress,
    /// The physical address that was asked for.
    pub physical: PhysicalAddress,
    /// The byte count that was asked for.
    pub bytes: u64,
    /// Pages spanned (`ADDRESS_AND_SIZE_TO_SPAN_PAGES`).
    pub pages: u64,
    /// Protection and memory type.
    pub protection: PageProtection,
    /// Leaves written, by size.
    pub leaves: LeafCounts,
    /// Where the mapping was made.
    pub location: &'static Location<'static>,
    /// Who made it: the platform's current owner at the time.
    pub owner: OwnerId,
}

/// Why `map_io_space` refused. Nothing is mapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapIoSpaceError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// `NumberOfBytes` is zero.
    ZeroLength,
    /// The physical range wraps around or ends beyond the 52-bit physical address space.
    AddressRangeWraps,
    /// The range covers RAM that is not locked (`pfn` is the first such frame).
    RamNotLocked {
        /// The first unlocked RAM frame.
        pfn: Pfn,
    },
    /// No run of system VA is large enough (`MmMapIoSpace` returns NULL).
    VaExhausted,
    /// No RAM frame for a new page table (`MmMapIoSpace` returns NULL).
    OutOfPageTableFrames,
    /// The range already has a live mapping with another memory type (`MmMapIoSpace` returns
    /// NULL and the verifier logs it: two memory types for one page are undefined).
    CacheConflict(CacheConflict),
}

impl fmt::Display for MapIoSpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmMapIoSpace {error}"),
            Self::ZeroLength => f.write_str("a mapping of zero bytes"),
            Self::AddressRangeWraps => f.write_str("the physical range wraps or exceeds 2^52"),
            Self::RamNotLocked { pfn } => write!(f, "RAM frame {pfn} in the range is not locked"),
            Self::VaExhausted => f.write_str("system VA space is exhausted"),
            Self::OutOfPageTableFrames => f.write_str("no RAM for a page table"),
            Self::CacheConflict(conflict) => conflict.fmt(f),
        }
    }
}

impl core::error::Error for MapIoSpaceError {}

/// Why `unmap_io_space` refused. Nothing is unmapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmapIoSpaceError {
    /// Called above the routine's IRQL.
    Irql(IrqlTooHigh),
    /// No I/O-space mapping covers the address.
    NotMapped {
        /// The address passed.
        address: VirtualAddress,
        /// Pages the caller's size spans.
        pages: u64,
    },
    /// The address is inside a mapping but is not its base.
    NotTheBase {
        /// The address the mapping was returned at.
        expected: VirtualAddress,
        /// The address passed.
        requested: VirtualAddress,
    },
    /// The size spans a different number of pages than were mapped.
    SizeMismatch {
        /// The mapping's address.
        address: VirtualAddress,
        /// Pages mapped.
        mapped_pages: u64,
        /// Pages the caller's size spans.
        requested_pages: u64,
    },
}

impl fmt::Display for UnmapIoSpaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "MmUnmapIoSpace {error}"),
            Self::NotMapped { address, .. } => write!(f, "{address} is not an I/O-space mapping"),
            Self::NotTheBase { expected, requested } => {
                write!(f, "{requested} is inside the mapping at {expected}, not its base")
            }
            Self::SizeMismatch { address, mapped_pages, requested_pages } => write!(
                f,
                "the mapping at {address} spans {mapped_pages} pages, the size given spans {requested_pages}"
            ),
        }
    }
}

impl core::error::Error for UnmapIoSpaceError {}

/// A live mapping of a physical range into system space. Unmaps when dropped.
#[must_use = "dropping the mapping unmaps it at once"]
#[derive(Debug)]
pub struct IoMapping<'mm> {
    mm: &'mm MemoryManager,
    address: VirtualAddress,
    bytes: u64,
}

impl<'mm> IoMapping<'mm> {
    /// The address that maps the requested physical byte.
    pub fn address(&self) -> VirtualAddress {
        self.address
    }

    /// The byte count that was mapped.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Gives up ownership without unmapping: the mapping now lives until
    /// [`MemoryManager::unmap_io_space`] is called with the address and size.
    pub fn into_raw(self) -> VirtualAddress {
        let address = self.address;
        core::mem::forget(self);
        address
    }
}

impl Drop for IoMapping<'_> {
    fn drop(&mut self) {
        // The handle owns the record, so the address and size always match it; only the
        // IRQL rule can refuse, and then the mapping stays (and shows up as a leak).
        let _ = self.mm.unmap_io_space(self.address, self.bytes);
    }
}

/// The largest leaf the range `[first, first + pages)` (in frames) can use somewhere.
fn leaf_alignment(first: Pfn, pages: u64, huge_pages: bool) -> u64 {
    let start = first.0 * PAGE_SIZE;
    let end = start + pages * PAGE_SIZE;
    let holds_aligned_block = |size: u64| start.div_ceil(size) * size + size <= end;
    if huge_pages && holds_aligned_block(HUGE_PAGE_SIZE) {
        HUGE_PAGE_SIZE
    } else if holds_aligned_block(LARGE_PAGE_SIZE) {
        LARGE_PAGE_SIZE
    } else {
        PAGE_SIZE
    }
}

/// The leaf size to use at `physical` with `remaining` bytes left, up to `largest`.
fn leaf_size_at(physical: u64, remaining: u64, largest: u64) -> PageSize {
    for size in [PageSize::Size1GiB, PageSize::Size2MiB] {
        let bytes = size.bytes();
        if bytes <= largest && physical % bytes == 0 && remaining >= bytes {
            return size;
        }
    }
    PageSize::Size4KiB
}

/// The leaves [`MemoryManager::map_io_space`] writes for `bytes` (whole pages) from `physical`
/// with leaves up to `largest`: the same walk as the writing, without the writing.
fn plan_leaves(physical: PhysicalAddress, bytes: u64, largest: u64) -> LeafCounts {
    let mut leaves = LeafCounts::default();
    let mut done = 0;
    while done < bytes {
        let size = leaf_size_at(physical.0 + done, bytes - done, largest);
        leaves.count(size);
        done += size.bytes();
    }
    leaves
}

impl MemoryManager {
    /// `MmMapIoSpace`: maps `bytes` bytes of physical memory from `physical` with `cache`,
    /// readable, writable and executable. The returned address maps `physical` itself (it keeps
    /// the byte offset); large pages are used where the physical range allows.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    #[track_caller]
    pub fn map_io_space(
        &self,
        physical: PhysicalAddress,
        bytes: u64,
        cache: CachePolicy,
    ) -> Result<IoMapping<'_>, MapIoSpaceError> {
        self.map_io_space_with(physical, bytes, PageProtection::read_write_execute(cache), Location::caller())
    }

    /// `MmMapIoSpaceEx`: as [`map_io_space`](Self::map_io_space) with an explicit protection.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    #[track_caller]
    pub fn map_io_space_ex(
        &self,
        physical: PhysicalAddress,
        bytes: u64,
        protection: PageProtection,
    ) -> Result<IoMapping<'_>, MapIoSpaceError> {
        self.map_io_space_with(physical, bytes, protection, Location::caller())
    }

    /// The mapping path shared by both routines; `location` is the driver's call site.
    pub fn map_io_space_with(
        &self,
        physical: PhysicalAddress,
        bytes: u64,
        protection: PageProtection,
        location: &'static Location<'static>,
    ) -> Result<IoMapping<'_>, MapIoSpaceError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(MapIoSpaceError::Irql)?;
        if bytes == 0 {
            return Err(MapIoSpaceError::ZeroLength);
        }
        match physical.checked_add(bytes) {
            Some(end) if end.0 <= PHYSICAL_ADDRESS_LIMIT => {}
            _ => return Err(MapIoSpaceError::AddressRangeWraps),
        }
        let first = physical.pfn();
        let pages = span_pages(physical.0, bytes);
        // A device range (the common case) touches no PFN entry, so it takes no PFN lock.
        let ram = self.ram_frames(first, pages);
        if !ram.is_empty()
            && let Some(pfn) = self.pfns.first_unlocked_ram(first, pages)
        {
            return Err(MapIoSpaceError::RamNotLocked { pfn });
        }
        if !ram.is_empty() {
            let mut caches = alloc::vec![protection.cache; ram.len()];
            self.pfns
                .acquire_cache(&ram, protection.cache, CacheRule::Strict, &mut caches)
                .map_err(MapIoSpaceError::CacheConflict)?;
        }

        let largest = leaf_alignment(first, pages, self.platform.supports_huge_pages());
        let alignment_pages = largest / PAGE_SIZE;
        let processor = self.platform.current_processor();
        let Some(base) =
            self.system_va.allocate_cached(processor, pages, alignment_pages, first.0 % alignment_pages)
        else {
            self.release_ram_cache(ram);
            return Err(MapIoSpaceError::VaExhausted);
        };
        let address = base.add(physical.page_offset());
        let leaves = plan_leaves(first.address(), pages * PAGE_SIZE, largest);
        let owner = self.current_owner();
        let record = IoMappingRecord { address, physical, bytes, pages, protection, leaves, location, owner };
        // The record goes in before the leaves, and is refused if a live mapping gives one of
        // the pages another memory type: no translation with a conflicting type ever exists,
        // even briefly.
        if let Err(conflict) = self.io_mappings.insert(base, record) {
            self.system_va.free_cached(processor, base, pages);
            self.release_ram_cache(ram);
            return Err(MapIoSpaceError::CacheConflict(conflict));
        }
        let attributes = LeafAttributes {
            writable: protection.writable,
            executable: protection.executable,
            cache: protection.cache,
            global: true,
        };
        if let Err(error) = self.write_leaves(base, first.address(), pages * PAGE_SIZE, largest, attributes) {
            self.io_mappings.remove(base);
            self.system_va.free_cached(processor, base, pages);
            self.release_ram_cache(ram);
            return Err(error);
        }
        Ok(IoMapping { mm: self, address, bytes })
    }

    /// Maps `bytes` (whole pages) from `physical` at `base` with the largest leaves allowed,
    /// then flushes. On failure everything written is removed again.
    fn write_leaves(
        &self,
        base: VirtualAddress,
        physical: PhysicalAddress,
        bytes: u64,
        largest: u64,
        attributes: LeafAttributes,
    ) -> Result<(), MapIoSpaceError> {
        let memory = self.platform.physical_memory();
        let mut flush = TlbFlush::empty();
        let mut done = 0;
        while done < bytes {
            let size = leaf_size_at(physical.0 + done, bytes - done, largest);
            match self.page_tables.map(
                memory,
                &self.pfns,
                base.add(done),
                PhysicalAddress(physical.0 + done),
                size,
                attributes,
            ) {
                Ok(leaf_flush) => flush = flush.merge(leaf_flush),
                Err(_) => {
                    // Only a missing page-table frame can fail here: the VA run is ours alone.
                    self.flush(flush.merge(self.clear_leaves(base, done)));
                    return Err(MapIoSpaceError::OutOfPageTableFrames);
                }
            }
            done += size.bytes();
        }
        self.flush(flush);
        Ok(())
    }

    /// Clears every leaf in `[base, base + bytes)`, whatever its size.
    fn clear_leaves(&self, base: VirtualAddress, bytes: u64) -> TlbFlush {
        let memory = self.platform.physical_memory();
        let mut flush = TlbFlush::empty();
        let mut done = 0;
        while done < bytes {
            match self.page_tables.unmap(memory, base.add(done)) {
                Ok((translation, leaf_flush)) => {
                    flush = flush.merge(leaf_flush);
                    done += translation.size.bytes();
                }
                Err(_) => done += PAGE_SIZE,
            }
        }
        flush
    }

    /// The RAM frames among `pages` frames from `first` (none for a device range, whatever its
    /// size: only RAM ranges the request overlaps are walked).
    fn ram_frames(&self, first: Pfn, pages: u64) -> alloc::vec::Vec<Pfn> {
        // The memory map never changes, so asking it needs no lock (the PFN database's would).
        let start = first.0.saturating_mul(PAGE_SIZE);
        let end = first.0.saturating_add(pages).saturating_mul(PAGE_SIZE);
        if !self.memory_map.ram().any(|region| region.start.0 < end && start < region.end()) {
            return alloc::vec::Vec::new();
        }
        (first.0..first.0 + pages).map(Pfn).filter(|&pfn| self.pfns.is_ram(pfn)).collect()
    }

    /// `MmUnmapIoSpace`: releases the mapping returned at `address` for `bytes` bytes. The
    /// address must be exactly the one returned, and the size must span the same pages.
    ///
    /// # IRQL
    /// At most `APC_LEVEL` under the verifier rule (the default), else `DISPATCH_LEVEL`.
    pub fn unmap_io_space(&self, address: VirtualAddress, bytes: u64) -> Result<(), UnmapIoSpaceError> {
        let maximum =
            if self.config.verifier.unmap_io_space_at_most_apc { Irql::APC } else { Irql::DISPATCH };
        irql::check(self.current_irql(), maximum).map_err(UnmapIoSpaceError::Irql)?;
        let requested_pages = span_pages(address.0, bytes);
        let record = self.io_mappings.take(address, requested_pages)?;
        let base = record.address.page_base();
        self.flush(self.clear_leaves(base, record.pages * PAGE_SIZE));
        self.system_va.free_cached(self.platform.current_processor(), base, record.pages);
        self.release_ram_cache(self.ram_frames(record.physical.pfn(), record.pages));
        Ok(())
    }

    /// Drops the cache-attribute holds a mapping took on its RAM frames (none for a device
    /// range, which then takes no PFN lock).
    fn release_ram_cache(&self, ram: alloc::vec::Vec<Pfn>) {
        if !ram.is_empty() {
            self.pfns.release_cache(ram.into_iter());
        }
    }
}
