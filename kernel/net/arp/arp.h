// ARP for IPv4 over Ethernet [RFC 826]: the neighbour cache, requests and replies, gratuitous
// announcements, and resolve() — the IPv4 layer's way to send a packet to a next hop.
//
// Cache entries move between three states:
//   Incomplete  a request is out; up to kQueuePerEntry packets wait. Requests are repeated
//               kRetryIntervalNs apart, kMaxProbes in all; then the entry and its packets are
//               dropped (counted in unresolved_drops).
//   Reachable   confirmed (a reply to us, or a request for our address) within kReachableNs.
//   Stale       not confirmed lately but still used for sending; the first use sends a
//               unicast re-probe (repeated like Incomplete's; no answer → the entry goes).
//               An unused Stale entry is collected after kStaleLifetimeNs.
// Any ARP packet from a sender already in the cache updates its MAC (RFC 826's merge flag).
// The cache is bounded (kCacheSize); when full, the least recently used entry that has no
// queued packets is evicted.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/packet.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Interface;
class Stack;

constexpr size_t kArpPacketSize = 28; // Ethernet/IPv4 ARP [RFC 826 "Packet format"]
constexpr uint16_t kArpOpRequest = 1;
constexpr uint16_t kArpOpReply = 2;

// An ARP packet's fields for Ethernet hardware and IPv4 protocol addresses.
struct ArpPacket {
    uint16_t operation = 0;
    MacAddress sender_mac;
    Ipv4Address sender_ip;
    MacAddress target_mac;
    Ipv4Address target_ip;
};

enum class ArpParse : uint8_t { Ok, Truncated, BadFormat, BadOperation };
// Parses an Ethernet/IPv4 ARP packet (htype 1, ptype 0x0800, hlen 6, plen 4, op 1 or 2).
ArpParse parse_arp_packet(const uint8_t* data, size_t length, ArpPacket& out);
// Writes kArpPacketSize bytes.
void write_arp_packet(uint8_t* out, const ArpPacket& packet);

enum class ArpState : uint8_t { Free, Incomplete, Reachable, Stale };

struct ArpStats {
    uint64_t rx_packets = 0;
    uint64_t rx_truncated = 0;
    uint64_t rx_bad_format = 0;    // hardware/protocol type or address lengths not Ethernet/IPv4
    uint64_t rx_bad_operation = 0;
    uint64_t rx_bad_sender = 0;    // sender MAC multicast, sender IP broadcast/multicast/loopback
    uint64_t rx_conflicts = 0;     // another host claims our address
    uint64_t rx_requests = 0;      // requests for our address
    uint64_t rx_replies = 0;
    uint64_t tx_requests = 0;      // including re-probes
    uint64_t tx_replies = 0;
    uint64_t tx_gratuitous = 0;
    uint64_t queued = 0;           // packets parked on an Incomplete entry
    uint64_t queue_overflows = 0;  // oldest parked packet dropped for a newer one
    uint64_t resolution_failures = 0; // entries given up after kMaxProbes unanswered requests
    uint64_t unresolved_drops = 0; // parked packets dropped with their failed entry
    uint64_t cache_full = 0;       // resolve() found no entry to evict: packet dropped
};

class Arp {
public:
    static constexpr size_t kCacheSize = 64;
    // Enough for a whole 64 KiB datagram in fragments (45 at MTU 1500) while the neighbour is
    // resolved: with fewer, the first datagram to a new neighbour loses its first fragments.
    static constexpr size_t kQueuePerEntry = 64;
    static constexpr unsigned kMaxProbes = 3;
    static constexpr uint64_t kRetryIntervalNs = 1'000'000'000;
    static constexpr uint64_t kReachableNs = 30'000'000'000;
    static constexpr uint64_t kStaleLifetimeNs = 600'000'000'000;

    explicit Arp(Stack& stack) : m_stack(stack) {}
    Arp(const Arp&) = delete;
    Arp& operator=(const Arp&) = delete;

    // Sends `packet` (an IPv4 packet, data() at its header) to `next_hop` on `interface`:
    // at once if the MAC is known (broadcast and multicast map directly), else parks it on an
    // Incomplete entry and sends a request. Consumes the packet. Errors: NOBUFS (cache full of
    // entries that cannot be evicted), or the driver's transmit error.
    Result<void> resolve(Interface& interface, Ipv4Address next_hop, Packet packet);
    // A received ARP packet (data() after the Ethernet header). Consumes it.
    void input(Interface& interface, Packet packet);
    // Broadcasts a gratuitous ARP request for the interface's address (sender = target = it).
    void announce(Interface& interface);
    // Forgets every entry of `interface` (address change, removal), dropping parked packets.
    void flush(Interface& interface);

    void poll(uint64_t now_ns);
    // No later than the earliest timer among entries (UINT64_MAX when none): exact after a
    // poll() at or past it; a timer that went away (entry freed or confirmed) may leave it
    // early, which costs one poll that finds nothing due. O(1): the stack asks after every
    // socket call.
    uint64_t next_deadline() const { return m_earliest; }

    // For tests and /proc: the entry for (interface, address), if any.
    bool lookup(const Interface& interface, Ipv4Address address, MacAddress& mac, ArpState& state) const;
    size_t entry_count() const;
    const ArpStats& stats() const { return m_stats; }

private:
    struct Entry {
        ArpState state = ArpState::Free;
        uint8_t probes = 0; // requests sent in the current Incomplete / Stale re-probe round
        Interface* interface = nullptr;
        Ipv4Address address;
        MacAddress mac;
        uint64_t deadline = 0;  // next retry, Reachable→Stale, or Stale collection
        uint64_t last_used = 0; // for eviction
        PacketQueue parked;
    };

    Entry* find(const Interface& interface, Ipv4Address address);
    const Entry* find(const Interface& interface, Ipv4Address address) const;
    Entry* allocate_entry();
    void release(Entry& entry);
    // Sets the entry's timer and lowers m_earliest to it.
    void arm(Entry& entry, uint64_t deadline);
    void confirm(Entry& entry, MacAddress mac, uint64_t now);
    void send_request(Interface& interface, Ipv4Address target, const MacAddress* unicast);
    void send_reply(Interface& interface, const ArpPacket& request);
    Result<void> send_to(Interface& interface, MacAddress mac, Packet packet);

    Stack& m_stack;
    Entry m_entries[kCacheSize];
    uint64_t m_earliest = UINT64_MAX; // see next_deadline()
    ArpStats m_stats;
};

} // namespace net
