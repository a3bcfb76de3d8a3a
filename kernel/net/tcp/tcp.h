// TCP's place in a Stack: the endpoints that sockets own, the tables that find them (ports,
// listeners, connections by 4-tuple), their timers, and the way segments take to and from
// IPv4. The state machines themselves are Connection and Listener; this layer owns them,
// feeds them segments and time, and turns what they emit into packets.
//
// Endpoints. A socket opens an Endpoint and drives it through bind, listen or connect,
// accept, read and write. When the socket closes it releases the endpoint: a connection then
// finishes on its own (FIN exchange, TIME-WAIT) as an orphan and is freed when it reaches
// CLOSED; a listener resets the connections nobody accepted.
//
// Concurrency: like the rest of the Stack, not synchronised — every call (the socket layer's,
// the receive path's, poll) in the stack's context — except classify(), which a receive
// thread calls beside it (net channels, channel.h): it queues an established connection's
// segments on the connection's channel, and every entry point that takes the endpoint
// processes them first, in the stack's context. Observers are called in that context, but
// for packets_queued (from the receive thread).
//
// Output is deferred. A connection emits segments synchronously from inside its methods and
// must not be re-entered (connection.h); a segment sent over the loopback interface is
// processed at once, and its answer would reach the sender mid-call. So segments wait in a
// queue and leave when the outermost Tcp entry point returns (flush): by then no connection
// method is on the stack.
//
// Timers: every endpoint sits in a binary min-heap keyed by its next deadline (the
// connection's, or the earliest of a listener's half-open connections), updated after every
// call into it, so next_deadline is O(1) and poll visits only endpoints that are due.
#pragma once

#include <lib/result.h>
#include <net/addr.h>
#include <net/channel/channel.h>
#include <net/channel/flow_table.h>
#include <net/ipv4/ipv4.h>
#include <net/mib.h>
#include <net/packet.h>
#include <net/tcp/connection.h>
#include <net/tcp/listener.h>
#include <net/tcp/segment.h>
#include <stddef.h>
#include <stdint.h>

namespace net {
class Stack;
}

namespace net::tcp {

class Tcp;

// The owner of an endpoint (a socket) hears here that something it may wait for changed:
// data or end of stream to read, room to write, connected, an error, a connection to
// accept. Called in the stack's context; must not call into the Tcp.
//
// It also hears, as the listener of the connection's net channel, that segments were queued
// for it by a receive thread (packets_queued: outside the stack's context; by default the
// same notification). Whatever it may wait for is decided once those are processed — in the
// owner's next call (status, read, write ...), which processes them first.
class Observer : public ChannelListener {
public:
    virtual void endpoint_changed() = 0;
    void packets_queued() override { endpoint_changed(); }

protected:
    ~Observer() = default;
};

enum class EndpointKind : uint8_t {
    Open,       // fresh: neither bound nor connected
    Bound,      // holds a local address and port
    Listening,  // has a Listener
    Connection, // has a Connection (connecting, connected, or finished)
};

// Poll-style readiness of an endpoint, derived from its connection or listener.
struct EndpointStatus {
    bool readable = false;  // read() would not block (data, end of stream, an error)
    bool writable = false;  // write() would take bytes now
    bool error = false;     // an error is pending (read()/write() report it)
    bool hangup = false;    // both directions are finished, or the connection was reset
    bool read_hangup = false; // the peer sent FIN, or reading was shut down
    bool connecting = false;  // a handshake is in progress
    bool connected = false;   // the handshake completed at some point
    size_t readable_bytes = 0;
    Errno pending_error = Errno(0); // taken by take_error
    bool sending = false;     // data or a FIN the peer has not acknowledged yet
};

class Endpoint final : private Output {
public:
    EndpointKind kind() const { return m_kind; }
    // The local address and port (Open: 0.0.0.0:0); the peer's (connections only).
    Ipv4Endpoint local() const { return m_local; }
    Ipv4Endpoint remote() const { return m_remote; }
    const Config& config() const { return m_config; }
    // Only for the kinds that have them; nullptr otherwise.
    const Connection* connection() const { return m_connection; }
    const Listener* listener() const { return m_listener; }
    bool reuse_address() const { return m_reuse_address; }
    bool reuse_port() const { return m_reuse_port; }

private:
    friend class Tcp;
    Endpoint(Tcp& tcp, Observer* observer, const Config& config) : m_tcp(tcp), m_observer(observer), m_config(config) {}
    ~Endpoint() = default;

