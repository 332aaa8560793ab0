//! Nonpaged and paged pool (`ExAllocatePoolWithTag`, `ExAllocatePool2`, `ExFreePoolWithTag`),
//! backed by RAM frames of the machine.
//!
//! Pool memory is ordinary RAM: frames taken from the PFN database (`PageUse::Allocated`,
//! cache attribute write-back) and mapped read-write, no-execute into system VA with the same
//! page-table code as every other mapping. A pool address is therefore a real pointer on the
//! hosted machine, and `MmGetPhysicalAddress` of it is one page walk.
//!
//! # Layout
//! - Requests of more than [`LARGEST_SMALL_ALLOCATION`] (2 KiB) bytes get whole pages of their
//!   own, page-aligned, from frames that need not be physically contiguous.
//! - Smaller requests are rounded up to a power-of-two size class from 16 to 2048 bytes and
//!   carved from pool pages of that class and pool type (nonpaged and paged never share a page).
//!   Each page keeps a bitmap of its blocks, and each class keeps the set of its pages that have
//!   a free block, so allocation and free are O(log n) in the number of pool pages. Within a
//!   page the lowest free block is used first. A page is given back to the system (unmapped, its
//!   frame freed) as soon as its last block is freed, so freeing everything restores the free
//!   frame and VA counts exactly.
//! - Every allocation is 16-byte aligned; cache-aligned requests (`NonPagedPoolCacheAligned`,
//!   `POOL_FLAG_CACHE_ALIGNED`) use a class of at least 64 bytes and are 64-byte aligned.
//! - Metadata is kept out of band (no header in front of the block): a map from address to
//!   [`PoolAllocation`], which is how any address a driver passes to a free routine is
//!   classified without reading pool memory, and how [`MemoryManager::pool_allocation`] finds
//!   the allocation containing an address.
//!
//! # Contents
//! Memory is zeroed only when asked (`zeroed`, or `ExAllocatePool2` without
//! `POOL_FLAG_UNINITIALIZED`). Otherwise it holds whatever the frame or block held before: no
//! fill pattern is written, so a driver that reads uninitialised pool sees stale data, as on
//! Windows.
//!
//! # Executability
//! All pool is mapped no-execute, including `NonPagedPool` (0) and
//! `POOL_FLAG_NON_PAGED_EXECUTE`, which are accepted as nonpaged pool. Nothing executes pool on
//! the hosted machine, and the verifier's code-integrity rule (0xC4/0x2000) treats executable
//! pool as a violation anyway.
//!
//! # Paged pool
//! The machine never pages, so paged pool is backed exactly like nonpaged pool; it is recorded
//! as paged so that `MmBuildMdlForNonPagedPool` can refuse it, and its IRQL rule is `APC_LEVEL`.
//!
//! # Bug checks (raised by the facade in [`crate::nt`])
//! - Allocation above the pool type's IRQL: 0xC4/0x02 (nonpaged above `DISPATCH_LEVEL`) or
//!   0xC4/0x01 (paged above `APC_LEVEL`), P2 = IRQL, P3 = pool type, P4 = bytes. (0xC4/0x00 is
//!   the verifier's zero-byte code, so it is not used for IRQL.)
//! - A zero-byte request: 0xC4/0x00 (P2 = IRQL, P3 = pool type, P4 = 0), as Driver Verifier
//!   reports it. The safe API returns [`PoolError::ZeroBytes`].
//! - Free above the IRQL: 0xC4/0x12 (nonpaged above `DISPATCH_LEVEL`) or 0xC4/0x11 (paged above
//!   `APC_LEVEL`), P2 = IRQL, P3 = pool type, P4 = address — the verifier's own subcodes,
//!   following the facade's rule of preferring them to 0x0A.
//! - 0xC2 `BAD_POOL_CALLER`:
//!   - 0x07 double free: P2 = 0, P3 = the freed allocation's tag (standing in for the pool
//!     header, 0 if forgotten), P4 = address;
//!   - 0x0A wrong tag on `ExFreePoolWithTag`: P2 = address, P3 = allocator's tag, P4 = tag
//!     passed (a tag of 0 is not checked, as `ExFreePool`);
//!   - 0x42 an address that was never pool: P2 = address;
//!   - 0x99 an address inside pool that is not the start of an allocation: P2 = address;
//!   - 0x9A a `MustSucceed` pool type (2, 6): P2 = pool type, P3 = bytes, P4 = tag;
//!   - 0x9B `ExAllocatePoolWithTag` with tag 0: P2 = pool type, P3 = bytes, P4 = 0 (no return
//!     address on this machine; the STOP line names the call site);
//!   - 0x9D a tag with no letter or digit: P2 = tag, P3 = pool type, P4 = 0.
//!
//!   `ExAllocatePool2` returns NULL for a tag of 0 or without letters or digits instead.
//! - `POOL_FLAG_RAISE_ON_FAILURE`: nothing can catch an exception on this machine, so a failed
//!   allocation with that flag is the unhandled exception Windows would end with:
//!   0x1E `KMODE_EXCEPTION_NOT_HANDLED`, P1 = `STATUS_INSUFFICIENT_RESOURCES`.
//! - Pool types other than 0, 1, 4, 5, 512 and 516 (and the must-succeed ones) make
//!   `ExAllocatePoolWithTag` return NULL; required `ExAllocatePool2` flags the machine does not
//!   implement (`POOL_FLAG_SESSION`, the reserved ones, unknown bits below bit 32) make it return
//!   NULL; unknown optional flags (bit 32 and up) are ignored, as the flag scheme specifies.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use spin::Mutex;

