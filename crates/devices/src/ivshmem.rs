//! A model of QEMU's `ivshmem-plain`: a PCI function whose BAR2 is memory shared with other
//! processes (other virtual machines, or a host tool), following QEMU's
//! `docs/specs/ivshmem-spec.rst` and `hw/misc/ivshmem.c`.
//!
//! # PCI
//!
//! Vendor 0x1af4, device 0x1110, revision 1, class 0x0500 (memory controller, RAM), QEMU's
//! default subsystem IDs, no interrupt pin (`ivshmem-plain` has no interrupts), no capabilities.
//! - BAR0: 256 bytes of registers, 32-bit non-prefetchable memory.
//! - BAR2: the shared memory, 64-bit prefetchable memory, as large as the [`SharedRegion`]
//!   (a power of two, 4 MiB by default in the machine descriptions).
//!
//! The command register is 0 after reset, as after QEMU's PCI reset (QEMU's realize sets I/O
//! and memory decoding, but the reset that follows clears them).
//!
//! # BAR0 registers (offsets in [`regs`])
//!
//! | offset | access | meaning |
//! |--------|--------|---------|
//! | 0x00 | RW | interrupt mask |
//! | 0x04 | RW | interrupt status; a read returns it and clears it |
//! | 0x08 | RO | IVPosition: 0, since `ivshmem-plain` is not configured for interrupts |
//! | 0x0C | WO | doorbell: ignored, since `ivshmem-plain` has no peers; reads 0 |
//!
//! The mask and status registers are plain storage: with no interrupt pin, QEMU never raises
//! an interrupt from them, and neither does this model. Every other offset in BAR0 reads 0 and
//! ignores writes, as QEMU's register handler does.
//!
//! QEMU implements the registers as 32-bit only and lets its memory core adapt other widths;
//! the model reproduces that, so drivers see the same values on both:
//! - a 1- or 2-byte access at offset `o` acts as a 4-byte access at `o` on the low bits of the
//!   value (a byte write of `v` to 0x00 sets the mask to `v`; a byte read at 0x01 reads 0);
//! - an 8-byte access is two 4-byte accesses, at `o` (low half) then `o + 4` (high half).
//!
//! Misaligned accesses and accesses beyond BAR0 read all ones and are dropped.
//!
//! # BAR2 shared memory
//!
//! Accesses of any width at any offset go to the region, little-endian, as long as they lie
//! wholly inside it; others read all ones and are dropped. Nothing is cached in the model, so
//! another process sharing the region sees each write at once. The machine may also map the
//! region straight into guest physical memory, as it is plain memory; the model then only sees
//! accesses the machine chooses to route through it.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::mmio::AccessWidth;
use crate::pci::{
    BarDescriptor, BarError, BarKind, ClassCode, PciConfigSpace, PciFunction, PciIdentity, QEMU_SUBSYSTEM_ID,
    QEMU_SUBSYSTEM_VENDOR_ID,
};

/// PCI vendor ID of ivshmem (Red Hat/Qumranet).
pub const IVSHMEM_VENDOR_ID: u16 = 0x1af4;
/// PCI device ID of ivshmem.
pub const IVSHMEM_DEVICE_ID: u16 = 0x1110;
/// PCI revision ID of ivshmem (revision 1 of the specification).
pub const IVSHMEM_REVISION: u8 = 1;
/// The BAR of the registers.
pub const IVSHMEM_REGISTER_BAR: u8 = 0;
/// The BAR of the shared memory.
pub const IVSHMEM_SHARED_MEMORY_BAR: u8 = 2;
/// Size of BAR0, the registers.
pub const IVSHMEM_REGISTER_BAR_SIZE: u64 = 256;
/// The shared-memory size the machine descriptions use unless told otherwise.
pub const IVSHMEM_DEFAULT_SHARED_MEMORY_SIZE: u64 = 4 << 20;

