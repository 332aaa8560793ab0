//! A hosted machine: RAM, the system VA window, the memory manager, and the buses with their
//! device models, built from a [`MachineDescription`].
//!
//! Booting does what QEMU's firmware does before an OS runs: the PCI devices are placed at
//! device numbers 1, 2, ... in description order (the host bridge is 00.0), every BAR is given
//! a bus address from the host bridge's windows (see `firmware.rs`), and memory
//! and I/O decoding and bus mastering are enabled.

use std::path::PathBuf;
use std::sync::Arc;

use iospace_devices::edu::Edu;
use iospace_devices::ivshmem::Ivshmem;
use iospace_devices::mmio::AccessWidth;
use iospace_devices::pci::{PciFunction, command, offsets};
use iospace_devices::pci_testdev::PciTestdev;
use iospace_devices::uart16550::Uart16550;
use iospace_hal::translation::BusTranslator;
use iospace_mm::address::{PAGE_SIZE, PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::BugCheck;
use iospace_mm::memory_manager::{MemoryManager, MmConfig, MmInitError, VerifierOptions};
use iospace_mm::physical_memory::PhysicalMemory;

use crate::description::{DescriptionError, DeviceKind, MachineDescription, device_label};
use crate::device_bus::DeviceBus;
use crate::firmware;
use crate::legacy_ports::LegacyPorts;
use crate::pci_bus::PciBus;
use crate::platform::{BugCheckHook, HostedPlatform, catch_bug_check};
use crate::ram::Ram;
use crate::shared_file::{SharedFile, SharedFileError};
use crate::translation_cache::Lookup;
use crate::window::Window;

/// The IRQs firmware routes the PCI interrupt links A..D to, as SeaBIOS does on q35; a
/// function's link is (device + pin - 1) mod 4, and its interrupt line register is set to the
/// link's IRQ.
const PIRQ_IRQS: [u8; 4] = [10, 10, 11, 11];

/// Why a machine did not boot.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The description is inconsistent.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The host refused memory for RAM or the window.
    #[error("host memory: {0}")]
    Host(#[from] std::io::Error),
    /// An ivshmem shared file could not be opened or mapped.
    #[error(transparent)]
    SharedFile(#[from] SharedFileError),
    /// The memory manager could not start.
    #[error("memory manager: {0}")]
    MemoryManager(MmInitError),
}

/// Why a register access through a virtual address was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterAccessError {
    /// No valid translation for the address: on real hardware, a page fault.
    #[error("{0} is not mapped")]
    NotMapped(VirtualAddress),
    /// A write through a read-only mapping.
    #[error("{0} is mapped read-only")]
    ReadOnly(VirtualAddress),
    /// The access is not naturally aligned.
    #[error("{0} is not aligned for the access width")]
    Misaligned(VirtualAddress),
}

/// A whole machine inside this process.
pub struct Machine {
    description: MachineDescription,
    platform: Arc<HostedPlatform>,
    mm: MemoryManager,
    bus: DeviceBus,
    translator: BusTranslator,
    ivshmem_paths: Vec<PathBuf>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine").field("name", &self.description.name).field("bus", &self.bus).finish()
    }
}

impl Machine {
    /// Boots the default machine: q35, 512 MiB, edu, ivshmem-plain, pci-testdev and COM1.
    pub fn boot_default() -> Result<Self, BootError> {
        Self::boot(&MachineDescription::default())
    }

    /// Boots the machine `description` describes.
    pub fn boot(description: &MachineDescription) -> Result<Self, BootError> {
        description.validate()?;
        let map = description.memory_map()?;
        let translator = description.translator()?;
        let ram = Ram::new(&map)?;
        let window = Window::reserve(description.system_va_mib << 20)?;
        let config = MmConfig {
            system_va_base: window.base(),
            system_va_bytes: window.bytes(),
            page_table_root: None,
            verifier: VerifierOptions::from(description.verifier),
        };
        let platform = Arc::new(HostedPlatform::new(ram, window, description.huge_pages));
        let mm = MemoryManager::new(platform.clone(), map, config).map_err(BootError::MemoryManager)?;

        let mut pci = PciBus::new();
        let mut legacy = LegacyPorts::default();
        let mut ivshmem_paths = Vec::new();
        let mut next_device = 1u8;
        for (index, device) in description.devices.iter().enumerate() {
            let function: Box<dyn PciFunction> = match device.kind {
                DeviceKind::Edu => Box::new(Edu::new()),
                DeviceKind::PciTestdev => Box::new(PciTestdev::new()),
                DeviceKind::Ivshmem => {
                    let path = device.path.clone().unwrap_or_else(SharedFile::default_path);
                    let region = SharedFile::open(&path, device.shared_memory_size())?;
                    ivshmem_paths.push(path);
                    let model = Ivshmem::new(Box::new(region)).map_err(|error| {
                        DescriptionError::Invalid(format!("{}: {error}", device_label(index, device)))
                    })?;
                    Box::new(model)
                }
                DeviceKind::Uart => {
                    if !legacy.attach_uart(device.uart_port(), Uart16550::new()) {
                        return Err(DescriptionError::Invalid(format!(
                            "{}: its ports are taken",
                            device_label(index, device)
                        ))
                        .into());
                    }
                    continue;
                }
            };
            if !pci.attach(next_device, device.kind.name(), function) {
                return Err(DescriptionError::Invalid(format!(
                    "{}: no free PCI device number",
                    device_label(index, device)
                ))
                .into());
            }
            next_device += 1;
        }
        let bus = DeviceBus::new(
            platform.clone(),
            pci,
            legacy,
            description.memory_offset(),
            description.port_window_base(),
        );
        Self::run_firmware(description, &bus)?;
        Ok(Self { description: description.clone(), platform, mm, bus, translator, ivshmem_paths })
    }

