//! Lengths of large memory ranges (contract §8.3) and the `Rtl*MemIoResource` helpers.
//!
//! A descriptor has a 64-bit start but only a 32-bit length field. `CmResourceTypeMemoryLarge`
//! stores the high-order bits of longer lengths: Length40 × 2^8, Length48 × 2^16 or
//! Length64 × 2^32, chosen by the `CM_RESOURCE_MEMORY_LARGE_*` flag. Requirements scale their
//! Alignment the same way. A length is encodable only if it is an exact multiple of the form's
//! unit and its scaled value fits 32 bits.
//!
//! Bench decisions where the documentation is silent:
//! - Encoding picks the smallest form that holds the length exactly: plain `Memory` up to
//!   0xFFFF_FFFF (even when `MemoryLarge` was asked for), then 40, 48, 64.
//! - A port length must fit 32 bits; ports have no large form.
//! - For requirements, the form must hold both the length and the alignment exactly; the
//!   alignment is never rounded, because that would change the requirement.
//! - Decoding a MemoryLarge descriptor without exactly one `LARGE_*` flag returns length 0 and
//!   leaves the caller's outputs untouched, like any other type the routines do not handle.

use core::fmt;

use crate::cm_constants::{
    CM_RESOURCE_MEMORY_LARGE, CM_RESOURCE_MEMORY_LARGE_40, CM_RESOURCE_MEMORY_LARGE_48,
    CM_RESOURCE_MEMORY_LARGE_64, CmResourceType,
};
use crate::cm_layout::CmPartialResourceDescriptor;
use crate::io_layout::{IoResourceDescriptorLayout, io_offsets};
use crate::status::NtStatus;

/// How a memory length is stored: the union variant and the unit of the 32-bit field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LargeForm {
    /// `CmResourceTypeMemory` (or Port): the field holds bytes.
    Small,
    /// `CM_RESOURCE_MEMORY_LARGE_40`: units of 2^8 bytes.
    Large40,
    /// `CM_RESOURCE_MEMORY_LARGE_48`: units of 2^16 bytes.
    Large48,
    /// `CM_RESOURCE_MEMORY_LARGE_64`: units of 2^32 bytes.
    Large64,
}

impl LargeForm {
    /// Every form, smallest unit first (the order encoders try them in).
    pub const ALL: [Self; 4] = [Self::Small, Self::Large40, Self::Large48, Self::Large64];

    /// log2 of the unit.
    pub const fn shift(self) -> u32 {
        match self {
            Self::Small => 0,
            Self::Large40 => 8,
            Self::Large48 => 16,
            Self::Large64 => 32,
        }
    }

    /// The `CM_RESOURCE_MEMORY_LARGE_*` flag of the form (0 for [`Self::Small`]).
    pub const fn large_flag(self) -> u16 {
        match self {
            Self::Small => 0,
            Self::Large40 => CM_RESOURCE_MEMORY_LARGE_40,
            Self::Large48 => CM_RESOURCE_MEMORY_LARGE_48,
            Self::Large64 => CM_RESOURCE_MEMORY_LARGE_64,
        }
    }

    /// The descriptor type a memory range of this form is stored with.
    pub const fn type_code(self) -> CmResourceType {
        match self {
            Self::Small => CmResourceType::MEMORY,
            _ => CmResourceType::MEMORY_LARGE,
        }
    }

    /// The form named by the `LARGE_*` bits of `flags`: `Small` when none is set, `None` when
    /// more than one is.
    pub const fn from_large_flags(flags: u16) -> Option<Self> {
        match flags & CM_RESOURCE_MEMORY_LARGE {
            0 => Some(Self::Small),
            CM_RESOURCE_MEMORY_LARGE_40 => Some(Self::Large40),
            CM_RESOURCE_MEMORY_LARGE_48 => Some(Self::Large48),
            CM_RESOURCE_MEMORY_LARGE_64 => Some(Self::Large64),
            _ => None,
        }
    }

