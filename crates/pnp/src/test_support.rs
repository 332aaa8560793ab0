//! Test doubles: a memory manager over emulated RAM whose platform keeps the current owner and
//! whose bug checks unwind, and an [`IoAccess`] that reaches nothing.

extern crate std;

use alloc::boxed::Box;
use alloc::sync::Arc;

use iospace_hal::access::{AccessFault, IoAccess, Width};
use iospace_mm::address::{Pfn, VirtualAddress};
use iospace_mm::bug_check::BugCheck;
use iospace_mm::emulated::EmulatedMemory;
use iospace_mm::emulated_platform::{EMULATED_DEVICE_WINDOW, EmulatedPlatform, emulated_memory_manager};
use iospace_mm::irql::Irql;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::page_table::{PageTables, TlbFlush};
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::platform::Platform;

/// Frames of emulated RAM (from frame 0): enough for the page tables of a few mappings.
const RAM_FRAMES: u64 = 256;

/// Where the test machine decodes device memory: nothing but BARs lives there.
pub(crate) const DEVICE_WINDOW: u64 = EMULATED_DEVICE_WINDOW;

/// Bug checks unwind with the [`BugCheck`] as payload; `resume_unwind` skips the panic hook,
/// so a caught bug check prints nothing.
fn unwind(bug_check: BugCheck) -> ! {
    std::panic::resume_unwind(Box::new(bug_check))
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
        unwind(bug_check)
    }
}

/// A memory manager over emulated RAM, with a device window at [`DEVICE_WINDOW`].
pub(crate) fn test_memory_manager() -> MemoryManager {
    emulated_memory_manager(Arc::new(EmulatedPlatform::new(RAM_FRAMES, unwind)), RAM_FRAMES)
}

/// As [`test_memory_manager`], on a platform that does not keep the current owner.
pub(crate) fn forgetful_memory_manager() -> MemoryManager {
    emulated_memory_manager(
        Arc::new(ForgetfulPlatform { memory: EmulatedMemory::new(Pfn(0), RAM_FRAMES) }),
        RAM_FRAMES,
    )
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
