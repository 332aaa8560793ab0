//! The memory descriptor list (MDL): its x64 layout, its flag bits and the `wdm.h` macros that
//! read it (`MmInitializeMdl`, `MmSizeOfMdl`, `MmGetMdlVirtualAddress`, `MmGetMdlPfnArray`, ...).
//! The MDL *routines* (allocation, locking, mapping) live elsewhere; this module is only the data
//! structure and its formulas.
//!
//! An MDL is a 48-byte header directly followed by an array of page frame numbers. Driver code
//! expands the header macros inside its own binary and reads `MdlFlags` and `MappedSystemVa`
//! straight from memory, so the layout here is the exact x64 one and the memory manager must
//! keep those fields current in memory at all times instead of caching them anywhere.
//!
//! [`Mdl`] is the header as a plain `#[repr(C)]` struct, handy for formulas and tests.
//! [`MdlPtr`] is the view the memory manager uses on MDLs that live in memory shared with C
//! code: it reads and writes single fields through the raw pointer and never creates a
//! long-lived `&mut Mdl`, because a Rust reference would promise an exclusivity (or, for `&`,
//! an immutability) that C code holding the same MDL does not respect.
//!
//! The number of PFN entries is always derived from `StartVa`/`ByteOffset`/`ByteCount`
//! ([`Mdl::page_count`]), never from `Size`: `Size` is a signed 16-bit field that overflows once
//! an MDL describes about 4090 pages, while MDLs may describe up to 4 GB − 4 KB.

use alloc::vec;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::mem::{offset_of, size_of};
use core::ptr::{self, NonNull};

use crate::address::{Pfn, VirtualAddress, span_pages};

/// `sizeof(MDL)` on x64: the bytes of the header in front of the PFN array.
pub const MDL_HEADER_SIZE: u64 = 48;

/// `sizeof(PFN_NUMBER)` on x64: the bytes of one PFN array entry.
pub const PFN_NUMBER_SIZE: u64 = 8;

/// The header words a [`MdlBuffer`] spends before its PFN array.
const HEADER_WORDS: usize = (MDL_HEADER_SIZE / PFN_NUMBER_SIZE) as usize;

/// The MDL bit values of `wdm.h` (contract §4.2), as the `u16` bit pattern of the signed
/// `MdlFlags` field.
pub mod flags {
    /// `MappedSystemVa` holds a system-space mapping made for this MDL.
    pub const MDL_MAPPED_TO_SYSTEM_VA: u16 = 0x0001;
    /// The pages are locked (by `MmProbeAndLockPages`, or allocated already locked).
    pub const MDL_PAGES_LOCKED: u16 = 0x0002;
    /// Built by `MmBuildMdlForNonPagedPool`; `MappedSystemVa` is `StartVa + ByteOffset`.
    pub const MDL_SOURCE_IS_NONPAGED_POOL: u16 = 0x0004;
    /// The header came from the I/O manager's lookaside list of fixed-size MDLs.
    pub const MDL_ALLOCATED_FIXED_SIZE: u16 = 0x0008;
    /// Built by `IoBuildPartialMdl`.
    pub const MDL_PARTIAL: u16 = 0x0010;
    /// A partial MDL that received a system mapping of its own.
    pub const MDL_PARTIAL_HAS_BEEN_MAPPED: u16 = 0x0020;
    /// A paging read is in progress.
    pub const MDL_IO_PAGE_READ: u16 = 0x0040;
    /// Locked for write or modify access.
    pub const MDL_WRITE_OPERATION: u16 = 0x0080;
    /// A partial MDL whose parent has a system mapping (shares that mapping).
    pub const MDL_PARENT_MAPPED_SYSTEM_VA: u16 = 0x0100;
    /// The older name of [`MDL_PARENT_MAPPED_SYSTEM_VA`]; same bit.
    pub const MDL_LOCKED_PAGE_TABLES: u16 = MDL_PARENT_MAPPED_SYSTEM_VA;
    /// Extra PTEs of the mapping must be freed (older name of this bit: `MDL_LOCK_HELD`).
    pub const MDL_FREE_EXTRA_PTES: u16 = 0x0200;
    /// Describes AWE memory. This bit's older names include `MDL_SYSTEM_VA`, which
    /// [`MDL_MAPPING_FLAGS`] still includes.
    pub const MDL_DESCRIBES_AWE: u16 = 0x0400;
    /// Describes frames that are not RAM (device memory).
    pub const MDL_IO_SPACE: u16 = 0x0800;
    /// Used by NDIS.
    pub const MDL_NETWORK_HEADER: u16 = 0x1000;
    /// Legacy: `MmMapLockedPages` / `MmGetSystemAddressForMdl` return NULL instead of bug-checking.
    /// One of the two bits drivers may still set themselves.
    pub const MDL_MAPPING_CAN_FAIL: u16 = 0x2000;
    /// The page contents do not change while the MDL is in use.
    pub const MDL_PAGE_CONTENTS_INVARIANT: u16 = 0x4000;
    /// Another name for [`MDL_PAGE_CONTENTS_INVARIANT`]; same bit.
    pub const MDL_ALLOCATED_MUST_SUCCEED: u16 = MDL_PAGE_CONTENTS_INVARIANT;
    /// Internal to the memory manager (older name: `MDL_64_BIT_VA`).
    pub const MDL_INTERNAL: u16 = 0x8000;

