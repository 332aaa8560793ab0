//! The PnP flow of contract §9 (claims 11–17) over a memory manager on emulated RAM: drivers
//! map "device" memory in the machine's device window, and the manager checks what they keep.

extern crate std;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ffi::c_void;
use core::panic::Location;

use iospace_hal::address::BusAddress;
use iospace_mm::address::{PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::{BugCheck, code};
use iospace_mm::caching::CachePolicy;
use iospace_mm::io_space::IoMapping;
use iospace_mm::locked_pages::{LockOperation, ProcessorMode};
use iospace_mm::mdl::{Mdl, MdlPtr};
use iospace_mm::mdl_mapping::{MappingPriority, NORMAL_PAGE_PRIORITY};
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::nt::{mm_map_io_space, mm_unmap_io_space};
use iospace_mm::nt_mdl::mm_allocate_mapping_address;
use iospace_mm::ownership::OwnerId;
use iospace_mm::pool::PoolType;

use super::*;
use crate::cm_constants::CM_RESOURCE_PORT_IO;
use crate::resource::{IoPort, PortLocation, Raw, Resource, ResourceEntry, ResourceList, Translated};
use crate::test_support::{
    DEVICE_WINDOW, NoDevices, catch_bug_check, forgetful_memory_manager, test_memory_manager,
};

/// The first BAR a device is given.
const BAR: u64 = DEVICE_WINDOW + 0x10_0000;
/// Where a rebalance moves it.
const MOVED_BAR: u64 = DEVICE_WINDOW + 0x20_0000;
/// The BAR's size: two pages.
const BAR_BYTES: u64 = 0x2000;
/// `MmNonCached`.
const MM_NON_CACHED: i32 = 0;

/// A device with one memory BAR at `bar` (bus = CPU address here) and one I/O-space port range.
fn resources(bar: u64) -> ResourcePair {
    let raw: ResourceList<Raw> = ResourceList::new(vec![
        ResourceEntry::exclusive(Resource::memory(BusAddress(bar), BAR_BYTES, 0).unwrap()),
        ResourceEntry::exclusive(Resource::Port {
            start: BusAddress(0xC000),
            length: 0x20,
            flags: CM_RESOURCE_PORT_IO,
        }),
    ])
    .unwrap();
    let translated: ResourceList<Translated> = ResourceList::new(vec![
        ResourceEntry::exclusive(Resource::memory(PhysicalAddress(bar), BAR_BYTES, 0).unwrap()),
        ResourceEntry::exclusive(Resource::Port {
            start: PortLocation::Io(IoPort(0xC000)),
            length: 0x20,
            flags: CM_RESOURCE_PORT_IO,
        }),
    ])
    .unwrap();
    ResourcePair::new(raw, translated).unwrap()
}

/// The translated memory resources of `resources`: what a driver maps.
fn memory_windows(resources: &ResourcePair) -> Vec<(PhysicalAddress, u64)> {
    resources
        .translated()
        .iter()
        .filter_map(|entry| match entry.resource {
            Resource::Memory { start, length, .. } => Some((start, length.bytes())),
            _ => None,
        })
        .collect()
}

/// What a test driver does wrong, or is told to fail.
#[derive(Clone, Copy, Debug, Default)]
struct Script {
    /// The n-th START (1-based) fails after unmapping what it mapped.
    fail_start_cleanly: Option<usize>,
    /// The n-th START fails and keeps its mappings: the claim-13 bug.
    fail_start_keeping_mappings: Option<usize>,
    /// START returns `Err(STATUS_SUCCESS)`, a contradiction.
    fail_start_with_success: bool,
    /// QUERY_STOP fails.
    fail_query_stop: bool,
    /// QUERY_REMOVE fails.
    fail_query_remove: bool,
    /// STOP keeps the mappings: the claim-11 bug.
    leak_on_stop: bool,
    /// SURPRISE_REMOVAL keeps the mappings.
    leak_on_surprise_removal: bool,
}

/// What the test sees of a driver: the lines its mapping calls are on, and its IRPs.
#[derive(Debug, Default)]
struct Notes {
    map_lines: Vec<u32>,
    unmap_lines: Vec<u32>,
    calls: Vec<PnpIrp>,
}

/// A driver by the book, written with RAII mappings: it maps every translated memory resource
/// on START and drops the handles (unmaps) on STOP, SURPRISE_REMOVAL and REMOVE, unless the
/// script says otherwise.
struct RaiiDriver<'mm> {
    script: Script,
    notes: Rc<RefCell<Notes>>,
    starts: usize,
    copy: Option<ResourcePair>,
    mappings: Vec<IoMapping<'mm>>,
}

