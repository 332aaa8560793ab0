//! A model of QEMU's `edu` educational PCI device, following QEMU's
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
//!
//! # DMA
//!
//! As in QEMU, a write to the command register (0x98) with [`DMA_START`] set starts a transfer
//! of `count` bytes; a command write without it is ignored, and so are writes to any DMA
//! register while a transfer is pending. Bit [`DMA_FROM_DEVICE`] selects the direction:
//! clear copies RAM at `src` into the device buffer at `dst`, set copies the device buffer at
//! `src` to RAM at `dst`. The device-side address is a BAR0 offset inside the buffer window
//! (`0x40000 + offset`); the RAM-side address is masked to 28 bits ([`EDU_DMA_MASK`]), as
//! QEMU's edu clamps it to its DMA mask.
//!
//! QEMU runs the transfer from a timer 100 ms later; this model runs it in
//! [`PciFunction::tick`], which is the only place it has the machine's memory. When it is done,
//! [`DMA_START`] clears and, if [`DMA_IRQ`] was set, interrupt status bit [`IRQ_DMA`] is raised.
//! Differences from QEMU, all in cases that are driver bugs:
//! - Bus mastering disabled in the command register: the transfer does not happen and stays
//!   pending (the start bit stays set) until bus mastering is enabled. QEMU would complete it
//!   with the DMA going nowhere; staying pending makes the missing enable visible to a driver
//!   polling for completion.
//! - A device-side range outside the 4 KiB buffer (or a count of 0): QEMU stops the whole
//!   virtual machine (`hw_error`). The model aborts the transfer: nothing is copied, the start
//!   bit clears, no interrupt is raised, and [`Edu::dma_error`] reports it. As in QEMU 7.2,
//!   whose range check takes the end of the transfer as exclusive and then requires it to lie
//!   *before* the end of the buffer, a transfer that reaches the buffer's last byte is out of
//!   range too: at most 4095 bytes move, and a driver that works here does not stop QEMU.
//! - RAM not present at the RAM-side range: as in QEMU, the transfer still completes (start
//!   bit cleared, interrupt raised if asked) but no data moves (the device buffer keeps its
//!   bytes on a read). In addition the model sets Received Master Abort in the PCI status
//!   register, which QEMU does not, and [`Edu::dma_error`] reports it.
//!
//! [`MmioDevice::tick`] has no memory to reach, so it completes the factorial only; a DMA
//! transfer waits for [`PciFunction::tick`].
//!
//! # PCI
//!
//! Vendor 0x1234, device 0x11e8, revision 0x10, class 0x00ff (other), QEMU's default subsystem
//! IDs, interrupt pin INTA#, BAR0 1 MiB of 32-bit non-prefetchable memory. INTx follows the
//! interrupt status register (asserted while it is non-zero) unless disabled in the command
//! register. QEMU's edu also has an MSI capability; this model has no capability list.

use alloc::boxed::Box;
use alloc::vec;
use core::fmt;
use core::ops::Range;

use crate::dma::DmaMemory;
use crate::mmio::{AccessWidth, MmioDevice};
use crate::pci::{
    BarDescriptor, BarKind, ClassCode, PciConfigSpace, PciFunction, PciIdentity, QEMU_SUBSYSTEM_ID,
    QEMU_SUBSYSTEM_VENDOR_ID,
};

/// PCI vendor ID of the edu device (QEMU's 0x1234).
pub const EDU_VENDOR_ID: u16 = 0x1234;
/// PCI device ID of the edu device.
pub const EDU_DEVICE_ID: u16 = 0x11e8;
/// Size of BAR0, the MMIO register window.
pub const EDU_BAR0_SIZE: u64 = 1 << 20;
/// PCI revision ID of the edu device.
pub const EDU_REVISION: u8 = 0x10;
/// The edu device's PCI identification.
pub const EDU_IDENTITY: PciIdentity = PciIdentity {
    vendor_id: EDU_VENDOR_ID,
    device_id: EDU_DEVICE_ID,
    // PCI_CLASS_OTHERS.
    class_code: ClassCode { class: 0x00, subclass: 0xff, prog_if: 0x00 },
    revision: EDU_REVISION,
    subsystem_vendor_id: QEMU_SUBSYSTEM_VENDOR_ID,
    subsystem_id: QEMU_SUBSYSTEM_ID,
};
/// BAR0: the registers and the device buffer.
pub const EDU_BAR0: BarDescriptor =
    BarDescriptor { index: 0, kind: BarKind::Memory32 { prefetchable: false }, size: EDU_BAR0_SIZE };