    /// The largest byte count the form can state.
    pub const fn max_bytes(self) -> u64 {
        (u32::MAX as u64) << self.shift()
    }

    /// `bytes` in this form's units, if it is an exact multiple that fits 32 bits.
    pub const fn units_of(self, bytes: u64) -> Option<u32> {
        let unit_mask = (1u64 << self.shift()) - 1;
        if bytes & unit_mask != 0 || bytes > self.max_bytes() {
            return None;
        }
        Some((bytes >> self.shift()) as u32)
    }
}

/// A memory length as a descriptor stores it: a form and a 32-bit count of its units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MemoryLength {
    form: LargeForm,
    units: u32,
}

/// The length cannot be stored exactly in any form (`STATUS_UNSUCCESSFUL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LengthNotEncodable {
    /// The length in bytes.
    pub length: u64,
}

impl fmt::Display for LengthNotEncodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "length {:#x} is not a multiple of 2^8, 2^16 or 2^32 that the form can hold", self.length)
    }
}

impl core::error::Error for LengthNotEncodable {}

impl MemoryLength {
    /// `units` units of `form`.
    pub const fn new(form: LargeForm, units: u32) -> Self {
        Self { form, units }
    }

    /// The smallest form that stores `bytes` exactly (the `RtlCmEncodeMemIoResource` choice).
    pub const fn encode(bytes: u64) -> Result<Self, LengthNotEncodable> {
        let mut index = 0;
        while index < LargeForm::ALL.len() {
            let form = LargeForm::ALL[index];
            if let Some(units) = form.units_of(bytes) {
                return Ok(Self { form, units });
            }
            index += 1;
        }
        Err(LengthNotEncodable { length: bytes })
    }

    /// The form.
    pub const fn form(self) -> LargeForm {
        self.form
    }

    /// The stored 32-bit value (`Length`, `Length40`, `Length48` or `Length64`).
    pub const fn units(self) -> u32 {
        self.units
    }

    /// The length in bytes.
    pub const fn bytes(self) -> u64 {
        (self.units as u64) << self.form.shift()
    }
}

/// A requirement's length and alignment stored in one form (Memory40 scales both by 2^8, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ScaledRange {
    /// The length (its form is the alignment's form too).
    pub length: MemoryLength,
    /// The alignment in the same units as the length.
    pub alignment_units: u32,
}

/// The length or alignment cannot be stored exactly in one common form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangeNotEncodable {
    /// The length in bytes.
    pub length: u64,
    /// The alignment in bytes.
    pub alignment: u64,
}

impl fmt::Display for RangeNotEncodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "length {:#x} with alignment {:#x} fits no single memory form", self.length, self.alignment)
    }
}

impl core::error::Error for RangeNotEncodable {}

impl ScaledRange {
    /// The smallest form that stores both `length` and `alignment` exactly.
    pub const fn encode(length: u64, alignment: u64) -> Result<Self, RangeNotEncodable> {
        let mut index = 0;
        while index < LargeForm::ALL.len() {
            let form = LargeForm::ALL[index];
            if let (Some(units), Some(alignment_units)) = (form.units_of(length), form.units_of(alignment)) {
                return Ok(Self { length: MemoryLength::new(form, units), alignment_units });
            }
            index += 1;
        }
        Err(RangeNotEncodable { length, alignment })
    }

    /// The alignment in bytes.
    pub const fn alignment_bytes(self) -> u64 {
        (self.alignment_units as u64) << self.length.form.shift()
    }
}

/// The `Type` a caller asks `Rtl*EncodeMemIoResource` for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemIoType {
    /// `CmResourceTypePort`: the length must fit 32 bits.
    Port,
    /// `CmResourceTypeMemory` or `CmResourceTypeMemoryLarge`: the form follows the length.
    Memory,
}

