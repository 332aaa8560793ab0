//! The reference drivers on the hosted machine, through the whole PnP flow, on both platform
//! personalities: enumerate, arbitrate, start, work, rebalance, remove.

use iospace_drivers::catalog::DeviceKind;
use iospace_drivers::journal::Journal;
use iospace_drivers::session::{self, Hardware, SessionReport};
use iospace_drivers::{edu, ivshmem, pci_testdev};
use iospace_hal::address::InterfaceType;
use iospace_hosted::description::PersonalityKind;
use iospace_hosted::{Machine, MachineDescription};
use iospace_pnp::device_state::{DeviceState, PnpIrp};
use iospace_pnp::hal_translator::HalTranslator;
use iospace_pnp::pci_enumeration;
use iospace_pnp::pnp_manager::{DeviceId, PnpError, PnpManager};
use iospace_pnp::resource::Resource;
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

/// The default machine with `personality`, its ivshmem file at a path unique to `test`.
fn description(personality: PersonalityKind, test: &str) -> MachineDescription {
    let mut description = MachineDescription { personality, ..MachineDescription::default() };
    let path = std::env::temp_dir().join(format!("iospace-drivers-{test}-{}", std::process::id()));
    for device in &mut description.devices {
        if device.kind == iospace_hosted::description::DeviceKind::Ivshmem {
            device.path = Some(path.clone());
        }
    }
    description
}

/// Runs the session on `machine`, rebalancing edu.
fn run(machine: &Machine) -> SessionReport {
    let mut hardware =
        Hardware::new(machine.mm(), machine, machine, machine.translator(), machine.pci_windows())
            .rebalancing(DeviceKind::Edu);
    for legacy in machine.legacy_devices() {
        let kind = DeviceKind::from_name(legacy.kind).expect("a driver for every legacy device");
        hardware = hardware.with_legacy(kind, InterfaceType::Isa, legacy.resources);
    }
    session::run(&hardware)
}

fn device<'a>(report: &'a SessionReport, name: &str) -> &'a session::DeviceReport {
    report.devices.iter().find(|device| device.name == name).unwrap_or_else(|| panic!("{name} in\n{report}"))
}

fn whole_flow(personality: PersonalityKind, test: &str) -> (SessionReport, Vec<u8>) {
    let description = description(personality, test);
    let machine = Machine::boot(&description).expect("the machine boots");
    let report = run(&machine);
    let path = machine.ivshmem_paths()[0].clone();
    drop(machine);
    // Read from outside the machine, after it is gone.
    let shared = std::fs::read(&path).expect("the shared-memory file is still there");
    std::fs::remove_file(&path).unwrap();
    (report, shared)
}

fn check_whole_flow(personality: PersonalityKind, test: &str) -> SessionReport {
    let (report, shared) = whole_flow(personality, test);
    assert!(report.passed(), "{report}");
    for name in ["edu", "ivshmem", "pci-testdev", "uart"] {
        let device = device(&report, name);
        assert!(device.driven && !device.steps.is_empty(), "{name} did its work:\n{report}");
        assert_eq!(device.state, "Deleted", "{name} ends removed");
        assert!(device.irps.iter().any(|irp| irp.contains("REMOVE")), "{name}: {:?}", device.irps);
    }
    assert_eq!(report.leftovers, 0);
    // The host sees the pattern the driver wrote through BAR2.
    let expected = ivshmem::pattern(ivshmem::PATTERN_BYTES as usize);
    assert_eq!(&shared[..expected.len()], &expected[..], "the pattern is in the shared-memory file");
    assert_eq!(&shared[..8], b"iospace!");
    report
}

#[test]
fn claim_11_the_whole_flow_on_x86_leaves_nothing_behind() {
    let report = check_whole_flow(PersonalityKind::X86, "x86");
    let uart = device(&report, "uart");
    assert_eq!(uart.resources[0].translated, "Port    I/O 0x3f8 +0x8", "claim 20: ports stay ports on x86");
    assert!(uart.steps.iter().any(|step| step.detail.contains("on port 0x3f8")), "{report}");
}

