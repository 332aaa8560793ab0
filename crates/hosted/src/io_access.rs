//! The HAL's view of the hosted machine: register accesses resolve through the page tables to
//! RAM or to the device model that decodes the physical address; port accesses go to the port
//! bus (none yet decodes: reads float high, writes are dropped).

use iospace_devices::mmio::AccessWidth;
use iospace_hal::access::{AccessFault, IoAccess, Width};
use iospace_mm::address::VirtualAddress;

use crate::machine::{Machine, RegisterAccessError};

fn access_width(width: Width) -> AccessWidth {
    match width {
        Width::U8 => AccessWidth::Byte,
        Width::U16 => AccessWidth::Word,
        Width::U32 => AccessWidth::Dword,
        Width::U64 => AccessWidth::Qword,
    }
}

fn fault(error: RegisterAccessError) -> AccessFault {
    match error {
        RegisterAccessError::NotMapped(address) => AccessFault::NotMapped(address),
        RegisterAccessError::ReadOnly(address) => AccessFault::ReadOnly(address),
        RegisterAccessError::Misaligned(address) => AccessFault::Misaligned(address),
    }
}

impl IoAccess for Machine {
    fn read_register(&self, address: VirtualAddress, width: Width) -> Result<u64, AccessFault> {
        Machine::read_register(self, address, access_width(width)).map_err(fault)
    }

    fn write_register(&self, address: VirtualAddress, width: Width, value: u64) -> Result<(), AccessFault> {
        Machine::write_register(self, address, access_width(width), value).map_err(fault)
    }

    fn read_port(&self, _port: u16, width: Width) -> u32 {
        width.mask() as u32
    }

    fn write_port(&self, _port: u16, _width: Width, _value: u32) {}

    fn memory_barrier(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}
