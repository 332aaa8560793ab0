//! A driver for a 16550 UART (the PC's COM ports): eight registers in port space.
//!
//! At START it programs 115200 baud, 8N1 with FIFOs, switches the modem control register to
//! loopback, sends [`LOOPBACK_TEXT`] and reads every byte back from the receiver, then leaves
//! loopback so the port works as a console again. Its raw resource is a port range: the port
//! routines reach it, on the port number on x86, or on the mapping on a platform whose port
//! space is memory-mapped.

use alloc::format;
use alloc::string::String;

use iospace_mm::caching::CachePolicy;
use iospace_pnp::driver::{DeviceContext, Driver};
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

use crate::device_resources::{DeviceResources, Window};
use crate::journal::Journal;

/// What the driver sends through the loopback.
pub const LOOPBACK_TEXT: &str = "iospace: the quick brown fox jumps over the lazy dog";

/// Register offsets.
mod regs {
    pub const DATA: u64 = 0;
    pub const DIVISOR_HIGH: u64 = 1;
    pub const FIFO_CONTROL: u64 = 2;
    pub const LINE_CONTROL: u64 = 3;
    pub const MODEM_CONTROL: u64 = 4;
    pub const LINE_STATUS: u64 = 5;
    pub const SCRATCH: u64 = 7;
}

const LCR_8N1: u8 = 0x03;
const LCR_DIVISOR_LATCH: u8 = 0x80;
const FCR_ENABLE_AND_CLEAR: u8 = 0x07;
/// DTR, RTS and OUT2: the normal operating state.
const MCR_NORMAL: u8 = 0x0B;
const MCR_LOOPBACK: u8 = 0x10;
const LSR_DATA_READY: u8 = 0x01;
const LSR_THR_EMPTY: u8 = 0x20;
/// Polls of the line status before a byte counts as lost.
const POLL_LIMIT: u32 = 100_000;

/// The UART driver.
#[derive(Debug)]
pub struct UartDriver<'mm> {
    journal: Journal,
    resources: Option<DeviceResources<'mm>>,
}

impl UartDriver<'_> {
    /// A driver recording into `journal`.
    pub fn new(journal: Journal) -> Self {
        Self { journal, resources: None }
    }
}

fn wait_for(uart: &Window<'_>, bit: u8) -> bool {
    (0..POLL_LIMIT).any(|_| uart.read_u8(regs::LINE_STATUS) & bit != 0)
}

/// Sends `text` through the loopback; returns what came back.
fn loopback(uart: &Window<'_>, text: &str) -> String {
    uart.write_u8(regs::LINE_CONTROL, LCR_DIVISOR_LATCH);
    uart.write_u8(regs::DATA, 1);
    uart.write_u8(regs::DIVISOR_HIGH, 0);
    uart.write_u8(regs::LINE_CONTROL, LCR_8N1);
    uart.write_u8(regs::FIFO_CONTROL, FCR_ENABLE_AND_CLEAR);
    uart.write_u8(regs::MODEM_CONTROL, MCR_NORMAL | MCR_LOOPBACK);
    let mut echoed = String::new();
    for byte in text.bytes() {
        if !wait_for(uart, LSR_THR_EMPTY) {
            break;
        }
        uart.write_u8(regs::DATA, byte);
        if !wait_for(uart, LSR_DATA_READY) {
            break;
        }
        echoed.push(char::from(uart.read_u8(regs::DATA)));
    }
    uart.write_u8(regs::MODEM_CONTROL, MCR_NORMAL);
    echoed
}

impl<'mm> Driver<'mm> for UartDriver<'mm> {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        let claimed = DeviceResources::claim(device, resources, |_, _| CachePolicy::Uncached)
            .map_err(|error| error.status())?;
        let Some(uart) = claimed.ports(0).filter(|window| window.length() >= 8) else {
            self.journal.check("ports", false, "expected eight ports");
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        };
        uart.write_u8(regs::SCRATCH, 0xA5);
        let scratch = uart.read_u8(regs::SCRATCH);
        let present = scratch == 0xA5;
        self.journal.check("scratch register", present, format!("wrote 0xa5, read {scratch:#04x}"));
        if !present {
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        }
        let echoed = loopback(uart, LOOPBACK_TEXT);
        let passed = echoed == LOOPBACK_TEXT;
        self.journal.check(
            "loopback",
            passed,
            format!("{} bytes through {}: \"{echoed}\"", echoed.len(), crate::resource_text::routines(uart)),
        );
        if !passed {
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        }
        self.resources = Some(claimed);
        Ok(())
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }

    fn remove(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }
}
