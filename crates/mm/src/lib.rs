//! The iospace memory manager.
//!
//! It owns physical pages (the PFN database), the x86-64 page tables of the system address
//! space, the system VA space from which mappings are carved, and the mappings themselves. It
//! knows nothing of the platform it runs on: a [`Platform`] hands it physical memory, flushes
//! translations and receives bug checks.
//!
//! The safe API (RAII mapping handles, typed cache policy, one error enum per operation) is in
//! the modules below; [`nt`] is the thin NT-named facade that turns errors into what Windows
//! does: NULL, an NTSTATUS or a bug check.
#![no_std]

extern crate alloc;

pub mod address;
pub mod bug_check;
pub mod caching;
pub mod contiguous;
pub mod emulated;
pub mod emulated_platform;
mod io_mapping_registry;
pub mod io_space;
pub mod irql;
pub mod locked_pages;
pub mod mdl;
pub mod mdl_mapping;
pub mod memory_manager;
pub mod memory_map;
pub mod nt;
pub mod nt_mdl;
pub mod ownership;
pub mod page_table;
pub mod pages_for_mdl;
pub mod pat;
pub mod pfn_database;
pub mod physical_memory;
pub mod platform;
pub mod pool;
pub mod protection;
pub mod range_allocator;
pub mod reserved_mapping;
pub mod segregated_fit;
pub mod system_mapping;
pub mod system_va;
pub mod verifier;
