//! The MDL routines on the hosted machine, through the NT facade: `IoAllocateMdl`, `IoFreeMdl`,
//! `MmSizeOfMdl`, `MmProbeAndLockPages`, `MmUnlockPages`, `MmBuildMdlForNonPagedPool`,
//! `IoBuildPartialMdl`, `MmMapLockedPagesSpecifyCache`, `MmUnmapLockedPages`,
//! `MmGetSystemAddressForMdlSafe`, `MmAllocatePagesForMdl(Ex)` and `MmFreePagesFromMdl`.
//!
//! Addresses the routines return are real pointers: the tests read and write through them.

mod common;

use std::ffi::c_void;
use std::fmt::Debug;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;

use common::*;
use iospace_hosted::MachineDescription;
use iospace_hosted::platform::{HostedPlatform, catch_bug_check};
use iospace_hosted::ram::Ram;
use iospace_hosted::window::Window;
use iospace_mm::address::{PAGE_SIZE, Pfn, VirtualAddress};
use iospace_mm::bug_check::{BugCheck, code};
use iospace_mm::caching::{CachePolicy, MemoryCachingType};
use iospace_mm::irql::Irql;
use iospace_mm::mdl::{Mdl, flags};
use iospace_mm::mdl_mapping::{MDL_MAPPING_NO_EXECUTE, MDL_MAPPING_NO_WRITE, NORMAL_PAGE_PRIORITY};
use iospace_mm::memory_manager::{MemoryManager, MmConfig, VerifierOptions};
use iospace_mm::nt;
use iospace_mm::nt_mdl::*;
use iospace_mm::page_table::{PTE_NO_EXECUTE, PTE_WRITABLE};
use iospace_mm::pages_for_mdl::{
    MM_ALLOCATE_FULLY_REQUIRED, MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS, MM_DONT_ZERO_ALLOCATION,
};
use iospace_mm::pat;
use iospace_mm::pfn_database::PageUse;
use iospace_mm::pool::PoolType;
use iospace_mm::protection::PAGE_READONLY;
use iospace_mm::range_allocator::Placement;
use iospace_mm::verifier::DiagnosticKind;

const TAG: u32 = u32::from_le_bytes(*b"Test");
const NON_CACHED: i32 = MemoryCachingType::NonCached as i32;
const CACHED: i32 = MemoryCachingType::Cached as i32;
const WRITE_COMBINED: i32 = MemoryCachingType::WriteCombined as i32;
const KERNEL_MODE: u8 = 0;
const USER_MODE: u8 = 1;
const IO_READ_ACCESS: u32 = 0;
const IO_WRITE_ACCESS: u32 = 1;
const NORMAL: u32 = NORMAL_PAGE_PRIORITY;
const PAGE: usize = PAGE_SIZE as usize;
/// `HighAddress` for "anywhere" (all ones).
const ANYWHERE: i64 = -1;
/// An IRQL above `DISPATCH_LEVEL`.
const ABOVE_DISPATCH: Irql = Irql(3);

fn va(pointer: *const c_void) -> VirtualAddress {
    VirtualAddress::from_ptr(pointer)
}

fn at(pointer: *mut c_void, offset: usize) -> *mut c_void {
    pointer.cast::<u8>().wrapping_add(offset).cast()
}

/// Nonpaged pool of `bytes` bytes, zeroed.
#[track_caller]
fn pool(mm: &MemoryManager, bytes: usize) -> *mut c_void {
    let location = std::panic::Location::caller();
    mm.allocate_pool(PoolType::NonPaged, bytes as u64, TAG, true, location).expect("pool").as_ptr()
}

/// An MDL over `bytes` bytes at `buffer`, probed and locked for write.
#[track_caller]
fn locked_mdl(mm: &MemoryManager, buffer: *mut c_void, bytes: usize) -> *mut Mdl {
    let mdl = io_allocate_mdl(mm, buffer, bytes as u32);
    assert!(!mdl.is_null());
    mm_probe_and_lock_pages(mm, mdl, KERNEL_MODE, IO_WRITE_ACCESS).expect("the buffer locks");
    mdl
}

/// `MmAllocatePagesForMdl` of `pages` pages anywhere.
#[track_caller]
fn pages_for_mdl(mm: &MemoryManager, pages: usize) -> *mut Mdl {
    let mdl = mm_allocate_pages_for_mdl(mm, 0, ANYWHERE, 0, pages * PAGE);
    assert!(!mdl.is_null());
    assert_eq!(byte_count(mdl) as usize, pages * PAGE);
    mdl
}

fn map_cached(mm: &MemoryManager, mdl: *mut Mdl) -> *mut c_void {
    mm_get_system_address_for_mdl_safe(mm, mdl, NORMAL)
}

fn specify_cache(mm: &MemoryManager, mdl: *mut Mdl, cache_type: i32, priority: u32) -> *mut c_void {
    mm_map_locked_pages_specify_cache(mm, mdl, KERNEL_MODE, cache_type, std::ptr::null_mut(), 0, priority)
}

/// A copy of the MDL header.
fn header(mdl: *mut Mdl) -> Mdl {
    // SAFETY: the MDL is live and ours; the header is plain data with no drop glue, and drivers
    // read these fields directly too.
    unsafe { mdl.read() }
}

fn flags_of(mdl: *mut Mdl) -> u16 {
    header(mdl).mdl_flags as u16
}

fn mapped_system_va(mdl: *mut Mdl) -> *mut c_void {
    header(mdl).mapped_system_va
}

fn byte_count(mdl: *mut Mdl) -> u32 {
    header(mdl).byte_count
}

/// Sets `bits` in `MdlFlags` the way a driver would (only legacy bits are tolerated).
fn set_flags(mdl: *mut Mdl, bits: u16) {
    // SAFETY: the MDL is live and ours; nothing else uses it while the test runs.
    unsafe { (*mdl).mdl_flags = ((*mdl).mdl_flags as u16 | bits) as i16 };
}

/// The first `pages` entries of the PFN array (`MmGetMdlPfnArray`).
fn pfn_entries(mdl: *mut Mdl, pages: usize) -> Vec<Pfn> {
    let array = mdl.wrapping_add(1).cast::<u64>();
    // SAFETY: the MDL's pool block holds at least `pages` entries after the header.
    (0..pages).map(|index| Pfn(unsafe { array.add(index).read() })).collect()
}

/// The frames behind the pages of the MDL (span pages of its VA and byte count).
fn mdl_pfns(mdl: *mut Mdl) -> Vec<Pfn> {
    let header = header(mdl);
    let pages = (header.byte_offset as usize + header.byte_count as usize).div_ceil(PAGE);
    pfn_entries(mdl, pages)
}

fn pfn_of(mm: &MemoryManager, pointer: *const c_void) -> Pfn {
    mm.physical_address(va(pointer)).expect("mapped").pfn()
}

fn lock_count(mm: &MemoryManager, pfn: Pfn) -> u32 {
    mm.pfn_database().entry(pfn).expect("RAM").lock_count
}

fn leaf_entry(mm: &MemoryManager, pointer: *const c_void) -> u64 {
    mm.page_tables().leaf_entry(mm.platform().physical_memory(), va(pointer)).expect("mapped").0
}

fn leaf_policy(mm: &MemoryManager, pointer: *const c_void) -> CachePolicy {
    pat::policy_from_pte(leaf_entry(mm, pointer))
}

fn is_valid(mm: &MemoryManager, pointer: *const c_void) -> bool {
    nt::mm_is_address_valid(mm, pointer)
}

#[track_caller]
fn stopped<R: Debug>(result: Result<R, BugCheck>) -> BugCheck {
    result.expect_err("a bug check")
}

/// Runs `body` above `DISPATCH_LEVEL`, then returns to `PASSIVE_LEVEL`.
fn above_dispatch<R>(mm: &MemoryManager, body: impl FnOnce() -> R) -> Result<R, BugCheck> {
    mm.platform().set_current_irql(ABOVE_DISPATCH);
    let result = catch_bug_check(body);
    mm.platform().set_current_irql(Irql::PASSIVE);
    result
}

/// Takes free frames until only `leave` are free.
fn hog_ram_leaving(mm: &MemoryManager, leave: u64) {
    let pfns = mm.pfn_database();
    let mut chunk = 1 << 16;
    while pfns.free_frames() > leave {
        let want = chunk.min(pfns.free_frames() - leave);
        if pfns.allocate(want, &Placement::ANY, PageUse::Allocated).is_err() {
            chunk = (chunk / 2).max(1);
        }
    }
}

