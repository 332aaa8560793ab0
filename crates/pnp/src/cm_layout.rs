//! The x64 binary layout of `CM_RESOURCE_LIST` and its parts (contract §8.4), and conversion
//! between those bytes and the typed [`ResourceList`]s of [`crate::resource`].
//!
//! The mirror structs have the C sizes, offsets and alignment (checked at compile time); the
//! unions are kept as byte arrays read and written little-endian, which needs no `unsafe` and
//! cannot misread a variant. The variable-length arrays are `[T; 1]`, as in the header, so
//! `size_of` equals the C `sizeof` (claim 21).
//!
//! Walking a list (claim 22): a full descriptor is a 16-byte header (InterfaceType, BusNumber,
//! Version, Revision, Count) followed by Count × 20 bytes of partial descriptors, then `DataSize`
//! bytes when the last partial is DeviceSpecific; the next full descriptor starts right there.

use alloc::vec::Vec;
use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use crate::byte_reader::{ByteReader, ShortRead, le_array, put};
use crate::cm_constants::{
    CM_RESOURCE_DMA_V3, CM_RESOURCE_INTERRUPT_MESSAGE, CM_RESOURCE_MEMORY_LARGE, CmResourceType,
    InterfaceType, ShareDisposition,
};
use crate::large_memory::{LargeForm, MemoryLength};
use crate::resource::{Resource, ResourceEntry, ResourceList, ResourceListError, View};

/// Bytes in one `CM_PARTIAL_RESOURCE_DESCRIPTOR` on x64.
pub const PARTIAL_DESCRIPTOR_SIZE: usize = 20;
/// Bytes before the first descriptor of a `CM_PARTIAL_RESOURCE_LIST` (Version, Revision, Count).
pub const PARTIAL_LIST_HEADER_SIZE: usize = 8;
/// Bytes before the first partial descriptor of a `CM_FULL_RESOURCE_DESCRIPTOR`.
pub const FULL_DESCRIPTOR_HEADER_SIZE: usize = 16;
/// Bytes before the first full descriptor of a `CM_RESOURCE_LIST` (Count).
pub const RESOURCE_LIST_HEADER_SIZE: usize = 4;

/// Descriptor-relative offsets of the union fields (contract §8.4).
pub mod offsets {
    /// `u` itself.
    pub const UNION: usize = 4;
    /// `u.Generic/Port/Memory/Memory40/48/64.Start` (PHYSICAL_ADDRESS).
    pub const START: usize = 4;
    /// `u.Generic/Port/Memory.Length`, `u.Memory40.Length40` etc. (ULONG).
    pub const LENGTH: usize = 12;
    /// `u.Interrupt.Level` (USHORT); `u.MessageInterrupt.Raw.Group`.
    pub const INTERRUPT_LEVEL: usize = 4;
    /// `u.Interrupt.Group` (USHORT); `u.MessageInterrupt.Raw.MessageCount`.
    pub const INTERRUPT_GROUP: usize = 6;
    /// `u.Interrupt.Vector` (ULONG).
    pub const INTERRUPT_VECTOR: usize = 8;
    /// `u.Interrupt.Affinity` (KAFFINITY).
    pub const INTERRUPT_AFFINITY: usize = 12;
    /// `u.Dma.Channel`, `u.DmaV3.Channel` (ULONG).
    pub const DMA_CHANNEL: usize = 4;
    /// `u.Dma.Port`, `u.DmaV3.RequestLine` (ULONG).
    pub const DMA_PORT: usize = 8;
    /// `u.DmaV3.TransferWidth` (UCHAR).
    pub const DMA_TRANSFER_WIDTH: usize = 12;
    /// `u.DevicePrivate.Data[0]` (ULONG × 3).
    pub const DEVICE_PRIVATE: usize = 4;
    /// `u.BusNumber.Start` (ULONG).
    pub const BUS_START: usize = 4;
    /// `u.BusNumber.Length` (ULONG).
    pub const BUS_LENGTH: usize = 8;
    /// `u.DeviceSpecificData.DataSize` (ULONG).
    pub const DATA_SIZE: usize = 4;
    /// `u.Connection.Class` (UCHAR).
    pub const CONNECTION_CLASS: usize = 4;
    /// `u.Connection.Type` (UCHAR).
    pub const CONNECTION_TYPE: usize = 5;
    /// `u.Connection.IdLowPart` (ULONG).
    pub const CONNECTION_ID_LOW: usize = 8;
    /// `u.Connection.IdHighPart` (ULONG).
    pub const CONNECTION_ID_HIGH: usize = 12;
}

/// `CM_PARTIAL_RESOURCE_DESCRIPTOR`: 20 bytes, packed to 4, union at offset 4.
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CmPartialResourceDescriptor {
    /// `Type`: a [`CmResourceType`] value.
    pub resource_type: u8,
    /// `ShareDisposition`: a [`ShareDisposition`] value.
    pub share_disposition: u8,
    /// `Flags`: type-specific.
    pub flags: u16,
    /// `u`: the 16-byte union, little-endian.
    pub u: [u8; 16],
    // Zero-sized: gives the struct the C alignment of 4 (the union holds 4-byte-packed 64-bit
    // fields) without making any field unaligned.
    _align: [u32; 0],
}

