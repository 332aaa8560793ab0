//! `READ_REGISTER_*`, `WRITE_REGISTER_*` and their buffer forms (contract §11): sized accesses
//! to device memory a driver mapped with `MmMapIoSpace`, over the platform's [`IoAccess`].
//!
//! The register pointer is only an address: it is never dereferenced here, so the routines are
//! safe functions. The platform performs the access.
//!
//! Ordering (claim 72), as the x64 header helpers do it:
//! - a read is a compiler barrier, then the load;
//! - a write is the store, then a full barrier ([`IoAccess::memory_barrier`]), so the device
//!   has seen the write before anything that follows the call;
//! - a buffer read is a compiler barrier, then the loads; a buffer write is the stores, then
//!   one full barrier (issued even for an empty buffer, as the fence follows the string move
//!   unconditionally).
//!
//! Buffer forms transfer `buffer.len()` elements (the NT `Count`) between the buffer and
//! *consecutive* registers: element `i` is at `Register + i` elements (claim 73), as the string
//! move the header uses advances the address.
//!
//! Faults stop the machine, as the access would in the kernel (see
//! [`bug_check`](crate::bug_check) for the parameters):
//! - an address with no valid mapping: 0x50 `PAGE_FAULT_IN_NONPAGED_AREA`;
//! - a write through a read-only mapping: 0xBE `ATTEMPTED_WRITE_TO_READONLY_MEMORY`;
//! - a register address that is not a multiple of the access width: 0x1E
//!   `KMODE_EXCEPTION_NOT_HANDLED` with `STATUS_DATATYPE_MISALIGNMENT`, before anything reaches
//!   the device.
//!
//! The misalignment rule is a bench decision. x86 would perform the access, but a misaligned
//! register access is split by the bus into transactions that a device decodes unpredictably,
//! and strict-alignment processors (ARM64 device memory, Alpha) fault on it. Splitting it into
//! byte accesses ourselves would change what the device sees, with side effects a driver did
//! not ask for. So both platforms refuse it the same way, and a driver that passes on the bench
//! is correct on every processor. The check is one mask test.
//!
//! In a buffer form that faults part-way, the elements before the faulting one have been
//! transferred, as with a string move that faults.
//!
//! # One routine, instantiated per platform type
//!
//! Every routine is generic over the platform's [`IoAccess`] type `A` (which may be unsized).
//! Handed a `&dyn IoAccess` (drivers get their device access as a trait object from their
//! device context), it is one instance that reaches the platform through the vtable. Handed a
//! platform's own type (metal's `MetalIo`; the hosted `Machine`, as the C ABI and the
//! benchmarks hand it), it is an instance for that type, in which the platform's access can be
//! inlined: on metal, `READ_REGISTER_ULONG` is then the alignment test and one 4-byte load,
//! with the bug check on a cold branch (the kernel exports that instance as
//! `metal_read_register_ulong`, and a test reads its machine code). The behaviour is the same
//! either way; only the dispatch differs. The routines are `#[inline]` so that an instance is
//! made, and can inline, in the caller's codegen unit.

use core::panic::Location;
use core::sync::atomic::{Ordering, compiler_fence};

use iospace_mm::address::VirtualAddress;
use iospace_mm::memory_manager::MemoryManager;

use crate::access::{AccessFault, IoAccess, Width};
use crate::bug_check::{Direction, raise};

/// An element type of the register and port routines: `UCHAR`, `USHORT`, `ULONG`, `ULONG64`.
pub(crate) trait Element: Copy {
    /// The width of one access.
    const WIDTH: Width;
    /// The element from the low bits of an access's value.
    fn from_bits(bits: u64) -> Self;
    /// The element as an access's value.
    fn to_bits(self) -> u64;
}

macro_rules! element {
    ($($type:ty => $width:ident),*) => {$(
        impl Element for $type {
            const WIDTH: Width = Width::$width;
            fn from_bits(bits: u64) -> Self {
                // Truncation is the point: the platform returns the access zero-extended.
                bits as $type
            }
            fn to_bits(self) -> u64 {
                self.into()
            }
        }
    )*};
}
element!(u8 => U8, u16 => U16, u32 => U32, u64 => U64);

