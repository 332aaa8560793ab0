//! The one machine behind the C API: booted by `IospBoot`, stopped by `IospShutdown`, and shared
//! by every thread in between.
//!
//! The slot holds an `Arc`: each routine clones it for the length of the call and lets the lock
//! go at once, so a shutdown on one thread never waits for (or pulls the machine from under) a
//! routine running on another; the machine is dropped when the last such call returns.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use iospace_hosted::{BootError, Machine, MachineDescription};
use iospace_mm::irql::Irql;
use iospace_mm::platform::Platform;

use crate::boundary;

/// The booted machine, if any.
static MACHINE: RwLock<Option<Arc<Machine>>> = RwLock::new(None);

/// Why `IospBoot` did not boot a machine.
#[derive(Debug, thiserror::Error)]
pub enum BootFailure {
    /// A machine is already running in this process.
    #[error("a machine is already booted (call IospShutdown first)")]
    AlreadyBooted,
    /// The description file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What the host said.
        #[source]
        source: std::io::Error,
    },
    /// The description is not a valid machine, or the machine could not be built.
    #[error(transparent)]
    Boot(#[from] BootError),
}

impl From<iospace_hosted::description::DescriptionError> for BootFailure {
    fn from(error: iospace_hosted::description::DescriptionError) -> Self {
        Self::Boot(BootError::Description(error))
    }
}

/// The booted machine, shared with the caller for the length of one routine.
pub(crate) fn current() -> Option<Arc<Machine>> {
    MACHINE.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

/// Boots the machine `description` (a TOML file) describes, or the default machine.
///
/// The calling thread starts at `PASSIVE_LEVEL`, as a CPU of a fresh machine does, even if a
/// bug check of the previous machine left it raised. Shared-memory files the description did
/// not name are the machine's own scratch and are removed at once (the machine keeps them
/// mapped); files it names are kept for the host to inspect.
pub fn boot(description: Option<&Path>) -> Result<(), BootFailure> {
    let mut slot = MACHINE.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    if slot.is_some() {
        return Err(BootFailure::AlreadyBooted);
    }
    let description = match description {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| BootFailure::Read { path: path.to_path_buf(), source })?;
            MachineDescription::from_toml(&text)?
        }
        None => MachineDescription::default(),
    };
    let machine = Machine::boot(&description)?;
    if !description.devices.iter().any(|device| device.path.is_some()) {
        for path in machine.ivshmem_paths() {
            let _ = std::fs::remove_file(path);
        }
    }
    machine.platform().set_current_irql(Irql::PASSIVE);
    // Bug checks raised outside any exported routine (none are today) still reach C.
    machine.set_bug_check_hook(Some(Arc::new(boundary::call_callback)));
    *slot = Some(Arc::new(machine));
    Ok(())
}

/// Takes the machine out of the slot and returns what it still had mapped, locked or
/// reserved (`None` if no machine was booted). The machine itself is dropped once no routine
/// on another thread is using it.
pub fn shutdown() -> Option<Leftovers> {
    let machine = MACHINE.write().unwrap_or_else(|poisoned| poisoned.into_inner()).take()?;
    let leftovers = Leftovers::of(&machine);
    machine.set_bug_check_hook(None);
    Some(leftovers)
}

/// `IospOutstandingMappings`: live I/O-space mappings, MDL system mappings and reservations
/// (a reservation counts once, whether or not an MDL is mapped into it); 0 with no machine.
pub fn outstanding_mappings() -> usize {
    current().map_or(0, |machine| {
        let mm = machine.mm();
        mm.io_mappings().len() + mm.mdl_mappings().list().len() + mm.reservations().list().len()
    })
}

/// What a machine still held when it was shut down, one line per item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Human-readable descriptions, in the order: I/O-space mappings, MDL mappings,
    /// reservations, locked MDLs, pages for MDLs, contiguous and non-cached memory.
    pub items: Vec<String>,
}

impl Leftovers {
    fn of(machine: &Machine) -> Self {
        let mm = machine.mm();
        let mut items = Vec::new();
        for record in mm.io_mappings() {
            items.push(format!(
                "I/O-space mapping at {:#x}: {:#x} bytes of physical {:#x}",
                record.address.0, record.bytes, record.physical.0
            ));
        }
        for record in mm.mdl_mappings().list() {
            items.push(format!(
                "MDL mapping at {:#x}: {} pages of MDL {:#x}",
                record.base.0, record.pages, record.mdl
            ));
        }
        for reservation in mm.reservations().list() {
            let mut item = format!(
                "reservation at {:#x}: {} pages, tag {}",
                reservation.base.0,
                reservation.pages,
                tag_text(reservation.tag)
            );
            if reservation.mapped_pages != 0 {
                let _ = write!(item, ", {} pages still mapped", reservation.mapped_pages);
            }
            items.push(item);
        }
        for record in mm.locked_mdls().list() {
            items.push(format!("MDL {:#x} still locks {} pages", record.mdl, record.pages));
        }
        for (mdl, pages, _) in mm.pages_for_mdl().list() {
            items.push(format!("MDL {mdl:#x} still holds {pages} pages from MmAllocatePagesForMdl"));
        }
        for allocation in mm.contiguous_allocations() {
            items.push(format!(
                "{:?} memory at {:#x}: {:#x} bytes",
                allocation.kind, allocation.address.0, allocation.bytes
            ));
        }
        Self { items }
    }

    /// Whether the machine held nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A pool tag as its four characters, the way a debugger shows it.
fn tag_text(tag: u32) -> String {
    let text: String = tag
        .to_le_bytes()
        .iter()
        .map(|&byte| if byte.is_ascii_graphic() || byte == b' ' { char::from(byte) } else { '.' })
        .collect();
    format!("'{text}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_as_their_four_characters_first_byte_first() {
        assert_eq!(tag_text(u32::from_le_bytes(*b"wdmT")), "'wdmT'");
        assert_eq!(tag_text(u32::from_le_bytes([b'A', 0, 0x7F, b' '])), "'A.. '");
    }
}
