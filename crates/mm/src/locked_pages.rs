//! MDLs and the pages they lock: `IoAllocateMdl`, `IoFreeMdl`, `MmProbeAndLockPages`,
//! `MmUnlockPages`, `MmBuildMdlForNonPagedPool`, `IoBuildPartialMdl` and
//! `MmPrepareMdlForReuse`.
//!
//! MDLs live in nonpaged pool, in the exact x64 layout, because C drivers read their fields
//! directly; the memory manager keeps `MdlFlags` and `MappedSystemVa` current at every step.
//! Lock counts are kept per frame in the PFN database, so a page locked through two MDLs stays
//! locked until both are unlocked.
//!
//! The hosted machine has no user-mode processes: probing with `UserMode` always fails as an
//! access violation, which is what Windows does for a kernel address probed on behalf of user
//! mode.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;

use crate::address::{PAGE_SIZE, Pfn, VirtualAddress, span_pages};
use crate::irql::{self, Irql, IrqlTooHigh};
use crate::mdl::{MDL_HEADER_SIZE, MdlPtr, flags, size_of_mdl};
use crate::memory_manager::MemoryManager;
use crate::ownership::OwnerId;
use crate::pfn_database::PfnError;
use crate::pool::PoolType;

/// The pool tag of MDLs made by `IoAllocateMdl` ('Mdl ').
pub const MDL_POOL_TAG: u32 = u32::from_le_bytes(*b"Mdl ");

/// The largest buffer `IoAllocateMdl` describes (Windows 7 and later): 4 GB − PAGE_SIZE.
pub const MAXIMUM_MDL_LENGTH: u64 = 0xFFFF_F000;

/// `KPROCESSOR_MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessorMode {
    /// `KernelMode` = 0.
    Kernel,
    /// `UserMode` = 1.
    User,
}

/// `LOCK_OPERATION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockOperation {
    /// `IoReadAccess` = 0.
    Read,
    /// `IoWriteAccess` = 1.
    Write,
    /// `IoModifyAccess` = 2 (behaves as write).
    Modify,
}

/// An MDL whose pages `MmProbeAndLockPages` locked and `MmUnlockPages` has not yet unlocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockedMdlRecord {
    /// The MDL's address.
    pub mdl: usize,
    /// Pages it locked.
    pub pages: u64,
    /// Who locked them: the platform's current owner at the time.
    pub owner: OwnerId,
    /// Where `MmProbeAndLockPages` was called.
    pub location: &'static Location<'static>,
}

/// The registry of locked MDLs, by MDL address: what lets a leak of locked pages name its
/// owner and call site (0xCB `DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS`).
#[derive(Debug, Default)]
pub struct LockedMdls {
    map: spin::Mutex<BTreeMap<usize, LockedMdlRecord>>,
}

impl LockedMdls {
    /// Every MDL whose pages are locked, by address.
    pub fn list(&self) -> Vec<LockedMdlRecord> {
        self.map.lock().values().copied().collect()
    }

    /// The locked MDLs `owner` locked.
    pub fn held_by(&self, owner: OwnerId) -> Vec<LockedMdlRecord> {
        self.map.lock().values().filter(|record| record.owner == owner).copied().collect()
    }
}

/// Why `IoAllocateMdl` returned NULL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocateMdlError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// The length exceeds 4 GB − PAGE_SIZE.
    TooLong,
    /// No pool for the MDL.
    NoPool,
}

impl fmt::Display for AllocateMdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "IoAllocateMdl {error}"),
            Self::TooLong => f.write_str("an MDL describes at most 4 GB - PAGE_SIZE"),
            Self::NoPool => f.write_str("no nonpaged pool for the MDL"),
        }
    }
}

impl core::error::Error for AllocateMdlError {}

