//! What a driver did, step by step: the lines of the report under each device.
//!
//! A [`Journal`] is a shared handle: the driver records into it while the PnP manager owns the
//! driver, and whoever created the driver reads it afterwards.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

/// One thing a driver did or checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What was done ("identification", "DMA round trip").
    pub action: String,
    /// Whether it did what the hardware documents.
    pub passed: bool,
    /// What was observed.
    pub detail: String,
}

/// A shared, append-only list of [`Step`]s.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    steps: Rc<RefCell<Vec<Step>>>,
}

impl Journal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a check.
    pub fn check(&self, action: impl Into<String>, passed: bool, detail: impl Into<String>) {
        self.steps.borrow_mut().push(Step { action: action.into(), passed, detail: detail.into() });
    }

    /// Records something that happened (always "passed").
    pub fn note(&self, action: impl Into<String>, detail: impl Into<String>) {
        self.check(action, true, detail);
    }

    /// Every step so far, in order.
    pub fn steps(&self) -> Vec<Step> {
        self.steps.borrow().clone()
    }

    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps.borrow().iter().all(|step| step.passed)
    }
}
