//! A hosted machine: RAM, the system VA window, device models and the memory manager, built
//! from a [`MachineDescription`].

use std::sync::Arc;

use iospace_devices::edu::Edu;
use iospace_devices::mmio::{AccessWidth, MmioDevice};
use iospace_mm::address::{PhysicalAddress, VirtualAddress};
use iospace_mm::bug_check::BugCheck;
use iospace_mm::memory_manager::{MemoryManager, MmConfig, MmInitError, VerifierOptions};
use iospace_mm::memory_map::RegionKind;
use iospace_mm::physical_memory::PhysicalMemory;

use crate::description::{DescriptionError, DeviceKind, MachineDescription};
use crate::device_bus::DeviceBus;
use crate::platform::{BugCheckHook, HostedPlatform, catch_bug_check};
use crate::ram::Ram;
use crate::window::Window;

/// Why a machine did not boot.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The description is inconsistent.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The host refused memory for RAM or the window.
    #[error("host memory: {0}")]
    Host(#[from] std::io::Error),
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
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine").field("name", &self.description.name).field("bus", &self.bus).finish()
    }
}

impl Machine {
    /// Boots the default machine (q35, 512 MiB, edu).
    pub fn boot_default() -> Result<Self, BootError> {
        Self::boot(&MachineDescription::default())
    }

    /// Boots the machine `description` describes.
    pub fn boot(description: &MachineDescription) -> Result<Self, BootError> {
        description.validate()?;
        let map = description.memory_map()?;
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
        let mut bus = DeviceBus::default();
        for device in &description.devices {
            let model: Box<dyn MmioDevice> = match device.kind {
                DeviceKind::Edu => Box::new(Edu::new()),
            };
            bus.attach(PhysicalAddress(device.bar0_range().0), model);
        }
        Ok(Self { description: description.clone(), platform, mm, bus })
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

    /// The device bus.
    pub fn bus(&self) -> &DeviceBus {
        &self.bus
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
        let translation = self.mm.translate(address).ok_or(RegisterAccessError::NotMapped(address))?;
        if write && !translation.attributes.writable {
            return Err(RegisterAccessError::ReadOnly(address));
        }
        Ok(translation.physical)
    }

    fn ram_pointer(&self, physical: PhysicalAddress) -> Option<*mut u8> {
        if self.mm.memory_map().kind_of(physical) != Some(RegionKind::Ram) {
            return None;
        }
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
