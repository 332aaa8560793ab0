//! Typed resources and the two views of a resource list (contract §8.5).
//!
//! A device's resources exist twice: **raw**, as the bus sees them (what is programmed into a
//! BAR, the bus's interrupt line), and **translated**, as the CPU uses them (system physical
//! addresses to map, port numbers, global vectors). The two views are different types here:
//! [`ResourceList<Raw>`] holds [`BusAddress`]es, [`ResourceList<Translated>`] holds
//! [`PhysicalAddress`]es and [`PortLocation`]s, so a raw address can never be handed to
//! `MmMapIoSpace` by mistake. Entry *i* of one list and entry *i* of the other describe the same
//! resource; [`crate::translation::ResourcePair`] keeps them together.

use alloc::vec::Vec;
use core::fmt;

use iospace_mm::address::PhysicalAddress;

use crate::cm_constants::{CM_RESOURCE_PORT_IO, CmResourceType, ShareDisposition};
use crate::large_memory::{LengthNotEncodable, MemoryLength};

/// A bus-relative (raw) address: the HAL's type, so raw resources and translation agree.
pub use iospace_hal::address::BusAddress;

/// A translated I/O port number: the low 32 bits of a translated `u.Port.Start`, used as-is
/// with the port routines (on x86 only the low 16 bits reach the `in`/`out` instruction).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct IoPort(pub u32);

macro_rules! hex_newtype_fmt {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    )*};
}
hex_newtype_fmt!(IoPort);

/// Where the CPU reaches a translated port resource.
///
/// Which one applies is recorded in the descriptor by [`CM_RESOURCE_PORT_IO`]: set means I/O
/// space, clear (`CM_RESOURCE_PORT_MEMORY`) means the HAL placed the ports in memory space, and
/// the driver maps them and keeps using the port routines on the mapped address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortLocation {
    /// In I/O space, at this port number.
    Io(IoPort),
    /// In memory space, at this CPU physical address (must be mapped before use).
    Memory(PhysicalAddress),
}

/// The raw form of a message-signalled interrupt (`u.MessageInterrupt.Raw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RawMessageInterrupt {
    /// Processor group.
    pub group: u16,
    /// Number of messages allocated.
    pub message_count: u16,
    /// The first message's vector (bus-relative).
    pub vector: u32,
    /// Processors the messages may target.
    pub affinity: u64,
}

/// The translated form of a message-signalled interrupt (`u.MessageInterrupt.Translated`,
/// laid out as `u.Interrupt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TranslatedMessageInterrupt {
    /// The DIRQL to connect at.
    pub level: u16,
    /// Processor group.
    pub group: u16,
    /// The global system vector.
    pub vector: u32,
    /// Processors the interrupt may target.
    pub affinity: u64,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Raw {}
    impl Sealed for super::Translated {}
}

/// The four interrupt-union fields at descriptor offsets 4, 6, 8 and 12 (`u16`, `u16`, `u32`,
/// `u64`), whose meaning depends on the view for message-signalled interrupts.
pub type InterruptFields = (u16, u16, u32, u64);

/// Which side of the bus a resource list describes: [`Raw`] or [`Translated`].
///
/// The associated types are what differs between the views; the conversion functions are how
/// the binary layout (`cm_layout`) stores them. The trait is sealed: there are exactly two views.
pub trait View: sealed::Sealed + Copy + Eq + fmt::Debug + Default + 'static {
    /// The start of a memory range.
    type MemoryStart: Copy + Eq + fmt::Debug;
    /// The start of a port range.
    type PortStart: Copy + Eq + fmt::Debug;
    /// A message-signalled interrupt.
    type Message: Copy + Eq + fmt::Debug;
    /// "raw" or "translated", for messages.
    const NAME: &'static str;

    /// The 64-bit `Start` stored for a memory start.
    fn encode_memory_start(start: Self::MemoryStart) -> u64;
    /// The memory start a stored 64-bit `Start` denotes.
    fn decode_memory_start(value: u64) -> Self::MemoryStart;
    /// The 64-bit `Start` stored for a port start, and `flags` with whatever space bit the start
    /// implies.
    fn encode_port_start(start: Self::PortStart, flags: u16) -> (u64, u16);
    /// The port start a stored `Start` and `Flags` denote, or `None` if the view cannot express
    /// it (a translated I/O port beyond 32 bits).
    fn decode_port_start(value: u64, flags: u16) -> Option<Self::PortStart>;
    /// The interrupt-union fields of a message-signalled interrupt.
    fn encode_message(message: Self::Message) -> InterruptFields;
    /// The message-signalled interrupt stored in the interrupt-union fields.
    fn decode_message(fields: InterruptFields) -> Self::Message;
}

