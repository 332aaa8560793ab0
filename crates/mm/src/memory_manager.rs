//! The memory manager of one machine: the PFN database, the page tables of the system address
//! space, the system VA window and the registry of live mappings, over a [`Platform`].

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use crate::address::Pfn;
use crate::address::{PhysicalAddress, VirtualAddress};
use crate::bug_check::BugCheck;
use crate::io_space::IoMappingRecord;
use crate::irql::Irql;
use crate::memory_map::MemoryMap;
use crate::page_table::{PageTableError, PageTables, TlbFlush, Translation};
use crate::pfn_database::PfnDatabase;
use crate::platform::Platform;
use crate::system_va::{SystemVaError, SystemVaSpace};

/// How a machine's memory manager is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmConfig {
    /// Start of the system VA window (1 GiB-aligned).
    pub system_va_base: VirtualAddress,
    /// Size of the system VA window in bytes.
    pub system_va_bytes: u64,
    /// Existing page tables to adopt (metal: CR3), or `None` to build new ones.
    pub page_table_root: Option<Pfn>,
    /// Driver Verifier's rules.
    pub verifier: VerifierOptions,
}

/// Which of Driver Verifier's stricter rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifierOptions {
    /// `MmUnmapIoSpace` above `APC_LEVEL` is 0xC4/0x7B (Verifier's rule) rather than allowed up
    /// to `DISPATCH_LEVEL` (the DDI page's rule). On by default: the hosted machine is a
    /// verifier machine. See contract §15, discrepancy 1.
    pub unmap_io_space_at_most_apc: bool,
    /// Any use of the obsolete `MmMapLockedPages` is 0xC4/0x81.
    pub report_obsolete_routines: bool,
    /// `MmMapLockedPagesSpecifyCache` with `BugCheckOnFailure = TRUE` is 0xC4/0x82.
    pub report_bug_check_on_failure: bool,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            unmap_io_space_at_most_apc: true,
            report_obsolete_routines: true,
            report_bug_check_on_failure: true,
        }
    }
}

/// Why a memory manager could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmInitError {
    /// The system VA window is unusable.
    SystemVa(SystemVaError),
    /// No frame for the top-level page table.
    PageTables(PageTableError),
}

impl fmt::Display for MmInitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SystemVa(error) => write!(f, "system VA window: {error}"),
            Self::PageTables(error) => write!(f, "page tables: {error}"),
        }
    }
}

impl core::error::Error for MmInitError {}

/// The memory manager of one machine.
pub struct MemoryManager {
    pub(crate) platform: Arc<dyn Platform>,
    pub(crate) memory_map: MemoryMap,
    pub(crate) pfns: PfnDatabase,
    pub(crate) page_tables: PageTables,
    pub(crate) system_va: SystemVaSpace,
    pub(crate) io_mappings: crate::io_mapping_registry::IoMappingRegistry,
    pub(crate) reservations: crate::reserved_mapping::Reservations,
    pub(crate) mdl_mappings: crate::mdl_mapping::MdlMappings,
    pub(crate) pages_for_mdl: crate::pages_for_mdl::PagesForMdl,
    pub(crate) verifier_log: crate::verifier::VerifierLog,
    pub(crate) pool: crate::pool::Pool,
    pub(crate) contiguous: crate::contiguous::ContiguousAllocations,
    pub(crate) locked_mdls: crate::locked_pages::LockedMdls,
    pub(crate) owners: crate::ownership::OwnerAllocator,
    pub(crate) config: MmConfig,
}

impl fmt::Debug for MemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryManager")
            .field("memory_map", &self.memory_map)
            .field("page_tables", &self.page_tables)
            .field("system_va", &self.system_va)
            .finish_non_exhaustive()
    }
}

impl MemoryManager {
    /// Builds the memory manager of a machine whose physical memory is described by `map`.
    pub fn new(platform: Arc<dyn Platform>, map: MemoryMap, config: MmConfig) -> Result<Self, MmInitError> {
        let system_va = SystemVaSpace::new(config.system_va_base, config.system_va_bytes)
            .map_err(MmInitError::SystemVa)?;
        let pfns = PfnDatabase::new(&map);
        let page_tables = match config.page_table_root {
            Some(root) => PageTables::from_root(root),
            None => PageTables::new(platform.physical_memory(), &pfns).map_err(MmInitError::PageTables)?,
        };
        Ok(Self {
            platform,
            memory_map: map,
            pfns,
            page_tables,
            system_va,
            io_mappings: Default::default(),
            reservations: Default::default(),
            mdl_mappings: Default::default(),
            pages_for_mdl: Default::default(),
            verifier_log: Default::default(),
            pool: crate::pool::Pool::default(),
            contiguous: crate::contiguous::ContiguousAllocations::default(),
            locked_mdls: Default::default(),
            owners: Default::default(),
            config,
        })
    }

    /// The physical memory map.
    pub fn memory_map(&self) -> &MemoryMap {
        &self.memory_map
    }

    /// The PFN database.
    pub fn pfn_database(&self) -> &PfnDatabase {
        &self.pfns
    }

    /// The page tables of the system address space.
    pub fn page_tables(&self) -> &PageTables {
        &self.page_tables
    }

    /// The system VA window.
    pub fn system_va(&self) -> &SystemVaSpace {
        &self.system_va
    }

    /// The platform.
    pub fn platform(&self) -> &dyn Platform {
        &*self.platform
    }

    /// The configuration the machine was built with.
    pub fn config(&self) -> &MmConfig {
        &self.config
    }

    /// The current CPU's IRQL.
    pub fn current_irql(&self) -> Irql {
        self.platform.current_irql()
    }

    /// The leaf that maps `address`, by a walk of the page tables.
    pub fn translate(&self, address: VirtualAddress) -> Option<Translation> {
        self.page_tables.translate(self.platform.physical_memory(), address)
    }

    /// `MmGetPhysicalAddress`: the physical address `address` maps, or `None` if no valid
    /// translation exists (the facade returns 0 then).
    ///
    /// # IRQL
    /// Any, provided the address is valid.
    pub fn physical_address(&self, address: VirtualAddress) -> Option<PhysicalAddress> {
        self.translate(address).map(|translation| translation.physical)
    }

    /// `MmIsAddressValid`: whether a read of `address` would not fault right now.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn is_address_valid(&self, address: VirtualAddress) -> bool {
        self.translate(address).is_some()
    }

    /// Hands a finished operation's TLB work to the platform.
    pub(crate) fn flush(&self, flush: TlbFlush) {
        if flush.is_empty() {
            flush.ignore();
        } else {
            self.platform.flush(&self.page_tables, flush);
        }
    }

    /// Stops the machine with `code` and its parameters, naming the call site.
    pub fn bug_check(&self, code: u32, parameters: [u64; 4], location: &'static Location<'static>) -> ! {
        self.platform.bug_check(BugCheck::new(code, parameters, location))
    }

    /// What the verifier refused without stopping the machine.
    pub fn verifier_log(&self) -> &crate::verifier::VerifierLog {
        &self.verifier_log
    }

    /// Live I/O-space mappings, by address.
    pub fn io_mappings(&self) -> Vec<IoMappingRecord> {
        self.io_mappings.list()
    }
}
