//! Pairing raw and translated resources (contract §8.5, claim 18), and the seam through which
//! the HAL translates one into the other.
//!
//! `IRP_MN_START_DEVICE` carries two lists: `AllocatedResources` (raw) and
//! `AllocatedResourcesTranslated`. Entry *i* of one and entry *i* of the other describe the same
//! resource, so a [`ResourcePair`] exists only when both lists have the same length and each
//! translated entry is a plausible translation of its raw twin. The translated *type* may differ
//! for ports and memory (the HAL may place ports in memory space and, in principle, memory in
//! port space); every other kind keeps its type.
//!
//! This crate does not translate: bus-relative to CPU addresses is the HAL's business. The HAL
//! implements [`Translator`]; [`ResourcePair::translate`] applies it entry by entry.

use alloc::vec::Vec;
use core::fmt;

use crate::resource::{
    Raw, RawResourceList, Resource, ResourceEntry, ResourceList, Translated, TranslatedResourceList,
};

/// Why a translator could not translate one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslationError {
    /// No bridge window of the bus decodes the raw range (or vector).
    NotDecoded,
    /// The translator cannot express this kind of resource.
    Unsupported,
}

impl fmt::Display for TranslationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotDecoded => f.write_str("no window of the bus decodes the raw resource"),
            Self::Unsupported => f.write_str("the translator does not handle this kind of resource"),
        }
    }
}

impl core::error::Error for TranslationError {}

/// Bus-relative to CPU translation of one resource: implemented by the HAL.
///
/// Only ports, memory and interrupts are passed in; kinds whose content is the same in both
/// views ([`Resource::view_independent`]) are carried over by [`ResourcePair::translate`].
pub trait Translator {
    /// The translated form of `raw`. A port may come back as a memory resource (or as a port
    /// reached in memory space) and memory as a port; interrupts stay interrupts.
    fn translate(&self, raw: &Resource<Raw>) -> Result<Resource<Translated>, TranslationError>;
}

/// Whether `translated` can describe the same resource as `raw`.
fn compatible(raw: &Resource<Raw>, translated: &Resource<Translated>) -> bool {
    use Resource as R;
    match raw {
        R::Port { .. } | R::Memory { .. } => matches!(translated, R::Port { .. } | R::Memory { .. }),
        R::Interrupt { .. } | R::MessageInterrupt { .. } => {
            matches!(translated, R::Interrupt { .. } | R::MessageInterrupt { .. })
        }
        _ => raw.type_code() == translated.type_code(),
    }
}

/// Why [`ResourcePair::new`] refused two lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourcePairError {
    /// The lists have different lengths.
    LengthMismatch {
        /// Entries in the raw list.
        raw: usize,
        /// Entries in the translated list.
        translated: usize,
    },
    /// Entry `index` of the translated list cannot be a translation of raw entry `index`.
    KindMismatch {
        /// The entry.
        index: usize,
    },
}

impl fmt::Display for ResourcePairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch { raw, translated } => {
                write!(f, "{raw} raw entries but {translated} translated entries")
            }
            Self::KindMismatch { index } => {
                write!(f, "entry {index}: translated kind does not match the raw kind")
            }
        }
    }
}

impl core::error::Error for ResourcePairError {}

/// Why [`ResourcePair::translate`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslatePairError {
    /// The translator refused entry `index`.
    Failed {
        /// The entry.
        index: usize,
        /// The translator's reason.
        error: TranslationError,
    },
    /// The translator returned a kind that cannot describe raw entry `index`.
    KindMismatch {
        /// The entry.
        index: usize,
    },
}

impl fmt::Display for TranslatePairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed { index, error } => write!(f, "entry {index}: {error}"),
            Self::KindMismatch { index } => {
                write!(f, "entry {index}: translated kind does not match the raw kind")
            }
        }
    }
}

impl core::error::Error for TranslatePairError {}

/// A device's raw and translated resources, index-aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourcePair {
    raw: RawResourceList,
    translated: TranslatedResourceList,
}