/// The bus-relative view: `AllocatedResources`, requirements, the arbiter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Raw;

/// The CPU view: `AllocatedResourcesTranslated`, what a driver maps and connects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Translated;

impl View for Raw {
    type MemoryStart = BusAddress;
    type PortStart = BusAddress;
    type Message = RawMessageInterrupt;
    const NAME: &'static str = "raw";

    fn encode_memory_start(start: BusAddress) -> u64 {
        start.0
    }
    fn decode_memory_start(value: u64) -> BusAddress {
        BusAddress(value)
    }
    // A raw port's space bit says how the device decodes it; the bus address is the same
    // either way, so the flags pass through untouched.
    fn encode_port_start(start: BusAddress, flags: u16) -> (u64, u16) {
        (start.0, flags)
    }
    fn decode_port_start(value: u64, _flags: u16) -> Option<BusAddress> {
        Some(BusAddress(value))
    }
    fn encode_message(message: RawMessageInterrupt) -> InterruptFields {
        (message.group, message.message_count, message.vector, message.affinity)
    }
    fn decode_message((group, message_count, vector, affinity): InterruptFields) -> RawMessageInterrupt {
        RawMessageInterrupt { group, message_count, vector, affinity }
    }
}

impl View for Translated {
    type MemoryStart = PhysicalAddress;
    type PortStart = PortLocation;
    type Message = TranslatedMessageInterrupt;
    const NAME: &'static str = "translated";

    fn encode_memory_start(start: PhysicalAddress) -> u64 {
        start.0
    }
    fn decode_memory_start(value: u64) -> PhysicalAddress {
        PhysicalAddress(value)
    }
    // The location is the truth about the space: the stored flag follows it.
    fn encode_port_start(start: PortLocation, flags: u16) -> (u64, u16) {
        match start {
            PortLocation::Io(port) => (u64::from(port.0), flags | CM_RESOURCE_PORT_IO),
            PortLocation::Memory(address) => (address.0, flags & !CM_RESOURCE_PORT_IO),
        }
    }
    fn decode_port_start(value: u64, flags: u16) -> Option<PortLocation> {
        if flags & CM_RESOURCE_PORT_IO != 0 {
            u32::try_from(value).ok().map(|port| PortLocation::Io(IoPort(port)))
        } else {
            Some(PortLocation::Memory(PhysicalAddress(value)))
        }
    }
    fn encode_message(message: TranslatedMessageInterrupt) -> InterruptFields {
        (message.level, message.group, message.vector, message.affinity)
    }
    fn decode_message((level, group, vector, affinity): InterruptFields) -> TranslatedMessageInterrupt {
        TranslatedMessageInterrupt { level, group, vector, affinity }
    }
}

