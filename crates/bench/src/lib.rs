//! The benchmark suite behind `iospace bench`.
