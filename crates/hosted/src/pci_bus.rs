//! PCI bus 0 behind the hosted machine's host bridge: 32 device slots (function 0 of each),
//! configuration cycles (mechanism #1 at ports 0xCF8/0xCFC, and ECAM), and the decoding of
//! memory and I/O accesses to the BARs that configuration space programs.
//!
//! # Decoding
//!
//! Which device a bus address reaches is kept in hash maps rebuilt whenever a configuration
//! write touches a command register or a BAR (and after firmware), from the BARs whose space
//! the command register enables. A memory BAR is entered by granule: 4 KiB pages for BARs
//! below 2 MiB, 2 MiB granules for BARs from 2 MiB, 1 GiB granules from 1 GiB (a BAR is aligned
//! to its size, so it covers whole granules), so a lookup is at most three hash probes whatever
//! the number or size of BARs, and a 64 GiB BAR costs 64 entries. I/O BARs are entered by
//! 4-port granule (the smallest I/O BAR). The function found is then asked which of its BARs
//! decodes the address ([`PciConfigSpace::memory_bar_at`](iospace_devices::pci::PciConfigSpace::memory_bar_at)),
//! against its live configuration, so a stale map can only miss, never misroute. If a driver
//! programs two devices' BARs into one granule, the granule is marked shared and the slots are
//! searched (32 at most).
//!
//! # Time
//!
//! After every access to a function (configuration or BAR) the bus calls the function's
//! [`tick`](PciFunction::tick) with the machine's RAM as its bus-master view, so work that takes
//! time on hardware (edu's DMA) completes while the driver polls, as it would on a real bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

use iospace_devices::dma::DmaMemory;
use iospace_devices::mmio::AccessWidth;
use iospace_devices::pci::{BarDescriptor, PciFunction, PciIdentity, offsets};

use crate::host_bridge::HostBridge;

/// Device slots on a bus.
pub const PCI_SLOTS: u8 = 32;
/// Bytes of ECAM per bus.
pub const ECAM_BUS_BYTES: u64 = 1 << 20;
/// CONFIG_ADDRESS's enable bit.
pub const CONFIG_ENABLE: u32 = 1 << 31;
/// The bits of CONFIG_ADDRESS that hold a value (enable, bus, device, function, register);
/// the reserved bits 30:24 and 1:0 read 0.
const CONFIG_ADDRESS_MASK: u32 = 0x80FF_FFFC;
/// Port of CONFIG_ADDRESS.
pub const CONFIG_ADDRESS_PORT: u16 = 0xCF8;
/// First port of CONFIG_DATA (0xCFC..=0xCFF, one per byte lane).
pub const CONFIG_DATA_PORT: u16 = 0xCFC;

/// Granule shifts of the memory maps: 4 KiB, 2 MiB, 1 GiB.
const GRANULE_SHIFTS: [u32; 3] = [12, 21, 30];
/// Ports per I/O granule.
const IO_GRANULE_SHIFT: u32 = 2;

/// Who decodes a granule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    One(u8),
    /// More than one device has a BAR there: search.
    Many,
}

impl Owner {
    /// The slots to ask, without allocating: the owner, or every slot.
    fn devices(self) -> std::ops::Range<u8> {
        match self {
            Self::One(device) => device..device + 1,
            Self::Many => 0..PCI_SLOTS,
        }
    }
}

#[derive(Debug, Default)]
struct DecodeMaps {
    memory: [HashMap<u64, Owner>; 3],
    io: HashMap<u64, Owner>,
}

impl DecodeMaps {
    fn enter(map: &mut HashMap<u64, Owner>, key: u64, device: u8) {
        map.entry(key)
            .and_modify(|owner| {
                if *owner != Owner::One(device) {
                    *owner = Owner::Many;
                }
            })
            .or_insert(Owner::One(device));
    }

    fn add_memory(&mut self, device: u8, base: u64, size: u64) {
        let level = if size >= 1 << GRANULE_SHIFTS[2] {
            2
        } else if size >= 1 << GRANULE_SHIFTS[1] {
            1
        } else {
            0
        };
        let shift = GRANULE_SHIFTS[level];
        let last = base.saturating_add(size - 1);
        for granule in (base >> shift)..=(last >> shift) {
            Self::enter(&mut self.memory[level], granule, device);
        }
    }

