//! The x64 binary layout of `IO_RESOURCE_REQUIREMENTS_LIST` and its parts (contract §8.4), and
//! conversion between those bytes and the typed [`IoResourceRequirementsList`].
//!
//! Mirrors keep C sizes, offsets and natural alignment (checked at compile time), with the union
//! as little-endian bytes. They carry a `Layout` suffix because the typed requirement types of
//! [`crate::requirements`] own the plain names.
//!
//! Walking (contract §8.4): a 32-byte header, then `AlternativeLists` lists, each an 8-byte
//! header and Count × 32 bytes of descriptors; the next list starts right after the last
//! descriptor of the previous one, and `ListSize` covers the whole block.

use alloc::vec::Vec;
use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use crate::byte_reader::{ByteReader, ShortRead, le_array, put};
use crate::cm_constants::{
    CM_RESOURCE_DMA_V3, CM_RESOURCE_MEMORY_LARGE, CmResourceType, InterfaceType, ShareDisposition,
};
use crate::large_memory::{LargeForm, MemoryLength, ScaledRange};
use crate::requirements::{
    IoOption, IoResourceDescriptor, IoResourceList, IoResourceRequirementsList, Requirement,
};
use crate::resource::BusAddress;

/// Bytes in one `IO_RESOURCE_DESCRIPTOR` on x64.
pub const IO_DESCRIPTOR_SIZE: usize = 32;
/// Bytes before the first descriptor of an `IO_RESOURCE_LIST`.
pub const IO_LIST_HEADER_SIZE: usize = 8;
/// Bytes before the first list of an `IO_RESOURCE_REQUIREMENTS_LIST`.
pub const REQUIREMENTS_HEADER_SIZE: usize = 32;

/// Descriptor-relative offsets of the `IO_RESOURCE_DESCRIPTOR` union fields (contract §8.4).
pub mod io_offsets {
    /// `u` itself.
    pub const UNION: usize = 8;
    /// `u.Port/Memory.Length`, `u.Memory40.Length40` etc. (ULONG).
    pub const LENGTH: usize = 8;
    /// `u.Port/Memory.Alignment`, `u.Memory40.Alignment40` etc. (ULONG).
    pub const ALIGNMENT: usize = 12;
    /// `MinimumAddress` (PHYSICAL_ADDRESS).
    pub const MINIMUM_ADDRESS: usize = 16;
    /// `MaximumAddress` (PHYSICAL_ADDRESS).
    pub const MAXIMUM_ADDRESS: usize = 24;
    /// `u.Interrupt.MinimumVector` (ULONG).
    pub const MINIMUM_VECTOR: usize = 8;
    /// `u.Interrupt.MaximumVector` (ULONG).
    pub const MAXIMUM_VECTOR: usize = 12;
    /// `u.Interrupt.AffinityPolicy` (USHORT with processor groups).
    pub const AFFINITY_POLICY: usize = 16;
    /// `u.Interrupt.Group` (USHORT).
    pub const GROUP: usize = 18;
    /// `u.Interrupt.PriorityPolicy` (4-byte enum).
    pub const PRIORITY_POLICY: usize = 20;
    /// `u.Interrupt.TargetedProcessors` (KAFFINITY).
    pub const TARGETED_PROCESSORS: usize = 24;
    /// `u.Dma.MinimumChannel` (ULONG).
    pub const MINIMUM_CHANNEL: usize = 8;
    /// `u.Dma.MaximumChannel` (ULONG).
    pub const MAXIMUM_CHANNEL: usize = 12;
    /// `u.DmaV3.RequestLine` (ULONG).
    pub const DMA_V3_REQUEST_LINE: usize = 8;
    /// `u.DmaV3.Channel` (ULONG).
    pub const DMA_V3_CHANNEL: usize = 16;
    /// `u.DmaV3.TransferWidth` (ULONG).
    pub const DMA_V3_TRANSFER_WIDTH: usize = 20;
    /// `u.BusNumber.Length` (ULONG).
    pub const BUS_LENGTH: usize = 8;
    /// `u.BusNumber.MinBusNumber` (ULONG).
    pub const BUS_MINIMUM: usize = 12;
    /// `u.BusNumber.MaxBusNumber` (ULONG).
    pub const BUS_MAXIMUM: usize = 16;
    /// `u.ConfigData.Priority` (ULONG).
    pub const CONFIG_PRIORITY: usize = 8;
    /// `u.DevicePrivate.Data[0]` (ULONG × 3).
    pub const DEVICE_PRIVATE: usize = 8;
}

