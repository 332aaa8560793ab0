//! The type-0 (endpoint) PCI configuration header that every PCI model shares.
//!
//! [`PciConfigSpace`] holds the 256 bytes of a function's configuration space and applies the
//! PCI rules to accesses from the guest, the way QEMU's `hw/pci/pci.c` does:
//!
//! - Identification (vendor, device, class, revision, subsystem), the header type (0, single
//!   function), the capabilities pointer (0: no capability list) and the interrupt pin are
//!   read-only.
//! - Command (0x04): I/O space enable, memory space enable, bus master, SERR# enable and INTx
//!   disable are writable ([`command::WRITABLE`]); every other bit reads 0. It is 0 at reset, so
//!   a BAR decodes nothing until firmware or a driver enables it.
//! - Status (0x06): read-only, except that the error bits ([`status::WRITE_ONE_TO_CLEAR`]) are
//!   cleared by writing 1 to them. [`status::INTERRUPT`] follows the function's INTx level, as
//!   its model reports it through [`PciConfigSpace::set_interrupt_status`].
//! - Cache line size (0x0C) and interrupt line (0x3C) are plain read/write bytes.
//! - BARs (0x10..0x28): the address bits at and above the BAR's size are writable, the low type
//!   bits are read-only, so writing all ones and reading back yields the size mask with the type
//!   bits, as the sizing algorithm expects. The upper half of a 64-bit BAR is fully writable and
//!   sizes the same way (all ones reads back all ones below 4 GiB).
//! - Everything else (BIST, latency timer, the expansion ROM BAR, the device-specific area
//!   0x40..0x100) reads 0 and ignores writes. QEMU keeps 0x40..0x100 writable for functions with
//!   no capabilities there; nothing a driver should rely on, so this model does not.
//!
//! Accesses are 1, 2 or 4 bytes wide and naturally aligned, as configuration mechanism #1
//! (ports 0xCF8/0xCFC) and ECAM produce them. Any other access (8 bytes, misaligned, or beyond
//! the 256 bytes) reads all ones and writes are dropped, as for an absent register.
//!
//! A BAR's address as the bus sees it is given by [`PciConfigSpace::bar_address`] with QEMU's
//! rules for when a BAR is "unmapped": a zero base, or a range that would wrap (a 32-bit BAR must
//! end below 4 GiB), which is what a BAR holds while it is being sized.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use crate::mmio::AccessWidth;
pub use crate::pci_function::PciFunction;

/// Bytes of a conventional PCI configuration space.
pub const CONFIG_SPACE_SIZE: u16 = 256;

/// Number of BAR slots in a type-0 header.
pub const BAR_SLOTS: u8 = 6;

/// The subsystem vendor ID QEMU gives a device that does not choose its own (Red Hat/Qumranet).
pub const QEMU_SUBSYSTEM_VENDOR_ID: u16 = 0x1af4;
/// The subsystem ID QEMU gives a device that does not choose its own.
pub const QEMU_SUBSYSTEM_ID: u16 = 0x1100;

/// Offsets of the type-0 header registers.
pub mod offsets {
    /// Vendor ID (16 bits, RO).
    pub const VENDOR_ID: u16 = 0x00;
    /// Device ID (16 bits, RO).
    pub const DEVICE_ID: u16 = 0x02;
    /// Command (16 bits).
    pub const COMMAND: u16 = 0x04;
    /// Status (16 bits).
    pub const STATUS: u16 = 0x06;
    /// Revision ID (8 bits, RO).
    pub const REVISION_ID: u16 = 0x08;
    /// Programming interface (8 bits, RO).
    pub const PROG_IF: u16 = 0x09;
    /// Subclass (8 bits, RO).
    pub const SUBCLASS: u16 = 0x0A;
    /// Base class (8 bits, RO).
    pub const CLASS: u16 = 0x0B;
    /// Cache line size (8 bits, RW).
    pub const CACHE_LINE_SIZE: u16 = 0x0C;
    /// Latency timer (8 bits, reads 0).
    pub const LATENCY_TIMER: u16 = 0x0D;
    /// Header type (8 bits, RO): 0, single function.
    pub const HEADER_TYPE: u16 = 0x0E;
    /// BAR 0; BAR `n` is at `BAR0 + 4 * n`.
    pub const BAR0: u16 = 0x10;
    /// Subsystem vendor ID (16 bits, RO).
    pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2C;
    /// Subsystem ID (16 bits, RO).
    pub const SUBSYSTEM_ID: u16 = 0x2E;
    /// Expansion ROM BAR (reads 0: no ROM).
    pub const EXPANSION_ROM: u16 = 0x30;
    /// Capabilities pointer (8 bits, reads 0: no capability list).
    pub const CAPABILITIES_POINTER: u16 = 0x34;
    /// Interrupt line (8 bits, RW; written by firmware, not used by the function).
    pub const INTERRUPT_LINE: u16 = 0x3C;
    /// Interrupt pin (8 bits, RO): 0 none, 1..=4 INTA#..INTD#.
    pub const INTERRUPT_PIN: u16 = 0x3D;
}

