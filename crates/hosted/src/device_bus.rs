//! Everything the hosted CPU reaches that is not RAM: the host bridge and PCI bus 0, the ECAM,
//! the fixed-port devices, and on the memory-mapped personality the port window.
//!
//! A memory access at CPU physical address `a` goes to, in order:
//! 1. the ECAM ([`ECAM`]), as a configuration cycle;
//! 2. the port window (memory-mapped personality), as port `a - port_window` of port space;
//! 3. PCI bus 0 at bus address `a - memory_offset`, through the bus's O(1) decode maps.
//!
//! A port access (an `in`/`out` on x86, or an access through the port window) goes to the host
//! bridge's configuration ports (0xCF8, 0xCFC..0xCFF), then the PCI I/O BARs, then the
//! fixed-port devices. What nothing decodes reads all ones and swallows writes, as on PCI.

use std::sync::Arc;

use iospace_devices::mmio::AccessWidth;
use iospace_hal::translation::PORT_SPACE_BYTES;
use iospace_mm::address::PhysicalAddress;

use crate::description::ECAM;
use crate::legacy_ports::LegacyPorts;
use crate::pci_bus::PciBus;
use crate::platform::HostedPlatform;
use crate::ram_dma::RamDma;

/// The machine's buses, as the CPU sees them.
pub struct DeviceBus {
    platform: Arc<HostedPlatform>,
    pci: PciBus,
    legacy: LegacyPorts,
    memory_offset: u64,
    port_window: Option<u64>,
}

impl std::fmt::Debug for DeviceBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceBus")
            .field("pci", &self.pci)
            .field("legacy", &self.legacy)
            .field("memory_offset", &format_args!("{:#x}", self.memory_offset))
            .field("port_window", &self.port_window)
            .finish()
    }
}

impl DeviceBus {
    /// A bus over `pci` and `legacy`, whose devices master the RAM of `platform`. Bus memory
    /// address `b` is CPU physical `b + memory_offset`; with `port_window`, port `p` is also
    /// CPU physical `port_window + p`.
    pub fn new(
        platform: Arc<HostedPlatform>,
        pci: PciBus,
        legacy: LegacyPorts,
        memory_offset: u64,
        port_window: Option<u64>,
    ) -> Self {
        Self { platform, pci, legacy, memory_offset, port_window }
    }

    /// PCI bus 0.
    pub fn pci(&self) -> &PciBus {
        &self.pci
    }

    /// The fixed-port devices.
    pub fn legacy(&self) -> &LegacyPorts {
        &self.legacy
    }

    /// What is added to a bus memory address to get the CPU physical address.
    pub fn memory_offset(&self) -> u64 {
        self.memory_offset
    }

    /// A bus master's view of RAM, for the models' DMA.
    pub fn dma(&self) -> RamDma<'_> {
        RamDma::new(self.platform.ram())
    }

    /// Where a CPU physical address lands.
    fn route(&self, address: PhysicalAddress) -> Route {
        if let Some(offset) = address.0.checked_sub(ECAM.0).filter(|&offset| offset < ECAM.1) {
            return Route::Ecam(offset);
        }
        if let Some(port) = self.port_window.and_then(|base| address.0.checked_sub(base)) {
            if port < PORT_SPACE_BYTES {
                // Below 0x10000: the port fits.
                return Route::Port(port as u16);
            }
        }
        match address.0.checked_sub(self.memory_offset) {
            Some(bus) => Route::Pci(bus),
            None => Route::Nothing,
        }
    }

    /// Whether something decodes `address` right now.
    pub fn decodes(&self, address: PhysicalAddress) -> bool {
        match self.route(address) {
            Route::Ecam(_) | Route::Port(_) => true,
            Route::Pci(bus) => self.pci.decodes_memory(bus),
            Route::Nothing => false,
        }
    }

    /// A read on the bus at CPU physical `address`; nothing there reads all ones.
    pub fn read(&self, address: PhysicalAddress, width: AccessWidth) -> u64 {
        let dma = &mut self.dma();
        match self.route(address) {
            Route::Ecam(offset) => self.pci.ecam_read(offset, width, dma),
            Route::Port(port) if width != AccessWidth::Qword => self.read_port(port, width).into(),
            Route::Pci(bus) => self.pci.memory_read(bus, width, dma).unwrap_or(width.mask()),
            Route::Port(_) | Route::Nothing => width.mask(),
        }
    }

    /// A write on the bus at CPU physical `address`; nothing there drops it.
    pub fn write(&self, address: PhysicalAddress, width: AccessWidth, value: u64) {
        let dma = &mut self.dma();
        match self.route(address) {
            Route::Ecam(offset) => self.pci.ecam_write(offset, width, value, dma),
            // Port accesses are at most 4 bytes: the value is truncated on purpose.
            Route::Port(port) if width != AccessWidth::Qword => self.write_port(port, width, value as u32),
            Route::Pci(bus) => {
                self.pci.memory_write(bus, width, value, dma);
            }
            Route::Port(_) | Route::Nothing => {}
        }
    }

    /// A read of port space (whichever way the CPU reaches it); nothing there reads all ones.
    pub fn read_port(&self, port: u16, width: AccessWidth) -> u32 {
        let dma = &mut self.dma();
        self.pci
            .port_read(port, width, dma)
            .or_else(|| self.legacy.read(port, width))
            .unwrap_or(width.mask() as u32)
    }

    /// A write to port space; nothing there drops it.
    pub fn write_port(&self, port: u16, width: AccessWidth, value: u32) {
        let dma = &mut self.dma();
        if !self.pci.port_write(port, width, value, dma) {
            self.legacy.write(port, width, value);
        }
    }

    /// Lets every device's pending work complete, as a driver's stall does.
    pub fn tick(&self) {
        self.pci.tick(&mut self.dma());
    }

    /// Each PCI device whose BAR0 is memory and assigned: its name, BAR0's CPU physical
    /// address and BAR0's size, by address. (The machine's fixed-port devices are in
    /// [`legacy`](Self::legacy).)
    pub fn devices(&self) -> Vec<(&'static str, PhysicalAddress, u64)> {
        let mut devices: Vec<_> = self
            .pci
            .devices()
            .into_iter()
            .filter_map(|device| {
                let (bar, address) =
                    device.bars.iter().find(|(bar, _)| bar.index == 0 && !bar.kind.is_io())?;
                Some((
                    device.name,
                    PhysicalAddress(address.as_ref()?.checked_add(self.memory_offset)?),
                    bar.size,
                ))
            })
            .collect();
        devices.sort_by_key(|&(_, address, _)| address);
        devices
    }
}

/// Where a CPU physical address lands.
enum Route {
    Ecam(u64),
    Port(u16),
    Pci(u64),
    Nothing,
}
