// A fake PCI configuration space for host tests: functions with headers, BARs that answer the
// sizing protocol like hardware (writable bits = ~(size - 1)), and arbitrary bytes elsewhere.
#pragma once

#include <pci/pci.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

namespace pci_test {

struct FakeFunction {
    uint8_t bytes[4096] = {};
    // Per BAR register: the bits software can change (0 for an unimplemented BAR).
    uint32_t bar_writable[6] = {};
    int writes_with_decode_on = 0; // BAR writes while memory/I/O decoding was enabled

    void put8(uint16_t off, uint8_t v) { bytes[off] = v; }
    void put16(uint16_t off, uint16_t v) { std::memcpy(bytes + off, &v, 2); }
    void put32(uint16_t off, uint32_t v) { std::memcpy(bytes + off, &v, 4); }
    uint32_t get32(uint16_t off) const
    {
        uint32_t v;
        std::memcpy(&v, bytes + off, 4);
        return v;
    }
};

class FakeConfig final : public pci::ConfigAccess {
public:
    FakeFunction& add(uint8_t bus, uint8_t device, uint8_t function, uint16_t vendor, uint16_t device_id,
                      uint8_t header_type = 0)
    {
        FakeFunction& f = m_functions[{ bus, device, function }];
        f.put16(pci::reg::kVendorId, vendor);
        f.put16(pci::reg::kDeviceId, device_id);
        f.put8(pci::reg::kHeaderType, header_type);
        return f;
    }
    // A memory BAR of `size` (a power of two) at `base`; 64-bit ones take two registers.
    static void memory_bar(FakeFunction& f, unsigned index, uint64_t base, uint64_t size, bool is_64, bool prefetch)
    {
        uint32_t low_flags = (is_64 ? 4u : 0u) | (prefetch ? 8u : 0u);
        uint64_t mask = ~(size - 1);
        f.put32(uint16_t(pci::reg::kBar0 + 4 * index), uint32_t(base) | low_flags);
        f.bar_writable[index] = uint32_t(mask) & ~0xfu;
        if (is_64 && index + 1 < 6) {
            f.put32(uint16_t(pci::reg::kBar0 + 4 * (index + 1)), uint32_t(base >> 32));
            f.bar_writable[index + 1] = uint32_t(mask >> 32);
        }
    }
    static void io_bar(FakeFunction& f, unsigned index, uint32_t base, uint32_t size)
    {
        f.put32(uint16_t(pci::reg::kBar0 + 4 * index), base | 1);
        f.bar_writable[index] = (~(size - 1)) & 0xfffc;
    }
    // Appends a capability list: ids at the given offsets, chained in order.
    static void capabilities(FakeFunction& f, const std::vector<std::pair<uint8_t, uint8_t>>& caps)
    {
        f.put16(pci::reg::kStatus, pci::kStatusCapabilities);
        f.put8(pci::reg::kCapabilitiesPointer, caps.empty() ? 0 : caps[0].second);
        for (size_t i = 0; i < caps.size(); ++i) {
            f.put8(caps[i].second, caps[i].first);
            f.put8(uint8_t(caps[i].second + 1), i + 1 < caps.size() ? caps[i + 1].second : 0);
        }
    }

    FakeFunction* find(pci::Address a)
    {
        auto it = m_functions.find({ a.bus, a.device, a.function });
        return it == m_functions.end() ? nullptr : &it->second;
    }

    uint32_t read32(pci::Address a, uint16_t offset) override
    {
        ++reads;
        FakeFunction* f = find(a);
        if (!f || a.segment != 0)
            return 0xffffffff;
        return f->get32(offset);
    }
    void write32(pci::Address a, uint16_t offset, uint32_t value) override
    {
        FakeFunction* f = find(a);
        if (!f)
            return;
        if (offset >= pci::reg::kBar0 && offset < pci::reg::kBar0 + 24) {
            unsigned index = (offset - pci::reg::kBar0) / 4;
            uint16_t command;
            std::memcpy(&command, f->bytes + pci::reg::kCommand, 2);
            if (value == 0xffffffff && (command & (pci::kCommandIo | pci::kCommandMemory)))
                ++f->writes_with_decode_on;
            uint32_t writable = f->bar_writable[index];
            uint32_t old = f->get32(offset);
            f->put32(offset, (old & ~writable) | (value & writable));
            return;
        }
        if (offset == pci::reg::kCommand) {
            // Status: read-only except the error bits, which a 1 clears [pci-3.0 §6.2.3].
            uint16_t status;
            std::memcpy(&status, f->bytes + pci::reg::kStatus, 2);
            status &= uint16_t(~((value >> 16) & 0xf900));
            f->put16(pci::reg::kCommand, uint16_t(value));
            f->put16(pci::reg::kStatus, status);
            return;
        }
        f->put32(offset, value);
    }
    uint16_t config_size() const override { return 4096; }
    bool covers(uint16_t segment, uint8_t) const override { return segment == 0; }

    size_t reads = 0;

private:
    std::map<std::tuple<uint8_t, uint8_t, uint8_t>, FakeFunction> m_functions;
};

} // namespace pci_test