    /// The bit `MDL_MAPPING_FLAGS` calls `MDL_SYSTEM_VA`; current headers no longer define that
    /// name on its own, it is the bit now named [`MDL_DESCRIBES_AWE`].
    const MDL_SYSTEM_VA: u16 = MDL_DESCRIBES_AWE;

    /// `MDL_MAPPING_FLAGS`: the bits saying the MDL already has a system-space view of some kind.
    pub const MDL_MAPPING_FLAGS: u16 = MDL_MAPPED_TO_SYSTEM_VA
        | MDL_PAGES_LOCKED
        | MDL_SOURCE_IS_NONPAGED_POOL
        | MDL_PARTIAL_HAS_BEEN_MAPPED
        | MDL_PARENT_MAPPED_SYSTEM_VA
        | MDL_SYSTEM_VA
        | MDL_IO_SPACE;
}

/// The MDL header, laid out exactly as `struct _MDL` on x64 (contract §4.1). The PFN array
/// (`u64` entries) follows it directly in memory, at offset [`MDL_HEADER_SIZE`].
///
/// The fields are public because this is a C structure; code that handles MDLs shared with
/// drivers should go through [`MdlPtr`] instead of references to this type.
#[repr(C)]
#[derive(Debug)]
pub struct Mdl {
    /// `Next`: the chain link (drivers may use it).
    pub next: *mut Mdl,
    /// `Size`: header plus PFN array in bytes, truncated to 16 bits. Informational only: it
    /// overflows for large MDLs, so nothing is bounded by it.
    pub size: i16,
    /// `MdlFlags`: the [`flags`] bits, as a signed 16-bit field.
    pub mdl_flags: i16,
    /// `Process`: the process owning a user-space buffer (opaque here).
    pub process: *mut c_void,
    /// `MappedSystemVa`: the system-space view of the buffer, when a flag says there is one.
    pub mapped_system_va: *mut c_void,
    /// `StartVa`: the page-aligned VA of the buffer's first page (may legitimately be 0).
    pub start_va: *mut c_void,
    /// `ByteCount`: the length of the described buffer.
    pub byte_count: u32,
    /// `ByteOffset`: the offset of the buffer within its first page.
    pub byte_offset: u32,
}

// The layout is part of the driver ABI: the macros compiled into drivers use these offsets.
const _: () = {
    assert!(size_of::<Mdl>() as u64 == MDL_HEADER_SIZE);
    assert!(size_of::<Mdl>() == 0x30);
    assert!(offset_of!(Mdl, next) == 0x00);
    assert!(offset_of!(Mdl, size) == 0x08);
    assert!(offset_of!(Mdl, mdl_flags) == 0x0A);
    assert!(offset_of!(Mdl, process) == 0x10);
    assert!(offset_of!(Mdl, mapped_system_va) == 0x18);
    assert!(offset_of!(Mdl, start_va) == 0x20);
    assert!(offset_of!(Mdl, byte_count) == 0x28);
    assert!(offset_of!(Mdl, byte_offset) == 0x2C);
    // The PFN array directly after the header is 8-aligned as `PFN_NUMBER` requires.
    assert!(align_of::<Mdl>() == 8);
};

/// `MmSizeOfMdl(Base, Length)`: the bytes an MDL describing `length` bytes at `base` needs,
/// header plus one PFN entry per spanned page. Wrapping arithmetic, as the C macro computes it:
/// the caller must keep the sum from overflowing (it cannot for lengths up to 4 GB).
pub const fn size_of_mdl(base: u64, length: u64) -> u64 {
    MDL_HEADER_SIZE.wrapping_add(span_pages(base, length).wrapping_mul(PFN_NUMBER_SIZE))
}

impl Mdl {
    /// `MmGetMdlVirtualAddress`: `StartVa + ByteOffset`, the VA of the buffer's first byte (for a
    /// user buffer it means something only in the owning process).
    pub fn virtual_address(&self) -> u64 {
        (self.start_va.addr() as u64).wrapping_add(u64::from(self.byte_offset))
    }

    /// `MmGetMdlByteCount`: the length of the described buffer.
    pub const fn byte_count(&self) -> u32 {
        self.byte_count
    }

    /// `MmGetMdlByteOffset`: the buffer's offset within its first page.
    pub const fn byte_offset(&self) -> u32 {
        self.byte_offset
    }