impl<'mm> RaiiDriver<'mm> {
    fn new(script: Script, notes: &Rc<RefCell<Notes>>) -> Box<Self> {
        Box::new(Self { script, notes: notes.clone(), starts: 0, copy: None, mappings: Vec::new() })
    }

    fn note(&self, irp: PnpIrp) {
        self.notes.borrow_mut().calls.push(irp);
    }
}

impl<'mm> Driver<'mm> for RaiiDriver<'mm> {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        self.note(PnpIrp::Start);
        self.starts += 1;
        self.copy = Some(resources.clone());
        for (start, bytes) in memory_windows(resources) {
            let mm = device.mm();
            let line = line!() + 1;
            let mapping = mm.map_io_space(start, bytes, CachePolicy::Uncached);
            self.notes.borrow_mut().map_lines.push(line);
            self.mappings.push(mapping.map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?);
        }
        if self.script.fail_start_cleanly == Some(self.starts) {
            self.mappings.clear();
            return Err(NtStatus::INSUFFICIENT_RESOURCES);
        }
        if self.script.fail_start_keeping_mappings == Some(self.starts) {
            return Err(NtStatus::UNSUCCESSFUL);
        }
        if self.script.fail_start_with_success {
            self.mappings.clear();
            return Err(NtStatus::SUCCESS);
        }
        Ok(())
    }

    fn query_stop(&mut self, _device: &DeviceContext<'mm>) -> Result<(), NtStatus> {
        self.note(PnpIrp::QueryStop);
        if self.script.fail_query_stop { Err(NtStatus::UNSUCCESSFUL) } else { Ok(()) }
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {
        self.note(PnpIrp::Stop);
        if !self.script.leak_on_stop {
            self.mappings.clear();
        }
    }

    fn cancel_stop(&mut self, _device: &DeviceContext<'mm>) {
        self.note(PnpIrp::CancelStop);
    }

    fn query_remove(&mut self, _device: &DeviceContext<'mm>) -> Result<(), NtStatus> {
        self.note(PnpIrp::QueryRemove);
        if self.script.fail_query_remove { Err(NtStatus::UNSUCCESSFUL) } else { Ok(()) }
    }

    fn cancel_remove(&mut self, _device: &DeviceContext<'mm>) {
        self.note(PnpIrp::CancelRemove);
    }

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
        self.note(PnpIrp::SurpriseRemoval);
        if !self.script.leak_on_surprise_removal {
            self.mappings.clear();
        }
    }

    fn remove(&mut self, _device: &DeviceContext<'mm>) {
        self.note(PnpIrp::Remove);
        self.mappings.clear();
    }
}

/// A driver written as a C driver is, against the NT facade: it keeps the VA `MmMapIoSpace`
/// returned and calls `MmUnmapIoSpace` itself. It remembers that SURPRISE_REMOVAL released the
/// hardware, so REMOVE does not unmap again (claim 12) — unless `forgets_surprise_removal`.
struct NtDriver {
    forgets_surprise_removal: bool,
    notes: Rc<RefCell<Notes>>,
    mapped: Vec<(*mut c_void, usize)>,
    hardware_released: bool,
}

impl NtDriver {
    fn new(forgets_surprise_removal: bool, notes: &Rc<RefCell<Notes>>) -> Box<Self> {
        Box::new(Self {
            forgets_surprise_removal,
            notes: notes.clone(),
            mapped: Vec::new(),
            hardware_released: false,
        })
    }

    /// `MmUnmapIoSpace` of every mapping; the list is kept (as a careless driver's would be).
    fn unmap_all(&self, mm: &MemoryManager) {
        for &(va, bytes) in &self.mapped {
            // Noted before the call: a bug check does not return.
            self.notes.borrow_mut().unmap_lines.push(line!() + 1);
            mm_unmap_io_space(mm, va, bytes);
        }
    }
}

