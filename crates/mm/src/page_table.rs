//! x86-64 four-level paging in the hardware format: PML4, page-directory-pointer table, page
//! directory and page table, with 1 GiB, 2 MiB and 4 KiB leaves.
//!
//! The tables live in RAM frames reached through [`PhysicalMemory`], so the same code builds the
//! tables a processor walks on metal and the tables the unit tests inspect over
//! [`EmulatedMemory`](crate::emulated::EmulatedMemory).
//!
//! Concurrency: every entry is an [`AtomicU64`]. A caller owns the virtual range it maps or
//! unmaps, so leaves are never contended; intermediate tables are shared by neighbouring ranges,
//! so a missing one is created by allocating and zeroing a frame and installing it with
//! `compare_exchange`; the loser of a race frees its frame and uses the winner's table.
//!
//! Cache policy is encoded with PWT and PCD only (see [`crate::pat`]); the PAT bit is never set.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::address::{HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SHIFT, PAGE_SIZE, PhysicalAddress};
use crate::address::{Pfn, VirtualAddress};
use crate::caching::CachePolicy;
use crate::pat::{policy_from_pte, pte_bits};
use crate::physical_memory::{FrameAllocator, PhysicalMemory, TableFrame};

/// P: the entry is valid.
pub const PTE_PRESENT: u64 = 1 << 0;
/// R/W: writes are allowed through this entry.
pub const PTE_WRITABLE: u64 = 1 << 1;
/// U/S: user mode may access; iospace maps system space only and never sets it.
pub const PTE_USER: u64 = 1 << 2;
/// PWT: page-level write-through (one of the two bits that select the PAT entry).
pub const PTE_WRITE_THROUGH: u64 = crate::pat::PTE_PWT;
/// PCD: page-level cache disable (the other bit that selects the PAT entry).
pub const PTE_CACHE_DISABLE: u64 = crate::pat::PTE_PCD;
/// A: set by the processor when the entry is used for a translation.
pub const PTE_ACCESSED: u64 = 1 << 5;
/// D: set by the processor when the page a leaf maps is written.
pub const PTE_DIRTY: u64 = 1 << 6;
/// PS: in a PDPTE or PDE, the entry is a 1 GiB or 2 MiB leaf rather than a table pointer.
pub const PTE_LARGE: u64 = 1 << 7;
/// PAT bit of a 4 KiB PTE (same position as [`PTE_LARGE`]); iospace never sets it.
pub const PTE_PAT_4KIB: u64 = 1 << 7;
/// PAT bit of a 1 GiB or 2 MiB leaf; iospace never sets it.
pub const PTE_PAT_LARGE: u64 = 1 << 12;
/// G: the translation survives CR3 reloads.
pub const PTE_GLOBAL: u64 = 1 << 8;
/// Bits 12..=51: the physical address of the next table or of the mapped frame.
pub const PTE_ADDRESS_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// XD/NX: instruction fetches through this entry fault.
pub const PTE_NO_EXECUTE: u64 = 1 << 63;

/// What a table-pointer entry holds besides the address: present and writable, so that the
/// leaf alone decides access; never NX or U/S, which would restrict every leaf below.
const TABLE_ENTRY_BITS: u64 = PTE_PRESENT | PTE_WRITABLE;

/// Entries in every paging structure.
const ENTRIES: usize = 512;

/// Level of the PML4 (the root); the PDPT is 3, the page directory 2, the page table 1.
const ROOT_LEVEL: u32 = 4;

/// The size of the region one leaf maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// A PTE in a page table.
    Size4KiB,
    /// A PDE with PS set.
    Size2MiB,
    /// A PDPTE with PS set.
    Size1GiB,
}

impl PageSize {
    /// Bytes mapped by one leaf of this size.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Size4KiB => PAGE_SIZE,
            Self::Size2MiB => LARGE_PAGE_SIZE,
            Self::Size1GiB => HUGE_PAGE_SIZE,
        }
    }

    /// The paging level whose entries are leaves of this size.
    const fn level(self) -> u32 {
        match self {
            Self::Size4KiB => 1,
            Self::Size2MiB => 2,
            Self::Size1GiB => 3,
        }
    }

    /// The size of the leaves at `level` (1..=3).
    const fn of_level(level: u32) -> Self {
        match level {
            3 => Self::Size1GiB,
            2 => Self::Size2MiB,
            _ => Self::Size4KiB,
        }
    }
}

/// How a leaf lets the processor use the memory it maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafAttributes {
    /// Writes allowed (R/W).
    pub writable: bool,
    /// Instruction fetches allowed (NX clear).
    pub executable: bool,
    /// Memory type, encoded with PWT/PCD.
    pub cache: CachePolicy,
    /// Translation kept across address-space switches (G).
    pub global: bool,
}

impl LeafAttributes {
    /// The entry bits for these attributes, without the address and without PS: present,
    /// R/W, NX, G and the PWT/PCD of the cache policy. Never U/S, never the PAT bit.
    pub const fn entry_bits(self) -> u64 {
        let mut bits = PTE_PRESENT | pte_bits(self.cache);
        if self.writable {
            bits |= PTE_WRITABLE;
        }
        if !self.executable {
            bits |= PTE_NO_EXECUTE;
        }
        if self.global {
            bits |= PTE_GLOBAL;
        }
        bits
    }

    /// The attributes a leaf entry encodes (PAT, A, D and the address are ignored).
    pub const fn from_entry(entry: u64) -> Self {
        Self {
            writable: entry & PTE_WRITABLE != 0,
            executable: entry & PTE_NO_EXECUTE == 0,
            cache: policy_from_pte(entry),
            global: entry & PTE_GLOBAL != 0,
        }
    }
}

/// What a page walk found for one virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The first byte of the physical region the leaf maps.
    pub frame_base: PhysicalAddress,
    /// The physical address of the byte the walk was for: `frame_base` plus the offset of the
    /// virtual address within the leaf.
    pub physical: PhysicalAddress,
    /// The size of the leaf.
    pub size: PageSize,
    /// The leaf's attributes.
    pub attributes: LeafAttributes,
}

/// The number of paging structures in a tree, per level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableCounts {
    /// PML4s (1 for any tree).
    pub pml4: u64,
    /// Page-directory-pointer tables.
    pub pdpt: u64,
    /// Page directories.
    pub pd: u64,
    /// Page tables.
    pub pt: u64,
}

impl TableCounts {
    /// Frames the tree occupies.
    pub const fn total(&self) -> u64 {
        self.pml4 + self.pdpt + self.pd + self.pt
    }
}

/// A virtual range whose translations changed and may still be cached by a TLB.
///
/// Each page-table operation returns one; the memory manager merges those of an operation and
/// hands the result to the platform, which invalidates the range on every processor.
#[must_use = "the TLB still holds the old translation until this range is flushed"]
#[derive(Debug)]
pub struct TlbFlush {
    start: VirtualAddress,
    bytes: u64,
}

impl TlbFlush {
    /// A flush of `bytes` bytes from `start`.
    pub const fn new(start: VirtualAddress, bytes: u64) -> Self {
        Self { start, bytes }
    }

    /// A flush of nothing, the identity of [`merge`](Self::merge).
    pub const fn empty() -> Self {
        Self { start: VirtualAddress(0), bytes: 0 }
    }

    /// The start and length of the range to invalidate.
    pub const fn range(&self) -> (VirtualAddress, u64) {
        (self.start, self.bytes)
    }

    /// Whether there is nothing to invalidate.
    pub const fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// One flush covering both ranges (and whatever lies between them).
    pub fn merge(self, other: TlbFlush) -> TlbFlush {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        // Work with inclusive ends: a range that ends at the top of the address space has an
        // exclusive end of 2^64.
        let last = |flush: &TlbFlush| flush.start.0.saturating_add(flush.bytes - 1);
        let start = self.start.0.min(other.start.0);
        let end = last(&self).max(last(&other));
        TlbFlush { start: VirtualAddress(start), bytes: (end - start).saturating_add(1) }
    }

    /// Drops the flush: for when the caller knows no TLB can hold the range, e.g. it was not
    /// mapped before and the processor never caches not-present entries.
    pub fn ignore(self) {}
}

/// Why a page-table operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageTableError {
    /// The virtual or physical address is not aligned to the page size.
    Misaligned,
    /// The virtual address (or range) is not canonical: bits 63..=47 differ, or the range
    /// crosses the non-canonical hole.
    NonCanonical,
    /// The physical address does not fit in the 52 address bits of a paging entry.
    PhysicalOutOfRange,
    /// A leaf already maps the address.
    AlreadyMapped,
    /// A larger leaf maps the region where a smaller page or a table is needed.
    LargePageInTheWay,
    /// A lower-level table occupies the entry where a large leaf should go.
    TableInTheWay,
    /// No leaf maps the address.
    NotMapped,
    /// A page table needed by a non-allocating map is missing.
    NotPopulated,
    /// The frame allocator has no frame for a new table.
    OutOfFrames,
    /// A table frame (in the tree or from the allocator) that physical memory cannot reach.
    BadTableFrame(Pfn),
    /// A run of leaves said to be in one table runs past the table's last entry.
    RunLeavesTable,
}