impl MemIoType {
    /// The kind a `Type` byte asks for, or `None` for any other type (`STATUS_INVALID_PARAMETER`).
    pub const fn from_type(resource_type: u8) -> Option<Self> {
        match CmResourceType(resource_type) {
            CmResourceType::PORT => Some(Self::Port),
            CmResourceType::MEMORY | CmResourceType::MEMORY_LARGE => Some(Self::Memory),
            _ => None,
        }
    }
}

/// Why a descriptor holds no memory or port range that can be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeMemIoError {
    /// The descriptor's type is not Port, Memory or MemoryLarge.
    NotMemIo(CmResourceType),
    /// A MemoryLarge descriptor without exactly one `LARGE_*` flag.
    NoLargeForm {
        /// The descriptor's flags.
        flags: u16,
    },
}

impl fmt::Display for DecodeMemIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMemIo(code) => write!(f, "descriptor type {code:?} is not Port, Memory or MemoryLarge"),
            Self::NoLargeForm { flags } => write!(f, "MemoryLarge flags {flags:#x} name no single form"),
        }
    }
}

impl core::error::Error for DecodeMemIoError {}

/// Why an encode into a descriptor refused (the descriptor is unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeMemIoError {
    /// A `Type` other than Port, Memory or MemoryLarge (`STATUS_INVALID_PARAMETER`).
    InvalidType(u8),
    /// The length (or alignment) has no exact encoding (`STATUS_UNSUCCESSFUL`).
    NotEncodable,
}

impl fmt::Display for EncodeMemIoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidType(code) => write!(f, "type {code} is not Port, Memory or MemoryLarge"),
            Self::NotEncodable => f.write_str("the length has no exact encoding"),
        }
    }
}

impl core::error::Error for EncodeMemIoError {}

impl EncodeMemIoError {
    /// The `NTSTATUS` the NT routine returns for this error.
    pub const fn status(self) -> NtStatus {
        match self {
            Self::InvalidType(_) => NtStatus::INVALID_PARAMETER,
            Self::NotEncodable => NtStatus::UNSUCCESSFUL,
        }
    }
}

/// The form a descriptor of `resource_type` with `flags` stores its length in.
fn stored_form(resource_type: u8, flags: u16) -> Result<LargeForm, DecodeMemIoError> {
    match CmResourceType(resource_type) {
        CmResourceType::PORT | CmResourceType::MEMORY => Ok(LargeForm::Small),
        CmResourceType::MEMORY_LARGE => match LargeForm::from_large_flags(flags) {
            Some(LargeForm::Small) | None => Err(DecodeMemIoError::NoLargeForm { flags }),
            Some(form) => Ok(form),
        },
        other => Err(DecodeMemIoError::NotMemIo(other)),
    }
}

/// The type byte and flags after storing `form` over a descriptor of `kind` with `flags`.
fn stored_type(kind: MemIoType, form: LargeForm, flags: u16) -> (u8, u16) {
    match kind {
        MemIoType::Port => (CmResourceType::PORT.0, flags),
        MemIoType::Memory => (form.type_code().0, (flags & !CM_RESOURCE_MEMORY_LARGE) | form.large_flag()),
    }
}

impl CmPartialResourceDescriptor {
    /// Stores a memory or port range, choosing the form as `RtlCmEncodeMemIoResource` does and
    /// setting `Type` and the `LARGE_*` flags to match. Other flags are kept.
    ///
    /// # IRQL
    /// Any.
    pub fn encode_mem_io(
        &mut self,
        kind: MemIoType,
        length: u64,
        start: u64,
    ) -> Result<(), EncodeMemIoError> {
        let length = match kind {
            MemIoType::Port => {
                LargeForm::Small.units_of(length).map(|units| MemoryLength::new(LargeForm::Small, units))
            }
            MemIoType::Memory => MemoryLength::encode(length).ok(),
        }
        .ok_or(EncodeMemIoError::NotEncodable)?;
        let (resource_type, flags) = stored_type(kind, length.form(), self.flags);
        self.resource_type = resource_type;
        self.flags = flags;
        self.set_generic(start, length.units());
        Ok(())
    }

