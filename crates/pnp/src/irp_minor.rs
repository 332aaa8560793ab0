//! PnP IRP codes (contract §9) and the rules for the two requirement IRPs, modelled over
//! `IoStatus` with the requirements list held as a serialized paged-pool block, so that "edited
//! in place" and "replaced by a new list" are observable (claims 26, 27).
//!
//! # IRQL
//! Every PnP IRP arrives at `PASSIVE_LEVEL`; the routines here assume it.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;
use core::fmt;

use crate::io_layout::{IoLayoutError, RequirementsTooLarge};
use crate::requirements::IoResourceRequirementsList;
use crate::status::NtStatus;

/// `IRP_MJ_PNP`.
pub const IRP_MJ_PNP: u8 = 0x1B;
/// `IRP_MN_START_DEVICE`.
pub const IRP_MN_START_DEVICE: u8 = 0x00;
/// `IRP_MN_QUERY_REMOVE_DEVICE`.
pub const IRP_MN_QUERY_REMOVE_DEVICE: u8 = 0x01;
/// `IRP_MN_REMOVE_DEVICE`.
pub const IRP_MN_REMOVE_DEVICE: u8 = 0x02;
/// `IRP_MN_CANCEL_REMOVE_DEVICE`.
pub const IRP_MN_CANCEL_REMOVE_DEVICE: u8 = 0x03;
/// `IRP_MN_STOP_DEVICE`.
pub const IRP_MN_STOP_DEVICE: u8 = 0x04;
/// `IRP_MN_QUERY_STOP_DEVICE`.
pub const IRP_MN_QUERY_STOP_DEVICE: u8 = 0x05;
/// `IRP_MN_CANCEL_STOP_DEVICE`.
pub const IRP_MN_CANCEL_STOP_DEVICE: u8 = 0x06;
/// `IRP_MN_QUERY_RESOURCES`.
pub const IRP_MN_QUERY_RESOURCES: u8 = 0x0A;
/// `IRP_MN_QUERY_RESOURCE_REQUIREMENTS`.
pub const IRP_MN_QUERY_RESOURCE_REQUIREMENTS: u8 = 0x0B;
/// `IRP_MN_FILTER_RESOURCE_REQUIREMENTS`.
pub const IRP_MN_FILTER_RESOURCE_REQUIREMENTS: u8 = 0x0D;
/// `IRP_MN_SURPRISE_REMOVAL`.
pub const IRP_MN_SURPRISE_REMOVAL: u8 = 0x17;

/// Identity of one paged-pool allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AllocationId(u64);

/// A paged-pool block holding a serialized `IO_RESOURCE_REQUIREMENTS_LIST`.
///
/// Not `Clone`: a block has one owner, and only [`PagedPool::free`] ends it.
#[derive(Debug, PartialEq, Eq)]
pub struct PagedBuffer {
    id: AllocationId,
    bytes: Vec<u8>,
}

impl PagedBuffer {
    /// Which allocation this is.
    pub fn id(&self) -> AllocationId {
        self.id
    }

    /// The block's contents.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The requirements list the block holds.
    pub fn parse(&self) -> Result<IoResourceRequirementsList, IoLayoutError> {
        IoResourceRequirementsList::parse(&self.bytes)
    }
}

/// The paged pool requirement lists are allocated from: it tracks which blocks are live, so a
/// leak or a double free is visible.
#[derive(Debug, Default)]
pub struct PagedPool {
    next: u64,
    live: BTreeSet<AllocationId>,
}

impl PagedPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allocates a block holding `bytes`.
    pub fn allocate(&mut self, bytes: Vec<u8>) -> PagedBuffer {
        let id = AllocationId(self.next);
        self.next += 1;
        self.live.insert(id);
        PagedBuffer { id, bytes }
    }

    /// Frees `buffer`; whether it was live (false means a double free or a foreign block).
    pub fn free(&mut self, buffer: PagedBuffer) -> bool {
        self.live.remove(&buffer.id)
    }

    /// Whether the allocation is live.
    pub fn is_live(&self, id: AllocationId) -> bool {
        self.live.contains(&id)
    }

    /// Number of live allocations.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }
}

