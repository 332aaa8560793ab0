//! `iospace run`'s report on the hosted machine: the platform-independent
//! [`RunReport`] of `iospace-drivers`, headed with this machine, and its JSON form.

use iospace_drivers::run_report::RunReport;
use iospace_drivers::session::ResourceRow;
use iospace_hosted::Machine;
use iospace_hosted::description::{MachineDescription, PersonalityKind};
use iospace_mm::caching::CachePolicy;
use serde_json::{Value, json};

/// An empty report about the hosted `machine`.
pub fn new_report(machine: &Machine) -> RunReport {
    let description = machine.description();
    let platform = format!("hosted machine \"{}\"", description.name);
    RunReport::new(&platform, personality_name(description), machine.mm())
}

/// The report as one JSON object, with the same content as the text.
pub fn to_json(report: &RunReport) -> Value {
    let session = &report.session;
    json!({
        "machine": report.machine,
        "personality": report.personality,
        "memory_map": report.regions.iter().map(|region| json!({
            "start": region.start.0,
            "bytes": region.bytes,
            "kind": region.kind.name(),
        })).collect::<Vec<_>>(),
        "devices": session.devices.iter().map(|device| json!({
            "name": device.name,
            "location": device.location,
            "driven": device.driven,
            "passed": device.passed(),
            "state": device.state,
            "resources": resource_rows(&device.resources),
            "rebalanced": resource_rows(&device.rebalanced),
            "steps": device.steps.iter().map(|step| json!({
                "action": step.action,
                "passed": step.passed,
                "detail": step.detail,
            })).collect::<Vec<_>>(),
            "irps": device.irps,
            "errors": device.errors,
        })).collect::<Vec<_>>(),
        "driver_mappings": session.mappings.iter().map(|row| json!({
            "device": row.device,
            "address": row.address.0,
            "physical": row.physical.0,
            "bytes": row.bytes,
            "cache": row.cache.name(),
            "leaves": row.leaves,
            "created_at": row.created_at,
        })).collect::<Vec<_>>(),
        "tour_mappings": report.mappings.iter().map(|line| json!({
            "kind": line.kind,
            "address": line.address.0,
            "physical": line.physical.map(|physical| physical.0),
            "bytes": line.bytes,
            "cache": line.cache.map(CachePolicy::name),
            "rights": line.rights,
            "pages": line.pages,
        })).collect::<Vec<_>>(),
        "checks": report.checks.iter().map(|check| json!({
            "name": check.name,
            "passed": check.passed,
            "detail": check.detail,
        })).collect::<Vec<_>>(),
        "verifier": {
            "diagnostics": session.verifier,
            "left_after_session": session.leftovers,
            "left_after_tour": report.outstanding,
            "errors": session.errors,
        },
        "passed": report.passed(),
    })
}

/// The personality as the description names it.
fn personality_name(description: &MachineDescription) -> String {
    match description.personality {
        PersonalityKind::X86 => "x86".into(),
        PersonalityKind::MemoryMappedPorts => format!(
            "memory-mapped-ports: ports at CPU {:#x}, bus memory + {:#x}",
            description.port_window_base().unwrap_or_default(),
            description.memory_offset()
        ),
    }
}

fn resource_rows(rows: &[ResourceRow]) -> Vec<Value> {
    rows.iter().map(|row| json!({"raw": row.raw, "translated": row.translated})).collect()
}
