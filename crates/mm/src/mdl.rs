//! The MDL (placeholder; being written).
