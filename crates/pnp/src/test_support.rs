//! Test doubles: a memory manager over emulated RAM whose platform keeps the current owner and
//! whose bug checks unwind, and an [`IoAccess`] that reaches nothing.

extern crate std;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use iospace_hal::access::{AccessFault, IoAccess, Width};
use iospace_mm::address::{Pfn, PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::BugCheck;
use iospace_mm::emulated::EmulatedMemory;
use iospace_mm::irql::Irql;
use iospace_mm::memory_manager::{MemoryManager, MmConfig, VerifierOptions};
use iospace_mm::memory_map::{MemoryMap, Region, RegionKind};
use iospace_mm::ownership::OwnerId;
use iospace_mm::page_table::{PageTables, TlbFlush};
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::platform::Platform;

/// Frames of emulated RAM (from frame 0): enough for the page tables of a few mappings.
const RAM_FRAMES: u64 = 256;

/// Where the test machine decodes device memory: nothing but BARs lives there.
pub(crate) const DEVICE_WINDOW: u64 = 0x8000_0000;

/// A single-CPU platform over emulated RAM; bug checks unwind with the [`BugCheck`] as payload.
struct TestPlatform {
    memory: EmulatedMemory,
    irql: AtomicU8,
    // One CPU, so one current owner: what a per-CPU (or per-thread) slot holds elsewhere.
    owner: AtomicU32,
}

impl Platform for TestPlatform {
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
        // `resume_unwind` skips the panic hook, so a caught bug check prints nothing.
        std::panic::resume_unwind(Box::new(bug_check))
    }
}

/// A platform that keeps no owner (the trait's defaults), as an unconverted platform is.
struct ForgetfulPlatform {
    memory: EmulatedMemory,
}

impl Platform for ForgetfulPlatform {
    fn physical_memory(&self) -> &dyn PhysicalMemory {
        &self.memory
    }

    fn flush(&self, _tables: &PageTables, flush: TlbFlush) {
        flush.ignore();
    }

    fn current_irql(&self) -> Irql {
        Irql::PASSIVE
    }

    fn set_current_irql(&self, _irql: Irql) {}

    fn supports_huge_pages(&self) -> bool {
        false
    }

    fn bug_check(&self, bug_check: BugCheck) -> ! {
        std::panic::resume_unwind(Box::new(bug_check))
    }
}

fn memory_manager(platform: Arc<dyn Platform>) -> MemoryManager {
    let region = |start: u64, bytes: u64, kind| Region { start: PhysicalAddress(start), bytes, kind };
    let map = MemoryMap::new(vec![
        region(0, RAM_FRAMES << 12, RegionKind::Ram),
        region(DEVICE_WINDOW, 0x8000_0000, RegionKind::Device),
    ])
    .expect("a valid memory map");
    let config = MmConfig {
        system_va_base: VirtualAddress(0xFFFF_C000_0000_0000),
        system_va_bytes: 64 << 20,
        page_table_root: None,
        verifier: VerifierOptions::default(),
    };
    MemoryManager::new(platform, map, config).expect("a memory manager")
}

/// A memory manager over emulated RAM, with a device window at [`DEVICE_WINDOW`].
pub(crate) fn test_memory_manager() -> MemoryManager {
    memory_manager(Arc::new(TestPlatform {
        memory: EmulatedMemory::new(Pfn(0), RAM_FRAMES),
        irql: AtomicU8::new(0),
        owner: AtomicU32::new(0),
    }))
}

/// As [`test_memory_manager`], on a platform that does not keep the current owner.
pub(crate) fn forgetful_memory_manager() -> MemoryManager {
    memory_manager(Arc::new(ForgetfulPlatform { memory: EmulatedMemory::new(Pfn(0), RAM_FRAMES) }))
}

/// Runs `f`, which must raise a bug check, and returns it.
pub(crate) fn catch_bug_check<R>(f: impl FnOnce() -> R) -> BugCheck {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a bug check"),
        Err(payload) => match payload.downcast::<BugCheck>() {
            Ok(bug_check) => *bug_check,
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// Device access that reaches no device: the PnP tests only map and unmap.
pub(crate) struct NoDevices;

impl IoAccess for NoDevices {
    fn read_register(&self, address: VirtualAddress, _width: Width) -> Result<u64, AccessFault> {
        Err(AccessFault::NotMapped(address))
    }

    fn write_register(&self, address: VirtualAddress, _width: Width, _value: u64) -> Result<(), AccessFault> {
        Err(AccessFault::NotMapped(address))
    }

    // Nothing decodes any port: all ones, as on a PC.
    fn read_port(&self, _port: u16, width: Width) -> u32 {
        width.mask() as u32
    }

    fn write_port(&self, _port: u16, _width: Width, _value: u32) {}

    fn memory_barrier(&self) {}
}
