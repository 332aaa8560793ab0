//! `iospace run`: the main job. Boots a machine, maps the edu device's registers with
//! `MmMapIoSpace` as a driver would at start-device, checks the device, unmaps, and collects
//! what happened into a [`Report`].

use std::ffi::c_void;
use std::path::Path;

use iospace_devices::edu::{EDU_IDENTIFICATION, STATUS_COMPUTING, regs};
use iospace_devices::mmio::AccessWidth;
use iospace_hosted::{Machine, MachineDescription};
use iospace_mm::address::{LARGE_PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::nt;
use iospace_mm::protection::{PAGE_READWRITE, PAGE_WRITECOMBINE};

use crate::report::{Check, MappingLine, Report};

/// Where the 64-bit PCI window of the q35 layout starts: a 2 MiB-aligned device range there
/// shows a large-page mapping.
const PCI_WINDOW_64: u64 = 0x80_0000_0000;

/// Errors that stop `run` before it can report.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The machine description could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The machine did not boot.
    #[error(transparent)]
    Boot(#[from] iospace_hosted::BootError),
    /// The description is invalid.
    #[error(transparent)]
    Description(#[from] iospace_hosted::description::DescriptionError),
    /// The machine has no edu device to drive.
    #[error("the machine has no edu device")]
    NoEdu,
}

/// Boots the machine in `machine` (or the default one) and runs the edu scenario.
pub fn run(machine: Option<&Path>) -> Result<Report, RunError> {
    let description = match machine {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| RunError::Read { path: path.display().to_string(), source })?;
            MachineDescription::from_toml(&text)?
        }
        None => MachineDescription::default(),
    };
    let machine = Machine::boot(&description)?;
    let (_, edu_bar0, edu_bytes) =
        machine.bus().devices().into_iter().find(|(name, _, _)| *name == "edu").ok_or(RunError::NoEdu)?;

    let mut report = Report::new(&machine);
    let mm = machine.mm();

    // Start-device: map the registers, uncached, as the seed document says.
    let registers =
        nt::mm_map_io_space(mm, edu_bar0.0 as i64, edu_bytes as usize, MemoryCachingType::NonCached as i32);
    report.checks.push(Check::new(
        "MmMapIoSpace(edu BAR0, MmNonCached)",
        !registers.is_null(),
        format!("{registers:p}"),
    ));
    if registers.is_null() {
        return Ok(report);
    }
    // A 2 MiB-aligned range of the 64-bit window, write-combined and non-executable.
    let window = nt::mm_map_io_space_ex(
        mm,
        PCI_WINDOW_64 as i64,
        LARGE_PAGE_SIZE as usize,
        PAGE_READWRITE | PAGE_WRITECOMBINE,
    );
    report.checks.push(Check::new(
        "MmMapIoSpaceEx(2 MiB, PAGE_READWRITE | PAGE_WRITECOMBINE)",
        !window.is_null(),
        format!("{window:p}"),
    ));
    report.mappings = mm.io_mappings().iter().map(MappingLine::from).collect();

    exercise_edu(&machine, VirtualAddress::from_ptr(registers), edu_bar0, &mut report);

    // Stop-device: give every mapping back.
    nt::mm_unmap_io_space(mm, registers, edu_bytes as usize);
    if !window.is_null() {
        nt::mm_unmap_io_space(mm, window, LARGE_PAGE_SIZE as usize);
    }
    let outstanding = mm.io_mappings().len();
    report.checks.push(Check::new(
        "MmUnmapIoSpace of every mapping",
        outstanding == 0,
        format!("{outstanding} outstanding"),
    ));
    let valid_after = nt::mm_is_address_valid(mm, registers as *const c_void);
    report.checks.push(Check::new("MmIsAddressValid after unmap", !valid_after, format!("{valid_after}")));
    report.outstanding = outstanding;
    Ok(report)
}

/// The edu checks a driver would make: identification, liveness, a factorial.
fn exercise_edu(machine: &Machine, registers: VirtualAddress, bar0: PhysicalAddress, report: &mut Report) {
    let read = |offset| machine.read_register(registers.add(offset), AccessWidth::Dword);
    let write = |offset, value| machine.write_register(registers.add(offset), AccessWidth::Dword, value);

    let physical = machine.mm().physical_address(registers);
    report.checks.push(Check::new(
        "MmGetPhysicalAddress(mapping) = BAR0",
        physical == Some(bar0),
        format!("{}", physical.unwrap_or_default()),
    ));

    let id = read(regs::IDENTIFICATION);
    report.checks.push(Check::new("edu identification", id == Ok(EDU_IDENTIFICATION.into()), show(id)));

    let probe = 0x1234_5678u64;
    let liveness = write(regs::LIVENESS, probe).and_then(|()| read(regs::LIVENESS));
    report.checks.push(Check::new(
        "edu liveness (reads back the inverse)",
        liveness == Ok(!probe & 0xFFFF_FFFF),
        format!("wrote {probe:#010x}, read {}", show(liveness)),
    ));

    let factorial = write(regs::FACTORIAL, 10).and_then(|()| {
        let mut polls = 0;
        while read(regs::STATUS)? & u64::from(STATUS_COMPUTING) != 0 && polls < 1000 {
            polls += 1;
        }
        read(regs::FACTORIAL)
    });
    report.checks.push(Check::new("edu factorial(10)", factorial == Ok(3_628_800), show(factorial)));
}

fn show(value: Result<u64, iospace_hosted::RegisterAccessError>) -> String {
    match value {
        Ok(value) => format!("{value:#010x} ({value})"),
        Err(error) => error.to_string(),
    }
}
