//! A 16550A UART (the PC's COM ports), following QEMU's `hw/char/serial.c` so that a console
//! driver sees the same registers on the hosted machine as on QEMU.
//!
//! Eight ports (offsets in [`regs`]); DLAB is LCR bit 7:
//!
//! | offset | read | write |
//! |--------|------|-------|
//! | 0 | RBR: next received byte (DLAB=0); DLL (DLAB=1) | THR: transmit (DLAB=0); DLL (DLAB=1) |
//! | 1 | IER (DLAB=0); DLM (DLAB=1) | IER, low 4 bits (DLAB=0); DLM (DLAB=1) |
//! | 2 | IIR | FCR |
//! | 3 | LCR | LCR |
//! | 4 | MCR | MCR, low 5 bits |
//! | 5 | LSR; reading clears overrun and break | ignored |
//! | 6 | MSR | ignored |
//! | 7 | SCR | SCR |
//!
//! Reset state, as QEMU's: LSR 0x60 (transmitter empty), IIR 0x01 (no interrupt), MCR 0x08
//! (OUT2), MSR 0xB0 (DCD, DSR, CTS asserted), divisor 12 (9600 baud), everything else 0.
//!
//! # Transmit
//!
//! A byte written to THR is sent at once (the model has no baud-rate timing): it goes to the
//! output buffer the machine drains with [`Uart16550::take_output`], or, in loopback mode (MCR
//! bit 4), into the receiver. Either way LSR shows THR empty and transmitter empty again when
//! the write returns, and a THR-empty interrupt is pending if enabled.
//!
//! # Receive
//!
//! With the FIFOs disabled (FCR bit 0 clear, the reset state) the receiver holds one byte: a
//! byte arriving while LSR.DR is set replaces it and sets overrun (LSR bit 1). With the FIFOs
//! enabled it holds 16 bytes: a byte arriving when full is lost and sets overrun. Reading RBR
//! pops a byte; an empty FIFO reads 0.
//!
//! Input from the host ([`Uart16550::push_input`]) waits in an unbounded queue and enters the
//! receiver only while it has room, as QEMU's character backend is flow-controlled by the
//! UART: host input is never lost. While loopback is on, host input waits (QEMU does not feed
//! the receiver from the backend in loopback mode); only looped-back bytes can overrun.
//!
//! # Interrupts
//!
//! IIR reports, by priority: receiver line status (overrun; IER bit 2), character timeout and
//! received data (IER bit 0; with the FIFOs on, data counts only at the trigger level from FCR
//! bits 6-7), THR empty (IER bit 1; cleared by reading IIR or writing THR, and re-armed when IER
//! bit 1 is set while THR is empty, as QEMU does for Windows), modem status (never: the modem
//! lines do not change). The character timeout has no clock here: [`PortDevice::tick`] raises
//! it when received data sits in the FIFO, as QEMU does four character times after the last
//! byte. [`PortDevice::interrupt_pending`] is true whenever IIR shows an interrupt; as in QEMU,
//! OUT2 does not gate it.
//!
//! In loopback mode MSR reflects MCR: DTR to DSR, RTS to CTS, OUT1 to RI, OUT2 to DCD.
//!
//! # Access widths
//!
//! As in QEMU, the UART handles single bytes: a 2- or 4-byte access is that many byte accesses
//! at consecutive ports, low byte first (a 16-bit write to DLL writes DLL and DLM), and need not
//! be aligned. Bytes beyond the eighth port read 0xFF and are dropped; 8-byte accesses are
//! undecoded.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::mmio::AccessWidth;
use crate::port::PortDevice;

/// Ports the UART decodes.
pub const UART_PORT_COUNT: u16 = 8;
/// COM1's base port on a PC.
pub const COM1_PORT: u16 = 0x3F8;
/// COM1's ISA interrupt request line on a PC.
pub const COM1_IRQ: u8 = 4;
/// Bytes in the receive FIFO.
pub const UART_FIFO_SIZE: usize = 16;

