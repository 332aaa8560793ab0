//! The machine's memory bus for device ranges: which model answers at which physical address.
//!
//! Every page a model decodes is entered in a hash map, so finding the model for an access is
//! O(1) whatever the number of devices: the register routines' hot path is one page walk and
//! one lookup.

use std::collections::HashMap;
use std::sync::Mutex;

use iospace_devices::mmio::{AccessWidth, MmioDevice};
use iospace_mm::address::{PAGE_SHIFT, PhysicalAddress};

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
    /// Physical page number -> index in `decoders`.
    pages: HashMap<u64, usize>,
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
        let index = self.decoders.len();
        let first_page = start.0 >> PAGE_SHIFT;
        let last_page = (start.0 + bytes.max(1) - 1) >> PAGE_SHIFT;
        for page in first_page..=last_page {
            self.pages.insert(page, index);
        }
        self.decoders.push(Decoder { start: start.0, bytes, model: Mutex::new(model) });
    }

    fn decoder(&self, address: PhysicalAddress) -> Option<&Decoder> {
        let decoder = &self.decoders[*self.pages.get(&(address.0 >> PAGE_SHIFT))?];
        (address.0.wrapping_sub(decoder.start) < decoder.bytes).then_some(decoder)
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
        let mut decoders: Vec<&Decoder> = self.decoders.iter().collect();
        decoders.sort_by_key(|decoder| decoder.start);
        decoders
            .into_iter()
            .map(|decoder| {
                let model = decoder.model.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                (model.name(), PhysicalAddress(decoder.start), decoder.bytes)
            })
            .collect()
    }
}