/// ivshmem's PCI identification.
pub const IVSHMEM_IDENTITY: PciIdentity = PciIdentity {
    vendor_id: IVSHMEM_VENDOR_ID,
    device_id: IVSHMEM_DEVICE_ID,
    // PCI_CLASS_MEMORY_RAM.
    class_code: ClassCode { class: 0x05, subclass: 0x00, prog_if: 0x00 },
    revision: IVSHMEM_REVISION,
    subsystem_vendor_id: QEMU_SUBSYSTEM_VENDOR_ID,
    subsystem_id: QEMU_SUBSYSTEM_ID,
};

/// Offsets of the registers within BAR0.
pub mod regs {
    /// Interrupt mask (RW).
    pub const INTERRUPT_MASK: u64 = 0x00;
    /// Interrupt status (RW, cleared by reading).
    pub const INTERRUPT_STATUS: u64 = 0x04;
    /// IVPosition (RO): 0 for `ivshmem-plain`.
    pub const IV_POSITION: u64 = 0x08;
    /// Doorbell (WO): ignored by `ivshmem-plain`.
    pub const DOORBELL: u64 = 0x0C;
}

/// The bytes behind BAR2, provided by the machine: on the hosted machine a mapped shared file,
/// so that another process sees the guest's writes.
///
/// The model only calls `read` and `write` with ranges inside `0..len()`.
pub trait SharedRegion: Send {
    /// Bytes in the region.
    fn len(&self) -> u64;

    /// Whether the region has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies `buffer.len()` bytes at `offset` into `buffer`.
    fn read(&self, offset: u64, buffer: &mut [u8]);

    /// Copies `data` to the region at `offset`.
    fn write(&mut self, offset: u64, data: &[u8]);
}

/// A region in a `Vec`, for tests. Out-of-range accesses read zeros and are dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct VecSharedRegion {
    bytes: Vec<u8>,
}

impl VecSharedRegion {
    /// `size` zeroed bytes.
    pub fn new(size: usize) -> Self {
        Self { bytes: vec![0; size] }
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The byte range of `length` bytes at `offset`, if inside the region.
    fn range(&self, offset: u64, length: usize) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(length)?;
        (end <= self.bytes.len()).then_some(start..end)
    }
}

impl SharedRegion for VecSharedRegion {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read(&self, offset: u64, buffer: &mut [u8]) {
        match self.range(offset, buffer.len()) {
            Some(range) => buffer.copy_from_slice(&self.bytes[range]),
            None => buffer.fill(0),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let Some(range) = self.range(offset, data.len()) {
            self.bytes[range].copy_from_slice(data);
        }
    }
}

impl fmt::Debug for VecSharedRegion {
    // The contents are left out: regions are megabytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecSharedRegion").field("len", &self.bytes.len()).finish()
    }
}

/// The `ivshmem-plain` device. See the [module documentation](self).
pub struct Ivshmem {
    config: PciConfigSpace,
    region: Box<dyn SharedRegion>,
    /// The region's length, read once: it is also BAR2's size, which cannot change.
    size: u64,
    interrupt_mask: u32,
    interrupt_status: u32,
}

impl Ivshmem {
    /// A device in its reset state whose BAR2 is `region`. Fails, as QEMU refuses to start,
    /// if the region's length is not a power of two of at least 16 bytes.
    pub fn new(region: Box<dyn SharedRegion>) -> Result<Self, BarError> {
        let size = region.len();
        let bars = [
            BarDescriptor {
                index: IVSHMEM_REGISTER_BAR,
                kind: BarKind::Memory32 { prefetchable: false },
                size: IVSHMEM_REGISTER_BAR_SIZE,
            },
            BarDescriptor {
                index: IVSHMEM_SHARED_MEMORY_BAR,
                kind: BarKind::Memory64 { prefetchable: true },
                size,
            },
        ];
        let config = PciConfigSpace::new(IVSHMEM_IDENTITY, &bars)?;
        Ok(Self { config, region, size, interrupt_mask: 0, interrupt_status: 0 })
    }