/// A verifier violation on an MDL: the 0xC4 subcode, or another bug check, the facade raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MdlMisuse {
    /// Called above the routine's IRQL.
    Irql(IrqlTooHigh),
    /// `MmProbeAndLockPages` on an MDL that is locked, partial, built for nonpaged pool or
    /// mapped (0xC4/0xB0).
    ProbeWrongFlags,
    /// Locking frames that are not RAM (0xC4/0x6F).
    NotRam(Pfn),
    /// `MmUnlockPages` of an MDL that was never locked (0xC4/0x7C).
    UnlockNotLocked,
    /// `MmUnlockPages` of an MDL built for nonpaged pool (0xC4/0x7D).
    UnlockNonPagedPool,
    /// `MmUnlockPages` of a partial MDL (0xC4/0xB4).
    UnlockPartial,
    /// A frame unlocked more times than it was locked (0x4E/0x07).
    LockCountUnderflow(Pfn),
    /// `MmBuildMdlForNonPagedPool` over paged pool (0xC4/0x7F).
    PagedPool,
    /// `IoFreeMdl` of an MDL whose pages are still mapped (0xC4/0xB8).
    FreeMapped,
    /// `IoFreeMdl` of an address that is no MDL from `IoAllocateMdl` (0xC2/0x42 via pool).
    NotAnMdl,
    /// `MmUnlockPages` of an MDL whose system mapping `MmUnmapLockedPages` cannot release (a
    /// reserved mapping, or a `MappedSystemVa` that is no mapping of this MDL): the frames would
    /// stay mapped once unlocked (0xDA/0x06, as the `MmUnmapLockedPages` it implies).
    MappedElsewhere(VirtualAddress),
}

impl fmt::Display for MdlMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "{error}"),
            Self::ProbeWrongFlags => {
                f.write_str("probing an MDL that is locked, partial, mapped or for nonpaged pool")
            }
            Self::NotRam(pfn) => write!(f, "frame {pfn} is not RAM and cannot be locked"),
            Self::UnlockNotLocked => f.write_str("unlocking an MDL that was never locked"),
            Self::UnlockNonPagedPool => f.write_str("unlocking an MDL built for nonpaged pool"),
            Self::UnlockPartial => f.write_str("unlocking a partial MDL"),
            Self::LockCountUnderflow(pfn) => write!(f, "frame {pfn} unlocked more times than locked"),
            Self::PagedPool => f.write_str("MmBuildMdlForNonPagedPool over paged pool"),
            Self::FreeMapped => f.write_str("freeing an MDL whose pages are still mapped"),
            Self::NotAnMdl => f.write_str("not an MDL from IoAllocateMdl"),
            Self::MappedElsewhere(address) => {
                write!(f, "the MDL's mapping at {address} is not one MmUnmapLockedPages releases")
            }
        }
    }
}

impl core::error::Error for MdlMisuse {}

/// Why `MmProbeAndLockPages` failed: Windows raises an exception, the MDL stays unlocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// A page of the range is not accessible for the operation (`STATUS_ACCESS_VIOLATION`).
    AccessViolation(VirtualAddress),
    /// A verifier violation (a bug check).
    Misuse(MdlMisuse),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccessViolation(address) => write!(f, "access violation at {address}"),
            Self::Misuse(misuse) => misuse.fmt(f),
        }
    }
}

impl core::error::Error for ProbeError {}

/// Why `IoBuildPartialMdl` refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialMdlError {
    /// Called above `DISPATCH_LEVEL`.
    Irql(IrqlTooHigh),
    /// The range is not inside the source MDL (0x12E INVALID_MDL_RANGE).
    OutOfRange,
    /// The target MDL has no room for the PFNs (0x40 TARGET_MDL_TOO_SMALL).
    TargetTooSmall {
        /// Pages the partial MDL needs.
        pages: u64,
    },
}

impl fmt::Display for PartialMdlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Irql(error) => write!(f, "IoBuildPartialMdl {error}"),
            Self::OutOfRange => f.write_str("the range is not inside the source MDL"),
            Self::TargetTooSmall { pages } => write!(f, "the target MDL has no room for {pages} pages"),
        }
    }
}

impl core::error::Error for PartialMdlError {}