/// Command register bits.
pub mod command {
    /// Decode the I/O-space BARs.
    pub const IO_SPACE: u16 = 1 << 0;
    /// Decode the memory-space BARs.
    pub const MEMORY_SPACE: u16 = 1 << 1;
    /// The function may master the bus (DMA).
    pub const BUS_MASTER: u16 = 1 << 2;
    /// SERR# enable.
    pub const SERR: u16 = 1 << 8;
    /// Do not assert INTx (the function's interrupt status still shows in the status register).
    pub const INTX_DISABLE: u16 = 1 << 10;
    /// The bits software can change; the others are hard-wired to 0 (QEMU's mask).
    pub const WRITABLE: u16 = IO_SPACE | MEMORY_SPACE | BUS_MASTER | SERR | INTX_DISABLE;
}

/// Status register bits.
pub mod status {
    /// The function asserts (or would assert, if INTx were enabled) its interrupt (RO).
    pub const INTERRUPT: u16 = 1 << 3;
    /// Master data parity error (RW1C).
    pub const MASTER_DATA_PARITY_ERROR: u16 = 1 << 8;
    /// Signaled target abort (RW1C).
    pub const SIGNALED_TARGET_ABORT: u16 = 1 << 11;
    /// Received target abort (RW1C).
    pub const RECEIVED_TARGET_ABORT: u16 = 1 << 12;
    /// Received master abort (RW1C): a DMA transfer of this function hit nothing.
    pub const RECEIVED_MASTER_ABORT: u16 = 1 << 13;
    /// Signaled system error (RW1C).
    pub const SIGNALED_SYSTEM_ERROR: u16 = 1 << 14;
    /// Detected parity error (RW1C).
    pub const DETECTED_PARITY_ERROR: u16 = 1 << 15;
    /// The bits a write of 1 clears (QEMU's mask).
    pub const WRITE_ONE_TO_CLEAR: u16 = MASTER_DATA_PARITY_ERROR
        | SIGNALED_TARGET_ABORT
        | RECEIVED_TARGET_ABORT
        | RECEIVED_MASTER_ABORT
        | SIGNALED_SYSTEM_ERROR
        | DETECTED_PARITY_ERROR;
}

/// The class code register: base class, subclass and programming interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClassCode {
    /// Base class (offset 0x0B).
    pub class: u8,
    /// Subclass (offset 0x0A).
    pub subclass: u8,
    /// Programming interface (offset 0x09).
    pub prog_if: u8,
}

/// The read-only identification of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PciIdentity {
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class code.
    pub class_code: ClassCode,
    /// Revision ID.
    pub revision: u8,
    /// Subsystem vendor ID.
    pub subsystem_vendor_id: u16,
    /// Subsystem ID.
    pub subsystem_id: u16,
}

/// What a BAR decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BarKind {
    /// Memory space, 32-bit address (one slot).
    Memory32 {
        /// Reads have no side effects and may be merged or prefetched.
        prefetchable: bool,
    },
    /// Memory space, 64-bit address (two slots: this one and the next holds the high half).
    Memory64 {
        /// Reads have no side effects and may be merged or prefetched.
        prefetchable: bool,
    },
    /// I/O space (one slot).
    Io,
}

impl BarKind {
    /// Whether the BAR decodes I/O space.
    pub const fn is_io(self) -> bool {
        matches!(self, Self::Io)
    }

    /// Whether the BAR holds a 64-bit address.
    pub const fn is_64bit(self) -> bool {
        matches!(self, Self::Memory64 { .. })
    }

    /// BAR slots it occupies.
    pub const fn slots(self) -> u8 {
        if self.is_64bit() { 2 } else { 1 }
    }

    /// The read-only low bits of the BAR register.
    const fn type_bits(self) -> u32 {
        match self {
            Self::Io => 0x1,
            Self::Memory32 { prefetchable } => {
                if prefetchable {
                    0x8
                } else {
                    0x0
                }
            }
            Self::Memory64 { prefetchable } => {
                if prefetchable {
                    0xC
                } else {
                    0x4
                }
            }
        }
    }

    /// The address bits below which the register holds type bits.
    const fn address_mask(self) -> u64 {
        if self.is_io() { !0x3 } else { !0xF }
    }

    /// The smallest size the type bits leave room for.
    const fn minimum_size(self) -> u64 {
        if self.is_io() { 4 } else { 16 }
    }