/// The RAM-side DMA address bits edu drives (QEMU's default `dma_mask`, 28 bits).
pub const EDU_DMA_MASK: u64 = (1 << 28) - 1;
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

/// Why the last DMA transfer did not move its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EduDmaError {
    /// The device-side range is not inside the buffer window, or the count is 0. QEMU stops the
    /// virtual machine here; the model aborts the transfer.
    OutOfBounds {
        /// The device-side address (a BAR0 offset).
        device_address: u64,
        /// The transfer count.
        count: u64,
    },
    /// The RAM-side range is not all RAM: the bus cycle was master-aborted.
    MasterAbort {
        /// The RAM-side bus address, after the 28-bit mask.
        ram_address: u64,
        /// The transfer count.
        count: u64,
    },
}

impl fmt::Display for EduDmaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfBounds { device_address, count } => {
                write!(
                    f,
                    "edu DMA of {count:#x} bytes at device address {device_address:#x} is outside the buffer"
                )
            }
            Self::MasterAbort { ram_address, count } => {
                write!(f, "edu DMA of {count:#x} bytes at bus address {ram_address:#x} hit no RAM")
            }
        }
    }
}

impl core::error::Error for EduDmaError {}

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
    /// The outcome of the last DMA transfer.
    dma_error: Option<EduDmaError>,
    config: PciConfigSpace,
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
            dma_error: None,
            config: PciConfigSpace::new(EDU_IDENTITY, &[EDU_BAR0])
                .expect("edu's constant BAR is valid")
                .with_interrupt_pin(1),
        }
    }

    /// The interrupt status register: non-zero while the device wants to interrupt.
    pub fn interrupt_status(&self) -> u32 {
        self.interrupt_status
    }

    /// Why the last DMA transfer moved no data, or `None` if it succeeded (or none ran yet).
    pub fn dma_error(&self) -> Option<EduDmaError> {
        self.dma_error
    }

    /// Whether a DMA transfer is pending (the start bit is set).
    pub fn dma_pending(&self) -> bool {
        self.dma_command & DMA_START != 0
    }

    /// Changes the interrupt status register and the PCI status bit that mirrors it.
    fn set_interrupt_status(&mut self, value: u32) {
        self.interrupt_status = value;
        self.config.set_interrupt_status(value != 0);
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
                self.set_interrupt_status(self.interrupt_status | IRQ_FACTORIAL);
            }
        }
    }

    /// Runs a pending DMA transfer if bus mastering is enabled (see the module documentation).
    fn run_dma(&mut self, dma: &mut dyn DmaMemory) {
        if !self.dma_pending() || !self.config.bus_master() {
            return;
        }
        let to_ram = self.dma_command & DMA_FROM_DEVICE != 0;
        let (device_address, ram_address) = if to_ram {
            (self.dma_source, self.dma_destination)
        } else {
            (self.dma_destination, self.dma_source)
        };
        let ram_address = ram_address & EDU_DMA_MASK;
        let count = self.dma_count;
        self.dma_command &= !DMA_START;
        let Some(range) = Self::dma_buffer_range(device_address, count) else {
            self.dma_error = Some(EduDmaError::OutOfBounds { device_address, count });
            return;
        };
        let moved = if to_ram {
            dma.write(ram_address, &self.buffer[range])
        } else {
            // Staged, so that a failed read leaves the buffer as it was.
            let mut staging = vec![0; range.len()];
            let moved = dma.read(ram_address, &mut staging);
            if moved {
                self.buffer[range].copy_from_slice(&staging);
            }
            moved
        };
        self.dma_error = if moved {
            None
        } else {
            self.config.record_master_abort();
            Some(EduDmaError::MasterAbort { ram_address, count })
        };
        if self.dma_command & DMA_IRQ != 0 {
            self.set_interrupt_status(self.interrupt_status | IRQ_DMA);
        }
    }

    /// The buffer bytes a DMA transfer of `count` bytes at device address `device_address`
    /// covers, if it is not empty and ends before the buffer's last byte (QEMU 7.2's check,
    /// see the module documentation).
    fn dma_buffer_range(device_address: u64, count: u64) -> Option<Range<usize>> {
        let start = device_address.checked_sub(EDU_BUFFER_OFFSET)?;
        if start >= EDU_BUFFER_SIZE || count == 0 || count >= EDU_BUFFER_SIZE - start {
            return None;
        }
        // Bounded by EDU_BUFFER_SIZE, so the conversions cannot truncate.
        Some(start as usize..(start + count) as usize)
    }

    /// The byte range of the device buffer an access touches, if it lies wholly inside it.
    fn buffer_range(offset: u64, width: AccessWidth) -> Option<Range<usize>> {
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
            .field("dma_error", &self.dma_error)
            .field("config", &self.config)
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
            regs::INTERRUPT_RAISE => self.set_interrupt_status(self.interrupt_status | low),
            regs::INTERRUPT_ACK => self.set_interrupt_status(self.interrupt_status & !low),
            // QEMU ignores the DMA registers while a transfer is pending: the guards send those
            // writes to the ignoring arm below.
            regs::DMA_SOURCE if !self.dma_pending() => self.dma_source = value,
            regs::DMA_DESTINATION if !self.dma_pending() => self.dma_destination = value,
            regs::DMA_COUNT if !self.dma_pending() => self.dma_count = value,
            // A command without the start bit is ignored too, as in QEMU.
            regs::DMA_COMMAND if !self.dma_pending() && value & DMA_START != 0 => {
                self.dma_command = value;
            }
            // Identification, interrupt status, unassigned offsets, a busy factorial register
            // and busy DMA registers ignore writes.
            _ => {}
        }
    }

    fn tick(&mut self) {
        self.finish_factorial();
    }
}

