/*
 * wdm.h for iospace: the Windows Driver Model declarations of the I/O-space mapping routines,
 * for C driver code that runs on the iospace hosted machine (libiospace_wdm).
 *
 * Types, constants and structure layouts are those of 64-bit Windows (x64), written from the
 * behavioural contract (ddi-contract.md), not copied from the WDK. Structures keep their exact
 * x64 offsets, so driver code that reads MDL fields or walks resource lists works unchanged.
 *
 * Differences a driver author should know:
 *  - The routines run on the hosted machine booted with IospBoot (iospace.h). A routine called
 *    with no machine booted is bug check 0x31.
 *  - Device memory is not host memory: read and write registers with READ_REGISTER_* and
 *    WRITE_REGISTER_* (exported routines here, inline helpers on Windows). Pool, contiguous and
 *    non-cached memory are RAM mapped into the machine's system window: plain pointers.
 *  - Every misuse is the bug check Windows documents; it reaches the callback set with
 *    IospSetBugCheckCallback, then prints a STOP line and ends the process.
 *  - MmProbeAndLockPages cannot raise an exception a C11 driver could catch: an invalid range is
 *    bug check 0x1E (see MmProbeAndLockPages below), and IospProbeAndLockPages (iospace.h) is the
 *    __try/__except form.
 *  - Each routine is also a macro that records the caller's file and line (IospSetCallSite), so
 *    a STOP line names the driver's own line. Define IOSP_NO_CALL_SITES before including this
 *    header to call the routines directly.
 */
#ifndef IOSPACE_WDM_H
#define IOSPACE_WDM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if !defined(__x86_64__) && !defined(_M_X64)
#error "iospace's wdm.h describes the x64 layouts; build for x86-64"
#endif

/* ---------------------------------------------------------------------------------------------
 * Basic types (x64: LONG and ULONG are 32 bits, pointers and ULONG_PTR 64 bits)
 * ------------------------------------------------------------------------------------------- */

#define VOID void
typedef void *PVOID;
typedef char CHAR, *PCHAR;
typedef const char *PCSTR;
typedef char CCHAR;
typedef int16_t SHORT, CSHORT;
typedef int32_t LONG, *PLONG;
typedef int64_t LONGLONG, LONG64, *PLONGLONG;
typedef uint8_t UCHAR, *PUCHAR;
typedef uint16_t USHORT, *PUSHORT;
typedef uint32_t ULONG, *PULONG;
typedef uint64_t ULONGLONG, ULONG64, *PULONGLONG, *PULONG64;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR, *PULONG_PTR;
typedef ULONG_PTR SIZE_T, *PSIZE_T;
typedef ULONG_PTR PFN_NUMBER, *PPFN_NUMBER;
typedef ULONG_PTR KAFFINITY;
typedef UCHAR BOOLEAN, *PBOOLEAN;
typedef LONG NTSTATUS;
typedef UCHAR KIRQL, *PKIRQL;
typedef CCHAR KPROCESSOR_MODE;
typedef ULONG64 POOL_FLAGS;
typedef ULONG NODE_REQUIREMENT;

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#define DECLSPEC_NORETURN __attribute__((noreturn))
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define FIELD_OFFSET(Type, Field) ((LONG)offsetof(Type, Field))