    /// The number of PFN entries: span pages(`MmGetMdlVirtualAddress`, `ByteCount`). This, not
    /// `Size`, bounds the PFN array.
    pub fn page_count(&self) -> u64 {
        span_pages(self.virtual_address(), u64::from(self.byte_count))
    }

    /// `MdlFlags` as its unsigned bit pattern.
    pub const fn flags(&self) -> u16 {
        self.mdl_flags as u16
    }

    /// Replaces all of `MdlFlags` with `flags`.
    pub const fn set_flags(&mut self, flags: u16) {
        self.mdl_flags = flags as i16;
    }

    /// Sets the bits of `flags`, leaving the others alone.
    pub const fn insert_flags(&mut self, flags: u16) {
        self.set_flags(self.flags() | flags);
    }

    /// Clears the bits of `flags`, leaving the others alone.
    pub const fn remove_flags(&mut self, flags: u16) {
        self.set_flags(self.flags() & !flags);
    }

    /// Whether *every* bit of `flags` is set.
    pub const fn has_flags(&self, flags: u16) -> bool {
        self.flags() & flags == flags
    }

    /// Whether *any* bit of `flags` is set (as `MmGetSystemAddressForMdlSafe` tests its two bits).
    pub const fn has_any_flags(&self, flags: u16) -> bool {
        self.flags() & flags != 0
    }
}

/// `MmInitializeMdl(Mdl, BaseVa, Length)`: `Next` = NULL; `Size` = [`size_of_mdl`] truncated to
/// 16 bits; `MdlFlags` = 0; `StartVa` = `PAGE_ALIGN(BaseVa)`; `ByteOffset` =
/// `BYTE_OFFSET(BaseVa)`; `ByteCount` = `Length` truncated to 32 bits. `Process`,
/// `MappedSystemVa` and the PFN array are left as they are, as the macro leaves them.
///
/// # Safety
/// `mdl` must be 8-byte aligned and valid for writes of [`MDL_HEADER_SIZE`] bytes, and nothing
/// else may access those bytes during the call.
pub unsafe fn initialize(mdl: *mut Mdl, base_va: u64, length: u64) {
    debug_assert!(mdl.is_aligned(), "misaligned MDL {mdl:p}");
    let va = VirtualAddress(base_va);
    // SAFETY: the caller guarantees an aligned, writable, unshared 48-byte header at `mdl`, so
    // each in-bounds field projection below is aligned and valid for a write. Field-wise writes
    // keep `Process` and `MappedSystemVa` untouched, as `MmInitializeMdl` does.
    unsafe {
        (&raw mut (*mdl).next).write(ptr::null_mut());
        // Truncation is the macro's behaviour (`CSHORT` field); nothing relies on `Size`.
        (&raw mut (*mdl).size).write(size_of_mdl(base_va, length) as u16 as i16);
        (&raw mut (*mdl).mdl_flags).write(0);
        (&raw mut (*mdl).start_va).write(va.page_base().as_ptr());
        (&raw mut (*mdl).byte_offset).write(va.page_offset() as u32);
        (&raw mut (*mdl).byte_count).write(length as u32);
    }
}

/// A pointer to an MDL in memory that C code may share: every accessor reads or writes one field
/// in place, so what drivers see in memory is always current, and nothing is cached here.
///
/// The value is a trusted handle: whoever creates it with [`from_raw`](Self::from_raw) vouches
/// for the memory for as long as the handle and its copies are used, which is why the accessors
/// themselves are safe. The memory manager upholds that by serialising work on each MDL, as NT
/// requires of an MDL's owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MdlPtr(NonNull<Mdl>);

// SAFETY: the pointer is only dereferenced under the `from_raw` contract, which does not tie the
// MDL to a thread: it is ordinary (nonpaged) memory that NT lets any processor use, and the
// contract already requires accesses to be serialised. Moving the handle to another thread
// therefore allows nothing the contract does not already cover.
unsafe impl Send for MdlPtr {}

impl MdlPtr {
    /// Wraps a raw MDL pointer; `None` when it is NULL.
    ///
    /// # Safety
    /// For as long as the returned value or any copy of it is used:
    /// - `pointer` is 8-byte aligned and points to an MDL header valid for reads and writes,
    ///   followed by room (valid for reads and writes) for the [`page_count`](Self::page_count)
    ///   PFN entries that the header describes at the time of each call;
    /// - no other code (Rust or C, on any processor) accesses the header or PFN array while a
    ///   method of this type runs, except for reads of what that method does not write.
    pub unsafe fn from_raw(pointer: *mut Mdl) -> Option<MdlPtr> {
        debug_assert!(pointer.is_aligned(), "misaligned MDL {pointer:p}");
        NonNull::new(pointer).map(MdlPtr)
    }

    /// The raw pointer, e.g. to hand the MDL back to C code.
    pub const fn as_ptr(self) -> *mut Mdl {
        self.0.as_ptr()
    }

