//! Bus translation as data: which bus-relative (raw) ranges the host bridge forwards, and where
//! the CPU sees them (translated).
//!
//! A [`BusTranslator`] is a list of [`BusWindow`]s. Translating a raw address finds the window
//! of its bus and space that holds it and applies the window's offset; the window also says
//! which CPU space the result is in, which is how a raw port can come out as memory (contract
//! §8.5, claim 19). A [`Personality`] builds the windows of a whole machine: a PC, where memory
//! is identity-mapped and ports stay ports, or a platform with memory-mapped port space and an
//! offset between bus and CPU memory addresses.
//!
//! [`hal_translate_bus_address`] is `HalTranslateBusAddress` over a translator (contract §10).

use alloc::vec::Vec;
use core::fmt;

use crate::address::{AddressSpace, BusAddress, InterfaceType};

/// Size of x86 I/O (port) space: ports 0..0x10000.
pub const PORT_SPACE_BYTES: u64 = 0x1_0000;

/// The end (exclusive) that CPU port space may not pass in a window: a translated port is
/// handed to drivers as `TranslatedAddress.LowPart` (claim 74) and `u.Port.Start`'s low 32 bits
/// (claim 20), so a CPU port address must fit in 32 bits.
const CPU_PORT_LIMIT: u64 = 1 << 32;

/// One range that a bus forwards to the CPU: bus addresses `[bus_start, bus_start + length)` in
/// `bus_space` of bus `bus_number` of type `interface` appear at
/// `[cpu_start, cpu_start + length)` in `cpu_space` on the CPU side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusWindow {
    /// The kind of bus.
    pub interface: InterfaceType,
    /// Which bus of that kind (PCI: the bus number).
    pub bus_number: u32,
    /// The space of the raw addresses.
    pub bus_space: AddressSpace,
    /// First raw address of the window.
    pub bus_start: BusAddress,
    /// Bytes in the window (never 0 in a translator).
    pub length: u64,
    /// The space of the translated addresses: memory (a CPU physical address, to be mapped) or
    /// port (a port number, used as it is).
    pub cpu_space: AddressSpace,
    /// The CPU address of `bus_start`.
    pub cpu_start: u64,
}

impl BusWindow {
    /// Where `[start, start + length)` of `space` on bus `bus_number` of type `interface`
    /// appears to the CPU, if the whole range lies in this window. A length of 0 is treated as
    /// 1: the range must at least hold `start`.
    pub fn translate_range(
        &self,
        interface: InterfaceType,
        bus_number: u32,
        start: BusAddress,
        length: u64,
        space: AddressSpace,
    ) -> Option<(AddressSpace, u64)> {
        if self.interface != interface || self.bus_number != bus_number || self.bus_space != space {
            return None;
        }
        let offset = start.0.checked_sub(self.bus_start.0)?;
        // `offset + length <= self.length`, written so that nothing overflows.
        if offset >= self.length || length.max(1) > self.length - offset {
            return None;
        }
        Some((self.cpu_space, self.cpu_start.checked_add(offset)?))
    }

    /// Checks what a translator relies on: a non-empty window whose two ends stay in the
    /// 64-bit space, and a CPU port range that fits in 32 bits.
    pub fn validate(&self) -> Result<(), InvalidWindow> {
        if self.length == 0 {
            return Err(InvalidWindow::Empty(*self));
        }
        if self.bus_start.0.checked_add(self.length - 1).is_none() {
            return Err(InvalidWindow::BusRangeWraps(*self));
        }
        let Some(cpu_last) = self.cpu_start.checked_add(self.length - 1) else {
            return Err(InvalidWindow::CpuRangeWraps(*self));
        };
        if self.cpu_space == AddressSpace::Port && cpu_last >= CPU_PORT_LIMIT {
            return Err(InvalidWindow::PortBeyond32Bits(*self));
        }
        Ok(())
    }
}

/// Why a window was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidWindow {
    /// The window has no bytes.
    Empty(BusWindow),
    /// The bus range passes the end of the 64-bit space.
    BusRangeWraps(BusWindow),
    /// The CPU range passes the end of the 64-bit space.
    CpuRangeWraps(BusWindow),
    /// The CPU side is port space beyond 2^32, which no driver could be handed.
    PortBeyond32Bits(BusWindow),
}