/* A signed 64-bit value with 32-bit views. Passed and returned like a 64-bit integer. */
typedef union _LARGE_INTEGER {
    struct {
        ULONG LowPart;
        LONG HighPart;
    };
    struct {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef LARGE_INTEGER PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

/* Opaque objects the routines below only pass along. */
typedef struct _EPROCESS *PEPROCESS;
typedef struct _IRP IRP, *PIRP;

typedef enum _MODE { KernelMode = 0, UserMode = 1, MaximumMode } MODE;

typedef enum _LOCK_OPERATION {
    IoReadAccess = 0,
    IoWriteAccess = 1,
    IoModifyAccess = 2 /* behaves as IoWriteAccess */
} LOCK_OPERATION;

typedef enum _MEMORY_CACHING_TYPE_ORIG { MmFrameBufferCached = 2 } MEMORY_CACHING_TYPE_ORIG;

typedef enum _MEMORY_CACHING_TYPE {
    MmNonCached = FALSE,                    /* 0: UC */
    MmCached = TRUE,                        /* 1: WB */
    MmWriteCombined = MmFrameBufferCached,  /* 2: WC */
    MmHardwareCoherentCached,               /* 3: reserved (WB) */
    MmNonCachedUnordered,                   /* 4: reserved (UC) */
    MmUSWCCached,                           /* 5: reserved (WC) */
    MmMaximumCacheType,                     /* 6 */
    MmNotMapped = -1
} MEMORY_CACHING_TYPE;

typedef enum _MM_PAGE_PRIORITY {
    LowPagePriority = 0,
    NormalPagePriority = 16,
    HighPagePriority = 32
} MM_PAGE_PRIORITY;

/* ORed into the Priority of an MDL mapping (Windows 8 and later). */
#define MdlMappingNoWrite 0x80000000U
#define MdlMappingNoExecute 0x40000000U
#define MdlMappingWithGuardPtes 0x20000000U

typedef enum _INTERFACE_TYPE {
    InterfaceTypeUndefined = -1,
    Internal = 0,
    Isa,
    Eisa,
    MicroChannel,
    TurboChannel,
    PCIBus,
    VMEBus,
    NuBus,
    PCMCIABus,
    CBus,
    MPIBus,
    MPSABus,
    ProcessorInternal,
    InternalPowerBus,
    PNPISABus,
    PNPBus,
    Vmcs,
    ACPIBus,
    MaximumInterfaceType
} INTERFACE_TYPE, *PINTERFACE_TYPE;

typedef enum _BUS_DATA_TYPE {
    ConfigurationSpaceUndefined = -1,
    Cmos = 0,
    EisaConfiguration,
    Pos,
    CbusConfiguration,
    PCIConfiguration,
    VMEConfiguration,
    NuBusConfiguration,
    PCMCIAConfiguration,
    MPIConfiguration,
    MPSAConfiguration,
    PNPISAConfiguration,
    SgiInternalConfiguration,
    MaximumBusDataType
} BUS_DATA_TYPE, *PBUS_DATA_TYPE;

typedef enum _POOL_TYPE {
    NonPagedPool = 0,
    NonPagedPoolExecute = NonPagedPool,
    PagedPool = 1,
    NonPagedPoolMustSucceed = 2, /* no longer supported: bug check 0xC2/0x9A */
    NonPagedPoolCacheAligned = 4,
    PagedPoolCacheAligned = 5,
    NonPagedPoolCacheAlignedMustS = 6, /* no longer supported: bug check 0xC2/0x9A */
    NonPagedPoolNx = 512,
    NonPagedPoolNxCacheAligned = 516
} POOL_TYPE;

/* ---------------------------------------------------------------------------------------------
 * Constants
 * ------------------------------------------------------------------------------------------- */

#define PAGE_SIZE 0x1000
#define PAGE_SHIFT 12

#define PASSIVE_LEVEL 0
#define LOW_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define CMCI_LEVEL 5
#define CLOCK_LEVEL 13
#define IPI_LEVEL 14
#define POWER_LEVEL 14
#define PROFILE_LEVEL 15
#define HIGH_LEVEL 15

/* Page protections (MmMapIoSpaceEx's Protect). */
#define PAGE_NOACCESS 0x01
#define PAGE_READONLY 0x02
#define PAGE_READWRITE 0x04
#define PAGE_WRITECOPY 0x08
#define PAGE_EXECUTE 0x10
#define PAGE_EXECUTE_READ 0x20
#define PAGE_EXECUTE_READWRITE 0x40
#define PAGE_EXECUTE_WRITECOPY 0x80
#define PAGE_GUARD 0x100
#define PAGE_NOCACHE 0x200
#define PAGE_WRITECOMBINE 0x400

/* MmAllocateMappingAddressEx. */
#define MM_MAPPING_ADDRESS_DIVISIBLE 0x1

/* MmAllocatePagesForMdlEx. */
#define MM_DONT_ZERO_ALLOCATION 0x00000001
#define MM_ALLOCATE_FROM_LOCAL_NODE_ONLY 0x00000002
#define MM_ALLOCATE_FULLY_REQUIRED 0x00000004
#define MM_ALLOCATE_NO_WAIT 0x00000008
#define MM_ALLOCATE_PREFER_CONTIGUOUS 0x00000010
#define MM_ALLOCATE_REQUIRE_CONTIGUOUS_CHUNKS 0x00000020
#define MM_ALLOCATE_FAST_LARGE_PAGES 0x00000040
#define MM_ALLOCATE_TRIM_IF_NECESSARY 0x00000080
#define MM_ALLOCATE_AND_HOT_REMOVE 0x00000100
#define MM_ANY_NODE_OK 0x80000000

/* MDL flags (MdlFlags). Drivers may read them; they may set only MDL_MAPPING_CAN_FAIL. */
#define MDL_MAPPED_TO_SYSTEM_VA 0x0001
#define MDL_PAGES_LOCKED 0x0002
#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004
#define MDL_ALLOCATED_FIXED_SIZE 0x0008
#define MDL_PARTIAL 0x0010
#define MDL_PARTIAL_HAS_BEEN_MAPPED 0x0020
#define MDL_IO_PAGE_READ 0x0040
#define MDL_WRITE_OPERATION 0x0080
#define MDL_LOCKED_PAGE_TABLES 0x0100
#define MDL_PARENT_MAPPED_SYSTEM_VA MDL_LOCKED_PAGE_TABLES
#define MDL_FREE_EXTRA_PTES 0x0200
#define MDL_DESCRIBES_AWE 0x0400
#define MDL_IO_SPACE 0x0800
#define MDL_NETWORK_HEADER 0x1000
#define MDL_MAPPING_CAN_FAIL 0x2000
#define MDL_PAGE_CONTENTS_INVARIANT 0x4000
#define MDL_ALLOCATED_MUST_SUCCEED MDL_PAGE_CONTENTS_INVARIANT
#define MDL_INTERNAL 0x8000
#define MDL_MAPPING_FLAGS                                                                          \
    (MDL_MAPPED_TO_SYSTEM_VA | MDL_PAGES_LOCKED | MDL_SOURCE_IS_NONPAGED_POOL |                    \
     MDL_PARTIAL_HAS_BEEN_MAPPED | MDL_PARENT_MAPPED_SYSTEM_VA | MDL_DESCRIBES_AWE | MDL_IO_SPACE)

/* ExAllocatePool2 flags. Bits 0..31 are required (unknown ones fail), 32..63 optional. */
#define POOL_FLAG_USE_QUOTA 0x0000000000000001ULL
#define POOL_FLAG_UNINITIALIZED 0x0000000000000002ULL
#define POOL_FLAG_SESSION 0x0000000000000004ULL
#define POOL_FLAG_CACHE_ALIGNED 0x0000000000000008ULL
#define POOL_FLAG_RAISE_ON_FAILURE 0x0000000000000020ULL
#define POOL_FLAG_NON_PAGED 0x0000000000000040ULL
#define POOL_FLAG_NON_PAGED_EXECUTE 0x0000000000000080ULL
#define POOL_FLAG_PAGED 0x0000000000000100ULL
#define POOL_FLAG_SPECIAL_POOL 0x0000000100000000ULL

/* Status codes these routines return or raise. */
#define STATUS_SUCCESS ((NTSTATUS)0x00000000)
#define STATUS_DATATYPE_MISALIGNMENT ((NTSTATUS)0x80000002)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001)
#define STATUS_ACCESS_VIOLATION ((NTSTATUS)0xC0000005)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000D)
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009A)
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BB)
#define STATUS_INVALID_DEVICE_STATE ((NTSTATUS)0xC0000184)
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)

/* Resource types (the Type byte of a descriptor). */
#define CmResourceTypeNull 0
#define CmResourceTypePort 1
#define CmResourceTypeInterrupt 2
#define CmResourceTypeMemory 3
#define CmResourceTypeDma 4
#define CmResourceTypeDeviceSpecific 5
#define CmResourceTypeBusNumber 6
#define CmResourceTypeMemoryLarge 7
#define CmResourceTypeNonArbitrated 128
#define CmResourceTypeConfigData 128
#define CmResourceTypeDevicePrivate 129
#define CmResourceTypePcCardConfig 130
#define CmResourceTypeMfCardConfig 131
#define CmResourceTypeConnection 132

typedef enum _CM_SHARE_DISPOSITION {
    CmResourceShareUndetermined = 0,
    CmResourceShareDeviceExclusive,
    CmResourceShareDriverExclusive,
    CmResourceShareShared
} CM_SHARE_DISPOSITION;

#define CM_RESOURCE_PORT_MEMORY 0x0000
#define CM_RESOURCE_PORT_IO 0x0001
#define CM_RESOURCE_PORT_10_BIT_DECODE 0x0004
#define CM_RESOURCE_PORT_12_BIT_DECODE 0x0008
#define CM_RESOURCE_PORT_16_BIT_DECODE 0x0010
#define CM_RESOURCE_PORT_POSITIVE_DECODE 0x0020
#define CM_RESOURCE_PORT_PASSIVE_DECODE 0x0040
#define CM_RESOURCE_PORT_WINDOW_DECODE 0x0080
#define CM_RESOURCE_PORT_BAR 0x0100

