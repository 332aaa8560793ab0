//! The host bridge's own PCI function at 00:00.0, as q35's MCH presents it: Intel 82G33
//! (vendor 0x8086, device 0x29c0), class 0x0600 (host bridge), no BARs. It is what an
//! enumeration finds first, and it decodes nothing on behalf of itself.

use iospace_devices::mmio::AccessWidth;
use iospace_devices::pci::{
    ClassCode, PciConfigSpace, PciFunction, PciIdentity, QEMU_SUBSYSTEM_ID, QEMU_SUBSYSTEM_VENDOR_ID,
};

/// q35's MCH vendor ID (Intel).
pub const HOST_BRIDGE_VENDOR_ID: u16 = 0x8086;
/// q35's MCH device ID (82G33/G31/P35/P31 DRAM controller).
pub const HOST_BRIDGE_DEVICE_ID: u16 = 0x29c0;

/// The host bridge's identification.
pub const HOST_BRIDGE_IDENTITY: PciIdentity = PciIdentity {
    vendor_id: HOST_BRIDGE_VENDOR_ID,
    device_id: HOST_BRIDGE_DEVICE_ID,
    class_code: ClassCode { class: 0x06, subclass: 0x00, prog_if: 0x00 },
    revision: 0,
    subsystem_vendor_id: QEMU_SUBSYSTEM_VENDOR_ID,
    subsystem_id: QEMU_SUBSYSTEM_ID,
};

/// The host bridge function: configuration space only.
#[derive(Debug)]
pub struct HostBridge {
    config: PciConfigSpace,
}

impl HostBridge {
    /// The bridge in its reset state.
    pub fn new() -> Self {
        // No BARs, so construction cannot fail; the fallback keeps the no-panic rule anyway.
        let config = PciConfigSpace::new(HOST_BRIDGE_IDENTITY, &[]).unwrap_or_else(|_| unreachable!());
        Self { config }
    }
}

impl Default for HostBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl PciFunction for HostBridge {
    fn config(&self) -> &PciConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut PciConfigSpace {
        &mut self.config
    }

    fn bar_read(&mut self, _bar: u8, _offset: u64, width: AccessWidth) -> u64 {
        width.mask()
    }

    fn bar_write(&mut self, _bar: u8, _offset: u64, _width: AccessWidth, _value: u64) {}
}
