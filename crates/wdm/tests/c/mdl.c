/*
 * MDL routines and reserved mappings, as a driver uses them on pool buffers: IoAllocateMdl,
 * MmProbeAndLockPages, MmGetSystemAddressForMdlSafe, partial MDLs, MmBuildMdlForNonPagedPool,
 * MmAllocatePagesForMdl(Ex), MmInitializeMdl, MmMapLockedPagesWithReservedMapping, ...
 */
#include "harness.h"
#include "tags.h"

static PHYSICAL_ADDRESS physical(ULONGLONG address) {
    PHYSICAL_ADDRESS result;
    result.QuadPart = (LONGLONG)address;
    return result;
}

/* Three pages of nonpaged pool, filled with a pattern. */
static PUCHAR pool_buffer(void) {
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, 3 * PAGE_SIZE, TEST_TAG);
    CHECK(buffer != NULL);
    for (ULONG i = 0; i < 3 * PAGE_SIZE; i++) {
        buffer[i] = (UCHAR)i;
    }
    return buffer;
}

static void test_allocate_and_lock(void) {
    PUCHAR buffer = pool_buffer();
    PMDL mdl = IoAllocateMdl(buffer + 0x10, 0x2000, FALSE, FALSE, NULL);
    CHECK(mdl != NULL);
    /* Claim 37: the header describes the buffer; nothing is locked yet. */
    CHECK_EQ(MmGetMdlVirtualAddress(mdl), buffer + 0x10);
    CHECK_EQ(MmGetMdlByteOffset(mdl), 0x10);
    CHECK_EQ(MmGetMdlByteCount(mdl), 0x2000);
    CHECK_EQ(mdl->Size, MmSizeOfMdl(buffer + 0x10, 0x2000));
    CHECK_EQ(mdl->Size, 48 + 8 * 3);
    CHECK_EQ(mdl->MdlFlags & MDL_PAGES_LOCKED, 0);

    MmProbeAndLockPages(mdl, KernelMode, IoWriteAccess);
    CHECK(mdl->MdlFlags & MDL_PAGES_LOCKED);
    PPFN_NUMBER pfns = MmGetMdlPfnArray(mdl);
    for (ULONG page = 0; page < 3; page++) {
        CHECK_EQ(pfns[page], (ULONG_PTR)MmGetPhysicalAddress(buffer + page * PAGE_SIZE).QuadPart >> PAGE_SHIFT);
    }

    /* A system mapping aliases the buffer for real; a second call returns the same address. */
    ULONG before = IospOutstandingMappings();
    PUCHAR mapped = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority | MdlMappingNoExecute);
    CHECK(mapped != NULL);
    CHECK(mapped != buffer + 0x10);
    CHECK_EQ(BYTE_OFFSET(mapped), 0x10);
    CHECK(mdl->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA);
    CHECK(MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority) == mapped);
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    CHECK_EQ(mapped[0x1000], buffer[0x1010]);
    mapped[5] = 0xEE;
    CHECK_EQ(buffer[0x15], 0xEE);

    /* A partial MDL of a mapped source shares its mapping (claim 59). */
    PMDL partial = IoAllocateMdl(buffer + 0x1010, 0x100, FALSE, FALSE, NULL);
    CHECK(partial != NULL);
    IoBuildPartialMdl(mdl, partial, buffer + 0x1010, 0x100);
    CHECK(partial->MdlFlags & MDL_PARTIAL);
    CHECK(partial->MdlFlags & MDL_PARENT_MAPPED_SYSTEM_VA);
    CHECK(MmGetSystemAddressForMdlSafe(partial, NormalPagePriority) == mapped + 0x1000);
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    MmPrepareMdlForReuse(partial);
    IoFreeMdl(partial);

    MmUnmapLockedPages(mapped, mdl);
    CHECK_EQ(mdl->MdlFlags & MDL_MAPPED_TO_SYSTEM_VA, 0);
    CHECK_EQ(IospOutstandingMappings(), before);

    /* A partial MDL of an unmapped source gets a mapping of its own, which
     * MmPrepareMdlForReuse releases. Length 0 runs to the end of the source (claim 58). */
    partial = IoAllocateMdl(buffer + 0x1010, 0x1000, FALSE, FALSE, NULL);
    IoBuildPartialMdl(mdl, partial, buffer + 0x1010, 0);
    CHECK_EQ(MmGetMdlByteCount(partial), 0x1000);
    PUCHAR own = MmGetSystemAddressForMdlSafe(partial, NormalPagePriority);
    CHECK(own != NULL);
    CHECK(partial->MdlFlags & MDL_PARTIAL_HAS_BEEN_MAPPED);
    CHECK_EQ(own[0], buffer[0x1010]);
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    MmPrepareMdlForReuse(partial);
    CHECK_EQ(IospOutstandingMappings(), before);
    IoFreeMdl(partial);

    /* MmUnlockPages releases a mapping made with MmMapLockedPagesSpecifyCache first. */
    PVOID specified = MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, NULL, FALSE, HighPagePriority);
    CHECK(specified != NULL);
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    MmUnlockPages(mdl);
    CHECK_EQ(mdl->MdlFlags & (MDL_PAGES_LOCKED | MDL_MAPPED_TO_SYSTEM_VA), 0);
    CHECK_EQ(IospOutstandingMappings(), before);

    /* User-mode mappings need a process, which this machine does not have. */
    MmProbeAndLockPages(mdl, KernelMode, IoReadAccess);
    CHECK(MmMapLockedPagesSpecifyCache(mdl, UserMode, MmCached, NULL, FALSE, NormalPagePriority) == NULL);
    MmUnlockPages(mdl);

    IoFreeMdl(mdl);
    /* IoAllocateMdl links into IRPs, which belong to an I/O manager this machine lacks. */
    CHECK(IoAllocateMdl(buffer, 16, FALSE, FALSE, (PIRP)buffer) == NULL);
    ExFreePoolWithTag(buffer, TEST_TAG);
}