impl ResourcePair {
    /// Pairs two lists that describe the same resources in the same order.
    pub fn new(raw: RawResourceList, translated: TranslatedResourceList) -> Result<Self, ResourcePairError> {
        if raw.len() != translated.len() {
            return Err(ResourcePairError::LengthMismatch { raw: raw.len(), translated: translated.len() });
        }
        if let Some(index) = raw
            .iter()
            .zip(translated.iter())
            .position(|(raw, translated)| !compatible(&raw.resource, &translated.resource))
        {
            return Err(ResourcePairError::KindMismatch { index });
        }
        Ok(Self { raw, translated })
    }

    /// Translates every entry of `raw` with `translator` (view-independent kinds are carried
    /// over unchanged), keeping each entry's share disposition and position.
    pub fn translate(raw: RawResourceList, translator: &dyn Translator) -> Result<Self, TranslatePairError> {
        let mut entries = Vec::with_capacity(raw.len());
        for (index, entry) in raw.iter().enumerate() {
            let resource = match entry.resource.view_independent() {
                Some(same) => same,
                None => translator
                    .translate(&entry.resource)
                    .map_err(|error| TranslatePairError::Failed { index, error })?,
            };
            if !compatible(&entry.resource, &resource) {
                return Err(TranslatePairError::KindMismatch { index });
            }
            entries.push(ResourceEntry { share: entry.share, resource });
        }
        // Same length and kinds as a valid raw list, so the list invariants hold; a translator
        // cannot introduce a DeviceSpecific entry because kinds must match.
        let translated =
            ResourceList::new(entries).map_err(|_| TranslatePairError::KindMismatch { index: 0 })?;
        Ok(Self { raw, translated })
    }

    /// `AllocatedResources`: the bus-relative list.
    pub fn raw(&self) -> &RawResourceList {
        &self.raw
    }

    /// `AllocatedResourcesTranslated`: the CPU-side list.
    pub fn translated(&self) -> &TranslatedResourceList {
        &self.translated
    }

    /// Number of resources (the same in both lists).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the device has no resources.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Raw and translated entry `index` together.
    pub fn get(&self, index: usize) -> Option<(&ResourceEntry<Raw>, &ResourceEntry<Translated>)> {
        Some((self.raw.get(index)?, self.translated.get(index)?))
    }

