/*
 * edu_driver.c: a legacy-style driver for QEMU's edu device.
 *
 * It does what a Windows driver of the NT 4 era does at DriverEntry: enumerate PCI bus 0 with
 * HalGetBusDataByOffset, translate BAR0 with HalTranslateBusAddress, map the registers with
 * MmMapIoSpace, and talk to the device with READ_REGISTER_ULONG / WRITE_REGISTER_ULONG. Unload
 * gives the mapping back with MmUnmapIoSpace. Any misuse is the bug check Windows raises.
 */
#include "edu_driver.h"

#define EDU_VENDOR_ID 0x1234
#define EDU_DEVICE_ID 0x11E8
#define EDU_BAR0_LENGTH 0x100000 /* 1 MiB of registers, per the device's specification */

/* Register offsets in BAR0. */
#define EDU_REG_IDENTIFICATION 0x00
#define EDU_REG_LIVENESS 0x04
#define EDU_REG_FACTORIAL 0x08
#define EDU_REG_STATUS 0x20
#define EDU_STATUS_COMPUTING 0x01

#define EDU_POLL_LIMIT 1000

/* What a real driver keeps in its device extension. */
typedef struct _EDU_DEVICE_EXTENSION {
    PCI_SLOT_NUMBER Slot;
    PHYSICAL_ADDRESS RegistersPhysical;
    PUCHAR Registers;
} EDU_DEVICE_EXTENSION, *PEDU_DEVICE_EXTENSION;

static EDU_DEVICE_EXTENSION EduExtension;

static ULONG EduRead(ULONG Offset) {
    return READ_REGISTER_ULONG((PULONG)(EduExtension.Registers + Offset));
}

static VOID EduWrite(ULONG Offset, ULONG Value) {
    WRITE_REGISTER_ULONG((PULONG)(EduExtension.Registers + Offset), Value);
}

/* Walks bus 0 for the edu vendor and device IDs; fills in the slot and the raw BAR0. */
static NTSTATUS EduFindDevice(PPCI_SLOT_NUMBER Slot, PPHYSICAL_ADDRESS Bar0) {
    PCI_COMMON_HEADER header;
    for (ULONG device = 0; device < PCI_MAX_DEVICES; device++) {
        Slot->u.AsULONG = 0;
        Slot->u.bits.DeviceNumber = device;
        ULONG length = HalGetBusDataByOffset(PCIConfiguration, 0, Slot->u.AsULONG, &header, 0,
                                             PCI_COMMON_HDR_LENGTH);
        if (length != PCI_COMMON_HDR_LENGTH || header.VendorID == PCI_INVALID_VENDORID) {
            continue;
        }
        if (header.VendorID == EDU_VENDOR_ID && header.DeviceID == EDU_DEVICE_ID) {
            ULONG bar = header.u.type0.BaseAddresses[0];
            if (bar & PCI_ADDRESS_IO_SPACE) {
                return STATUS_NOT_SUPPORTED;
            }
            Bar0->QuadPart = bar & PCI_ADDRESS_MEMORY_ADDRESS_MASK;
            DbgPrint("edu: found at 00:%02x.0, BAR0 (bus) %#llx\n", (unsigned)device,
                     (unsigned long long)Bar0->QuadPart);
            return STATUS_SUCCESS;
        }
    }
    return STATUS_OBJECT_NAME_NOT_FOUND;
}

NTSTATUS EduDriverEntry(VOID) {
    PHYSICAL_ADDRESS bar0;
    NTSTATUS status = EduFindDevice(&EduExtension.Slot, &bar0);
    if (!NT_SUCCESS(status)) {
        DbgPrint("edu: no device (%#x)\n", (unsigned)status);
        return status;
    }

    /* The raw (bus) address becomes what the CPU uses; memory space must be mapped. */
    ULONG addressSpace = 0;
    if (!HalTranslateBusAddress(PCIBus, 0, bar0, &addressSpace, &EduExtension.RegistersPhysical) ||
        addressSpace != 0) {
        return STATUS_NOT_SUPPORTED;
    }
    EduExtension.Registers = MmMapIoSpace(EduExtension.RegistersPhysical, EDU_BAR0_LENGTH, MmNonCached);
    if (EduExtension.Registers == NULL) {
        return STATUS_INSUFFICIENT_RESOURCES;
    }

    ULONG identification = EduRead(EDU_REG_IDENTIFICATION);
    EduWrite(EDU_REG_LIVENESS, 0x5A5A0F0F);
    ULONG liveness = EduRead(EDU_REG_LIVENESS);
    DbgPrint("edu: identification %#010x, version %u.%u, liveness %s\n", (unsigned)identification,
             (unsigned)(identification >> 24), (unsigned)((identification >> 16) & 0xFF),
             liveness == ~0x5A5A0F0Fu ? "ok" : "BROKEN");
    if ((identification & 0xFF) != 0xED || liveness != ~0x5A5A0F0Fu) {
        EduUnload();
        return STATUS_INVALID_DEVICE_STATE;
    }
    return STATUS_SUCCESS;
}

NTSTATUS EduComputeFactorial(ULONG Value, PULONG Result) {
    if (EduExtension.Registers == NULL) {
        return STATUS_INVALID_DEVICE_STATE;
    }
    EduWrite(EDU_REG_FACTORIAL, Value);
    for (ULONG poll = 0; poll < EDU_POLL_LIMIT; poll++) {
        if ((EduRead(EDU_REG_STATUS) & EDU_STATUS_COMPUTING) == 0) {
            *Result = EduRead(EDU_REG_FACTORIAL);
            return STATUS_SUCCESS;
        }
        KeStallExecutionProcessor(10);
    }
    return STATUS_UNSUCCESSFUL;
}

VOID EduUnload(VOID) {
    if (EduExtension.Registers != NULL) {
        MmUnmapIoSpace(EduExtension.Registers, EDU_BAR0_LENGTH);
        EduExtension.Registers = NULL;
    }
}
