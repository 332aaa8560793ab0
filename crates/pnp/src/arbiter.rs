//! The resource arbiter: turns a device's requirements into a non-overlapping raw assignment.
//!
//! Everything here is bus-relative (contract §8.4: requirements are always raw). The arbiter
//! knows the bus's decodable windows per address space, the ranges already in use (legacy
//! devices, firmware: [`Arbiter::reserve`]) and what it has handed out; translation to CPU
//! addresses happens afterwards, in the HAL ([`crate::translation`]).
//!
//! Assignment (claim 25): the alternative lists are tried in order and the first that fits
//! completely wins. Within a list, each group (a descriptor and its `ALTERNATIVE`s) gets one
//! resource: preferred descriptors first, then the others in list order. A memory or port range
//! goes at the lowest start S with S mod Alignment = 0, Minimum <= S, S + Length − 1 <= Maximum,
//! inside a window, overlapping nothing reserved or assigned. A device gets all of a list or
//! nothing: a list that fails part-way gives back what it took before the next list is tried.
//!
//! Bench decisions: the search is greedy per group (no backtracking into earlier groups);
//! memory, port and bus-number ranges are never shared; interrupt vectors and DMA channels whose
//! requirement says `CmResourceShareShared` may be given to several shared users, and a free
//! number is preferred to a shared one. Alignment 0 means 1; a zero length never fits.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::ops::RangeInclusive;

use crate::cm_constants::{
    CM_RESOURCE_INTERRUPT_MESSAGE, CM_RESOURCE_MEMORY_LARGE, CmResourceType, ShareDisposition,
};
use crate::large_memory::MemoryLength;
use crate::requirements::{IoResourceDescriptor, IoResourceList, IoResourceRequirementsList, Requirement};
use crate::resource::{
    BusAddress, Raw, RawMessageInterrupt, RawResourceList, Resource, ResourceEntry, ResourceList,
};

/// A bus address space that has windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressSpace {
    /// Memory space.
    Memory,
    /// I/O (port) space.
    Port,
}

/// A bus-relative range a bus decodes (for example a PCI host bridge's 32-bit memory window
/// 0xC000_0000..=0xFEBF_FFFF, or ports 0x1000..=0xFFFF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// The space.
    pub space: AddressSpace,
    /// First decoded address.
    pub first: BusAddress,
    /// Last decoded address (inclusive, so a window may end at the top of the space).
    pub last: BusAddress,
}

impl Window {
    /// The window `first..=last` (empty if `last < first`).
    pub const fn inclusive(space: AddressSpace, first: BusAddress, last: BusAddress) -> Self {
        Self { space, first, last }
    }

    /// The window of `length` bytes at `start`, or `None` if it is empty or wraps.
    pub const fn new(space: AddressSpace, start: BusAddress, length: u64) -> Option<Self> {
        match inclusive_end(start.0, length) {
            Some(last) => Some(Self { space, first: start, last: BusAddress(last) }),
            None => None,
        }
    }
}

/// `start + length − 1`, or `None` for an empty or wrapping range.
const fn inclusive_end(start: u64, length: u64) -> Option<u64> {
    if length == 0 {
        return None;
    }
    start.checked_add(length - 1)
}

/// The smallest multiple of `alignment` (>= 1) that is >= `value`.
fn align_up(value: u64, alignment: u64) -> Option<u64> {
    let remainder = value % alignment;
    if remainder == 0 { Some(value) } else { value.checked_add(alignment - remainder) }
}

/// Adds `first..=last` to sorted, disjoint, non-adjacent ranges, merging where they touch.
fn merge_range(ranges: &mut Vec<(u64, u64)>, first: u64, last: u64) {
    if first > last {
        return;
    }
    ranges.push((first, last));
    ranges.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ranges.len());
    for &(first, last) in ranges.iter() {
        match merged.last_mut() {
            Some(previous) if previous.1.checked_add(1).is_none_or(|next| first <= next) => {
                previous.1 = previous.1.max(last);
            }
            _ => merged.push((first, last)),
        }
    }
    *ranges = merged;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Reserved,
    Assigned,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UsedRange {
    last: u64,
    owner: Owner,
}

/// Ranges of one space: where the bus decodes, and what is taken.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct RangeAllocator {
    windows: Vec<(u64, u64)>,
    /// Disjoint ranges in use, keyed by first address: an ordered map makes the overlap test
    /// one lookup and the lowest-fit search skip whole allocations.
    used: BTreeMap<u64, UsedRange>,
}

impl RangeAllocator {
    fn overlaps(&self, first: u64, last: u64) -> bool {
        self.used.range(..=last).next_back().is_some_and(|(_, used)| used.last >= first)
    }

    /// The lowest aligned start of `length` units in a window and in `minimum..=maximum` that
    /// overlaps nothing in use.
    fn find_lowest(&self, length: u64, alignment: u64, minimum: u64, maximum: u64) -> Option<u64> {
        let alignment = alignment.max(1);
        for &(window_first, window_last) in &self.windows {
            let low = window_first.max(minimum);
            let high = window_last.min(maximum);
            if low > high {
                continue;
            }
            let Some(mut start) = align_up(low, alignment) else { continue };
            while let Some(end) = inclusive_end(start, length).filter(|end| *end <= high) {
                // Ranges in use are disjoint, so the one starting last at or before `end` is
                // the only one that can reach back over `start`.
                match self.used.range(..=end).next_back() {
                    Some((_, used)) if used.last >= start => {
                        match used.last.checked_add(1).and_then(|next| align_up(next, alignment)) {
                            Some(next) => start = next,
                            None => break,
                        }
                    }
                    _ => return Some(start),
                }
            }
        }
        None
    }

    fn take(&mut self, first: u64, last: u64, owner: Owner) {
        self.used.insert(first, UsedRange { last, owner });
    }

