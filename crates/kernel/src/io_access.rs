//! The HAL's device access on metal: a register access is one volatile load or store of
//! exactly the width asked for, a port access one `in` or `out`, and the barrier `mfence`.
//!
//! No page walk precedes an access: an address with no translation faults in the CPU, and the
//! page-fault handler stops the machine with `PAGE_FAULT_IN_NONPAGED_AREA`, as Windows does.
//! So [`AccessFault`] is never returned here.

use iospace_hal::access::{AccessFault, IoAccess, Width};
use iospace_mm::address::VirtualAddress;

use crate::cpu::memory_fence;
use crate::port::{inb, inl, inw, outb, outl, outw};

/// Device access on this CPU.
///
/// Every method is `#[inline]`, so that a register routine instantiated for this type (in any
/// codegen unit) becomes the access itself: see `register_instances`.
#[derive(Debug, Default)]
pub struct MetalIo;

impl IoAccess for MetalIo {
    #[inline]
    fn read_register(&self, address: VirtualAddress, width: Width) -> Result<u64, AccessFault> {
        // SAFETY: the HAL hands over an address a driver mapped (aligned for `width`, checked
        // by the register routines); an unmapped one faults and stops the machine rather than
        // reading anything. Volatile, so the access happens exactly once at this width.
        let value = unsafe {
            match width {
                Width::U8 => u64::from(address.as_ptr::<u8>().read_volatile()),
                Width::U16 => u64::from(address.as_ptr::<u16>().read_volatile()),
                Width::U32 => u64::from(address.as_ptr::<u32>().read_volatile()),
                Width::U64 => address.as_ptr::<u64>().read_volatile(),
            }
        };
        Ok(value)
    }

    #[inline]
    fn write_register(&self, address: VirtualAddress, width: Width, value: u64) -> Result<(), AccessFault> {
        // SAFETY: as in `read_register`; the casts keep the low `width` bytes on purpose.
        unsafe {
            match width {
                Width::U8 => address.as_ptr::<u8>().write_volatile(value as u8),
                Width::U16 => address.as_ptr::<u16>().write_volatile(value as u16),
                Width::U32 => address.as_ptr::<u32>().write_volatile(value as u32),
                Width::U64 => address.as_ptr::<u64>().write_volatile(value),
            }
        }
        Ok(())
    }

    #[inline]
    fn read_port(&self, port: u16, width: Width) -> u32 {
        match width {
            Width::U8 => u32::from(inb(port)),
            Width::U16 => u32::from(inw(port)),
            Width::U32 | Width::U64 => inl(port),
        }
    }

    #[inline]
    fn write_port(&self, port: u16, width: Width, value: u32) {
        match width {
            Width::U8 => outb(port, value as u8),
            Width::U16 => outw(port, value as u16),
            Width::U32 | Width::U64 => outl(port, value),
        }
    }

    #[inline]
    fn memory_barrier(&self) {
        memory_fence();
    }
}