#[test]
fn claim_19_the_whole_flow_with_memory_mapped_ports() {
    let report = check_whole_flow(PersonalityKind::MemoryMappedPorts, "mmio");
    let uart = device(&report, "uart");
    assert!(uart.resources[0].translated.starts_with("Memory  CPU 0x90000003f8"), "{report}");
    assert!(uart.steps.iter().any(|step| step.detail.contains("READ/WRITE_PORT_* at mapped")), "{report}");
    let testdev = device(&report, "pci-testdev");
    assert!(testdev.steps.iter().all(|step| step.passed), "{report}");
}

#[test]
fn claim_18_the_rebalanced_device_restarts_on_new_resources_and_works_there() {
    let (report, _) = whole_flow(PersonalityKind::X86, "rebalance");
    let edu = device(&report, "edu");
    assert_eq!(edu.rebalanced.len(), edu.resources.len());
    assert_ne!(edu.rebalanced[0].raw, edu.resources[0].raw, "the BAR moved");
    let irps = edu.irps.join(" ");
    for irp in ["QUERY_STOP", "STOP", "START", "REMOVE"] {
        assert!(irps.contains(irp), "{irps}");
    }
    // Identification was checked on both sets of resources.
    let identified = edu.steps.iter().filter(|step| step.action == "identification" && step.passed).count();
    assert_eq!(identified, 2, "{report}");
}

#[test]
fn the_report_shows_raw_beside_translated_and_every_mapping() {
    let (report, _) = whole_flow(PersonalityKind::MemoryMappedPorts, "report");
    let text = report.to_string();
    assert!(text.contains("raw (bus-relative)") && text.contains("translated (CPU)"), "{text}");
    assert!(
        report.mappings.iter().any(|row| row.device == "ivshmem" && row.cache.to_string().contains("WC")),
        "{text}"
    );
    assert!(report.mappings.iter().any(|row| row.device == "edu"));
}

/// Both personalities, ivshmem files removed at boot.
fn machines(test: &str) -> Vec<Machine> {
    [PersonalityKind::X86, PersonalityKind::MemoryMappedPorts]
        .into_iter()
        .map(|personality| {
            let machine = Machine::boot(&description(personality, test)).expect("the machine boots");
            for path in machine.ivshmem_paths() {
                let _ = std::fs::remove_file(path);
            }
            machine
        })
        .collect()
}

/// The resources the firmware gave the PCI function `vendor`:`device`, raw and translated.
fn firmware_resources(machine: &Machine, vendor: u16, device: u16) -> ResourcePair {
    let function = pci_enumeration::scan(machine)
        .into_iter()
        .find(|function| (function.vendor_id, function.device_id) == (vendor, device))
        .expect("the function is on the bus");
    let translator = HalTranslator::new(machine.translator(), InterfaceType::PciBus, 0);
    ResourcePair::translate(function.current_resources(), &translator).expect("the firmware's BARs translate")
}

fn edu(machine: &Machine) -> ResourcePair {
    firmware_resources(machine, edu::VENDOR_ID, edu::DEVICE_ID)
}

fn irps(pnp: &PnpManager<'_>, id: DeviceId) -> Vec<PnpIrp> {
    pnp.log(id).unwrap().iter().map(|record| record.irp).collect()
}

#[test]
fn claim_12_surprise_removal_releases_and_remove_does_not_unmap_twice() {
    for machine in machines("claim12") {
        let mut pnp = PnpManager::new(machine.mm(), &machine).unwrap();
        let journal = Journal::new();
        let id = pnp.add_device("edu", DeviceKind::Edu.driver(journal.clone()));
        pnp.start(id, edu(&machine)).unwrap();
        assert_eq!(machine.mm().io_mappings().len(), 1);
        pnp.surprise_remove(id).unwrap();
        assert!(machine.mm().io_mappings().is_empty(), "released at SURPRISE_REMOVAL");
        // A second MmUnmapIoSpace would be bug check 0xDA; REMOVE must not make one.
        machine.catch_bug_check(|| pnp.remove(id)).expect("REMOVE does not unmap again").unwrap();
        assert_eq!(pnp.state(id).unwrap(), DeviceState::Deleted);
        assert!(journal.passed(), "{:?}", journal.steps());
    }
}