/// One resource, in view `V`: the typed content of a `CM_PARTIAL_RESOURCE_DESCRIPTOR` apart from
/// its share disposition.
///
/// `flags` is the descriptor's `Flags` word. Bits that select the union form are decided by the
/// variant when the descriptor is written (`CM_RESOURCE_INTERRUPT_MESSAGE`, `CM_RESOURCE_DMA_V3`,
/// `CM_RESOURCE_MEMORY_LARGE_*`, and `CM_RESOURCE_PORT_IO` for translated ports), so a typed
/// value cannot claim one form and hold another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource<V: View> {
    /// `CmResourceTypePort`.
    Port {
        /// First port (raw: bus address; translated: where the CPU reaches it).
        start: V::PortStart,
        /// Number of ports.
        length: u32,
        /// `CM_RESOURCE_PORT_*` flags.
        flags: u16,
    },
    /// `CmResourceTypeMemory`, or `CmResourceTypeMemoryLarge` when the length needs it.
    Memory {
        /// First byte.
        start: V::MemoryStart,
        /// Length and the encoding that carries it.
        length: MemoryLength,
        /// `CM_RESOURCE_MEMORY_*` flags.
        flags: u16,
    },
    /// `CmResourceTypeInterrupt`, line-based (`CM_RESOURCE_INTERRUPT_MESSAGE` clear).
    Interrupt {
        /// Raw: the bus interrupt level; translated: the DIRQL.
        level: u16,
        /// Processor group.
        group: u16,
        /// Raw: the bus vector; translated: the global system vector.
        vector: u32,
        /// Processors the interrupt may target.
        affinity: u64,
        /// `CM_RESOURCE_INTERRUPT_*` flags.
        flags: u16,
    },
    /// `CmResourceTypeInterrupt` with `CM_RESOURCE_INTERRUPT_MESSAGE`.
    MessageInterrupt {
        /// The view's form of the message interrupt.
        message: V::Message,
        /// `CM_RESOURCE_INTERRUPT_*` flags.
        flags: u16,
    },
    /// `CmResourceTypeDma` (`u.Dma`).
    Dma {
        /// DMA channel.
        channel: u32,
        /// DMA port.
        port: u32,
        /// `CM_RESOURCE_DMA_*` flags.
        flags: u16,
    },
    /// `CmResourceTypeDma` with `CM_RESOURCE_DMA_V3` (`u.DmaV3`).
    DmaV3 {
        /// DMA channel.
        channel: u32,
        /// Request line.
        request_line: u32,
        /// Transfer width.
        transfer_width: u8,
        /// `CM_RESOURCE_DMA_*` flags.
        flags: u16,
    },
    /// `CmResourceTypeBusNumber`.
    BusNumber {
        /// First bus number.
        start: u32,
        /// Number of buses.
        length: u32,
        /// Descriptor flags.
        flags: u16,
    },
    /// `CmResourceTypeDeviceSpecific`: data that follows the descriptor (must be last).
    DeviceSpecific {
        /// The trailing data (`DataSize` bytes).
        data: Vec<u8>,
        /// Descriptor flags.
        flags: u16,
    },
    /// `CmResourceTypeDevicePrivate`.
    DevicePrivate {
        /// `u.DevicePrivate.Data`.
        data: [u32; 3],
        /// Descriptor flags.
        flags: u16,
    },
    /// `CmResourceTypeConnection` (GPIO and serial connections).
    Connection {
        /// `CM_RESOURCE_CONNECTION_CLASS_*`.
        class: u8,
        /// `CM_RESOURCE_CONNECTION_TYPE_*`.
        connection_type: u8,
        /// `IdLowPart | IdHighPart << 32`.
        id: u64,
        /// Descriptor flags.
        flags: u16,
    },
    /// Any other type (Null, ConfigData, PcCardConfig, MfCardConfig, unknown codes), kept
    /// byte-for-byte because filters must preserve tags they do not understand.
    Other {
        /// The `Type` byte.
        type_code: CmResourceType,
        /// Descriptor flags.
        flags: u16,
        /// The 16-byte union.
        data: [u8; 16],
    },
}

impl<V: View> Resource<V> {
    /// A memory resource whose length is encoded the way `RtlCmEncodeMemIoResource` chooses
    /// (`Memory` up to 4 GiB − 1, else the smallest `MemoryLarge` form that holds it exactly).
    pub fn memory(start: V::MemoryStart, length: u64, flags: u16) -> Result<Self, LengthNotEncodable> {
        Ok(Self::Memory { start, length: MemoryLength::encode(length)?, flags })
    }

    /// The `Type` byte this resource is stored with.
    pub const fn type_code(&self) -> CmResourceType {
        match self {
            Self::Port { .. } => CmResourceType::PORT,
            Self::Memory { length, .. } => length.form().type_code(),
            Self::Interrupt { .. } | Self::MessageInterrupt { .. } => CmResourceType::INTERRUPT,
            Self::Dma { .. } | Self::DmaV3 { .. } => CmResourceType::DMA,
            Self::BusNumber { .. } => CmResourceType::BUS_NUMBER,
            Self::DeviceSpecific { .. } => CmResourceType::DEVICE_SPECIFIC,
            Self::DevicePrivate { .. } => CmResourceType::DEVICE_PRIVATE,
            Self::Connection { .. } => CmResourceType::CONNECTION,
            Self::Other { type_code, .. } => *type_code,
        }
    }

