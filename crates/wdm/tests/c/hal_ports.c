/*
 * The HAL's bus routines at their edges and the port routines on the default (x86) machine:
 * COM1's scratch register and the PCI configuration ports 0xCF8/0xCFC.
 */
#include "harness.h"
#include "tags.h"

#define COM1_SCRATCH ((PUCHAR)(ULONG_PTR)0x3FF)
#define CONFIG_ADDRESS ((PULONG)(ULONG_PTR)0xCF8)
#define CONFIG_DATA ((PULONG)(ULONG_PTR)0xCFC)
/* Bus 0, device 1 (edu, the first device of the default machine), function 0, register 0. */
#define EDU_CONFIG_ADDRESS 0x80000800u
#define EDU_IDS 0x11E81234u

static void test_translate_bus_address(void) {
    PHYSICAL_ADDRESS bus;
    PHYSICAL_ADDRESS translated;
    ULONG space = 0;
    bus.QuadPart = (LONGLONG)EDU_BAR0;
    CHECK(HalTranslateBusAddress(PCIBus, 0, bus, &space, &translated));
    CHECK_EQ(space, 0);
    CHECK_EQ(translated.QuadPart, EDU_BAR0);

    /* A port translates to a port on a PC: LowPart is the port number (claim 74). */
    bus.QuadPart = 0x3F8;
    space = 1;
    CHECK(HalTranslateBusAddress(Isa, 0, bus, &space, &translated));
    CHECK_EQ(space, 1);
    CHECK_EQ(translated.LowPart, 0x3F8);

    /* An unknown interface type or space fails and leaves the outputs alone. */
    translated.QuadPart = 0x5555;
    space = 0;
    CHECK(!HalTranslateBusAddress((INTERFACE_TYPE)99, 0, bus, &space, &translated));
    space = 7;
    CHECK(!HalTranslateBusAddress(PCIBus, 0, bus, &space, &translated));
    CHECK_EQ(space, 7);
    CHECK_EQ(translated.QuadPart, 0x5555);
}

static void test_bus_data(void) {
    PCI_SLOT_NUMBER slot;
    slot.u.AsULONG = 0;
    slot.u.bits.DeviceNumber = 1;
    ULONG ids = 0;
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &ids, 0, 4), 4);
    CHECK_EQ(ids, EDU_IDS);

    /* Interrupt Line is read-write and has no side effect: write, read back, restore. */
    UCHAR line = 0;
    UCHAR value = 0x0B;
    ULONG offset = (ULONG)offsetof(PCI_COMMON_HEADER, u.type0.InterruptLine);
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &line, offset, 1), 1);
    CHECK_EQ(HalSetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &value, offset, 1), 1);
    UCHAR back = 0;
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &back, offset, 1), 1);
    CHECK_EQ(back, 0x0B);
    CHECK_EQ(HalSetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &line, offset, 1), 1);

    /* An empty slot reads as PCI_INVALID_VENDORID in 2 bytes; another bus does not exist;
     * other data types transfer nothing; the transfer stops at 256 bytes. */
    slot.u.bits.DeviceNumber = 31;
    USHORT vendor = 0;
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &vendor, 0, 2), 2);
    CHECK_EQ(vendor, PCI_INVALID_VENDORID);
    CHECK_EQ(HalSetBusDataByOffset(PCIConfiguration, 0, slot.u.AsULONG, &vendor, 0, 2), 0);
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 1, 1, &ids, 0, 4), 0);
    CHECK_EQ(HalGetBusDataByOffset(Cmos, 0, 1, &ids, 0, 4), 0);
    UCHAR tail[16];
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, 1, tail, 0xF8, sizeof(tail)), 8);
    CHECK_EQ(HalGetBusDataByOffset(PCIConfiguration, 0, 1, NULL, 0, 0), 0);
}

static void test_byte_ports(void) {
    WRITE_PORT_UCHAR(COM1_SCRATCH, 0x5A);
    CHECK_EQ(READ_PORT_UCHAR(COM1_SCRATCH), 0x5A);
    /* The buffer forms hit the same port every time (claim 73). */
    UCHAR bytes[3] = {0x11, 0x22, 0x33};
    WRITE_PORT_BUFFER_UCHAR(COM1_SCRATCH, bytes, 3);
    CHECK_EQ(READ_PORT_UCHAR(COM1_SCRATCH), 0x33);
    UCHAR back[3] = {0};
    READ_PORT_BUFFER_UCHAR(COM1_SCRATCH, back, 3);
    CHECK_EQ(back[0], 0x33);
    CHECK_EQ(back[1], 0x33);
    CHECK_EQ(back[2], 0x33);
    /* Nothing decodes port 0x2F0: all ones. */
    CHECK_EQ(READ_PORT_UCHAR((PUCHAR)(ULONG_PTR)0x2F0), 0xFF);
}

static void test_configuration_ports(void) {
    WRITE_PORT_ULONG(CONFIG_ADDRESS, EDU_CONFIG_ADDRESS);
    CHECK_EQ(READ_PORT_ULONG(CONFIG_ADDRESS), EDU_CONFIG_ADDRESS);
    CHECK_EQ(READ_PORT_ULONG(CONFIG_DATA), EDU_IDS);
    CHECK_EQ(READ_PORT_USHORT((PUSHORT)CONFIG_DATA), 0x1234);
    CHECK_EQ(READ_PORT_USHORT((PUSHORT)((ULONG_PTR)CONFIG_DATA + 2)), 0x11E8);

    ULONG addresses[2] = {0x80000000u, EDU_CONFIG_ADDRESS};
    WRITE_PORT_BUFFER_ULONG(CONFIG_ADDRESS, addresses, 2);
    CHECK_EQ(READ_PORT_ULONG(CONFIG_ADDRESS), EDU_CONFIG_ADDRESS);
    ULONG data[3] = {0};
    READ_PORT_BUFFER_ULONG(CONFIG_DATA, data, 3);
    CHECK_EQ(data[0], EDU_IDS);
    CHECK_EQ(data[2], EDU_IDS);
    USHORT vendor[2] = {0};
    READ_PORT_BUFFER_USHORT((PUSHORT)CONFIG_DATA, vendor, 2);
    CHECK_EQ(vendor[0], 0x1234);
    CHECK_EQ(vendor[1], 0x1234);
    /* The vendor ID is read-only: writes through the buffer form change nothing. */
    USHORT junk[2] = {0xAAAA, 0xBBBB};
    WRITE_PORT_BUFFER_USHORT((PUSHORT)CONFIG_DATA, junk, 2);
    WRITE_PORT_USHORT((PUSHORT)CONFIG_DATA, 0xCCCC);
    CHECK_EQ(READ_PORT_ULONG(CONFIG_DATA), EDU_IDS);
    WRITE_PORT_ULONG(CONFIG_ADDRESS, 0);
}

int main(void) {
    harness_boot();
    test_translate_bus_address();
    test_bus_data();
    test_byte_ports();
    test_configuration_ports();
    IospShutdown();
    return harness_finish();
}
