//! Contiguous and non-cached memory on the hosted machine: `MmAllocateContiguousMemory`,
//! `MmAllocateContiguousMemorySpecifyCache`, `MmFreeContiguousMemory`,
//! `MmAllocateNonCachedMemory` and `MmFreeNonCachedMemory`.

mod common;

use std::ffi::c_void;

use common::*;
use iospace_hosted::Machine;
use iospace_mm::address::{PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::{bad_pool_caller, code, pte_release};
use iospace_mm::caching::{CachePolicy, MemoryCachingType};
use iospace_mm::contiguous::{ContiguousError, ContiguousKind};
use iospace_mm::irql::Irql;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::nt;
use iospace_mm::page_table::{PTE_NO_EXECUTE, PTE_WRITABLE};
use iospace_mm::pat;
use iospace_mm::pfn_database::PageUse;
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::range_allocator::Placement;

const CACHED: i32 = MemoryCachingType::Cached as i32;
const NON_CACHED: i32 = MemoryCachingType::NonCached as i32;
const WRITE_COMBINED: i32 = MemoryCachingType::WriteCombined as i32;

fn va(pointer: *mut c_void) -> VirtualAddress {
    VirtualAddress::from_ptr(pointer)
}

fn physical(mm: &MemoryManager, address: VirtualAddress) -> u64 {
    nt::mm_get_physical_address(mm, address.as_ptr()) as u64
}

/// Free frames and free system VA pages.
fn free_counts(mm: &MemoryManager) -> (u64, u64) {
    (mm.pfn_database().free_frames(), mm.system_va().free_pages())
}

/// The leaf entry mapping `address`.
fn leaf(mm: &MemoryManager, address: VirtualAddress) -> u64 {
    mm.page_tables().leaf_entry(mm.platform().physical_memory(), address).expect("mapped").0
}

/// Fills frame `pfn` with `byte` straight in RAM.
fn fill_frame(machine: &Machine, pfn: Pfn, byte: u8) {
    let frame = machine.platform().ram().frame(pfn).expect("a RAM frame");
    // SAFETY: the frame pointer covers 4096 writable bytes; the frame is free, so nothing else
    // uses it.
    unsafe { frame.cast::<u8>().write_bytes(byte, PAGE_SIZE as usize) };
}

#[test]
fn claim_65_contiguous_allocation_respects_bounds_and_boundary() {
    let machine = machine();
    let mm = machine.mm();
    let windows: [(u64, u64); 4] =
        [(0, u64::MAX), (0x10_0000, 0x1FF_FFFF), (0x123_4567, 0x3FF_FFFF), (0x800_0000, 0x8FF_FFFF)];
    let sizes = [1u64, 0x1000, 0x1001, 0x5000, 0x1_0000, 0x3_3000];
    let boundaries = [0u64, 0x1_0000, 0x4_0000, 0x10_0000];
    let mut live = Vec::new();
    let mut checked = 0;
    for &(lowest, highest) in &windows {
        for &bytes in &sizes {
            for &boundary in &boundaries {
                let pages = bytes.div_ceil(PAGE_SIZE);
                let pointer = nt::mm_allocate_contiguous_memory_specify_cache(
                    mm,
                    bytes as usize,
                    lowest as i64,
                    highest as i64,
                    boundary as i64,
                    CACHED,
                );
                if boundary != 0 && boundary < pages * PAGE_SIZE {
                    assert!(pointer.is_null(), "{bytes:#x} bytes cannot avoid crossing {boundary:#x}");
                    continue;
                }
                assert!(!pointer.is_null(), "{bytes:#x} bytes in {lowest:#x}..={highest:#x} / {boundary:#x}");
                let base = va(pointer);
                assert_eq!(base.0 % PAGE_SIZE, 0);
                let first = physical(mm, base);
                let last = first + pages * PAGE_SIZE - 1;
                assert!(first >= lowest && last <= highest, "{first:#x}..={last:#x} outside the window");
                if let (Some(first_chunk), Some(last_chunk)) =
                    (first.checked_div(boundary), last.checked_div(boundary))
                {
                    assert_eq!(first_chunk, last_chunk, "{first:#x}..={last:#x} crosses {boundary:#x}");
                }
                for page in 0..pages {
                    let address = base.add(page * PAGE_SIZE);
                    assert_eq!(physical(mm, address), first + page * PAGE_SIZE, "physically contiguous");
                    assert_eq!(physical(mm, address.add(0xABC)), first + page * PAGE_SIZE + 0xABC);
                }
                checked += 1;
                live.push(pointer);
            }
        }
    }
    assert!(checked > 60);
    // The inclusive upper bound: a block may end exactly on `highest`, never past it.
    let exact =
        nt::mm_allocate_contiguous_memory_specify_cache(mm, 0x2000, 0x900_0000, 0x900_1FFF, 0, CACHED);
    assert_eq!(physical(mm, va(exact)), 0x900_0000);
    assert!(
        nt::mm_allocate_contiguous_memory_specify_cache(mm, 0x2000, 0x910_0000, 0x910_1FFE, 0, CACHED)
            .is_null()
    );
    live.push(exact);
    for pointer in live {
        nt::mm_free_contiguous_memory(mm, pointer);
    }
    assert!(mm.contiguous_allocations().is_empty());
}

#[test]
fn claim_66_contiguous_memory_is_page_aligned_and_not_zeroed() {
    let machine = machine();
    let mm = machine.mm();
    let pfns = mm.pfn_database();
    // Find four free frames, fill them with a pattern while they are free, and ask for
    // contiguous memory exactly there.
    let first = pfns.allocate(4, &Placement::aligned(4, 0), PageUse::Allocated).unwrap();
    pfns.free(first, 4, PageUse::Allocated).unwrap();
    for i in 0..4 {
        fill_frame(&machine, Pfn(first.0 + i), 0xA0 + i as u8);
    }
    let lowest = first.address().0;
    let highest = lowest + 4 * PAGE_SIZE - 1;
    let pointer = nt::mm_allocate_contiguous_memory_specify_cache(
        mm,
        (4 * PAGE_SIZE) as usize,
        lowest as i64,
        highest as i64,
        0,
        CACHED,
    );
    assert_eq!(pointer as u64 % PAGE_SIZE, 0, "starts on a page boundary");
    assert_eq!(physical(mm, va(pointer)), lowest);
    for i in 0..4u64 {
        let page = pointer.cast::<u8>().wrapping_add((i * PAGE_SIZE) as usize);
        // SAFETY: the four pages are the allocation, mapped read-write.
        let contents = unsafe { std::slice::from_raw_parts(page, PAGE_SIZE as usize) };
        assert!(contents.iter().all(|&byte| byte == 0xA0 + i as u8), "page {i} kept its contents");
    }

    // Free and allocate the same run again: what was written survives.
    // SAFETY: the first byte is part of the allocation.
    unsafe { pointer.cast::<u8>().write(0x5A) };
    nt::mm_free_contiguous_memory(mm, pointer);
    let again = nt::mm_allocate_contiguous_memory_specify_cache(
        mm,
        (4 * PAGE_SIZE) as usize,
        lowest as i64,
        highest as i64,
        0,
        NON_CACHED,
    );
    assert_eq!(physical(mm, va(again)), lowest);
    // SAFETY: the first byte is part of the allocation.
    assert_eq!(unsafe { again.cast::<u8>().read_volatile() }, 0x5A);
    nt::mm_free_contiguous_memory(mm, again);

    let plain = nt::mm_allocate_contiguous_memory(mm, 100, -1);
    assert!(!plain.is_null());
    assert_eq!(plain as u64 % PAGE_SIZE, 0);
    nt::mm_free_contiguous_memory(mm, plain);
}

#[test]
fn claim_67_non_cached_memory_is_whole_pages_mapped_uncached_and_freed_with_the_same_size() {
    let machine = machine();
    let mm = machine.mm();
    let before = free_counts(mm);
    let one = nt::mm_allocate_non_cached_memory(mm, 100);
    let three = nt::mm_allocate_non_cached_memory(mm, 2 * PAGE_SIZE as usize + 1);
    for (pointer, pages) in [(one, 1), (three, 3)] {
        let base = va(pointer);
        assert_eq!(base.0 % PAGE_SIZE, 0, "page-aligned, so cache-line aligned");
        for page in 0..pages {
            let address = base.add(page * PAGE_SIZE);
            let entry = leaf(mm, address);
            assert_eq!(pat::policy_from_pte(entry), CachePolicy::Uncached);
            assert_ne!(entry & PTE_WRITABLE, 0);
            assert_ne!(entry & PTE_NO_EXECUTE, 0);
            let pfn = mm.physical_address(address).unwrap().pfn();
            let pfn_entry = mm.pfn_database().entry(pfn).unwrap();
            assert_eq!((pfn_entry.use_, pfn_entry.cache), (PageUse::Allocated, Some(CachePolicy::Uncached)));
            // SAFETY: the whole page is part of the allocation and writable.
            unsafe { address.as_ptr::<u64>().add(511).write_volatile(page) };
        }
        let record = mm.contiguous_allocations().into_iter().find(|record| record.address == base).unwrap();
        assert_eq!(
            (record.kind, record.pages, record.cache),
            (ContiguousKind::NonCached, pages, CachePolicy::Uncached)
        );
    }

    // The wrong size, an address inside, and an unknown address are refused.
    let stop = machine.catch_bug_check(|| nt::mm_free_non_cached_memory(mm, three, 0x2000)).unwrap_err();
    assert_eq!(stop.code, code::SYSTEM_PTE_MISUSE);
    assert_eq!(stop.parameters, [pte_release::WRONG_COUNT, three as u64, 2, 3]);
    let stop = machine.catch_bug_check(|| nt::mm_free_non_cached_memory(mm, one, 0)).unwrap_err();
    assert_eq!(stop.parameters, [0x305, one as u64, 0, 1]);
    let inside = va(three).add(PAGE_SIZE).as_ptr();
    let stop = machine.catch_bug_check(|| nt::mm_free_non_cached_memory(mm, inside, 0x1000)).unwrap_err();
    assert_eq!(stop.parameters, [pte_release::MIDDLE_OF_ALLOCATION, inside as u64, 1, 0]);
    let unknown = mm.system_va().base().add(0x40_0000).as_ptr();
    let stop = machine.catch_bug_check(|| nt::mm_free_non_cached_memory(mm, unknown, 0x1000)).unwrap_err();
    assert_eq!(stop.parameters, [pte_release::NEVER_RESERVED, unknown as u64, 1, 0]);
    assert_eq!(mm.contiguous_allocations().len(), 2, "refused frees free nothing");

    // Any size spanning the same pages frees.
    nt::mm_free_non_cached_memory(mm, three, 3 * PAGE_SIZE as usize);
    nt::mm_free_non_cached_memory(mm, one, 1);
    assert!(mm.contiguous_allocations().is_empty());
    assert!(!mm.is_address_valid(va(one)));
    let (frames, pages) = free_counts(mm);
    assert_eq!(pages, before.1);
    assert!(before.0 - frames <= 4, "only page tables may remain: {}", before.0 - frames);
}

#[test]
fn the_cache_type_is_recorded_for_every_frame_and_forgotten_on_free() {
    let machine = machine();
    let mm = machine.mm();
    for cache_type in 0..6 {
        let policy = MemoryCachingType::try_from(cache_type).unwrap().policy();
        let pointer = nt::mm_allocate_contiguous_memory_specify_cache(mm, 0x3000, 0, -1, 0, cache_type);
        let base = va(pointer);
        let mut frames = Vec::new();
        for page in 0..3 {
            let address = base.add(page * PAGE_SIZE);
            let entry = leaf(mm, address);
            assert_eq!(pat::policy_from_pte(entry), policy, "cache type {cache_type}");
            // C30030's reading: executable only when cached.
            assert_eq!(
                entry & PTE_NO_EXECUTE == 0,
                policy == CachePolicy::WriteBack,
                "cache type {cache_type}"
            );
            let pfn = mm.physical_address(address).unwrap().pfn();
            let pfn_entry = mm.pfn_database().entry(pfn).unwrap();
            assert_eq!((pfn_entry.use_, pfn_entry.cache), (PageUse::Allocated, Some(policy)));
            frames.push(pfn);
        }
        let record = mm.contiguous_allocations()[0];
        assert_eq!(record.kind, ContiguousKind::Contiguous);
        assert_eq!((record.address, record.bytes, record.pages, record.cache), (base, 0x3000, 3, policy));
        assert_eq!(record.physical, Some(frames[0].address()));
        assert!(record.location.file().ends_with("contiguous.rs"), "the allocation site is recorded");
        nt::mm_free_contiguous_memory(mm, pointer);
        for pfn in frames {
            let pfn_entry = mm.pfn_database().entry(pfn).unwrap();
            assert_eq!((pfn_entry.use_, pfn_entry.cache), (PageUse::Free, None));
        }
    }
}

#[test]
fn exhaustion_returns_null_and_recovers() {
    let machine = machine();
    let mm = machine.mm();
    let ram = mm.pfn_database().total_frames() * PAGE_SIZE;
    assert!(
        nt::mm_allocate_contiguous_memory(mm, 0x1000, 0xFFF).is_null(),
        "only frame 0, which is reserved"
    );
    assert!(nt::mm_allocate_contiguous_memory(mm, ram as usize + 0x1000, -1).is_null(), "more than RAM");
    assert!(nt::mm_allocate_contiguous_memory(mm, usize::MAX, -1).is_null());
    assert!(nt::mm_allocate_non_cached_memory(mm, ram as usize + 0x1000).is_null());
    assert!(nt::mm_allocate_non_cached_memory(mm, usize::MAX).is_null());

    let taken = take_all_frames(mm);
    assert!(nt::mm_allocate_contiguous_memory(mm, 0x1000, -1).is_null());
    assert!(nt::mm_allocate_non_cached_memory(mm, 0x1000).is_null());
    assert_eq!(
        mm.allocate_contiguous_memory(0x1000, PhysicalAddress(u64::MAX)),
        Err(ContiguousError::Exhausted)
    );
    give_back(mm, taken);
    let contiguous = nt::mm_allocate_contiguous_memory(mm, 0x1000, -1);
    let non_cached = nt::mm_allocate_non_cached_memory(mm, 0x1000);
    assert!(!contiguous.is_null() && !non_cached.is_null(), "allocations recover");
    nt::mm_free_contiguous_memory(mm, contiguous);
    nt::mm_free_non_cached_memory(mm, non_cached, 0x1000);

    let small = machine_with_va(1);
    let mm = small.mm();
    assert!(nt::mm_allocate_contiguous_memory(mm, 0x10_1000, -1).is_null(), "more than the VA window");
    assert!(nt::mm_allocate_non_cached_memory(mm, 0x10_1000).is_null());
    assert_eq!(mm.system_va().free_pages(), mm.system_va().total_pages());
    let fits = nt::mm_allocate_contiguous_memory(mm, 0x10_0000, -1);
    assert!(!fits.is_null(), "exactly the window fits");
    nt::mm_free_contiguous_memory(mm, fits);
}

#[test]
fn impossible_constraints_and_bad_arguments_return_null_and_change_nothing() {
    let machine = machine();
    let mm = machine.mm();
    let before = free_counts(mm);
    let cases: [(usize, i64, i64, i64, i32); 10] = [
        (0, 0, -1, 0, CACHED),                       // zero bytes
        (0x1000, 0, -1, 0x3000, CACHED),             // boundary not a power of two
        (0x1000, 0, -1, 0x800, CACHED),              // boundary below a page
        (0x2000, 0, -1, 0x1000, CACHED),             // block larger than the boundary
        (0x1000, 0x200_0000, 0x100_0000, 0, CACHED), // lowest above highest
        (0x3000, 0x100_0000, 0x100_1FFF, 0, CACHED), // window smaller than the block
        (0x1000, 0, 0xFFE, 0, CACHED),               // no whole frame below highest
        (0x1000, -0x1000, -1, 0, CACHED),            // lowest beyond any RAM
        (0x1000, 0, -1, 0, 6),                       // MmMaximumCacheType
        (0x1000, 0, -1, 0, -1),                      // MmNotMapped
    ];
    for (bytes, lowest, highest, boundary, cache_type) in cases {
        let pointer =
            nt::mm_allocate_contiguous_memory_specify_cache(mm, bytes, lowest, highest, boundary, cache_type);
        assert!(pointer.is_null(), "{bytes:#x} {lowest:#x} {highest:#x} {boundary:#x} {cache_type}");
    }
    assert!(nt::mm_allocate_non_cached_memory(mm, 0).is_null());
    let location = std::panic::Location::caller();
    let safe = |bytes, lowest, highest, boundary| {
        mm.allocate_contiguous(
            bytes,
            PhysicalAddress(lowest),
            PhysicalAddress(highest),
            boundary,
            CachePolicy::WriteBack,
            location,
        )
    };
    assert_eq!(safe(0x1000, 0, u64::MAX, 0x3000), Err(ContiguousError::BoundaryNotPowerOfTwo(0x3000)));
    assert_eq!(safe(0x2000, 0, u64::MAX, 0x1000), Err(ContiguousError::ImpossibleConstraints));
    assert_eq!(safe(0, 0, u64::MAX, 0), Err(ContiguousError::ZeroLength));
    assert!(mm.contiguous_allocations().is_empty());
    assert_eq!(free_counts(mm), before);
}

#[test]
fn freeing_contiguous_memory_returns_frames_and_va_and_bad_frees_are_0xc2_0x60() {
    let machine = machine();
    let mm = machine.mm();
    let warm = nt::mm_allocate_contiguous_memory(mm, 0x8000, -1);
    nt::mm_free_contiguous_memory(mm, warm);
    let before = free_counts(mm);
    let pointer = nt::mm_allocate_contiguous_memory(mm, 0x8000, -1);
    assert_eq!(free_counts(mm), (before.0 - 8, before.1 - 8));
    let non_cached = nt::mm_allocate_non_cached_memory(mm, 0x1000);
    let pool = nt::ex_allocate_pool2(mm, iospace_mm::pool::POOL_FLAG_NON_PAGED, 64, 0x7473_6554);
    let inside = va(pointer).add(0x1000).as_ptr();
    for bad in [inside, non_cached, pool, std::ptr::null_mut()] {
        let stop = machine.catch_bug_check(|| nt::mm_free_contiguous_memory(mm, bad)).unwrap_err();
        assert_eq!(stop.code, bad_pool_caller::CODE);
        assert_eq!(stop.parameters, [bad_pool_caller::BAD_CONTIGUOUS_FREE, bad as u64, 0, 0]);
    }
    let stop = machine.catch_bug_check(|| nt::mm_free_non_cached_memory(mm, pointer, 0x8000)).unwrap_err();
    assert_eq!(stop.parameters, [pte_release::NEVER_RESERVED, pointer as u64, 8, 0], "not non-cached memory");
    nt::ex_free_pool(mm, pool);
    nt::mm_free_non_cached_memory(mm, non_cached, 0x1000);

    nt::mm_free_contiguous_memory(mm, pointer);
    assert_eq!(free_counts(mm), before);
    assert!(!mm.is_address_valid(va(pointer)));
    let stop = machine.catch_bug_check(|| nt::mm_free_contiguous_memory(mm, pointer)).unwrap_err();
    assert_eq!(stop.parameters, [0x60, pointer as u64, 0, 0], "a double free is a bad pointer too");
}

#[test]
fn contiguous_memory_is_a_real_pointer_over_its_frames() {
    let machine = machine();
    let mm = machine.mm();
    let pointer = nt::mm_allocate_contiguous_memory(mm, 0x2000, 0x3FFF_FFFF).cast::<u32>();
    for i in 0..0x800 {
        // SAFETY: 0x2000 writable bytes.
        unsafe { pointer.add(i).write_volatile(0xC0DE_0000 | i as u32) };
    }
    let first = physical(mm, va(pointer.cast()));
    for i in [0u64, 1, 0x3FF, 0x400, 0x7FF] {
        let address = PhysicalAddress(first + 4 * i);
        let frame = machine.platform().ram().frame(address.pfn()).unwrap();
        // SAFETY: the offset is inside the frame and 4-byte aligned.
        let value =
            unsafe { frame.cast::<u8>().add(address.page_offset() as usize).cast::<u32>().read_volatile() };
        assert_eq!(value, 0xC0DE_0000 | i as u32);
    }
    nt::mm_free_contiguous_memory(mm, pointer.cast());
}

#[test]
fn irql_rules_contiguous_up_to_dispatch_non_cached_up_to_apc() {
    let machine = machine();
    let mm = machine.mm();
    let at = |irql: Irql, body: &dyn Fn()| {
        mm.platform().set_current_irql(irql);
        let result = machine.catch_bug_check(body);
        mm.platform().set_current_irql(Irql::PASSIVE);
        result
    };
    mm.platform().set_current_irql(Irql::DISPATCH);
    let contiguous = nt::mm_allocate_contiguous_memory_specify_cache(mm, 0x1000, 0, -1, 0, WRITE_COMBINED);
    mm.platform().set_current_irql(Irql::APC);
    let non_cached = nt::mm_allocate_non_cached_memory(mm, 0x1000);
    mm.platform().set_current_irql(Irql::PASSIVE);
    assert!(!contiguous.is_null() && !non_cached.is_null());

    let stop = at(Irql(3), &|| _ = nt::mm_allocate_contiguous_memory(mm, 0x1000, -1)).unwrap_err();
    assert_eq!((stop.code, stop.parameters), (code::IRQL_NOT_LESS_OR_EQUAL, [0, 3, 0, 0]));
    let stop = at(Irql::DISPATCH, &|| _ = nt::mm_allocate_non_cached_memory(mm, 0x1000)).unwrap_err();
    assert_eq!((stop.code, stop.parameters), (code::IRQL_NOT_LESS_OR_EQUAL, [0, 2, 0, 0]));
    let stop = at(Irql(3), &|| nt::mm_free_contiguous_memory(mm, contiguous)).unwrap_err();
    assert_eq!(stop.parameters, [contiguous as u64, 3, 0, 0]);
    let stop = at(Irql::DISPATCH, &|| nt::mm_free_non_cached_memory(mm, non_cached, 0x1000)).unwrap_err();
    assert_eq!(stop.parameters, [non_cached as u64, 2, 0, 0]);
    assert_eq!(mm.contiguous_allocations().len(), 2, "refused calls change nothing");

    at(Irql::DISPATCH, &|| nt::mm_free_contiguous_memory(mm, contiguous)).unwrap();
    at(Irql::APC, &|| nt::mm_free_non_cached_memory(mm, non_cached, 0x1000)).unwrap();
    assert!(mm.contiguous_allocations().is_empty());
}