/// `CM_PARTIAL_RESOURCE_LIST` with its first descriptor (C `sizeof` = 28).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CmPartialResourceList {
    /// `Version` (1).
    pub version: u16,
    /// `Revision` (1).
    pub revision: u16,
    /// `Count`: number of partial descriptors.
    pub count: u32,
    /// `PartialDescriptors[1]`: the first of `count`.
    pub partial_descriptors: [CmPartialResourceDescriptor; 1],
}

/// `CM_FULL_RESOURCE_DESCRIPTOR` with one partial descriptor (C `sizeof` = 36).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CmFullResourceDescriptor {
    /// `InterfaceType` (not used by WDM drivers).
    pub interface_type: i32,
    /// `BusNumber` (not used by WDM drivers).
    pub bus_number: u32,
    /// `PartialResourceList`.
    pub partial_resource_list: CmPartialResourceList,
}

/// `CM_RESOURCE_LIST` with one full descriptor (C `sizeof` = 40).
#[repr(C, packed(4))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CmResourceList {
    /// `Count`: number of full descriptors (1 for WDM drivers).
    pub count: u32,
    /// `List[1]`: the first of `count`.
    pub list: [CmFullResourceDescriptor; 1],
}

const _: () = {
    assert!(size_of::<CmPartialResourceDescriptor>() == 20);
    assert!(align_of::<CmPartialResourceDescriptor>() == 4);
    assert!(offset_of!(CmPartialResourceDescriptor, resource_type) == 0);
    assert!(offset_of!(CmPartialResourceDescriptor, share_disposition) == 1);
    assert!(offset_of!(CmPartialResourceDescriptor, flags) == 2);
    assert!(offset_of!(CmPartialResourceDescriptor, u) == offsets::UNION);
    assert!(size_of::<CmPartialResourceList>() == 28);
    assert!(align_of::<CmPartialResourceList>() == 4);
    assert!(offset_of!(CmPartialResourceList, count) == 4);
    assert!(offset_of!(CmPartialResourceList, partial_descriptors) == PARTIAL_LIST_HEADER_SIZE);
    assert!(size_of::<CmFullResourceDescriptor>() == 36);
    assert!(offset_of!(CmFullResourceDescriptor, bus_number) == 4);
    assert!(offset_of!(CmFullResourceDescriptor, partial_resource_list) == 8);
    assert!(
        offset_of!(CmFullResourceDescriptor, partial_resource_list)
            + offset_of!(CmPartialResourceList, partial_descriptors)
            == FULL_DESCRIPTOR_HEADER_SIZE
    );
    assert!(size_of::<CmResourceList>() == 40);
    assert!(align_of::<CmResourceList>() == 4);
    assert!(offset_of!(CmResourceList, list) == RESOURCE_LIST_HEADER_SIZE);
    assert!(RESOURCE_LIST_HEADER_SIZE + FULL_DESCRIPTOR_HEADER_SIZE == 20);
};

impl CmPartialResourceDescriptor {
    /// A descriptor with these header fields and union bytes.
    pub const fn new(resource_type: u8, share_disposition: u8, flags: u16, u: [u8; 16]) -> Self {
        Self { resource_type, share_disposition, flags, u, _align: [] }
    }

    /// The descriptor stored in these 20 bytes.
    pub fn from_bytes(bytes: &[u8; PARTIAL_DESCRIPTOR_SIZE]) -> Self {
        Self::new(
            bytes[0],
            bytes[1],
            u16::from_le_bytes([bytes[2], bytes[3]]),
            le_array(bytes, offsets::UNION),
        )
    }

    /// The 20 bytes of this descriptor.
    pub fn to_bytes(&self) -> [u8; PARTIAL_DESCRIPTOR_SIZE] {
        let mut out = [0; PARTIAL_DESCRIPTOR_SIZE];
        out[0] = self.resource_type;
        out[1] = self.share_disposition;
        let flags = self.flags;
        put(&mut out, 2, &flags.to_le_bytes());
        put(&mut out, offsets::UNION, &self.u);
        out
    }

    /// `u.Generic.Start` (also `u.Port`, `u.Memory`, `u.Memory40/48/64`).
    pub fn generic_start(&self) -> u64 {
        self.u64_at(offsets::START)
    }

    /// `u.Generic.Length` (also `Length40/48/64`: the stored, unscaled value).
    pub fn generic_length(&self) -> u32 {
        self.u32_at(offsets::LENGTH)
    }

    /// Sets `u.Generic.Start` and `u.Generic.Length`.
    pub fn set_generic(&mut self, start: u64, length: u32) {
        self.set_u64(offsets::START, start);
        self.set_u32(offsets::LENGTH, length);
    }