impl fmt::Display for PageTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Misaligned => f.write_str("address is not aligned to the page size"),
            Self::NonCanonical => f.write_str("virtual address is not canonical"),
            Self::PhysicalOutOfRange => {
                f.write_str("physical address does not fit in a paging entry (52 bits)")
            }
            Self::AlreadyMapped => f.write_str("virtual address is already mapped"),
            Self::LargePageInTheWay => f.write_str("a larger page already maps this region"),
            Self::TableInTheWay => {
                f.write_str("smaller pages are mapped below where the large page should go")
            }
            Self::NotMapped => f.write_str("virtual address is not mapped"),
            Self::NotPopulated => f.write_str("the page table for this address was not populated"),
            Self::OutOfFrames => f.write_str("no free frame for a new page table"),
            Self::BadTableFrame(pfn) => write!(f, "page table frame {pfn} is not reachable RAM"),
            Self::RunLeavesTable => f.write_str("the run of leaves does not fit in one table"),
        }
    }
}

/// Whether bits 63..=47 of `va` are all equal.
const fn is_canonical(va: u64) -> bool {
    (((va << 16) as i64) >> 16) as u64 == va
}

/// The index of `va`'s entry in its table at `level` (1..=4).
const fn index(va: u64, level: u32) -> usize {
    ((va >> (PAGE_SHIFT + 9 * (level - 1))) as usize) % ENTRIES
}

/// The frame a table-pointer entry points at.
const fn entry_pfn(entry: u64) -> Pfn {
    Pfn((entry & PTE_ADDRESS_MASK) >> PAGE_SHIFT)
}

/// Whether `entry`, read at `level`, is a leaf (rather than a table pointer).
const fn is_leaf(entry: u64, level: u32) -> bool {
    match level {
        1 => true,
        // PS selects a leaf in a PDPTE or PDE; it is reserved in a PML4E.
        2 | 3 => entry & PTE_LARGE != 0,
        _ => false,
    }
}

/// The physical start of the region a leaf of `size` maps (the PAT bit of a large leaf, bit
/// 12, lies below the size's alignment and is masked off with it).
const fn leaf_base(entry: u64, size: PageSize) -> PhysicalAddress {
    PhysicalAddress(entry & PTE_ADDRESS_MASK & !(size.bytes() - 1))
}

#[inline(always)]
fn table_at(memory: &dyn PhysicalMemory, pfn: Pfn) -> Result<&TableFrame, PageTableError> {
    memory.table(pfn).ok_or(PageTableError::BadTableFrame(pfn))
}

/// What a walk found at the level where it stopped.
struct Leaf<'m> {
    slot: &'m AtomicU64,
    entry: u64,
    size: PageSize,
}

/// Checks a map request and returns the leaf entry to write.
#[inline(always)]
fn leaf_for(
    va: VirtualAddress,
    pa: PhysicalAddress,
    size: PageSize,
    attributes: LeafAttributes,
) -> Result<u64, PageTableError> {
    if !is_canonical(va.0) {
        return Err(PageTableError::NonCanonical);
    }
    if !va.is_aligned(size.bytes()) || !pa.is_aligned(size.bytes()) {
        return Err(PageTableError::Misaligned);
    }
    if pa.0 & !PTE_ADDRESS_MASK != 0 {
        return Err(PageTableError::PhysicalOutOfRange);
    }
    let large = if size.level() > 1 { PTE_LARGE } else { 0 };
    Ok(pa.0 | attributes.entry_bits() | large)
}

/// Checks that `count` leaves of `size` from `va` stay in one canonical half of the address
/// space, and returns the bytes they cover.
#[inline(always)]
fn check_run(va: VirtualAddress, size: PageSize, count: u64) -> Result<u64, PageTableError> {
    if !is_canonical(va.0) {
        return Err(PageTableError::NonCanonical);
    }
    let run_bytes = count.checked_mul(size.bytes()).ok_or(PageTableError::NonCanonical)?;
    match va.0.checked_add(run_bytes.saturating_sub(1)) {
        Some(last) if is_canonical(last) && last >> 47 == va.0 >> 47 => Ok(run_bytes),
        _ => Err(PageTableError::NonCanonical),
    }
}

/// Checks a request to map `count` leaves of `size` from `va` to `pa`, and returns the first
/// leaf entry and the bytes the run covers.
#[inline(always)]
fn run_for(
    va: VirtualAddress,
    pa: PhysicalAddress,
    size: PageSize,
    count: u64,
    attributes: LeafAttributes,
) -> Result<(u64, u64), PageTableError> {
    let first_leaf = leaf_for(va, pa, size, attributes)?;
    let run_bytes = check_run(va, size, count)?;
    // The last leaf's frame must fit in the 52 address bits, as the first one's does.
    if pa.0.checked_add(run_bytes).is_none_or(|end| end > PTE_ADDRESS_MASK + PAGE_SIZE) {
        return Err(PageTableError::PhysicalOutOfRange);
    }
    Ok((first_leaf, run_bytes))
}

/// The entries of the run of `count` leaves of `size` from `va` in its table, or
/// [`RunLeavesTable`](PageTableError::RunLeavesTable) if the run goes past the table's end.
fn run_in_one_table(
    va: VirtualAddress,
    size: PageSize,
    count: u64,
) -> Result<core::ops::Range<usize>, PageTableError> {
    let first = index(va.0, size.level());
    match usize::try_from(count) {
        Ok(count) if count <= ENTRIES - first => Ok(first..first + count),
        _ => Err(PageTableError::RunLeavesTable),
    }
}

/// Why [`PageTables::map_run`] stopped, and how far it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunError {
    /// What went wrong.
    pub error: PageTableError,
    /// Leaves written before it: they are still mapped.
    pub written: u64,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (after {} leaves)", self.error, self.written)
    }
}

impl core::error::Error for RunError {}

/// A four-level page-table tree, identified by its PML4 frame.
///
/// It holds no memory of its own: tables are in frames reached through the [`PhysicalMemory`]
/// passed to each call, which must be the one the tree was built in.
#[derive(Debug)]
pub struct PageTables {
    root: Pfn,
}

impl PageTables {
    /// A new, empty tree: one zeroed PML4 from `frames`.
    pub fn new(memory: &dyn PhysicalMemory, frames: &dyn FrameAllocator) -> Result<Self, PageTableError> {
        let root = frames.allocate_frame().ok_or(PageTableError::OutOfFrames)?;
        // CR3 holds the same 52-bit address a paging entry does.
        if root.address().0 & !PTE_ADDRESS_MASK != 0 || !memory.zero(root) {
            frames.free_frame(root);
            return Err(PageTableError::BadTableFrame(root));
        }
        Ok(Self { root })
    }

    /// Adopts the tree whose PML4 is `root` (e.g. the one CR3 points at on metal).
    pub const fn from_root(root: Pfn) -> Self {
        Self { root }
    }

    /// The PML4 frame (what CR3 would hold).
    pub const fn root(&self) -> Pfn {
        self.root
    }

    /// Maps `size` bytes at `va` to `pa` with one leaf, creating missing intermediate tables
    /// with frames from `frames`.
    ///
    /// The returned flush covers the new leaf. A processor never caches a not-present entry,
    /// so a caller that knows the range was unmapped may [`ignore`](TlbFlush::ignore) it.
    ///
    /// On error no leaf has been written; intermediate tables created on the way stay (empty)
    /// and a later map reuses them.
    pub fn map(
        &self,
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        va: VirtualAddress,
        pa: PhysicalAddress,
        size: PageSize,
        attributes: LeafAttributes,
    ) -> Result<TlbFlush, PageTableError> {
        self.map_run(memory, frames, va, pa, size, 1, attributes).map_err(|failure| failure.error)
    }

    /// Maps `count` leaves of `size` from `va` to the physical run from `pa`, walking from the
    /// root once per table rather than once per leaf, and creating missing intermediate tables
    /// with frames from `frames`. The returned flush covers the run.
    ///
    /// On error, the leaves written before the failing one stay, and
    /// [`RunError::written`] says how many: the caller clears them with
    /// [`unmap_run`](Self::unmap_run). Intermediate tables created on the way stay.
    #[allow(clippy::too_many_arguments)]
    pub fn map_run(
        &self,
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        va: VirtualAddress,
        pa: PhysicalAddress,
        size: PageSize,
        count: u64,
        attributes: LeafAttributes,
    ) -> Result<TlbFlush, RunError> {
        let (first_leaf, run_bytes) =
            run_for(va, pa, size, count, attributes).map_err(|error| RunError { error, written: 0 })?;
        let level = size.level();
        let mut written = 0;
        while written < count {
            let at = va.0 + written * size.bytes();
            let (table, _) = self
                .descend(memory, Some(frames), at, level, &mut 0)
                .map_err(|error| RunError { error, written })?;
            let first = index(at, level);
            let here = ((ENTRIES - first) as u64).min(count - written);
            let leaf = first_leaf + written * size.bytes();
            Self::fill(memory, frames, &table[first..first + here as usize], leaf, size)
                .map_err(|failure| RunError { written: written + failure.written, ..failure })?;
            written += here;
        }
        Ok(TlbFlush::new(va, run_bytes))
    }