    /// The largest size the address field can express.
    const fn maximum_size(self) -> u64 {
        if self.is_64bit() { 1 << 63 } else { 1 << 31 }
    }
}

/// One BAR of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BarDescriptor {
    /// The slot (0..6); a 64-bit BAR also takes slot `index + 1`.
    pub index: u8,
    /// What it decodes.
    pub kind: BarKind,
    /// Bytes it decodes: a power of two, at least 16 for memory and 4 for I/O.
    pub size: u64,
}

impl BarDescriptor {
    /// Offset of the BAR's (low) register in configuration space.
    pub const fn register_offset(&self) -> u16 {
        offsets::BAR0 + 4 * self.index as u16
    }
}

/// Why a list of BARs cannot describe a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarError {
    /// The slot is not one of 0..6, or a 64-bit BAR starts in the last slot.
    SlotOutOfRange {
        /// The BAR's index.
        index: u8,
    },
    /// Two BARs claim the same slot.
    SlotInUse {
        /// The BAR's index.
        index: u8,
    },
    /// The size is not a power of two, is below the minimum for its kind (16 for memory, 4
    /// for I/O), or does not fit the address field.
    InvalidSize {
        /// The BAR's index.
        index: u8,
        /// The size it asked for.
        size: u64,
    },
}

impl fmt::Display for BarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::SlotOutOfRange { index } => write!(f, "BAR {index} does not fit in the six BAR slots"),
            Self::SlotInUse { index } => write!(f, "BAR {index} overlaps another BAR's slot"),
            Self::InvalidSize { index, size } => write!(f, "BAR {index} cannot decode {size:#x} bytes"),
        }
    }
}

impl core::error::Error for BarError {}

/// Per-byte register images: the value, the bits a write sets, the bits a write of 1 clears.
#[derive(Clone)]
struct Bytes {
    value: [u8; CONFIG_SPACE_SIZE as usize],
    writable: [u8; CONFIG_SPACE_SIZE as usize],
    write_one_to_clear: [u8; CONFIG_SPACE_SIZE as usize],
}

impl Bytes {
    fn put(array: &mut [u8; CONFIG_SPACE_SIZE as usize], offset: u16, value: u32, bytes: u16) {
        for i in 0..bytes {
            array[usize::from(offset + i)] = (value >> (8 * i)) as u8;
        }
    }

    fn get(&self, offset: u16, bytes: u16) -> u32 {
        (0..bytes).fold(0, |value, i| value | u32::from(self.value[usize::from(offset + i)]) << (8 * i))
    }
}

/// A function's configuration space. See the [module documentation](self).
#[derive(Clone)]
pub struct PciConfigSpace {
    identity: PciIdentity,
    bars: Vec<BarDescriptor>,
    /// Boxed: three 256-byte images would make every model that embeds this costly to move.
    bytes: Box<Bytes>,
    /// The bytes after construction, for [`PciConfigSpace::reset`].
    initial: Box<[u8; CONFIG_SPACE_SIZE as usize]>,
}

