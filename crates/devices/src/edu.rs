//! A model of QEMU's `edu` educational PCI device (BAR0 registers), following QEMU's
//! `docs/specs/edu.rst` and `hw/misc/edu.c`.
//!
//! Register map of BAR0 (offsets in [`regs`]):
//!
//! | offset | access | meaning |
//! |--------|--------|---------|
//! | 0x00 | RO | identification `0x010000ed` (major 1, minor 0, `0xed`) |
//! | 0x04 | RW | liveness check: reads back the bitwise inverse of the last value written |
//! | 0x08 | RW | factorial: writing `n` starts computing `n!` (32-bit, wrapping) |
//! | 0x20 | RW | status: bit 0x01 computing (RO), bit 0x80 interrupt on factorial done (RW) |
//! | 0x24 | RO | interrupt status |
//! | 0x60 | WO | interrupt raise: ORs the value into interrupt status |
//! | 0x64 | WO | interrupt acknowledge: clears those bits of interrupt status |
//! | 0x80 | RW | DMA source address |
//! | 0x88 | RW | DMA destination address |
//! | 0x90 | RW | DMA transfer count |
//! | 0x98 | RW | DMA command |
//! | 0x40000..0x41000 | RW | the 4 KiB device buffer that DMA copies to and from |
//!
//! As in QEMU, registers below 0x80 decode only 4-byte accesses and registers from 0x80 on
//! decode 4- and 8-byte accesses; a 4-byte write to a DMA register sets it to the zero-extended
//! value and a 4-byte read returns its low half. Unlike QEMU, the device buffer is also
//! reachable through MMIO, at any naturally aligned width, so that drivers and tests can stage
//! and inspect DMA data. Every other access reads as all ones and writes are dropped.
//!
//! Timing: QEMU computes the factorial on a worker thread. This model has no time, so a
//! computation started by a write to 0x08 stays pending ("busy") until, whichever comes first:
//! - a read of the status register, which returns the busy bit set and then completes the
//!   computation, so the *next* status read shows it done (a polling driver sees busy once);
//! - a read of the factorial register, which completes the computation first and returns the
//!   result;
//! - [`MmioDevice::tick`].
//!
//! While busy, writes to 0x08 are ignored, as in QEMU. On completion, if status bit 0x80 is set,
//! interrupt status bit [`IRQ_FACTORIAL`] is raised.

use alloc::boxed::Box;
use alloc::vec;
use core::fmt;

use crate::mmio::{AccessWidth, MmioDevice};

/// PCI vendor ID of the edu device (QEMU's 0x1234).
pub const EDU_VENDOR_ID: u16 = 0x1234;
/// PCI device ID of the edu device.
pub const EDU_DEVICE_ID: u16 = 0x11e8;
/// Size of BAR0, the MMIO register window.
pub const EDU_BAR0_SIZE: u64 = 1 << 20;
/// What the identification register reads: major version 1, minor 0, then `0xed`.
pub const EDU_IDENTIFICATION: u32 = 0x0100_00ed;
/// Offset of the device buffer within BAR0.
pub const EDU_BUFFER_OFFSET: u64 = 0x40000;
/// Size of the device buffer in bytes.
pub const EDU_BUFFER_SIZE: u64 = 0x1000;

// The buffer must lie inside BAR0 and above the registers for the decoding below to hold.
const _: () = assert!(EDU_BUFFER_OFFSET >= 0x100 && EDU_BUFFER_OFFSET + EDU_BUFFER_SIZE <= EDU_BAR0_SIZE);

/// Status register bit: a factorial computation is in progress (read-only).
pub const STATUS_COMPUTING: u32 = 0x01;
/// Status register bit: raise [`IRQ_FACTORIAL`] when a factorial computation finishes.
pub const STATUS_IRQ_FACTORIAL: u32 = 0x80;
/// Interrupt status bit raised when a factorial finishes with [`STATUS_IRQ_FACTORIAL`] set.
pub const IRQ_FACTORIAL: u32 = 0x0000_0001;
/// Interrupt status bit QEMU raises when a DMA transfer finishes with [`DMA_IRQ`] set.
pub const IRQ_DMA: u32 = 0x0000_0100;
/// DMA command bit: start the transfer.
pub const DMA_START: u64 = 0x1;
/// DMA command bit: direction; clear = RAM to device buffer, set = device buffer to RAM.
pub const DMA_FROM_DEVICE: u64 = 0x2;
/// DMA command bit: raise [`IRQ_DMA`] when the transfer finishes.
pub const DMA_IRQ: u64 = 0x4;

