//! `examples/c-driver` keeps working: its Makefile builds it against the library cargo built for
//! this test run (the shared one, as the static one is only built by `cargo build`), and the
//! driver finds edu, computes factorials and unloads without leaving a mapping, on both
//! personalities.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn example_directory() -> PathBuf {
    common::crate_directory().join("../../examples/c-driver")
}

/// Builds the example with its own Makefile, or with the same command by hand where `make` is
/// missing.
fn build_example() -> PathBuf {
    let output = common::scratch_directory("c-driver").join("edu-driver");
    let library = common::library_directory();
    let shared = library.join("libiospace_wdm.so");
    let has_make = Command::new("make").arg("--version").output().is_ok_and(|result| result.status.success());
    if has_make {
        let result = Command::new("make")
            .arg("-C")
            .arg(example_directory())
            .arg(format!("OUT={}", output.display()))
            .arg(format!("LIB={}", shared.display()))
            .arg(format!("LDFLAGS=-Wl,-rpath,{}", library.display()))
            .arg(&output)
            .output()
            .expect("make runs");
        assert!(
            result.status.success(),
            "make failed:\n{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
    } else {
        let directory = example_directory();
        common::compile_sources(
            &[directory.join("edu_driver.c"), directory.join("host.c")],
            &[directory],
            &output,
        );
    }
    output
}

fn run_example(program: &Path, arguments: &[&str]) -> String {
    let result = common::run(program, arguments);
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(result.status.success(), "{stdout}{}", String::from_utf8_lossy(&result.stderr));
    stdout
}

#[test]
fn the_c_driver_example_builds_and_drives_edu_on_both_personalities() {
    let program = build_example();

    let stdout = run_example(&program, &[]);
    assert!(stdout.contains("edu: identification 0x010000ed, version 1.0, liveness ok"), "{stdout}");
    assert!(stdout.contains("edu: 10! = 3628800"), "{stdout}");
    assert!(stdout.contains("edu: unloaded, 0 mappings outstanding"), "{stdout}");

    let description = common::scratch_directory("c-driver-mmp").join("machine.toml");
    std::fs::write(&description, "personality = \"memory-mapped-ports\"\n\n[[device]]\nkind = \"edu\"\n")
        .unwrap();
    let stdout = run_example(&program, &[description.to_str().unwrap()]);
    assert!(stdout.contains("edu: 12! = 479001600"), "{stdout}");
    assert!(stdout.contains("edu: unloaded, 0 mappings outstanding"), "{stdout}");
}
