//! `READ_PORT_*`, `WRITE_PORT_*` and their buffer forms (contract §11).
//!
//! A driver picks these routines when its **raw** resource is a port (contract §8.5). What it
//! passes as the "port pointer" depends on the **translated** resource:
//! - translated Port (x86): the port number, the low 32 bits of the translated start
//!   (claim 20), cast to a pointer; no mapping was made;
//! - translated Memory (memory-mapped port space, claim 19): the virtual address the driver got
//!   from `MmMapIoSpace` on the translated range.
//!
//! The routines tell the two apart by value: a pointer value up to 0xFFFF is a port number and
//! the access goes to I/O space; anything above is a mapped virtual address and the access takes
//! the register path, with the register routines' ordering and faults (see
//! [`registers`]). No mapping ever lands below 0x10000 (the first 64 KiB of
//! the address space are never mapped), and x86 has no ports above 0xFFFF, so the split is
//! exact. The x86 header keeps only the low 16 bits of the pointer; a value above 0xFFFF is a
//! driver bug there (it silently hits another port), and here it is an access to an unmapped
//! address: bug check 0x50, which names the bug.
//!
//! Ordering, as the x64 header helpers do it: a compiler barrier, the `in` or `out` (x86 I/O
//! instructions are not buffered, so no fence is needed), another compiler barrier. On the
//! memory-mapped path a write is followed by a full barrier, as a register write is, so that a
//! driver sees the same ordering on both personalities.
//!
//! Buffer forms access the **same** port `buffer.len()` times (claim 73), as `rep ins` and
//! `rep outs` do; on the memory-mapped path that is the same address each time.

use core::panic::Location;
use core::sync::atomic::{Ordering, compiler_fence};

use iospace_mm::address::VirtualAddress;
use iospace_mm::memory_manager::MemoryManager;

use crate::access::IoAccess;
use crate::registers::{self, Element};

/// The largest port-pointer value that is a port number; anything above is a mapped VA.
pub const MAX_PORT_NUMBER: u64 = 0xFFFF;

/// What a port pointer designates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortTarget {
    /// A port in I/O space (the pointer value is at most [`MAX_PORT_NUMBER`]).
    Port(u16),
    /// The virtual address of a memory-mapped port (any larger value).
    Mapped(VirtualAddress),
}

impl PortTarget {
    /// What the port pointer `port` designates.
    pub fn of<T>(port: *const T) -> Self {
        let address = VirtualAddress::from_ptr(port);
        match u16::try_from(address.0) {
            Ok(number) => Self::Port(number),
            Err(_) => Self::Mapped(address),
        }
    }
}

#[inline]
fn read<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    port: PortTarget,
    location: &'static Location<'static>,
) -> T {
    match port {
        PortTarget::Port(number) => {
            compiler_fence(Ordering::SeqCst);
            let value = T::from_bits(io.read_port(number, T::WIDTH).into());
            compiler_fence(Ordering::SeqCst);
            value
        }
        PortTarget::Mapped(address) => registers::read(io, mm, address, location),
    }
}

#[inline]
fn write<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    port: PortTarget,
    value: T,
    location: &'static Location<'static>,
) {
    match port {
        PortTarget::Port(number) => {
            compiler_fence(Ordering::SeqCst);
            // Elements are at most 32 bits wide here, so nothing is lost.
            io.write_port(number, T::WIDTH, value.to_bits() as u32);
            compiler_fence(Ordering::SeqCst);
        }
        PortTarget::Mapped(address) => registers::write(io, mm, address, value, location),
    }
}

#[inline]
fn read_buffer<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    port: PortTarget,
    buffer: &mut [T],
    location: &'static Location<'static>,
) {
    match port {
        PortTarget::Port(number) => {
            compiler_fence(Ordering::SeqCst);
            for slot in buffer {
                *slot = T::from_bits(io.read_port(number, T::WIDTH).into());
            }
            compiler_fence(Ordering::SeqCst);
        }
        PortTarget::Mapped(address) => registers::read_buffer(io, mm, address, 0, buffer, location),
    }
}

#[inline]
fn write_buffer<A: IoAccess + ?Sized, T: Element>(
    io: &A,
    mm: &MemoryManager,
    port: PortTarget,
    buffer: &[T],
    location: &'static Location<'static>,
) {
    match port {
        PortTarget::Port(number) => {
            compiler_fence(Ordering::SeqCst);
            for &value in buffer {
                io.write_port(number, T::WIDTH, value.to_bits() as u32);
            }
            compiler_fence(Ordering::SeqCst);
        }
        PortTarget::Mapped(address) => registers::write_buffer(io, mm, address, 0, buffer, location),
    }
}

