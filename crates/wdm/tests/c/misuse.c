/*
 * Misuse, one case per process (the case's name is the argument): each raises the bug check
 * Windows documents, which the callback observes with its code and parameters before jumping
 * back; the machine is then shut down, booted again and checked to work. Two cases let the bug
 * check end the process instead, to show the STOP line with the driver's call site.
 */
#include "harness.h"
#include "tags.h"

static PHYSICAL_ADDRESS physical(ULONGLONG address) {
    PHYSICAL_ADDRESS result;
    result.QuadPart = (LONGLONG)address;
    return result;
}

/* After a recovery the machine is a fresh one and works. */
static void check_fresh_machine(void) {
    CHECK_EQ(IospOutstandingMappings(), 0);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    PULONG registers = MmMapIoSpace(physical(EDU_BAR0), PAGE_SIZE, MmNonCached);
    CHECK(registers != NULL);
    if (registers != NULL) {
        CHECK_EQ(READ_REGISTER_ULONG(registers), EDU_ID);
        MmUnmapIoSpace(registers, PAGE_SIZE);
    }
}

/* --- 0xDA SYSTEM_PTE_MISUSE ------------------------------------------------------------- */

static void unmap_unknown_io_space(void) {
    PVOID pool = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    EXPECT_BUG_CHECK(MmUnmapIoSpace(pool, PAGE_SIZE));
    CHECK_BUG_CHECK(0xDA, 0x400, (ULONG_PTR)pool, 1, 0);
}

static void reservation_of_zero_bytes(void) {
    EXPECT_BUG_CHECK(MmAllocateMappingAddress(0, TEST_TAG));
    CHECK_BUG_CHECK(0xDA, 0x100, 0, TEST_TAG, 0);
}

static void free_reservation_with_wrong_tag(void) {
    PVOID reserved = MmAllocateMappingAddress(2 * PAGE_SIZE, TEST_TAG);
    CHECK(reserved != NULL);
    EXPECT_BUG_CHECK(MmFreeMappingAddress(reserved, OTHER_TAG));
    CHECK_BUG_CHECK(0xDA, 0x101, (ULONG_PTR)reserved, OTHER_TAG, TEST_TAG);
}

static void map_reservation_with_wrong_tag(void) {
    PVOID reserved = MmAllocateMappingAddress(2 * PAGE_SIZE, TEST_TAG);
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    PMDL mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(mdl, KernelMode, IoReadAccess);
    EXPECT_BUG_CHECK(MmMapLockedPagesWithReservedMapping(reserved, OTHER_TAG, mdl, MmCached));
    CHECK_BUG_CHECK(0xDA, 0x104, (ULONG_PTR)reserved, OTHER_TAG, TEST_TAG);
}

/* --- 0x1A MEMORY_MANAGEMENT ------------------------------------------------------------- */

static void map_unlocked_ram(void) {
    /* 1 MiB is ordinary RAM nobody locked: mapping it as I/O space could change under the
     * mapping (contract §2.1). */
    EXPECT_BUG_CHECK(MmMapIoSpace(physical(0x100000), PAGE_SIZE, MmNonCached));
    CHECK_BUG_CHECK(0x1A, 0x1233, 0x100, 0, 0);
}

static void free_pages_of_an_mdl_that_has_none(void) {
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    PMDL mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    EXPECT_BUG_CHECK(MmFreePagesFromMdl(mdl));
    CHECK_BUG_CHECK(0x1A, 0x1236, (ULONG_PTR)mdl, 0, 0);
}

/* --- 0xC4 DRIVER_VERIFIER_DETECTED_VIOLATION -------------------------------------------- */

static void unlock_never_locked(void) {
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    PMDL mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    EXPECT_BUG_CHECK(MmUnlockPages(mdl));
    CHECK_BUG_CHECK(0xC4, 0x7C, (ULONG_PTR)mdl, 0, 0);
}

static void map_io_space_above_dispatch(void) {
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    EXPECT_BUG_CHECK(MmMapIoSpace(physical(EDU_BAR0), 0x100, MmNonCached));
    CHECK_BUG_CHECK(0xC4, 0x73, HIGH_LEVEL, EDU_BAR0, 0x100);
}

static void obsolete_map_locked_pages(void) {
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    PMDL mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(mdl, KernelMode, IoReadAccess);
    EXPECT_BUG_CHECK(MmMapLockedPages(mdl, KernelMode));
    CHECK(harness_raised);
    CHECK_EQ(harness_caught.Code, 0xC4);
    CHECK_EQ(harness_caught.P[0], 0x81);
    CHECK_EQ(harness_caught.P[2], (ULONG_PTR)mdl);
}