    /// Removes an assigned range exactly matching `first..=last`.
    fn give_back(&mut self, first: u64, last: u64) -> bool {
        let matches =
            self.used.get(&first).is_some_and(|used| used.last == last && used.owner == Owner::Assigned);
        if matches {
            self.used.remove(&first);
        }
        matches
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberUse {
    Reserved,
    Assigned { shared: bool, users: u32 },
}

/// A pool of numbers (interrupt vectors, DMA channels).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct NumberPool {
    ranges: Vec<(u64, u64)>,
    used: BTreeMap<u64, NumberUse>,
}

impl NumberPool {
    /// The lowest free number of the pool in `minimum..=maximum`, else (for a shared request)
    /// the lowest one already handed out as shared.
    fn find(&self, minimum: u64, maximum: u64, shared: bool) -> Option<u64> {
        for &(first, last) in &self.ranges {
            let (low, high) = (first.max(minimum), last.min(maximum));
            if low > high {
                continue;
            }
            let mut candidate = low;
            for (&number, _) in self.used.range(low..=high) {
                if number > candidate {
                    return Some(candidate);
                }
                candidate = number + 1;
            }
            if candidate <= high {
                return Some(candidate);
            }
        }
        if !shared {
            return None;
        }
        self.ranges.iter().find_map(|&(first, last)| {
            let (low, high) = (first.max(minimum), last.min(maximum));
            if low > high {
                return None;
            }
            self.used.range(low..=high).find_map(|(&number, usage)| {
                matches!(usage, NumberUse::Assigned { shared: true, .. }).then_some(number)
            })
        })
    }

    fn take(&mut self, number: u64, shared: bool) {
        match self.used.get_mut(&number) {
            Some(NumberUse::Assigned { users, .. }) => *users = users.saturating_add(1),
            _ => {
                self.used.insert(number, NumberUse::Assigned { shared, users: 1 });
            }
        }
    }

    /// Drops one user of an assigned number; the previous state, for undo.
    fn give_back(&mut self, number: u64) -> Option<NumberUse> {
        let previous = *self.used.get(&number)?;
        match previous {
            NumberUse::Reserved => return None,
            NumberUse::Assigned { users: 1, .. } => {
                self.used.remove(&number);
            }
            NumberUse::Assigned { shared, users } => {
                self.used.insert(number, NumberUse::Assigned { shared, users: users - 1 });
            }
        }
        Some(previous)
    }
}

/// Which allocator a claim came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Claim {
    Range { pool: RangePool, first: u64, last: u64 },
    Number { pool: NumberKind, number: u64, previous: Option<NumberUse> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RangePool {
    Memory,
    Port,
    Bus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NumberKind {
    Interrupt,
    Dma,
}

/// Why one descriptor could not be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    NoFit,
    Unsupported(CmResourceType),
}

/// Why [`Arbiter::assign`] found no assignment. Reported for the first alternative list (the
/// device's most desirable configuration); nothing is assigned when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArbiterError {
    /// No descriptor of a group fits.
    NoFit {
        /// Index of the alternative list.
        list: usize,
        /// Index in that list of the group's first descriptor.
        descriptor: usize,
    },
    /// A group asks only for an arbitrated type this arbiter does not assign.
    Unsupported {
        /// Index of the alternative list.
        list: usize,
        /// Index in that list of the group's first descriptor.
        descriptor: usize,
        /// The type.
        type_code: CmResourceType,
    },
}

impl fmt::Display for ArbiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFit { list, descriptor } => {
                write!(f, "list {list}: nothing fits the group at descriptor {descriptor}")
            }
            Self::Unsupported { list, descriptor, type_code } => {
                write!(
                    f,
                    "list {list}: descriptor {descriptor} asks for {type_code:?}, which is not arbitrated here"
                )
            }
        }
    }
}

impl core::error::Error for ArbiterError {}

/// Why [`Arbiter::reserve`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReserveError {
    /// An empty or wrapping range.
    BadRange,
    /// The range overlaps one already reserved or assigned.
    Overlaps,
}

impl fmt::Display for ReserveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRange => f.write_str("the range is empty or wraps"),
            Self::Overlaps => f.write_str("the range overlaps one already in use"),
        }
    }
}

impl core::error::Error for ReserveError {}

/// Why [`Arbiter::release`] refused. Nothing is released when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReleaseError {
    /// Entry `index` is not something this arbiter assigned.
    NotAssigned {
        /// The entry.
        index: usize,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAssigned { index } => write!(f, "entry {index} was not assigned by this arbiter"),
        }
    }
}

impl core::error::Error for ReleaseError {}

/// Assigns bus-relative resources to devices without overlap.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Arbiter {
    memory: RangeAllocator,
    ports: RangeAllocator,
    buses: RangeAllocator,
    interrupts: NumberPool,
    dma: NumberPool,
}

impl Arbiter {
    /// An arbiter for a bus that decodes these windows (and no interrupts, DMA channels or bus
    /// numbers until they are added).
    pub fn new(windows: impl IntoIterator<Item = Window>) -> Self {
        let mut arbiter = Self::default();
        for window in windows {
            arbiter.add_window(window);
        }
        arbiter
    }

    /// Adds a decodable window (overlapping or adjacent windows merge).
    pub fn add_window(&mut self, window: Window) {
        let allocator = match window.space {
            AddressSpace::Memory => &mut self.memory,
            AddressSpace::Port => &mut self.ports,
        };
        merge_range(&mut allocator.windows, window.first.0, window.last.0);
    }

    /// Adds interrupt vectors (bus interrupt lines) the arbiter may hand out.
    pub fn add_interrupt_vectors(&mut self, vectors: RangeInclusive<u32>) {
        merge_range(&mut self.interrupts.ranges, u64::from(*vectors.start()), u64::from(*vectors.end()));
    }

