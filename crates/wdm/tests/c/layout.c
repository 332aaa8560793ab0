/*
 * The headers against the x64 ABI: structure sizes and offsets (contract §4.1, §8.4), constant
 * values, and the address and MDL macros (§4.3), compared with the library where it computes
 * the same thing.
 */
#include <stdalign.h>
#include <stddef.h>

#include "harness.h"

/* The sizes the issue names, checked by the compiler as well as at run time. */
_Static_assert(sizeof(MDL) == 48, "MDL is 48 bytes");
_Static_assert(sizeof(CM_PARTIAL_RESOURCE_DESCRIPTOR) == 20, "CM_PARTIAL_RESOURCE_DESCRIPTOR is 20 bytes");
_Static_assert(sizeof(IO_RESOURCE_DESCRIPTOR) == 32, "IO_RESOURCE_DESCRIPTOR is 32 bytes");

static void test_basic_types(void) {
    CHECK_EQ(sizeof(ULONG), 4);
    CHECK_EQ(sizeof(LONG), 4);
    CHECK_EQ(sizeof(ULONG_PTR), 8);
    CHECK_EQ(sizeof(SIZE_T), 8);
    CHECK_EQ(sizeof(PFN_NUMBER), 8);
    CHECK_EQ(sizeof(KAFFINITY), 8);
    CHECK_EQ(sizeof(BOOLEAN), 1);
    CHECK_EQ(sizeof(KIRQL), 1);
    CHECK_EQ(sizeof(KPROCESSOR_MODE), 1);
    CHECK_EQ(sizeof(NTSTATUS), 4);
    CHECK_EQ(sizeof(MEMORY_CACHING_TYPE), 4);
    CHECK_EQ(sizeof(LOCK_OPERATION), 4);
    CHECK_EQ(sizeof(INTERFACE_TYPE), 4);
    CHECK_EQ(sizeof(BUS_DATA_TYPE), 4);
    CHECK_EQ(sizeof(PHYSICAL_ADDRESS), 8);

    PHYSICAL_ADDRESS address;
    address.QuadPart = 0x0000000123456789LL;
    CHECK_EQ(address.LowPart, 0x23456789);
    CHECK_EQ(address.HighPart, 1);
    CHECK_EQ(address.u.LowPart, 0x23456789);
    address.QuadPart = -1;
    CHECK(address.HighPart == -1);
    CHECK_EQ(address.LowPart, 0xFFFFFFFF);
}

static void test_mdl_layout(void) {
    CHECK_EQ(sizeof(MDL), 48);
    CHECK_EQ(alignof(MDL), 8);
    CHECK_EQ(offsetof(MDL, Next), 0x00);
    CHECK_EQ(offsetof(MDL, Size), 0x08);
    CHECK_EQ(offsetof(MDL, MdlFlags), 0x0A);
    CHECK_EQ(offsetof(MDL, Process), 0x10);
    CHECK_EQ(offsetof(MDL, MappedSystemVa), 0x18);
    CHECK_EQ(offsetof(MDL, StartVa), 0x20);
    CHECK_EQ(offsetof(MDL, ByteCount), 0x28);
    CHECK_EQ(offsetof(MDL, ByteOffset), 0x2C);
}

static void test_cm_layouts(void) {
    CHECK_EQ(sizeof(CM_PARTIAL_RESOURCE_DESCRIPTOR), 20);
    CHECK_EQ(alignof(CM_PARTIAL_RESOURCE_DESCRIPTOR), 4);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, Type), 0);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, ShareDisposition), 1);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, Flags), 2);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u), 4);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory.Start), 4);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory.Length), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Port.Length), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Level), 4);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Group), 6);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Vector), 8);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Interrupt.Affinity), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.MessageInterrupt.Raw.MessageCount), 6);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.MessageInterrupt.Translated.Affinity), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Dma.Reserved1), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.DmaV3.TransferWidth), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.DmaV3.Reserved3), 15);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.DevicePrivate.Data[2]), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.BusNumber.Length), 8);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.DeviceSpecificData.DataSize), 4);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory40.Length40), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory48.Length48), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Memory64.Length64), 12);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Connection.Type), 5);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_DESCRIPTOR, u.Connection.IdHighPart), 12);

    CHECK_EQ(sizeof(CM_PARTIAL_RESOURCE_LIST), 28);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_LIST, Count), 4);
    CHECK_EQ(offsetof(CM_PARTIAL_RESOURCE_LIST, PartialDescriptors), 8);
    CHECK_EQ(sizeof(CM_FULL_RESOURCE_DESCRIPTOR), 36);
    CHECK_EQ(offsetof(CM_FULL_RESOURCE_DESCRIPTOR, BusNumber), 4);
    CHECK_EQ(offsetof(CM_FULL_RESOURCE_DESCRIPTOR, PartialResourceList.PartialDescriptors), 16);
    CHECK_EQ(sizeof(CM_RESOURCE_LIST), 40);
    CHECK_EQ(alignof(CM_RESOURCE_LIST), 4);
    CHECK_EQ(offsetof(CM_RESOURCE_LIST, List[0].PartialResourceList.PartialDescriptors), 20);
}

