//! A driver for QEMU's `edu` device (vendor 0x1234, device 0x11e8): BAR0 is 1 MiB of registers
//! and a 4 KiB DMA buffer.
//!
//! At START it maps BAR0 uncached and checks what the device documents: the identification
//! register, the liveness register (it reads back the inverse of what was written), a
//! factorial, the interrupt status raise/acknowledge pair, and a DMA round trip through
//! contiguous memory below the device's 28-bit DMA limit: RAM → device buffer → RAM. A check
//! that fails fails the START (after releasing everything), as a driver that finds the wrong
//! hardware should.

use alloc::format;
use core::ptr;

use iospace_mm::address::{PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_pnp::driver::{DeviceContext, Driver};
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

use crate::device_resources::{DeviceResources, Window};
use crate::journal::Journal;

/// The vendor ID.
pub const VENDOR_ID: u16 = 0x1234;
/// The device ID.
pub const DEVICE_ID: u16 = 0x11E8;
/// What the identification register reads: major 1, minor 0, 0xed.
pub const IDENTIFICATION: u32 = 0x0100_00ED;

/// BAR0 register offsets.
pub mod regs {
    /// Identification (RO).
    pub const IDENTIFICATION: u64 = 0x00;
    /// Liveness: reads back the inverse of the last value written.
    pub const LIVENESS: u64 = 0x04;
    /// Factorial: write n, read n!.
    pub const FACTORIAL: u64 = 0x08;
    /// Status: bit 0 computing.
    pub const STATUS: u64 = 0x20;
    /// Interrupt status (RO).
    pub const INTERRUPT_STATUS: u64 = 0x24;
    /// Interrupt raise: ORs into the interrupt status.
    pub const INTERRUPT_RAISE: u64 = 0x60;
    /// Interrupt acknowledge: clears bits of the interrupt status.
    pub const INTERRUPT_ACK: u64 = 0x64;
    /// DMA source address.
    pub const DMA_SOURCE: u64 = 0x80;
    /// DMA destination address.
    pub const DMA_DESTINATION: u64 = 0x88;
    /// DMA byte count.
    pub const DMA_COUNT: u64 = 0x90;
    /// DMA command.
    pub const DMA_COMMAND: u64 = 0x98;
    /// The device's 4 KiB DMA buffer, as seen by its DMA engine.
    pub const BUFFER: u64 = 0x40000;
}

/// Status bit: a factorial is being computed.
const STATUS_COMPUTING: u32 = 0x01;
/// DMA command bits: start (clears when done), direction device → RAM.
const DMA_START: u64 = 0x1;
const DMA_FROM_DEVICE: u64 = 0x2;
/// The interrupt-status bit the driver raises and acknowledges to check the pair.
const TEST_INTERRUPT: u32 = 0x0004_0000;
/// The device's DMA engine reaches 28 bits of physical address.
const DMA_LIMIT: PhysicalAddress = PhysicalAddress((1 << 28) - 1);
/// Bytes moved by the DMA round trip: the device's buffer less one quadword. QEMU 7.2's edu
/// refuses a transfer that ends exactly at the buffer's end (an off-by-one in its range check,
/// fixed in later QEMU) and stops the whole machine, so a full 4 KiB transfer kills a metal run.
const DMA_BYTES: u64 = PAGE_SIZE - 8;
/// Polls before a busy device counts as hung. QEMU runs DMA from a 100 ms timer, so this
/// has to be generous under software emulation; the hosted model answers on the next poll.
const POLL_LIMIT: u32 = 50_000_000;

/// The edu driver.
#[derive(Debug)]
pub struct EduDriver<'mm> {
    journal: Journal,
    resources: Option<DeviceResources<'mm>>,
}

impl EduDriver<'_> {
    /// A driver recording into `journal`.
    pub fn new(journal: Journal) -> Self {
        Self { journal, resources: None }
    }

    fn release(&mut self) {
        self.resources = None;
    }
}

/// A buffer from `MmAllocateContiguousMemorySpecifyCache`, freed when dropped.
struct DmaBuffer<'a, 'mm> {
    device: &'a DeviceContext<'mm>,
    address: VirtualAddress,
    physical: PhysicalAddress,
}

impl<'a, 'mm> DmaBuffer<'a, 'mm> {
    fn allocate(device: &'a DeviceContext<'mm>) -> Option<Self> {
        let mm = device.mm();
        let address = mm
            .allocate_contiguous(
                DMA_BYTES,
                PhysicalAddress(0),
                DMA_LIMIT,
                0,
                CachePolicy::WriteBack,
                core::panic::Location::caller(),
            )
            .ok()?;
        match mm.physical_address(address) {
            Some(physical) => Some(Self { device, address, physical }),
            None => {
                let _ = mm.free_contiguous(address);
                None
            }
        }
    }

    fn fill(&self, byte: impl Fn(u64) -> u8) {
        for offset in 0..DMA_BYTES {
            // SAFETY: the buffer is DMA_BYTES of RAM the memory manager mapped read-write for
            // this driver, and nothing else refers to it while the driver runs.
            unsafe { ptr::write_volatile(self.address.add(offset).as_ptr::<u8>(), byte(offset)) };
        }
    }

