//! The page attribute table layout iospace programs, and the PTE bits for each cache policy.
//!
//! The layout puts the four policies the core uses in PAT entries 0..=3, selected by PWT and
//! PCD alone, so no leaf ever needs the PAT bit (bit 7 in a 4 KiB PTE, bit 12 in large leaves,
//! where it collides with the page-size encoding). Entries 4..=7 repeat 0..=3 so that a stray PAT
//! bit cannot change the memory type.

use crate::caching::CachePolicy;

/// x86 memory-type encodings used in the PAT MSR.
mod memory_type {
    pub const UC: u64 = 0x00;
    pub const WC: u64 = 0x01;
    pub const WT: u64 = 0x04;
    pub const WB: u64 = 0x06;
}

/// `PWT`: page-level write-through, bit 3 of every paging entry.
pub const PTE_PWT: u64 = 1 << 3;
/// `PCD`: page-level cache disable, bit 4 of every paging entry.
pub const PTE_PCD: u64 = 1 << 4;

/// PAT index of each policy: WB 0, WT 1, WC 2, UC 3.
const fn pat_index(policy: CachePolicy) -> u64 {
    match policy {
        CachePolicy::WriteBack => 0,
        CachePolicy::WriteThrough => 1,
        CachePolicy::WriteCombining => 2,
        CachePolicy::Uncached => 3,
    }
}

const fn memory_type_of(policy: CachePolicy) -> u64 {
    match policy {
        CachePolicy::WriteBack => memory_type::WB,
        CachePolicy::WriteThrough => memory_type::WT,
        CachePolicy::WriteCombining => memory_type::WC,
        CachePolicy::Uncached => memory_type::UC,
    }
}

const POLICIES: [CachePolicy; 4] =
    [CachePolicy::WriteBack, CachePolicy::WriteThrough, CachePolicy::WriteCombining, CachePolicy::Uncached];

/// The value the platform writes to `IA32_PAT` (MSR 0x277) before `mm` creates any mapping.
pub const PAT_MSR_VALUE: u64 = {
    let mut value = 0;
    let mut i = 0;
    while i < 8 {
        value |= memory_type_of(POLICIES[i % 4]) << (8 * i);
        i += 1;
    }
    value
};

/// The PWT/PCD bits that select `policy` in any paging-structure leaf.
pub const fn pte_bits(policy: CachePolicy) -> u64 {
    let index = pat_index(policy);
    (if index & 1 != 0 { PTE_PWT } else { 0 }) | (if index & 2 != 0 { PTE_PCD } else { 0 })
}

/// The policy a leaf's PWT/PCD bits select under [`PAT_MSR_VALUE`].
pub const fn policy_from_pte(entry: u64) -> CachePolicy {
    let index = ((entry & PTE_PWT != 0) as usize) | (((entry & PTE_PCD != 0) as usize) << 1);
    POLICIES[index]
}

/// The policy the PAT entry `index` (0..8) holds, read back from an `IA32_PAT` value.
pub const fn policy_of_pat_entry(pat: u64, index: u32) -> Option<CachePolicy> {
    match (pat >> (8 * index)) & 0x7 {
        memory_type::UC => Some(CachePolicy::Uncached),
        memory_type::WC => Some(CachePolicy::WriteCombining),
        memory_type::WT => Some(CachePolicy::WriteThrough),
        memory_type::WB => Some(CachePolicy::WriteBack),
        _ => None,
    }
}

// The round trip policy -> PTE bits -> PAT entry -> policy holds for every policy, checked
// when the crate compiles.
const _: () = {
    let mut i = 0;
    while i < 4 {
        let policy = POLICIES[i];
        let bits = pte_bits(policy);
        assert!(policy_from_pte(bits) as u8 == policy as u8);
        let index = ((bits & PTE_PWT != 0) as u32) | (((bits & PTE_PCD != 0) as u32) << 1);
        match policy_of_pat_entry(PAT_MSR_VALUE, index) {
            Some(read_back) => assert!(read_back as u8 == policy as u8),
            None => panic!("PAT entry without a memory type"),
        }
        match policy_of_pat_entry(PAT_MSR_VALUE, index + 4) {
            Some(read_back) => assert!(read_back as u8 == policy as u8),
            None => panic!("PAT entry without a memory type"),
        }
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pat_msr_value_is_wb_wt_wc_uc_twice() {
        assert_eq!(PAT_MSR_VALUE, 0x0001_0406_0001_0406);
    }

    #[test]
    fn policies_never_need_the_pat_bit() {
        for policy in POLICIES {
            assert_eq!(pte_bits(policy) & !(PTE_PWT | PTE_PCD), 0);
            assert_eq!(policy_from_pte(pte_bits(policy)), policy);
        }
    }
}