impl PciConfigSpace {
    /// A configuration space in its reset state (command 0, BARs unassigned) with no interrupt
    /// pin. Fails if the BARs overlap, do not fit the six slots, or have an invalid size.
    pub fn new(identity: PciIdentity, bars: &[BarDescriptor]) -> Result<Self, BarError> {
        let mut used = [false; BAR_SLOTS as usize];
        for bar in bars {
            let index = bar.index;
            let end = index.checked_add(bar.kind.slots()).filter(|&end| end <= BAR_SLOTS);
            if end.is_none() {
                return Err(BarError::SlotOutOfRange { index });
            }
            for slot in index..index + bar.kind.slots() {
                if core::mem::replace(&mut used[usize::from(slot)], true) {
                    return Err(BarError::SlotInUse { index });
                }
            }
            let size = bar.size;
            if !size.is_power_of_two() || size < bar.kind.minimum_size() || size > bar.kind.maximum_size() {
                return Err(BarError::InvalidSize { index, size });
            }
        }
        let mut sorted = bars.to_vec();
        sorted.sort_by_key(|bar| bar.index);

        const EMPTY: [u8; CONFIG_SPACE_SIZE as usize] = [0; CONFIG_SPACE_SIZE as usize];
        let mut bytes = Box::new(Bytes { value: EMPTY, writable: EMPTY, write_one_to_clear: EMPTY });
        let class = identity.class_code;
        Bytes::put(&mut bytes.value, offsets::VENDOR_ID, identity.vendor_id.into(), 2);
        Bytes::put(&mut bytes.value, offsets::DEVICE_ID, identity.device_id.into(), 2);
        Bytes::put(&mut bytes.value, offsets::REVISION_ID, identity.revision.into(), 1);
        Bytes::put(&mut bytes.value, offsets::PROG_IF, class.prog_if.into(), 1);
        Bytes::put(&mut bytes.value, offsets::SUBCLASS, class.subclass.into(), 1);
        Bytes::put(&mut bytes.value, offsets::CLASS, class.class.into(), 1);
        Bytes::put(&mut bytes.value, offsets::SUBSYSTEM_VENDOR_ID, identity.subsystem_vendor_id.into(), 2);
        Bytes::put(&mut bytes.value, offsets::SUBSYSTEM_ID, identity.subsystem_id.into(), 2);
        Bytes::put(&mut bytes.writable, offsets::COMMAND, command::WRITABLE.into(), 2);
        Bytes::put(&mut bytes.write_one_to_clear, offsets::STATUS, status::WRITE_ONE_TO_CLEAR.into(), 2);
        Bytes::put(&mut bytes.writable, offsets::CACHE_LINE_SIZE, 0xFF, 1);
        Bytes::put(&mut bytes.writable, offsets::INTERRUPT_LINE, 0xFF, 1);
        for bar in &sorted {
            let offset = bar.register_offset();
            // The size mask: every address bit at or above the size, none of the type bits.
            let mask = !(bar.size - 1) & bar.kind.address_mask();
            Bytes::put(&mut bytes.value, offset, bar.kind.type_bits(), 4);
            Bytes::put(&mut bytes.writable, offset, mask as u32, 4);
            if bar.kind.is_64bit() {
                Bytes::put(&mut bytes.writable, offset + 4, (mask >> 32) as u32, 4);
            }
        }
        let initial = Box::new(bytes.value);
        Ok(Self { identity, bars: sorted, bytes, initial })
    }

    /// Sets the read-only interrupt pin (0 none, 1..=4 INTA#..INTD#), as the model's
    /// constructor decides it.
    pub fn with_interrupt_pin(mut self, pin: u8) -> Self {
        Bytes::put(&mut self.bytes.value, offsets::INTERRUPT_PIN, pin.into(), 1);
        self.initial[usize::from(offsets::INTERRUPT_PIN)] = pin;
        self
    }

    /// Returns every register to its state after construction: command 0, BARs unassigned,
    /// interrupt line 0, status clear. Only configuration space: the model resets itself.
    pub fn reset(&mut self) {
        self.bytes.value = *self.initial;
    }

    /// The identification the space was built from.
    pub fn identity(&self) -> &PciIdentity {
        &self.identity
    }

    /// The BARs, by slot.
    pub fn bars(&self) -> &[BarDescriptor] {
        &self.bars
    }

    /// The BAR whose (first) slot is `index`.
    pub fn bar(&self, index: u8) -> Option<&BarDescriptor> {
        self.bars.iter().find(|bar| bar.index == index)
    }

    /// A guest read of `width` bytes at `offset`, zero-extended. Undecoded accesses (8 bytes,
    /// misaligned, beyond 256 bytes) read all ones.
    pub fn read(&self, offset: u16, width: AccessWidth) -> u32 {
        match Self::decode(offset, width) {
            Some(bytes) => self.bytes.get(offset, bytes),
            None => width.mask() as u32,
        }
    }

    /// A guest write of the low `width` bytes of `value` at `offset`: writable bits take the
    /// new value, write-one-to-clear bits written as 1 clear, everything else is unchanged.
    /// Undecoded accesses are dropped.
    pub fn write(&mut self, offset: u16, width: AccessWidth, value: u32) {
        let Some(bytes) = Self::decode(offset, width) else {
            return;
        };
        let image = &mut *self.bytes;
        for i in 0..bytes {
            let at = usize::from(offset + i);
            let new = (value >> (8 * i)) as u8;
            let writable = image.writable[at];
            let old = image.value[at];
            image.value[at] = ((old & !writable) | (new & writable)) & !(new & image.write_one_to_clear[at]);
        }
    }

    /// The byte count of a decoded access.
    fn decode(offset: u16, width: AccessWidth) -> Option<u16> {
        let decoded = width != AccessWidth::Qword && width.fits(offset.into(), CONFIG_SPACE_SIZE.into());
        // At most 4 after the check above.
        decoded.then_some(width.bytes() as u16)
    }

    /// The command register.
    pub fn command(&self) -> u16 {
        self.bytes.get(offsets::COMMAND, 2) as u16
    }

    /// The status register.
    pub fn status(&self) -> u16 {
        self.bytes.get(offsets::STATUS, 2) as u16
    }

    /// Whether the I/O-space BARs decode.
    pub fn io_enabled(&self) -> bool {
        self.command() & command::IO_SPACE != 0
    }

