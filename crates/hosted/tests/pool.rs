//! Nonpaged and paged pool on the hosted machine: `ExAllocatePoolWithTag`, `ExAllocatePool2`,
//! `ExFreePoolWithTag` and `ExFreePool` through the NT facade, and the safe API beneath them.

mod common;

use std::collections::BTreeMap;
use std::ffi::c_void;

use common::*;
use iospace_hosted::Machine;
use iospace_mm::address::{PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::{BugCheck, bad_pool_caller, code, pool_verifier};
use iospace_mm::caching::CachePolicy;
use iospace_mm::irql::Irql;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::nt;
use iospace_mm::page_table::{PTE_NO_EXECUTE, PTE_WRITABLE};
use iospace_mm::pat;
use iospace_mm::pfn_database::PageUse;
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::pool::*;

const TAG: u32 = u32::from_le_bytes(*b"Test");
const OTHER_TAG: u32 = u32::from_le_bytes(*b"Othr");

fn va(pointer: *mut c_void) -> VirtualAddress {
    VirtualAddress::from_ptr(pointer)
}

/// The byte at `physical`, read from RAM directly (not through any mapping).
fn ram_byte(machine: &Machine, physical: PhysicalAddress) -> u8 {
    let frame = machine.platform().ram().frame(physical.pfn()).expect("a RAM frame");
    // SAFETY: the frame pointer covers 4096 readable bytes and the offset is below 4096.
    unsafe { frame.cast::<u8>().add(physical.page_offset() as usize).read_volatile() }
}

/// Free frames and free system VA pages.
fn free_counts(mm: &MemoryManager) -> (u64, u64) {
    (mm.pfn_database().free_frames(), mm.system_va().free_pages())
}

/// A small deterministic generator for the stress test.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn pool_is_a_real_pointer_and_get_physical_address_finds_the_bytes_written() {
    let machine = machine();
    let mm = machine.mm();
    for bytes in [24usize, 2000, 3 * PAGE_SIZE as usize + 5] {
        let pool = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, bytes, TAG).cast::<u8>();
        assert!(!pool.is_null());
        for i in 0..bytes {
            // SAFETY: the allocation is `bytes` bytes of writable pool.
            unsafe { pool.add(i).write_volatile((i * 7 + 3) as u8) };
        }
        for i in 0..bytes {
            // SAFETY: as above.
            assert_eq!(unsafe { pool.add(i).read_volatile() }, (i * 7 + 3) as u8);
            let physical = nt::mm_get_physical_address(mm, pool.wrapping_add(i).cast());
            let translation = mm.translate(VirtualAddress(pool as u64 + i as u64)).unwrap();
            assert_eq!(physical as u64, translation.frame_base.0 + (pool as u64 + i as u64) % PAGE_SIZE);
            assert_eq!(ram_byte(&machine, PhysicalAddress(physical as u64)), (i * 7 + 3) as u8);
        }
        nt::ex_free_pool_with_tag(mm, pool.cast(), TAG);
    }
    assert!(mm.pool_allocations().is_empty());
}

#[test]
fn pool_is_write_back_ram_mapped_writable_and_no_execute() {
    let machine = machine();
    let mm = machine.mm();
    let memory = mm.platform().physical_memory();
    for flags in [POOL_FLAG_NON_PAGED, POOL_FLAG_NON_PAGED_EXECUTE, POOL_FLAG_PAGED] {
        for bytes in [64, 0x3000] {
            let pool = nt::ex_allocate_pool2(mm, flags, bytes, TAG);
            let (entry, _) = mm.page_tables().leaf_entry(memory, va(pool)).unwrap();
            assert_eq!(pat::policy_from_pte(entry), CachePolicy::WriteBack);
            assert_ne!(entry & PTE_WRITABLE, 0);
            assert_ne!(entry & PTE_NO_EXECUTE, 0, "all pool is no-execute");
            let pfn = mm.physical_address(va(pool)).unwrap().pfn();
            let pfn_entry = mm.pfn_database().entry(pfn).unwrap();
            assert_eq!(pfn_entry.use_, PageUse::Allocated);
            assert_eq!(pfn_entry.cache, Some(CachePolicy::WriteBack));
            nt::ex_free_pool(mm, pool);
            let pfn_entry = mm.pfn_database().entry(pfn).unwrap();
            assert_eq!((pfn_entry.use_, pfn_entry.cache), (PageUse::Free, None), "the page went back");
        }
    }
}

