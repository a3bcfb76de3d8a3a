// Basic memory-management vocabulary: page-size constants and the PhysAddr strong type.
//
// Physical addresses are a distinct type so that they cannot be dereferenced or mixed up with
// virtual addresses by accident; converting one into the other always goes through an explicit
// translation (the direct map in the kernel, a fake in host tests).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace mm {

inline constexpr size_t kPageShift = 12;
inline constexpr size_t kPageSize = size_t(1) << kPageShift;       // 4 KiB
inline constexpr size_t kHugePageSize = size_t(2) << 20;           // 2 MiB
inline constexpr size_t kGiantPageSize = size_t(1) << 30;          // 1 GiB
inline constexpr size_t kPagesPerHugePage = kHugePageSize / kPageSize;   // 512
inline constexpr size_t kPagesPerGiantPage = kGiantPageSize / kPageSize; // 262144

// True if x is a non-zero power of two.
constexpr bool is_power_of_two(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

// Round x down/up to a multiple of align (a power of two). align_up must not overflow.
constexpr uint64_t align_down(uint64_t x, uint64_t align) { return x & ~(align - 1); }
constexpr uint64_t align_up(uint64_t x, uint64_t align) { return (x + align - 1) & ~(align - 1); }

// A physical address. Arithmetic is in bytes; page helpers convert to and from frame numbers.
class PhysAddr {
public:
    constexpr PhysAddr() = default;
    constexpr explicit PhysAddr(uint64_t value) : m_value(value) {}

    static constexpr PhysAddr from_page_number(uint64_t pfn) { return PhysAddr(pfn << kPageShift); }

    constexpr uint64_t value() const { return m_value; }
    constexpr uint64_t page_number() const { return m_value >> kPageShift; }
    constexpr uint64_t page_offset() const { return m_value & (kPageSize - 1); }

    constexpr bool is_aligned(uint64_t align) const { return (m_value & (align - 1)) == 0; }
    constexpr bool is_page_aligned() const { return is_aligned(kPageSize); }
    constexpr PhysAddr align_down(uint64_t align) const { return PhysAddr(mm::align_down(m_value, align)); }
    constexpr PhysAddr align_up(uint64_t align) const { return PhysAddr(mm::align_up(m_value, align)); }

    // Address `pages` pages further on / back.
    constexpr PhysAddr plus_pages(uint64_t pages) const { return PhysAddr(m_value + (pages << kPageShift)); }

    constexpr PhysAddr operator+(uint64_t bytes) const { return PhysAddr(m_value + bytes); }
    constexpr PhysAddr operator-(uint64_t bytes) const { return PhysAddr(m_value - bytes); }
    constexpr PhysAddr& operator+=(uint64_t bytes)
    {
        m_value += bytes;
        return *this;
    }
    constexpr PhysAddr& operator-=(uint64_t bytes)
    {
        m_value -= bytes;
        return *this;
    }
    // Distance in bytes; *this must not be below other.
    constexpr uint64_t operator-(PhysAddr other) const { return m_value - other.m_value; }

    friend constexpr bool operator==(PhysAddr a, PhysAddr b) { return a.m_value == b.m_value; }
    friend constexpr bool operator!=(PhysAddr a, PhysAddr b) { return a.m_value != b.m_value; }
    friend constexpr bool operator<(PhysAddr a, PhysAddr b) { return a.m_value < b.m_value; }
    friend constexpr bool operator<=(PhysAddr a, PhysAddr b) { return a.m_value <= b.m_value; }
    friend constexpr bool operator>(PhysAddr a, PhysAddr b) { return a.m_value > b.m_value; }
    friend constexpr bool operator>=(PhysAddr a, PhysAddr b) { return a.m_value >= b.m_value; }

private:
    uint64_t m_value = 0;
};

static_assert(sizeof(PhysAddr) == sizeof(uint64_t));

} // namespace mm
