//! PCI configuration space on metal: configuration mechanism #1, ports 0xCF8 (address) and
//! 0xCFC (data). Enumeration, BAR sizing and programming are `iospace_pnp::pci_enumeration`'s,
//! over this access, as on the hosted machine.

use iospace_hal::config::PCI_CONFIG_SPACE_BYTES;
use iospace_hal::config::{PciConfigAccess, PciSlot};
use spin::Mutex;

use crate::port::{inb, inl, inw, outb, outl, outw};

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;

/// Configuration space through ports 0xCF8/0xCFC. The two-step address/data sequence is
/// serialised by a lock.
#[derive(Debug, Default)]
pub struct ConfigPorts {
    lock: Mutex<()>,
}

fn config_address(bus: u32, slot: PciSlot, offset: u32) -> u32 {
    0x8000_0000
        | (bus & 0xFF) << 16
        | u32::from(slot.device()) << 11
        | u32::from(slot.function()) << 8
        | (offset & 0xFC)
}

impl ConfigPorts {
    /// A read of 1, 2 or 4 bytes at `offset`, naturally aligned.
    fn read(&self, bus: u32, slot: PciSlot, offset: u32, bytes: usize) -> u32 {
        let _guard = self.lock.lock();
        outl(CONFIG_ADDRESS, config_address(bus, slot, offset));
        let port = CONFIG_DATA + (offset & 3) as u16;
        match bytes {
            1 => u32::from(inb(port)),
            2 => u32::from(inw(port)),
            _ => inl(port),
        }
    }

    /// A write of 1, 2 or 4 bytes at `offset`, naturally aligned.
    fn write(&self, bus: u32, slot: PciSlot, offset: u32, bytes: usize, value: u32) {
        let _guard = self.lock.lock();
        outl(CONFIG_ADDRESS, config_address(bus, slot, offset));
        let port = CONFIG_DATA + (offset & 3) as u16;
        match bytes {
            1 => outb(port, value as u8),
            2 => outw(port, value as u16),
            _ => outl(port, value),
        }
    }
}

/// The widest naturally aligned access at `offset` that fits in `remaining` bytes.
fn chunk_bytes(offset: u32, remaining: usize) -> usize {
    if offset % 4 == 0 && remaining >= 4 {
        4
    } else if offset % 2 == 0 && remaining >= 2 {
        2
    } else {
        1
    }
}

/// Mechanism #1 reaches buses 0..=255; an absent function reads all ones, as on hardware.
impl PciConfigAccess for ConfigPorts {
    fn read_config(&self, bus: u32, slot: PciSlot, offset: u32, buffer: &mut [u8]) -> usize {
        if bus > 255 {
            return 0;
        }
        let mut done = 0;
        while done < buffer.len() {
            let at = offset + done as u32;
            let bytes = chunk_bytes(at, buffer.len() - done);
            let value = if at < PCI_CONFIG_SPACE_BYTES { self.read(bus, slot, at, bytes) } else { u32::MAX };
            buffer[done..done + bytes].copy_from_slice(&value.to_le_bytes()[..bytes]);
            done += bytes;
        }
        buffer.len()
    }

    fn write_config(&self, bus: u32, slot: PciSlot, offset: u32, data: &[u8]) -> usize {
        if bus > 255 {
            return 0;
        }
        let mut done = 0;
        while done < data.len() {
            let at = offset + done as u32;
            let bytes = chunk_bytes(at, data.len() - done);
            if at < PCI_CONFIG_SPACE_BYTES {
                let mut value = [0u8; 4];
                value[..bytes].copy_from_slice(&data[done..done + bytes]);
                self.write(bus, slot, at, bytes, u32::from_le_bytes(value));
            }
            done += bytes;
        }
        data.len()
    }
}