#define CM_RESOURCE_MEMORY_READ_WRITE 0x0000
#define CM_RESOURCE_MEMORY_READ_ONLY 0x0001
#define CM_RESOURCE_MEMORY_WRITE_ONLY 0x0002
#define CM_RESOURCE_MEMORY_WRITEABILITY_MASK 0x0003
#define CM_RESOURCE_MEMORY_PREFETCHABLE 0x0004
#define CM_RESOURCE_MEMORY_COMBINEDWRITE 0x0008
#define CM_RESOURCE_MEMORY_24 0x0010
#define CM_RESOURCE_MEMORY_CACHEABLE 0x0020
#define CM_RESOURCE_MEMORY_WINDOW_DECODE 0x0040
#define CM_RESOURCE_MEMORY_BAR 0x0080
#define CM_RESOURCE_MEMORY_COMPAT_FOR_INACCESSIBLE_RANGE 0x0100
#define CM_RESOURCE_MEMORY_LARGE 0x0E00
#define CM_RESOURCE_MEMORY_LARGE_40 0x0200
#define CM_RESOURCE_MEMORY_LARGE_48 0x0400
#define CM_RESOURCE_MEMORY_LARGE_64 0x0800
#define CM_RESOURCE_MEMORY_LARGE_40_MAXLEN 0x000000FFFFFFFF00ULL
#define CM_RESOURCE_MEMORY_LARGE_48_MAXLEN 0x0000FFFFFFFF0000ULL
#define CM_RESOURCE_MEMORY_LARGE_64_MAXLEN 0xFFFFFFFF00000000ULL

#define CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE 0x00
#define CM_RESOURCE_INTERRUPT_LATCHED 0x01
#define CM_RESOURCE_INTERRUPT_LEVEL_LATCHED_BITS 0x0001
#define CM_RESOURCE_INTERRUPT_MESSAGE 0x02
#define CM_RESOURCE_INTERRUPT_POLICY_INCLUDED 0x04
#define CM_RESOURCE_INTERRUPT_SECONDARY_INTERRUPT 0x10
#define CM_RESOURCE_INTERRUPT_WAKE_HINT 0x20
#define CM_RESOURCE_INTERRUPT_MESSAGE_TOKEN ((ULONG)-2)

#define CM_RESOURCE_DMA_8 0x0000
#define CM_RESOURCE_DMA_16 0x0001
#define CM_RESOURCE_DMA_32 0x0002
#define CM_RESOURCE_DMA_8_AND_16 0x0004
#define CM_RESOURCE_DMA_BUS_MASTER 0x0008
#define CM_RESOURCE_DMA_TYPE_A 0x0010
#define CM_RESOURCE_DMA_TYPE_B 0x0020
#define CM_RESOURCE_DMA_TYPE_F 0x0040
#define CM_RESOURCE_DMA_V3 0x0080

#define CM_RESOURCE_CONNECTION_CLASS_GPIO 0x01
#define CM_RESOURCE_CONNECTION_CLASS_SERIAL 0x02
#define CM_RESOURCE_CONNECTION_CLASS_FUNCTION_CONFIG 0x03
#define CM_RESOURCE_CONNECTION_TYPE_GPIO_IO 0x02
#define CM_RESOURCE_CONNECTION_TYPE_SERIAL_I2C 0x01
#define CM_RESOURCE_CONNECTION_TYPE_SERIAL_SPI 0x02
#define CM_RESOURCE_CONNECTION_TYPE_SERIAL_UART 0x03
#define CM_RESOURCE_CONNECTION_TYPE_FUNCTION_CONFIG 0x01

/* IO_RESOURCE_DESCRIPTOR Option values. */
#define IO_RESOURCE_PREFERRED 0x01
#define IO_RESOURCE_DEFAULT 0x02
#define IO_RESOURCE_ALTERNATIVE 0x08

/* PCI configuration space (HalGetBusDataByOffset with PCIConfiguration). */
#define PCI_INVALID_VENDORID 0xFFFF
#define PCI_MAX_DEVICES 32
#define PCI_MAX_FUNCTION 8
#define PCI_TYPE0_ADDRESSES 6
#define PCI_COMMON_HDR_LENGTH 0x40
#define PCI_ADDRESS_IO_SPACE 0x00000001
#define PCI_ADDRESS_MEMORY_TYPE_MASK 0x00000006
#define PCI_ADDRESS_MEMORY_PREFETCHABLE 0x00000008
#define PCI_ADDRESS_IO_ADDRESS_MASK 0xFFFFFFFC
#define PCI_ADDRESS_MEMORY_ADDRESS_MASK 0xFFFFFFF0
#define PCI_TYPE_32BIT 0
#define PCI_TYPE_64BIT 4

/* ---------------------------------------------------------------------------------------------
 * Structures (exact x64 layouts)
 * ------------------------------------------------------------------------------------------- */

/* Memory descriptor list: a 48-byte header followed by the PFN array. Semi-opaque: read
 * Next and MdlFlags directly, everything else through the MmGetMdl* macros. */
typedef struct _MDL {
    struct _MDL *Next;       /* 0x00 */
    CSHORT Size;             /* 0x08: header + PFN array bytes, truncated to 16 bits */
    CSHORT MdlFlags;         /* 0x0A */
    PEPROCESS Process;       /* 0x10 */
    PVOID MappedSystemVa;    /* 0x18 */
    PVOID StartVa;           /* 0x20: page-aligned */
    ULONG ByteCount;         /* 0x28 */
    ULONG ByteOffset;        /* 0x2C */
} MDL, *PMDL;

/* Resource descriptors are packed to 4 bytes: the 8-byte fields at offsets 4 and 12 are only
 * 4-aligned, and the descriptor is 20 bytes. */