impl PciFunction for Edu {
    fn config(&self) -> &PciConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut PciConfigSpace {
        &mut self.config
    }

    fn bar_read(&mut self, bar: u8, offset: u64, width: AccessWidth) -> u64 {
        match bar {
            0 => self.mmio_read(offset, width),
            _ => width.mask(),
        }
    }

    fn bar_write(&mut self, bar: u8, offset: u64, width: AccessWidth, value: u64) {
        if bar == 0 {
            self.mmio_write(offset, width, value);
        }
    }

    fn tick(&mut self, dma: &mut dyn DmaMemory) {
        self.finish_factorial();
        self.run_dma(dma);
    }

    fn interrupt_pending(&self) -> bool {
        self.interrupt_status != 0 && !self.config.intx_disabled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dma::VecDmaMemory;
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
        MmioDevice::tick(&mut edu);
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
        MmioDevice::tick(&mut edu);
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
        MmioDevice::tick(&mut edu);
        assert!(!edu.interrupt_pending());
    }

    #[test]
    fn dma_registers_round_trip() {
        let mut edu = Edu::new();
        let values = [
            (regs::DMA_SOURCE, 0x0000_0001_2345_6000u64),
            (regs::DMA_DESTINATION, 0xFFFF_FFFF_0004_0000),
            (regs::DMA_COUNT, 0x1000),
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

        // A command without the start bit is ignored; with it, the whole value is stored.
        edu.mmio_write(regs::DMA_COMMAND, Qword, DMA_FROM_DEVICE | DMA_IRQ);
        assert_eq!(edu.mmio_read(regs::DMA_COMMAND, Qword), 0);
        edu.mmio_write(regs::DMA_COMMAND, Qword, DMA_START | DMA_FROM_DEVICE | DMA_IRQ);
        assert_eq!(edu.mmio_read(regs::DMA_COMMAND, Qword), DMA_START | DMA_FROM_DEVICE | DMA_IRQ);
        assert!(edu.dma_pending());
        // While pending, every DMA register ignores writes (QEMU).
        edu.mmio_write(regs::DMA_SOURCE, Qword, 0x5000);
        edu.mmio_write(regs::DMA_DESTINATION, Qword, 0x5000);
        edu.mmio_write(regs::DMA_COUNT, Dword, 0x8);
        edu.mmio_write(regs::DMA_COMMAND, Qword, DMA_START);
        assert_eq!(edu.mmio_read(regs::DMA_SOURCE, Qword), 0xAABB_CCDD);
        assert_eq!(edu.mmio_read(regs::DMA_DESTINATION, Qword), 0xFFFF_FFFF_0004_0000);
        assert_eq!(edu.mmio_read(regs::DMA_COUNT, Qword), 0x1000);
        assert_eq!(edu.mmio_read(regs::DMA_COMMAND, Qword), DMA_START | DMA_FROM_DEVICE | DMA_IRQ);
        // MmioDevice::tick has no memory: the transfer stays pending.
        MmioDevice::tick(&mut edu);
        assert!(edu.dma_pending());
    }

    /// An edu with bus mastering enabled and guest RAM at 0x10_0000..0x20_0000.
    fn dma_setup() -> (Edu, VecDmaMemory) {
        let mut edu = Edu::new();
        edu.config_mut().write(crate::pci::offsets::COMMAND, Word, 0x6);
        (edu, VecDmaMemory::new(0x10_0000, 0x10_0000))
    }

    fn start_dma(edu: &mut Edu, source: u64, destination: u64, count: u64, command: u64) {
        edu.mmio_write(regs::DMA_SOURCE, Qword, source);
        edu.mmio_write(regs::DMA_DESTINATION, Qword, destination);
        edu.mmio_write(regs::DMA_COUNT, Qword, count);
        edu.mmio_write(regs::DMA_COMMAND, Qword, command | DMA_START);
    }

    #[test]
    fn dma_round_trip_through_ram() {
        let (mut edu, mut ram) = dma_setup();
        let message = b"the quick brown fox jumps over the lazy dog";
        let count = message.len() as u64;
        ram.bytes_mut()[0x100..0x100 + message.len()].copy_from_slice(message);

        // RAM -> device buffer at offset 0x10.
        start_dma(&mut edu, 0x10_0100, EDU_BUFFER_OFFSET + 0x10, count, 0);
        assert_eq!(edu.mmio_read(regs::DMA_COMMAND, Qword), DMA_START);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.mmio_read(regs::DMA_COMMAND, Qword), 0, "the start bit clears when done");
        assert_eq!(edu.dma_error(), None);
        assert_eq!(&edu.buffer[0x10..0x10 + message.len()], message);
        assert_eq!(edu.mmio_read(EDU_BUFFER_OFFSET + 0x10, Dword), u64::from(u32::from_le_bytes(*b"the ")));

        // Device buffer -> RAM elsewhere.
        start_dma(&mut edu, EDU_BUFFER_OFFSET + 0x10, 0x18_0000, count, DMA_FROM_DEVICE);
        PciFunction::tick(&mut edu, &mut ram);
        assert!(!edu.dma_pending());
        assert_eq!(&ram.bytes()[0x8_0000..0x8_0000 + message.len()], message);
        // No interrupt was asked for.
        assert_eq!(edu.interrupt_status(), 0);
        assert!(!edu.interrupt_pending());

        // All the buffer a transfer can reach (all but its last byte, as in QEMU 7.2), both ways.
        const MOST: usize = EDU_BUFFER_SIZE as usize - 1;
        for (i, byte) in ram.bytes_mut()[..MOST].iter_mut().enumerate() {
            *byte = i as u8 ^ 0x5A;
        }
        start_dma(&mut edu, 0x10_0000, EDU_BUFFER_OFFSET, MOST as u64, 0);
        PciFunction::tick(&mut edu, &mut ram);
        start_dma(&mut edu, EDU_BUFFER_OFFSET, 0x1F_F000, MOST as u64, DMA_FROM_DEVICE);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(ram.bytes()[..MOST], ram.bytes()[0xF_F000..0xF_F000 + MOST]);
        assert_eq!(edu.dma_error(), None);
        // The whole buffer is out of range.
        start_dma(&mut edu, 0x10_0000, EDU_BUFFER_OFFSET, EDU_BUFFER_SIZE, 0);
        PciFunction::tick(&mut edu, &mut ram);
        let whole = EduDmaError::OutOfBounds { device_address: EDU_BUFFER_OFFSET, count: EDU_BUFFER_SIZE };
        assert_eq!(edu.dma_error(), Some(whole));
    }