    fn matches(&self, byte: impl Fn(u64) -> u8) -> Option<u64> {
        (0..DMA_BYTES).find(|&offset| {
            // SAFETY: as in `fill`; the device has finished writing (the start bit cleared).
            let seen = unsafe { ptr::read_volatile(self.address.add(offset).as_ptr::<u8>()) };
            seen != byte(offset)
        })
    }
}

impl Drop for DmaBuffer<'_, '_> {
    fn drop(&mut self) {
        let _ = self.device.mm().free_contiguous(self.address);
    }
}

/// The bytes of the round trip: recognisable, and different in every position of a page.
fn pattern(offset: u64) -> u8 {
    (offset as u8) ^ ((offset >> 8) as u8).wrapping_mul(31) ^ 0x5A
}

/// Polls `done` until it holds; false if the device never got there.
fn poll(mut done: impl FnMut() -> bool) -> bool {
    (0..POLL_LIMIT).any(|_| done())
}

/// Moves `DMA_BYTES` between RAM at `ram` and the device buffer, and waits for the engine.
fn dma(registers: &Window<'_>, ram: PhysicalAddress, from_device: bool) -> bool {
    let (source, destination) = if from_device { (regs::BUFFER, ram.0) } else { (ram.0, regs::BUFFER) };
    registers.write_u64(regs::DMA_SOURCE, source);
    registers.write_u64(regs::DMA_DESTINATION, destination);
    registers.write_u64(regs::DMA_COUNT, DMA_BYTES);
    registers.write_u64(regs::DMA_COMMAND, DMA_START | if from_device { DMA_FROM_DEVICE } else { 0 });
    poll(|| registers.read_u64(regs::DMA_COMMAND) & DMA_START == 0)
}

impl<'mm> EduDriver<'mm> {
    /// The device's checks; `Err` names the first one that failed.
    fn exercise(&self, device: &DeviceContext<'mm>, registers: &Window<'mm>) -> Result<(), NtStatus> {
        let journal = &self.journal;
        let check = |action: &str, passed: bool, detail: alloc::string::String| {
            journal.check(action, passed, detail);
            if passed { Ok(()) } else { Err(NtStatus::DEVICE_CONFIGURATION_ERROR) }
        };

        let id = registers.read_u32(regs::IDENTIFICATION);
        check("identification", id == IDENTIFICATION, format!("{id:#010x}"))?;

        let probe = 0x1234_5678;
        registers.write_u32(regs::LIVENESS, probe);
        let inverse = registers.read_u32(regs::LIVENESS);
        check("liveness", inverse == !probe, format!("wrote {probe:#010x}, read {inverse:#010x}"))?;

        registers.write_u32(regs::FACTORIAL, 10);
        let computed = poll(|| registers.read_u32(regs::STATUS) & STATUS_COMPUTING == 0);
        let factorial = registers.read_u32(regs::FACTORIAL);
        check("factorial", computed && factorial == 3_628_800, format!("10! = {factorial}"))?;

        registers.write_u32(regs::INTERRUPT_RAISE, TEST_INTERRUPT);
        let raised = registers.read_u32(regs::INTERRUPT_STATUS);
        registers.write_u32(regs::INTERRUPT_ACK, TEST_INTERRUPT);
        let acknowledged = registers.read_u32(regs::INTERRUPT_STATUS);
        check(
            "interrupt raise/acknowledge",
            raised & TEST_INTERRUPT != 0 && acknowledged & TEST_INTERRUPT == 0,
            format!("status {raised:#x} after raise, {acknowledged:#x} after acknowledge"),
        )?;

        let Some(buffer) = DmaBuffer::allocate(device) else {
            return check("DMA buffer", false, "MmAllocateContiguousMemorySpecifyCache failed".into());
        };
        buffer.fill(pattern);
        let to_device = dma(registers, buffer.physical, false);
        buffer.fill(|_| 0);
        let from_device = to_device && dma(registers, buffer.physical, true);
        let mismatch = if from_device { buffer.matches(pattern) } else { None };
        check(
            "DMA round trip",
            from_device && mismatch.is_none(),
            match (from_device, mismatch) {
                (false, _) => format!("the DMA engine did not finish (buffer at {})", buffer.physical),
                (true, Some(offset)) => format!("byte {offset:#x} differs after RAM -> device -> RAM"),
                (true, None) => {
                    format!("{DMA_BYTES} bytes RAM {} -> device buffer -> RAM, identical", buffer.physical)
                }
            },
        )
    }
}

impl<'mm> Driver<'mm> for EduDriver<'mm> {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        let claimed = DeviceResources::claim(device, resources, |_, _| CachePolicy::Uncached)
            .map_err(|error| error.status())?;
        let Some(registers) = claimed.memory(0).filter(|window| window.length() > regs::BUFFER) else {
            self.journal.check("BAR0", false, "no memory resource large enough for the registers");
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        };
        self.journal.note("map BAR0", crate::resource_text::mapping(registers));
        // On failure `claimed` drops before returning: everything is unmapped (step 5).
        self.exercise(device, registers)?;
        self.resources = Some(claimed);
        Ok(())
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {
        self.release();
    }

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
        self.release();
    }

    fn remove(&mut self, _device: &DeviceContext<'mm>) {
        self.release();
    }
}
