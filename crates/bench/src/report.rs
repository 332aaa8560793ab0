//! What one workload measured, and how the suite prints it: a table for people, one JSON object
//! per workload for machines.

use std::fmt::Write;

use crate::json::Json;

/// A baseline a workload is compared with: the physical limit of the work, or a peer design.
#[derive(Clone, Debug, PartialEq)]
pub struct Baseline {
    /// A short name (`"one_pte"`, `"free_list"`, ...).
    pub name: &'static str,
    /// What the baseline does, in a few words.
    pub description: &'static str,
    /// Its cost per operation.
    pub ns_per_op: f64,
    /// Whatever else it counted (entries written, failures, ...).
    pub details: Vec<(&'static str, Json)>,
}

impl Baseline {
    /// A baseline with no details.
    pub fn new(name: &'static str, description: &'static str, ns_per_op: f64) -> Self {
        Self { name, description, ns_per_op, details: Vec::new() }
    }

    /// This baseline with one more detail.
    pub fn with(mut self, key: &'static str, value: impl Into<Json>) -> Self {
        self.details.push((key, value.into()));
        self
    }

    fn to_json(&self) -> Json {
        let mut object = Json::object()
            .with("name", self.name)
            .with("description", self.description)
            .with("ns_per_op", self.ns_per_op);
        for (key, value) in &self.details {
            object = object.with(key, value.clone());
        }
        object
    }
}

/// One of the issue's targets for a workload, and whether this run met it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The target, as the issue words it (`"<= 3 x limit"`).
    pub description: String,
    /// Whether the measured value meets it.
    pub met: bool,
    /// The measured value the target is about, as text (`"2.41 x"`).
    pub measured: String,
}

impl Target {
    /// The target `description`, met or not, with what was measured.
    pub fn new(description: impl Into<String>, met: bool, measured: impl Into<String>) -> Self {
        Self { description: description.into(), met, measured: measured.into() }
    }

    /// An upper bound on a ratio: `ratio <= bound`.
    pub fn at_most(what: &str, ratio: f64, bound: f64) -> Self {
        Self::new(format!("<= {bound} x {what}"), ratio <= bound, format!("{ratio:.2} x"))
    }

    /// A lower bound on a speed-up: `speedup >= bound`.
    pub fn at_least(what: &str, speedup: f64, bound: f64) -> Self {
        Self::new(format!(">= {bound} x {what}"), speedup >= bound, format!("{speedup:.2} x"))
    }
}

/// What one workload measured.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadReport {
    /// The workload's name, as the issue lists it.
    pub name: &'static str,
    /// Operations in one measured batch (the last one, for workloads that vary it).
    pub ops: u64,
    /// Cost of one operation of the code under test.
    pub ns_per_op: f64,
    /// Heap allocations per operation of the code under test, or `None` if the counting
    /// allocator is not installed in this process.
    pub allocations_per_op: Option<f64>,
    /// The physical limit of the work, if the workload has one.
    pub limit: Option<Baseline>,
    /// Peer designs doing the same work, fastest first is not implied.
    pub peers: Vec<Baseline>,
    /// `ns_per_op / limit.ns_per_op`.
    pub ratio_to_limit: Option<f64>,
    /// `ns_per_op / peer.ns_per_op` for the fastest peer (below 1: faster than it).
    pub ratio_to_peer: Option<f64>,
    /// The issue's targets and whether they were met.
    pub targets: Vec<Target>,
    /// Workload-specific counts (entries written, failed allocations, ...).
    pub details: Vec<(&'static str, Json)>,
}

impl WorkloadReport {
    /// A report of `ns_per_op` over `ops`, compared with `limit` and `peers`; the ratios are
    /// computed here.
    pub fn new(
        name: &'static str,
        ops: u64,
        ns_per_op: f64,
        allocations_per_op: Option<f64>,
        limit: Option<Baseline>,
        peers: Vec<Baseline>,
    ) -> Self {
        let ratio_to_limit = limit.as_ref().map(|limit| ns_per_op / limit.ns_per_op);
        let fastest_peer = peers.iter().map(|peer| peer.ns_per_op).min_by(f64::total_cmp);
        let ratio_to_peer = fastest_peer.map(|peer| ns_per_op / peer);
        Self {
            name,
            ops,
            ns_per_op,
            allocations_per_op,
            limit,
            peers,
            ratio_to_limit,
            ratio_to_peer,
            targets: Vec::new(),
            details: Vec::new(),
        }
    }