    fn add_io(&mut self, device: u8, base: u64, size: u64) {
        let last = base.saturating_add(size - 1);
        for granule in (base >> IO_GRANULE_SHIFT)..=(last >> IO_GRANULE_SHIFT) {
            Self::enter(&mut self.io, granule, device);
        }
    }

    /// The owners of `address` at each granule level, finest first.
    fn memory_owners(&self, address: u64) -> impl Iterator<Item = Owner> + '_ {
        GRANULE_SHIFTS
            .iter()
            .zip(&self.memory)
            .filter_map(move |(shift, map)| map.get(&(address >> shift)).copied())
    }
}

/// A device on the bus.
struct Slot {
    name: &'static str,
    function: Mutex<Box<dyn PciFunction>>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Box<dyn PciFunction>> {
        // A model never panics on guest input; if one did, its state is still the best we have.
        self.function.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A configuration-space address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigAddress {
    /// Bus number.
    pub bus: u8,
    /// Device number (0..32).
    pub device: u8,
    /// Function number (0..8).
    pub function: u8,
    /// Byte offset in the function's configuration space (0..4096 with ECAM).
    pub offset: u16,
}

impl ConfigAddress {
    /// The address an ECAM offset designates: `bus << 20 | device << 15 | function << 12 |
    /// register`.
    pub const fn from_ecam(offset: u64) -> Self {
        Self {
            bus: (offset >> 20) as u8,
            device: ((offset >> 15) & 0x1F) as u8,
            function: ((offset >> 12) & 0x7) as u8,
            offset: (offset & 0xFFF) as u16,
        }
    }

    /// The address a CONFIG_ADDRESS value designates, with byte lane `lane` (0..4) of
    /// CONFIG_DATA; `None` while the enable bit is clear.
    pub const fn from_config_address(value: u32, lane: u16) -> Option<Self> {
        if value & CONFIG_ENABLE == 0 {
            return None;
        }
        Some(Self {
            bus: (value >> 16) as u8,
            device: ((value >> 11) & 0x1F) as u8,
            function: ((value >> 8) & 0x7) as u8,
            offset: (value & 0xFC) as u16 + lane,
        })
    }
}

/// What an enumeration learns about one device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDeviceInfo {
    /// Device number on bus 0.
    pub device: u8,
    /// The model's name (`"edu"`, `"ivshmem"`, ...; `"host-bridge"` for 00.0).
    pub name: &'static str,
    /// Its identification.
    pub identity: PciIdentity,
    /// Each BAR with the bus address it holds (`None` while unassigned).
    pub bars: Vec<(BarDescriptor, Option<u64>)>,
    /// The command register.
    pub command: u16,
}

/// PCI bus 0. See the [module documentation](self).
pub struct PciBus {
    slots: Vec<Option<Slot>>,
    decode: RwLock<DecodeMaps>,
    /// Serialises rebuilds, so the last one to run has seen every configuration write.
    rebuild: Mutex<()>,
    config_address: AtomicU32,
}

impl std::fmt::Debug for PciBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (device, slot) in self.slots.iter().enumerate() {
            if let Some(slot) = slot {
                list.entry(&format_args!("{device:02x}.0 {}", slot.name));
            }
        }
        list.finish()
    }
}

impl Default for PciBus {
    fn default() -> Self {
        Self::new()
    }
}

impl PciBus {
    /// A bus with only the host bridge, at 00.0.
    pub fn new() -> Self {
        let mut bus = Self {
            slots: (0..PCI_SLOTS).map(|_| None).collect(),
            decode: RwLock::new(DecodeMaps::default()),
            rebuild: Mutex::new(()),
            config_address: AtomicU32::new(0),
        };
        bus.slots[0] = Some(Slot { name: "host-bridge", function: Mutex::new(Box::new(HostBridge::new())) });
        bus
    }

