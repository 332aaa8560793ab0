//! Reserved mappings on the hosted machine: `MmAllocateMappingAddress(Ex)`,
//! `MmMapLockedPagesWithReservedMapping`, `MmUnmapReservedMapping`, `MmFreeMappingAddress`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_void;
use std::os::unix::process::ExitStatusExt;

use common::*;
use iospace_mm::address::{PAGE_SIZE, VirtualAddress};
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::mdl::{Mdl, flags};
use iospace_mm::nt;
use iospace_mm::nt_mdl::*;
use iospace_mm::reserved_mapping::MM_MAPPING_ADDRESS_DIVISIBLE;

/// Counts heap allocations made by the current thread, so that a test can show a path makes
/// none while other tests run on other threads.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only a
// thread-local integer, which neither allocates nor re-enters the allocator.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

const TAG: u32 = u32::from_le_bytes(*b"Test");
const CACHED: i32 = MemoryCachingType::Cached as i32;

/// Nonpaged pool of `bytes` bytes.
fn pool(mm: &iospace_mm::memory_manager::MemoryManager, bytes: u64) -> *mut c_void {
    let location = std::panic::Location::caller();
    mm.allocate_pool(iospace_mm::pool::PoolType::NonPaged, bytes, TAG, true, location).unwrap().as_ptr()
}

/// A locked MDL over `pages` pages of fresh pool, starting `offset` bytes into the first.
fn locked_pool_mdl(machine: &iospace_hosted::Machine, pages: u64, offset: u64) -> (*mut c_void, *mut Mdl) {
    let mm = machine.mm();
    let buffer = pool(mm, (pages + 1) * PAGE_SIZE);
    assert!(!buffer.is_null());
    let start = VirtualAddress::from_ptr(buffer).add(offset);
    let length = pages * PAGE_SIZE - offset;
    let mdl = io_allocate_mdl(mm, start.as_ptr(), length as u32);
    assert!(!mdl.is_null());
    mm_probe_and_lock_pages(mm, mdl, 0, 1).expect("pool pages lock");
    (buffer, mdl)
}

#[test]
fn claim_28_a_reservation_commits_no_memory_and_is_not_mapped() {
    let machine = machine();
    let mm = machine.mm();
    let frames_before = mm.pfn_database().free_frames();
    let tables_before = mm.page_tables().table_frames(mm.platform().physical_memory());
    let base = mm_allocate_mapping_address(mm, 16 * PAGE_SIZE as usize, TAG);
    assert!(!base.is_null());
    let tables = mm.page_tables().table_frames(mm.platform().physical_memory()) - tables_before;
    assert_eq!(frames_before - mm.pfn_database().free_frames(), tables, "only page tables were taken");
    for page in 0..16 {
        assert!(!nt::mm_is_address_valid(mm, VirtualAddress::from_ptr(base).add(page * PAGE_SIZE).as_ptr()));
    }
    mm_free_mapping_address(mm, base, TAG);
}

#[test]
fn claim_28_touching_a_reservation_before_mapping_faults() {
    const NAME: &str = "claim_28_touching_a_reservation_before_mapping_faults";
    if is_child(NAME) {
        let machine = machine();
        let base = mm_allocate_mapping_address(machine.mm(), PAGE_SIZE as usize, TAG);
        // SAFETY: deliberately none: the reserved page is not mapped, so this read must fault.
        let value = unsafe { base.cast::<u8>().read_volatile() };
        std::process::exit(i32::from(value));
    }
    assert_eq!(run_child(NAME).status.signal(), Some(11), "SIGSEGV");
}

#[test]
fn claim_29_reserving_zero_bytes_is_0xda_0x100() {
    let machine = machine();
    let mm = machine.mm();
    let stop = machine.catch_bug_check(|| mm_allocate_mapping_address(mm, 0, TAG)).unwrap_err();
    assert_eq!(stop.code, 0xDA);
    assert_eq!(stop.parameters[0], 0x100);
    assert_eq!(stop.parameters[2], TAG.into());
}

#[test]
fn claim_30_divisible_reservations_start_at_a_multiple_of_their_size() {
    let machine = machine();
    let mm = machine.mm();
    let skew = mm_allocate_mapping_address(mm, PAGE_SIZE as usize, TAG);
    for pages in [1u64, 3, 5, 16, 100] {
        let bytes = (pages * PAGE_SIZE) as usize;
        let base = mm_allocate_mapping_address_ex(mm, bytes, TAG, MM_MAPPING_ADDRESS_DIVISIBLE);
        assert!(!base.is_null());
        assert_eq!(base as u64 % (pages * PAGE_SIZE), 0, "{pages} pages");
        mm_free_mapping_address(mm, base, TAG);
    }
    assert!(mm_allocate_mapping_address_ex(mm, 0x1000, 0, 0).is_null(), "a zero tag is refused");
    assert!(mm_allocate_mapping_address_ex(mm, 0x1000, TAG, 0x2).is_null(), "unknown flags are refused");
    assert!(mm_allocate_mapping_address_ex(mm, 1 << 32, TAG, 0).is_null(), "4 GB or more is refused");
    mm_free_mapping_address(mm, skew, TAG);
}

