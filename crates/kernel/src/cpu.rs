//! Processor state the kernel reads and writes: CPUID, model-specific registers, control
//! registers and TLB invalidation.

use core::arch::asm;

/// `IA32_PAT`.
pub const IA32_PAT: u32 = 0x277;

/// `CPUID` leaf `leaf`, sub-leaf 0: `(eax, ebx, ecx, edx)`.
pub fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let result = core::arch::x86_64::__cpuid_count(leaf, 0);
    (result.eax, result.ebx, result.ecx, result.edx)
}

/// Whether the CPU has a page attribute table (`CPUID.01H:EDX.PAT`, bit 16).
pub fn has_pat() -> bool {
    cpuid(1).3 & (1 << 16) != 0
}

/// Whether the CPU maps 1 GiB pages (`CPUID.80000001H:EDX.Page1GB`, bit 26).
pub fn has_huge_pages() -> bool {
    cpuid(0x8000_0000).0 >= 0x8000_0001 && cpuid(0x8000_0001).3 & (1 << 26) != 0
}

/// `rdmsr`.
pub fn read_msr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: reading an architectural MSR the CPU implements (callers check CPUID) has no
    // effect on memory.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags))
    };
    u64::from(high) << 32 | u64::from(low)
}

/// `wrmsr`.
///
/// # Safety
/// Writing `value` to `msr` must keep the machine's memory model sound (for the PAT: no live
/// mapping may change its memory type unexpectedly).
pub unsafe fn write_msr(msr: u32, value: u64) {
    // SAFETY: the caller vouches for the effect of the write.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack, preserves_flags))
    };
}

/// `CR2`: the linear address of the last page fault.
pub fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// `CR3`: the physical address of the PML4 (and flags in the low bits).
pub fn read_cr3() -> u64 {
    let value: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { asm!("mov {}, cr3", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Reloads CR3 with its own value: every non-global translation is dropped. Used once, at
/// boot, after the PAT changes; never on a mapping path.
pub fn reload_cr3() {
    // SAFETY: the same tables stay in force; only cached translations are dropped.
    unsafe { asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack, preserves_flags)) };
}

/// `invlpg`: drops the TLB entries (of any page size) for the page holding `address`, and the
/// paging-structure caches.
pub fn invalidate_page(address: u64) {
    // SAFETY: invalidating a translation never makes memory unsound; the next access walks
    // the tables again.
    unsafe { asm!("invlpg [{}]", in(reg) address, options(nostack, preserves_flags)) };
}

/// `wbinvd`: writes back and invalidates every cache. Used once, at boot, when the PAT is
/// programmed, as the SDM asks; never on a mapping path.
pub fn write_back_and_invalidate_caches() {
    // SAFETY: the caches' contents are written back, so no data is lost.
    unsafe { asm!("wbinvd", options(nostack, preserves_flags)) };
}

/// `mfence`: every load and store before it is globally visible before any after it. Inline,
/// so that a register write is the store and this one instruction.
#[inline]
pub fn memory_fence() {
    // SAFETY: a fence has no effect but ordering.
    unsafe { asm!("mfence", options(nostack, preserves_flags)) };
}