    /// Bytes of shared memory (BAR2's size).
    pub fn shared_memory_size(&self) -> u64 {
        self.size
    }

    /// The shared region.
    pub fn region(&self) -> &dyn SharedRegion {
        &*self.region
    }

    /// A 32-bit register read at `offset` as QEMU's handler sees it.
    fn register_read(&mut self, offset: u64) -> u32 {
        match offset {
            regs::INTERRUPT_MASK => self.interrupt_mask,
            regs::INTERRUPT_STATUS => core::mem::take(&mut self.interrupt_status),
            // IVPosition is 0 for plain; the doorbell and unassigned offsets read 0.
            _ => 0,
        }
    }

    /// A 32-bit register write at `offset` as QEMU's handler sees it.
    fn register_write(&mut self, offset: u64, value: u32) {
        match offset {
            regs::INTERRUPT_MASK => self.interrupt_mask = value,
            regs::INTERRUPT_STATUS => self.interrupt_status = value,
            // The doorbell has no peer to ring; IVPosition is read-only.
            _ => {}
        }
    }

    fn registers_read(&mut self, offset: u64, width: AccessWidth) -> u64 {
        if !width.fits(offset, IVSHMEM_REGISTER_BAR_SIZE) {
            return width.mask();
        }
        match width {
            AccessWidth::Qword => {
                let low = self.register_read(offset);
                let high = self.register_read(offset + 4);
                u64::from(low) | u64::from(high) << 32
            }
            _ => u64::from(self.register_read(offset)) & width.mask(),
        }
    }

    fn registers_write(&mut self, offset: u64, width: AccessWidth, value: u64) {
        if !width.fits(offset, IVSHMEM_REGISTER_BAR_SIZE) {
            return;
        }
        let value = value & width.mask();
        self.register_write(offset, value as u32);
        if width == AccessWidth::Qword {
            self.register_write(offset + 4, (value >> 32) as u32);
        }
    }

    /// Whether an access of `width` at `offset` lies wholly inside the region (any alignment).
    fn in_region(&self, offset: u64, width: AccessWidth) -> bool {
        offset < self.size && width.bytes() <= self.size - offset
    }

    fn shared_read(&mut self, offset: u64, width: AccessWidth) -> u64 {
        if !self.in_region(offset, width) {
            return width.mask();
        }
        let mut bytes = [0u8; 8];
        self.region.read(offset, &mut bytes[..width.bytes() as usize]);
        u64::from_le_bytes(bytes)
    }

    fn shared_write(&mut self, offset: u64, width: AccessWidth, value: u64) {
        if self.in_region(offset, width) {
            self.region.write(offset, &value.to_le_bytes()[..width.bytes() as usize]);
        }
    }
}

