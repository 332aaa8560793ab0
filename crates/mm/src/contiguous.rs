//! Contiguous and non-cached memory (placeholder; being written).

/// Live contiguous and non-cached allocations.
#[derive(Debug, Default)]
pub struct ContiguousAllocations {}
