/*
 * Mapping and memory routines: MmMapIoSpace(Ex), MmUnmapIoSpace, MmGetPhysicalAddress,
 * MmIsAddressValid, pool, contiguous and non-cached memory, on the default machine.
 */
#include "harness.h"
#include "tags.h"

static PHYSICAL_ADDRESS physical(ULONGLONG address) {
    PHYSICAL_ADDRESS result;
    result.QuadPart = (LONGLONG)address;
    return result;
}

static void test_map_io_space(void) {
    ULONG before = IospOutstandingMappings();
    PUCHAR registers = MmMapIoSpace(physical(EDU_BAR0 + 0x10), 0x100, MmNonCached);
    CHECK(registers != NULL);
    /* The address keeps the physical byte offset (claim 1) and translates back (claim 68). */
    CHECK_EQ(BYTE_OFFSET(registers), 0x10);
    CHECK_EQ(MmGetPhysicalAddress(registers).QuadPart, EDU_BAR0 + 0x10);
    CHECK_EQ(MmGetPhysicalAddress(registers + 0xFF).QuadPart, EDU_BAR0 + 0x10 + 0xFF);
    CHECK(MmIsAddressValid(registers));
    CHECK_EQ(IospOutstandingMappings(), before + 1);
    /* Register 0x20 of edu (status) through a mapping that starts at 0x10. */
    CHECK_EQ(READ_REGISTER_ULONG((PULONG)(registers + 0x10)) & ~0x81u, 0);
    MmUnmapIoSpace(registers, 0x100);
    CHECK_EQ(IospOutstandingMappings(), before);
    CHECK(!MmIsAddressValid(registers));
    CHECK_EQ(MmGetPhysicalAddress(registers).QuadPart, 0);

    /* Zero bytes and an invalid caching type are refused with NULL. */
    CHECK(MmMapIoSpace(physical(EDU_BAR0), 0, MmNonCached) == NULL);
    CHECK(MmMapIoSpace(physical(EDU_BAR0), 0x1000, MmMaximumCacheType) == NULL);
    CHECK_EQ(IospOutstandingMappings(), before);
}

static void test_map_io_space_ex(void) {
    PULONG registers = MmMapIoSpaceEx(physical(EDU_BAR0), PAGE_SIZE, PAGE_READWRITE | PAGE_NOCACHE);
    CHECK(registers != NULL);
    CHECK_EQ(READ_REGISTER_ULONG(registers), EDU_ID);
    MmUnmapIoSpace(registers, PAGE_SIZE);

    /* A read-only mapping reads as well. */
    PULONG read_only = MmMapIoSpaceEx(physical(EDU_BAR0), PAGE_SIZE, PAGE_READONLY | PAGE_NOCACHE);
    CHECK(read_only != NULL);
    CHECK_EQ(READ_REGISTER_ULONG(read_only), EDU_ID);
    MmUnmapIoSpace(read_only, PAGE_SIZE);

    /* Both cache flags at once, or no access right, is refused. */
    CHECK(MmMapIoSpaceEx(physical(EDU_BAR0), PAGE_SIZE, PAGE_READWRITE | PAGE_NOCACHE | PAGE_WRITECOMBINE) == NULL);
    CHECK(MmMapIoSpaceEx(physical(EDU_BAR0), PAGE_SIZE, PAGE_NOCACHE) == NULL);
    CHECK_EQ(IospOutstandingMappings(), 0);
}

static void test_pool(void) {
    PUCHAR small = ExAllocatePoolWithTag(NonPagedPoolNx, 100, TEST_TAG);
    CHECK(small != NULL);
    CHECK_EQ((ULONG_PTR)small % 16, 0);
    /* Pool is RAM in the system window: a plain pointer that translates to a physical page. */
    memset(small, 0xA5, 100);
    CHECK_EQ(small[99], 0xA5);
    CHECK(MmIsAddressValid(small));
    CHECK(MmGetPhysicalAddress(small).QuadPart != 0);
    ExFreePoolWithTag(small, TEST_TAG);

    PULONG zeroed = ExAllocatePool2(POOL_FLAG_NON_PAGED, 3 * PAGE_SIZE, TEST_TAG);
    CHECK(zeroed != NULL);
    CHECK_EQ(BYTE_OFFSET(zeroed), 0);
    ULONG sum = 0;
    for (ULONG i = 0; i < 3 * PAGE_SIZE / sizeof(ULONG); i++) {
        sum |= zeroed[i];
    }
    CHECK_EQ(sum, 0);
    ExFreePool(zeroed);

    PVOID paged = ExAllocatePoolWithTag(PagedPool, 32, TEST_TAG);
    CHECK(paged != NULL);
    ExFreePool(paged);

    /* ExAllocatePool2 refuses flags that name no pool, or two, with NULL. */
    CHECK(ExAllocatePool2(0, 64, TEST_TAG) == NULL);
    CHECK(ExAllocatePool2(POOL_FLAG_NON_PAGED | POOL_FLAG_PAGED, 64, TEST_TAG) == NULL);
    /* An unsupported pool type is NULL as well. */
    CHECK(ExAllocatePoolWithTag((POOL_TYPE)3, 64, TEST_TAG) == NULL);
}

static void test_contiguous(void) {
    PUCHAR block = MmAllocateContiguousMemory(3 * PAGE_SIZE, physical(0x0FFFFFFF));
    CHECK(block != NULL);
    CHECK_EQ(BYTE_OFFSET(block), 0);
    LONGLONG first = MmGetPhysicalAddress(block).QuadPart;
    CHECK(first != 0);
    CHECK(first + 3 * PAGE_SIZE - 1 <= 0x0FFFFFFF);
    CHECK_EQ(MmGetPhysicalAddress(block + 2 * PAGE_SIZE + 5).QuadPart, first + 2 * PAGE_SIZE + 5);
    block[3 * PAGE_SIZE - 1] = 0x42;
    CHECK_EQ(block[3 * PAGE_SIZE - 1], 0x42);
    MmFreeContiguousMemory(block);

    /* Within [16 MiB, 4 GiB), never crossing a 64 KiB boundary (claim 65). */
    PUCHAR bounded = MmAllocateContiguousMemorySpecifyCache(
        0x8000, physical(0x1000000), physical(0xFFFFFFFF), physical(0x10000), MmNonCached);
    CHECK(bounded != NULL);
    LONGLONG start = MmGetPhysicalAddress(bounded).QuadPart;
    CHECK(start >= 0x1000000);
    CHECK_EQ(start / 0x10000, (start + 0x8000 - 1) / 0x10000);
    MmFreeContiguousMemory(bounded);

    /* A boundary that is not a power of two is refused. */
    CHECK(MmAllocateContiguousMemorySpecifyCache(PAGE_SIZE, physical(0), physical(0xFFFFFFFF),
                                                 physical(0x3000), MmCached) == NULL);
}

static void test_non_cached(void) {
    PUCHAR memory = MmAllocateNonCachedMemory(5000);
    CHECK(memory != NULL);
    CHECK_EQ(BYTE_OFFSET(memory), 0);
    memory[4999] = 7;
    CHECK_EQ(memory[4999], 7);
    CHECK(MmIsAddressValid(memory + PAGE_SIZE));
    MmFreeNonCachedMemory(memory, 5000);
    CHECK(!MmIsAddressValid(memory));
}

int main(void) {
    harness_boot();
    test_map_io_space();
    test_map_io_space_ex();
    test_pool();
    test_contiguous();
    test_non_cached();
    CHECK_EQ(IospOutstandingMappings(), 0);
    IospShutdown();
    return harness_finish();
}