    /// Assigns every BAR from the models' own BAR lists, enables decoding and bus mastering,
    /// and writes each interrupt line.
    fn run_firmware(description: &MachineDescription, bus: &DeviceBus) -> Result<(), DescriptionError> {
        let pci = bus.pci();
        let mut devices = description.pci_devices();
        let dma = &mut bus.dma();
        for (number, device) in (1u8..).zip(devices.iter_mut()) {
            // The models' BARs are the truth; the description's list only served validation.
            if let Some(bars) = pci.with_function(number, dma, |function| function.config().bars().to_vec()) {
                device.bars = bars;
            }
        }
        let plan = firmware::assign(&devices)?;
        for (number, assignments) in (1u8..).zip(plan) {
            pci.with_function(number, dma, |function| {
                let config = function.config_mut();
                for &(bar, address) in &assignments {
                    config.set_bar_address(bar, address);
                }
                let has = |io: bool| config.bars().iter().any(|bar| bar.kind.is_io() == io);
                let mut enable = command::BUS_MASTER;
                if has(false) {
                    enable |= command::MEMORY_SPACE;
                }
                if has(true) {
                    enable |= command::IO_SPACE;
                }
                let value = config.command() | enable;
                config.write(offsets::COMMAND, AccessWidth::Word, value.into());
                let pin = config.interrupt_pin();
                if pin != 0 {
                    let link = (usize::from(number) + usize::from(pin) - 1) % PIRQ_IRQS.len();
                    config.write(offsets::INTERRUPT_LINE, AccessWidth::Byte, PIRQ_IRQS[link].into());
                }
            });
        }
        pci.rebuild_decode();
        Ok(())
    }

    /// The description the machine was built from.
    pub fn description(&self) -> &MachineDescription {
        &self.description
    }

    /// The memory manager.
    pub fn mm(&self) -> &MemoryManager {
        &self.mm
    }

    /// The platform (RAM, window, bug-check hook).
    pub fn platform(&self) -> &HostedPlatform {
        &self.platform
    }

    /// The machine's buses: PCI bus 0 ([`DeviceBus::pci`]), the fixed-port devices, and
    /// [`DeviceBus::devices`], each PCI device's BAR0 as the CPU sees it.
    pub fn bus(&self) -> &DeviceBus {
        &self.bus
    }

    /// The bus translator of this machine's personality (what `HalTranslateBusAddress` and
    /// the PnP manager translate raw resources with).
    pub fn translator(&self) -> &BusTranslator {
        &self.translator
    }

    /// The files backing the ivshmem devices' shared memory, in description order. They stay
    /// after the machine is dropped, so the host can inspect them; remove them when done.
    pub fn ivshmem_paths(&self) -> &[PathBuf] {
        &self.ivshmem_paths
    }

    /// An `in` of `width` bytes from `port`: on x86 it reaches port space (configuration
    /// ports, PCI I/O BARs, fixed-port devices); the memory-mapped personality has no I/O
    /// instructions, so it reaches nothing and reads all ones.
    pub fn read_port(&self, port: u16, width: AccessWidth) -> u32 {
        if self.bus_has_io_instructions() { self.bus.read_port(port, width) } else { width.mask() as u32 }
    }

    /// An `out` of the low `width` bytes of `value` to `port` (dropped on the memory-mapped
    /// personality, as [`read_port`](Self::read_port) says).
    pub fn write_port(&self, port: u16, width: AccessWidth, value: u32) {
        if self.bus_has_io_instructions() {
            self.bus.write_port(port, width, value);
        }
    }

