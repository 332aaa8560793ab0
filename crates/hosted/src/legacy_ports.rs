//! Devices at fixed ports, outside PCI: the 16550A UARTs a description names (COM1 at 0x3F8 by
//! default). A hash map from port to device makes finding the device O(1).
//!
//! The UARTs are kept as their concrete model so that the host side can feed their receivers
//! and collect what the guest transmitted ([`LegacyPorts::take_output`],
//! [`LegacyPorts::push_input`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use iospace_devices::mmio::AccessWidth;
use iospace_devices::port::PortDevice;
use iospace_devices::uart16550::Uart16550;

/// A UART and its first port.
struct Uart {
    base: u16,
    model: Mutex<Uart16550>,
}

impl Uart {
    fn lock(&self) -> MutexGuard<'_, Uart16550> {
        // A model never panics on guest input; if one did, its state is still the best we have.
        self.model.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The machine's fixed-port devices.
#[derive(Default)]
pub struct LegacyPorts {
    uarts: Vec<Uart>,
    /// Port -> index in `uarts`.
    ports: HashMap<u16, usize>,
}

impl std::fmt::Debug for LegacyPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.uarts.iter().map(|uart| format!("uart at {:#x}", uart.base))).finish()
    }
}

impl LegacyPorts {
    /// Places a UART at ports `base..base + 8`. Returns false, changing nothing, if a port is
    /// taken or the range passes 0xFFFF (descriptions are validated before this).
    pub fn attach_uart(&mut self, base: u16, model: Uart16550) -> bool {
        let count = model.port_count();
        let Some(ports): Option<Vec<u16>> = (0..count).map(|offset| base.checked_add(offset)).collect()
        else {
            return false;
        };
        if ports.iter().any(|port| self.ports.contains_key(port)) {
            return false;
        }
        let index = self.uarts.len();
        self.ports.extend(ports.into_iter().map(|port| (port, index)));
        self.uarts.push(Uart { base, model: Mutex::new(model) });
        true
    }

    fn uart_at(&self, port: u16) -> Option<&Uart> {
        self.uarts.get(*self.ports.get(&port)?)
    }

    /// A port read, or `None` if no device decodes the port.
    pub fn read(&self, port: u16, width: AccessWidth) -> Option<u32> {
        let uart = self.uart_at(port)?;
        let mut model = uart.lock();
        let value = model.port_read(port - uart.base, width);
        model.tick();
        Some(value)
    }

    /// A port write; returns whether a device decoded the port.
    pub fn write(&self, port: u16, width: AccessWidth, value: u32) -> bool {
        let Some(uart) = self.uart_at(port) else { return false };
        let mut model = uart.lock();
        model.port_write(port - uart.base, width, value);
        model.tick();
        true
    }

    /// The first port of each UART, in description order.
    pub fn uart_ports(&self) -> Vec<u16> {
        self.uarts.iter().map(|uart| uart.base).collect()
    }

    /// Takes what the guest transmitted on the UART at `base` since the last call (`None` if
    /// there is no UART there).
    pub fn take_output(&self, base: u16) -> Option<Vec<u8>> {
        let uart = self.uarts.iter().find(|uart| uart.base == base)?;
        Some(uart.lock().take_output())
    }

    /// Queues host input for the UART at `base`; returns false if there is no UART there.
    pub fn push_input(&self, base: u16, bytes: &[u8]) -> bool {
        let Some(uart) = self.uarts.iter().find(|uart| uart.base == base) else { return false };
        uart.lock().push_input(bytes);
        true
    }

    /// Whether the UART at `base` asserts its interrupt request.
    pub fn interrupt_pending(&self, base: u16) -> bool {
        self.uarts.iter().find(|uart| uart.base == base).is_some_and(|uart| uart.lock().interrupt_pending())
    }
}
