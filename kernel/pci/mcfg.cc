// MCFG decoding (mcfg.h).
#include <pci/mcfg.h>

namespace pci {

namespace {
constexpr uint32_t kHeaderBytes = 36 + 8; // the ACPI table header, then 8 reserved bytes
constexpr uint32_t kEntryBytes = 16;      // base (8), segment (2), start bus, end bus, reserved (4)
constexpr uint32_t kMaxTableBytes = kHeaderBytes + 256 * kEntryBytes;
} // namespace

Result<void> parse_mcfg(const boot::PhysReader& reader, const boot::AcpiTableRef& table, McfgInfo& out)
{
    out = McfgInfo{};
    if (table.length < kHeaderBytes || table.length > kMaxTableBytes || (table.length - kHeaderBytes) % kEntryBytes)
        return Errno::INVAL;
    size_t entries = (table.length - kHeaderBytes) / kEntryBytes;
    for (size_t i = 0; i < entries; ++i) {
        uint8_t raw[kEntryBytes];
        if (!reader.read(table.paddr + kHeaderBytes + i * kEntryBytes, raw, sizeof raw))
            return Errno::FAULT;
        EcamWindow w;
        for (int b = 7; b >= 0; --b)
            w.base = (w.base << 8) | raw[b];
        w.segment = uint16_t(raw[8] | (raw[9] << 8));
        w.start_bus = raw[10];
        w.end_bus = raw[11];
        bool aligned = (w.base & ((1ull << 20) - 1)) == 0;
        uint64_t end = w.base + ((uint64_t(w.end_bus) + 1) << 20);
        if (w.base == 0 || !aligned || w.end_bus < w.start_bus || end < w.base ||
            out.count == McfgInfo::kMaxWindows) {
            ++out.skipped;
            continue;
        }
        out.windows[out.count++] = w;
    }
    return {};
}

} // namespace pci
