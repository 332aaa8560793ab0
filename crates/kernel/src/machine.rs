//! The metal machine: what boot found (memory map, PCI functions, CPU features) and the memory
//! manager built over it, with the HAL's device access and bus translator.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use iospace_hal::translation::{BusTranslator, InvalidWindow};
use iospace_mm::address::{PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::memory_manager::{MemoryManager, MmConfig, MmInitError, VerifierOptions};
use iospace_mm::memory_map::MemoryMapError;
use iospace_mm::page_table::PageTableError;
use iospace_mm::pfn_database::PfnError;
use iospace_pnp::pci_enumeration::{self, PciDevice};

use crate::direct_map::{DirectMap, DirectMapLeaves};
use crate::io_access::MetalIo;
use crate::pat::PatError;
use crate::pci::ConfigPorts;
use crate::platform::MetalPlatform;
use crate::start_info::StartInfoError;
use iospace_drivers::run_report::RunReport;

/// The system VA window: 64 GiB at the start of PML4 entry 384, far from the direct map.
pub const SYSTEM_VA_BASE: VirtualAddress = VirtualAddress(0xFFFF_C000_0000_0000);
/// Bytes of the system VA window.
pub const SYSTEM_VA_BYTES: u64 = 64 << 30;

/// Why the machine did not boot.
#[derive(Clone, Copy, Debug)]
pub enum BootError {
    /// The PVH start info is unusable.
    StartInfo(StartInfoError),
    /// The CPU's PAT could not be programmed.
    Pat(PatError),
    /// The firmware's memory map and the BARs do not make a valid map.
    MemoryMap(MemoryMapError),
    /// The memory manager could not start.
    MemoryManager(MmInitError),
    /// The kernel's own frames could not be reserved.
    Reserve(PfnError),
    /// The direct map could not be written.
    DirectMap(PageTableError),
    /// The bus translator is invalid.
    Translator(InvalidWindow),
}

impl fmt::Display for BootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StartInfo(error) => write!(f, "start info: {error}"),
            Self::Pat(error) => write!(f, "PAT: {error:?}"),
            Self::MemoryMap(error) => write!(f, "memory map: {error}"),
            Self::MemoryManager(error) => write!(f, "memory manager: {error}"),
            Self::Reserve(error) => write!(f, "reserving the kernel image: {error}"),
            Self::DirectMap(error) => write!(f, "direct map: {error:?}"),
            Self::Translator(error) => write!(f, "bus translator: {error:?}"),
        }
    }
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// The booted machine.
pub struct Machine {
    /// The platform the memory manager runs on.
    pub platform: Arc<MetalPlatform>,
    /// The memory manager of the kernel's address space.
    pub mm: MemoryManager,
    /// Device access for the HAL.
    pub io: MetalIo,
    /// PCI configuration space.
    pub config: ConfigPorts,
    /// Bus-relative to CPU translation (x86 personality).
    pub translator: BusTranslator,
    /// Every PCI function found at boot, with the BARs the firmware assigned.
    pub functions: Vec<PciDevice>,
    /// `IA32_PAT` at power-on, before the kernel programmed it.
    pub power_on_pat: u64,
    /// Leaves of the direct map.
    pub direct_map_leaves: DirectMapLeaves,
    /// The kernel image and heap, `[start, end)` physical.
    pub image: (u64, u64),
    /// The kernel command line.
    pub command_line: alloc::string::String,
}

impl fmt::Debug for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("mm", &self.mm)
            .field("functions", &self.functions)
            .finish_non_exhaustive()
    }
}

impl Machine {
    /// Boots the machine from the PVH start info at `start_info`.
    ///
    /// # Safety
    /// `start_info` is the PVH entry's `EBX`, still identity-mapped and untouched.
    pub unsafe fn boot(start_info: u64) -> Result<Self, BootError> {
        let power_on_pat = crate::pat::program().map_err(BootError::Pat)?;
        // SAFETY: the caller's contract.
        let boot_info = unsafe { crate::start_info::read(start_info) }.map_err(BootError::StartInfo)?;
        let config = ConfigPorts::default();
        let functions = pci_enumeration::scan(&config);
        // Device memory: what the host bridge decodes, and every memory BAR the firmware placed.
        let windows = [crate::plug_and_play::PCI_WINDOW_32, crate::plug_and_play::PCI_WINDOW_64];
        let bars =
            functions.iter().flat_map(|function| function.bars.iter()).filter(|bar| bar.kind.is_memory());
        let device_ranges: Vec<(u64, u64)> = windows
            .iter()
            .map(|&(start, bytes)| (start, start + bytes))
            .chain(bars.map(|bar| (bar.base.0, bar.base.0 + bar.size)))
            .collect();
        let map =
            crate::start_info::memory_map(&boot_info.memory, &device_ranges).map_err(BootError::MemoryMap)?;

        let huge_pages = crate::cpu::has_huge_pages();
        let platform = Arc::new(MetalPlatform::new(DirectMap::new(&map), huge_pages));
        let root = PhysicalAddress(crate::cpu::read_cr3() & iospace_mm::page_table::PTE_ADDRESS_MASK).pfn();
        let mm_config = MmConfig {
            system_va_base: SYSTEM_VA_BASE,
            system_va_bytes: SYSTEM_VA_BYTES,
            page_table_root: Some(root),
            verifier: VerifierOptions::default(),
        };
        let mm = MemoryManager::new(platform.clone(), map, mm_config).map_err(BootError::MemoryManager)?;
        let image = (&raw const __kernel_start as u64, &raw const __kernel_end as u64);
        let first = PhysicalAddress(image.0).pfn();
        let frames = (image.1 - image.0).div_ceil(PAGE_SIZE);
        mm.pfn_database().reserve(first, frames).map_err(BootError::Reserve)?;
        let direct_map_leaves =
            crate::direct_map::build(&mm, platform.direct_map(), huge_pages).map_err(BootError::DirectMap)?;
        let translator = crate::plug_and_play::bus_translator().map_err(BootError::Translator)?;
        Ok(Self {
            platform,
            mm,
            io: MetalIo,
            config,
            translator,
            functions,
            power_on_pat,
            direct_map_leaves,
            image,
            command_line: boot_info.command_line,
        })
    }

    /// Runs the self-tests, then the Plug and Play session (the reference drivers), and
    /// reports.
    pub fn run(&self) -> RunReport {
        let mut report = crate::report::new(self);
        // The self-tests use the BARs as the firmware left them; the session moves edu.
        crate::self_tests::run(self, &mut report);
        report.session = crate::plug_and_play::run(self);
        crate::report::finish(&mut report, &self.mm);
        report
    }

    /// The first function with `vendor:device`.
    pub fn function(&self, vendor: u16, device: u16) -> Option<&PciDevice> {
        self.functions.iter().find(|function| function.vendor_id == vendor && function.device_id == device)
    }
}