/// `IO_RESOURCE_DESCRIPTOR`: 32 bytes, natural alignment 8, union at offset 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IoResourceDescriptorLayout {
    /// `Option` (see [`IoOption`]).
    pub option: u8,
    /// `Type`: a [`CmResourceType`] value.
    pub resource_type: u8,
    /// `ShareDisposition`.
    pub share_disposition: u8,
    /// `Spare1`.
    pub spare1: u8,
    /// `Flags`.
    pub flags: u16,
    /// `Spare2`.
    pub spare2: u16,
    /// `u`: the 24-byte union, little-endian.
    pub u: [u8; 24],
    // Zero-sized: the C union holds 64-bit fields, so the struct is 8-aligned.
    _align: [u64; 0],
}

/// `IO_RESOURCE_LIST` with its first descriptor (C `sizeof` = 40).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IoResourceListLayout {
    /// `Version`.
    pub version: u16,
    /// `Revision`.
    pub revision: u16,
    /// `Count`: number of descriptors.
    pub count: u32,
    /// `Descriptors[1]`: the first of `count`.
    pub descriptors: [IoResourceDescriptorLayout; 1],
}

/// `IO_RESOURCE_REQUIREMENTS_LIST` with one list of one descriptor (C `sizeof` = 72).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct IoResourceRequirementsListLayout {
    /// `ListSize`: bytes in the whole contiguous block.
    pub list_size: u32,
    /// `InterfaceType`.
    pub interface_type: i32,
    /// `BusNumber`.
    pub bus_number: u32,
    /// `SlotNumber`.
    pub slot_number: u32,
    /// `Reserved[3]`.
    pub reserved: [u32; 3],
    /// `AlternativeLists`: number of lists that follow.
    pub alternative_lists: u32,
    /// `List[1]`: the first of `alternative_lists`.
    pub list: [IoResourceListLayout; 1],
}

const _: () = {
    assert!(size_of::<IoResourceDescriptorLayout>() == IO_DESCRIPTOR_SIZE);
    assert!(align_of::<IoResourceDescriptorLayout>() == 8);
    assert!(offset_of!(IoResourceDescriptorLayout, option) == 0);
    assert!(offset_of!(IoResourceDescriptorLayout, resource_type) == 1);
    assert!(offset_of!(IoResourceDescriptorLayout, share_disposition) == 2);
    assert!(offset_of!(IoResourceDescriptorLayout, spare1) == 3);
    assert!(offset_of!(IoResourceDescriptorLayout, flags) == 4);
    assert!(offset_of!(IoResourceDescriptorLayout, spare2) == 6);
    assert!(offset_of!(IoResourceDescriptorLayout, u) == io_offsets::UNION);
    assert!(size_of::<IoResourceListLayout>() == 40);
    assert!(offset_of!(IoResourceListLayout, count) == 4);
    assert!(offset_of!(IoResourceListLayout, descriptors) == IO_LIST_HEADER_SIZE);
    assert!(size_of::<IoResourceRequirementsListLayout>() == 72);
    assert!(offset_of!(IoResourceRequirementsListLayout, interface_type) == 4);
    assert!(offset_of!(IoResourceRequirementsListLayout, bus_number) == 8);
    assert!(offset_of!(IoResourceRequirementsListLayout, slot_number) == 12);
    assert!(offset_of!(IoResourceRequirementsListLayout, reserved) == 16);
    assert!(offset_of!(IoResourceRequirementsListLayout, alternative_lists) == 28);
    assert!(offset_of!(IoResourceRequirementsListLayout, list) == REQUIREMENTS_HEADER_SIZE);
};

impl IoResourceDescriptorLayout {
    /// A descriptor with these header fields and union bytes (spares zero).
    pub const fn new(option: u8, resource_type: u8, share_disposition: u8, flags: u16, u: [u8; 24]) -> Self {
        Self { option, resource_type, share_disposition, spare1: 0, flags, spare2: 0, u, _align: [] }
    }