use crate::address::{PAGE_SIZE, Pfn, VirtualAddress, bytes_to_pages};
use crate::caching::CachePolicy;
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::memory_manager::MemoryManager;
use crate::pfn_database::PageUse;
use crate::range_allocator::Placement;
use crate::system_mapping::{FrameRights, MapFramesError};

/// `POOL_FLAG_USE_QUOTA`: charge the allocation to the current process (accepted; the machine
/// keeps no quotas).
pub const POOL_FLAG_USE_QUOTA: u64 = 0x1;
/// `POOL_FLAG_UNINITIALIZED`: do not zero the allocation.
pub const POOL_FLAG_UNINITIALIZED: u64 = 0x2;
/// `POOL_FLAG_SESSION`: session pool (not implemented: the allocation fails).
pub const POOL_FLAG_SESSION: u64 = 0x4;
/// `POOL_FLAG_CACHE_ALIGNED`: align the allocation to a cache line (64 bytes).
pub const POOL_FLAG_CACHE_ALIGNED: u64 = 0x8;
/// `POOL_FLAG_RESERVED1`: reserved for the system (the allocation fails).
pub const POOL_FLAG_RESERVED1: u64 = 0x10;
/// `POOL_FLAG_RAISE_ON_FAILURE`: raise an exception instead of returning NULL.
pub const POOL_FLAG_RAISE_ON_FAILURE: u64 = 0x20;
/// `POOL_FLAG_NON_PAGED`: nonpaged, no-execute pool.
pub const POOL_FLAG_NON_PAGED: u64 = 0x40;
/// `POOL_FLAG_NON_PAGED_EXECUTE`: nonpaged executable pool (mapped no-execute here; see the
/// module docs).
pub const POOL_FLAG_NON_PAGED_EXECUTE: u64 = 0x80;
/// `POOL_FLAG_PAGED`: paged pool.
pub const POOL_FLAG_PAGED: u64 = 0x100;
/// `POOL_FLAG_RESERVED2`: reserved for the system (the allocation fails).
pub const POOL_FLAG_RESERVED2: u64 = 0x200;
/// `POOL_FLAG_RESERVED3`: reserved for the system (the allocation fails).
pub const POOL_FLAG_RESERVED3: u64 = 0x400;
/// Flags in bits 0..=31 are *required*: an implementation that does not know one must fail.
pub const POOL_FLAG_REQUIRED_MASK: u64 = 0xFFFF_FFFF;
/// `POOL_FLAG_SPECIAL_POOL`: an optional flag (ignored here).
pub const POOL_FLAG_SPECIAL_POOL: u64 = 0x1_0000_0000;

/// `NonPagedPool`.
pub const NON_PAGED_POOL: u32 = 0;
/// `PagedPool`.
pub const PAGED_POOL: u32 = 1;
/// `NonPagedPoolMustSucceed` (no longer supported by Windows: 0xC2/0x9A).
pub const NON_PAGED_POOL_MUST_SUCCEED: u32 = 2;
/// `NonPagedPoolCacheAligned`.
pub const NON_PAGED_POOL_CACHE_ALIGNED: u32 = 4;
/// `PagedPoolCacheAligned`.
pub const PAGED_POOL_CACHE_ALIGNED: u32 = 5;
/// `NonPagedPoolCacheAlignedMustS` (no longer supported by Windows: 0xC2/0x9A).
pub const NON_PAGED_POOL_CACHE_ALIGNED_MUST_S: u32 = 6;
/// `NonPagedPoolNx`.
pub const NON_PAGED_POOL_NX: u32 = 512;
/// `NonPagedPoolNxCacheAligned`.
pub const NON_PAGED_POOL_NX_CACHE_ALIGNED: u32 = 516;

/// The tag `ExAllocatePool` (without a tag) uses: `'None'`.
pub const POOL_TAG_NONE: u32 = u32::from_le_bytes(*b"None");

/// The largest request served from a size class; larger ones get whole pages.
pub const LARGEST_SMALL_ALLOCATION: u64 = 2048;
/// Alignment of every pool allocation.
pub const POOL_ALIGNMENT: u64 = 16;
/// Alignment of cache-aligned allocations.
pub const CACHE_LINE: u64 = 64;

/// Size classes: 16 << i for i in 0..CLASS_COUNT.
const CLASS_COUNT: usize = 8;
const SMALLEST_CLASS_SHIFT: u32 = 4;
/// Blocks of the smallest class in a page, and so the bits of a page's bitmap.
const BITMAP_WORDS: usize = (PAGE_SIZE as usize >> SMALLEST_CLASS_SHIFT) / 64;
/// How many freed addresses are remembered to tell a double free of a whole-page allocation
/// (whose pages are gone) from an address that was never pool.
const FREED_HISTORY: usize = 256;

