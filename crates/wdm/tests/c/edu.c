/*
 * The edu device as a legacy driver finds and drives it: enumerate bus 0 with
 * HalGetBusDataByOffset, size BAR0 with HalSetBusDataByOffset, translate it with
 * HalTranslateBusAddress, map it with MmMapIoSpace, and use the register routines of every
 * width. Run with no argument on the default machine, or with the path of a machine
 * description (the memory-mapped-ports personality puts an offset between bus and CPU).
 */
#include "harness.h"
#include "tags.h"

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11E8
#define EDU_LIVENESS 0x04
#define EDU_FACTORIAL 0x08
#define EDU_STATUS 0x20
#define EDU_STATUS_COMPUTING 0x01
#define EDU_BUFFER 0x40000

/* Finds edu on bus 0; returns its slot, or ULONG(-1). */
static ULONG find_edu(PCI_COMMON_HEADER *header) {
    for (ULONG device = 0; device < PCI_MAX_DEVICES; device++) {
        PCI_SLOT_NUMBER slot;
        slot.u.AsULONG = 0;
        slot.u.bits.DeviceNumber = device;
        ULONG read = HalGetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, header, 0, sizeof(*header));
        if (read == 2) {
            CHECK_EQ(header->VendorID, PCI_INVALID_VENDORID); /* an empty slot */
            continue;
        }
        CHECK_EQ(read, sizeof(*header));
        if (header->VendorID == EDU_VENDOR && header->DeviceID == EDU_DEVICE) {
            return slot.u.AsULONG;
        }
    }
    return (ULONG)-1;
}

/* BAR sizing: write all ones, read the mask back, restore. */
static ULONG bar_size(ULONG slot, ULONG index) {
    ULONG offset = (ULONG)offsetof(PCI_COMMON_HEADER, u.type0.BaseAddresses) + 4 * index;
    ULONG original = 0;
    ULONG ones = 0xFFFFFFFF;
    ULONG mask = 0;
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, slot, &original, offset, 4), 4);
    CHECK_EQ(HalSetBusDataByOffset(PCIConfiguration, 0, slot, &ones, offset, 4), 4);
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, slot, &mask, offset, 4), 4);
    CHECK_EQ(HalSetBusDataByOffset(PCIConfiguration, 0, slot, &original, offset, 4), 4);
    return ~(mask & PCI_ADDRESS_MEMORY_ADDRESS_MASK) + 1;
}

