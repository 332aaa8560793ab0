//! The verifier's log: misuse the memory manager refused without stopping the machine.
//!
//! Windows leaves some mistakes undefined rather than bug-checking; iospace refuses them and
//! records why here, with the caller's location, so a test or a report can show them.

use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use crate::pfn_database::CacheConflict;

/// What was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiagnosticKind {
    /// A mapping would have given a page a second memory type (contract claim 71).
    CacheConflict(CacheConflict),
}

/// One refused request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What was refused.
    pub kind: DiagnosticKind,
    /// The call that asked.
    pub location: &'static Location<'static>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DiagnosticKind::CacheConflict(conflict) => write!(f, "{conflict}")?,
        }
        write!(f, " (at {}:{})", self.location.file(), self.location.line())
    }
}

/// The log.
#[derive(Debug, Default)]
pub struct VerifierLog {
    entries: spin::Mutex<Vec<Diagnostic>>,
}

impl VerifierLog {
    /// Records `diagnostic`.
    pub fn record(&self, diagnostic: Diagnostic) {
        self.entries.lock().push(diagnostic);
    }

    /// Everything recorded so far.
    pub fn entries(&self) -> Vec<Diagnostic> {
        self.entries.lock().clone()
    }
}