    /// The descriptor's `Flags` word as stored (the variant's own form bits applied later).
    pub const fn flags(&self) -> u16 {
        match self {
            Self::Port { flags, .. }
            | Self::Memory { flags, .. }
            | Self::Interrupt { flags, .. }
            | Self::MessageInterrupt { flags, .. }
            | Self::Dma { flags, .. }
            | Self::DmaV3 { flags, .. }
            | Self::BusNumber { flags, .. }
            | Self::DeviceSpecific { flags, .. }
            | Self::DevicePrivate { flags, .. }
            | Self::Connection { flags, .. }
            | Self::Other { flags, .. } => *flags,
        }
    }

    /// The same resource in view `W`, for the kinds whose content does not depend on the view
    /// (DMA, bus numbers, device-specific and private data, connections, other types). `None`
    /// for ports, memory and interrupts: those need a real translation.
    pub fn view_independent<W: View>(&self) -> Option<Resource<W>> {
        Some(match self {
            Self::Dma { channel, port, flags } => {
                Resource::Dma { channel: *channel, port: *port, flags: *flags }
            }
            Self::DmaV3 { channel, request_line, transfer_width, flags } => Resource::DmaV3 {
                channel: *channel,
                request_line: *request_line,
                transfer_width: *transfer_width,
                flags: *flags,
            },
            Self::BusNumber { start, length, flags } => {
                Resource::BusNumber { start: *start, length: *length, flags: *flags }
            }
            Self::DeviceSpecific { data, flags } => {
                Resource::DeviceSpecific { data: data.clone(), flags: *flags }
            }
            Self::DevicePrivate { data, flags } => Resource::DevicePrivate { data: *data, flags: *flags },
            Self::Connection { class, connection_type, id, flags } => Resource::Connection {
                class: *class,
                connection_type: *connection_type,
                id: *id,
                flags: *flags,
            },
            Self::Other { type_code, flags, data } => {
                Resource::Other { type_code: *type_code, flags: *flags, data: *data }
            }
            Self::Port { .. }
            | Self::Memory { .. }
            | Self::Interrupt { .. }
            | Self::MessageInterrupt { .. } => {
                return None;
            }
        })
    }
}

/// A resource and its share disposition: one partial descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceEntry<V: View> {
    /// `ShareDisposition`.
    pub share: ShareDisposition,
    /// What the descriptor describes.
    pub resource: Resource<V>,
}

impl<V: View> ResourceEntry<V> {
    /// A device-exclusive entry (what arbiters hand out unless a requirement says shared).
    pub const fn exclusive(resource: Resource<V>) -> Self {
        Self { share: ShareDisposition::DeviceExclusive, resource }
    }
}

/// Why [`ResourceList::new`] refused a set of entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceListError {
    /// A DeviceSpecific entry is not the last one (its data must follow the last descriptor).
    DeviceSpecificNotLast {
        /// Index of the offending entry.
        index: usize,
    },
    /// DeviceSpecific data longer than a ULONG `DataSize` can state.
    DeviceSpecificTooLarge {
        /// Index of the offending entry.
        index: usize,
    },
    /// More entries than a ULONG `Count` can state.
    TooManyEntries,
}

impl fmt::Display for ResourceListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeviceSpecificNotLast { index } => {
                write!(f, "DeviceSpecific entry {index} is not the last entry of its list")
            }
            Self::DeviceSpecificTooLarge { index } => {
                write!(f, "DeviceSpecific entry {index} has more than 4 GiB − 1 bytes of data")
            }
            Self::TooManyEntries => f.write_str("more entries than a ULONG Count can hold"),
        }
    }
}

impl core::error::Error for ResourceListError {}

/// An ordered list of resources in view `V` (one `CM_PARTIAL_RESOURCE_LIST`).
///
/// The order is meaningful: entry *i* of a raw list and entry *i* of its translated twin
/// describe the same resource. At most one DeviceSpecific entry, and only last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceList<V: View> {
    entries: Vec<ResourceEntry<V>>,
}

/// The bus-relative list a device is programmed with (`AllocatedResources`).
pub type RawResourceList = ResourceList<Raw>;
/// The CPU-side list a driver maps and connects (`AllocatedResourcesTranslated`).
pub type TranslatedResourceList = ResourceList<Translated>;

