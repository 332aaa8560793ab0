/*
 * The hosted machine's controls and its CPUs: IospBoot's statuses, a fresh machine after
 * IospShutdown, the IRQL routines, an IRQL per thread, and routines called from several threads
 * at once. Takes a scratch directory as its argument.
 */
#include <threads.h>

#include "harness.h"
#include "tags.h"

static const char *scratch;

static void write_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    CHECK(file != NULL);
    if (file != NULL) {
        fputs(text, file);
        fclose(file);
    }
}

static void test_boot_statuses(void) {
    CHECK_EQ(IospBoot(NULL), STATUS_SUCCESS);
    CHECK_EQ(IospBoot(NULL), STATUS_INVALID_DEVICE_STATE);
    IospShutdown();
    IospShutdown(); /* no machine: nothing happens */
    CHECK_EQ(IospOutstandingMappings(), 0);

    char path[4096];
    snprintf(path, sizeof(path), "%s/missing.toml", scratch);
    CHECK_EQ(IospBoot(path), STATUS_OBJECT_NAME_NOT_FOUND);
    snprintf(path, sizeof(path), "%s/invalid.toml", scratch);
    write_file(path, "ram_mib = 1\n");
    CHECK_EQ(IospBoot(path), STATUS_INVALID_PARAMETER);
    write_file(path, "this is not toml\n");
    CHECK_EQ(IospBoot(path), STATUS_INVALID_PARAMETER);
}

/* A described machine: edu elsewhere, and MmMapLockedPages allowed by its verifier rules. */
static void test_described_machine(void) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/small.toml", scratch);
    write_file(path,
               "name = \"small\"\nram_mib = 64\n\n[verifier]\nreport_obsolete_routines = false\n\n"
               "[[device]]\nkind = \"edu\"\nbar0 = 0xc0000000\n");
    CHECK_EQ(IospBoot(path), STATUS_SUCCESS);
    PHYSICAL_ADDRESS bar0;
    bar0.QuadPart = 0xC0000000;
    PULONG registers = MmMapIoSpace(bar0, PAGE_SIZE, MmNonCached);
    CHECK(registers != NULL);
    CHECK_EQ(READ_REGISTER_ULONG(registers), EDU_ID);
    MmUnmapIoSpace(registers, PAGE_SIZE);

    PUCHAR buffer = ExAllocatePoolWithTag(NonPagedPoolNx, PAGE_SIZE, TEST_TAG);
    PMDL mdl = IoAllocateMdl(buffer, PAGE_SIZE, FALSE, FALSE, NULL);
    MmProbeAndLockPages(mdl, KernelMode, IoReadAccess);
    PUCHAR mapped = MmMapLockedPages(mdl, KernelMode);
    CHECK(mapped != NULL);
    buffer[7] = 0x77;
    CHECK_EQ(mapped[7], 0x77);
    MmUnmapLockedPages(mapped, mdl);
    MmUnlockPages(mdl);
    IoFreeMdl(mdl);
    ExFreePoolWithTag(buffer, TEST_TAG);
    IospShutdown();
}

/* What a shutdown with something still mapped looks like, and that the next machine is fresh. */
static void test_shutdown_with_leftovers(void) {
    CHECK_EQ(IospBoot(NULL), STATUS_SUCCESS);
    PHYSICAL_ADDRESS bar0;
    bar0.QuadPart = (LONGLONG)EDU_BAR0;
    CHECK(MmMapIoSpace(bar0, PAGE_SIZE, MmNonCached) != NULL);
    CHECK(MmAllocateMappingAddress(PAGE_SIZE, TEST_TAG) != NULL);
    CHECK_EQ(IospOutstandingMappings(), 2);
    IospShutdown();
    CHECK_EQ(IospOutstandingMappings(), 0);
    CHECK_EQ(IospBoot(NULL), STATUS_SUCCESS);
    CHECK_EQ(IospOutstandingMappings(), 0);
    IospShutdown();
}

static void test_irql(void) {
    CHECK_EQ(IospBoot(NULL), STATUS_SUCCESS);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KIRQL old = 0xFF;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    CHECK_EQ(old, PASSIVE_LEVEL);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KIRQL older = 0xFF;
    KeRaiseIrql(DISPATCH_LEVEL, &older); /* raising to the same level is allowed */
    CHECK_EQ(older, DISPATCH_LEVEL);
    KeLowerIrql(old);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    IospShutdown();
}

/* Each thread is a CPU: its IRQL is its own. */
static int raise_on_another_thread(void *argument) {
    KIRQL *observed = argument;
    observed[0] = KeGetCurrentIrql();
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    observed[1] = KeGetCurrentIrql();
    KeLowerIrql(old);
    return 0;
}

static void test_irql_is_per_thread(void) {
    CHECK_EQ(IospBoot(NULL), STATUS_SUCCESS);
    KIRQL old;
    KeRaiseIrql(APC_LEVEL, &old);
    KIRQL observed[2] = {0xFF, 0xFF};
    thrd_t thread;
    CHECK_EQ(thrd_create(&thread, raise_on_another_thread, observed), thrd_success);
    thrd_join(thread, NULL);
    CHECK_EQ(observed[0], PASSIVE_LEVEL);
    CHECK_EQ(observed[1], DISPATCH_LEVEL);
    CHECK_EQ(KeGetCurrentIrql(), APC_LEVEL);
    KeLowerIrql(old);
    IospShutdown();
}

/* Several threads map, read and unmap, and allocate pool, at the same time. */
#define THREADS 4
#define ROUNDS 200

static int map_and_read(void *argument) {
    ULONG *failures = argument;
    PHYSICAL_ADDRESS bar0;
    bar0.QuadPart = (LONGLONG)EDU_BAR0;
    for (int round = 0; round < ROUNDS; round++) {
        PULONG registers = MmMapIoSpace(bar0, PAGE_SIZE, MmNonCached);
        PULONG pool = ExAllocatePoolWithTag(NonPagedPoolNx, 64, TEST_TAG);
        if (registers == NULL || pool == NULL || READ_REGISTER_ULONG(registers) != EDU_ID) {
            (*failures)++;
        }
        if (registers != NULL) {
            MmUnmapIoSpace(registers, PAGE_SIZE);
        }
        if (pool != NULL) {
            ExFreePoolWithTag(pool, TEST_TAG);
        }
    }
    return 0;
}

static void test_threads(void) {
    CHECK_EQ(IospBoot(NULL), STATUS_SUCCESS);
    thrd_t threads[THREADS];
    ULONG failures[THREADS] = {0};
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(thrd_create(&threads[i], map_and_read, &failures[i]), thrd_success);
    }
    for (int i = 0; i < THREADS; i++) {
        thrd_join(threads[i], NULL);
        CHECK_EQ(failures[i], 0);
    }
    CHECK_EQ(IospOutstandingMappings(), 0);
    IospShutdown();
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIRECTORY\n", argv[0]);
        return 2;
    }
    scratch = argv[1];
    IospSetBugCheckCallback(harness_callback);
    test_boot_statuses();
    test_described_machine();
    test_shutdown_with_leftovers();
    test_irql();
    test_irql_is_per_thread();
    test_threads();
    return harness_finish();
}