#[test]
fn claim_31_only_an_mdl_larger_than_the_reservation_gets_null() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 2 * PAGE_SIZE as usize, TAG);
    let (_, small) = locked_pool_mdl(&machine, 2, 0);
    let (_, large) = locked_pool_mdl(&machine, 3, 0);
    assert!(mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, large, CACHED).is_null());
    let mapped = mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, small, CACHED);
    assert!(!mapped.is_null(), "a fitting MDL maps");
    mm_unmap_reserved_mapping(mm, base, TAG, small);
}

#[test]
fn claim_32_the_result_includes_the_byte_offset_but_mapped_system_va_does_not() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 4 * PAGE_SIZE as usize, TAG);
    let (buffer, mdl) = locked_pool_mdl(&machine, 2, 0x345);
    let mapped = mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED);
    assert_eq!(mapped as u64, base as u64 + 0x345);
    // SAFETY: the MDL is ours and live; drivers read these fields directly too.
    let (mapped_system_va, mdl_flags) = unsafe { ((*mdl).mapped_system_va, (*mdl).mdl_flags as u16) };
    assert_eq!(mapped_system_va, base);
    assert_ne!(mdl_flags & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
    // SAFETY: both addresses map the same locked pool bytes.
    unsafe {
        buffer.cast::<u8>().add(0x345).write_volatile(0x77);
        assert_eq!(mapped.cast::<u8>().read_volatile(), 0x77);
    }
    mm_unmap_reserved_mapping(mm, base, TAG, mdl);
    // SAFETY: as above.
    assert_eq!(unsafe { (*mdl).mdl_flags as u16 } & flags::MDL_MAPPED_TO_SYSTEM_VA, 0);
}

#[test]
fn claim_33_wrong_tags_are_0x104_on_map_and_0x108_on_unmap() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, PAGE_SIZE as usize, TAG);
    let (_, mdl) = locked_pool_mdl(&machine, 1, 0);
    let stop =
        machine.catch_bug_check(|| mm_map_locked_pages_with_reserved_mapping(mm, base, TAG + 1, mdl, CACHED));
    assert_eq!(stop.unwrap_err().parameters, [0x104, base as u64, (TAG + 1).into(), TAG.into()]);
    mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED);
    let stop = machine.catch_bug_check(|| mm_unmap_reserved_mapping(mm, base, TAG + 1, mdl));
    assert_eq!(stop.unwrap_err().parameters, [0x108, base as u64, (TAG + 1).into(), TAG.into()]);
    mm_unmap_reserved_mapping(mm, base, TAG, mdl);
}

#[test]
fn claim_34_freeing_a_mapped_reservation_is_0x103_and_a_wrong_tag_0x101() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 2 * PAGE_SIZE as usize, TAG);
    let (_, mdl) = locked_pool_mdl(&machine, 2, 0);
    mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED);
    let stop = machine.catch_bug_check(|| mm_free_mapping_address(mm, base, TAG)).unwrap_err();
    assert_eq!(stop.parameters, [0x103, base as u64, TAG.into(), 2]);
    mm_unmap_reserved_mapping(mm, base, TAG, mdl);
    let stop = machine.catch_bug_check(|| mm_free_mapping_address(mm, base, 0x1234)).unwrap_err();
    assert_eq!(stop.parameters, [0x101, base as u64, 0x1234, TAG.into()]);
    mm_free_mapping_address(mm, base, TAG);
    let stop = machine.catch_bug_check(|| mm_free_mapping_address(mm, base, TAG)).unwrap_err();
    assert_eq!(stop.parameters[0], 0x102, "freeing twice finds nothing to free");
}

#[test]
fn claim_35_mapping_into_a_reservation_that_is_still_mapped_is_0x107() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 4 * PAGE_SIZE as usize, TAG);
    let (_, first) = locked_pool_mdl(&machine, 2, 0);
    let (_, second) = locked_pool_mdl(&machine, 1, 0);
    mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, first, CACHED);
    let stop =
        machine.catch_bug_check(|| mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, second, CACHED));
    assert_eq!(stop.unwrap_err().parameters, [0x107, base as u64, base as u64, base as u64 + PAGE_SIZE]);
    mm_unmap_reserved_mapping(mm, base, TAG, first);
}

#[test]
fn claim_36_map_unmap_map_succeeds_every_time() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 4 * PAGE_SIZE as usize, TAG);
    let mdls: Vec<_> = (1..=4).map(|pages| locked_pool_mdl(&machine, pages, 0)).collect();
    for round in 0..50 {
        let (buffer, mdl) = mdls[round % 4];
        let mapped = mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED);
        assert_eq!(mapped, base, "round {round}");
        // SAFETY: the pool buffer and the reserved mapping show the same locked page.
        unsafe {
            buffer.cast::<u64>().write_volatile(round as u64);
            assert_eq!(mapped.cast::<u64>().read_volatile(), round as u64);
        }
        mm_unmap_reserved_mapping(mm, base, TAG, mdl);
    }
    mm_free_mapping_address(mm, base, TAG);
}