/// One load, refusing misalignment and turning a fault into its bug check.
#[inline]
fn load<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    address: VirtualAddress,
    location: &'static Location<'static>,
) -> T {
    if !address.is_aligned(T::WIDTH.bytes()) {
        raise(mm, AccessFault::Misaligned(address), Direction::Read, location);
    }
    match io.read_register(address, T::WIDTH) {
        Ok(bits) => T::from_bits(bits),
        Err(fault) => raise(mm, fault, Direction::Read, location),
    }
}

/// One store, refusing misalignment and turning a fault into its bug check.
#[inline]
fn store<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    address: VirtualAddress,
    value: T,
    location: &'static Location<'static>,
) {
    if !address.is_aligned(T::WIDTH.bytes()) {
        raise(mm, AccessFault::Misaligned(address), Direction::Write, location);
    }
    if let Err(fault) = io.write_register(address, T::WIDTH, value.to_bits()) {
        raise(mm, fault, Direction::Write, location);
    }
}

/// A register read: compiler barrier, then the load.
#[inline]
pub(crate) fn read<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    address: VirtualAddress,
    location: &'static Location<'static>,
) -> T {
    compiler_fence(Ordering::SeqCst);
    load(io, mm, address, location)
}

/// A register write: the store, then the full barrier.
#[inline]
pub(crate) fn write<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    address: VirtualAddress,
    value: T,
    location: &'static Location<'static>,
) {
    store(io, mm, address, value, location);
    io.memory_barrier();
}

/// A buffer read: compiler barrier, then one load per element, the address advancing by
/// `stride` bytes (the element size for registers, 0 for a memory-mapped port).
#[inline]
pub(crate) fn read_buffer<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    address: VirtualAddress,
    stride: u64,
    buffer: &mut [T],
    location: &'static Location<'static>,
) {
    compiler_fence(Ordering::SeqCst);
    let mut at = address;
    for slot in buffer {
        *slot = load(io, mm, at, location);
        at = at.add(stride);
    }
}

/// A buffer write: one store per element (the address advancing by `stride`), then one full
/// barrier.
#[inline]
pub(crate) fn write_buffer<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    address: VirtualAddress,
    stride: u64,
    buffer: &[T],
    location: &'static Location<'static>,
) {
    let mut at = address;
    for &value in buffer {
        store(io, mm, at, value, location);
        at = at.add(stride);
    }
    io.memory_barrier();
}

macro_rules! register_routines {
    ($type:ty, $nt:literal, $read:ident, $write:ident, $read_buffer:ident, $write_buffer:ident) => {
        #[doc = concat!("`READ_REGISTER_", $nt, "(Register) -> ", $nt, "`: a compiler barrier, then one ")]
        #[doc = concat!("load of a `", $nt, "` at `register`.")]
        ///
        /// # IRQL
        /// Any, provided the register is mapped (contract §11).
        ///
        /// # Bug checks
        /// 0x50 if `register` is not mapped, 0x1E if it is misaligned (see the
        /// [module documentation](self)).
        #[inline]
        #[track_caller]
        pub fn $read<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, register: *const $type) -> $type {
            read(io, mm, VirtualAddress::from_ptr(register), Location::caller())
        }

        #[doc = concat!("`WRITE_REGISTER_", $nt, "(Register, Value)`: one store of a `", $nt, "` at ")]
        /// `register`, then a full barrier, so the device observes the write before any access
        /// that follows the call (claim 72).
        ///
        /// # IRQL
        /// Any, provided the register is mapped (contract §11).
        ///
        /// # Bug checks
        /// 0x50 if `register` is not mapped, 0xBE if it is mapped read-only, 0x1E if it is
        /// misaligned (see the [module documentation](self)).
        #[inline]
        #[track_caller]
        pub fn $write<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, register: *mut $type, value: $type) {
            write(io, mm, VirtualAddress::from_ptr(register), value, Location::caller())
        }

        #[doc = concat!("`READ_REGISTER_BUFFER_", $nt, "(Register, Buffer, Count)`: fills `buffer` from ")]
        #[doc = concat!("`buffer.len()` consecutive `", $nt, "` registers starting at `register` (claim 73), ")]
        /// after a compiler barrier.
        ///
        /// # IRQL
        /// Any, provided the registers and the buffer are resident (contract §11).
        ///
        /// # Bug checks
        /// 0x50 at the first register that is not mapped, 0x1E if `register` is misaligned
        /// (see the [module documentation](self)).
        #[inline]
        #[track_caller]
        pub fn $read_buffer<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, register: *const $type, buffer: &mut [$type]) {
            let stride = <$type as Element>::WIDTH.bytes();
            read_buffer(io, mm, VirtualAddress::from_ptr(register), stride, buffer, Location::caller())
        }

        #[doc = concat!("`WRITE_REGISTER_BUFFER_", $nt, "(Register, Buffer, Count)`: writes `buffer` to ")]
        #[doc = concat!("`buffer.len()` consecutive `", $nt, "` registers starting at `register`, then ")]
        /// issues one full barrier.
        ///
        /// # IRQL
        /// Any, provided the registers and the buffer are resident (contract §11).
        ///
        /// # Bug checks
        /// 0x50 at the first register that is not mapped, 0xBE at the first read-only one,
        /// 0x1E if `register` is misaligned (see the [module documentation](self)).
        #[inline]
        #[track_caller]
        pub fn $write_buffer<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, register: *mut $type, buffer: &[$type]) {
            let stride = <$type as Element>::WIDTH.bytes();
            write_buffer(io, mm, VirtualAddress::from_ptr(register), stride, buffer, Location::caller())
        }
    };
}