    // Output for the connection or the listener (and the listener's connections).
    void transmit(const OutgoingSegment& segment) override;
    void state_changed(Connection&) override;

    Tcp& m_tcp;
    Observer* m_observer; // null once released
    Config m_config;
    EndpointKind m_kind = EndpointKind::Open;
    bool m_reuse_address = false;
    bool m_reuse_port = false;
    bool m_released = false;
    bool m_read_shutdown = false;
    bool m_bound = false; // linked in the port table
    Ipv4Endpoint m_local;
    Ipv4Endpoint m_remote;
    Connection* m_connection = nullptr;
    Listener* m_listener = nullptr;
    Endpoint* m_next_in_port = nullptr; // port table chain
    // The connection's net channel, which holds its entry in the connection table (owner:
    // the channel; the channel's endpoint is this). Linked while the connection is.
    Channel* m_channel = nullptr;
    Instant m_deadline = kNever;
    size_t m_heap_index = 0;
};

struct TcpStats {
    uint64_t rx_segments = 0;
    uint64_t rx_broadcast = 0;     // to a broadcast or multicast address: dropped
    uint64_t rx_no_endpoint = 0;   // no connection or listener: answered with RST
    uint64_t tx_segments = 0;
    uint64_t tx_errors = 0;        // IPv4 refused (no route, no memory, too big ...)
    uint64_t tx_no_memory = 0;     // no packet for a segment (the peer retransmits)
    uint64_t connections_opened = 0; // active opens
    uint64_t connections_accepted = 0;
    uint64_t orphans_reaped = 0;   // released connections freed after reaching CLOSED
    uint64_t reopened = 0;         // TIME-WAIT connections replaced by a new SYN
    uint64_t icmp_errors = 0;
    uint64_t icmp_ignored = 0;     // quoting no connection's outstanding sequence numbers
    uint64_t acks_coalesced = 0;   // pure ACKs a later segment of the same burst made redundant
    uint64_t rx_channel = 0;       // segments taken off net channels
};

class Tcp final : public Ipv4ProtocolHandler, private Output {
public:
    static constexpr uint16_t kEphemeralFirst = 49152; // RFC 6335 §6 dynamic ports
    static constexpr uint16_t kEphemeralLast = 65535;
    static constexpr size_t kMaxBacklog = 4096; // Linux's net.core.somaxconn
    static constexpr size_t kPortBuckets = 256;

    // `seed` keys the secrets (ISNs, timestamp offsets, SYN cookies, the connection table's
    // hash); the kernel passes entropy from boot.
    Tcp(Stack& stack, uint64_t seed);
    ~Tcp();
    Tcp(const Tcp&) = delete;
    Tcp& operator=(const Tcp&) = delete;

    // --- endpoints ---

    // A new endpoint for `observer`, kind Open, with the default configuration. NOMEM.
    Result<Endpoint*> open(Observer& observer);
    // The owner lets go and must not touch the endpoint again. A connection closes
    // gracefully (RST when unread data is left [rfc9293 §3.10.4]) and is freed once CLOSED;
    // with `abort` (SO_LINGER with a zero timeout) it is reset at once. A listener resets the
    // connections it has not handed out.
    void release(Endpoint& endpoint, bool abort = false);

    // Options. Buffer sizes apply to connections opened later (BUSY for an open connection
    // is not reported: as Linux, the value is kept and takes effect where it can).
    void set_reuse(Endpoint& endpoint, bool reuse_address, bool reuse_port);
    void set_buffer_sizes(Endpoint& endpoint, size_t send_size, size_t receive_size);
    void set_nodelay(Endpoint& endpoint, bool nodelay);
    void set_cork(Endpoint& endpoint, bool cork);
    void set_keepalive(Endpoint& endpoint, bool enabled, Duration idle, Duration interval, unsigned count);
    // IP_TOS / IP_TTL (Config::ip_tos, ip_ttl) and DF (Config::ip_dont_fragment: Linux sets it
    // for IP_MTU_DISCOVER WANT and DO only) for the segments sent from now on; the TOS's ECN
    // bits are ignored. (ttl 0 is the caller's mistake: Linux refuses it in setsockopt.)
    void set_ip_header(Endpoint& endpoint, uint8_t tos, uint8_t ttl, bool dont_fragment = true);

