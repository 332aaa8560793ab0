//! The resource steps every driver takes at `IRP_MN_START_DEVICE`, by the book (contract §8.5,
//! §9; the steps are spelled out in [`Driver`](iospace_pnp::driver::Driver)):
//!
//! 1. copy both lists;
//! 2. walk the translated list;
//! 3. map every translated memory resource with `MmMapIoSpace` (a raw port that the HAL put
//!    in memory space is a translated memory resource too, claim 19), never a translated port;
//! 4. choose the access routines by the **raw** type: raw memory → `READ/WRITE_REGISTER_*` on
//!    the mapping; raw port → `READ/WRITE_PORT_*`, on the mapping if there is one, else on the
//!    port number (the low 32 bits of the translated start, claim 20);
//! 5. release everything — on stop, surprise removal, remove, and a failed start.
//!
//! A [`Window`] is one claimed resource with its access routines chosen; dropping it unmaps.

use alloc::vec::Vec;
use core::fmt;

use iospace_hal::access::IoAccess;
use iospace_hal::{ports, registers};
use iospace_mm::address::{PhysicalAddress, VirtualAddress};
use iospace_mm::caching::CachePolicy;
use iospace_mm::io_space::IoMapping;
use iospace_mm::memory_manager::MemoryManager;
use iospace_pnp::driver::DeviceContext;
use iospace_pnp::resource::{PortLocation, Raw, Resource, ResourceEntry, Translated};
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

/// How a window's registers are reached: decided by the raw resource type.
#[derive(Debug)]
pub enum Access<'mm> {
    /// Raw memory, mapped: `READ/WRITE_REGISTER_*` on the mapping.
    Registers(IoMapping<'mm>),
    /// Raw port that the HAL placed in memory, mapped: `READ/WRITE_PORT_*` on the mapping.
    MappedPorts(IoMapping<'mm>),
    /// Raw port in I/O space: `READ/WRITE_PORT_*` on the port number; nothing is mapped.
    Ports(u16),
}

/// One resource of the device, claimed.
pub struct Window<'mm> {
    raw: ResourceEntry<Raw>,
    translated: ResourceEntry<Translated>,
    access: Access<'mm>,
    io: &'mm dyn IoAccess,
    mm: &'mm MemoryManager,
}

impl fmt::Debug for Window<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Window").field("raw", &self.raw).field("access", &self.access).finish_non_exhaustive()
    }
}

/// Why a resource could not be claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimError {
    /// `MmMapIoSpace` refused translated entry `index`.
    MapFailed {
        /// The entry.
        index: usize,
    },
    /// A translated port whose number does not fit x86 port space.
    PortOutOfRange {
        /// The entry.
        index: usize,
    },
}

impl ClaimError {
    /// The status a driver fails START with.
    pub const fn status(self) -> NtStatus {
        match self {
            Self::MapFailed { .. } => NtStatus::INSUFFICIENT_RESOURCES,
            Self::PortOutOfRange { .. } => NtStatus::UNSUCCESSFUL,
        }
    }
}

/// The width of one register access.
trait Element: Copy {
    fn read_register(io: &dyn IoAccess, mm: &MemoryManager, at: VirtualAddress) -> Self;
    fn write_register(io: &dyn IoAccess, mm: &MemoryManager, at: VirtualAddress, value: Self);
    fn read_port(io: &dyn IoAccess, mm: &MemoryManager, at: u64) -> Self;
    fn write_port(io: &dyn IoAccess, mm: &MemoryManager, at: u64, value: Self);
}

macro_rules! element {
    ($type:ty, $read:ident, $write:ident, $read_port:ident, $write_port:ident) => {
        impl Element for $type {
            #[track_caller]
            fn read_register(io: &dyn IoAccess, mm: &MemoryManager, at: VirtualAddress) -> Self {
                registers::$read(io, mm, at.as_ptr())
            }
            #[track_caller]
            fn write_register(io: &dyn IoAccess, mm: &MemoryManager, at: VirtualAddress, value: Self) {
                registers::$write(io, mm, at.as_ptr(), value)
            }
            #[track_caller]
            fn read_port(io: &dyn IoAccess, mm: &MemoryManager, at: u64) -> Self {
                ports::$read_port(io, mm, at as usize as *const $type)
            }
            #[track_caller]
            fn write_port(io: &dyn IoAccess, mm: &MemoryManager, at: u64, value: Self) {
                ports::$write_port(io, mm, at as usize as *mut $type, value)
            }
        }
    };
}

