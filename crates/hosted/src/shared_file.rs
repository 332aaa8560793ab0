//! ivshmem's shared memory on the hosted machine: a file mapped `MAP_SHARED`, so that another
//! process (a host tool, a test, a second machine) that opens or maps the same file sees every
//! byte the guest writes to BAR2, at once, as with QEMU's `memory-backend-file,share=on`.
//!
//! The file is created if missing and grown to the region's size; it is left in place when the
//! machine goes away, so that the host can look at it after the run
//! ([`Machine::ivshmem_paths`](crate::Machine::ivshmem_paths) says where it is).

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use iospace_devices::ivshmem::SharedRegion;
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

use crate::volatile;

/// Distinguishes the default files of several machines in one process.
static NEXT_DEFAULT: AtomicU64 = AtomicU64::new(0);

/// Why a shared file could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("ivshmem shared file {path}: {source}")]
pub struct SharedFileError {
    /// The file.
    pub path: PathBuf,
    /// What the host said.
    #[source]
    pub source: std::io::Error,
}

/// A region of a file mapped shared into this process.
#[derive(Debug)]
pub struct SharedFile {
    path: PathBuf,
    base: NonNull<u8>,
    len: u64,
}

// SAFETY: the mapping is owned by this value and only reached through `SharedRegion`, whose
// copies are volatile byte accesses through raw pointers; no reference into it is handed out.
unsafe impl Send for SharedFile {}

impl SharedFile {
    /// A fresh default path: `/dev/shm/iospace-ivshmem-<pid>-<n>` (the temporary directory
    /// where there is no `/dev/shm`).
    pub fn default_path() -> PathBuf {
        let directory = Path::new("/dev/shm");
        let directory = if directory.is_dir() { directory.to_path_buf() } else { std::env::temp_dir() };
        let n = NEXT_DEFAULT.fetch_add(1, Ordering::Relaxed);
        directory.join(format!("iospace-ivshmem-{}-{n}", std::process::id()))
    }

    /// Opens (creating it if needed) the file at `path`, grows it to at least `len` bytes and
    /// maps its first `len` bytes shared.
    pub fn open(path: &Path, len: u64) -> Result<Self, SharedFileError> {
        let error = |source| SharedFileError { path: path.to_path_buf(), source };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(error)?;
        if file.metadata().map_err(error)?.len() < len {
            file.set_len(len).map_err(error)?;
        }
        let bytes = usize::try_from(len).map_err(|_| error(std::io::ErrorKind::InvalidInput.into()))?;
        if bytes == 0 {
            return Err(error(std::io::ErrorKind::InvalidInput.into()));
        }
        // SAFETY: a fresh shared mapping chosen by the kernel overlaps nothing of ours; the file
        // is at least `len` bytes long, so every mapped page is backed.
        let base = unsafe {
            mmap(std::ptr::null_mut(), bytes, ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED, &file, 0)
        }
        .map_err(|errno| error(errno.into()))?;
        let base =
            NonNull::new(base.cast::<u8>()).ok_or_else(|| error(std::io::ErrorKind::OutOfMemory.into()))?;
        Ok(Self { path: path.to_path_buf(), base, len })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The byte range of `length` bytes at `offset`, if inside the region.
    fn range(&self, offset: u64, length: usize) -> Option<usize> {
        let end = offset.checked_add(length as u64)?;
        (end <= self.len).then_some(offset as usize)
    }
}

impl SharedRegion for SharedFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read(&self, offset: u64, buffer: &mut [u8]) {
        match self.range(offset, buffer.len()) {
            // SAFETY: the range lies inside the mapping, which lives as long as `self`.
            Some(start) => unsafe { volatile::copy_in(self.base.as_ptr().add(start), buffer) },
            None => buffer.fill(0),
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) {
        if let Some(start) = self.range(offset, data.len()) {
            // SAFETY: the range lies inside the mapping, which lives as long as `self`.
            unsafe { volatile::copy_out(self.base.as_ptr().add(start), data) };
        }
    }
}

impl Drop for SharedFile {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by `open` with this length and nothing refers to it once
        // the region is gone. The file itself stays: the host may still want to read it.
        let _ = unsafe { munmap(self.base.as_ptr().cast(), self.len as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reach_the_file_and_the_file_outlives_the_region() {
        let path = SharedFile::default_path();
        let mut region = SharedFile::open(&path, 8192).unwrap();
        assert_eq!(region.len(), 8192);
        region.write(4096, b"hello");
        let mut back = [0u8; 5];
        region.read(4096, &mut back);
        assert_eq!(&back, b"hello");
        // Out of range: zeros, and the write is dropped.
        region.read(8190, &mut back);
        assert_eq!(back, [0; 5]);
        region.write(u64::MAX, b"x");
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(&on_disk[4096..4101], b"hello");
        drop(region);
        assert!(path.exists());
        // Reopening keeps the contents.
        let region = SharedFile::open(&path, 8192).unwrap();
        region.read(4096, &mut back);
        assert_eq!(&back, b"hello");
        drop(region);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_path_that_cannot_be_created_names_itself() {
        let error = SharedFile::open(Path::new("/nonexistent-dir/x"), 4096).unwrap_err();
        assert!(error.to_string().contains("/nonexistent-dir/x"), "{error}");
    }
}
