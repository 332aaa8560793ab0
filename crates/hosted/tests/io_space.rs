//! `MmMapIoSpace`, `MmMapIoSpaceEx`, `MmUnmapIoSpace`, `MmGetPhysicalAddress` and
//! `MmIsAddressValid` on the hosted machine, through the NT facade and the safe API.

mod common;

use std::ffi::c_void;
use std::os::unix::process::ExitStatusExt;

use common::*;
use iospace_devices::edu::{EDU_IDENTIFICATION, regs};
use iospace_devices::mmio::AccessWidth;
use iospace_mm::address::{HUGE_PAGE_SIZE, LARGE_PAGE_SIZE, PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::{BugCheck, code};
use iospace_mm::caching::{CachePolicy, MemoryCachingType};
use iospace_mm::irql::Irql;
use iospace_mm::nt;
use iospace_mm::page_table::{PTE_NO_EXECUTE, PTE_WRITABLE, PageSize};
use iospace_mm::pat;
use iospace_mm::protection::*;

const NON_CACHED: i32 = MemoryCachingType::NonCached as i32;
const CACHED: i32 = MemoryCachingType::Cached as i32;

fn va(pointer: *mut c_void) -> VirtualAddress {
    VirtualAddress::from_ptr(pointer)
}

#[test]
fn claim_1_mapping_keeps_the_byte_offset_and_reads_the_physical_byte() {
    let machine = machine();
    let mm = machine.mm();
    let pfn = locked_ram_page(&machine);
    let physical = pfn.address().0 + 0x123;
    let first = nt::mm_map_io_space(mm, pfn.address().0 as i64, 0x1000, CACHED);
    assert!(!first.is_null());
    // SAFETY: the page is locked RAM mapped read-write at `first`.
    unsafe { first.cast::<u8>().add(0x123).write_volatile(0x5A) };

    let mapped = nt::mm_map_io_space(mm, physical as i64, 1, CACHED);
    assert_eq!(mapped as u64 & 0xFFF, physical & 0xFFF, "low 12 bits follow the physical address");
    // SAFETY: `mapped` maps the locked byte.
    assert_eq!(unsafe { mapped.cast::<u8>().read_volatile() }, 0x5A);

    let registers = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64 + 4, 4, NON_CACHED);
    assert_eq!(registers as u64 & 0xFFF, 4);
    machine.write_register(va(registers), AccessWidth::Dword, 0x1234_5678).unwrap();
    assert_eq!(machine.read_register(va(registers), AccessWidth::Dword).unwrap(), !0x1234_5678u32 as u64);

    nt::mm_unmap_io_space(mm, mapped, 1);
    nt::mm_unmap_io_space(mm, first, 0x1000);
    nt::mm_unmap_io_space(mm, registers, 4);
    assert!(mm.io_mappings().is_empty());
}

#[test]
fn claim_2_exhausted_system_va_returns_null_and_recovers_after_unmaps() {
    let machine = machine_with_va(1);
    let mm = machine.mm();
    let mut mappings = Vec::new();
    loop {
        let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x10000, NON_CACHED);
        if mapping.is_null() {
            break;
        }
        mappings.push(mapping);
        assert!(mappings.len() <= 16, "a 1 MiB window holds sixteen 64 KiB mappings");
    }
    assert_eq!(mappings.len(), 16);
    assert!(nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 1, NON_CACHED).is_null());

    nt::mm_unmap_io_space(mm, mappings.pop().unwrap(), 0x10000);
    let again = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x10000, NON_CACHED);
    assert!(!again.is_null(), "VA freed by an unmap is reused");
    mappings.push(again);
    for mapping in mappings {
        nt::mm_unmap_io_space(mm, mapping, 0x10000);
    }
    assert_eq!(mm.system_va().free_pages(), mm.system_va().total_pages());
}

#[test]
fn claim_3_map_io_space_works_up_to_dispatch_and_bug_checks_above() {
    let machine = machine();
    let mm = machine.mm();
    for irql in [Irql::PASSIVE, Irql::APC, Irql::DISPATCH] {
        mm.platform().set_current_irql(irql);
        let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED);
        assert!(!mapping.is_null(), "at {irql}");
        mm.platform().set_current_irql(Irql::PASSIVE);
        nt::mm_unmap_io_space(mm, mapping, 0x100);
    }
    mm.platform().set_current_irql(Irql(3));
    let stop = machine.catch_bug_check(|| nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED));
    mm.platform().set_current_irql(Irql::PASSIVE);
    let stop = stop.unwrap_err();
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [0x73, 3, EDU_BAR0.0, 0x100]);
    assert!(stop.location.unwrap().file().ends_with("io_space.rs"), "names the caller: {stop}");
    assert!(mm.io_mappings().is_empty());
}