element!(u8, read_register_uchar, write_register_uchar, read_port_uchar, write_port_uchar);
element!(u16, read_register_ushort, write_register_ushort, read_port_ushort, write_port_ushort);
element!(u32, read_register_ulong, write_register_ulong, read_port_ulong, write_port_ulong);

impl<'mm> Window<'mm> {
    /// The raw (bus-relative) resource.
    pub fn raw(&self) -> &ResourceEntry<Raw> {
        &self.raw
    }

    /// The translated (CPU) resource.
    pub fn translated(&self) -> &ResourceEntry<Translated> {
        &self.translated
    }

    /// How the window is reached.
    pub fn access(&self) -> &Access<'mm> {
        &self.access
    }

    /// Whether the raw resource is memory.
    pub fn is_memory(&self) -> bool {
        matches!(self.raw.resource, Resource::Memory { .. })
    }

    /// Whether the raw resource is a port range.
    pub fn is_port(&self) -> bool {
        matches!(self.raw.resource, Resource::Port { .. })
    }

    /// Bytes (or ports) in the window.
    pub fn length(&self) -> u64 {
        match &self.raw.resource {
            Resource::Memory { length, .. } => length.bytes(),
            Resource::Port { length, .. } => u64::from(*length),
            _ => 0,
        }
    }

    /// The mapping, for raw memory and memory-mapped ports.
    pub fn mapping(&self) -> Option<&IoMapping<'mm>> {
        match &self.access {
            Access::Registers(mapping) | Access::MappedPorts(mapping) => Some(mapping),
            Access::Ports(_) => None,
        }
    }

    #[track_caller]
    fn read<T: Element>(&self, offset: u64) -> T {
        match &self.access {
            Access::Registers(mapping) => T::read_register(self.io, self.mm, mapping.address().add(offset)),
            Access::MappedPorts(mapping) => T::read_port(self.io, self.mm, mapping.address().add(offset).0),
            Access::Ports(base) => T::read_port(self.io, self.mm, u64::from(*base) + offset),
        }
    }

    #[track_caller]
    fn write<T: Element>(&self, offset: u64, value: T) {
        match &self.access {
            Access::Registers(mapping) => {
                T::write_register(self.io, self.mm, mapping.address().add(offset), value)
            }
            Access::MappedPorts(mapping) => {
                T::write_port(self.io, self.mm, mapping.address().add(offset).0, value)
            }
            Access::Ports(base) => T::write_port(self.io, self.mm, u64::from(*base) + offset, value),
        }
    }

    /// A byte at `offset`, with the routine the raw type calls for.
    #[track_caller]
    pub fn read_u8(&self, offset: u64) -> u8 {
        self.read(offset)
    }

    /// Writes a byte at `offset`.
    #[track_caller]
    pub fn write_u8(&self, offset: u64, value: u8) {
        self.write(offset, value)
    }

    /// A 16-bit value at `offset`.
    #[track_caller]
    pub fn read_u16(&self, offset: u64) -> u16 {
        self.read(offset)
    }

    /// Writes a 16-bit value at `offset`.
    #[track_caller]
    pub fn write_u16(&self, offset: u64, value: u16) {
        self.write(offset, value)
    }

    /// A 32-bit value at `offset`.
    #[track_caller]
    pub fn read_u32(&self, offset: u64) -> u32 {
        self.read(offset)
    }

    /// Writes a 32-bit value at `offset`.
    #[track_caller]
    pub fn write_u32(&self, offset: u64, value: u32) {
        self.write(offset, value)
    }

    /// A 64-bit register at `offset` (`READ_REGISTER_ULONG64`; there is no 64-bit port
    /// routine, so a port window reads two 32-bit halves, low first).
    #[track_caller]
    pub fn read_u64(&self, offset: u64) -> u64 {
        match &self.access {
            Access::Registers(mapping) => {
                registers::read_register_ulong64(self.io, self.mm, mapping.address().add(offset).as_ptr())
            }
            _ => u64::from(self.read_u32(offset)) | u64::from(self.read_u32(offset + 4)) << 32,
        }
    }

    /// Writes a 64-bit register at `offset` (two 32-bit halves, low first, on a port window).
    #[track_caller]
    pub fn write_u64(&self, offset: u64, value: u64) {
        match &self.access {
            Access::Registers(mapping) => registers::write_register_ulong64(
                self.io,
                self.mm,
                mapping.address().add(offset).as_ptr(),
                value,
            ),
            _ => {
                self.write_u32(offset, value as u32);
                self.write_u32(offset + 4, (value >> 32) as u32);
            }
        }
    }

    /// `WRITE_REGISTER_BUFFER_ULONG`: `values` into consecutive registers from `offset` (raw
    /// memory only; `None` for a port window, where the buffer routine repeats one port).
    #[track_caller]
    pub fn write_buffer_u32(&self, offset: u64, values: &[u32]) -> Option<()> {
        let Access::Registers(mapping) = &self.access else { return None };
        let at = mapping.address().add(offset);
        registers::write_register_buffer_ulong(self.io, self.mm, at.as_ptr(), values);
        Some(())
    }

    /// `READ_REGISTER_BUFFER_ULONG`: consecutive registers from `offset` into `values` (raw
    /// memory only).
    #[track_caller]
    pub fn read_buffer_u32(&self, offset: u64, values: &mut [u32]) -> Option<()> {
        let Access::Registers(mapping) = &self.access else { return None };
        let at = mapping.address().add(offset);
        registers::read_register_buffer_ulong(self.io, self.mm, at.as_ptr(), values);
        Some(())
    }
}