static void test_io_layouts(void) {
    CHECK_EQ(sizeof(IO_RESOURCE_DESCRIPTOR), 32);
    CHECK_EQ(alignof(IO_RESOURCE_DESCRIPTOR), 8);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, Flags), 4);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, Spare2), 6);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u), 8);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Memory.Alignment), 12);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Memory.MinimumAddress), 16);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Memory.MaximumAddress), 24);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Memory64.Alignment64), 12);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Interrupt.AffinityPolicy), 16);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Interrupt.Group), 18);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Interrupt.PriorityPolicy), 20);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.Interrupt.TargetedProcessors), 24);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.DmaV3.TransferWidth), 20);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.BusNumber.Reserved), 20);
    CHECK_EQ(offsetof(IO_RESOURCE_DESCRIPTOR, u.ConfigData.Reserved2), 16);
    CHECK_EQ(sizeof(IO_RESOURCE_LIST), 40);
    CHECK_EQ(offsetof(IO_RESOURCE_LIST, Descriptors), 8);
    CHECK_EQ(sizeof(IO_RESOURCE_REQUIREMENTS_LIST), 72);
    CHECK_EQ(offsetof(IO_RESOURCE_REQUIREMENTS_LIST, AlternativeLists), 28);
    CHECK_EQ(offsetof(IO_RESOURCE_REQUIREMENTS_LIST, List), 32);
}

static void test_pci_layouts(void) {
    CHECK_EQ(sizeof(PCI_SLOT_NUMBER), 4);
    PCI_SLOT_NUMBER slot;
    slot.u.AsULONG = 0;
    slot.u.bits.DeviceNumber = 3;
    slot.u.bits.FunctionNumber = 5;
    CHECK_EQ(slot.u.AsULONG, 3 | (5 << 5));
    CHECK_EQ(sizeof(PCI_COMMON_HEADER), PCI_COMMON_HDR_LENGTH);
    CHECK_EQ(sizeof(PCI_COMMON_CONFIG), 256);
    CHECK_EQ(offsetof(PCI_COMMON_HEADER, HeaderType), 0x0E);
    CHECK_EQ(offsetof(PCI_COMMON_HEADER, u.type0.BaseAddresses), 0x10);
    CHECK_EQ(offsetof(PCI_COMMON_HEADER, u.type0.SubVendorID), 0x2C);
    CHECK_EQ(offsetof(PCI_COMMON_HEADER, u.type0.CapabilitiesPtr), 0x34);
    CHECK_EQ(offsetof(PCI_COMMON_HEADER, u.type0.InterruptLine), 0x3C);
    CHECK_EQ(offsetof(PCI_COMMON_HEADER, u.type0.MaximumLatency), 0x3F);
}

static void test_constants(void) {
    CHECK_EQ(PAGE_SIZE, 4096);
    CHECK_EQ(PAGE_SHIFT, 12);
    CHECK_EQ(PASSIVE_LEVEL, 0);
    CHECK_EQ(APC_LEVEL, 1);
    CHECK_EQ(DISPATCH_LEVEL, 2);
    CHECK_EQ(HIGH_LEVEL, 15);
    CHECK_EQ(MmNonCached, 0);
    CHECK_EQ(MmCached, 1);
    CHECK_EQ(MmWriteCombined, 2);
    CHECK_EQ(MmHardwareCoherentCached, 3);
    CHECK_EQ(MmNonCachedUnordered, 4);
    CHECK_EQ(MmUSWCCached, 5);
    CHECK_EQ(MmMaximumCacheType, 6);
    CHECK_EQ(MmNotMapped, -1);
    CHECK_EQ(NormalPagePriority, 16);
    CHECK_EQ(HighPagePriority, 32);
    CHECK_EQ(MdlMappingNoWrite, 0x80000000U);
    CHECK_EQ(MdlMappingNoExecute, 0x40000000U);
    CHECK_EQ(IoModifyAccess, 2);
    CHECK_EQ(UserMode, 1);
    CHECK_EQ(PCIBus, 5);
    CHECK_EQ(ACPIBus, 17);
    CHECK_EQ(PCIConfiguration, 4);
    CHECK_EQ(NonPagedPoolNx, 512);
    CHECK_EQ(PAGE_READWRITE | PAGE_NOCACHE, 0x204);
    CHECK_EQ(PAGE_WRITECOMBINE, 0x400);
    CHECK_EQ(MDL_MAPPED_TO_SYSTEM_VA | MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL, 0x7);
    CHECK_EQ(MDL_PARTIAL_HAS_BEEN_MAPPED, 0x20);
    CHECK_EQ(MDL_PARENT_MAPPED_SYSTEM_VA, 0x100);
    CHECK_EQ(MDL_IO_SPACE, 0x800);
    CHECK_EQ(MDL_MAPPING_CAN_FAIL, 0x2000);
    CHECK_EQ(MM_ALLOCATE_FULLY_REQUIRED, 0x4);
    CHECK_EQ(MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS, 0x20);
    CHECK_EQ(CmResourceTypeMemoryLarge, 7);
    CHECK_EQ(CM_RESOURCE_MEMORY_LARGE_48, 0x400);
    CHECK_EQ(CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN, 0xFFFFFFFE);
    CHECK_EQ((ULONG)STATUS_ACCESS_VIOLATION, 0xC0000005);
    CHECK_EQ((ULONG)STATUS_INSUFFICIENT_RESOURCES, 0xC000009A);
    CHECK(NT_SUCCESS(STATUS_SUCCESS));
    CHECK(!NT_SUCCESS(STATUS_UNSUCCESSFUL));
}