impl MemoryManager {
    /// `IoAllocateMdl`: an MDL in nonpaged pool describing `length` bytes at `address`, with no
    /// PFN entries filled in.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn allocate_mdl(
        &self,
        address: VirtualAddress,
        length: u64,
        location: &'static Location<'static>,
    ) -> Result<MdlPtr, AllocateMdlError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(AllocateMdlError::Irql)?;
        if length > MAXIMUM_MDL_LENGTH {
            return Err(AllocateMdlError::TooLong);
        }
        let bytes = size_of_mdl(address.0, length);
        let memory = self
            .allocate_pool(PoolType::NonPaged, bytes, MDL_POOL_TAG, false, location)
            .map_err(|_| AllocateMdlError::NoPool)?;
        let pointer = memory.as_ptr::<crate::mdl::Mdl>();
        // SAFETY: the pool block is `size_of_mdl` bytes, 16-byte aligned, ours alone, and mapped
        // writable: room for the header that `initialize` writes.
        unsafe { crate::mdl::initialize(pointer, address.0, length) };
        // SAFETY: the block holds an initialised header and room for every PFN it describes.
        let mdl = unsafe { MdlPtr::from_raw(pointer) }.ok_or(AllocateMdlError::NoPool)?;
        mdl.set_process(core::ptr::null_mut());
        mdl.set_mapped_system_va(core::ptr::null_mut());
        Ok(mdl)
    }

    /// The MDL at `address` if it is one `IoAllocateMdl` made (a live pool block with the MDL
    /// tag starting exactly there).
    pub fn allocated_mdl(&self, address: VirtualAddress) -> Option<MdlPtr> {
        let block = self.pool_allocation(address)?;
        if block.address != address || block.tag != MDL_POOL_TAG || block.bytes < MDL_HEADER_SIZE {
            return None;
        }
        // SAFETY: a live MDL-tagged pool block made by `allocate_mdl` holds an MDL header.
        unsafe { MdlPtr::from_raw(address.as_ptr()) }
    }

    /// How many PFN entries fit after the header of `mdl`: from its pool block when it is one
    /// of ours, else from its `Size` field (all a caller-built MDL tells).
    pub(crate) fn mdl_capacity(&self, mdl: MdlPtr) -> u64 {
        let address = VirtualAddress::from_ptr(mdl.as_ptr());
        let bytes = match self.pool_allocation(address) {
            Some(block) if block.address == address => block.bytes,
            _ => mdl.size() as u16 as u64,
        };
        bytes.saturating_sub(MDL_HEADER_SIZE) / 8
    }

    /// `IoFreeMdl`: frees an MDL from `IoAllocateMdl`. A partial MDL's own mapping is released
    /// quietly; any other MDL must not be mapped any more (contract §15, discrepancy 3: the
    /// verifier's reading).
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn free_mdl(&self, mdl: MdlPtr) -> Result<(), MdlMisuse> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(MdlMisuse::Irql)?;
        let address = VirtualAddress::from_ptr(mdl.as_ptr());
        if self.allocated_mdl(address).is_none() {
            return Err(MdlMisuse::NotAnMdl);
        }
        let mdl_flags = mdl.flags();
        if mdl_flags & flags::MDL_PARTIAL_HAS_BEEN_MAPPED != 0 {
            // A mapping of its own that is not an MDL mapping (a reserved mapping) is not
            // released here: freeing the MDL under it is the misuse.
            self.unmap_locked_pages(VirtualAddress::from_ptr(mdl.mapped_system_va()), mdl)
                .map_err(|_| MdlMisuse::FreeMapped)?;
        } else if mdl_flags & flags::MDL_MAPPED_TO_SYSTEM_VA != 0 && mdl_flags & flags::MDL_PARTIAL == 0 {
            return Err(MdlMisuse::FreeMapped);
        }
        self.free_pool(address, Some(MDL_POOL_TAG)).map_err(|_| MdlMisuse::NotAnMdl)
    }

    /// `MmProbeAndLockPages`: checks that every page of the buffer is accessible for
    /// `operation`, locks the frames, fills the PFN array and marks the MDL locked. On failure
    /// nothing stays locked.
    ///
    /// The lock is recorded, with the current owner and the caller's location (the driver's
    /// line when called through the `#[track_caller]` facade), until `MmUnlockPages`.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL` (nonpaged buffers); at most `APC_LEVEL` for paged pool.
    #[track_caller]
    pub fn probe_and_lock_pages(
        &self,
        mdl: MdlPtr,
        mode: ProcessorMode,
        operation: LockOperation,
    ) -> Result<(), ProbeError> {
        let start = VirtualAddress(mdl.virtual_address());
        let paged = self.pool_allocation(start).is_some_and(|block| block.pool_type == PoolType::Paged);
        let maximum = if paged { Irql::APC } else { Irql::DISPATCH };
        irql::check(self.current_irql(), maximum).map_err(|e| ProbeError::Misuse(MdlMisuse::Irql(e)))?;
        let wrong = flags::MDL_PAGES_LOCKED
            | flags::MDL_PARTIAL
            | flags::MDL_SOURCE_IS_NONPAGED_POOL
            | flags::MDL_MAPPED_TO_SYSTEM_VA;
        if mdl.flags() & wrong != 0 {
            return Err(ProbeError::Misuse(MdlMisuse::ProbeWrongFlags));
        }
        let pages = mdl.page_count();
        if pages > self.mdl_capacity(mdl) {
            return Err(ProbeError::AccessViolation(start));
        }
        let write = operation != LockOperation::Read;
        let first_page = start.page_base();
        // Check every page before taking any lock.
        for index in 0..pages {
            let page = first_page.add(index * PAGE_SIZE);
            let accessible = mode == ProcessorMode::Kernel
                && self.translate(page).is_some_and(|leaf| !write || leaf.attributes.writable);
            if !accessible {
                return Err(ProbeError::AccessViolation(if index == 0 { start } else { page }));
            }
            let pfn = self.translate(page).map(|leaf| leaf.physical.pfn()).unwrap_or_default();
            if !self.pfns.is_ram(pfn) {
                return Err(ProbeError::Misuse(MdlMisuse::NotRam(pfn)));
            }
        }
        for index in 0..pages {
            let pfn = self.translate(first_page.add(index * PAGE_SIZE)).map(|leaf| leaf.physical.pfn());
            let locked = pfn.ok_or(PfnError::Exhausted).and_then(|pfn| self.pfns.lock(pfn).map(|_| pfn));
            match locked {
                Ok(pfn) => {
                    mdl.set_pfn(index, pfn);
                }
                Err(_) => {
                    // The page changed under us (freed concurrently): undo, report as a fault.
                    self.unlock_frames(mdl, index);
                    return Err(ProbeError::AccessViolation(first_page.add(index * PAGE_SIZE)));
                }
            }
        }
        mdl.set_process(core::ptr::null_mut());
        mdl.insert_flags(flags::MDL_PAGES_LOCKED | if write { flags::MDL_WRITE_OPERATION } else { 0 });
        let record = LockedMdlRecord {
            mdl: mdl.as_ptr() as usize,
            pages,
            owner: self.current_owner(),
            location: Location::caller(),
        };
        self.locked_mdls.map.lock().insert(record.mdl, record);
        Ok(())
    }

    /// Drops the locks on the first `pages` frames of `mdl`.
    fn unlock_frames(&self, mdl: MdlPtr, pages: u64) {
        for index in 0..pages {
            if let Some(pfn) = mdl.pfn(index) {
                let _ = self.pfns.unlock(pfn);
            }
        }
    }

    /// `MmUnlockPages`: removes the MDL's system mapping, then unlocks its frames. Refused,
    /// with nothing changed, when a frame holds fewer locks than the MDL drops, or when the
    /// MDL's mapping is not one `MmUnmapLockedPages` releases (a reserved mapping must be
    /// unmapped with `MmUnmapReservedMapping` first).
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn unlock_pages(&self, mdl: MdlPtr) -> Result<(), MdlMisuse> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(MdlMisuse::Irql)?;
        let mdl_flags = mdl.flags();
        if mdl_flags & flags::MDL_SOURCE_IS_NONPAGED_POOL != 0 {
            return Err(MdlMisuse::UnlockNonPagedPool);
        }
        if mdl_flags & flags::MDL_PARTIAL != 0 {
            return Err(MdlMisuse::UnlockPartial);
        }
        if mdl_flags & flags::MDL_PAGES_LOCKED == 0 {
            return Err(MdlMisuse::UnlockNotLocked);
        }
        let pages = mdl.page_count();
        // Every lock this unlock drops must be there: a frame listed n times needs n locks.
        let mut drops: BTreeMap<Pfn, u32> = BTreeMap::new();
        for index in 0..pages {
            *drops.entry(mdl.pfn(index).unwrap_or_default()).or_default() += 1;
        }
        for (&pfn, &count) in &drops {
            if self.pfns.entry(pfn).is_some_and(|entry| entry.lock_count < count) {
                return Err(MdlMisuse::LockCountUnderflow(pfn));
            }
        }
        if mdl_flags & flags::MDL_MAPPED_TO_SYSTEM_VA != 0 {
            let address = VirtualAddress::from_ptr(mdl.mapped_system_va());
            if !self.is_mdl_mapping(address, mdl) {
                return Err(MdlMisuse::MappedElsewhere(address));
            }
            let _ = self.unmap_locked_pages(address, mdl);
        }
        self.unlock_frames(mdl, pages);
        mdl.remove_flags(flags::MDL_PAGES_LOCKED | flags::MDL_WRITE_OPERATION);
        self.locked_mdls.map.lock().remove(&(mdl.as_ptr() as usize));
        Ok(())
    }

    /// `MmBuildMdlForNonPagedPool`: fills the PFN array of an MDL over nonpaged memory. The MDL
    /// then counts as locked and mapped: `MappedSystemVa` is the buffer itself.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn build_mdl_for_non_paged_pool(&self, mdl: MdlPtr) -> Result<(), ProbeError> {
        irql::check(self.current_irql(), Irql::DISPATCH)
            .map_err(|e| ProbeError::Misuse(MdlMisuse::Irql(e)))?;
        let start = VirtualAddress(mdl.virtual_address());
        if self.pool_allocation(start).is_some_and(|block| block.pool_type == PoolType::Paged) {
            return Err(ProbeError::Misuse(MdlMisuse::PagedPool));
        }
        let pages = mdl.page_count();
        if pages > self.mdl_capacity(mdl) {
            return Err(ProbeError::AccessViolation(start));
        }
        // Every page is translated before the PFN array is touched.
        let frames = (0..pages)
            .map(|index| {
                let page = start.page_base().add(index * PAGE_SIZE);
                self.translate(page).map(|leaf| leaf.physical.pfn()).ok_or(ProbeError::AccessViolation(page))
            })
            .collect::<Result<Vec<Pfn>, ProbeError>>()?;
        let io_space = frames.iter().any(|&pfn| !self.pfns.is_ram(pfn));
        for (index, &pfn) in frames.iter().enumerate() {
            mdl.set_pfn(index as u64, pfn);
        }
        mdl.set_process(core::ptr::null_mut());
        mdl.set_mapped_system_va(start.as_ptr());
        mdl.insert_flags(flags::MDL_SOURCE_IS_NONPAGED_POOL | if io_space { flags::MDL_IO_SPACE } else { 0 });
        Ok(())
    }

    /// `IoBuildPartialMdl`: makes `target` describe `length` bytes at `address` inside
    /// `source` (0 = to the end of the source). If the source has a system mapping the partial
    /// MDL shares it.
    ///
    /// # IRQL
    /// At most `DISPATCH_LEVEL`.
    pub fn build_partial_mdl(
        &self,
        source: MdlPtr,
        target: MdlPtr,
        address: VirtualAddress,
        length: u64,
    ) -> Result<(), PartialMdlError> {
        irql::check(self.current_irql(), Irql::DISPATCH).map_err(PartialMdlError::Irql)?;
        let source_start = source.virtual_address();
        let source_end = source_start + u64::from(source.byte_count());
        let length = if length == 0 { source_end.saturating_sub(address.0) } else { length };
        let end = address.0.checked_add(length).ok_or(PartialMdlError::OutOfRange)?;
        if address.0 < source_start || end > source_end {
            return Err(PartialMdlError::OutOfRange);
        }
        let pages = span_pages(address.0, length);
        if pages > self.mdl_capacity(target) {
            return Err(PartialMdlError::TargetTooSmall { pages });
        }
        // SAFETY: the target has room for `pages` PFN entries (checked against its capacity).
        unsafe {
            target.set_header(address.page_base().as_ptr(), address.page_offset() as u32, length as u32)
        };
        let first_index = (address.page_base().0 - VirtualAddress(source_start).page_base().0) / PAGE_SIZE;
        for index in 0..pages {
            target.set_pfn(index, source.pfn(first_index + index).unwrap_or_default());
        }
        let source_flags = source.flags();
        let inherited = source_flags & (flags::MDL_IO_SPACE | flags::MDL_WRITE_OPERATION);
        let locked = if source_flags & (flags::MDL_PAGES_LOCKED | flags::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            flags::MDL_PAGES_LOCKED
        } else {
            0
        };
        let mut target_flags = flags::MDL_PARTIAL | inherited | locked;
        if source_flags & (flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_SOURCE_IS_NONPAGED_POOL) != 0 {
            let offset = address.0 - source_start;
            target.set_mapped_system_va(
                VirtualAddress::from_ptr(source.mapped_system_va()).add(offset).as_ptr(),
            );
            target_flags |= flags::MDL_MAPPED_TO_SYSTEM_VA | flags::MDL_PARENT_MAPPED_SYSTEM_VA;
        }
        target.set_process(source.process());
        target.set_flags(target_flags);
        Ok(())
    }

    /// `MmPrepareMdlForReuse`: releases the mapping a partial MDL got of its own; leaves every
    /// other MDL alone.
    pub fn prepare_mdl_for_reuse(&self, mdl: MdlPtr) {
        if mdl.flags() & flags::MDL_PARTIAL_HAS_BEEN_MAPPED != 0 {
            let _ = self.unmap_locked_pages(VirtualAddress::from_ptr(mdl.mapped_system_va()), mdl);
        }
    }

    /// MDLs whose pages are locked by `MmProbeAndLockPages`.
    pub fn locked_mdls(&self) -> &LockedMdls {
        &self.locked_mdls
    }
}
