// Test support for kernel/boot: guest "physical memory" [0, size) backed by a host buffer,
// and helpers to lay out little-endian firmware structures with checksums.
#pragma once

#include <boot/pvh.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace boot_test {

using Bytes = std::vector<uint8_t>;

class FakeMemory final : public boot::PhysReader {
public:
    // Default: the first MiB and a bit, where firmware tables live.
    explicit FakeMemory(size_t size = 0x110000) : m_bytes(size, 0) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr > m_bytes.size() || size > m_bytes.size() - paddr)
            return false;
        std::memcpy(out, m_bytes.data() + paddr, size);
        return true;
    }
    template<typename T>
    void put(uint64_t paddr, const T& value) { std::memcpy(m_bytes.data() + paddr, &value, sizeof(T)); }
    void put(uint64_t paddr, const Bytes& bytes) { std::memcpy(m_bytes.data() + paddr, bytes.data(), bytes.size()); }
    void put_string(uint64_t paddr, const char* s) { std::memcpy(m_bytes.data() + paddr, s, std::strlen(s) + 1); }
    uint8_t& at(uint64_t paddr) { return m_bytes[paddr]; }
    size_t size() const { return m_bytes.size(); }

private:
    Bytes m_bytes;
};

// Writes `value` as `width` little-endian bytes at `offset`, growing `b` as needed.
inline void store(Bytes& b, size_t offset, uint64_t value, size_t width)
{
    if (b.size() < offset + width)
        b.resize(offset + width);
    for (size_t i = 0; i < width; ++i)
        b[offset + i] = uint8_t(value >> (8 * i));
}

// The byte that makes b[begin, end) sum to zero (ACPI and MP-spec checksums).
inline uint8_t checksum_of(const Bytes& b, size_t begin, size_t end)
{
    uint8_t sum = 0;
    for (size_t i = begin; i < end; ++i)
        sum = uint8_t(sum + b[i]);
    return uint8_t(-sum);
}

} // namespace boot_test
