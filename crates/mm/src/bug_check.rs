//! Bug checks as values: the code and four parameters Windows documents for each misuse.
//!
//! The core never stops the machine itself; the NT facade builds a [`BugCheck`] and hands it to
//! the platform, which prints the STOP line (or gives it to a test's hook) and halts.

use core::fmt;
use core::panic::Location;

/// Bug-check codes used by the memory manager.
pub mod code {
    /// `IRQL_NOT_GREATER_OR_EQUAL`: KeRaiseIrql to a lower level.
    pub const IRQL_NOT_GREATER_OR_EQUAL: u32 = 0x09;
    /// `IRQL_NOT_LESS_OR_EQUAL`: a routine without a verifier subcode called above its level,
    /// or KeLowerIrql to a higher level.
    pub const IRQL_NOT_LESS_OR_EQUAL: u32 = 0x0A;
    /// `MEMORY_MANAGEMENT`.
    pub const MEMORY_MANAGEMENT: u32 = 0x1A;
    /// `NO_MORE_SYSTEM_PTES`.
    pub const NO_MORE_SYSTEM_PTES: u32 = 0x3F;
    /// `TARGET_MDL_TOO_SMALL`.
    pub const TARGET_MDL_TOO_SMALL: u32 = 0x40;
    /// `PFN_LIST_CORRUPT`.
    pub const PFN_LIST_CORRUPT: u32 = 0x4E;
    /// `PROCESS_HAS_LOCKED_PAGES`.
    pub const PROCESS_HAS_LOCKED_PAGES: u32 = 0x76;
    /// `DRIVER_VERIFIER_DETECTED_VIOLATION`.
    pub const DRIVER_VERIFIER_DETECTED_VIOLATION: u32 = 0xC4;
    /// `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS`.
    pub const DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS: u32 = 0xCB;
    /// `SYSTEM_PTE_MISUSE`.
    pub const SYSTEM_PTE_MISUSE: u32 = 0xDA;
    /// `INVALID_MDL_RANGE`.
    pub const INVALID_MDL_RANGE: u32 = 0x12E;
    /// `PAGE_FAULT_IN_NONPAGED_AREA`: an access to an address with no valid translation.
    pub const PAGE_FAULT_IN_NONPAGED_AREA: u32 = 0x50;
    /// `ATTEMPTED_WRITE_TO_READONLY_MEMORY`.
    pub const ATTEMPTED_WRITE_TO_READONLY_MEMORY: u32 = 0xBE;
}

/// `MEMORY_MANAGEMENT` (0x1A) first parameters.
pub mod memory_management {
    /// Mapping a physical page that is not locked (P2 = PFN).
    pub const MAP_UNLOCKED_PAGE: u64 = 0x1233;
}

/// `SYSTEM_PTE_MISUSE` (0xDA) first parameters.
pub mod pte_misuse {
    /// The wrong number of mappings was freed (P2 = base VA, P3 = expected, P4 = requested).
    pub const WRONG_MAPPING_COUNT: u64 = 0x02;
    /// The wrong mapping address was freed (P2 = base VA of the mapping, P3 = expected VA,
    /// P4 = requested VA).
    pub const WRONG_MAPPING_ADDRESS: u64 = 0x03;
    /// Freeing an I/O-space mapping the system has no record of (P2 = VA, P3 = pages).
    pub const UNKNOWN_IO_SPACE_MAPPING: u64 = 0x400;
}

/// `DRIVER_VERIFIER_DETECTED_VIOLATION` (0xC4) first parameters.
pub mod verifier {
    /// MmMapIoSpace above DISPATCH_LEVEL (P2 = IRQL, P3 = physical address, P4 = bytes).
    pub const MAP_IO_SPACE_IRQL: u64 = 0x73;
    /// MmUnmapIoSpace above its level (P2 = IRQL, P3 = VA, P4 = bytes).
    pub const UNMAP_IO_SPACE_IRQL: u64 = 0x7B;
    /// MmMapIoSpace over RAM that is not locked (P2 = physical address, P3 = bytes,
    /// P4 = first unlocked PFN).
    pub const MAP_IO_SPACE_UNLOCKED_RAM: u64 = 0x83;
}

/// A bug check: the code, its four parameters, and where the offending call was made.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BugCheck {
    /// The bug-check code (0xDA, 0x1A, 0xC4, ...).
    pub code: u32,
    /// P1..P4.
    pub parameters: [u64; 4],
    /// The call site in the driver, when the facade knows it.
    pub location: Option<&'static Location<'static>>,
}

impl BugCheck {
    /// A bug check raised by the call at `location`.
    pub const fn new(code: u32, parameters: [u64; 4], location: &'static Location<'static>) -> Self {
        Self { code, parameters, location: Some(location) }
    }