impl fmt::Display for InvalidWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, window) = match self {
            Self::Empty(window) => ("is empty", window),
            Self::BusRangeWraps(window) => ("wraps on the bus side", window),
            Self::CpuRangeWraps(window) => ("wraps on the CPU side", window),
            Self::PortBeyond32Bits(window) => ("puts CPU ports beyond 32 bits", window),
        };
        write!(
            f,
            "bus window {:?} {} {:?} at {} (+{:#x}) {what}",
            window.interface, window.bus_number, window.bus_space, window.bus_start, window.length
        )
    }
}

impl core::error::Error for InvalidWindow {}

/// A bus-relative range, such as a memory aperture of a PCI host bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusRange {
    /// First bus address.
    pub start: BusAddress,
    /// Bytes.
    pub length: u64,
}

/// The translation of every bus of a machine: its windows, looked up in order (the first
/// window that holds a range wins).
///
/// Translation happens when resources are assigned, not on any I/O path, so a linear scan of
/// a handful of windows is the right structure.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BusTranslator {
    windows: Vec<BusWindow>,
}

impl BusTranslator {
    /// A translator that translates nothing.
    pub const fn new() -> Self {
        Self { windows: Vec::new() }
    }

    /// A translator with `windows`, each checked with [`BusWindow::validate`].
    pub fn from_windows(windows: impl IntoIterator<Item = BusWindow>) -> Result<Self, InvalidWindow> {
        let mut translator = Self::new();
        for window in windows {
            translator.add(window)?;
        }
        Ok(translator)
    }

    /// Adds `window` after the existing ones, if it is valid.
    pub fn add(&mut self, window: BusWindow) -> Result<(), InvalidWindow> {
        window.validate()?;
        self.windows.push(window);
        Ok(())
    }

    /// The windows, in lookup order.
    pub fn windows(&self) -> &[BusWindow] {
        &self.windows
    }

    /// Where raw `bus_address` in `space` on bus `bus_number` of type `interface` appears to
    /// the CPU: the translated space and address, or `None` if no window forwards it.
    ///
    /// # IRQL
    /// Any: the translator is immutable data.
    pub fn translate(
        &self,
        interface: InterfaceType,
        bus_number: u32,
        bus_address: BusAddress,
        space: AddressSpace,
    ) -> Option<(AddressSpace, u64)> {
        self.translate_range(interface, bus_number, bus_address, 1, space)
    }

    /// Like [`translate`](Self::translate), for a whole range (a BAR, a port block): it
    /// translates only if one window holds all of it, since a range split over two windows
    /// would not be contiguous on the CPU side.
    ///
    /// # IRQL
    /// Any: the translator is immutable data.
    pub fn translate_range(
        &self,
        interface: InterfaceType,
        bus_number: u32,
        start: BusAddress,
        length: u64,
        space: AddressSpace,
    ) -> Option<(AddressSpace, u64)> {
        self.windows
            .iter()
            .find_map(|window| window.translate_range(interface, bus_number, start, length, space))
    }
}

/// How a machine's host bridge presents its buses to the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Personality {
    /// A PC: bus memory addresses are CPU physical addresses, and ports 0..0x10000 stay in I/O
    /// space (raw Port → translated Port, raw Memory → translated Memory).
    X86,
    /// A platform without CPU I/O space (as Alpha and MIPS machines were): the bus's port space
    /// appears as memory at CPU physical `port_window_cpu_base + port`, and bus memory at CPU
    /// physical `bus address + memory_offset` (raw Port → translated Memory, claim 19).
    MemoryMappedPorts {
        /// CPU physical address of port 0.
        port_window_cpu_base: u64,
        /// What is added to a bus memory address to get the CPU physical address.
        memory_offset: u64,
    },
}

impl Personality {
    /// The interfaces that [`translator`](Self::translator) covers, all on bus 0: the system
    /// board, the ISA bus behind the PCI-to-ISA bridge, and PCI bus 0.
    pub const DEFAULT_BUSES: [InterfaceType; 3] =
        [InterfaceType::Internal, InterfaceType::Isa, InterfaceType::PciBus];

    /// The translator of a machine whose host bridge forwards `memory_windows` of bus memory
    /// and the whole port space, for bus 0 of each of [`DEFAULT_BUSES`](Self::DEFAULT_BUSES).
    /// Add other buses (a PCI bus behind a bridge) with [`add_bus`](Self::add_bus).
    ///
    /// On [`X86`](Self::X86), pass `[0, 2^52)` for "all physical memory is bus memory".
    pub fn translator(&self, memory_windows: &[BusRange]) -> Result<BusTranslator, InvalidWindow> {
        let mut translator = BusTranslator::new();
        for interface in Self::DEFAULT_BUSES {
            self.add_bus(&mut translator, interface, 0, memory_windows)?;
        }
        Ok(translator)
    }