#[test]
fn small_allocations_share_pages_and_never_overlap_under_random_alloc_and_free() {
    let machine = machine();
    let mm = machine.mm();
    let before = free_counts(mm);
    let mut random = XorShift(0x9E37_79B9_7F4A_7C15);
    // Reference model: start -> (bytes, fill byte).
    let mut live: BTreeMap<u64, (u64, u8)> = BTreeMap::new();
    let mut most_live = 0;
    for step in 0..6000u32 {
        let allocate = live.is_empty() || random.next() % 100 < 55;
        if allocate {
            let bytes = 1 + random.next() % if random.next() % 8 == 0 { 3 * PAGE_SIZE } else { 2048 };
            let flags = if random.next() % 3 == 0 { POOL_FLAG_PAGED } else { POOL_FLAG_NON_PAGED };
            let pool = nt::ex_allocate_pool2(mm, flags | POOL_FLAG_UNINITIALIZED, bytes as usize, TAG);
            assert!(!pool.is_null());
            let start = pool as u64;
            assert_eq!(start % POOL_ALIGNMENT, 0, "16-byte aligned");
            if bytes > LARGEST_SMALL_ALLOCATION {
                assert_eq!(start % PAGE_SIZE, 0, "large allocations are page-aligned");
            }
            if let Some((&before, &(len, _))) = live.range(..start).next_back() {
                assert!(before + len <= start, "overlaps the allocation at {before:#x}");
            }
            if let Some((&after, _)) = live.range(start..).next() {
                assert!(start + bytes <= after, "overlaps the allocation at {after:#x}");
            }
            let fill = step as u8;
            // SAFETY: the allocation is `bytes` writable bytes.
            unsafe { pool.cast::<u8>().write_bytes(fill, bytes as usize) };
            live.insert(start, (bytes, fill));
            most_live = most_live.max(live.len());
        } else {
            let index = random.next() as usize % live.len();
            let (&start, &(bytes, fill)) = live.iter().nth(index).unwrap();
            // SAFETY: a live allocation of `bytes` bytes.
            let contents = unsafe { std::slice::from_raw_parts(start as *const u8, bytes as usize) };
            assert!(contents.iter().all(|&byte| byte == fill), "no other allocation wrote into it");
            let record = mm.pool_allocation(VirtualAddress(start)).unwrap();
            assert_eq!((record.address.0, record.bytes, record.tag), (start, bytes, TAG));
            nt::ex_free_pool_with_tag(mm, start as *mut c_void, TAG);
            live.remove(&start);
        }
    }
    assert!(most_live > 50);
    let small = live.values().filter(|(bytes, _)| *bytes <= LARGEST_SMALL_ALLOCATION).count();
    assert!(mm.pool_pages() < small, "{} pages for {small} small allocations", mm.pool_pages());
    assert_eq!(mm.pool_allocations().len(), live.len());
    for &start in live.keys() {
        nt::ex_free_pool(mm, start as *mut c_void);
    }
    assert_eq!(mm.pool_pages(), 0);
    assert!(mm.pool_allocations().is_empty());
    let (frames, pages) = free_counts(mm);
    assert_eq!(pages, before.1, "all system VA is back");
    // Page tables created on the way may stay; everything else is back.
    assert!(before.0 - frames < 8, "{} frames not returned", before.0 - frames);
}

#[test]
fn small_allocations_of_one_class_fill_a_page_before_taking_another() {
    let machine = machine();
    let mm = machine.mm();
    let blocks: Vec<_> =
        (0..PAGE_SIZE / 64).map(|_| nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, 64, TAG)).collect();
    let page = va(blocks[0]).page_base();
    assert!(blocks.iter().all(|&block| va(block).page_base() == page), "64 blocks of 64 bytes share a page");
    assert_eq!(mm.pool_pages(), 1);
    let paged = nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 64, TAG);
    assert_ne!(va(paged).page_base(), page, "paged pool never shares a page with nonpaged pool");
    assert_eq!(mm.pool_pages(), 2);
    for block in blocks {
        nt::ex_free_pool(mm, block);
    }
    nt::ex_free_pool(mm, paged);
    assert_eq!(mm.pool_pages(), 0);
}