    // Binds to `local` (port 0: an ephemeral port). INVAL (not Open), ADDRNOTAVAIL (not one of
    // our addresses), ADDRINUSE (the rules of SO_REUSEADDR / SO_REUSEPORT), AGAIN (no
    // ephemeral port free).
    Result<void> bind(Endpoint& endpoint, Ipv4Endpoint local);
    // Starts listening with room for `backlog` connections nobody accepted yet (clamped to
    // [1, kMaxBacklog]); binds an ephemeral port first if Open. Listening again is allowed
    // and keeps the queues. INVAL for a connection, ADDRINUSE if another listener holds
    // the address, NOMEM.
    Result<void> listen(Endpoint& endpoint, size_t backlog);
    // Starts the handshake toward `remote` (the owner waits for EndpointStatus::connected or
    // an error). ISCONN (connected or finished), ALREADY (connecting), INVAL (listening),
    // NETUNREACH, ADDRNOTAVAIL (no local port / address, or the 4-tuple is in use),
    // CONNREFUSED for port 0 is left to the peer. NOMEM.
    Result<void> connect(Endpoint& endpoint, Ipv4Endpoint remote);
    // The oldest connection the listener completed, as a new endpoint for `observer`.
    // AGAIN when none is ready, INVAL when not listening, NOMEM.
    Result<Endpoint*> accept(Endpoint& listener, Observer& observer);

    // Queues up to `length` bytes from `data` (starting at `offset` in it). Connection's send
    // errors (AGAIN, PIPE, NOTCONN, the pending error), FAULT from the buffer.
    Result<size_t> write(Endpoint& endpoint, UserBuffer& data, size_t offset, size_t length);
    // Takes (or with `peek` copies) up to `length` received bytes into `out` at `offset`;
    // 0 at end of stream. AGAIN, NOTCONN, the pending error, FAULT.
    Result<size_t> read(Endpoint& endpoint, UserBuffer& out, size_t offset, size_t length, bool peek);
    // shutdown(2): `read` stops reading (read() returns 0 once the buffer is drained),
    // `write` sends FIN after the queued data. NOTCONN unless a connection.
    Result<void> shutdown(Endpoint& endpoint, bool read, bool write);

    // (Processes the segments queued on the endpoint's channel first, as every entry point
    // that takes an endpoint does.)
    EndpointStatus status(Endpoint& endpoint);
    // status().connecting alone (a handshake in progress), without the rest of status() —
    // recv and send ask it on every call. Nothing needs draining for it: a channel accepts
    // segments only once the connection is synchronised, and it never goes back.
    bool connecting(const Endpoint& endpoint) const;
    // SO_ERROR: the connection's pending error, once (0 if none).
    Errno take_error(Endpoint& endpoint);

    // --- net channels (channel.h) ---

    // The receive thread's step, outside the stack's context, inside a read-side section:
    // `segment` (data() at the Ethernet header, `ip` its parsed IPv4 header, the TCP header
    // at `tcp_offset` from data()) belongs to an established connection with an open
    // channel: it is queued there and the channel returned with a reference the caller
    // drops (Channel::unref) after it notified (Channel::notify). Otherwise null and the
    // packet is left as it was for the ordinary path: no such connection, a SYN or RST, a
    // full channel, a flow diverted in this burst.
    Channel* classify(Packet& segment, const Ipv4Header& ip, size_t tcp_offset, Interface& from,
                      const ReceiveBurst& burst, bool& was_empty);
    // Processes what waits on every channel (the sweep: segments queued while nobody called
    // in for the connection, e.g. ACKs for a socket only written to now and then).
    void drain_channels();
    // How channels are freed (default: at once — only right without concurrent receive
    // threads). The kernel defers them past an RCU grace period.
    void set_channel_retire(Channel::RetireFn retire, void* context)
    {
        m_channel_retire = retire;
        m_channel_retire_context = context;
    }
    ChannelStats& channel_stats() { return m_channel_stats; }

    // --- the stack's side ---