impl fmt::Debug for Ivshmem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ivshmem")
            .field("shared_memory_size", &format_args!("{:#x}", self.size))
            .field("interrupt_mask", &format_args!("{:#x}", self.interrupt_mask))
            .field("interrupt_status", &format_args!("{:#x}", self.interrupt_status))
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PciFunction for Ivshmem {
    fn config(&self) -> &PciConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut PciConfigSpace {
        &mut self.config
    }

    fn bar_read(&mut self, bar: u8, offset: u64, width: AccessWidth) -> u64 {
        match bar {
            IVSHMEM_REGISTER_BAR => self.registers_read(offset, width),
            IVSHMEM_SHARED_MEMORY_BAR => self.shared_read(offset, width),
            _ => width.mask(),
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, width: AccessWidth, value: u64) {
        match bar {
            IVSHMEM_REGISTER_BAR => self.registers_write(offset, width, value),
            IVSHMEM_SHARED_MEMORY_BAR => self.shared_write(offset, width, value),
            _ => {}
        }
    }

    // ivshmem-plain neither masters the bus nor interrupts nor has pending work: the default
    // `tick` and `interrupt_pending` hold.
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::offsets;
    use AccessWidth::{Byte, Dword, Qword, Word};

    /// An ivshmem over `size` zeroed bytes.
    fn device(size: usize) -> Ivshmem {
        Ivshmem::new(Box::new(VecSharedRegion::new(size))).unwrap()
    }

    fn region_bytes(ivshmem: &Ivshmem, offset: u64, length: usize) -> Vec<u8> {
        let mut bytes = vec![0; length];
        ivshmem.region().read(offset, &mut bytes);
        bytes
    }

    #[test]
    fn pci_identity_and_bars() {
        let mut ivshmem = device(4 << 20);
        let config = ivshmem.config();
        assert_eq!(config.read(0, Dword), 0x1110_1af4);
        assert_eq!(config.read(8, Dword), 0x0500_0001);
        assert_eq!(config.read(offsets::SUBSYSTEM_VENDOR_ID, Dword), 0x1100_1af4);
        assert_eq!(config.interrupt_pin(), 0);
        assert_eq!(config.command(), 0);
        assert_eq!(ivshmem.shared_memory_size(), 4 << 20);
        // BAR0: 256 bytes, 32-bit, non-prefetchable.
        ivshmem.config_mut().write(0x10, Dword, u32::MAX);
        assert_eq!(ivshmem.config().read(0x10, Dword), 0xFFFF_FF00);
        // BAR1 is absent; BAR2/3: 4 MiB, 64-bit, prefetchable.
        ivshmem.config_mut().write(0x14, Dword, u32::MAX);
        assert_eq!(ivshmem.config().read(0x14, Dword), 0);
        ivshmem.config_mut().write(0x18, Dword, u32::MAX);
        ivshmem.config_mut().write(0x1C, Dword, u32::MAX);
        assert_eq!(ivshmem.config().read(0x18, Dword), 0xFFC0_000C);
        assert_eq!(ivshmem.config().read(0x1C, Dword), 0xFFFF_FFFF);
        assert!(ivshmem.config_mut().set_bar_address(2, 0x8_0000_0000));
        assert_eq!(ivshmem.config().bar_address(2), Some(0x8_0000_0000));
    }

    #[test]
    fn region_size_must_be_a_power_of_two() {
        for size in [0, 8, 24, 3 << 20] {
            let error = Ivshmem::new(Box::new(VecSharedRegion::new(size))).unwrap_err();
            assert_eq!(error, BarError::InvalidSize { index: 2, size: size as u64 });
        }
        assert_eq!(device(16).shared_memory_size(), 16);
    }

    #[test]
    fn registers() {
        let mut ivshmem = device(4096);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Dword), 0);
        ivshmem.bar_write(0, regs::INTERRUPT_MASK, Dword, 0xFFFF_FFFF);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Dword), 0xFFFF_FFFF);
        // Status: written, then read once and cleared.
        ivshmem.bar_write(0, regs::INTERRUPT_STATUS, Dword, 0x1);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_STATUS, Dword), 0x1);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_STATUS, Dword), 0);
        // No interrupt pin: nothing is ever pending, even with mask and status set.
        ivshmem.bar_write(0, regs::INTERRUPT_STATUS, Dword, 0x1);
        assert!(!ivshmem.interrupt_pending());
        // IVPosition reads 0 and ignores writes; the doorbell reads 0 and is ignored.
        ivshmem.bar_write(0, regs::IV_POSITION, Dword, 7);
        assert_eq!(ivshmem.bar_read(0, regs::IV_POSITION, Dword), 0);
        ivshmem.bar_write(0, regs::DOORBELL, Dword, 0x0001_0000);
        assert_eq!(ivshmem.bar_read(0, regs::DOORBELL, Dword), 0);
        // Unassigned offsets read 0 (QEMU), not all ones.
        assert_eq!(ivshmem.bar_read(0, 0x10, Dword), 0);
        assert_eq!(ivshmem.bar_read(0, 0xFC, Dword), 0);
        ivshmem.bar_write(0, 0x10, Dword, 1);
        // Mask untouched by all that.
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Dword), 0xFFFF_FFFF);
    }

    #[test]
    fn register_widths_follow_qemus_memory_core() {
        let mut ivshmem = device(4096);
        ivshmem.bar_write(0, regs::INTERRUPT_MASK, Dword, 0x1234_5678);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Byte), 0x78);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Word), 0x5678);
        // A narrow access elsewhere in the register is an access to an unassigned offset.
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK + 1, Byte), 0);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK + 2, Word), 0);
        // A byte write replaces the whole register.
        ivshmem.bar_write(0, regs::INTERRUPT_MASK, Byte, 0x1AB);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Dword), 0xAB);
        ivshmem.bar_write(0, regs::INTERRUPT_MASK + 1, Byte, 0xCD);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Dword), 0xAB);
        // Eight bytes split into two registers, low half first.
        ivshmem.bar_write(0, regs::INTERRUPT_MASK, Qword, 0x0000_0003_0000_0011);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Qword), 0x0000_0003_0000_0011);
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_STATUS, Dword), 0, "the qword read cleared it");
        assert_eq!(ivshmem.bar_read(0, regs::IV_POSITION, Qword), 0);
        // Misaligned or outside BAR0: all ones, dropped.
        for (offset, width) in
            [(1, Word), (2, Dword), (4, Qword), (256, Byte), (252, Qword), (u64::MAX, Byte)]
        {
            assert_eq!(ivshmem.bar_read(0, offset, width), width.mask(), "{offset:#x} {width:?}");
            ivshmem.bar_write(0, offset, width, u64::MAX);
        }
        assert_eq!(ivshmem.bar_read(0, regs::INTERRUPT_MASK, Dword), 0x11);
        // Other BARs.
        assert_eq!(ivshmem.bar_read(1, 0, Dword), 0xFFFF_FFFF);
        assert_eq!(ivshmem.bar_read(4, 0, Byte), 0xFF);
        ivshmem.bar_write(3, 0, Dword, 1);
    }

    #[test]
    fn shared_memory_at_every_width() {
        let mut ivshmem = device(4096);
        ivshmem.bar_write(2, 0, Qword, 0x0807_0605_0403_0201);
        assert_eq!(region_bytes(&ivshmem, 0, 8), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(ivshmem.bar_read(2, 0, Byte), 0x01);
        assert_eq!(ivshmem.bar_read(2, 2, Word), 0x0403);
        assert_eq!(ivshmem.bar_read(2, 4, Dword), 0x0807_0605);
        // Unaligned is fine: it is memory.
        assert_eq!(ivshmem.bar_read(2, 1, Dword), 0x0504_0302);
        ivshmem.bar_write(2, 3, Word, 0xBBAA);
        assert_eq!(ivshmem.bar_read(2, 0, Qword), 0x0807_06BB_AA03_0201);
        ivshmem.bar_write(2, 4093, Byte, 0x1FF);
        assert_eq!(region_bytes(&ivshmem, 4092, 4), [0, 0xFF, 0, 0]);
        ivshmem.bar_write(2, 4088, Qword, u64::MAX - 1);
        assert_eq!(ivshmem.bar_read(2, 4088, Qword), u64::MAX - 1);
        // Past the end, or straddling it.
        assert_eq!(ivshmem.bar_read(2, 4096, Byte), 0xFF);
        assert_eq!(ivshmem.bar_read(2, 4093, Dword), 0xFFFF_FFFF);
        ivshmem.bar_write(2, 4093, Dword, 0);
        ivshmem.bar_write(2, u64::MAX, Byte, 0);
        assert_eq!(region_bytes(&ivshmem, 4088, 8), (u64::MAX - 1).to_le_bytes());
    }
}