/// Maps edu's first page until system VA runs out; returns the mappings.
fn exhaust_system_va(mm: &MemoryManager) -> Vec<*mut c_void> {
    let mut hogs = Vec::new();
    loop {
        let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, PAGE, NON_CACHED);
        if mapping.is_null() {
            break;
        }
        hogs.push(mapping);
    }
    assert!(!hogs.is_empty());
    assert_eq!(mm.system_va().free_pages(), 0);
    hogs
}

/// A memory manager over the default machine's RAM with `verifier`'s rules and a system VA
/// window of `va_mib` MiB: the hosted `MachineDescription` has no verifier options, so this
/// builds the parts a `Machine` is made of by hand.
fn memory_manager_with(va_mib: u64, verifier: VerifierOptions) -> MemoryManager {
    let description = MachineDescription::default();
    let map = description.memory_map().expect("the default memory map");
    let ram = Ram::new(&map).expect("RAM");
    let window = Window::reserve(va_mib << 20).expect("a window");
    let config = MmConfig {
        system_va_base: window.base(),
        system_va_bytes: window.bytes(),
        page_table_root: None,
        verifier,
    };
    let platform = Arc::new(HostedPlatform::new(ram, window, true));
    MemoryManager::new(platform, map, config).expect("the memory manager starts")
}

#[test]
fn claim_37_io_allocate_mdl_fills_the_header_and_no_pfn_entry() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 4 * PAGE);
    let start = at(buffer, 0x123);
    let length = 2 * PAGE as u32 + 0x10;
    let mdl = io_allocate_mdl(mm, start, length);
    assert!(!mdl.is_null());
    let header = header(mdl);
    assert!(header.next.is_null());
    assert_eq!(header.size, 48 + 8 * 3, "three pages spanned");
    assert_eq!(header.mdl_flags, 0);
    assert!(header.process.is_null());
    assert!(header.mapped_system_va.is_null());
    assert_eq!(header.start_va, buffer, "StartVa is the VA rounded down to its page");
    assert_eq!(header.byte_offset, 0x123);
    assert_eq!(header.byte_count, length);
    assert_eq!(
        mm.pool_allocation(va(mdl.cast())).unwrap().bytes,
        mm_size_of_mdl(start, length as usize) as u64
    );

    // No PFN entry is filled in and nothing is locked.
    let frames: Vec<Pfn> = (0..3).map(|page| pfn_of(mm, at(buffer, page * PAGE))).collect();
    for entry in pfn_entries(mdl, 3) {
        assert!(!frames.contains(&entry), "PFN {entry} filled in by IoAllocateMdl");
    }
    assert!(frames.iter().all(|&pfn| lock_count(mm, pfn) == 0));

    // No VirtualAddress: StartVa 0.
    let bare = io_allocate_mdl(mm, std::ptr::null(), PAGE as u32);
    let bare_header = self::header(bare);
    assert!(bare_header.start_va.is_null());
    assert_eq!((bare_header.byte_offset, bare_header.byte_count, bare_header.size), (0, 0x1000, 56));

    io_free_mdl(mm, mdl);
    io_free_mdl(mm, bare);
    assert!(mm.pool_allocation(va(mdl.cast())).is_none(), "IoFreeMdl frees the MDL");
}

#[test]
fn claim_39_lengths_above_4_gb_minus_a_page_get_null() {
    let machine = machine();
    let mm = machine.mm();
    // The buffer is only described, never touched: any address will do.
    let base = 0x7F00_0000_0000usize as *const c_void;
    let blocks = mm.pool_allocations().len();
    for length in [0xFFFF_F001, 0xFFFF_FFFF] {
        assert!(io_allocate_mdl(mm, base, length).is_null(), "{length:#x}");
    }
    assert_eq!(mm.pool_allocations().len(), blocks, "refusals allocate nothing");

    let largest = io_allocate_mdl(mm, base, 0xFFFF_F000);
    assert!(!largest.is_null(), "4 GB - PAGE_SIZE is accepted");
    assert_eq!(byte_count(largest), 0xFFFF_F000);
    assert_eq!(mm.pool_allocation(va(largest.cast())).unwrap().bytes, 48 + 8 * 0xF_FFFF);
    io_free_mdl(mm, largest);
}

#[test]
fn claim_40_size_of_mdl_is_header_plus_a_pfn_per_spanned_page() {
    for (base, length, pages) in [
        (0x1FFF, 2, 2),
        (0x1000, 0, 0),
        (0x1001, 0, 1),
        (0, 0x1000, 1),
        (0x10, 0x1000, 2),
        (0, 0xFFFF_F000, 0xF_FFFF),
        (0x800, 0xFFFF_F000, 0x10_0000),
    ] {
        assert_eq!(mm_size_of_mdl(base as *const c_void, length), 48 + 8 * pages, "{base:#x} {length:#x}");
    }
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let mdl = io_allocate_mdl(mm, at(buffer, 0xFFF), 2);
    assert_eq!(header(mdl).size as usize, mm_size_of_mdl(at(buffer, 0xFFF), 2));
    io_free_mdl(mm, mdl);
}

#[test]
fn claim_41_probing_an_inaccessible_range_is_an_access_violation_and_locks_nothing() {
    let machine = machine();
    let mm = machine.mm();

    // An unmapped system range: a reservation with nothing mapped in it.
    let reserved = mm_allocate_mapping_address(mm, 2 * PAGE, TAG);
    let unmapped = io_allocate_mdl(mm, reserved, PAGE as u32);
    let result = mm_probe_and_lock_pages(mm, unmapped, KERNEL_MODE, IO_READ_ACCESS);
    assert_eq!(result, Err(STATUS_ACCESS_VIOLATION));
    assert_eq!(flags_of(unmapped), 0, "the MDL stays unlocked");

    // A range whose first page is mapped and whose second is not: the first frame's lock count
    // does not move.
    let buffer = pool(mm, PAGE);
    let source = locked_mdl(mm, buffer, PAGE);
    let frame = pfn_of(mm, buffer);
    assert_eq!(mm_map_locked_pages_with_reserved_mapping(mm, reserved, TAG, source, CACHED), reserved);
    let straddling = io_allocate_mdl(mm, at(reserved, 0x800), PAGE as u32);
    assert_eq!(lock_count(mm, frame), 1);
    assert_eq!(
        mm_probe_and_lock_pages(mm, straddling, KERNEL_MODE, IO_READ_ACCESS),
        Err(STATUS_ACCESS_VIOLATION)
    );
    assert_eq!(lock_count(mm, frame), 1);
    assert_eq!(flags_of(straddling), 0);

    // User mode may not probe a kernel address.
    let kernel = io_allocate_mdl(mm, buffer, 0x10);
    assert_eq!(mm_probe_and_lock_pages(mm, kernel, USER_MODE, IO_READ_ACCESS), Err(STATUS_ACCESS_VIOLATION));
    assert_eq!((flags_of(kernel), lock_count(mm, frame)), (0, 1));

    // Writing is not allowed through a read-only mapping; reading is.
    let readonly = nt::mm_map_io_space_ex(mm, frame.address().0 as i64, PAGE, PAGE_READONLY);
    assert!(!readonly.is_null());
    let reader = io_allocate_mdl(mm, readonly, PAGE as u32);
    assert_eq!(
        mm_probe_and_lock_pages(mm, reader, KERNEL_MODE, IO_WRITE_ACCESS),
        Err(STATUS_ACCESS_VIOLATION)
    );
    assert_eq!((flags_of(reader), lock_count(mm, frame)), (0, 1));
    assert_eq!(
        mm_probe_and_lock_pages(mm, reader, KERNEL_MODE, IO_READ_ACCESS),
        Ok(()),
        "the MDL is reusable"
    );
    assert_eq!(lock_count(mm, frame), 2);
    assert_eq!(pfn_entries(reader, 1), [frame]);
    assert_eq!(
        flags_of(reader) & (flags::MDL_PAGES_LOCKED | flags::MDL_WRITE_OPERATION),
        flags::MDL_PAGES_LOCKED
    );

    mm_unlock_pages(mm, reader);
    nt::mm_unmap_io_space(mm, readonly, PAGE);
    mm_unmap_reserved_mapping(mm, reserved, TAG, source);
    mm_unlock_pages(mm, source);
    assert_eq!(lock_count(mm, frame), 0);
    mm_free_mapping_address(mm, reserved, TAG);
}

#[test]
fn claim_41_probing_device_memory_is_0xc4_0x6f() {
    let machine = machine();
    let mm = machine.mm();
    let registers = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, PAGE, NON_CACHED);
    let mdl = io_allocate_mdl(mm, registers, PAGE as u32);
    let stop = stopped(machine.catch_bug_check(|| mm_probe_and_lock_pages(mm, mdl, KERNEL_MODE, 0)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x6F, mdl as u64, EDU_BAR0.pfn().0, 0]));
    assert_eq!(flags_of(mdl), 0);
    nt::mm_unmap_io_space(mm, registers, PAGE);
}

