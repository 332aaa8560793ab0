//! The reference drivers on the hosted machine, through the whole PnP flow, on both platform
//! personalities: enumerate, arbitrate, start, work, rebalance, remove.

use iospace_drivers::catalog::DeviceKind;
use iospace_drivers::ivshmem;
use iospace_drivers::session::{self, Hardware, SessionReport};
use iospace_hal::address::InterfaceType;
use iospace_hosted::description::PersonalityKind;
use iospace_hosted::{Machine, MachineDescription};

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
