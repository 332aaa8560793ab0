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
        assert!(stdout.contains("ok   edu identification"), "{stdout}");
        assert!(stdout.contains("0x010000ed"), "{stdout}");
        assert!(stdout.contains("ok   edu factorial(10)"), "{stdout}");
        assert!(stdout.contains("1 x 2 MiB"), "the window mapping uses a large page: {stdout}");
        assert!(stdout.contains("ok   MmMapLockedPagesWithReservedMapping round trips"), "{stdout}");
        assert!(stdout.contains("100 of 100 writes seen"), "{stdout}");
        assert!(stdout.contains("ok   MmAllocateContiguousMemorySpecifyCache (DMA buffer)"), "{stdout}");
        assert!(stdout.contains("reserved "), "the reservation is listed: {stdout}");
        assert!(stdout.contains("contiguous "), "the DMA buffer is listed: {stdout}");
        assert!(stdout.contains("verdict: PASS"), "{stdout}");
    }
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
    assert!(stdout.contains("BAR0 0xc0000000"), "{stdout}");

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
