/*
 * host.c: boots the hosted machine, loads the edu driver, asks it for a few factorials,
 * unloads it and checks that nothing was left mapped. Usage: edu-driver [MACHINE.toml]
 */
#include <iospace.h>

#include "edu_driver.h"

int main(int argc, char **argv) {
    NTSTATUS status = IospBoot(argc > 1 ? argv[1] : NULL);
    if (!NT_SUCCESS(status)) {
        return 2;
    }
    status = EduDriverEntry();
    if (!NT_SUCCESS(status)) {
        IospShutdown();
        return 1;
    }
    for (ULONG value = 0; value <= 12; value++) {
        ULONG result = 0;
        status = EduComputeFactorial(value, &result);
        if (!NT_SUCCESS(status)) {
            break;
        }
        DbgPrint("edu: %2u! = %u\n", (unsigned)value, (unsigned)result);
    }
    EduUnload();
    ULONG leaked = IospOutstandingMappings();
    DbgPrint("edu: unloaded, %u mappings outstanding\n", (unsigned)leaked);
    IospShutdown();
    return NT_SUCCESS(status) && leaked == 0 ? 0 : 1;
}