#pragma pack(push, 4)
typedef struct _CM_PARTIAL_RESOURCE_DESCRIPTOR {
    UCHAR Type;             /* a CmResourceType value */
    UCHAR ShareDisposition; /* a CM_SHARE_DISPOSITION value */
    USHORT Flags;           /* CM_RESOURCE_* flags of the type */
    union {
        struct {
            PHYSICAL_ADDRESS Start;
            ULONG Length;
        } Generic;
        struct {
            PHYSICAL_ADDRESS Start;
            ULONG Length;
        } Port;
        struct {
            USHORT Level;
            USHORT Group;
            ULONG Vector;
            KAFFINITY Affinity;
        } Interrupt;
        struct {
            union {
                struct {
                    USHORT Group;
                    USHORT MessageCount;
                    ULONG Vector;
                    KAFFINITY Affinity;
                } Raw;
                struct {
                    USHORT Level;
                    USHORT Group;
                    ULONG Vector;
                    KAFFINITY Affinity;
                } Translated;
            };
        } MessageInterrupt;
        struct {
            PHYSICAL_ADDRESS Start;
            ULONG Length;
        } Memory;
        struct {
            ULONG Channel;
            ULONG Port;
            ULONG Reserved1;
        } Dma;
        struct {
            ULONG Channel;
            ULONG RequestLine;
            UCHAR TransferWidth;
            UCHAR Reserved1;
            UCHAR Reserved2;
            UCHAR Reserved3;
        } DmaV3;
        struct {
            ULONG Data[3];
        } DevicePrivate;
        struct {
            ULONG Start;
            ULONG Length;
            ULONG Reserved;
        } BusNumber;
        struct {
            ULONG DataSize;
            ULONG Reserved1;
            ULONG Reserved2;
        } DeviceSpecificData;
        struct {
            PHYSICAL_ADDRESS Start;
            ULONG Length40; /* bytes / 2^8 */
        } Memory40;
        struct {
            PHYSICAL_ADDRESS Start;
            ULONG Length48; /* bytes / 2^16 */
        } Memory48;
        struct {
            PHYSICAL_ADDRESS Start;
            ULONG Length64; /* bytes / 2^32 */
        } Memory64;
        struct {
            UCHAR Class;
            UCHAR Type;
            UCHAR Reserved1;
            UCHAR Reserved2;
            ULONG IdLowPart;
            ULONG IdHighPart;
        } Connection;
    } u;
} CM_PARTIAL_RESOURCE_DESCRIPTOR, *PCM_PARTIAL_RESOURCE_DESCRIPTOR;
#pragma pack(pop)

typedef struct _CM_PARTIAL_RESOURCE_LIST {
    USHORT Version;  /* 1 */
    USHORT Revision; /* 1 */
    ULONG Count;
    CM_PARTIAL_RESOURCE_DESCRIPTOR PartialDescriptors[1]; /* Count of them */
} CM_PARTIAL_RESOURCE_LIST, *PCM_PARTIAL_RESOURCE_LIST;

typedef struct _CM_FULL_RESOURCE_DESCRIPTOR {
    INTERFACE_TYPE InterfaceType; /* not used by WDM drivers */
    ULONG BusNumber;              /* not used by WDM drivers */
    CM_PARTIAL_RESOURCE_LIST PartialResourceList;
} CM_FULL_RESOURCE_DESCRIPTOR, *PCM_FULL_RESOURCE_DESCRIPTOR;

/* The next full descriptor starts right after the last partial descriptor of the current one
 * (plus DataSize bytes when that one is CmResourceTypeDeviceSpecific). */
typedef struct _CM_RESOURCE_LIST {
    ULONG Count; /* 1 for WDM drivers */
    CM_FULL_RESOURCE_DESCRIPTOR List[1];
} CM_RESOURCE_LIST, *PCM_RESOURCE_LIST;

/* IRQ_DEVICE_POLICY is 16 bits wide in the processor-groups layout. */
typedef USHORT IRQ_DEVICE_POLICY, *PIRQ_DEVICE_POLICY;
#define IrqPolicyMachineDefault 0
#define IrqPolicyAllCloseProcessors 1
#define IrqPolicyOneCloseProcessor 2
#define IrqPolicyAllProcessorsInMachine 3
#define IrqPolicySpecifiedProcessors 4
#define IrqPolicySpreadMessagesAcrossAllProcessors 5

typedef enum _IRQ_PRIORITY {
    IrqPriorityUndefined = 0,
    IrqPriorityLow,
    IrqPriorityNormal,
    IrqPriorityHigh
} IRQ_PRIORITY, *PIRQ_PRIORITY;

/* A resource requirement (raw, bus-relative): natural alignment, 32 bytes. */
typedef struct _IO_RESOURCE_DESCRIPTOR {
    UCHAR Option; /* 0, IO_RESOURCE_PREFERRED, IO_RESOURCE_DEFAULT, IO_RESOURCE_ALTERNATIVE */
    UCHAR Type;
    UCHAR ShareDisposition;
    UCHAR Spare1;
    USHORT Flags;
    USHORT Spare2;
    union {
        struct {
            ULONG Length;
            ULONG Alignment;
            PHYSICAL_ADDRESS MinimumAddress;
            PHYSICAL_ADDRESS MaximumAddress;
        } Port;
        struct {
            ULONG Length;
            ULONG Alignment;
            PHYSICAL_ADDRESS MinimumAddress;
            PHYSICAL_ADDRESS MaximumAddress;
        } Memory;
        struct {
            ULONG MinimumVector;
            ULONG MaximumVector;
            IRQ_DEVICE_POLICY AffinityPolicy;
            USHORT Group;
            IRQ_PRIORITY PriorityPolicy;
            KAFFINITY TargetedProcessors;
        } Interrupt;
        struct {
            ULONG MinimumChannel;
            ULONG MaximumChannel;
        } Dma;
        struct {
            ULONG RequestLine;
            ULONG Reserved;
            ULONG Channel;
            ULONG TransferWidth;
        } DmaV3;
        struct {
            ULONG Length;
            ULONG Alignment;
            PHYSICAL_ADDRESS MinimumAddress;
            PHYSICAL_ADDRESS MaximumAddress;
        } Generic;
        struct {
            ULONG Data[3];
        } DevicePrivate;
        struct {
            ULONG Length;
            ULONG MinBusNumber;
            ULONG MaxBusNumber;
            ULONG Reserved;
        } BusNumber;
        struct {
            ULONG Priority;
            ULONG Reserved1;
            ULONG Reserved2;
        } ConfigData;
        struct {
            ULONG Length40;
            ULONG Alignment40;
            PHYSICAL_ADDRESS MinimumAddress;
            PHYSICAL_ADDRESS MaximumAddress;
        } Memory40;
        struct {
            ULONG Length48;
            ULONG Alignment48;
            PHYSICAL_ADDRESS MinimumAddress;
            PHYSICAL_ADDRESS MaximumAddress;
        } Memory48;
        struct {
            ULONG Length64;
            ULONG Alignment64;
            PHYSICAL_ADDRESS MinimumAddress;
            PHYSICAL_ADDRESS MaximumAddress;
        } Memory64;
        struct {
            UCHAR Class;
            UCHAR Type;
            UCHAR Reserved1;
            UCHAR Reserved2;
            ULONG IdLowPart;
            ULONG IdHighPart;
        } Connection;
    } u;
} IO_RESOURCE_DESCRIPTOR, *PIO_RESOURCE_DESCRIPTOR;