/// `IoStatus.Information` of the requirement IRPs.
#[derive(Debug, Default, PartialEq, Eq)]
pub enum Information {
    /// 0 / NULL.
    #[default]
    None,
    /// A pointer to a requirements list in paged pool.
    Requirements(PagedBuffer),
}

/// An IRP's `IoStatus` block.
#[derive(Debug, PartialEq, Eq)]
pub struct IoStatus {
    /// `Status`.
    pub status: NtStatus,
    /// `Information`.
    pub information: Information,
}

impl IoStatus {
    /// What the PnP manager sends a PnP IRP with: `STATUS_NOT_SUPPORTED` and no information.
    pub const fn new_pnp_irp() -> Self {
        Self { status: NtStatus::NOT_SUPPORTED, information: Information::None }
    }
}

/// What a bus driver found when asked for a device's requirements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryRequirementsAnswer {
    /// The device needs no resources.
    NoResources,
    /// The device's requirements.
    Requirements(IoResourceRequirementsList),
    /// The query failed with this (error) status.
    Failed(NtStatus),
}

/// A bus driver completes `IRP_MN_QUERY_RESOURCE_REQUIREMENTS`: with a device that needs no
/// resources, `Status` and `Information` are left exactly as they were (claim 26); on success
/// `Information` gets a new paged-pool list (which the PnP manager frees) and `Status` success;
/// on failure `Information` is 0. Returns the final `Status`.
///
/// A list too large for its ULONG `ListSize` fails with `STATUS_INSUFFICIENT_RESOURCES`.
///
/// # IRQL
/// `PASSIVE_LEVEL`.
pub fn complete_query_requirements(
    pool: &mut PagedPool,
    io: &mut IoStatus,
    answer: QueryRequirementsAnswer,
) -> NtStatus {
    let (status, information) = match answer {
        QueryRequirementsAnswer::NoResources => return io.status,
        QueryRequirementsAnswer::Requirements(list) => match list.to_bytes() {
            Ok(bytes) => (NtStatus::SUCCESS, Information::Requirements(pool.allocate(bytes))),
            Err(RequirementsTooLarge) => (NtStatus::INSUFFICIENT_RESOURCES, Information::None),
        },
        QueryRequirementsAnswer::Failed(status) => (status, Information::None),
    };
    io.status = status;
    // The bus driver is the bottom of the stack, so nothing should be here; free it if it is.
    if let Information::Requirements(stale) = core::mem::replace(&mut io.information, information) {
        pool.free(stale);
    }
    status
}

/// What [`filter_requirements`] did to `IoStatus.Information`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOutcome {
    /// `Information` was NULL (no resources): nothing to filter, nothing changed.
    NoList,
    /// The edit changed nothing.
    Unchanged,
    /// The edit kept the size, so the same block was rewritten.
    EditedInPlace,
    /// The size changed: a new block replaced the old one, which was freed.
    Replaced {
        /// Whether freeing the old block succeeded (it was live).
        old_freed: bool,
        /// Bytes in the old list.
        old_size: usize,
        /// Bytes in the new list.
        new_size: usize,
    },
}

/// Why [`filter_requirements`] left the list alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterError {
    /// The incoming list is malformed.
    Malformed(IoLayoutError),
    /// The edited list is too large for its ULONG `ListSize`.
    TooLarge,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(error) => write!(f, "incoming requirements list is malformed: {error}"),
            Self::TooLarge => RequirementsTooLarge.fmt(f),
        }
    }
}

impl core::error::Error for FilterError {}

