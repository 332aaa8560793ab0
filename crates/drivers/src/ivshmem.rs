//! A driver for QEMU's `ivshmem-plain` (vendor 0x1af4, device 0x1110): BAR0 is 256 bytes of
//! registers, BAR2 the memory shared with the host (a file another process can read).
//!
//! At START it maps BAR0 uncached and BAR2 write-combined (its raw resource is prefetchable:
//! reads have no side effects and writes may merge), writes [`pattern`] to the start of the
//! shared memory with `WRITE_REGISTER_BUFFER_ULONG`, and reads it back with
//! `READ_REGISTER_BUFFER_ULONG`. The pattern stays in the shared memory after the device is
//! removed, so the host can check it from outside the machine.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use iospace_mm::caching::CachePolicy;
use iospace_pnp::cm_constants::CM_RESOURCE_MEMORY_PREFETCHABLE;
use iospace_pnp::driver::{DeviceContext, Driver};
use iospace_pnp::resource::Resource;
use iospace_pnp::status::NtStatus;
use iospace_pnp::translation::ResourcePair;

use crate::device_resources::DeviceResources;
use crate::journal::Journal;

/// The vendor ID.
pub const VENDOR_ID: u16 = 0x1AF4;
/// The device ID.
pub const DEVICE_ID: u16 = 0x1110;
/// BAR0's IVPosition register.
const IV_POSITION: u64 = 0x08;
/// Bytes of the pattern (or the whole shared memory, if smaller).
pub const PATTERN_BYTES: u64 = 64 * 1024;
/// The first eight bytes of the pattern.
pub const PATTERN_MAGIC: [u8; 8] = *b"iospace!";

/// The `len`-byte pattern the driver writes at the start of the shared memory (`len` a
/// multiple of 4): [`PATTERN_MAGIC`], then 32-bit little-endian words where word `i` is
/// `i * 0x9E3779B9` (a multiplicative hash, so every word differs and a shifted or torn copy
/// shows).
pub fn pattern(len: usize) -> Vec<u8> {
    pattern_words(len / 4).iter().flat_map(|word| word.to_le_bytes()).collect()
}

fn pattern_words(count: usize) -> Vec<u32> {
    let magic = [
        u32::from_le_bytes([PATTERN_MAGIC[0], PATTERN_MAGIC[1], PATTERN_MAGIC[2], PATTERN_MAGIC[3]]),
        u32::from_le_bytes([PATTERN_MAGIC[4], PATTERN_MAGIC[5], PATTERN_MAGIC[6], PATTERN_MAGIC[7]]),
    ];
    (0..count).map(|i| if i < 2 { magic[i] } else { (i as u32).wrapping_mul(0x9E37_79B9) }).collect()
}

/// The ivshmem driver.
#[derive(Debug)]
pub struct IvshmemDriver<'mm> {
    journal: Journal,
    resources: Option<DeviceResources<'mm>>,
}

impl IvshmemDriver<'_> {
    /// A driver recording into `journal`.
    pub fn new(journal: Journal) -> Self {
        Self { journal, resources: None }
    }
}

/// Write-combined for prefetchable memory (the shared RAM), uncached for registers.
fn cache_for(resource: &Resource<iospace_pnp::resource::Raw>) -> CachePolicy {
    match resource {
        Resource::Memory { flags, .. } if flags & CM_RESOURCE_MEMORY_PREFETCHABLE != 0 => {
            CachePolicy::WriteCombining
        }
        _ => CachePolicy::Uncached,
    }
}

impl<'mm> Driver<'mm> for IvshmemDriver<'mm> {
    fn start(&mut self, device: &DeviceContext<'mm>, resources: &ResourcePair) -> Result<(), NtStatus> {
        let claimed = DeviceResources::claim(device, resources, |_, raw| cache_for(raw))
            .map_err(|error| error.status())?;
        let (Some(registers), Some(shared)) = (claimed.memory(0), claimed.memory(1)) else {
            self.journal.check("BARs", false, "expected registers (BAR0) and shared memory (BAR2)");
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        };
        self.journal.note("map BAR0", crate::resource_text::mapping(registers));
        self.journal.note("map BAR2", crate::resource_text::mapping(shared));
        let position = registers.read_u32(IV_POSITION);
        self.journal.check("IVPosition", position == 0, format!("{position} (no peers)"));

        let words = (PATTERN_BYTES.min(shared.length()) / 4) as usize;
        let written = pattern_words(words);
        shared.write_buffer_u32(0, &written);
        let mut read = vec![0u32; words];
        shared.read_buffer_u32(0, &mut read);
        let first_difference = written.iter().zip(&read).position(|(a, b)| a != b);
        let passed = first_difference.is_none();
        self.journal.check(
            "pattern to shared memory",
            passed,
            match first_difference {
                None => format!("{} bytes written and read back through BAR2", words * 4),
                Some(word) => {
                    format!("word {word} reads {:#010x}, wrote {:#010x}", read[word], written[word])
                }
            },
        );
        if !passed {
            return Err(NtStatus::DEVICE_CONFIGURATION_ERROR);
        }
        self.resources = Some(claimed);
        Ok(())
    }

    fn stop(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }

    fn surprise_removal(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }

    fn remove(&mut self, _device: &DeviceContext<'mm>) {
        self.resources = None;
    }
}