#[test]
fn claim_13_claim_14_a_driver_that_finds_the_wrong_device_unmaps_and_is_removed() {
    for machine in machines("claim14") {
        let mut pnp = PnpManager::new(machine.mm(), &machine).unwrap();
        let journal = Journal::new();
        let id = pnp.add_device("edu", DeviceKind::Edu.driver(journal.clone()));
        // pci-testdev's BARs are not an edu: the identification check fails START.
        let wrong = firmware_resources(&machine, pci_testdev::VENDOR_ID, pci_testdev::DEVICE_ID);
        let error = machine.catch_bug_check(|| pnp.start(id, wrong)).expect("no leak: the driver unmapped");
        assert_eq!(error, Err(PnpError::StartFailed(NtStatus::DEVICE_CONFIGURATION_ERROR)));
        assert!(machine.mm().io_mappings().is_empty());
        assert_eq!(irps(&pnp, id), [PnpIrp::Start, PnpIrp::Remove], "REMOVE, not STOP");
        assert!(!journal.passed());
    }
}

#[test]
fn claim_15_a_restart_that_fails_after_a_rebalance_is_surprise_removed_then_removed() {
    for machine in machines("claim15") {
        let mut pnp = PnpManager::new(machine.mm(), &machine).unwrap();
        let id = pnp.add_device("edu", DeviceKind::Edu.driver(Journal::new()));
        pnp.start(id, edu(&machine)).unwrap();
        let wrong = firmware_resources(&machine, pci_testdev::VENDOR_ID, pci_testdev::DEVICE_ID);
        let result = machine.catch_bug_check(|| pnp.rebalance(id, wrong)).unwrap();
        assert!(matches!(result, Err(PnpError::StartFailed(_))));
        let log = irps(&pnp, id);
        assert_eq!(
            &log[1..],
            [PnpIrp::QueryStop, PnpIrp::Stop, PnpIrp::Start, PnpIrp::SurpriseRemoval, PnpIrp::Remove]
        );
        assert!(machine.mm().io_mappings().is_empty());
    }
}

#[test]
fn claim_20_translated_ports_are_never_mapped_on_x86_and_claim_19_always_mapped_otherwise() {
    for machine in machines("claim20") {
        let mut pnp = PnpManager::new(machine.mm(), &machine).unwrap();
        let journal = Journal::new();
        let id = pnp.add_device("pci-testdev", DeviceKind::PciTestdev.driver(journal.clone()));
        let resources = firmware_resources(&machine, pci_testdev::VENDOR_ID, pci_testdev::DEVICE_ID);
        let port_translated_to_memory = resources.iter().any(|(raw, translated)| {
            matches!(raw.resource, Resource::Port { .. })
                && matches!(translated.resource, Resource::Memory { .. })
        });
        pnp.start(id, resources.clone()).unwrap();
        let mapped = machine.mm().io_mappings().len();
        if port_translated_to_memory {
            assert_eq!(mapped, 2, "the memory BAR and the port BAR placed in memory are mapped");
        } else {
            assert_eq!(mapped, 1, "only the memory BAR is mapped; the port BAR is used by number");
        }
        assert!(journal.passed(), "{:?}", journal.steps());
        pnp.remove(id).unwrap();
    }
}

#[test]
fn claim_16_claim_17_stop_follows_a_successful_query_stop_and_releases_succeed_on_both_personalities() {
    for (personality, test) in
        [(PersonalityKind::X86, "claim17x86"), (PersonalityKind::MemoryMappedPorts, "claim17mmp")]
    {
        let (report, _) = whole_flow(personality, test);
        for device in report.devices.iter().filter(|device| device.driven) {
            for irp in &device.irps {
                let release = ["IRP_MN_STOP_DEVICE", "IRP_MN_REMOVE_DEVICE", "IRP_MN_SURPRISE_REMOVAL"]
                    .iter()
                    .any(|name| irp.starts_with(name));
                if release {
                    assert!(irp.ends_with("-> 0x00000000"), "{}: {irp}", device.name);
                }
            }
        }
        let edu = device(&report, "edu");
        let position = |name: &str| edu.irps.iter().position(|irp| irp.starts_with(name)).unwrap();
        assert_eq!(
            position("IRP_MN_QUERY_STOP_DEVICE") + 1,
            position("IRP_MN_STOP_DEVICE"),
            "{:?}",
            edu.irps
        );
    }
}