/// Which pool an allocation comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PoolType {
    /// Nonpaged pool: resident, usable up to `DISPATCH_LEVEL`.
    NonPaged,
    /// Paged pool: usable up to `APC_LEVEL` (never actually paged on this machine).
    Paged,
}

/// A `POOL_TYPE` value the machine does not accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidPoolType {
    /// `NonPagedPoolMustSucceed` or `NonPagedPoolCacheAlignedMustS` (Windows: 0xC2/0x9A).
    MustSucceed(u32),
    /// Any other value outside 0, 1, 4, 5, 512, 516 (session pool, ...).
    Unsupported(u32),
}

impl fmt::Display for InvalidPoolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MustSucceed(value) => write!(f, "must-succeed pool type {value} is no longer supported"),
            Self::Unsupported(value) => write!(f, "pool type {value} is not supported"),
        }
    }
}

impl core::error::Error for InvalidPoolType {}

impl PoolType {
    /// The pool type a documented `POOL_TYPE` value selects, and whether it asks for cache
    /// alignment.
    pub const fn from_nt(value: u32) -> Result<(Self, bool), InvalidPoolType> {
        match value {
            NON_PAGED_POOL | NON_PAGED_POOL_NX => Ok((Self::NonPaged, false)),
            NON_PAGED_POOL_CACHE_ALIGNED | NON_PAGED_POOL_NX_CACHE_ALIGNED => Ok((Self::NonPaged, true)),
            PAGED_POOL => Ok((Self::Paged, false)),
            PAGED_POOL_CACHE_ALIGNED => Ok((Self::Paged, true)),
            NON_PAGED_POOL_MUST_SUCCEED | NON_PAGED_POOL_CACHE_ALIGNED_MUST_S => {
                Err(InvalidPoolType::MustSucceed(value))
            }
            _ => Err(InvalidPoolType::Unsupported(value)),
        }
    }

    /// The basic `POOL_TYPE` value: `NonPagedPool` (0) or `PagedPool` (1).
    pub const fn nt_value(self) -> u32 {
        match self {
            Self::NonPaged => NON_PAGED_POOL,
            Self::Paged => PAGED_POOL,
        }
    }

    /// The highest IRQL at which this pool may be allocated or freed.
    pub const fn maximum_irql(self) -> Irql {
        match self {
            Self::NonPaged => Irql::DISPATCH,
            Self::Paged => Irql::APC,
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::NonPaged => 0,
            Self::Paged => 1,
        }
    }
}

impl fmt::Display for PoolType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NonPaged => "nonpaged pool",
            Self::Paged => "paged pool",
        })
    }
}

/// What a set of `ExAllocatePool2` flags asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolFlags {
    /// The pool.
    pub pool_type: PoolType,
    /// The `POOL_TYPE` value equivalent to the flags, for bug-check parameters
    /// (`NonPagedPoolNx` for `POOL_FLAG_NON_PAGED`).
    pub nt_pool_type: u32,
    /// Zero the memory (no `POOL_FLAG_UNINITIALIZED`).
    pub zeroed: bool,
    /// `POOL_FLAG_CACHE_ALIGNED`.
    pub cache_aligned: bool,
    /// `POOL_FLAG_RAISE_ON_FAILURE`.
    pub raise_on_failure: bool,
}

/// `ExAllocatePool2` flags the machine refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidPoolFlags {
    /// Not exactly one of `POOL_FLAG_PAGED`, `POOL_FLAG_NON_PAGED`, `POOL_FLAG_NON_PAGED_EXECUTE`.
    PoolTypeNotExactlyOne(u64),
    /// A required flag (bits 0..=31) the machine does not implement.
    UnsupportedRequiredFlags(u64),
}

impl fmt::Display for InvalidPoolFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PoolTypeNotExactlyOne(flags) => {
                write!(f, "pool flags {flags:#x} do not name exactly one pool type")
            }
            Self::UnsupportedRequiredFlags(bits) => {
                write!(f, "required pool flags {bits:#x} are not supported")
            }
        }
    }
}

impl core::error::Error for InvalidPoolFlags {}

impl PoolFlags {
    /// Decodes `ExAllocatePool2` flags.
    pub const fn decode(flags: u64) -> Result<Self, InvalidPoolFlags> {
        const KNOWN: u64 = POOL_FLAG_USE_QUOTA
            | POOL_FLAG_UNINITIALIZED
            | POOL_FLAG_CACHE_ALIGNED
            | POOL_FLAG_RAISE_ON_FAILURE
            | POOL_FLAG_NON_PAGED
            | POOL_FLAG_NON_PAGED_EXECUTE
            | POOL_FLAG_PAGED;
        let unsupported = flags & POOL_FLAG_REQUIRED_MASK & !KNOWN;
        if unsupported != 0 {
            return Err(InvalidPoolFlags::UnsupportedRequiredFlags(unsupported));
        }
        let (pool_type, nt_pool_type) =
            match flags & (POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE) {
                POOL_FLAG_PAGED => (PoolType::Paged, PAGED_POOL),
                POOL_FLAG_NON_PAGED => (PoolType::NonPaged, NON_PAGED_POOL_NX),
                POOL_FLAG_NON_PAGED_EXECUTE => (PoolType::NonPaged, NON_PAGED_POOL),
                _ => return Err(InvalidPoolFlags::PoolTypeNotExactlyOne(flags)),
            };
        Ok(Self {
            pool_type,
            nt_pool_type,
            zeroed: flags & POOL_FLAG_UNINITIALIZED == 0,
            cache_aligned: flags & POOL_FLAG_CACHE_ALIGNED != 0,
            raise_on_failure: flags & POOL_FLAG_RAISE_ON_FAILURE != 0,
        })
    }
}

