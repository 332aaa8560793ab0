//! Page protection values (`PAGE_*`), as `MmMapIoSpaceEx` takes them.

use core::fmt;

use crate::caching::CachePolicy;

/// `PAGE_NOACCESS`.
pub const PAGE_NOACCESS: u32 = 0x01;
/// `PAGE_READONLY`.
pub const PAGE_READONLY: u32 = 0x02;
/// `PAGE_READWRITE`.
pub const PAGE_READWRITE: u32 = 0x04;
/// `PAGE_WRITECOPY`.
pub const PAGE_WRITECOPY: u32 = 0x08;
/// `PAGE_EXECUTE`.
pub const PAGE_EXECUTE: u32 = 0x10;
/// `PAGE_EXECUTE_READ`.
pub const PAGE_EXECUTE_READ: u32 = 0x20;
/// `PAGE_EXECUTE_READWRITE`.
pub const PAGE_EXECUTE_READWRITE: u32 = 0x40;
/// `PAGE_EXECUTE_WRITECOPY`.
pub const PAGE_EXECUTE_WRITECOPY: u32 = 0x80;
/// `PAGE_GUARD`.
pub const PAGE_GUARD: u32 = 0x100;
/// `PAGE_NOCACHE`.
pub const PAGE_NOCACHE: u32 = 0x200;
/// `PAGE_WRITECOMBINE`.
pub const PAGE_WRITECOMBINE: u32 = 0x400;

/// A valid protection for a system mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageProtection {
    /// Writes are allowed.
    pub writable: bool,
    /// Instruction fetches are allowed.
    pub executable: bool,
    /// The memory type of the mapping.
    pub cache: CachePolicy,
}

/// A `Protect` value `MmMapIoSpaceEx` refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidProtection(pub u32);

impl fmt::Display for InvalidProtection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protection {:#x} must hold exactly one of PAGE_READONLY, PAGE_READWRITE, PAGE_EXECUTE, \
             PAGE_EXECUTE_READ, PAGE_EXECUTE_READWRITE and at most one of PAGE_NOCACHE, \
             PAGE_WRITECOMBINE",
            self.0
        )
    }
}

impl core::error::Error for InvalidProtection {}

impl PageProtection {
    /// What `MmMapIoSpace` creates: read, write and execute (the reason C30029 bans it).
    pub const fn read_write_execute(cache: CachePolicy) -> Self {
        Self { writable: true, executable: true, cache }
    }

    /// Parses an `MmMapIoSpaceEx` protection: exactly one base protection among READONLY,
    /// READWRITE, EXECUTE, EXECUTE_READ and EXECUTE_READWRITE, plus at most one of NOCACHE and
    /// WRITECOMBINE; no cache flag means cached. Any other bit is refused.
    ///
    /// x86-64 paging cannot express execute-only, so `PAGE_EXECUTE` maps readable and executable.
    pub const fn from_protect(protect: u32) -> Result<Self, InvalidProtection> {
        let (writable, executable) = match protect & 0xFF {
            PAGE_READONLY => (false, false),
            PAGE_READWRITE => (true, false),
            PAGE_EXECUTE | PAGE_EXECUTE_READ => (false, true),
            PAGE_EXECUTE_READWRITE => (true, true),
            _ => return Err(InvalidProtection(protect)),
        };
        let cache = match protect & !0xFF {
            0 => CachePolicy::WriteBack,
            PAGE_NOCACHE => CachePolicy::Uncached,
            PAGE_WRITECOMBINE => CachePolicy::WriteCombining,
            _ => return Err(InvalidProtection(protect)),
        };
        Ok(Self { writable, executable, cache })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_6_protect_needs_one_base_and_at_most_one_cache_flag() {
        assert_eq!(
            PageProtection::from_protect(PAGE_READWRITE | PAGE_NOCACHE),
            Ok(PageProtection { writable: true, executable: false, cache: CachePolicy::Uncached })
        );
        assert_eq!(
            PageProtection::from_protect(PAGE_READONLY | PAGE_WRITECOMBINE).unwrap().cache,
            CachePolicy::WriteCombining
        );
        assert_eq!(PageProtection::from_protect(PAGE_READWRITE).unwrap().cache, CachePolicy::WriteBack);
        for bad in [
            0,
            PAGE_NOCACHE,
            PAGE_READWRITE | PAGE_NOCACHE | PAGE_WRITECOMBINE,
            PAGE_READWRITE | PAGE_READONLY,
            PAGE_NOACCESS,
            PAGE_WRITECOPY,
            PAGE_EXECUTE_WRITECOPY,
            PAGE_READWRITE | PAGE_GUARD,
            PAGE_READWRITE | 0x1000,
        ] {
            assert_eq!(PageProtection::from_protect(bad), Err(InvalidProtection(bad)), "{bad:#x}");
        }
    }

    #[test]
    fn claim_7_readwrite_is_not_executable_but_map_io_space_is() {
        assert!(!PageProtection::from_protect(PAGE_READWRITE).unwrap().executable);
        assert!(PageProtection::read_write_execute(CachePolicy::Uncached).executable);
        assert!(PageProtection::from_protect(PAGE_EXECUTE_READWRITE).unwrap().executable);
    }
}