    /// Adds DMA channels the arbiter may hand out.
    pub fn add_dma_channels(&mut self, channels: RangeInclusive<u32>) {
        merge_range(&mut self.dma.ranges, u64::from(*channels.start()), u64::from(*channels.end()));
    }

    /// Adds bus numbers the arbiter may hand out (to bridges).
    pub fn add_bus_numbers(&mut self, buses: RangeInclusive<u32>) {
        merge_range(&mut self.buses.windows, u64::from(*buses.start()), u64::from(*buses.end()));
    }

    /// Marks `length` units at `start` as in use by something the arbiter does not manage
    /// (COM1 at ports 0x3F8..=0x3FF, firmware memory). The range may lie outside every window.
    pub fn reserve(
        &mut self,
        space: AddressSpace,
        start: BusAddress,
        length: u64,
    ) -> Result<(), ReserveError> {
        let last = inclusive_end(start.0, length).ok_or(ReserveError::BadRange)?;
        let allocator = self.ranges_mut(space);
        if allocator.overlaps(start.0, last) {
            return Err(ReserveError::Overlaps);
        }
        allocator.take(start.0, last, Owner::Reserved);
        Ok(())
    }

    /// Marks an interrupt vector as used by something the arbiter does not manage.
    pub fn reserve_interrupt(&mut self, vector: u32) -> Result<(), ReserveError> {
        let vector = u64::from(vector);
        if self.interrupts.used.contains_key(&vector) {
            return Err(ReserveError::Overlaps);
        }
        self.interrupts.used.insert(vector, NumberUse::Reserved);
        Ok(())
    }

    /// Whether `length` units at `start` are free of reservations and assignments.
    pub fn is_free(&self, space: AddressSpace, start: BusAddress, length: u64) -> bool {
        let allocator = match space {
            AddressSpace::Memory => &self.memory,
            AddressSpace::Port => &self.ports,
        };
        inclusive_end(start.0, length).is_some_and(|last| !allocator.overlaps(start.0, last))
    }

    fn ranges_mut(&mut self, space: AddressSpace) -> &mut RangeAllocator {
        match space {
            AddressSpace::Memory => &mut self.memory,
            AddressSpace::Port => &mut self.ports,
        }
    }

    fn range_pool(&mut self, pool: RangePool) -> &mut RangeAllocator {
        match pool {
            RangePool::Memory => &mut self.memory,
            RangePool::Port => &mut self.ports,
            RangePool::Bus => &mut self.buses,
        }
    }

    fn number_pool(&mut self, pool: NumberKind) -> &mut NumberPool {
        match pool {
            NumberKind::Interrupt => &mut self.interrupts,
            NumberKind::Dma => &mut self.dma,
        }
    }

    /// Assigns one configuration of `requirements`, all or nothing (claim 25). A device with
    /// no alternative lists, or an empty list, needs nothing and gets an empty list.
    pub fn assign(
        &mut self,
        requirements: &IoResourceRequirementsList,
    ) -> Result<RawResourceList, ArbiterError> {
        let mut first_failure = None;
        for (list_index, list) in requirements.alternatives.iter().enumerate() {
            match self.assign_list(list) {
                Ok(entries) => match ResourceList::new(entries) {
                    Ok(assigned) => return Ok(assigned),
                    // Unreachable (requirements hold no DeviceSpecific), but never keep a
                    // half-described assignment.
                    Err(_) => {
                        first_failure.get_or_insert(ArbiterError::Unsupported {
                            list: list_index,
                            descriptor: 0,
                            type_code: CmResourceType::DEVICE_SPECIFIC,
                        });
                    }
                },
                Err((descriptor, refusal)) => {
                    first_failure.get_or_insert(match refusal {
                        Refusal::NoFit => ArbiterError::NoFit { list: list_index, descriptor },
                        Refusal::Unsupported(type_code) => {
                            ArbiterError::Unsupported { list: list_index, descriptor, type_code }
                        }
                    });
                }
            }
        }
        first_failure.map_or(Ok(ResourceList::empty()), Err)
    }

    /// One list: a resource per group, or nothing taken and the failing group's first index.
    fn assign_list(&mut self, list: &IoResourceList) -> Result<Vec<ResourceEntry<Raw>>, (usize, Refusal)> {
        let mut claims = Vec::new();
        let mut entries = Vec::new();
        for group in list.groups() {
            let mut satisfied = false;
            for (_, descriptor) in group.preference_order() {
                if let Ok((claim, entry)) = self.claim(descriptor) {
                    claims.extend(claim);
                    entries.extend(entry);
                    satisfied = true;
                    break;
                }
            }
            if !satisfied {
                for claim in claims.into_iter().rev() {
                    self.undo(claim);
                }
                // Lack of space is the actionable reason whenever any candidate was assignable.
                let refusal = match group.descriptors.iter().find(|d| Self::supported(&d.requirement)) {
                    Some(_) => Refusal::NoFit,
                    None => Refusal::Unsupported(
                        group.descriptors.first().map_or(CmResourceType::NULL, |d| d.requirement.type_code()),
                    ),
                };
                return Err((group.first_index, refusal));
            }
        }
        Ok(entries)
    }

    fn supported(requirement: &Requirement) -> bool {
        !matches!(requirement, Requirement::Other { type_code, .. } if type_code.is_arbitrated())
    }

