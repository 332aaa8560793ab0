//! The machine the memory-manager workloads run on: the core's real-format page tables in
//! emulated physical memory ([`EmulatedMemory`]), as on the hosted machine, but with a flush
//! that has no host mappings to rewrite. A flush then costs what the core's own bookkeeping
//! costs around it, which is what these workloads measure; the host's share is measured apart
//! by `hosted_ram_alias`.
//!
//! Unlike `iospace_mm::emulated_platform`, this machine has 1 GiB pages, a 256 GiB system VA
//! window and device space above 4 GiB, which the 64 GiB BAR workload needs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering};

use iospace_mm::address::{PAGE_SHIFT, Pfn, PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::BugCheck;
use iospace_mm::emulated::EmulatedMemory;
use iospace_mm::irql::Irql;
use iospace_mm::memory_manager::{MemoryManager, MmConfig, VerifierOptions};
use iospace_mm::memory_map::{MemoryMap, Region, RegionKind};
use iospace_mm::ownership::OwnerId;
use iospace_mm::page_table::{PageTables, TlbFlush};
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::platform::Platform;

/// RAM of the machine: 256 MiB from physical 0.
pub const RAM_FRAMES: u64 = 65_536;

/// Device memory below 4 GiB, where the q35 machine puts its BARs (edu's BAR0 is at
/// 0xFEA00000 on the hosted default machine).
pub const LOW_DEVICE_WINDOW: (PhysicalAddress, u64) = (PhysicalAddress(0xC000_0000), 0x4000_0000);

/// Device memory above 4 GiB, 1 GiB-aligned, for a 64 GiB BAR.
pub const HIGH_DEVICE_WINDOW: (PhysicalAddress, u64) = (PhysicalAddress(64 << 30), 64 << 30);

/// The system VA window: 256 GiB from a 512 GiB-aligned address of the upper half, so that it
/// takes one PML4 entry and one page-directory-pointer table.
const SYSTEM_VA: (VirtualAddress, u64) = (VirtualAddress(0xFFFF_C000_0000_0000), 256 << 30);

/// The numbers threads get as CPUs, in the order they first ask.
static NEXT_PROCESSOR: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Each thread is a CPU of its own, for the memory manager's per-CPU caches.
    static PROCESSOR: usize = NEXT_PROCESSOR.fetch_add(1, Ordering::Relaxed);
}

/// The CPUs of the machine are the threads that use it; the IRQL and owner are never changed
/// by the workloads, so every thread reads the same values. RAM is emulated.
struct BenchPlatform {
    memory: EmulatedMemory,
    irql: AtomicU8,
    owner: AtomicU32,
}

impl fmt::Debug for BenchPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BenchPlatform").field("memory", &self.memory).finish_non_exhaustive()
    }
}

impl Platform for BenchPlatform {
    fn physical_memory(&self) -> &dyn PhysicalMemory {
        &self.memory
    }

    fn flush(&self, _tables: &PageTables, flush: TlbFlush) {
        // The emulated page tables are the only translation: nothing to invalidate. The range
        // goes through `black_box` so the call is made and its argument built, as a real
        // invalidation would need.
        std::hint::black_box(flush.range());
    }

    fn current_irql(&self) -> Irql {
        Irql(self.irql.load(Ordering::Relaxed))
    }

    fn set_current_irql(&self, irql: Irql) {
        self.irql.store(irql.0, Ordering::Relaxed);
    }

    fn current_owner(&self) -> OwnerId {
        OwnerId(self.owner.load(Ordering::Relaxed))
    }

    fn set_current_owner(&self, owner: OwnerId) {
        self.owner.store(owner.0, Ordering::Relaxed);
    }

    fn supports_huge_pages(&self) -> bool {
        true
    }

    fn current_processor(&self) -> usize {
        PROCESSOR.with(|processor| *processor)
    }

    fn bug_check(&self, bug_check: BugCheck) -> ! {
        // A workload that bug-checks is a broken benchmark, not a measurement.
        panic!("bug check in a benchmark: {bug_check}")
    }
}

/// A fresh memory manager on the emulated machine: 256 MiB of RAM, device windows below 4 GiB
/// and at 64 GiB, 1 GiB pages, 256 GiB of system VA.
pub fn emulated_mm() -> MemoryManager {
    let platform: Arc<dyn Platform> = Arc::new(BenchPlatform {
        memory: EmulatedMemory::new(Pfn(0), RAM_FRAMES),
        irql: AtomicU8::new(Irql::PASSIVE.0),
        owner: AtomicU32::new(OwnerId::NONE.0),
    });
    let region = |start: PhysicalAddress, bytes: u64, kind| Region { start, bytes, kind };
    let map = MemoryMap::new(vec![
        region(PhysicalAddress(0), RAM_FRAMES << PAGE_SHIFT, RegionKind::Ram),
        region(LOW_DEVICE_WINDOW.0, LOW_DEVICE_WINDOW.1, RegionKind::Device),
        region(HIGH_DEVICE_WINDOW.0, HIGH_DEVICE_WINDOW.1, RegionKind::Device),
    ])
    .expect("the emulated machine's regions are aligned and disjoint");
    let config = MmConfig {
        system_va_base: SYSTEM_VA.0,
        system_va_bytes: SYSTEM_VA.1,
        page_table_root: None,
        verifier: VerifierOptions::default(),
    };
    MemoryManager::new(platform, map, config).expect("256 MiB of RAM holds a page-table root")
}

#[cfg(test)]
mod tests {
    use super::*;
    use iospace_mm::caching::CachePolicy;

    #[test]
    fn the_machine_maps_device_memory_with_real_page_tables() {
        let mm = emulated_mm();
        let mapping = mm.map_io_space(PhysicalAddress(0xFEA0_0000), 0x1000, CachePolicy::Uncached).unwrap();
        assert_eq!(mm.physical_address(mapping.address()), Some(PhysicalAddress(0xFEA0_0000)));
        assert!(mm.system_va().contains(mapping.address()));
        assert!(mm.platform().supports_huge_pages());
    }
}