    pub(crate) fn u8_at(&self, offset: usize) -> u8 {
        le_array::<1>(&self.u, offset - offsets::UNION)[0]
    }
    pub(crate) fn u16_at(&self, offset: usize) -> u16 {
        u16::from_le_bytes(le_array(&self.u, offset - offsets::UNION))
    }
    pub(crate) fn u32_at(&self, offset: usize) -> u32 {
        u32::from_le_bytes(le_array(&self.u, offset - offsets::UNION))
    }
    pub(crate) fn u64_at(&self, offset: usize) -> u64 {
        u64::from_le_bytes(le_array(&self.u, offset - offsets::UNION))
    }
    pub(crate) fn set_u8(&mut self, offset: usize, value: u8) {
        put(&mut self.u, offset - offsets::UNION, &[value]);
    }
    pub(crate) fn set_u16(&mut self, offset: usize, value: u16) {
        put(&mut self.u, offset - offsets::UNION, &value.to_le_bytes());
    }
    pub(crate) fn set_u32(&mut self, offset: usize, value: u32) {
        put(&mut self.u, offset - offsets::UNION, &value.to_le_bytes());
    }
    pub(crate) fn set_u64(&mut self, offset: usize, value: u64) {
        put(&mut self.u, offset - offsets::UNION, &value.to_le_bytes());
    }
}

/// One typed `CM_FULL_RESOURCE_DESCRIPTOR`: the resources of one bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullDescriptor<V: View> {
    /// `InterfaceType`.
    pub interface_type: InterfaceType,
    /// `BusNumber`.
    pub bus_number: u32,
    /// `PartialResourceList.Version`.
    pub version: u16,
    /// `PartialResourceList.Revision`.
    pub revision: u16,
    /// The partial descriptors.
    pub resources: ResourceList<V>,
}

impl<V: View> FullDescriptor<V> {
    /// A full descriptor with Version = Revision = 1, as the header recommends.
    pub const fn new(interface_type: InterfaceType, bus_number: u32, resources: ResourceList<V>) -> Self {
        Self { interface_type, bus_number, version: 1, revision: 1, resources }
    }

    /// Bytes this full descriptor occupies in a `CM_RESOURCE_LIST`.
    pub fn byte_size(&self) -> usize {
        let data = match self.resources.entries().last().map(|entry| &entry.resource) {
            Some(Resource::DeviceSpecific { data, .. }) => data.len(),
            _ => 0,
        };
        FULL_DESCRIPTOR_HEADER_SIZE + PARTIAL_DESCRIPTOR_SIZE * self.resources.len() + data
    }
}

/// A typed `CM_RESOURCE_LIST`: full descriptors in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullDescriptorList<V: View> {
    descriptors: Vec<FullDescriptor<V>>,
}

impl<V: View> FullDescriptorList<V> {
    /// A list of these full descriptors.
    pub fn new(descriptors: Vec<FullDescriptor<V>>) -> Result<Self, ResourceListError> {
        if u32::try_from(descriptors.len()).is_err() {
            return Err(ResourceListError::TooManyEntries);
        }
        Ok(Self { descriptors })
    }

    /// The usual WDM shape: one full descriptor.
    pub fn single(descriptor: FullDescriptor<V>) -> Self {
        Self { descriptors: alloc::vec![descriptor] }
    }

    /// The full descriptors.
    pub fn descriptors(&self) -> &[FullDescriptor<V>] {
        &self.descriptors
    }

    /// The full descriptors, giving up the list.
    pub fn into_descriptors(self) -> Vec<FullDescriptor<V>> {
        self.descriptors
    }

    /// Bytes the serialized list occupies.
    pub fn byte_size(&self) -> usize {
        RESOURCE_LIST_HEADER_SIZE + self.descriptors.iter().map(FullDescriptor::byte_size).sum::<usize>()
    }

    /// The x64 bytes of this `CM_RESOURCE_LIST`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.byte_size());
        // Both counts fit a ULONG: the constructors of this list and of `ResourceList` say so.
        out.extend_from_slice(&(self.descriptors.len() as u32).to_le_bytes());
        for full in &self.descriptors {
            out.extend_from_slice(&full.interface_type.0.to_le_bytes());
            out.extend_from_slice(&full.bus_number.to_le_bytes());
            out.extend_from_slice(&full.version.to_le_bytes());
            out.extend_from_slice(&full.revision.to_le_bytes());
            out.extend_from_slice(&(full.resources.len() as u32).to_le_bytes());
            let mut trailing: &[u8] = &[];
            for entry in full.resources.iter() {
                out.extend_from_slice(&encode_entry(entry).to_bytes());
                if let Resource::DeviceSpecific { data, .. } = &entry.resource {
                    trailing = data;
                }
            }
            out.extend_from_slice(trailing);
        }
        out
    }

    /// The list stored in `bytes`, which must hold exactly one `CM_RESOURCE_LIST`.
    pub fn parse(bytes: &[u8]) -> Result<Self, CmLayoutError> {
        let mut reader = ByteReader::new(bytes);
        let count = reader.u32()?;
        check_count(&reader, count, FULL_DESCRIPTOR_HEADER_SIZE)?;
        let mut descriptors = Vec::new();
        for full in 0..count as usize {
            descriptors.push(parse_full(&mut reader, full)?);
        }
        if reader.remaining() != 0 {
            return Err(CmLayoutError::TrailingBytes { offset: reader.offset(), extra: reader.remaining() });
        }
        Ok(Self { descriptors })
    }
}

