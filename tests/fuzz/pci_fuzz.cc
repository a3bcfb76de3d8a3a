// fuzz-links: pci boot lib
// libFuzzer target: a hostile PCI configuration space. The input is the 256-byte headers of up
// to 16 functions (bus 0-1, device 0-3, function 0-1, in that order; missing ones read as all
// ones) followed by an MCFG table body. Writes land in a copy, so BAR sizing reads back
// whatever the input says. Enumeration must terminate, never read outside the space, and every
// reported BAR and MSI-X table must be self-consistent.
#include <pci/mcfg.h>
#include <pci/pci.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kFunctionBytes = 256;
constexpr size_t kFunctions = 16;

class FuzzConfig final : public pci::ConfigAccess {
public:
    FuzzConfig(const uint8_t* data, size_t size) : m_space(kFunctions * kFunctionBytes, 0xff)
    {
        std::memcpy(m_space.data(), data, size < m_space.size() ? size : m_space.size());
    }
    uint32_t read32(pci::Address a, uint16_t offset) override
    {
        uint8_t* p = locate(a, offset);
        if (!p)
            return 0xffffffff;
        uint32_t v;
        std::memcpy(&v, p, 4);
        return v;
    }
    void write32(pci::Address a, uint16_t offset, uint32_t value) override
    {
        // Writes of all ones (BAR sizing) leave the input's bytes: the device decides what
        // reads back. Other writes are stored.
        if (uint8_t* p = locate(a, offset); p && value != 0xffffffff)
            std::memcpy(p, &value, 4);
    }
    uint16_t config_size() const override { return 256; }
    bool covers(uint16_t segment, uint8_t bus) const override { return segment == 0 && bus < 2; }

private:
    uint8_t* locate(pci::Address a, uint16_t offset)
    {
        if (offset >= kFunctionBytes || (offset & 3)) {
            std::abort(); // the decoder must never ask for this
        }
        if (a.segment != 0 || a.bus >= 2 || a.device >= 4 || a.function >= 2)
            return nullptr;
        size_t index = (size_t(a.bus) * 4 + a.device) * 2 + a.function;
        return m_space.data() + index * kFunctionBytes + offset;
    }
    std::vector<uint8_t> m_space;
};

class Memory final : public boot::PhysReader {
public:
    Memory(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr > m_size || size > m_size - paddr)
            return false;
        std::memcpy(out, m_data + paddr, size);
        return true;
    }

private:
    const uint8_t* m_data;
    size_t m_size;
};

bool check(const pci::Device& d, void*)
{
    for (const pci::Bar& bar : d.bars) {
        if (bar.is_present() && (bar.size & (bar.size - 1)))
            std::abort();
    }
    if (d.capability_count > pci::Device::kMaxCapabilities)
        std::abort();
    for (size_t i = 0; i < d.capability_count; ++i) {
        if (d.capabilities[i].offset < 0x40)
            std::abort();
    }
    if (d.msix.offset) {
        const pci::Bar& bar = d.bars[d.msix.table_bar];
        if (uint64_t(d.msix.table_offset) + uint64_t(d.msix.table_size) * pci::kMsixEntrySize > bar.size)
            std::abort();
    }
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzConfig config(data, size);
    pci::enumerate(config, 0, 0, check, nullptr);

    size_t space = kFunctions * kFunctionBytes;
    if (size > space) {
        Memory memory(data + space, size - space);
        boot::AcpiTableRef table;
        std::memcpy(table.signature, "MCFG", 4);
        table.paddr = 0;
        table.length = uint32_t(size - space);
        pci::McfgInfo info;
        if (!pci::parse_mcfg(memory, table, info).is_error()) {
            for (size_t i = 0; i < info.count; ++i) {
                const pci::EcamWindow& w = info.windows[i];
                if (w.end_bus < w.start_bus || (w.base & 0xfffff) || w.base + w.size() < w.base)
                    std::abort();
            }
        }
    }
    return 0;
}
