//! The HAL as the PnP manager's [`Translator`]: one bus's raw resources translated through a
//! [`BusTranslator`], the way `HalTranslateBusAddress` translates one address (contract §8.5,
//! §10).
//!
//! - A raw port the bus forwards to CPU I/O space stays a port, with `CM_RESOURCE_PORT_IO` set
//!   and the port number in the low 32 bits of its start (claim 20).
//! - A raw port the bus forwards to CPU memory (a platform with memory-mapped port space)
//!   becomes a `CmResourceTypeMemory` resource at the CPU physical address (claim 19). Its
//!   flags are `CM_RESOURCE_PORT_MEMORY`, which is 0 and reads the same as
//!   `CM_RESOURCE_MEMORY_READ_WRITE`: the type says "map me", the raw twin says "use the port
//!   routines".
//! - Raw memory becomes memory at the CPU physical address, with its flags and length form.
//! - Interrupts and every other kind that would need translating are not modelled:
//!   [`TranslationError::Unsupported`].

use iospace_hal::address::{AddressSpace, InterfaceType};
use iospace_hal::translation::BusTranslator;
use iospace_mm::address::PhysicalAddress;

use crate::cm_constants::{CM_RESOURCE_PORT_IO, CM_RESOURCE_PORT_MEMORY};
use crate::resource::{IoPort, PortLocation, Raw, Resource, Translated};
use crate::translation::{TranslationError, Translator};

/// Translates the resources of one bus (`interface`, `bus_number`) through a machine's
/// [`BusTranslator`].
#[derive(Clone, Copy, Debug)]
pub struct HalTranslator<'a> {
    translator: &'a BusTranslator,
    interface: InterfaceType,
    bus_number: u32,
}

impl<'a> HalTranslator<'a> {
    /// The translator of bus `bus_number` of type `interface`.
    pub const fn new(translator: &'a BusTranslator, interface: InterfaceType, bus_number: u32) -> Self {
        Self { translator, interface, bus_number }
    }

    /// Where `length` units at `start` of bus space `space` appear to the CPU.
    fn cpu_view(
        &self,
        start: iospace_hal::address::BusAddress,
        length: u64,
        space: AddressSpace,
    ) -> Result<(AddressSpace, u64), TranslationError> {
        self.translator
            .translate_range(self.interface, self.bus_number, start, length, space)
            .ok_or(TranslationError::NotDecoded)
    }
}

/// The translated form of `length` bytes at CPU `address` in `space`, keeping the raw kind's
/// flags where the kind stays the same.
fn in_cpu_space(
    space: AddressSpace,
    address: u64,
    length: u64,
    port_flags: u16,
) -> Result<Resource<Translated>, TranslationError> {
    match space {
        AddressSpace::Port => Ok(Resource::Port {
            // The translator keeps CPU port windows below 2^32 (claim 20).
            start: PortLocation::Io(IoPort(address as u32)),
            length: u32::try_from(length).map_err(|_| TranslationError::Unsupported)?,
            flags: port_flags | CM_RESOURCE_PORT_IO,
        }),
        AddressSpace::Memory => Resource::memory(PhysicalAddress(address), length, CM_RESOURCE_PORT_MEMORY)
            .map_err(|_| TranslationError::Unsupported),
    }
}

impl Translator for HalTranslator<'_> {
    fn translate(&self, raw: &Resource<Raw>) -> Result<Resource<Translated>, TranslationError> {
        match raw {
            Resource::Port { start, length, flags } => {
                let (space, address) = self.cpu_view(*start, u64::from(*length), AddressSpace::Port)?;
                in_cpu_space(space, address, u64::from(*length), *flags)
            }
            Resource::Memory { start, length, flags } => {
                match self.cpu_view(*start, length.bytes(), AddressSpace::Memory)? {
                    (AddressSpace::Memory, address) => Ok(Resource::Memory {
                        start: PhysicalAddress(address),
                        length: *length,
                        flags: *flags,
                    }),
                    (space, address) => in_cpu_space(space, address, length.bytes(), 0),
                }
            }
            _ => Err(TranslationError::Unsupported),
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use iospace_hal::translation::{BusRange, Personality};

    use super::*;
    use crate::resource::{BusAddress, ResourceEntry, ResourceList};
    use crate::translation::ResourcePair;

    const MEMORY: [BusRange; 1] = [BusRange { start: BusAddress(0xC000_0000), length: 0x4000_0000 }];
    const PORT_WINDOW: u64 = 0x90_0000_0000;
    const OFFSET: u64 = 0x100_0000_0000;

    fn pair(personality: Personality) -> ResourcePair {
        let translator = personality.translator(&MEMORY).unwrap();
        let raw = ResourceList::new(vec![
            ResourceEntry::exclusive(Resource::memory(BusAddress(0xFEA0_0000), 0x10_0000, 0).unwrap()),
            ResourceEntry::exclusive(Resource::Port { start: BusAddress(0xC000), length: 0x100, flags: 1 }),
        ])
        .unwrap();
        ResourcePair::translate(raw, &HalTranslator::new(&translator, InterfaceType::PciBus, 0)).unwrap()
    }

    #[test]
    fn claim_20_x86_ports_stay_ports_with_the_number_in_the_low_32_bits() {
        let pair = pair(Personality::X86);
        let (_, port) = pair.get(1).unwrap();
        assert_eq!(
            port.resource,
            Resource::Port {
                start: PortLocation::Io(IoPort(0xC000)),
                length: 0x100,
                flags: CM_RESOURCE_PORT_IO
            }
        );
        let (_, memory) = pair.get(0).unwrap();
        assert_eq!(memory.resource, Resource::memory(PhysicalAddress(0xFEA0_0000), 0x10_0000, 0).unwrap());
    }

    #[test]
    fn claim_19_memory_mapped_ports_translate_to_memory_resources() {
        let pair =
            pair(Personality::MemoryMappedPorts { port_window_cpu_base: PORT_WINDOW, memory_offset: OFFSET });
        let (raw, translated) = pair.get(1).unwrap();
        assert!(matches!(raw.resource, Resource::Port { .. }));
        assert_eq!(
            translated.resource,
            Resource::memory(PhysicalAddress(PORT_WINDOW + 0xC000), 0x100, CM_RESOURCE_PORT_MEMORY).unwrap()
        );
        let (_, memory) = pair.get(0).unwrap();
        assert_eq!(
            memory.resource,
            Resource::memory(PhysicalAddress(OFFSET + 0xFEA0_0000), 0x10_0000, 0).unwrap()
        );
    }

    #[test]
    fn ranges_no_window_forwards_are_refused() {
        let translator = Personality::X86.translator(&MEMORY).unwrap();
        let outside = Resource::memory(BusAddress(0x1000), 0x1000, 0).unwrap();
        let hal = HalTranslator::new(&translator, InterfaceType::PciBus, 0);
        assert_eq!(hal.translate(&outside), Err(TranslationError::NotDecoded));
        let other_bus = HalTranslator::new(&translator, InterfaceType::PciBus, 3);
        let port = Resource::Port { start: BusAddress(0x3F8), length: 8, flags: 1 };
        assert_eq!(other_bus.translate(&port), Err(TranslationError::NotDecoded));
    }
}