impl<V: View> Default for ResourceList<V> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<V: View> ResourceList<V> {
    /// A list of these entries, in this order.
    pub fn new(entries: Vec<ResourceEntry<V>>) -> Result<Self, ResourceListError> {
        if u32::try_from(entries.len()).is_err() {
            return Err(ResourceListError::TooManyEntries);
        }
        let last = entries.len().saturating_sub(1);
        for (index, entry) in entries.iter().enumerate() {
            if let Resource::DeviceSpecific { data, .. } = &entry.resource {
                if index != last {
                    return Err(ResourceListError::DeviceSpecificNotLast { index });
                }
                if u32::try_from(data.len()).is_err() {
                    return Err(ResourceListError::DeviceSpecificTooLarge { index });
                }
            }
        }
        Ok(Self { entries })
    }

    /// A list with no entries (a device that needs no resources).
    pub const fn empty() -> Self {
        Self { entries: Vec::new() }
    }

    /// Number of entries (the partial list's `Count`).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entry `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<&ResourceEntry<V>> {
        self.entries.get(index)
    }

    /// The entries in order.
    pub fn iter(&self) -> core::slice::Iter<'_, ResourceEntry<V>> {
        self.entries.iter()
    }

    /// The entries as a slice.
    pub fn entries(&self) -> &[ResourceEntry<V>] {
        &self.entries
    }

    /// The entries, giving up the list.
    pub fn into_entries(self) -> Vec<ResourceEntry<V>> {
        self.entries
    }
}

impl<'a, V: View> IntoIterator for &'a ResourceList<V> {
    type Item = &'a ResourceEntry<V>;
    type IntoIter = core::slice::Iter<'a, ResourceEntry<V>>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::cm_constants::CM_RESOURCE_PORT_16_BIT_DECODE;

    fn port(start: u64) -> ResourceEntry<Raw> {
        ResourceEntry::exclusive(Resource::Port {
            start: BusAddress(start),
            length: 8,
            flags: CM_RESOURCE_PORT_IO,
        })
    }

    #[test]
    fn device_specific_must_be_last() {
        let specific =
            ResourceEntry::exclusive(Resource::<Raw>::DeviceSpecific { data: vec![1, 2, 3], flags: 0 });
        assert_eq!(
            ResourceList::new(vec![specific.clone(), port(0x3F8)]),
            Err(ResourceListError::DeviceSpecificNotLast { index: 0 })
        );
        let list = ResourceList::new(vec![port(0x3F8), specific]).unwrap();
        assert_eq!(list.len(), 2);
        assert!(matches!(list.get(1).unwrap().resource, Resource::DeviceSpecific { .. }));
        assert!(list.get(2).is_none());
    }

    #[test]
    fn translated_port_location_sets_the_space_bit() {
        let (start, flags) =
            Translated::encode_port_start(PortLocation::Io(IoPort(0x3F8)), CM_RESOURCE_PORT_16_BIT_DECODE);
        assert_eq!((start, flags), (0x3F8, CM_RESOURCE_PORT_16_BIT_DECODE | CM_RESOURCE_PORT_IO));
        let (start, flags) = Translated::encode_port_start(
            PortLocation::Memory(PhysicalAddress(0xFE00_0000)),
            CM_RESOURCE_PORT_IO,
        );
        assert_eq!((start, flags), (0xFE00_0000, 0));
        assert_eq!(Translated::decode_port_start(0x1_0000_0000, CM_RESOURCE_PORT_IO), None);
        assert_eq!(
            Translated::decode_port_start(0x1_0000_0000, 0),
            Some(PortLocation::Memory(PhysicalAddress(0x1_0000_0000)))
        );
    }

    #[test]
    fn memory_constructor_picks_the_encoding() {
        let small = Resource::<Raw>::memory(BusAddress(0xC000_0000), 0x1000, 0).unwrap();
        assert_eq!(small.type_code(), CmResourceType::MEMORY);
        let large = Resource::<Raw>::memory(BusAddress(0x8_0000_0000), 0x2_0000_0000, 0).unwrap();
        assert_eq!(large.type_code(), CmResourceType::MEMORY_LARGE);
        assert!(Resource::<Raw>::memory(BusAddress(0), 0x1_0000_0001, 0).is_err());
    }

    #[test]
    fn view_independent_resources_cross_views_and_addresses_do_not() {
        let dma = Resource::<Raw>::Dma { channel: 2, port: 0, flags: 0 };
        assert_eq!(
            dma.view_independent::<Translated>(),
            Some(Resource::Dma { channel: 2, port: 0, flags: 0 })
        );
        assert_eq!(port(0x3F8).resource.view_independent::<Translated>(), None);
    }
}