    /// The `(start, length in bytes)` of a Port, Memory or MemoryLarge descriptor.
    ///
    /// # IRQL
    /// Any.
    pub fn decode_mem_io(&self) -> Result<(u64, u64), DecodeMemIoError> {
        let form = stored_form(self.resource_type, self.flags)?;
        Ok((self.generic_start(), MemoryLength::new(form, self.generic_length()).bytes()))
    }
}

/// A requirement's memory or port range, decoded to bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemIoRequirement {
    /// Length in bytes.
    pub length: u64,
    /// Alignment in bytes.
    pub alignment: u64,
    /// `MinimumAddress` (bus-relative).
    pub minimum: u64,
    /// `MaximumAddress` (bus-relative, inclusive).
    pub maximum: u64,
}

impl IoResourceDescriptorLayout {
    /// Stores a memory or port requirement, choosing one form for length and alignment as
    /// `RtlIoEncodeMemIoResource` does, and setting `Type` and the `LARGE_*` flags to match.
    ///
    /// # IRQL
    /// Any.
    pub fn encode_mem_io(
        &mut self,
        kind: MemIoType,
        range: MemIoRequirement,
    ) -> Result<(), EncodeMemIoError> {
        let scaled = match kind {
            MemIoType::Port => {
                match (LargeForm::Small.units_of(range.length), LargeForm::Small.units_of(range.alignment)) {
                    (Some(length), Some(alignment_units)) => Some(ScaledRange {
                        length: MemoryLength::new(LargeForm::Small, length),
                        alignment_units,
                    }),
                    _ => None,
                }
            }
            MemIoType::Memory => ScaledRange::encode(range.length, range.alignment).ok(),
        }
        .ok_or(EncodeMemIoError::NotEncodable)?;
        let (resource_type, flags) = stored_type(kind, scaled.length.form(), self.flags);
        self.resource_type = resource_type;
        self.flags = flags;
        self.set_u32(io_offsets::LENGTH, scaled.length.units());
        self.set_u32(io_offsets::ALIGNMENT, scaled.alignment_units);
        self.set_u64(io_offsets::MINIMUM_ADDRESS, range.minimum);
        self.set_u64(io_offsets::MAXIMUM_ADDRESS, range.maximum);
        Ok(())
    }

    /// The range of a Port, Memory or MemoryLarge requirement, in bytes.
    ///
    /// # IRQL
    /// Any.
    pub fn decode_mem_io(&self) -> Result<MemIoRequirement, DecodeMemIoError> {
        let form = stored_form(self.resource_type, self.flags)?;
        let scaled = ScaledRange {
            length: MemoryLength::new(form, self.u32_at(io_offsets::LENGTH)),
            alignment_units: self.u32_at(io_offsets::ALIGNMENT),
        };
        Ok(MemIoRequirement {
            length: scaled.length.bytes(),
            alignment: scaled.alignment_bytes(),
            minimum: self.u64_at(io_offsets::MINIMUM_ADDRESS),
            maximum: self.u64_at(io_offsets::MAXIMUM_ADDRESS),
        })
    }
}

/// `RtlCmEncodeMemIoResource(Descriptor, Type, Length, Start) -> NTSTATUS`.
///
/// `STATUS_INVALID_PARAMETER` for a type other than Port, Memory or MemoryLarge;
/// `STATUS_UNSUCCESSFUL` when the length has no exact encoding (claim 24). The descriptor is
/// unchanged on failure.
///
/// # IRQL
/// Any.
pub fn rtl_cm_encode_mem_io_resource(
    descriptor: &mut CmPartialResourceDescriptor,
    resource_type: u8,
    length: u64,
    start: u64,
) -> NtStatus {
    let result = MemIoType::from_type(resource_type)
        .ok_or(EncodeMemIoError::InvalidType(resource_type))
        .and_then(|kind| descriptor.encode_mem_io(kind, length, start));
    match result {
        Ok(()) => NtStatus::SUCCESS,
        Err(error) => error.status(),
    }
}