/// Why bytes are not a well-formed `CM_RESOURCE_LIST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmLayoutError {
    /// The bytes end inside a field.
    Truncated {
        /// Offset of the field.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// A `Count` promises more descriptors than the remaining bytes can hold.
    CountTooLarge {
        /// Offset just after the `Count` field.
        offset: usize,
        /// The count.
        count: u32,
    },
    /// A `ShareDisposition` outside `0..=3`.
    InvalidShareDisposition {
        /// Index of the full descriptor.
        full: usize,
        /// Index of the partial descriptor.
        partial: usize,
        /// The byte.
        value: u8,
    },
    /// A MemoryLarge descriptor without exactly one of the `LARGE_40/48/64` flags.
    LargeMemoryFlags {
        /// Index of the full descriptor.
        full: usize,
        /// Index of the partial descriptor.
        partial: usize,
        /// The descriptor's flags.
        flags: u16,
    },
    /// A DeviceSpecific descriptor that is not the last of its list.
    DeviceSpecificNotLast {
        /// Index of the full descriptor.
        full: usize,
        /// Index of the partial descriptor.
        partial: usize,
    },
    /// A translated I/O-space port whose start does not fit 32 bits.
    PortNotAddressable {
        /// Index of the full descriptor.
        full: usize,
        /// Index of the partial descriptor.
        partial: usize,
        /// The stored start.
        start: u64,
    },
    /// Bytes left over after the last full descriptor.
    TrailingBytes {
        /// Where the leftover starts.
        offset: usize,
        /// How many bytes are left over.
        extra: usize,
    },
}

impl From<ShortRead> for CmLayoutError {
    fn from(short: ShortRead) -> Self {
        Self::Truncated { offset: short.offset, needed: short.needed, available: short.available }
    }
}

impl fmt::Display for CmLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset, needed, available } => {
                write!(f, "resource list truncated at {offset}: {needed} bytes needed, {available} left")
            }
            Self::CountTooLarge { offset, count } => {
                write!(f, "count {count} before offset {offset} exceeds the bytes that follow")
            }
            Self::InvalidShareDisposition { full, partial, value } => {
                write!(f, "descriptor {full}.{partial}: share disposition {value} is invalid")
            }
            Self::LargeMemoryFlags { full, partial, flags } => {
                write!(f, "descriptor {full}.{partial}: MemoryLarge flags {flags:#x} name no single form")
            }
            Self::DeviceSpecificNotLast { full, partial } => {
                write!(f, "descriptor {full}.{partial}: DeviceSpecific is not the last descriptor")
            }
            Self::PortNotAddressable { full, partial, start } => {
                write!(f, "descriptor {full}.{partial}: I/O port {start:#x} does not fit 32 bits")
            }
            Self::TrailingBytes { offset, extra } => write!(f, "{extra} bytes after the list at {offset}"),
        }
    }
}

impl core::error::Error for CmLayoutError {}

/// Refuses a count whose minimum footprint already exceeds the remaining bytes, so a hostile
/// count cannot drive allocation or a long loop.
fn check_count(reader: &ByteReader<'_>, count: u32, minimum_each: usize) -> Result<(), CmLayoutError> {
    match (count as usize).checked_mul(minimum_each) {
        Some(bytes) if bytes <= reader.remaining() => Ok(()),
        _ => Err(CmLayoutError::CountTooLarge { offset: reader.offset(), count }),
    }
}

fn parse_full<V: View>(reader: &mut ByteReader<'_>, full: usize) -> Result<FullDescriptor<V>, CmLayoutError> {
    let interface_type = InterfaceType(reader.i32()?);
    let bus_number = reader.u32()?;
    let version = reader.u16()?;
    let revision = reader.u16()?;
    let count = reader.u32()?;
    check_count(reader, count, PARTIAL_DESCRIPTOR_SIZE)?;
    let mut partials = Vec::with_capacity(count as usize);
    for _ in 0..count {
        partials.push(CmPartialResourceDescriptor::from_bytes(&reader.array()?));
    }
    let mut entries = Vec::with_capacity(partials.len());
    for (partial, descriptor) in partials.iter().enumerate() {
        let data = if descriptor.resource_type == CmResourceType::DEVICE_SPECIFIC.0 {
            if partial + 1 != partials.len() {
                return Err(CmLayoutError::DeviceSpecificNotLast { full, partial });
            }
            // The data follows the whole descriptor array, which ends here.
            Some(reader.take(descriptor.u32_at(offsets::DATA_SIZE) as usize)?.to_vec())
        } else {
            None
        };
        entries.push(decode_entry(descriptor, data, full, partial)?);
    }
    // `entries` obeys the list invariants: one DeviceSpecific at most, last, size from a ULONG.
    let resources = ResourceList::new(entries).map_err(|_| CmLayoutError::DeviceSpecificNotLast {
        full,
        partial: count.saturating_sub(1) as usize,
    })?;
    Ok(FullDescriptor { interface_type, bus_number, version, revision, resources })
}

