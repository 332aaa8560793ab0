//! The registry of live I/O-space mappings, by address, in shards that CPUs mapping different
//! ranges do not share.
//!
//! A mapping's record lives in the shard its base address selects (by 32 KiB stretch of VA,
//! so that neighbouring mappings of different CPUs, whose VA comes from different per-CPU
//! runs, fall in different shards). Map and unmap lock that one shard. A shard is a hash map
//! by base address: registering and taking a record is one probe each, where an ordered map
//! would rebalance nodes; only the error path (an address inside a mapping) and the list want
//! an order, and they scan.
//!
//! The one question that needs every shard is the memory-type check: no device page may be
//! mapped with two types. Most machines map all their registers with one type, so a set of
//! the types ever mapped answers it without looking: while only the requested type has been
//! seen, no conflict is possible. The set only grows; a mapping adds its type and reads the
//! set while it holds its record's shard, after putting the record in, so of two racing
//! mappings with different types at least one sees the other's type and scans every shard
//! (taking each shard's lock), where it finds the other's record.

use alloc::vec::Vec;
use core::hash::{BuildHasherDefault, Hasher};
use core::sync::atomic::{AtomicU8, Ordering};

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use spin::Mutex;

use crate::address::{PAGE_SHIFT, PAGE_SIZE, Pfn, VirtualAddress};
use crate::caching::CachePolicy;
use crate::io_space::{IoMappingRecord, UnmapIoSpaceError};
use crate::pfn_database::CacheConflict;

/// Shards; a power of two.
const SHARDS: usize = 8;

/// Hashes a page-aligned address: its page number times an odd 64-bit constant (Fibonacci
/// hashing). Distinct pages get distinct low bits (the bucket) and well-mixed high bits (the
/// tag the table compares first), with one multiplication.
#[derive(Debug, Default)]
struct PageHasher(u64);

