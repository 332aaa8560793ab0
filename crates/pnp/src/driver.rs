//! The function-driver side of the PnP flow (contract §9): a safe [`Driver`] trait with one
//! method per PnP IRP, and the [`DeviceContext`] a driver works through.
//!
//! The signatures carry the contract's rules: START and the two queries may fail; STOP, REMOVE,
//! SURPRISE_REMOVAL and the two cancels return nothing, so they cannot fail (claim 17).

use alloc::string::String;
use core::fmt;

use iospace_hal::access::IoAccess;
use iospace_mm::memory_manager::MemoryManager;
use iospace_mm::ownership::OwnerId;

use crate::status::NtStatus;
use crate::translation::ResourcePair;

/// What a driver is given with every IRP: the machine's memory manager and device access, and
/// who it is.
///
/// `'mm` is the machine's lifetime, so a driver may keep the references (and RAII handles such
/// as [`IoMapping<'mm>`](iospace_mm::io_space::IoMapping)) in its own state.
pub struct DeviceContext<'mm> {
    mm: &'mm MemoryManager,
    io: &'mm dyn IoAccess,
    owner: OwnerId,
    name: String,
}

impl<'mm> DeviceContext<'mm> {
    /// The context of device `name`, whose mappings are recorded under `owner`.
    pub fn new(mm: &'mm MemoryManager, io: &'mm dyn IoAccess, owner: OwnerId, name: String) -> Self {
        Self { mm, io, owner, name }
    }

    /// The memory manager: `MmMapIoSpace` and friends.
    pub fn mm(&self) -> &'mm MemoryManager {
        self.mm
    }

    /// Device access for the register and port routines of [`iospace_hal`].
    pub fn io(&self) -> &'mm dyn IoAccess {
        self.io
    }

    /// The identity under which everything the driver maps, locks or reserves is recorded.
    pub fn owner(&self) -> OwnerId {
        self.owner
    }

    /// The device's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for DeviceContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceContext")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// A function driver, as the PnP manager drives it (contract §9).