    /// Raw and translated entries side by side, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&ResourceEntry<Raw>, &ResourceEntry<Translated>)> {
        self.raw.iter().zip(self.translated.iter())
    }

    /// The two lists, giving up the pair.
    pub fn into_parts(self) -> (RawResourceList, TranslatedResourceList) {
        (self.raw, self.translated)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use iospace_mm::address::PhysicalAddress;

    use super::*;
    use crate::cm_constants::{CM_RESOURCE_PORT_IO, ShareDisposition};
    use crate::resource::{BusAddress, IoPort, PortLocation};

    /// A test HAL: memory at bus + 0x1_0000_0000; ports either in I/O space as-is or in memory
    /// space at 0xE000_0000 + port; interrupt vector = line + 0x30.
    struct OffsetHal {
        ports_in_memory: bool,
    }

    impl Translator for OffsetHal {
        fn translate(&self, raw: &Resource<Raw>) -> Result<Resource<Translated>, TranslationError> {
            match *raw {
                Resource::Port { start, length, flags } if self.ports_in_memory => Ok(Resource::Port {
                    start: PortLocation::Memory(PhysicalAddress(0xE000_0000 + start.0)),
                    length,
                    flags,
                }),
                Resource::Port { start, length, flags } => Ok(Resource::Port {
                    start: PortLocation::Io(IoPort(
                        u32::try_from(start.0).map_err(|_| TranslationError::NotDecoded)?,
                    )),
                    length,
                    flags,
                }),
                Resource::Memory { start, length, flags } => {
                    Ok(Resource::Memory { start: PhysicalAddress(start.0 + 0x1_0000_0000), length, flags })
                }
                Resource::Interrupt { level, group, vector, affinity, flags } => Ok(Resource::Interrupt {
                    level: level + 0x30,
                    group,
                    vector: vector + 0x30,
                    affinity,
                    flags,
                }),
                _ => Err(TranslationError::Unsupported),
            }
        }
    }

    fn raw_list() -> RawResourceList {
        ResourceList::new(vec![
            ResourceEntry::exclusive(Resource::Port {
                start: BusAddress(0x3F8),
                length: 8,
                flags: CM_RESOURCE_PORT_IO,
            }),
            ResourceEntry::exclusive(Resource::memory(BusAddress(0xFEBF_0000), 0x1000, 0).unwrap()),
            ResourceEntry {
                share: ShareDisposition::Shared,
                resource: Resource::Interrupt { level: 4, group: 0, vector: 4, affinity: 1, flags: 0 },
            },
            ResourceEntry::exclusive(Resource::DevicePrivate { data: [1, 2, 3], flags: 0 }),
        ])
        .unwrap()
    }

    #[test]
    fn claim_18_entry_i_of_both_lists_describes_the_same_resource() {
        let pair = ResourcePair::translate(raw_list(), &OffsetHal { ports_in_memory: false }).unwrap();
        assert_eq!(pair.raw().len(), pair.translated().len());
        assert_eq!(pair.len(), 4);
        let (raw, translated) = pair.get(1).unwrap();
        assert!(matches!(raw.resource, Resource::Memory { start: BusAddress(0xFEBF_0000), .. }));
        assert!(matches!(
            translated.resource,
            Resource::Memory { start: PhysicalAddress(0x1_FEBF_0000), .. }
        ));
        let (raw, translated) = pair.get(2).unwrap();
        assert_eq!(raw.share, translated.share);
        assert!(matches!(translated.resource, Resource::Interrupt { vector: 0x34, .. }));
        assert_eq!(pair.get(3).unwrap().1.resource, Resource::DevicePrivate { data: [1, 2, 3], flags: 0 });
        assert!(pair.get(4).is_none());
        assert_eq!(pair.iter().count(), 4);
    }

    #[test]
    fn claim_18_a_pair_needs_equal_lengths() {
        let translated = ResourcePair::translate(raw_list(), &OffsetHal { ports_in_memory: false })
            .unwrap()
            .into_parts()
            .1;
        let mut shorter = translated.clone().into_entries();
        shorter.pop();
        assert_eq!(
            ResourcePair::new(raw_list(), ResourceList::new(shorter).unwrap()),
            Err(ResourcePairError::LengthMismatch { raw: 4, translated: 3 })
        );
        assert!(ResourcePair::new(raw_list(), translated.clone()).is_ok());
        let mut swapped = translated.into_entries();
        swapped.swap(2, 3);
        assert_eq!(
            ResourcePair::new(raw_list(), ResourceList::new(swapped).unwrap()),
            Err(ResourcePairError::KindMismatch { index: 2 })
        );
    }

    #[test]
    fn claim_18_a_port_may_translate_to_memory_space() {
        let pair = ResourcePair::translate(raw_list(), &OffsetHal { ports_in_memory: true }).unwrap();
        let (raw, translated) = pair.get(0).unwrap();
        assert!(matches!(raw.resource, Resource::Port { start: BusAddress(0x3F8), .. }));
        assert!(matches!(
            translated.resource,
            Resource::Port { start: PortLocation::Memory(PhysicalAddress(0xE000_03F8)), .. }
        ));
    }

    #[test]
    fn translator_failures_name_the_entry() {
        struct Refuses;
        impl Translator for Refuses {
            fn translate(&self, _: &Resource<Raw>) -> Result<Resource<Translated>, TranslationError> {
                Err(TranslationError::NotDecoded)
            }
        }
        assert_eq!(
            ResourcePair::translate(raw_list(), &Refuses),
            Err(TranslatePairError::Failed { index: 0, error: TranslationError::NotDecoded })
        );
        struct Confused;
        impl Translator for Confused {
            fn translate(&self, _: &Resource<Raw>) -> Result<Resource<Translated>, TranslationError> {
                Ok(Resource::Dma { channel: 0, port: 0, flags: 0 })
            }
        }
        assert_eq!(
            ResourcePair::translate(raw_list(), &Confused),
            Err(TranslatePairError::KindMismatch { index: 0 })
        );
    }
}