/// Whether `tag` can be tracked: not 0 and with at least one ASCII letter or digit (bit 31,
/// `PROTECTED_POOL`, aside).
pub const fn tag_error(tag: u32) -> Option<PoolError> {
    if tag == 0 {
        return Some(PoolError::ZeroTag);
    }
    let bytes = (tag & 0x7FFF_FFFF).to_le_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphanumeric() {
            return None;
        }
        i += 1;
    }
    Some(PoolError::TagWithoutLettersOrDigits(tag))
}

/// A pool request in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolRequest {
    /// The pool.
    pub pool_type: PoolType,
    /// Bytes asked for.
    pub bytes: u64,
    /// The caller's tag (four characters, little-endian).
    pub tag: u32,
    /// Fill the memory with zeros.
    pub zeroed: bool,
    /// Align to a cache line (64 bytes) rather than 16.
    pub cache_aligned: bool,
}

/// A live pool allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolAllocation {
    /// The address returned.
    pub address: VirtualAddress,
    /// Bytes asked for (the capacity the caller may use).
    pub bytes: u64,
    /// The caller's tag.
    pub tag: u32,
    /// The pool.
    pub pool_type: PoolType,
    /// Whether it has pages of its own (more than [`LARGEST_SMALL_ALLOCATION`] bytes) rather
    /// than a block of a shared pool page.
    pub whole_pages: bool,
    /// Where it was allocated.
    pub location: &'static Location<'static>,
}

/// Why an allocation was refused. Nothing is allocated when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// Called above the pool type's IRQL.
    Irql(IrqlTooHigh),
    /// Zero bytes were asked for.
    ZeroBytes,
    /// The tag is 0.
    ZeroTag,
    /// The tag has no ASCII letter or digit.
    TagWithoutLettersOrDigits(u32),
    /// No free RAM frame.
    OutOfMemory,
    /// No run of system VA is large enough.
    VaExhausted,
    /// No RAM frame for a new page table.
    OutOfPageTableFrames,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "pool allocation {error}"),
            Self::ZeroBytes => f.write_str("a pool allocation of zero bytes"),
            Self::ZeroTag => f.write_str("a pool tag of 0 cannot be tracked"),
            Self::TagWithoutLettersOrDigits(tag) => {
                write!(f, "pool tag {tag:#010x} has no letter or digit")
            }
            Self::OutOfMemory => f.write_str("no free RAM for pool"),
            Self::VaExhausted => f.write_str("system VA space is exhausted"),
            Self::OutOfPageTableFrames => f.write_str("no RAM for a page table"),
        }
    }
}

impl core::error::Error for PoolError {}

impl From<MapFramesError> for PoolError {
    fn from(error: MapFramesError) -> Self {
        match error {
            MapFramesError::VaExhausted => Self::VaExhausted,
            MapFramesError::OutOfPageTableFrames => Self::OutOfPageTableFrames,
        }
    }
}

/// Why a free was refused. Nothing is freed when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreePoolError {
    /// Called above the pool type's IRQL.
    Irql {
        /// The IRQL rule broken.
        error: IrqlTooHigh,
        /// The pool the allocation came from.
        pool_type: PoolType,
    },
    /// The address was never pool.
    NeverPool {
        /// The address passed.
        address: VirtualAddress,
    },
    /// The address is the start of an allocation that was already freed.
    AlreadyFree {
        /// The address passed.
        address: VirtualAddress,
        /// The freed allocation's tag, if still remembered.
        tag: Option<u32>,
    },
    /// The address is inside pool but is not the start of a live allocation.
    NotAnAllocation {
        /// The address passed.
        address: VirtualAddress,
    },
    /// The tag passed is not the allocation's.
    WrongTag {
        /// The allocation.
        address: VirtualAddress,
        /// Its tag.
        allocated: u32,
        /// The tag passed.
        passed: u32,
    },
}

impl fmt::Display for FreePoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql { error, pool_type } => write!(f, "freeing {pool_type} {error}"),
            Self::NeverPool { address } => write!(f, "{address} was never pool"),
            Self::AlreadyFree { address, .. } => write!(f, "pool at {address} was already freed"),
            Self::NotAnAllocation { address } => {
                write!(f, "{address} is inside pool but is not the start of an allocation")
            }
            Self::WrongTag { address, allocated, passed } => {
                write!(f, "pool at {address} has tag {allocated:#010x}, freed with tag {passed:#010x}")
            }
        }
    }
}