    fn bus_has_io_instructions(&self) -> bool {
        self.description.port_window_base().is_none()
    }

    /// Lets every device's pending work complete, as time passing in a stall would.
    pub fn tick(&self) {
        self.bus.tick();
    }

    /// Installs a hook that receives every bug check of this machine before it stops.
    pub fn set_bug_check_hook(&self, hook: Option<BugCheckHook>) {
        self.platform.set_bug_check_hook(hook);
    }

    /// Runs `body`, turning a bug check it raises on this thread into `Err`.
    pub fn catch_bug_check<R>(&self, body: impl FnOnce() -> R) -> Result<R, BugCheck> {
        catch_bug_check(body)
    }

    /// Reads a register (or RAM) through a system virtual address, as `READ_REGISTER_*` does:
    /// the page tables give the physical address; RAM is read from the memfd, device memory
    /// from the model that decodes it.
    pub fn read_register(
        &self,
        address: VirtualAddress,
        width: AccessWidth,
    ) -> Result<u64, RegisterAccessError> {
        let physical = self.resolve(address, width, false)?;
        Ok(match self.ram_pointer(physical) {
            // SAFETY: the pointer is inside a RAM frame of the direct map and aligned for the
            // width (checked by `resolve`); volatile because device-visible memory may change.
            Some(pointer) => unsafe { read_volatile(pointer, width) },
            None => self.bus.read(physical, width),
        })
    }

    /// Writes a register (or RAM) through a system virtual address, as `WRITE_REGISTER_*` does.
    pub fn write_register(
        &self,
        address: VirtualAddress,
        width: AccessWidth,
        value: u64,
    ) -> Result<(), RegisterAccessError> {
        let physical = self.resolve(address, width, true)?;
        match self.ram_pointer(physical) {
            // SAFETY: as in `read_register`.
            Some(pointer) => unsafe { write_volatile(pointer, width, value) },
            None => self.bus.write(physical, width, value),
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    fn resolve(
        &self,
        address: VirtualAddress,
        width: AccessWidth,
        write: bool,
    ) -> Result<PhysicalAddress, RegisterAccessError> {
        if address.0 % width.bytes() != 0 {
            return Err(RegisterAccessError::Misaligned(address));
        }
        let page = address.page_base().0;
        let translations = self.platform.translations();
        let (frame, writable) = match translations.lookup(page) {
            Lookup::Hit { frame, writable } => (frame, writable),
            Lookup::Miss(generation) => {
                let translation =
                    self.mm.translate(address).ok_or(RegisterAccessError::NotMapped(address))?;
                let frame = translation.physical.0 & !(PAGE_SIZE - 1);
                let writable = translation.attributes.writable;
                translations.remember(generation, page, frame, writable);
                (frame, writable)
            }
        };
        if write && !writable {
            return Err(RegisterAccessError::ReadOnly(address));
        }
        Ok(PhysicalAddress(frame | address.page_offset()))
    }

    fn ram_pointer(&self, physical: PhysicalAddress) -> Option<*mut u8> {
        // RAM holds exactly the memory map's RAM frames: it alone answers for the frame.
        let frame = self.platform.ram().frame(physical.pfn())?;
        // SAFETY: the offset is below the page size, inside the frame.
        Some(unsafe { frame.cast::<u8>().as_ptr().add(physical.page_offset() as usize) })
    }
}

/// # Safety
/// `pointer` must be valid for a read of `width` bytes and aligned for it.
unsafe fn read_volatile(pointer: *mut u8, width: AccessWidth) -> u64 {
    // SAFETY: the caller's contract covers a read of `width` bytes, whichever arm runs.
    unsafe {
        match width {
            AccessWidth::Byte => pointer.read_volatile().into(),
            AccessWidth::Word => pointer.cast::<u16>().read_volatile().into(),
            AccessWidth::Dword => pointer.cast::<u32>().read_volatile().into(),
            AccessWidth::Qword => pointer.cast::<u64>().read_volatile(),
        }
    }
}

/// # Safety
/// `pointer` must be valid for a write of `width` bytes and aligned for it.
unsafe fn write_volatile(pointer: *mut u8, width: AccessWidth, value: u64) {
    // SAFETY: the caller's contract covers a write of `width` bytes, whichever arm runs; the
    // casts truncate the value to the width on purpose.
    unsafe {
        match width {
            AccessWidth::Byte => pointer.write_volatile(value as u8),
            AccessWidth::Word => pointer.cast::<u16>().write_volatile(value as u16),
            AccessWidth::Dword => pointer.cast::<u32>().write_volatile(value as u32),
            AccessWidth::Qword => pointer.cast::<u64>().write_volatile(value),
        }
    }
}