    /// `Next`: the chain link.
    pub fn next(self) -> *mut Mdl {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).next).read() }
    }

    /// Stores `Next`.
    #[expect(
        clippy::not_unsafe_ptr_arg_deref,
        reason = "the pointer is stored in the MDL, never dereferenced"
    )]
    pub fn set_next(self, next: *mut Mdl) {
        // SAFETY: `from_raw`'s contract makes the header writable and free of concurrent access.
        unsafe { (&raw mut (*self.as_ptr()).next).write(next) }
    }

    /// `MdlFlags` as its unsigned bit pattern.
    pub fn flags(self) -> u16 {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).mdl_flags).read() as u16 }
    }

    /// Replaces all of `MdlFlags` with `flags`.
    pub fn set_flags(self, flags: u16) {
        // SAFETY: `from_raw`'s contract makes the header writable and free of concurrent access.
        unsafe { (&raw mut (*self.as_ptr()).mdl_flags).write(flags as i16) }
    }

    /// Sets the bits of `flags`, leaving the others alone. A read-modify-write: `from_raw`'s
    /// contract excludes concurrent writers.
    pub fn insert_flags(self, flags: u16) {
        self.set_flags(self.flags() | flags);
    }

    /// Clears the bits of `flags`, leaving the others alone.
    pub fn remove_flags(self, flags: u16) {
        self.set_flags(self.flags() & !flags);
    }

    /// Whether *every* bit of `flags` is set.
    pub fn has_flags(self, flags: u16) -> bool {
        self.flags() & flags == flags
    }

    /// Whether *any* bit of `flags` is set.
    pub fn has_any_flags(self, flags: u16) -> bool {
        self.flags() & flags != 0
    }

    /// `Size` as stored (truncated to 16 bits; informational only, see [`Mdl::size`]).
    pub fn size(self) -> i16 {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).size).read() }
    }

    /// `Process`.
    pub fn process(self) -> *mut c_void {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).process).read() }
    }

    /// Stores `Process`.
    #[expect(
        clippy::not_unsafe_ptr_arg_deref,
        reason = "the pointer is stored in the MDL, never dereferenced"
    )]
    pub fn set_process(self, process: *mut c_void) {
        // SAFETY: `from_raw`'s contract makes the header writable and free of concurrent access.
        unsafe { (&raw mut (*self.as_ptr()).process).write(process) }
    }

    /// `MappedSystemVa`.
    pub fn mapped_system_va(self) -> *mut c_void {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).mapped_system_va).read() }
    }

    /// Stores `MappedSystemVa` (drivers read it directly, so it is written through at once).
    #[expect(
        clippy::not_unsafe_ptr_arg_deref,
        reason = "the pointer is stored in the MDL, never dereferenced"
    )]
    pub fn set_mapped_system_va(self, va: *mut c_void) {
        // SAFETY: `from_raw`'s contract makes the header writable and free of concurrent access.
        unsafe { (&raw mut (*self.as_ptr()).mapped_system_va).write(va) }
    }

    /// `MappedSystemVa` as an address (what `MmGetSystemAddressForMdlSafe` returns when a flag
    /// says there is a system view).
    pub fn mapped_system_va_address(self) -> VirtualAddress {
        VirtualAddress::from_ptr(self.mapped_system_va())
    }

    /// `StartVa`: the page-aligned VA of the buffer's first page.
    pub fn start_va(self) -> *mut c_void {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).start_va).read() }
    }

    /// `MmGetMdlByteOffset`.
    pub fn byte_offset(self) -> u32 {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).byte_offset).read() }
    }

    /// `MmGetMdlByteCount`.
    pub fn byte_count(self) -> u32 {
        // SAFETY: `from_raw`'s contract makes the header readable and free of concurrent writes.
        unsafe { (&raw const (*self.as_ptr()).byte_count).read() }
    }

    /// `MmGetMdlVirtualAddress`: `StartVa + ByteOffset`.
    pub fn virtual_address(self) -> u64 {
        (self.start_va().addr() as u64).wrapping_add(u64::from(self.byte_offset()))
    }

    /// The number of PFN entries, from `StartVa`/`ByteOffset`/`ByteCount` (never from `Size`).
    pub fn page_count(self) -> u64 {
        span_pages(self.virtual_address(), u64::from(self.byte_count()))
    }

    /// `MmGetMdlPfnArray`: the address directly after the header. Computing it needs no access.
    pub fn pfn_array_address(self) -> *mut u64 {
        // `Mdl + 1` in C: one header further, i.e. +0x30. `wrapping_add` keeps this free of
        // in-bounds obligations; it is only dereferenced under `from_raw`'s contract.
        self.as_ptr().wrapping_add(1).cast::<u64>()
    }

    /// PFN entry `index`, or `None` if the header describes no such entry. The entry is whatever
    /// is stored: the routine that built the MDL decides whether the array is valid yet.
    pub fn pfn(self, index: u64) -> Option<Pfn> {
        if index >= self.page_count() {
            return None;
        }
        // SAFETY: `index < page_count()`, and `from_raw`'s contract provides readable room for
        // `page_count()` aligned entries after the header, free of concurrent writes.
        Some(Pfn(unsafe { self.pfn_array_address().add(index as usize).read() }))
    }

    /// Stores PFN entry `index`; `false` (and nothing written) if the header describes no such
    /// entry.
    pub fn set_pfn(self, index: u64, pfn: Pfn) -> bool {
        if index >= self.page_count() {
            return false;
        }
        // SAFETY: `index < page_count()`, and `from_raw`'s contract provides writable room for
        // `page_count()` aligned entries after the header, free of concurrent access.
        unsafe { self.pfn_array_address().add(index as usize).write(pfn.0) };
        true
    }

    /// Rewrites `StartVa`, `ByteOffset` and `ByteCount` (what `IoBuildPartialMdl` does to its
    /// target). Other fields are left alone.
    ///
    /// # Safety
    /// The memory behind this MDL must have room for the PFN entries the new header describes,
    /// span pages(`start_va + byte_offset`, `byte_count`), because every later call bounds the
    /// PFN array by that count. (`Size` cannot be trusted to tell how much room there is once
    /// it has overflowed; the caller must know it another way.)
    pub unsafe fn set_header(self, start_va: *mut c_void, byte_offset: u32, byte_count: u32) {
        let mdl = self.as_ptr();
        // SAFETY: `from_raw`'s contract makes the header writable and free of concurrent access;
        // the caller guarantees the room the new header implies.
        unsafe {
            (&raw mut (*mdl).start_va).write(start_va);
            (&raw mut (*mdl).byte_offset).write(byte_offset);
            (&raw mut (*mdl).byte_count).write(byte_count);
        }
    }
}