impl core::error::Error for FreePoolError {}

/// One pool page of a size class.
#[derive(Debug)]
struct PoolPage {
    pool_type: PoolType,
    class: usize,
    frame: Pfn,
    /// Bit i set: block i is allocated (bits past the page's block count are set too).
    used: [u64; BITMAP_WORDS],
}

impl PoolPage {
    fn new(pool_type: PoolType, class: usize, frame: Pfn) -> Self {
        Self { pool_type, class, frame, used: empty_bitmap(class) }
    }

    /// Marks the lowest free block used and returns its index.
    fn take_block(&mut self) -> Option<usize> {
        let (word, bits) = self.used.iter_mut().enumerate().find(|(_, bits)| **bits != u64::MAX)?;
        let bit = bits.trailing_ones() as usize;
        *bits |= 1 << bit;
        Some(word * 64 + bit)
    }

    fn is_used(&self, block: usize) -> bool {
        self.used[block / 64] & (1 << (block % 64)) != 0
    }

    fn release_block(&mut self, block: usize) {
        self.used[block / 64] &= !(1 << (block % 64));
    }

    fn is_full(&self) -> bool {
        self.used.iter().all(|&bits| bits == u64::MAX)
    }

    fn is_empty(&self) -> bool {
        self.used == empty_bitmap(self.class)
    }
}

/// The bitmap of a page of `class` with no block allocated: only the bits past the page's
/// block count are set.
fn empty_bitmap(class: usize) -> [u64; BITMAP_WORDS] {
    let blocks = blocks_per_page(class);
    let mut used = [u64::MAX; BITMAP_WORDS];
    for (word, bits) in used.iter_mut().enumerate() {
        let first = word * 64;
        if first < blocks {
            let free = (blocks - first).min(64);
            *bits = if free == 64 { 0 } else { u64::MAX << free };
        }
    }
    used
}

const fn class_bytes(class: usize) -> u64 {
    1 << (SMALLEST_CLASS_SHIFT as usize + class)
}

const fn blocks_per_page(class: usize) -> usize {
    (PAGE_SIZE / class_bytes(class)) as usize
}

/// The class serving `bytes` (at most [`LARGEST_SMALL_ALLOCATION`]).
fn class_of(bytes: u64, cache_aligned: bool) -> usize {
    let minimum = if cache_aligned { CACHE_LINE } else { POOL_ALIGNMENT };
    let size = bytes.max(minimum).next_power_of_two();
    (size.trailing_zeros() - SMALLEST_CLASS_SHIFT) as usize
}

/// Where an allocation's memory comes from.
#[derive(Debug)]
enum Backing {
    /// A block of the pool page at this address.
    Block { page: u64 },
    /// Pages of its own.
    Pages { frames: Box<[Pfn]> },
}

#[derive(Debug)]
struct Allocation {
    info: PoolAllocation,
    backing: Backing,
}

impl Allocation {
    /// Bytes of VA the allocation occupies.
    fn span(&self, pages: &BTreeMap<u64, PoolPage>) -> u64 {
        match &self.backing {
            Backing::Block { page } => {
                pages.get(page).map_or(self.info.bytes, |page| class_bytes(page.class))
            }
            Backing::Pages { frames } => frames.len() as u64 * PAGE_SIZE,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    /// Live allocations by address.
    allocations: BTreeMap<u64, Allocation>,
    /// Pool pages of the size classes by address.
    pages: BTreeMap<u64, PoolPage>,
    /// Per pool type and class, the pages with a free block.
    partial: [[BTreeSet<u64>; CLASS_COUNT]; 2],
    /// The most recently freed addresses and their tags.
    freed: VecDeque<(u64, u32)>,
}

impl State {
    fn remember_free(&mut self, address: u64, tag: u32) {
        if self.freed.len() == FREED_HISTORY {
            self.freed.pop_front();
        }
        self.freed.push_back((address, tag));
    }

    /// Why `address` is not a live allocation's start.
    fn classify_bad_free(&self, address: VirtualAddress) -> FreePoolError {
        let remembered = self.freed.iter().rev().find(|(freed, _)| *freed == address.0).map(|&(_, tag)| tag);
        if let Some(page) = self.pages.get(&address.page_base().0) {
            let size = class_bytes(page.class);
            let offset = address.page_offset();
            return if offset % size == 0 && !page.is_used((offset / size) as usize) {
                FreePoolError::AlreadyFree { address, tag: remembered }
            } else {
                FreePoolError::NotAnAllocation { address }
            };
        }
        let inside = self
            .allocations
            .range(..=address.0)
            .next_back()
            .is_some_and(|(&base, allocation)| address.0 - base < allocation.span(&self.pages));
        if inside {
            FreePoolError::NotAnAllocation { address }
        } else if remembered.is_some() {
            FreePoolError::AlreadyFree { address, tag: remembered }
        } else {
            FreePoolError::NeverPool { address }
        }
    }
}

/// The pool of one machine.
#[derive(Debug, Default)]
pub struct Pool {
    state: Mutex<State>,
}

/// A pool allocation owned by Rust code: freed when dropped.
#[must_use = "dropping the buffer frees it at once"]
#[derive(Debug)]
pub struct PoolBuffer<'mm> {
    mm: &'mm MemoryManager,
    address: VirtualAddress,
    bytes: u64,
    tag: u32,
}

impl PoolBuffer<'_> {
    /// The first byte.
    pub fn address(&self) -> VirtualAddress {
        self.address
    }

