//! Helpers shared by the hosted machine's integration tests.
#![allow(dead_code)]

use std::process::{Command, Output};

use iospace_hosted::{Machine, MachineDescription};
use iospace_mm::address::{Pfn, PhysicalAddress};
use iospace_mm::pfn_database::PageUse;
use iospace_mm::range_allocator::Placement;

/// Physical address of the default machine's edu BAR0.
pub const EDU_BAR0: PhysicalAddress = PhysicalAddress(0xFEA0_0000);

/// The default machine.
pub fn machine() -> Machine {
    boot(&MachineDescription::default())
}

/// The default machine with a system VA window of `mib` MiB.
pub fn machine_with_va(mib: u64) -> Machine {
    boot(&MachineDescription { system_va_mib: mib, ..MachineDescription::default() })
}

/// Boots `description`, then removes the ivshmem files from the file system: the machine keeps
/// its mappings of them, and a test that is not about ivshmem leaves nothing behind.
pub fn boot(description: &MachineDescription) -> Machine {
    let machine = Machine::boot(description).expect("the machine boots");
    for path in machine.ivshmem_paths() {
        let _ = std::fs::remove_file(path);
    }
    machine
}

/// One RAM page, allocated and locked, as an MDL would leave it.
pub fn locked_ram_page(machine: &Machine) -> Pfn {
    let pfns = machine.mm().pfn_database();
    let pfn = pfns.allocate(1, &Placement::ANY, PageUse::Allocated).expect("a free RAM page");
    pfns.lock(pfn).expect("an allocated page locks");
    pfn
}

/// Runs the test named `test` of this test binary in a child process with `IOSPACE_CHILD` set,
/// so that it can do what ends a process (a bug check without a hook, a fault).
pub fn run_child(test: &str) -> Output {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("IOSPACE_CHILD", test)
        .output()
        .expect("the test binary runs")
}

/// Whether this process is the child `run_child` started for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var("IOSPACE_CHILD").is_ok_and(|name| name == test)
}