/// A device's copy of both lists and its claimed windows.
#[derive(Debug)]
pub struct DeviceResources<'mm> {
    pair: ResourcePair,
    windows: Vec<Window<'mm>>,
}

impl<'mm> DeviceResources<'mm> {
    /// Steps 1 to 4: copies `resources`, maps every translated memory resource with the cache
    /// type `cache` picks for it (given the entry's index and raw resource), and chooses each
    /// window's access routines by its raw type. Interrupt, DMA and other entries are kept in
    /// the copy but get no window.
    ///
    /// On failure everything mapped so far is unmapped before returning (step 5). Mappings
    /// are recorded at the caller's location, which is what a leak report names.
    #[track_caller]
    pub fn claim(
        device: &DeviceContext<'mm>,
        resources: &ResourcePair,
        cache: impl Fn(usize, &Resource<Raw>) -> CachePolicy,
    ) -> Result<Self, ClaimError> {
        let location = core::panic::Location::caller();
        let mut windows = Vec::new();
        for (index, (raw, translated)) in resources.iter().enumerate() {
            let mapped: Option<(PhysicalAddress, u64)> = match &translated.resource {
                Resource::Memory { start, length, .. } => Some((*start, length.bytes())),
                Resource::Port { start: PortLocation::Memory(start), length, .. } => {
                    Some((*start, u64::from(*length)))
                }
                _ => None,
            };
            let mapping = match mapped {
                Some((start, bytes)) => {
                    let protection = iospace_mm::protection::PageProtection::read_write_execute(cache(
                        index,
                        &raw.resource,
                    ));
                    // On error, `windows` drops here: every mapping made so far is unmapped.
                    let mapping = device
                        .mm()
                        .map_io_space_with(start, bytes, protection, location)
                        .map_err(|_| ClaimError::MapFailed { index })?;
                    Some(mapping)
                }
                None => None,
            };
            let access = match (&raw.resource, mapping, &translated.resource) {
                (Resource::Memory { .. }, Some(mapping), _) => Access::Registers(mapping),
                (Resource::Port { .. }, Some(mapping), _) => Access::MappedPorts(mapping),
                (Resource::Port { .. }, None, Resource::Port { start: PortLocation::Io(port), .. }) => {
                    Access::Ports(u16::try_from(port.0).map_err(|_| ClaimError::PortOutOfRange { index })?)
                }
                _ => continue,
            };
            windows.push(Window {
                raw: raw.clone(),
                translated: translated.clone(),
                access,
                io: device.io(),
                mm: device.mm(),
            });
        }
        Ok(Self { pair: resources.clone(), windows })
    }

    /// The copy of both lists.
    pub fn pair(&self) -> &ResourcePair {
        &self.pair
    }

    /// The claimed windows, in list order.
    pub fn windows(&self) -> &[Window<'mm>] {
        &self.windows
    }

    /// The `n`th window whose raw resource is memory.
    pub fn memory(&self, n: usize) -> Option<&Window<'mm>> {
        self.windows.iter().filter(|window| window.is_memory()).nth(n)
    }

    /// The `n`th window whose raw resource is a port range.
    pub fn ports(&self, n: usize) -> Option<&Window<'mm>> {
        self.windows.iter().filter(|window| window.is_port()).nth(n)
    }
}
