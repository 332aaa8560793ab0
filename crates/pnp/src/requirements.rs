//! Typed resource requirements: what a device can decode, as its bus driver reports it in
//! `IRP_MN_QUERY_RESOURCE_REQUIREMENTS` (contract §8.4, claim 25).
//!
//! Requirements are always raw (bus-relative): minimum and maximum are [`BusAddress`]es.
//!
//! Shape: a requirements list offers alternative *lists*, each one complete acceptable
//! configuration, tried in order. Within a list, descriptors form *groups*: a descriptor without
//! `IO_RESOURCE_ALTERNATIVE` starts a group and the `ALTERNATIVE` descriptors after it are other
//! ways to satisfy the same need; `IO_RESOURCE_PREFERRED` marks the choice to try first. One
//! resource is assigned per group.

use alloc::vec::Vec;
use core::fmt;

use crate::cm_constants::{CmResourceType, InterfaceType, ShareDisposition};
use crate::large_memory::{RangeNotEncodable, ScaledRange};
use crate::resource::BusAddress;

/// `IO_RESOURCE_PREFERRED`.
pub const IO_RESOURCE_PREFERRED: u8 = 0x01;
/// `IO_RESOURCE_DEFAULT` (unused by Windows).
pub const IO_RESOURCE_DEFAULT: u8 = 0x02;
/// `IO_RESOURCE_ALTERNATIVE`.
pub const IO_RESOURCE_ALTERNATIVE: u8 = 0x08;

/// The `Option` byte of an `IO_RESOURCE_DESCRIPTOR` (bits; unknown bits are kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct IoOption(pub u8);

impl IoOption {
    /// 0: required, unless alternatives follow it.
    pub const REQUIRED: Self = Self(0);
    /// `IO_RESOURCE_PREFERRED`: the choice to try first.
    pub const PREFERRED: Self = Self(IO_RESOURCE_PREFERRED);
    /// `IO_RESOURCE_DEFAULT` (unused).
    pub const DEFAULT: Self = Self(IO_RESOURCE_DEFAULT);
    /// `IO_RESOURCE_ALTERNATIVE`: an alternative to the descriptor before it.
    pub const ALTERNATIVE: Self = Self(IO_RESOURCE_ALTERNATIVE);
    /// `PREFERRED | ALTERNATIVE`: the preferred alternative.
    pub const PREFERRED_ALTERNATIVE: Self = Self(IO_RESOURCE_PREFERRED | IO_RESOURCE_ALTERNATIVE);

    /// Whether `IO_RESOURCE_PREFERRED` is set.
    pub const fn is_preferred(self) -> bool {
        self.0 & IO_RESOURCE_PREFERRED != 0
    }

    /// Whether `IO_RESOURCE_ALTERNATIVE` is set.
    pub const fn is_alternative(self) -> bool {
        self.0 & IO_RESOURCE_ALTERNATIVE != 0
    }
}

/// What one `IO_RESOURCE_DESCRIPTOR` asks for (its union, typed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `CmResourceTypePort`: `length` ports starting at a multiple of `alignment` within
    /// `minimum..=maximum`.
    Port {
        /// Number of ports.
        length: u32,
        /// Alignment of the start (0 is treated as 1).
        alignment: u32,
        /// Lowest acceptable first port.
        minimum: BusAddress,
        /// Highest acceptable last port (inclusive).
        maximum: BusAddress,
    },
    /// `CmResourceTypeMemory` or `CmResourceTypeMemoryLarge` (form from `range`).
    Memory {
        /// Length and alignment, stored in one form.
        range: ScaledRange,
        /// Lowest acceptable first byte.
        minimum: BusAddress,
        /// Highest acceptable last byte (inclusive).
        maximum: BusAddress,
    },
    /// `CmResourceTypeInterrupt`.
    Interrupt {
        /// Lowest acceptable vector.
        minimum_vector: u32,
        /// Highest acceptable vector.
        maximum_vector: u32,
        /// `IRQ_DEVICE_POLICY`.
        affinity_policy: u16,
        /// Processor group.
        group: u16,
        /// `IRQ_PRIORITY`.
        priority_policy: u32,
        /// `KAFFINITY` of the processors to target (0: any).
        targeted_processors: u64,
    },
    /// `CmResourceTypeDma` (`u.Dma`).
    Dma {
        /// Lowest acceptable channel.
        minimum_channel: u32,
        /// Highest acceptable channel.
        maximum_channel: u32,
    },
    /// `CmResourceTypeDma` with `CM_RESOURCE_DMA_V3` (`u.DmaV3`).
    DmaV3 {
        /// Request line.
        request_line: u32,
        /// The channel.
        channel: u32,
        /// Transfer width.
        transfer_width: u32,
    },
    /// `CmResourceTypeBusNumber`.
    BusNumber {
        /// Number of consecutive bus numbers.
        length: u32,
        /// Lowest acceptable first bus number.
        minimum: u32,
        /// Highest acceptable last bus number.
        maximum: u32,
    },
    /// `CmResourceTypeConfigData`: a priority, not a resource.
    ConfigData {
        /// `Priority`.
        priority: u32,
    },
    /// `CmResourceTypeDevicePrivate`: passed through to the assigned list.
    DevicePrivate {
        /// `Data[3]`.
        data: [u32; 3],
    },
    /// Any other type, kept byte-for-byte (filters must keep tags they do not understand).
    Other {
        /// The `Type` byte.
        type_code: CmResourceType,
        /// The 24-byte union.
        data: [u8; 24],
    },
}

