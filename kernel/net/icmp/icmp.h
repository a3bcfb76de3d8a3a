// ICMP for IPv4 [RFC 792, RFC 1122 §3.2.2]: echo replies, destination-unreachable errors sent
// under a token-bucket rate limit, and received errors routed to the protocol that sent the
// offending datagram — "fragmentation needed" [RFC 1191 §4] also lowers the path MTU.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/ipv4/ipv4.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Stack;

constexpr size_t kIcmpHeaderSize = 8;
constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpDestinationUnreachable = 3;
constexpr uint8_t kIcmpRedirect = 5;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpTimeExceeded = 11;
constexpr uint8_t kIcmpParameterProblem = 12;
// Destination-unreachable codes [RFC 792].
constexpr uint8_t kIcmpNetUnreachable = 0;
constexpr uint8_t kIcmpHostUnreachable = 1;
constexpr uint8_t kIcmpProtocolUnreachable = 2;
constexpr uint8_t kIcmpPortUnreachable = 3;
constexpr uint8_t kIcmpFragmentationNeeded = 4;
// Time-exceeded codes.
constexpr uint8_t kIcmpTtlExceeded = 0;
constexpr uint8_t kIcmpReassemblyTimeExceeded = 1;

// Per-type counts cover types below this (every type RFC 792 and its successors assign).
constexpr unsigned kIcmpTypesCounted = 64;

struct IcmpStats {
    uint64_t rx_messages = 0;
    uint64_t rx_truncated = 0;
    uint64_t rx_bad_checksum = 0;
    uint64_t rx_echo_requests = 0;
    uint64_t rx_echo_replies = 0;
    uint64_t rx_broadcast_echo = 0; // echo requests to a broadcast address: ignored
    uint64_t rx_errors = 0;         // unreachable / time exceeded / parameter problem accepted
    uint64_t rx_bad_errors = 0;     // an error whose quoted datagram is short, malformed or not ours
    uint64_t rx_fragmentation_needed = 0;
    // Fragmentation needed that did not lower the path-MTU cache although its MTU would have:
    // the quoted datagram lacks DF, or its protocol found no connection/socket of ours it
    // names (TCP: no connection, or a sequence number outside what is outstanding).
    uint64_t rx_pmtu_rejected = 0;
    uint64_t rx_ignored = 0;        // other types (redirect, timestamp, ...)
    uint64_t tx_echo_requests = 0;
    uint64_t tx_echo_replies = 0;
    uint64_t tx_errors = 0;
    uint64_t rate_limited = 0;      // errors not sent for the rate limit
    uint64_t suppressed = 0;        // errors not sent by RFC 1122 §3.2.2's rules
    uint64_t tx_failures = 0;       // allocation or output failed
    uint64_t rx_types[kIcmpTypesCounted] = {}; // messages that passed the checksum, by type
    uint64_t tx_types[kIcmpTypesCounted] = {}; // messages sent, by type
};

class Icmp final : public Ipv4ProtocolHandler {
public:
    static constexpr uint32_t kDefaultRatePerSecond = 100;
    static constexpr uint32_t kDefaultBurst = 20;
    // At most this many bytes of the offending datagram are quoted in an error, keeping the
    // error within the 576 bytes every host accepts [RFC 1812 §4.3.2.3].
    static constexpr size_t kMaxQuote = 576 - kIpv4HeaderSize - kIcmpHeaderSize;

    explicit Icmp(Stack& stack) : m_stack(stack) {}

    void receive(Packet packet, const Ipv4Info& info) override;

    // Sends an error of `type`/`code` about `original`, a received datagram whose IPv4 header
    // is at meta().network_offset (data() may point anywhere after it). Not sent — counted —
    // about an ICMP error, a broadcast/multicast, a non-initial fragment or a source that is
    // not a single host [RFC 1122 §3.2.2], nor beyond the rate limit. `extra` fills the word
    // after the checksum (the next-hop MTU for fragmentation needed).
    void send_error(const Packet& original, uint8_t type, uint8_t code, uint32_t extra = 0);
    // Sends an echo request with `length` bytes of `data`.
    Result<void> send_echo_request(Ipv4Address destination, uint16_t id, uint16_t sequence, const uint8_t* data,
                                   size_t length);
    // Token bucket for errors: `per_second` tokens added per second, at most `burst` kept.
    void set_rate_limit(uint32_t per_second, uint32_t burst);

    const IcmpStats& stats() const { return m_stats; }

private:
    void receive_error(const uint8_t* message, size_t length, const Ipv4Info& info);
    bool take_token();

    Stack& m_stack;
    uint32_t m_rate = kDefaultRatePerSecond;
    uint32_t m_burst = kDefaultBurst;
    uint64_t m_tokens_ns = uint64_t(kDefaultBurst) * 1'000'000'000; // tokens scaled by 1e9
    uint64_t m_last_refill = 0;
    bool m_refilled = false;
    IcmpStats m_stats;
};

} // namespace net