#[test]
fn claim_4_map_io_space_over_unlocked_ram_is_bug_check_1a_1233() {
    let machine = machine();
    let mm = machine.mm();
    let pfns = mm.pfn_database();
    let locked = locked_ram_page(&machine);
    let unlocked = pfns
        .allocate(
            1,
            &iospace_mm::range_allocator::Placement::ANY,
            iospace_mm::pfn_database::PageUse::Allocated,
        )
        .unwrap();
    for (physical, bytes) in [(unlocked.address().0, 1), (locked.address().0, 2 * PAGE_SIZE)] {
        let stop =
            machine.catch_bug_check(|| nt::mm_map_io_space(mm, physical as i64, bytes as usize, CACHED));
        let stop = stop.expect_err("unlocked RAM must not be mapped");
        assert_eq!((stop.code, stop.parameters[0]), (0x1A, 0x1233));
        let first_unlocked = if physical == unlocked.address().0 { unlocked.0 } else { locked.0 + 1 };
        assert_eq!(stop.parameters[1], first_unlocked);
    }
    assert!(mm.io_mappings().is_empty());
    let mapping = mm.map_io_space(locked.address(), PAGE_SIZE, CachePolicy::WriteBack);
    assert!(mapping.is_ok(), "locked RAM maps");
}

#[test]
fn claim_5_mapping_spans_address_and_size_to_span_pages() {
    let machine = machine();
    let mm = machine.mm();
    let physical = EDU_BAR0.0 + 0x1FFF;
    let mapping = nt::mm_map_io_space(mm, physical as i64, 2, NON_CACHED);
    let record = mm.io_mappings()[0];
    assert_eq!(record.pages, 2);
    assert_eq!(mm.physical_address(va(mapping)), Some(PhysicalAddress(physical)));
    assert_eq!(mm.physical_address(va(mapping).add(1)), Some(PhysicalAddress(physical + 1)));
    assert!(!mm.is_address_valid(va(mapping).page_base().add(2 * PAGE_SIZE)));
    nt::mm_unmap_io_space(mm, mapping, 2);
}

#[test]
fn claim_6_map_io_space_ex_refuses_bad_protections() {
    let machine = machine();
    let mm = machine.mm();
    for protect in [
        PAGE_READWRITE | PAGE_NOCACHE | PAGE_WRITECOMBINE,
        PAGE_NOCACHE,
        0,
        PAGE_READWRITE | PAGE_GUARD,
        PAGE_READONLY | PAGE_READWRITE,
    ] {
        assert!(nt::mm_map_io_space_ex(mm, EDU_BAR0.0 as i64, 0x100, protect).is_null(), "{protect:#x}");
    }
    assert!(mm.io_mappings().is_empty());
    assert_eq!(mm.system_va().free_pages(), mm.system_va().total_pages());
    let mapping = nt::mm_map_io_space_ex(mm, EDU_BAR0.0 as i64, 0x100, PAGE_READWRITE | PAGE_NOCACHE);
    assert!(!mapping.is_null());
    nt::mm_unmap_io_space(mm, mapping, 0x100);
}

#[test]
fn claim_7_map_io_space_ex_readwrite_is_no_execute_and_map_io_space_is_executable() {
    let machine = machine();
    let mm = machine.mm();
    let memory = mm.platform().physical_memory();
    let ex = nt::mm_map_io_space_ex(mm, EDU_BAR0.0 as i64, 0x100, PAGE_READWRITE | PAGE_NOCACHE);
    let plain = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED);
    let (ex_entry, _) = mm.page_tables().leaf_entry(memory, va(ex)).unwrap();
    let (plain_entry, _) = mm.page_tables().leaf_entry(memory, va(plain)).unwrap();
    assert_ne!(ex_entry & PTE_NO_EXECUTE, 0);
    assert_eq!(plain_entry & PTE_NO_EXECUTE, 0);
    assert_ne!(ex_entry & PTE_WRITABLE, 0);
    nt::mm_unmap_io_space(mm, ex, 0x100);
    nt::mm_unmap_io_space(mm, plain, 0x100);
}