    /// Puts `function` in slot `device`. Returns false, changing nothing, if the slot is out
    /// of range or taken.
    pub fn attach(&mut self, device: u8, name: &'static str, function: Box<dyn PciFunction>) -> bool {
        match self.slots.get_mut(usize::from(device)) {
            Some(slot @ None) => {
                *slot = Some(Slot { name, function: Mutex::new(function) });
                true
            }
            _ => false,
        }
    }

    fn slot(&self, device: u8) -> Option<&Slot> {
        self.slots.get(usize::from(device))?.as_ref()
    }

    /// Runs `body` on the function in slot `device` (then ticks it), or returns `None` for an
    /// empty slot. Configuration changes made here are decoded after
    /// [`rebuild_decode`](Self::rebuild_decode).
    pub fn with_function<R>(
        &self,
        device: u8,
        dma: &mut dyn DmaMemory,
        body: impl FnOnce(&mut dyn PciFunction) -> R,
    ) -> Option<R> {
        let slot = self.slot(device)?;
        let mut function = slot.lock();
        let result = body(function.as_mut());
        function.tick(dma);
        Some(result)
    }

    /// A configuration read. A bus other than 0, a function other than 0 or an empty slot
    /// reads all ones, as a master abort does.
    pub fn config_read(&self, address: ConfigAddress, width: AccessWidth, dma: &mut dyn DmaMemory) -> u32 {
        let all_ones = width.mask() as u32;
        if address.bus != 0 || address.function != 0 {
            return all_ones;
        }
        self.with_function(address.device, dma, |function| function.config().read(address.offset, width))
            .unwrap_or(all_ones)
    }

    /// A configuration write; dropped where a read would be all ones. Rebuilds the decoding
    /// if it touched a command register or a BAR.
    pub fn config_write(
        &self,
        address: ConfigAddress,
        width: AccessWidth,
        value: u32,
        dma: &mut dyn DmaMemory,
    ) {
        if address.bus != 0 || address.function != 0 {
            return;
        }
        let written = self.with_function(address.device, dma, |function| {
            function.config_mut().write(address.offset, width, value)
        });
        let start = address.offset;
        let end = start.saturating_add(width.bytes() as u16);
        let touches = |(first, last): (u16, u16)| start < last && first < end;
        let decoding = (offsets::COMMAND, offsets::STATUS);
        let bars = (offsets::BAR0, offsets::SUBSYSTEM_VENDOR_ID - 4);
        if written.is_some() && (touches(decoding) || touches(bars)) {
            self.rebuild_decode();
        }
    }

    /// Re-reads every function's command register and BARs into the decode maps.
    pub fn rebuild_decode(&self) {
        let _serialised = self.rebuild.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut maps = DecodeMaps::default();
        for (device, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let function = slot.lock();
            let config = function.config();
            for bar in config.bars() {
                let Some(base) = config.decoded_bar_address(bar.index) else { continue };
                // At most 32 slots: the index fits.
                if bar.kind.is_io() {
                    maps.add_io(device as u8, base, bar.size);
                } else {
                    maps.add_memory(device as u8, base, bar.size);
                }
            }
        }
        *self.decode.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = maps;
    }

    /// The devices that may decode a memory address, from the maps.
    fn memory_candidates(&self, address: u64) -> [Option<Owner>; 3] {
        let maps = self.decode.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut owners = maps.memory_owners(address);
        [owners.next(), owners.next(), owners.next()]
    }

    fn io_candidate(&self, port: u64) -> Option<Owner> {
        let maps = self.decode.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        maps.io.get(&(port >> IO_GRANULE_SHIFT)).copied()
    }