/// 2^64 divided by the golden ratio, rounded to odd.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for PageHasher {
    fn write_u64(&mut self, address: u64) {
        self.0 = (address >> PAGE_SHIFT).wrapping_mul(FIBONACCI);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; any other input still gets a sound hash.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(FIBONACCI);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type RecordsByBase = HashMap<u64, IoMappingRecord, BuildHasherDefault<PageHasher>>;

/// One shard, on cache lines of its own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Shard(Mutex<RecordsByBase>);

/// Live I/O-space mappings, keyed by the base of their first page.
#[derive(Debug, Default)]
pub struct IoMappingRegistry {
    shards: [Shard; SHARDS],
    /// Bit `policy_bit(p)` is set once a mapping with policy `p` was registered.
    types_seen: AtomicU8,
}

fn shard_of(base: u64) -> usize {
    ((base >> (PAGE_SHIFT + 3)) as usize) % SHARDS
}

fn policy_bit(policy: CachePolicy) -> u8 {
    match policy {
        CachePolicy::WriteBack => 1,
        CachePolicy::WriteThrough => 2,
        CachePolicy::WriteCombining => 4,
        CachePolicy::Uncached => 8,
    }
}

/// Whether `record` maps a page of `[first, first + pages)` with a type other than `cache`.
fn conflict_with(
    record: &IoMappingRecord,
    first: Pfn,
    pages: u64,
    cache: CachePolicy,
) -> Option<CacheConflict> {
    let start = record.physical.pfn().0;
    let overlap_start = start.max(first.0);
    let overlaps = overlap_start < (first.0 + pages).min(start + record.pages);
    (overlaps && record.protection.cache != cache).then_some(CacheConflict {
        pfn: Pfn(overlap_start),
        existing: record.protection.cache,
        requested: cache,
    })
}

impl IoMappingRegistry {
    /// Registers `record`, whose first page is at `base`, unless a live mapping maps one of
    /// its physical pages with another memory type.
    pub fn insert(&self, base: VirtualAddress, record: IoMappingRecord) -> Result<(), CacheConflict> {
        let cache = record.protection.cache;
        let bit = policy_bit(cache);
        let seen = {
            let mut shard = self.shards[shard_of(base.0)].0.lock();
            shard.insert(base.0, record);
            // Read inside the shard's critical section: a mapping of another type that is
            // registered meanwhile either scans this shard after we leave it (and finds our
            // record) or published its type before we entered (and we read it here).
            let seen = self.types_seen.load(Ordering::Acquire);
            if seen & bit != 0 { seen } else { self.types_seen.fetch_or(bit, Ordering::AcqRel) | bit }
        };
        if seen & !bit == 0 {
            return Ok(());
        }
        let first = record.physical.pfn();
        let conflict = self.shards.iter().find_map(|shard| {
            shard
                .0
                .lock()
                .iter()
                .filter(|&(&other, _)| other != base.0)
                .find_map(|(_, other)| conflict_with(other, first, record.pages, cache))
        });
        match conflict {
            Some(conflict) => {
                self.remove(base);
                Err(conflict)
            }
            None => Ok(()),
        }
    }

    /// Drops the record at `base`, if any.
    pub fn remove(&self, base: VirtualAddress) {
        self.shards[shard_of(base.0)].0.lock().remove(&base.0);
    }

    /// Takes out the record of the mapping returned at `address`, whose size spans
    /// `requested_pages` pages; refuses an address that is not a mapping's, or not its base,
    /// and a size that spans another number of pages (the record then stays).
    pub fn take(
        &self,
        address: VirtualAddress,
        requested_pages: u64,
    ) -> Result<IoMappingRecord, UnmapIoSpaceError> {
        let base = address.page_base();
        let mut shard = self.shards[shard_of(base.0)].0.lock();
        // One search finds the record and removes it.
        let Entry::Occupied(entry) = shard.entry(base.0) else {
            drop(shard);
            return Err(match self.containing(base) {
                Some(record) => {
                    UnmapIoSpaceError::NotTheBase { expected: record.address, requested: address }
                }
                None => UnmapIoSpaceError::NotMapped { address, pages: requested_pages },
            });
        };
        let record = *entry.get();
        if record.pages != requested_pages {
            return Err(UnmapIoSpaceError::SizeMismatch {
                address: record.address,
                mapped_pages: record.pages,
                requested_pages,
            });
        }
        entry.remove();
        Ok(record)
    }

    /// The mapping whose pages hold `address`, if any (every record is looked at: an error
    /// path).
    fn containing(&self, address: VirtualAddress) -> Option<IoMappingRecord> {
        self.shards.iter().find_map(|shard| {
            shard.0.lock().iter().find_map(|(&base, record)| {
                (base <= address.0 && address.0 < base + record.pages * PAGE_SIZE).then_some(*record)
            })
        })
    }

    /// Every live mapping, by address.
    pub fn list(&self) -> Vec<IoMappingRecord> {
        let mut records: Vec<IoMappingRecord> = self
            .shards
            .iter()
            .flat_map(|shard| shard.0.lock().values().copied().collect::<Vec<_>>())
            .collect();
        records.sort_by_key(|record| record.address);
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::PhysicalAddress;
    use crate::io_space::LeafCounts;
    use crate::ownership::OwnerId;
    use crate::protection::PageProtection;
    use core::panic::Location;

    const WINDOW: u64 = 0xFFFF_C000_0000_0000;

    fn record(va: u64, physical: u64, pages: u64, cache: CachePolicy) -> IoMappingRecord {
        IoMappingRecord {
            address: VirtualAddress(va),
            physical: PhysicalAddress(physical),
            bytes: pages * PAGE_SIZE,
            pages,
            protection: PageProtection::read_write_execute(cache),
            leaves: LeafCounts::default(),
            leaf_table: None,
            location: Location::caller(),
            owner: OwnerId::NONE,
        }
    }

    #[test]
    fn a_second_type_for_a_device_page_is_refused_in_any_shard() {
        let registry = IoMappingRegistry::default();
        let uncached = record(WINDOW, 0xFEA0_0000, 4, CachePolicy::Uncached);
        registry.insert(VirtualAddress(WINDOW), uncached).unwrap();
        // Same type, same pages: fine, wherever its VA puts it.
        for chunk in 1..=SHARDS as u64 {
            let va = WINDOW + chunk * 8 * PAGE_SIZE;
            registry.insert(VirtualAddress(va), record(va, 0xFEA0_1000, 1, CachePolicy::Uncached)).unwrap();
        }
        for chunk in 1..=SHARDS as u64 {
            let va = WINDOW + (chunk + 100) * 8 * PAGE_SIZE;
            let clash =
                registry.insert(VirtualAddress(va), record(va, 0xFEA0_3000, 2, CachePolicy::WriteCombining));
            assert_eq!(clash.unwrap_err().pfn, Pfn(0xFEA03), "shard of {va:#x}");
        }
        // A range that touches no mapped page may have its own type.
        let va = WINDOW + 1000 * PAGE_SIZE;
        registry.insert(VirtualAddress(va), record(va, 0xFEB0_0000, 1, CachePolicy::WriteCombining)).unwrap();
        assert_eq!(registry.list().len(), 1 + SHARDS + 1, "refused records are gone");
    }

    #[test]
    fn take_refuses_inner_addresses_and_wrong_sizes_and_keeps_the_record() {
        let registry = IoMappingRegistry::default();
        let base = VirtualAddress(WINDOW + 0x3000);
        registry.insert(base, record(base.0 + 0x10, 0xFEA0_0010, 4, CachePolicy::Uncached)).unwrap();
        let inner = VirtualAddress(base.0 + 2 * PAGE_SIZE);
        assert!(matches!(registry.take(inner, 1), Err(UnmapIoSpaceError::NotTheBase { .. })));
        assert!(matches!(
            registry.take(base, 3),
            Err(UnmapIoSpaceError::SizeMismatch { mapped_pages: 4, .. })
        ));
        let beyond = VirtualAddress(base.0 + 4 * PAGE_SIZE);
        assert!(matches!(registry.take(beyond, 4), Err(UnmapIoSpaceError::NotMapped { .. })));
        assert_eq!(registry.take(base, 4).unwrap().pages, 4);
        assert!(registry.list().is_empty());
    }

    #[test]
    fn the_list_is_in_address_order_across_shards() {
        let registry = IoMappingRegistry::default();
        for chunk in [5u64, 1, 9, 3] {
            let va = WINDOW + chunk * 8 * PAGE_SIZE;
            registry.insert(VirtualAddress(va), record(va, 0xFEA0_0000, 1, CachePolicy::Uncached)).unwrap();
        }
        let addresses: Vec<u64> = registry.list().iter().map(|record| record.address.0).collect();
        assert!(addresses.is_sorted() && addresses.len() == 4);
    }
}
