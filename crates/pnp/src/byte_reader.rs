//! A bounds-checked little-endian cursor over untrusted bytes, so parsers return errors instead
//! of panicking on short input.

/// Reads little-endian fields from a byte slice, front to back.
#[derive(Debug)]
pub(crate) struct ByteReader<'a> {
    bytes: &'a [u8],
    offset: usize,
}

/// The reader needed more bytes than remain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ShortRead {
    /// Where the read started.
    pub offset: usize,
    /// Bytes the read needed.
    pub needed: usize,
    /// Bytes that were left.
    pub available: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) const fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, offset: 0 }
    }

    /// Offset of the next byte to read.
    pub(crate) const fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes not yet read.
    pub(crate) const fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }

    /// The next `count` bytes.
    pub(crate) fn take(&mut self, count: usize) -> Result<&'a [u8], ShortRead> {
        let short = ShortRead { offset: self.offset, needed: count, available: self.remaining() };
        let end = self.offset.checked_add(count).ok_or(short)?;
        let slice = self.bytes.get(self.offset..end).ok_or(short)?;
        self.offset = end;
        Ok(slice)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], ShortRead> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, ShortRead> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, ShortRead> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, ShortRead> {
        self.array().map(i32::from_le_bytes)
    }
}

/// `N` bytes of `bytes` starting at `offset`, zero-padded if the slice is shorter (callers pass
/// fixed-size unions with constant offsets, so padding never happens in practice).
pub(crate) fn le_array<const N: usize>(bytes: &[u8], offset: usize) -> [u8; N] {
    let mut out = [0; N];
    if let Some(source) = bytes.get(offset..offset.saturating_add(N)) {
        out.copy_from_slice(source);
    }
    out
}

/// Writes `value` into `bytes` at `offset` (ignored if it does not fit, for the same reason).
pub(crate) fn put(bytes: &mut [u8], offset: usize, value: &[u8]) {
    if let Some(target) = bytes.get_mut(offset..offset.saturating_add(value.len())) {
        target.copy_from_slice(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_reads_report_where_and_how_much() {
        let mut reader = ByteReader::new(&[1, 0, 0, 0, 2, 0]);
        assert_eq!(reader.u32(), Ok(1));
        assert_eq!(reader.u32(), Err(ShortRead { offset: 4, needed: 4, available: 2 }));
        assert_eq!(reader.u16(), Ok(2));
        assert_eq!(reader.take(usize::MAX), Err(ShortRead { offset: 6, needed: usize::MAX, available: 0 }));
    }
}
