//! The interface through which the hosted machine routes register accesses to device models.
//!
//! A model sees one BAR (or other MMIO window) as offsets `0..mmio_size()`. It must behave like
//! a device on a real bus: an access it does not decode (outside the window, misaligned, or of a
//! width it does not support) must not panic. Reads return all ones, as an unclaimed bus cycle
//! does (PCI master abort), and writes are dropped.
//!
//! Models do not use time. Work that takes time on real hardware completes when the model is
//! next touched, or when the machine calls [`MmioDevice::tick`]; each model documents which.
//! This keeps every model deterministic, so tests and replays see the same register values.

/// The width of one register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AccessWidth {
    /// 8 bits.
    Byte = 1,
    /// 16 bits.
    Word = 2,
    /// 32 bits.
    Dword = 4,
    /// 64 bits.
    Qword = 8,
}

impl AccessWidth {
    /// The width for an access of `bytes` bytes, if it is one of 1, 2, 4 or 8.
    pub const fn from_bytes(bytes: u64) -> Option<AccessWidth> {
        match bytes {
            1 => Some(Self::Byte),
            2 => Some(Self::Word),
            4 => Some(Self::Dword),
            8 => Some(Self::Qword),
            _ => None,
        }
    }

    /// Bytes moved by the access.
    pub const fn bytes(self) -> u64 {
        self as u64
    }

    /// A mask of the low `8 * bytes()` bits: what an undecoded read returns (all ones), and
    /// what a value is truncated to.
    pub const fn mask(self) -> u64 {
        match self {
            Self::Byte => 0xFF,
            Self::Word => 0xFFFF,
            Self::Dword => 0xFFFF_FFFF,
            Self::Qword => u64::MAX,
        }
    }

    /// Whether an access of this width at `offset` is naturally aligned and lies wholly within
    /// a window of `size` bytes. Never overflows, whatever `offset` is.
    pub const fn fits(self, offset: u64, size: u64) -> bool {
        offset % self.bytes() == 0 && offset < size && self.bytes() <= size - offset
    }
}

/// A memory-mapped device model.
///
/// `Send` so that the machine can own models on whichever thread runs the guest CPU.
pub trait MmioDevice: Send {
    /// A short name for logs and diagnostics, such as `"edu"`.
    fn name(&self) -> &'static str;

    /// Bytes of the MMIO window the model decodes (offsets `0..mmio_size()`).
    fn mmio_size(&self) -> u64;

    /// Reads `width` bytes at `offset`, zero-extended.
    ///
    /// Takes `&mut self` because reads of device registers can have side effects (clearing
    /// status, popping a FIFO, finishing pending work). Undecoded accesses return
    /// `width.mask()` and must not panic.
    fn mmio_read(&mut self, offset: u64, width: AccessWidth) -> u64;

    /// Writes the low `width` bytes of `value` at `offset`. Undecoded accesses are ignored and
    /// must not panic.
    fn mmio_write(&mut self, offset: u64, width: AccessWidth, value: u64);

    /// Lets pending work complete, as if enough time had passed on real hardware.
    ///
    /// The default does nothing, for models whose every effect is immediate.
    fn tick(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths() {
        for (bytes, width, mask) in [
            (1, AccessWidth::Byte, 0xFF),
            (2, AccessWidth::Word, 0xFFFF),
            (4, AccessWidth::Dword, 0xFFFF_FFFF),
            (8, AccessWidth::Qword, u64::MAX),
        ] {
            assert_eq!(AccessWidth::from_bytes(bytes), Some(width));
            assert_eq!(width.bytes(), bytes);
            assert_eq!(width.mask(), mask);
        }
        assert_eq!(AccessWidth::from_bytes(3), None);
        assert_eq!(AccessWidth::from_bytes(0), None);
    }

    #[test]
    fn fits_checks_alignment_and_bounds_without_overflow() {
        assert!(AccessWidth::Dword.fits(0, 4));
        assert!(AccessWidth::Dword.fits(12, 16));
        assert!(!AccessWidth::Dword.fits(14, 16));
        assert!(!AccessWidth::Dword.fits(16, 16));
        assert!(!AccessWidth::Qword.fits(8, 12));
        assert!(!AccessWidth::Qword.fits(u64::MAX - 7, u64::MAX));
        assert!(!AccessWidth::Byte.fits(u64::MAX, 0));
        assert!(AccessWidth::Byte.fits(u64::MAX - 1, u64::MAX));
    }
}
