// Link and network addresses. Ipv4Address holds the address in host order (a.b.c.d is
// a << 24 | ... | d), so comparisons, masks and prefix arithmetic read naturally; it is
// converted at the wire with load_be32/store_be32.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace net {

struct MacAddress {
    uint8_t bytes[6] = {};

    static constexpr MacAddress broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
    constexpr bool is_broadcast() const
    {
        for (uint8_t b : bytes)
            if (b != 0xff)
                return false;
        return true;
    }
    constexpr bool is_multicast() const { return bytes[0] & 1; }
    constexpr bool is_zero() const
    {
        for (uint8_t b : bytes)
            if (b != 0)
                return false;
        return true;
    }
    friend constexpr bool operator==(const MacAddress& a, const MacAddress& b)
    {
        for (size_t i = 0; i < 6; i++)
            if (a.bytes[i] != b.bytes[i])
                return false;
        return true;
    }
};

struct Ipv4Address {
    uint32_t value = 0; // host order

    static constexpr Ipv4Address from_octets(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
    {
        return {uint32_t(a) << 24 | uint32_t(b) << 16 | uint32_t(c) << 8 | d};
    }
    static constexpr Ipv4Address any() { return {0}; }
    static constexpr Ipv4Address broadcast() { return {0xffffffffu}; }

    constexpr bool is_any() const { return value == 0; }
    constexpr bool is_broadcast() const { return value == 0xffffffffu; }
    constexpr bool is_loopback() const { return (value >> 24) == 127; }
    constexpr bool is_multicast() const { return (value >> 28) == 0xe; }
    // True when this and `other` share the first `prefix_length` bits.
    constexpr bool same_prefix(Ipv4Address other, unsigned prefix_length) const
    {
        if (prefix_length == 0)
            return true;
        uint32_t mask = prefix_length >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix_length);
        return (value & mask) == (other.value & mask);
    }
    friend constexpr bool operator==(Ipv4Address a, Ipv4Address b) { return a.value == b.value; }
};

// An address and a port: one end of a UDP or TCP conversation (port in host order).
struct Ipv4Endpoint {
    Ipv4Address address;
    uint16_t port = 0;

    friend bool operator==(const Ipv4Endpoint& a, const Ipv4Endpoint& b)
    {
        return a.address == b.address && a.port == b.port;
    }
};

// Writes "a.b.c.d" and a terminating NUL into `out` (at least 16 bytes); returns the length.
size_t format_ipv4(Ipv4Address address, char* out);

// Parses dotted-quad "a.b.c.d" (exactly four decimal octets, no leading '+', each <= 255).
bool parse_ipv4(const char* text, size_t length, Ipv4Address& out);

} // namespace net