/// `RtlCmDecodeMemIoResource(Descriptor, Start) -> ULONGLONG`: the length in bytes, and the start
/// through `start` when given. Returns 0 (and leaves `start` alone) for a descriptor that holds
/// no memory or port range.
///
/// # IRQL
/// Any.
pub fn rtl_cm_decode_mem_io_resource(
    descriptor: &CmPartialResourceDescriptor,
    start: Option<&mut u64>,
) -> u64 {
    match descriptor.decode_mem_io() {
        Ok((first, length)) => {
            if let Some(start) = start {
                *start = first;
            }
            length
        }
        Err(_) => 0,
    }
}

/// `RtlIoEncodeMemIoResource(Descriptor, Type, Length, Alignment, MinimumAddress,
/// MaximumAddress) -> NTSTATUS`, with the same statuses as [`rtl_cm_encode_mem_io_resource`].
///
/// # IRQL
/// Any.
pub fn rtl_io_encode_mem_io_resource(
    descriptor: &mut IoResourceDescriptorLayout,
    resource_type: u8,
    length: u64,
    alignment: u64,
    minimum_address: u64,
    maximum_address: u64,
) -> NtStatus {
    let range = MemIoRequirement { length, alignment, minimum: minimum_address, maximum: maximum_address };
    let result = MemIoType::from_type(resource_type)
        .ok_or(EncodeMemIoError::InvalidType(resource_type))
        .and_then(|kind| descriptor.encode_mem_io(kind, range));
    match result {
        Ok(()) => NtStatus::SUCCESS,
        Err(error) => error.status(),
    }
}

