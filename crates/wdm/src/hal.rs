//! The HAL's bus routines: `HalTranslateBusAddress`, `HalGetBusDataByOffset`,
//! `HalSetBusDataByOffset` (contract §10; `ntddk.h`).
//!
//! Each is `iospace_hal`'s routine of the same name over the booted machine's bus translator
//! and PCI host bridge; the decisions where the documentation is silent are listed there. A
//! NULL output pointer (or a NULL buffer with a non-zero length) is the page fault the kernel
//! would take writing through it: 0x50, P1 = 0.

use std::ffi::c_void;

use iospace_hal::{hal_get_bus_data_by_offset, hal_set_bus_data_by_offset, hal_translate_bus_address};

use crate::boundary::{enter, page_fault};

/// `BOOLEAN HalTranslateBusAddress(INTERFACE_TYPE InterfaceType, ULONG BusNumber,
/// PHYSICAL_ADDRESS BusAddress, PULONG AddressSpace, PPHYSICAL_ADDRESS TranslatedAddress)`:
/// translates a bus-relative (raw) address to what the CPU uses. `*AddressSpace` is 0
/// (memory) or 1 (port) on input and the translated space on output: 0 means
/// `*TranslatedAddress` is a physical address to map with `MmMapIoSpace`, 1 that its
/// `LowPart` is the port number. FALSE, with both outputs untouched, for an unknown interface
/// type or space, or an address no window of the bus forwards.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`; it reads immutable data only, so nothing is checked.
///
/// # Safety
/// `address_space` and `translated_address` are NULL (0x50) or valid for reads and writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn HalTranslateBusAddress(
    interface_type: i32,
    bus_number: u32,
    bus_address: i64,
    address_space: *mut u32,
    translated_address: *mut i64,
) -> u8 {
    enter("HalTranslateBusAddress", |machine| {
        if address_space.is_null() {
            page_fault(0, false);
        }
        if translated_address.is_null() {
            page_fault(0, true);
        }
        // SAFETY: both point to valid, writable values (checked non-null; the caller's contract).
        let (space, translated) = unsafe { (&mut *address_space, &mut *translated_address) };
        hal_translate_bus_address(
            machine.translator(),
            interface_type,
            bus_number,
            bus_address,
            space,
            translated,
        )
        .into()
    })
}

/// `ULONG HalGetBusDataByOffset(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber,
/// PVOID Buffer, ULONG Offset, ULONG Length)`: reads `Length` bytes of `PCIConfiguration`
/// space from `Offset` of the function `SlotNumber` (a `PCI_SLOT_NUMBER`) names, and returns
/// the bytes read: 0 for a bus that does not exist or another data type, 2 (with 0xFFFF in
/// the buffer) for an empty slot, at most 256 − `Offset` otherwise.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Safety
/// `buffer` is valid for writes of `length` bytes (it may be NULL when `length` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn HalGetBusDataByOffset(
    bus_data_type: i32,
    bus_number: u32,
    slot_number: u32,
    buffer: *mut c_void,
    offset: u32,
    length: u32,
) -> u32 {
    enter("HalGetBusDataByOffset", |machine| {
        let buffer: &mut [u8] = if length == 0 {
            &mut []
        } else if buffer.is_null() {
            page_fault(0, true)
        } else {
            // SAFETY: the caller passes `length` writable bytes (checked non-null), which no
            // Rust reference aliases.
            unsafe { std::slice::from_raw_parts_mut(buffer.cast(), length as usize) }
        };
        hal_get_bus_data_by_offset(machine, bus_data_type, bus_number, slot_number, buffer, offset)
    })
}

/// `ULONG HalSetBusDataByOffset(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber,
/// PVOID Buffer, ULONG Offset, ULONG Length)`: writes `Length` bytes of `PCIConfiguration`
/// space and returns the bytes written: 0 for a bus that does not exist, an empty slot or
/// another data type, at most 256 − `Offset` otherwise. Read-only registers keep their value.
///
/// # IRQL
/// At most `DISPATCH_LEVEL`.
///
/// # Safety
/// `buffer` is valid for reads of `length` bytes (it may be NULL when `length` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn HalSetBusDataByOffset(
    bus_data_type: i32,
    bus_number: u32,
    slot_number: u32,
    buffer: *mut c_void,
    offset: u32,
    length: u32,
) -> u32 {
    enter("HalSetBusDataByOffset", |machine| {
        let data: &[u8] = if length == 0 {
            &[]
        } else if buffer.is_null() {
            page_fault(0, false)
        } else {
            // SAFETY: the caller passes `length` readable bytes (checked non-null).
            unsafe { std::slice::from_raw_parts(buffer.cast(), length as usize) }
        };
        hal_set_bus_data_by_offset(machine, bus_data_type, bus_number, slot_number, data, offset)
    })
}
