// PCI: configuration-space layout, enumeration of a hierarchy, BARs, capabilities and MSI-X —
// everything that does not touch hardware. The kernel supplies a ConfigAccess (port I/O or an
// ECAM window, kernel/drivers/pci_host.h); the host tests supply a fake one.
//
// Everything read from configuration space is device input: a capability list that loops or
// points outside the header, a BAR that decodes nonsense, a bridge whose bus numbers go
// backwards — each is bounded or reported, never trusted and never a panic.
//
// Spec: [pci-3.0] PCI Local Bus Specification 3.0 §6 (configuration space, BARs §6.2.5,
// capabilities §6.7, MSI-X §6.8.2); [pcie-5.0] PCI Express Base 5.0 §7.2.2 (ECAM);
// [pci-bridge-1.2] PCI-to-PCI Bridge Architecture 1.2 §3.2 (type 1 header).
#pragma once

#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace pci {

// A function's place in the hierarchy.
struct Address {
    uint16_t segment = 0;
    uint8_t bus = 0;
    uint8_t device = 0;   // 0-31
    uint8_t function = 0; // 0-7

    bool operator==(const Address&) const = default;
};

// Reads and writes one function's configuration space. Offsets are naturally aligned;
// `config_size()` is 256 (conventional) or 4096 (extended, ECAM). A read of a function that
// does not exist answers all ones, as the hardware does.
class ConfigAccess {
public:
    virtual uint32_t read32(Address address, uint16_t offset) = 0;
    virtual void write32(Address address, uint16_t offset, uint32_t value) = 0;
    virtual uint16_t config_size() const = 0;
    // Whether this access reaches `bus` of `segment` at all (an ECAM window covers a bus range).
    virtual bool covers(uint16_t segment, uint8_t bus) const = 0;

    uint16_t read16(Address a, uint16_t offset) { return uint16_t(read32(a, offset & ~3u) >> ((offset & 2) * 8)); }
    uint8_t read8(Address a, uint16_t offset) { return uint8_t(read32(a, offset & ~3u) >> ((offset & 3) * 8)); }
    // 16-bit write as a read-modify-write of the dword; fine for the registers we write
    // (command, MSI-X control), none of which has write-1-to-clear bits in the other half
    // that we could clear by accident — the status register's are written as 0.
    void write16(Address a, uint16_t offset, uint16_t value);

protected:
    ~ConfigAccess() = default;
};

// [pci-3.0 §6.1] Type 0/1 header offsets and bits the kernel uses.
namespace reg {
constexpr uint16_t kVendorId = 0x00;
constexpr uint16_t kDeviceId = 0x02;
constexpr uint16_t kCommand = 0x04;
constexpr uint16_t kStatus = 0x06;
constexpr uint16_t kRevision = 0x08; // then prog-if, subclass, class
constexpr uint16_t kHeaderType = 0x0e;
constexpr uint16_t kBar0 = 0x10;
constexpr uint16_t kSubsystemVendorId = 0x2c; // type 0
constexpr uint16_t kSubsystemId = 0x2e;
constexpr uint16_t kCapabilitiesPointer = 0x34;
constexpr uint16_t kInterruptLine = 0x3c;
constexpr uint16_t kInterruptPin = 0x3d;
// Type 1 (bridge).
constexpr uint16_t kPrimaryBus = 0x18;
constexpr uint16_t kSecondaryBus = 0x19;
constexpr uint16_t kSubordinateBus = 0x1a;
} // namespace reg

constexpr uint16_t kCommandIo = 1u << 0;
constexpr uint16_t kCommandMemory = 1u << 1;
constexpr uint16_t kCommandBusMaster = 1u << 2;
constexpr uint16_t kCommandIntxDisable = 1u << 10;
constexpr uint16_t kStatusCapabilities = 1u << 4;
constexpr uint8_t kHeaderTypeMask = 0x7f;
constexpr uint8_t kHeaderMultiFunction = 0x80;

