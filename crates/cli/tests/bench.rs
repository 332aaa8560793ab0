//! `iospace bench --quick --json` end to end: every workload prints one JSON object with the
//! issue's fields, and its numbers are finite. No time is asserted: the quick run only shows
//! that the suite works.

use std::process::Command;

use serde_json::Value;

const WORKLOADS: [&str; 9] = [
    "map_io_space_1page",
    "map_io_space_16pages",
    "map_io_space_2mib",
    "reserved_mapping_16pages",
    "va_churn",
    "map_bar_64gib",
    "hosted_ram_alias",
    "register_read",
    "parallel_map",
];

fn finite(value: &Value, what: &str) -> f64 {
    let number = value.as_f64().unwrap_or_else(|| panic!("{what} is a number: {value}"));
    assert!(number.is_finite() && number >= 0.0, "{what} = {number}");
    number
}

#[test]
fn quick_json_run_prints_every_workload_with_its_baselines_and_ratios() {
    let output = Command::new(env!("CARGO_BIN_EXE_iospace"))
        .args(["bench", "--quick", "--json"])
        .output()
        .expect("iospace runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let reports: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let names: Vec<&str> = reports.iter().map(|report| report["name"].as_str().expect("a name")).collect();
    assert_eq!(names, WORKLOADS);

    for report in &reports {
        let name = report["name"].as_str().unwrap_or_default();
        assert!(finite(&report["ops"], "ops") >= 1.0, "{name}");
        finite(&report["ns_per_op"], "ns_per_op");
        // This binary installs the counting allocator, so allocations are always counted.
        finite(&report["allocations_per_op"], "allocations_per_op");
        let baseline = &report["baseline"];
        let limit = &baseline["limit"];
        let peers = baseline["peers"].as_array().unwrap_or_else(|| panic!("{name}: peers is a list"));
        assert!(!limit.is_null() || !peers.is_empty(), "{name} has a baseline");
        let first_peer = peers.first().cloned().unwrap_or(Value::Null);
        for (key, compared) in [("ratio_to_limit", limit), ("ratio_to_peer", &first_peer)] {
            if compared.is_null() {
                assert!(report[key].is_null(), "{name}: {key} without a baseline");
            } else {
                finite(&compared["ns_per_op"], "a baseline's ns_per_op");
                finite(&report[key], key);
            }
        }
        let targets = report["targets"].as_array().unwrap_or_else(|| panic!("{name}: targets is a list"));
        assert!(!targets.is_empty(), "{name} states its targets");
        assert!(targets.iter().all(|target| target["met"].is_boolean()), "{name}");
    }

    let churn = &reports[4];
    let peers: Vec<&str> = churn["baseline"]["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|peer| peer["name"].as_str().unwrap())
        .collect();
    assert_eq!(peers, ["free_list", "bitmap"]);
    let bar = &reports[5];
    assert_eq!(bar["details"]["entries_written"].as_f64(), Some(64.0), "1 GiB leaves for the 64 GiB BAR");
    assert_eq!(bar["baseline"]["peers"][0]["entries_written"].as_f64(), Some(16_777_216.0));
}

#[test]
fn the_table_names_every_workload_and_unknown_names_are_refused() {
    let output = Command::new(env!("CARGO_BIN_EXE_iospace"))
        .args(["bench", "--quick", "va_churn", "map_bar_64gib"])
        .output()
        .expect("iospace runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("va_churn") && stdout.contains("map_bar_64gib"), "{stdout}");
    assert!(!stdout.contains("register_read"), "only the workloads named run: {stdout}");

    let output =
        Command::new(env!("CARGO_BIN_EXE_iospace")).args(["bench", "map_io_space_3pages"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("map_io_space_3pages"));
}
