//! Guest RAM as a bus master sees it, for the device models' DMA.
//!
//! Inbound bus addresses equal CPU physical addresses on both personalities (the personality's
//! `memory_offset` applies to the CPU's view of bus memory, not to the devices' view of RAM),
//! as on a PC without an IOMMU. Only RAM regions answer: a range that touches anything else
//! (a hole, device memory, firmware) is a master abort and moves nothing.

use iospace_devices::dma::DmaMemory;
use iospace_mm::address::{PAGE_SIZE, PhysicalAddress};
use iospace_mm::physical_memory::PhysicalMemory;

use crate::ram::Ram;
use crate::volatile;

/// A bus master's view of a machine's RAM.
#[derive(Debug)]
pub struct RamDma<'a> {
    ram: &'a Ram,
}

impl<'a> RamDma<'a> {
    /// DMA over `ram`.
    pub fn new(ram: &'a Ram) -> Self {
        Self { ram }
    }

    /// Each page-sized piece of `[physical, physical + length)` as (frame pointer at the
    /// piece's first byte, offset within the range, bytes), or `None` if any byte is not RAM.
    fn pieces(&self, physical: u64, length: usize) -> Option<Vec<(*mut u8, usize, usize)>> {
        let end = physical.checked_add(length as u64)?;
        let mut pieces = Vec::new();
        let mut at = physical;
        while at < end {
            let address = PhysicalAddress(at);
            let in_page = (PAGE_SIZE - address.page_offset()).min(end - at);
            let frame = self.ram.frame(address.pfn())?;
            // SAFETY: the offset is below the page size, inside the frame.
            let pointer = unsafe { frame.cast::<u8>().as_ptr().add(address.page_offset() as usize) };
            pieces.push((pointer, (at - physical) as usize, in_page as usize));
            at += in_page;
        }
        Some(pieces)
    }
}

impl DmaMemory for RamDma<'_> {
    fn read(&mut self, physical: u64, buffer: &mut [u8]) -> bool {
        let Some(pieces) = self.pieces(physical, buffer.len()) else { return false };
        for (pointer, offset, bytes) in pieces {
            // SAFETY: each piece lies within one RAM frame of the direct map.
            unsafe { volatile::copy_in(pointer, &mut buffer[offset..offset + bytes]) };
        }
        true
    }

    fn write(&mut self, physical: u64, data: &[u8]) -> bool {
        let Some(pieces) = self.pieces(physical, data.len()) else { return false };
        for (pointer, offset, bytes) in pieces {
            // SAFETY: each piece lies within one RAM frame of the direct map.
            unsafe { volatile::copy_out(pointer, &data[offset..offset + bytes]) };
        }
        true
    }
}