    /// Takes what one descriptor asks for. `Ok((None, None))` for a descriptor that needs no
    /// resource (ConfigData, other non-arbitrated types).
    fn claim(
        &mut self,
        descriptor: &IoResourceDescriptor,
    ) -> Result<(Option<Claim>, Option<ResourceEntry<Raw>>), Refusal> {
        let share = descriptor.share;
        let shared = share == ShareDisposition::Shared;
        let flags = descriptor.flags;
        let entry = |resource| Some(ResourceEntry { share, resource });
        match &descriptor.requirement {
            Requirement::Port { length, alignment, minimum, maximum } => {
                let claim = self.claim_range(
                    RangePool::Port,
                    u64::from(*length),
                    u64::from(*alignment),
                    *minimum,
                    *maximum,
                )?;
                let resource =
                    Resource::Port { start: BusAddress(range_first(claim)), length: *length, flags };
                Ok((Some(claim), entry(resource)))
            }
            Requirement::Memory { range, minimum, maximum } => {
                let length = range.length.bytes();
                // Every length a requirement can state has a descriptor encoding; refuse
                // rather than assume it.
                let encoded = MemoryLength::encode(length).map_err(|_| Refusal::NoFit)?;
                let claim =
                    self.claim_range(RangePool::Memory, length, range.alignment_bytes(), *minimum, *maximum)?;
                let resource = Resource::Memory {
                    start: BusAddress(range_first(claim)),
                    length: encoded,
                    flags: flags & !CM_RESOURCE_MEMORY_LARGE,
                };
                Ok((Some(claim), entry(resource)))
            }
            Requirement::Interrupt { minimum_vector, maximum_vector, group, targeted_processors, .. } => {
                let message = flags & CM_RESOURCE_INTERRUPT_MESSAGE != 0;
                // A line-based raw interrupt repeats the line in the 16-bit Level field.
                let maximum =
                    if message { *maximum_vector } else { (*maximum_vector).min(u32::from(u16::MAX)) };
                let claim = self.claim_number(NumberKind::Interrupt, *minimum_vector, maximum, shared)?;
                let vector = claim_number(claim);
                let affinity = if *targeted_processors == 0 { u64::MAX } else { *targeted_processors };
                let resource = if message {
                    let message = RawMessageInterrupt { group: *group, message_count: 1, vector, affinity };
                    Resource::MessageInterrupt { message, flags }
                } else {
                    Resource::Interrupt { level: vector as u16, group: *group, vector, affinity, flags }
                };
                Ok((Some(claim), entry(resource)))
            }
            Requirement::Dma { minimum_channel, maximum_channel } => {
                let claim = self.claim_number(NumberKind::Dma, *minimum_channel, *maximum_channel, shared)?;
                Ok((Some(claim), entry(Resource::Dma { channel: claim_number(claim), port: 0, flags })))
            }
            Requirement::DmaV3 { request_line, channel, transfer_width } => {
                let transfer_width = u8::try_from(*transfer_width).map_err(|_| Refusal::NoFit)?;
                let claim = self.claim_number(NumberKind::Dma, *channel, *channel, shared)?;
                let resource =
                    Resource::DmaV3 { channel: *channel, request_line: *request_line, transfer_width, flags };
                Ok((Some(claim), entry(resource)))
            }
            Requirement::BusNumber { length, minimum, maximum } => {
                let claim = self.claim_range(
                    RangePool::Bus,
                    u64::from(*length),
                    1,
                    BusAddress(u64::from(*minimum)),
                    BusAddress(u64::from(*maximum)),
                )?;
                let resource =
                    Resource::BusNumber { start: range_first(claim) as u32, length: *length, flags };
                Ok((Some(claim), entry(resource)))
            }
            Requirement::DevicePrivate { data } => {
                Ok((None, entry(Resource::DevicePrivate { data: *data, flags })))
            }
            Requirement::ConfigData { .. } => Ok((None, None)),
            Requirement::Other { type_code, .. } if !type_code.is_arbitrated() => Ok((None, None)),
            Requirement::Other { type_code, .. } => Err(Refusal::Unsupported(*type_code)),
        }
    }

    fn claim_range(
        &mut self,
        pool: RangePool,
        length: u64,
        alignment: u64,
        minimum: BusAddress,
        maximum: BusAddress,
    ) -> Result<Claim, Refusal> {
        let allocator = self.range_pool(pool);
        let first = allocator.find_lowest(length, alignment, minimum.0, maximum.0).ok_or(Refusal::NoFit)?;
        let last = inclusive_end(first, length).ok_or(Refusal::NoFit)?;
        allocator.take(first, last, Owner::Assigned);
        Ok(Claim::Range { pool, first, last })
    }

    fn claim_number(
        &mut self,
        pool: NumberKind,
        minimum: u32,
        maximum: u32,
        shared: bool,
    ) -> Result<Claim, Refusal> {
        let numbers = self.number_pool(pool);
        let number = numbers.find(u64::from(minimum), u64::from(maximum), shared).ok_or(Refusal::NoFit)?;
        numbers.take(number, shared);
        Ok(Claim::Number { pool, number, previous: None })
    }

    /// Reverses a claim (a tentative assignment, or a release).
    fn undo(&mut self, claim: Claim) {
        match claim {
            Claim::Range { pool, first, last } => {
                self.range_pool(pool).give_back(first, last);
            }
            Claim::Number { pool, number, previous: None } => {
                self.number_pool(pool).give_back(number);
            }
            // Undoing a release: restore the exact earlier state.
            Claim::Number { pool, number, previous: Some(previous) } => {
                self.number_pool(pool).used.insert(number, previous);
            }
        }
    }

    /// Gives back everything in `resources` (a list this arbiter assigned), all or nothing.
    /// Entries that hold no arbitrated resource (device-private data) are ignored.
    pub fn release(&mut self, resources: &RawResourceList) -> Result<(), ReleaseError> {
        let mut released: Vec<Claim> = Vec::new();
        for (index, entry) in resources.iter().enumerate() {
            match self.release_one(&entry.resource) {
                Ok(claim) => released.extend(claim),
                Err(()) => {
                    for claim in released.into_iter().rev() {
                        match claim {
                            Claim::Range { pool, first, last } => {
                                self.range_pool(pool).take(first, last, Owner::Assigned);
                            }
                            number @ Claim::Number { .. } => self.undo(number),
                        }
                    }
                    return Err(ReleaseError::NotAssigned { index });
                }
            }
        }
        Ok(())
    }