    /// Runs `access` on the BAR of the device that decodes `address` (memory or I/O), then
    /// ticks the device. `None` if no BAR decodes it.
    fn bar_access<R>(
        &self,
        candidates: impl IntoIterator<Item = Option<Owner>>,
        address: u64,
        io: bool,
        dma: &mut dyn DmaMemory,
        access: impl FnOnce(&mut dyn PciFunction, u8, u64) -> R,
    ) -> Option<R> {
        let mut access = Some(access);
        for owner in candidates.into_iter().flatten() {
            for device in owner.devices() {
                let Some(slot) = self.slot(device) else { continue };
                let mut function = slot.lock();
                let config = function.config();
                let hit = if io { config.io_bar_at(address) } else { config.memory_bar_at(address) };
                if let Some((bar, offset)) = hit {
                    let result = access.take().map(|access| access(function.as_mut(), bar, offset));
                    function.tick(dma);
                    return result;
                }
            }
        }
        None
    }

    /// Whether a memory BAR decodes bus address `address` right now (no access is made).
    pub fn decodes_memory(&self, address: u64) -> bool {
        self.memory_candidates(address).into_iter().flatten().any(|owner| {
            owner.devices().any(|device| {
                self.slot(device).is_some_and(|slot| slot.lock().config().memory_bar_at(address).is_some())
            })
        })
    }

    /// A memory read at bus address `address`, or `None` if no BAR decodes it.
    pub fn memory_read(&self, address: u64, width: AccessWidth, dma: &mut dyn DmaMemory) -> Option<u64> {
        let candidates = self.memory_candidates(address);
        self.bar_access(candidates, address, false, dma, |function, bar, offset| {
            function.bar_read(bar, offset, width)
        })
    }

    /// A memory write at bus address `address`; returns whether a BAR decoded it.
    pub fn memory_write(
        &self,
        address: u64,
        width: AccessWidth,
        value: u64,
        dma: &mut dyn DmaMemory,
    ) -> bool {
        let candidates = self.memory_candidates(address);
        self.bar_access(candidates, address, false, dma, |function, bar, offset| {
            function.bar_write(bar, offset, width, value)
        })
        .is_some()
    }

    /// A port read that the host bridge or a device on the bus decodes: CONFIG_ADDRESS (dword
    /// at 0xCF8), CONFIG_DATA (0xCFC..0xCFF, any width within the dword) or an I/O BAR.
    /// `None` if nothing on the bus decodes it.
    pub fn port_read(&self, port: u16, width: AccessWidth, dma: &mut dyn DmaMemory) -> Option<u32> {
        if port == CONFIG_ADDRESS_PORT && width == AccessWidth::Dword {
            return Some(self.config_address.load(Ordering::SeqCst));
        }
        if let Some(lane) = Self::data_lane(port, width) {
            let address =
                ConfigAddress::from_config_address(self.config_address.load(Ordering::SeqCst), lane);
            return Some(match address {
                Some(address) => self.config_read(address, width, dma),
                None => width.mask() as u32,
            });
        }
        let port = u64::from(port);
        let candidates = self.io_candidate(port);
        self.bar_access([candidates], port, true, dma, |function, bar, offset| {
            // I/O accesses are at most 4 bytes: the value fits.
            function.bar_read(bar, offset, width) as u32
        })
    }

    /// A port write; returns whether the host bridge or a device on the bus decoded it.
    pub fn port_write(&self, port: u16, width: AccessWidth, value: u32, dma: &mut dyn DmaMemory) -> bool {
        if port == CONFIG_ADDRESS_PORT && width == AccessWidth::Dword {
            self.config_address.store(value & CONFIG_ADDRESS_MASK, Ordering::SeqCst);
            return true;
        }
        if let Some(lane) = Self::data_lane(port, width) {
            if let Some(address) =
                ConfigAddress::from_config_address(self.config_address.load(Ordering::SeqCst), lane)
            {
                self.config_write(address, width, value, dma);
            }
            return true;
        }
        let port = u64::from(port);
        let candidates = self.io_candidate(port);
        self.bar_access([candidates], port, true, dma, |function, bar, offset| {
            function.bar_write(bar, offset, width, value.into())
        })
        .is_some()
    }

    /// The CONFIG_DATA byte lane of an access that lies within 0xCFC..=0xCFF.
    fn data_lane(port: u16, width: AccessWidth) -> Option<u16> {
        let lane = port.checked_sub(CONFIG_DATA_PORT)?;
        (width != AccessWidth::Qword && width.fits(lane.into(), 4)).then_some(lane)
    }