// [pci-3.0 §6.7, appendix H] Capability ids.
constexpr uint8_t kCapMsi = 0x05;
constexpr uint8_t kCapVendor = 0x09;
constexpr uint8_t kCapPciExpress = 0x10;
constexpr uint8_t kCapMsix = 0x11;

struct Bar {
    enum class Kind : uint8_t { None, Io, Memory32, Memory64 };
    Kind kind = Kind::None;
    bool prefetchable = false;
    uint64_t base = 0; // bus address as the firmware assigned it (0: unassigned)
    uint64_t size = 0; // 0 if the BAR is not implemented

    bool is_memory() const { return kind == Kind::Memory32 || kind == Kind::Memory64; }
    bool is_present() const { return kind != Kind::None && size != 0; }
};

struct Capability {
    uint8_t id = 0;
    uint8_t offset = 0;
};

// [pci-3.0 §6.8.2] The MSI-X capability, decoded.
struct MsixInfo {
    uint8_t offset = 0;       // capability offset (0: none)
    uint16_t table_size = 0;  // entries (1-2048)
    uint8_t table_bar = 0;
    uint32_t table_offset = 0;
    uint8_t pba_bar = 0;
    uint32_t pba_offset = 0;
};
// MSI-X message control bits and the table entry layout (16 bytes per vector).
constexpr uint16_t kMsixControlEnable = 1u << 15;
constexpr uint16_t kMsixControlFunctionMask = 1u << 14;
constexpr uint32_t kMsixEntrySize = 16;
constexpr uint32_t kMsixEntryAddressLow = 0, kMsixEntryAddressHigh = 4, kMsixEntryData = 8, kMsixEntryControl = 12;
constexpr uint32_t kMsixEntryMasked = 1u << 0;

// One function found by enumerate().
struct Device {
    static constexpr size_t kMaxCapabilities = 24;

    Address address;
    uint16_t vendor_id = 0;
    uint16_t device_id = 0;
    uint8_t revision = 0;
    uint8_t prog_if = 0;
    uint8_t subclass = 0;
    uint8_t class_code = 0;
    uint8_t header_type = 0; // without the multi-function bit
    uint16_t subsystem_vendor_id = 0;
    uint16_t subsystem_id = 0;
    uint8_t interrupt_pin = 0;  // 0 none, 1-4 INTA-INTD
    uint8_t interrupt_line = 0; // what the firmware wrote (the legacy IRQ on pc/q35)
    Bar bars[6];                // type 0: six; type 1: two
    Capability capabilities[kMaxCapabilities];
    uint8_t capability_count = 0;
    MsixInfo msix;
    // Problems met while decoding (a capability loop, a bad BAR), for the device list.
    const char* problem = nullptr;

    // The first capability with `id` at or after `start` (the index into capabilities).
    const Capability* find_capability(uint8_t id, size_t start = 0) const;
};

// Decodes the function at `address` (which must answer a vendor id): header, BARs (sized by
// the write-ones-and-read-back protocol, with the decoders switched off meanwhile and the
// command register restored), capabilities (bounded walk) and MSI-X. Always succeeds; oddities
// end up in `problem`.
void read_device(ConfigAccess& access, Address address, Device& out);

// Walks every function reachable from `segment`'s bus `first_bus`, following PCI-to-PCI bridges
// to their secondary buses (each bus visited once; a bridge pointing at a visited or lower bus is
// not followed), and calls `visit` for each. Stops early when `visit` returns false. Returns the
// number of functions visited.
using VisitFn = bool (*)(const Device& device, void* context);
size_t enumerate(ConfigAccess& access, uint16_t segment, uint8_t first_bus, VisitFn visit, void* context);

// The MSI message that delivers `vector` to the local APIC `apic_id` (fixed delivery, physical
// destination, edge) [intel-sdm vol 3 §11.11]. APIC ids above 255 need interrupt remapping:
// INVAL.
struct MsiMessage {
    uint64_t address = 0;
    uint32_t data = 0;
};
Result<MsiMessage> msi_message(uint32_t apic_id, uint8_t vector);

// A short name for a class code ("network", "storage", ...), for the device list.
const char* class_name(uint8_t class_code);

} // namespace pci
