//! `hosted_ram_alias`: on the hosted machine, mapping one RAM page into the real window with
//! `MmMapLockedPagesSpecifyCache` and unmapping it with `MmUnmapLockedPages`, flushes included
//! (the window follows the page tables with `mmap`), against the system calls that are the
//! floor for it: one `mmap` of the RAM file at a fixed address, and one remap to no access.

use std::ffi::c_void;

use iospace_hosted::Machine;
use iospace_mm::address::PAGE_SIZE;
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::mdl::MdlPtr;
use iospace_mm::nt_mdl;
use iospace_mm::physical_memory::PhysicalMemory;
use rustix::mm::{MapFlags, ProtFlags, mmap, mmap_anonymous, munmap};

use crate::measure::alternate;
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::{Options, WorkloadError};

/// `NormalPagePriority`.
const NORMAL_PAGE_PRIORITY: u32 = 16;

/// A page inside a region of the process reserved with no access, as large as the machine's
/// window, that the floor maps and unmaps. The region matters: mapping a page into the middle
/// of a reservation splits the kernel's area in three and revoking it merges them back, which
/// a lone page would not pay, and the window pays it on every mapping.
struct ScratchPage {
    region: *mut c_void,
    bytes: usize,
    page: *mut c_void,
}

impl ScratchPage {
    fn reserve(bytes: u64) -> std::io::Result<Self> {
        let bytes = bytes.max(2 * PAGE_SIZE) as usize;
        // SAFETY: a fresh inaccessible private mapping chosen by the kernel overlaps nothing.
        let region = unsafe {
            mmap_anonymous(
                std::ptr::null_mut(),
                bytes,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )?
        };
        let page = region.wrapping_byte_add((bytes / 2) & !(PAGE_SIZE as usize - 1));
        Ok(Self { region, bytes, page })
    }

    /// The floor: the RAM file's page at `offset` mapped shared over the scratch page, then
    /// the scratch page remapped to no access.
    fn map_and_revoke(&self, machine: &Machine, offset: u64) {
        // SAFETY: the scratch page is ours alone and nothing refers into it; replacing its
        // mapping affects nothing else.
        let mapped = unsafe {
            mmap(
                self.page,
                PAGE_SIZE as usize,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED | MapFlags::FIXED,
                machine.platform().ram().file(),
                offset,
            )
        };
        debug_assert!(mapped.is_ok());
        // SAFETY: as above.
        let revoked = unsafe {
            mmap_anonymous(
                self.page,
                PAGE_SIZE as usize,
                ProtFlags::empty(),
                MapFlags::PRIVATE | MapFlags::FIXED | MapFlags::NORESERVE,
            )
        };
        debug_assert!(revoked.is_ok());
    }
}

impl Drop for ScratchPage {
    fn drop(&mut self) {
        // SAFETY: the region was mapped by `reserve` and is no longer used.
        let _ = unsafe { munmap(self.region, self.bytes) };
    }
}

/// Maps the MDL's page, checks through the mapping that it aliases the RAM frame, unmaps.
fn check_alias(
    machine: &Machine,
    mdl: *mut iospace_mm::mdl::Mdl,
    frame: *mut u8,
) -> Result<(), WorkloadError> {
    let mm = machine.mm();
    let cached = MemoryCachingType::Cached as i32;
    let address = nt_mdl::mm_map_locked_pages_specify_cache(
        mm,
        mdl,
        0,
        cached,
        std::ptr::null_mut(),
        0,
        NORMAL_PAGE_PRIORITY,
    );
    if address.is_null() {
        return Err(WorkloadError::Setup("MmMapLockedPagesSpecifyCache refused one page"));
    }
    // SAFETY: both pointers map the same locked RAM frame: `address` through the window (which
    // the flush just made a shared mapping of the RAM file) and `frame` through the direct map.
    let seen = unsafe {
        frame.cast::<u64>().write_volatile(0x1055_ace0_a11a_5ed0);
        address.cast::<u64>().read_volatile()
    };
    nt_mdl::mm_unmap_locked_pages(mm, address, mdl);
    if seen == 0x1055_ace0_a11a_5ed0 {
        Ok(())
    } else {
        Err(WorkloadError::Setup("the window does not alias RAM"))
    }
}

/// Workload 6. Target: at most 1.3 x the raw system calls.
pub fn hosted_ram_alias(options: &Options) -> Result<WorkloadReport, WorkloadError> {
    let machine = crate::hosted_machine::boot()?;
    let mm = machine.mm();
    let mdl = nt_mdl::mm_allocate_pages_for_mdl(mm, 0, i64::MAX, 0, PAGE_SIZE as usize);
    // SAFETY: the MDL was just built by the memory manager and is freed only below.
    let pfn = unsafe { MdlPtr::from_raw(mdl) }
        .and_then(|pointer| pointer.pfn(0))
        .ok_or(WorkloadError::Setup("MmAllocatePagesForMdl found no page"))?;
    let frame =
        machine.platform().ram().frame(pfn).ok_or(WorkloadError::Setup("the MDL's page is not RAM"))?;
    check_alias(&machine, mdl, frame.cast::<u8>().as_ptr())?;

    let scratch = ScratchPage::reserve(machine.platform().window().bytes())?;
    let ops = options.ops(5_000);
    let cached = MemoryCachingType::Cached as i32;
    let mut subject = |_| {
        let address = nt_mdl::mm_map_locked_pages_specify_cache(
            mm,
            mdl,
            0,
            cached,
            std::ptr::null_mut(),
            0,
            NORMAL_PAGE_PRIORITY,
        );
        assert!(!address.is_null(), "one page maps");
        nt_mdl::mm_unmap_locked_pages(mm, address, mdl);
    };
    let mut floor = |_| scratch.map_and_revoke(&machine, pfn.address().0);
    let [ours, floor] = alternate(options.rounds(), ops, &mut [&mut subject, &mut floor])[..] else {
        unreachable!("two contenders, two samples")
    };
    nt_mdl::mm_free_pages_from_mdl(mm, mdl);
    iospace_mm::nt::ex_free_pool(mm, mdl.cast());

    let limit = Baseline::new(
        "syscall_floor",
        "mmap of the RAM file at a fixed address, then a remap to no access",
        floor.ns_per_op,
    );
    let report = WorkloadReport::new(
        "hosted_ram_alias",
        ops,
        ours.ns_per_op,
        options.allocations(ours),
        Some(limit),
        Vec::new(),
    );
    let ratio = report.ratio_to_limit.unwrap_or(f64::NAN);
    Ok(report.target(Target::at_most("the system calls", ratio, 1.3)))
}
