//! The C test suite: each program under `tests/c/` is compiled with the system C compiler
//! (`-Wall -Wextra -Werror -std=c11`) against `include/` and the `libiospace_wdm.so` cargo built
//! for this test run, then run; it prints `N passed, N failed` and exits 0 only if every check
//! held. Misuse cases run one per process, as a bug check ends the machine.

mod common;

use common::{compile, run, scratch_directory};

/// Runs a compiled program and asserts it passed every check.
fn assert_passes(program: &str, arguments: &[&str]) -> std::process::Output {
    let output = run(&compile(program), arguments);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(" passed, 0 failed"),
        "{program} {arguments:?} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    output
}

#[test]
fn headers_give_mdl_and_resource_descriptors_their_x64_layouts() {
    assert_passes("layout", &[]);
}

#[test]
fn io_space_pool_contiguous_and_non_cached_routines_work_from_c() {
    assert_passes("memory", &[]);
}

#[test]
fn mdl_and_reserved_mapping_routines_work_from_c() {
    assert_passes("mdl", &[]);
}

#[test]
fn a_c_driver_finds_edu_through_the_hal_maps_bar0_and_reads_its_identification() {
    assert_passes("edu", &[]);
}

#[test]
fn the_same_c_driver_works_on_the_memory_mapped_ports_personality() {
    let description = scratch_directory("memory-mapped-ports").join("machine.toml");
    std::fs::write(
        &description,
        "personality = \"memory-mapped-ports\"\n\n[[device]]\nkind = \"edu\"\n\n[[device]]\nkind = \"uart\"\n",
    )
    .unwrap();
    assert_passes("edu", &[description.to_str().unwrap()]);
}

#[test]
fn hal_bus_routines_and_port_routines_work_from_c() {
    assert_passes("hal_ports", &[]);
}

#[test]
fn claim_23_and_24_large_memory_resources_encode_and_decode_from_c() {
    assert_passes("resources", &[]);
}

#[test]
fn boot_statuses_fresh_machines_per_thread_irql_and_concurrent_callers() {
    let scratch = scratch_directory("machine");
    let output = assert_passes("machine", &[scratch.to_str().unwrap()]);
    // The shutdown with leftovers lists them.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shutdown with 2 items outstanding"), "{stderr}");
    assert!(
        stderr.contains("I/O-space mapping at 0x") && stderr.contains("of physical 0xfea00000"),
        "{stderr}"
    );
    assert!(stderr.contains("reservation at 0x") && stderr.contains("tag 'wdmT'"), "{stderr}");
}

/// Runs each misuse case in a process of its own.
fn assert_misuse_cases(cases: &[&str]) {
    for case in cases {
        assert_passes("misuse", &[case]);
    }
}

#[test]
fn system_pte_misuse_0xda_reaches_the_callback_with_its_parameters() {
    assert_misuse_cases(&[
        "unmap_unknown_io_space",
        "reservation_of_zero_bytes",
        "free_reservation_with_wrong_tag",
        "map_reservation_with_wrong_tag",
    ]);
}

#[test]
fn memory_management_0x1a_reaches_the_callback_with_its_parameters() {
    assert_misuse_cases(&["map_unlocked_ram", "free_pages_of_an_mdl_that_has_none"]);
}

#[test]
fn driver_verifier_0xc4_reaches_the_callback_with_its_parameters() {
    assert_misuse_cases(&[
        "unlock_never_locked",
        "map_io_space_above_dispatch",
        "obsolete_map_locked_pages",
        "bug_check_on_failure",
    ]);
}

#[test]
fn probe_failures_irql_misuse_driver_bug_checks_and_a_missing_machine_reach_the_callback() {
    assert_misuse_cases(&[
        "probe_invalid_range",
        "raise_irql_to_a_lower_level",
        "driver_bug_check",
        "no_machine",
    ]);
}

#[test]
fn a_callback_that_returns_lets_the_stop_line_name_the_c_call_site_and_exit_1() {
    let output = run(&compile("misuse"), &["callback_returns"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stdout.contains("still running"), "{stdout}");
    let address = stdout.trim().strip_prefix("unmapping 0x").expect("the case prints the address it unmaps");
    let expected = format!(
        "*** STOP: 0x000000DA (0x0000000000000400, 0x{:016X}, 0x0000000000000001, 0x0000000000000000) \
         SYSTEM_PTE_MISUSE in MmUnmapIoSpace at ",
        u64::from_str_radix(address, 16).unwrap()
    );
    assert!(stderr.contains(&expected), "expected {expected:?} in:\n{stderr}");
    assert!(stderr.contains("tests/c/misuse.c:"), "the STOP line names the C line:\n{stderr}");
}

#[test]
fn without_a_callback_a_bug_check_prints_the_stop_line_and_exits_1() {
    let output = run(&compile("misuse"), &["no_callback"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("*** STOP: 0x000000E2 (0x0000000000000000,"), "{stderr}");
    assert!(stderr.contains("in KeBugCheckEx at "), "{stderr}");
}

#[test]
fn every_misuse_case_of_the_c_program_is_run_here() {
    let output = run(&compile("misuse"), &[]);
    let listed: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    assert!(!listed.is_empty());
    let here = include_str!("c_suite.rs");
    for case in &listed {
        assert!(here.contains(&format!("\"{case}\"")), "misuse case {case} is never run by c_suite.rs");
    }
}