    /// An ECAM read `offset` bytes into the ECAM range. Buses other than 0 and absent devices
    /// read all ones; so do 8-byte accesses, which configuration space does not decode.
    pub fn ecam_read(&self, offset: u64, width: AccessWidth, dma: &mut dyn DmaMemory) -> u64 {
        if width == AccessWidth::Qword {
            return width.mask();
        }
        self.config_read(ConfigAddress::from_ecam(offset), width, dma).into()
    }

    /// An ECAM write `offset` bytes into the ECAM range.
    pub fn ecam_write(&self, offset: u64, width: AccessWidth, value: u64, dma: &mut dyn DmaMemory) {
        if width != AccessWidth::Qword {
            // Configuration accesses are at most 4 bytes: the value is truncated on purpose.
            self.config_write(ConfigAddress::from_ecam(offset), width, value as u32, dma);
        }
    }

    /// Lets every function's pending work complete, as a driver's stall or poll does.
    pub fn tick(&self, dma: &mut dyn DmaMemory) {
        for device in 0..PCI_SLOTS {
            self.with_function(device, dma, |_| ());
        }
    }

    /// Whether the function in slot `device` asserts INTx.
    pub fn interrupt_pending(&self, device: u8) -> bool {
        self.slot(device).is_some_and(|slot| slot.lock().interrupt_pending())
    }

