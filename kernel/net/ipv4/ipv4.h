// The IPv4 layer [RFC 791, RFC 1122 §3]: input validation, local delivery by protocol number
// to registered handlers, reassembly, output with routing, fragmentation and path MTU. A host,
// not a router: datagrams for other addresses are dropped, never forwarded.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/ipv4/header.h>
#include <net/ipv4/reassembly.h>
#include <net/ipv4/route.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Interface;
class Stack;

// What a protocol handler learns about a received datagram besides its payload.
struct Ipv4Info {
    Interface* interface = nullptr;
    Ipv4Address source;
    Ipv4Address destination;
    uint8_t protocol = 0;
    uint8_t ttl = 0;
    uint8_t tos = 0;
    bool broadcast = false; // sent to a broadcast or multicast address
};

// An ICMP error about a datagram we sent [RFC 792, RFC 1122 §3.2.2], as handed to the
// protocol that sent it. `source`/`destination` are the original datagram's (so `source` is
// ours); `transport` points at the original's transport header, `transport_length` >= 8
// bytes of it. Valid only during the callback.
struct IcmpErrorInfo {
    uint8_t type = 0;
    uint8_t code = 0;
    uint32_t mtu = 0; // next-hop MTU for "fragmentation needed" (type 3 code 4), else 0
    Ipv4Address source;
    Ipv4Address destination;
    uint8_t protocol = 0;
    const uint8_t* transport = nullptr;
    size_t transport_length = 0;
};

// A transport protocol (ICMP, UDP, TCP later) registered with Ipv4::register_protocol.
// Called in the stack's network context.
class Ipv4ProtocolHandler {
public:
    virtual ~Ipv4ProtocolHandler() = default;
    // A datagram for us: data() at the transport header (IPv4 header pulled, its offset in
    // meta().network_offset), trimmed to the datagram's length. Consumes it.
    virtual void receive(Packet packet, const Ipv4Info& info) = 0;
    // An ICMP error about a datagram of this protocol that we sent. True when it names live
    // traffic of ours the protocol checked (TCP: a connection with the quoted sequence number
    // outstanding; UDP: a bound socket): only then may a fragmentation-needed lower the
    // path-MTU cache, which every later datagram to that destination obeys.
    virtual bool icmp_error(const IcmpErrorInfo&) { return false; }
};

// Whether output sets DF: by protocol (TCP yes — it does path-MTU discovery [RFC 1191] —
// others as their PmtuDiscovery says), or forced either way.
enum class DontFragment : uint8_t { ByProtocol, Set, Clear };

// Path-MTU discovery for a datagram (IP_MTU_DISCOVER; Linux's IP_PMTUDISC_* values and rules):
//   Dont       no DF; beyond the path MTU fragmented here
//   Want       DF when it fits the path MTU, else fragmented here without DF
//   Do         DF; beyond the path MTU MSGSIZE
//   Probe      DF; the interface's MTU applies (the path's is ignored), beyond it MSGSIZE
//   Interface  no DF; the interface's MTU, beyond it MSGSIZE
//   Omit       no DF; the interface's MTU, beyond it fragmented here
enum class PmtuDiscovery : uint8_t { Dont = 0, Want = 1, Do = 2, Probe = 3, Interface = 4, Omit = 5 };

inline constexpr uint8_t kIpv4DefaultTtl = 64; // RFC 1700; Linux's net.ipv4.ip_default_ttl

// The header fields a socket chooses for what it sends (IP_TOS, IP_TTL, IP_MTU_DISCOVER). By
// default what the stack's own datagrams use; a socket's default discovery is Want (Linux's,
// with net.ipv4.ip_no_pmtu_disc 0).
struct Ipv4HeaderChoice {
    uint8_t tos = 0;
    uint8_t ttl = kIpv4DefaultTtl;
    PmtuDiscovery pmtu_discovery = PmtuDiscovery::Dont;
};

struct Ipv4OutputParams {
    Ipv4Address source;      // any: the outgoing interface's address
    Ipv4Address destination;
    uint8_t protocol = 0;
    uint8_t ttl = kIpv4DefaultTtl;
    uint8_t tos = 0;
    DontFragment dont_fragment = DontFragment::ByProtocol;
    PmtuDiscovery pmtu_discovery = PmtuDiscovery::Dont; // non-TCP under ByProtocol
    Interface* interface = nullptr; // forces the interface (limited broadcast, DHCP); else routed
};