///
/// Every method is called at `PASSIVE_LEVEL`, on a system thread, one at a time per device,
/// with the device's [`OwnerId`] as the platform's current owner: whatever the driver maps,
/// locks or reserves meanwhile is recorded as the device's. The manager never sends these
/// IRPs out of order; a driver never sends them itself.
///
/// # The rules, step by step
///
/// **START** ([`start`](Self::start)):
/// 1. *Copy both lists.* `resources.raw()` (`AllocatedResources`) and `resources.translated()`
///    (`AllocatedResourcesTranslated`) are only lent for the call; keep a clone of the
///    [`ResourcePair`] if you need them later. Entry *i* of one list and entry *i* of the other
///    are the same resource (claim 18). A device may have no resources: the pair is then empty.
/// 2. *Walk the translated list* — it is what the CPU uses.
/// 3. *Map every translated `Memory` resource* with `MmMapIoSpace`
///    ([`MemoryManager::map_io_space`]) on its translated start and length. A translated
///    `Port` whose [`PortLocation`](crate::resource::PortLocation) is `Memory` is port space the
///    HAL placed in memory: map it too. A translated `Port` in I/O space is a port number (the
///    low 32 bits of the start, claim 20): never map it. Interrupts and DMA are never mapped.
/// 4. *Choose the access routines by the RAW type*: raw `Memory` →
///    `READ/WRITE_REGISTER_*` ([`iospace_hal::registers`]) on the mapped address; raw `Port` →
///    `READ/WRITE_PORT_*` ([`iospace_hal::ports`]) on the port number, or on the mapped
///    address if the translated resource was in memory (claim 19).
/// 5. *On failure, undo first*: unmap everything this START mapped, then return the error
///    (claim 13). The manager checks, and a mapping left behind is bug check 0xC4/0x1001 at the
///    line that made it. It then sends REMOVE (first start, claim 14) or SURPRISE_REMOVAL and
///    REMOVE (a restart after a rebalance, claim 15).
///
/// **Release** the hardware resources — `MmUnmapIoSpace` every mapping, unlock and unmap every
/// MDL, free every reservation — in [`stop`](Self::stop), in
/// [`surprise_removal`](Self::surprise_removal), in [`remove`](Self::remove) unless
/// SURPRISE_REMOVAL already did (claim 12: never unmap twice; a second `MmUnmapIoSpace` of the
/// same address is 0xDA/0x400), and on a failed START. After each of those the manager asks the
/// memory manager what the device still holds; anything is a leak and a bug check naming the
/// driver's line (see [`crate::pnp_manager`]). Releasing means *before returning*: dropping the
/// driver later does not count.
///
/// **QUERY_STOP** may fail only if the resources cannot be released (paging, hibernation or
/// crash-dump path); once it succeeds, STOP must be possible. A failure is followed by
/// CANCEL_STOP (claim 16).
///
/// # Example
///
/// ```
/// use iospace_mm::caching::CachePolicy;
/// use iospace_mm::io_space::IoMapping;
/// use iospace_pnp::driver::{DeviceContext, Driver};
/// use iospace_pnp::resource::{PortLocation, Resource};
/// use iospace_pnp::status::NtStatus;
/// use iospace_pnp::translation::ResourcePair;
///
/// /// How one resource is reached: which routines is decided by the raw type.
/// enum Window<'mm> {
///     /// Raw memory: READ/WRITE_REGISTER_* on the mapping.
///     Registers(IoMapping<'mm>),
///     /// Raw port, translated to memory: READ/WRITE_PORT_* on the mapping.
///     MappedPorts(IoMapping<'mm>),
///     /// Raw port, translated to a port: READ/WRITE_PORT_* on the port number.
///     Ports(u32),
/// }
///
/// #[derive(Default)]
/// struct Example<'mm> {
///     resources: Option<ResourcePair>,
///     windows: Vec<Window<'mm>>,
/// }
///
/// impl<'mm> Example<'mm> {
///     /// Gives back every mapping (dropping an `IoMapping` is `MmUnmapIoSpace`).
///     fn release(&mut self) {
///         self.windows.clear();
///     }
/// }
///
/// impl<'mm> Driver<'mm> for Example<'mm> {
///     fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
///         // 1. Copy both lists.
///         self.resources = Some(resources.clone());
///         // 2. Walk the translated list, with the raw twin of each entry beside it.
///         for (raw, translated) in resources.iter() {
///             // 3. Map what the CPU reaches through memory.
///             let mapped = match translated.resource {
///                 Resource::Memory { start, length, .. } => Some((start, length.bytes())),
///                 Resource::Port { start: PortLocation::Memory(start), length, .. } => {
///                     Some((start, u64::from(length)))
///                 }
///                 _ => None,
///             };
///             let mapping = match mapped {
///                 Some((start, bytes)) => match device.mm().map_io_space(start, bytes, CachePolicy::Uncached) {
///                     Ok(mapping) => Some(mapping),
///                     Err(_) => {
///                         // 5. Undo before failing.
///                         self.release();
///                         return Err(NtStatus::INSUFFICIENT_RESOURCES);
///                     }
///                 },
///                 None => None,
///             };
///             // 4. Choose the routines by the raw type.
///             let window = match (&raw.resource, mapping, &translated.resource) {
///                 (Resource::Memory { .. }, Some(mapping), _) => Window::Registers(mapping),
///                 (Resource::Port { .. }, Some(mapping), _) => Window::MappedPorts(mapping),
///                 (Resource::Port { .. }, None, Resource::Port { start: PortLocation::Io(port), .. }) => {
///                     Window::Ports(port.0)
///                 }
///                 _ => continue,
///             };
///             self.windows.push(window);
///         }
///         Ok(())
///     }
///
///     fn stop(&mut self, _device: &DeviceContext<'mm>) {
///         self.release();
///     }
///
///     fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
///         self.release();
///     }
///
///     fn remove(&mut self, _device: &DeviceContext<'mm>) {
///         // Releasing an empty set is harmless: nothing is unmapped twice.
///         self.release();
///     }
/// }
/// # fn main() {}
/// ```
pub trait Driver<'mm> {
    /// `IRP_MN_START_DEVICE`: start the device with `resources` (see the steps above). On
    /// failure, everything this call mapped must already be unmapped.
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus>;

    /// `IRP_MN_QUERY_STOP_DEVICE`: can the resources be given back? Succeeds by default.
    fn query_stop(&mut self, device: &DeviceContext<'mm>) -> Result<(), NtStatus> {
        let _ = device;
        Ok(())
    }

    /// `IRP_MN_STOP_DEVICE`: pause, save state and give back every hardware resource before
    /// returning. It cannot fail.
    fn stop(&mut self, device: &DeviceContext<'mm>);

    /// `IRP_MN_CANCEL_STOP_DEVICE`: the stop is off; carry on as started. Does nothing by
    /// default.
    fn cancel_stop(&mut self, device: &DeviceContext<'mm>) {
        let _ = device;
    }

    /// `IRP_MN_QUERY_REMOVE_DEVICE`: can the device be removed? Succeeds by default.
    fn query_remove(&mut self, device: &DeviceContext<'mm>) -> Result<(), NtStatus> {
        let _ = device;
        Ok(())
    }

    /// `IRP_MN_CANCEL_REMOVE_DEVICE`: the removal is off; carry on as started. Does nothing by
    /// default.
    fn cancel_remove(&mut self, device: &DeviceContext<'mm>) {
        let _ = device;
    }

    /// `IRP_MN_SURPRISE_REMOVAL`: the hardware is gone. Give back every hardware resource, fail
    /// I/O. It cannot fail, and may arrive in any state, even before START.
    fn surprise_removal(&mut self, device: &DeviceContext<'mm>);

    /// `IRP_MN_REMOVE_DEVICE`: release whatever is still held (nothing, if STOP or
    /// SURPRISE_REMOVAL already did: never unmap twice) and forget the device. It cannot fail.
    fn remove(&mut self, device: &DeviceContext<'mm>);
}