impl<'mm> Driver<'mm> for NtDriver {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        for (start, bytes) in memory_windows(resources) {
            let va = mm_map_io_space(device.mm(), start.0 as i64, bytes as usize, MM_NON_CACHED);
            if va.is_null() {
                self.unmap_all(device.mm());
                self.mapped.clear();
                return Err(NtStatus::INSUFFICIENT_RESOURCES);
            }
            self.mapped.push((va, bytes as usize));
        }
        self.hardware_released = false;
        Ok(())
    }

    fn stop(&mut self, device: &DeviceContext<'mm>) {
        self.unmap_all(device.mm());
        self.mapped.clear();
        self.hardware_released = true;
    }

    fn surprise_removal(&mut self, device: &DeviceContext<'mm>) {
        self.unmap_all(device.mm());
        self.hardware_released = true;
        if !self.forgets_surprise_removal {
            self.mapped.clear();
        }
    }

    fn remove(&mut self, device: &DeviceContext<'mm>) {
        // SURPRISE_REMOVAL already gave the hardware back: that step is skipped (contract §9).
        if self.forgets_surprise_removal || !self.hardware_released {
            self.unmap_all(device.mm());
        }
        self.mapped.clear();
    }
}

/// A driver that reserves system VA on START and never frees it.
struct ReservingDriver {
    reserve_line: Rc<RefCell<u32>>,
}

impl<'mm> Driver<'mm> for ReservingDriver {
    fn start(&mut self, device: &DeviceContext<'mm>, _resources: &ResourcePair) -> Result<(), NtStatus> {
        *self.reserve_line.borrow_mut() = line!() + 1;
        let reserved = mm_allocate_mapping_address(device.mm(), 0x3000, u32::from_le_bytes(*b"Test"));
        if reserved.is_null() { Err(NtStatus::INSUFFICIENT_RESOURCES) } else { Ok(()) }
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {}

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {}

    fn remove(&mut self, _device: &DeviceContext<'mm>) {}
}

/// What an [`MdlDriver`] leaves behind on STOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MdlLeak {
    /// Nothing: it unlocks (which also unmaps) on STOP.
    Nothing,
    /// The lock: it never calls `MmUnlockPages`.
    Lock,
    /// The lock and the system mapping of the MDL.
    LockAndMapping,
}

/// A driver that locks a buffer for DMA with an MDL on START (and maps it, if told to).
///
/// The MDL lives in ordinary heap memory (a caller-built MDL, as `MmInitializeMdl` makes on a
/// driver's own storage) because the emulated machine's system VA is not backed by host memory;
/// the buffer it describes is nonpaged pool, which the emulated page tables do map.
struct MdlDriver {
    leak: MdlLeak,
    storage: Box<[u64; 16]>,
    mdl: Option<MdlPtr>,
    lines: Rc<RefCell<Vec<u32>>>,
}

impl MdlDriver {
    fn new(leak: MdlLeak, lines: &Rc<RefCell<Vec<u32>>>) -> Box<Self> {
        Box::new(Self { leak, storage: Box::new([0; 16]), mdl: None, lines: lines.clone() })
    }
}

impl<'mm> Driver<'mm> for MdlDriver {
    fn start(&mut self, device: &DeviceContext<'mm>, _resources: &ResourcePair) -> Result<(), NtStatus> {
        let mm = device.mm();
        let tag = u32::from_le_bytes(*b"Dma ");
        let buffer = mm
            .allocate_pool(PoolType::NonPaged, 0x2000, tag, false, Location::caller())
            .map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        let header = self.storage.as_mut_ptr().cast::<Mdl>();
        // SAFETY: the storage is 128 bytes, 8-byte aligned and ours alone: room for the 48-byte
        // header written here.
        unsafe { iospace_mm::mdl::initialize(header, buffer.0, 0x2000) };
        // SAFETY: the storage holds the header and room for the two PFNs it describes, lives as
        // long as the driver, and only the memory manager touches it, one call at a time.
        let mdl = unsafe { MdlPtr::from_raw(header) }.ok_or(NtStatus::INSUFFICIENT_RESOURCES)?;
        self.lines.borrow_mut().push(line!() + 1);
        mm.probe_and_lock_pages(mdl, ProcessorMode::Kernel, LockOperation::Write)
            .map_err(|_| NtStatus::UNSUCCESSFUL)?;
        if self.leak == MdlLeak::LockAndMapping {
            let priority = MappingPriority::from_raw(NORMAL_PAGE_PRIORITY);
            self.lines.borrow_mut().push(line!() + 1);
            let here = Location::caller();
            let mapped =
                mm.map_locked_pages(mdl, ProcessorMode::Kernel, CachePolicy::WriteBack, priority, here);
            mapped.map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?;
        }
        self.mdl = Some(mdl);
        Ok(())
    }

