/*
 * iospace.h: the hosted machine's controls, for programs that run C driver code on it (tests,
 * harnesses). None of this exists on Windows.
 *
 * A program boots a machine, runs driver code against it, and shuts it down:
 *
 *     if (!NT_SUCCESS(IospBoot(NULL))) return 1;     // the default machine
 *     ... DriverEntry-like code ...
 *     IospShutdown();                                 // lists anything still mapped
 *
 * Every routine is thread-safe; each thread is a CPU of the machine, with its own IRQL.
 */
#ifndef IOSPACE_IOSPACE_H
#define IOSPACE_IOSPACE_H

#include "ntddk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Boots a machine: NULL boots the default one (q35, 512 MiB, edu, ivshmem, pci-testdev, COM1),
 * otherwise Machine is the path of a TOML machine description. Returns STATUS_SUCCESS, or
 * STATUS_INVALID_DEVICE_STATE (a machine is already booted), STATUS_OBJECT_NAME_NOT_FOUND (the
 * file cannot be read), STATUS_INVALID_PARAMETER (the description is invalid),
 * STATUS_INSUFFICIENT_RESOURCES (the host refused memory); the reason is on standard error.
 * The calling thread starts at PASSIVE_LEVEL. */
NTSTATUS IospBoot(const char *Machine);

/* Stops the machine, listing on standard error anything it still had mapped, locked or
 * reserved. Does nothing without a machine. A later IospBoot starts a fresh machine. */
VOID IospShutdown(VOID);

/* Called on every bug check, on the thread that raised it, before anything else. If it
 * returns, the STOP line is printed and the process exits with status 1. It may longjmp out
 * instead (a test that expects the bug check); the program must then call IospShutdown and
 * IospBoot before it uses the machine again. */
typedef VOID (*PIOSP_BUGCHECK_CALLBACK)(ULONG Code, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3,
                                        ULONG_PTR P4);

/* Installs the callback (NULL removes it). It stays installed across IospShutdown/IospBoot. */
VOID IospSetBugCheckCallback(PIOSP_BUGCHECK_CALLBACK Callback);

/* The number of live system mappings made through the API: I/O-space mappings, MDL mappings
 * and reservations (one each, mapped or not). 0 without a machine. */
ULONG IospOutstandingMappings(VOID);

/* MmProbeAndLockPages inside the __try/__except a Windows driver writes around it: an invalid
 * range returns STATUS_ACCESS_VIOLATION and leaves the MDL unlocked. Misuse is still a bug
 * check. */
NTSTATUS IospProbeAndLockPages(PMDL MemoryDescriptorList, KPROCESSOR_MODE AccessMode,
                               LOCK_OPERATION Operation);

/* Bug-check codes of this layer's own decisions. */
#define IOSP_BUGCHECK_PROBE_FAILED 0x1E /* KMODE_EXCEPTION_NOT_HANDLED: see MmProbeAndLockPages */
#define IOSP_BUGCHECK_NO_MACHINE 0x31   /* PHASE0_INITIALIZATION_FAILED: no IospBoot yet */

#ifndef IOSP_NO_CALL_SITES
#define IospProbeAndLockPages(...) IOSP_AT(IospProbeAndLockPages(__VA_ARGS__))
#endif

#ifdef __cplusplus
}
#endif

#endif /* IOSPACE_IOSPACE_H */
