//! Non-paged pool (placeholder; being written).

/// The pool of one machine.
#[derive(Debug, Default)]
pub struct Pool {}
