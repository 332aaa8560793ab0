//! The hosted implementation of the core's [`Platform`]: memfd RAM, the mapped window, per-thread
//! IRQL, and bug checks that print a STOP line and end the process (or reach a test's hook).

use std::cell::Cell;
use std::io::Write;
use std::sync::{Arc, RwLock};

use iospace_mm::bug_check::BugCheck;
use iospace_mm::irql::Irql;
use iospace_mm::ownership::OwnerId;
use iospace_mm::page_table::{PageTables, TlbFlush};
use iospace_mm::physical_memory::PhysicalMemory;
use iospace_mm::platform::Platform;

use crate::ram::Ram;
use crate::translation_cache::TranslationCache;
use crate::window::Window;

/// Receives every bug check before the machine stops. It may unwind (a Rust test) or jump
/// (a C test) out; if it returns, the STOP line is printed and the process exits.
pub type BugCheckHook = Arc<dyn Fn(&BugCheck) + Send + Sync>;

thread_local! {
    /// Each host thread is a CPU of its own, with its own IRQL.
    static CURRENT_IRQL: Cell<Irql> = const { Cell::new(Irql::PASSIVE) };
    /// The device whose driver this thread is running, for the verifier's ownership records.
    static CURRENT_OWNER: Cell<OwnerId> = const { Cell::new(OwnerId::NONE) };
    /// Nesting depth of `catch_bug_check` on this thread.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
}

/// The hosted platform of one machine.
pub struct HostedPlatform {
    ram: Ram,
    window: Window,
    huge_pages: bool,
    hook: RwLock<Option<BugCheckHook>>,
    translations: TranslationCache,
}

impl std::fmt::Debug for HostedPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostedPlatform").field("ram", &self.ram).field("window", &self.window).finish()
    }
}

impl HostedPlatform {
    /// A platform over `ram` with the system VA window `window`.
    pub fn new(ram: Ram, window: Window, huge_pages: bool) -> Self {
        Self { ram, window, huge_pages, hook: RwLock::new(None), translations: TranslationCache::default() }
    }

    /// The machine's RAM.
    pub fn ram(&self) -> &Ram {
        &self.ram
    }

    /// The system VA window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// The register routines' per-thread translation cache, which every flush invalidates.
    pub fn translations(&self) -> &TranslationCache {
        &self.translations
    }

    /// Installs (or with `None` removes) the bug-check hook.
    pub fn set_bug_check_hook(&self, hook: Option<BugCheckHook>) {
        *self.hook.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = hook;
    }
}

/// Runs `body`; a bug check raised on this thread inside it comes back as `Err` instead of
/// stopping the process. The machine stays usable afterwards: the core raises bug checks only
/// once its state is consistent.
pub fn catch_bug_check<R>(body: impl FnOnce() -> R) -> Result<R, BugCheck> {
    CATCHING.with(|depth| depth.set(depth.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    CATCHING.with(|depth| depth.set(depth.get() - 1));
    match result {
        Ok(value) => Ok(value),
        Err(payload) => match payload.downcast::<BugCheck>() {
            Ok(bug_check) => Err(*bug_check),
            Err(other) => std::panic::resume_unwind(other),
        },
    }
}

impl Platform for HostedPlatform {
    fn physical_memory(&self) -> &dyn PhysicalMemory {
        &self.ram
    }

    fn flush(&self, tables: &PageTables, flush: TlbFlush) {
        let (start, bytes) = flush.range();
        self.translations.invalidate();
        self.window.sync(&self.ram, tables, start, bytes);
    }

    fn current_irql(&self) -> Irql {
        CURRENT_IRQL.with(Cell::get)
    }

    fn set_current_irql(&self, irql: Irql) {
        CURRENT_IRQL.with(|current| current.set(irql));
    }

    fn current_owner(&self) -> OwnerId {
        CURRENT_OWNER.with(Cell::get)
    }

    fn set_current_owner(&self, owner: OwnerId) {
        CURRENT_OWNER.with(|current| current.set(owner));
    }

    fn supports_huge_pages(&self) -> bool {
        self.huge_pages
    }

    fn bug_check(&self, bug_check: BugCheck) -> ! {
        if CATCHING.with(Cell::get) > 0 {
            // `resume_unwind` skips the panic hook: a caught bug check prints nothing.
            std::panic::resume_unwind(Box::new(bug_check));
        }
        let hook = self.hook.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        if let Some(hook) = hook {
            hook(&bug_check);
        }
        let _ = writeln!(std::io::stderr(), "{bug_check}");
        std::process::exit(1)
    }
}