#[test]
fn claim_8_write_through_a_readonly_mapping_faults() {
    const NAME: &str = "claim_8_write_through_a_readonly_mapping_faults";
    if is_child(NAME) {
        let machine = machine();
        let pfn = locked_ram_page(&machine);
        let mapping = nt::mm_map_io_space_ex(machine.mm(), pfn.address().0 as i64, 8, PAGE_READONLY);
        // SAFETY: deliberately none: the host mapping is read-only, so this store must fault.
        unsafe { mapping.cast::<u64>().write_volatile(1) };
        std::process::exit(0);
    }
    let output = run_child(NAME);
    assert_eq!(output.status.signal(), Some(libc_sigsegv()), "the store faulted: {output:?}");

    let machine = machine();
    let mm = machine.mm();
    let registers = nt::mm_map_io_space_ex(mm, EDU_BAR0.0 as i64, 0x100, PAGE_READONLY | PAGE_NOCACHE);
    assert_eq!(
        machine.write_register(va(registers).add(regs::LIVENESS), AccessWidth::Dword, 1),
        Err(iospace_hosted::RegisterAccessError::ReadOnly(va(registers).add(regs::LIVENESS)))
    );
    assert_eq!(machine.read_register(va(registers), AccessWidth::Dword), Ok(EDU_IDENTIFICATION.into()));
    nt::mm_unmap_io_space(mm, registers, 0x100);
}

fn libc_sigsegv() -> i32 {
    11
}

#[test]
fn claim_9_unmapping_an_address_never_mapped_is_0xda_0x400() {
    let machine = machine();
    let mm = machine.mm();
    let bogus = mm.system_va().base().add(0x5000);
    let stop = machine.catch_bug_check(|| nt::mm_unmap_io_space(mm, bogus.as_ptr(), 0x2000)).unwrap_err();
    assert_eq!(stop.code, 0xDA);
    assert_eq!(stop.parameters, [0x400, bogus.0, 2, 0]);

    let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED);
    nt::mm_unmap_io_space(mm, mapping, 0x100);
    let twice = machine.catch_bug_check(|| nt::mm_unmap_io_space(mm, mapping, 0x100)).unwrap_err();
    assert_eq!((twice.code, twice.parameters[0]), (0xDA, 0x400), "a second unmap is unknown too");
}

#[test]
fn claim_10_unmapping_with_a_size_that_spans_other_pages_is_detected() {
    let machine = machine();
    let mm = machine.mm();
    let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x3000, NON_CACHED);
    for (bytes, pages) in [(0x1000, 1), (0x4000, 4), (0, 0)] {
        let stop = machine.catch_bug_check(|| nt::mm_unmap_io_space(mm, mapping, bytes)).unwrap_err();
        assert_eq!(stop.code, 0xDA);
        assert_eq!(stop.parameters, [0x02, mapping as u64, 3, pages]);
    }
    let inside = va(mapping).add(0x1000).as_ptr();
    let stop = machine.catch_bug_check(|| nt::mm_unmap_io_space(mm, inside, 0x1000)).unwrap_err();
    assert_eq!(stop.parameters, [0x03, mapping as u64, mapping as u64, inside as u64]);
    assert_eq!(mm.io_mappings().len(), 1, "refused unmaps leave the mapping in place");
    assert_eq!(machine.read_register(va(mapping), AccessWidth::Dword), Ok(EDU_IDENTIFICATION.into()));
    nt::mm_unmap_io_space(mm, mapping, 0x2001);
    assert!(mm.io_mappings().is_empty(), "any size spanning the same pages unmaps");
}

#[test]
fn claim_68_get_physical_address_inverts_map_io_space() {
    let machine = machine();
    let mm = machine.mm();
    for (physical, bytes) in [(EDU_BAR0.0 + 0x0FF0, 0x2100_u64), (0x80_0000_0000 + 0x1F_F000, 0x4000)] {
        let mapping = nt::mm_map_io_space(mm, physical as i64, bytes as usize, NON_CACHED);
        for i in 0..bytes {
            let pointer = va(mapping).add(i).as_ptr::<c_void>();
            assert_eq!(nt::mm_get_physical_address(mm, pointer), (physical + i) as i64);
        }
        nt::mm_unmap_io_space(mm, mapping, bytes as usize);
        assert_eq!(nt::mm_get_physical_address(mm, mapping), 0, "no translation after unmap");
    }
}