    /// Whether the memory-space BARs decode.
    pub fn memory_enabled(&self) -> bool {
        self.command() & command::MEMORY_SPACE != 0
    }

    /// Whether the function may master the bus (start DMA).
    pub fn bus_master(&self) -> bool {
        self.command() & command::BUS_MASTER != 0
    }

    /// Whether INTx is disabled by the command register.
    pub fn intx_disabled(&self) -> bool {
        self.command() & command::INTX_DISABLE != 0
    }

    /// The interrupt line firmware wrote.
    pub fn interrupt_line(&self) -> u8 {
        self.bytes.value[usize::from(offsets::INTERRUPT_LINE)]
    }

    /// The interrupt pin (0 none, 1..=4 INTA#..INTD#).
    pub fn interrupt_pin(&self) -> u8 {
        self.bytes.value[usize::from(offsets::INTERRUPT_PIN)]
    }

    /// Sets or clears [`status::INTERRUPT`]. Models call it whenever their interrupt level
    /// changes, so the status register shows it whether or not INTx is disabled.
    pub fn set_interrupt_status(&mut self, asserted: bool) {
        self.update_status(status::INTERRUPT, asserted);
    }

    /// Sets [`status::RECEIVED_MASTER_ABORT`]: a bus-master transfer of the function hit no
    /// memory. Software clears it by writing 1.
    pub fn record_master_abort(&mut self) {
        self.update_status(status::RECEIVED_MASTER_ABORT, true);
    }

    fn update_status(&mut self, bit: u16, set: bool) {
        let status = self.status();
        let status = if set { status | bit } else { status & !bit };
        Bytes::put(&mut self.bytes.value, offsets::STATUS, status.into(), 2);
    }

    /// The base address BAR `index` holds, whether or not decoding is enabled. `None` if no BAR
    /// starts in that slot, or the BAR is unassigned by QEMU's rules: a zero base, or a range
    /// that would wrap around the top of its address field (a 32-bit BAR must end below 4 GiB),
    /// which is what a BAR holds while it is being sized.
    pub fn bar_address(&self, index: u8) -> Option<u64> {
        let bar = self.bar(index)?;
        let offset = bar.register_offset();
        let mut raw = u64::from(self.bytes.get(offset, 4));
        if bar.kind.is_64bit() {
            raw |= u64::from(self.bytes.get(offset + 4, 4)) << 32;
        }
        let base = raw & bar.kind.address_mask();
        let last = base.checked_add(bar.size - 1)?;
        let limit = if bar.kind.is_64bit() { u64::MAX } else { u64::from(u32::MAX) };
        (base != 0 && last < limit).then_some(base)
    }

    /// Programs BAR `index` with `address`, as firmware or a resource arbiter does. The address
    /// is truncated as a register write would truncate it (bits below the size dropped, and
    /// bits above 32 for a 32-bit BAR). Returns false, changing nothing, if no BAR starts in
    /// that slot.
    pub fn set_bar_address(&mut self, index: u8, address: u64) -> bool {
        let Some(bar) = self.bar(index).copied() else {
            return false;
        };
        let offset = bar.register_offset();
        let base = address & !(bar.size - 1) & bar.kind.address_mask();
        Bytes::put(&mut self.bytes.value, offset, base as u32 | bar.kind.type_bits(), 4);
        if bar.kind.is_64bit() {
            Bytes::put(&mut self.bytes.value, offset + 4, (base >> 32) as u32, 4);
        }
        true
    }

    /// The address of BAR `index` if it is assigned and its space is enabled in the command
    /// register: the range the function decodes right now.
    pub fn decoded_bar_address(&self, index: u8) -> Option<u64> {
        let bar = self.bar(index)?;
        let enabled = if bar.kind.is_io() { self.io_enabled() } else { self.memory_enabled() };
        if enabled { self.bar_address(index) } else { None }
    }

    /// Which memory BAR decodes the bus address `address`, and the offset within it.
    pub fn memory_bar_at(&self, address: u64) -> Option<(u8, u64)> {
        self.bar_at(address, false)
    }

    /// Which I/O BAR decodes `port`, and the offset within it.
    pub fn io_bar_at(&self, port: u64) -> Option<(u8, u64)> {
        self.bar_at(port, true)
    }

    fn bar_at(&self, address: u64, io: bool) -> Option<(u8, u64)> {
        self.bars.iter().filter(|bar| bar.kind.is_io() == io).find_map(|bar| {
            let base = self.decoded_bar_address(bar.index)?;
            let offset = address.checked_sub(base)?;
            (offset < bar.size).then_some((bar.index, offset))
        })
    }
}

