//! PCI on metal: configuration space through configuration mechanism #1 (ports 0xCF8/0xCFC),
//! enumeration of every bus reachable from bus 0, and the BARs the firmware assigned.
//!
//! The firmware (SeaBIOS, before the PVH entry) has already placed every BAR and enabled
//! decoding; the kernel only reads what it did. A BAR's size is found the standard way: with
//! decoding off, write all ones, read back the mask, restore.

use alloc::vec::Vec;
use core::fmt;

use iospace_hal::config::{PCI_CONFIG_SPACE_BYTES, PCI_INVALID_VENDORID, PCI_MAX_DEVICES, PCI_MAX_FUNCTION};
use iospace_hal::config::{PciConfigAccess, PciSlot};
use spin::Mutex;

use crate::port::{inb, inl, inw, outb, outl, outw};

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;

/// Configuration-space offsets used here.
mod offset {
    pub const VENDOR_ID: u32 = 0x00;
    pub const DEVICE_ID: u32 = 0x02;
    pub const COMMAND: u32 = 0x04;
    pub const REVISION_CLASS: u32 = 0x08;
    pub const HEADER_TYPE: u32 = 0x0E;
    pub const BAR0: u32 = 0x10;
    pub const SECONDARY_BUS: u32 = 0x19;
    pub const INTERRUPT_LINE: u32 = 0x3C;
    pub const INTERRUPT_PIN: u32 = 0x3D;
}

/// Command register: I/O space and memory space decoding.
const COMMAND_DECODE: u16 = 0x3;
/// Command register: the function may master the bus (DMA).
const COMMAND_BUS_MASTER: u16 = 0x4;

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

    fn read_u8(&self, bus: u32, slot: PciSlot, offset: u32) -> u8 {
        self.read(bus, slot, offset, 1) as u8
    }

    fn read_u16(&self, bus: u32, slot: PciSlot, offset: u32) -> u16 {
        self.read(bus, slot, offset, 2) as u16
    }

    fn read_u32(&self, bus: u32, slot: PciSlot, offset: u32) -> u32 {
        self.read(bus, slot, offset, 4)
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

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarSpace {
    /// Memory space; `prefetchable` from the BAR's bit 3, `wide` for a 64-bit BAR.
    Memory {
        /// Reads have no side effects.
        prefetchable: bool,
        /// The BAR takes two registers (64-bit address).
        wide: bool,
    },
    /// I/O port space.
    Io,
}

/// One BAR as the firmware left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// The BAR's index (0..6).
    pub index: u8,
    /// Memory or ports.
    pub space: BarSpace,
    /// The bus address it decodes.
    pub address: u64,
    /// Its size in bytes (a power of two).
    pub bytes: u64,
}

/// One PCI function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// Its bus.
    pub bus: u32,
    /// Its device and function numbers.
    pub slot: PciSlot,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class, subclass and programming interface (`class << 16 | subclass << 8 | interface`).
    pub class: u32,
    /// The interrupt line firmware wrote (meaningful when `interrupt_pin` is not 0).
    pub interrupt_line: u8,
    /// The interrupt pin (0 none, 1..=4 INTA..INTD).
    pub interrupt_pin: u8,
    /// The BARs that decode something.
    pub bars: Vec<Bar>,
}

impl fmt::Display for PciFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{} {:04x}:{:04x}", self.bus, self.slot, self.vendor, self.device)
    }
}