    fn release_one(&mut self, resource: &Resource<Raw>) -> Result<Option<Claim>, ()> {
        let range = |pool, first: u64, length: u64| -> Result<Option<Claim>, ()> {
            let last = inclusive_end(first, length).ok_or(())?;
            Ok(Some(Claim::Range { pool, first, last }))
        };
        let claim = match resource {
            Resource::Port { start, length, .. } => range(RangePool::Port, start.0, u64::from(*length))?,
            Resource::Memory { start, length, .. } => range(RangePool::Memory, start.0, length.bytes())?,
            Resource::BusNumber { start, length, .. } => {
                range(RangePool::Bus, u64::from(*start), u64::from(*length))?
            }
            Resource::Interrupt { vector, .. } => Some(Claim::Number {
                pool: NumberKind::Interrupt,
                number: u64::from(*vector),
                previous: None,
            }),
            Resource::MessageInterrupt { message, .. } => Some(Claim::Number {
                pool: NumberKind::Interrupt,
                number: u64::from(message.vector),
                previous: None,
            }),
            Resource::Dma { channel, .. } | Resource::DmaV3 { channel, .. } => {
                Some(Claim::Number { pool: NumberKind::Dma, number: u64::from(*channel), previous: None })
            }
            _ => None,
        };
        match claim {
            Some(Claim::Range { pool, first, last }) => {
                if self.range_pool(pool).give_back(first, last) {
                    Ok(claim)
                } else {
                    Err(())
                }
            }
            Some(Claim::Number { pool, number, .. }) => {
                let previous = self.number_pool(pool).give_back(number).ok_or(())?;
                Ok(Some(Claim::Number { pool, number, previous: Some(previous) }))
            }
            None => Ok(None),
        }
    }
}

fn range_first(claim: Claim) -> u64 {
    match claim {
        Claim::Range { first, .. } => first,
        Claim::Number { number, .. } => number,
    }
}