/// The typed entry stored in `descriptor` (with its trailing data when DeviceSpecific).
fn decode_entry<V: View>(
    descriptor: &CmPartialResourceDescriptor,
    data: Option<Vec<u8>>,
    full: usize,
    partial: usize,
) -> Result<ResourceEntry<V>, CmLayoutError> {
    let share = ShareDisposition::try_from(descriptor.share_disposition)
        .map_err(|error| CmLayoutError::InvalidShareDisposition { full, partial, value: error.0 })?;
    let flags = descriptor.flags;
    let d = descriptor;
    let resource = match CmResourceType(d.resource_type) {
        CmResourceType::PORT => {
            let start = d.generic_start();
            Resource::Port {
                start: V::decode_port_start(start, flags).ok_or(CmLayoutError::PortNotAddressable {
                    full,
                    partial,
                    start,
                })?,
                length: d.generic_length(),
                flags,
            }
        }
        CmResourceType::MEMORY => Resource::Memory {
            start: V::decode_memory_start(d.generic_start()),
            length: MemoryLength::new(LargeForm::Small, d.generic_length()),
            flags,
        },
        CmResourceType::MEMORY_LARGE => {
            let form = LargeForm::from_large_flags(flags)
                .filter(|form| *form != LargeForm::Small)
                .ok_or(CmLayoutError::LargeMemoryFlags { full, partial, flags })?;
            Resource::Memory {
                start: V::decode_memory_start(d.generic_start()),
                length: MemoryLength::new(form, d.generic_length()),
                flags,
            }
        }
        CmResourceType::INTERRUPT => {
            let fields = (
                d.u16_at(offsets::INTERRUPT_LEVEL),
                d.u16_at(offsets::INTERRUPT_GROUP),
                d.u32_at(offsets::INTERRUPT_VECTOR),
                d.u64_at(offsets::INTERRUPT_AFFINITY),
            );
            if flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0 {
                Resource::MessageInterrupt { message: V::decode_message(fields), flags }
            } else {
                let (level, group, vector, affinity) = fields;
                Resource::Interrupt { level, group, vector, affinity, flags }
            }
        }
        CmResourceType::DMA if flags & CM_RESOURCE_DMA_V3 != 0 => Resource::DmaV3 {
            channel: d.u32_at(offsets::DMA_CHANNEL),
            request_line: d.u32_at(offsets::DMA_PORT),
            transfer_width: d.u8_at(offsets::DMA_TRANSFER_WIDTH),
            flags,
        },
        CmResourceType::DMA => Resource::Dma {
            channel: d.u32_at(offsets::DMA_CHANNEL),
            port: d.u32_at(offsets::DMA_PORT),
            flags,
        },
        CmResourceType::BUS_NUMBER => Resource::BusNumber {
            start: d.u32_at(offsets::BUS_START),
            length: d.u32_at(offsets::BUS_LENGTH),
            flags,
        },
        CmResourceType::DEVICE_SPECIFIC => Resource::DeviceSpecific { data: data.unwrap_or_default(), flags },
        CmResourceType::DEVICE_PRIVATE => Resource::DevicePrivate {
            data: [
                d.u32_at(offsets::DEVICE_PRIVATE),
                d.u32_at(offsets::DEVICE_PRIVATE + 4),
                d.u32_at(offsets::DEVICE_PRIVATE + 8),
            ],
            flags,
        },
        CmResourceType::CONNECTION => Resource::Connection {
            class: d.u8_at(offsets::CONNECTION_CLASS),
            connection_type: d.u8_at(offsets::CONNECTION_TYPE),
            id: u64::from(d.u32_at(offsets::CONNECTION_ID_LOW))
                | u64::from(d.u32_at(offsets::CONNECTION_ID_HIGH)) << 32,
            flags,
        },
        type_code => Resource::Other { type_code, flags, data: d.u },
    };
    Ok(ResourceEntry { share, resource })
}

/// The descriptor for `entry` (a DeviceSpecific entry's data is written after the array by the
/// caller). Form-selecting flag bits are set from the variant, so the bytes are self-consistent.
pub fn encode_entry<V: View>(entry: &ResourceEntry<V>) -> CmPartialResourceDescriptor {
    let mut d = CmPartialResourceDescriptor::new(
        entry.resource.type_code().0,
        entry.share as u8,
        entry.resource.flags(),
        [0; 16],
    );
    match &entry.resource {
        Resource::Port { start, length, flags } => {
            let (start, flags) = V::encode_port_start(*start, *flags);
            d.flags = flags;
            d.set_generic(start, *length);
        }
        Resource::Memory { start, length, flags } => {
            d.flags = (flags & !CM_RESOURCE_MEMORY_LARGE) | length.form().large_flag();
            d.set_generic(V::encode_memory_start(*start), length.units());
        }
        Resource::Interrupt { level, group, vector, affinity, flags } => {
            d.flags = flags & !CM_RESOURCE_INTERRUPT_MESSAGE;
            set_interrupt_fields(&mut d, (*level, *group, *vector, *affinity));
        }
        Resource::MessageInterrupt { message, flags } => {
            d.flags = flags | CM_RESOURCE_INTERRUPT_MESSAGE;
            set_interrupt_fields(&mut d, V::encode_message(*message));
        }
        Resource::Dma { channel, port, flags } => {
            d.flags = flags & !CM_RESOURCE_DMA_V3;
            d.set_u32(offsets::DMA_CHANNEL, *channel);
            d.set_u32(offsets::DMA_PORT, *port);
        }
        Resource::DmaV3 { channel, request_line, transfer_width, flags } => {
            d.flags = flags | CM_RESOURCE_DMA_V3;
            d.set_u32(offsets::DMA_CHANNEL, *channel);
            d.set_u32(offsets::DMA_PORT, *request_line);
            d.set_u8(offsets::DMA_TRANSFER_WIDTH, *transfer_width);
        }
        Resource::BusNumber { start, length, .. } => {
            d.set_u32(offsets::BUS_START, *start);
            d.set_u32(offsets::BUS_LENGTH, *length);
        }
        Resource::DeviceSpecific { data, .. } => {
            // `ResourceList::new` guarantees the length fits a ULONG.
            d.set_u32(offsets::DATA_SIZE, data.len() as u32);
        }
        Resource::DevicePrivate { data, .. } => {
            for (index, word) in data.iter().enumerate() {
                d.set_u32(offsets::DEVICE_PRIVATE + 4 * index, *word);
            }
        }
        Resource::Connection { class, connection_type, id, .. } => {
            d.set_u8(offsets::CONNECTION_CLASS, *class);
            d.set_u8(offsets::CONNECTION_TYPE, *connection_type);
            d.set_u32(offsets::CONNECTION_ID_LOW, *id as u32);
            d.set_u32(offsets::CONNECTION_ID_HIGH, (*id >> 32) as u32);
        }
        Resource::Other { data, .. } => d.u = *data,
    }
    d
}