/// Port offsets of the registers.
pub mod regs {
    /// Receive buffer (read) / transmit holding (write) with DLAB=0; divisor latch low with DLAB=1.
    pub const DATA: u16 = 0;
    /// Interrupt enable with DLAB=0; divisor latch high with DLAB=1.
    pub const IER: u16 = 1;
    /// Interrupt identification (read) / FIFO control (write).
    pub const IIR_FCR: u16 = 2;
    /// Line control.
    pub const LCR: u16 = 3;
    /// Modem control.
    pub const MCR: u16 = 4;
    /// Line status.
    pub const LSR: u16 = 5;
    /// Modem status.
    pub const MSR: u16 = 6;
    /// Scratch.
    pub const SCR: u16 = 7;
}

/// Interrupt enable register bits.
pub mod ier {
    /// Received data available (and character timeout).
    pub const RECEIVED_DATA: u8 = 0x01;
    /// Transmit holding register empty.
    pub const THR_EMPTY: u8 = 0x02;
    /// Receiver line status.
    pub const LINE_STATUS: u8 = 0x04;
    /// Modem status.
    pub const MODEM_STATUS: u8 = 0x08;
}

/// Interrupt identification register values.
pub mod iir {
    /// No interrupt pending (bit 0 set).
    pub const NONE: u8 = 0x01;
    /// Modem status.
    pub const MODEM_STATUS: u8 = 0x00;
    /// Transmit holding register empty.
    pub const THR_EMPTY: u8 = 0x02;
    /// Received data available.
    pub const RECEIVED_DATA: u8 = 0x04;
    /// Receiver line status.
    pub const LINE_STATUS: u8 = 0x06;
    /// Character timeout.
    pub const CHARACTER_TIMEOUT: u8 = 0x0C;
    /// The bits that identify the interrupt.
    pub const ID_MASK: u8 = 0x0F;
    /// Bits 6-7: FIFOs enabled.
    pub const FIFOS_ENABLED: u8 = 0xC0;
}

/// FIFO control register bits.
pub mod fcr {
    /// Enable the FIFOs.
    pub const ENABLE: u8 = 0x01;
    /// Clear the receive FIFO (self-clearing).
    pub const CLEAR_RECEIVE: u8 = 0x02;
    /// Clear the transmit FIFO (self-clearing).
    pub const CLEAR_TRANSMIT: u8 = 0x04;
    /// The receive trigger level field (1, 4, 8 or 14 bytes).
    pub const TRIGGER_MASK: u8 = 0xC0;
}

/// Line control register bits.
pub mod lcr {
    /// Divisor latch access.
    pub const DLAB: u8 = 0x80;
}

/// Modem control register bits.
pub mod mcr {
    /// Data terminal ready.
    pub const DTR: u8 = 0x01;
    /// Request to send.
    pub const RTS: u8 = 0x02;
    /// Auxiliary output 1.
    pub const OUT1: u8 = 0x04;
    /// Auxiliary output 2 (gates the IRQ on PCs; not modelled, as in QEMU).
    pub const OUT2: u8 = 0x08;
    /// Loopback.
    pub const LOOPBACK: u8 = 0x10;
}

/// Line status register bits.
pub mod lsr {
    /// Received data ready.
    pub const DATA_READY: u8 = 0x01;
    /// Overrun: a received byte was lost.
    pub const OVERRUN: u8 = 0x02;
    /// Parity error (never set here).
    pub const PARITY_ERROR: u8 = 0x04;
    /// Framing error (never set here).
    pub const FRAMING_ERROR: u8 = 0x08;
    /// Break received (never set here).
    pub const BREAK: u8 = 0x10;
    /// Transmit holding register empty.
    pub const THR_EMPTY: u8 = 0x20;
    /// Transmitter empty (holding and shift registers).
    pub const TRANSMITTER_EMPTY: u8 = 0x40;
    /// The bits that raise a line-status interrupt.
    pub const ERRORS: u8 = OVERRUN | PARITY_ERROR | FRAMING_ERROR | BREAK;
}