fn claim_number(claim: Claim) -> u32 {
    // Numbers come from u32 pools and requests.
    range_first(claim) as u32
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::cm_constants::{CM_RESOURCE_PORT_IO, InterfaceType};
    use crate::requirements::IoOption;

    const PCI32: Window =
        Window::inclusive(AddressSpace::Memory, BusAddress(0xC000_0000), BusAddress(0xFEBF_FFFF));
    const PCI64: Window =
        Window::inclusive(AddressSpace::Memory, BusAddress(0x80_0000_0000), BusAddress(0xFF_FFFF_FFFF));
    const PORTS: Window = Window::inclusive(AddressSpace::Port, BusAddress(0x1000), BusAddress(0xFFFF));

    fn pci() -> Arbiter {
        let mut arbiter = Arbiter::new([PCI32, PCI64, PORTS]);
        arbiter.add_interrupt_vectors(16..=23);
        arbiter
    }

    fn memory(
        option: IoOption,
        length: u64,
        alignment: u64,
        minimum: u64,
        maximum: u64,
    ) -> IoResourceDescriptor {
        IoResourceDescriptor::new(
            option,
            0,
            Requirement::memory(length, alignment, BusAddress(minimum), BusAddress(maximum)).unwrap(),
        )
    }

    fn port(
        option: IoOption,
        length: u32,
        alignment: u32,
        minimum: u64,
        maximum: u64,
    ) -> IoResourceDescriptor {
        IoResourceDescriptor::new(
            option,
            CM_RESOURCE_PORT_IO,
            Requirement::port(length, alignment, BusAddress(minimum), BusAddress(maximum)),
        )
    }

    fn device(lists: Vec<Vec<IoResourceDescriptor>>) -> IoResourceRequirementsList {
        IoResourceRequirementsList::new(
            InterfaceType::PCI_BUS,
            0,
            0,
            lists.into_iter().map(IoResourceList::new).collect(),
        )
    }

    fn start_of(entry: &ResourceEntry<Raw>) -> u64 {
        match &entry.resource {
            Resource::Port { start, .. } | Resource::Memory { start, .. } => start.0,
            other => panic!("not a range: {other:?}"),
        }
    }

    #[test]
    fn claim_25_assignment_respects_alignment_minimum_and_maximum() {
        let mut arbiter = pci();
        let first = arbiter
            .assign(&device(vec![vec![memory(IoOption::REQUIRED, 0x1000, 0x1000, 0, u64::MAX)]]))
            .unwrap();
        assert_eq!(start_of(&first.entries()[0]), 0xC000_0000, "lowest fit");
        // A 1 MiB-aligned BAR skips past the first one to the next 1 MiB boundary.
        let second = arbiter
            .assign(&device(vec![vec![memory(IoOption::REQUIRED, 0x10_0000, 0x10_0000, 0, u64::MAX)]]))
            .unwrap();
        assert_eq!(start_of(&second.entries()[0]), 0xC010_0000);
        // Minimum pushes the start up; alignment rounds the minimum up.
        let third = arbiter
            .assign(&device(vec![vec![memory(IoOption::REQUIRED, 0x1000, 0x4000, 0xD000_0001, u64::MAX)]]))
            .unwrap();
        assert_eq!(start_of(&third.entries()[0]), 0xD000_4000);
        // Maximum is inclusive: the last byte may sit exactly on it.
        let fourth = arbiter
            .assign(&device(vec![vec![memory(IoOption::REQUIRED, 0x1000, 0x1000, 0xE000_0000, 0xE000_0FFF)]]))
            .unwrap();
        assert_eq!(start_of(&fourth.entries()[0]), 0xE000_0000);
        // ... and one byte less does not fit.
        assert_eq!(
            arbiter.assign(&device(vec![vec![memory(
                IoOption::REQUIRED,
                0x1000,
                0x1000,
                0xE000_1000,
                0xE000_1FFE
            )]])),
            Err(ArbiterError::NoFit { list: 0, descriptor: 0 })
        );
        // A 64-bit-only requirement lands in the 64-bit window.
        let high = arbiter
            .assign(&device(vec![vec![memory(
                IoOption::REQUIRED,
                0x4_0000_0000,
                0x4_0000_0000,
                0x1_0000_0000,
                u64::MAX,
            )]]))
            .unwrap();
        assert_eq!(start_of(&high.entries()[0]), 0x80_0000_0000);
        assert!(matches!(
            high.entries()[0].resource,
            Resource::Memory { length, .. } if length.bytes() == 0x4_0000_0000 && length.units() == 0x0400_0000
        ));
    }

    #[test]
    fn claim_25_preferred_descriptor_is_tried_first() {
        let mut arbiter = pci();
        let list = vec![
            port(IoOption::REQUIRED, 8, 8, 0x2000, 0x2FFF),
            port(IoOption::PREFERRED_ALTERNATIVE, 8, 8, 0x3000, 0x3FFF),
            port(IoOption::ALTERNATIVE, 8, 8, 0x4000, 0x4FFF),
        ];
        let assigned = arbiter.assign(&device(vec![list.clone()])).unwrap();
        assert_eq!(assigned.len(), 1, "one resource per group");
        assert_eq!(start_of(&assigned.entries()[0]), 0x3000);
        // Fill the preferred range: the next device falls back to the first descriptor.
        arbiter.reserve(AddressSpace::Port, BusAddress(0x3008), 0xFF8).unwrap();
        let assigned = arbiter.assign(&device(vec![list])).unwrap();
        assert_eq!(start_of(&assigned.entries()[0]), 0x2000);
    }

    #[test]
    fn claim_25_alternative_descriptor_used_when_the_first_does_not_fit() {
        let mut arbiter = pci();
        arbiter.reserve(AddressSpace::Port, BusAddress(0x2000), 0x1000).unwrap();
        let assigned = arbiter
            .assign(&device(vec![vec![
                port(IoOption::REQUIRED, 8, 8, 0x2000, 0x2FFF),
                port(IoOption::ALTERNATIVE, 8, 8, 0x4000, 0x4FFF),
            ]]))
            .unwrap();
        assert_eq!(start_of(&assigned.entries()[0]), 0x4000);
    }

    #[test]
    fn claim_25_next_alternative_list_when_the_first_list_fails_and_rollback() {
        let mut arbiter = pci();
        let before = arbiter.clone();
        // List 0: a port that fits, then memory that cannot (below every window).
        // List 1: a different port and a memory range that fits.
        let requirements = device(vec![
            vec![
                port(IoOption::REQUIRED, 8, 8, 0x1000, 0xFFFF),
                memory(IoOption::REQUIRED, 0x1000, 0x1000, 0, 0xFFFF),
            ],
            vec![
                port(IoOption::REQUIRED, 0x10, 0x10, 0x5000, 0xFFFF),
                memory(IoOption::REQUIRED, 0x1000, 0x1000, 0, u64::MAX),
            ],
        ]);
        let assigned = arbiter.assign(&requirements).unwrap();
        assert_eq!(start_of(&assigned.entries()[0]), 0x5000);
        assert_eq!(start_of(&assigned.entries()[1]), 0xC000_0000);
        // The port list 0 took was given back: 0x1000 is free again.
        assert!(arbiter.is_free(AddressSpace::Port, BusAddress(0x1000), 8));
        arbiter.release(&assigned).unwrap();
        assert_eq!(arbiter, before);
    }

    #[test]
    fn claim_25_failure_takes_nothing() {
        let mut arbiter = pci();
        arbiter.assign(&device(vec![vec![port(IoOption::REQUIRED, 8, 8, 0x1000, 0xFFFF)]])).unwrap();
        let snapshot = arbiter.clone();
        let impossible = device(vec![
            vec![
                port(IoOption::REQUIRED, 8, 8, 0x1000, 0xFFFF),
                memory(IoOption::REQUIRED, 0x1000, 0x1000, 0, u64::MAX),
                memory(IoOption::REQUIRED, 0x1_0000_0000, 0x1_0000_0000, 0, 0xFFFF_FFFF),
            ],
            vec![memory(IoOption::REQUIRED, 0x1000, 0x1000, 0x10_0000, 0x1F_FFFF)],
        ]);
        assert_eq!(arbiter.assign(&impossible), Err(ArbiterError::NoFit { list: 0, descriptor: 2 }));
        assert_eq!(arbiter, snapshot, "all or nothing");
    }

    #[test]
    fn reservations_are_avoided() {
        let mut arbiter =
            Arbiter::new([Window::inclusive(AddressSpace::Port, BusAddress(0), BusAddress(0xFFFF))]);
        arbiter.reserve(AddressSpace::Port, BusAddress(0x3F8), 8).unwrap();
        assert_eq!(arbiter.reserve(AddressSpace::Port, BusAddress(0x3FF), 1), Err(ReserveError::Overlaps));
        assert_eq!(arbiter.reserve(AddressSpace::Port, BusAddress(u64::MAX), 2), Err(ReserveError::BadRange));
        let assigned =
            arbiter.assign(&device(vec![vec![port(IoOption::REQUIRED, 8, 8, 0x3F0, 0x40F)]])).unwrap();
        assert_eq!(start_of(&assigned.entries()[0]), 0x3F0);
        let assigned =
            arbiter.assign(&device(vec![vec![port(IoOption::REQUIRED, 8, 8, 0x3F0, 0x40F)]])).unwrap();
        assert_eq!(start_of(&assigned.entries()[0]), 0x400, "skips COM1");
        // Reserved ranges are not the arbiter's to release.
        let com1 = ResourceList::new(vec![ResourceEntry::exclusive(Resource::Port {
            start: BusAddress(0x3F8),
            length: 8,
            flags: CM_RESOURCE_PORT_IO,
        })])
        .unwrap();
        assert_eq!(arbiter.release(&com1), Err(ReleaseError::NotAssigned { index: 0 }));
    }

    #[test]
    fn release_is_all_or_nothing() {
        let mut arbiter = pci();
        let assigned = arbiter
            .assign(&device(vec![vec![
                port(IoOption::REQUIRED, 8, 8, 0x1000, 0xFFFF),
                IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    0,
                    Requirement::Interrupt {
                        minimum_vector: 0,
                        maximum_vector: 255,
                        affinity_policy: 0,
                        group: 0,
                        priority_policy: 0,
                        targeted_processors: 0,
                    },
                ),
            ]]))
            .unwrap();
        let snapshot = arbiter.clone();
        let mut bogus = assigned.clone().into_entries();
        bogus.push(ResourceEntry::exclusive(Resource::memory(BusAddress(0xD000_0000), 0x1000, 0).unwrap()));
        let bogus = ResourceList::new(bogus).unwrap();
        assert_eq!(arbiter.release(&bogus), Err(ReleaseError::NotAssigned { index: 2 }));
        assert_eq!(arbiter, snapshot);
        arbiter.release(&assigned).unwrap();
        assert_eq!(
            arbiter.release(&assigned),
            Err(ReleaseError::NotAssigned { index: 0 }),
            "no double release"
        );
    }

    #[test]
    fn interrupts_come_from_the_pool_and_share_only_when_shared() {
        let mut arbiter = Arbiter::default();
        arbiter.add_interrupt_vectors(10..=11);
        arbiter.reserve_interrupt(10).unwrap();
        let interrupt = |share| IoResourceDescriptor {
            option: IoOption::REQUIRED,
            share,
            flags: 0,
            requirement: Requirement::Interrupt {
                minimum_vector: 0,
                maximum_vector: 15,
                affinity_policy: 0,
                group: 0,
                priority_policy: 0,
                targeted_processors: 0b11,
            },
        };
        let shared = device(vec![vec![interrupt(ShareDisposition::Shared)]]);
        let first = arbiter.assign(&shared).unwrap();
        assert_eq!(
            first.entries()[0].resource,
            Resource::Interrupt { level: 11, group: 0, vector: 11, affinity: 0b11, flags: 0 }
        );
        assert_eq!(first.entries()[0].share, ShareDisposition::Shared);
        let second = arbiter.assign(&shared).unwrap();
        assert_eq!(second.entries()[0].resource, first.entries()[0].resource, "shared line");
        let exclusive = device(vec![vec![interrupt(ShareDisposition::DeviceExclusive)]]);
        assert_eq!(arbiter.assign(&exclusive), Err(ArbiterError::NoFit { list: 0, descriptor: 0 }));
        arbiter.release(&first).unwrap();
        arbiter.release(&second).unwrap();
        assert!(arbiter.assign(&exclusive).is_ok());
        assert_eq!(arbiter.assign(&shared), Err(ArbiterError::NoFit { list: 0, descriptor: 0 }));
    }

    #[test]
    fn other_kinds_pass_through_or_are_refused() {
        let mut arbiter = pci();
        arbiter.add_dma_channels(0..=7);
        arbiter.add_bus_numbers(1..=255);
        let assigned = arbiter
            .assign(&device(vec![vec![
                IoResourceDescriptor::new(IoOption::REQUIRED, 0, Requirement::ConfigData { priority: 0 }),
                IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    0,
                    Requirement::DevicePrivate { data: [1, 2, 3] },
                ),
                IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    0,
                    Requirement::Dma { minimum_channel: 5, maximum_channel: 7 },
                ),
                IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    0,
                    Requirement::BusNumber { length: 2, minimum: 0, maximum: 9 },
                ),
            ]]))
            .unwrap();
        assert_eq!(assigned.len(), 3, "ConfigData assigns nothing");
        assert_eq!(assigned.entries()[0].resource, Resource::DevicePrivate { data: [1, 2, 3], flags: 0 });
        assert_eq!(assigned.entries()[1].resource, Resource::Dma { channel: 5, port: 0, flags: 0 });
        assert_eq!(assigned.entries()[2].resource, Resource::BusNumber { start: 1, length: 2, flags: 0 });
        let odd = device(vec![vec![IoResourceDescriptor::new(
            IoOption::REQUIRED,
            0,
            Requirement::Other { type_code: CmResourceType(9), data: [0; 24] },
        )]]);
        assert_eq!(
            arbiter.assign(&odd),
            Err(ArbiterError::Unsupported { list: 0, descriptor: 0, type_code: CmResourceType(9) })
        );
        assert_eq!(arbiter.assign(&device(Vec::new())), Ok(ResourceList::empty()), "no resources needed");
    }

    /// xorshift64*: deterministic and dependency-free.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }
        fn power_of_two(&mut self, low: u32, high: u32) -> u64 {
            1 << (low + self.below(u64::from(high - low + 1)) as u32)
        }
    }

    fn random_descriptor(rng: &mut Rng, option: IoOption) -> IoResourceDescriptor {
        if rng.below(3) == 0 {
            let length = rng.power_of_two(2, 8) as u32;
            let alignment = if rng.below(4) == 0 { 1 } else { length };
            let minimum = rng.below(0x1_0000);
            let maximum = minimum + rng.below(0x1_0000);
            port(option, length, alignment, minimum, maximum)
        } else {
            let length = rng.power_of_two(12, 28);
            let alignment = if rng.below(4) == 0 { 0x1000 } else { length };
            let (minimum, maximum) = match rng.below(3) {
                0 => (0, 0xFFFF_FFFF),
                1 => (0, u64::MAX),
                _ => {
                    let minimum = 0xC000_0000 + rng.below(0x3F00_0000);
                    (minimum, minimum + rng.below(0x1000_0000))
                }
            };
            memory(option, length, alignment, minimum, maximum)
        }
    }

    fn satisfies(descriptor: &IoResourceDescriptor, resource: &Resource<Raw>) -> bool {
        let (start, length) = match resource {
            Resource::Port { start, length, .. } => (start.0, u64::from(*length)),
            Resource::Memory { start, length, .. } => (start.0, length.bytes()),
            _ => return false,
        };
        let (want, alignment, minimum, maximum) = match &descriptor.requirement {
            Requirement::Port { length, alignment, minimum, maximum }
                if matches!(resource, Resource::Port { .. }) =>
            {
                (u64::from(*length), u64::from(*alignment), minimum.0, maximum.0)
            }
            Requirement::Memory { range, minimum, maximum }
                if matches!(resource, Resource::Memory { .. }) =>
            {
                (range.length.bytes(), range.alignment_bytes(), minimum.0, maximum.0)
            }
            _ => return false,
        };
        length == want && start % alignment.max(1) == 0 && minimum <= start && start + length - 1 <= maximum
    }

    #[test]
    fn claim_25_randomized_assignments_never_overlap() {
        let mut rng = Rng(0x1234_5678_9ABC_DEF1);
        let mut arbiter = pci();
        arbiter.reserve(AddressSpace::Memory, BusAddress(0xD000_0000), 0x100_0000).unwrap();
        arbiter.reserve(AddressSpace::Port, BusAddress(0x1F00), 0x100).unwrap();
        let reserved =
            [(AddressSpace::Memory, 0xD000_0000u64, 0xD0FF_FFFFu64), (AddressSpace::Port, 0x1F00, 0x1FFF)];
        let windows = [PCI32, PCI64, PORTS];
        let mut live: Vec<RawResourceList> = Vec::new();
        let (mut successes, mut failures) = (0, 0);
        for _ in 0..3000 {
            if !live.is_empty() && rng.below(3) == 0 {
                let index = rng.below(live.len() as u64) as usize;
                let gone = live.swap_remove(index);
                arbiter.release(&gone).unwrap();
                continue;
            }
            let lists: Vec<Vec<IoResourceDescriptor>> = (0..1 + rng.below(2))
                .map(|_| {
                    let mut descriptors = Vec::new();
                    for _ in 0..1 + rng.below(3) {
                        descriptors.push(random_descriptor(&mut rng, IoOption::REQUIRED));
                        for _ in 0..rng.below(3) {
                            let option = if rng.below(3) == 0 {
                                IoOption::PREFERRED_ALTERNATIVE
                            } else {
                                IoOption::ALTERNATIVE
                            };
                            descriptors.push(random_descriptor(&mut rng, option));
                        }
                    }
                    descriptors
                })
                .collect();
            let requirements = device(lists);
            let snapshot = arbiter.clone();
            match arbiter.assign(&requirements) {
                Ok(assigned) => {
                    successes += 1;
                    // One entry per group of one of the lists, each satisfying a descriptor of
                    // its group.
                    let fits = requirements.alternatives.iter().any(|list| {
                        let groups: Vec<_> = list.groups().collect();
                        groups.len() == assigned.len()
                            && groups.iter().zip(assigned.iter()).all(|(group, entry)| {
                                group.descriptors.iter().any(|d| satisfies(d, &entry.resource))
                            })
                    });
                    assert!(fits, "{assigned:?} does not satisfy {requirements:?}");
                    live.push(assigned);
                }
                Err(_) => {
                    failures += 1;
                    assert_eq!(arbiter, snapshot, "a failed assignment takes nothing");
                }
            }
            // Every live range is inside a window, clear of reservations and of every other.
            let mut ranges: Vec<(AddressSpace, u64, u64)> = live
                .iter()
                .flat_map(|list| list.iter())
                .map(|entry| match &entry.resource {
                    Resource::Port { start, length, .. } => {
                        (AddressSpace::Port, start.0, start.0 + u64::from(*length) - 1)
                    }
                    Resource::Memory { start, length, .. } => {
                        (AddressSpace::Memory, start.0, start.0 + length.bytes() - 1)
                    }
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            for &(space, first, last) in &ranges {
                assert!(windows.iter().any(|w| w.space == space && w.first.0 <= first && last <= w.last.0));
                assert!(!reserved.iter().any(|&(s, f, l)| s == space && first <= l && f <= last));
            }
            ranges.sort_unstable_by_key(|&(space, first, _)| (space == AddressSpace::Port, first));
            for pair in ranges.windows(2) {
                if pair[0].0 == pair[1].0 {
                    assert!(pair[0].2 < pair[1].1, "overlap: {pair:?}");
                }
            }
        }
        assert!(successes > 500 && failures > 10, "exercise both paths: {successes} / {failures}");
        for list in live.drain(..) {
            arbiter.release(&list).unwrap();
        }
        let mut fresh = pci();
        fresh.reserve(AddressSpace::Memory, BusAddress(0xD000_0000), 0x100_0000).unwrap();
        fresh.reserve(AddressSpace::Port, BusAddress(0x1F00), 0x100).unwrap();
        assert_eq!(arbiter, fresh, "releasing everything restores the start state");
    }
}