    fn stop(&mut self, device: &DeviceContext<'mm>) {
        if self.leak == MdlLeak::Nothing
            && let Some(mdl) = self.mdl.take()
        {
            device.mm().unlock_pages(mdl).expect("the MDL is locked");
        }
    }

    fn surprise_removal(&mut self, device: &DeviceContext<'mm>) {
        self.stop(device);
    }

    fn remove(&mut self, device: &DeviceContext<'mm>) {
        self.stop(device);
    }
}

fn irps(manager: &PnpManager<'_>, id: DeviceId) -> Vec<PnpIrp> {
    manager.log(id).unwrap().iter().map(|record| record.irp).collect()
}

fn record(irp: PnpIrp, status: NtStatus) -> IrpRecord {
    IrpRecord { irp, status }
}

#[test]
fn claim_11_after_stop_the_device_holds_no_mapping() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("edu", RaiiDriver::new(Script::default(), &notes));
    let owner = manager.owner(id).unwrap();

    manager.start(id, resources(BAR)).unwrap();
    let held = mm.held_by(owner);
    assert_eq!(held.io_mappings.len(), 1);
    let mapping = held.io_mappings[0];
    assert_eq!((mapping.physical, mapping.pages, mapping.owner), (PhysicalAddress(BAR), 2, owner));
    assert_eq!(mapping.location.file(), file!());
    assert_eq!(mapping.location.line(), notes.borrow().map_lines[0]);
    assert_eq!(manager.state(id), Ok(DeviceState::Started));
    assert_eq!(manager.resources(id).unwrap(), Some(&resources(BAR)));

    manager.query_stop(id).unwrap();
    assert_eq!(manager.state(id), Ok(DeviceState::StopPending));
    manager.stop(id).unwrap();
    assert_eq!(manager.state(id), Ok(DeviceState::Stopped));
    assert!(mm.held_by(owner).is_empty());
    assert!(mm.io_mappings().is_empty());
    assert_eq!(manager.resources(id).unwrap(), None);
    assert_eq!(
        manager.log(id).unwrap(),
        [
            record(PnpIrp::Start, NtStatus::SUCCESS),
            record(PnpIrp::QueryStop, NtStatus::SUCCESS),
            record(PnpIrp::Stop, NtStatus::SUCCESS),
        ]
    );
}

#[test]
fn claim_11_a_rebalance_maps_the_new_resources_only() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("edu", RaiiDriver::new(Script::default(), &notes));
    manager.start(id, resources(BAR)).unwrap();
    manager.rebalance(id, resources(MOVED_BAR)).unwrap();

    let held = mm.held_by(manager.owner(id).unwrap());
    assert_eq!(held.io_mappings.len(), 1);
    assert_eq!(held.io_mappings[0].physical, PhysicalAddress(MOVED_BAR));
    assert_eq!(manager.resources(id).unwrap(), Some(&resources(MOVED_BAR)));
    assert_eq!(irps(&manager, id), [PnpIrp::Start, PnpIrp::QueryStop, PnpIrp::Stop, PnpIrp::Start]);
    assert_eq!(notes.borrow().calls, irps(&manager, id));
}

#[test]
fn claim_11_a_driver_that_leaks_a_mapping_on_stop_is_caught_at_its_map_call() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { leak_on_stop: true, ..Script::default() };
    let id = manager.add_device("leaky", RaiiDriver::new(script, &notes));
    let owner = manager.owner(id).unwrap();
    manager.start(id, resources(BAR)).unwrap();
    let va = mm.held_by(owner).io_mappings[0].address;
    manager.query_stop(id).unwrap();

    let stop = catch_bug_check(|| manager.stop(id));
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [IO_SPACE_MAPPING_LEAKED, va.0, 2, u64::from(owner.0)]);
    let location = stop.location.expect("the leak names the driver's line");
    assert_eq!(location.file(), file!());
    assert_eq!(location.line(), notes.borrow().map_lines[0]);
    // The STOP itself completed (successfully) before the check caught the leak.
    assert_eq!(irps(&manager, id).last(), Some(&PnpIrp::Stop));
}