    /// The descriptor stored in these 32 bytes.
    pub fn from_bytes(bytes: &[u8; IO_DESCRIPTOR_SIZE]) -> Self {
        let mut descriptor = Self::new(
            bytes[0],
            bytes[1],
            bytes[2],
            u16::from_le_bytes([bytes[4], bytes[5]]),
            le_array(bytes, io_offsets::UNION),
        );
        descriptor.spare1 = bytes[3];
        descriptor.spare2 = u16::from_le_bytes([bytes[6], bytes[7]]);
        descriptor
    }

    /// The 32 bytes of this descriptor.
    pub fn to_bytes(&self) -> [u8; IO_DESCRIPTOR_SIZE] {
        let mut out = [0; IO_DESCRIPTOR_SIZE];
        out[..4].copy_from_slice(&[self.option, self.resource_type, self.share_disposition, self.spare1]);
        put(&mut out, 4, &self.flags.to_le_bytes());
        put(&mut out, 6, &self.spare2.to_le_bytes());
        put(&mut out, io_offsets::UNION, &self.u);
        out
    }

    pub(crate) fn u16_at(&self, offset: usize) -> u16 {
        u16::from_le_bytes(le_array(&self.u, offset - io_offsets::UNION))
    }
    pub(crate) fn u32_at(&self, offset: usize) -> u32 {
        u32::from_le_bytes(le_array(&self.u, offset - io_offsets::UNION))
    }
    pub(crate) fn u64_at(&self, offset: usize) -> u64 {
        u64::from_le_bytes(le_array(&self.u, offset - io_offsets::UNION))
    }
    pub(crate) fn set_u16(&mut self, offset: usize, value: u16) {
        put(&mut self.u, offset - io_offsets::UNION, &value.to_le_bytes());
    }
    pub(crate) fn set_u32(&mut self, offset: usize, value: u32) {
        put(&mut self.u, offset - io_offsets::UNION, &value.to_le_bytes());
    }
    pub(crate) fn set_u64(&mut self, offset: usize, value: u64) {
        put(&mut self.u, offset - io_offsets::UNION, &value.to_le_bytes());
    }
}

/// Why bytes are not a well-formed `IO_RESOURCE_REQUIREMENTS_LIST`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoLayoutError {
    /// The bytes end inside a field.
    Truncated {
        /// Offset of the field.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that remain.
        available: usize,
    },
    /// `ListSize` differs from the size of the buffer or of what the lists occupy.
    ListSizeMismatch {
        /// The stored `ListSize`.
        list_size: u32,
        /// The size found (buffer length, or bytes the walk consumed).
        actual: usize,
    },
    /// A count promises more entries than the remaining bytes can hold.
    CountTooLarge {
        /// Offset just after the count field.
        offset: usize,
        /// The count.
        count: u32,
    },
    /// A `ShareDisposition` outside `0..=3`.
    InvalidShareDisposition {
        /// Index of the alternative list.
        list: usize,
        /// Index of the descriptor.
        descriptor: usize,
        /// The byte.
        value: u8,
    },
    /// A MemoryLarge descriptor without exactly one of the `LARGE_40/48/64` flags.
    LargeMemoryFlags {
        /// Index of the alternative list.
        list: usize,
        /// Index of the descriptor.
        descriptor: usize,
        /// The descriptor's flags.
        flags: u16,
    },
    /// A DeviceSpecific descriptor, which requirement lists never hold.
    DeviceSpecific {
        /// Index of the alternative list.
        list: usize,
        /// Index of the descriptor.
        descriptor: usize,
    },
}

impl From<ShortRead> for IoLayoutError {
    fn from(short: ShortRead) -> Self {
        Self::Truncated { offset: short.offset, needed: short.needed, available: short.available }
    }
}