/// An MDL (header plus PFN array) in a Rust heap buffer, initialised by [`initialize`]. Handy for
/// tests and for code that keeps MDLs on the Rust heap; the memory manager's `IoAllocateMdl`
/// places MDLs in pool instead.
#[derive(Debug)]
pub struct MdlBuffer {
    /// `u64` words so the header and PFN array are 8-aligned: the header's 6 words, then one
    /// word per PFN entry.
    words: Vec<u64>,
}

impl MdlBuffer {
    /// A zeroed buffer with room for the header and the PFN entries of `length` bytes at
    /// `base_va`, initialised as `MmInitializeMdl(base_va, length)` would.
    ///
    /// The room is what the initialised header describes (its `ByteCount` is `length` truncated
    /// to 32 bits), so [`MdlPtr::page_count`] never exceeds it.
    ///
    /// # Panics
    /// If the heap cannot supply the buffer (at most 48 + 8 × (2^20 + 1) bytes).
    pub fn new(base_va: u64, length: u64) -> MdlBuffer {
        let pages = span_pages(base_va, u64::from(length as u32));
        let mut words = vec![0u64; HEADER_WORDS + pages as usize];
        // SAFETY: the vector holds at least 6 words (48 bytes), is 8-aligned as `u64` storage
        // is, and is owned only by this function.
        unsafe { initialize(words.as_mut_ptr().cast::<Mdl>(), base_va, length) };
        MdlBuffer { words }
    }

    /// The header, for inspection.
    pub fn mdl(&self) -> &Mdl {
        // SAFETY: the buffer holds at least 48 initialised, 8-aligned bytes, and every bit
        // pattern is a valid `Mdl` (integers and raw pointers only). The borrow of `self`
        // keeps the storage alive and unchanged for the reference's lifetime.
        unsafe { &*self.words.as_ptr().cast::<Mdl>() }
    }

    /// The header, for direct edits. Changing `ByteCount`/`ByteOffset`/`StartVa` so that the
    /// header describes more pages than [`pfn_slots`](Self::pfn_slots) holds is allowed here,
    /// but then [`as_ptr`](Self::as_ptr) may no longer be used.
    pub fn mdl_mut(&mut self) -> &mut Mdl {
        // SAFETY: as in `mdl`, and the exclusive borrow of `self` makes the reference unique.
        unsafe { &mut *self.words.as_mut_ptr().cast::<Mdl>() }
    }

    /// Every PFN slot of the buffer (as many as the initial header described).
    pub fn pfn_slots(&self) -> &[u64] {
        &self.words[HEADER_WORDS..]
    }

    /// Total bytes of the buffer: the header plus the PFN slots.
    pub fn len_bytes(&self) -> u64 {
        self.words.len() as u64 * PFN_NUMBER_SIZE
    }