typedef struct _IO_RESOURCE_LIST {
    USHORT Version;
    USHORT Revision;
    ULONG Count;
    IO_RESOURCE_DESCRIPTOR Descriptors[1]; /* Count of them */
} IO_RESOURCE_LIST, *PIO_RESOURCE_LIST;

typedef struct _IO_RESOURCE_REQUIREMENTS_LIST {
    ULONG ListSize; /* bytes of the whole block */
    INTERFACE_TYPE InterfaceType;
    ULONG BusNumber;
    ULONG SlotNumber;
    ULONG Reserved[3];
    ULONG AlternativeLists; /* IO_RESOURCE_LISTs that follow, back to back */
    IO_RESOURCE_LIST List[1];
} IO_RESOURCE_REQUIREMENTS_LIST, *PIO_RESOURCE_REQUIREMENTS_LIST;

/* The SlotNumber argument of the Hal*BusDataByOffset routines for PCI. */
typedef struct _PCI_SLOT_NUMBER {
    union {
        struct {
            ULONG DeviceNumber : 5;
            ULONG FunctionNumber : 3;
            ULONG Reserved : 24;
        } bits;
        ULONG AsULONG;
    } u;
} PCI_SLOT_NUMBER, *PPCI_SLOT_NUMBER;

/* The 64-byte standard header of a PCI function's configuration space (type 0 layout). */
typedef struct _PCI_COMMON_HEADER {
    USHORT VendorID;
    USHORT DeviceID;
    USHORT Command;
    USHORT Status;
    UCHAR RevisionID;
    UCHAR ProgIf;
    UCHAR SubClass;
    UCHAR BaseClass;
    UCHAR CacheLineSize;
    UCHAR LatencyTimer;
    UCHAR HeaderType;
    UCHAR BIST;
    union {
        struct _PCI_HEADER_TYPE_0 {
            ULONG BaseAddresses[PCI_TYPE0_ADDRESSES];
            ULONG CIS;
            USHORT SubVendorID;
            USHORT SubSystemID;
            ULONG ROMBaseAddress;
            UCHAR CapabilitiesPtr;
            UCHAR Reserved1[3];
            ULONG Reserved2;
            UCHAR InterruptLine;
            UCHAR InterruptPin;
            UCHAR MinimumGrant;
            UCHAR MaximumLatency;
        } type0;
    } u;
} PCI_COMMON_HEADER, *PPCI_COMMON_HEADER;

/* The 256 bytes of conventional configuration space. */
typedef struct _PCI_COMMON_CONFIG {
    PCI_COMMON_HEADER Header;
    UCHAR DeviceSpecific[192];
} PCI_COMMON_CONFIG, *PPCI_COMMON_CONFIG;

/* ---------------------------------------------------------------------------------------------
 * Address and MDL macros (any IRQL)
 * ------------------------------------------------------------------------------------------- */

/* Va with its low 12 bits cleared. */
#define PAGE_ALIGN(Va) ((PVOID)((ULONG_PTR)(Va) & ~((ULONG_PTR)PAGE_SIZE - 1)))
/* Va's offset within its page. */
#define BYTE_OFFSET(Va) ((ULONG)((ULONG_PTR)(Va) & ((ULONG_PTR)PAGE_SIZE - 1)))
/* Pages touched by Size bytes at Va: ceil((BYTE_OFFSET(Va) + Size) / PAGE_SIZE). The caller
 * keeps the sum from overflowing. */
#define ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size)                                                   \
    ((ULONG_PTR)(((ULONG_PTR)BYTE_OFFSET(Va) + (ULONG_PTR)(Size) + (PAGE_SIZE - 1)) >> PAGE_SHIFT))
/* ceil(Size / PAGE_SIZE), computed without an intermediate sum that could overflow. */
#define BYTES_TO_PAGES(Size)                                                                       \
    (((ULONG_PTR)(Size) >> PAGE_SHIFT) + (((ULONG_PTR)(Size) & (PAGE_SIZE - 1)) != 0))
#define ROUND_TO_PAGES(Size) (((ULONG_PTR)(Size) + PAGE_SIZE - 1) & ~((ULONG_PTR)PAGE_SIZE - 1))

#define MmGetMdlVirtualAddress(Mdl) ((PVOID)((PCHAR)((Mdl)->StartVa) + (Mdl)->ByteOffset))
#define MmGetMdlByteCount(Mdl) ((Mdl)->ByteCount)
#define MmGetMdlByteOffset(Mdl) ((Mdl)->ByteOffset)
#define MmGetMdlStartVa(Mdl) ((Mdl)->StartVa)
/* The PFN array directly after the 48-byte header. */
#define MmGetMdlPfnArray(Mdl) ((PPFN_NUMBER)((PMDL)(Mdl) + 1))

/* Initialises an MDL the caller allocated (MmSizeOfMdl bytes of nonpaged memory). Leaves
 * Process, MappedSystemVa and the PFN array alone. */
#define MmInitializeMdl(MemoryDescriptorList, BaseVa, Length)                                     \
    do {                                                                                           \
        PMDL Mdl_ = (MemoryDescriptorList);                                                        \
        PVOID BaseVa_ = (PVOID)(BaseVa);                                                           \
        SIZE_T Length_ = (SIZE_T)(Length);                                                         \
        Mdl_->Next = NULL;                                                                         \
        Mdl_->Size = (CSHORT)(sizeof(MDL) +                                                        \
                              sizeof(PFN_NUMBER) * ADDRESS_AND_SIZE_TO_SPAN_PAGES(BaseVa_, Length_)); \
        Mdl_->MdlFlags = 0;                                                                        \
        Mdl_->StartVa = PAGE_ALIGN(BaseVa_);                                                       \
        Mdl_->ByteOffset = BYTE_OFFSET(BaseVa_);                                                   \
        Mdl_->ByteCount = (ULONG)Length_;                                                          \
    } while (0)

/* The MDL's existing system address when it has one, else a new cached kernel mapping made
 * without bug-checking on failure (NULL then). */
#define MmGetSystemAddressForMdlSafe(Mdl, Priority)                                                \
    (((Mdl)->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL))                    \
         ? ((Mdl)->MappedSystemVa)                                                                 \
         : MmMapLockedPagesSpecifyCache((Mdl), KernelMode, MmCached, NULL, FALSE, (Priority)))

/* Releases the mapping a partial MDL got of its own; leaves any other MDL alone. */
#define MmPrepareMdlForReuse(Mdl)                                                                  \
    do {                                                                                           \
        if ((Mdl)->MdlFlags & MDL_PARTIAL_HAS_BEEN_MAPPED) {                                       \
            MmUnmapLockedPages((Mdl)->MappedSystemVa, (Mdl));                                      \
        }                                                                                          \
    } while (0)

#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))