impl fmt::Display for IoLayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { offset, needed, available } => {
                write!(f, "requirements list truncated at {offset}: {needed} bytes needed, {available} left")
            }
            Self::ListSizeMismatch { list_size, actual } => {
                write!(f, "ListSize {list_size} does not match the {actual} bytes found")
            }
            Self::CountTooLarge { offset, count } => {
                write!(f, "count {count} before offset {offset} exceeds the bytes that follow")
            }
            Self::InvalidShareDisposition { list, descriptor, value } => {
                write!(f, "requirement {list}.{descriptor}: share disposition {value} is invalid")
            }
            Self::LargeMemoryFlags { list, descriptor, flags } => {
                write!(f, "requirement {list}.{descriptor}: MemoryLarge flags {flags:#x} name no single form")
            }
            Self::DeviceSpecific { list, descriptor } => {
                write!(f, "requirement {list}.{descriptor}: DeviceSpecific is not allowed in requirements")
            }
        }
    }
}

impl core::error::Error for IoLayoutError {}

/// The requirements list is too large for its ULONG size and count fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequirementsTooLarge;

impl fmt::Display for RequirementsTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("requirements list exceeds what ULONG ListSize and Count can state")
    }
}

impl core::error::Error for RequirementsTooLarge {}

impl IoResourceRequirementsList {
    /// Bytes the serialized list occupies (`ListSize`).
    pub fn byte_size(&self) -> usize {
        REQUIREMENTS_HEADER_SIZE
            + self
                .alternatives
                .iter()
                .map(|list| IO_LIST_HEADER_SIZE + IO_DESCRIPTOR_SIZE * list.descriptors.len())
                .sum::<usize>()
    }

    /// The x64 bytes of this `IO_RESOURCE_REQUIREMENTS_LIST`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RequirementsTooLarge> {
        let size = self.byte_size();
        let list_size = u32::try_from(size).map_err(|_| RequirementsTooLarge)?;
        let lists = u32::try_from(self.alternatives.len()).map_err(|_| RequirementsTooLarge)?;
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(&list_size.to_le_bytes());
        out.extend_from_slice(&self.interface_type.0.to_le_bytes());
        out.extend_from_slice(&self.bus_number.to_le_bytes());
        out.extend_from_slice(&self.slot_number.to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&lists.to_le_bytes());
        for list in &self.alternatives {
            out.extend_from_slice(&list.version.to_le_bytes());
            out.extend_from_slice(&list.revision.to_le_bytes());
            // Fits: the whole block's size fits a u32, so the count does too.
            out.extend_from_slice(&(list.descriptors.len() as u32).to_le_bytes());
            for descriptor in &list.descriptors {
                out.extend_from_slice(&encode_requirement(descriptor).to_bytes());
            }
        }
        Ok(out)
    }

    /// The list stored in `bytes`, whose length must equal the stored `ListSize`.
    pub fn parse(bytes: &[u8]) -> Result<Self, IoLayoutError> {
        let mut reader = ByteReader::new(bytes);
        let list_size = reader.u32()?;
        let interface_type = InterfaceType(reader.i32()?);
        let bus_number = reader.u32()?;
        let slot_number = reader.u32()?;
        reader.take(12)?;
        let count = reader.u32()?;
        if list_size as usize != bytes.len() {
            return Err(IoLayoutError::ListSizeMismatch { list_size, actual: bytes.len() });
        }
        check_count(&reader, count, IO_LIST_HEADER_SIZE)?;
        let mut alternatives = Vec::new();
        for list in 0..count as usize {
            let version = reader.u16()?;
            let revision = reader.u16()?;
            let count = reader.u32()?;
            check_count(&reader, count, IO_DESCRIPTOR_SIZE)?;
            let mut descriptors = Vec::with_capacity(count as usize);
            for descriptor in 0..count as usize {
                let layout = IoResourceDescriptorLayout::from_bytes(&reader.array()?);
                descriptors.push(decode_requirement(&layout, list, descriptor)?);
            }
            alternatives.push(IoResourceList { version, revision, descriptors });
        }
        if reader.remaining() != 0 {
            return Err(IoLayoutError::ListSizeMismatch { list_size, actual: reader.offset() });
        }
        Ok(Self { interface_type, bus_number, slot_number, alternatives })
    }
}