    /// A [`MdlPtr`] to this MDL.
    ///
    /// # Safety
    /// The returned pointer (and its copies) must not be used after this buffer is dropped, nor
    /// while a reference obtained from [`mdl`](Self::mdl), [`mdl_mut`](Self::mdl_mut) or
    /// [`pfn_slots`](Self::pfn_slots) is alive, nor from two threads at once, nor after the
    /// header was changed to describe more PFN entries than the buffer holds.
    pub unsafe fn as_ptr(&mut self) -> MdlPtr {
        // The pointer comes from the whole slice, so its provenance covers the PFN array too.
        MdlPtr(NonNull::from(&mut self.words[..]).cast::<Mdl>())
    }
}

#[cfg(test)]
mod tests {
    use super::flags::*;
    use super::*;
    use crate::address::PAGE_SIZE;

    /// A word pattern for memory that `initialize` must not touch.
    const PATTERN: u64 = 0xA5A5_5A5A_DEAD_BEEF;

    #[test]
    fn header_layout_matches_x64_and_pfn_array_follows_it() {
        assert_eq!(size_of::<Mdl>(), 48);
        assert_eq!(MDL_HEADER_SIZE, 0x30);
        assert_eq!(offset_of!(Mdl, size), 0x08);
        assert_eq!(offset_of!(Mdl, mdl_flags), 0x0A);
        assert_eq!(offset_of!(Mdl, process), 0x10);
        assert_eq!(offset_of!(Mdl, byte_offset), 0x2C);
        let mut buffer = MdlBuffer::new(0x1000, 0x2000);
        assert_eq!(buffer.len_bytes(), 48 + 16);
        // SAFETY: `buffer` outlives `mdl`, no references into it are alive, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        assert_eq!(mdl.pfn_array_address() as usize - mdl.as_ptr() as usize, 0x30);
        assert!(mdl.set_pfn(1, Pfn(0x1234)));
        assert_eq!(buffer.pfn_slots(), &[0, 0x1234]);
    }

    #[test]
    fn claim_37_initialized_mdl_header_fields() {
        let mut buffer = MdlBuffer::new(0x7000_1234, 0x3000);
        let header = buffer.mdl();
        assert_eq!(header.byte_offset(), 0x234);
        assert_eq!(header.start_va.addr(), 0x7000_1000);
        assert_eq!(header.byte_count(), 0x3000);
        assert_eq!(header.size, 48 + 8 * 4);
        assert_eq!(header.flags(), 0);
        assert!(header.next.is_null());
        assert_eq!(header.virtual_address(), 0x7000_1234);
        assert_eq!(header.page_count(), 4);
        // SAFETY: `buffer` outlives `mdl`, the reference above is dead, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        assert_eq!(mdl.size(), 80);
        assert_eq!(mdl.start_va().addr(), 0x7000_1000);
        assert_eq!(mdl.byte_offset(), 0x234);
        assert_eq!(mdl.byte_count(), 0x3000);
        assert_eq!(mdl.virtual_address(), 0x7000_1234);
        assert_eq!(mdl.page_count(), 4);
    }

    #[test]
    fn initialize_leaves_process_mapped_system_va_and_pfn_array_alone() {
        let mut words = vec![PATTERN; HEADER_WORDS + 2];
        let mdl = words.as_mut_ptr().cast::<Mdl>();
        // SAFETY: `words` is 8-aligned, 64 bytes long and used by nothing else meanwhile.
        unsafe { initialize(mdl, 0x2FFF, 2) };
        let word = |field: usize| words[field / 8];
        assert_eq!(word(offset_of!(Mdl, process)), PATTERN);
        assert_eq!(word(offset_of!(Mdl, mapped_system_va)), PATTERN);
        assert_eq!(&words[HEADER_WORDS..], &[PATTERN, PATTERN], "no PFN entry filled in");
        assert_eq!(word(offset_of!(Mdl, next)), 0);
        // Size 48 + 16, flags 0, then the padding at 0x0C keeps the pattern's upper half.
        assert_eq!(word(offset_of!(Mdl, size)), 0xA5A5_5A5A_0000_0040);
        assert_eq!(word(offset_of!(Mdl, start_va)), 0x2000);
        assert_eq!(word(offset_of!(Mdl, byte_count)), (0xFFF << 32) | 2);
    }

    #[test]
    fn claim_40_size_of_mdl() {
        assert_eq!(size_of_mdl(0x1000, 0x1000), 48 + 8, "page-aligned, one page");
        assert_eq!(size_of_mdl(0x1000, 0x3000), 48 + 24, "page-aligned, three pages");
        assert_eq!(size_of_mdl(0x1FFF, 2), 48 + 16, "two bytes crossing a page boundary");
        assert_eq!(size_of_mdl(0x1800, 0x1000), 48 + 16, "one page's worth, unaligned");
        assert_eq!(size_of_mdl(0x2000, 0), 48, "zero length, page-aligned");
        assert_eq!(size_of_mdl(0x2001, 0), 48 + 8, "zero length, unaligned");
        assert_eq!(size_of_mdl(0, 0xFFFF_F000), 48 + 8 * 0xF_FFFF, "largest IoAllocateMdl length");
        // Overflowing inputs wrap like the C macro instead of panicking.
        assert_eq!(size_of_mdl(0xFFF, u64::MAX), 48 + 8);
    }