    #[test]
    fn dma_completion_interrupt() {
        let (mut edu, mut ram) = dma_setup();
        start_dma(&mut edu, 0x10_0000, EDU_BUFFER_OFFSET, 8, DMA_IRQ);
        assert!(!edu.interrupt_pending(), "not before the transfer");
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(read32(&mut edu, regs::INTERRUPT_STATUS), u64::from(IRQ_DMA));
        assert!(edu.interrupt_pending());
        assert_eq!(edu.config().status() & crate::pci::status::INTERRUPT, crate::pci::status::INTERRUPT);
        // INTx disable masks the pin but not the status.
        edu.config_mut().write(crate::pci::offsets::COMMAND, Word, 0x406);
        assert!(!edu.interrupt_pending());
        assert_ne!(edu.config().status() & crate::pci::status::INTERRUPT, 0);
        edu.config_mut().write(crate::pci::offsets::COMMAND, Word, 0x6);
        write32(&mut edu, regs::INTERRUPT_ACK, u64::from(IRQ_DMA));
        assert!(!edu.interrupt_pending());
        assert_eq!(edu.config().status() & crate::pci::status::INTERRUPT, 0);
        // Further ticks do not raise it again.
        PciFunction::tick(&mut edu, &mut ram);
        assert!(!edu.interrupt_pending());
    }