/// Refuses a count whose minimum footprint already exceeds the remaining bytes.
fn check_count(reader: &ByteReader<'_>, count: u32, each: usize) -> Result<(), IoLayoutError> {
    match (count as usize).checked_mul(each) {
        Some(bytes) if bytes <= reader.remaining() => Ok(()),
        _ => Err(IoLayoutError::CountTooLarge { offset: reader.offset(), count }),
    }
}

/// The typed requirement stored in `d`.
fn decode_requirement(
    d: &IoResourceDescriptorLayout,
    list: usize,
    descriptor: usize,
) -> Result<IoResourceDescriptor, IoLayoutError> {
    let share = ShareDisposition::try_from(d.share_disposition)
        .map_err(|error| IoLayoutError::InvalidShareDisposition { list, descriptor, value: error.0 })?;
    let flags = d.flags;
    let minimum = BusAddress(d.u64_at(io_offsets::MINIMUM_ADDRESS));
    let maximum = BusAddress(d.u64_at(io_offsets::MAXIMUM_ADDRESS));
    let length = d.u32_at(io_offsets::LENGTH);
    let alignment = d.u32_at(io_offsets::ALIGNMENT);
    let requirement = match CmResourceType(d.resource_type) {
        CmResourceType::PORT => Requirement::Port { length, alignment, minimum, maximum },
        code @ (CmResourceType::MEMORY | CmResourceType::MEMORY_LARGE) => {
            let form = match (code, LargeForm::from_large_flags(flags)) {
                (CmResourceType::MEMORY, _) => LargeForm::Small,
                (_, Some(form)) if form != LargeForm::Small => form,
                _ => return Err(IoLayoutError::LargeMemoryFlags { list, descriptor, flags }),
            };
            let range = ScaledRange { length: MemoryLength::new(form, length), alignment_units: alignment };
            Requirement::Memory { range, minimum, maximum }
        }
        CmResourceType::INTERRUPT => Requirement::Interrupt {
            minimum_vector: d.u32_at(io_offsets::MINIMUM_VECTOR),
            maximum_vector: d.u32_at(io_offsets::MAXIMUM_VECTOR),
            affinity_policy: d.u16_at(io_offsets::AFFINITY_POLICY),
            group: d.u16_at(io_offsets::GROUP),
            priority_policy: d.u32_at(io_offsets::PRIORITY_POLICY),
            targeted_processors: d.u64_at(io_offsets::TARGETED_PROCESSORS),
        },
        CmResourceType::DMA if flags & CM_RESOURCE_DMA_V3 != 0 => Requirement::DmaV3 {
            request_line: d.u32_at(io_offsets::DMA_V3_REQUEST_LINE),
            channel: d.u32_at(io_offsets::DMA_V3_CHANNEL),
            transfer_width: d.u32_at(io_offsets::DMA_V3_TRANSFER_WIDTH),
        },
        CmResourceType::DMA => Requirement::Dma {
            minimum_channel: d.u32_at(io_offsets::MINIMUM_CHANNEL),
            maximum_channel: d.u32_at(io_offsets::MAXIMUM_CHANNEL),
        },
        CmResourceType::BUS_NUMBER => Requirement::BusNumber {
            length: d.u32_at(io_offsets::BUS_LENGTH),
            minimum: d.u32_at(io_offsets::BUS_MINIMUM),
            maximum: d.u32_at(io_offsets::BUS_MAXIMUM),
        },
        CmResourceType::CONFIG_DATA => {
            Requirement::ConfigData { priority: d.u32_at(io_offsets::CONFIG_PRIORITY) }
        }
        CmResourceType::DEVICE_PRIVATE => Requirement::DevicePrivate {
            data: [
                d.u32_at(io_offsets::DEVICE_PRIVATE),
                d.u32_at(io_offsets::DEVICE_PRIVATE + 4),
                d.u32_at(io_offsets::DEVICE_PRIVATE + 8),
            ],
        },
        CmResourceType::DEVICE_SPECIFIC => return Err(IoLayoutError::DeviceSpecific { list, descriptor }),
        type_code => Requirement::Other { type_code, data: d.u },
    };
    Ok(IoResourceDescriptor { option: IoOption(d.option), share, flags, requirement })
}

