// Ethernet II framing [IEEE 802.3 §3.2.6 (Length/Type), RFC 894]: parse and build the 14-byte
// header, accept frames addressed to us, and dispatch IPv4 and ARP.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Interface;
class Stack;

constexpr size_t kEtherHeaderSize = 14;
constexpr size_t kEtherMinFrame = 60; // without the FCS; shorter frames are padded on output
constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint16_t kEtherTypeVlan = 0x8100; // IEEE 802.1Q
constexpr uint16_t kEtherTypeQinQ = 0x88a8; // IEEE 802.1ad

// The header's fields, parsed (the wire form is never cast to a struct).
struct EtherHeader {
    MacAddress destination;
    MacAddress source;
    uint16_t type = 0;
};

// Reads a header from `length` bytes at `data`; false if shorter than kEtherHeaderSize.
bool parse_ether_header(const uint8_t* data, size_t length, EtherHeader& out);
// Writes the header's 14 bytes at `out`.
void write_ether_header(uint8_t* out, const EtherHeader& header);

struct EtherStats {
    uint64_t rx_frames = 0;       // every frame handed to input
    uint64_t rx_runt = 0;         // shorter than the header
    uint64_t rx_vlan = 0;         // 802.1Q / 802.1ad tagged: not supported, dropped
    uint64_t rx_not_for_us = 0;   // unicast to another MAC, or a multicast group not joined
    uint64_t rx_bad_source = 0;   // source MAC multicast/broadcast
    uint64_t rx_unknown_type = 0; // not IPv4 or ARP (includes 802.3 length fields)
    uint64_t tx_frames = 0;
    uint64_t tx_errors = 0;       // no headroom, or the driver refused the frame
};

// The Ethernet layer of one Stack. Runs in the stack's network context (see stack.h).
class Ether {
public:
    explicit Ether(Stack& stack) : m_stack(stack) {}

    // A received frame: data() at the Ethernet header. Consumes it.
    void input(Interface& interface, Packet frame);
    // Prepends the header to `packet` (data() at the payload) and transmits it on
    // `interface`, padding to the minimum frame size. Consumes the packet.
    Result<void> output(Interface& interface, Packet packet, MacAddress destination, uint16_t type);

    const EtherStats& stats() const { return m_stats; }

private:
    Stack& m_stack;
    EtherStats m_stats;
};

} // namespace net