register_routines!(
    u8,
    "UCHAR",
    read_register_uchar,
    write_register_uchar,
    read_register_buffer_uchar,
    write_register_buffer_uchar
);
register_routines!(
    u16,
    "USHORT",
    read_register_ushort,
    write_register_ushort,
    read_register_buffer_ushort,
    write_register_buffer_ushort
);
register_routines!(
    u32,
    "ULONG",
    read_register_ulong,
    write_register_ulong,
    read_register_buffer_ulong,
    write_register_buffer_ulong
);
register_routines!(
    u64,
    "ULONG64",
    read_register_ulong64,
    write_register_ulong64,
    read_register_buffer_ulong64,
    write_register_buffer_ulong64
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bug_check::{STATUS_DATATYPE_MISALIGNMENT, code};
    use crate::test_support::{Access, RecordingIo, TestMachine, catch_bug_check};
    use alloc::vec;
    use iospace_mm::nt::{mm_map_io_space_ex, mm_unmap_io_space};

    /// Where the tests pretend a device's registers are mapped.
    const BASE: u64 = 0xFFFF_C000_0010_0000;

    fn at<T>(address: u64) -> *mut T {
        VirtualAddress(address).as_ptr()
    }

    #[test]
    fn claim_72_write_register_ulong_is_followed_by_a_barrier_before_the_next_access() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        write_register_ulong(&io, machine.mm(), at(BASE + 8), 0x1234_5678);
        let status = read_register_ulong(&io, machine.mm(), at(BASE + 0x20));
        write_register_uchar(&io, machine.mm(), at(BASE + 1), 0xAB);
        assert_eq!(status, (BASE + 0x20) as u32);
        assert_eq!(
            io.log(),
            vec![
                Access::Write { address: BASE + 8, width: Width::U32, value: 0x1234_5678 },
                Access::Barrier,
                Access::Read { address: BASE + 0x20, width: Width::U32 },
                Access::Write { address: BASE + 1, width: Width::U8, value: 0xAB },
                Access::Barrier,
            ]
        );
    }

    #[test]
    fn claim_72_reads_carry_no_fence_instruction() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        read_register_ushort(&io, machine.mm(), at(BASE + 2));
        read_register_ulong64(&io, machine.mm(), at(BASE + 8));
        assert_eq!(
            io.log(),
            vec![
                Access::Read { address: BASE + 2, width: Width::U16 },
                Access::Read { address: BASE + 8, width: Width::U64 }
            ]
        );
    }

    #[test]
    fn every_width_is_one_access_of_that_width() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let io = RecordingIo::new();
        assert_eq!(read_register_uchar(&io, mm, at(BASE + 0x13)), 0x13);
        assert_eq!(read_register_ushort(&io, mm, at(BASE + 0x12)), (BASE + 0x12) as u16);
        assert_eq!(read_register_ulong(&io, mm, at(BASE + 0x14)), (BASE + 0x14) as u32);
        assert_eq!(read_register_ulong64(&io, mm, at(BASE + 0x18)), BASE + 0x18);
        write_register_ushort(&io, mm, at(BASE + 2), 0xBEEF);
        write_register_ulong64(&io, mm, at(BASE + 8), u64::MAX);
        let log = io.log();
        assert_eq!(log[0], Access::Read { address: BASE + 0x13, width: Width::U8 });
        assert_eq!(log[4], Access::Write { address: BASE + 2, width: Width::U16, value: 0xBEEF });
        assert_eq!(log[6], Access::Write { address: BASE + 8, width: Width::U64, value: u64::MAX });
    }

    #[test]
    fn claim_73_read_register_buffer_ulong_reads_consecutive_registers() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        let mut buffer = [0u32; 4];
        read_register_buffer_ulong(&io, machine.mm(), at(BASE + 0x40), &mut buffer);
        let expected: [u32; 4] = core::array::from_fn(|i| (BASE + 0x40 + 4 * i as u64) as u32);
        assert_eq!(buffer, expected);
        assert_eq!(
            io.log(),
            (0..4)
                .map(|i| Access::Read { address: BASE + 0x40 + 4 * i, width: Width::U32 })
                .collect::<vec::Vec<_>>()
        );
    }

    #[test]
    fn claim_73_write_register_buffer_writes_consecutive_registers_then_one_barrier() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        write_register_buffer_ushort(&io, machine.mm(), at(BASE + 0x10), &[1, 2, 3]);
        assert_eq!(
            io.log(),
            vec![
                Access::Write { address: BASE + 0x10, width: Width::U16, value: 1 },
                Access::Write { address: BASE + 0x12, width: Width::U16, value: 2 },
                Access::Write { address: BASE + 0x14, width: Width::U16, value: 3 },
                Access::Barrier,
            ]
        );
    }

    #[test]
    fn empty_buffers_touch_no_register_but_a_buffer_write_still_fences() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        read_register_buffer_uchar(&io, machine.mm(), at(BASE), &mut []);
        assert_eq!(io.log(), vec![]);
        write_register_buffer_ulong64(&io, machine.mm(), at(BASE), &[]);
        assert_eq!(io.log(), vec![Access::Barrier]);
    }

    #[test]
    fn a_read_of_an_unmapped_register_is_bug_check_0x50_at_the_call_site() {
        let machine = TestMachine::new();
        let io = RecordingIo::new().unmapped(BASE, 0x1000);
        let line = line!() + 1;
        let bug_check = catch_bug_check(|| read_register_ulong(&io, machine.mm(), at(BASE + 4)));
        assert_eq!(bug_check.code, code::PAGE_FAULT_IN_NONPAGED_AREA);
        assert_eq!(bug_check.parameters, [BASE + 4, 0, 0, 0]);
        let location = bug_check.location.unwrap();
        assert_eq!((location.file(), location.line()), (file!(), line));
        assert_eq!(io.log(), vec![]);
    }

    #[test]
    fn a_write_to_an_unmapped_register_is_bug_check_0x50_with_p2_1() {
        let machine = TestMachine::new();
        let io = RecordingIo::new().unmapped(BASE, 0x1000);
        let bug_check = catch_bug_check(|| write_register_uchar(&io, machine.mm(), at(BASE + 3), 1));
        assert_eq!((bug_check.code, bug_check.parameters), (0x50, [BASE + 3, 1, 0, 0]));
        assert_eq!(io.log(), vec![], "no barrier either: the store never completed");
    }

    #[test]
    fn a_buffer_read_faults_at_the_first_unmapped_register_after_reading_the_ones_before() {
        let machine = TestMachine::new();
        let io = RecordingIo::new().unmapped(BASE + 0x1000, 0x1000);
        let mut buffer = [0u64; 4];
        let bug_check = catch_bug_check(|| {
            read_register_buffer_ulong64(&io, machine.mm(), at(BASE + 0xFF0), &mut buffer)
        });
        assert_eq!(bug_check.parameters, [BASE + 0x1000, 0, 0, 0]);
        assert_eq!(io.log().len(), 2);
    }

    #[test]
    fn a_write_through_a_read_only_mapping_is_bug_check_0xbe_with_the_pte() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let va = mm_map_io_space_ex(mm, 0xFEB0_0000, 0x1000, 0x02 | 0x200); // PAGE_READONLY | PAGE_NOCACHE
        assert!(!va.is_null());
        let io = RecordingIo::through_page_tables(mm);
        assert_eq!(read_register_ulong(&io, mm, va.cast()), 0xFEB0_0000, "reads are allowed");
        let bug_check = catch_bug_check(|| write_register_ulong(&io, mm, va.cast(), 5));
        assert_eq!(bug_check.code, code::ATTEMPTED_WRITE_TO_READONLY_MEMORY);
        let address = VirtualAddress::from_ptr(va);
        let (entry, _) = mm.page_tables().leaf_entry(mm.platform().physical_memory(), address).unwrap();
        assert_eq!(bug_check.parameters, [address.0, entry, 0, 0]);
        assert_eq!(entry & !0xFFF & ((1 << 52) - 1), 0xFEB0_0000, "P2 is the entry that maps the page");
        assert_eq!(io.log().len(), 1, "the write never reached the device");
        mm_unmap_io_space(mm, va, 0x1000);
    }

    #[test]
    fn a_read_only_fault_outside_any_page_table_reports_entry_0() {
        let machine = TestMachine::new();
        let io = RecordingIo::new().read_only(BASE, 0x1000);
        let bug_check = catch_bug_check(|| write_register_buffer_uchar(&io, machine.mm(), at(BASE), &[1]));
        assert_eq!((bug_check.code, bug_check.parameters), (0xBE, [BASE, 0, 0, 0]));
    }

    #[test]
    fn a_misaligned_register_access_is_refused_before_it_reaches_the_device() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        let read = catch_bug_check(|| read_register_ulong(&io, machine.mm(), at(BASE + 2)));
        assert_eq!(read.code, code::KMODE_EXCEPTION_NOT_HANDLED);
        assert_eq!(read.parameters, [STATUS_DATATYPE_MISALIGNMENT, 0, 0, BASE + 2]);
        let write = catch_bug_check(|| write_register_ulong64(&io, machine.mm(), at(BASE + 4), 0));
        assert_eq!(write.parameters, [STATUS_DATATYPE_MISALIGNMENT, 0, 1, BASE + 4]);
        let buffer =
            catch_bug_check(|| read_register_buffer_ushort(&io, machine.mm(), at(BASE + 1), &mut [0; 2]));
        assert_eq!(buffer.parameters, [STATUS_DATATYPE_MISALIGNMENT, 0, 0, BASE + 1]);
        assert_eq!(io.log(), vec![]);
        // Byte accesses are always aligned.
        read_register_uchar(&io, machine.mm(), at(BASE + 3));
    }

    #[test]
    fn a_platform_that_reports_misalignment_gets_the_same_bug_check() {
        struct Strict;
        impl IoAccess for Strict {
            fn read_register(&self, address: VirtualAddress, _: Width) -> Result<u64, AccessFault> {
                Err(AccessFault::Misaligned(address))
            }
            fn write_register(&self, address: VirtualAddress, _: Width, _: u64) -> Result<(), AccessFault> {
                Err(AccessFault::Misaligned(address))
            }
            fn read_port(&self, _: u16, _: Width) -> u32 {
                0
            }
            fn write_port(&self, _: u16, _: Width, _: u32) {}
            fn memory_barrier(&self) {}
        }
        let machine = TestMachine::new();
        let bug_check = catch_bug_check(|| write_register_uchar(&Strict, machine.mm(), at(BASE), 0));
        assert_eq!(bug_check.parameters, [STATUS_DATATYPE_MISALIGNMENT, 0, 1, BASE]);
    }

    #[test]
    fn registers_are_reached_through_the_page_tables_on_the_hosted_model() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let va = iospace_mm::nt::mm_map_io_space(mm, 0xFEB0_1010, 0x20, 0);
        let io = RecordingIo::through_page_tables(mm);
        write_register_ulong(&io, mm, va.cast(), 7);
        assert_eq!(io.log()[0], Access::Write { address: 0xFEB0_1010, width: Width::U32, value: 7 });
        mm_unmap_io_space(mm, va, 0x20);
        let bug_check = catch_bug_check(|| read_register_ulong(&io, mm, va.cast()));
        assert_eq!(bug_check.parameters, [va as u64, 0, 0, 0], "unmapped after MmUnmapIoSpace");
    }
}