#[test]
fn allocations_above_2_kib_are_whole_pages_and_cache_aligned_ones_are_64_byte_aligned() {
    let machine = machine();
    let mm = machine.mm();
    let large = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 2049, TAG);
    assert_eq!(large as u64 % PAGE_SIZE, 0);
    assert!(mm.pool_allocation(va(large)).unwrap().whole_pages);
    let small = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 2048, TAG);
    assert!(!mm.pool_allocation(va(small)).unwrap().whole_pages);
    let mut aligned = Vec::new();
    for _ in 0..8 {
        aligned.push(nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_CACHE_ALIGNED, 8, TAG));
        aligned.push(nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX_CACHE_ALIGNED, 24, TAG));
        aligned.push(nt::ex_allocate_pool_with_tag(mm, PAGED_POOL_CACHE_ALIGNED, 40, TAG));
        aligned.push(nt::ex_allocate_pool2(mm, POOL_FLAG_PAGED | POOL_FLAG_CACHE_ALIGNED, 1, TAG));
        let unaligned = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 8, TAG);
        assert_eq!(unaligned as u64 % 16, 0);
        aligned.push(unaligned);
    }
    for (i, &pointer) in aligned.iter().enumerate() {
        let alignment = if i % 5 == 4 { 16 } else { CACHE_LINE };
        assert_eq!(pointer as u64 % alignment, 0, "allocation {i}");
        nt::ex_free_pool(mm, pointer);
    }
    nt::ex_free_pool(mm, large);
    nt::ex_free_pool(mm, small);
}

#[test]
fn ex_allocate_pool2_zeroes_unless_uninitialized_and_with_tag_leaves_contents_alone() {
    let machine = machine();
    let mm = machine.mm();
    // A live neighbour keeps the page, so the next block of the class is the one just freed.
    let pin = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 100, TAG);
    let dirty = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 100, TAG).cast::<u8>();
    // SAFETY: 100 writable bytes of pool.
    unsafe { dirty.write_bytes(0xAB, 100) };
    nt::ex_free_pool(mm, dirty.cast());

    let uninitialised = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 100, TAG);
    assert_eq!(uninitialised.cast::<u8>(), dirty, "the lowest free block is reused");
    // SAFETY: 100 bytes of live pool.
    let contents = unsafe { std::slice::from_raw_parts(uninitialised.cast::<u8>(), 100) };
    assert!(contents.iter().all(|&byte| byte == 0xAB), "uninitialised pool keeps what was there");
    nt::ex_free_pool(mm, uninitialised);

    let with_tag = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, 100, TAG);
    assert_eq!(with_tag.cast::<u8>(), dirty);
    // SAFETY: as above.
    let contents = unsafe { std::slice::from_raw_parts(with_tag.cast::<u8>(), 100) };
    assert!(contents.iter().all(|&byte| byte == 0xAB), "ExAllocatePoolWithTag does not zero");
    nt::ex_free_pool(mm, with_tag);

    let zeroed = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 100, TAG);
    assert_eq!(zeroed.cast::<u8>(), dirty);
    // SAFETY: as above.
    let contents = unsafe { std::slice::from_raw_parts(zeroed.cast::<u8>(), 100) };
    assert!(contents.iter().all(|&byte| byte == 0), "ExAllocatePool2 zeroes by default");
    nt::ex_free_pool(mm, zeroed);
    nt::ex_free_pool(mm, pin);

    // Whole-page allocations are zeroed frame by frame.
    let large = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED | POOL_FLAG_UNINITIALIZED, 0x4000, TAG);
    // SAFETY: 0x4000 writable bytes.
    unsafe { large.cast::<u8>().write_bytes(0xCD, 0x4000) };
    nt::ex_free_pool(mm, large);
    let zeroed = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 0x4000, TAG);
    // SAFETY: as above.
    let contents = unsafe { std::slice::from_raw_parts(zeroed.cast::<u8>(), 0x4000) };
    assert!(contents.iter().all(|&byte| byte == 0));
    nt::ex_free_pool(mm, zeroed);
}

