// The IPv4 header [RFC 791 §3.1]: parse with validation, and build.
#pragma once

#include <net/addr.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

constexpr size_t kIpv4HeaderSize = 20;    // without options
constexpr size_t kIpv4MaxHeaderSize = 60; // IHL 15
constexpr size_t kIpv4MaxDatagram = 65535;
constexpr uint8_t kIpProtocolIcmp = 1;
constexpr uint8_t kIpProtocolTcp = 6;
constexpr uint8_t kIpProtocolUdp = 17;
constexpr uint16_t kIpv4FlagDontFragment = 0x4000;
constexpr uint16_t kIpv4FlagMoreFragments = 0x2000;
constexpr uint16_t kIpv4OffsetMask = 0x1fff;

struct Ipv4Header {
    uint8_t header_length = kIpv4HeaderSize; // bytes (IHL * 4)
    uint8_t tos = 0;
    uint16_t total_length = 0;
    uint16_t id = 0;
    bool dont_fragment = false;
    bool more_fragments = false;
    uint16_t fragment_offset = 0; // bytes (the field * 8)
    uint8_t ttl = 0;
    uint8_t protocol = 0;
    Ipv4Address source;
    Ipv4Address destination;

    bool is_fragment() const { return more_fragments || fragment_offset != 0; }
};

enum class Ipv4Parse : uint8_t {
    Ok,
    Truncated,     // fewer bytes than a header / than IHL says
    BadVersion,
    BadHeaderLength, // IHL < 5
    BadTotalLength,  // total length < IHL * 4 or > the bytes received
    BadChecksum,
    ReservedFlag,    // the reserved (evil) bit set [RFC 791; RFC 3514 is a joke]
};

// Validates and reads the header at `data` (`length` bytes received, padding included).
// The checksum is checked unless `checksum_verified`. Options are skipped (bounded by IHL).
Ipv4Parse parse_ipv4_header(const uint8_t* data, size_t length, bool checksum_verified, Ipv4Header& out);

// Writes a 20-byte header (no options) with its checksum at `out`.
void write_ipv4_header(uint8_t* out, const Ipv4Header& header);

} // namespace net