#[test]
fn claim_42_probing_a_locked_mdl_again_is_0xc4_0xb0() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let mdl = locked_mdl(mm, buffer, 2 * PAGE);
    let frames = mdl_pfns(mdl);
    let before = flags_of(mdl);
    let stop =
        stopped(machine.catch_bug_check(|| mm_probe_and_lock_pages(mm, mdl, KERNEL_MODE, IO_WRITE_ACCESS)));
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [0xB0, mdl as u64, before.into(), 0]);
    assert_eq!(flags_of(mdl), before);
    assert!(frames.iter().all(|&pfn| lock_count(mm, pfn) == 1), "no second lock was taken");
    mm_unlock_pages(mm, mdl);
    assert!(frames.iter().all(|&pfn| lock_count(mm, pfn) == 0));
    io_free_mdl(mm, mdl);
}

#[test]
fn claim_43_a_page_locked_through_two_mdls_stays_locked_until_both_unlock() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, PAGE);
    let frame = pfn_of(mm, buffer);
    let first = locked_mdl(mm, buffer, 0x100);
    let second = locked_mdl(mm, at(buffer, 0x800), 0x100);
    assert_eq!(pfn_entries(first, 1), [frame]);
    assert_eq!(pfn_entries(second, 1), [frame]);
    assert_eq!(lock_count(mm, frame), 2);
    mm_unlock_pages(mm, first);
    assert_eq!(lock_count(mm, frame), 1, "still locked through the second MDL");
    assert_ne!(flags_of(second) & flags::MDL_PAGES_LOCKED, 0);
    mm_unlock_pages(mm, second);
    assert_eq!(lock_count(mm, frame), 0);
}

#[test]
fn claim_44_unlock_removes_the_system_mapping_first() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let mdl = locked_mdl(mm, buffer, 2 * PAGE);
    let frames = mdl_pfns(mdl);
    let free_va = mm.system_va().free_pages();
    let mapped = map_cached(mm, mdl);
    assert!(!mapped.is_null());
    assert!(is_valid(mm, mapped) && is_valid(mm, at(mapped, PAGE)));
    assert_eq!(mm.mdl_mappings().list().len(), 1);
    assert_ne!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);

    mm_unlock_pages(mm, mdl);
    assert_eq!(flags_of(mdl) & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_PAGES_LOCKED), 0);
    assert!(!is_valid(mm, mapped) && !is_valid(mm, at(mapped, PAGE)), "the mapping is gone");
    assert!(mm.mdl_mappings().list().is_empty());
    assert_eq!(mm.system_va().free_pages(), free_va);
    assert!(frames.iter().all(|&pfn| lock_count(mm, pfn) == 0));
    io_free_mdl(mm, mdl);
}

#[test]
fn claim_45_unlocking_the_wrong_kind_of_mdl_is_0x7c_0x7d_or_0xb4() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);

    let never = io_allocate_mdl(mm, buffer, 0x100);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, never)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x7C, never as u64, 0, 0]));

    let nonpaged = io_allocate_mdl(mm, buffer, 0x100);
    mm_build_mdl_for_non_paged_pool(mm, nonpaged);
    let before = flags_of(nonpaged);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, nonpaged)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x7D, nonpaged as u64, before.into(), 0]));
    assert_eq!(flags_of(nonpaged), before);

    let source = locked_mdl(mm, buffer, 2 * PAGE);
    let frames = mdl_pfns(source);
    let partial = io_allocate_mdl(mm, std::ptr::null(), 2 * PAGE as u32);
    io_build_partial_mdl(mm, source, partial, at(buffer, 0x10), 0x100);
    let before = flags_of(partial);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, partial)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0xB4, partial as u64, before.into(), 0]));
    assert_eq!(flags_of(partial), before);
    assert!(frames.iter().all(|&pfn| lock_count(mm, pfn) == 1), "the source's locks stay");
    mm_unlock_pages(mm, source);
}

#[test]
fn claim_46_unlocking_a_page_more_often_than_it_was_locked_is_0x4e_0x07() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, PAGE);
    let frame = pfn_of(mm, buffer);

    // A driver sets the legacy MDL_PAGES_LOCKED bit again on an MDL it already unlocked.
    let mdl = locked_mdl(mm, buffer, PAGE);
    mm_unlock_pages(mm, mdl);
    set_flags(mdl, flags::MDL_PAGES_LOCKED);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, mdl)));
    assert_eq!((stop.code, stop.parameters), (code::PFN_LIST_CORRUPT, [0x07, frame.0, 0, 0]));
    assert_eq!(lock_count(mm, frame), 0);
    assert_ne!(flags_of(mdl) & flags::MDL_PAGES_LOCKED, 0, "nothing changed");

    // A double unlock through a second MDL steals the first one's lock; the first unlock then
    // finds the frame unlocked.
    let first = locked_mdl(mm, buffer, PAGE);
    let second = locked_mdl(mm, buffer, PAGE);
    assert_eq!(lock_count(mm, frame), 2);
    mm_unlock_pages(mm, second);
    set_flags(second, flags::MDL_PAGES_LOCKED);
    mm_unlock_pages(mm, second);
    assert_eq!(lock_count(mm, frame), 0);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, first)));
    assert_eq!((stop.code, stop.parameters[0], stop.parameters[1]), (0x4E, 0x07, frame.0));
    assert_ne!(flags_of(first) & flags::MDL_PAGES_LOCKED, 0);
}

#[test]
fn claim_46_a_frame_listed_twice_in_an_mdl_needs_two_locks_to_unlock() {
    let machine = machine();
    let mm = machine.mm();
    let frame = locked_ram_page(&machine);
    // Two adjacent one-page views of the same frame, so one MDL lists it twice.
    let first = nt::mm_map_io_space(mm, frame.address().0 as i64, PAGE, CACHED);
    let second = nt::mm_map_io_space(mm, frame.address().0 as i64, PAGE, CACHED);
    assert_eq!(second as usize, first as usize + PAGE, "the VA allocator hands out adjacent pages");
    let mdl = locked_mdl(mm, first, 2 * PAGE);
    assert_eq!(pfn_entries(mdl, 2), [frame, frame]);
    assert_eq!(lock_count(mm, frame), 3);
    mm_unlock_pages(mm, mdl);
    assert_eq!(lock_count(mm, frame), 1);

    set_flags(mdl, flags::MDL_PAGES_LOCKED);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, mdl)));
    assert_eq!((stop.code, stop.parameters[0], stop.parameters[1]), (0x4E, 0x07, frame.0));
    assert_eq!(lock_count(mm, frame), 1, "the one lock left is not dropped half-way");
    nt::mm_unmap_io_space(mm, first, PAGE);
    nt::mm_unmap_io_space(mm, second, PAGE);
}

#[test]
fn claim_47_a_nonpaged_pool_mdl_is_its_own_system_address() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let start = at(buffer, 0x321);
    let mdl = io_allocate_mdl(mm, start, PAGE as u32);
    mm_build_mdl_for_non_paged_pool(mm, mdl);
    let header = header(mdl);
    assert_ne!(header.mdl_flags as u16 & flags::MDL_SOURCE_IS_NONPAGED_POOL, 0);
    assert_eq!(header.mdl_flags as u16 & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    assert_eq!(header.mapped_system_va, start);
    assert_eq!(mdl_pfns(mdl), [pfn_of(mm, buffer), pfn_of(mm, at(buffer, PAGE))]);
    assert!(mdl_pfns(mdl).iter().all(|&pfn| lock_count(mm, pfn) == 0), "nothing is locked");

    let free_va = mm.system_va().free_pages();
    let address = map_cached(mm, mdl);
    assert_eq!(address, at(header.start_va, header.byte_offset as usize));
    assert_eq!(address, start);
    assert!(mm.mdl_mappings().list().is_empty(), "no new mapping");
    assert_eq!(mm.system_va().free_pages(), free_va);
    io_free_mdl(mm, mdl);
}