impl fmt::Debug for PciConfigSpace {
    // The raw images are left out: the decoded fields say more.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PciConfigSpace")
            .field("vendor_id", &format_args!("{:#06x}", self.identity.vendor_id))
            .field("device_id", &format_args!("{:#06x}", self.identity.device_id))
            .field("command", &format_args!("{:#06x}", self.command()))
            .field("status", &format_args!("{:#06x}", self.status()))
            .field("bars", &self.bars)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessWidth::{Byte, Dword, Qword, Word};
    use alloc::vec;

    const IDENTITY: PciIdentity = PciIdentity {
        vendor_id: 0x1234,
        device_id: 0x11e8,
        class_code: ClassCode { class: 0x05, subclass: 0x80, prog_if: 0x01 },
        revision: 0x10,
        subsystem_vendor_id: QEMU_SUBSYSTEM_VENDOR_ID,
        subsystem_id: QEMU_SUBSYSTEM_ID,
    };

    fn space() -> PciConfigSpace {
        PciConfigSpace::new(
            IDENTITY,
            &[
                BarDescriptor { index: 2, kind: BarKind::Memory64 { prefetchable: true }, size: 4 << 20 },
                BarDescriptor { index: 0, kind: BarKind::Memory32 { prefetchable: false }, size: 1 << 20 },
                BarDescriptor { index: 1, kind: BarKind::Io, size: 256 },
            ],
        )
        .unwrap()
        .with_interrupt_pin(1)
    }

