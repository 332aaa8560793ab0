//! `MEMORY_CACHING_TYPE` as Windows numbers it, and the typed cache policy the core works with.
//!
//! Callers hand the NT enum across the boundary; it becomes a [`CachePolicy`] there, and an
//! invalid value is refused there and nowhere else.

use core::fmt;

/// `MEMORY_CACHING_TYPE`, a 4-byte C enum. The numbering goes back to NT 4.0, where the argument
/// was a BOOLEAN "cache enable": that is why `MmNonCached` is 0 (FALSE) and `MmCached` 1 (TRUE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum MemoryCachingType {
    /// `MmNonCached` = 0: uncached (x86 UC).
    NonCached = 0,
    /// `MmCached` = 1: write-back.
    Cached = 1,
    /// `MmWriteCombined` = 2 (also `MmFrameBufferCached`): write-combining.
    WriteCombined = 2,
    /// `MmHardwareCoherentCached` = 3: cached, coherent with devices by snooping.
    HardwareCoherentCached = 3,
    /// `MmNonCachedUnordered` = 4: uncached.
    NonCachedUnordered = 4,
    /// `MmUSWCCached` = 5: uncached speculative write-combining.
    UswcCached = 5,
}

/// `MmMaximumCacheType`: one past the largest valid value.
pub const MM_MAXIMUM_CACHE_TYPE: i32 = 6;
/// `MmNotMapped`.
pub const MM_NOT_MAPPED: i32 = -1;
/// `MmFrameBufferCached`, the one member of the older `MEMORY_CACHING_TYPE_ORIG`.
pub const MM_FRAME_BUFFER_CACHED: i32 = 2;

/// A caching type the core refuses: anything outside `0..MmMaximumCacheType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidCachingType(pub i32);

impl fmt::Display for InvalidCachingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "caching type {} is not a MEMORY_CACHING_TYPE below MmMaximumCacheType", self.0)
    }
}

impl core::error::Error for InvalidCachingType {}

impl TryFrom<i32> for MemoryCachingType {
    type Error = InvalidCachingType;

    fn try_from(value: i32) -> Result<Self, Self::Error> {
        Ok(match value {
            0 => Self::NonCached,
            1 => Self::Cached,
            2 => Self::WriteCombined,
            3 => Self::HardwareCoherentCached,
            4 => Self::NonCachedUnordered,
            5 => Self::UswcCached,
            _ => return Err(InvalidCachingType(value)),
        })
    }
}

impl MemoryCachingType {
    /// The x86-64 memory type this caching type selects (identical for RAM and device memory).
    pub const fn policy(self) -> CachePolicy {
        match self {
            Self::NonCached | Self::NonCachedUnordered => CachePolicy::Uncached,
            Self::Cached | Self::HardwareCoherentCached => CachePolicy::WriteBack,
            Self::WriteCombined | Self::UswcCached => CachePolicy::WriteCombining,
        }
    }
}

/// The memory type of a mapping, as the processor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CachePolicy {
    /// WB: cached, write-back.
    WriteBack,
    /// WT: cached for reads, writes go through. No NT caching type selects it; the PAT keeps
    /// a slot for it so the platform can.
    WriteThrough,
    /// WC: uncached, writes may be combined.
    WriteCombining,
    /// UC: strongly ordered, uncached.
    Uncached,
}

impl CachePolicy {
    /// The closest `MEMORY_CACHING_TYPE`, for reports and for the C boundary.
    pub const fn caching_type(self) -> MemoryCachingType {
        match self {
            Self::WriteBack | Self::WriteThrough => MemoryCachingType::Cached,
            Self::WriteCombining => MemoryCachingType::WriteCombined,
            Self::Uncached => MemoryCachingType::NonCached,
        }
    }

    /// Short name as in the x86 manuals.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WriteBack => "WB",
            Self::WriteThrough => "WT",
            Self::WriteCombining => "WC",
            Self::Uncached => "UC",
        }
    }
}

impl fmt::Display for CachePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_70_memory_caching_type_values() {
        assert_eq!(MemoryCachingType::NonCached as i32, 0);
        assert_eq!(MemoryCachingType::Cached as i32, 1);
        assert_eq!(MemoryCachingType::WriteCombined as i32, 2);
        assert_eq!(MemoryCachingType::HardwareCoherentCached as i32, 3);
        assert_eq!(MemoryCachingType::NonCachedUnordered as i32, 4);
        assert_eq!(MemoryCachingType::UswcCached as i32, 5);
        assert_eq!(MM_MAXIMUM_CACHE_TYPE, 6);
        assert_eq!(MM_NOT_MAPPED, -1);
        assert_eq!(MM_FRAME_BUFFER_CACHED, MemoryCachingType::WriteCombined as i32);
    }

    #[test]
    fn caching_types_round_trip_and_invalid_values_are_refused() {
        for value in 0..MM_MAXIMUM_CACHE_TYPE {
            assert_eq!(MemoryCachingType::try_from(value).unwrap() as i32, value);
        }
        for value in [MM_MAXIMUM_CACHE_TYPE, MM_NOT_MAPPED, 0x101, i32::MIN] {
            assert_eq!(MemoryCachingType::try_from(value), Err(InvalidCachingType(value)));
        }
    }

    #[test]
    fn caching_types_select_the_documented_memory_types() {
        use CachePolicy::*;
        let expected = [Uncached, WriteBack, WriteCombining, WriteBack, Uncached, WriteCombining];
        for (value, policy) in expected.into_iter().enumerate() {
            assert_eq!(MemoryCachingType::try_from(value as i32).unwrap().policy(), policy);
        }
    }
}