/// Modem status register bits.
pub mod msr {
    /// Clear to send.
    pub const CTS: u8 = 0x10;
    /// Data set ready.
    pub const DSR: u8 = 0x20;
    /// Ring indicator.
    pub const RI: u8 = 0x40;
    /// Data carrier detect.
    pub const DCD: u8 = 0x80;
}

/// A 16550A UART. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Uart16550 {
    /// The receive holding register while the FIFOs are off.
    rbr: u8,
    receive_fifo: VecDeque<u8>,
    /// Host input not yet taken by the receiver.
    input: VecDeque<u8>,
    /// Transmitted bytes not yet taken by the machine.
    output: Vec<u8>,
    ier: u8,
    /// IIR: bits 6-7 follow FCR.ENABLE, bits 0-3 the highest-priority pending interrupt.
    iir: u8,
    lcr: u8,
    mcr: u8,
    lsr: u8,
    msr: u8,
    scr: u8,
    /// FCR's sticky bits (enable and trigger level).
    fcr: u8,
    divisor: u16,
    /// A THR-empty interrupt is pending (cleared by reading IIR or writing THR).
    thr_pending: bool,
    /// A character-timeout interrupt is pending.
    timeout_pending: bool,
    /// The receive trigger level in bytes.
    trigger_level: usize,
}

impl Uart16550 {
    /// A UART in its reset state.
    pub fn new() -> Self {
        Self {
            rbr: 0,
            receive_fifo: VecDeque::with_capacity(UART_FIFO_SIZE),
            input: VecDeque::new(),
            output: Vec::new(),
            ier: 0,
            iir: iir::NONE,
            lcr: 0,
            mcr: mcr::OUT2,
            lsr: lsr::THR_EMPTY | lsr::TRANSMITTER_EMPTY,
            msr: msr::DCD | msr::DSR | msr::CTS,
            scr: 0,
            fcr: 0,
            divisor: 0x0C,
            thr_pending: false,
            timeout_pending: false,
            trigger_level: 1,
        }
    }

    /// Queues bytes from the host (a keyboard, a pipe) for the guest to receive. They enter
    /// the receiver as it has room; none is lost.
    pub fn push_input(&mut self, bytes: &[u8]) {
        self.input.extend(bytes);
        self.pump_input();
    }

    /// Host input still waiting for room in the receiver.
    pub fn pending_input(&self) -> usize {
        self.input.len()
    }