macro_rules! port_routines {
    ($type:ty, $nt:literal, $read:ident, $write:ident, $read_buffer:ident, $write_buffer:ident) => {
        #[doc = concat!("`READ_PORT_", $nt, "(Port) -> ", $nt, "`: one `", $nt, "` from `port`, a port number ")]
        /// or a mapped VA (see the [module documentation](self)).
        ///
        /// # IRQL
        /// Any (contract §11).
        ///
        /// # Bug checks
        /// On the memory-mapped path, those of the register routines (0x50 unmapped, 0x1E
        /// misaligned).
        #[inline]
        #[track_caller]
        pub fn $read<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, port: *const $type) -> $type {
            read(io, mm, PortTarget::of(port), Location::caller())
        }

        #[doc = concat!("`WRITE_PORT_", $nt, "(Port, Value)`: one `", $nt, "` to `port`, a port number or a ")]
        /// mapped VA (see the [module documentation](self)).
        ///
        /// # IRQL
        /// Any (contract §11).
        ///
        /// # Bug checks
        /// On the memory-mapped path, those of the register routines (0x50 unmapped, 0xBE
        /// read-only, 0x1E misaligned).
        #[inline]
        #[track_caller]
        pub fn $write<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, port: *mut $type, value: $type) {
            write(io, mm, PortTarget::of(port), value, Location::caller())
        }

        #[doc = concat!("`READ_PORT_BUFFER_", $nt, "(Port, Buffer, Count)`: fills `buffer` with `buffer.len()` ")]
        #[doc = concat!("reads of the same `", $nt, "` port (claim 73).")]
        ///
        /// # IRQL
        /// Any, provided the buffer is resident (contract §11).
        ///
        /// # Bug checks
        /// On the memory-mapped path, those of the register routines.
        #[inline]
        #[track_caller]
        pub fn $read_buffer<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, port: *const $type, buffer: &mut [$type]) {
            read_buffer(io, mm, PortTarget::of(port), buffer, Location::caller())
        }

        #[doc = concat!("`WRITE_PORT_BUFFER_", $nt, "(Port, Buffer, Count)`: writes each element of `buffer` ")]
        #[doc = concat!("to the same `", $nt, "` port, in order (claim 73).")]
        ///
        /// # IRQL
        /// Any, provided the buffer is resident (contract §11).
        ///
        /// # Bug checks
        /// On the memory-mapped path, those of the register routines.
        #[inline]
        #[track_caller]
        pub fn $write_buffer<A: IoAccess + ?Sized>(io: &A, mm: &MemoryManager, port: *mut $type, buffer: &[$type]) {
            write_buffer(io, mm, PortTarget::of(port), buffer, Location::caller())
        }
    };
}

