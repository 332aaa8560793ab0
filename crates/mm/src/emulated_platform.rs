//! A single-CPU platform over [`EmulatedMemory`], and a memory manager built on it, for the
//! unit tests of the crates above `mm` (and benchmarks): the core's page tables in emulated RAM,
//! with no host mappings to keep in step.

use alloc::sync::Arc;
use alloc::vec;
use core::fmt;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use crate::address::{PAGE_SHIFT, Pfn, PhysicalAddress, VirtualAddress};
use crate::bug_check::BugCheck;
use crate::emulated::EmulatedMemory;
use crate::irql::Irql;
use crate::memory_manager::{MemoryManager, MmConfig, VerifierOptions};
use crate::memory_map::{MemoryMap, Region, RegionKind};
use crate::ownership::OwnerId;
use crate::page_table::{PageTables, TlbFlush};
use crate::physical_memory::PhysicalMemory;
use crate::platform::Platform;

/// Where an emulated machine decodes device memory: 2 GiB from here hold nothing but what a test
/// calls registers.
pub const EMULATED_DEVICE_WINDOW: u64 = 0x8000_0000;

/// Bytes of the emulated device window.
const DEVICE_WINDOW_BYTES: u64 = 0x8000_0000;

/// The emulated machine's system VA window: 64 MiB in the canonical upper half.
const SYSTEM_VA_BASE: VirtualAddress = VirtualAddress(0xFFFF_C000_0000_0000);
const SYSTEM_VA_BYTES: u64 = 64 << 20;

/// One CPU over emulated RAM. It keeps the IRQL and the current owner in atomics, has nothing
/// to flush, and hands bug checks to `on_bug_check` (a test unwinds from it).
pub struct EmulatedPlatform {
    memory: EmulatedMemory,
    irql: AtomicU8,
    owner: AtomicU32,
    on_bug_check: fn(BugCheck) -> !,
}

impl fmt::Debug for EmulatedPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatedPlatform").field("memory", &self.memory).finish_non_exhaustive()
    }
}

impl EmulatedPlatform {
    /// `ram_frames` frames of RAM from frame 0.
    pub fn new(ram_frames: u64, on_bug_check: fn(BugCheck) -> !) -> Self {
        Self {
            memory: EmulatedMemory::new(Pfn(0), ram_frames),
            irql: AtomicU8::new(0),
            owner: AtomicU32::new(0),
            on_bug_check,
        }
    }
}

impl Platform for EmulatedPlatform {
    fn physical_memory(&self) -> &dyn PhysicalMemory {
        &self.memory
    }

    // The emulated page tables are the only translation there is: nothing to sync.
    fn flush(&self, _tables: &PageTables, flush: TlbFlush) {
        flush.ignore();
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
        false
    }

    fn bug_check(&self, bug_check: BugCheck) -> ! {
        (self.on_bug_check)(bug_check)
    }
}

/// A memory manager on `platform`, whose RAM is `ram_frames` frames from frame 0, with device
/// memory at [`EMULATED_DEVICE_WINDOW`] and 64 MiB of system VA.
///
/// # Panics
/// If the RAM would reach the device window (more than 2 GiB of frames): a test's mistake.
pub fn emulated_memory_manager(platform: Arc<dyn Platform>, ram_frames: u64) -> MemoryManager {
    let region = |start: u64, bytes: u64, kind| Region { start: PhysicalAddress(start), bytes, kind };
    let map = MemoryMap::new(vec![
        region(0, ram_frames << PAGE_SHIFT, RegionKind::Ram),
        region(EMULATED_DEVICE_WINDOW, DEVICE_WINDOW_BYTES, RegionKind::Device),
    ])
    .expect("RAM below the device window is a valid map");
    let config = MmConfig {
        system_va_base: SYSTEM_VA_BASE,
        system_va_bytes: SYSTEM_VA_BYTES,
        page_table_root: None,
        verifier: VerifierOptions::default(),
    };
    MemoryManager::new(platform, map, config).expect("emulated RAM holds a page-table root")
}