    /// Takes the bytes the guest transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.output)
    }

    /// The divisor latch (baud rate = 115200 / divisor).
    pub fn divisor(&self) -> u16 {
        self.divisor
    }

    fn dlab(&self) -> bool {
        self.lcr & lcr::DLAB != 0
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & fcr::ENABLE != 0
    }

    fn loopback(&self) -> bool {
        self.mcr & mcr::LOOPBACK != 0
    }

    /// Whether the receiver takes another byte from the host (QEMU's `serial_can_receive`).
    fn can_receive(&self) -> bool {
        if self.fifo_enabled() {
            self.receive_fifo.len() < UART_FIFO_SIZE
        } else {
            self.lsr & lsr::DATA_READY == 0
        }
    }

    /// Moves host input into the receiver while it has room, except in loopback mode.
    fn pump_input(&mut self) {
        while !self.loopback() && self.can_receive() {
            let Some(byte) = self.input.pop_front() else {
                break;
            };
            self.receive(byte);
        }
    }

    /// A byte arrives at the receiver (QEMU's `serial_receive1`).
    fn receive(&mut self, byte: u8) {
        if self.fifo_enabled() {
            // Receive overruns do not overwrite FIFO contents.
            if self.receive_fifo.len() < UART_FIFO_SIZE {
                self.receive_fifo.push_back(byte);
            } else {
                self.lsr |= lsr::OVERRUN;
            }
        } else {
            if self.lsr & lsr::DATA_READY != 0 {
                self.lsr |= lsr::OVERRUN;
            }
            self.rbr = byte;
        }
        self.lsr |= lsr::DATA_READY;
        self.update_interrupt();
    }

    /// A byte written to THR, sent at once.
    fn transmit(&mut self, byte: u8) {
        if self.loopback() {
            self.receive(byte);
        } else {
            self.output.push(byte);
        }
        self.lsr |= lsr::THR_EMPTY | lsr::TRANSMITTER_EMPTY;
        self.thr_pending = true;
        self.update_interrupt();
    }

    /// Recomputes IIR from the pending conditions, by priority (QEMU's `serial_update_irq`).
    fn update_interrupt(&mut self) {
        let received_enough = !self.fifo_enabled() || self.receive_fifo.len() >= self.trigger_level;
        let id = if self.ier & ier::LINE_STATUS != 0 && self.lsr & lsr::ERRORS != 0 {
            iir::LINE_STATUS
        } else if self.ier & ier::RECEIVED_DATA != 0 && self.timeout_pending {
            iir::CHARACTER_TIMEOUT
        } else if self.ier & ier::RECEIVED_DATA != 0 && self.lsr & lsr::DATA_READY != 0 && received_enough {
            iir::RECEIVED_DATA
        } else if self.ier & ier::THR_EMPTY != 0 && self.thr_pending {
            iir::THR_EMPTY
        } else {
            // Modem status deltas never occur: the modem lines are fixed.
            iir::NONE
        };
        self.iir = (self.iir & iir::FIFOS_ENABLED) | id;
    }

    fn read_register(&mut self, offset: u16) -> u8 {
        match offset {
            regs::DATA if self.dlab() => self.divisor as u8,
            regs::DATA => {
                let byte = if self.fifo_enabled() {
                    let byte = self.receive_fifo.pop_front().unwrap_or(0);
                    if self.receive_fifo.is_empty() {
                        self.lsr &= !(lsr::DATA_READY | lsr::BREAK);
                    }
                    self.timeout_pending = false;
                    byte
                } else {
                    self.lsr &= !(lsr::DATA_READY | lsr::BREAK);
                    self.rbr
                };
                self.update_interrupt();
                self.pump_input();
                byte
            }
            regs::IER if self.dlab() => (self.divisor >> 8) as u8,
            regs::IER => self.ier,
            regs::IIR_FCR => {
                let value = self.iir;
                if value & iir::ID_MASK == iir::THR_EMPTY {
                    self.thr_pending = false;
                    self.update_interrupt();
                }
                value
            }
            regs::LCR => self.lcr,
            regs::MCR => self.mcr,
            regs::LSR => {
                let value = self.lsr;
                if value & (lsr::BREAK | lsr::OVERRUN) != 0 {
                    self.lsr &= !(lsr::BREAK | lsr::OVERRUN);
                    self.update_interrupt();
                }
                value
            }
            regs::MSR if self.loopback() => {
                // The modem outputs drive the inputs.
                let mut value = 0;
                if self.mcr & mcr::DTR != 0 {
                    value |= msr::DSR;
                }
                if self.mcr & mcr::RTS != 0 {
                    value |= msr::CTS;
                }
                if self.mcr & mcr::OUT1 != 0 {
                    value |= msr::RI;
                }
                if self.mcr & mcr::OUT2 != 0 {
                    value |= msr::DCD;
                }
                value
            }
            regs::MSR => self.msr,
            regs::SCR => self.scr,
            _ => 0xFF,
        }
    }

    fn write_register(&mut self, offset: u16, value: u8) {
        match offset {
            regs::DATA if self.dlab() => self.divisor = (self.divisor & 0xFF00) | u16::from(value),
            regs::DATA => {
                self.thr_pending = false;
                self.lsr &= !(lsr::THR_EMPTY | lsr::TRANSMITTER_EMPTY);
                self.update_interrupt();
                self.transmit(value);
            }
            regs::IER if self.dlab() => self.divisor = (self.divisor & 0x00FF) | u16::from(value) << 8,
            regs::IER => {
                let changed = (self.ier ^ value) & 0x0F;
                self.ier = value & 0x0F;
                // Enabling the THR-empty interrupt while THR is empty raises it again, even if
                // an IIR read had cleared it (not in the datasheet; QEMU does it for Windows).
                if changed & ier::THR_EMPTY != 0 {
                    self.thr_pending = self.ier & ier::THR_EMPTY != 0 && self.lsr & lsr::THR_EMPTY != 0;
                }
                self.update_interrupt();
            }
            regs::IIR_FCR => self.write_fcr(value),
            regs::LCR => self.lcr = value,
            regs::MCR => {
                self.mcr = value & 0x1F;
                // Leaving loopback lets waiting host input in.
                self.pump_input();
            }
            regs::SCR => self.scr = value,
            // LSR and MSR are read-only.
            _ => {}
        }
    }

    fn write_fcr(&mut self, mut value: u8) {
        // Turning the FIFOs on or off flushes both.
        if (value ^ self.fcr) & fcr::ENABLE != 0 {
            value |= fcr::CLEAR_RECEIVE | fcr::CLEAR_TRANSMIT;
        }
        if value & fcr::CLEAR_RECEIVE != 0 {
            self.lsr &= !(lsr::DATA_READY | lsr::BREAK);
            self.timeout_pending = false;
            self.receive_fifo.clear();
        }
        if value & fcr::CLEAR_TRANSMIT != 0 {
            // Transmission is immediate, so the transmit FIFO is always empty already.
            self.lsr |= lsr::THR_EMPTY;
            self.thr_pending = true;
        }
        self.fcr = value & (fcr::ENABLE | fcr::TRIGGER_MASK | 0x08);
        if self.fifo_enabled() {
            self.iir |= iir::FIFOS_ENABLED;
            self.trigger_level = match value & fcr::TRIGGER_MASK {
                0x00 => 1,
                0x40 => 4,
                0x80 => 8,
                _ => 14,
            };
        } else {
            self.iir &= !iir::FIFOS_ENABLED;
        }
        self.update_interrupt();
        self.pump_input();
    }
}

