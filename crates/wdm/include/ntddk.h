/*
 * ntddk.h for iospace: wdm.h plus the routines Windows declares in ntddk.h rather than wdm.h.
 *
 * wdm.h already declares them (marked [ntddk] there), so code written against either header
 * compiles; they are declared again here, identically, because this is where Windows puts
 * them. The names are parenthesised so that wdm.h's call-site macros do not expand here.
 */
#ifndef IOSPACE_NTDDK_H
#define IOSPACE_NTDDK_H

#include "wdm.h"

#ifdef __cplusplus
extern "C" {
#endif

PVOID(MmAllocateContiguousMemory)(SIZE_T NumberOfBytes, PHYSICAL_ADDRESS HighestAcceptableAddress);
PVOID(MmAllocateNonCachedMemory)(SIZE_T NumberOfBytes);
VOID(MmFreeNonCachedMemory)(PVOID BaseAddress, SIZE_T NumberOfBytes);
PHYSICAL_ADDRESS(MmGetPhysicalAddress)(PVOID BaseAddress);
BOOLEAN(MmIsAddressValid)(PVOID VirtualAddress);
BOOLEAN(HalTranslateBusAddress)(INTERFACE_TYPE InterfaceType, ULONG BusNumber,
                                PHYSICAL_ADDRESS BusAddress, PULONG AddressSpace,
                                PPHYSICAL_ADDRESS TranslatedAddress);
ULONG(HalGetBusDataByOffset)(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber,
                             PVOID Buffer, ULONG Offset, ULONG Length);
ULONG(HalSetBusDataByOffset)(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber,
                             PVOID Buffer, ULONG Offset, ULONG Length);

#ifdef __cplusplus
}
#endif

#endif /* IOSPACE_NTDDK_H */