/* The kernel debugger's print goes to standard output on the hosted machine. */
#define DbgPrint(...) ((ULONG)printf(__VA_ARGS__))
#define KdPrint(Arguments) ((void)DbgPrint Arguments)

/* ---------------------------------------------------------------------------------------------
 * Routines. The IRQL rules and bug checks of each are in crates/wdm (rustdoc) and the contract.
 * Routines marked [ntddk] are declared by ntddk.h on Windows; they are declared here too.
 * ------------------------------------------------------------------------------------------- */

/* I/O space (IRQL <= DISPATCH_LEVEL; MmUnmapIoSpace <= APC_LEVEL under the verifier). */
PVOID MmMapIoSpace(PHYSICAL_ADDRESS PhysicalAddress, SIZE_T NumberOfBytes,
                   MEMORY_CACHING_TYPE CacheType);
PVOID MmMapIoSpaceEx(PHYSICAL_ADDRESS PhysicalAddress, SIZE_T NumberOfBytes, ULONG Protect);
VOID MmUnmapIoSpace(PVOID BaseAddress, SIZE_T NumberOfBytes);

/* Reserved mappings: allocate and free <= APC_LEVEL, map and unmap <= DISPATCH_LEVEL. */
PVOID MmAllocateMappingAddress(SIZE_T NumberOfBytes, ULONG PoolTag);
PVOID MmAllocateMappingAddressEx(SIZE_T NumberOfBytes, ULONG PoolTag, ULONG Flags);
VOID MmFreeMappingAddress(PVOID BaseAddress, ULONG PoolTag);
PVOID MmMapLockedPagesWithReservedMapping(PVOID MappingAddress, ULONG PoolTag,
                                          PMDL MemoryDescriptorList, MEMORY_CACHING_TYPE CacheType);
VOID MmUnmapReservedMapping(PVOID BaseAddress, ULONG PoolTag, PMDL MemoryDescriptorList);

/* MDLs. IoAllocateMdl returns NULL for a non-NULL Irp: there is no I/O manager here. */
PMDL IoAllocateMdl(PVOID VirtualAddress, ULONG Length, BOOLEAN SecondaryBuffer,
                   BOOLEAN ChargeQuota, PIRP Irp);
VOID IoFreeMdl(PMDL Mdl);
VOID IoBuildPartialMdl(PMDL SourceMdl, PMDL TargetMdl, PVOID VirtualAddress, ULONG Length);
SIZE_T MmSizeOfMdl(PVOID Base, SIZE_T Length);
/* An invalid range is bug check 0x1E KMODE_EXCEPTION_NOT_HANDLED, P1 = STATUS_ACCESS_VIOLATION,
 * P2 = 0, P3 = 0 for IoReadAccess and 1 otherwise, P4 = MmGetMdlVirtualAddress(Mdl): the
 * exception nothing caught. IospProbeAndLockPages (iospace.h) returns the status instead. */
VOID MmProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                         LOCK_OPERATION Operation);
VOID MmUnlockPages(PMDL MemoryDescriptorList);
VOID MmBuildMdlForNonPagedPool(PMDL MemoryDescriptorList);
PMDL MmAllocatePagesForMdl(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress,
                           PHYSICAL_ADDRESS SkipBytes, SIZE_T TotalBytes);
PMDL MmAllocatePagesForMdlEx(PHYSICAL_ADDRESS LowAddress, PHYSICAL_ADDRESS HighAddress,
                             PHYSICAL_ADDRESS SkipBytes, SIZE_T TotalBytes,
                             MEMORY_CACHING_TYPE CacheType, ULONG Flags);
VOID MmFreePagesFromMdl(PMDL MemoryDescriptorList);
PVOID MmMapLockedPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode);
PVOID MmMapLockedPagesSpecifyCache(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                                   MEMORY_CACHING_TYPE CacheType, PVOID RequestedAddress,
                                   ULONG BugCheckOnFailure, ULONG Priority);
VOID MmUnmapLockedPages(PVOID BaseAddress, PMDL MemoryDescriptorList);

/* Contiguous and non-cached memory. */
PVOID MmAllocateContiguousMemory(SIZE_T NumberOfBytes,
                                 PHYSICAL_ADDRESS HighestAcceptableAddress); /* [ntddk] */
PVOID MmAllocateContiguousMemorySpecifyCache(SIZE_T NumberOfBytes,
                                             PHYSICAL_ADDRESS LowestAcceptableAddress,
                                             PHYSICAL_ADDRESS HighestAcceptableAddress,
                                             PHYSICAL_ADDRESS BoundaryAddressMultiple,
                                             MEMORY_CACHING_TYPE CacheType);
VOID MmFreeContiguousMemory(PVOID BaseAddress);
PVOID MmAllocateNonCachedMemory(SIZE_T NumberOfBytes);             /* [ntddk] */
VOID MmFreeNonCachedMemory(PVOID BaseAddress, SIZE_T NumberOfBytes); /* [ntddk] */

/* Address queries. */
PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress); /* [ntddk] */
BOOLEAN MmIsAddressValid(PVOID VirtualAddress);           /* [ntddk] */

/* Pool. */
PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);
VOID ExFreePoolWithTag(PVOID P, ULONG Tag);
VOID ExFreePool(PVOID P);

/* IRQL (per thread: each thread is a CPU) and stopping the machine. */
KIRQL KeGetCurrentIrql(VOID);
VOID KeRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql);
VOID KeLowerIrql(KIRQL NewIrql);
/* Where time passes for the devices: pending device work (a factorial, a DMA) completes. */
VOID KeStallExecutionProcessor(ULONG MicroSeconds);
DECLSPEC_NORETURN VOID KeBugCheckEx(ULONG BugCheckCode, ULONG_PTR BugCheckParameter1,
                                    ULONG_PTR BugCheckParameter2, ULONG_PTR BugCheckParameter3,
                                    ULONG_PTR BugCheckParameter4);

/* HAL bus routines (obsolete on Windows, kept for old drivers). */
BOOLEAN HalTranslateBusAddress(INTERFACE_TYPE InterfaceType, ULONG BusNumber,
                               PHYSICAL_ADDRESS BusAddress, PULONG AddressSpace,
                               PPHYSICAL_ADDRESS TranslatedAddress); /* [ntddk] */
ULONG HalGetBusDataByOffset(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber,
                            PVOID Buffer, ULONG Offset, ULONG Length); /* [ntddk] */
ULONG HalSetBusDataByOffset(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber,
                            PVOID Buffer, ULONG Offset, ULONG Length); /* [ntddk] */

/* Register access: any IRQL. A write is followed by a full barrier. Buffer forms move Count
 * elements between Buffer and consecutive registers. */