#[test]
fn claim_70_invalid_caching_types_return_null() {
    let machine = machine();
    let mm = machine.mm();
    for cache_type in [6, -1, 0x101, i32::MAX] {
        assert!(nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, cache_type).is_null(), "{cache_type}");
    }
    for cache_type in 0..6 {
        let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, cache_type);
        let entry = mm.page_tables().leaf_entry(mm.platform().physical_memory(), va(mapping)).unwrap().0;
        let expected = MemoryCachingType::try_from(cache_type).unwrap().policy();
        assert_eq!(pat::policy_from_pte(entry), expected);
        nt::mm_unmap_io_space(mm, mapping, 0x100);
    }
}

#[test]
fn two_mappings_of_one_ram_page_alias_through_real_pointers() {
    let machine = machine();
    let mm = machine.mm();
    let pfn = locked_ram_page(&machine);
    let first = nt::mm_map_io_space(mm, pfn.address().0 as i64, 0x1000, CACHED).cast::<u32>();
    let second = nt::mm_map_io_space(mm, pfn.address().0 as i64 + 0x800, 0x800, CACHED).cast::<u32>();
    assert_ne!(first, second);
    // SAFETY: both pointers map the same locked RAM page read-write; 0x800 bytes apart in it.
    unsafe {
        first.add(0x800 / 4).write_volatile(0xC0FF_EE00);
        assert_eq!(second.read_volatile(), 0xC0FF_EE00);
        second.add(1).write_volatile(0x1234);
        assert_eq!(first.add(0x804 / 4).read_volatile(), 0x1234);
    }
    nt::mm_unmap_io_space(mm, second.cast(), 0x800);
    nt::mm_unmap_io_space(mm, first.cast(), 0x1000);
}

#[test]
fn a_one_gib_aligned_device_range_is_mapped_with_one_huge_leaf() {
    let machine = machine();
    let mm = machine.mm();
    let physical = PhysicalAddress(0x80_4000_0000);
    let mapping = mm.map_io_space(physical, HUGE_PAGE_SIZE, CachePolicy::Uncached).unwrap();
    let record = mm.io_mappings()[0];
    assert_eq!(record.leaves.total(), 1);
    assert_eq!(record.leaves.huge, 1);
    let memory = mm.platform().physical_memory();
    let (_, size) = mm.page_tables().leaf_entry(memory, mapping.address()).unwrap();
    assert_eq!(size, PageSize::Size1GiB);
    assert!(mapping.address().is_aligned(HUGE_PAGE_SIZE));
    assert_eq!(
        mm.physical_address(mapping.address().add(0x3FFF_FFFF)),
        Some(PhysicalAddress(0x80_7FFF_FFFF))
    );
}

#[test]
fn large_pages_are_used_where_address_and_size_allow() {
    let machine = machine();
    let mm = machine.mm();
    // 4 KiB head, one 2 MiB leaf, 4 KiB tail.
    let physical = PhysicalAddress(0x80_0000_0000 + LARGE_PAGE_SIZE - PAGE_SIZE);
    let mapping = mm.map_io_space(physical, LARGE_PAGE_SIZE + 2 * PAGE_SIZE, CachePolicy::Uncached).unwrap();
    let leaves = mm.io_mappings()[0].leaves;
    assert_eq!((leaves.small, leaves.large, leaves.huge), (2, 1, 0));
    assert_eq!(mm.physical_address(mapping.address().add(PAGE_SIZE)), Some(PhysicalAddress(0x80_0020_0000)));
    drop(mapping);
    let small =
        mm.map_io_space(PhysicalAddress(0x80_0000_0000), LARGE_PAGE_SIZE - PAGE_SIZE, CachePolicy::Uncached);
    assert_eq!(mm.io_mappings()[0].leaves.large, 0, "a range smaller than 2 MiB uses 4 KiB pages");
    drop(small);
}

#[test]
fn without_huge_pages_a_gib_range_uses_2mib_leaves() {
    let description = iospace_hosted::MachineDescription {
        huge_pages: false,
        ..iospace_hosted::MachineDescription::default()
    };
    let machine = boot(&description);
    let mm = machine.mm();
    let _mapping =
        mm.map_io_space(PhysicalAddress(0x80_4000_0000), HUGE_PAGE_SIZE, CachePolicy::Uncached).unwrap();
    assert_eq!(mm.io_mappings()[0].leaves.large, 512);
}

