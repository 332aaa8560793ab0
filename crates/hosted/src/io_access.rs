//! The HAL's view of the hosted machine: register accesses resolve through the page tables to
//! RAM or to the device model that decodes the physical address; port accesses go to port
//! space (x86; see [`Machine::read_port`]); configuration accesses go to PCI bus 0.

use iospace_devices::mmio::AccessWidth;
use iospace_hal::access::{AccessFault, IoAccess, Width};
use iospace_hal::config::{PCI_CONFIG_SPACE_BYTES, PciConfigAccess, PciSlot};
use iospace_mm::address::VirtualAddress;

use crate::machine::{Machine, RegisterAccessError};
use crate::pci_bus::ConfigAddress;

fn access_width(width: Width) -> AccessWidth {
    match width {
        Width::U8 => AccessWidth::Byte,
        Width::U16 => AccessWidth::Word,
        Width::U32 => AccessWidth::Dword,
        Width::U64 => AccessWidth::Qword,
    }
}

/// Port accesses are at most 4 bytes; the trait allows treating a 64-bit one as 32-bit.
fn port_width(width: Width) -> AccessWidth {
    match width {
        Width::U64 => AccessWidth::Dword,
        other => access_width(other),
    }
}

fn fault(error: RegisterAccessError) -> AccessFault {
    match error {
        RegisterAccessError::NotMapped(address) => AccessFault::NotMapped(address),
        RegisterAccessError::ReadOnly(address) => AccessFault::ReadOnly(address),
        RegisterAccessError::Misaligned(address) => AccessFault::Misaligned(address),
    }
}

impl IoAccess for Machine {
    fn read_register(&self, address: VirtualAddress, width: Width) -> Result<u64, AccessFault> {
        Machine::read_register(self, address, access_width(width)).map_err(fault)
    }

    fn write_register(&self, address: VirtualAddress, width: Width, value: u64) -> Result<(), AccessFault> {
        Machine::write_register(self, address, access_width(width), value).map_err(fault)
    }

    fn read_port(&self, port: u16, width: Width) -> u32 {
        Machine::read_port(self, port, port_width(width))
    }

    fn write_port(&self, port: u16, width: Width, value: u32) {
        Machine::write_port(self, port, port_width(width), value);
    }

    fn memory_barrier(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// The widest naturally aligned access that starts at `offset` and fits in `remaining` bytes.
fn chunk_width(offset: u32, remaining: usize) -> AccessWidth {
    if offset % 4 == 0 && remaining >= 4 {
        AccessWidth::Dword
    } else if offset % 2 == 0 && remaining >= 2 {
        AccessWidth::Word
    } else {
        AccessWidth::Byte
    }
}

/// Configuration space through the host bridge: bus 0 exists, no other bus does. A transfer is
/// split into the widest naturally aligned accesses, as the HAL's own configuration routines
/// issue them, so that a dword register written whole is written in one cycle.
impl PciConfigAccess for Machine {
    fn read_config(&self, bus: u32, slot: PciSlot, offset: u32, buffer: &mut [u8]) -> usize {
        if bus != 0 {
            return 0;
        }
        let pci = self.bus().pci();
        let dma = &mut self.bus().dma();
        let mut done = 0;
        while done < buffer.len() {
            let at = offset.saturating_add(done as u32);
            let width = chunk_width(at, buffer.len() - done);
            let bytes = width.bytes() as usize;
            let value = match u16::try_from(at) {
                Ok(register) if at < PCI_CONFIG_SPACE_BYTES => {
                    let address = ConfigAddress {
                        bus: 0,
                        device: slot.device(),
                        function: slot.function(),
                        offset: register,
                    };
                    pci.config_read(address, width, dma)
                }
                _ => width.mask() as u32,
            };
            buffer[done..done + bytes].copy_from_slice(&value.to_le_bytes()[..bytes]);
            done += bytes;
        }
        buffer.len()
    }

    fn write_config(&self, bus: u32, slot: PciSlot, offset: u32, data: &[u8]) -> usize {
        if bus != 0 {
            return 0;
        }
        let pci = self.bus().pci();
        let dma = &mut self.bus().dma();
        let mut done = 0;
        while done < data.len() {
            let at = offset.saturating_add(done as u32);
            let width = chunk_width(at, data.len() - done);
            let bytes = width.bytes() as usize;
            if let Ok(register) = u16::try_from(at) {
                if at < PCI_CONFIG_SPACE_BYTES {
                    let mut value = [0u8; 4];
                    value[..bytes].copy_from_slice(&data[done..done + bytes]);
                    let address = ConfigAddress {
                        bus: 0,
                        device: slot.device(),
                        function: slot.function(),
                        offset: register,
                    };
                    pci.config_write(address, width, u32::from_le_bytes(value), dma);
                }
            }
            done += bytes;
        }
        data.len()
    }
}