    #[test]
    fn identification_reads_at_every_width() {
        let config = space();
        assert_eq!(config.read(0, Dword), 0x11e8_1234);
        assert_eq!(config.read(0, Word), 0x1234);
        assert_eq!(config.read(2, Word), 0x11e8);
        assert_eq!(config.read(1, Byte), 0x12);
        assert_eq!(config.read(8, Dword), 0x0580_0110);
        assert_eq!(config.read(offsets::CLASS, Byte), 0x05);
        assert_eq!(config.read(offsets::SUBSYSTEM_VENDOR_ID, Dword), 0x1100_1af4);
        assert_eq!(config.read(offsets::HEADER_TYPE, Byte), 0);
        assert_eq!(config.read(offsets::CAPABILITIES_POINTER, Byte), 0);
        assert_eq!(config.read(offsets::INTERRUPT_LINE, Dword), 0x0000_0100);
        assert_eq!(config.interrupt_pin(), 1);
        // Unimplemented registers read 0.
        assert_eq!(config.read(offsets::EXPANSION_ROM, Dword), 0);
        assert_eq!(config.read(0x40, Dword), 0);
        assert_eq!(config.read(0xFC, Dword), 0);
        assert_eq!(config.bars().iter().map(|bar| bar.index).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn read_only_fields_ignore_writes() {
        let mut config = space();
        for offset in (0..0x40).step_by(4) {
            if !(0x04..0x28).contains(&offset) && offset != 0x0C && offset != 0x3C {
                config.write(offset, Dword, 0xFFFF_FFFF);
            }
        }
        config.write(0x40, Dword, 0xFFFF_FFFF);
        config.write(offsets::INTERRUPT_PIN, Byte, 3);
        assert_eq!(config.read(0, Dword), 0x11e8_1234);
        assert_eq!(config.read(8, Dword), 0x0580_0110);
        assert_eq!(config.read(offsets::SUBSYSTEM_VENDOR_ID, Dword), 0x1100_1af4);
        assert_eq!(config.read(offsets::EXPANSION_ROM, Dword), 0);
        assert_eq!(config.read(0x40, Dword), 0);
        assert_eq!(config.interrupt_pin(), 1);
    }

    #[test]
    fn command_register() {
        let mut config = space();
        assert_eq!(config.command(), 0);
        assert!(!config.memory_enabled() && !config.io_enabled() && !config.bus_master());
        config.write(offsets::COMMAND, Word, 0xFFFF);
        assert_eq!(config.read(offsets::COMMAND, Word), u32::from(command::WRITABLE));
        assert!(config.memory_enabled() && config.io_enabled() && config.bus_master());
        assert!(config.intx_disabled());
        config.write(offsets::COMMAND, Byte, 0x02);
        assert!(config.memory_enabled() && !config.io_enabled() && !config.bus_master());
        // The byte above was untouched.
        assert!(config.intx_disabled());
        // A dword write to 0x04 reaches the command register but not the status bits.
        config.write(offsets::COMMAND, Dword, 0xFFFF_0005);
        assert_eq!(config.read(offsets::COMMAND, Dword), 0x0000_0005);
    }

    #[test]
    fn status_interrupt_bit_and_write_one_to_clear() {
        let mut config = space();
        config.set_interrupt_status(true);
        config.record_master_abort();
        assert_eq!(config.status(), status::INTERRUPT | status::RECEIVED_MASTER_ABORT);
        // Writing 1 to the RO interrupt bit does nothing; writing 0 to an error bit keeps it.
        config.write(offsets::STATUS, Word, u32::from(status::INTERRUPT));
        assert_eq!(config.status(), status::INTERRUPT | status::RECEIVED_MASTER_ABORT);
        config.write(offsets::STATUS, Word, 0xFFFF);
        assert_eq!(config.status(), status::INTERRUPT);
        config.set_interrupt_status(false);
        assert_eq!(config.status(), 0);
    }

    #[test]
    fn bar_sizing() {
        let mut config = space();
        // BAR0: 1 MiB, 32-bit, non-prefetchable.
        assert_eq!(config.read(0x10, Dword), 0);
        config.write(0x10, Dword, 0xFFFF_FFFF);
        assert_eq!(config.read(0x10, Dword), 0xFFF0_0000);
        assert_eq!(config.bar_address(0), None, "a BAR mid-sizing is unassigned");
        // BAR1: 256 bytes of I/O.
        config.write(0x14, Dword, 0xFFFF_FFFF);
        assert_eq!(config.read(0x14, Dword), 0xFFFF_FF01);
        // BAR2/3: 4 MiB, 64-bit, prefetchable; the upper half sizes too.
        assert_eq!(config.read(0x18, Dword), 0xC);
        config.write(0x18, Dword, 0xFFFF_FFFF);
        config.write(0x1C, Dword, 0xFFFF_FFFF);
        assert_eq!(config.read(0x18, Dword), 0xFFC0_000C);
        assert_eq!(config.read(0x1C, Dword), 0xFFFF_FFFF);
        assert_eq!(config.bar_address(2), None);
        // Unused slots read 0 and stay 0.
        for offset in [0x20, 0x24] {
            config.write(offset, Dword, 0xFFFF_FFFF);
            assert_eq!(config.read(offset, Dword), 0);
        }
        // Type bits are read-only: writing zeros keeps them.
        config.write(0x14, Dword, 0);
        config.write(0x18, Dword, 0);
        assert_eq!(config.read(0x14, Dword), 0x1);
        assert_eq!(config.read(0x18, Dword), 0xC);
    }

    #[test]
    fn bar_programming_and_decoding() {
        let mut config = space();
        config.write(0x10, Dword, 0xFEA0_1234);
        assert_eq!(config.read(0x10, Dword), 0xFEA0_0000);
        assert_eq!(config.bar_address(0), Some(0xFEA0_0000));
        config.write(0x14, Word, 0xC0FF);
        assert_eq!(config.bar_address(1), Some(0xC000));
        config.write(0x18, Dword, 0x8000_0000);
        config.write(0x1C, Dword, 0x1);
        assert_eq!(config.bar_address(2), Some(0x1_8000_0000));
        // The upper slot of a 64-bit BAR is not a BAR of its own.
        assert_eq!(config.bar_address(3), None);
        assert_eq!(config.bar_address(4), None);
        assert_eq!(config.bar_address(9), None);

        // Nothing decodes until the command register enables it.
        assert_eq!(config.decoded_bar_address(0), None);
        assert_eq!(config.memory_bar_at(0xFEA0_0010), None);
        config.write(offsets::COMMAND, Word, u32::from(command::MEMORY_SPACE));
        assert_eq!(config.memory_bar_at(0xFEA0_0010), Some((0, 0x10)));
        assert_eq!(config.memory_bar_at(0xFEAF_FFFF), Some((0, 0xF_FFFF)));
        assert_eq!(config.memory_bar_at(0xFEB0_0000), None);
        assert_eq!(config.memory_bar_at(0x1_8000_0008), Some((2, 8)));
        assert_eq!(config.io_bar_at(0xC004), None);
        config.write(offsets::COMMAND, Word, u32::from(command::MEMORY_SPACE | command::IO_SPACE));
        assert_eq!(config.io_bar_at(0xC004), Some((1, 4)));
        assert_eq!(config.io_bar_at(0xC100), None);
        // An I/O port never hits a memory BAR and vice versa.
        assert_eq!(config.io_bar_at(0xFEA0_0010), None);
        assert_eq!(config.memory_bar_at(0xC004), None);
    }

    #[test]
    fn firmware_assignment() {
        let mut config = space();
        assert!(config.set_bar_address(0, 0xFEA0_0000));
        assert!(config.set_bar_address(1, 0xC0FF));
        assert!(config.set_bar_address(2, 0x8_0040_0000));
        assert!(!config.set_bar_address(3, 0x1000));
        assert!(!config.set_bar_address(5, 0x1000));
        assert_eq!(config.read(0x10, Dword), 0xFEA0_0000);
        assert_eq!(config.read(0x14, Dword), 0xC001);
        assert_eq!(config.read(0x18, Dword), 0x0040_000C);
        assert_eq!(config.read(0x1C, Dword), 0x8);
        assert_eq!(config.bar_address(2), Some(0x8_0040_0000));
        // A 32-bit BAR drops the high bits, as its register would.
        assert!(config.set_bar_address(0, 0x1_FEB0_0000));
        assert_eq!(config.bar_address(0), Some(0xFEB0_0000));
        // Zero unassigns.
        assert!(config.set_bar_address(0, 0));
        assert_eq!(config.bar_address(0), None);

        config.write(offsets::COMMAND, Word, 0x7);
        config.write(offsets::INTERRUPT_LINE, Byte, 11);
        assert_eq!(config.interrupt_line(), 11);
        config.reset();
        assert_eq!(config.command(), 0);
        assert_eq!(config.interrupt_line(), 0);
        assert_eq!(config.bar_address(2), None);
        assert_eq!(config.read(0x18, Dword), 0xC);
        assert_eq!(config.interrupt_pin(), 1);
    }

    #[test]
    fn rw_bytes() {
        let mut config = space();
        config.write(offsets::CACHE_LINE_SIZE, Byte, 0x10);
        config.write(offsets::INTERRUPT_LINE, Word, 0xFF0B);
        assert_eq!(config.read(offsets::CACHE_LINE_SIZE, Dword), 0x10);
        assert_eq!(config.read(offsets::INTERRUPT_LINE, Word), 0x010B);
    }

    #[test]
    fn undecoded_accesses() {
        let mut config = space();
        for (offset, width) in
            [(1, Word), (2, Dword), (3, Word), (0, Qword), (256, Byte), (255, Word), (u16::MAX, Byte)]
        {
            assert_eq!(config.read(offset, width), width.mask() as u32, "{offset:#x} {width:?}");
            config.write(offset, width, 0xFFFF_FFFF);
        }
        config.write(0x10, Qword, u32::MAX);
        config.write(0x05, Word, u32::MAX);
        assert_eq!(config.read(0x10, Dword), 0);
        assert_eq!(config.command(), 0);
        assert_eq!(config.read(255, Byte), 0);
    }

    #[test]
    fn invalid_bars() {
        let bar = |index, kind, size| BarDescriptor { index, kind, size };
        let memory = BarKind::Memory32 { prefetchable: false };
        let memory64 = BarKind::Memory64 { prefetchable: false };
        let cases = [
            (vec![bar(6, memory, 16)], BarError::SlotOutOfRange { index: 6 }),
            (vec![bar(5, memory64, 16)], BarError::SlotOutOfRange { index: 5 }),
            (vec![bar(255, memory64, 16)], BarError::SlotOutOfRange { index: 255 }),
            (vec![bar(0, memory64, 16), bar(1, memory, 16)], BarError::SlotInUse { index: 1 }),
            (vec![bar(0, memory, 16), bar(0, BarKind::Io, 4)], BarError::SlotInUse { index: 0 }),
            (vec![bar(0, memory, 24)], BarError::InvalidSize { index: 0, size: 24 }),
            (vec![bar(0, memory, 8)], BarError::InvalidSize { index: 0, size: 8 }),
            (vec![bar(0, memory, 0)], BarError::InvalidSize { index: 0, size: 0 }),
            (vec![bar(0, BarKind::Io, 2)], BarError::InvalidSize { index: 0, size: 2 }),
            (vec![bar(0, memory, 1 << 32)], BarError::InvalidSize { index: 0, size: 1 << 32 }),
        ];
        for (bars, error) in cases {
            assert_eq!(PciConfigSpace::new(IDENTITY, &bars).unwrap_err(), error, "{bars:?}");
        }
        // The extremes that are valid.
        let valid = [bar(0, BarKind::Io, 4), bar(1, memory, 1 << 31), bar(2, memory64, 1 << 63)];
        let mut config = PciConfigSpace::new(IDENTITY, &valid).unwrap();
        config.write(0x18, Dword, u32::MAX);
        config.write(0x1C, Dword, u32::MAX);
        assert_eq!(config.read(0x1C, Dword), 0x8000_0000);
        assert!(config.set_bar_address(2, 1 << 63));
        assert_eq!(config.bar_address(2), None, "the range would end past the top");
        assert!(config.set_bar_address(1, 1 << 31));
        assert_eq!(config.bar_address(1), None);
        assert!(config.set_bar_address(0, 0xFFFC));
        assert_eq!(config.bar_address(0), Some(0xFFFC));
    }
}