/// Offsets of the edu registers within BAR0.
pub mod regs {
    /// Identification (RO).
    pub const IDENTIFICATION: u64 = 0x00;
    /// Liveness check (RW): reads the inverse of what was written.
    pub const LIVENESS: u64 = 0x04;
    /// Factorial computation (RW).
    pub const FACTORIAL: u64 = 0x08;
    /// Status (RW).
    pub const STATUS: u64 = 0x20;
    /// Interrupt status (RO).
    pub const INTERRUPT_STATUS: u64 = 0x24;
    /// Interrupt raise (WO).
    pub const INTERRUPT_RAISE: u64 = 0x60;
    /// Interrupt acknowledge (WO).
    pub const INTERRUPT_ACK: u64 = 0x64;
    /// DMA source address (RW).
    pub const DMA_SOURCE: u64 = 0x80;
    /// DMA destination address (RW).
    pub const DMA_DESTINATION: u64 = 0x88;
    /// DMA transfer count (RW).
    pub const DMA_COUNT: u64 = 0x90;
    /// DMA command (RW).
    pub const DMA_COMMAND: u64 = 0x98;
}

/// `n!` modulo 2^32, as edu's 32-bit register computes it.
fn factorial(n: u32) -> u32 {
    // 34! contains 2^32 (17 + 8 + 4 + 2 + 1 factors of two), so every n >= 34 wraps to 0.
    // The shortcut keeps a write of a huge n from looping billions of times.
    if n >= 34 {
        return 0;
    }
    (1..=n).fold(1u32, u32::wrapping_mul)
}

/// The edu device. See the [module documentation](self) for its registers and timing.
pub struct Edu {
    /// What the liveness register reads: the inverse of the last value written.
    liveness: u32,
    /// The factorial register: the operand while computing, the result afterwards.
    factorial: u32,
    /// A factorial computation is pending (status bit 0x01).
    computing: bool,
    /// Status bit 0x80.
    irq_on_factorial: bool,
    interrupt_status: u32,
    dma_source: u64,
    dma_destination: u64,
    dma_count: u64,
    dma_command: u64,
    /// The device buffer ([`EDU_BUFFER_SIZE`] bytes), boxed to keep `Edu` small to move.
    buffer: Box<[u8]>,
}

impl Edu {
    /// A device in its reset state.
    pub fn new() -> Self {
        Self {
            // As if 0 had been written: reads return !0.
            liveness: !0,
            factorial: 0,
            computing: false,
            irq_on_factorial: false,
            interrupt_status: 0,
            dma_source: 0,
            dma_destination: 0,
            dma_count: 0,
            dma_command: 0,
            buffer: vec![0; EDU_BUFFER_SIZE as usize].into_boxed_slice(),
        }
    }

    /// Whether the device asserts its interrupt (any interrupt status bit set).
    pub fn interrupt_pending(&self) -> bool {
        self.interrupt_status != 0
    }

    /// The status register's value.
    fn status(&self) -> u32 {
        let mut status = 0;
        if self.computing {
            status |= STATUS_COMPUTING;
        }
        if self.irq_on_factorial {
            status |= STATUS_IRQ_FACTORIAL;
        }
        status
    }

    /// Completes a pending factorial computation, raising its interrupt if enabled.
    fn finish_factorial(&mut self) {
        if self.computing {
            self.factorial = factorial(self.factorial);
            self.computing = false;
            if self.irq_on_factorial {
                self.interrupt_status |= IRQ_FACTORIAL;
            }
        }
    }

    /// The byte range of the device buffer an access touches, if it lies wholly inside it.
    fn buffer_range(offset: u64, width: AccessWidth) -> Option<core::ops::Range<usize>> {
        let relative = offset.checked_sub(EDU_BUFFER_OFFSET)?;
        if !width.fits(relative, EDU_BUFFER_SIZE) {
            return None;
        }
        // Bounded by EDU_BUFFER_SIZE, so the conversions cannot truncate.
        let start = relative as usize;
        Some(start..start + width.bytes() as usize)
    }