    /// The frame of the table that holds the run of `count` leaves of `size` from `va` (a page
    /// table for 4 KiB leaves, a page directory for 2 MiB, a PDPT for 1 GiB), created with its
    /// missing parents; [`RunLeavesTable`](PageTableError::RunLeavesTable) if no one table
    /// holds the whole run. Tables stay while they map anything, so the frame stays right for
    /// as long as a leaf written there is mapped.
    pub fn table_for_run(
        &self,
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        va: VirtualAddress,
        size: PageSize,
        count: u64,
    ) -> Result<Pfn, PageTableError> {
        check_run(va, size, count)?;
        run_in_one_table(va, size, count)?;
        Ok(self.descend(memory, Some(frames), va.0, size.level(), &mut 0)?.1)
    }

    /// As [`map_run`](Self::map_run) for a run that one table holds, given that table (from
    /// [`table_for_run`](Self::table_for_run)): no walk from the root.
    #[allow(clippy::too_many_arguments)]
    pub fn map_run_in(
        &self,
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        table: Pfn,
        va: VirtualAddress,
        pa: PhysicalAddress,
        size: PageSize,
        count: u64,
        attributes: LeafAttributes,
    ) -> Result<TlbFlush, RunError> {
        let before_any = |error| RunError { error, written: 0 };
        let (first_leaf, run_bytes) = run_for(va, pa, size, count, attributes).map_err(before_any)?;
        let entries = run_in_one_table(va, size, count).map_err(before_any)?;
        let table = table_at(memory, table).map_err(before_any)?;
        Self::fill(memory, frames, &table[entries], first_leaf, size)?;
        Ok(TlbFlush::new(va, run_bytes))
    }

    /// Writes consecutive leaves of `size` into `slots`, the first being `first_leaf`.
    #[inline(always)]
    fn fill(
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        slots: &[AtomicU64],
        first_leaf: u64,
        size: PageSize,
    ) -> Result<(), RunError> {
        for (written, slot) in (0..).zip(slots) {
            // The address bits of consecutive leaves step by the leaf size; the run was
            // checked to end at or below 2^52, so they never reach the attribute bits.
            let leaf = first_leaf + written * size.bytes();
            Self::install_leaf(memory, frames, slot, leaf, size.level())
                .map_err(|error| RunError { error, written })?;
        }
        Ok(())
    }

    /// Clears the `count` leaves of `size` from `va` (a run [`map_run`](Self::map_run) wrote),
    /// walking from the root once per table, and returns the flush covering the run. An entry
    /// that holds no leaf of that size is left as it is.
    pub fn unmap_run(
        &self,
        memory: &dyn PhysicalMemory,
        va: VirtualAddress,
        size: PageSize,
        count: u64,
    ) -> Result<TlbFlush, PageTableError> {
        if !va.is_aligned(size.bytes()) {
            return Err(PageTableError::Misaligned);
        }
        let run_bytes = check_run(va, size, count)?;
        let (level, bytes) = (size.level(), size.bytes());
        let mut done = 0;
        while done < count {
            let at = va.0 + done * bytes;
            let first = index(at, level);
            let here = ((ENTRIES - first) as u64).min(count - done);
            // A missing table, or a larger leaf, holds no leaf of this size.
            if let Ok((table, _)) = self.descend(memory, None, at, level, &mut 0) {
                for slot in &table[first..first + here as usize] {
                    Self::clear_leaf(slot, level);
                }
            }
            done += here;
        }
        Ok(TlbFlush::new(va, run_bytes))
    }

    /// As [`unmap_run`](Self::unmap_run) for a run that one table holds, given that table (from
    /// [`table_for_run`](Self::table_for_run)): no walk from the root.
    pub fn unmap_run_in(
        &self,
        memory: &dyn PhysicalMemory,
        table: Pfn,
        va: VirtualAddress,
        size: PageSize,
        count: u64,
    ) -> Result<TlbFlush, PageTableError> {
        if !va.is_aligned(size.bytes()) {
            return Err(PageTableError::Misaligned);
        }
        let run_bytes = check_run(va, size, count)?;
        let entries = run_in_one_table(va, size, count)?;
        for slot in &table_at(memory, table)?[entries] {
            Self::clear_leaf(slot, size.level());
        }
        Ok(TlbFlush::new(va, run_bytes))
    }

    /// Writes `leaf` into the empty `slot` at `level`; a large leaf that finds a table there
    /// which maps nothing (tables stay after unmap) gives the table back and takes its place.
    #[inline(always)]
    fn install_leaf(
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        slot: &AtomicU64,
        leaf: u64,
        level: u32,
    ) -> Result<(), PageTableError> {
        match Self::install(slot, leaf, level) {
            Err(PageTableError::TableInTheWay) if Self::reclaim_empty_table(memory, frames, slot, level)? => {
                Self::install(slot, leaf, level)
            }
            result => result,
        }
    }

    /// Clears `slot` if it holds a leaf at `level`, and returns the entry it held.
    #[inline(always)]
    fn clear_leaf(slot: &AtomicU64, level: u32) -> Option<u64> {
        // The caller owns the range, so only the processor (setting A or D) can change the
        // entry meanwhile; the loop keeps those updates from being lost in the returned value.
        let mut entry = slot.load(Ordering::Acquire);
        while entry & PTE_PRESENT != 0 && is_leaf(entry, level) {
            match slot.compare_exchange_weak(entry, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(entry),
                Err(actual) => entry = actual,
            }
        }
        None
    }

    /// If `slot` (an entry at `level`) points to a table that maps nothing — every entry not
    /// present, or itself an empty table — clears the slot and frees the tables. Returns
    /// whether it did.
    ///
    /// The caller owns the virtual range the slot covers (it is about to map all of it with
    /// one leaf), so no other mapping can appear in the table meanwhile; the flush of the new
    /// leaf invalidates any paging-structure cache entry for the old table.
    fn reclaim_empty_table(
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        slot: &AtomicU64,
        level: u32,
    ) -> Result<bool, PageTableError> {
        let entry = slot.load(Ordering::Acquire);
        if entry & PTE_PRESENT == 0 || is_leaf(entry, level) || !Self::maps_nothing(memory, entry, level)? {
            return Ok(false);
        }
        if slot.compare_exchange(entry, 0, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Ok(false);
        }
        Self::free_tables(memory, frames, entry, level);
        Ok(true)
    }