port_routines!(
    u8,
    "UCHAR",
    read_port_uchar,
    write_port_uchar,
    read_port_buffer_uchar,
    write_port_buffer_uchar
);
port_routines!(
    u16,
    "USHORT",
    read_port_ushort,
    write_port_ushort,
    read_port_buffer_ushort,
    write_port_buffer_ushort
);
port_routines!(
    u32,
    "ULONG",
    read_port_ulong,
    write_port_ulong,
    read_port_buffer_ulong,
    write_port_buffer_ulong
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Width;
    use crate::test_support::{Access, RecordingIo, TestMachine, catch_bug_check};
    use alloc::vec;
    use alloc::vec::Vec;

    /// A port pointer as a driver builds one from a translated port resource.
    fn port<T>(number: u32) -> *mut T {
        number as usize as *mut T
    }

    /// Where the tests pretend a memory-mapped port is.
    const MAPPED: u64 = 0xFFFF_C000_0020_03F8;

    #[test]
    fn port_pointers_up_to_0xffff_are_port_numbers_and_larger_ones_mapped_addresses() {
        assert_eq!(PortTarget::of(port::<u8>(0)), PortTarget::Port(0));
        assert_eq!(PortTarget::of(port::<u8>(0x3F8)), PortTarget::Port(0x3F8));
        assert_eq!(PortTarget::of(port::<u8>(0xFFFF)), PortTarget::Port(0xFFFF));
        assert_eq!(PortTarget::of(port::<u8>(0x1_0000)), PortTarget::Mapped(VirtualAddress(0x1_0000)));
        assert_eq!(
            PortTarget::of(VirtualAddress(MAPPED).as_ptr::<u32>()),
            PortTarget::Mapped(VirtualAddress(MAPPED))
        );
    }

    #[test]
    fn claim_73_read_port_buffer_ulong_reads_the_same_port_n_times() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        let mut buffer = [0u32; 4];
        read_port_buffer_ulong(&io, machine.mm(), port(0xC000), &mut buffer);
        assert_eq!(buffer, [1, 2, 3, 4], "four successive reads of one FIFO port");
        assert_eq!(io.log(), vec![Access::PortRead { port: 0xC000, width: Width::U32 }; 4]);
    }

    #[test]
    fn claim_73_write_port_buffer_writes_the_same_port_n_times() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        write_port_buffer_ushort(&io, machine.mm(), port(0x1F0), &[0xA, 0xB, 0xC]);
        assert_eq!(
            io.log(),
            [0xA, 0xB, 0xC].map(|value| Access::PortWrite { port: 0x1F0, width: Width::U16, value }).to_vec()
        );
    }

    #[test]
    fn claim_73_a_memory_mapped_port_buffer_hits_the_same_address_n_times() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        let mut buffer = [0u8; 3];
        read_port_buffer_uchar(&io, machine.mm(), VirtualAddress(MAPPED).as_ptr(), &mut buffer);
        write_port_buffer_uchar(&io, machine.mm(), VirtualAddress(MAPPED).as_ptr(), &[7, 8]);
        let read = Access::Read { address: MAPPED, width: Width::U8 };
        let write = |value| Access::Write { address: MAPPED, width: Width::U8, value };
        assert_eq!(io.log(), vec![read, read, read, write(7), write(8), Access::Barrier]);
    }

    #[test]
    fn port_accesses_are_one_in_or_out_of_the_routine_width() {
        let machine = TestMachine::new();
        let mm = machine.mm();
        let io = RecordingIo::new();
        assert_eq!(read_port_uchar(&io, mm, port(0x3FD)), 1);
        assert_eq!(read_port_ushort(&io, mm, port(0x3FD)), 2, "the same FIFO, counted across widths");
        write_port_uchar(&io, mm, port(0x3F8), 0x41);
        write_port_ulong(&io, mm, port(0xCF8), 0x8000_0000);
        assert_eq!(read_port_ulong(&io, mm, port(0xCFC)), 1);
        assert_eq!(
            io.log(),
            vec![
                Access::PortRead { port: 0x3FD, width: Width::U8 },
                Access::PortRead { port: 0x3FD, width: Width::U16 },
                Access::PortWrite { port: 0x3F8, width: Width::U8, value: 0x41 },
                Access::PortWrite { port: 0xCF8, width: Width::U32, value: 0x8000_0000 },
                Access::PortRead { port: 0xCFC, width: Width::U32 },
            ],
            "no barrier after an out: I/O writes are not buffered"
        );
    }

    #[test]
    fn a_memory_mapped_port_write_is_ordered_like_a_register_write() {
        let machine = TestMachine::new();
        let io = RecordingIo::new();
        write_port_ushort(&io, machine.mm(), VirtualAddress(MAPPED - 0x3F8).as_ptr(), 0x1234);
        let value = read_port_ulong(&io, machine.mm(), VirtualAddress(MAPPED - 0x3F8 + 4).as_ptr());
        assert_eq!(value, (MAPPED - 0x3F8 + 4) as u32);
        assert_eq!(
            io.log(),
            vec![
                Access::Write { address: MAPPED - 0x3F8, width: Width::U16, value: 0x1234 },
                Access::Barrier,
                Access::Read { address: MAPPED - 0x3F8 + 4, width: Width::U32 },
            ]
        );
    }

    #[test]
    fn a_port_pointer_above_0xffff_that_is_not_mapped_is_bug_check_0x50() {
        let machine = TestMachine::new();
        let io = RecordingIo::new().unmapped(0, 0x100_0000);
        // A driver that passed a translated port with stray high bits set.
        let bug_check = catch_bug_check(|| write_port_uchar(&io, machine.mm(), port(0x1_03F8), 0));
        assert_eq!((bug_check.code, bug_check.parameters), (0x50, [0x1_03F8, 1, 0, 0]));
        let mut buffer: Vec<u16> = vec![0; 2];
        let bug_check =
            catch_bug_check(|| read_port_buffer_ushort(&io, machine.mm(), port(0x2_0000), &mut buffer));
        assert_eq!(bug_check.parameters, [0x2_0000, 0, 0, 0]);
        assert_eq!(io.log(), vec![]);
    }
}