static void bug_check_on_failure(void) {
    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    PMDL mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(mdl, KernelMode, IoReadAccess);
    EXPECT_BUG_CHECK(MmMapLockedPagesSpecifyCache(mdl, KernelMode, MmCached, NULL, TRUE, NormalPagePriority));
    CHECK_BUG_CHECK(0xC4, 0x82, (ULONG_PTR)mdl, 0, 0);
}

/* --- Others ----------------------------------------------------------------------------- */

static void probe_invalid_range(void) {
    /* The C stack is not in the machine's address space: the access violation nobody catches. */
    static UCHAR host_buffer[64];
    PMDL mdl = IoAllocateMdl(host_buffer, sizeof(host_buffer), FALSE, FALSE, NULL);
    EXPECT_BUG_CHECK(MmProbeAndLockPages(mdl, KernelMode, IoWriteAccess));
    CHECK_BUG_CHECK(IOSP_BUGCHECK_PROBE_FAILED, (ULONG)STATUS_ACCESS_VIOLATION, 0, 1, (ULONG_PTR)host_buffer);
}

static void raise_irql_to_a_lower_level(void) {
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    EXPECT_BUG_CHECK(KeRaiseIrql(APC_LEVEL, &old));
    CHECK_BUG_CHECK(0x09, DISPATCH_LEVEL, APC_LEVEL, 0, 0);
}

static void driver_bug_check(void) {
    EXPECT_BUG_CHECK(KeBugCheckEx(0xE2, 1, 2, 3, 4));
    CHECK_BUG_CHECK(0xE2, 1, 2, 3, 4);
}

static void no_machine(void) {
    IospShutdown();
    EXPECT_BUG_CHECK(ExAllocatePoolWithTag(NonPagedPoolNx, 16, TEST_TAG));
    CHECK_BUG_CHECK(IOSP_BUGCHECK_NO_MACHINE, 0, 0, 0, 0);
}

/* --- The bug check ends the process ----------------------------------------------------- */

/* The callback returns: the STOP line is printed and the process exits with status 1. */
static void callback_returns(void) {
    PVOID pool = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    printf("unmapping %p\n", pool);
    fflush(stdout);
    MmUnmapIoSpace(pool, PAGE_SIZE);
    printf("still running\n");
}

static void no_callback(void) {
    IospSetBugCheckCallback(NULL);
    KeBugCheckEx(0xE2, 0, 0, 0, 0);
}

static const struct {
    const char *Name;
    void (*Run)(void);
    BOOLEAN Recovers;
} cases[] = {
    {"unmap_unknown_io_space", unmap_unknown_io_space, TRUE},
    {"reservation_of_zero_bytes", reservation_of_zero_bytes, TRUE},
    {"free_reservation_with_wrong_tag", free_reservation_with_wrong_tag, TRUE},
    {"map_reservation_with_wrong_tag", map_reservation_with_wrong_tag, TRUE},
    {"map_unlocked_ram", map_unlocked_ram, TRUE},
    {"free_pages_of_an_mdl_that_has_none", free_pages_of_an_mdl_that_has_none, TRUE},
    {"unlock_never_locked", unlock_never_locked, TRUE},
    {"map_io_space_above_dispatch", map_io_space_above_dispatch, TRUE},
    {"obsolete_map_locked_pages", obsolete_map_locked_pages, TRUE},
    {"bug_check_on_failure", bug_check_on_failure, TRUE},
    {"probe_invalid_range", probe_invalid_range, TRUE},
    {"raise_irql_to_a_lower_level", raise_irql_to_a_lower_level, TRUE},
    {"driver_bug_check", driver_bug_check, TRUE},
    {"no_machine", no_machine, TRUE},
    {"callback_returns", callback_returns, FALSE},
    {"no_callback", no_callback, FALSE},
};

int main(int argc, char **argv) {
    if (argc < 2) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            printf("%s\n", cases[i].Name);
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strcmp(argv[1], cases[i].Name) == 0) {
            harness_boot();
            cases[i].Run();
            if (cases[i].Recovers) {
                check_fresh_machine();
            }
            IospShutdown();
            return harness_finish();
        }
    }
    fprintf(stderr, "no case named %s\n", argv[1]);
    return 2;
}
