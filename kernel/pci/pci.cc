// PCI configuration-space decoding and enumeration (pci.h).
#include <pci/pci.h>

namespace pci {

namespace {

constexpr size_t kMaxCapabilityWalk = 48; // (256 - 64) / 4 entries at most fit the header
constexpr uint8_t kFirstCapabilityOffset = 0x40;
constexpr uint16_t kNoVendor = 0xffff;

bool is_power_of_two(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

// Sizes BAR `index` (and its upper half for 64-bit BARs). Returns the number of BAR registers
// it used (1 or 2). Decoding must be off.
unsigned size_bar(ConfigAccess& access, Address a, unsigned index, unsigned bar_count, Device& out)
{
    Bar& bar = out.bars[index];
    uint16_t offset = uint16_t(reg::kBar0 + 4 * index);
    uint32_t original = access.read32(a, offset);

    if (original & 1) { // [pci-3.0 §6.2.5.1] I/O space: bit 1 reserved
        access.write32(a, offset, 0xffffffff);
        uint32_t mask = access.read32(a, offset) & ~3u;
        access.write32(a, offset, original);
        if (mask == 0)
            return 1;
        if ((mask & 0xffff0000) == 0) // 16-bit I/O decoders leave the upper half zero
            mask |= 0xffff0000;
        uint64_t size = uint32_t(~mask + 1);
        if (!is_power_of_two(size)) {
            out.problem = "an I/O BAR with a non-contiguous size mask";
            return 1;
        }
        bar.kind = Bar::Kind::Io;
        bar.base = original & ~3u;
        bar.size = size;
        return 1;
    }

    unsigned type = (original >> 1) & 3;
    bar.prefetchable = (original & 8) != 0;
    if (type == 1 || type == 3) {
        out.problem = "a memory BAR of a reserved type";
        return 1;
    }
    bool is_64 = type == 2;
    if (is_64 && index + 1 >= bar_count) {
        out.problem = "a 64-bit BAR in the last BAR slot";
        return 1;
    }
    uint32_t original_high = is_64 ? access.read32(a, uint16_t(offset + 4)) : 0;
    access.write32(a, offset, 0xffffffff);
    uint64_t mask = access.read32(a, offset) & ~0xfu;
    if (is_64) {
        access.write32(a, uint16_t(offset + 4), 0xffffffff);
        mask |= uint64_t(access.read32(a, uint16_t(offset + 4))) << 32;
        access.write32(a, uint16_t(offset + 4), original_high);
    } else {
        mask |= 0xffffffff00000000ull;
    }
    access.write32(a, offset, original);
    unsigned used = is_64 ? 2 : 1;
    if ((mask & 0xffffffffull) == 0 && (!is_64 || (mask >> 32) == 0))
        return used; // not implemented
    uint64_t size = ~mask + 1;
    if (!is_power_of_two(size)) {
        out.problem = "a memory BAR with a non-contiguous size mask";
        return used;
    }
    bar.kind = is_64 ? Bar::Kind::Memory64 : Bar::Kind::Memory32;
    bar.base = (original & ~0xfull) | (uint64_t(original_high) << 32);
    bar.size = size;
    return used;
}

void read_capabilities(ConfigAccess& access, Address a, Device& out)
{
    if ((access.read16(a, reg::kStatus) & kStatusCapabilities) == 0)
        return;
    uint64_t seen[4] = {}; // one bit per dword of the 256-byte header
    uint8_t offset = access.read8(a, reg::kCapabilitiesPointer) & ~3u;
    for (size_t steps = 0; offset != 0; ++steps) {
        if (offset < kFirstCapabilityOffset || steps == kMaxCapabilityWalk) {
            out.problem = "a capability pointer outside the device-specific header";
            return;
        }
        unsigned word = offset / 4;
        if (seen[word / 64] & (1ull << (word % 64))) {
            out.problem = "a loop in the capability list";
            return;
        }
        seen[word / 64] |= 1ull << (word % 64);
        uint8_t id = access.read8(a, offset);
        if (out.capability_count < Device::kMaxCapabilities)
            out.capabilities[out.capability_count++] = { id, offset };
        offset = access.read8(a, uint16_t(offset + 1)) & ~3u;
    }
}

void read_msix(ConfigAccess& access, Address a, Device& out)
{
    const Capability* cap = out.find_capability(kCapMsix);
    if (!cap || cap->offset > 0xf4) // the capability is 12 bytes
        return;
    uint16_t control = access.read16(a, uint16_t(cap->offset + 2));
    uint32_t table = access.read32(a, uint16_t(cap->offset + 4));
    uint32_t pba = access.read32(a, uint16_t(cap->offset + 8));
    MsixInfo info;
    info.offset = cap->offset;
    info.table_size = uint16_t((control & 0x7ff) + 1);
    info.table_bar = uint8_t(table & 7);
    info.table_offset = table & ~7u;
    info.pba_bar = uint8_t(pba & 7);
    info.pba_offset = pba & ~7u;
    unsigned bar_count = out.header_type == 0 ? 6 : 2;
    if (info.table_bar >= bar_count || info.pba_bar >= bar_count) {
        out.problem = "an MSI-X table in a BAR that does not exist";
        return;
    }
    const Bar& bar = out.bars[info.table_bar];
    uint64_t table_end = uint64_t(info.table_offset) + uint64_t(info.table_size) * kMsixEntrySize;
    if (!bar.is_memory() || bar.size == 0 || table_end > bar.size) {
        out.problem = "an MSI-X table outside its BAR";
        return;
    }
    out.msix = info;
}

} // namespace

void ConfigAccess::write16(Address a, uint16_t offset, uint16_t value)
{
    uint16_t aligned = offset & ~3u;
    unsigned shift = (offset & 2) * 8;
    uint32_t dword = read32(a, aligned);
    if (aligned == reg::kCommand && shift == 0)
        dword &= 0x0000ffff; // never write back status bits: they are write-one-to-clear
    dword = (dword & ~(0xffffu << shift)) | (uint32_t(value) << shift);
    write32(a, aligned, dword);
}

const Capability* Device::find_capability(uint8_t id, size_t start) const
{
    for (size_t i = start; i < capability_count; ++i) {
        if (capabilities[i].id == id)
            return &capabilities[i];
    }
    return nullptr;
}

void read_device(ConfigAccess& access, Address a, Device& out)
{
    out = Device{};
    out.address = a;
    uint32_t id = access.read32(a, reg::kVendorId);
    out.vendor_id = uint16_t(id);
    out.device_id = uint16_t(id >> 16);
    uint32_t class_rev = access.read32(a, reg::kRevision);
    out.revision = uint8_t(class_rev);
    out.prog_if = uint8_t(class_rev >> 8);
    out.subclass = uint8_t(class_rev >> 16);
    out.class_code = uint8_t(class_rev >> 24);
    out.header_type = access.read8(a, reg::kHeaderType) & kHeaderTypeMask;
    out.interrupt_line = access.read8(a, reg::kInterruptLine);
    out.interrupt_pin = access.read8(a, reg::kInterruptPin);
    if (out.interrupt_pin > 4)
        out.interrupt_pin = 0;

    unsigned bar_count = 0;
    if (out.header_type == 0) {
        bar_count = 6;
        out.subsystem_vendor_id = access.read16(a, reg::kSubsystemVendorId);
        out.subsystem_id = access.read16(a, reg::kSubsystemId);
    } else if (out.header_type == 1) {
        bar_count = 2;
    } else if (out.header_type != 2) {
        out.problem = "an unknown header type";
        return;
    }

    if (bar_count != 0) {
        uint16_t command = access.read16(a, reg::kCommand);
        access.write16(a, reg::kCommand, command & ~(kCommandIo | kCommandMemory));
        for (unsigned i = 0; i < bar_count;)
            i += size_bar(access, a, i, bar_count, out);
        access.write16(a, reg::kCommand, command);
    }
    read_capabilities(access, a, out);
    read_msix(access, a, out);
}

size_t enumerate(ConfigAccess& access, uint16_t segment, uint8_t first_bus, VisitFn visit, void* context)
{
    uint64_t visited[4] = {};
    uint8_t pending[256];
    size_t pending_count = 0;
    size_t functions = 0;
    auto push = [&](uint8_t bus) {
        if (!access.covers(segment, bus) || (visited[bus / 64] & (1ull << (bus % 64))))
            return;
        visited[bus / 64] |= 1ull << (bus % 64);
        pending[pending_count++] = bus; // each bus at most once: never overflows
    };
    push(first_bus);

    Device device;
    while (pending_count != 0) {
        uint8_t bus = pending[--pending_count];
        for (uint8_t dev = 0; dev < 32; ++dev) {
            Address a{ segment, bus, dev, 0 };
            uint16_t vendor = access.read16(a, reg::kVendorId);
            if (vendor == kNoVendor || vendor == 0)
                continue;
            uint8_t functions_here = (access.read8(a, reg::kHeaderType) & kHeaderMultiFunction) ? 8 : 1;
            for (uint8_t fn = 0; fn < functions_here; ++fn) {
                a.function = fn;
                vendor = access.read16(a, reg::kVendorId);
                if (vendor == kNoVendor || vendor == 0)
                    continue;
                read_device(access, a, device);
                ++functions;
                if (device.header_type == 1) {
                    uint8_t secondary = access.read8(a, reg::kSecondaryBus);
                    if (secondary > bus)
                        push(secondary);
                }
                if (!visit(device, context))
                    return functions;
            }
        }
    }
    return functions;
}

Result<MsiMessage> msi_message(uint32_t apic_id, uint8_t vector)
{
    if (apic_id > 0xff || vector < 0x10)
        return Errno::INVAL;
    // [intel-sdm vol 3 §11.11.1-2] 0xfee in the top bits, destination id in 19:12; physical
    // destination, no redirection hint; data: fixed delivery, edge trigger.
    return MsiMessage{ 0xfee00000ull | (uint64_t(apic_id) << 12), vector };
}

const char* class_name(uint8_t class_code)
{
    static constexpr const char* kNames[] = {
        "unclassified", "storage", "network", "display", "multimedia", "memory", "bridge", "communication",
        "system", "input", "docking", "processor", "serial-bus", "wireless", "intelligent-io", "satellite",
        "crypto", "signal-processing",
    };
    if (class_code < sizeof(kNames) / sizeof(kNames[0]))
        return kNames[class_code];
    return "other";
}

} // namespace pci