    /// Every device on the bus, by device number.
    pub fn devices(&self) -> Vec<PciDeviceInfo> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(device, slot)| {
                let slot = slot.as_ref()?;
                let function = slot.lock();
                let config = function.config();
                Some(PciDeviceInfo {
                    // At most 32 slots: the index fits.
                    device: device as u8,
                    name: slot.name,
                    identity: *config.identity(),
                    bars: config.bars().iter().map(|bar| (*bar, config.bar_address(bar.index))).collect(),
                    command: config.command(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iospace_devices::dma::VecDmaMemory;
    use iospace_devices::edu::Edu;
    use iospace_devices::ivshmem::{Ivshmem, VecSharedRegion};
    use iospace_devices::pci::command;

    fn dma() -> VecDmaMemory {
        VecDmaMemory::new(0, 0x1000)
    }

    fn address(device: u8, offset: u16) -> ConfigAddress {
        ConfigAddress { bus: 0, device, function: 0, offset }
    }

    #[test]
    fn decoding_follows_the_command_register_and_the_bars() {
        let mut bus = PciBus::new();
        assert!(bus.attach(1, "edu", Box::new(Edu::new())));
        assert!(!bus.attach(1, "edu", Box::new(Edu::new())), "a taken slot");
        assert!(!bus.attach(32, "edu", Box::new(Edu::new())), "out of range");
        let dma = &mut dma();
        bus.config_write(address(1, 0x10), AccessWidth::Dword, 0xFEA0_0000, dma);
        assert_eq!(bus.memory_read(0xFEA0_0000, AccessWidth::Dword, dma), None, "memory decoding is off");
        bus.config_write(address(1, 0x04), AccessWidth::Word, command::MEMORY_SPACE.into(), dma);
        assert_eq!(bus.memory_read(0xFEA0_0000, AccessWidth::Dword, dma), Some(0x0100_00ed));
        assert_eq!(bus.memory_read(0xFEB0_0000, AccessWidth::Dword, dma), None);
        // Moving the BAR moves the decoding.
        bus.config_write(address(1, 0x10), AccessWidth::Dword, 0xC000_0000, dma);
        assert_eq!(bus.memory_read(0xFEA0_0000, AccessWidth::Dword, dma), None);
        assert!(bus.memory_write(0xC000_0004, AccessWidth::Dword, 1, dma));
        assert_eq!(bus.memory_read(0xC000_0004, AccessWidth::Dword, dma), Some(0xFFFF_FFFE));
    }

    #[test]
    fn two_devices_in_one_page_are_both_reached() {
        let mut bus = PciBus::new();
        for device in [1, 2] {
            let region = Box::new(VecSharedRegion::new(0x1000));
            bus.attach(device, "ivshmem", Box::new(Ivshmem::new(region).unwrap()));
        }
        let dma = &mut dma();
        // Firmware never puts two devices in one page, but a driver may program them so.
        for (device, base) in [(1, 0xC000_0000u32), (2, 0xC000_0100)] {
            bus.config_write(address(device, 0x10), AccessWidth::Dword, base, dma);
            bus.config_write(address(device, 0x04), AccessWidth::Word, command::MEMORY_SPACE.into(), dma);
        }
        assert!(bus.memory_write(0xC000_0000, AccessWidth::Dword, 0x11, dma));
        assert!(bus.memory_write(0xC000_0100, AccessWidth::Dword, 0x22, dma));
        assert_eq!(bus.memory_read(0xC000_0000, AccessWidth::Dword, dma), Some(0x11));
        assert_eq!(bus.memory_read(0xC000_0100, AccessWidth::Dword, dma), Some(0x22));
        assert_eq!(bus.memory_read(0xC000_0200, AccessWidth::Dword, dma), None);
    }

    #[test]
    fn config_address_latch_and_data_lanes() {
        let mut bus = PciBus::new();
        bus.attach(3, "edu", Box::new(Edu::new()));
        let dma = &mut dma();
        bus.port_write(CONFIG_ADDRESS_PORT, AccessWidth::Dword, 0xFFFF_FFFF, dma);
        assert_eq!(bus.port_read(CONFIG_ADDRESS_PORT, AccessWidth::Dword, dma), Some(0x80FF_FFFC));
        bus.port_write(CONFIG_ADDRESS_PORT, AccessWidth::Dword, CONFIG_ENABLE | 3 << 11, dma);
        assert_eq!(bus.port_read(CONFIG_DATA_PORT, AccessWidth::Dword, dma), Some(0x11e8_1234));
        assert_eq!(bus.port_read(CONFIG_DATA_PORT + 2, AccessWidth::Word, dma), Some(0x11e8));
        assert_eq!(bus.port_read(CONFIG_DATA_PORT + 1, AccessWidth::Byte, dma), Some(0x12));
        // The host bridge at 00.0.
        bus.port_write(CONFIG_ADDRESS_PORT, AccessWidth::Dword, CONFIG_ENABLE, dma);
        assert_eq!(bus.port_read(CONFIG_DATA_PORT, AccessWidth::Dword, dma), Some(0x29c0_8086));
        // Disabled, another bus, an empty slot, another function: all ones.
        for value in [
            3 << 11,
            CONFIG_ENABLE | 1 << 16 | 3 << 11,
            CONFIG_ENABLE | 9 << 11,
            CONFIG_ENABLE | 3 << 11 | 1 << 8,
        ] {
            bus.port_write(CONFIG_ADDRESS_PORT, AccessWidth::Dword, value, dma);
            assert_eq!(
                bus.port_read(CONFIG_DATA_PORT, AccessWidth::Dword, dma),
                Some(0xFFFF_FFFF),
                "{value:#x}"
            );
        }
        // A word straddling the end of CONFIG_DATA is not a config access.
        assert_eq!(bus.port_read(CONFIG_DATA_PORT + 3, AccessWidth::Word, dma), None);
    }

    #[test]
    fn ecam_offsets_decode_bus_device_function_register() {
        let address = ConfigAddress::from_ecam(2 << 20 | 5 << 15 | 3 << 12 | 0x10);
        assert_eq!(address, ConfigAddress { bus: 2, device: 5, function: 3, offset: 0x10 });
        let mut bus = PciBus::new();
        bus.attach(1, "edu", Box::new(Edu::new()));
        let dma = &mut dma();
        assert_eq!(bus.ecam_read(1 << 15, AccessWidth::Dword, dma), 0x11e8_1234);
        assert_eq!(bus.ecam_read(1 << 15, AccessWidth::Qword, dma), u64::MAX);
        assert_eq!(bus.ecam_read(1 << 20 | 1 << 15, AccessWidth::Dword, dma), 0xFFFF_FFFF);
    }
}
