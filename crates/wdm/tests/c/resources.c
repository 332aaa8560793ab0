/*
 * RtlCmEncodeMemIoResource and RtlCmDecodeMemIoResource on C descriptors (contract §8.3,
 * claims 23 and 24). They need no machine.
 */
#include "harness.h"

static CM_PARTIAL_RESOURCE_DESCRIPTOR blank(UCHAR type) {
    CM_PARTIAL_RESOURCE_DESCRIPTOR descriptor;
    memset(&descriptor, 0, sizeof(descriptor));
    descriptor.Type = type;
    descriptor.ShareDisposition = CmResourceShareDeviceExclusive;
    return descriptor;
}

static void test_encode_picks_the_smallest_exact_form(void) {
    CM_PARTIAL_RESOURCE_DESCRIPTOR descriptor = blank(CmResourceTypeMemory);
    descriptor.Flags = CM_RESOURCE_MEMORY_PREFETCHABLE;
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypeMemoryLarge, 0x10000000000ULL, 0x4000000000ULL),
             STATUS_SUCCESS);
    CHECK_EQ(descriptor.Type, CmResourceTypeMemoryLarge);
    CHECK_EQ(descriptor.Flags, CM_RESOURCE_MEMORY_PREFETCHABLE | CM_RESOURCE_MEMORY_LARGE_48);
    CHECK_EQ(descriptor.u.Memory48.Length48, 0x1000000);
    CHECK_EQ(descriptor.u.Memory48.Start.QuadPart, 0x4000000000LL);
    ULONGLONG start = 0;
    CHECK_EQ(RtlCmDecodeMemIoResource(&descriptor, &start), 0x10000000000ULL);
    CHECK_EQ(start, 0x4000000000ULL);
    CHECK_EQ(RtlCmDecodeMemIoResource(&descriptor, NULL), 0x10000000000ULL);

    /* A length that fits 32 bits stays a plain Memory descriptor. */
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypeMemoryLarge, 0x100000, 0xFEA00000), STATUS_SUCCESS);
    CHECK_EQ(descriptor.Type, CmResourceTypeMemory);
    CHECK_EQ(descriptor.Flags & CM_RESOURCE_MEMORY_LARGE, 0);
    CHECK_EQ(descriptor.u.Memory.Length, 0x100000);
}

static void test_claim_23_decode_large_48(void) {
    CM_PARTIAL_RESOURCE_DESCRIPTOR descriptor = blank(CmResourceTypeMemoryLarge);
    descriptor.Flags = CM_RESOURCE_MEMORY_LARGE_48;
    descriptor.u.Memory48.Start.QuadPart = 0x123000;
    descriptor.u.Memory48.Length48 = 1;
    ULONGLONG start = 0;
    CHECK_EQ(RtlCmDecodeMemIoResource(&descriptor, &start), 0x10000);
    CHECK_EQ(start, 0x123000);
}

static void test_claim_24_lengths_without_an_exact_form(void) {
    CM_PARTIAL_RESOURCE_DESCRIPTOR descriptor = blank(CmResourceTypeMemory);
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypeMemoryLarge, 0x100000001ULL, 0), STATUS_UNSUCCESSFUL);
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypeMemoryLarge, 0x1000000000001ULL, 0),
             STATUS_UNSUCCESSFUL);
    /* The descriptor is unchanged on failure. */
    CHECK_EQ(descriptor.Type, CmResourceTypeMemory);
    CHECK_EQ(descriptor.u.Memory.Length, 0);
    /* Ports have no large form. */
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypePort, 0x100000000ULL, 0), STATUS_UNSUCCESSFUL);
}

static void test_other_types(void) {
    CM_PARTIAL_RESOURCE_DESCRIPTOR descriptor = blank(CmResourceTypeInterrupt);
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypeInterrupt, 0x1000, 0), STATUS_INVALID_PARAMETER);
    ULONGLONG start = 0x77;
    CHECK_EQ(RtlCmDecodeMemIoResource(&descriptor, &start), 0);
    CHECK_EQ(start, 0x77);

    descriptor = blank(CmResourceTypePort);
    CHECK_EQ(RtlCmEncodeMemIoResource(&descriptor, CmResourceTypePort, 8, 0x3F8), STATUS_SUCCESS);
    CHECK_EQ(RtlCmDecodeMemIoResource(&descriptor, &start), 8);
    CHECK_EQ(start, 0x3F8);
}

int main(void) {
    test_encode_picks_the_smallest_exact_form();
    test_claim_23_decode_large_48();
    test_claim_24_lengths_without_an_exact_form();
    test_other_types();
    return harness_finish();
}
