//! What the memory manager needs from the platform it runs on.
//!
//! The hosted machine (a Linux process) and metal (a booted kernel) each implement this trait
//! once. The core calls nothing else of theirs.

use crate::bug_check::BugCheck;
use crate::irql::Irql;
use crate::ownership::OwnerId;
use crate::page_table::{PageTables, TlbFlush};
use crate::physical_memory::PhysicalMemory;

/// A platform the memory manager runs on.
pub trait Platform: Send + Sync {
    /// Physical RAM, where page tables and other frames are read and written.
    fn physical_memory(&self) -> &dyn PhysicalMemory;

    /// Makes the CPU's view of `flush`'s range match `tables` again. On metal this invalidates
    /// the pages touched (`invlpg`); on the hosted machine it remaps the window to match the
    /// leaf entries. Never a full TLB flush, never a cache flush.
    fn flush(&self, tables: &PageTables, flush: TlbFlush);

    /// The IRQL of the current CPU (hosted: the current thread).
    fn current_irql(&self) -> Irql;

    /// Sets the IRQL of the current CPU. Rules about raising and lowering are the caller's.
    fn set_current_irql(&self, irql: Irql);

    /// Whether the CPU can map 1 GiB pages (`CPUID.80000001H:EDX.Page1GB`).
    fn supports_huge_pages(&self) -> bool;

    /// The owner the current CPU works for (hosted: the current thread): the device whose driver
    /// the PnP manager is calling, recorded in every mapping, lock and reservation made meanwhile
    /// (see [`ownership`](crate::ownership)). The default keeps no owner and says
    /// [`OwnerId::NONE`]; a platform that runs drivers under the PnP manager overrides both
    /// this and [`set_current_owner`](Self::set_current_owner) with per-CPU (or per-thread)
    /// storage.
    fn current_owner(&self) -> OwnerId {
        OwnerId::NONE
    }

    /// Makes `owner` the current CPU's owner until the next call. The default forgets it.
    fn set_current_owner(&self, owner: OwnerId) {
        let _ = owner;
    }

    /// A number for the current CPU (hosted: the current thread), so that per-CPU caches are
    /// not shared by CPUs running at once. Any number is correct: CPUs with one number only
    /// share a cache. The default says 0 for every CPU.
    fn current_processor(&self) -> usize {
        0
    }

    /// Stops the machine with `bug_check`. Never returns; a test platform may unwind out of it.
    fn bug_check(&self, bug_check: BugCheck) -> !;
}