#[test]
fn tags_must_be_trackable_and_frees_must_name_the_allocation_tag() {
    let machine = machine();
    let mm = machine.mm();
    let stop = machine.catch_bug_check(|| nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, 32, 0));
    assert_eq!(stop.unwrap_err().parameters, [bad_pool_caller::ZERO_TAG, 512, 32, 0]);
    let untrackable = u32::from_le_bytes(*b" !-.");
    let stop = machine.catch_bug_check(|| nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 32, untrackable));
    let stop = stop.unwrap_err();
    assert_eq!(stop.code, 0xC2);
    assert_eq!(stop.parameters, [0x9D, untrackable.into(), 1, 0]);
    assert!(stop.to_string().contains("BAD_POOL_CALLER"), "{stop}");

    assert!(nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 32, 0).is_null(), "ExAllocatePool2 refuses tag 0");
    assert!(nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 32, untrackable).is_null());
    assert!(mm.pool_allocations().is_empty());

    let pool = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL, 32, TAG);
    let stop = machine.catch_bug_check(|| nt::ex_free_pool_with_tag(mm, pool, OTHER_TAG)).unwrap_err();
    assert_eq!(stop.code, bad_pool_caller::CODE);
    assert_eq!(stop.parameters, [0x0A, pool as u64, TAG.into(), OTHER_TAG.into()]);
    assert!(stop.location.unwrap().file().ends_with("pool.rs"), "names the caller: {stop}");
    assert_eq!(mm.pool_allocations().len(), 1, "a refused free frees nothing");
    nt::ex_free_pool_with_tag(mm, pool, 0);
    assert!(mm.pool_allocations().is_empty(), "tag 0 is not checked");

    let untagged = nt::ex_allocate_pool(mm, PAGED_POOL, 32);
    assert_eq!(mm.pool_allocation(va(untagged)).unwrap().tag, POOL_TAG_NONE);
    nt::ex_free_pool_with_tag(mm, untagged, u32::from_le_bytes(*b"None"));
}

#[test]
fn pool_types_and_flags_are_decoded_as_documented() {
    let machine = machine();
    let mm = machine.mm();
    let types = [
        (NON_PAGED_POOL, PoolType::NonPaged),
        (PAGED_POOL, PoolType::Paged),
        (NON_PAGED_POOL_CACHE_ALIGNED, PoolType::NonPaged),
        (PAGED_POOL_CACHE_ALIGNED, PoolType::Paged),
        (NON_PAGED_POOL_NX, PoolType::NonPaged),
        (NON_PAGED_POOL_NX_CACHE_ALIGNED, PoolType::NonPaged),
    ];
    for (value, pool_type) in types {
        let pool = nt::ex_allocate_pool_with_tag(mm, value, 48, TAG);
        assert_eq!(mm.pool_allocation(va(pool)).unwrap().pool_type, pool_type, "pool type {value}");
        nt::ex_free_pool(mm, pool);
    }
    for value in [NON_PAGED_POOL_MUST_SUCCEED, NON_PAGED_POOL_CACHE_ALIGNED_MUST_S] {
        let stop = machine.catch_bug_check(|| nt::ex_allocate_pool_with_tag(mm, value, 48, TAG)).unwrap_err();
        assert_eq!(stop.parameters, [bad_pool_caller::MUST_SUCCEED, value.into(), 48, TAG.into()]);
    }
    for value in [3, 7, 32, 33, 513, 0xFFFF_FFFF] {
        assert!(nt::ex_allocate_pool_with_tag(mm, value, 48, TAG).is_null(), "pool type {value}");
    }

    let flags = [
        (POOL_FLAG_PAGED, Some(PoolType::Paged)),
        (POOL_FLAG_NON_PAGED, Some(PoolType::NonPaged)),
        (POOL_FLAG_NON_PAGED_EXECUTE, Some(PoolType::NonPaged)),
        (POOL_FLAG_NON_PAGED | POOL_FLAG_USE_QUOTA | POOL_FLAG_SPECIAL_POOL, Some(PoolType::NonPaged)),
        (POOL_FLAG_PAGED | 0x8000_0000_0000_0000, Some(PoolType::Paged)),
        (0, None),
        (POOL_FLAG_UNINITIALIZED, None),
        (POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED, None),
        (POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE, None),
        (POOL_FLAG_NON_PAGED | POOL_FLAG_SESSION, None),
        (POOL_FLAG_NON_PAGED | POOL_FLAG_RESERVED1, None),
        (POOL_FLAG_NON_PAGED | POOL_FLAG_RESERVED2, None),
        (POOL_FLAG_NON_PAGED | POOL_FLAG_RESERVED3, None),
        (POOL_FLAG_NON_PAGED | 0x8000, None),
    ];
    for (flags, expected) in flags {
        let pool = nt::ex_allocate_pool2(mm, flags, 48, TAG);
        assert_eq!(
            (!pool.is_null()).then(|| mm.pool_allocation(va(pool)).unwrap().pool_type),
            expected,
            "flags {flags:#x}"
        );
        if !pool.is_null() {
            nt::ex_free_pool(mm, pool);
        }
    }
    assert!(mm.pool_allocations().is_empty());
}