#[test]
fn claim_69_is_address_valid_follows_the_reserved_mapping() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 2 * PAGE_SIZE as usize, TAG);
    let (_, mdl) = locked_pool_mdl(&machine, 1, 0);
    assert!(!nt::mm_is_address_valid(mm, base));
    mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED);
    assert!(nt::mm_is_address_valid(mm, base));
    let second_page = VirtualAddress::from_ptr(base).add(PAGE_SIZE).as_ptr::<c_void>();
    assert!(!nt::mm_is_address_valid(mm, second_page), "only the MDL's pages are mapped");
    mm_unmap_reserved_mapping(mm, base, TAG, mdl);
    assert!(!nt::mm_is_address_valid(mm, base));
}

#[test]
fn unmap_misuse_is_0x109_0x10a_and_0x10c_and_invalid_ranges_0x105() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 4 * PAGE_SIZE as usize, TAG);
    let (_, one) = locked_pool_mdl(&machine, 1, 0);
    let (_, two) = locked_pool_mdl(&machine, 2, 0);
    let (_, three) = locked_pool_mdl(&machine, 3, 0);
    let empty = machine.catch_bug_check(|| mm_unmap_reserved_mapping(mm, base, TAG, two)).unwrap_err();
    assert_eq!(empty.parameters, [0x109, base as u64, TAG.into(), 0]);
    mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, two, CACHED);
    let more = machine.catch_bug_check(|| mm_unmap_reserved_mapping(mm, base, TAG, three)).unwrap_err();
    assert_eq!(more.parameters, [0x10A, base as u64, 2, 3]);
    let fewer = machine.catch_bug_check(|| mm_unmap_reserved_mapping(mm, base, TAG, one)).unwrap_err();
    assert_eq!(fewer.parameters, [0x10C, base as u64, TAG.into(), 1]);
    mm_unmap_reserved_mapping(mm, base, TAG, two);
    let inside = VirtualAddress::from_ptr(base).add(PAGE_SIZE).as_ptr();
    let invalid =
        machine.catch_bug_check(|| mm_map_locked_pages_with_reserved_mapping(mm, inside, TAG, one, CACHED));
    assert_eq!(invalid.unwrap_err().parameters[0], 0x105);
    mm_free_mapping_address(mm, base, TAG);
}

#[test]
fn unlocked_or_already_mapped_mdls_are_verifier_violations() {
    let machine = machine();
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 4 * PAGE_SIZE as usize, TAG);
    let buffer = pool(mm, PAGE_SIZE);
    let unlocked = io_allocate_mdl(mm, buffer, PAGE_SIZE as u32);
    let stop = machine
        .catch_bug_check(|| mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, unlocked, CACHED));
    assert_eq!(stop.unwrap_err().parameters[..2], [0x85, unlocked as u64]);
    mm_build_mdl_for_non_paged_pool(mm, unlocked);
    let stop = machine
        .catch_bug_check(|| mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, unlocked, CACHED));
    assert_eq!(stop.unwrap_err().parameters[..2], [0xB2, unlocked as u64]);
    assert_eq!(mm.reservations().get(VirtualAddress::from_ptr(base)).unwrap().mapped_pages, 0);
}

#[test]
fn reserved_mappings_make_progress_with_ram_and_va_exhausted_and_allocate_nothing() {
    let machine = machine_with_va(64);
    let mm = machine.mm();
    let base = mm_allocate_mapping_address(mm, 8 * PAGE_SIZE as usize, TAG);
    let (buffer, mdl) = locked_pool_mdl(&machine, 8, 0x10);

    // Exhaust RAM, then system VA.
    let _hogged = take_all_frames(mm);
    assert_eq!(mm.pfn_database().free_frames(), 0);
    let mut hogs = 0;
    while !nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, PAGE_SIZE as usize, 0).is_null() {
        hogs += 1;
    }
    assert!(hogs > 0);
    assert!(nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 1, 0).is_null(), "system VA is exhausted");
    assert!(mm_allocate_mapping_address(mm, PAGE_SIZE as usize, TAG).is_null(), "no VA for new reservations");

    let before = allocations();
    for round in 0..1000u64 {
        let mapped = mm_map_locked_pages_with_reserved_mapping(mm, base, TAG, mdl, CACHED);
        assert_eq!(mapped as u64, base as u64 + 0x10, "round {round}");
        // SAFETY: the reserved mapping and the pool buffer show the same locked bytes.
        unsafe {
            mapped.cast::<u64>().add(round as usize % 512).write_volatile(round);
            assert_eq!(
                buffer.cast::<u8>().add(0x10).cast::<u64>().add(round as usize % 512).read_unaligned(),
                round
            );
        }
        mm_unmap_reserved_mapping(mm, base, TAG, mdl);
    }
    assert_eq!(allocations() - before, 0, "map and unmap made no heap allocation");
}