static void test_probe_failure_is_a_status_when_caught(void) {
    /* A C stack buffer is not in the machine's address space: probing it is the exception
     * Windows raises, here returned by the __try/__except form. */
    UCHAR stack_buffer[64];
    PMDL mdl = IoAllocateMdl(stack_buffer, sizeof(stack_buffer), FALSE, FALSE, NULL);
    CHECK(mdl != NULL);
    CHECK_EQ(IospProbeAndLockPages(mdl, KernelMode, IoReadAccess), STATUS_ACCESS_VIOLATION);
    CHECK_EQ(mdl->MdlFlags & MDL_PAGES_LOCKED, 0);
    IoFreeMdl(mdl);

    PUCHAR buffer = pool_buffer();
    mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    CHECK_EQ(IospProbeAndLockPages(mdl, KernelMode, IoModifyAccess), STATUS_SUCCESS);
    CHECK(mdl->MdlFlags & MDL_PAGES_LOCKED);
    MmUnlockPages(mdl);
    IoFreeMdl(mdl);
    ExFreePoolWithTag(buffer, TEST_TAG);
}

static void test_non_paged_pool_mdl(void) {
    PUCHAR buffer = pool_buffer();
    PMDL mdl = IoAllocateMdl(buffer + 8, 100, FALSE, FALSE, NULL);
    MmBuildMdlForNonPagedPool(mdl);
    /* Claim 47: the buffer's own address, no mapping made. */
    CHECK(mdl->MdlFlags & MDL_SOURCE_IS_NONPAGED_POOL);
    CHECK(mdl->MappedSystemVa == buffer + 8);
    ULONG before = IospOutstandingMappings();
    CHECK(MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority) == buffer + 8);
    CHECK_EQ(IospOutstandingMappings(), before);
    CHECK_EQ(MmGetMdlPfnArray(mdl)[0], (ULONG_PTR)MmGetPhysicalAddress(buffer).QuadPart >> PAGE_SHIFT);
    IoFreeMdl(mdl);
    ExFreePoolWithTag(buffer, TEST_TAG);
}

static void test_initialize_mdl_in_pool(void) {
    /* An MDL the driver allocates itself and initialises with the header macro. */
    PUCHAR buffer = pool_buffer();
    SIZE_T bytes = MmSizeOfMdl(buffer + 0x800, 0x1000);
    CHECK_EQ(bytes, 48 + 8 * 2);
    PMDL mdl = ExAllocatePoolWithTag(NonPagedPoolNx, bytes, TEST_TAG);
    MmInitializeMdl(mdl, buffer + 0x800, 0x1000);
    MmProbeAndLockPages(mdl, KernelMode, IoReadAccess);
    CHECK(mdl->MdlFlags & MDL_PAGES_LOCKED);
    PUCHAR mapped = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority);
    CHECK(mapped != NULL);
    CHECK_EQ(mapped[0x7FF], buffer[0xFFF]);
    MmUnlockPages(mdl);
    ExFreePoolWithTag(mdl, TEST_TAG);
    ExFreePoolWithTag(buffer, TEST_TAG);
}

