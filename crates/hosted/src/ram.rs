//! The machine's RAM: a memfd whose file offset is the physical address.
//!
//! The whole file is mapped once into the process (the "direct map") so the core can reach any
//! frame; the system VA window maps the same file again at the frames' offsets, so two mappings
//! of one page really alias.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use iospace_mm::address::{PAGE_SIZE, Pfn};
use iospace_mm::memory_map::MemoryMap;
use iospace_mm::physical_memory::{FrameBytes, PhysicalMemory};
use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// Simulated physical RAM.
#[derive(Debug)]
pub struct Ram {
    file: OwnedFd,
    direct_map: NonNull<u8>,
    file_bytes: u64,
    /// RAM frame ranges `[first, end)`, sorted.
    frames: Vec<(u64, u64)>,
}

// SAFETY: the direct map is a shared mapping owned by this value and never remapped; every
// access through it goes through `PhysicalMemory`, whose users synchronise with atomics or own
// the frames they touch.
unsafe impl Send for Ram {}
// SAFETY: as for `Send`: `&Ram` only hands out pointers, never references to shared bytes.
unsafe impl Sync for Ram {}

impl Ram {
    /// A memfd large enough for every RAM region of `map`, mapped whole. The file is sparse, so
    /// holes below the highest RAM byte cost nothing.
    pub fn new(map: &MemoryMap) -> std::io::Result<Self> {
        let file_bytes = map.ram_end();
        let file = memfd_create("iospace-ram", MemfdFlags::CLOEXEC)?;
        ftruncate(&file, file_bytes)?;
        // SAFETY: a fresh shared mapping chosen by the kernel overlaps nothing of ours.
        let base = unsafe {
            mmap(
                std::ptr::null_mut(),
                file_bytes as usize,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::NORESERVE,
                &file,
                0,
            )?
        };
        let direct_map = NonNull::new(base.cast::<u8>()).ok_or(std::io::ErrorKind::OutOfMemory)?;
        let frames = map.ram().map(|r| (r.start.pfn().0, r.start.pfn().0 + r.bytes / PAGE_SIZE)).collect();
        Ok(Self { file, direct_map, file_bytes, frames })
    }

    /// The memfd, for mapping frames into the window.
    pub fn file(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }

    /// Whether `pfn` is a RAM frame.
    pub fn is_ram(&self, pfn: Pfn) -> bool {
        let index = self.frames.partition_point(|&(first, _)| first <= pfn.0);
        index.checked_sub(1).is_some_and(|i| pfn.0 < self.frames[i].1)
    }
}

// SAFETY: frames of RAM regions lie inside the file (regions end at or below `ram_end`), so
// the pointer is inside the direct map, which is 4096-aligned (mmap returns page-aligned
// addresses), readable and writable, and lives until `Ram` is dropped.
unsafe impl PhysicalMemory for Ram {
    fn frame(&self, pfn: Pfn) -> Option<NonNull<FrameBytes>> {
        if !self.is_ram(pfn) {
            return None;
        }
        // SAFETY: `pfn * PAGE_SIZE < file_bytes` because `pfn` is in a RAM region.
        Some(unsafe { self.direct_map.add((pfn.0 * PAGE_SIZE) as usize) }.cast())
    }
}

impl Drop for Ram {
    fn drop(&mut self) {
        // SAFETY: the direct map was created by `new` with this length and nothing else
        // refers to it once `Ram` is gone (the machine drops users first).
        let _ = unsafe { munmap(self.direct_map.as_ptr().cast(), self.file_bytes as usize) };
    }
}
