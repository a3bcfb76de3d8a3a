// A DHCP client [RFC 2131, options RFC 2132] as a state machine with no I/O of its own: the
// caller feeds it received UDP payloads (port 68) and timer ticks, and sends what
// take_outgoing() hands back (UDP 68 → 67). It knows nothing about sockets, threads or real
// time, so every path is testable with a fake clock.
//
//   INIT ──DISCOVER──▶ SELECTING ──OFFER──▶ REQUESTING ──ACK──▶ BOUND
//     ▲                                        │NAK                │T1
//     └────────────────────────────────────────┘            RENEWING (unicast REQUEST)
//     ▲                                                            │T2
//     └──────────── lease expired ──────────────────────── REBINDING (broadcast REQUEST)
//
// Retransmission [§4.1]: 4 s, doubling to 64 s, each ±1 s at random; while renewing and
// rebinding, half the time left to T2 / expiry, at least 60 s [§4.4.5]. The first DISCOVER
// goes out at start(); a server that never answers keeps the client in SELECTING with the
// 64 s period (the caller may fall back to a static address meanwhile).
//
// Replies are device and network input: every field and option is length-checked; a reply
// that does not match our transaction id and hardware address, lacks a message type or
// server identifier, or offers an unusable address (0, broadcast, multicast, loopback) is
// counted and ignored.
#pragma once

#include <net/addr.h>
#include <stddef.h>
#include <stdint.h>

namespace net::dhcp {

constexpr uint16_t kServerPort = 67;
constexpr uint16_t kClientPort = 68;
// The largest message we send, and the one every client must accept [§2].
constexpr size_t kMaxMessageBytes = 576 - 28;
constexpr size_t kMaxDnsServers = 3;

enum class State : uint8_t { Stopped, Selecting, Requesting, Bound, Renewing, Rebinding };

struct Lease {
    Ipv4Address address;
    uint8_t prefix_length = 24;     // from the subnet mask; a class default when absent
    Ipv4Address router;             // any() when the server gave none
    Ipv4Address dns[kMaxDnsServers];
    uint8_t dns_count = 0;
    Ipv4Address server;             // the server identifier
    uint32_t lease_seconds = 0;     // 0xffffffff: infinite
    uint32_t renew_seconds = 0;     // T1
    uint32_t rebind_seconds = 0;    // T2
    uint16_t mtu = 0;               // 0: not given
    char domain[64] = {};           // search domain, NUL-terminated, printable ASCII only
};

struct Outgoing {
    uint8_t bytes[kMaxMessageBytes];
    size_t length = 0;
    Ipv4Address source;       // any() before we have an address
    Ipv4Address destination;  // broadcast, or the server while renewing
};

struct Stats {
    uint64_t sent = 0;
    uint64_t received = 0;
    uint64_t malformed = 0;      // too short, bad cookie, options overrun
    uint64_t not_ours = 0;       // another transaction or hardware address
    uint64_t unusable = 0;       // missing server id / type, an address we cannot use
    uint64_t naks = 0;
};

class Client {
public:
    // `seed` randomises transaction ids and retransmission jitter (from the entropy pool);
    // `hostname` (may be null) is sent as option 12.
    Client(const MacAddress& mac, uint64_t seed, const char* hostname);

    // Starts (or restarts) acquisition: a DISCOVER is ready immediately.
    void start(uint64_t now_ns);
    void stop();

    // A UDP payload that arrived on port 68.
    void on_message(const uint8_t* data, size_t length, uint64_t now_ns);
    // Runs whatever is due at `now_ns` (retransmissions, T1, T2, expiry).
    void on_timer(uint64_t now_ns);
    // When on_timer next has something to do (UINT64_MAX: never).
    uint64_t next_deadline() const { return m_deadline; }

    // The next message to send, if any (at most one is pending at a time).
    bool take_outgoing(Outgoing& out);

    State state() const { return m_state; }
    bool has_lease() const { return m_state == State::Bound || m_state == State::Renewing || m_state == State::Rebinding; }
    const Lease& lease() const { return m_lease; }
    // Changes whenever the lease is gained, changes its parameters, or is lost: the caller
    // reconfigures the interface when it sees a new value.
    uint32_t lease_generation() const { return m_generation; }
    const Stats& stats() const { return m_stats; }

private:
    void send_discover(uint64_t now_ns);
    void send_request(uint64_t now_ns);
    void build(uint8_t type, bool include_requested_address, bool include_server_id);
    uint64_t jitter_ns();
    uint32_t random32();
    void bind(const Lease& lease, uint64_t now_ns);
    void lose_lease(uint64_t now_ns);

    MacAddress m_mac;
    uint64_t m_random;
    char m_hostname[64] = {};
    State m_state = State::Stopped;
    uint32_t m_xid = 0;
    Lease m_lease;
    Lease m_offer;
    uint64_t m_deadline = UINT64_MAX;
    uint64_t m_retransmit_ns = 0; // current back-off
    uint64_t m_bound_at = 0;
    uint64_t m_started_at = 0;    // of this exchange, for the secs field
    unsigned m_request_tries = 0;
    uint32_t m_generation = 0;
    Outgoing m_outgoing;
    bool m_pending = false;
    Stats m_stats;
};

// Writes resolv.conf text for `lease` ("nameserver a.b.c.d" lines, "search domain") into
// `out` (NUL-terminated); returns its length, or 0 when `size` is too small.
size_t format_resolv_conf(const Lease& lease, char* out, size_t size);

} // namespace net::dhcp