impl Requirement {
    /// A port-range requirement.
    pub const fn port(length: u32, alignment: u32, minimum: BusAddress, maximum: BusAddress) -> Self {
        Self::Port { length, alignment, minimum, maximum }
    }

    /// A memory-range requirement, stored in the smallest form that holds length and alignment.
    pub const fn memory(
        length: u64,
        alignment: u64,
        minimum: BusAddress,
        maximum: BusAddress,
    ) -> Result<Self, RangeNotEncodable> {
        match ScaledRange::encode(length, alignment) {
            Ok(range) => Ok(Self::Memory { range, minimum, maximum }),
            Err(error) => Err(error),
        }
    }

    /// The `Type` byte the requirement is stored with.
    pub const fn type_code(&self) -> CmResourceType {
        match self {
            Self::Port { .. } => CmResourceType::PORT,
            Self::Memory { range, .. } => range.length.form().type_code(),
            Self::Interrupt { .. } => CmResourceType::INTERRUPT,
            Self::Dma { .. } | Self::DmaV3 { .. } => CmResourceType::DMA,
            Self::BusNumber { .. } => CmResourceType::BUS_NUMBER,
            Self::ConfigData { .. } => CmResourceType::CONFIG_DATA,
            Self::DevicePrivate { .. } => CmResourceType::DEVICE_PRIVATE,
            Self::Other { type_code, .. } => *type_code,
        }
    }
}

/// One typed `IO_RESOURCE_DESCRIPTOR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoResourceDescriptor {
    /// `Option`: required, preferred, alternative.
    pub option: IoOption,
    /// `ShareDisposition` the assigned resource will have.
    pub share: ShareDisposition,
    /// `Flags` (`CM_RESOURCE_*` of the type; form bits are set from the requirement).
    pub flags: u16,
    /// What is asked for.
    pub requirement: Requirement,
}

impl IoResourceDescriptor {
    /// A device-exclusive descriptor with this option and flags.
    pub const fn new(option: IoOption, flags: u16, requirement: Requirement) -> Self {
        Self { option, share: ShareDisposition::DeviceExclusive, flags, requirement }
    }
}

/// One typed `IO_RESOURCE_LIST`: a complete acceptable configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoResourceList {
    /// `Version` (1).
    pub version: u16,
    /// `Revision` (1).
    pub revision: u16,
    /// The descriptors, in order (the order is meaningful: it defines the groups).
    pub descriptors: Vec<IoResourceDescriptor>,
}

impl IoResourceList {
    /// A version-1 list of these descriptors.
    pub const fn new(descriptors: Vec<IoResourceDescriptor>) -> Self {
        Self { version: 1, revision: 1, descriptors }
    }

    /// The groups of the list, in order. A leading `ALTERNATIVE` descriptor (which has nothing
    /// before it to be an alternative to) starts a group of its own.
    pub fn groups(&self) -> Groups<'_> {
        Groups { descriptors: &self.descriptors, next: 0 }
    }
}

/// A descriptor and the alternatives that follow it: one resource will be chosen from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceGroup<'a> {
    /// Index in the list of the group's first descriptor.
    pub first_index: usize,
    /// The group's descriptors, in list order.
    pub descriptors: &'a [IoResourceDescriptor],
}