#[test]
fn double_free_is_bad_pool_caller_0x07() {
    let machine = machine();
    let mm = machine.mm();
    for bytes in [32, 0x2000] {
        let keep = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, bytes, OTHER_TAG);
        let pool = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, bytes, TAG);
        nt::ex_free_pool_with_tag(mm, pool, TAG);
        let stop = machine.catch_bug_check(|| nt::ex_free_pool_with_tag(mm, pool, TAG)).unwrap_err();
        assert_eq!(stop.code, 0xC2);
        assert_eq!(stop.parameters, [0x07, 0, TAG.into(), pool as u64], "{bytes} bytes");
        let stop = machine.catch_bug_check(|| nt::ex_free_pool(mm, pool)).unwrap_err();
        assert_eq!(stop.parameters[0], 0x07);
        nt::ex_free_pool(mm, keep);
    }
    // A page released with its last block: the address is still remembered as freed pool.
    let lone = nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 32, TAG);
    nt::ex_free_pool(mm, lone);
    assert_eq!(mm.pool_pages(), 0);
    let stop = machine.catch_bug_check(|| nt::ex_free_pool(mm, lone)).unwrap_err();
    assert_eq!(stop.parameters, [0x07, 0, TAG.into(), lone as u64]);
}

#[test]
fn freeing_what_was_never_pool_is_bad_pool_caller_0x42() {
    let machine = machine();
    let mm = machine.mm();
    let mut local = 0u64;
    let io = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, 0);
    let never_mapped = mm.system_va().base().add(0x7_0000).as_ptr::<c_void>();
    for address in [std::ptr::null_mut(), (&raw mut local).cast::<c_void>(), io, never_mapped] {
        let stop = machine.catch_bug_check(|| nt::ex_free_pool(mm, address)).unwrap_err();
        assert_eq!(stop.code, bad_pool_caller::CODE);
        assert_eq!(stop.parameters, [bad_pool_caller::NEVER_POOL, address as u64, 0, 0]);
    }
    nt::mm_unmap_io_space(mm, io, 0x100);
}

#[test]
fn freeing_inside_an_allocation_is_bad_pool_caller_0x99() {
    let machine = machine();
    let mm = machine.mm();
    let small = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 100, TAG);
    let large = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 0x3000, TAG);
    for inside in [va(small).add(16), va(small).add(1), va(large).add(0x1000), va(large).add(8)] {
        let stop = machine.catch_bug_check(|| nt::ex_free_pool(mm, inside.as_ptr())).unwrap_err();
        assert_eq!(stop.parameters, [bad_pool_caller::INVALID_ADDRESS, inside.0, 0, 0]);
    }
    assert_eq!(mm.pool_allocations().len(), 2);
    nt::ex_free_pool(mm, small);
    nt::ex_free_pool(mm, large);
}