    /// The first byte as a pointer (real on the hosted machine and on metal).
    pub fn as_ptr(&self) -> *mut u8 {
        self.address.as_ptr()
    }

    /// Bytes asked for.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    /// Always `false`: zero-byte pool requests are refused.
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The tag.
    pub fn tag(&self) -> u32 {
        self.tag
    }

    /// Gives up ownership without freeing: the allocation lives until
    /// [`MemoryManager::free_pool`] is called with the address.
    pub fn into_raw(self) -> VirtualAddress {
        let address = self.address;
        core::mem::forget(self);
        address
    }
}

impl Drop for PoolBuffer<'_> {
    fn drop(&mut self) {
        // The handle owns the allocation, so only the IRQL rule can refuse; the allocation
        // then stays (and shows up in leak reports).
        let _ = self.mm.free_pool(self.address, Some(self.tag));
    }
}

impl MemoryManager {
    /// `ExAllocatePoolWithTag`: `bytes` bytes of `pool_type`, 16-byte aligned (whole pages,
    /// page-aligned, above [`LARGEST_SMALL_ALLOCATION`] bytes), zeroed if `zeroed`.
    /// `location` is the caller, kept for leak reports.
    ///
    /// # IRQL
    /// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
    pub fn allocate_pool(
        &self,
        pool_type: PoolType,
        bytes: u64,
        tag: u32,
        zeroed: bool,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, PoolError> {
        self.allocate_pool_with(PoolRequest { pool_type, bytes, tag, zeroed, cache_aligned: false }, location)
    }

    /// As [`allocate_pool`](Self::allocate_pool), with every option of a [`PoolRequest`].
    ///
    /// # IRQL
    /// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
    pub fn allocate_pool_with(
        &self,
        request: PoolRequest,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, PoolError> {
        irql::check(self.current_irql(), request.pool_type.maximum_irql()).map_err(PoolError::Irql)?;
        if request.bytes == 0 {
            return Err(PoolError::ZeroBytes);
        }
        if let Some(error) = tag_error(request.tag) {
            return Err(error);
        }
        if request.bytes > LARGEST_SMALL_ALLOCATION {
            self.allocate_pool_pages(request, location)
        } else {
            self.allocate_pool_block(request, location)
        }
    }

    /// Allocates pool owned by the returned handle, which frees it when dropped.
    ///
    /// # IRQL
    /// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
    #[track_caller]
    pub fn allocate_pool_buffer(
        &self,
        pool_type: PoolType,
        bytes: u64,
        tag: u32,
        zeroed: bool,
    ) -> Result<PoolBuffer<'_>, PoolError> {
        let address = self.allocate_pool(pool_type, bytes, tag, zeroed, Location::caller())?;
        Ok(PoolBuffer { mm: self, address, bytes, tag })
    }

    /// `ExFreePoolWithTag` (`tag` = `Some`) or `ExFreePool` (`None`): frees the allocation that
    /// starts at `address`.
    ///
    /// # IRQL
    /// Nonpaged pool at most `DISPATCH_LEVEL`; paged pool at most `APC_LEVEL`.
    pub fn free_pool(&self, address: VirtualAddress, tag: Option<u32>) -> Result<(), FreePoolError> {
        let irql = self.current_irql();
        let mut state = self.pool.state.lock();
        let Some(allocation) = state.allocations.get(&address.0) else {
            return Err(state.classify_bad_free(address));
        };
        let info = allocation.info;
        irql::check(irql, info.pool_type.maximum_irql())
            .map_err(|error| FreePoolError::Irql { error, pool_type: info.pool_type })?;
        if let Some(passed) = tag
            && passed != info.tag
        {
            return Err(FreePoolError::WrongTag { address, allocated: info.tag, passed });
        }
        let Some(allocation) = state.allocations.remove(&address.0) else {
            return Err(FreePoolError::NeverPool { address });
        };
        state.remember_free(address.0, info.tag);
        drop(state);
        // An MDL from MmAllocatePagesForMdl freed before MmFreePagesFromMdl leaks its pages, as
        // on Windows; forgetting it keeps a later MDL at this address from inheriting them.
        self.pages_for_mdl.forget(address);
        let mut state = self.pool.state.lock();
        match allocation.backing {
            Backing::Pages { frames } => {
                drop(state);
                self.release_pool_frames(address, &frames);
            }
            Backing::Block { page: page_address } => {
                let State { pages, partial, .. } = &mut *state;
                let Some(page) = pages.get_mut(&page_address) else { return Ok(()) };
                let size = class_bytes(page.class);
                page.release_block((address.page_offset() / size) as usize);
                let free_list = &mut partial[page.pool_type.index()][page.class];
                if page.is_empty() {
                    free_list.remove(&page_address);
                    let frame = page.frame;
                    pages.remove(&page_address);
                    drop(state);
                    self.release_pool_frames(VirtualAddress(page_address), &[frame]);
                } else {
                    free_list.insert(page_address);
                }
            }
        }
        Ok(())
    }

    /// The live allocation containing `address` (from its start to the bytes asked for).
    ///
    /// # IRQL
    /// Any.
    pub fn pool_allocation(&self, address: VirtualAddress) -> Option<PoolAllocation> {
        let state = self.pool.state.lock();
        let (_, allocation) = state.allocations.range(..=address.0).next_back()?;
        (address.0 - allocation.info.address.0 < allocation.info.bytes).then_some(allocation.info)
    }

    /// Every live allocation, by address (for leak reports).
    ///
    /// # IRQL
    /// Any.
    pub fn pool_allocations(&self) -> Vec<PoolAllocation> {
        self.pool.state.lock().allocations.values().map(|allocation| allocation.info).collect()
    }

    /// Pages the pool's size classes hold (for reports and tests).
    ///
    /// # IRQL
    /// Any.
    pub fn pool_pages(&self) -> usize {
        self.pool.state.lock().pages.len()
    }

    /// A block from a pool page of the request's class, carving a new page when none has room.
    fn allocate_pool_block(
        &self,
        request: PoolRequest,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, PoolError> {
        let class = class_of(request.bytes, request.cache_aligned);
        let size = class_bytes(class);
        let type_index = request.pool_type.index();
        let info = |address| PoolAllocation {
            address,
            bytes: request.bytes,
            tag: request.tag,
            pool_type: request.pool_type,
            whole_pages: false,
            location,
        };
        let mut state = self.pool.state.lock();
        let found = state.partial[type_index][class].first().copied();
        let (address, frame) = match found {
            Some(page_address) => {
                let State { pages, partial, .. } = &mut *state;
                let Some(page) = pages.get_mut(&page_address) else {
                    return Err(PoolError::OutOfMemory);
                };
                let Some(block) = page.take_block() else { return Err(PoolError::OutOfMemory) };
                if page.is_full() {
                    partial[type_index][class].remove(&page_address);
                }
                let address = VirtualAddress(page_address + block as u64 * size);
                let frame = page.frame;
                state.allocations.insert(
                    address.0,
                    Allocation { info: info(address), backing: Backing::Block { page: page_address } },
                );
                (address, frame)
            }
            None => {
                // Map a new page without holding the pool lock; it is private until inserted.
                drop(state);
                let (page_address, frame) = self.map_pool_frames(1)?;
                let frame = frame[0];
                let mut page = PoolPage::new(request.pool_type, class, frame);
                let block = page.take_block().unwrap_or(0);
                let address = VirtualAddress(page_address.0 + block as u64 * size);
                state = self.pool.state.lock();
                if !page.is_full() {
                    state.partial[type_index][class].insert(page_address.0);
                }
                state.pages.insert(page_address.0, page);
                state.allocations.insert(
                    address.0,
                    Allocation { info: info(address), backing: Backing::Block { page: page_address.0 } },
                );
                (address, frame)
            }
        };
        drop(state);
        if request.zeroed {
            self.zero_in_frame(frame, address.page_offset(), size);
        }
        Ok(address)
    }

    /// Pages of their own for a large request.
    fn allocate_pool_pages(
        &self,
        request: PoolRequest,
        location: &'static Location<'static>,
    ) -> Result<VirtualAddress, PoolError> {
        let pages = bytes_to_pages(request.bytes);
        let (address, frames) = self.map_pool_frames(pages)?;
        if request.zeroed {
            let memory = self.platform.physical_memory();
            for &frame in &frames {
                memory.zero(frame);
            }
        }
        let info = PoolAllocation {
            address,
            bytes: request.bytes,
            tag: request.tag,
            pool_type: request.pool_type,
            whole_pages: true,
            location,
        };
        let backing = Backing::Pages { frames: frames.into_boxed_slice() };
        self.pool.state.lock().allocations.insert(address.0, Allocation { info, backing });
        Ok(address)
    }

    /// `pages` RAM frames (not necessarily contiguous), recorded write-back and mapped
    /// read-write, no-execute. Nothing is kept on failure.
    fn map_pool_frames(&self, pages: u64) -> Result<(VirtualAddress, Vec<Pfn>), PoolError> {
        // Checked first so that an absurd size never reaches a vector allocation.
        if pages > self.pfns.free_frames() {
            return Err(PoolError::OutOfMemory);
        }
        if pages > self.system_va.free_pages() {
            return Err(PoolError::VaExhausted);
        }
        let mut frames = Vec::with_capacity(pages as usize);
        for _ in 0..pages {
            match self.pfns.allocate(1, &Placement::ANY, PageUse::Allocated) {
                Ok(frame) => {
                    // The frame was just allocated, so it is RAM and the call cannot fail.
                    let _ = self.pfns.set_cache(frame, Some(CachePolicy::WriteBack));
                    frames.push(frame);
                }
                Err(_) => {
                    self.free_pool_frames(&frames);
                    return Err(PoolError::OutOfMemory);
                }
            }
        }
        let caches = alloc::vec![CachePolicy::WriteBack; frames.len()];
        match self.map_frames(&frames, &caches, FrameRights { writable: true, executable: false }) {
            Ok(address) => Ok((address, frames)),
            Err(error) => {
                self.free_pool_frames(&frames);
                Err(error.into())
            }
        }
    }

    /// Unmaps pool pages at `address` and frees their frames.
    fn release_pool_frames(&self, address: VirtualAddress, frames: &[Pfn]) {
        self.unmap_frames(address, frames.len() as u64);
        self.free_pool_frames(frames);
    }

    fn free_pool_frames(&self, frames: &[Pfn]) {
        for &frame in frames {
            // The pool owns these frames, so the free succeeds and forgets the attribute,
            // unless a driver left a frame locked (an MDL over freed pool): it then stays
            // allocated rather than being handed out while locked.
            let _ = self.pfns.free(frame, 1, PageUse::Allocated);
        }
    }

    /// Zeroes `bytes` bytes at `offset` in `frame`, through the platform's physical memory (so
    /// it also works where system VA is not a pointer, as in the emulated MMU).
    fn zero_in_frame(&self, frame: Pfn, offset: u64, bytes: u64) {
        let Some(pointer) = self.platform.physical_memory().frame(frame) else { return };
        let length = bytes.min(PAGE_SIZE - offset.min(PAGE_SIZE));
        // SAFETY: `PhysicalMemory::frame` promises 4096 writable bytes at `pointer`; the range
        // `[offset, offset + length)` lies inside them (length is clipped to the page). The
        // block belongs to the allocation being made, so no one else has it yet.
        unsafe { pointer.cast::<u8>().add(offset as usize).write_bytes(0, length as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_power_of_two_classes() {
        assert_eq!(class_bytes(class_of(1, false)), 16);
        assert_eq!(class_bytes(class_of(16, false)), 16);
        assert_eq!(class_bytes(class_of(17, false)), 32);
        assert_eq!(class_bytes(class_of(1, true)), 64);
        assert_eq!(class_bytes(class_of(65, true)), 128);
        assert_eq!(class_bytes(class_of(LARGEST_SMALL_ALLOCATION, false)), 2048);
        assert_eq!(class_of(LARGEST_SMALL_ALLOCATION, false), CLASS_COUNT - 1);
    }

    #[test]
    fn a_page_hands_out_each_block_once_lowest_first() {
        for class in 0..CLASS_COUNT {
            let mut page = PoolPage::new(PoolType::NonPaged, class, Pfn(1));
            assert!(page.is_empty());
            for block in 0..blocks_per_page(class) {
                assert_eq!(page.take_block(), Some(block));
            }
            assert!(page.is_full());
            assert_eq!(page.take_block(), None);
            page.release_block(1);
            assert!(!page.is_used(1) && page.is_used(0));
            assert_eq!(page.take_block(), Some(1));
            for block in 0..blocks_per_page(class) {
                page.release_block(block);
            }
            assert!(page.is_empty());
        }
    }

    #[test]
    fn pool_types_and_flags_decode() {
        assert_eq!(PoolType::from_nt(0), Ok((PoolType::NonPaged, false)));
        assert_eq!(PoolType::from_nt(516), Ok((PoolType::NonPaged, true)));
        assert_eq!(PoolType::from_nt(5), Ok((PoolType::Paged, true)));
        assert_eq!(PoolType::from_nt(2), Err(InvalidPoolType::MustSucceed(2)));
        assert_eq!(PoolType::from_nt(32), Err(InvalidPoolType::Unsupported(32)));
        let flags = PoolFlags::decode(POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED).unwrap();
        assert_eq!((flags.pool_type, flags.nt_pool_type, flags.zeroed), (PoolType::NonPaged, 512, false));
        assert_eq!(
            PoolFlags::decode(POOL_FLAG_PAGED | POOL_FLAG_SESSION),
            Err(InvalidPoolFlags::UnsupportedRequiredFlags(POOL_FLAG_SESSION))
        );
        assert_eq!(PoolFlags::decode(0), Err(InvalidPoolFlags::PoolTypeNotExactlyOne(0)));
        assert!(PoolFlags::decode(POOL_FLAG_PAGED | POOL_FLAG_SPECIAL_POOL).is_ok());
    }

    #[test]
    fn tags_need_a_letter_or_digit() {
        assert_eq!(tag_error(0), Some(PoolError::ZeroTag));
        assert_eq!(tag_error(u32::from_le_bytes(*b"Mdl ")), None);
        assert_eq!(tag_error(u32::from_le_bytes(*b"   9")), None);
        assert_eq!(tag_error(0x8000_0000 | u32::from_le_bytes(*b"Ab\0\0")), None);
        assert_eq!(tag_error(0x2020_2020), Some(PoolError::TagWithoutLettersOrDigits(0x2020_2020)));
        assert_eq!(tag_error(0x8000_0000), Some(PoolError::TagWithoutLettersOrDigits(0x8000_0000)));
    }
}
