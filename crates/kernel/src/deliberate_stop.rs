//! Bug checks on request, so that the host can check the STOP path end to end: with
//! `iospace.stop=<how>` on the kernel command line (QEMU's `-append`), the kernel stops right
//! after boot instead of running the drivers.
//!
//! | `<how>` | what happens | STOP |
//! |---|---|---|
//! | `page-fault` | a load from a system address nothing maps | 0x50 `PAGE_FAULT_IN_NONPAGED_AREA`, from the page-fault handler |
//! | `unmap-unknown` | `MmUnmapIoSpace` of an address never returned by `MmMapIoSpace` | 0xDA `SYSTEM_PTE_MISUSE`, through the platform's bug check |

use iospace_mm::nt;

use crate::machine::{Machine, SYSTEM_VA_BASE};

/// The command-line key.
const KEY: &str = "iospace.stop=";

/// Stops the machine if the command line asks for it; returns otherwise.
pub fn on_request(machine: &Machine) {
    let Some(how) = machine.command_line.split_whitespace().find_map(|word| word.strip_prefix(KEY)) else {
        return;
    };
    crate::kprintln!("iospace kernel: stopping on request ({KEY}{how})");
    let never_mapped = SYSTEM_VA_BASE.add(0x7_0000_0000);
    match how {
        "page-fault" => {
            // SAFETY: the address is canonical and aligned, and nothing maps it: the load faults
            // and the page-fault handler stops the machine, so no value is ever produced.
            let value = unsafe { never_mapped.as_ptr::<u64>().read_volatile() };
            crate::kprintln!("iospace kernel: the load returned {value:#x}: no fault");
        }
        "unmap-unknown" => nt::mm_unmap_io_space(&machine.mm, never_mapped.as_ptr(), 4096),
        other => crate::kprintln!("iospace kernel: unknown {KEY}{other}; running normally"),
    }
}