#[test]
fn claim_48_get_system_address_twice_gives_one_mapping_released_by_one_unmap() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let mdl = locked_mdl(mm, at(buffer, 0x40), PAGE);
    let free_va = mm.system_va().free_pages();
    let first = map_cached(mm, mdl);
    let second = map_cached(mm, mdl);
    assert!(!first.is_null());
    assert_eq!(first, second);
    assert_eq!(mm.mdl_mappings().list().len(), 1);
    assert_eq!(mm.system_va().free_pages(), free_va - 2);

    mm_unmap_locked_pages(mm, first, mdl);
    assert!(mm.mdl_mappings().list().is_empty());
    assert_eq!(mm.system_va().free_pages(), free_va);
    assert!(!is_valid(mm, first));
    assert_eq!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    mm_unlock_pages(mm, mdl);
    io_free_mdl(mm, mdl);
}

#[test]
fn claim_49_get_system_address_maps_cached_and_returns_null_when_va_runs_out() {
    let machine = machine_with_va(1);
    let mm = machine.mm();
    let first = pages_for_mdl(mm, 2);
    let second = pages_for_mdl(mm, 1);
    let frame = mdl_pfns(first)[0];
    assert_eq!(mm.pfn_database().entry(frame).unwrap().cache, None, "MmAllocatePagesForMdl records none");

    let mapped = map_cached(mm, first);
    assert_eq!(leaf_policy(mm, mapped), CachePolicy::WriteBack);
    assert_eq!(leaf_policy(mm, at(mapped, PAGE)), CachePolicy::WriteBack);
    assert_eq!(mm.pfn_database().entry(frame).unwrap().cache, Some(CachePolicy::WriteBack));

    let mut hogs = exhaust_system_va(mm);
    let result = machine.catch_bug_check(|| map_cached(mm, second));
    assert!(matches!(result, Ok(address) if address.is_null()), "NULL, not a bug check");
    assert_eq!(flags_of(second) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    assert_eq!(mm.mdl_mappings().list().len(), 1);

    nt::mm_unmap_io_space(mm, hogs.pop().unwrap(), PAGE);
    let again = map_cached(mm, second);
    assert!(!again.is_null(), "it maps once VA is free again");
    for hog in hogs {
        nt::mm_unmap_io_space(mm, hog, PAGE);
    }
    for mdl in [first, second] {
        mm_free_pages_from_mdl(mm, mdl);
        nt::ex_free_pool(mm, mdl.cast());
    }
    assert_eq!(mm.pfn_database().entry(frame).unwrap().cache, None);
}

#[test]
fn claim_50_specify_cache_returns_null_or_is_0xc4_0x82_when_va_runs_out() {
    let machine = machine_with_va(1);
    let mm = machine.mm();
    let mdl = pages_for_mdl(mm, 1);
    let mut hogs = exhaust_system_va(mm);
    let map = |bug_check_on_failure| {
        mm_map_locked_pages_specify_cache(
            mm,
            mdl,
            KERNEL_MODE,
            CACHED,
            std::ptr::null_mut(),
            bug_check_on_failure,
            NORMAL,
        )
    };
    let result = machine.catch_bug_check(|| map(0));
    assert!(matches!(result, Ok(address) if address.is_null()));
    assert_eq!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);

    let stop = stopped(machine.catch_bug_check(|| map(1)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x82, mdl as u64, 0, 0]));
    // The verifier reports TRUE whether or not the mapping would fail.
    nt::mm_unmap_io_space(mm, hogs.pop().unwrap(), PAGE);
    let stop = stopped(machine.catch_bug_check(|| map(1)));
    assert_eq!(stop.parameters[0], 0x82);
    assert!(mm.mdl_mappings().list().is_empty());
    assert_eq!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    for hog in hogs {
        nt::mm_unmap_io_space(mm, hog, PAGE);
    }
}

#[test]
fn claim_50_without_the_verifier_rule_bug_check_on_failure_is_honoured() {
    let verifier = VerifierOptions { report_bug_check_on_failure: false, ..VerifierOptions::default() };
    let mm = memory_manager_with(1, verifier);
    let mm = &mm;
    let source = pages_for_mdl(mm, 2);
    let partial = io_allocate_mdl(mm, std::ptr::null(), 2 * PAGE as u32);
    io_build_partial_mdl(mm, source, partial, std::ptr::null(), 0);
    let map = |mdl, cache_type| {
        mm_map_locked_pages_specify_cache(mm, mdl, KERNEL_MODE, cache_type, std::ptr::null_mut(), 1, NORMAL)
    };

    // With resources to spare, TRUE simply maps.
    let mapped = catch_bug_check(|| map(source, CACHED)).expect("no verifier report");
    assert!(!mapped.is_null());
    // A refused memory type that asked for a bug check: 0x1A/0x1000.
    let stop = stopped(catch_bug_check(|| map(partial, NON_CACHED)));
    assert_eq!((stop.code, stop.parameters), (0x1A, [0x1000, partial as u64, mdl_pfns(source)[0].0, 0]));
    assert_eq!(flags_of(partial) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    mm_unmap_locked_pages(mm, mapped, source);

    // Out of system VA: 0x3F NO_MORE_SYSTEM_PTES with TRUE, NULL with FALSE.
    let hogs = exhaust_system_va(mm);
    let stop = stopped(catch_bug_check(|| map(source, CACHED)));
    let total = mm.system_va().total_pages();
    assert_eq!((stop.code, stop.parameters), (code::NO_MORE_SYSTEM_PTES, [0, 2, 0, total]));
    assert!(specify_cache(mm, source, CACHED, NORMAL).is_null());
    assert!(mm.mdl_mappings().list().is_empty());
    for hog in hogs {
        nt::mm_unmap_io_space(mm, hog, PAGE);
    }
    mm_free_pages_from_mdl(mm, source);
}

#[test]
fn claim_51_specify_cache_returns_the_address_with_the_byte_offset_and_records_it() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 3 * PAGE);
    let start = at(buffer, 0x234);
    let mdl = locked_mdl(mm, start, 2 * PAGE);
    let mapped = specify_cache(mm, mdl, CACHED, NORMAL);
    assert!(!mapped.is_null());
    assert_ne!(mapped, start, "a new view");
    assert_eq!(mapped as usize & 0xFFF, 0x234);
    assert_ne!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    assert_eq!(mapped_system_va(mdl), mapped);
    let records = mm.mdl_mappings().list();
    assert_eq!(
        (records[0].base, records[0].pages, records[0].mdl),
        (va(mapped).page_base(), 3, mdl as usize)
    );
    // SAFETY: both addresses show the MDL's locked bytes.
    unsafe {
        mapped.cast::<u8>().write_volatile(0x11);
        mapped.cast::<u8>().add(2 * PAGE - 1).write_volatile(0x22);
        assert_eq!(start.cast::<u8>().read_volatile(), 0x11);
        assert_eq!(start.cast::<u8>().add(2 * PAGE - 1).read_volatile(), 0x22);
    }
    mm_unmap_locked_pages(mm, mapped, mdl);
    assert_eq!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    mm_unlock_pages(mm, mdl);
}

#[test]
fn claim_52_no_write_and_no_execute_mappings() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, PAGE);
    let mdl = locked_mdl(mm, buffer, PAGE);
    // SAFETY: the pool buffer is ours and mapped.
    unsafe { buffer.cast::<u32>().write_volatile(0xFEED) };

    let readonly = specify_cache(mm, mdl, CACHED, NORMAL | MDL_MAPPING_NO_WRITE);
    assert_eq!(leaf_entry(mm, readonly) & PTE_WRITABLE, 0);
    // SAFETY: the read-only view maps the locked page.
    assert_eq!(unsafe { readonly.cast::<u32>().read_volatile() }, 0xFEED);
    mm_unmap_locked_pages(mm, readonly, mdl);

    let no_execute = specify_cache(mm, mdl, CACHED, NORMAL | MDL_MAPPING_NO_EXECUTE);
    let entry = leaf_entry(mm, no_execute);
    assert_ne!(entry & PTE_NO_EXECUTE, 0);
    assert_ne!(entry & PTE_WRITABLE, 0);
    mm_unmap_locked_pages(mm, no_execute, mdl);

    let plain = specify_cache(mm, mdl, CACHED, NORMAL);
    let entry = leaf_entry(mm, plain);
    assert_eq!(entry & PTE_NO_EXECUTE, 0, "executable without MdlMappingNoExecute");
    assert_ne!(entry & PTE_WRITABLE, 0);
    mm_unmap_locked_pages(mm, plain, mdl);
    mm_unlock_pages(mm, mdl);
}

#[test]
fn claim_52_a_write_through_a_no_write_mapping_faults() {
    const NAME: &str = "claim_52_a_write_through_a_no_write_mapping_faults";
    if is_child(NAME) {
        let machine = machine();
        let mm = machine.mm();
        let buffer = pool(mm, PAGE);
        let mdl = locked_mdl(mm, buffer, PAGE);
        let readonly = specify_cache(mm, mdl, CACHED, NORMAL | MDL_MAPPING_NO_WRITE);
        // SAFETY: deliberately none: the host mapping is read-only, so this store must fault.
        unsafe { readonly.cast::<u64>().write_volatile(1) };
        std::process::exit(0);
    }
    let output = run_child(NAME);
    assert_eq!(output.status.signal(), Some(11), "SIGSEGV: {output:?}");
}