#[test]
fn claim_12_surprise_removal_releases_and_remove_does_not_unmap_twice() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("ivshmem", NtDriver::new(false, &notes));
    let owner = manager.owner(id).unwrap();
    manager.start(id, resources(BAR)).unwrap();
    assert_eq!(mm.held_by(owner).io_mappings.len(), 1);

    manager.surprise_remove(id).unwrap();
    assert_eq!(manager.state(id), Ok(DeviceState::SurpriseRemoved));
    assert!(mm.held_by(owner).is_empty());

    // A second MmUnmapIoSpace would be 0xDA/0x400; REMOVE completes without one.
    manager.remove(id).unwrap();
    assert_eq!(manager.state(id), Ok(DeviceState::Deleted));
    assert_eq!(notes.borrow().unmap_lines.len(), 1, "exactly one MmUnmapIoSpace");
    assert_eq!(
        manager.log(id).unwrap(),
        [
            record(PnpIrp::Start, NtStatus::SUCCESS),
            record(PnpIrp::SurpriseRemoval, NtStatus::SUCCESS),
            record(PnpIrp::Remove, NtStatus::SUCCESS),
        ]
    );
}

#[test]
fn claim_12_a_driver_that_unmaps_again_on_remove_is_caught() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("careless", NtDriver::new(true, &notes));
    manager.start(id, resources(BAR)).unwrap();
    let va = mm.held_by(manager.owner(id).unwrap()).io_mappings[0].address;
    manager.surprise_remove(id).unwrap();

    let stop = catch_bug_check(|| manager.remove(id));
    assert_eq!(stop.code, code::SYSTEM_PTE_MISUSE);
    assert_eq!(stop.parameters, [0x400, va.0, 2, 0]);
    let location = stop.location.unwrap();
    assert_eq!(notes.borrow().unmap_lines.len(), 2);
    assert_eq!((location.file(), location.line()), (file!(), notes.borrow().unmap_lines[1]));
}

#[test]
fn claim_13_a_start_that_fails_after_unmapping_leaves_nothing() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_start_cleanly: Some(1), ..Script::default() };
    let id = manager.add_device("edu", RaiiDriver::new(script, &notes));

    assert_eq!(
        manager.start(id, resources(BAR)),
        Err(PnpError::StartFailed(NtStatus::INSUFFICIENT_RESOURCES))
    );
    assert_eq!(notes.borrow().map_lines.len(), 1, "the start did map before failing");
    assert!(mm.held_by(manager.owner(id).unwrap()).is_empty());
    assert!(mm.io_mappings().is_empty());
    assert_eq!(manager.start_failure(id), Ok(Some(NtStatus::INSUFFICIENT_RESOURCES)));
}

#[test]
fn claim_13_a_start_that_fails_without_unmapping_is_caught_at_its_map_call() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_start_keeping_mappings: Some(1), ..Script::default() };
    let id = manager.add_device("faulty", RaiiDriver::new(script, &notes));
    let owner = manager.owner(id).unwrap();

    let stop = catch_bug_check(|| manager.start(id, resources(BAR)));
    let leaked = mm.held_by(owner).io_mappings[0];
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [IO_SPACE_MAPPING_LEAKED, leaked.address.0, 2, u64::from(owner.0)]);
    let location = stop.location.unwrap();
    assert_eq!((location.file(), location.line()), (file!(), notes.borrow().map_lines[0]));
    // Caught at the failed START itself, before REMOVE could hide the leak.
    assert_eq!(manager.log(id).unwrap(), [record(PnpIrp::Start, NtStatus::UNSUCCESSFUL)]);
}

#[test]
fn claim_14_a_failed_first_start_is_followed_by_remove_not_stop() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_start_cleanly: Some(1), ..Script::default() };
    let id = manager.add_device("edu", RaiiDriver::new(script, &notes));

    assert!(manager.start(id, resources(BAR)).is_err());
    assert_eq!(
        manager.log(id).unwrap(),
        [record(PnpIrp::Start, NtStatus::INSUFFICIENT_RESOURCES), record(PnpIrp::Remove, NtStatus::SUCCESS)]
    );
    assert_eq!(notes.borrow().calls, [PnpIrp::Start, PnpIrp::Remove]);
    assert_eq!(manager.state(id), Ok(DeviceState::Deleted));
}