    /// Whether the table `entry` (at `level`) points to maps nothing.
    fn maps_nothing(memory: &dyn PhysicalMemory, entry: u64, level: u32) -> Result<bool, PageTableError> {
        let table = table_at(memory, entry_pfn(entry))?;
        for child in table.iter().map(|slot| slot.load(Ordering::Acquire)) {
            if child & PTE_PRESENT != 0
                && (is_leaf(child, level - 1) || !Self::maps_nothing(memory, child, level - 1)?)
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Frees the table `entry` (at `level`) points to and every table below it.
    fn free_tables(memory: &dyn PhysicalMemory, frames: &dyn FrameAllocator, entry: u64, level: u32) {
        if level > 2 {
            if let Some(table) = memory.table(entry_pfn(entry)) {
                for child in table.iter().map(|slot| slot.load(Ordering::Acquire)) {
                    if child & PTE_PRESENT != 0 {
                        Self::free_tables(memory, frames, child, level - 1);
                    }
                }
            }
        }
        frames.free_frame(entry_pfn(entry));
    }

    /// Maps the 4 KiB page at `va` to `pa` without allocating: the page table must exist
    /// already (see [`populate`](Self::populate)), or the result is
    /// [`NotPopulated`](PageTableError::NotPopulated).
    pub fn map_preallocated(
        &self,
        memory: &dyn PhysicalMemory,
        va: VirtualAddress,
        pa: PhysicalAddress,
        attributes: LeafAttributes,
    ) -> Result<TlbFlush, PageTableError> {
        let leaf = leaf_for(va, pa, PageSize::Size4KiB, attributes)?;
        let mut created = 0;
        let (table, _) = self.descend(memory, None, va.0, 1, &mut created)?;
        Self::install(&table[index(va.0, 1)], leaf, 1)?;
        Ok(TlbFlush::new(va, PAGE_SIZE))
    }

    /// Removes the leaf whose first byte is at `va` and returns what it mapped.
    ///
    /// Intermediate tables stay, so that mapping the range again allocates nothing.
    pub fn unmap(
        &self,
        memory: &dyn PhysicalMemory,
        va: VirtualAddress,
    ) -> Result<(Translation, TlbFlush), PageTableError> {
        let Leaf { slot, size, .. } = self.find_leaf(memory, va)?;
        if !va.is_aligned(size.bytes()) {
            return Err(PageTableError::Misaligned);
        }
        let entry = Self::clear_leaf(slot, size.level()).ok_or(PageTableError::NotMapped)?;
        let translation = Translation {
            frame_base: leaf_base(entry, size),
            physical: leaf_base(entry, size),
            size,
            attributes: LeafAttributes::from_entry(entry),
        };
        Ok((translation, TlbFlush::new(va, size.bytes())))
    }

    /// Walks the tree for `va`: the leaf that maps it and the physical address of that byte.
    pub fn translate(&self, memory: &dyn PhysicalMemory, va: VirtualAddress) -> Option<Translation> {
        let Leaf { entry, size, .. } = self.find_leaf(memory, va).ok()?;
        let frame_base = leaf_base(entry, size);
        Some(Translation {
            frame_base,
            physical: PhysicalAddress(frame_base.0 | (va.0 & (size.bytes() - 1))),
            size,
            attributes: LeafAttributes::from_entry(entry),
        })
    }

    /// The first present leaf that maps any address of `[from, end)`: the address where its
    /// page starts and its translation there. Absent subtrees are skipped whole, so a scan of a
    /// mostly empty 64 GiB range costs a few walks, not one per 4 KiB page.
    pub fn next_leaf(
        &self,
        memory: &dyn PhysicalMemory,
        from: VirtualAddress,
        end: VirtualAddress,
    ) -> Option<(VirtualAddress, Translation)> {
        let mut va = from.0;
        'scan: while va < end.0 && is_canonical(va) {
            let mut table = table_at(memory, self.root).ok()?;
            let mut level = ROOT_LEVEL;
            loop {
                let entry = table[index(va, level)].load(Ordering::Acquire);
                let coverage = PAGE_SIZE << (9 * (level - 1));
                if entry & PTE_PRESENT == 0 {
                    va = (va | (coverage - 1)).checked_add(1)?;
                    continue 'scan;
                }
                if is_leaf(entry, level) {
                    let base = VirtualAddress(va & !(coverage - 1));
                    return self.translate(memory, base).map(|translation| (base, translation));
                }
                table = table_at(memory, entry_pfn(entry)).ok()?;
                level -= 1;
            }
        }
        None
    }

    /// The raw leaf entry that maps `va`, and its size.
    pub fn leaf_entry(&self, memory: &dyn PhysicalMemory, va: VirtualAddress) -> Option<(u64, PageSize)> {
        let Leaf { entry, size, .. } = self.find_leaf(memory, va).ok()?;
        Some((entry, size))
    }

    /// Creates every intermediate table down to the page tables for the `pages` 4 KiB pages
    /// from `va`, so that 4 KiB maps in that range allocate nothing (and so cannot fail for
    /// want of memory). Returns how many tables it created; calling it again returns 0.
    ///
    /// On error, tables created before it stay.
    pub fn populate(
        &self,
        memory: &dyn PhysicalMemory,
        frames: &dyn FrameAllocator,
        va: VirtualAddress,
        pages: u64,
    ) -> Result<u64, PageTableError> {
        if !is_canonical(va.0) {
            return Err(PageTableError::NonCanonical);
        }
        if !va.is_aligned(PAGE_SIZE) {
            return Err(PageTableError::Misaligned);
        }
        if pages == 0 {
            return Ok(0);
        }
        // The last page must exist and lie in the same canonical half as the first.
        let last = (pages - 1)
            .checked_mul(PAGE_SIZE)
            .and_then(|offset| va.0.checked_add(offset))
            .filter(|&last| is_canonical(last) && last >> 47 == va.0 >> 47)
            .ok_or(PageTableError::NonCanonical)?;
        let mut created = 0;
        // One page table covers a 2 MiB-aligned region; make sure each one touched exists.
        let mut region = va.0 & !(LARGE_PAGE_SIZE - 1);
        loop {
            self.descend(memory, Some(frames), region, 1, &mut created)?;
            match region.checked_add(LARGE_PAGE_SIZE) {
                Some(next) if next <= last => region = next,
                _ => return Ok(created),
            }
        }
    }

    /// Counts the paging structures of the whole tree (both halves of the address space).
    ///
    /// Tables that physical memory cannot reach are counted but not descended into.
    pub fn count_tables(&self, memory: &dyn PhysicalMemory) -> TableCounts {
        let mut counts = TableCounts::default();
        Self::count(memory, self.root, ROOT_LEVEL, &mut counts);
        counts
    }

    /// Frames the tree occupies: [`count_tables`](Self::count_tables) summed.
    pub fn table_frames(&self, memory: &dyn PhysicalMemory) -> u64 {
        self.count_tables(memory).total()
    }

    fn count(memory: &dyn PhysicalMemory, table: Pfn, level: u32, counts: &mut TableCounts) {
        match level {
            4 => counts.pml4 += 1,
            3 => counts.pdpt += 1,
            2 => counts.pd += 1,
            _ => counts.pt += 1,
        }
        if level == 1 {
            return;
        }
        let Some(entries) = memory.table(table) else { return };
        for entry in entries {
            let entry = entry.load(Ordering::Acquire);
            if entry & PTE_PRESENT != 0 && !is_leaf(entry, level) {
                Self::count(memory, entry_pfn(entry), level - 1, counts);
            }
        }
    }

    /// Walks from the root to the table at `level` on the path of `va` and returns it, with
    /// its frame.
    ///
    /// A missing table is created with `frames` (counted in `created`), or is
    /// [`NotPopulated`](PageTableError::NotPopulated) when `frames` is `None`.
    #[inline(always)]
    fn descend<'m>(
        &self,
        memory: &'m dyn PhysicalMemory,
        frames: Option<&dyn FrameAllocator>,
        va: u64,
        level: u32,
        created: &mut u64,
    ) -> Result<(&'m TableFrame, Pfn), PageTableError> {
        let mut table = (table_at(memory, self.root)?, self.root);
        let mut current = ROOT_LEVEL;
        while current > level {
            table = Self::next_table(memory, frames, &table.0[index(va, current)], current, created)?;
            current -= 1;
        }
        Ok(table)
    }

