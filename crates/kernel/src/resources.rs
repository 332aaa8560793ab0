//! A device's resources as the PnP manager hands them to its driver: the raw list from the
//! BARs the firmware assigned (bus addresses), and the translated list the HAL's bus
//! translator makes of it (CPU addresses). On a PC (the x86 personality) the translation is the
//! identity, and ports stay ports.

use alloc::vec::Vec;

use iospace_hal::address::{AddressSpace, BusAddress, InterfaceType};
use iospace_hal::translation::{BusRange, BusTranslator, InvalidWindow, Personality};
use iospace_mm::address::PhysicalAddress;
use iospace_pnp::cm_constants::{
    CM_RESOURCE_MEMORY_PREFETCHABLE, CM_RESOURCE_MEMORY_READ_WRITE, CM_RESOURCE_PORT_16_BIT_DECODE,
    CM_RESOURCE_PORT_IO,
};
use iospace_pnp::resource::{
    IoPort, PortLocation, Raw, RawResourceList, Resource, ResourceEntry, ResourceList, ResourceListError,
    Translated,
};
use iospace_pnp::translation::{ResourcePair, TranslatePairError, TranslationError, Translator};

use crate::pci::{BarSpace, PciFunction};

/// Physical addresses reach 2^52 on x86-64: every bus address is a CPU address on a PC.
const PHYSICAL_SPACE: BusRange = BusRange { start: BusAddress(0), length: 1 << 52 };

/// The bus translator of this machine: the x86 personality over all of physical memory.
pub fn bus_translator() -> Result<BusTranslator, InvalidWindow> {
    Personality::X86.translator(&[PHYSICAL_SPACE])
}

/// The HAL's translator, for the resources of one bus.
#[derive(Debug)]
pub struct BusResourceTranslator<'a> {
    translator: &'a BusTranslator,
    interface: InterfaceType,
    bus: u32,
}

impl<'a> BusResourceTranslator<'a> {
    /// Translates resources of bus `bus` of type `interface` with `translator`.
    pub fn new(translator: &'a BusTranslator, interface: InterfaceType, bus: u32) -> Self {
        Self { translator, interface, bus }
    }
}

impl Translator for BusResourceTranslator<'_> {
    fn translate(&self, raw: &Resource<Raw>) -> Result<Resource<Translated>, TranslationError> {
        let translate = |start: BusAddress, bytes: u64, space| {
            self.translator
                .translate_range(self.interface, self.bus, start, bytes, space)
                .ok_or(TranslationError::NotDecoded)
        };
        match *raw {
            Resource::Port { start, length, flags } => {
                let location = match translate(start, u64::from(length), AddressSpace::Port)? {
                    (AddressSpace::Port, port) => PortLocation::Io(IoPort(
                        u32::try_from(port).map_err(|_| TranslationError::NotDecoded)?,
                    )),
                    (AddressSpace::Memory, address) => PortLocation::Memory(PhysicalAddress(address)),
                };
                Ok(Resource::Port { start: location, length, flags })
            }
            Resource::Memory { start, length, flags } => {
                match translate(start, length.bytes(), AddressSpace::Memory)? {
                    (AddressSpace::Memory, address) => {
                        Ok(Resource::Memory { start: PhysicalAddress(address), length, flags })
                    }
                    (AddressSpace::Port, _) => Err(TranslationError::Unsupported),
                }
            }
            _ => Err(TranslationError::Unsupported),
        }
    }
}

/// Why a device's resource lists could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceError {
    /// A BAR's size cannot be written in a descriptor, or the list is malformed.
    List(ResourceListError),
    /// A BAR's length is not encodable.
    Length(u64),
    /// The HAL refused to translate an entry.
    Translate(TranslatePairError),
}

/// The raw list of `function`'s BARs: memory BARs as memory resources (prefetchable ones
/// flagged so), I/O BARs as port resources, in BAR order.
pub fn raw_resources(function: &PciFunction) -> Result<RawResourceList, ResourceError> {
    let mut entries = Vec::new();
    for bar in &function.bars {
        let resource = match bar.space {
            BarSpace::Memory { prefetchable, .. } => {
                let flags = CM_RESOURCE_MEMORY_READ_WRITE
                    | if prefetchable { CM_RESOURCE_MEMORY_PREFETCHABLE } else { 0 };
                Resource::memory(BusAddress(bar.address), bar.bytes, flags)
                    .map_err(|_| ResourceError::Length(bar.bytes))?
            }
            BarSpace::Io => Resource::Port {
                start: BusAddress(bar.address),
                length: u32::try_from(bar.bytes).map_err(|_| ResourceError::Length(bar.bytes))?,
                flags: CM_RESOURCE_PORT_IO | CM_RESOURCE_PORT_16_BIT_DECODE,
            },
        };
        entries.push(ResourceEntry::exclusive(resource));
    }
    ResourceList::new(entries).map_err(ResourceError::List)
}

/// The raw list of a fixed-port ISA device: `ports` ports from `base`.
pub fn isa_port_resources(base: u16, ports: u32) -> Result<RawResourceList, ResourceError> {
    let port = Resource::Port {
        start: BusAddress(u64::from(base)),
        length: ports,
        flags: CM_RESOURCE_PORT_IO | CM_RESOURCE_PORT_16_BIT_DECODE,
    };
    ResourceList::new(alloc::vec![ResourceEntry::exclusive(port)]).map_err(ResourceError::List)
}

/// `raw` with its translation, index-aligned.
pub fn translate(raw: RawResourceList, translator: &dyn Translator) -> Result<ResourcePair, ResourceError> {
    ResourcePair::translate(raw, translator).map_err(ResourceError::Translate)
}
