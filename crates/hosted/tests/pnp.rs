//! The PnP manager on the hosted machine: a driver for the edu device started with the edu BAR as
//! its resources, and faulty drivers caught with the bug check and their own call site.

mod common;

use common::*;
use iospace_hosted::Machine;
use iospace_mm::address::PhysicalAddress;
use iospace_mm::caching::CachePolicy;
use iospace_mm::io_space::IoMapping;
use iospace_pnp::driver::{DeviceContext, Driver};
use iospace_pnp::pnp_manager::PnpManager;
use iospace_pnp::resource::{BusAddress, Raw, Resource, ResourceEntry, ResourceList, Translated};
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

const EDU_BAR0_BYTES: u64 = 1 << 20;

/// Edu's BAR0 as the PnP manager hands it over on x86: bus address = CPU physical address.
fn edu_resources() -> ResourcePair {
    let raw: ResourceList<Raw> = ResourceList::new(vec![ResourceEntry::exclusive(
        Resource::memory(BusAddress(EDU_BAR0.0), EDU_BAR0_BYTES, 0).unwrap(),
    )])
    .unwrap();
    let translated: ResourceList<Translated> = ResourceList::new(vec![ResourceEntry::exclusive(
        Resource::memory(PhysicalAddress(EDU_BAR0.0), EDU_BAR0_BYTES, 0).unwrap(),
    )])
    .unwrap();
    ResourcePair::new(raw, translated).unwrap()
}

/// Maps every translated memory resource on START; on STOP releases them unless it is the
/// faulty variant.
struct EduDriver<'mm> {
    leak_on_stop: bool,
    fail_start_keeping_mappings: bool,
    mappings: Vec<IoMapping<'mm>>,
}

impl<'mm> Driver<'mm> for EduDriver<'mm> {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        for entry in resources.translated().iter() {
            if let Resource::Memory { start, length, .. } = entry.resource {
                let mapping = device.mm().map_io_space(start, length.bytes(), CachePolicy::Uncached);
                self.mappings.push(mapping.map_err(|_| NtStatus::INSUFFICIENT_RESOURCES)?);
            }
        }
        if self.fail_start_keeping_mappings { Err(NtStatus::UNSUCCESSFUL) } else { Ok(()) }
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {
        if !self.leak_on_stop {
            self.mappings.clear();
        } else {
            for mapping in self.mappings.drain(..) {
                let _ = mapping.into_raw();
            }
        }
    }

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
        self.mappings.clear();
    }

    fn remove(&mut self, _device: &DeviceContext<'mm>) {
        self.mappings.clear();
    }
}

fn driver<'mm>(leak_on_stop: bool, fail_start_keeping_mappings: bool) -> Box<EduDriver<'mm>> {
    Box::new(EduDriver { leak_on_stop, fail_start_keeping_mappings, mappings: Vec::new() })
}

fn manager(machine: &Machine) -> PnpManager<'_> {
    PnpManager::new(machine.mm(), machine).expect("the hosted platform tracks owners")
}

#[test]
fn claim_11_a_driver_by_the_book_holds_nothing_after_stop() {
    let machine = machine();
    let mut pnp = manager(&machine);
    let edu = pnp.add_device("edu", driver(false, false));
    pnp.start(edu, edu_resources()).unwrap();
    assert_eq!(machine.mm().io_mappings().len(), 1);
    pnp.query_stop(edu).unwrap();
    pnp.stop(edu).unwrap();
    assert!(machine.mm().io_mappings().is_empty());
}

#[test]
fn a_driver_that_leaks_a_mapping_on_stop_is_caught_at_its_map_call() {
    let machine = machine();
    let mut pnp = manager(&machine);
    let edu = pnp.add_device("edu", driver(true, false));
    pnp.start(edu, edu_resources()).unwrap();
    pnp.query_stop(edu).unwrap();
    let stop = machine.catch_bug_check(|| pnp.stop(edu)).unwrap_err();
    assert_eq!((stop.code, stop.parameters[0]), (0xC4, 0x1001));
    assert_eq!(stop.parameters[2], EDU_BAR0_BYTES / 0x1000, "P3 = pages of the leaked mapping");
    let location = stop.location.unwrap();
    assert!(location.file().ends_with("tests/pnp.rs"), "{stop}");
    let source = include_str!("pnp.rs");
    let line = source.lines().nth(location.line() as usize - 1).unwrap();
    assert!(line.contains("map_io_space"), "the bug check names the driver's MmMapIoSpace call: {line}");
}

#[test]
fn claim_13_a_driver_that_fails_start_without_unmapping_is_caught() {
    let machine = machine();
    let mut pnp = manager(&machine);
    let edu = pnp.add_device("edu", driver(false, true));
    let stop = machine.catch_bug_check(|| pnp.start(edu, edu_resources())).unwrap_err();
    assert_eq!((stop.code, stop.parameters[0]), (0xC4, 0x1001));
    let source = include_str!("pnp.rs");
    let line = source.lines().nth(stop.location.unwrap().line() as usize - 1).unwrap();
    assert!(line.contains("map_io_space"), "{line}");
}
