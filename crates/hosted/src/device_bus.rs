//! The machine's memory bus for device ranges: which model answers at which physical address.

use std::sync::Mutex;

use iospace_devices::mmio::{AccessWidth, MmioDevice};
use iospace_mm::address::PhysicalAddress;

/// A model decoding `[start, start + bytes)`.
struct Decoder {
    start: u64,
    bytes: u64,
    model: Mutex<Box<dyn MmioDevice>>,
}

/// Device models by physical address.
#[derive(Default)]
pub struct DeviceBus {
    decoders: Vec<Decoder>,
}

impl std::fmt::Debug for DeviceBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for decoder in &self.decoders {
            list.entry(&(decoder.start, decoder.bytes));
        }
        list.finish()
    }
}

impl DeviceBus {
    /// Places `model` at `start`. Ranges were validated against each other by the description.
    pub fn attach(&mut self, start: PhysicalAddress, model: Box<dyn MmioDevice>) {
        let bytes = model.mmio_size();
        let index = self.decoders.partition_point(|decoder| decoder.start < start.0);
        self.decoders.insert(index, Decoder { start: start.0, bytes, model: Mutex::new(model) });
    }

    fn decoder(&self, address: PhysicalAddress) -> Option<&Decoder> {
        let index = self.decoders.partition_point(|decoder| decoder.start <= address.0);
        let decoder = self.decoders.get(index.checked_sub(1)?)?;
        (address.0 - decoder.start < decoder.bytes).then_some(decoder)
    }

    /// Whether a model decodes `address`.
    pub fn decodes(&self, address: PhysicalAddress) -> bool {
        self.decoder(address).is_some()
    }

    /// A read on the bus; no model there reads all ones, as on PCI.
    pub fn read(&self, address: PhysicalAddress, width: AccessWidth) -> u64 {
        match self.decoder(address) {
            Some(decoder) => {
                let mut model = decoder.model.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                model.mmio_read(address.0 - decoder.start, width)
            }
            None => width.mask(),
        }
    }

    /// A write on the bus; no model there drops it.
    pub fn write(&self, address: PhysicalAddress, width: AccessWidth, value: u64) {
        if let Some(decoder) = self.decoder(address) {
            let mut model = decoder.model.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            model.mmio_write(address.0 - decoder.start, width, value);
        }
    }

    /// Each model's name and range, by address.
    pub fn devices(&self) -> Vec<(&'static str, PhysicalAddress, u64)> {
        self.decoders
            .iter()
            .map(|decoder| {
                let model = decoder.model.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                (model.name(), PhysicalAddress(decoder.start), decoder.bytes)
            })
            .collect()
    }
}
