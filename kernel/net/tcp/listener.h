// A listening socket's TCP side [rfc9293 §3.10.7.2]: the SYN queue of half-open connections
// (each a Connection in SYN-RECEIVED that retransmits its own SYN-ACK), the accept queue of
// established connections not yet accepted, and SYN cookies when the SYN queue is full
// [rfc4987 §3.6]. The owner routes to it every segment for the listening port that matches
// no accepted connection; not thread-safe (the owner serialises calls).
#pragma once

#include <lib/result.h>
#include <net/tcp/connection.h>
#include <stddef.h>
#include <stdint.h>

namespace net::tcp {

struct ListenerConfig {
    Config connection;          // for every connection it creates
    size_t backlog = 128;       // accept queue (listen()'s argument)
    size_t syn_backlog = 256;   // half-open connections
    bool syn_cookies = true;    // answer SYNs statelessly when the SYN queue is full
    HashKey cookie_key;         // secret for the cookies
};

struct ListenerStats {
    uint64_t syns_received = 0;
    uint64_t syn_queue_full = 0;      // SYNs that found the SYN queue full
    uint64_t accept_queue_full = 0;   // SYNs or final ACKs dropped for a full accept queue
    uint64_t cookies_sent = 0;
    uint64_t cookies_accepted = 0;
    uint64_t cookies_rejected = 0;    // ACKs whose cookie did not verify (answered by RST)
    uint64_t resets_sent = 0;
    uint64_t dropped = 0;             // RSTs and other segments without a connection
    uint64_t allocation_failures = 0;
    uint64_t half_open_expired = 0;   // SYN-ACK retransmits exhausted or reset
};

class Listener {
public:
    // Errno::NOMEM. The caller owns the result.
    static Result<Listener*> create(const ListenerConfig& config, Output& output);
    ~Listener();
    Listener(const Listener&) = delete;
    Listener& operator=(const Listener&) = delete;

    // A segment to the listening port (any local address) that matched no accepted
    // connection.
    void on_segment(const Segment& segment, Instant now);
    void on_timer(Instant now);
    Instant next_deadline() const;

    // The oldest established connection, or nullptr. The caller owns it from now on.
    Connection* accept();

    size_t half_open() const { return m_syn_count; }
    size_t ready() const { return m_accept_count; }
    const ListenerStats& stats() const { return m_stats; }

    // SYN cookies, exposed for the tests. The ISN carries a 5-bit time counter (64 s
    // periods), a 3-bit MSS index and a 24-bit keyed hash over the tuple, the counter, the
    // peer's ISN, the MSS index and the option bits; with timestamps, the option bits
    // (window scale, SACK) ride in the low 6 bits of our TSval.
    struct Cookie {
        uint32_t isn = 0;
        bool has_timestamp = false;
        uint32_t ts_value = 0;
    };
    Cookie make_cookie(const Segment& syn, Instant now) const;
    // Checks the final ACK of a cookie handshake; fills `options` when it verifies.
    bool check_cookie(const Segment& ack, Instant now, NegotiatedOptions& options) const;

private:
    Listener(const ListenerConfig& config, Output& output);
    void send_cookie_syn_ack(const Segment& syn, Instant now);
    void promote_established();
    void reap_closed();
    uint32_t cookie_hash(const FourTuple& tuple, uint32_t counter, uint32_t peer_isn,
                         uint32_t mss_index, uint32_t option_bits) const;

    // The configuration of the next connection: the listener's, with the next transmit queue
    // key (round robin from the listener's own, so that its connections spread over queues).
    Config next_connection_config();

    ListenerConfig m_config;
    Output& m_output;
    uint32_t m_next_tx_queue_key = 0;
    Connection** m_syn_queue = nullptr; // m_syn_count entries used
    size_t m_syn_count = 0;
    Connection** m_accept_queue = nullptr; // FIFO, m_accept_count entries from index 0
    size_t m_accept_count = 0;
    ListenerStats m_stats;
};

} // namespace net::tcp