    /// Adds the windows of bus `bus_number` of type `interface`: its port space, then each of
    /// `memory_windows`, translated the way this personality does.
    pub fn add_bus(
        &self,
        translator: &mut BusTranslator,
        interface: InterfaceType,
        bus_number: u32,
        memory_windows: &[BusRange],
    ) -> Result<(), InvalidWindow> {
        let (port_space, port_start, memory_offset) = match *self {
            Self::X86 => (AddressSpace::Port, 0, 0),
            Self::MemoryMappedPorts { port_window_cpu_base, memory_offset } => {
                (AddressSpace::Memory, port_window_cpu_base, memory_offset)
            }
        };
        translator.add(BusWindow {
            interface,
            bus_number,
            bus_space: AddressSpace::Port,
            bus_start: BusAddress(0),
            length: PORT_SPACE_BYTES,
            cpu_space: port_space,
            cpu_start: port_start,
        })?;
        for range in memory_windows {
            let window = BusWindow {
                interface,
                bus_number,
                bus_space: AddressSpace::Memory,
                bus_start: range.start,
                length: range.length,
                cpu_space: AddressSpace::Memory,
                // A wrapping sum is caught below as a window whose CPU side wraps.
                cpu_start: range.start.0.wrapping_add(memory_offset),
            };
            if range.start.0.checked_add(memory_offset).is_none() {
                return Err(InvalidWindow::CpuRangeWraps(window));
            }
            translator.add(window)?;
        }
        Ok(())
    }
}