#[test]
fn claim_15_a_failed_restart_after_a_rebalance_stop_is_followed_by_surprise_removal_then_remove() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_start_cleanly: Some(2), ..Script::default() };
    let id = manager.add_device("edu", RaiiDriver::new(script, &notes));
    manager.start(id, resources(BAR)).unwrap();

    assert_eq!(
        manager.rebalance(id, resources(MOVED_BAR)),
        Err(PnpError::StartFailed(NtStatus::INSUFFICIENT_RESOURCES))
    );
    assert_eq!(
        manager.log(id).unwrap(),
        [
            record(PnpIrp::Start, NtStatus::SUCCESS),
            record(PnpIrp::QueryStop, NtStatus::SUCCESS),
            record(PnpIrp::Stop, NtStatus::SUCCESS),
            record(PnpIrp::Start, NtStatus::INSUFFICIENT_RESOURCES),
            record(PnpIrp::SurpriseRemoval, NtStatus::SUCCESS),
            record(PnpIrp::Remove, NtStatus::SUCCESS),
        ]
    );
    assert_eq!(manager.state(id), Ok(DeviceState::Deleted));
    assert!(mm.io_mappings().is_empty());
}

#[test]
fn claim_16_a_failed_query_stop_is_followed_by_cancel_stop() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_query_stop: true, ..Script::default() };
    let id = manager.add_device("paging", RaiiDriver::new(script, &notes));
    manager.start(id, resources(BAR)).unwrap();

    assert_eq!(
        manager.rebalance(id, resources(MOVED_BAR)),
        Err(PnpError::QueryStopFailed(NtStatus::UNSUCCESSFUL))
    );
    assert_eq!(
        manager.log(id).unwrap(),
        [
            record(PnpIrp::Start, NtStatus::SUCCESS),
            record(PnpIrp::QueryStop, NtStatus::UNSUCCESSFUL),
            record(PnpIrp::CancelStop, NtStatus::SUCCESS),
        ]
    );
    assert_eq!(manager.state(id), Ok(DeviceState::Started));
    // Still started on the old resources, still mapped.
    assert_eq!(manager.resources(id).unwrap(), Some(&resources(BAR)));
    assert_eq!(mm.held_by(manager.owner(id).unwrap()).io_mappings.len(), 1);
}

#[test]
fn claim_16_stop_is_sent_only_after_a_successful_query_stop() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("edu", RaiiDriver::new(Script::default(), &notes));
    assert_eq!(
        manager.stop(id),
        Err(PnpError::InvalidState { state: DeviceState::NotStarted, irp: PnpIrp::Stop })
    );
    manager.start(id, resources(BAR)).unwrap();
    assert_eq!(
        manager.stop(id),
        Err(PnpError::InvalidState { state: DeviceState::Started, irp: PnpIrp::Stop })
    );
    assert_eq!(irps(&manager, id), [PnpIrp::Start]);

    manager.query_stop(id).unwrap();
    manager.cancel_stop(id).unwrap();
    assert_eq!(manager.state(id), Ok(DeviceState::Started));
    assert_eq!(
        manager.stop(id),
        Err(PnpError::InvalidState { state: DeviceState::Started, irp: PnpIrp::Stop })
    );
    assert_eq!(irps(&manager, id), [PnpIrp::Start, PnpIrp::QueryStop, PnpIrp::CancelStop]);
}

#[test]
fn claim_17_stop_remove_surprise_removal_and_cancel_stop_complete_with_success() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_start_cleanly: Some(3), fail_query_remove: true, ..Script::default() };
    let id = manager.add_device("edu", RaiiDriver::new(script, &notes));
    manager.start(id, resources(BAR)).unwrap();
    manager.query_stop(id).unwrap();
    manager.cancel_stop(id).unwrap();
    assert_eq!(manager.remove(id), Err(PnpError::QueryRemoveFailed(NtStatus::UNSUCCESSFUL)));
    manager.rebalance(id, resources(MOVED_BAR)).unwrap();
    assert!(manager.rebalance(id, resources(BAR)).is_err());

    let log = manager.log(id).unwrap();
    for irp in
        [PnpIrp::Stop, PnpIrp::Remove, PnpIrp::SurpriseRemoval, PnpIrp::CancelStop, PnpIrp::CancelRemove]
    {
        assert!(log.iter().any(|record| record.irp == irp), "{irp} was sent");
    }
    for entry in log.iter().filter(|record| record.irp.must_succeed()) {
        assert_eq!(entry.status, NtStatus::SUCCESS, "{entry}");
    }
    assert!(log.iter().any(|record| !record.status.is_success()), "some IRPs did fail");
}

#[test]
fn claim_17_an_error_that_carries_a_success_status_is_still_a_failure() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_start_with_success: true, ..Script::default() };
    let id = manager.add_device("confused", RaiiDriver::new(script, &notes));
    assert_eq!(manager.start(id, resources(BAR)), Err(PnpError::StartFailed(NtStatus::UNSUCCESSFUL)));
    assert_eq!(manager.log(id).unwrap()[0], record(PnpIrp::Start, NtStatus::UNSUCCESSFUL));
    assert_eq!(manager.state(id), Ok(DeviceState::Deleted));
}