    /// Whether QEMU's edu decodes a register access of this width at this offset.
    fn decodes_register(offset: u64, width: AccessWidth) -> bool {
        if !width.fits(offset, EDU_BAR0_SIZE) {
            return false;
        }
        if offset < 0x80 {
            width == AccessWidth::Dword
        } else {
            matches!(width, AccessWidth::Dword | AccessWidth::Qword)
        }
    }
}

impl Default for Edu {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Edu {
    // The buffer is left out: 4 KiB of bytes would drown the registers.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Edu")
            .field("liveness", &format_args!("{:#x}", self.liveness))
            .field("factorial", &self.factorial)
            .field("status", &format_args!("{:#x}", self.status()))
            .field("interrupt_status", &format_args!("{:#x}", self.interrupt_status))
            .field("dma_source", &format_args!("{:#x}", self.dma_source))
            .field("dma_destination", &format_args!("{:#x}", self.dma_destination))
            .field("dma_count", &format_args!("{:#x}", self.dma_count))
            .field("dma_command", &format_args!("{:#x}", self.dma_command))
            .finish_non_exhaustive()
    }
}

impl MmioDevice for Edu {
    fn name(&self) -> &'static str {
        "edu"
    }

    fn mmio_size(&self) -> u64 {
        EDU_BAR0_SIZE
    }

    fn mmio_read(&mut self, offset: u64, width: AccessWidth) -> u64 {
        if let Some(range) = Self::buffer_range(offset, width) {
            let mut bytes = [0u8; 8];
            bytes[..range.len()].copy_from_slice(&self.buffer[range]);
            return u64::from_le_bytes(bytes);
        }
        if !Self::decodes_register(offset, width) {
            return width.mask();
        }
        let value = match offset {
            regs::IDENTIFICATION => u64::from(EDU_IDENTIFICATION),
            regs::LIVENESS => u64::from(self.liveness),
            regs::FACTORIAL => {
                self.finish_factorial();
                u64::from(self.factorial)
            }
            regs::STATUS => {
                // Report busy first, then let the work finish: see the module documentation.
                let status = self.status();
                self.finish_factorial();
                u64::from(status)
            }
            regs::INTERRUPT_STATUS => u64::from(self.interrupt_status),
            regs::DMA_SOURCE => self.dma_source,
            regs::DMA_DESTINATION => self.dma_destination,
            regs::DMA_COUNT => self.dma_count,
            regs::DMA_COMMAND => self.dma_command,
            // Write-only and unassigned registers float, as in QEMU.
            _ => u64::MAX,
        };
        value & width.mask()
    }

    fn mmio_write(&mut self, offset: u64, width: AccessWidth, value: u64) {
        let value = value & width.mask();
        if let Some(range) = Self::buffer_range(offset, width) {
            let length = range.len();
            self.buffer[range].copy_from_slice(&value.to_le_bytes()[..length]);
            return;
        }
        if !Self::decodes_register(offset, width) {
            return;
        }
        // Registers below 0x80 decode only 4-byte accesses, so `value` fits in 32 bits there.
        let low = value as u32;
        match offset {
            regs::LIVENESS => self.liveness = !low,
            // While a computation is pending a new operand falls through to the ignoring arm
            // below, as QEMU ignores it while its worker thread runs.
            regs::FACTORIAL if !self.computing => {
                self.factorial = low;
                self.computing = true;
            }
            regs::STATUS => self.irq_on_factorial = low & STATUS_IRQ_FACTORIAL != 0,
            regs::INTERRUPT_RAISE => self.interrupt_status |= low,
            regs::INTERRUPT_ACK => self.interrupt_status &= !low,
            // The DMA registers only store their values for now. The transfer itself (copying
            // `dma_count` bytes between guest RAM and the device buffer when DMA_START is
            // written, then clearing DMA_START and raising IRQ_DMA if DMA_IRQ is set) needs the
            // machine's view of guest memory, which the MmioDevice interface does not carry
            // yet; until then DMA_START simply stays set as written and nothing is copied.
            regs::DMA_SOURCE => self.dma_source = value,
            regs::DMA_DESTINATION => self.dma_destination = value,
            regs::DMA_COUNT => self.dma_count = value,
            regs::DMA_COMMAND => self.dma_command = value,
            // Identification, interrupt status, unassigned offsets and a busy factorial
            // register ignore writes.
            _ => {}
        }
    }

    fn tick(&mut self) {
        self.finish_factorial();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessWidth::{Byte, Dword, Qword, Word};

    fn read32(edu: &mut Edu, offset: u64) -> u64 {
        edu.mmio_read(offset, Dword)
    }

    fn write32(edu: &mut Edu, offset: u64, value: u64) {
        edu.mmio_write(offset, Dword, value);
    }

    #[test]
    fn identification() {
        let mut edu = Edu::new();
        assert_eq!(read32(&mut edu, regs::IDENTIFICATION), 0x0100_00ed);
        assert_eq!(edu.name(), "edu");
        assert_eq!(edu.mmio_size(), 1 << 20);
    }

    #[test]
    fn identification_ignores_writes() {
        let mut edu = Edu::new();
        write32(&mut edu, regs::IDENTIFICATION, 0xdead_beef);
        assert_eq!(read32(&mut edu, regs::IDENTIFICATION), 0x0100_00ed);
        write32(&mut edu, regs::INTERRUPT_STATUS, 0xffff);
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), 0);
    }

    #[test]
    fn liveness_reads_inverse() {
        let mut edu = Edu::new();
        assert_eq!(read32(&mut edu, regs::LIVENESS), 0xFFFF_FFFF);
        write32(&mut edu, regs::LIVENESS, 0x1234_5678);
        assert_eq!(read32(&mut edu, regs::LIVENESS), 0xEDCB_A987);
        write32(&mut edu, regs::LIVENESS, 0xFFFF_FFFF);
        assert_eq!(read32(&mut edu, regs::LIVENESS), 0);
    }

    fn compute(edu: &mut Edu, n: u64) -> u64 {
        write32(edu, regs::FACTORIAL, n);
        read32(edu, regs::FACTORIAL)
    }

    #[test]
    fn factorials() {
        let mut edu = Edu::new();
        assert_eq!(compute(&mut edu, 0), 1);
        assert_eq!(compute(&mut edu, 1), 1);
        assert_eq!(compute(&mut edu, 5), 120);
        assert_eq!(compute(&mut edu, 12), 479_001_600);
        // 13! = 6_227_020_800 wraps modulo 2^32.
        assert_eq!(compute(&mut edu, 13), (6_227_020_800u64 % (1 << 32)));
        assert_eq!(compute(&mut edu, 13), 1_932_053_504);
        assert_eq!(compute(&mut edu, 0xFFFF_FFFF), 0);
    }

    #[test]
    fn factorial_shortcut_matches_the_loop() {
        for n in 0..200u32 {
            let slow = (1..=n).fold(1u32, u32::wrapping_mul);
            assert_eq!(factorial(n), slow, "{n}!");
        }
        assert_ne!(factorial(33), 0);
    }

    #[test]
    fn busy_then_done() {
        let mut edu = Edu::new();
        assert_eq!(read32(&mut edu, regs::STATUS), 0);
        write32(&mut edu, regs::FACTORIAL, 6);
        assert_eq!(read32(&mut edu, regs::STATUS) & 0x01, 0x01);
        assert_eq!(read32(&mut edu, regs::STATUS) & 0x01, 0);
        assert_eq!(read32(&mut edu, regs::FACTORIAL), 720);
        // The computing bit cannot be written.
        write32(&mut edu, regs::STATUS, 0x01);
        assert_eq!(read32(&mut edu, regs::STATUS), 0);

        // A factorial read completes at once; so does tick().
        write32(&mut edu, regs::FACTORIAL, 4);
        assert_eq!(read32(&mut edu, regs::FACTORIAL), 24);
        assert_eq!(read32(&mut edu, regs::STATUS), 0);
        write32(&mut edu, regs::FACTORIAL, 3);
        edu.tick();
        assert_eq!(read32(&mut edu, regs::STATUS), 0);
        assert_eq!(read32(&mut edu, regs::FACTORIAL), 6);

        // A new operand while busy is ignored, as in QEMU.
        write32(&mut edu, regs::FACTORIAL, 5);
        write32(&mut edu, regs::FACTORIAL, 7);
        assert_eq!(read32(&mut edu, regs::FACTORIAL), 120);
        assert!(!edu.interrupt_pending());
    }

    #[test]
    fn interrupt_raise_and_ack() {
        let mut edu = Edu::new();
        assert!(!edu.interrupt_pending());
        write32(&mut edu, regs::INTERRUPT_RAISE, 0x0000_0120);
        write32(&mut edu, regs::INTERRUPT_RAISE, 0x8000_0000);
        assert!(edu.interrupt_pending());
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), 0x8000_0120);
        write32(&mut edu, regs::INTERRUPT_ACK, 0x8000_0020);
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), 0x100);
        assert!(edu.interrupt_pending());
        write32(&mut edu, regs::INTERRUPT_ACK, 0x100);
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), 0);
        assert!(!edu.interrupt_pending());
        // Write-only registers read as all ones.
        assert_eq!(read32(&mut edu, regs::INTERRUPT_RAISE), 0xFFFF_FFFF);
        assert_eq!(read32(&mut edu, regs::INTERRUPT_ACK), 0xFFFF_FFFF);
    }

    #[test]
    fn interrupt_on_factorial_completion() {
        let mut edu = Edu::new();
        write32(&mut edu, regs::STATUS, 0x80);
        assert_eq!(read32(&mut edu, regs::STATUS), 0x80);
        write32(&mut edu, regs::FACTORIAL, 5);
        // Not before the computation completes.
        assert!(!edu.interrupt_pending());
        edu.tick();
        assert!(edu.interrupt_pending());
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), u64::from(IRQ_FACTORIAL));
        assert_eq!(read32(&mut edu, regs::FACTORIAL), 120);
        write32(&mut edu, regs::INTERRUPT_ACK, 0x1);
        assert!(!edu.interrupt_pending());

        // Completion through a status read raises it too; with 0x80 clear nothing is raised.
        write32(&mut edu, regs::FACTORIAL, 3);
        assert_eq!(read32(&mut edu, regs::STATUS), 0x81);
        assert!(edu.interrupt_pending());
        write32(&mut edu, regs::INTERRUPT_ACK, 0x1);
        write32(&mut edu, regs::STATUS, 0);
        write32(&mut edu, regs::FACTORIAL, 3);
        edu.tick();
        assert!(!edu.interrupt_pending());
    }

    #[test]
    fn dma_registers_round_trip() {
        let mut edu = Edu::new();
        let values = [
            (regs::DMA_SOURCE, 0x0000_0001_2345_6000u64),
            (regs::DMA_DESTINATION, 0xFFFF_FFFF_0004_0000),
            (regs::DMA_COUNT, 0x1000),
            (regs::DMA_COMMAND, DMA_START | DMA_FROM_DEVICE | DMA_IRQ),
        ];
        for &(offset, value) in &values {
            edu.mmio_write(offset, Qword, value);
        }
        for &(offset, value) in &values {
            assert_eq!(edu.mmio_read(offset, Qword), value, "{offset:#x}");
            assert_eq!(edu.mmio_read(offset, Dword), value & 0xFFFF_FFFF, "{offset:#x}");
        }
        // A 4-byte write replaces the whole register with the zero-extended value (QEMU).
        edu.mmio_write(regs::DMA_SOURCE, Dword, 0xAABB_CCDD);
        assert_eq!(edu.mmio_read(regs::DMA_SOURCE, Qword), 0xAABB_CCDD);
        // The high halves are not registers of their own.
        assert_eq!(edu.mmio_read(regs::DMA_SOURCE + 4, Dword), 0xFFFF_FFFF);
        edu.mmio_write(regs::DMA_SOURCE + 4, Dword, 0x1);
        assert_eq!(edu.mmio_read(regs::DMA_SOURCE, Qword), 0xAABB_CCDD);
        // Byte and word accesses are not decoded there.
        assert_eq!(edu.mmio_read(regs::DMA_COUNT, Word), 0xFFFF);
        edu.mmio_write(regs::DMA_COUNT, Byte, 0x7);
        assert_eq!(edu.mmio_read(regs::DMA_COUNT, Qword), 0x1000);
    }

    #[test]
    fn buffer_round_trip_at_every_width() {
        let mut edu = Edu::new();
        let base = EDU_BUFFER_OFFSET;
        edu.mmio_write(base, Qword, 0x0807_0605_0403_0201);
        assert_eq!(edu.mmio_read(base, Byte), 0x01);
        assert_eq!(edu.mmio_read(base + 1, Byte), 0x02);
        assert_eq!(edu.mmio_read(base + 2, Word), 0x0403);
        assert_eq!(edu.mmio_read(base + 4, Dword), 0x0807_0605);
        edu.mmio_write(base + 3, Byte, 0xAA);
        edu.mmio_write(base + 6, Word, 0xBBCC);
        assert_eq!(edu.mmio_read(base, Qword), 0xBBCC_0605_AA03_0201);
        edu.mmio_write(base, Dword, 0x1122_3344);
        assert_eq!(edu.mmio_read(base, Qword), 0xBBCC_0605_1122_3344);
        // The last bytes of the buffer, then just past it.
        let last = base + EDU_BUFFER_SIZE - 8;
        edu.mmio_write(last, Qword, u64::MAX - 1);
        assert_eq!(edu.mmio_read(last, Qword), u64::MAX - 1);
        assert_eq!(edu.mmio_read(last + 7, Byte), 0xFF);
        edu.mmio_write(base + EDU_BUFFER_SIZE, Dword, 0x5);
        assert_eq!(edu.mmio_read(base + EDU_BUFFER_SIZE, Dword), 0xFFFF_FFFF);
        // Value bits above the access width are dropped.
        edu.mmio_write(base + 16, Byte, 0x1234);
        assert_eq!(edu.mmio_read(base + 16, Word), 0x34);
    }

    #[test]
    fn undecoded_accesses_read_all_ones_and_do_not_panic() {
        let mut edu = Edu::new();
        let offsets = [
            0,
            1,
            3,
            regs::LIVENESS + 2,
            0x7c,
            0x7f,
            0x84,
            0x99,
            0x1000,
            EDU_BUFFER_OFFSET - 4,
            EDU_BUFFER_OFFSET + 1,
            EDU_BAR0_SIZE - 1,
            EDU_BAR0_SIZE,
            EDU_BAR0_SIZE + 4,
            u64::MAX,
            u64::MAX - 7,
        ];
        for offset in offsets {
            for width in [Byte, Word, Dword, Qword] {
                let value = edu.mmio_read(offset, width);
                edu.mmio_write(offset, width, u64::MAX);
                // The identification register and a buffer byte are the only real things here.
                let decoded =
                    (offset == 0 && width == Dword) || (offset == EDU_BUFFER_OFFSET + 1 && width == Byte);
                if !decoded {
                    assert_eq!(value, width.mask(), "{offset:#x} {width:?}");
                }
            }
        }
        // Narrow and wide accesses to 4-byte registers are not decoded.
        for width in [Byte, Word, Qword] {
            assert_eq!(edu.mmio_read(regs::IDENTIFICATION, width), width.mask());
            edu.mmio_write(regs::LIVENESS, width, 0);
        }
        assert_eq!(read32(&mut edu, regs::LIVENESS), 0xFFFF_FFFF);
        // Unassigned registers read as all ones too, and the stray writes changed nothing.
        assert_eq!(read32(&mut edu, 0x1000), 0xFFFF_FFFF);
        assert_eq!(read32(&mut edu, regs::IDENTIFICATION), 0x0100_00ed);
        assert_eq!(read32(&mut edu, regs::STATUS), 0);
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), 0);
    }

    #[test]
    fn pci_identity_constants() {
        assert_eq!(EDU_VENDOR_ID, 0x1234);
        assert_eq!(EDU_DEVICE_ID, 0x11e8);
        assert_eq!(EDU_BAR0_SIZE, 0x10_0000);
    }
}
