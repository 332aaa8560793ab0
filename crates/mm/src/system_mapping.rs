//! Mapping lists of RAM frames into fresh system VA: the step shared by pool, contiguous and
//! non-cached memory and MDL mappings.

use core::fmt;

use crate::address::{PAGE_SIZE, Pfn, PhysicalAddress, VirtualAddress};
use crate::caching::CachePolicy;
use crate::memory_manager::MemoryManager;
use crate::page_table::{LeafAttributes, PageSize, TlbFlush};

/// Why frames could not be mapped. Nothing is mapped when one is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapFramesError {
    /// No run of system VA is large enough.
    VaExhausted,
    /// No RAM frame for a new page table.
    OutOfPageTableFrames,
}

impl fmt::Display for MapFramesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VaExhausted => f.write_str("system VA space is exhausted"),
            Self::OutOfPageTableFrames => f.write_str("no RAM for a page table"),
        }
    }
}

impl core::error::Error for MapFramesError {}

/// Rights of a system mapping of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameRights {
    /// Writes allowed.
    pub writable: bool,
    /// Instruction fetches allowed.
    pub executable: bool,
}

impl MemoryManager {
    /// Maps `frames[i]` at page `i` of a fresh run of system VA with memory type `caches[i]`.
    pub(crate) fn map_frames(
        &self,
        frames: &[Pfn],
        caches: &[CachePolicy],
        rights: FrameRights,
    ) -> Result<VirtualAddress, MapFramesError> {
        let pages = frames.len() as u64;
        let base = self.system_va.allocate(pages, 1, 0).ok_or(MapFramesError::VaExhausted)?;
        let memory = self.platform.physical_memory();
        let mut flush = TlbFlush::empty();
        for (i, (&pfn, &cache)) in frames.iter().zip(caches).enumerate() {
            let attributes = LeafAttributes {
                writable: rights.writable,
                executable: rights.executable,
                cache,
                global: true,
            };
            let va = base.add(i as u64 * PAGE_SIZE);
            match self.page_tables.map(memory, &self.pfns, va, pfn.address(), PageSize::Size4KiB, attributes)
            {
                Ok(leaf) => flush = flush.merge(leaf),
                Err(_) => {
                    // The VA run is ours alone, so only a missing table frame can fail.
                    self.flush(flush.merge(self.clear_frames(base, i as u64)));
                    self.system_va.free(base, pages);
                    return Err(MapFramesError::OutOfPageTableFrames);
                }
            }
        }
        self.flush(flush);
        Ok(base)
    }

    /// Unmaps `pages` 4 KiB pages from `base` and returns the VA run.
    pub(crate) fn unmap_frames(&self, base: VirtualAddress, pages: u64) {
        self.flush(self.clear_frames(base, pages));
        self.system_va.free(base, pages);
    }

    /// Clears `pages` 4 KiB leaves from `base`.
    pub(crate) fn clear_frames(&self, base: VirtualAddress, pages: u64) -> TlbFlush {
        let memory = self.platform.physical_memory();
        let mut flush = TlbFlush::empty();
        for i in 0..pages {
            if let Ok((_, leaf)) = self.page_tables.unmap(memory, base.add(i * PAGE_SIZE)) {
                flush = flush.merge(leaf);
            }
        }
        flush
    }

    /// The frames mapped at `pages` pages from `base`, for callers that must find them again.
    pub(crate) fn mapped_frame(&self, address: VirtualAddress) -> Option<Pfn> {
        self.translate(address).map(|translation| PhysicalAddress(translation.physical.0).pfn())
    }
}