#[test]
fn claim_53_recorded_attributes_win_except_for_pages_without_one() {
    let machine = machine();
    let mm = machine.mm();

    // Pool pages are write-back: a non-cached request is ignored.
    let buffer = pool(mm, PAGE);
    let mdl = locked_mdl(mm, buffer, PAGE);
    let mapped = specify_cache(mm, mdl, NON_CACHED, NORMAL);
    assert_eq!(leaf_policy(mm, mapped), CachePolicy::WriteBack);
    mm_unmap_locked_pages(mm, mapped, mdl);
    mm_unlock_pages(mm, mdl);

    // Pages from MmAllocatePagesForMdl have none: the request decides, while the mapping lives.
    let pages = pages_for_mdl(mm, 2);
    let frames = mdl_pfns(pages);
    let uncached = specify_cache(mm, pages, NON_CACHED, NORMAL);
    assert_eq!(leaf_policy(mm, uncached), CachePolicy::Uncached);
    assert_eq!(leaf_policy(mm, at(uncached, PAGE)), CachePolicy::Uncached);
    mm_unmap_locked_pages(mm, uncached, pages);
    assert!(frames.iter().all(|&pfn| mm.pfn_database().entry(pfn).unwrap().cache.is_none()));
    let combined = specify_cache(mm, pages, WRITE_COMBINED, NORMAL);
    assert_eq!(leaf_policy(mm, combined), CachePolicy::WriteCombining);
    mm_unmap_locked_pages(mm, combined, pages);
    mm_free_pages_from_mdl(mm, pages);
    nt::ex_free_pool(mm, pages.cast());

    // MmAllocatePagesForMdlEx records its CacheType: a later cached request is ignored.
    let ex = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, PAGE, WRITE_COMBINED, 0);
    assert!(!ex.is_null());
    let mapped = map_cached(mm, ex);
    assert_eq!(leaf_policy(mm, mapped), CachePolicy::WriteCombining);
    mm_free_pages_from_mdl(mm, ex);
    nt::ex_free_pool(mm, ex.cast());
}

#[test]
fn claim_54_mapping_an_unlocked_mdl_is_0xc4_0x85() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, PAGE);
    let mdl = io_allocate_mdl(mm, buffer, PAGE as u32);
    let free_va = mm.system_va().free_pages();
    let stop = stopped(machine.catch_bug_check(|| specify_cache(mm, mdl, CACHED, NORMAL)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x85, mdl as u64, 0, 0]));
    let stop = stopped(machine.catch_bug_check(|| map_cached(mm, mdl)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x85, mdl as u64, 0, 0]));
    assert_eq!(flags_of(mdl), 0);
    assert!(mm.mdl_mappings().list().is_empty());
    assert_eq!(mm.system_va().free_pages(), free_va);
}

#[test]
fn claim_55_unmapping_an_unmapped_mdl_is_0xb6_and_a_borrowing_partial_0xb5() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let source = locked_mdl(mm, buffer, 2 * PAGE);
    let before = flags_of(source);
    let stop = stopped(machine.catch_bug_check(|| mm_unmap_locked_pages(mm, buffer, source)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0xB6, source as u64, before.into(), 0]));

    let mapped = map_cached(mm, source);
    let partial = io_allocate_mdl(mm, std::ptr::null(), PAGE as u32);
    io_build_partial_mdl(mm, source, partial, at(buffer, 0x100), 0x100);
    let partial_flags = flags_of(partial);
    assert_ne!(partial_flags & flags::MDL_PARENT_MAPPED_SYSTEM_VA, 0);
    assert_eq!(partial_flags & flags::MDL_PARTIAL_HAS_BEEN_MAPPED, 0);
    let borrowed = mapped_system_va(partial);
    let stop = stopped(machine.catch_bug_check(|| mm_unmap_locked_pages(mm, borrowed, partial)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0xB5, partial as u64, partial_flags.into(), 0]));
    assert_eq!(flags_of(partial), partial_flags);
    assert!(is_valid(mm, mapped), "the parent's mapping stays");
    assert_eq!(mm.mdl_mappings().list().len(), 1);
    mm_unmap_locked_pages(mm, mapped, source);

    // A partial MDL with a mapping of its own may unmap it (contract §15, discrepancy 9).
    let own = io_allocate_mdl(mm, std::ptr::null(), PAGE as u32);
    io_build_partial_mdl(mm, source, own, at(buffer, PAGE), 0x10);
    let mapped = map_cached(mm, own);
    assert_ne!(flags_of(own) & flags::MDL_PARTIAL_HAS_BEEN_MAPPED, 0);
    mm_unmap_locked_pages(mm, mapped, own);
    assert_eq!(flags_of(own) & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_PARTIAL_HAS_BEEN_MAPPED), 0);
    assert!(mm.mdl_mappings().list().is_empty());
    mm_unlock_pages(mm, source);
}

#[test]
fn claim_56_freeing_a_mapped_mdl_is_0xb8_but_a_mapped_partial_is_released() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let mdl = locked_mdl(mm, buffer, 2 * PAGE);
    let mapped = map_cached(mm, mdl);
    let before = flags_of(mdl);
    let stop = stopped(machine.catch_bug_check(|| io_free_mdl(mm, mdl)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0xB8, mdl as u64, before.into(), 0]));
    assert!(mm.pool_allocation(va(mdl.cast())).is_some(), "the MDL is not freed");
    assert!(is_valid(mm, mapped));
    mm_unmap_locked_pages(mm, mapped, mdl);

    let partial = io_allocate_mdl(mm, std::ptr::null(), 2 * PAGE as u32);
    io_build_partial_mdl(mm, mdl, partial, at(buffer, 0x800), PAGE as u32);
    let own = map_cached(mm, partial);
    assert!(!own.is_null());
    assert_eq!(mm.mdl_mappings().list().len(), 1);
    io_free_mdl(mm, partial);
    assert!(mm.mdl_mappings().list().is_empty(), "IoFreeMdl released the partial's mapping");
    assert!(!is_valid(mm, own));
    assert!(mm.pool_allocation(va(partial.cast())).is_none());
    mm_unlock_pages(mm, mdl);
    io_free_mdl(mm, mdl);
}

#[test]
fn claim_57_partial_mdls_out_of_range_are_0x12e_and_too_small_targets_0x40() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 3 * PAGE);
    let start = at(buffer, 0x100);
    let source = locked_mdl(mm, start, 2 * PAGE);
    let target = io_allocate_mdl(mm, buffer, 3 * PAGE as u32);
    let target_before = header(target);
    for (address, length) in [
        (at(buffer, 0xFF), 0x10u32),
        (at(start, 2 * PAGE - 0x10), 0x11),
        (at(start, 2 * PAGE), 1),
        (at(start, 2 * PAGE + 1), 0),
        (start, u32::MAX),
    ] {
        let stop =
            stopped(machine.catch_bug_check(|| io_build_partial_mdl(mm, source, target, address, length)));
        assert_eq!(stop.code, code::INVALID_MDL_RANGE);
        assert_eq!(stop.parameters, [source as u64, target as u64, address as u64, length.into()]);
        let after = header(target);
        assert_eq!(
            (after.mdl_flags, after.start_va, after.byte_offset, after.byte_count),
            (
                target_before.mdl_flags,
                target_before.start_va,
                target_before.byte_offset,
                target_before.byte_count
            ),
            "the target is unchanged"
        );
    }

    let small = io_allocate_mdl(mm, buffer, 0x10);
    let small_before = header(small);
    let stop =
        stopped(machine.catch_bug_check(|| io_build_partial_mdl(mm, source, small, start, 2 * PAGE as u32)));
    assert_eq!(
        (stop.code, stop.parameters),
        (code::TARGET_MDL_TOO_SMALL, [source as u64, small as u64, 3, 0])
    );
    let after = header(small);
    assert_eq!((after.mdl_flags, after.byte_count), (small_before.mdl_flags, small_before.byte_count));
    mm_unlock_pages(mm, source);
}

