/*
 * A driver for QEMU's edu device, written against wdm.h/ntddk.h only: what the hardware-facing
 * part of a Windows driver looks like. The host program (host.c) plays the I/O manager and
 * calls these entry points.
 */
#ifndef EDU_DRIVER_H
#define EDU_DRIVER_H

#include <ntddk.h>

/* Finds edu on PCI bus 0, maps its registers and checks the device answers. */
NTSTATUS EduDriverEntry(VOID);

/* Has the device compute Value! (32 bits, wrapping). */
NTSTATUS EduComputeFactorial(ULONG Value, PULONG Result);

/* Releases everything EduDriverEntry acquired. */
VOID EduUnload(VOID);

#endif