    // A segment for us (data() at the TCP header).
    void receive(Packet packet, const Ipv4Info& info) override;
    bool icmp_error(const IcmpErrorInfo& error) override;
    // A burst of received frames is about to be handed in (begin) / has been (end): segments
    // wait until the end, and a pure ACK that a later segment of the same connection in the
    // burst supersedes (it acknowledges more) is not sent — one ACK per burst, as from a host
    // whose NIC aggregates received segments. Nests with the entry points' own batches.
    void begin_batch() { m_depth++; }
    void end_batch();
    // Runs every timer due at `now_ns`.
    void poll(uint64_t now_ns);
    // The earliest timer deadline in ns; UINT64_MAX when none is armed.
    uint64_t next_deadline() const;

    // The configuration new endpoints start from (tests shorten timers through it).
    Config& defaults() { return m_defaults; }
    const TcpStats& stats() const { return m_stats; }
    // Adds TCP's MIB counters (net/mib.h): the layer's, every live connection's and listener's,
    // and those of connections and listeners already freed.
    void add_mib(Mib& mib) const;
    const ParseStats& parse_stats() const { return m_parse_stats; }
    size_t endpoint_count() const { return m_heap_size; }
    // Connections that still have data or a FIN the peer has not acknowledged (the VM waits
    // for them, bounded, before it powers off after the application's exit).
    size_t connections_sending() const;
    size_t connection_count() const { return m_flows.size(); }

private:
    friend class Endpoint;
    class Batch;

    Instant now() const;
    void transmit(const OutgoingSegment& segment) override; // RSTs for no endpoint
    uint32_t take_tx_queue_key();
    void queue_segment(const OutgoingSegment& segment, uint8_t tos, uint8_t ttl, bool dont_fragment);
    void flush();
    void settle(Endpoint& endpoint);
    void destroy(Endpoint& endpoint);
    Result<Endpoint*> create_endpoint(Observer* observer, const Config& config);

    // Port table.
    bool conflicts(const Endpoint& endpoint, Ipv4Endpoint local, bool listening) const;
    Result<uint16_t> pick_ephemeral_port(const Endpoint& endpoint, Ipv4Address address);
    void link_port(Endpoint& endpoint);
    void unlink_port(Endpoint& endpoint);
    Endpoint* find_listener(Ipv4Address address, uint16_t port) const;

    // Connection table and channels.
    Result<void> link_flow(Endpoint& endpoint);
    void unlink_flow(Endpoint& endpoint);
    Endpoint* find_connection(const FlowKey& key) const;
    void drain(Endpoint& endpoint);
    // The same at a time the caller read (one clock read for a whole socket call).
    void drain(Endpoint& endpoint, Instant now);
    // A segment for endpoint's connection, from either path.
    bool deliver(Endpoint& endpoint, const Segment& segment, Instant now);

    // Timer heap.
    Result<void> heap_reserve(size_t count);
    void heap_insert(Endpoint& endpoint);
    void heap_remove(Endpoint& endpoint);
    void heap_update(Endpoint& endpoint, Instant deadline);
    void heap_sift_up(size_t index);
    void heap_sift_down(size_t index);
    void heap_place(size_t index, Endpoint* endpoint);

    Stack& m_stack;
    Config m_defaults;
    HashKey m_cookie_key;
    FlowTable m_flows;
    Channel::RetireFn m_channel_retire = retire_channel_now;
    void* m_channel_retire_context = nullptr;
    ChannelStats m_channel_stats;
    Endpoint* m_ports[kPortBuckets] = {};
    uint16_t m_next_ephemeral;
    // Transmit queue keys (Config::tx_queue_key) handed out round robin, never 0.
    uint32_t m_next_tx_queue_key = 1;
    Endpoint** m_heap = nullptr;
    size_t m_heap_size = 0;
    size_t m_heap_capacity = 0;
    PacketQueue m_pending;
    unsigned m_depth = 0; // nested entry points: the outermost flushes
    Endpoint* m_quiet = nullptr; // whose channel is being drained: its observer is not told
    TcpStats m_stats;
    // What freed connections and listeners counted (add_mib's share of the past).
    Mib m_retired_mib;
    ParseStats m_parse_stats;
};

} // namespace net::tcp