struct Ipv4Stats {
    uint64_t rx_packets = 0;
    uint64_t rx_truncated = 0;
    uint64_t rx_bad_version = 0;
    uint64_t rx_bad_header_length = 0;
    uint64_t rx_bad_total_length = 0;
    uint64_t rx_bad_checksum = 0;
    uint64_t rx_reserved_flag = 0;
    uint64_t rx_ttl_zero = 0;
    uint64_t rx_martian_source = 0;  // multicast/broadcast/loopback-on-the-wire source
    uint64_t rx_not_for_us = 0;      // not one of our addresses (we do not forward)
    uint64_t rx_unknown_protocol = 0;
    uint64_t rx_delivered = 0;
    uint64_t tx_packets = 0;
    uint64_t tx_no_route = 0;
    uint64_t tx_too_big = 0;         // larger than the MTU that applies, not to be fragmented
    uint64_t tx_fragmented = 0;      // datagrams sent as fragments
    uint64_t tx_fragments = 0;       // fragments created
    uint64_t tx_errors = 0;          // no headroom / memory / driver refused
    uint64_t tx_gso_segments = 0;    // TCP segments cut from super-segments in software
};

class Ipv4 {
public:
    explicit Ipv4(Stack& stack);
    Ipv4(const Ipv4&) = delete;
    Ipv4& operator=(const Ipv4&) = delete;

    // Registers the handler for IP protocol `protocol` (1 ICMP, 6 TCP, 17 UDP). EXIST if taken.
    Result<void> register_protocol(uint8_t protocol, Ipv4ProtocolHandler& handler);
    void unregister_protocol(uint8_t protocol);
    Ipv4ProtocolHandler* handler(uint8_t protocol) const { return m_handlers[protocol]; }

    // A received datagram (data() at the IPv4 header). Consumes it.
    void input(Interface& interface, Packet packet);
    // Sends `packet` (data() at the transport header) as one datagram, fragmenting it when it
    // exceeds the path MTU and DF is clear. A TCP super-segment (PacketMeta::gso_type) is never
    // fragmented: it goes whole to an interface with tso4 whose pieces fit the path, else it
    // is cut into TCP segments here (software GSO). Consumes the packet. Errors: NETUNREACH (no
    // route), MSGSIZE (too big with DF), NOBUFS/NOMEM, NETDOWN, ADDRNOTAVAIL (no source).
    Result<void> output(Packet packet, const Ipv4OutputParams& params);

    // The route for `destination`: to one of our own addresses it is the loopback interface.
    Result<RouteDecision> route(Ipv4Address destination) const;
    // The MTU output would use toward `destination` (interface MTU, lowered by path MTU).
    uint32_t path_mtu(Ipv4Address destination) const;
    // True for an address of one of our interfaces or 127.0.0.0/8.
    bool is_local_address(Ipv4Address address) const;

    RouteTable& routes() { return m_routes; }
    const RouteTable& routes() const { return m_routes; }
    PmtuCache& pmtu() { return m_pmtu; }
    const Reassembler& reassembler() const { return m_reassembler; }
    const Ipv4Stats& stats() const { return m_stats; }

    void poll(uint64_t now);
    uint64_t next_deadline() const;

private:
    // path_mtu() for a destination already routed through `interface`.
    uint32_t path_mtu_via(const Interface& interface, Ipv4Address destination) const;
    void deliver(Packet packet, const Ipv4Header& header, bool broadcast);
    Result<void> transmit(Interface& interface, Ipv4Address next_hop, Packet packet);
    Result<void> fragment(Interface& interface, Ipv4Address next_hop, Packet packet, uint32_t mtu);
    Result<void> segment_tcp(Interface& interface, Ipv4Address next_hop, Packet packet, uint32_t mtu);
    // The cutting loop the two above share (ipv4.cc).
    template <typename FixUp>
    Result<void> cut_and_send(Interface& interface, Ipv4Address next_hop, const Packet& packet, size_t headers,
                              size_t chunk, uint64_t& sent, FixUp&& fix_up);

    Stack& m_stack;
    Ipv4ProtocolHandler* m_handlers[256] = {};
    RouteTable m_routes;
    PmtuCache m_pmtu;
    Reassembler m_reassembler;
    uint16_t m_next_id;
    Ipv4Stats m_stats;
};

// Completes a transport checksum left to the device (PacketMeta::checksum_needed) in software,
// for a device without the offload or before fragmentation.
void complete_checksum(Packet& packet);

} // namespace net
