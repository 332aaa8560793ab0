//! The iospace kernel: boots on x86-64 under QEMU's PVH entry, runs the memory manager over
//! the real page tables, and drives the machine's PCI devices through it.
//!
//! Boot, in order: the serial console and the heap; the GDT, TSS and IDT (exceptions on IST
//! stacks); the PAT in the layout `mm` encodes; the firmware's memory map and the PCI BARs,
//! which become the memory manager's physical memory map; the memory manager over the live
//! page tables (CR3), whose first job is the direct map of RAM. Then the reference drivers
//! through the PnP manager, the self-tests, a report on the console, and the verdict through
//! `isa-debug-exit`.
//!
//! The kernel exists only when built with `panic = "abort"` (`--profile kernel`): a workspace-wide
//! build or check in another profile gets a host stub that says how to build it, since a
//! freestanding binary cannot unwind.
#![cfg_attr(panic = "abort", no_std)]
#![cfg_attr(panic = "abort", no_main)]

#[cfg(any(panic = "abort", test))]
extern crate alloc;

#[cfg(panic = "abort")]
mod boot;
#[cfg(panic = "abort")]
mod console;
#[cfg(panic = "abort")]
mod cpu;
#[cfg(panic = "abort")]
mod deliberate_stop;
#[cfg(panic = "abort")]
mod descriptor_tables;
#[cfg(panic = "abort")]
mod direct_map;
#[cfg(panic = "abort")]
mod exceptions;
#[cfg(any(panic = "abort", test))]
mod heap;
#[cfg(panic = "abort")]
mod io_access;
#[cfg(panic = "abort")]
mod machine;
#[cfg(panic = "abort")]
mod pat;
#[cfg(panic = "abort")]
mod pci;
#[cfg(panic = "abort")]
mod platform;
#[cfg(panic = "abort")]
mod plug_and_play;
#[cfg(panic = "abort")]
mod port;
#[cfg(panic = "abort")]
mod qemu_exit;
#[cfg(panic = "abort")]
mod register_instances;
#[cfg(panic = "abort")]
mod report;
#[cfg(panic = "abort")]
mod runtime;
#[cfg(panic = "abort")]
mod self_tests;
#[cfg(any(panic = "abort", test))]
mod start_info;
#[cfg(panic = "abort")]
mod stop;
#[cfg(panic = "abort")]
mod tlb;

#[cfg(panic = "abort")]
use crate::qemu_exit::{ExitCode, exit};

/// The first Rust code to run, on the boot stack in long mode, with interrupts off.
/// `start_info` is the physical address of the PVH `hvm_start_info`.
#[cfg(panic = "abort")]
#[unsafe(no_mangle)]
pub extern "C" fn kernel_main(start_info: u64) -> ! {
    console::init();
    heap::init();
    descriptor_tables::init();
    // SAFETY: `start_info` is EBX of the PVH entry; the boot identity map covers it and nothing
    // has written there since.
    let machine = match unsafe { machine::Machine::boot(start_info) } {
        Ok(machine) => machine,
        Err(error) => {
            kprintln!("iospace kernel: boot failed: {error}");
            exit(ExitCode::ChecksFailed)
        }
    };
    deliberate_stop::on_request(&machine);
    let report = machine.run();
    kprint!("{report}");
    exit(if report.passed() { ExitCode::Success } else { ExitCode::ChecksFailed })
}

/// Without `panic = "abort"` there is no kernel: say how to build one. (Host unit tests of the
/// kernel's pure logic build this way too.)
#[cfg(not(panic = "abort"))]
fn main() {
    eprintln!(
        "iospace-kernel runs on bare metal: build it with `cargo build -p iospace-kernel --profile kernel` \
         and boot it with `iospace qemu`"
    );
    std::process::exit(2);
}