#[test]
fn a_leak_on_surprise_removal_is_caught() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { leak_on_surprise_removal: true, ..Script::default() };
    let id = manager.add_device("leaky", RaiiDriver::new(script, &notes));
    manager.start(id, resources(BAR)).unwrap();
    let stop = catch_bug_check(|| manager.surprise_remove(id));
    assert_eq!(
        (stop.code, stop.parameters[0]),
        (code::DRIVER_VERIFIER_DETECTED_VIOLATION, IO_SPACE_MAPPING_LEAKED)
    );
    assert_eq!(stop.location.unwrap().line(), notes.borrow().map_lines[0]);
}

#[test]
fn a_reservation_left_at_remove_is_caught_at_its_reserve_call() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let reserve_line = Rc::new(RefCell::new(0));
    let id = manager.add_device("reserver", Box::new(ReservingDriver { reserve_line: reserve_line.clone() }));
    let owner = manager.owner(id).unwrap();
    manager.start(id, resources(BAR)).unwrap();
    let reservation = mm.held_by(owner).reservations[0];
    assert_eq!(reservation.pages, 3);

    let stop = catch_bug_check(|| manager.remove(id));
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(stop.parameters, [RESERVATION_LEAKED, reservation.base.0, 3, u64::from(owner.0)]);
    let location = stop.location.unwrap();
    assert_eq!((location.file(), location.line()), (file!(), *reserve_line.borrow()));
    assert_eq!(irps(&manager, id), [PnpIrp::Start, PnpIrp::QueryRemove, PnpIrp::Remove]);
}

#[test]
fn remove_of_a_started_device_queries_first_and_a_failed_query_cancels() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let script = Script { fail_query_remove: true, ..Script::default() };
    let stubborn = manager.add_device("stubborn", RaiiDriver::new(script, &notes));
    let willing = manager.add_device("willing", RaiiDriver::new(Script::default(), &notes));
    manager.start(stubborn, resources(BAR)).unwrap();
    manager.start(willing, resources(MOVED_BAR)).unwrap();

    assert_eq!(manager.remove(stubborn), Err(PnpError::QueryRemoveFailed(NtStatus::UNSUCCESSFUL)));
    assert_eq!(irps(&manager, stubborn), [PnpIrp::Start, PnpIrp::QueryRemove, PnpIrp::CancelRemove]);
    assert_eq!(manager.state(stubborn), Ok(DeviceState::Started));

    manager.remove(willing).unwrap();
    assert_eq!(irps(&manager, willing), [PnpIrp::Start, PnpIrp::QueryRemove, PnpIrp::Remove]);
    assert_eq!(manager.state(willing), Ok(DeviceState::Deleted));
    // Each device's mappings are its own: the stubborn one still holds its BAR.
    assert!(mm.held_by(manager.owner(willing).unwrap()).is_empty());
    assert_eq!(mm.io_mappings().len(), 1);
    assert_eq!(mm.io_mappings()[0].owner, manager.owner(stubborn).unwrap());

    manager.query_remove(stubborn).unwrap_err();
    assert_eq!(
        manager.cancel_remove(stubborn),
        Err(PnpError::InvalidState { state: DeviceState::Started, irp: PnpIrp::CancelRemove })
    );
}

#[test]
fn a_deleted_device_takes_no_more_irps() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("edu", RaiiDriver::new(Script::default(), &notes));
    manager.remove(id).unwrap();
    assert_eq!(irps(&manager, id), [PnpIrp::Remove]);
    let deleted = |irp| Err(PnpError::InvalidState { state: DeviceState::Deleted, irp });
    assert_eq!(manager.start(id, resources(BAR)), deleted(PnpIrp::Start));
    assert_eq!(manager.surprise_remove(id), deleted(PnpIrp::SurpriseRemoval));
    assert_eq!(manager.remove(id), deleted(PnpIrp::Remove));
    assert_eq!(manager.state(DeviceId(7)), Err(PnpError::UnknownDevice(DeviceId(7))));
}