    /// The documented name of the code, for the STOP line.
    pub const fn name(&self) -> &'static str {
        match self.code {
            code::IRQL_NOT_GREATER_OR_EQUAL => "IRQL_NOT_GREATER_OR_EQUAL",
            code::IRQL_NOT_LESS_OR_EQUAL => "IRQL_NOT_LESS_OR_EQUAL",
            code::MEMORY_MANAGEMENT => "MEMORY_MANAGEMENT",
            code::NO_MORE_SYSTEM_PTES => "NO_MORE_SYSTEM_PTES",
            code::TARGET_MDL_TOO_SMALL => "TARGET_MDL_TOO_SMALL",
            code::PFN_LIST_CORRUPT => "PFN_LIST_CORRUPT",
            code::PROCESS_HAS_LOCKED_PAGES => "PROCESS_HAS_LOCKED_PAGES",
            code::DRIVER_VERIFIER_DETECTED_VIOLATION => "DRIVER_VERIFIER_DETECTED_VIOLATION",
            code::DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS => "DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS",
            code::SYSTEM_PTE_MISUSE => "SYSTEM_PTE_MISUSE",
            code::INVALID_MDL_RANGE => "INVALID_MDL_RANGE",
            code::PAGE_FAULT_IN_NONPAGED_AREA => "PAGE_FAULT_IN_NONPAGED_AREA",
            code::ATTEMPTED_WRITE_TO_READONLY_MEMORY => "ATTEMPTED_WRITE_TO_READONLY_MEMORY",
            bad_pool_caller::CODE => "BAD_POOL_CALLER",
            kmode_exception_not_handled::CODE => "KMODE_EXCEPTION_NOT_HANDLED",
            _ => "BUG_CHECK",
        }
    }
}

impl fmt::Debug for BugCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The STOP line: `*** STOP: 0x000000DA (0x0000000000000400, ...) SYSTEM_PTE_MISUSE at file:line`.
impl fmt::Display for BugCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [p1, p2, p3, p4] = self.parameters;
        write!(
            f,
            "*** STOP: {:#010X} ({p1:#018X}, {p2:#018X}, {p3:#018X}, {p4:#018X}) {}",
            self.code,
            self.name()
        )?;
        if let Some(location) = self.location {
            write!(f, " at {}:{}:{}", location.file(), location.line(), location.column())?;
        }
        Ok(())
    }
}

/// `BAD_POOL_CALLER` (0xC2): the code and the first parameters the pool and the contiguous
/// allocator use.
pub mod bad_pool_caller {
    /// `BAD_POOL_CALLER`.
    pub const CODE: u32 = 0xC2;
    /// Freeing pool that was already freed (P2 = 0, P3 = the allocation's tag, standing in for
    /// the pool header, P4 = address).
    pub const DOUBLE_FREE: u64 = 0x07;
    /// `ExFreePoolWithTag` with the wrong tag (P2 = address, P3 = allocator's tag, P4 = tag
    /// passed).
    pub const WRONG_TAG: u64 = 0x0A;
    /// Freeing an address that was never in any pool (P2 = address).
    pub const NEVER_POOL: u64 = 0x42;
    /// `MmFreeContiguousMemory` of an address that is not contiguous memory (P2 = address).
    pub const BAD_CONTIGUOUS_FREE: u64 = 0x60;
    /// Freeing pool at an invalid address: inside pool, not the start of an allocation
    /// (P2 = address).
    pub const INVALID_ADDRESS: u64 = 0x99;
    /// A must-succeed pool type (P2 = pool type, P3 = bytes, P4 = tag).
    pub const MUST_SUCCEED: u64 = 0x9A;
    /// An allocation with tag 0 (P2 = pool type, P3 = bytes, P4 = caller's address).
    pub const ZERO_TAG: u64 = 0x9B;
    /// An allocation with a tag without letters or digits (P2 = tag, P3 = pool type,
    /// P4 = caller's address).
    pub const TAG_WITHOUT_LETTERS_OR_DIGITS: u64 = 0x9D;
}

/// `DRIVER_VERIFIER_DETECTED_VIOLATION` (0xC4) first parameters of the pool rules.
pub mod pool_verifier {
    /// A zero-byte pool allocation (P2 = IRQL, P3 = pool type, P4 = 0).
    pub const ZERO_BYTE_ALLOCATION: u64 = 0x00;
    /// Paged pool allocated above `APC_LEVEL` (P2 = IRQL, P3 = pool type, P4 = bytes).
    pub const PAGED_ALLOCATION_IRQL: u64 = 0x01;
    /// Nonpaged pool allocated above `DISPATCH_LEVEL` (P2 = IRQL, P3 = pool type, P4 = bytes).
    pub const NON_PAGED_ALLOCATION_IRQL: u64 = 0x02;
    /// Paged pool freed above `APC_LEVEL` (P2 = IRQL, P3 = pool type, P4 = address).
    pub const PAGED_FREE_IRQL: u64 = 0x11;
    /// Nonpaged pool freed above `DISPATCH_LEVEL` (P2 = IRQL, P3 = pool type, P4 = address).
    pub const NON_PAGED_FREE_IRQL: u64 = 0x12;
}

/// `SYSTEM_PTE_MISUSE` (0xDA) first parameters for releasing runs of system PTEs, used by
/// `MmFreeNonCachedMemory`.
pub mod pte_release {
    /// Releasing a range that was never allocated (P2 = VA, P3 = pages).
    pub const NEVER_RESERVED: u64 = 0x303;
    /// The release starts in the middle of an allocation (P2 = VA, P3 = pages).
    pub const MIDDLE_OF_ALLOCATION: u64 = 0x304;
    /// The wrong number of pages is released (P2 = VA, P3 = pages given, P4 = pages
    /// allocated).
    pub const WRONG_COUNT: u64 = 0x305;
}

/// `KMODE_EXCEPTION_NOT_HANDLED` (0x1E): an exception nothing caught, such as the one
/// `ExAllocatePool2` raises for `POOL_FLAG_RAISE_ON_FAILURE`.
pub mod kmode_exception_not_handled {
    /// `KMODE_EXCEPTION_NOT_HANDLED`.
    pub const CODE: u32 = 0x1E;
    /// P1 of a failed allocation: `STATUS_INSUFFICIENT_RESOURCES`.
    pub const STATUS_INSUFFICIENT_RESOURCES: u64 = 0xC000_009A;
}