#[test]
fn claim_58_a_zero_length_partial_mdl_runs_to_the_end_of_the_source() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 4 * PAGE);
    let start = at(buffer, 0x100);
    let source = locked_mdl(mm, start, 3 * PAGE);
    let target = io_allocate_mdl(mm, std::ptr::null(), 4 * PAGE as u32);
    let address = at(start, PAGE + 0x80);
    io_build_partial_mdl(mm, source, target, address, 0);
    let header = header(target);
    assert_eq!(header.byte_count as usize, 3 * PAGE - PAGE - 0x80);
    assert_eq!(header.start_va, at(buffer, PAGE));
    assert_eq!(header.byte_offset, 0x180);
    assert_eq!(mdl_pfns(target), mdl_pfns(source)[1..]);
    assert_eq!(
        header.mdl_flags as u16,
        flags::MDL_PARTIAL | flags::MDL_PAGES_LOCKED | flags::MDL_WRITE_OPERATION
    );
    io_free_mdl(mm, target);
    mm_unlock_pages(mm, source);
}

#[test]
fn claim_59_a_partial_mdl_of_a_mapped_source_uses_the_source_mapping() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let source = locked_mdl(mm, buffer, 2 * PAGE);
    let source_mapping = map_cached(mm, source);
    let free_va = mm.system_va().free_pages();
    let partial = io_allocate_mdl(mm, std::ptr::null(), PAGE as u32);
    io_build_partial_mdl(mm, source, partial, at(buffer, 0x1800), 0x100);
    let address = map_cached(mm, partial);
    assert_eq!(address, at(source_mapping, 0x1800));
    assert_eq!(mm.mdl_mappings().list().len(), 1, "no new mapping");
    assert_eq!(mm.system_va().free_pages(), free_va);
    // SAFETY: both addresses show the locked pool byte.
    unsafe {
        address.cast::<u8>().write_volatile(0x3C);
        assert_eq!(buffer.cast::<u8>().add(0x1800).read_volatile(), 0x3C);
    }
    io_free_mdl(mm, partial);
    assert!(is_valid(mm, source_mapping), "freeing the partial leaves the parent's mapping");
    mm_unlock_pages(mm, source);
}

#[test]
fn claim_60_pages_for_mdl_may_return_less_unless_fully_required() {
    let machine = machine();
    let mm = machine.mm();
    hog_ram_leaving(mm, 40);
    let mdl = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, 64 * PAGE, CACHED, 0);
    assert!(!mdl.is_null(), "as much as could be allocated");
    let bytes = byte_count(mdl) as usize;
    assert!(bytes > 0 && bytes < 64 * PAGE && bytes % PAGE == 0, "{bytes:#x}");
    assert_eq!(mm.mdl_mappings().list().len(), 0);
    let frames = mdl_pfns(mdl);
    assert!(frames.iter().all(|&pfn| lock_count(mm, pfn) == 1));
    mm_free_pages_from_mdl(mm, mdl);
    nt::ex_free_pool(mm, mdl.cast());

    let free = mm.pfn_database().free_frames();
    let blocks = mm.pool_allocations().len();
    let full =
        mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, 64 * PAGE, CACHED, MM_ALLOCATE_FULLY_REQUIRED);
    assert!(full.is_null());
    assert_eq!(mm.pfn_database().free_frames(), free, "nothing kept");
    assert_eq!(mm.pool_allocations().len(), blocks);
    let fits = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, 4 * PAGE, CACHED, MM_ALLOCATE_FULLY_REQUIRED);
    assert!(!fits.is_null());
    assert_eq!(byte_count(fits) as usize, 4 * PAGE);
}

#[test]
fn claim_61_pages_are_zeroed_unless_dont_zero_is_given() {
    let machine = machine();
    let mm = machine.mm();
    let fill = |mdl: *mut Mdl, byte: u8| {
        let mapped = map_cached(mm, mdl);
        // SAFETY: the mapping covers the MDL's whole pages.
        unsafe { mapped.cast::<u8>().write_bytes(byte, byte_count(mdl) as usize) };
        mm_unmap_locked_pages(mm, mapped, mdl);
    };
    let release = |mdl: *mut Mdl| {
        mm_free_pages_from_mdl(mm, mdl);
        nt::ex_free_pool(mm, mdl.cast());
    };
    // The bytes of each page, read through a mapping of the MDL.
    let contents = |mdl: *mut Mdl| -> Vec<Vec<u8>> {
        let mapped = map_cached(mm, mdl);
        let pages = (0..byte_count(mdl) as usize / PAGE)
            // SAFETY: the mapping covers the MDL's whole pages.
            .map(|page| unsafe {
                std::slice::from_raw_parts(mapped.cast::<u8>().add(page * PAGE), PAGE).to_vec()
            })
            .collect();
        mm_unmap_locked_pages(mm, mapped, mdl);
        pages
    };

    let dirty = pages_for_mdl(mm, 8);
    let dirty_frames = mdl_pfns(dirty);
    fill(dirty, 0xA5);
    release(dirty);

    let kept = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, 8 * PAGE, CACHED, MM_DONT_ZERO_ALLOCATION);
    let kept_frames = mdl_pfns(kept);
    let pages = contents(kept);
    let mut reused = 0;
    for (pfn, bytes) in kept_frames.iter().zip(&pages) {
        if dirty_frames.contains(pfn) {
            reused += 1;
            assert!(bytes.iter().all(|&byte| byte == 0xA5), "frame {pfn} kept its contents");
        }
    }
    assert!(reused > 0, "freed frames are handed out again");
    fill(kept, 0x5A);
    release(kept);

    let zeroed = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, 8 * PAGE, CACHED, 0);
    let zeroed_frames = mdl_pfns(zeroed);
    assert!(zeroed_frames.iter().any(|pfn| kept_frames.contains(pfn)), "dirty frames are handed out again");
    assert!(contents(zeroed).iter().flatten().all(|&byte| byte == 0), "every page is zero-filled");
    release(zeroed);
}

#[test]
fn claim_62_contiguous_chunks_are_one_run_or_aligned_runs_of_skip_bytes() {
    let machine = machine();
    let mm = machine.mm();
    let chunks = MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS;

    let run = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, 16 * PAGE, CACHED, chunks);
    assert!(!run.is_null());
    let frames = mdl_pfns(run);
    assert_eq!(frames.len(), 16);
    assert!(frames.windows(2).all(|pair| pair[1].0 == pair[0].0 + 1), "one contiguous run");

    // A window with a hole: never a partial result, while without the flag there is one.
    let low = 0x200_0000u64;
    let high = low + 16 * PAGE_SIZE - 1;
    let hole = mm
        .pfn_database()
        .allocate(1, &Placement::ANY.within(low / PAGE_SIZE + 8, low / PAGE_SIZE + 8), PageUse::Allocated)
        .expect("the middle frame of the window is free");
    let free = mm.pfn_database().free_frames();
    assert!(
        mm_allocate_pages_for_mdl_ex(mm, low as i64, high as i64, 0, 16 * PAGE, CACHED, chunks).is_null()
    );
    assert_eq!(mm.pfn_database().free_frames(), free);
    let some = mm_allocate_pages_for_mdl_ex(mm, low as i64, high as i64, 0, 16 * PAGE, CACHED, 0);
    assert_eq!(byte_count(some) as usize, 15 * PAGE);
    assert!(!mdl_pfns(some).contains(&hole));

    // SkipBytes = 64 KiB: 64 KiB runs, 64 KiB-aligned.
    let skip = 0x1_0000usize;
    let aligned = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, skip as i64, 4 * skip, CACHED, chunks);
    assert!(!aligned.is_null());
    assert_eq!(byte_count(aligned) as usize, 4 * skip);
    let per_chunk = skip / PAGE;
    for chunk in mdl_pfns(aligned).chunks(per_chunk) {
        assert_eq!(chunk[0].0 % per_chunk as u64, 0, "aligned to SkipBytes");
        assert!(chunk.windows(2).all(|pair| pair[1].0 == pair[0].0 + 1), "contiguous");
    }
}

#[test]
fn claim_63_every_page_lies_in_the_range_or_a_window_shifted_by_skip_bytes() {
    let machine = machine();
    let mm = machine.mm();
    let low = 0x100_0000u64;
    let high = low + 0xFFFF;
    let skip = 0x10_0000u64;
    // Half of the first window is taken, so the search has to move on.
    mm.pfn_database()
        .allocate(8, &Placement::ANY.within(low / PAGE_SIZE, low / PAGE_SIZE + 7), PageUse::Allocated)
        .expect("the window is free");
    let mdl = mm_allocate_pages_for_mdl(mm, low as i64, high as i64, skip as i64, 40 * PAGE);
    assert!(!mdl.is_null());
    assert_eq!(byte_count(mdl) as usize, 40 * PAGE);
    let mut shifted = 0;
    for pfn in mdl_pfns(mdl) {
        let address = pfn.address().0;
        let window = (address - low) / skip;
        assert!(address >= low, "{pfn} below LowAddress");
        assert!(address - window * skip + PAGE_SIZE - 1 <= high, "{pfn} outside every window");
        shifted += u64::from(window > 0);
    }
    assert!(shifted >= 32);

    // A range that holds no whole page gives nothing; a range that starts inside a page does
    // not give that page.
    let inside = mm_allocate_pages_for_mdl(mm, 0x300_0001, 0x300_0FFF, 0, PAGE);
    assert!(inside.is_null());
    let mdl = mm_allocate_pages_for_mdl(mm, 0x300_0001, 0x300_2FFF, 0, 3 * PAGE);
    assert_eq!(mdl_pfns(mdl), [Pfn(0x3001), Pfn(0x3002)]);
}