static void test_address_macros(void) {
    CHECK_EQ(PAGE_ALIGN((PVOID)0x12345678), 0x12345000);
    CHECK_EQ(BYTE_OFFSET((PVOID)0x12345678), 0x678);
    CHECK_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES((PVOID)0x1FFF, 2), 2);
    CHECK_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES((PVOID)0x1000, 0), 0);
    CHECK_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES((PVOID)0x1001, 0), 1);
    CHECK_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES((PVOID)0x1000, 0x1000), 1);
    CHECK_EQ(ADDRESS_AND_SIZE_TO_SPAN_PAGES((PVOID)0x1800, 0x1000), 2);
    CHECK_EQ(BYTES_TO_PAGES(0), 0);
    CHECK_EQ(BYTES_TO_PAGES(1), 1);
    CHECK_EQ(BYTES_TO_PAGES(0x1000), 1);
    CHECK_EQ(BYTES_TO_PAGES(0x1001), 2);
    CHECK_EQ(BYTES_TO_PAGES(~(SIZE_T)0), ((~(SIZE_T)0) >> 12) + 1);
    CHECK_EQ(ROUND_TO_PAGES(0x1001), 0x2000);
}

/* MmSizeOfMdl (the library) and MmInitializeMdl (the header) agree on every span. */
static void test_mdl_macros(void) {
    static const struct {
        ULONG_PTR Va;
        SIZE_T Length;
    } cases[] = {{0x10000, 1}, {0x10FFF, 2}, {0x10800, 0x1000}, {0x10000, 0x3000}, {0x10123, 0x5000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        PVOID va = (PVOID)cases[i].Va;
        SIZE_T size = MmSizeOfMdl(va, cases[i].Length);
        CHECK_EQ(size, sizeof(MDL) + sizeof(PFN_NUMBER) * ADDRESS_AND_SIZE_TO_SPAN_PAGES(va, cases[i].Length));
        union {
            MDL Mdl;
            PFN_NUMBER Storage[16];
        } buffer;
        PMDL mdl = &buffer.Mdl;
        mdl->Process = (PEPROCESS)0x1234;
        mdl->MappedSystemVa = (PVOID)0x5678;
        MmInitializeMdl(mdl, va, cases[i].Length);
        CHECK(mdl->Next == NULL);
        CHECK_EQ(mdl->Size, size);
        CHECK_EQ(mdl->MdlFlags, 0);
        CHECK_EQ(MmGetMdlStartVa(mdl), cases[i].Va & ~(ULONG_PTR)0xFFF);
        CHECK_EQ(MmGetMdlByteOffset(mdl), cases[i].Va & 0xFFF);
        CHECK_EQ(MmGetMdlByteCount(mdl), cases[i].Length);
        CHECK_EQ(MmGetMdlVirtualAddress(mdl), cases[i].Va);
        CHECK_EQ((ULONG_PTR)MmGetMdlPfnArray(mdl), (ULONG_PTR)mdl + 48);
        /* MmInitializeMdl leaves Process and MappedSystemVa alone. */
        CHECK_EQ(mdl->Process, 0x1234);
        CHECK_EQ(mdl->MappedSystemVa, 0x5678);
    }
}

int main(void) {
    test_basic_types();
    test_mdl_layout();
    test_cm_layouts();
    test_io_layouts();
    test_pci_layouts();
    test_constants();
    test_address_macros();
    test_mdl_macros();
    return harness_finish();
}
