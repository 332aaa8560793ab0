//! Machine descriptions: what they may say, and the clear error each mistake gets (never a
//! panic).

use iospace_hosted::description::{DeviceKind, PersonalityKind};
use iospace_hosted::{Machine, MachineDescription};

fn error(text: &str) -> String {
    match MachineDescription::from_toml(text) {
        Ok(description) => panic!("accepted: {text}\n{description:?}"),
        Err(error) => error.to_string(),
    }
}

fn assert_error(text: &str, expected: &[&str]) {
    let message = error(text);
    for part in expected {
        assert!(message.contains(part), "{text}\n  gave: {message}\n  missing: {part}");
    }
}

#[test]
fn the_default_description_is_q35_with_edu_ivshmem_pci_testdev_and_com1() {
    let description = MachineDescription::default();
    let kinds: Vec<_> = description.devices.iter().map(|device| device.kind).collect();
    assert_eq!(kinds, [DeviceKind::Edu, DeviceKind::Ivshmem, DeviceKind::PciTestdev, DeviceKind::Uart]);
    assert_eq!(description.personality, PersonalityKind::X86);
    description.validate().unwrap();
    let text = "[[device]]\nkind = \"edu\"\nbar0 = 0xfea00000\n[[device]]\nkind = \"ivshmem\"\n\
                [[device]]\nkind = \"pci-testdev\"\n[[device]]\nkind = \"uart\"\n";
    assert_eq!(MachineDescription::from_toml(text).unwrap(), description);
}

#[test]
fn every_option_parses() {
    let description = MachineDescription::from_toml(
        "name = \"all\"\nram_mib = 64\npersonality = \"memory-mapped-ports\"\nport_window = 0x3_0000_0000\n\
         memory_offset = 0x40_0000_0000\n\
         [[device]]\nkind = \"ivshmem\"\nsize = 0x10000\npath = \"/tmp/x\"\n\
         [[device]]\nkind = \"uart\"\nport = 0x2f8\n\
         [[device]]\nkind = \"pci-testdev\"\nbar0 = 0xc0000000\n",
    )
    .unwrap();
    assert_eq!(description.devices[0].shared_memory_size(), 0x10000);
    assert_eq!(description.devices[1].uart_port(), 0x2F8);
    assert_eq!(description.memory_offset(), 0x40_0000_0000);
    assert_eq!(description.port_window_base(), Some(0x3_0000_0000));
}

#[test]
fn malformed_toml_and_unknown_names_are_reported_with_their_place() {
    assert_error("ram_mib = [", &["not valid", "line 1"]);
    assert_error(
        "[[device]]\nkind = \"gpu\"",
        &["unknown variant `gpu`", "edu", "ivshmem", "pci-testdev", "uart"],
    );
    assert_error("colour = 1", &["unknown field `colour`"]);
    assert_error("personality = \"arm\"", &["unknown variant `arm`", "memory-mapped-ports"]);
    assert_error("[[device]]\nkind = \"uart\"\nport = 0x10000", &["port"]);
}

#[test]
fn fixed_bars_that_overlap_are_refused() {
    assert_error("[[device]]\nkind = \"edu\"\n[[device]]\nkind = \"edu\"", &["0xfea00000", "overlap"]);
    assert_error(
        "[[device]]\nkind = \"edu\"\nbar0 = 0xc0000000\n[[device]]\nkind = \"pci-testdev\"\nbar0 = 0xc0080000",
        &["[[device]] 1 (edu)", "[[device]] 2 (pci-testdev)", "overlap"],
    );
}

#[test]
fn bars_outside_or_larger_than_their_window_are_refused() {
    assert_error(
        "[[device]]\nkind = \"edu\"\nbar0 = 0x1000",
        &["(edu) BAR0", "not inside a PCI memory window"],
    );
    assert_error(
        "[[device]]\nkind = \"edu\"\nbar0 = 0xfeb80000",
        &["not inside a PCI memory window", "0xfec00000"],
    );
    assert_error("[[device]]\nkind = \"edu\"\nbar0 = 0xc0001000", &["not aligned to its size 0x100000"]);
    assert_error(
        "[[device]]\nkind = \"ivshmem\"\nsize = 0x4000000000",
        &["(ivshmem) BAR2", "larger than the 64-bit PCI memory window"],
    );
}

#[test]
fn ivshmem_sizes_must_be_powers_of_two_of_at_least_4_kib() {
    assert_error("[[device]]\nkind = \"ivshmem\"\nsize = 0x300000", &["size = 0x300000", "power of two"]);
    assert_error("[[device]]\nkind = \"ivshmem\"\nsize = 0x800", &["at least 4 KiB"]);
    assert_error("[[device]]\nkind = \"ivshmem\"\nsize = 0", &["power of two"]);
}

#[test]
fn options_of_another_kind_of_device_are_refused() {
    assert_error("[[device]]\nkind = \"edu\"\nsize = 0x1000", &["`size` does not apply to a edu device"]);
    assert_error("[[device]]\nkind = \"uart\"\nbar0 = 0xc0000000", &["`bar0` does not apply"]);
    assert_error("[[device]]\nkind = \"pci-testdev\"\nport = 0x3f8", &["`port` does not apply"]);
}

#[test]
fn uart_ports_may_not_collide() {
    assert_error("[[device]]\nkind = \"uart\"\nport = 0xcf8", &["overlap the PCI configuration ports"]);
    assert_error("[[device]]\nkind = \"uart\"\nport = 0xc100", &["overlap the PCI I/O window"]);
    assert_error("[[device]]\nkind = \"uart\"\nport = 0xfffc", &["pass the end of port space"]);
    assert_error(
        "[[device]]\nkind = \"uart\"\n[[device]]\nkind = \"uart\"\nport = 0x3fc",
        &["overlap those of [[device]] 1"],
    );
}

#[test]
fn a_port_window_that_overlaps_something_is_refused() {
    let mapped = "personality = \"memory-mapped-ports\"\n";
    assert_error(&format!("{mapped}port_window = 0x0"), &["port window", "overlaps", "low RAM"]);
    assert_error(&format!("{mapped}port_window = 0xb0000000"), &["port window", "PCI ECAM"]);
    assert_error(
        &format!("{mapped}port_window = 0x180_0000_0000"),
        &["port window", "64-bit PCI memory window"],
    );
    assert_error(&format!("{mapped}port_window = 0x1234"), &["port_window = 0x1234 is not page-aligned"]);
    assert_error(&format!("{mapped}memory_offset = 0xf_fff0_0000_0000"), &["memory_offset", "beyond 2^52"]);
    assert_error(
        &format!("{mapped}memory_offset = 0x7fff_ffff_ffff_f000"),
        &["memory_offset", "beyond 2^52"],
    );
    // An offset that moves a PCI window onto RAM.
    assert_error(
        &format!("{mapped}ram_mib = 8192\nmemory_offset = 0x1_0000_0000"),
        &["32-bit PCI memory window", "RAM above 4 GiB"],
    );
    // x86 has no port window.
    assert_error("port_window = 0x90_0000_0000", &["port_window applies only to personality"]);
    assert_error("memory_offset = 0x1000", &["memory_offset applies only to personality"]);
}

#[test]
fn an_unusable_shared_file_is_a_boot_error_naming_the_file() {
    let description =
        MachineDescription::from_toml("[[device]]\nkind = \"ivshmem\"\npath = \"/nonexistent/dir/file\"")
            .unwrap();
    let error = Machine::boot(&description).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/dir/file"), "{error}");
}