#[test]
fn claim_64_free_pages_from_mdl_frees_the_pages_and_the_mapping_but_not_the_mdl() {
    let machine = machine();
    let mm = machine.mm();
    let mdl = pages_for_mdl(mm, 8);
    let frames = mdl_pfns(mdl);
    let mapped = map_cached(mm, mdl);
    let free = mm.pfn_database().free_frames();
    let free_va = mm.system_va().free_pages();

    mm_free_pages_from_mdl(mm, mdl);
    assert_eq!(mm.pfn_database().free_frames(), free + 8);
    for pfn in frames {
        let entry = mm.pfn_database().entry(pfn).unwrap();
        assert_eq!((entry.use_, entry.lock_count, entry.cache), (PageUse::Free, 0, None));
    }
    assert!(mm.mdl_mappings().list().is_empty(), "the mapping went with the pages");
    assert!(!is_valid(mm, mapped));
    assert_eq!(mm.system_va().free_pages(), free_va + 8);
    assert!(mm.pool_allocation(va(mdl.cast())).is_some(), "the MDL is still allocated");

    let stop = stopped(machine.catch_bug_check(|| mm_free_pages_from_mdl(mm, mdl)));
    assert_eq!((stop.code, stop.parameters), (0x1A, [0x1236, mdl as u64, 0, 0]));
    nt::ex_free_pool(mm, mdl.cast());
    assert!(mm.pool_allocation(va(mdl.cast())).is_none());
}

#[test]
fn claim_71_a_page_never_gets_two_live_mappings_with_different_memory_types() {
    let machine = machine();
    let mm = machine.mm();
    let conflicts = || {
        mm.verifier_log()
            .entries()
            .iter()
            .filter(|entry| matches!(entry.kind, DiagnosticKind::CacheConflict(_)))
            .count()
    };

    // MDL mappings of pages without an attribute: the first mapping's type holds.
    let source = pages_for_mdl(mm, 2);
    let frame = mdl_pfns(source)[0];
    let partial = io_allocate_mdl(mm, std::ptr::null(), 2 * PAGE as u32);
    io_build_partial_mdl(mm, source, partial, std::ptr::null(), 0);
    let cached = specify_cache(mm, source, CACHED, NORMAL);
    assert!(!cached.is_null());
    assert!(specify_cache(mm, partial, NON_CACHED, NORMAL).is_null(), "a second memory type is refused");
    assert_eq!(conflicts(), 1, "and reported");
    assert_eq!(flags_of(partial) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    assert_eq!(mm.mdl_mappings().list().len(), 1);
    let same = specify_cache(mm, partial, CACHED, NORMAL);
    assert_eq!(leaf_policy(mm, same), CachePolicy::WriteBack, "the same type is fine");
    mm_unmap_locked_pages(mm, same, partial);
    mm_unmap_locked_pages(mm, cached, source);
    let uncached = specify_cache(mm, partial, NON_CACHED, NORMAL);
    assert_eq!(leaf_policy(mm, uncached), CachePolicy::Uncached, "free again once unmapped");
    assert!(map_cached(mm, source).is_null());
    mm_unmap_locked_pages(mm, uncached, partial);

    // MmMapIoSpace over a locked pool page (write-back) asking for non-cached.
    let buffer = pool(mm, PAGE);
    let mdl = locked_mdl(mm, buffer, PAGE);
    let pool_frame = pfn_of(mm, buffer);
    let before = conflicts();
    assert!(nt::mm_map_io_space(mm, pool_frame.address().0 as i64, PAGE, NON_CACHED).is_null());
    assert_eq!(conflicts(), before + 1);
    let same = nt::mm_map_io_space(mm, pool_frame.address().0 as i64, PAGE, CACHED);
    assert!(!same.is_null());
    nt::mm_unmap_io_space(mm, same, PAGE);
    mm_unlock_pages(mm, mdl);

    // An MDL mapping over a page MmMapIoSpace holds as non-cached.
    let io = nt::mm_map_io_space(mm, frame.address().0 as i64, PAGE, NON_CACHED);
    assert!(!io.is_null());
    assert!(map_cached(mm, source).is_null());
    nt::mm_unmap_io_space(mm, io, PAGE);
    let mapped = map_cached(mm, source);
    assert_eq!(leaf_policy(mm, mapped), CachePolicy::WriteBack);
    mm_free_pages_from_mdl(mm, source);
}

#[test]
fn a_pool_buffer_and_its_mdl_mapping_alias() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let mdl = locked_mdl(mm, buffer, 2 * PAGE);
    let mapped = map_cached(mm, mdl);
    assert!(!mapped.is_null());
    assert_ne!(mapped, buffer, "two addresses");
    assert_eq!(mm.physical_address(va(mapped)), mm.physical_address(va(buffer)));
    // SAFETY: both addresses map the same two locked pool pages.
    unsafe {
        for page in 0..2 {
            let own = buffer.cast::<u64>().add(page * PAGE / 8 + 7);
            let view = mapped.cast::<u64>().add(page * PAGE / 8 + 7);
            own.write_volatile(0x1111_0000 + page as u64);
            assert_eq!(view.read_volatile(), 0x1111_0000 + page as u64);
            view.write_volatile(0x2222_0000 + page as u64);
            assert_eq!(own.read_volatile(), 0x2222_0000 + page as u64);
        }
    }
    mm_unlock_pages(mm, mdl);
    io_free_mdl(mm, mdl);
}

#[test]
fn irql_violations_are_0x70_0x78_0x76_0x79_and_0x7e() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, PAGE);
    let frame = pfn_of(mm, buffer);
    let mdl = io_allocate_mdl(mm, buffer, PAGE as u32);
    let irql = u64::from(ABOVE_DISPATCH.0);

    let stop = stopped(above_dispatch(mm, || mm_probe_and_lock_pages(mm, mdl, KERNEL_MODE, IO_WRITE_ACCESS)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x70, irql, mdl as u64, 0]));
    assert_eq!((flags_of(mdl), lock_count(mm, frame)), (0, 0));
    mm_probe_and_lock_pages(mm, mdl, KERNEL_MODE, IO_WRITE_ACCESS).unwrap();

    for stop in [
        stopped(above_dispatch(mm, || map_cached(mm, mdl))),
        stopped(above_dispatch(mm, || specify_cache(mm, mdl, CACHED, NORMAL))),
    ] {
        assert_eq!((stop.code, stop.parameters), (0xC4, [0x76, irql, mdl as u64, 0]));
    }
    assert!(mm.mdl_mappings().list().is_empty());
    let mapped = map_cached(mm, mdl);

    let stop = stopped(above_dispatch(mm, || mm_unmap_locked_pages(mm, mapped, mdl)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x79, irql, mapped as u64, mdl as u64]));
    assert!(is_valid(mm, mapped));

    let stop = stopped(above_dispatch(mm, || mm_unlock_pages(mm, mdl)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x78, irql, mdl as u64, 0]));
    assert!(is_valid(mm, mapped));
    assert_eq!(lock_count(mm, frame), 1);
    assert_ne!(flags_of(mdl) & flags::MDL_PAGES_LOCKED, 0);
    mm_unlock_pages(mm, mdl);

    let free = mm.pfn_database().free_frames();
    let stop =
        stopped(above_dispatch(mm, || mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, PAGE, CACHED, 0)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x7E, irql, 0, 0]));
    assert_eq!(mm.pfn_database().free_frames(), free);
    let pages = pages_for_mdl(mm, 1);
    let stop = stopped(above_dispatch(mm, || mm_free_pages_from_mdl(mm, pages)));
    assert_eq!((stop.code, stop.parameters), (0xC4, [0x7E, irql, pages as u64, 0]));
    assert_eq!(mm.pages_for_mdl().list().len(), 1, "the pages are still the MDL's");
    mm_free_pages_from_mdl(mm, pages);
}