fn set_interrupt_fields(d: &mut CmPartialResourceDescriptor, (a, b, vector, affinity): (u16, u16, u32, u64)) {
    d.set_u16(offsets::INTERRUPT_LEVEL, a);
    d.set_u16(offsets::INTERRUPT_GROUP, b);
    d.set_u32(offsets::INTERRUPT_VECTOR, vector);
    d.set_u64(offsets::INTERRUPT_AFFINITY, affinity);
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use iospace_mm::address::PhysicalAddress;

    use super::*;
    use crate::cm_constants::{
        CM_RESOURCE_INTERRUPT_LATCHED, CM_RESOURCE_MEMORY_LARGE_48, CM_RESOURCE_MEMORY_PREFETCHABLE,
        CM_RESOURCE_PORT_16_BIT_DECODE, CM_RESOURCE_PORT_IO,
    };
    use crate::resource::{
        BusAddress, IoPort, PortLocation, Raw, RawMessageInterrupt, Translated, TranslatedMessageInterrupt,
    };

    fn raw_entries() -> Vec<ResourceEntry<Raw>> {
        vec![
            ResourceEntry::exclusive(Resource::Port {
                start: BusAddress(0xC000),
                length: 0x20,
                flags: CM_RESOURCE_PORT_IO | CM_RESOURCE_PORT_16_BIT_DECODE,
            }),
            ResourceEntry::exclusive(Resource::memory(BusAddress(0xFEBF_0000), 0x1000, 0).unwrap()),
            ResourceEntry::exclusive(
                Resource::memory(
                    BusAddress(0x80_0000_0000),
                    0x100_0000_0000,
                    CM_RESOURCE_MEMORY_PREFETCHABLE,
                )
                .unwrap(),
            ),
            ResourceEntry {
                share: ShareDisposition::Shared,
                resource: Resource::Interrupt {
                    level: 11,
                    group: 0,
                    vector: 11,
                    affinity: u64::MAX,
                    flags: CM_RESOURCE_INTERRUPT_LATCHED,
                },
            },
            ResourceEntry::exclusive(Resource::MessageInterrupt {
                message: RawMessageInterrupt { group: 0, message_count: 4, vector: 0x4000, affinity: 1 },
                flags: 0,
            }),
            ResourceEntry::exclusive(Resource::Dma { channel: 2, port: 0, flags: 0 }),
            ResourceEntry::exclusive(Resource::DmaV3 {
                channel: 3,
                request_line: 7,
                transfer_width: 2,
                flags: 0,
            }),
            ResourceEntry::exclusive(Resource::BusNumber { start: 1, length: 3, flags: 0 }),
            ResourceEntry::exclusive(Resource::DevicePrivate { data: [1, 2, 3], flags: 0 }),
            ResourceEntry::exclusive(Resource::Connection {
                class: 2,
                connection_type: 3,
                id: 0x1122_3344_5566_7788,
                flags: 0,
            }),
            ResourceEntry::exclusive(Resource::Other {
                type_code: CmResourceType(200),
                flags: 9,
                data: [0xAB; 16],
            }),
            ResourceEntry::exclusive(Resource::DeviceSpecific { data: vec![9, 8, 7, 6, 5], flags: 0 }),
        ]
    }

    fn one(entries: Vec<ResourceEntry<Raw>>) -> FullDescriptorList<Raw> {
        FullDescriptorList::single(FullDescriptor::new(
            InterfaceType::PCI_BUS,
            0,
            ResourceList::new(entries).unwrap(),
        ))
    }

    #[test]
    fn claim_21_partial_descriptor_is_20_bytes_and_a_one_entry_list_is_40() {
        assert_eq!(size_of::<CmPartialResourceDescriptor>(), 20);
        assert_eq!(size_of::<CmResourceList>(), 40);
        assert_eq!(size_of::<CmFullResourceDescriptor>(), 36);
        assert_eq!(size_of::<CmPartialResourceList>(), 28);
        let port = vec![ResourceEntry::exclusive(Resource::<Raw>::Port {
            start: BusAddress(0x3F8),
            length: 8,
            flags: CM_RESOURCE_PORT_IO,
        })];
        let bytes = one(port.clone()).to_bytes();
        assert_eq!(bytes.len(), 40);
        // Each further partial descriptor adds 20.
        assert_eq!(one(vec![port[0].clone(), port[0].clone()]).to_bytes().len(), 60);
    }

    #[test]
    fn claim_21_fields_sit_at_the_documented_offsets() {
        let entry = ResourceEntry::exclusive(Resource::<Raw>::Port {
            start: BusAddress(0x1122_3344_5566_7788),
            length: 0xAABB_CCDD,
            flags: CM_RESOURCE_PORT_IO,
        });
        let bytes = encode_entry(&entry).to_bytes();
        assert_eq!(bytes[0], 1);
        assert_eq!(bytes[1], 1);
        assert_eq!(&bytes[2..4], &1u16.to_le_bytes());
        assert_eq!(&bytes[4..12], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert_eq!(&bytes[12..16], &0xAABB_CCDDu32.to_le_bytes());
        let interrupt = ResourceEntry::exclusive(Resource::<Raw>::Interrupt {
            level: 0x0102,
            group: 0x0304,
            vector: 0x0506_0708,
            affinity: 0x1112_1314_1516_1718,
            flags: 0,
        });
        let bytes = encode_entry(&interrupt).to_bytes();
        assert_eq!(&bytes[4..6], &0x0102u16.to_le_bytes());
        assert_eq!(&bytes[6..8], &0x0304u16.to_le_bytes());
        assert_eq!(&bytes[8..12], &0x0506_0708u32.to_le_bytes());
        assert_eq!(&bytes[12..20], &0x1112_1314_1516_1718u64.to_le_bytes());
    }

    #[test]
    fn every_kind_round_trips_typed_to_bytes_to_typed_to_bytes() {
        let list = one(raw_entries());
        let bytes = list.to_bytes();
        let parsed = FullDescriptorList::<Raw>::parse(&bytes).unwrap();
        assert_eq!(parsed.to_bytes(), bytes);
        // The form bits come from the variants, so the typed values survive too, apart from the
        // flags those bits were added to.
        let entries = parsed.descriptors()[0].resources.entries();
        assert_eq!(entries.len(), 12);
        assert!(matches!(
            entries[2].resource,
            Resource::Memory { flags, .. } if flags == CM_RESOURCE_MEMORY_PREFETCHABLE | CM_RESOURCE_MEMORY_LARGE_48
        ));
        assert_eq!(entries[3], list.descriptors()[0].resources.entries()[3]);
        assert!(matches!(
            entries[4].resource,
            Resource::MessageInterrupt {
                message: RawMessageInterrupt { message_count: 4, vector: 0x4000, .. },
                ..
            }
        ));
        assert_eq!(entries[11].resource, Resource::DeviceSpecific { data: vec![9, 8, 7, 6, 5], flags: 0 });
    }

    #[test]
    fn claim_22_next_full_descriptor_follows_count_partials_and_device_specific_data() {
        let first = FullDescriptor::new(
            InterfaceType::PCI_BUS,
            0,
            ResourceList::new(vec![
                ResourceEntry::exclusive(Resource::<Raw>::Port {
                    start: BusAddress(0x3F8),
                    length: 8,
                    flags: 1,
                }),
                ResourceEntry::exclusive(Resource::DeviceSpecific { data: vec![0xEE; 7], flags: 0 }),
            ])
            .unwrap(),
        );
        let second = FullDescriptor::new(
            InterfaceType::ISA,
            3,
            ResourceList::new(vec![ResourceEntry::exclusive(Resource::<Raw>::Dma {
                channel: 1,
                port: 0,
                flags: 0,
            })])
            .unwrap(),
        );
        let list = FullDescriptorList::new(vec![first, second]).unwrap();
        let bytes = list.to_bytes();
        // Count, header of the first full descriptor, 2 × 20 partials, 7 bytes of data.
        let next = RESOURCE_LIST_HEADER_SIZE + FULL_DESCRIPTOR_HEADER_SIZE + 2 * 20 + 7;
        assert_eq!(&bytes[next..next + 4], &1i32.to_le_bytes(), "InterfaceType Isa");
        assert_eq!(&bytes[next + 4..next + 8], &3u32.to_le_bytes(), "BusNumber");
        assert_eq!(bytes.len(), next + FULL_DESCRIPTOR_HEADER_SIZE + 20);
        assert_eq!(list.byte_size(), bytes.len());
        let parsed = FullDescriptorList::<Raw>::parse(&bytes).unwrap();
        assert_eq!(parsed, list);
        assert_eq!(parsed.descriptors()[1].bus_number, 3);
    }

    #[test]
    fn claim_22_device_specific_before_the_end_is_rejected() {
        let mut bytes = one(vec![
            ResourceEntry::exclusive(Resource::<Raw>::Port { start: BusAddress(0x3F8), length: 8, flags: 1 }),
            ResourceEntry::exclusive(Resource::DevicePrivate { data: [0; 3], flags: 0 }),
        ])
        .to_bytes();
        // Turn the first partial into a DeviceSpecific with no data.
        bytes[20] = CmResourceType::DEVICE_SPECIFIC.0;
        bytes[24..28].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            FullDescriptorList::<Raw>::parse(&bytes),
            Err(CmLayoutError::DeviceSpecificNotLast { full: 0, partial: 0 })
        );
    }

    #[test]
    fn malformed_lists_are_errors_not_panics() {
        let bytes = one(raw_entries()).to_bytes();
        for cut in 0..bytes.len() {
            assert!(FullDescriptorList::<Raw>::parse(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(FullDescriptorList::<Raw>::parse(&huge), Err(CmLayoutError::CountTooLarge { .. })));
        let mut huge = bytes.clone();
        huge[16..20].copy_from_slice(&0x1000_0000u32.to_le_bytes());
        assert_eq!(
            FullDescriptorList::<Raw>::parse(&huge),
            Err(CmLayoutError::CountTooLarge { offset: 20, count: 0x1000_0000 })
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            FullDescriptorList::<Raw>::parse(&longer),
            Err(CmLayoutError::TrailingBytes { offset: bytes.len(), extra: 1 })
        );
        let mut share = bytes.clone();
        share[21] = 9;
        assert_eq!(
            FullDescriptorList::<Raw>::parse(&share),
            Err(CmLayoutError::InvalidShareDisposition { full: 0, partial: 0, value: 9 })
        );
        let mut large = bytes.clone();
        // Third partial is MemoryLarge/LARGE_48: give it two form bits.
        let flags_at = 20 + 2 * 20 + 2;
        large[flags_at..flags_at + 2].copy_from_slice(&0x0600u16.to_le_bytes());
        assert!(matches!(
            FullDescriptorList::<Raw>::parse(&large),
            Err(CmLayoutError::LargeMemoryFlags { full: 0, partial: 2, flags: 0x0600 })
        ));
        // A DataSize beyond the buffer.
        let mut data = bytes.clone();
        let size_at = 20 + 11 * 20 + 4;
        data[size_at..size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(FullDescriptorList::<Raw>::parse(&data), Err(CmLayoutError::Truncated { .. })));
    }

    #[test]
    fn pseudo_random_bytes_never_panic_the_parser() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let template = one(raw_entries()).to_bytes();
        for _ in 0..2000 {
            let mut bytes = template.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % bytes.len();
                bytes[at] = (state >> 32) as u8;
            }
            let _ = FullDescriptorList::<Raw>::parse(&bytes);
            let _ = FullDescriptorList::<Translated>::parse(&bytes);
        }
    }

    #[test]
    fn translated_lists_carry_cpu_addresses_and_port_locations() {
        let entries = vec![
            ResourceEntry::exclusive(Resource::<Translated>::Port {
                start: PortLocation::Io(IoPort(0x3F8)),
                length: 8,
                flags: CM_RESOURCE_PORT_16_BIT_DECODE,
            }),
            ResourceEntry::exclusive(Resource::Port {
                start: PortLocation::Memory(PhysicalAddress(0xF000_0000)),
                length: 0x100,
                flags: 0,
            }),
            ResourceEntry::exclusive(Resource::Memory {
                start: PhysicalAddress(0xFEBF_0000),
                length: MemoryLength::new(LargeForm::Small, 0x1000),
                flags: 0,
            }),
            ResourceEntry::exclusive(Resource::MessageInterrupt {
                message: TranslatedMessageInterrupt { level: 5, group: 0, vector: 0x51, affinity: 1 },
                flags: 0,
            }),
        ];
        let list = FullDescriptorList::single(FullDescriptor::new(
            InterfaceType::PCI_BUS,
            0,
            ResourceList::new(entries).unwrap(),
        ));
        let bytes = list.to_bytes();
        assert_eq!(&bytes[22..24], &(CM_RESOURCE_PORT_16_BIT_DECODE | CM_RESOURCE_PORT_IO).to_le_bytes());
        let parsed = FullDescriptorList::<Translated>::parse(&bytes).unwrap();
        assert_eq!(parsed.to_bytes(), bytes);
        assert_eq!(
            parsed.descriptors()[0].resources.get(1).unwrap().resource,
            Resource::Port {
                start: PortLocation::Memory(PhysicalAddress(0xF000_0000)),
                length: 0x100,
                flags: 0
            }
        );
        // An I/O port above 32 bits cannot be a translated port number.
        let mut wide = bytes.clone();
        wide[24 + 4..24 + 8].copy_from_slice(&1u32.to_le_bytes());
        assert_eq!(
            FullDescriptorList::<Translated>::parse(&wide),
            Err(CmLayoutError::PortNotAddressable { full: 0, partial: 0, start: 0x1_0000_03F8 })
        );
        // The same bytes read raw are just bus addresses.
        assert!(FullDescriptorList::<Raw>::parse(&wide).is_ok());
    }

    #[test]
    fn an_empty_resource_list_is_four_bytes() {
        let empty = FullDescriptorList::<Raw>::new(Vec::new()).unwrap();
        assert_eq!(empty.to_bytes(), vec![0, 0, 0, 0]);
        assert_eq!(FullDescriptorList::<Raw>::parse(&[0, 0, 0, 0]).unwrap(), empty);
    }
}