    #[test]
    fn dma_ram_addresses_are_masked_to_28_bits() {
        let (mut edu, mut ram) = dma_setup();
        ram.bytes_mut()[0x40..0x44].copy_from_slice(b"mask");
        // 0x7_1010_0040 & (2^28 - 1) = 0x010_0040.
        start_dma(&mut edu, 0x7_1010_0040, EDU_BUFFER_OFFSET, 4, 0);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.dma_error(), None);
        assert_eq!(&edu.buffer[..4], b"mask");
        start_dma(&mut edu, EDU_BUFFER_OFFSET, 0xFFFF_FFFF_F018_0000, 4, DMA_FROM_DEVICE);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(&ram.bytes()[0x8_0000..0x8_0004], b"mask");
        // The source register keeps what the driver wrote.
        assert_eq!(edu.mmio_read(regs::DMA_DESTINATION, Qword), 0xFFFF_FFFF_F018_0000);
    }

    #[test]
    fn dma_waits_for_bus_mastering() {
        let mut edu = Edu::new();
        let mut ram = VecDmaMemory::new(0x10_0000, 0x1000);
        ram.bytes_mut()[..4].copy_from_slice(b"wait");
        // Memory decoding only: no bus master.
        edu.config_mut().write(crate::pci::offsets::COMMAND, Word, 0x2);
        start_dma(&mut edu, 0x10_0000, EDU_BUFFER_OFFSET, 4, DMA_IRQ);
        for _ in 0..3 {
            PciFunction::tick(&mut edu, &mut ram);
        }
        assert!(edu.dma_pending());
        assert_eq!(&edu.buffer[..4], &[0; 4]);
        assert!(!edu.interrupt_pending());
        // Enabling bus mastering lets it run.
        edu.config_mut().write(crate::pci::offsets::COMMAND, Word, 0x6);
        PciFunction::tick(&mut edu, &mut ram);
        assert!(!edu.dma_pending());
        assert_eq!(&edu.buffer[..4], b"wait");
        assert!(edu.interrupt_pending());
    }

    #[test]
    fn dma_out_of_bounds_aborts_without_copying() {
        let (mut edu, mut ram) = dma_setup();
        ram.bytes_mut()[..16].copy_from_slice(&[0xAB; 16]);
        let cases = [
            // One byte past the buffer.
            (EDU_BUFFER_OFFSET + EDU_BUFFER_SIZE - 8, 9),
            (EDU_BUFFER_OFFSET, EDU_BUFFER_SIZE + 1),
            (EDU_BUFFER_OFFSET - 1, 1),
            (EDU_BUFFER_OFFSET + EDU_BUFFER_SIZE, 1),
            (EDU_BUFFER_OFFSET, 0),
            (0, 16),
            (u64::MAX, 2),
            (EDU_BUFFER_OFFSET + 8, u64::MAX),
        ];
        for (device_address, count) in cases {
            start_dma(&mut edu, 0x10_0000, device_address, count, DMA_IRQ);
            PciFunction::tick(&mut edu, &mut ram);
            assert!(!edu.dma_pending(), "{device_address:#x}+{count:#x}");
            assert_eq!(edu.dma_error(), Some(EduDmaError::OutOfBounds { device_address, count }));
            assert!(edu.buffer.iter().all(|&byte| byte == 0), "{device_address:#x}+{count:#x}");
            assert!(!edu.interrupt_pending());
            // Device to RAM checks the source side the same way.
            start_dma(&mut edu, device_address, 0x10_0000, count, DMA_FROM_DEVICE | DMA_IRQ);
            PciFunction::tick(&mut edu, &mut ram);
            assert_eq!(edu.dma_error(), Some(EduDmaError::OutOfBounds { device_address, count }));
            assert_eq!(&ram.bytes()[..16], &[0xAB; 16]);
        }
        // The last byte of the buffer is out of reach (QEMU 7.2); the one before it is not.
        let last = EDU_BUFFER_OFFSET + EDU_BUFFER_SIZE - 1;
        start_dma(&mut edu, 0x10_0000, last, 1, 0);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.dma_error(), Some(EduDmaError::OutOfBounds { device_address: last, count: 1 }));
        start_dma(&mut edu, 0x10_0000, last - 1, 1, 0);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.dma_error(), None);
        assert_eq!(edu.buffer[EDU_BUFFER_SIZE as usize - 2], 0xAB);
    }

    #[test]
    fn dma_to_missing_ram_master_aborts() {
        let (mut edu, mut ram) = dma_setup();
        edu.buffer[..4].copy_from_slice(b"keep");
        // Straddling the end of RAM, reading.
        start_dma(&mut edu, 0x1F_FFFE, EDU_BUFFER_OFFSET, 4, DMA_IRQ);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.dma_error(), Some(EduDmaError::MasterAbort { ram_address: 0x1F_FFFE, count: 4 }));
        assert_eq!(&edu.buffer[..4], b"keep", "a failed read leaves the buffer alone");
        // As in QEMU the transfer still completes and interrupts.
        assert!(!edu.dma_pending());
        assert!(edu.interrupt_pending());
        let status = crate::pci::status::RECEIVED_MASTER_ABORT;
        assert_ne!(edu.config().status() & status, 0);
        edu.config_mut().write(crate::pci::offsets::STATUS, Word, u32::from(status));
        assert_eq!(edu.config().status() & status, 0);
        // Writing below RAM.
        start_dma(&mut edu, EDU_BUFFER_OFFSET, 0x1000, 4, DMA_FROM_DEVICE);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.dma_error(), Some(EduDmaError::MasterAbort { ram_address: 0x1000, count: 4 }));
        // A good transfer clears the error.
        start_dma(&mut edu, EDU_BUFFER_OFFSET, 0x10_0000, 4, DMA_FROM_DEVICE);
        PciFunction::tick(&mut edu, &mut ram);
        assert_eq!(edu.dma_error(), None);
        assert_eq!(&ram.bytes()[..4], b"keep");
    }

    #[test]
    fn pci_function() {
        let mut edu = Edu::new();
        let config = edu.config();
        assert_eq!(config.read(0, Dword), 0x11e8_1234);
        assert_eq!(config.read(8, Dword), 0x00ff_0010);
        assert_eq!(config.read(0x2C, Dword), 0x1100_1af4);
        assert_eq!(config.interrupt_pin(), 1);
        assert_eq!(config.bars(), &[EDU_BAR0]);
        edu.config_mut().write(0x10, Dword, 0xFFFF_FFFF);
        assert_eq!(edu.config().read(0x10, Dword), 0xFFF0_0000);
        assert_eq!(edu.bar_read(0, regs::IDENTIFICATION, Dword), u64::from(EDU_IDENTIFICATION));
        edu.bar_write(0, regs::LIVENESS, Dword, 0);
        assert_eq!(edu.bar_read(0, regs::LIVENESS, Dword), 0xFFFF_FFFF);
        // No other BARs.
        assert_eq!(edu.bar_read(1, 0, Dword), 0xFFFF_FFFF);
        assert_eq!(edu.bar_read(2, 0, Qword), u64::MAX);
        edu.bar_write(1, regs::LIVENESS, Dword, 0x1234);
        assert_eq!(edu.bar_read(0, regs::LIVENESS, Dword), 0xFFFF_FFFF);
        // PciFunction::tick completes a factorial as MmioDevice::tick does.
        edu.bar_write(0, regs::FACTORIAL, Dword, 4);
        PciFunction::tick(&mut edu, &mut VecDmaMemory::new(0, 0));
        assert_eq!(edu.bar_read(0, regs::STATUS, Dword), 0);
        assert_eq!(edu.bar_read(0, regs::FACTORIAL, Dword), 24);
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
