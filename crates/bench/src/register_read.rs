//! `register_read`: `READ_REGISTER_ULONG` of edu's identification register through a mapping
//! on the hosted machine, against a direct call into the device model behind the physical
//! address (the bus's decode and the model's read, with no virtual address involved).

use iospace_devices::edu::{EDU_IDENTIFICATION, Edu};
use iospace_devices::mmio::AccessWidth;
use iospace_devices::pci::PciFunction;
use iospace_hal::registers::read_register_ulong;
use iospace_mm::address::PAGE_SIZE;
use iospace_mm::caching::MemoryCachingType;
use iospace_mm::nt;

use crate::io_space::EDU_BAR0;
use crate::measure::{alternate, batch};
use crate::report::{Baseline, Target, WorkloadReport};
use crate::suite::{Options, WorkloadError};

/// Workload 7. Target: at most 1.5 x the direct call.
pub fn register_read(options: &Options) -> Result<WorkloadReport, WorkloadError> {
    let machine = crate::hosted_machine::boot()?;
    let mm = machine.mm();
    let registers =
        nt::mm_map_io_space(mm, EDU_BAR0.0 as i64, PAGE_SIZE as usize, MemoryCachingType::NonCached as i32);
    if registers.is_null() {
        return Err(WorkloadError::Setup("MmMapIoSpace refused edu's BAR0"));
    }
    let identification = registers.cast::<u32>().cast_const();
    let through_mapping = read_register_ulong(&machine, mm, identification);
    let direct = machine.bus().read(EDU_BAR0, AccessWidth::Dword);
    if through_mapping != EDU_IDENTIFICATION || direct != u64::from(EDU_IDENTIFICATION) {
        return Err(WorkloadError::Setup("edu's identification register reads wrong"));
    }

    let ops = options.ops(100_000);
    let mut subject = |_| {
        std::hint::black_box(read_register_ulong(&machine, mm, std::hint::black_box(identification)));
    };
    let mut floor = |_| {
        std::hint::black_box(machine.bus().read(std::hint::black_box(EDU_BAR0), AccessWidth::Dword));
    };
    let [ours, floor] = alternate(options.rounds(), ops, &mut [&mut subject, &mut floor])[..] else {
        unreachable!("two contenders, two samples")
    };
    // For scale: the model's own register read, with no bus in front of it.
    let mut model = Edu::new();
    let model_alone = batch(ops, |_| {
        std::hint::black_box(model.bar_read(0, std::hint::black_box(0), AccessWidth::Dword));
    });
    nt::mm_unmap_io_space(mm, registers, PAGE_SIZE as usize);

    let limit = Baseline::new(
        "device_model_call",
        "the bus's decode and edu's read at the physical address",
        floor.ns_per_op,
    );
    let report = WorkloadReport::new(
        "register_read",
        ops,
        ours.ns_per_op,
        options.allocations(ours),
        Some(limit),
        Vec::new(),
    )
    .detail("edu_model_alone_ns", model_alone.ns_per_op);
    let ratio = report.ratio_to_limit.unwrap_or(f64::NAN);
    Ok(report.target(Target::at_most("the direct call", ratio, 1.5)))
}