/// A function driver handles `IRP_MN_FILTER_RESOURCE_REQUIREMENTS` on the way back up: `edit`
/// changes the incoming list (from `IoStatus.Information`, the copy to use); if the serialized
/// size is the same the block is rewritten in place, otherwise a new paged list replaces it and
/// the old one is freed (claim 27). `Status` is not touched. On error nothing changes.
///
/// # IRQL
/// `PASSIVE_LEVEL`.
pub fn filter_requirements(
    pool: &mut PagedPool,
    io: &mut IoStatus,
    edit: impl FnOnce(&mut IoResourceRequirementsList),
) -> Result<FilterOutcome, FilterError> {
    let Information::Requirements(buffer) = &mut io.information else {
        return Ok(FilterOutcome::NoList);
    };
    let mut list = buffer.parse().map_err(FilterError::Malformed)?;
    edit(&mut list);
    let edited = list.to_bytes().map_err(|RequirementsTooLarge| FilterError::TooLarge)?;
    if edited == buffer.bytes {
        return Ok(FilterOutcome::Unchanged);
    }
    if edited.len() == buffer.bytes.len() {
        buffer.bytes.copy_from_slice(&edited);
        return Ok(FilterOutcome::EditedInPlace);
    }
    let (old_size, new_size) = (buffer.bytes.len(), edited.len());
    let replacement = Information::Requirements(pool.allocate(edited));
    let old_freed = match core::mem::replace(&mut io.information, replacement) {
        Information::Requirements(old) => pool.free(old),
        Information::None => false,
    };
    Ok(FilterOutcome::Replaced { old_freed, old_size, new_size })
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::cm_constants::{CM_RESOURCE_PORT_IO, InterfaceType};
    use crate::requirements::{IoOption, IoResourceDescriptor, IoResourceList, Requirement};
    use crate::resource::BusAddress;

    fn requirements() -> IoResourceRequirementsList {
        IoResourceRequirementsList::new(
            InterfaceType::PCI_BUS,
            0,
            2,
            vec![IoResourceList::new(vec![
                IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    0,
                    Requirement::memory(0x1000, 0x1000, BusAddress(0), BusAddress(0xFFFF_FFFF)).unwrap(),
                ),
                IoResourceDescriptor::new(
                    IoOption::REQUIRED,
                    CM_RESOURCE_PORT_IO,
                    Requirement::port(0x40, 0x40, BusAddress(0), BusAddress(0xFFFF)),
                ),
            ])],
        )
    }

    #[test]
    fn irp_codes_match_wdm_h() {
        assert_eq!(IRP_MJ_PNP, 0x1B);
        let minors = [
            IRP_MN_START_DEVICE,
            IRP_MN_QUERY_REMOVE_DEVICE,
            IRP_MN_REMOVE_DEVICE,
            IRP_MN_CANCEL_REMOVE_DEVICE,
            IRP_MN_STOP_DEVICE,
            IRP_MN_QUERY_STOP_DEVICE,
            IRP_MN_CANCEL_STOP_DEVICE,
            IRP_MN_QUERY_RESOURCES,
            IRP_MN_QUERY_RESOURCE_REQUIREMENTS,
            IRP_MN_FILTER_RESOURCE_REQUIREMENTS,
            IRP_MN_SURPRISE_REMOVAL,
        ];
        assert_eq!(minors, [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0A, 0x0B, 0x0D, 0x17]);
    }

    #[test]
    fn claim_26_no_resources_leaves_status_and_information_unchanged() {
        let mut pool = PagedPool::new();
        let mut io = IoStatus::new_pnp_irp();
        assert_eq!(
            complete_query_requirements(&mut pool, &mut io, QueryRequirementsAnswer::NoResources),
            NtStatus::NOT_SUPPORTED
        );
        assert_eq!(io, IoStatus::new_pnp_irp());
        // Whatever was there stays, even a value a filter above set.
        let mut io = IoStatus { status: NtStatus(0x1234), information: Information::None };
        complete_query_requirements(&mut pool, &mut io, QueryRequirementsAnswer::NoResources);
        assert_eq!(io.status, NtStatus(0x1234));
        assert_eq!(io.information, Information::None);
        assert_eq!(pool.live_count(), 0);
    }

    #[test]
    fn claim_26_success_and_failure_set_information() {
        let mut pool = PagedPool::new();
        let mut io = IoStatus::new_pnp_irp();
        let status = complete_query_requirements(
            &mut pool,
            &mut io,
            QueryRequirementsAnswer::Requirements(requirements()),
        );
        assert_eq!(status, NtStatus::SUCCESS);
        let Information::Requirements(buffer) = &io.information else { panic!("no list") };
        assert_eq!(buffer.parse().unwrap(), requirements());
        assert_eq!(pool.live_count(), 1);

        let mut io = IoStatus::new_pnp_irp();
        complete_query_requirements(
            &mut pool,
            &mut io,
            QueryRequirementsAnswer::Failed(NtStatus::INSUFFICIENT_RESOURCES),
        );
        assert_eq!(io, IoStatus { status: NtStatus::INSUFFICIENT_RESOURCES, information: Information::None });
    }

    fn offered(pool: &mut PagedPool) -> IoStatus {
        let mut io = IoStatus::new_pnp_irp();
        complete_query_requirements(pool, &mut io, QueryRequirementsAnswer::Requirements(requirements()));
        io
    }

    fn buffer(io: &IoStatus) -> &PagedBuffer {
        match &io.information {
            Information::Requirements(buffer) => buffer,
            Information::None => panic!("no list"),
        }
    }

    #[test]
    fn claim_27_same_size_edit_is_made_in_place() {
        let mut pool = PagedPool::new();
        let mut io = offered(&mut pool);
        let (id, address) = (buffer(&io).id(), buffer(&io).bytes().as_ptr());
        let outcome = filter_requirements(&mut pool, &mut io, |list| {
            // Narrow the port range: same shape, same size.
            list.alternatives[0].descriptors[1].requirement =
                Requirement::port(0x40, 0x40, BusAddress(0x1000), BusAddress(0x1FFF));
        });
        assert_eq!(outcome, Ok(FilterOutcome::EditedInPlace));
        assert_eq!(buffer(&io).id(), id, "same allocation");
        assert_eq!(buffer(&io).bytes().as_ptr(), address, "same bytes");
        assert_eq!(
            buffer(&io).parse().unwrap().alternatives[0].descriptors[1].requirement,
            Requirement::port(0x40, 0x40, BusAddress(0x1000), BusAddress(0x1FFF))
        );
        assert_eq!(pool.live_count(), 1);
        assert_eq!(filter_requirements(&mut pool, &mut io, |_| {}), Ok(FilterOutcome::Unchanged));
    }

    #[test]
    fn claim_27_size_change_replaces_the_list_and_frees_the_old_one() {
        let mut pool = PagedPool::new();
        let mut io = offered(&mut pool);
        let old = buffer(&io).id();
        let status_before = io.status;
        let outcome = filter_requirements(&mut pool, &mut io, |list| {
            // Add an alternative port range after the existing one (order kept).
            list.alternatives[0].descriptors.push(IoResourceDescriptor::new(
                IoOption::ALTERNATIVE,
                CM_RESOURCE_PORT_IO,
                Requirement::port(0x40, 0x40, BusAddress(0x8000), BusAddress(0x8FFF)),
            ));
        });
        assert_eq!(
            outcome,
            Ok(FilterOutcome::Replaced { old_freed: true, old_size: 32 + 8 + 64, new_size: 32 + 8 + 96 })
        );
        assert_ne!(buffer(&io).id(), old);
        assert!(!pool.is_live(old), "old list freed");
        assert!(pool.is_live(buffer(&io).id()));
        assert_eq!(pool.live_count(), 1);
        assert_eq!(io.status, status_before);
        assert_eq!(buffer(&io).parse().unwrap().alternatives[0].descriptors.len(), 3);
    }

    #[test]
    fn claim_27_no_list_and_malformed_list_change_nothing() {
        let mut pool = PagedPool::new();
        let mut io = IoStatus::new_pnp_irp();
        let mut called = false;
        assert_eq!(filter_requirements(&mut pool, &mut io, |_| called = true), Ok(FilterOutcome::NoList));
        assert!(!called);
        let mut io = IoStatus {
            status: NtStatus::SUCCESS,
            information: Information::Requirements(pool.allocate(vec![1, 2, 3])),
        };
        assert!(matches!(filter_requirements(&mut pool, &mut io, |_| {}), Err(FilterError::Malformed(_))));
        assert_eq!(buffer(&io).bytes(), &[1, 2, 3]);
    }

    #[test]
    fn the_pnp_manager_frees_the_final_list() {
        let mut pool = PagedPool::new();
        let io = offered(&mut pool);
        let Information::Requirements(list) = io.information else { panic!("no list") };
        let id = list.id();
        assert!(pool.free(list));
        assert!(!pool.is_live(id));
        assert_eq!(pool.live_count(), 0);
    }
}