impl Default for Uart16550 {
    fn default() -> Self {
        Self::new()
    }
}

impl PortDevice for Uart16550 {
    fn name(&self) -> &'static str {
        "16550a"
    }

    fn port_count(&self) -> u16 {
        UART_PORT_COUNT
    }

    fn port_read(&mut self, offset: u16, width: AccessWidth) -> u32 {
        if width == AccessWidth::Qword {
            return u32::MAX;
        }
        (0..width.bytes() as u16).fold(0, |value, i| {
            let byte = match offset.checked_add(i) {
                Some(port) if port < UART_PORT_COUNT => self.read_register(port),
                _ => 0xFF,
            };
            value | u32::from(byte) << (8 * i)
        })
    }

    fn port_write(&mut self, offset: u16, width: AccessWidth, value: u32) {
        if width == AccessWidth::Qword {
            return;
        }
        for i in 0..width.bytes() as u16 {
            if let Some(port) = offset.checked_add(i).filter(|&port| port < UART_PORT_COUNT) {
                self.write_register(port, (value >> (8 * i)) as u8);
            }
        }
    }

    fn tick(&mut self) {
        // What QEMU's FIFO timeout timer does when it fires.
        if self.fifo_enabled() && !self.receive_fifo.is_empty() {
            self.timeout_pending = true;
            self.update_interrupt();
        }
    }

    fn interrupt_pending(&self) -> bool {
        self.iir & iir::NONE == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessWidth::{Byte, Dword, Qword, Word};
    use alloc::vec;

    fn read(uart: &mut Uart16550, offset: u16) -> u8 {
        uart.port_read(offset, Byte) as u8
    }

    fn write(uart: &mut Uart16550, offset: u16, value: u8) {
        uart.port_write(offset, Byte, value.into());
    }

    #[test]
    fn reset_state() {
        let mut uart = Uart16550::new();
        assert_eq!(uart.name(), "16550a");
        assert_eq!(uart.port_count(), 8);
        let expected = [0x00, 0x00, 0x01, 0x00, 0x08, 0x60, 0xB0, 0x00];
        for (offset, value) in expected.into_iter().enumerate() {
            assert_eq!(read(&mut uart, offset as u16), value, "port {offset}");
        }
        assert_eq!(uart.divisor(), 12);
        assert!(!uart.interrupt_pending());
    }

    #[test]
    fn divisor_latch() {
        let mut uart = Uart16550::new();
        write(&mut uart, regs::IER, 0x05);
        write(&mut uart, regs::LCR, lcr::DLAB | 0x03);
        assert_eq!(read(&mut uart, regs::DATA), 12);
        assert_eq!(read(&mut uart, regs::IER), 0);
        write(&mut uart, regs::DATA, 0x01);
        write(&mut uart, regs::IER, 0x00);
        assert_eq!(uart.divisor(), 1);
        // A 16-bit write sets both halves, low byte first.
        uart.port_write(regs::DATA, Word, 0x0380);
        assert_eq!(uart.divisor(), 0x0380);
        assert_eq!(uart.port_read(regs::DATA, Word), 0x0380);
        write(&mut uart, regs::LCR, 0x03);
        assert_eq!(read(&mut uart, regs::LCR), 0x03);
        // With DLAB clear, offsets 0 and 1 are the data and interrupt-enable registers again,
        // and writing the divisor did not transmit anything.
        assert_eq!(read(&mut uart, regs::IER), 0x05);
        assert!(uart.take_output().is_empty());
        assert_eq!(uart.divisor(), 0x0380);
    }

    #[test]
    fn output_capture() {
        let mut uart = Uart16550::new();
        for &byte in b"hello\r\n" {
            assert_ne!(read(&mut uart, regs::LSR) & lsr::THR_EMPTY, 0);
            write(&mut uart, regs::DATA, byte);
        }
        assert_eq!(uart.take_output(), b"hello\r\n");
        assert!(uart.take_output().is_empty());
        // Transmission is immediate: the transmitter is empty again.
        assert_eq!(read(&mut uart, regs::LSR), 0x60);
        // Nothing came back without loopback.
        assert_eq!(read(&mut uart, regs::LSR) & lsr::DATA_READY, 0);
    }

    #[test]
    fn loopback_round_trip_with_fifo() {
        let mut uart = Uart16550::new();
        write(&mut uart, regs::IIR_FCR, fcr::ENABLE | fcr::CLEAR_RECEIVE | fcr::CLEAR_TRANSMIT);
        assert_eq!(read(&mut uart, regs::IIR_FCR), 0xC1);
        write(&mut uart, regs::MCR, mcr::LOOPBACK | mcr::OUT2 | mcr::RTS | mcr::DTR);
        let message = b"loopback test!";
        for &byte in message {
            write(&mut uart, regs::DATA, byte);
        }
        assert!(uart.take_output().is_empty(), "loopback keeps bytes off the line");
        let mut received = vec![];
        while read(&mut uart, regs::LSR) & lsr::DATA_READY != 0 {
            received.push(read(&mut uart, regs::DATA));
        }
        assert_eq!(received, message);
        // An empty FIFO reads 0.
        assert_eq!(read(&mut uart, regs::DATA), 0);
        // MSR follows MCR.
        assert_eq!(read(&mut uart, regs::MSR), msr::DCD | msr::CTS | msr::DSR);
        write(&mut uart, regs::MCR, mcr::LOOPBACK | mcr::OUT1);
        assert_eq!(read(&mut uart, regs::MSR), msr::RI);
        write(&mut uart, regs::MCR, mcr::OUT2);
        assert_eq!(read(&mut uart, regs::MSR), 0xB0);
    }

    #[test]
    fn loopback_without_fifo_holds_one_byte() {
        let mut uart = Uart16550::new();
        write(&mut uart, regs::MCR, mcr::LOOPBACK);
        let mut received = vec![];
        for &byte in b"abc" {
            write(&mut uart, regs::DATA, byte);
            assert_eq!(read(&mut uart, regs::LSR) & (lsr::DATA_READY | lsr::OVERRUN), lsr::DATA_READY);
            received.push(read(&mut uart, regs::DATA));
        }
        assert_eq!(received, b"abc");
        // Two bytes without reading: the second replaces the first and sets overrun.
        write(&mut uart, regs::DATA, b'x');
        write(&mut uart, regs::DATA, b'y');
        assert_eq!(read(&mut uart, regs::LSR), lsr::DATA_READY | lsr::OVERRUN | 0x60);
        // Reading LSR cleared overrun.
        assert_eq!(read(&mut uart, regs::LSR), lsr::DATA_READY | 0x60);
        assert_eq!(read(&mut uart, regs::DATA), b'y');
        assert_eq!(read(&mut uart, regs::LSR), 0x60);
    }

    #[test]
    fn fifo_overrun_keeps_the_first_sixteen() {
        let mut uart = Uart16550::new();
        write(&mut uart, regs::IIR_FCR, fcr::ENABLE);
        write(&mut uart, regs::MCR, mcr::LOOPBACK);
        for byte in 0..17u8 {
            write(&mut uart, regs::DATA, byte);
        }
        let status = read(&mut uart, regs::LSR);
        assert_eq!(status & (lsr::DATA_READY | lsr::OVERRUN), lsr::DATA_READY | lsr::OVERRUN);
        let received: Vec<u8> = (0..16).map(|_| read(&mut uart, regs::DATA)).collect();
        assert_eq!(received, (0..16).collect::<Vec<u8>>());
        assert_eq!(read(&mut uart, regs::LSR), 0x60);
    }

    #[test]
    fn host_input_is_flow_controlled() {
        let mut uart = Uart16550::new();
        // Without FIFOs one byte at a time enters; the rest waits, none is lost.
        uart.push_input(b"hi!");
        assert_eq!(uart.pending_input(), 2);
        assert_eq!(read(&mut uart, regs::LSR) & (lsr::DATA_READY | lsr::OVERRUN), lsr::DATA_READY);
        let mut received = vec![];
        while read(&mut uart, regs::LSR) & lsr::DATA_READY != 0 {
            received.push(read(&mut uart, regs::DATA));
        }
        assert_eq!(received, b"hi!");
        // With FIFOs, up to 16 at a time.
        write(&mut uart, regs::IIR_FCR, fcr::ENABLE);
        uart.push_input(&[7; 20]);
        assert_eq!(uart.pending_input(), 4);
        assert_eq!(read(&mut uart, regs::LSR) & lsr::OVERRUN, 0);
        assert_eq!((0..20).map(|_| read(&mut uart, regs::DATA)).filter(|&b| b == 7).count(), 20);
        // Loopback holds host input back until it ends.
        write(&mut uart, regs::MCR, mcr::LOOPBACK);
        uart.push_input(b"z");
        assert_eq!(read(&mut uart, regs::LSR) & lsr::DATA_READY, 0);
        write(&mut uart, regs::MCR, 0);
        assert_eq!(read(&mut uart, regs::DATA), b'z');
    }

    #[test]
    fn fifo_control_clears_and_disabling_flushes() {
        let mut uart = Uart16550::new();
        write(&mut uart, regs::IIR_FCR, fcr::ENABLE);
        uart.push_input(b"abcd");
        write(&mut uart, regs::IIR_FCR, fcr::ENABLE | fcr::CLEAR_RECEIVE);
        assert_eq!(read(&mut uart, regs::LSR) & lsr::DATA_READY, 0);
        uart.push_input(b"ef");
        write(&mut uart, regs::IIR_FCR, 0);
        assert_eq!(read(&mut uart, regs::IIR_FCR), 0x01);
        assert_eq!(read(&mut uart, regs::LSR) & lsr::DATA_READY, 0);
    }

    #[test]
    fn scratch_register() {
        let mut uart = Uart16550::new();
        for value in [0x00, 0x55, 0xAA, 0xFF] {
            write(&mut uart, regs::SCR, value);
            assert_eq!(read(&mut uart, regs::SCR), value);
        }
        // Read-only registers ignore writes.
        write(&mut uart, regs::LSR, 0x00);
        write(&mut uart, regs::MSR, 0x00);
        assert_eq!(read(&mut uart, regs::LSR), 0x60);
        assert_eq!(read(&mut uart, regs::MSR), 0xB0);
        // MCR keeps five bits, IER four.
        write(&mut uart, regs::MCR, 0xFF);
        assert_eq!(read(&mut uart, regs::MCR), 0x1F);
        write(&mut uart, regs::MCR, 0x08);
        write(&mut uart, regs::IER, 0xF0);
        assert_eq!(read(&mut uart, regs::IER), 0);
    }

    #[test]
    fn interrupts() {
        let mut uart = Uart16550::new();
        // Enabling THR-empty while THR is empty raises it; reading IIR clears it.
        write(&mut uart, regs::IER, ier::THR_EMPTY);
        assert!(uart.interrupt_pending());
        assert_eq!(read(&mut uart, regs::IIR_FCR), iir::THR_EMPTY);
        assert!(!uart.interrupt_pending());
        assert_eq!(read(&mut uart, regs::IIR_FCR), iir::NONE);
        // Transmitting raises it again.
        write(&mut uart, regs::DATA, b'a');
        assert_eq!(read(&mut uart, regs::IIR_FCR), iir::THR_EMPTY);
        write(&mut uart, regs::IER, 0);
        assert!(!uart.interrupt_pending());

        // Received data, with line status above it.
        write(&mut uart, regs::IER, ier::RECEIVED_DATA | ier::LINE_STATUS);
        write(&mut uart, regs::MCR, mcr::LOOPBACK);
        write(&mut uart, regs::DATA, b'1');
        assert_eq!(read(&mut uart, regs::IIR_FCR), iir::RECEIVED_DATA);
        write(&mut uart, regs::DATA, b'2');
        assert_eq!(read(&mut uart, regs::IIR_FCR), iir::LINE_STATUS);
        read(&mut uart, regs::LSR);
        assert_eq!(read(&mut uart, regs::IIR_FCR), iir::RECEIVED_DATA);
        read(&mut uart, regs::DATA);
        assert!(!uart.interrupt_pending());

        // With FIFOs at a trigger level of 4, data interrupts at four bytes, or on timeout.
        write(&mut uart, regs::IIR_FCR, fcr::ENABLE | 0x40);
        for &byte in b"xyz" {
            write(&mut uart, regs::DATA, byte);
        }
        assert_eq!(read(&mut uart, regs::IIR_FCR), 0xC1);
        write(&mut uart, regs::DATA, b'w');
        assert_eq!(read(&mut uart, regs::IIR_FCR), 0xC0 | iir::RECEIVED_DATA);
        for _ in 0..3 {
            read(&mut uart, regs::DATA);
        }
        assert_eq!(read(&mut uart, regs::IIR_FCR), 0xC1);
        uart.tick();
        assert_eq!(read(&mut uart, regs::IIR_FCR), 0xC0 | iir::CHARACTER_TIMEOUT);
        assert_eq!(read(&mut uart, regs::DATA), b'w');
        assert!(!uart.interrupt_pending());
        uart.tick();
        assert!(!uart.interrupt_pending(), "no timeout with an empty FIFO");
    }

    #[test]
    fn wide_and_undecoded_accesses() {
        let mut uart = Uart16550::new();
        // A dword read covers four consecutive registers.
        write(&mut uart, regs::SCR, 0x5A);
        assert_eq!(uart.port_read(regs::LCR, Dword), 0xB0_60_08_00);
        assert_eq!(uart.port_read(regs::MSR, Word), 0x5AB0);
        // Bytes beyond the eighth port float.
        assert_eq!(uart.port_read(regs::SCR, Word), 0xFF5A);
        assert_eq!(uart.port_read(regs::SCR, Dword), 0xFFFF_FF5A);
        assert_eq!(uart.port_read(8, Byte), 0xFF);
        assert_eq!(uart.port_read(u16::MAX, Dword), u32::MAX);
        assert_eq!(uart.port_read(0, Qword), u32::MAX);
        uart.port_write(u16::MAX, Dword, 0);
        uart.port_write(0, Qword, 0x41);
        uart.port_write(8, Byte, 0x41);
        // A word write at the scratch register drops its high byte.
        uart.port_write(regs::SCR, Word, 0x1234);
        assert_eq!(read(&mut uart, regs::SCR), 0x34);
        assert!(uart.take_output().is_empty());
    }
}