impl<'a> ResourceGroup<'a> {
    /// The descriptors in the order an arbiter tries them: preferred ones first, then the rest,
    /// each in list order; with list indices.
    pub fn preference_order(&self) -> impl Iterator<Item = (usize, &'a IoResourceDescriptor)> + 'a {
        let first = self.first_index;
        let indexed =
            move |(offset, descriptor): (usize, &'a IoResourceDescriptor)| (first + offset, descriptor);
        let preferred =
            self.descriptors.iter().enumerate().filter(|(_, d)| d.option.is_preferred()).map(indexed);
        let others =
            self.descriptors.iter().enumerate().filter(|(_, d)| !d.option.is_preferred()).map(indexed);
        preferred.chain(others)
    }
}

/// Iterator over the [`ResourceGroup`]s of an [`IoResourceList`].
#[derive(Clone, Debug)]
pub struct Groups<'a> {
    descriptors: &'a [IoResourceDescriptor],
    next: usize,
}

impl<'a> Iterator for Groups<'a> {
    type Item = ResourceGroup<'a>;
    fn next(&mut self) -> Option<ResourceGroup<'a>> {
        let first_index = self.next;
        let rest = self.descriptors.get(first_index..).filter(|rest| !rest.is_empty())?;
        let length = 1 + rest[1..].iter().take_while(|d| d.option.is_alternative()).count();
        self.next += length;
        Some(ResourceGroup { first_index, descriptors: &rest[..length] })
    }
}

/// A typed `IO_RESOURCE_REQUIREMENTS_LIST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoResourceRequirementsList {
    /// `InterfaceType`.
    pub interface_type: InterfaceType,
    /// `BusNumber`.
    pub bus_number: u32,
    /// `SlotNumber`.
    pub slot_number: u32,
    /// The alternative lists, most desirable first.
    pub alternatives: Vec<IoResourceList>,
}

impl IoResourceRequirementsList {
    /// A requirements list offering these alternatives.
    pub const fn new(
        interface_type: InterfaceType,
        bus_number: u32,
        slot_number: u32,
        alternatives: Vec<IoResourceList>,
    ) -> Self {
        Self { interface_type, bus_number, slot_number, alternatives }
    }
}

impl fmt::Display for IoOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#04x}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn port(option: IoOption, minimum: u64) -> IoResourceDescriptor {
        IoResourceDescriptor::new(option, 1, Requirement::port(8, 8, BusAddress(minimum), BusAddress(0xFFFF)))
    }

    #[test]
    fn claim_25_option_values() {
        assert_eq!(IoOption::REQUIRED.0, 0);
        assert_eq!(IoOption::PREFERRED.0, 1);
        assert_eq!(IoOption::DEFAULT.0, 2);
        assert_eq!(IoOption::ALTERNATIVE.0, 8);
        assert!(
            IoOption::PREFERRED_ALTERNATIVE.is_preferred()
                && IoOption::PREFERRED_ALTERNATIVE.is_alternative()
        );
        assert!(!IoOption::DEFAULT.is_preferred() && !IoOption::DEFAULT.is_alternative());
    }

    #[test]
    fn claim_25_groups_are_a_descriptor_and_its_alternatives() {
        let list = IoResourceList::new(vec![
            port(IoOption::REQUIRED, 0x100),
            port(IoOption::ALTERNATIVE, 0x200),
            port(IoOption::PREFERRED_ALTERNATIVE, 0x300),
            port(IoOption::PREFERRED, 0x400),
            port(IoOption::REQUIRED, 0x500),
            port(IoOption::ALTERNATIVE, 0x600),
        ]);
        let groups: Vec<_> = list.groups().collect();
        assert_eq!(groups.len(), 3);
        assert_eq!((groups[0].first_index, groups[0].descriptors.len()), (0, 3));
        assert_eq!((groups[1].first_index, groups[1].descriptors.len()), (3, 1));
        assert_eq!((groups[2].first_index, groups[2].descriptors.len()), (4, 2));
        let order: Vec<usize> = groups[0].preference_order().map(|(index, _)| index).collect();
        assert_eq!(order, vec![2, 0, 1]);
        assert_eq!(IoResourceList::new(Vec::new()).groups().count(), 0);
        // A leading alternative stands alone.
        let odd = IoResourceList::new(vec![port(IoOption::ALTERNATIVE, 0), port(IoOption::ALTERNATIVE, 0)]);
        assert_eq!(odd.groups().map(|group| group.descriptors.len()).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn memory_requirement_picks_a_form_for_length_and_alignment() {
        let small = Requirement::memory(0x1000, 0x1000, BusAddress(0), BusAddress(u64::MAX)).unwrap();
        assert_eq!(small.type_code(), CmResourceType::MEMORY);
        let large =
            Requirement::memory(0x4_0000_0000, 0x4_0000_0000, BusAddress(0), BusAddress(u64::MAX)).unwrap();
        assert_eq!(large.type_code(), CmResourceType::MEMORY_LARGE);
        assert!(Requirement::memory(0x4_0000_0000, 1, BusAddress(0), BusAddress(u64::MAX)).is_err());
    }
}