    /// This report with one more target.
    pub fn target(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// This report with one more detail.
    pub fn detail(mut self, key: &'static str, value: impl Into<Json>) -> Self {
        self.details.push((key, value.into()));
        self
    }

    /// Whether every target was met.
    pub fn all_targets_met(&self) -> bool {
        self.targets.iter().all(|target| target.met)
    }

    /// The report as one JSON object: `name`, `ops`, `ns_per_op`, `baseline` (`limit` and
    /// `peers`), `ratio_to_limit`, `ratio_to_peer`, `allocations_per_op`, `targets`, `details`.
    pub fn to_json(&self) -> Json {
        let baseline = Json::object()
            .with("limit", self.limit.as_ref().map_or(Json::Null, Baseline::to_json))
            .with("peers", Json::Array(self.peers.iter().map(Baseline::to_json).collect()));
        let targets = self
            .targets
            .iter()
            .map(|target| {
                Json::object()
                    .with("target", target.description.as_str())
                    .with("measured", target.measured.as_str())
                    .with("met", target.met)
            })
            .collect();
        let mut details = Json::object();
        for (key, value) in &self.details {
            details = details.with(key, value.clone());
        }
        Json::object()
            .with("name", self.name)
            .with("ops", self.ops)
            .with("ns_per_op", self.ns_per_op)
            .with("baseline", baseline)
            .with("ratio_to_limit", self.ratio_to_limit)
            .with("ratio_to_peer", self.ratio_to_peer)
            .with("allocations_per_op", self.allocations_per_op)
            .with("targets", Json::Array(targets))
            .with("details", details)
    }
}

fn number(value: Option<f64>, precision: usize) -> String {
    match value {
        Some(value) if value.is_finite() => format!("{value:.precision$}"),
        _ => "-".to_owned(),
    }
}

/// The reports as a table: one row per workload, then each workload's baselines, targets and
/// details underneath.
pub fn table(reports: &[WorkloadReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<26} {:>12} {:>12} {:>8} {:>12} {:>8} {:>9}  targets",
        "workload", "ns/op", "limit ns/op", "x limit", "peer ns/op", "x peer", "allocs/op"
    );
    for report in reports {
        let peer = report.peers.iter().map(|peer| peer.ns_per_op).min_by(f64::total_cmp);
        let verdict = if report.all_targets_met() { "met" } else { "MISSED" };
        let _ = writeln!(
            out,
            "{:<26} {:>12} {:>12} {:>8} {:>12} {:>8} {:>9}  {verdict}",
            report.name,
            number(Some(report.ns_per_op), 1),
            number(report.limit.as_ref().map(|limit| limit.ns_per_op), 1),
            number(report.ratio_to_limit, 2),
            number(peer, 1),
            number(report.ratio_to_peer, 2),
            number(report.allocations_per_op, 2),
        );
    }
    out.push('\n');
    for report in reports {
        let _ = writeln!(out, "{} ({} ops):", report.name, report.ops);
        for baseline in report.limit.iter().chain(&report.peers) {
            let _ = write!(
                out,
                "  baseline {}: {:.1} ns/op, {}",
                baseline.name, baseline.ns_per_op, baseline.description
            );
            for (key, value) in &baseline.details {
                let _ = write!(out, "; {key} {value}");
            }
            out.push('\n');
        }
        for target in &report.targets {
            let mark = if target.met { "met   " } else { "MISSED" };
            let _ = writeln!(out, "  {mark} {} (measured {})", target.description, target.measured);
        }
        for (key, value) in &report.details {
            let _ = writeln!(out, "  {key}: {value}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WorkloadReport {
        WorkloadReport::new(
            "map_io_space_1page",
            1000,
            90.0,
            Some(0.0),
            Some(Baseline::new("one_pte", "one PTE", 30.0)),
            vec![Baseline::new("slow", "a", 180.0), Baseline::new("fast", "b", 45.0).with("failed", 3u64)],
        )
        .target(Target::at_most("limit", 3.0, 3.0))
        .detail("entries_written", 1u64)
    }

    #[test]
    fn ratios_are_to_the_limit_and_to_the_fastest_peer() {
        let report = sample();
        assert_eq!(report.ratio_to_limit, Some(3.0));
        assert_eq!(report.ratio_to_peer, Some(2.0));
        assert!(report.all_targets_met());
    }

    #[test]
    fn json_has_the_issue_fields() {
        let json = Json::parse(&sample().to_json().to_string()).unwrap();
        for key in
            ["name", "ops", "ns_per_op", "baseline", "ratio_to_limit", "ratio_to_peer", "allocations_per_op"]
        {
            assert!(json.get(key).is_some(), "{key}");
        }
        let peers = json.get("baseline").and_then(|b| b.get("peers")).unwrap();
        let Json::Array(peers) = peers else { panic!("peers is an array") };
        assert_eq!(peers[1].get("failed").and_then(Json::as_f64), Some(3.0));
        assert_eq!(
            json.get("details").and_then(|d| d.get("entries_written")).and_then(Json::as_f64),
            Some(1.0)
        );
    }

    #[test]
    fn the_table_marks_missed_targets() {
        let missed = sample().target(Target::at_least("peer", 1.0, 5.0));
        let text = table(&[missed]);
        assert!(text.contains("MISSED"), "{text}");
        assert!(text.contains("baseline fast: 45.0 ns/op"), "{text}");
    }
}
