//! The benchmark suite behind `iospace bench`: each workload of the memory manager, the HAL and
//! the hosted machine, measured in one process together with its baselines (the physical limit
//! of the work, and peer designs doing the same work), printed as a table or as one JSON object
//! per workload.
//!
//! The memory-manager workloads run on [`emulated_machine`]: the core's real-format page tables
//! in emulated physical memory. The limit baselines ([`limit`]) use the core's own page-table
//! primitives on the same tables and the same platform flush, so a ratio to the limit is the
//! core's overhead. Heap allocations are counted by [`CountingAllocator`], which the `iospace`
//! binary installs as its global allocator.

pub mod bitmap_peer;
pub mod counting_allocator;
pub mod emulated_machine;
pub mod free_list_peer;
pub mod hosted_machine;
pub mod io_space;
pub mod json;
pub mod large_bar;
pub mod limit;
pub mod measure;
pub mod parallel;
pub mod ram_alias;
pub mod register_read;
pub mod report;
pub mod reserved;
pub mod suite;
pub mod va_churn;

pub use counting_allocator::CountingAllocator;
pub use report::{WorkloadReport, table};
pub use suite::{Options, WORKLOADS, WorkloadError, run};
