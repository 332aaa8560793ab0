//! `iospace run` end to end: the binary boots the machine, drives edu and reports.

use std::process::Command;

fn iospace(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_iospace")).args(args).output().expect("iospace runs")
}

#[test]
fn run_is_the_default_and_passes_on_the_default_machine() {
    for args in [&[][..], &["run"][..]] {
        let output = iospace(args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        for device in ["uart at Isa [ok]", "edu at PCI 00:01.0 [ok]", "ivshmem at PCI 00:02.0 [ok]"] {
            assert!(stdout.contains(device), "{device}: {stdout}");
        }
        assert!(stdout.contains("pci-testdev at PCI 00:03.0 [ok]"), "{stdout}");
        assert!(stdout.contains("[ok  ] identification: 0x010000ed"), "{stdout}");
        assert!(stdout.contains("[ok  ] DMA round trip"), "{stdout}");
        assert!(stdout.contains("rebalanced to:"), "{stdout}");
        assert!(stdout.contains("Port    bus 0x3f8 +0x8               Port    I/O 0x3f8 +0x8"), "{stdout}");
        assert!(stdout.contains("1 x 2 MiB"), "the window mapping uses a large page: {stdout}");
        assert!(stdout.contains("ok   MmMapLockedPagesWithReservedMapping round trips"), "{stdout}");
        assert!(stdout.contains("100 of 100 writes seen"), "{stdout}");
        assert!(stdout.contains("ok   MmAllocateContiguousMemorySpecifyCache (DMA buffer)"), "{stdout}");
        assert!(stdout.contains("left after the drivers were removed: 0"), "{stdout}");
        assert!(stdout.contains("verdict: PASS"), "{stdout}");
    }
}

#[test]
fn claim_19_run_passes_on_the_memory_mapped_ports_personality() {
    let output = iospace(&["run", "--personality", "memory-mapped-ports"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("Port    bus 0x3f8 +0x8               Memory  CPU 0x90000003f8 +0x8"),
        "{stdout}"
    );
    assert!(stdout.contains("READ/WRITE_PORT_* at mapped"), "{stdout}");
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
}

#[test]
fn run_json_is_the_same_report_as_one_object() {
    let output = iospace(&["run", "--json"]);
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["passed"], true);
    assert_eq!(report["personality"], "x86");
    let devices = report["devices"].as_array().unwrap();
    let edu = devices.iter().find(|device| device["name"] == "edu").unwrap();
    assert_eq!(edu["resources"][0]["raw"], "Memory  bus 0xfea00000 +0x100000");
    assert_eq!(edu["resources"][0]["translated"], "Memory  CPU 0xfea00000 +0x100000");
    assert!(edu["steps"].as_array().unwrap().iter().all(|step| step["passed"] == true));
    assert!(
        report["driver_mappings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row["device"] == "ivshmem" && row["cache"] == "WC")
    );
    assert_eq!(report["verifier"]["left_after_session"], 0);
    let bad = iospace(&["run", "--personality", "sparc"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid value 'sparc'"));
}

#[test]
fn run_takes_a_machine_description() {
    let dir = std::env::temp_dir().join(format!("iospace-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("small.toml");
    std::fs::write(&good, "name = \"small\"\nram_mib = 64\n[[device]]\nkind = \"edu\"\nbar0 = 0xc0000000\n")
        .unwrap();
    let output = iospace(&["run", "--machine", good.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("\"small\": 63.6 MiB of RAM"), "{stdout}");
    assert!(stdout.contains("Memory  bus 0xc0000000 +0x100000"), "{stdout}");

    for (text, expected) in [
        ("ram_mib = [", "not valid"),
        ("[[device]]\nkind = \"gpu\"", "unknown variant `gpu`"),
        ("[[device]]\nkind = \"edu\"\nbar0 = 0x1000", "not inside a PCI memory window"),
        ("[[device]]\nkind = \"edu\"\n[[device]]\nkind = \"edu\"", "overlap"),
        ("ram_mib = 0", "ram_mib = 0 is outside"),
        ("colour = 1", "unknown field `colour`"),
    ] {
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, text).unwrap();
        let output = iospace(&["run", "--machine", bad.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{text}: {stderr}");
        assert!(stderr.contains(expected), "{text}: {stderr}");
    }
    let output = iospace(&["run", "--machine", dir.join("missing.toml").to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read"));
    std::fs::remove_dir_all(&dir).unwrap();
}