UCHAR READ_REGISTER_UCHAR(volatile UCHAR *Register);
USHORT READ_REGISTER_USHORT(volatile USHORT *Register);
ULONG READ_REGISTER_ULONG(volatile ULONG *Register);
ULONG64 READ_REGISTER_ULONG64(volatile ULONG64 *Register);
VOID WRITE_REGISTER_UCHAR(volatile UCHAR *Register, UCHAR Value);
VOID WRITE_REGISTER_USHORT(volatile USHORT *Register, USHORT Value);
VOID WRITE_REGISTER_ULONG(volatile ULONG *Register, ULONG Value);
VOID WRITE_REGISTER_ULONG64(volatile ULONG64 *Register, ULONG64 Value);
VOID READ_REGISTER_BUFFER_UCHAR(volatile UCHAR *Register, PUCHAR Buffer, ULONG Count);
VOID READ_REGISTER_BUFFER_USHORT(volatile USHORT *Register, PUSHORT Buffer, ULONG Count);
VOID READ_REGISTER_BUFFER_ULONG(volatile ULONG *Register, PULONG Buffer, ULONG Count);
VOID READ_REGISTER_BUFFER_ULONG64(volatile ULONG64 *Register, PULONG64 Buffer, ULONG Count);
VOID WRITE_REGISTER_BUFFER_UCHAR(volatile UCHAR *Register, PUCHAR Buffer, ULONG Count);
VOID WRITE_REGISTER_BUFFER_USHORT(volatile USHORT *Register, PUSHORT Buffer, ULONG Count);
VOID WRITE_REGISTER_BUFFER_ULONG(volatile ULONG *Register, PULONG Buffer, ULONG Count);
VOID WRITE_REGISTER_BUFFER_ULONG64(volatile ULONG64 *Register, PULONG64 Buffer, ULONG Count);

/* Port access: any IRQL. Port is a port number (<= 0xFFFF) or, where ports translate to
 * memory, the address MmMapIoSpace returned. Buffer forms access the same port Count times. */
UCHAR READ_PORT_UCHAR(PUCHAR Port);
USHORT READ_PORT_USHORT(PUSHORT Port);
ULONG READ_PORT_ULONG(PULONG Port);
VOID WRITE_PORT_UCHAR(PUCHAR Port, UCHAR Value);
VOID WRITE_PORT_USHORT(PUSHORT Port, USHORT Value);
VOID WRITE_PORT_ULONG(PULONG Port, ULONG Value);
VOID READ_PORT_BUFFER_UCHAR(PUCHAR Port, PUCHAR Buffer, ULONG Count);
VOID READ_PORT_BUFFER_USHORT(PUSHORT Port, PUSHORT Buffer, ULONG Count);
VOID READ_PORT_BUFFER_ULONG(PULONG Port, PULONG Buffer, ULONG Count);
VOID WRITE_PORT_BUFFER_UCHAR(PUCHAR Port, PUCHAR Buffer, ULONG Count);
VOID WRITE_PORT_BUFFER_USHORT(PUSHORT Port, PUSHORT Buffer, ULONG Count);
VOID WRITE_PORT_BUFFER_ULONG(PULONG Port, PULONG Buffer, ULONG Count);

/* Large memory resources: any IRQL. */
NTSTATUS RtlCmEncodeMemIoResource(PCM_PARTIAL_RESOURCE_DESCRIPTOR Descriptor, UCHAR Type,
                                  ULONGLONG Length, ULONGLONG Start);
ULONGLONG RtlCmDecodeMemIoResource(PCM_PARTIAL_RESOURCE_DESCRIPTOR Descriptor, PULONGLONG Start);

/* iospace: records the caller's file and line for the next routine this thread calls (the
 * macros below do it; see iospace.h). */
VOID IospSetCallSite(const char *File, ULONG Line);

/* ---------------------------------------------------------------------------------------------
 * Call sites: each routine name is also a macro that records __FILE__ and __LINE__ first, so a
 * STOP line names the driver's line. (Name) or &Name still reach the function itself.
 * ------------------------------------------------------------------------------------------- */
#ifndef IOSP_NO_CALL_SITES
#define IOSP_AT(Call) (IospSetCallSite(__FILE__, __LINE__), Call)
#define MmMapIoSpace(...) IOSP_AT(MmMapIoSpace(__VA_ARGS__))
#define MmMapIoSpaceEx(...) IOSP_AT(MmMapIoSpaceEx(__VA_ARGS__))
#define MmUnmapIoSpace(...) IOSP_AT(MmUnmapIoSpace(__VA_ARGS__))
#define MmAllocateMappingAddress(...) IOSP_AT(MmAllocateMappingAddress(__VA_ARGS__))
#define MmAllocateMappingAddressEx(...) IOSP_AT(MmAllocateMappingAddressEx(__VA_ARGS__))
#define MmFreeMappingAddress(...) IOSP_AT(MmFreeMappingAddress(__VA_ARGS__))
#define MmMapLockedPagesWithReservedMapping(...)                                                   \
    IOSP_AT(MmMapLockedPagesWithReservedMapping(__VA_ARGS__))
#define MmUnmapReservedMapping(...) IOSP_AT(MmUnmapReservedMapping(__VA_ARGS__))
#define IoAllocateMdl(...) IOSP_AT(IoAllocateMdl(__VA_ARGS__))
#define IoFreeMdl(...) IOSP_AT(IoFreeMdl(__VA_ARGS__))
#define IoBuildPartialMdl(...) IOSP_AT(IoBuildPartialMdl(__VA_ARGS__))
#define MmSizeOfMdl(...) IOSP_AT(MmSizeOfMdl(__VA_ARGS__))
#define MmProbeAndLockPages(...) IOSP_AT(MmProbeAndLockPages(__VA_ARGS__))
#define MmUnlockPages(...) IOSP_AT(MmUnlockPages(__VA_ARGS__))
#define MmBuildMdlForNonPagedPool(...) IOSP_AT(MmBuildMdlForNonPagedPool(__VA_ARGS__))
#define MmAllocatePagesForMdl(...) IOSP_AT(MmAllocatePagesForMdl(__VA_ARGS__))
#define MmAllocatePagesForMdlEx(...) IOSP_AT(MmAllocatePagesForMdlEx(__VA_ARGS__))
#define MmFreePagesFromMdl(...) IOSP_AT(MmFreePagesFromMdl(__VA_ARGS__))
#define MmMapLockedPages(...) IOSP_AT(MmMapLockedPages(__VA_ARGS__))
#define MmMapLockedPagesSpecifyCache(...) IOSP_AT(MmMapLockedPagesSpecifyCache(__VA_ARGS__))
#define MmUnmapLockedPages(...) IOSP_AT(MmUnmapLockedPages(__VA_ARGS__))
#define MmAllocateContiguousMemory(...) IOSP_AT(MmAllocateContiguousMemory(__VA_ARGS__))
#define MmAllocateContiguousMemorySpecifyCache(...)                                                \
    IOSP_AT(MmAllocateContiguousMemorySpecifyCache(__VA_ARGS__))
