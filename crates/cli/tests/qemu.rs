//! `iospace qemu` end to end: the kernel is built, booted under `qemu-system-x86_64 -machine
//! q35 -accel tcg` with edu, ivshmem-plain, pci-testdev and isa-debug-exit, and must exit with
//! its success code, print the report, and leave the ivshmem driver's pattern in the host's
//! shared-memory file. Skipped, loudly, where QEMU is not installed (CI installs it).

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use iospace_drivers::ivshmem::{PATTERN_BYTES, pattern};

const QEMU: &str = "qemu-system-x86_64";

fn qemu_installed() -> bool {
    Command::new(QEMU).arg("--version").output().is_ok_and(|output| output.status.success())
}

/// A shared-memory file no other run uses.
fn shared_memory_path() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(format!("/dev/shm/iospace-qemu-{}-{n}", std::process::id()))
}

/// Removes the file when the test ends, passed or not.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn iospace_qemu(shared_memory: &Removed, extra: &[&str]) -> (std::process::Output, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_iospace"))
        .args(["qemu", "--keep-shared-memory", "--timeout", "120", "--shared-memory"])
        .arg(&shared_memory.0)
        .args(extra)
        .output()
        .expect("iospace runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

#[test]
fn the_kernel_boots_under_qemu_runs_the_drivers_and_leaves_the_pattern_in_shared_memory() {
    if !qemu_installed() {
        eprintln!(
            "\n*** SKIPPED: {QEMU} is not installed, so the metal kernel was not booted. \
             Install it (Debian: apt-get install qemu-system-x86) to run this test. ***\n"
        );
        return;
    }
    let shared_memory = Removed(shared_memory_path());
    let (output, stdout) = iospace_qemu(&shared_memory, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "status {}\n{stdout}\n{stderr}", output.status);

    // The kernel's report: the drivers through the PnP manager, then the self-tests.
    for expected in [
        "iospace run: metal machine",
        "uart at Isa [ok]",
        "edu at PCI 00:01.0 [ok]",
        "ivshmem at PCI 00:02.0 [ok]",
        "pci-testdev at PCI 00:03.0 [ok]",
        "[ok  ] DMA round trip",
        "rebalanced to:",
        "Left behind after removal: 0",
        "ok   IA32_PAT holds mm's layout",
        "ok   MmMapIoSpace(NonCached): leaf selects UC",
        "ok   MmMapIoSpace(WriteCombined): leaf selects WC",
        "ok   MmGetPhysicalAddress inverts MmMapIoSpace",
        "ok   unmapped address page-faults; handler on its IST stack",
        "ok   1 GiB-aligned range maps with a 1 GiB leaf",
        "ok   MmUnmapIoSpace invalidates one invlpg per leaf",
        "ok   MmMapLockedPagesWithReservedMapping aliases the pool buffer",
        "verdict: PASS",
        "kernel: PASS (isa-debug-exit 0x10, QEMU status 33)",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");

    // The host's own look at the shared memory the guest wrote through BAR2.
    let contents = std::fs::read(&shared_memory.0).expect("the shared-memory file is kept");
    let expected = pattern(PATTERN_BYTES as usize);
    assert_eq!(&contents[..expected.len()], &expected[..], "the ivshmem pattern in {:?}", shared_memory.0);
}

#[test]
fn a_bug_check_on_metal_prints_the_stop_line_and_exits_with_a_failure_code() {
    if !qemu_installed() {
        eprintln!("\n*** SKIPPED: {QEMU} is not installed, so the metal bug-check path was not run. ***\n");
        return;
    }
    for (how, stop_line) in [
        ("page-fault", "*** STOP: 0x00000050 (0xFFFFC00700000000, 0x0000000000000000"),
        ("unmap-unknown", "*** STOP: 0x000000DA (0x0000000000000400, 0xFFFFC00700000000"),
    ] {
        let shared_memory = Removed(shared_memory_path());
        let (output, stdout) = iospace_qemu(&shared_memory, &["--append", &format!("iospace.stop={how}")]);
        assert_eq!(output.status.code(), Some(1), "{how}: {stdout}");
        assert!(stdout.contains(stop_line), "{how}: missing {stop_line:?} in:\n{stdout}");
        assert!(stdout.contains("kernel: FAIL: bug check (QEMU status 37)"), "{how}: {stdout}");
        assert!(!stdout.contains("verdict: PASS"), "{how}: {stdout}");
    }
}