    /// The table that `slot` (an entry at `level`) points to, created if it is missing, with
    /// its frame.
    #[inline(always)]
    fn next_table<'m>(
        memory: &'m dyn PhysicalMemory,
        frames: Option<&dyn FrameAllocator>,
        slot: &AtomicU64,
        level: u32,
        created: &mut u64,
    ) -> Result<(&'m TableFrame, Pfn), PageTableError> {
        // Acquire pairs with the release of the CPU that installed the table, so its zeroing
        // is visible before we read the entries.
        let entry = slot.load(Ordering::Acquire);
        if entry & PTE_PRESENT == 0 {
            return Self::new_table(memory, frames, slot, entry, level, created);
        }
        if is_leaf(entry, level) {
            return Err(PageTableError::LargePageInTheWay);
        }
        Ok((table_at(memory, entry_pfn(entry))?, entry_pfn(entry)))
    }

    /// [`next_table`](Self::next_table) for a `slot` found not present (holding `entry`): a
    /// zeroed frame from `frames` goes in, unless another CPU installs a table first.
    #[cold]
    fn new_table<'m>(
        memory: &'m dyn PhysicalMemory,
        frames: Option<&dyn FrameAllocator>,
        slot: &AtomicU64,
        mut entry: u64,
        level: u32,
        created: &mut u64,
    ) -> Result<(&'m TableFrame, Pfn), PageTableError> {
        loop {
            if entry & PTE_PRESENT != 0 {
                if is_leaf(entry, level) {
                    return Err(PageTableError::LargePageInTheWay);
                }
                return Ok((table_at(memory, entry_pfn(entry))?, entry_pfn(entry)));
            }
            let frames = frames.ok_or(PageTableError::NotPopulated)?;
            let pfn = frames.allocate_frame().ok_or(PageTableError::OutOfFrames)?;
            let reachable = pfn.address().0 & !PTE_ADDRESS_MASK == 0 && memory.zero(pfn);
            let Some(new_table) = memory.table(pfn).filter(|_| reachable) else {
                frames.free_frame(pfn);
                return Err(PageTableError::BadTableFrame(pfn));
            };
            let new_entry = pfn.address().0 | TABLE_ENTRY_BITS;
            match slot.compare_exchange(entry, new_entry, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    *created += 1;
                    return Ok((new_table, pfn));
                }
                Err(actual) => {
                    // Another CPU installed a table (or a leaf) first: use what it put there.
                    frames.free_frame(pfn);
                    entry = actual;
                }
            }
        }
    }

    /// Writes `leaf` into the empty `slot` at `level`.
    #[inline(always)]
    fn install(slot: &AtomicU64, leaf: u64, level: u32) -> Result<(), PageTableError> {
        let mut entry = slot.load(Ordering::Acquire);
        loop {
            if entry & PTE_PRESENT != 0 {
                return Err(if is_leaf(entry, level) {
                    PageTableError::AlreadyMapped
                } else {
                    PageTableError::TableInTheWay
                });
            }
            // A compare-exchange rather than a store: a neighbour populating the tables could
            // be installing a table in this very entry when it is a PDE or PDPTE.
            match slot.compare_exchange(entry, leaf, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => entry = actual,
            }
        }
    }

    /// Walks the tree for `va` down to the leaf that maps it.
    fn find_leaf<'m>(
        &self,
        memory: &'m dyn PhysicalMemory,
        va: VirtualAddress,
    ) -> Result<Leaf<'m>, PageTableError> {
        if !is_canonical(va.0) {
            return Err(PageTableError::NonCanonical);
        }
        let mut table = table_at(memory, self.root)?;
        let mut level = ROOT_LEVEL;
        loop {
            let slot = &table[index(va.0, level)];
            let entry = slot.load(Ordering::Acquire);
            if entry & PTE_PRESENT == 0 {
                return Err(PageTableError::NotMapped);
            }
            if is_leaf(entry, level) {
                return Ok(Leaf { slot, entry, size: PageSize::of_level(level) });
            }
            table = table_at(memory, entry_pfn(entry))?;
            level -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::sync::{Arc, Barrier};
    use std::vec::Vec;

    use super::*;
    use crate::emulated::{EmulatedFrameAllocator, EmulatedMemory};

    /// RAM frames in the emulated machine: enough for a few hundred tables.
    const RAM_FRAMES: u64 = 1024;
    /// First emulated frame; not zero, so a stray zero entry can never look like a table.
    const RAM_BASE: Pfn = Pfn(0x100);

    const LOWER: VirtualAddress = VirtualAddress(0x7f00_0000_0000);
    const UPPER: VirtualAddress = VirtualAddress(0xFFFF_8000_0000_0000);
    const DEVICE: PhysicalAddress = PhysicalAddress(0xC000_0000);

    const RW_UC: LeafAttributes =
        LeafAttributes { writable: true, executable: false, cache: CachePolicy::Uncached, global: true };

    const SIZES: [PageSize; 3] = [PageSize::Size4KiB, PageSize::Size2MiB, PageSize::Size1GiB];
    const POLICIES: [CachePolicy; 4] = [
        CachePolicy::WriteBack,
        CachePolicy::WriteThrough,
        CachePolicy::WriteCombining,
        CachePolicy::Uncached,
    ];

    fn machine() -> (EmulatedMemory, EmulatedFrameAllocator) {
        (EmulatedMemory::new(RAM_BASE, RAM_FRAMES), EmulatedFrameAllocator::new(RAM_BASE, RAM_FRAMES))
    }

    fn map(
        tables: &PageTables,
        memory: &EmulatedMemory,
        frames: &EmulatedFrameAllocator,
        va: VirtualAddress,
        pa: PhysicalAddress,
        size: PageSize,
    ) -> Result<(), PageTableError> {
        tables.map(memory, frames, va, pa, size, RW_UC).map(TlbFlush::ignore)
    }

    #[test]
    fn a_run_across_page_tables_maps_every_leaf_and_clears_back() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        // 8 pages before a 2 MiB boundary and 8 after: two page tables.
        let va = VirtualAddress(0x40_0020_0000 - 8 * PAGE_SIZE);
        let pa = PhysicalAddress(0xFEA0_0000);
        let flush = tables.map_run(&memory, &frames, va, pa, PageSize::Size4KiB, 16, RW_UC).unwrap();
        assert_eq!(flush.range(), (va, 16 * PAGE_SIZE));
        for page in 0..16 {
            let translation = tables.translate(&memory, va.add(page * PAGE_SIZE)).unwrap();
            assert_eq!(translation.physical, PhysicalAddress(pa.0 + page * PAGE_SIZE));
        }
        assert!(tables.translate(&memory, va.add(16 * PAGE_SIZE)).is_none());
        let cleared = tables.unmap_run(&memory, va, PageSize::Size4KiB, 16).unwrap();
        assert_eq!(cleared.range(), (va, 16 * PAGE_SIZE));
        assert!(tables.next_leaf(&memory, va, va.add(16 * PAGE_SIZE)).is_none());
    }

    #[test]
    fn a_run_in_one_table_is_written_and_cleared_there_without_a_walk() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let va = VirtualAddress(0x40_0000_0000 + 3 * LARGE_PAGE_SIZE);
        let pa = PhysicalAddress(0xC000_0000);
        let size = PageSize::Size2MiB;
        let table = tables.table_for_run(&memory, &frames, va, size, 4).unwrap();
        tables.map_run_in(&memory, &frames, table, va, pa, size, 4, RW_UC).unwrap().ignore();
        assert_eq!(
            tables.translate(&memory, va.add(3 * LARGE_PAGE_SIZE + 5)).unwrap().physical.0,
            pa.0 + 3 * LARGE_PAGE_SIZE + 5
        );
        // The table is the page directory the walk reaches.
        let (_, directory) = tables.descend(&memory, None, va.0, 2, &mut 0).unwrap();
        assert_eq!(table, directory);
        tables.unmap_run_in(&memory, table, va, size, 4).unwrap().ignore();
        assert!(tables.next_leaf(&memory, va, va.add(4 * LARGE_PAGE_SIZE)).is_none());
        // A run that leaves its table is refused, and nothing is written.
        let last = VirtualAddress(0x40_0000_0000 + 511 * PAGE_SIZE);
        assert_eq!(
            tables.table_for_run(&memory, &frames, last, PageSize::Size4KiB, 2),
            Err(PageTableError::RunLeavesTable)
        );
        let page_table = tables.table_for_run(&memory, &frames, last, PageSize::Size4KiB, 1).unwrap();
        let refused = tables.map_run_in(&memory, &frames, page_table, last, pa, PageSize::Size4KiB, 2, RW_UC);
        assert_eq!(refused.unwrap_err(), RunError { error: PageTableError::RunLeavesTable, written: 0 });
        assert!(tables.translate(&memory, last).is_none());
    }

    #[test]
    fn a_failed_run_says_how_many_leaves_it_wrote() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let va = VirtualAddress(0x40_0000_0000);
        map(&tables, &memory, &frames, va.add(5 * PAGE_SIZE), PhysicalAddress(0x1000), PageSize::Size4KiB)
            .unwrap();
        let failure =
            tables.map_run(&memory, &frames, va, PhysicalAddress(0xFEA0_0000), PageSize::Size4KiB, 8, RW_UC);
        assert_eq!(failure.unwrap_err(), RunError { error: PageTableError::AlreadyMapped, written: 5 });
        assert_eq!(tables.translate(&memory, va.add(4 * PAGE_SIZE)).unwrap().physical.0, 0xFEA0_4000);
        // A run whose last frame passes 2^52 is refused before anything is written.
        let top = PhysicalAddress((1 << 52) - PAGE_SIZE);
        let beyond =
            tables.map_run(&memory, &frames, va.add(64 * PAGE_SIZE), top, PageSize::Size4KiB, 2, RW_UC);
        assert_eq!(beyond.unwrap_err(), RunError { error: PageTableError::PhysicalOutOfRange, written: 0 });
        tables
            .map_run(&memory, &frames, va.add(64 * PAGE_SIZE), top, PageSize::Size4KiB, 1, RW_UC)
            .unwrap()
            .ignore();
    }

    #[test]
    fn next_leaf_skips_absent_subtrees_and_finds_every_size() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let base = VirtualAddress(0x40_0000_0000);
        let attributes =
            LeafAttributes { writable: true, executable: false, cache: CachePolicy::Uncached, global: true };
        let huge = base.add(5 << 30);
        let small = huge.add((1 << 30) + (3 << 21) + 0x7000);
        tables
            .map(&memory, &frames, huge, PhysicalAddress(1 << 30), PageSize::Size1GiB, attributes)
            .unwrap()
            .ignore();
        tables
            .map(&memory, &frames, small, PhysicalAddress(0x5000), PageSize::Size4KiB, attributes)
            .unwrap()
            .ignore();
        let end = base.add(64 << 30);
        let (at, first) = tables.next_leaf(&memory, base, end).unwrap();
        assert_eq!((at, first.size), (huge, PageSize::Size1GiB));
        let (at, second) = tables.next_leaf(&memory, huge.add(1 << 30), end).unwrap();
        assert_eq!((at, second.physical), (small, PhysicalAddress(0x5000)));
        assert!(tables.next_leaf(&memory, small.add(PAGE_SIZE), end).is_none());
        assert_eq!(
            tables.next_leaf(&memory, huge.add(0x1234), end).unwrap().0,
            huge,
            "a leaf that starts earlier"
        );
    }

    #[test]
    fn map_translate_unmap_round_trips_for_every_size() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        for (i, size) in SIZES.into_iter().enumerate() {
            for base in [LOWER, UPPER] {
                let va = base.add(i as u64 * 4 * HUGE_PAGE_SIZE);
                let pa = PhysicalAddress(DEVICE.0 + i as u64 * HUGE_PAGE_SIZE);
                let flush = tables.map(&memory, &frames, va, pa, size, RW_UC).unwrap();
                assert_eq!(flush.range(), (va, size.bytes()));
                flush.ignore();

                let expected = Translation { frame_base: pa, physical: pa, size, attributes: RW_UC };
                assert_eq!(tables.translate(&memory, va), Some(expected));
                let (translation, flush) = tables.unmap(&memory, va).unwrap();
                assert_eq!(translation, expected);
                assert_eq!(flush.range(), (va, size.bytes()));
                flush.ignore();
                assert_eq!(tables.translate(&memory, va), None);
                assert_eq!(tables.unmap(&memory, va).unwrap_err(), PageTableError::NotMapped);

                // The intermediate tables stayed: mapping again allocates nothing.
                let before = frames.allocated_count();
                map(&tables, &memory, &frames, va, pa, size).unwrap();
                assert_eq!(frames.allocated_count(), before);
                assert_eq!(tables.translate(&memory, va), Some(expected));
            }
        }
        assert_eq!(frames.invalid_frees(), 0);
    }

    #[test]
    fn leaf_bits_encode_the_attributes_and_never_the_pat_bit() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let mut va = LOWER;
        for size in SIZES {
            for cache in POLICIES {
                for writable in [false, true] {
                    for executable in [false, true] {
                        for global in [false, true] {
                            let attributes = LeafAttributes { writable, executable, cache, global };
                            tables.map(&memory, &frames, va, DEVICE, size, attributes).unwrap().ignore();
                            let (entry, leaf_size) = tables.leaf_entry(&memory, va).unwrap();
                            assert_eq!(leaf_size, size);
                            assert_ne!(entry & PTE_PRESENT, 0);
                            assert_eq!(entry & PTE_WRITABLE != 0, writable);
                            assert_eq!(entry & PTE_NO_EXECUTE != 0, !executable);
                            assert_eq!(entry & PTE_GLOBAL != 0, global);
                            assert_eq!(entry & PTE_USER, 0);
                            assert_eq!(entry & (PTE_WRITE_THROUGH | PTE_CACHE_DISABLE), pte_bits(cache));
                            assert_eq!(policy_from_pte(entry), cache);
                            if size == PageSize::Size4KiB {
                                assert_eq!(entry & PTE_PAT_4KIB, 0);
                            } else {
                                assert_ne!(entry & PTE_LARGE, 0);
                                assert_eq!(entry & PTE_PAT_LARGE, 0);
                            }
                            assert_eq!(entry & PTE_ADDRESS_MASK, DEVICE.0);
                            assert_eq!(LeafAttributes::from_entry(entry), attributes);
                            va = va.add(HUGE_PAGE_SIZE);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn specific_cache_policies_set_the_documented_pwt_pcd() {
        let expected = [
            (CachePolicy::WriteBack, 0),
            (CachePolicy::WriteThrough, PTE_WRITE_THROUGH),
            (CachePolicy::WriteCombining, PTE_CACHE_DISABLE),
            (CachePolicy::Uncached, PTE_WRITE_THROUGH | PTE_CACHE_DISABLE),
        ];
        for (cache, bits) in expected {
            let attributes = LeafAttributes { cache, ..RW_UC };
            assert_eq!(attributes.entry_bits() & (PTE_WRITE_THROUGH | PTE_CACHE_DISABLE), bits);
        }
    }

    #[test]
    fn intermediate_entries_are_present_writable_and_unrestricted() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let read_only = LeafAttributes { writable: false, ..RW_UC };
        tables.map(&memory, &frames, UPPER, DEVICE, PageSize::Size4KiB, read_only).unwrap().ignore();
        let mut table = memory.table(tables.root()).unwrap();
        for level in (2..=ROOT_LEVEL).rev() {
            let entry = table[index(UPPER.0, level)].load(Ordering::Relaxed);
            assert_eq!(entry & !PTE_ADDRESS_MASK, PTE_PRESENT | PTE_WRITABLE);
            table = memory.table(entry_pfn(entry)).unwrap();
        }
    }

    #[test]
    fn misaligned_addresses_are_refused() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        for size in SIZES {
            let half = size.bytes() / 2;
            let bad_va = map(&tables, &memory, &frames, LOWER.add(half), DEVICE, size);
            assert_eq!(bad_va, Err(PageTableError::Misaligned));
            let bad_pa = PhysicalAddress(DEVICE.0 + half);
            assert_eq!(map(&tables, &memory, &frames, LOWER, bad_pa, size), Err(PageTableError::Misaligned));
            assert_eq!(tables.translate(&memory, LOWER), None);
        }
        assert_eq!(
            tables.map_preallocated(&memory, LOWER.add(1), DEVICE, RW_UC).unwrap_err(),
            PageTableError::Misaligned
        );
        assert_eq!(tables.populate(&memory, &frames, LOWER.add(8), 1), Err(PageTableError::Misaligned));

        // Unmapping from inside a leaf is refused and leaves the leaf alone.
        map(&tables, &memory, &frames, LOWER, DEVICE, PageSize::Size2MiB).unwrap();
        assert_eq!(tables.unmap(&memory, LOWER.add(PAGE_SIZE)).unwrap_err(), PageTableError::Misaligned);
        assert_eq!(tables.unmap(&memory, LOWER.add(1)).unwrap_err(), PageTableError::Misaligned);
        assert!(tables.translate(&memory, LOWER).is_some());
    }

    #[test]
    fn non_canonical_addresses_are_refused_and_both_halves_work() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        for va in [0x0000_8000_0000_0000, 0xFFFF_7FFF_FFFF_F000, 0x0001_0000_0000_0000] {
            let va = VirtualAddress(va);
            let size = PageSize::Size4KiB;
            assert_eq!(map(&tables, &memory, &frames, va, DEVICE, size), Err(PageTableError::NonCanonical));
            assert_eq!(tables.unmap(&memory, va).unwrap_err(), PageTableError::NonCanonical);
            assert_eq!(tables.translate(&memory, va), None);
            assert_eq!(tables.populate(&memory, &frames, va, 1), Err(PageTableError::NonCanonical));
        }
        // A range may not run from the lower half into the hole, nor past the top.
        let last_lower_page = VirtualAddress(0x0000_7FFF_FFFF_F000);
        assert_eq!(tables.populate(&memory, &frames, last_lower_page, 2), Err(PageTableError::NonCanonical));
        let top_page = VirtualAddress(0xFFFF_FFFF_FFFF_F000);
        assert_eq!(tables.populate(&memory, &frames, top_page, 2), Err(PageTableError::NonCanonical));
        assert_eq!(tables.populate(&memory, &frames, top_page, u64::MAX), Err(PageTableError::NonCanonical));

        // The edges of both halves are mappable.
        for va in [last_lower_page, top_page, VirtualAddress(0), UPPER] {
            assert_eq!(tables.populate(&memory, &frames, va, 1).map(|n| n > 0), Ok(true));
            tables.map_preallocated(&memory, va, DEVICE, RW_UC).unwrap().ignore();
            assert_eq!(tables.translate(&memory, va).unwrap().physical, DEVICE);
        }
    }

    #[test]
    fn physical_addresses_beyond_52_bits_are_refused() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        for size in SIZES {
            let pa = PhysicalAddress(1 << 52);
            assert_eq!(
                map(&tables, &memory, &frames, LOWER, pa, size),
                Err(PageTableError::PhysicalOutOfRange)
            );
        }
        let highest = PhysicalAddress(PTE_ADDRESS_MASK);
        map(&tables, &memory, &frames, LOWER, highest, PageSize::Size4KiB).unwrap();
        assert_eq!(tables.translate(&memory, LOWER.add(0xFFF)).unwrap().physical.0, (1 << 52) - 1);
    }

    #[test]
    fn mapping_twice_is_already_mapped_and_keeps_the_first_leaf() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        for (i, size) in SIZES.into_iter().enumerate() {
            let va = LOWER.add(i as u64 * HUGE_PAGE_SIZE);
            map(&tables, &memory, &frames, va, DEVICE, size).unwrap();
            let other = PhysicalAddress(DEVICE.0 + HUGE_PAGE_SIZE);
            assert_eq!(map(&tables, &memory, &frames, va, other, size), Err(PageTableError::AlreadyMapped));
            assert_eq!(tables.translate(&memory, va).unwrap().frame_base, DEVICE);
        }
        tables.populate(&memory, &frames, UPPER, 1).unwrap();
        tables.map_preallocated(&memory, UPPER, DEVICE, RW_UC).unwrap().ignore();
        assert_eq!(
            tables.map_preallocated(&memory, UPPER, DEVICE, RW_UC).unwrap_err(),
            PageTableError::AlreadyMapped
        );
    }

    #[test]
    fn a_larger_leaf_in_the_way_is_refused() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let big = LOWER;
        map(&tables, &memory, &frames, big, DEVICE, PageSize::Size1GiB).unwrap();
        let inside = big.add(LARGE_PAGE_SIZE * 3);
        for size in [PageSize::Size4KiB, PageSize::Size2MiB] {
            assert_eq!(
                map(&tables, &memory, &frames, inside, DEVICE, size),
                Err(PageTableError::LargePageInTheWay)
            );
        }
        let large = LOWER.add(HUGE_PAGE_SIZE);
        map(&tables, &memory, &frames, large, DEVICE, PageSize::Size2MiB).unwrap();
        let page = large.add(PAGE_SIZE * 5);
        assert_eq!(
            map(&tables, &memory, &frames, page, DEVICE, PageSize::Size4KiB),
            Err(PageTableError::LargePageInTheWay)
        );
        assert_eq!(tables.populate(&memory, &frames, page, 1), Err(PageTableError::LargePageInTheWay));
        assert_eq!(tables.populate(&memory, &frames, inside, 1), Err(PageTableError::LargePageInTheWay));
        assert_eq!(
            tables.map_preallocated(&memory, page, DEVICE, RW_UC).unwrap_err(),
            PageTableError::LargePageInTheWay
        );
        // The large leaves are intact.
        assert_eq!(tables.leaf_entry(&memory, inside).unwrap().1, PageSize::Size1GiB);
        assert_eq!(tables.leaf_entry(&memory, page).unwrap().1, PageSize::Size2MiB);
    }

    #[test]
    fn a_smaller_table_in_the_way_is_refused() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let page = LOWER.add(HUGE_PAGE_SIZE + LARGE_PAGE_SIZE + PAGE_SIZE);
        map(&tables, &memory, &frames, page, DEVICE, PageSize::Size4KiB).unwrap();
        let large = VirtualAddress(page.0 & !(LARGE_PAGE_SIZE - 1));
        let huge = VirtualAddress(page.0 & !(HUGE_PAGE_SIZE - 1));
        assert_eq!(
            map(&tables, &memory, &frames, large, DEVICE, PageSize::Size2MiB),
            Err(PageTableError::TableInTheWay)
        );
        assert_eq!(
            map(&tables, &memory, &frames, huge, DEVICE, PageSize::Size1GiB),
            Err(PageTableError::TableInTheWay)
        );
    }

    #[test]
    fn a_large_leaf_replaces_tables_that_map_nothing_and_frees_them() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let page = LOWER.add(HUGE_PAGE_SIZE + LARGE_PAGE_SIZE + PAGE_SIZE);
        map(&tables, &memory, &frames, page, DEVICE, PageSize::Size4KiB).unwrap();
        // Unmapping the page keeps its (now empty) table ...
        tables.unmap(&memory, page).unwrap().1.ignore();
        let with_empty_table = tables.count_tables(&memory);
        let free_frames = frames.free_count();
        // ... until a large leaf needs the entry: the table is freed and the leaf takes its place.
        let large = VirtualAddress(page.0 & !(LARGE_PAGE_SIZE - 1));
        map(&tables, &memory, &frames, large, DEVICE, PageSize::Size2MiB).unwrap();
        assert_eq!(tables.leaf_entry(&memory, page).unwrap().1, PageSize::Size2MiB);
        let now = tables.count_tables(&memory);
        assert_eq!((now.pd, now.pt), (with_empty_table.pd, with_empty_table.pt - 1), "the page table went");
        assert_eq!(frames.free_count(), free_frames + 1, "its frame went back to the allocator");
        tables.unmap(&memory, large).unwrap().1.ignore();
        // A 1 GiB leaf reclaims a page directory whose page tables map nothing, recursively.
        let deep = LOWER.add(3 * HUGE_PAGE_SIZE + PAGE_SIZE);
        map(&tables, &memory, &frames, deep, DEVICE, PageSize::Size4KiB).unwrap();
        tables.unmap(&memory, deep).unwrap().1.ignore();
        let before = tables.count_tables(&memory);
        let huge = VirtualAddress(deep.0 & !(HUGE_PAGE_SIZE - 1));
        map(&tables, &memory, &frames, huge, DEVICE, PageSize::Size1GiB).unwrap();
        let now = tables.count_tables(&memory);
        assert_eq!((now.pd, now.pt), (before.pd - 1, before.pt - 1), "the page directory and its page table");
    }

    #[test]
    fn unmapping_nothing_is_not_mapped() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        assert_eq!(tables.unmap(&memory, LOWER).unwrap_err(), PageTableError::NotMapped);
        tables.populate(&memory, &frames, LOWER, 1).unwrap();
        assert_eq!(tables.unmap(&memory, LOWER).unwrap_err(), PageTableError::NotMapped);
        assert_eq!(tables.leaf_entry(&memory, LOWER), None);
    }

    #[test]
    fn out_of_frames_leaves_no_leaf() {
        let memory = EmulatedMemory::new(RAM_BASE, RAM_FRAMES);
        // Root, PDPT and PD fit; the page table does not.
        let frames = EmulatedFrameAllocator::limited(RAM_BASE, RAM_FRAMES, 3);
        let tables = PageTables::new(&memory, &frames).unwrap();
        assert_eq!(
            map(&tables, &memory, &frames, LOWER, DEVICE, PageSize::Size4KiB),
            Err(PageTableError::OutOfFrames)
        );
        assert_eq!(tables.translate(&memory, LOWER), None);
        assert_eq!(tables.leaf_entry(&memory, LOWER), None);
        assert_eq!(tables.populate(&memory, &frames, LOWER, 1), Err(PageTableError::OutOfFrames));
        // Every frame handed out is in the tree: nothing leaked.
        assert_eq!(tables.table_frames(&memory), frames.allocated_count());

        frames.set_limit(None);
        map(&tables, &memory, &frames, LOWER, DEVICE, PageSize::Size4KiB).unwrap();
        assert_eq!(frames.allocated_count(), 4);
        assert_eq!(tables.translate(&memory, LOWER).unwrap().physical, DEVICE);

        let none = EmulatedFrameAllocator::limited(RAM_BASE, RAM_FRAMES, 0);
        assert_eq!(PageTables::new(&memory, &none).unwrap_err(), PageTableError::OutOfFrames);
    }

    #[test]
    fn populate_lets_later_maps_succeed_without_allocating() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        // 600 pages that straddle a 2 MiB boundary and a 1 GiB boundary: two page tables in
        // two page directories.
        let start = LOWER.add(HUGE_PAGE_SIZE - 300 * PAGE_SIZE);
        let pages = 600;
        assert_eq!(tables.populate(&memory, &frames, start, pages), Ok(5));
        assert_eq!(tables.populate(&memory, &frames, start, pages), Ok(0));
        assert_eq!(tables.count_tables(&memory), TableCounts { pml4: 1, pdpt: 1, pd: 2, pt: 2 });

        let allocated = frames.allocated_count();
        frames.exhaust();
        for page in 0..pages {
            let va = start.add(page * PAGE_SIZE);
            let pa = PhysicalAddress(DEVICE.0 + page * PAGE_SIZE);
            if page % 2 == 0 {
                tables.map_preallocated(&memory, va, pa, RW_UC).unwrap().ignore();
            } else {
                map(&tables, &memory, &frames, va, pa, PageSize::Size4KiB).unwrap();
            }
        }
        assert_eq!(frames.allocated_count(), allocated);
        assert_eq!(frames.failed_allocations(), 0);
        for page in 0..pages {
            let va = start.add(page * PAGE_SIZE + 0x123);
            assert_eq!(
                tables.translate(&memory, va).unwrap().physical.0,
                DEVICE.0 + page * PAGE_SIZE + 0x123
            );
        }
        // Just past the populated range there is no table, and no frame to make one.
        let beyond = start.add(pages * PAGE_SIZE).add(LARGE_PAGE_SIZE);
        assert_eq!(
            map(&tables, &memory, &frames, beyond, DEVICE, PageSize::Size4KiB),
            Err(PageTableError::OutOfFrames)
        );
        assert_eq!(tables.populate(&memory, &frames, start, 0), Ok(0));
    }

    #[test]
    fn map_preallocated_without_population_is_not_populated() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let allocated = frames.allocated_count();
        assert_eq!(
            tables.map_preallocated(&memory, LOWER, DEVICE, RW_UC).unwrap_err(),
            PageTableError::NotPopulated
        );
        // A neighbouring 2 MiB region's tables do not cover this one's page table.
        tables.populate(&memory, &frames, LOWER.add(LARGE_PAGE_SIZE), 1).unwrap();
        assert_eq!(
            tables.map_preallocated(&memory, LOWER, DEVICE, RW_UC).unwrap_err(),
            PageTableError::NotPopulated
        );
        assert_eq!(frames.allocated_count(), allocated + 3);
        assert_eq!(tables.translate(&memory, LOWER), None);
    }

    #[test]
    fn a_1gib_map_creates_one_leaf_in_one_pdpt() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        assert_eq!(tables.count_tables(&memory), TableCounts { pml4: 1, pdpt: 0, pd: 0, pt: 0 });
        map(&tables, &memory, &frames, UPPER, DEVICE, PageSize::Size1GiB).unwrap();
        assert_eq!(tables.count_tables(&memory), TableCounts { pml4: 1, pdpt: 1, pd: 0, pt: 0 });
        assert_eq!(frames.allocated_count(), 2);
        let pml4e = memory.table(tables.root()).unwrap()[index(UPPER.0, 4)].load(Ordering::Relaxed);
        let pdpt = memory.table(entry_pfn(pml4e)).unwrap();
        let leaves: Vec<u64> =
            pdpt.iter().map(|entry| entry.load(Ordering::Relaxed)).filter(|&e| e != 0).collect();
        assert_eq!(leaves.len(), 1);
        assert_ne!(leaves[0] & PTE_LARGE, 0);
    }

    #[test]
    fn translate_gives_the_exact_byte_inside_large_pages() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let huge_pa = PhysicalAddress(0x40_0000_0000);
        let large_pa = PhysicalAddress(0xFEE0_0000);
        let page_pa = PhysicalAddress(0xFEBF_1000);
        map(&tables, &memory, &frames, LOWER, huge_pa, PageSize::Size1GiB).unwrap();
        let large_va = LOWER.add(HUGE_PAGE_SIZE);
        map(&tables, &memory, &frames, large_va, large_pa, PageSize::Size2MiB).unwrap();
        let page_va = large_va.add(LARGE_PAGE_SIZE);
        map(&tables, &memory, &frames, page_va, page_pa, PageSize::Size4KiB).unwrap();

        for (va, pa, size, offset) in [
            (LOWER, huge_pa, PageSize::Size1GiB, 0x3FFF_FFFF),
            (LOWER, huge_pa, PageSize::Size1GiB, 0x1234_5678),
            (large_va, large_pa, PageSize::Size2MiB, 0x1_F00D),
            (page_va, page_pa, PageSize::Size4KiB, 0xABC),
        ] {
            let translation = tables.translate(&memory, va.add(offset)).unwrap();
            assert_eq!(translation.frame_base, pa);
            assert_eq!(translation.physical, PhysicalAddress(pa.0 + offset));
            assert_eq!(translation.size, size);
        }
        assert_eq!(tables.translate(&memory, page_va.add(PAGE_SIZE)), None);
    }

    /// An allocator that hands out one frame outside emulated RAM, then works normally.
    struct Stray {
        inner: EmulatedFrameAllocator,
        stray: spin::Mutex<Option<Pfn>>,
        freed: spin::Mutex<Vec<Pfn>>,
    }

    impl FrameAllocator for Stray {
        fn allocate_frame(&self) -> Option<Pfn> {
            self.stray.lock().take().or_else(|| self.inner.allocate_frame())
        }
        fn free_frame(&self, pfn: Pfn) {
            if self.inner.is_allocated(pfn) {
                self.inner.free_frame(pfn);
            } else {
                self.freed.lock().push(pfn);
            }
        }
    }

    #[test]
    fn unreachable_table_frames_are_reported_and_returned() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let bogus = Pfn(RAM_BASE.0 + RAM_FRAMES + 7);
        let stray = Stray {
            inner: frames,
            stray: spin::Mutex::new(Some(bogus)),
            freed: spin::Mutex::new(Vec::new()),
        };
        assert_eq!(
            tables.map(&memory, &stray, LOWER, DEVICE, PageSize::Size4KiB, RW_UC).unwrap_err(),
            PageTableError::BadTableFrame(bogus)
        );
        assert_eq!(*stray.freed.lock(), [bogus]);
        // The allocator works again after the stray frame: the same map succeeds.
        tables.map(&memory, &stray, LOWER, DEVICE, PageSize::Size4KiB, RW_UC).unwrap().ignore();
        assert_eq!(tables.translate(&memory, LOWER).unwrap().physical, DEVICE);
        *stray.stray.lock() = Some(bogus);
        assert_eq!(PageTables::new(&memory, &stray).unwrap_err(), PageTableError::BadTableFrame(bogus));
        assert_eq!(PageTables::from_root(bogus).translate(&memory, LOWER), None);
        assert_eq!(
            PageTables::from_root(bogus).unmap(&memory, LOWER).unwrap_err(),
            PageTableError::BadTableFrame(bogus)
        );
    }

    /// An allocator that, on its first allocation, lets a "neighbour" populate the same region
    /// before handing out its frame, so the caller loses the race to install a table.
    struct Racing<'a> {
        inner: &'a EmulatedFrameAllocator,
        tables: &'a PageTables,
        memory: &'a EmulatedMemory,
        armed: core::sync::atomic::AtomicBool,
    }

    impl FrameAllocator for Racing<'_> {
        fn allocate_frame(&self) -> Option<Pfn> {
            if self.armed.swap(false, Ordering::Relaxed) {
                assert_eq!(self.tables.populate(self.memory, self.inner, LOWER, 1), Ok(3));
            }
            self.inner.allocate_frame()
        }
        fn free_frame(&self, pfn: Pfn) {
            self.inner.free_frame(pfn);
        }
    }

    #[test]
    fn losing_a_table_race_frees_the_frame_and_uses_the_winners_table() {
        let (memory, frames) = machine();
        let tables = PageTables::new(&memory, &frames).unwrap();
        let racing = Racing {
            inner: &frames,
            tables: &tables,
            memory: &memory,
            armed: core::sync::atomic::AtomicBool::new(true),
        };
        // The neighbour creates all three tables; this call creates none and keeps no frame.
        assert_eq!(tables.populate(&memory, &racing, LOWER, 1), Ok(0));
        assert_eq!(frames.allocated_count(), 4);
        assert_eq!(tables.count_tables(&memory), TableCounts { pml4: 1, pdpt: 1, pd: 1, pt: 1 });
        assert_eq!(frames.invalid_frees(), 0);
        tables.map_preallocated(&memory, LOWER, DEVICE, RW_UC).unwrap().ignore();
    }

    #[test]
    fn concurrent_population_is_consistent_and_leaks_nothing() {
        // A region across a PML4-entry boundary, so the threads race at every level.
        let start = VirtualAddress(0x7f80_0000_0000 - 4 * LARGE_PAGE_SIZE);
        let pages = 8 * LARGE_PAGE_SIZE / PAGE_SIZE;
        for _ in 0..50 {
            let memory = Arc::new(EmulatedMemory::new(RAM_BASE, RAM_FRAMES));
            let frames = Arc::new(EmulatedFrameAllocator::new(RAM_BASE, RAM_FRAMES));
            let tables = Arc::new(PageTables::new(&*memory, &*frames).unwrap());
            let barrier = Arc::new(Barrier::new(2));
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (memory, frames) = (Arc::clone(&memory), Arc::clone(&frames));
                    let (tables, barrier) = (Arc::clone(&tables), Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        tables.populate(&*memory, &*frames, start, pages).unwrap()
                    })
                })
                .collect();
            let created: u64 = workers.into_iter().map(|worker| worker.join().unwrap()).sum();
            // 2 PDPTs, 2 PDs and 8 PTs, each created by exactly one of the threads.
            let counts = tables.count_tables(&*memory);
            assert_eq!(counts, TableCounts { pml4: 1, pdpt: 2, pd: 2, pt: 8 });
            assert_eq!(created, 12);
            assert_eq!(frames.allocated_count(), counts.total());
            assert_eq!(frames.invalid_frees(), 0);
            assert_eq!(tables.populate(&*memory, &*frames, start, pages), Ok(0));
            for page in 0..pages {
                let va = start.add(page * PAGE_SIZE);
                tables.map_preallocated(&*memory, va, DEVICE, RW_UC).unwrap().ignore();
            }
        }
    }

    #[test]
    fn tlb_flushes_merge_into_a_covering_range() {
        let a = TlbFlush::new(VirtualAddress(0x10_0000), 0x1000);
        let b = TlbFlush::new(VirtualAddress(0x20_0000), 0x20_0000);
        assert_eq!(a.merge(b).range(), (VirtualAddress(0x10_0000), 0x30_0000));
        let inner = TlbFlush::new(VirtualAddress(0x10_0000), 0x1000);
        let outer = TlbFlush::new(VirtualAddress(0xF_0000), 0x10_0000);
        assert_eq!(inner.merge(outer).range(), (VirtualAddress(0xF_0000), 0x10_0000));

        let empty = TlbFlush::empty();
        assert!(empty.is_empty());
        let page = TlbFlush::new(VirtualAddress(0x5000), 0x1000);
        assert_eq!(TlbFlush::empty().merge(page).range(), (VirtualAddress(0x5000), 0x1000));
        let page = TlbFlush::new(VirtualAddress(0x5000), 0x1000);
        assert_eq!(page.merge(empty).range(), (VirtualAddress(0x5000), 0x1000));

        // The last page of the address space ends at 2^64 without overflowing.
        let top = TlbFlush::new(VirtualAddress(0xFFFF_FFFF_FFFF_F000), 0x1000);
        let below = TlbFlush::new(VirtualAddress(0xFFFF_FFFF_FFFF_D000), 0x1000);
        assert_eq!(top.merge(below).range(), (VirtualAddress(0xFFFF_FFFF_FFFF_D000), 0x3000));
    }

    #[test]
    fn errors_describe_themselves() {
        let errors = [
            PageTableError::Misaligned,
            PageTableError::NonCanonical,
            PageTableError::PhysicalOutOfRange,
            PageTableError::AlreadyMapped,
            PageTableError::LargePageInTheWay,
            PageTableError::TableInTheWay,
            PageTableError::NotMapped,
            PageTableError::NotPopulated,
            PageTableError::OutOfFrames,
            PageTableError::BadTableFrame(Pfn(0x1234)),
        ];
        let messages: Vec<std::string::String> =
            errors.iter().map(std::string::ToString::to_string).collect();
        for (i, message) in messages.iter().enumerate() {
            assert!(!message.is_empty());
            assert!(messages[..i].iter().all(|earlier| earlier != message));
        }
        assert!(messages[9].contains("0x1234"));
    }
}
