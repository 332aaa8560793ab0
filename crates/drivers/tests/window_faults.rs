//! A register access through a claimed window that faults names the driver's own line: the
//! window's accessors pass their caller's location through to the HAL routines, so a STOP
//! points at the driver, not at `device_resources.rs`.

use iospace_drivers::device_resources::DeviceResources;
use iospace_hal::address::BusAddress;
use iospace_hal::bug_check::code;
use iospace_hosted::{Machine, MachineDescription};
use iospace_mm::address::PhysicalAddress;
use iospace_mm::caching::CachePolicy;
use iospace_mm::ownership::OwnerId;
use iospace_pnp::driver::DeviceContext;
use iospace_pnp::resource::{Raw, Resource, ResourceEntry, ResourceList, Translated};
use iospace_pnp::translation::ResourcePair;

/// edu's BAR0 on the default machine, where bus and CPU addresses are the same.
const EDU_BAR0: u64 = 0xFEA0_0000;
const EDU_BAR0_BYTES: u64 = 0x10_0000;
/// edu's identification register and what it reads.
const IDENTIFICATION: u64 = 0x00;
const EDU_ID: u32 = 0x0100_00ED;

fn edu_bar0() -> ResourcePair {
    let raw: ResourceList<Raw> = ResourceList::new(vec![ResourceEntry::exclusive(
        Resource::memory(BusAddress(EDU_BAR0), EDU_BAR0_BYTES, 0).unwrap(),
    )])
    .unwrap();
    let translated: ResourceList<Translated> = ResourceList::new(vec![ResourceEntry::exclusive(
        Resource::memory(PhysicalAddress(EDU_BAR0), EDU_BAR0_BYTES, 0).unwrap(),
    )])
    .unwrap();
    ResourcePair::new(raw, translated).unwrap()
}

#[test]
fn a_misaligned_register_read_through_a_window_names_the_callers_line() {
    let machine = Machine::boot(&MachineDescription::default()).expect("the default machine boots");
    let device = DeviceContext::new(machine.mm(), &machine, OwnerId::NONE, "edu".into());
    let resources = DeviceResources::claim(&device, &edu_bar0(), |_, _| CachePolicy::Uncached).unwrap();
    let window = resources.memory(0).expect("BAR0 is a memory window");
    assert_eq!(window.read_u32(IDENTIFICATION), EDU_ID);

    let line = line!() + 1;
    let stop = machine.catch_bug_check(|| window.read_u32(IDENTIFICATION + 2)).unwrap_err();
    assert_eq!(stop.code, code::KMODE_EXCEPTION_NOT_HANDLED, "{stop}");
    let location = stop.location.expect("the STOP names a call site");
    assert_eq!((location.file(), location.line()), (file!(), line), "{stop}");
    drop(resources);
    assert!(machine.mm().io_mappings().is_empty(), "the window unmapped when dropped");
}