/// Every function on bus 0 and on the buses behind its bridges.
pub fn enumerate(config: &ConfigPorts) -> Vec<PciFunction> {
    let mut functions = Vec::new();
    let mut buses = alloc::vec![0u32];
    let mut seen = [false; 256];
    while let Some(bus) = buses.pop() {
        if core::mem::replace(&mut seen[bus as usize], true) {
            continue;
        }
        for device in 0..PCI_MAX_DEVICES {
            for function in 0..PCI_MAX_FUNCTION {
                let Some(slot) = PciSlot::new(device, function) else { continue };
                let vendor = config.read_u16(bus, slot, offset::VENDOR_ID);
                if vendor == PCI_INVALID_VENDORID {
                    if function == 0 {
                        break;
                    }
                    continue;
                }
                let header_type = config.read_u8(bus, slot, offset::HEADER_TYPE);
                let bar_count = match header_type & 0x7F {
                    0 => 6,
                    1 => {
                        let secondary = config.read_u8(bus, slot, offset::SECONDARY_BUS);
                        if secondary != 0 {
                            buses.push(u32::from(secondary));
                        }
                        2
                    }
                    _ => 0,
                };
                functions.push(PciFunction {
                    bus,
                    slot,
                    vendor,
                    device: config.read_u16(bus, slot, offset::DEVICE_ID),
                    class: config.read_u32(bus, slot, offset::REVISION_CLASS) >> 8,
                    interrupt_line: config.read_u8(bus, slot, offset::INTERRUPT_LINE),
                    interrupt_pin: config.read_u8(bus, slot, offset::INTERRUPT_PIN),
                    bars: read_bars(config, bus, slot, bar_count),
                });
                if function == 0 && header_type & 0x80 == 0 {
                    break;
                }
            }
        }
    }
    functions.sort_by_key(|function| (function.bus, function.slot));
    functions
}

/// The BARs of a function, sized with its decoding turned off for the moment it takes.
fn read_bars(config: &ConfigPorts, bus: u32, slot: PciSlot, count: u8) -> Vec<Bar> {
    let command = config.read_u16(bus, slot, offset::COMMAND);
    config.write(bus, slot, offset::COMMAND, 2, u32::from(command & !COMMAND_DECODE));
    let mut bars = Vec::new();
    let mut index = 0;
    while index < count {
        let register = offset::BAR0 + 4 * u32::from(index);
        let original = config.read_u32(bus, slot, register);
        config.write(bus, slot, register, 4, u32::MAX);
        let mask = config.read_u32(bus, slot, register);
        config.write(bus, slot, register, 4, original);
        let (space, address, size_mask, registers) = if original & 1 != 0 {
            let mask = u64::from(mask & !0x3) | 0xFFFF_FFFF_FFFF_0000;
            (BarSpace::Io, u64::from(original & !0x3), mask, 1)
        } else {
            let wide = (original >> 1) & 0x3 == 0x2 && index + 1 < count;
            let prefetchable = original & 0x8 != 0;
            let mut address = u64::from(original & !0xF);
            let mut mask = u64::from(mask & !0xF) | 0xFFFF_FFFF_0000_0000;
            if wide {
                let high_register = register + 4;
                let high = config.read_u32(bus, slot, high_register);
                config.write(bus, slot, high_register, 4, u32::MAX);
                let high_mask = config.read_u32(bus, slot, high_register);
                config.write(bus, slot, high_register, 4, high);
                address |= u64::from(high) << 32;
                mask = (mask & 0xFFFF_FFFF) | u64::from(high_mask) << 32;
            }
            (BarSpace::Memory { prefetchable, wide }, address, mask, if wide { 2 } else { 1 })
        };
        let bytes = (!size_mask).wrapping_add(1);
        if size_mask != u64::MAX && bytes != 0 && address != 0 {
            bars.push(Bar { index, space, address, bytes });
        }
        index += registers;
    }
    config.write(bus, slot, offset::COMMAND, 2, u32::from(command));
    bars
}

/// Lets `function` master the bus, as the PCI bus driver does before its driver starts, so
/// that its DMA reaches memory.
pub fn enable_bus_master(config: &ConfigPorts, function: &PciFunction) {
    let command = config.read_u16(function.bus, function.slot, offset::COMMAND);
    config.write(function.bus, function.slot, offset::COMMAND, 2, u32::from(command | COMMAND_BUS_MASTER));
}