/// The descriptor for `descriptor`; form-selecting flag bits are set from the requirement.
pub fn encode_requirement(descriptor: &IoResourceDescriptor) -> IoResourceDescriptorLayout {
    let mut d = IoResourceDescriptorLayout::new(
        descriptor.option.0,
        descriptor.requirement.type_code().0,
        descriptor.share as u8,
        descriptor.flags,
        [0; 24],
    );
    match &descriptor.requirement {
        Requirement::Port { length, alignment, minimum, maximum } => {
            d.set_u32(io_offsets::LENGTH, *length);
            d.set_u32(io_offsets::ALIGNMENT, *alignment);
            d.set_u64(io_offsets::MINIMUM_ADDRESS, minimum.0);
            d.set_u64(io_offsets::MAXIMUM_ADDRESS, maximum.0);
        }
        Requirement::Memory { range, minimum, maximum } => {
            d.flags = (descriptor.flags & !CM_RESOURCE_MEMORY_LARGE) | range.length.form().large_flag();
            d.set_u32(io_offsets::LENGTH, range.length.units());
            d.set_u32(io_offsets::ALIGNMENT, range.alignment_units);
            d.set_u64(io_offsets::MINIMUM_ADDRESS, minimum.0);
            d.set_u64(io_offsets::MAXIMUM_ADDRESS, maximum.0);
        }
        Requirement::Interrupt {
            minimum_vector,
            maximum_vector,
            affinity_policy,
            group,
            priority_policy,
            targeted_processors,
        } => {
            d.set_u32(io_offsets::MINIMUM_VECTOR, *minimum_vector);
            d.set_u32(io_offsets::MAXIMUM_VECTOR, *maximum_vector);
            d.set_u16(io_offsets::AFFINITY_POLICY, *affinity_policy);
            d.set_u16(io_offsets::GROUP, *group);
            d.set_u32(io_offsets::PRIORITY_POLICY, *priority_policy);
            d.set_u64(io_offsets::TARGETED_PROCESSORS, *targeted_processors);
        }
        Requirement::Dma { minimum_channel, maximum_channel } => {
            d.flags = descriptor.flags & !CM_RESOURCE_DMA_V3;
            d.set_u32(io_offsets::MINIMUM_CHANNEL, *minimum_channel);
            d.set_u32(io_offsets::MAXIMUM_CHANNEL, *maximum_channel);
        }
        Requirement::DmaV3 { request_line, channel, transfer_width } => {
            d.flags = descriptor.flags | CM_RESOURCE_DMA_V3;
            d.set_u32(io_offsets::DMA_V3_REQUEST_LINE, *request_line);
            d.set_u32(io_offsets::DMA_V3_CHANNEL, *channel);
            d.set_u32(io_offsets::DMA_V3_TRANSFER_WIDTH, *transfer_width);
        }
        Requirement::BusNumber { length, minimum, maximum } => {
            d.set_u32(io_offsets::BUS_LENGTH, *length);
            d.set_u32(io_offsets::BUS_MINIMUM, *minimum);
            d.set_u32(io_offsets::BUS_MAXIMUM, *maximum);
        }
        Requirement::ConfigData { priority } => d.set_u32(io_offsets::CONFIG_PRIORITY, *priority),
        Requirement::DevicePrivate { data } => {
            for (index, word) in data.iter().enumerate() {
                d.set_u32(io_offsets::DEVICE_PRIVATE + 4 * index, *word);
            }
        }
        Requirement::Other { data, .. } => d.u = *data,
    }
    d
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::cm_constants::{
        CM_RESOURCE_MEMORY_LARGE_40, CM_RESOURCE_MEMORY_PREFETCHABLE, CM_RESOURCE_PORT_IO,
    };

    fn sample() -> IoResourceRequirementsList {
        let first = IoResourceList::new(vec![
            IoResourceDescriptor::new(
                IoOption::PREFERRED,
                CM_RESOURCE_MEMORY_PREFETCHABLE,
                Requirement::memory(0x1000_0000, 0x1000_0000, BusAddress(0), BusAddress(u64::MAX)).unwrap(),
            ),
            IoResourceDescriptor::new(
                IoOption::ALTERNATIVE,
                0,
                Requirement::memory(0x2_0000_0000, 0x2_0000_0000, BusAddress(0), BusAddress(u64::MAX))
                    .unwrap(),
            ),
            IoResourceDescriptor::new(
                IoOption::REQUIRED,
                CM_RESOURCE_PORT_IO,
                Requirement::port(0x20, 0x20, BusAddress(0x1000), BusAddress(0xFFFF)),
            ),
            IoResourceDescriptor {
                option: IoOption::REQUIRED,
                share: ShareDisposition::Shared,
                flags: 0,
                requirement: Requirement::Interrupt {
                    minimum_vector: 5,
                    maximum_vector: 11,
                    affinity_policy: 1,
                    group: 0,
                    priority_policy: 2,
                    targeted_processors: 0xF,
                },
            },
            IoResourceDescriptor::new(
                IoOption::REQUIRED,
                0,
                Requirement::Dma { minimum_channel: 1, maximum_channel: 3 },
            ),
            IoResourceDescriptor::new(
                IoOption::REQUIRED,
                0,
                Requirement::DmaV3 { request_line: 4, channel: 5, transfer_width: 6 },
            ),
            IoResourceDescriptor::new(
                IoOption::REQUIRED,
                0,
                Requirement::BusNumber { length: 1, minimum: 1, maximum: 9 },
            ),
            IoResourceDescriptor::new(IoOption::REQUIRED, 0, Requirement::ConfigData { priority: 0x2000 }),
            IoResourceDescriptor::new(IoOption::REQUIRED, 0, Requirement::DevicePrivate { data: [7, 8, 9] }),
            IoResourceDescriptor::new(
                IoOption(0x40),
                3,
                Requirement::Other { type_code: CmResourceType(201), data: [0x5A; 24] },
            ),
        ]);
        let second = IoResourceList::new(vec![IoResourceDescriptor::new(
            IoOption::REQUIRED,
            CM_RESOURCE_PORT_IO,
            Requirement::port(8, 8, BusAddress(0x2F8), BusAddress(0x2FF)),
        )]);
        IoResourceRequirementsList::new(InterfaceType::PCI_BUS, 0, 3, vec![first, second])
    }

    #[test]
    fn claim_21_io_descriptor_is_32_bytes_and_one_list_of_one_is_72() {
        assert_eq!(size_of::<IoResourceDescriptorLayout>(), 32);
        assert_eq!(size_of::<IoResourceListLayout>(), 40);
        assert_eq!(size_of::<IoResourceRequirementsListLayout>(), 72);
        let list = IoResourceRequirementsList::new(
            InterfaceType::PCI_BUS,
            0,
            0,
            vec![IoResourceList::new(vec![IoResourceDescriptor::new(
                IoOption::REQUIRED,
                CM_RESOURCE_PORT_IO,
                Requirement::port(8, 1, BusAddress(0x3F8), BusAddress(0x3FF)),
            )])],
        );
        let bytes = list.to_bytes().unwrap();
        assert_eq!(bytes.len(), 72);
        assert_eq!(&bytes[0..4], &72u32.to_le_bytes(), "ListSize");
        assert_eq!(&bytes[28..32], &1u32.to_le_bytes(), "AlternativeLists");
        assert_eq!(&bytes[36..40], &1u32.to_le_bytes(), "Count");
        let descriptor = &bytes[40..72];
        assert_eq!(descriptor[1], 1, "Type at 1");
        assert_eq!(&descriptor[4..6], &CM_RESOURCE_PORT_IO.to_le_bytes(), "Flags at 4");
        assert_eq!(&descriptor[8..12], &8u32.to_le_bytes(), "Length at 8");
        assert_eq!(&descriptor[12..16], &1u32.to_le_bytes(), "Alignment at 12");
        assert_eq!(&descriptor[16..24], &0x3F8u64.to_le_bytes(), "MinimumAddress at 16");
        assert_eq!(&descriptor[24..32], &0x3FFu64.to_le_bytes(), "MaximumAddress at 24");
    }

    #[test]
    fn requirements_round_trip_bytes_typed_bytes() {
        let list = sample();
        let bytes = list.to_bytes().unwrap();
        assert_eq!(bytes.len(), list.byte_size());
        assert_eq!(bytes.len(), 32 + (8 + 10 * 32) + (8 + 32));
        let parsed = IoResourceRequirementsList::parse(&bytes).unwrap();
        assert_eq!(parsed.to_bytes().unwrap(), bytes);
        assert_eq!(parsed.alternatives.len(), 2);
        assert_eq!(parsed.slot_number, 3);
        // The second list starts right after the first list's 10 descriptors.
        let second = 32 + 8 + 10 * 32;
        assert_eq!(&bytes[second + 4..second + 8], &1u32.to_le_bytes());
        // The large alternative kept its form and its flag.
        let large = &parsed.alternatives[0].descriptors[1];
        assert_eq!(large.flags, CM_RESOURCE_MEMORY_LARGE_40);
        assert_eq!(large.requirement, list.alternatives[0].descriptors[1].requirement);
        assert_eq!(
            parsed.alternatives[0].descriptors[9], list.alternatives[0].descriptors[9],
            "unknown tag kept"
        );
    }

    #[test]
    fn list_size_must_match_the_block() {
        let mut bytes = sample().to_bytes().unwrap();
        let size = bytes.len() as u32;
        bytes[0..4].copy_from_slice(&(size + 32).to_le_bytes());
        assert_eq!(
            IoResourceRequirementsList::parse(&bytes),
            Err(IoLayoutError::ListSizeMismatch { list_size: size + 32, actual: size as usize })
        );
        // ListSize matches the buffer, but the lists end early.
        let mut padded = sample().to_bytes().unwrap();
        padded.extend_from_slice(&[0; 8]);
        padded[0..4].copy_from_slice(&(size + 8).to_le_bytes());
        assert_eq!(
            IoResourceRequirementsList::parse(&padded),
            Err(IoLayoutError::ListSizeMismatch { list_size: size + 8, actual: size as usize })
        );
    }

    #[test]
    fn malformed_requirements_are_errors_not_panics() {
        let bytes = sample().to_bytes().unwrap();
        for cut in 0..bytes.len() {
            let mut short = bytes[..cut].to_vec();
            if cut >= 4 {
                // Keep ListSize honest so the walk itself meets the truncation.
                short[0..4].copy_from_slice(&(cut as u32).to_le_bytes());
            }
            assert!(IoResourceRequirementsList::parse(&short).is_err(), "cut at {cut}");
        }
        let mut huge = bytes.clone();
        huge[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(IoResourceRequirementsList::parse(&huge), Err(IoLayoutError::CountTooLarge { .. })));
        let mut huge = bytes.clone();
        huge[36..40].copy_from_slice(&0x0800_0000u32.to_le_bytes());
        assert_eq!(
            IoResourceRequirementsList::parse(&huge),
            Err(IoLayoutError::CountTooLarge { offset: 40, count: 0x0800_0000 })
        );
        let mut specific = bytes.clone();
        specific[40 + 1] = CmResourceType::DEVICE_SPECIFIC.0;
        assert_eq!(
            IoResourceRequirementsList::parse(&specific),
            Err(IoLayoutError::DeviceSpecific { list: 0, descriptor: 0 })
        );
        let mut share = bytes.clone();
        share[40 + 32 + 2] = 200;
        assert_eq!(
            IoResourceRequirementsList::parse(&share),
            Err(IoLayoutError::InvalidShareDisposition { list: 0, descriptor: 1, value: 200 })
        );
        let mut large = bytes.clone();
        large[40 + 32 + 4..40 + 32 + 6].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(
            IoResourceRequirementsList::parse(&large),
            Err(IoLayoutError::LargeMemoryFlags { list: 0, descriptor: 1, flags: 0 })
        );
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..2000 {
            let mut noisy = bytes.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let at = (state as usize) % noisy.len();
                noisy[at] = (state >> 40) as u8;
            }
            let _ = IoResourceRequirementsList::parse(&noisy);
        }
    }

    #[test]
    fn an_empty_requirements_list_is_its_header() {
        let empty = IoResourceRequirementsList::new(InterfaceType::PCI_BUS, 0, 0, Vec::new());
        let bytes = empty.to_bytes().unwrap();
        assert_eq!(bytes.len(), 32);
        assert_eq!(IoResourceRequirementsList::parse(&bytes).unwrap(), empty);
    }
}