#[test]
fn pool_irql_rules_are_the_verifier_subcodes() {
    let machine = machine();
    let mm = machine.mm();
    let at = |irql: Irql, body: &dyn Fn()| {
        mm.platform().set_current_irql(irql);
        let result = machine.catch_bug_check(body);
        mm.platform().set_current_irql(Irql::PASSIVE);
        result
    };
    let mut pools = Vec::new();
    for irql in [Irql::PASSIVE, Irql::APC, Irql::DISPATCH] {
        mm.platform().set_current_irql(irql);
        pools.push(nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 64, TAG));
        mm.platform().set_current_irql(Irql::PASSIVE);
    }
    assert!(pools.iter().all(|pool| !pool.is_null()));
    let paged = nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 64, TAG);

    let stop = at(Irql(3), &|| _ = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL, 64, TAG));
    assert_eq!(stop.unwrap_err().parameters, [pool_verifier::NON_PAGED_ALLOCATION_IRQL, 3, 0, 64]);
    let stop = at(Irql::DISPATCH, &|| _ = nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 80, TAG));
    let stop = stop.unwrap_err();
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [pool_verifier::PAGED_ALLOCATION_IRQL, 2, 1, 80]);
    let stop = at(Irql::DISPATCH, &|| _ = nt::ex_allocate_pool2(mm, POOL_FLAG_PAGED, 80, TAG));
    assert_eq!(stop.unwrap_err().parameters[0], pool_verifier::PAGED_ALLOCATION_IRQL);

    let stop = at(Irql::DISPATCH, &|| nt::ex_free_pool(mm, paged));
    assert_eq!(stop.unwrap_err().parameters, [pool_verifier::PAGED_FREE_IRQL, 2, 1, paged as u64]);
    let stop = at(Irql(3), &|| nt::ex_free_pool(mm, pools[0]));
    assert_eq!(stop.unwrap_err().parameters, [pool_verifier::NON_PAGED_FREE_IRQL, 3, 0, pools[0] as u64]);
    assert_eq!(mm.pool_allocations().len(), 4, "refused calls change nothing");

    at(Irql::APC, &|| nt::ex_free_pool(mm, paged)).unwrap();
    for pool in pools {
        at(Irql::DISPATCH, &|| nt::ex_free_pool(mm, pool)).unwrap();
    }
    assert!(mm.pool_allocations().is_empty());
}

#[test]
fn zero_byte_requests_are_verifier_0xc4_0x00() {
    let machine = machine();
    let mm = machine.mm();
    let stop = machine.catch_bug_check(|| nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 0, TAG)).unwrap_err();
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [pool_verifier::ZERO_BYTE_ALLOCATION, 0, 1, 0]);
    let stop =
        machine.catch_bug_check(|| nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 0, TAG)).unwrap_err();
    assert_eq!(stop.parameters, [0x00, 0, NON_PAGED_POOL_NX.into(), 0]);
    assert_eq!(
        mm.allocate_pool(PoolType::NonPaged, 0, TAG, false, std::panic::Location::caller()),
        Err(PoolError::ZeroBytes)
    );
    assert!(mm.pool_allocations().is_empty());
}

#[test]
fn exhausted_ram_returns_null_and_recovers() {
    let machine = machine();
    let mm = machine.mm();
    let taken = take_all_frames(mm);
    assert_eq!(mm.pfn_database().free_frames(), 0);
    for bytes in [16, 2048, 0x5000] {
        assert!(nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, bytes, TAG).is_null(), "{bytes}");
        assert!(nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, bytes, TAG).is_null());
    }
    assert_eq!(
        mm.allocate_pool(PoolType::NonPaged, 16, TAG, false, std::panic::Location::caller()),
        Err(PoolError::OutOfMemory)
    );
    assert!(mm.pool_allocations().is_empty());
    give_back(mm, taken);
    let pool = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 0x5000, TAG);
    assert!(!pool.is_null(), "pool recovers once RAM is free again");
    nt::ex_free_pool(mm, pool);
    assert!(nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, usize::MAX, TAG).is_null(), "more than RAM");
    assert!(nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 1 << 40, TAG).is_null());
}

#[test]
fn exhausted_system_va_returns_null_and_recovers() {
    let machine = machine_with_va(1);
    let mm = machine.mm();
    let total = mm.system_va().total_pages();
    let mut pages = Vec::new();
    loop {
        let pool = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, PAGE_SIZE as usize, TAG);
        if pool.is_null() {
            break;
        }
        pages.push(pool);
        assert!(pages.len() as u64 <= total);
    }
    assert_eq!(pages.len() as u64, total, "every page of the window was used");
    assert!(nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, 16, TAG).is_null());
    assert_eq!(
        mm.allocate_pool(PoolType::Paged, 16, TAG, false, std::panic::Location::caller()),
        Err(PoolError::VaExhausted)
    );
    nt::ex_free_pool(mm, pages.pop().unwrap());
    let small = nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, 16, TAG);
    assert!(!small.is_null(), "freed VA is reused");
    nt::ex_free_pool(mm, small);
    for pool in pages {
        nt::ex_free_pool(mm, pool);
    }
    assert_eq!(mm.system_va().free_pages(), total);
}

