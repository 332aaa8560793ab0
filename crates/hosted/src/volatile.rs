//! Byte copies to and from memory that another party may change at any time: RAM a device
//! masters, a file another process has mapped. Each byte is one volatile access, so the
//! compiler neither elides nor merges them, and no Rust reference to the shared bytes exists.

/// Copies `buffer.len()` bytes from `source` into `buffer`.
///
/// # Safety
/// `source` must be valid for reads of `buffer.len()` bytes.
pub(crate) unsafe fn copy_in(source: *const u8, buffer: &mut [u8]) {
    for (index, byte) in buffer.iter_mut().enumerate() {
        // SAFETY: `index < buffer.len()`, inside the range the caller vouches for.
        *byte = unsafe { source.add(index).read_volatile() };
    }
}

/// Copies `data` to `destination`.
///
/// # Safety
/// `destination` must be valid for writes of `data.len()` bytes.
pub(crate) unsafe fn copy_out(destination: *mut u8, data: &[u8]) {
    for (index, &byte) in data.iter().enumerate() {
        // SAFETY: `index < data.len()`, inside the range the caller vouches for.
        unsafe { destination.add(index).write_volatile(byte) };
    }
}