#[test]
fn refused_inputs_return_null_and_change_nothing() {
    let machine = machine();
    let mm = machine.mm();
    let free = mm.system_va().free_pages();
    let cases: [(i64, usize); 4] =
        [(EDU_BAR0.0 as i64, 0), (-0x1000, 0x1000), (i64::MAX - 0x10, 0x100), (1 << 52, 0x1000)];
    for (physical, bytes) in cases {
        assert!(nt::mm_map_io_space(mm, physical, bytes, NON_CACHED).is_null(), "{physical:#x} {bytes:#x}");
    }
    assert!(mm.io_mappings().is_empty());
    assert_eq!(mm.system_va().free_pages(), free);
}

#[test]
fn is_address_valid_follows_the_mapping_and_checks_irql() {
    let machine = machine();
    let mm = machine.mm();
    let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED);
    assert!(nt::mm_is_address_valid(mm, mapping));
    nt::mm_unmap_io_space(mm, mapping, 0x100);
    assert!(!nt::mm_is_address_valid(mm, mapping));
    mm.platform().set_current_irql(Irql::HIGH);
    let stop = machine.catch_bug_check(|| nt::mm_is_address_valid(mm, mapping));
    mm.platform().set_current_irql(Irql::PASSIVE);
    assert_eq!(stop.unwrap_err().code, code::IRQL_NOT_LESS_OR_EQUAL);
}

#[test]
fn claim_77_unmap_io_space_above_apc_is_0xc4_0x7b_under_the_verifier() {
    let machine = machine();
    let mm = machine.mm();
    let mapping = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED);
    mm.platform().set_current_irql(Irql::DISPATCH);
    let stop = machine.catch_bug_check(|| nt::mm_unmap_io_space(mm, mapping, 0x100));
    mm.platform().set_current_irql(Irql::PASSIVE);
    assert_eq!(stop.unwrap_err().parameters, [0x7B, 2, mapping as u64, 0x100]);
    nt::mm_unmap_io_space(mm, mapping, 0x100);
}

#[test]
fn raise_and_lower_irql_follow_the_rules() {
    let machine = machine();
    let mm = machine.mm();
    assert_eq!(nt::ke_raise_irql(mm, 2), 0);
    assert_eq!(nt::ke_get_current_irql(mm), 2);
    let stop = machine.catch_bug_check(|| nt::ke_raise_irql(mm, 1)).unwrap_err();
    assert_eq!(stop.code, code::IRQL_NOT_GREATER_OR_EQUAL);
    let stop = machine.catch_bug_check(|| nt::ke_lower_irql(mm, 3)).unwrap_err();
    assert_eq!(stop.code, code::IRQL_NOT_LESS_OR_EQUAL);
    nt::ke_lower_irql(mm, 0);
    assert_eq!(nt::ke_get_current_irql(mm), 0);
}

#[test]
fn a_bug_check_without_a_hook_prints_the_stop_line_and_exits_non_zero() {
    const NAME: &str = "a_bug_check_without_a_hook_prints_the_stop_line_and_exits_non_zero";
    if is_child(NAME) {
        let machine = machine();
        nt::mm_unmap_io_space(machine.mm(), 0x1234_5000 as *mut c_void, 0x1000);
        unreachable!("a bug check does not return");
    }
    let output = run_child(NAME);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = "*** STOP: 0x000000DA (0x0000000000000400, 0x0000000012345000, 0x0000000000000001, \
                    0x0000000000000000) SYSTEM_PTE_MISUSE at crates/hosted/tests/io_space.rs:";
    assert!(stderr.contains(expected), "stderr: {stderr}");
}

#[test]
fn a_hook_receives_the_bug_check_first() {
    const NAME: &str = "a_hook_receives_the_bug_check_first";
    if is_child(NAME) {
        let machine = machine();
        machine.set_bug_check_hook(Some(std::sync::Arc::new(|stop: &BugCheck| {
            println!("hook saw {:#x}/{:#x}", stop.code, stop.parameters[0]);
        })));
        nt::ke_bug_check_ex(machine.mm(), 0xE2, 1, 2, 3, 4);
    }
    let output = run_child(NAME);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("hook saw 0xe2/0x1"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("*** STOP: 0x000000E2"));
}