#[test]
fn raise_on_failure_is_an_unhandled_exception() {
    let machine = machine();
    let mm = machine.mm();
    let flags = POOL_FLAG_NON_PAGED | POOL_FLAG_RAISE_ON_FAILURE;
    let pool = nt::ex_allocate_pool2(mm, flags, 64, TAG);
    assert!(!pool.is_null(), "success does not raise");
    nt::ex_free_pool(mm, pool);
    let stop: BugCheck =
        machine.catch_bug_check(|| nt::ex_allocate_pool2(mm, flags, 1 << 40, TAG)).unwrap_err();
    assert_eq!(stop.code, 0x1E);
    assert_eq!(stop.parameters, [0xC000_009A, 0, 0, 0]);
    assert!(stop.to_string().contains("KMODE_EXCEPTION_NOT_HANDLED"));
}

#[test]
fn freeing_all_pool_restores_free_frames_and_va() {
    let machine = machine();
    let mm = machine.mm();
    // Warm up once so that the page tables of the first pool pages exist before counting.
    let warm = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, 0x10_0000, TAG);
    nt::ex_free_pool(mm, warm);
    let before = free_counts(mm);
    let mut pools = Vec::new();
    for bytes in [16usize, 17, 100, 500, 1000, 2048, 2049, 4096, 10_000, 65_536] {
        for flags in [POOL_FLAG_NON_PAGED, POOL_FLAG_PAGED] {
            pools.push(nt::ex_allocate_pool2(mm, flags, bytes, TAG));
        }
    }
    assert!(free_counts(mm).0 < before.0);
    for pool in pools {
        nt::ex_free_pool_with_tag(mm, pool, TAG);
    }
    assert_eq!(free_counts(mm), before);
    assert_eq!(mm.pool_pages(), 0);
}

#[test]
fn pool_buffers_free_on_drop_and_into_raw_hands_over_ownership() {
    let machine = machine();
    let mm = machine.mm();
    let before = free_counts(mm);
    {
        let buffer = mm.allocate_pool_buffer(PoolType::NonPaged, 300, TAG, true).unwrap();
        assert_eq!((buffer.len(), buffer.tag(), buffer.is_empty()), (300, TAG, false));
        // SAFETY: 300 zeroed, writable bytes.
        unsafe {
            assert_eq!(buffer.as_ptr().add(299).read(), 0);
            buffer.as_ptr().write(7);
        }
        let record = mm.pool_allocation(buffer.address()).unwrap();
        assert!(record.location.file().ends_with("pool.rs"), "the allocation site is recorded");
        assert_eq!(mm.pool_allocations(), vec![record]);
    }
    assert!(mm.pool_allocations().is_empty());
    let raw = mm.allocate_pool_buffer(PoolType::Paged, 5000, TAG, false).unwrap().into_raw();
    assert_eq!(mm.pool_allocations().len(), 1);
    mm.free_pool(raw, Some(TAG)).unwrap();
    assert_eq!(
        mm.free_pool(raw, Some(TAG)),
        Err(FreePoolError::AlreadyFree { address: raw, tag: Some(TAG) })
    );
    assert_eq!(free_counts(mm).1, before.1);
}

#[test]
fn pool_allocation_finds_the_allocation_containing_an_address() {
    let machine = machine();
    let mm = machine.mm();
    let small = va(nt::ex_allocate_pool_with_tag(mm, PAGED_POOL, 40, TAG));
    let large = va(nt::ex_allocate_pool_with_tag(mm, NON_PAGED_POOL_NX, 0x2100, OTHER_TAG));
    let record = mm.pool_allocation(small.add(39)).unwrap();
    assert_eq!(
        (record.address, record.bytes, record.tag, record.pool_type),
        (small, 40, TAG, PoolType::Paged)
    );
    assert_eq!(mm.pool_allocation(small.add(40)), None, "past the bytes asked for");
    let record = mm.pool_allocation(large.add(0x20FF)).unwrap();
    assert_eq!((record.address, record.pool_type, record.tag), (large, PoolType::NonPaged, OTHER_TAG));
    assert_eq!(mm.pool_allocation(large.add(0x2100)), None);
    assert_eq!(mm.pool_allocation(VirtualAddress(0x1000)), None);
    nt::ex_free_pool(mm, small.as_ptr());
    assert_eq!(mm.pool_allocation(small), None);
    nt::ex_free_pool(mm, large.as_ptr());
}