static void test_edu(void) {
    PCI_COMMON_HEADER header;
    ULONG slot = find_edu(&header);
    CHECK(slot != (ULONG)-1);
    if (slot == (ULONG)-1) {
        return;
    }
    ULONG bar = header.u.type0.BaseAddresses[0];
    CHECK_EQ(bar & PCI_ADDRESS_IO_SPACE, 0);
    ULONG length = bar_size(slot, 0);
    CHECK_EQ(length, EDU_BAR0_BYTES);

    PHYSICAL_ADDRESS raw;
    raw.QuadPart = bar & PCI_ADDRESS_MEMORY_ADDRESS_MASK;
    PHYSICAL_ADDRESS translated;
    ULONG space = 0;
    CHECK(HalTranslateBusAddress(PCIBus, 0, raw, &space, &translated));
    CHECK_EQ(space, 0); /* memory: map it before use (claim 74) */

    PUCHAR registers = MmMapIoSpace(translated, length, MmNonCached);
    CHECK(registers != NULL);
    if (registers == NULL) {
        return;
    }
    CHECK_EQ(MmGetPhysicalAddress(registers).QuadPart, translated.QuadPart);
    CHECK_EQ(READ_REGISTER_ULONG((PULONG)registers), EDU_ID);

    WRITE_REGISTER_ULONG((PULONG)(registers + EDU_LIVENESS), 0x12345678);
    CHECK_EQ(READ_REGISTER_ULONG((PULONG)(registers + EDU_LIVENESS)), ~0x12345678u);

    /* Factorial: start, poll the busy bit (letting time pass), read. */
    WRITE_REGISTER_ULONG((PULONG)(registers + EDU_FACTORIAL), 10);
    int polls = 0;
    while (READ_REGISTER_ULONG((PULONG)(registers + EDU_STATUS)) & EDU_STATUS_COMPUTING) {
        KeStallExecutionProcessor(10);
        polls++;
    }
    CHECK(polls <= 1);
    CHECK_EQ(READ_REGISTER_ULONG((PULONG)(registers + EDU_FACTORIAL)), 3628800);

    /* Consecutive registers: identification then liveness (claim 73). */
    ULONG pair[2];
    READ_REGISTER_BUFFER_ULONG((PULONG)registers, pair, 2);
    CHECK_EQ(pair[0], EDU_ID);
    CHECK_EQ(pair[1], ~0x12345678u);

    /* The device buffer decodes every width. */
    PUCHAR buffer = registers + EDU_BUFFER;
    WRITE_REGISTER_UCHAR(buffer, 0xAB);
    CHECK_EQ(READ_REGISTER_UCHAR(buffer), 0xAB);
    WRITE_REGISTER_USHORT((PUSHORT)(buffer + 2), 0xBEEF);
    CHECK_EQ(READ_REGISTER_USHORT((PUSHORT)(buffer + 2)), 0xBEEF);
    CHECK_EQ(READ_REGISTER_ULONG((PULONG)buffer), 0xBEEF00AB);
    WRITE_REGISTER_ULONG64((PULONG64)(buffer + 8), 0x0123456789ABCDEFULL);
    CHECK_EQ(READ_REGISTER_ULONG64((PULONG64)(buffer + 8)), 0x0123456789ABCDEFULL);

    UCHAR bytes[5] = {1, 2, 3, 4, 5};
    UCHAR bytes_back[5] = {0};
    WRITE_REGISTER_BUFFER_UCHAR(buffer + 0x101, bytes, 5);
    READ_REGISTER_BUFFER_UCHAR(buffer + 0x101, bytes_back, 5);
    CHECK(memcmp(bytes, bytes_back, 5) == 0);
    USHORT words[3] = {0x1111, 0x2222, 0x3333};
    USHORT words_back[3] = {0};
    WRITE_REGISTER_BUFFER_USHORT((PUSHORT)(buffer + 0x200), words, 3);
    READ_REGISTER_BUFFER_USHORT((PUSHORT)(buffer + 0x200), words_back, 3);
    CHECK(memcmp(words, words_back, sizeof(words)) == 0);
    CHECK_EQ(READ_REGISTER_USHORT((PUSHORT)(buffer + 0x204)), 0x3333);
    ULONG longs[2] = {0xCAFEF00D, 0xDEADBEEF};
    ULONG longs_back[2] = {0};
    WRITE_REGISTER_BUFFER_ULONG((PULONG)(buffer + 0x300), longs, 2);
    READ_REGISTER_BUFFER_ULONG((PULONG)(buffer + 0x300), longs_back, 2);
    CHECK(memcmp(longs, longs_back, sizeof(longs)) == 0);
    ULONG64 quads[2] = {0x1122334455667788ULL, 0x99AABBCCDDEEFF00ULL};
    ULONG64 quads_back[2] = {0};
    WRITE_REGISTER_BUFFER_ULONG64((PULONG64)(buffer + 0x400), quads, 2);
    READ_REGISTER_BUFFER_ULONG64((PULONG64)(buffer + 0x400), quads_back, 2);
    CHECK(memcmp(quads, quads_back, sizeof(quads)) == 0);
    CHECK_EQ(READ_REGISTER_ULONG((PULONG)(buffer + 0x404)), 0x11223344);

    CHECK_EQ(IospOutstandingMappings(), 1);
    MmUnmapIoSpace(registers, length);
    CHECK_EQ(IospOutstandingMappings(), 0);
}

int main(int argc, char **argv) {
    IospSetBugCheckCallback(harness_callback);
    NTSTATUS status = IospBoot(argc > 1 ? argv[1] : NULL);
    CHECK_EQ(status, STATUS_SUCCESS);
    if (!NT_SUCCESS(status)) {
        return harness_finish();
    }
    test_edu();
    IospShutdown();
    return harness_finish();
}
