// The IPv4 routing table: longest-prefix match over a small fixed array (a host has a few
// routes: one connected route per interface address, loopback 127/8, a default gateway).
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <stddef.h>
#include <stdint.h>

namespace net {

class Interface;

struct Route {
    Ipv4Address network;
    uint8_t prefix_length = 0;
    Ipv4Address gateway; // any: the destination is on the link (a connected route)
    Interface* interface = nullptr;
};

// Where to send a datagram: the interface and the neighbour that gets the frame.
struct RouteDecision {
    Interface* interface = nullptr;
    Ipv4Address next_hop;
};

class RouteTable {
public:
    static constexpr size_t kMaxRoutes = 32;

    // Adds a route (the network is masked to its prefix). EXIST if the same network/prefix
    // is already routed, NOSPC when full, INVAL for a prefix > 32 or no interface.
    Result<void> add(Route route);
    // Removes the route for exactly network/prefix; NOENT if none.
    Result<void> remove(Ipv4Address network, uint8_t prefix_length);
    void remove_interface(const Interface& interface);
    // Longest-prefix match; among equal prefixes the earliest added wins. NETUNREACH if none.
    Result<RouteDecision> lookup(Ipv4Address destination) const;
    size_t count() const { return m_count; }
    // The route at `index` (below count(), in the order added), or nullptr.
    const Route* at(size_t index) const { return index < m_count ? &m_routes[index] : nullptr; }

private:
    Route m_routes[kMaxRoutes];
    size_t m_count = 0;
};

// Path MTUs learnt from ICMP "fragmentation needed" [RFC 1191]: a small bounded cache keyed by
// destination, entries expiring after kLifetimeNs (RFC 1191 §6.3 suggests ten minutes) so a
// path that grew is found again. When full, the entry closest to expiry is replaced.
class PmtuCache {
public:
    static constexpr size_t kSize = 64;
    static constexpr uint64_t kLifetimeNs = 600'000'000'000;
    // Reported MTUs below this are raised to it: RFC 1191 allows 68, but forged ICMP would
    // then force tiny fragments; common practice floors at 552 (we use 576, RFC 791's minimum
    // datagram every host accepts).
    static constexpr uint32_t kMinMtu = 576;

    // Records `mtu` for `destination` (only lowers an existing entry; floors at kMinMtu).
    void update(Ipv4Address destination, uint32_t mtu, uint64_t now);
    // The cached MTU for `destination`, or 0 if none (or expired).
    uint32_t lookup(Ipv4Address destination, uint64_t now) const;
    // Whether no entry is held (lookup() finds nothing): callers skip reading the clock.
    bool is_empty() const { return m_used == 0; }
    void poll(uint64_t now);
    uint64_t next_deadline() const;
    size_t count() const;

private:
    struct Entry {
        Ipv4Address destination;
        uint32_t mtu = 0; // 0: free
        uint64_t expires = 0;
    };
    Entry m_entries[kSize];
    // Entries with mtu != 0 (expired ones included until poll() frees them). Usually 0: then
    // lookup() (every datagram sent) and next_deadline() (every socket call) skip the scan.
    size_t m_used = 0;
};

} // namespace net