#[test]
fn the_owner_is_current_only_during_driver_calls() {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let notes = Rc::default();
    let id = manager.add_device("edu", RaiiDriver::new(Script::default(), &notes));
    assert!(!manager.owner(id).unwrap().is_none());
    manager.start(id, resources(BAR)).unwrap();
    assert_eq!(mm.current_owner(), OwnerId::NONE);

    // Outside any driver call a mapping belongs to nobody, so no device is blamed for it.
    let unowned = mm.map_io_space(PhysicalAddress(DEVICE_WINDOW), 0x1000, CachePolicy::Uncached).unwrap();
    assert_eq!(mm.held_by(OwnerId::NONE).io_mappings.len(), 1);
    manager.query_stop(id).unwrap();
    manager.stop(id).unwrap();
    assert_eq!(mm.io_mappings().len(), 1);
    drop(unowned);

    // A bug check that unwinds out of a release point still restores the previous owner.
    let script = Script { leak_on_stop: true, ..Script::default() };
    let leaky = manager.add_device("leaky", RaiiDriver::new(script, &notes));
    manager.start(leaky, resources(MOVED_BAR)).unwrap();
    manager.query_stop(leaky).unwrap();
    let _ = catch_bug_check(|| manager.stop(leaky));
    assert_eq!(mm.current_owner(), OwnerId::NONE);
}

#[test]
fn a_platform_that_keeps_no_owner_is_refused() {
    let mm = forgetful_memory_manager();
    assert!(matches!(PnpManager::new(&mm, &NoDevices), Err(OwnershipUnsupported)));
    assert_eq!(mm.current_owner(), OwnerId::NONE);
    // Records still carry an owner field: NONE.
    let mapping = mm.map_io_space(PhysicalAddress(BAR), 0x1000, CachePolicy::Uncached).unwrap();
    assert_eq!(mm.io_mappings()[0].owner, OwnerId::NONE);
    assert_eq!(mapping.address().page_offset(), 0);
    let _: VirtualAddress = mapping.into_raw();
}

/// Starts an [`MdlDriver`], stops it, and returns the bug check the stop raised, if any.
fn stop_mdl_driver(leak: MdlLeak) -> (Option<BugCheck>, Vec<u32>, OwnerId) {
    let mm = test_memory_manager();
    let mut manager = PnpManager::new(&mm, &NoDevices).unwrap();
    let lines = Rc::default();
    let id = manager.add_device("dma", MdlDriver::new(leak, &lines));
    let owner = manager.owner(id).unwrap();
    manager.start(id, resources(BAR)).unwrap();
    let held = mm.held_by(owner);
    assert_eq!(held.locked_mdls.len(), 1);
    assert_eq!(held.locked_mdls[0].pages, 2);
    assert_eq!(held.mdl_mappings.len(), usize::from(leak == MdlLeak::LockAndMapping));
    manager.query_stop(id).unwrap();
    let stop = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| manager.stop(id)))
        .err()
        .map(|payload| *payload.downcast::<BugCheck>().expect("a bug check"));
    if stop.is_none() {
        assert!(mm.held_by(owner).is_empty());
        assert!(mm.locked_mdls().list().is_empty());
    }
    let lines = lines.borrow().clone();
    (stop, lines, owner)
}

#[test]
fn claim_11_a_driver_that_unlocks_its_mdl_on_stop_holds_nothing() {
    assert_eq!(stop_mdl_driver(MdlLeak::Nothing).0, None);
}

#[test]
fn a_locked_mdl_left_at_stop_is_caught_at_its_probe_call() {
    let (stop, lines, _) = stop_mdl_driver(MdlLeak::Lock);
    let stop = stop.expect("a bug check");
    assert_eq!(stop.code, code::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS);
    assert_eq!([stop.parameters[0], stop.parameters[1], stop.parameters[3]], [0, 0, 2]);
    assert_ne!(stop.parameters[2], 0, "P3 is the MDL");
    let location = stop.location.unwrap();
    assert_eq!((location.file(), location.line()), (file!(), lines[0]));
}

#[test]
fn an_mdl_mapping_left_at_stop_is_caught_at_its_map_call() {
    let (stop, lines, owner) = stop_mdl_driver(MdlLeak::LockAndMapping);
    let stop = stop.expect("a bug check");
    assert_eq!(stop.code, code::DRIVER_VERIFIER_DETECTED_VIOLATION);
    assert_eq!(
        [stop.parameters[0], stop.parameters[2], stop.parameters[3]],
        [MDL_MAPPING_LEAKED, 2, u64::from(owner.0)]
    );
    let location = stop.location.unwrap();
    assert_eq!((location.file(), location.line()), (file!(), lines[1]));
}
