//! The metal implementation of the core's [`Platform`]: RAM through the direct map, `invlpg`
//! for flushes, one CPU's IRQL and current owner, and bug checks that stop the machine.

use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

use iospace_mm::bug_check::BugCheck;
use iospace_mm::irql::Irql;
use iospace_mm::ownership::OwnerId;
use iospace_mm::page_table::{PageTables, TlbFlush};
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::platform::Platform;

use crate::direct_map::DirectMap;
use crate::tlb::invalidate_range;

/// The platform of the one CPU the kernel runs on.
#[derive(Debug)]
pub struct MetalPlatform {
    memory: DirectMap,
    huge_pages: bool,
    irql: AtomicU8,
    owner: AtomicU32,
    invalidations: AtomicU64,
}

impl MetalPlatform {
    /// A platform over `memory`; `huge_pages` says whether the CPU maps 1 GiB pages.
    pub fn new(memory: DirectMap, huge_pages: bool) -> Self {
        Self {
            memory,
            huge_pages,
            irql: AtomicU8::new(0),
            owner: AtomicU32::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// The direct map.
    pub fn direct_map(&self) -> &DirectMap {
        &self.memory
    }

    /// `invlpg`s run by flushes so far.
    pub fn invalidations(&self) -> u64 {
        self.invalidations.load(Ordering::Relaxed)
    }
}

impl Platform for MetalPlatform {
    fn physical_memory(&self) -> &dyn PhysicalMemory {
        &self.memory
    }

    fn flush(&self, tables: &PageTables, flush: TlbFlush) {
        let (start, bytes) = flush.range();
        let count = invalidate_range(&self.memory, tables, start, bytes);
        self.invalidations.fetch_add(count, Ordering::Relaxed);
    }

    fn current_irql(&self) -> Irql {
        Irql(self.irql.load(Ordering::Relaxed))
    }

    fn set_current_irql(&self, irql: Irql) {
        self.irql.store(irql.0, Ordering::Relaxed);
    }

    fn supports_huge_pages(&self) -> bool {
        self.huge_pages
    }

    fn current_owner(&self) -> OwnerId {
        OwnerId(self.owner.load(Ordering::Relaxed))
    }

    fn set_current_owner(&self, owner: OwnerId) {
        self.owner.store(owner.0, Ordering::Relaxed);
    }

    fn bug_check(&self, bug_check: BugCheck) -> ! {
        crate::stop::bug_check(&bug_check)
    }
}