#[test]
fn a_64_gib_device_range_maps_with_64_leaves_and_unmaps() {
    let machine = machine();
    let mm = machine.mm();
    let memory = mm.platform().physical_memory();
    let before = mm.page_tables().count_tables(memory);
    let mapping =
        mm.map_io_space(PhysicalAddress(0x80_0000_0000), 64 * HUGE_PAGE_SIZE, CachePolicy::Uncached).unwrap();
    let record = mm.io_mappings()[0];
    assert_eq!((record.leaves.huge, record.leaves.total()), (64, 64));
    let after = mm.page_tables().count_tables(memory);
    assert_eq!((after.pd, after.pt), (before.pd, before.pt), "no page directory or page table");
    // The window sits wherever the host put it: the range may straddle a 512 GiB boundary.
    assert!(after.pdpt - before.pdpt <= 2, "at most the PDPTs of the range");
    assert_eq!(
        mm.physical_address(mapping.address().add(63 * HUGE_PAGE_SIZE + 5)),
        Some(PhysicalAddress(0x80_0000_0000 + 63 * HUGE_PAGE_SIZE + 5))
    );
    let address = mapping.address();
    drop(mapping);
    assert!(!mm.is_address_valid(address));
    assert_eq!(mm.system_va().free_pages(), mm.system_va().total_pages());
}

#[test]
fn claim_71_map_io_space_never_creates_a_second_memory_type_for_a_page() {
    let machine = machine();
    let mm = machine.mm();
    let uncached = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x2000, NON_CACHED);
    let overlapping_wc = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64 + 0x1000, 0x2000, 2);
    assert!(overlapping_wc.is_null(), "a write-combined alias of uncached registers is refused");
    let log = mm.verifier_log().entries();
    assert_eq!(log.len(), 1);
    assert!(log[0].to_string().contains("is UC but WC was requested"), "{}", log[0]);
    let same = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64 + 0x1000, 0x2000, NON_CACHED);
    assert!(!same.is_null(), "the same memory type may alias");
    nt::mm_unmap_io_space(mm, same, 0x2000);
    nt::mm_unmap_io_space(mm, uncached, 0x2000);
    let now_wc = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64 + 0x1000, 0x2000, 2);
    assert!(!now_wc.is_null(), "once the uncached mappings are gone, another type is fine");
    nt::mm_unmap_io_space(mm, now_wc, 0x2000);

    // Locked RAM with no attribute takes the first mapping's type while it lives.
    let pfn = locked_ram_page(&machine);
    let cached = nt::mm_map_io_space(mm, pfn.address().0 as i64, 0x1000, CACHED);
    assert!(nt::mm_map_io_space(mm, pfn.address().0 as i64, 0x1000, NON_CACHED).is_null());
    assert_eq!(mm.pfn_database().entry(pfn).unwrap().cache, Some(CachePolicy::WriteBack));
    nt::mm_unmap_io_space(mm, cached, 0x1000);
    assert_eq!(mm.pfn_database().entry(pfn).unwrap().cache, None, "the hold ends with the mapping");
    let uncached_ram = nt::mm_map_io_space(mm, pfn.address().0 as i64, 0x1000, NON_CACHED);
    assert!(!uncached_ram.is_null());
    nt::mm_unmap_io_space(mm, uncached_ram, 0x1000);
}

#[test]
fn hal_register_routines_reach_the_edu_model_through_the_mapping() {
    use iospace_hal::registers::{read_register_ulong, write_register_ulong};
    let machine = machine();
    let mm = machine.mm();
    let registers = nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, 0x100, NON_CACHED).cast::<u32>();
    let liveness = registers.wrapping_add(1);
    assert_eq!(read_register_ulong(&machine, mm, registers), EDU_IDENTIFICATION);
    write_register_ulong(&machine, mm, liveness, 0x0F0F_0F0F);
    assert_eq!(read_register_ulong(&machine, mm, liveness), 0xF0F0_F0F0);
    nt::mm_unmap_io_space(mm, registers.cast(), 0x100);
    let stop = machine.catch_bug_check(|| read_register_ulong(&machine, mm, registers)).unwrap_err();
    assert_eq!((stop.code, stop.parameters[0]), (0x50, registers as u64), "an unmapped register faults");
}