    #[test]
    fn size_truncates_to_16_bits_but_page_count_does_not() {
        let length = 5000 * PAGE_SIZE;
        let mut buffer = MdlBuffer::new(0x10_0000, length);
        assert_eq!(size_of_mdl(0x10_0000, length), 40_048);
        assert_eq!(buffer.mdl().size, (40_048u32 as u16) as i16);
        assert!(buffer.mdl().size < 0, "the CSHORT has overflowed");
        assert_eq!(buffer.pfn_slots().len(), 5000);
        // SAFETY: `buffer` outlives `mdl`, no references into it are alive, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        assert_eq!(mdl.page_count(), 5000);
        assert!(mdl.set_pfn(4999, Pfn(7)));
        assert_eq!(mdl.pfn(4999), Some(Pfn(7)));

        // 8186 pages make Size exactly 65536: it wraps to 0.
        let buffer = MdlBuffer::new(0, 8186 * PAGE_SIZE);
        assert_eq!(buffer.mdl().size, 0);
        assert_eq!(buffer.mdl().page_count(), 8186);
    }

    #[test]
    fn byte_count_truncates_to_32_bits_and_bounds_the_buffer() {
        let buffer = MdlBuffer::new(0x1000, (1 << 32) + 0x2000);
        assert_eq!(buffer.mdl().byte_count(), 0x2000);
        assert_eq!(buffer.mdl().page_count(), 2);
        assert_eq!(buffer.pfn_slots().len(), 2);
    }

    #[test]
    fn pfn_entries_are_bounded_by_the_described_pages() {
        let mut buffer = MdlBuffer::new(0x7000_1FFF, 2);
        // SAFETY: `buffer` outlives `mdl`, no references into it are alive, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        assert_eq!(mdl.page_count(), 2);
        assert_eq!(mdl.pfn(0), Some(Pfn(0)), "never filled, still zeroed");
        assert!(mdl.set_pfn(0, Pfn(0xFEBF1)));
        assert!(mdl.set_pfn(1, Pfn(0xFEBF2)));
        assert!(!mdl.set_pfn(2, Pfn(0xDEAD)));
        assert_eq!(mdl.pfn(0), Some(Pfn(0xFEBF1)));
        assert_eq!(mdl.pfn(1), Some(Pfn(0xFEBF2)));
        assert_eq!(mdl.pfn(2), None);
        assert_eq!(mdl.pfn(u64::MAX), None);
        // SAFETY: single-threaded test; index 1 is inside the two-entry array.
        assert_eq!(unsafe { mdl.pfn_array_address().add(1).read() }, 0xFEBF2);
        assert_eq!(buffer.pfn_slots(), &[0xFEBF1, 0xFEBF2]);

        // A zero-length MDL at a page-aligned VA has no entries at all.
        let mut empty = MdlBuffer::new(0x5000, 0);
        // SAFETY: `empty` outlives `none`, no references into it are alive, single thread.
        let none = unsafe { empty.as_ptr() };
        assert_eq!(none.page_count(), 0);
        assert_eq!(none.pfn(0), None);
        assert!(!none.set_pfn(0, Pfn(1)));
    }

    #[test]
    fn claim_75_mdl_flag_values() {
        assert_eq!(MDL_MAPPED_TO_SYSTEM_VA, 0x1);
        assert_eq!(MDL_PAGES_LOCKED, 0x2);
        assert_eq!(MDL_SOURCE_IS_NONPAGED_POOL, 0x4);
        assert_eq!(MDL_ALLOCATED_FIXED_SIZE, 0x8);
        assert_eq!(MDL_PARTIAL, 0x10);
        assert_eq!(MDL_PARTIAL_HAS_BEEN_MAPPED, 0x20);
        assert_eq!(MDL_IO_PAGE_READ, 0x40);
        assert_eq!(MDL_WRITE_OPERATION, 0x80);
        assert_eq!(MDL_PARENT_MAPPED_SYSTEM_VA, 0x100);
        assert_eq!(MDL_LOCKED_PAGE_TABLES, 0x100);
        assert_eq!(MDL_FREE_EXTRA_PTES, 0x200);
        assert_eq!(MDL_DESCRIBES_AWE, 0x400);
        assert_eq!(MDL_IO_SPACE, 0x800);
        assert_eq!(MDL_NETWORK_HEADER, 0x1000);
        assert_eq!(MDL_MAPPING_CAN_FAIL, 0x2000);
        assert_eq!(MDL_PAGE_CONTENTS_INVARIANT, 0x4000);
        assert_eq!(MDL_ALLOCATED_MUST_SUCCEED, 0x4000);
        assert_eq!(MDL_INTERNAL, 0x8000);
        assert_eq!(MDL_MAPPING_FLAGS, 0x1 | 0x2 | 0x4 | 0x20 | 0x100 | 0x400 | 0x800);
        assert_eq!(MDL_MAPPING_FLAGS, 0x0D27);
    }