/// `RtlIoDecodeMemIoResource(Descriptor, Alignment, MinimumAddress, MaximumAddress) ->
/// ULONGLONG`: the length in bytes, and the other values through the outputs that are given.
/// Returns 0 (outputs untouched) for a descriptor that holds no memory or port requirement.
///
/// # IRQL
/// Any.
pub fn rtl_io_decode_mem_io_resource(
    descriptor: &IoResourceDescriptorLayout,
    alignment: Option<&mut u64>,
    minimum_address: Option<&mut u64>,
    maximum_address: Option<&mut u64>,
) -> u64 {
    let Ok(range) = descriptor.decode_mem_io() else {
        return 0;
    };
    for (output, value) in
        [(alignment, range.alignment), (minimum_address, range.minimum), (maximum_address, range.maximum)]
    {
        if let Some(output) = output {
            *output = value;
        }
    }
    range.length
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cm_constants::{CM_RESOURCE_MEMORY_PREFETCHABLE, CM_RESOURCE_PORT_IO};

    fn large(flags: u16, units: u32) -> CmPartialResourceDescriptor {
        let mut descriptor =
            CmPartialResourceDescriptor::new(CmResourceType::MEMORY_LARGE.0, 1, flags, [0; 16]);
        descriptor.set_generic(0x10_0000_0000, units);
        descriptor
    }

    #[test]
    fn claim_23_large_48_with_length48_one_decodes_to_0x10000() {
        let descriptor = large(CM_RESOURCE_MEMORY_LARGE_48, 1);
        let mut start = 0;
        assert_eq!(rtl_cm_decode_mem_io_resource(&descriptor, Some(&mut start)), 0x10000);
        assert_eq!(start, 0x10_0000_0000);
        assert_eq!(rtl_cm_decode_mem_io_resource(&large(CM_RESOURCE_MEMORY_LARGE_40, 1), None), 0x100);
        assert_eq!(
            rtl_cm_decode_mem_io_resource(&large(CM_RESOURCE_MEMORY_LARGE_64, 1), None),
            0x1_0000_0000
        );
        assert_eq!(
            rtl_cm_decode_mem_io_resource(&large(CM_RESOURCE_MEMORY_LARGE_64, u32::MAX), None),
            0xFFFF_FFFF_0000_0000
        );
    }

    #[test]
    fn claim_23_decode_refuses_what_is_not_a_range() {
        let mut start = 7;
        assert_eq!(rtl_cm_decode_mem_io_resource(&large(0, 1), Some(&mut start)), 0);
        assert_eq!(rtl_cm_decode_mem_io_resource(&large(CM_RESOURCE_MEMORY_LARGE, 1), Some(&mut start)), 0);
        let interrupt = CmPartialResourceDescriptor::new(CmResourceType::INTERRUPT.0, 1, 0, [0xFF; 16]);
        assert_eq!(rtl_cm_decode_mem_io_resource(&interrupt, Some(&mut start)), 0);
        assert_eq!(start, 7);
        assert_eq!(interrupt.decode_mem_io(), Err(DecodeMemIoError::NotMemIo(CmResourceType::INTERRUPT)));
    }

    #[test]
    fn claim_24_encode_picks_the_smallest_exact_form() {
        let cases: [(u64, CmResourceType, u16, u32); 7] = [
            (0x1000, CmResourceType::MEMORY, 0, 0x1000),
            (0xFFFF_FFFF, CmResourceType::MEMORY, 0, 0xFFFF_FFFF),
            (0x1_0000_0000, CmResourceType::MEMORY_LARGE, CM_RESOURCE_MEMORY_LARGE_40, 0x0100_0000),
            (0xFF_FFFF_FF00, CmResourceType::MEMORY_LARGE, CM_RESOURCE_MEMORY_LARGE_40, 0xFFFF_FFFF),
            (0x100_0000_0000, CmResourceType::MEMORY_LARGE, CM_RESOURCE_MEMORY_LARGE_48, 0x0100_0000),
            (0xFFFF_FFFF_0000, CmResourceType::MEMORY_LARGE, CM_RESOURCE_MEMORY_LARGE_48, 0xFFFF_FFFF),
            (0x1_0000_0000_0000, CmResourceType::MEMORY_LARGE, CM_RESOURCE_MEMORY_LARGE_64, 0x1_0000),
        ];
        for (length, resource_type, large_flag, units) in cases {
            let mut descriptor = CmPartialResourceDescriptor::new(
                0,
                1,
                CM_RESOURCE_MEMORY_PREFETCHABLE | CM_RESOURCE_MEMORY_LARGE_64,
                [0; 16],
            );
            assert_eq!(
                rtl_cm_encode_mem_io_resource(
                    &mut descriptor,
                    CmResourceType::MEMORY_LARGE.0,
                    length,
                    0xE000_0000
                ),
                NtStatus::SUCCESS,
                "{length:#x}"
            );
            assert_eq!(descriptor.resource_type, resource_type.0, "{length:#x}");
            let flags = descriptor.flags;
            assert_eq!(flags, CM_RESOURCE_MEMORY_PREFETCHABLE | large_flag, "{length:#x}");
            assert_eq!(descriptor.generic_length(), units, "{length:#x}");
            let mut start = 0;
            assert_eq!(rtl_cm_decode_mem_io_resource(&descriptor, Some(&mut start)), length);
            assert_eq!(start, 0xE000_0000);
        }
    }

    #[test]
    fn claim_24_unencodable_lengths_fail_with_status_unsuccessful() {
        let lengths = [
            0x1_0000_0001,         // above 32 bits, low 8 bits not zero
            0x100_0000_0100,       // above 40 bits, not a multiple of 2^16
            0x1_0000_0001_0000,    // above 48 bits, low 32 bits not zero
            0xFFFF_FFFF_FFFF_FFFF, // nothing holds it
        ];
        for length in lengths {
            let mut descriptor = CmPartialResourceDescriptor::default();
            let before = descriptor;
            assert_eq!(
                rtl_cm_encode_mem_io_resource(&mut descriptor, CmResourceType::MEMORY.0, length, 0),
                NtStatus::UNSUCCESSFUL,
                "{length:#x}"
            );
            assert_eq!(descriptor, before, "unchanged on failure");
            assert_eq!(MemoryLength::encode(length), Err(LengthNotEncodable { length }));
        }
        // Ports have no large form.
        let mut descriptor = CmPartialResourceDescriptor::default();
        assert_eq!(
            rtl_cm_encode_mem_io_resource(&mut descriptor, CmResourceType::PORT.0, 0x1_0000_0000, 0),
            NtStatus::UNSUCCESSFUL
        );
    }

    #[test]
    fn claim_24_other_types_are_invalid_parameters() {
        for resource_type in [0, 2, 4, 5, 6, 129] {
            let mut descriptor = CmPartialResourceDescriptor::default();
            assert_eq!(
                rtl_cm_encode_mem_io_resource(&mut descriptor, resource_type, 0x1000, 0),
                NtStatus::INVALID_PARAMETER
            );
        }
    }

    #[test]
    fn port_encoding_keeps_port_flags() {
        let mut descriptor = CmPartialResourceDescriptor::new(0, 1, CM_RESOURCE_PORT_IO, [0; 16]);
        assert_eq!(rtl_cm_encode_mem_io_resource(&mut descriptor, 1, 8, 0x3F8), NtStatus::SUCCESS);
        assert_eq!(descriptor.resource_type, 1);
        let flags = descriptor.flags;
        assert_eq!(flags, CM_RESOURCE_PORT_IO);
        assert_eq!(descriptor.decode_mem_io(), Ok((0x3F8, 8)));
    }

    #[test]
    fn io_encoding_scales_alignment_with_length() {
        let mut descriptor = IoResourceDescriptorLayout::default();
        assert_eq!(
            rtl_io_encode_mem_io_resource(&mut descriptor, 3, 0x2_0000_0000, 0x1_0000_0000, 0, u64::MAX),
            NtStatus::SUCCESS
        );
        assert_eq!(descriptor.resource_type, CmResourceType::MEMORY_LARGE.0);
        let flags = descriptor.flags;
        assert_eq!(flags, CM_RESOURCE_MEMORY_LARGE_40);
        assert_eq!(descriptor.u32_at(io_offsets::LENGTH), 0x0200_0000);
        assert_eq!(descriptor.u32_at(io_offsets::ALIGNMENT), 0x0100_0000);
        let (mut alignment, mut minimum, mut maximum) = (0, 1, 0);
        assert_eq!(
            rtl_io_decode_mem_io_resource(
                &descriptor,
                Some(&mut alignment),
                Some(&mut minimum),
                Some(&mut maximum)
            ),
            0x2_0000_0000
        );
        assert_eq!((alignment, minimum, maximum), (0x1_0000_0000, 0, u64::MAX));

        // A small alignment cannot ride in a large form.
        let mut descriptor = IoResourceDescriptorLayout::default();
        assert_eq!(
            rtl_io_encode_mem_io_resource(&mut descriptor, 3, 0x2_0000_0000, 1, 0, u64::MAX),
            NtStatus::UNSUCCESSFUL
        );
        // A large alignment moves a small length into a large form.
        assert_eq!(
            ScaledRange::encode(0x1000, 0x1_0000_0000),
            Ok(ScaledRange {
                length: MemoryLength::new(LargeForm::Large40, 0x10),
                alignment_units: 0x0100_0000
            })
        );
        assert_eq!(
            rtl_io_encode_mem_io_resource(&mut descriptor, 6, 1, 1, 0, 0),
            NtStatus::INVALID_PARAMETER
        );
        assert_eq!(
            rtl_io_decode_mem_io_resource(&IoResourceDescriptorLayout::default(), None, None, None),
            0
        );
    }
}