static void test_pages_for_mdl(void) {
    ULONG before = IospOutstandingMappings();
    PMDL mdl = MmAllocatePagesForMdl(physical(0), physical(0xFFFFFFFF), physical(0), 3 * PAGE_SIZE);
    CHECK(mdl != NULL);
    CHECK_EQ(MmGetMdlByteCount(mdl), 3 * PAGE_SIZE);
    CHECK(mdl->MdlFlags & MDL_PAGES_LOCKED);
    PULONG mapped = MmGetSystemAddressForMdlSafe(mdl, NormalPagePriority);
    CHECK(mapped != NULL);
    /* Zero-filled (claim 61). */
    ULONG sum = 0;
    for (ULONG i = 0; i < 3 * PAGE_SIZE / sizeof(ULONG); i++) {
        sum |= mapped[i];
    }
    CHECK_EQ(sum, 0);
    MmUnmapLockedPages(mapped, mdl);
    MmFreePagesFromMdl(mdl);
    ExFreePool(mdl);

    /* Every page below 16 MiB, all of them or nothing (claims 60, 63). */
    mdl = MmAllocatePagesForMdlEx(physical(0), physical(0xFFFFFF), physical(0), 4 * PAGE_SIZE, MmCached,
                                  MM_ALLOCATE_FULLY_REQUIRED);
    CHECK(mdl != NULL);
    CHECK_EQ(MmGetMdlByteCount(mdl), 4 * PAGE_SIZE);
    for (ULONG page = 0; page < 4; page++) {
        CHECK(MmGetMdlPfnArray(mdl)[page] <= 0xFFF);
    }
    /* MmFreePagesFromMdl releases a mapping still in place (Windows 7 and later). */
    CHECK(MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, NULL, FALSE, NormalPagePriority) != NULL);
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    MmFreePagesFromMdl(mdl);
    CHECK_EQ(IospOutstandingMappings(), before);
    ExFreePool(mdl);

    /* More than the machine has, fully required: NULL. */
    CHECK(MmAllocatePagesForMdlEx(physical(0), physical(0xFFFFFF), physical(0), 0x2000000, MmCached,
                                  MM_ALLOCATE_FULLY_REQUIRED) == NULL);
}

static void test_reserved_mapping(void) {
    PUCHAR buffer = pool_buffer();
    PMDL mdl = IoAllocateMdl(buffer + 0x20, 0x1800, FALSE, FALSE, NULL);
    MmProbeAndLockPages(mdl, KernelMode, IoWriteAccess);

    ULONG before = IospOutstandingMappings();
    PUCHAR reserved = MmAllocateMappingAddress(4 * PAGE_SIZE, TEST_TAG);
    CHECK(reserved != NULL);
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    /* Nothing is mapped until a mapping is made (claims 28, 69). */
    CHECK(!MmIsAddressValid(reserved));
    for (int round = 0; round < 3; round++) {
        PUCHAR mapped = MmMapLockedPagesWithReservedMapping(reserved, TEST_TAG, mdl, MmCached);
        /* Claim 32: the result has the byte offset, MappedSystemVa does not. */
        CHECK(mapped == reserved + 0x20);
        CHECK(mdl->MappedSystemVa == reserved);
        CHECK(MmIsAddressValid(reserved));
        CHECK_EQ(mapped[0x100], buffer[0x120]);
        MmUnmapReservedMapping(reserved, TEST_TAG, mdl);
        CHECK(!MmIsAddressValid(reserved));
    }
    /* An MDL larger than the reservation: NULL (claim 31). */
    PUCHAR small = MmAllocateMappingAddress(PAGE_SIZE, TEST_TAG);
    CHECK(MmMapLockedPagesWithReservedMapping(small, TEST_TAG, mdl, MmCached) == NULL);
    MmFreeMappingAddress(small, TEST_TAG);
    MmFreeMappingAddress(reserved, TEST_TAG);
    CHECK_EQ(IospOutstandingMappings(), before);

    /* Claim 30: MM_MAPPING_ADDRESS_DIVISIBLE aligns to the size. */
    PVOID divisible = MmAllocateMappingAddressEx(8 * PAGE_SIZE, TEST_TAG, MM_MAPPING_ADDRESS_DIVISIBLE);
    CHECK(divisible != NULL);
    CHECK_EQ((ULONG_PTR)divisible % (8 * PAGE_SIZE), 0);
    MmFreeMappingAddress(divisible, TEST_TAG);
    /* The Ex form refuses a zero tag. */
    CHECK(MmAllocateMappingAddressEx(PAGE_SIZE, 0, 0) == NULL);

    MmUnlockPages(mdl);
    IoFreeMdl(mdl);
    ExFreePoolWithTag(buffer, TEST_TAG);
}

int main(void) {
    harness_boot();
    test_allocate_and_lock();
    test_probe_failure_is_a_status_when_caught();
    test_non_paged_pool_mdl();
    test_initialize_mdl_in_pool();
    test_pages_for_mdl();
    test_reserved_mapping();
    CHECK_EQ(IospOutstandingMappings(), 0);
    IospShutdown();
    return harness_finish();
}