    #[test]
    fn flag_helpers_work_on_the_signed_field_bit_pattern() {
        let mut buffer = MdlBuffer::new(0, PAGE_SIZE);
        let header = buffer.mdl_mut();
        header.insert_flags(MDL_INTERNAL | MDL_PAGES_LOCKED);
        assert_eq!(header.mdl_flags, 0x8002u16 as i16, "bit 15 is the sign bit");
        assert!(header.has_flags(MDL_INTERNAL | MDL_PAGES_LOCKED));
        assert!(!header.has_flags(MDL_INTERNAL | MDL_IO_SPACE));
        assert!(header.has_any_flags(MDL_INTERNAL | MDL_IO_SPACE));
        header.remove_flags(MDL_INTERNAL);
        assert_eq!(header.flags(), MDL_PAGES_LOCKED);
        header.set_flags(0);

        // SAFETY: `buffer` outlives `mdl`, `header` is dead, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        mdl.set_flags(MDL_MAPPED_TO_SYSTEM_VA);
        mdl.insert_flags(MDL_PAGES_LOCKED | MDL_INTERNAL);
        assert_eq!(mdl.flags(), 0x8003);
        assert!(mdl.has_flags(MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA));
        assert!(!mdl.has_flags(MDL_SOURCE_IS_NONPAGED_POOL));
        assert!(mdl.has_any_flags(MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL));
        assert!(!mdl.has_any_flags(MDL_SOURCE_IS_NONPAGED_POOL | MDL_IO_SPACE));
        mdl.remove_flags(MDL_MAPPED_TO_SYSTEM_VA | MDL_INTERNAL);
        assert_eq!(mdl.flags(), MDL_PAGES_LOCKED);
        // The write went to memory, where a driver would read it.
        assert_eq!(buffer.mdl().mdl_flags, 0x2);
    }

    #[test]
    fn pointer_fields_are_written_through_to_memory() {
        let mut buffer = MdlBuffer::new(0x3000, 0x10);
        // SAFETY: `buffer` outlives `mdl`, no references into it are alive, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        let va = 0xFFFF_8000_0000_3000usize as *mut c_void;
        let process = 0x1234_5678usize as *mut c_void;
        mdl.set_mapped_system_va(va);
        mdl.set_process(process);
        mdl.set_next(mdl.as_ptr());
        assert_eq!(mdl.mapped_system_va(), va);
        assert_eq!(mdl.mapped_system_va_address(), VirtualAddress(0xFFFF_8000_0000_3000));
        assert_eq!(mdl.process(), process);
        assert_eq!(mdl.next(), mdl.as_ptr());
        let header = buffer.mdl();
        assert_eq!(header.mapped_system_va, va);
        assert_eq!(header.process, process);
    }

    #[test]
    fn set_header_rebounds_the_pfn_array() {
        let mut buffer = MdlBuffer::new(0x4000, 4 * PAGE_SIZE);
        // SAFETY: `buffer` outlives `mdl`, no references into it are alive, single thread.
        let mdl = unsafe { buffer.as_ptr() };
        mdl.set_flags(MDL_PARTIAL);
        // SAFETY: the new header describes 2 pages; the buffer holds 4 PFN slots.
        unsafe { mdl.set_header(0x5000usize as *mut c_void, 0x800, 0x1000) };
        assert_eq!(mdl.virtual_address(), 0x5800);
        assert_eq!(mdl.page_count(), 2);
        assert_eq!(mdl.pfn(2), None);
        assert_eq!(mdl.flags(), MDL_PARTIAL, "flags untouched");
        assert_eq!(mdl.size(), 48 + 32, "size untouched");
    }

    #[test]
    fn from_raw_rejects_null_and_the_handle_is_send() {
        // SAFETY: a null pointer is never dereferenced; `from_raw` returns `None` for it.
        assert_eq!(unsafe { MdlPtr::from_raw(ptr::null_mut()) }, None);
        fn assert_send<T: Send>() {}
        assert_send::<MdlPtr>();
        let mut buffer = MdlBuffer::new(0, 1);
        // SAFETY: `buffer` outlives `mdl`, no references into it are alive, single thread.
        let raw = unsafe { buffer.as_ptr() }.as_ptr();
        // SAFETY: as above; `raw` points at the buffer's initialised header.
        let mdl = unsafe { MdlPtr::from_raw(raw) }.expect("non-null");
        assert_eq!(mdl.byte_count(), 1);
    }
}
