//! How a faulting register access stops the machine: the bug-check codes and parameters Windows
//! documents for a kernel-mode access that cannot be completed.
//!
//! - Unmapped address: 0x50 `PAGE_FAULT_IN_NONPAGED_AREA`, P1 = the address, P2 = 0 for a read
//!   and 1 for a write (the x64 numbering before Windows 10 1507; later releases report 2 for a
//!   write), P3 = 0 (the faulting instruction's address, which this model does not have; the
//!   call site is in the bug check's location instead), P4 = 0.
//! - Write through a read-only mapping: 0xBE `ATTEMPTED_WRITE_TO_READONLY_MEMORY`, P1 = the
//!   address, P2 = the leaf page-table entry that maps it (0 if the walk finds none), P3 = 0,
//!   P4 = 0.
//! - Misaligned access (bench decision, see [`registers`](crate::registers)): the alignment
//!   fault a strict-alignment processor raises, left unhandled: 0x1E
//!   `KMODE_EXCEPTION_NOT_HANDLED`, P1 = `STATUS_DATATYPE_MISALIGNMENT` (0x80000002), P2 = 0
//!   (no instruction address, as for 0x50), P3 = 0 for a read and 1 for a write, P4 = the
//!   address: P3 and P4 are laid out as the exception parameters of an access violation.

use core::panic::Location;

use iospace_mm::bug_check::kmode_exception_not_handled;
use iospace_mm::memory_manager::MemoryManager;

use crate::access::AccessFault;

/// Bug-check codes the HAL raises.
pub mod code {
    /// `KMODE_EXCEPTION_NOT_HANDLED`: a misaligned register access.
    pub const KMODE_EXCEPTION_NOT_HANDLED: u32 = iospace_mm::bug_check::kmode_exception_not_handled::CODE;
    /// `PAGE_FAULT_IN_NONPAGED_AREA`: a register access at an address with no valid mapping.
    pub const PAGE_FAULT_IN_NONPAGED_AREA: u32 = 0x50;
    /// `ATTEMPTED_WRITE_TO_READONLY_MEMORY`: a register write through a read-only mapping.
    pub const ATTEMPTED_WRITE_TO_READONLY_MEMORY: u32 = 0xBE;
}

/// `STATUS_DATATYPE_MISALIGNMENT`: P1 of the 0x1E raised for a misaligned access.
pub const STATUS_DATATYPE_MISALIGNMENT: u64 = 0x8000_0002;

/// Whether a faulting access read or wrote; its number is P2 of 0x50 and P3 of 0x1E.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Direction {
    /// A load.
    Read = 0,
    /// A store.
    Write = 1,
}

/// Stops the machine for `fault`, made by a `direction` access from the driver's `location`.
///
/// Cold and never inlined, so that in a register routine the path that does not fault is only
/// the alignment test and the access, with a branch to here on the side.
#[cold]
#[inline(never)]
pub(crate) fn raise(
    mm: &MemoryManager,
    fault: AccessFault,
    direction: Direction,
    location: &'static Location<'static>,
) -> ! {
    let (code, parameters) = match fault {
        AccessFault::NotMapped(address) => {
            (code::PAGE_FAULT_IN_NONPAGED_AREA, [address.0, direction as u64, 0, 0])
        }
        AccessFault::ReadOnly(address) => {
            let entry = mm
                .page_tables()
                .leaf_entry(mm.platform().physical_memory(), address)
                .map_or(0, |(entry, _size)| entry);
            (code::ATTEMPTED_WRITE_TO_READONLY_MEMORY, [address.0, entry, 0, 0])
        }
        AccessFault::Misaligned(address) => (
            kmode_exception_not_handled::CODE,
            [STATUS_DATATYPE_MISALIGNMENT, 0, direction as u64, address.0],
        ),
    };
    mm.bug_check(code, parameters, location)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{TestMachine, catch_bug_check};
    use iospace_mm::address::VirtualAddress;

    #[test]
    fn each_fault_becomes_its_documented_bug_check_at_the_given_location() {
        let machine = TestMachine::new();
        let address = VirtualAddress(0xFFFF_C000_0000_1234);
        let here = Location::caller();
        let cases = [
            (AccessFault::NotMapped(address), Direction::Read, 0x50, [address.0, 0, 0, 0]),
            (AccessFault::NotMapped(address), Direction::Write, 0x50, [address.0, 1, 0, 0]),
            (AccessFault::ReadOnly(address), Direction::Write, 0xBE, [address.0, 0, 0, 0]),
            (AccessFault::Misaligned(address), Direction::Write, 0x1E, [0x8000_0002, 0, 1, address.0]),
        ];
        for (fault, direction, code, parameters) in cases {
            let bug_check = catch_bug_check(|| raise(machine.mm(), fault, direction, here));
            assert_eq!((bug_check.code, bug_check.parameters), (code, parameters), "{fault}");
            assert_eq!(bug_check.location, Some(here));
        }
    }
}
