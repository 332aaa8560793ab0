//! The kernel's own tests of the memory manager on real page tables, run before the devices:
//! the PAT and the leaf bits of each caching type, `MmGetPhysicalAddress` against a mapping
//! the CPU really walks, a page fault on an unmapped address caught on the handler's own
//! stack, a 1 GiB leaf for a 1 GiB-aligned range, and a flush of one `invlpg` per leaf.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::c_void;

use iospace_drivers::edu::{
    DEVICE_ID as EDU_DEVICE_ID, IDENTIFICATION as EDU_IDENTIFICATION, VENDOR_ID as EDU_VENDOR_ID, regs,
};
use iospace_mm::address::{HUGE_PAGE_SIZE, PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::{CachePolicy, MM_MAXIMUM_CACHE_TYPE, MemoryCachingType};
use iospace_mm::page_table::{PTE_CACHE_DISABLE, PTE_PAT_4KIB, PTE_PAT_LARGE, PTE_WRITE_THROUGH, PageSize};
use iospace_mm::pat::{PAT_MSR_VALUE, policy_of_pat_entry, pte_bits};
use iospace_mm::platform::Platform;
use iospace_mm::pool::POOL_FLAG_NON_PAGED;
use iospace_mm::{nt, nt_mdl};

use crate::cpu::{IA32_PAT, read_msr};
use crate::descriptor_tables::{PAGE_FAULT_IST, ist_stack_range};
use crate::direct_map::DirectMap;
use crate::exceptions::probe_read;
use crate::machine::{Machine, SYSTEM_VA_BASE, SYSTEM_VA_BYTES};
use crate::register_instances::{
    metal_read_register_ulong, metal_read_register_ulong_through_dyn, metal_write_register_ulong,
};
use iospace_drivers::run_report::RunReport;

/// A 1 GiB-aligned physical range where nothing is RAM: the start of q35's 64-bit PCI window.
const HUGE_TEST_PHYSICAL: u64 = 0x80_0000_0000;

/// Runs every self-test and records it in `report`.
pub fn run(machine: &Machine, report: &mut RunReport) {
    pat_is_programmed(machine, report);
    direct_map_reaches_ram(machine, report);
    let edu_bar0 = machine
        .function(EDU_VENDOR_ID, EDU_DEVICE_ID)
        .and_then(|edu| edu.bars.iter().find(|bar| bar.index == 0 && bar.kind.is_memory()))
        .map(|bar| bar.base.0);
    match edu_bar0 {
        Some(bar0) => {
            leaf_bits_select_each_caching_type(machine, bar0, report);
            physical_address_inverts_the_mapping(machine, bar0, report);
            unmapped_address_faults_on_the_handler_stack(machine, bar0, report);
            register_instances_reach_the_device(machine, bar0, report);
        }
        None => report.check("self-test device (edu BAR0)", false, "no edu device on the bus".into()),
    }
    huge_range_uses_a_huge_leaf(machine, report);
    reserved_mapping_aliases_a_locked_buffer(machine, report);
}

fn pat_is_programmed(machine: &Machine, report: &mut RunReport) {
    let pat = read_msr(IA32_PAT);
    report.check(
        "IA32_PAT holds mm's layout (WB WT WC UC x2)",
        pat == PAT_MSR_VALUE,
        format!("{pat:#018x}, power-on {:#018x}", machine.power_on_pat),
    );
}

fn direct_map_reaches_ram(machine: &Machine, report: &mut RunReport) {
    let mm = &machine.mm;
    let (start, _) = machine.image;
    let direct = DirectMap::virtual_address(PhysicalAddress(start));
    let walked = mm.physical_address(direct);
    // The same frame through the boot identity map and through the direct map.
    // SAFETY: both addresses map the first quadword of the kernel image, read-only here.
    let same = unsafe { (start as *const u64).read_volatile() == direct.as_ptr::<u64>().read_volatile() };
    let leaves = machine.direct_map_leaves;
    report.check(
        "direct map of RAM written by mm's page-table code",
        walked == Some(PhysicalAddress(start)) && same,
        format!(
            "{} x 1 GiB + {} x 2 MiB + {} x 4 KiB, {direct} -> {}",
            leaves.huge,
            leaves.large,
            leaves.small,
            show(walked)
        ),
    );
}

fn show(physical: Option<PhysicalAddress>) -> String {
    physical.map_or_else(|| "unmapped".into(), |physical| format!("{physical}"))
}

/// For each `MEMORY_CACHING_TYPE`, the leaf `MmMapIoSpace` writes selects, through its PWT, PCD
/// and PAT bits and the programmed `IA32_PAT`, exactly the type's policy.
fn leaf_bits_select_each_caching_type(machine: &Machine, bar0: u64, report: &mut RunReport) {
    let mm = &machine.mm;
    let pat = read_msr(IA32_PAT);
    for value in 0..MM_MAXIMUM_CACHE_TYPE {
        let Ok(caching_type) = MemoryCachingType::try_from(value) else { continue };
        let expected = caching_type.policy();
        let name = format!("MmMapIoSpace({caching_type:?}): leaf selects {expected}");
        let mapping = nt::mm_map_io_space(mm, bar0 as i64, PAGE_SIZE as usize, value);
        if mapping.is_null() {
            report.check(&name, false, "MmMapIoSpace returned NULL".into());
            continue;
        }
        let leaf =
            mm.page_tables().leaf_entry(machine.platform.direct_map(), VirtualAddress::from_ptr(mapping));
        nt::mm_unmap_io_space(mm, mapping, PAGE_SIZE as usize);
        let Some((entry, size)) = leaf else {
            report.check(&name, false, "no leaf".into());
            continue;
        };
        let pat_bit = if size == PageSize::Size4KiB { PTE_PAT_4KIB } else { PTE_PAT_LARGE };
        let index = u32::from(entry & PTE_WRITE_THROUGH != 0)
            | u32::from(entry & PTE_CACHE_DISABLE != 0) << 1
            | u32::from(entry & pat_bit != 0) << 2;
        let selected = policy_of_pat_entry(pat, index);
        let bits = entry & (PTE_WRITE_THROUGH | PTE_CACHE_DISABLE | pat_bit);
        report.check(
            &name,
            selected == Some(expected) && bits == pte_bits(expected),
            format!(
                "PWT={} PCD={} PAT=0 -> entry {index} = {}",
                index & 1,
                (index >> 1) & 1,
                selected.map_or("?", CachePolicy::name)
            ),
        );
    }
}

/// `MmGetPhysicalAddress` walks the live tables back to the physical address mapped, byte for
/// byte, and the CPU reaches the device through the same leaf.
fn physical_address_inverts_the_mapping(machine: &Machine, bar0: u64, report: &mut RunReport) {
    let mm = &machine.mm;
    let offset = 0x123u64;
    let bytes = 3 * PAGE_SIZE as usize;
    let mapping = nt::mm_map_io_space(mm, (bar0 + offset) as i64, bytes, MemoryCachingType::NonCached as i32);
    if mapping.is_null() {
        report.check("MmGetPhysicalAddress inverts MmMapIoSpace", false, "MmMapIoSpace returned NULL".into());
        return;
    }
    let probes = [0u64, 4, PAGE_SIZE - offset, PAGE_SIZE, 2 * PAGE_SIZE + 0x9A0];
    let mismatches: Vec<u64> = probes
        .iter()
        .copied()
        .filter(|&delta| {
            let at = (mapping as u64 + delta) as *const c_void;
            nt::mm_get_physical_address(mm, at) as u64 != bar0 + offset + delta
        })
        .collect();
    let identification = metal_read_register_ulong(mm, (mapping as u64 - offset) as *const u32);
    nt::mm_unmap_io_space(mm, mapping, bytes);
    report.check(
        "MmGetPhysicalAddress inverts MmMapIoSpace",
        mismatches.is_empty(),
        format!(
            "{} of {} offsets in 3 pages map back to BAR0 + 0x123 + offset",
            probes.len() - mismatches.len(),
            probes.len()
        ),
    );
    report.check(
        "the CPU reads edu's identification through the leaf",
        identification == EDU_IDENTIFICATION,
        format!("{identification:#010x}"),
    );
}

/// A mapped address reads; once unmapped, the same address faults, and the page-fault handler
/// runs on its IST stack and reports the address. So does a window address never mapped.
fn unmapped_address_faults_on_the_handler_stack(machine: &Machine, bar0: u64, report: &mut RunReport) {
    let mm = &machine.mm;
    let name = "unmapped address page-faults; handler on its IST stack";
    let mapping =
        nt::mm_map_io_space(mm, bar0 as i64, PAGE_SIZE as usize, MemoryCachingType::NonCached as i32);
    if mapping.is_null() {
        report.check(name, false, "MmMapIoSpace returned NULL".into());
        return;
    }
    let address = mapping as u64;
    let while_mapped = probe_read(address);
    nt::mm_unmap_io_space(mm, mapping, PAGE_SIZE as usize);
    let after_unmap = probe_read(address);
    let never_mapped_address = SYSTEM_VA_BASE.0 + SYSTEM_VA_BYTES - PAGE_SIZE;
    let never_mapped = probe_read(never_mapped_address);
    let (stack_bottom, stack_top) = ist_stack_range(PAGE_FAULT_IST);
    let caught = |outcome: &Result<u64, crate::exceptions::CaughtFault>, at: u64| {
        outcome.as_ref().err().is_some_and(|fault| {
            fault.address == at
                && fault.error_code & 1 == 0
                && (stack_bottom..stack_top).contains(&fault.handler_stack)
        })
    };
    let passed =
        while_mapped.is_ok() && caught(&after_unmap, address) && caught(&never_mapped, never_mapped_address);
    let detail = match after_unmap {
        Err(fault) => format!(
            "CR2 {:#x}, error {:#x}, handler stack {:#x} in IST{PAGE_FAULT_IST}",
            fault.address, fault.error_code, fault.handler_stack
        ),
        Ok(value) => format!("read {value:#x} after unmap: no fault"),
    };
    report.check(name, passed, detail);
}

/// `READ/WRITE_REGISTER_ULONG` instantiated for `MetalIo` (one load; a store and `mfence`) and
/// the read through a trait object, on edu's registers: the identification reads the same
/// either way, and the liveness register gives back the inverse of what was written.
fn register_instances_reach_the_device(machine: &Machine, bar0: u64, report: &mut RunReport) {
    let mm = &machine.mm;
    let name = "READ/WRITE_REGISTER_ULONG instantiated for MetalIo reach edu";
    let mapping =
        nt::mm_map_io_space(mm, bar0 as i64, PAGE_SIZE as usize, MemoryCachingType::NonCached as i32);
    if mapping.is_null() {
        report.check(name, false, "MmMapIoSpace returned NULL".into());
        return;
    }
    let register = |offset: u64| (mapping as u64 + offset) as *mut u32;
    let direct = metal_read_register_ulong(mm, register(regs::IDENTIFICATION));
    let through_dyn = metal_read_register_ulong_through_dyn(&machine.io, mm, register(regs::IDENTIFICATION));
    let written = 0x1234_5678;
    metal_write_register_ulong(mm, register(regs::LIVENESS), written);
    let liveness = metal_read_register_ulong(mm, register(regs::LIVENESS));
    nt::mm_unmap_io_space(mm, mapping, PAGE_SIZE as usize);
    report.check(
        name,
        direct == EDU_IDENTIFICATION && through_dyn == direct && liveness == !written,
        format!("identification {direct:#010x} (through dyn {through_dyn:#010x}), liveness {liveness:#010x}"),
    );
}

/// A 1 GiB-aligned, 1 GiB range maps with one 1 GiB leaf when the CPU has them (2 MiB leaves
/// otherwise), the CPU walks it, and unmapping it invalidates with one `invlpg`.
fn huge_range_uses_a_huge_leaf(machine: &Machine, report: &mut RunReport) {
    let mm = &machine.mm;
    let huge = machine.platform.supports_huge_pages();
    let expected = if huge { PageSize::Size1GiB } else { PageSize::Size2MiB };
    let name = if huge {
        "1 GiB-aligned range maps with a 1 GiB leaf"
    } else {
        "1 GiB-aligned range: no 1 GiB pages, 2 MiB leaves"
    };
    let mapping =
        match mm.map_io_space(PhysicalAddress(HUGE_TEST_PHYSICAL), HUGE_PAGE_SIZE, CachePolicy::Uncached) {
            Ok(mapping) => mapping,
            Err(error) => {
                report.check(name, false, format!("{error}"));
                return;
            }
        };
    let base = mapping.address();
    let leaf = mm.translate(base.add(HUGE_PAGE_SIZE / 2 + 0x1238));
    let reachable = probe_read(base.0 + HUGE_PAGE_SIZE - 8).is_ok();
    report.capture_mappings(mm);
    let before = machine.platform.invalidations();
    drop(mapping);
    let invalidations = machine.platform.invalidations() - before;
    let physical_ok =
        leaf.is_some_and(|leaf| leaf.physical.0 == HUGE_TEST_PHYSICAL + HUGE_PAGE_SIZE / 2 + 0x1238);
    report.check(
        name,
        leaf.is_some_and(|leaf| leaf.size == expected) && physical_ok && reachable,
        format!(
            "{base} -> {HUGE_TEST_PHYSICAL:#x}: {} leaf, CPU reads through it: {reachable}",
            match leaf.map(|leaf| leaf.size) {
                Some(PageSize::Size1GiB) => "1 GiB",
                Some(PageSize::Size2MiB) => "2 MiB",
                Some(PageSize::Size4KiB) => "4 KiB",
                None => "no",
            }
        ),
    );
    let expected_invalidations = if huge { 1 } else { HUGE_PAGE_SIZE / (2 << 20) };
    report.check(
        "MmUnmapIoSpace invalidates one invlpg per leaf",
        invalidations == expected_invalidations,
        format!("{invalidations} invlpg for {}", if huge { "1 leaf" } else { "512 leaves" }),
    );
}

/// The pool tag of what the self-tests allocate ('Iosp').
const TAG: u32 = u32::from_le_bytes(*b"Iosp");
/// Pages reserved, and pages of the pool buffer mapped into the reservation.
const RESERVED_PAGES: usize = 4;
const BUFFER_PAGES: usize = 3;
/// Map/unmap rounds through the reservation.
const RESERVED_ROUNDS: u64 = 100;

/// A storage driver's pattern on real page tables: reserve VA once, lock a pool buffer, map it
/// into the reservation and unmap it again, over and over. Every write through the reserved
/// mapping must be seen through the pool's own address: two leaves, one frame.
fn reserved_mapping_aliases_a_locked_buffer(machine: &Machine, report: &mut RunReport) {
    let mm = &machine.mm;
    let name = "MmMapLockedPagesWithReservedMapping aliases the pool buffer";
    let buffer_bytes = BUFFER_PAGES * PAGE_SIZE as usize;
    let reservation = nt_mdl::mm_allocate_mapping_address(mm, RESERVED_PAGES * PAGE_SIZE as usize, TAG);
    let buffer = nt::ex_allocate_pool2(mm, POOL_FLAG_NON_PAGED, buffer_bytes, TAG);
    let mdl = if buffer.is_null() {
        core::ptr::null_mut()
    } else {
        nt_mdl::io_allocate_mdl(mm, buffer, buffer_bytes as u32)
    };
    let locked = !mdl.is_null() && nt_mdl::mm_probe_and_lock_pages(mm, mdl, 0, 1).is_ok();
    let mut agreed = 0;
    if !reservation.is_null() && locked {
        let cached = MemoryCachingType::Cached as i32;
        for round in 0..RESERVED_ROUNDS {
            let mapped = nt_mdl::mm_map_locked_pages_with_reserved_mapping(mm, reservation, TAG, mdl, cached);
            if mapped.is_null() {
                break;
            }
            let slot = (round as usize * 8) % buffer_bytes;
            // SAFETY: `mapped` and `buffer` both map the locked pool buffer (BUFFER_PAGES pages)
            // and `slot + 8` stays inside it.
            let seen = unsafe {
                mapped.cast::<u8>().add(slot).cast::<u64>().write_volatile(round ^ 0xA5A5);
                buffer.cast::<u8>().add(slot).cast::<u64>().read_volatile()
            };
            agreed += u64::from(seen == round ^ 0xA5A5);
            nt_mdl::mm_unmap_reserved_mapping(mm, reservation, TAG, mdl);
        }
    }
    let faults_after = !reservation.is_null() && probe_read(reservation as u64).is_err();
    if locked {
        nt_mdl::mm_unlock_pages(mm, mdl);
    }
    if !mdl.is_null() {
        nt_mdl::io_free_mdl(mm, mdl);
    }
    if !buffer.is_null() {
        nt::ex_free_pool_with_tag(mm, buffer, TAG);
    }
    if !reservation.is_null() {
        nt_mdl::mm_free_mapping_address(mm, reservation, TAG);
    }
    report.check(
        name,
        agreed == RESERVED_ROUNDS && faults_after,
        format!("{agreed} of {RESERVED_ROUNDS} writes seen through the pool; unmapped reservation faults: {faults_after}"),
    );
}