/// `HalTranslateBusAddress(InterfaceType, BusNumber, BusAddress, AddressSpace,
/// TranslatedAddress) -> BOOLEAN` over `translator` (contract §10; obsolete in NT, kept for old
/// drivers).
///
/// `*address_space` is 0 (memory) or 1 (port) on input. On success it is set to the space of
/// `*translated` and the routine returns `true`: 0 means `*translated` is a CPU physical address
/// to be mapped with `MmMapIoSpace` before use; 1 means its low 32 bits (`LowPart`) are the port
/// number, used as they are (claim 74).
///
/// Returns `false`, leaving both outputs untouched, for an interface type outside
/// `INTERFACE_TYPE`, an input space other than 0 or 1, or an address no window forwards
/// (a negative `bus_address` is a 64-bit value no window holds).
///
/// # IRQL
/// The NT 4.0 DDK allows at most `DISPATCH_LEVEL`. The routine reads immutable data only, so it
/// is safe at any level and does not check.
pub fn hal_translate_bus_address(
    translator: &BusTranslator,
    interface_type: i32,
    bus_number: u32,
    bus_address: i64,
    address_space: &mut u32,
    translated: &mut i64,
) -> bool {
    let Ok(interface) = InterfaceType::try_from(interface_type) else { return false };
    let Some(space) = AddressSpace::from_nt(*address_space) else { return false };
    let Some((cpu_space, cpu_address)) =
        translator.translate(interface, bus_number, BusAddress(bus_address as u64), space)
    else {
        return false;
    };
    *address_space = cpu_space.to_nt();
    *translated = cpu_address as i64;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports;
    use crate::test_support::{Access, RecordingIo, TestMachine};
    use alloc::vec;
    use iospace_mm::nt::{mm_get_physical_address, mm_map_io_space, mm_unmap_io_space};

    const MEMORY_WINDOWS: [BusRange; 1] = [BusRange { start: BusAddress(0x8000_0000), length: 0x8000_0000 }];
    const PORT_WINDOW: u64 = 0x3_0000_0000;
    const OFFSET: u64 = 0x40_0000_0000;
    const MAPPED_PORTS: Personality =
        Personality::MemoryMappedPorts { port_window_cpu_base: PORT_WINDOW, memory_offset: OFFSET };

    fn x86() -> BusTranslator {
        Personality::X86.translator(&MEMORY_WINDOWS).unwrap()
    }

    fn mapped_ports() -> BusTranslator {
        MAPPED_PORTS.translator(&MEMORY_WINDOWS).unwrap()
    }

    #[test]
    fn x86_identity_maps_pci_memory_and_keeps_ports_as_ports() {
        let translator = x86();
        let bar = BusAddress(0xFEB0_0000);
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 0, bar, AddressSpace::Memory),
            Some((AddressSpace::Memory, 0xFEB0_0000))
        );
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 0, BusAddress(0xC000), AddressSpace::Port),
            Some((AddressSpace::Port, 0xC000))
        );
        assert_eq!(
            translator.translate(InterfaceType::Isa, 0, BusAddress(0x3F8), AddressSpace::Port),
            Some((AddressSpace::Port, 0x3F8))
        );
    }

    #[test]
    fn memory_mapped_ports_offsets_memory_and_moves_ports_into_memory() {
        let translator = mapped_ports();
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 0, BusAddress(0xFEB0_0000), AddressSpace::Memory),
            Some((AddressSpace::Memory, 0xFEB0_0000 + OFFSET))
        );
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 0, BusAddress(0xC000), AddressSpace::Port),
            Some((AddressSpace::Memory, PORT_WINDOW + 0xC000))
        );
    }

    #[test]
    fn addresses_outside_every_window_do_not_translate() {
        let translator = x86();
        // Below the memory aperture, past port space, another bus, another interface.
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 0, BusAddress(0x1000), AddressSpace::Memory),
            None
        );
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 0, BusAddress(0x1_0000), AddressSpace::Port),
            None
        );
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 1, BusAddress(0xFEB0_0000), AddressSpace::Memory),
            None
        );
        assert_eq!(translator.translate(InterfaceType::Eisa, 0, BusAddress(0x3F8), AddressSpace::Port), None);
    }

    #[test]
    fn a_range_translates_only_if_one_window_holds_all_of_it() {
        let translator = x86();
        let last_page = BusAddress(0xFFFF_F000);
        assert_eq!(
            translator.translate_range(InterfaceType::PciBus, 0, last_page, 0x1000, AddressSpace::Memory),
            Some((AddressSpace::Memory, 0xFFFF_F000))
        );
        assert_eq!(
            translator.translate_range(InterfaceType::PciBus, 0, last_page, 0x1001, AddressSpace::Memory),
            None
        );
        assert_eq!(
            translator.translate_range(InterfaceType::PciBus, 0, BusAddress(0xFFF8), 8, AddressSpace::Port),
            Some((AddressSpace::Port, 0xFFF8))
        );
        assert_eq!(
            translator.translate_range(InterfaceType::PciBus, 0, BusAddress(0xFFF8), 9, AddressSpace::Port),
            None
        );
        assert_eq!(
            translator.translate_range(
                InterfaceType::PciBus,
                0,
                BusAddress(u64::MAX),
                u64::MAX,
                AddressSpace::Memory
            ),
            None
        );
    }

    #[test]
    fn more_buses_can_be_added() {
        let mut translator = x86();
        Personality::X86.add_bus(&mut translator, InterfaceType::PciBus, 1, &MEMORY_WINDOWS).unwrap();
        assert_eq!(
            translator.translate(InterfaceType::PciBus, 1, BusAddress(0xFEB0_0000), AddressSpace::Memory),
            Some((AddressSpace::Memory, 0xFEB0_0000))
        );
    }

    #[test]
    fn invalid_windows_are_refused() {
        let window = BusWindow {
            interface: InterfaceType::PciBus,
            bus_number: 0,
            bus_space: AddressSpace::Memory,
            bus_start: BusAddress(0),
            length: 0,
            cpu_space: AddressSpace::Memory,
            cpu_start: 0,
        };
        assert_eq!(BusTranslator::from_windows([window]), Err(InvalidWindow::Empty(window)));
        let wraps = BusWindow { bus_start: BusAddress(u64::MAX), length: 2, ..window };
        assert_eq!(BusTranslator::new().add(wraps), Err(InvalidWindow::BusRangeWraps(wraps)));
        let cpu_wraps = BusWindow { cpu_start: u64::MAX, length: 2, ..window };
        assert_eq!(BusTranslator::new().add(cpu_wraps), Err(InvalidWindow::CpuRangeWraps(cpu_wraps)));
        let ports =
            BusWindow { cpu_space: AddressSpace::Port, cpu_start: u32::MAX.into(), length: 2, ..window };
        assert_eq!(BusTranslator::new().add(ports), Err(InvalidWindow::PortBeyond32Bits(ports)));
        let huge_offset = Personality::MemoryMappedPorts { port_window_cpu_base: 0, memory_offset: u64::MAX };
        assert!(matches!(huge_offset.translator(&MEMORY_WINDOWS), Err(InvalidWindow::CpuRangeWraps(_))));
        assert!(alloc::format!("{}", InvalidWindow::Empty(window)).contains("is empty"));
    }

    #[test]
    fn claim_74_address_space_1_gives_a_port_number_in_low_part() {
        let translator = x86();
        let mut space = 1;
        let mut translated = -1;
        let ok = hal_translate_bus_address(&translator, 1, 0, 0x3F8, &mut space, &mut translated);
        assert!(ok);
        assert_eq!(space, 1);
        assert_eq!(translated as u32, 0x3F8, "LowPart is the port number");
        assert_eq!((translated >> 32) as u32, 0, "HighPart is 0");
    }

    #[test]
    fn claim_74_address_space_0_must_be_mapped_before_use() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let translator = mapped_ports();
        let mut space = 0;
        let mut translated = 0;
        assert!(hal_translate_bus_address(&translator, 5, 0, 0xFEB0_0000, &mut space, &mut translated));
        assert_eq!(space, 0);
        assert_eq!(translated as u64, 0xFEB0_0000 + OFFSET, "a CPU physical address, not a VA");
        let va = mm_map_io_space(mm, translated, 0x1000, 0);
        assert!(!va.is_null());
        assert_eq!(mm_get_physical_address(mm, va), translated);
        mm_unmap_io_space(mm, va, 0x1000);
    }

    #[test]
    fn hal_translate_bus_address_refuses_bad_input_and_leaves_outputs_alone() {
        let translator = x86();
        for (interface, space_in, address) in
            [(18, 0, 0x8000_0000), (-2, 0, 0x8000_0000), (5, 2, 0x8000_0000), (5, 0, 0x1000), (5, 0, -1)]
        {
            let mut space = space_in;
            let mut translated = 0x1234;
            assert!(!hal_translate_bus_address(
                &translator,
                interface,
                0,
                address,
                &mut space,
                &mut translated
            ));
            assert_eq!((space, translated), (space_in, 0x1234));
        }
    }

    #[test]
    fn claim_19_raw_port_translates_to_memory_that_is_mapped_and_used_with_port_routines() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let translator = mapped_ports();
        // The raw resource: port 0x3F8 on PCI bus 0, eight ports.
        let raw = BusAddress(0x3F8);
        let (space, translated) =
            translator.translate_range(InterfaceType::PciBus, 0, raw, 8, AddressSpace::Port).unwrap();
        assert_eq!(space, AddressSpace::Memory, "raw Port, translated Memory");
        let va = mm_map_io_space(mm, translated as i64, 8, 0);
        assert!(!va.is_null());
        assert!(va as u64 > 0xFFFF, "a mapped VA never looks like a port number");
        // The driver keeps using the port routines, on the mapped VA.
        let io = RecordingIo::through_page_tables(mm);
        ports::write_port_uchar(&io, mm, va.cast(), 0x41);
        let value = ports::read_port_uchar(&io, mm, va.cast::<u8>().wrapping_add(5).cast_const());
        assert_eq!(value, 0xFD, "the test device reads as the low bits of the physical address");
        assert_eq!(
            io.log(),
            vec![
                Access::Write { address: PORT_WINDOW + 0x3F8, width: crate::Width::U8, value: 0x41 },
                Access::Barrier,
                Access::Read { address: PORT_WINDOW + 0x3FD, width: crate::Width::U8 },
            ],
            "MMIO transactions at the port window, no I/O-space access"
        );
        mm_unmap_io_space(mm, va, 8);
    }

    #[test]
    fn claim_20_translated_ports_are_never_mapped_the_port_is_the_low_32_bits() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let translator = x86();
        let (space, translated) = translator
            .translate_range(InterfaceType::PciBus, 0, BusAddress(0xC040), 0x40, AddressSpace::Port)
            .unwrap();
        assert_eq!(space, AddressSpace::Port);
        // What the driver does with a translated port: take the low 32 bits, no MmMapIoSpace.
        let port = translated as u32;
        let io = RecordingIo::new();
        let mappings_before = mm.io_mappings().len();
        ports::write_port_ulong(&io, mm, port as usize as *mut u32, 0xDEAD_BEEF);
        assert_eq!(mm.io_mappings().len(), mappings_before, "nothing was mapped");
        assert_eq!(
            io.log(),
            vec![Access::PortWrite { port: 0xC040, width: crate::Width::U32, value: 0xDEAD_BEEF }]
        );
    }
}