#[test]
fn every_mdl_routine_works_at_dispatch_level() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    mm.platform().set_current_irql(Irql::DISPATCH);
    let result = machine.catch_bug_check(|| {
        let mdl = locked_mdl(mm, buffer, 2 * PAGE);
        let mapped = map_cached(mm, mdl);
        assert!(!mapped.is_null());
        let partial = io_allocate_mdl(mm, std::ptr::null(), PAGE as u32);
        io_build_partial_mdl(mm, mdl, partial, buffer, 0x10);
        io_free_mdl(mm, partial);
        mm_unmap_locked_pages(mm, mapped, mdl);
        mm_unlock_pages(mm, mdl);
        io_free_mdl(mm, mdl);
        let pages = mm_allocate_pages_for_mdl_ex(mm, 0, ANYWHERE, 0, PAGE, CACHED, 0);
        assert!(!pages.is_null());
        mm_free_pages_from_mdl(mm, pages);
        nt::ex_free_pool(mm, pages.cast());
    });
    mm.platform().set_current_irql(Irql::PASSIVE);
    result.expect("no bug check at DISPATCH_LEVEL");
    assert!(mm.mdl_mappings().list().is_empty());
}

#[test]
fn unlocking_an_mdl_still_in_a_reserved_mapping_is_refused() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 2 * PAGE, TAG);
    let buffer = pool(mm, PAGE);
    let frame = pfn_of(mm, buffer);
    let mdl = locked_mdl(mm, buffer, PAGE);
    assert_eq!(mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED), base);
    let before = flags_of(mdl);
    let stop = stopped(machine.catch_bug_check(|| mm_unlock_pages(mm, mdl)));
    assert_eq!((stop.code, stop.parameters), (code::SYSTEM_PTE_MISUSE, [0x06, mdl as u64, base as u64, 1]));
    assert_eq!(flags_of(mdl), before);
    assert_eq!(lock_count(mm, frame), 1, "the frame stays locked under the reserved mapping");
    assert!(is_valid(mm, base));
    mm_unmap_reserved_mapping(mm, base, TAG, mdl);
    mm_unlock_pages(mm, mdl);
    assert_eq!(lock_count(mm, frame), 0);

    // Pages from MmAllocatePagesForMdl are not freed under a reserved mapping either.
    let pages = pages_for_mdl(mm, 1);
    let frame = mdl_pfns(pages)[0];
    assert_eq!(mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, pages, CACHED), base);
    let stop = stopped(machine.catch_bug_check(|| mm_free_pages_from_mdl(mm, pages)));
    assert_eq!((stop.code, stop.parameters), (code::SYSTEM_PTE_MISUSE, [0x06, pages as u64, base as u64, 1]));
    assert_eq!(mm.pfn_database().entry(frame).unwrap().use_, PageUse::Allocated);
    assert_eq!(mm.pages_for_mdl().list().len(), 1);
    mm_unmap_reserved_mapping(mm, base, TAG, pages);
    mm_free_pages_from_mdl(mm, pages);
    assert_eq!(mm.pfn_database().entry(frame).unwrap().use_, PageUse::Free);
    mm_free_mapping_address(mm, base, TAG);
}

#[test]
fn freeing_a_partial_mdl_still_in_a_reserved_mapping_is_0xb8() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, PAGE, TAG);
    let buffer = pool(mm, PAGE);
    let source = locked_mdl(mm, buffer, PAGE);
    let partial = io_allocate_mdl(mm, std::ptr::null(), PAGE as u32);
    io_build_partial_mdl(mm, source, partial, buffer, 0);
    assert_eq!(mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, partial, CACHED), base);
    let stop = stopped(machine.catch_bug_check(|| io_free_mdl(mm, partial)));
    assert_eq!((stop.code, stop.parameters[0], stop.parameters[1]), (0xC4, 0xB8, partial as u64));
    assert!(mm.pool_allocation(va(partial.cast())).is_some());
    mm_unmap_reserved_mapping(mm, base, TAG, partial);
    io_free_mdl(mm, partial);
    mm_unlock_pages(mm, source);
    mm_free_mapping_address(mm, base, TAG);
}

#[test]
fn mdl_mapping_can_fail_gets_null_instead_of_a_bug_check() {
    // Under the default verifier rules any use of MmMapLockedPages is 0xC4/0x81.
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, PAGE);
    let mdl = locked_mdl(mm, buffer, PAGE);
    let stop = stopped(machine.catch_bug_check(|| mm_map_locked_pages(mm, mdl, KERNEL_MODE)));
    assert_eq!((stop.code, stop.parameters[0], stop.parameters[2]), (0xC4, 0x81, mdl as u64));
    assert!(mm.mdl_mappings().list().is_empty());
    mm_unlock_pages(mm, mdl);

    let verifier = VerifierOptions {
        report_bug_check_on_failure: false,
        report_obsolete_routines: false,
        ..VerifierOptions::default()
    };
    let mm = memory_manager_with(1, verifier);
    let mm = &mm;
    let mdl = pages_for_mdl(mm, 1);
    let mapped = mm_map_locked_pages(mm, mdl, KERNEL_MODE);
    assert_eq!(leaf_policy(mm, mapped), CachePolicy::WriteBack, "MmMapLockedPages maps cached");
    mm_unmap_locked_pages(mm, mapped, mdl);

    let hogs = exhaust_system_va(mm);
    let stop = stopped(catch_bug_check(|| mm_map_locked_pages(mm, mdl, KERNEL_MODE)));
    assert_eq!(stop.code, code::NO_MORE_SYSTEM_PTES);
    set_flags(mdl, flags::MDL_MAPPING_CAN_FAIL);
    let result = catch_bug_check(|| mm_map_locked_pages(mm, mdl, KERNEL_MODE));
    assert!(matches!(result, Ok(address) if address.is_null()), "MDL_MAPPING_CAN_FAIL: NULL");
    let result = catch_bug_check(|| {
        mm_map_locked_pages_specify_cache(mm, mdl, KERNEL_MODE, CACHED, std::ptr::null_mut(), 1, NORMAL)
    });
    assert!(matches!(result, Ok(address) if address.is_null()));
    assert_eq!(flags_of(mdl) & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    for hog in hogs {
        nt::mm_unmap_io_space(mm, hog, PAGE);
    }
    mm_free_pages_from_mdl(mm, mdl);
}

#[test]
fn prepare_mdl_for_reuse_releases_only_a_partial_mdls_own_mapping() {
    let machine = machine();
    let mm = machine.mm();
    let buffer = pool(mm, 2 * PAGE);
    let source = locked_mdl(mm, buffer, 2 * PAGE);
    let target = io_allocate_mdl(mm, std::ptr::null(), 2 * PAGE as u32);

    // Its own mapping: released, and the target can be built again.
    io_build_partial_mdl(mm, source, target, at(buffer, PAGE), 0x10);
    let own = map_cached(mm, target);
    mm_prepare_mdl_for_reuse(mm, target);
    assert!(!is_valid(mm, own));
    assert!(mm.mdl_mappings().list().is_empty());
    assert_eq!(flags_of(target) & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_PARTIAL_HAS_BEEN_MAPPED), 0);

    // A borrowed mapping, and a non-partial MDL's mapping: left alone.
    let mapped = map_cached(mm, source);
    io_build_partial_mdl(mm, source, target, buffer, 0);
    let borrowed = flags_of(target);
    mm_prepare_mdl_for_reuse(mm, target);
    assert_eq!(flags_of(target), borrowed);
    mm_prepare_mdl_for_reuse(mm, source);
    assert!(is_valid(mm, mapped));
    assert_eq!(mapped_system_va(target), mapped);
    assert_eq!(mm.mdl_mappings().list().len(), 1);
    io_free_mdl(mm, target);
    mm_unlock_pages(mm, source);
}

#[test]
fn ex_free_pool_of_a_pages_for_mdl_mdl_forgets_it_so_no_later_mdl_inherits_its_pages() {
    let machine = machine();
    let mm = machine.mm();
    let mdl = mm_allocate_pages_for_mdl(mm, 0, i64::MAX, 0, 2 * PAGE_SIZE as usize);
    assert!(!mdl.is_null());
    assert_eq!(mm.pages_for_mdl().list().len(), 1);
    nt::ex_free_pool(mm, mdl.cast());
    assert!(mm.pages_for_mdl().list().is_empty(), "the freed MDL is forgotten");
    let stop = machine.catch_bug_check(|| mm_free_pages_from_mdl(mm, mdl)).unwrap_err();
    assert_eq!(stop.parameters[0], 0x1236, "its pages can no longer be freed through it");
}
