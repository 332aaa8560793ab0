//! The hosted machine the `hosted_ram_alias` and `register_read` workloads run on: the default
//! q35 machine without ivshmem-plain, whose shared file would outlive the run for nothing.

use iospace_hosted::description::DeviceKind;
use iospace_hosted::{BootError, Machine, MachineDescription};

/// Boots the default machine less its ivshmem device (edu's BAR0 stays at 0xFEA00000).
pub fn boot() -> Result<Machine, BootError> {
    let mut description = MachineDescription::default();
    description.devices.retain(|device| device.kind != DeviceKind::Ivshmem);
    description.name = "bench".to_owned();
    Machine::boot(&description)
}
