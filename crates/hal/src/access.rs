//! What the register and port routines need from the platform: sized, volatile accesses to
//! mapped device memory and to I/O ports, and a full barrier.
//!
//! On metal an implementation is a volatile load or store of exactly the width asked for, `in`
//! or `out`, and a locked instruction (or `mfence`) for the barrier. On the hosted machine it
//! resolves the virtual address through the page tables and hands the access to the device model
//! behind the physical address. Either way the HAL never forms a Rust reference into device
//! memory: an access is a value in and a value out.

use core::fmt;

use iospace_mm::address::VirtualAddress;

/// The size of one access. A device sees exactly this many bytes in one transaction; accesses
/// are never merged or split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Width {
    /// One byte (`UCHAR`).
    U8,
    /// Two bytes (`USHORT`).
    U16,
    /// Four bytes (`ULONG`).
    U32,
    /// Eight bytes (`ULONG64`); register accesses only, there is no 64-bit port access.
    U64,
}

impl Width {
    /// Bytes in an access of this width.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U32 => 4,
            Self::U64 => 8,
        }
    }

    /// The bits an access of this width carries.
    pub const fn mask(self) -> u64 {
        match self {
            Self::U8 => 0xFF,
            Self::U16 => 0xFFFF,
            Self::U32 => 0xFFFF_FFFF,
            Self::U64 => u64::MAX,
        }
    }
}

/// Why a register access could not be made. Nothing reached a device when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessFault {
    /// No valid translation for the address: the access would page-fault.
    NotMapped(VirtualAddress),
    /// A write through a mapping without write permission.
    ReadOnly(VirtualAddress),
    /// The address is not a multiple of the access width and the platform does not perform
    /// such accesses. (The HAL refuses misaligned accesses before they reach the platform; see
    /// [`registers`](crate::registers).)
    Misaligned(VirtualAddress),
}

impl AccessFault {
    /// The address the faulting access was made at.
    pub const fn address(self) -> VirtualAddress {
        match self {
            Self::NotMapped(address) | Self::ReadOnly(address) | Self::Misaligned(address) => address,
        }
    }
}

impl fmt::Display for AccessFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMapped(address) => write!(f, "{address} is not mapped"),
            Self::ReadOnly(address) => write!(f, "{address} is mapped read-only"),
            Self::Misaligned(address) => write!(f, "{address} is not aligned to the access width"),
        }
    }
}

impl core::error::Error for AccessFault {}

/// Device access as the platform performs it.
///
/// Every method is one access (or one barrier), performed when called and in call order: an
/// implementation may not cache, merge, reorder or split accesses, because device registers
/// have side effects and the register routines promise an order (claim 72).
pub trait IoAccess: Send + Sync {
    /// A volatile load of `width` bytes at `address`, zero-extended.
    ///
    /// # Errors
    /// [`AccessFault::NotMapped`] if the address has no valid translation;
    /// [`AccessFault::Misaligned`] if the platform refuses a misaligned access.
    fn read_register(&self, address: VirtualAddress, width: Width) -> Result<u64, AccessFault>;

    /// A volatile store of the low `width` bytes of `value` at `address`.
    ///
    /// # Errors
    /// [`AccessFault::NotMapped`] if the address has no valid translation;
    /// [`AccessFault::ReadOnly`] if the mapping does not allow writes;
    /// [`AccessFault::Misaligned`] if the platform refuses a misaligned access.
    fn write_register(&self, address: VirtualAddress, width: Width, value: u64) -> Result<(), AccessFault>;

    /// `in` of `width` bytes from `port`, zero-extended. Never called with [`Width::U64`]; an
    /// implementation may treat that as [`Width::U32`]. A port nothing decodes reads as all
    /// ones, as on a PC.
    fn read_port(&self, port: u16, width: Width) -> u32;

    /// `out` of the low `width` bytes of `value` to `port`. Never called with [`Width::U64`].
    /// A write to a port nothing decodes goes nowhere.
    fn write_port(&self, port: u16, width: Width, value: u32);

    /// A full barrier: every memory and device access before it completes before any access
    /// after it (`KeMemoryBarrier`; on x64 a locked instruction or `mfence`).
    fn memory_barrier(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_know_their_size_and_mask() {
        assert_eq!([Width::U8, Width::U16, Width::U32, Width::U64].map(Width::bytes), [1, 2, 4, 8]);
        assert_eq!(Width::U16.mask(), 0xFFFF);
        assert_eq!(Width::U64.mask(), u64::MAX);
    }

    #[test]
    fn faults_name_their_address() {
        let address = VirtualAddress(0xFFFF_8000_0000_1000);
        for fault in [
            AccessFault::NotMapped(address),
            AccessFault::ReadOnly(address),
            AccessFault::Misaligned(address),
        ] {
            assert_eq!(fault.address(), address);
            assert!(alloc::format!("{fault}").contains("0xffff800000001000"));
        }
    }
}
