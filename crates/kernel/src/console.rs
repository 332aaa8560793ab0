//! The serial console: COM1, a 16550 at port 0x3F8, polled, 115200 baud 8N1.
//!
//! Everything the kernel prints goes here, one whole line at a time under a lock. The bug-check
//! path writes without the lock (see [`write_unlocked`]): the CPU that stops may be the one that
//! holds it, and there is no other CPU to wait for.

use core::fmt::{self, Write};

use spin::Mutex;

use crate::port::{inb, outb};

/// COM1's base port.
pub const COM1: u16 = 0x3F8;

/// Register offsets of a 16550.
mod register {
    pub const DATA: u16 = 0;
    pub const INTERRUPT_ENABLE: u16 = 1;
    pub const FIFO_CONTROL: u16 = 2;
    pub const LINE_CONTROL: u16 = 3;
    pub const MODEM_CONTROL: u16 = 4;
    pub const LINE_STATUS: u16 = 5;
}

/// Line status: the transmit holding register is empty.
const TRANSMIT_EMPTY: u8 = 1 << 5;
/// Line control: divisor latch access.
const DIVISOR_LATCH: u8 = 1 << 7;
/// Line control: 8 data bits, no parity, one stop bit.
const EIGHT_N_ONE: u8 = 0x03;

static LOCK: Mutex<()> = Mutex::new(());

/// Programs COM1: no interrupts, 115200 baud, 8N1, FIFOs on, DTR and RTS.
pub fn init() {
    outb(COM1 + register::INTERRUPT_ENABLE, 0);
    outb(COM1 + register::LINE_CONTROL, DIVISOR_LATCH);
    outb(COM1 + register::DATA, 1);
    outb(COM1 + register::INTERRUPT_ENABLE, 0);
    outb(COM1 + register::LINE_CONTROL, EIGHT_N_ONE);
    outb(COM1 + register::FIFO_CONTROL, 0x07);
    outb(COM1 + register::MODEM_CONTROL, 0x03);
}

fn put(byte: u8) {
    while inb(COM1 + register::LINE_STATUS) & TRANSMIT_EMPTY == 0 {
        core::hint::spin_loop();
    }
    outb(COM1 + register::DATA, byte);
}

/// A writer straight to the UART; `\n` goes out as `\r\n`.
struct Serial;

impl Write for Serial {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                put(b'\r');
            }
            put(byte);
        }
        Ok(())
    }
}

/// Prints `arguments` under the console lock.
pub fn write(arguments: fmt::Arguments<'_>) {
    let _guard = LOCK.lock();
    let _ = Serial.write_fmt(arguments);
}

/// Prints `arguments` without taking the lock: for the bug-check path only.
pub fn write_unlocked(arguments: fmt::Arguments<'_>) {
    let _ = Serial.write_fmt(arguments);
}

/// Prints to the serial console.
#[macro_export]
macro_rules! kprint {
    ($($argument:tt)*) => { $crate::console::write(format_args!($($argument)*)) };
}

/// Prints a line to the serial console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::console::write(format_args!("\n")) };
    ($($argument:tt)*) => { $crate::console::write(format_args!("{}\n", format_args!($($argument)*))) };
}
