//! The system VA window: one reserved region of the process whose host mappings follow the
//! core's page tables.
//!
//! The host's own mappings play the TLB. A flush re-reads the leaf entries of the range and
//! makes the window match them: RAM leaves become shared mappings of the RAM memfd at the
//! frame's offset (so aliases are real), with the leaf's write and execute rights; device pages
//! and absent pages stay inaccessible, so touching them faults as it would on metal.

use std::ffi::c_void;

use iospace_mm::address::{HUGE_PAGE_SIZE, VirtualAddress};
use iospace_mm::page_table::{LeafAttributes, PageTables};
use rustix::mm::{MapFlags, ProtFlags, mmap, mmap_anonymous, munmap};

use crate::ram::Ram;

/// A reserved, 1 GiB-aligned region of the process.
#[derive(Debug)]
pub struct Window {
    base: VirtualAddress,
    bytes: u64,
}

impl Window {
    /// Reserves `bytes` (a multiple of the page size) of address space with no access.
    pub fn reserve(bytes: u64) -> std::io::Result<Self> {
        let padded = bytes + HUGE_PAGE_SIZE;
        // SAFETY: a fresh inaccessible private mapping chosen by the kernel overlaps nothing.
        let raw = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                padded as usize,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )?
        } as u64;
        let base = raw.next_multiple_of(HUGE_PAGE_SIZE);
        let head = base - raw;
        let tail = padded - head - bytes;
        if head > 0 {
            // SAFETY: the head is part of our own fresh reservation, outside the window.
            unsafe { munmap(raw as *mut c_void, head as usize)? };
        }
        if tail > 0 {
            // SAFETY: the tail is part of our own fresh reservation, outside the window.
            unsafe { munmap((base + bytes) as *mut c_void, tail as usize)? };
        }
        Ok(Self { base: VirtualAddress(base), bytes })
    }

    /// First address of the window.
    pub fn base(&self) -> VirtualAddress {
        self.base
    }

    /// Size of the window in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Makes `[start, start + bytes)` of the window match the leaves of `tables`.
    ///
    /// A RAM leaf is mapped straight over whatever the window held there (a fixed mapping
    /// replaces the old one in the same call); only the stretches between RAM leaves are made
    /// inaccessible. So mapping a page costs one system call, and unmapping it one.
    pub fn sync(&self, ram: &Ram, tables: &PageTables, start: VirtualAddress, bytes: u64) {
        let Some((start, end)) = self.clip(start, bytes) else { return };
        // Below `synced` the window is in step; the walk resumes at `scan`.
        let (mut synced, mut scan) = (start, start);
        while let Some((leaf_base, leaf)) = tables.next_leaf(ram, VirtualAddress(scan), VirtualAddress(end)) {
            let first = leaf_base.0.max(scan);
            let last = (leaf_base.0 + leaf.size.bytes()).min(end);
            if ram.is_ram(leaf.frame_base.pfn()) {
                if first > synced {
                    self.revoke(synced, first - synced);
                }
                self.map_ram(
                    ram,
                    first,
                    last - first,
                    leaf.frame_base.0 + (first - leaf_base.0),
                    leaf.attributes,
                );
                synced = last;
            }
            scan = last;
        }
        if end > synced {
            self.revoke(synced, end - synced);
        }
    }

    /// Maps `bytes` of the window at `address` to the RAM file at `offset` with the leaf's rights.
    fn map_ram(&self, ram: &Ram, address: u64, bytes: u64, offset: u64, attributes: LeafAttributes) {
        let mut protection = ProtFlags::READ;
        if attributes.writable {
            protection |= ProtFlags::WRITE;
        }
        if attributes.executable {
            protection |= ProtFlags::EXEC;
        }
        // SAFETY: the range lies inside the window, which this value owns; replacing a window
        // mapping cannot affect memory outside it.
        let mapped = unsafe {
            mmap(
                address as *mut c_void,
                bytes as usize,
                protection,
                MapFlags::SHARED | MapFlags::FIXED,
                ram.file(),
                offset,
            )
        };
        // Without a host mapping the page stays inaccessible: a fault, not corruption.
        debug_assert!(mapped.is_ok(), "window mapping failed: {mapped:?}");
    }

    fn clip(&self, start: VirtualAddress, bytes: u64) -> Option<(u64, u64)> {
        let window_end = self.base.0 + self.bytes;
        let first = start.0.max(self.base.0);
        let end = start.0.saturating_add(bytes).min(window_end);
        (first < end).then_some((first, end))
    }

    fn revoke(&self, start: u64, bytes: u64) {
        // SAFETY: the range lies inside the window, which this value owns.
        let revoked = unsafe {
            mmap_anonymous(
                start as *mut c_void,
                bytes as usize,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
            )
        };
        debug_assert!(revoked.is_ok(), "window revoke failed: {revoked:?}");
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: the window is ours; nothing refers to it once the machine is gone.
        let _ = unsafe { munmap(self.base.as_ptr(), self.bytes as usize) };
    }
}
