//! Test doubles: a memory manager over emulated RAM whose bug checks unwind, and an
//! [`IoAccess`] that records every access in order.

extern crate std;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use std::sync::Mutex;

use iospace_mm::address::VirtualAddress;
use iospace_mm::bug_check::BugCheck;
use iospace_mm::emulated_platform::{EmulatedPlatform, emulated_memory_manager};
use iospace_mm::memory_manager::MemoryManager;

use crate::access::{AccessFault, IoAccess, Width};

/// Frames of emulated RAM (from frame 0): enough for the page tables of a few mappings.
const RAM_FRAMES: u64 = 256;

/// Bug checks unwind with the [`BugCheck`] as payload; `resume_unwind` skips the panic hook,
/// so a caught bug check prints nothing.
fn unwind(bug_check: BugCheck) -> ! {
    std::panic::resume_unwind(Box::new(bug_check))
}

/// A memory manager over emulated RAM, with device memory where the tests put registers.
pub(crate) struct TestMachine {
    mm: MemoryManager,
}

impl TestMachine {
    pub(crate) fn new() -> Self {
        let platform = Arc::new(EmulatedPlatform::new(RAM_FRAMES, unwind));
        Self { mm: emulated_memory_manager(platform, RAM_FRAMES) }
    }

    pub(crate) fn mm(&self) -> &MemoryManager {
        &self.mm
    }
}

/// Runs `f`, which must raise a bug check, and returns it.
pub(crate) fn catch_bug_check<R>(f: impl FnOnce() -> R) -> BugCheck {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a bug check"),
        Err(payload) => match payload.downcast::<BugCheck>() {
            Ok(bug_check) => *bug_check,
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

/// One access as the device side saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A register load; `address` is the VA, or the physical address when resolving through
    /// page tables.
    Read { address: u64, width: Width },
    /// A register store.
    Write { address: u64, width: Width, value: u64 },
    /// An `in`.
    PortRead { port: u16, width: Width },
    /// An `out`.
    PortWrite { port: u16, width: Width, value: u32 },
    /// A full barrier.
    Barrier,
}

/// How [`RecordingIo`] decides whether a VA is mapped.
enum Resolver<'a> {
    /// Everything is mapped and writable except the listed `(start, bytes, writable)` ranges,
    /// which are unmapped (`writable == None`) or read-only.
    Flat(Vec<(u64, u64, Option<bool>)>),
    /// Through the memory manager's page tables, recording physical addresses.
    PageTables(&'a MemoryManager),
}

/// An [`IoAccess`] that records every access. A register reads as the low bits of the address
/// it was read at; the n-th read of a port returns n (a FIFO that counts).
pub(crate) struct RecordingIo<'a> {
    resolver: Resolver<'a>,
    log: Mutex<Vec<Access>>,
    port_reads: Mutex<BTreeMap<u16, u32>>,
}

impl<'a> RecordingIo<'a> {
    pub(crate) fn new() -> Self {
        Self::with(Resolver::Flat(Vec::new()))
    }

    pub(crate) fn through_page_tables(mm: &'a MemoryManager) -> Self {
        Self::with(Resolver::PageTables(mm))
    }

    fn with(resolver: Resolver<'a>) -> Self {
        Self { resolver, log: Mutex::new(Vec::new()), port_reads: Mutex::new(BTreeMap::new()) }
    }

    /// Makes `[start, start + bytes)` unmapped.
    pub(crate) fn unmapped(mut self, start: u64, bytes: u64) -> Self {
        if let Resolver::Flat(ranges) = &mut self.resolver {
            ranges.push((start, bytes, None));
        }
        self
    }

    /// Makes `[start, start + bytes)` read-only.
    pub(crate) fn read_only(mut self, start: u64, bytes: u64) -> Self {
        if let Resolver::Flat(ranges) = &mut self.resolver {
            ranges.push((start, bytes, Some(false)));
        }
        self
    }

    pub(crate) fn log(&self) -> Vec<Access> {
        self.log.lock().unwrap().clone()
    }

    /// The address the device sees and whether it may be written.
    fn resolve(&self, address: VirtualAddress) -> Result<(u64, bool), AccessFault> {
        match &self.resolver {
            Resolver::Flat(ranges) => {
                let special = ranges.iter().find(|(start, bytes, _)| address.0.wrapping_sub(*start) < *bytes);
                match special {
                    Some((_, _, None)) => Err(AccessFault::NotMapped(address)),
                    Some((_, _, Some(writable))) => Ok((address.0, *writable)),
                    None => Ok((address.0, true)),
                }
            }
            Resolver::PageTables(mm) => {
                let translation = mm.translate(address).ok_or(AccessFault::NotMapped(address))?;
                Ok((translation.physical.0, translation.attributes.writable))
            }
        }
    }

    fn record(&self, access: Access) {
        self.log.lock().unwrap().push(access);
    }
}

impl IoAccess for RecordingIo<'_> {
    fn read_register(&self, address: VirtualAddress, width: Width) -> Result<u64, AccessFault> {
        let (device_address, _) = self.resolve(address)?;
        self.record(Access::Read { address: device_address, width });
        Ok(device_address & width.mask())
    }

    fn write_register(&self, address: VirtualAddress, width: Width, value: u64) -> Result<(), AccessFault> {
        let (device_address, writable) = self.resolve(address)?;
        if !writable {
            return Err(AccessFault::ReadOnly(address));
        }
        self.record(Access::Write { address: device_address, width, value });
        Ok(())
    }

    fn read_port(&self, port: u16, width: Width) -> u32 {
        self.record(Access::PortRead { port, width });
        let mut reads = self.port_reads.lock().unwrap();
        let count = reads.entry(port).or_insert(0);
        *count += 1;
        *count & width.mask() as u32
    }

    fn write_port(&self, port: u16, width: Width, value: u32) {
        self.record(Access::PortWrite { port, width, value });
    }

    fn memory_barrier(&self) {
        self.record(Access::Barrier);
    }
}
