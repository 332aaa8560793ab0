//! A driver for QEMU's `pci-testdev` (vendor 0x1b36, device 0x0005): BAR0 is 4 KiB of memory,
//! BAR1 256 I/O ports, each holding tests that count the writes reaching the device.
//!
//! At START the driver runs the no-eventfd test of each BAR: it selects the test by writing its
//! number at offset 0, reads the test's header (where to write, what to write), writes that
//! byte [`WRITES`] times and reads the count back. The memory BAR is reached with the register
//! routines on its mapping; the port BAR with the port routines, on the port number on x86 or
//! on the mapping where the platform puts port space in memory: the raw type decides.

use alloc::format;

use iospace_mm::caching::CachePolicy;
use iospace_pnp::driver::{DeviceContext, Driver};
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

use crate::device_resources::{DeviceResources, Window};
use crate::journal::Journal;

/// The vendor ID.
pub const VENDOR_ID: u16 = 0x1B36;
/// The device ID.
pub const DEVICE_ID: u16 = 0x0005;
/// Writes per test.
pub const WRITES: u32 = 5;
/// Header offsets of the selected test.
const HEADER_OFFSET: u64 = 4;
const HEADER_DATA: u64 = 8;
const HEADER_COUNT: u64 = 12;
/// Writing this test number deselects.
const DESELECT: u8 = 0xFF;

/// The pci-testdev driver.
#[derive(Debug)]
pub struct PciTestdevDriver<'mm> {
    journal: Journal,
    resources: Option<DeviceResources<'mm>>,
}

impl PciTestdevDriver<'_> {
    /// A driver recording into `journal`.
    pub fn new(journal: Journal) -> Self {
        Self { journal, resources: None }
    }
}

/// Runs test 0 of `window` (the BAR's no-eventfd test); returns the count the device reports.
fn run_test(window: &Window<'_>) -> (u32, u32) {
    window.write_u8(0, 0);
    let offset = u64::from(window.read_u32(HEADER_OFFSET));
    let data = window.read_u8(HEADER_DATA);
    for _ in 0..WRITES {
        window.write_u8(offset, data);
    }
    let count = window.read_u32(HEADER_COUNT);
    window.write_u8(0, DESELECT);
    (count, offset as u32)
}

impl<'mm> Driver<'mm> for PciTestdevDriver<'mm> {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        let claimed = DeviceResources::claim(device, resources, |_, _| CachePolicy::Uncached)
            .map_err(|error| error.status())?;
        let (Some(memory), Some(ports)) = (claimed.memory(0), claimed.ports(0)) else {
            self.journal.check("BARs", false, "expected a memory BAR and a port BAR");
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        };
        let mut passed = true;
        for (name, window) in [("memory BAR", memory), ("port BAR", ports)] {
            let (count, offset) = run_test(window);
            let ok = count == WRITES;
            passed &= ok;
            self.journal.check(
                format!("{name} writes counted"),
                ok,
                format!(
                    "{WRITES} writes at offset {offset:#x} through {}, device counted {count}",
                    crate::resource_text::routines(window)
                ),
            );
        }
        if !passed {
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        }
        self.resources = Some(claimed);
        Ok(())
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }

    fn remove(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }
}