#define MmFreeContiguousMemory(...) IOSP_AT(MmFreeContiguousMemory(__VA_ARGS__))
#define MmAllocateNonCachedMemory(...) IOSP_AT(MmAllocateNonCachedMemory(__VA_ARGS__))
#define MmFreeNonCachedMemory(...) IOSP_AT(MmFreeNonCachedMemory(__VA_ARGS__))
#define MmGetPhysicalAddress(...) IOSP_AT(MmGetPhysicalAddress(__VA_ARGS__))
#define MmIsAddressValid(...) IOSP_AT(MmIsAddressValid(__VA_ARGS__))
#define ExAllocatePoolWithTag(...) IOSP_AT(ExAllocatePoolWithTag(__VA_ARGS__))
#define ExAllocatePool2(...) IOSP_AT(ExAllocatePool2(__VA_ARGS__))
#define ExFreePoolWithTag(...) IOSP_AT(ExFreePoolWithTag(__VA_ARGS__))
#define ExFreePool(...) IOSP_AT(ExFreePool(__VA_ARGS__))
#define KeGetCurrentIrql(...) IOSP_AT(KeGetCurrentIrql(__VA_ARGS__))
#define KeRaiseIrql(...) IOSP_AT(KeRaiseIrql(__VA_ARGS__))
#define KeLowerIrql(...) IOSP_AT(KeLowerIrql(__VA_ARGS__))
#define KeStallExecutionProcessor(...) IOSP_AT(KeStallExecutionProcessor(__VA_ARGS__))
#define KeBugCheckEx(...) IOSP_AT(KeBugCheckEx(__VA_ARGS__))
#define HalTranslateBusAddress(...) IOSP_AT(HalTranslateBusAddress(__VA_ARGS__))
#define HalGetBusDataByOffset(...) IOSP_AT(HalGetBusDataByOffset(__VA_ARGS__))
#define HalSetBusDataByOffset(...) IOSP_AT(HalSetBusDataByOffset(__VA_ARGS__))
#define READ_REGISTER_UCHAR(...) IOSP_AT(READ_REGISTER_UCHAR(__VA_ARGS__))
#define READ_REGISTER_USHORT(...) IOSP_AT(READ_REGISTER_USHORT(__VA_ARGS__))
#define READ_REGISTER_ULONG(...) IOSP_AT(READ_REGISTER_ULONG(__VA_ARGS__))
#define READ_REGISTER_ULONG64(...) IOSP_AT(READ_REGISTER_ULONG64(__VA_ARGS__))
#define WRITE_REGISTER_UCHAR(...) IOSP_AT(WRITE_REGISTER_UCHAR(__VA_ARGS__))
#define WRITE_REGISTER_USHORT(...) IOSP_AT(WRITE_REGISTER_USHORT(__VA_ARGS__))
#define WRITE_REGISTER_ULONG(...) IOSP_AT(WRITE_REGISTER_ULONG(__VA_ARGS__))
#define WRITE_REGISTER_ULONG64(...) IOSP_AT(WRITE_REGISTER_ULONG64(__VA_ARGS__))
#define READ_REGISTER_BUFFER_UCHAR(...) IOSP_AT(READ_REGISTER_BUFFER_UCHAR(__VA_ARGS__))
#define READ_REGISTER_BUFFER_USHORT(...) IOSP_AT(READ_REGISTER_BUFFER_USHORT(__VA_ARGS__))
#define READ_REGISTER_BUFFER_ULONG(...) IOSP_AT(READ_REGISTER_BUFFER_ULONG(__VA_ARGS__))
#define READ_REGISTER_BUFFER_ULONG64(...) IOSP_AT(READ_REGISTER_BUFFER_ULONG64(__VA_ARGS__))
#define WRITE_REGISTER_BUFFER_UCHAR(...) IOSP_AT(WRITE_REGISTER_BUFFER_UCHAR(__VA_ARGS__))
#define WRITE_REGISTER_BUFFER_USHORT(...) IOSP_AT(WRITE_REGISTER_BUFFER_USHORT(__VA_ARGS__))
#define WRITE_REGISTER_BUFFER_ULONG(...) IOSP_AT(WRITE_REGISTER_BUFFER_ULONG(__VA_ARGS__))
#define WRITE_REGISTER_BUFFER_ULONG64(...) IOSP_AT(WRITE_REGISTER_BUFFER_ULONG64(__VA_ARGS__))
#define READ_PORT_UCHAR(...) IOSP_AT(READ_PORT_UCHAR(__VA_ARGS__))
#define READ_PORT_USHORT(...) IOSP_AT(READ_PORT_USHORT(__VA_ARGS__))
#define READ_PORT_ULONG(...) IOSP_AT(READ_PORT_ULONG(__VA_ARGS__))
#define WRITE_PORT_UCHAR(...) IOSP_AT(WRITE_PORT_UCHAR(__VA_ARGS__))
#define WRITE_PORT_USHORT(...) IOSP_AT(WRITE_PORT_USHORT(__VA_ARGS__))
#define WRITE_PORT_ULONG(...) IOSP_AT(WRITE_PORT_ULONG(__VA_ARGS__))
#define READ_PORT_BUFFER_UCHAR(...) IOSP_AT(READ_PORT_BUFFER_UCHAR(__VA_ARGS__))
#define READ_PORT_BUFFER_USHORT(...) IOSP_AT(READ_PORT_BUFFER_USHORT(__VA_ARGS__))
#define READ_PORT_BUFFER_ULONG(...) IOSP_AT(READ_PORT_BUFFER_ULONG(__VA_ARGS__))
#define WRITE_PORT_BUFFER_UCHAR(...) IOSP_AT(WRITE_PORT_BUFFER_UCHAR(__VA_ARGS__))
#define WRITE_PORT_BUFFER_USHORT(...) IOSP_AT(WRITE_PORT_BUFFER_USHORT(__VA_ARGS__))
#define WRITE_PORT_BUFFER_ULONG(...) IOSP_AT(WRITE_PORT_BUFFER_ULONG(__VA_ARGS__))
#define RtlCmEncodeMemIoResource(...) IOSP_AT(RtlCmEncodeMemIoResource(__VA_ARGS__))
#define RtlCmDecodeMemIoResource(...) IOSP_AT(RtlCmDecodeMemIoResource(__VA_ARGS__))
#endif /* IOSP_NO_CALL_SITES */

#ifdef __cplusplus
}
#endif

#endif /* IOSPACE_WDM_H */
