//! Address newtypes and the page arithmetic of `wdm.h` (`PAGE_ALIGN`, `BYTE_OFFSET`,
//! `ADDRESS_AND_SIZE_TO_SPAN_PAGES`, `BYTES_TO_PAGES`).
//!
//! Physical addresses, virtual addresses and page frame numbers are distinct types so that one
//! can never be passed where another is expected. Bus-relative (raw) addresses live in `hal`.

use core::fmt;

/// Bytes in a page (`PAGE_SIZE`) on every platform iospace supports.
pub const PAGE_SIZE: u64 = 0x1000;
/// `PAGE_SHIFT`: log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Bytes covered by one 2 MiB page-directory leaf.
pub const LARGE_PAGE_SIZE: u64 = 1 << 21;
/// Bytes covered by one 1 GiB page-directory-pointer leaf.
pub const HUGE_PAGE_SIZE: u64 = 1 << 30;

/// A CPU physical address (what the translated resource list holds; what page tables point at).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysicalAddress(pub u64);

/// A virtual address in the address space that `mm` manages.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct VirtualAddress(pub u64);

/// A page frame number: a physical address divided by [`PAGE_SIZE`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Pfn(pub u64);

impl PhysicalAddress {
    /// The frame holding this address.
    pub const fn pfn(self) -> Pfn {
        Pfn(self.0 >> PAGE_SHIFT)
    }
    /// `BYTE_OFFSET`: the offset of this address within its page.
    pub const fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
    /// This address plus `bytes`, or `None` if the sum leaves the 64-bit space.
    pub const fn checked_add(self, bytes: u64) -> Option<Self> {
        match self.0.checked_add(bytes) {
            Some(sum) => Some(Self(sum)),
            None => None,
        }
    }
    /// Whether the address is a multiple of `alignment` (a power of two).
    pub const fn is_aligned(self, alignment: u64) -> bool {
        self.0 & (alignment - 1) == 0
    }
}

impl VirtualAddress {
    /// `PAGE_ALIGN`: this address with its page offset cleared.
    pub const fn page_base(self) -> Self {
        Self(self.0 & !(PAGE_SIZE - 1))
    }
    /// `BYTE_OFFSET`: the offset of this address within its page.
    pub const fn page_offset(self) -> u64 {
        self.0 & (PAGE_SIZE - 1)
    }
    /// This address plus `bytes` (wrapping is a caller bug; addresses here never wrap).
    pub const fn add(self, bytes: u64) -> Self {
        Self(self.0.wrapping_add(bytes))
    }
    /// Whether the address is a multiple of `alignment` (a power of two).
    pub const fn is_aligned(self, alignment: u64) -> bool {
        self.0 & (alignment - 1) == 0
    }
    /// The address as a raw pointer (meaningful only where the platform makes it real).
    pub const fn as_ptr<T>(self) -> *mut T {
        self.0 as usize as *mut T
    }
    /// The address of a raw pointer.
    pub fn from_ptr<T: ?Sized>(pointer: *const T) -> Self {
        Self(pointer.cast::<u8>() as usize as u64)
    }
}

impl Pfn {
    /// The physical address of the first byte of this frame.
    pub const fn address(self) -> PhysicalAddress {
        PhysicalAddress(self.0 << PAGE_SHIFT)
    }
}

/// `ADDRESS_AND_SIZE_TO_SPAN_PAGES`: the number of pages touched by `size` bytes starting at an
/// address whose page offset is that of `address`, in wrapping pointer-width arithmetic as the
/// header computes it. `(0x1FFF, 2)` spans 2 pages; size 0 spans 0 pages at a page-aligned
/// address and 1 otherwise.
pub const fn span_pages(address: u64, size: u64) -> u64 {
    ((address & (PAGE_SIZE - 1)).wrapping_add(size).wrapping_add(PAGE_SIZE - 1)) >> PAGE_SHIFT
}

/// `BYTES_TO_PAGES`: `ceil(size / PAGE_SIZE)`, computed so that no intermediate sum overflows.
pub const fn bytes_to_pages(size: u64) -> u64 {
    (size >> PAGE_SHIFT) + ((size & (PAGE_SIZE - 1)) != 0) as u64
}

macro_rules! hex_debug {
    ($($name:ident),*) => {$(
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    )*};
}
hex_debug!(PhysicalAddress, VirtualAddress, Pfn);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_5_span_pages_follows_the_header_formula() {
        assert_eq!(span_pages(0x1FFF, 2), 2);
        assert_eq!(span_pages(0x1000, 0x1000), 1);
        assert_eq!(span_pages(0x1001, 0x1000), 2);
        assert_eq!(span_pages(0x2000, 0), 0);
        assert_eq!(span_pages(0x2001, 0), 1);
    }

    #[test]
    fn bytes_to_pages_rounds_up_without_overflow() {
        assert_eq!(bytes_to_pages(0), 0);
        assert_eq!(bytes_to_pages(1), 1);
        assert_eq!(bytes_to_pages(0x1000), 1);
        assert_eq!(bytes_to_pages(u64::MAX), (u64::MAX >> 12) + 1);
    }

    #[test]
    fn addresses_split_into_frame_and_offset() {
        let pa = PhysicalAddress(0xFEBF_1234);
        assert_eq!(pa.pfn(), Pfn(0xFEBF1));
        assert_eq!(pa.page_offset(), 0x234);
        assert_eq!(Pfn(0xFEBF1).address(), PhysicalAddress(0xFEBF_1000));
        assert_eq!(VirtualAddress(0x7000_0FFF).page_base(), VirtualAddress(0x7000_0000));
    }
}
