//! The memory a bus-master device sees.
//!
//! A model that does DMA reaches memory only through [`DmaMemory`], which the machine
//! implements over guest RAM (bus addresses equal CPU physical addresses on the hosted
//! machine, as on a PC without an IOMMU). [`VecDmaMemory`] is a small implementation for tests.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Memory as a bus master sees it.
pub trait DmaMemory {
    /// Reads `buffer.len()` bytes at bus address `physical`. Returns false if any byte of the
    /// range is not backed by RAM: the bus cycle was master-aborted. `buffer`'s contents are
    /// then unspecified, and the model handles the failure as its hardware would.
    fn read(&mut self, physical: u64, buffer: &mut [u8]) -> bool;

    /// Writes `data` at bus address `physical`. Returns false if any byte of the range is not
    /// backed by RAM; the bytes that are may or may not have been written.
    fn write(&mut self, physical: u64, data: &[u8]) -> bool;
}

/// A single block of RAM at a fixed bus address, for tests. Accesses that do not lie wholly
/// within it fail and change nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct VecDmaMemory {
    base: u64,
    bytes: Vec<u8>,
}

impl VecDmaMemory {
    /// `size` zeroed bytes at bus address `base`.
    pub fn new(base: u64, size: usize) -> Self {
        Self { base, bytes: vec![0; size] }
    }

    /// The bus address of the first byte.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The bytes, from `base` on.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes, from `base` on, for staging data.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }

    /// The index range of `length` bytes at `physical`, if they all lie within the block.
    fn range(&self, physical: u64, length: usize) -> Option<core::ops::Range<usize>> {
        let start = usize::try_from(physical.checked_sub(self.base)?).ok()?;
        let end = start.checked_add(length)?;
        (end <= self.bytes.len()).then_some(start..end)
    }
}

impl DmaMemory for VecDmaMemory {
    fn read(&mut self, physical: u64, buffer: &mut [u8]) -> bool {
        match self.range(physical, buffer.len()) {
            Some(range) => {
                buffer.copy_from_slice(&self.bytes[range]);
                true
            }
            None => false,
        }
    }

    fn write(&mut self, physical: u64, data: &[u8]) -> bool {
        match self.range(physical, data.len()) {
            Some(range) => {
                self.bytes[range].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for VecDmaMemory {
    // The contents are left out: a test's RAM can be megabytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VecDmaMemory")
            .field("base", &format_args!("{:#x}", self.base))
            .field("len", &self.bytes.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_inside_the_block_only() {
        let mut memory = VecDmaMemory::new(0x1000, 0x100);
        assert!(memory.write(0x1010, b"abcd"));
        let mut buffer = [0u8; 4];
        assert!(memory.read(0x1010, &mut buffer));
        assert_eq!(&buffer, b"abcd");
        assert_eq!(&memory.bytes()[0x10..0x14], b"abcd");
        assert!(memory.read(0x10FC, &mut buffer));
        assert!(memory.write(0x1100, &[]));
        // Below, straddling the end, past the end, and wrapping around the address space.
        assert!(!memory.read(0xFFF, &mut buffer));
        assert!(!memory.read(0x10FD, &mut buffer));
        assert!(!memory.write(0x10FD, b"wxyz"));
        assert!(!memory.write(0x1101, &[]));
        assert!(!memory.write(u64::MAX, b"x"));
        assert_eq!(&memory.bytes()[0xFC..], &[0; 4]);
    }
}
