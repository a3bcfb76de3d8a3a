// TCP's place in a Stack (see tcp.h).
#include <net/byte_order.h>
#include <net/stack.h>
#include <net/tcp/tcp.h>
#include <new>
#include <utility>

namespace net::tcp {

namespace {

// Queued with a segment: source and destination (4 bytes each), then the IPv4 TOS and TTL,
// and whether DF is set (1) or clear (0).
constexpr size_t kAddressPrefix = 11;
constexpr uint16_t kChecksumFieldOffset = 16; // in the TCP header
constexpr size_t kFlowBuckets = 4096;
constexpr size_t kMinSynBacklog = 256;
constexpr uint32_t kMaxMss = 65535 - 40;      // an IPv4 datagram's limit
// The payload of the largest super-segment (TSO): an IPv4 datagram's 65,535 bytes less the
// IPv4 header and the largest TCP header.
constexpr uint32_t kMaxOffloadPayload = 65535 - 20 - 60;

uint64_t mix(uint64_t& state)
{
    // splitmix64: spreads one seed over the several keys.
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Key `index` of the several drawn from one seed.
SipKey derive_key(uint64_t seed, uint64_t index)
{
    uint64_t state = seed ^ (index * 0xd1b54a32d192ed03ull);
    SipKey key;
    key.k0 = mix(state);
    key.k1 = mix(state);
    return key;
}

bool overlaps(Ipv4Address a, Ipv4Address b)
{
    return a.is_any() || b.is_any() || a == b;
}

uint16_t mss_for_mtu(uint32_t mtu)
{
    uint32_t mss = mtu > 40 ? mtu - 40 : 536;
    return static_cast<uint16_t>(mss > kMaxMss ? kMaxMss : mss);
}

// Segmentation offload for a connection to `remote`: when its route leaves through an
// interface that cuts TCP segments itself (tso4), super-segments of up to 64 KiB.
uint32_t offload_for(const Ipv4& ip, Ipv4Address remote)
{
    auto route = ip.route(remote);
    if (route.is_error() || !route.value().interface)
        return 0;
    const Interface& interface = *route.value().interface;
    return interface.features().tso4 && interface.features().tx_checksum ? kMaxOffloadPayload : 0;
}

} // namespace

// Every public entry point holds one: segments queued meanwhile leave when the outermost
// returns (tcp.h, "Output is deferred").
class Tcp::Batch {
public:
    explicit Batch(Tcp& tcp) : m_tcp(tcp) { m_tcp.m_depth++; }
    ~Batch()
    {
        if (--m_tcp.m_depth == 0)
            m_tcp.flush();
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

private:
    Tcp& m_tcp;
};

// --- endpoints as outputs ---

void Endpoint::transmit(const OutgoingSegment& segment)
{
    m_tcp.queue_segment(segment, m_config.ip_tos, m_config.ip_ttl, m_config.ip_dont_fragment);
}

void Endpoint::state_changed(Connection&)
{
    if (m_observer && m_tcp.m_quiet != this)
        m_observer->endpoint_changed();
}

// --- creation ---

Tcp::Tcp(Stack& stack, uint64_t seed)
    : m_stack(stack), m_cookie_key(derive_key(seed, 1)), m_flows(derive_key(seed, 2), kFlowBuckets)
{
    m_defaults.isn_key = derive_key(seed, 0);
    m_next_ephemeral = static_cast<uint16_t>(derive_key(seed, 3).k0);
}

Tcp::~Tcp()
{
    while (m_heap_size > 0)
        destroy(*m_heap[m_heap_size - 1]);
    while (Packet p = m_pending.pop_front())
        (void)p;
    delete[] m_heap;
}

Instant Tcp::now() const
{
    return m_stack.now() / 1000;
}

Result<Endpoint*> Tcp::create_endpoint(Observer* observer, const Config& config)
{
    TRY(heap_reserve(m_heap_size + 1));
    Endpoint* e = new (std::nothrow) Endpoint(*this, observer, config);
    if (e == nullptr)
        return Errno::NOMEM;
    heap_insert(*e);
    return e;
}

Result<Endpoint*> Tcp::open(Observer& observer)
{
    return create_endpoint(&observer, m_defaults);
}

namespace {

// One connection's share of the MIB counters.
void count_connection(Mib& mib, const Connection& c)
{
    const ConnectionStats& s = c.stats();
    mib.tcp_retrans_segs += s.retransmitted_segments;
    mib.tcp_out_rsts += s.resets_sent;
    mib.tcp_estab_resets += s.resets_received;
    mib.tcp_attempt_fails += s.failed_opens;
}

void count_listener(Mib& mib, const Listener& l)
{
    mib.tcp_out_rsts += l.stats().resets_sent;
    mib.tcp_attempt_fails += l.stats().half_open_expired;
}

} // namespace

void Tcp::destroy(Endpoint& e)
{
    heap_remove(e);
    unlink_flow(e);
    unlink_port(e);
    if (e.m_listener) {
        Instant t = now();
        // The connections nobody accepted are reset [rfc9293 §3.10.4 applied to each].
        while (Connection* c = e.m_listener->accept()) {
            c->abort(t);
            count_connection(m_retired_mib, *c);
            delete c;
        }
        count_listener(m_retired_mib, *e.m_listener);
        delete e.m_listener;
    }
    if (e.m_connection)
        count_connection(m_retired_mib, *e.m_connection);
    delete e.m_connection;
    delete &e;
}

void Tcp::add_mib(Mib& mib) const
{
    // The layer counts every segment in and out, and the RSTs answering segments that reached
    // no endpoint; connections and listeners count their retransmissions and resets.
    mib.tcp_active_opens += m_stats.connections_opened;
    mib.tcp_passive_opens += m_stats.connections_accepted;
    mib.tcp_in_segs += m_stats.rx_segments;
    mib.tcp_out_segs += m_stats.tx_segments;
    mib.tcp_out_rsts += m_stats.rx_no_endpoint;
    mib.tcp_in_errs += m_parse_stats.truncated + m_parse_stats.bad_data_offset + m_parse_stats.bad_checksum +
                       m_parse_stats.bad_options + m_parse_stats.bad_port;
    mib.tcp_in_csum_errors += m_parse_stats.bad_checksum;
    const Mib& r = m_retired_mib;
    mib.tcp_retrans_segs += r.tcp_retrans_segs;
    mib.tcp_out_rsts += r.tcp_out_rsts;
    mib.tcp_estab_resets += r.tcp_estab_resets;
    mib.tcp_attempt_fails += r.tcp_attempt_fails;
    for (size_t i = 0; i < m_heap_size; i++) {
        const Endpoint& e = *m_heap[i];
        if (e.m_connection) {
            count_connection(mib, *e.m_connection);
            State state = e.m_connection->state();
            if (state == State::Established || state == State::CloseWait)
                mib.tcp_curr_estab++;
        }
        if (e.m_listener) {
            count_listener(mib, *e.m_listener);
            mib.tcp_curr_estab += e.m_listener->ready(); // established, not accepted yet
        }
    }
}

void Tcp::release(Endpoint& e, bool abort)
{
    Batch batch(*this);
    drain(e); // close() decides on what arrived (unread data means RST)
    e.m_released = true;
    e.m_observer = nullptr;
    if (e.m_channel)
        e.m_channel->set_listener(nullptr); // the socket may go once this returns
    if (e.m_kind != EndpointKind::Connection) {
        destroy(e);
        return;
    }
    if (abort)
        e.m_connection->abort(now());
    else
        e.m_connection->close(now());
    settle(e);
}

namespace {

// Whether a receive thread may queue the connection's segments on its channel: synchronized,
// and not yet in TIME-WAIT (whose only business is a new SYN or a late FIN).
bool takes_channel_input(const Connection& c)
{
    return c.is_synchronised() && c.state() != State::TimeWait;
}

// Whether the connection still has data or a FIN its peer has not acknowledged.
bool still_sending(const Connection& c)
{
    switch (c.state()) {
    case State::Established:
    case State::CloseWait:
        return c.send_queued() > 0 || c.snd_una() != c.snd_nxt();
    case State::FinWait1:
    case State::Closing:
    case State::LastAck:
        return true;
    default:
        return false;
    }
}

} // namespace

// After every call into an endpoint's connection or listener: frees a released connection
// that reached CLOSED, takes a closed one out of the connection table, opens or closes its
// channel, and moves the endpoint to its new place in the timer heap.
void Tcp::settle(Endpoint& e)
{
    Instant deadline = kNever;
    if (e.m_kind == EndpointKind::Connection) {
        Connection& c = *e.m_connection;
        if (c.state() == State::Closed) {
            unlink_flow(e);
            if (e.m_released) {
                m_stats.orphans_reaped++;
                destroy(e);
                return;
            }
        }
        // Only an owner calls in to process a channel: an orphan's segments take the
        // ordinary path.
        if (e.m_channel)
            e.m_channel->set_accepting(e.m_observer != nullptr && takes_channel_input(c));
        deadline = c.next_deadline();
    } else if (e.m_kind == EndpointKind::Listening) {
        deadline = e.m_listener->next_deadline();
    }
    heap_update(e, deadline);
}

// --- options ---

void Tcp::set_reuse(Endpoint& e, bool reuse_address, bool reuse_port)
{
    e.m_reuse_address = reuse_address;
    e.m_reuse_port = reuse_port;
}

void Tcp::set_buffer_sizes(Endpoint& e, size_t send_size, size_t receive_size)
{
    e.m_config.send_buffer_size = send_size;
    e.m_config.receive_buffer_size = receive_size;
    if (e.m_connection)
        (void)e.m_connection->set_buffer_sizes(send_size, receive_size); // BUSY once open
}

void Tcp::set_ip_header(Endpoint& e, uint8_t tos, uint8_t ttl, bool dont_fragment)
{
    e.m_config.ip_tos = uint8_t(tos & ~0x3u); // [rfc3168 §5]: the ECN field is TCP's
    e.m_config.ip_ttl = ttl;
    e.m_config.ip_dont_fragment = dont_fragment;
}

void Tcp::set_nodelay(Endpoint& e, bool nodelay)
{
    Batch batch(*this);
    e.m_config.nodelay = nodelay;
    if (e.m_connection) {
        e.m_connection->set_nodelay(nodelay, now());
        settle(e);
    }
}

void Tcp::set_cork(Endpoint& e, bool cork)
{
    Batch batch(*this);
    e.m_config.cork = cork;
    if (e.m_connection) {
        e.m_connection->set_cork(cork, now());
        settle(e);
    }
}

void Tcp::set_keepalive(Endpoint& e, bool enabled, Duration idle, Duration interval, unsigned count)
{
    Batch batch(*this);
    e.m_config.keepalive = enabled;
    e.m_config.keepalive_idle = idle;
    e.m_config.keepalive_interval = interval;
    e.m_config.keepalive_count = count;
    if (e.m_connection) {
        e.m_connection->set_keepalive(enabled, idle, interval, count, now());
        settle(e);
    }
}

// --- bind, listen, connect, accept ---

bool Tcp::conflicts(const Endpoint& e, Ipv4Endpoint local, bool listening) const
{
    for (const Endpoint* o = m_ports[local.port % kPortBuckets]; o; o = o->m_next_in_port) {
        if (o == &e || o->m_local.port != local.port || !overlaps(o->m_local.address, local.address))
            continue;
        if (e.m_reuse_port && o->m_reuse_port)
            continue;
        bool other_listening = o->m_kind == EndpointKind::Listening;
        if (listening) {
            // listen(): only another listener on the same address is in the way.
            if (other_listening)
                return true;
            continue;
        }
        // bind(): SO_REUSEADDR on both lets them share, unless one of them listens.
        if (e.m_reuse_address && o->m_reuse_address && !other_listening)
            continue;
        return true;
    }
    return false;
}

Result<uint16_t> Tcp::pick_ephemeral_port(const Endpoint& e, Ipv4Address address)
{
    constexpr uint32_t range = uint32_t(kEphemeralLast) - kEphemeralFirst + 1;
    for (uint32_t i = 0; i < range; i++) {
        uint16_t port = static_cast<uint16_t>(kEphemeralFirst + (uint32_t(m_next_ephemeral) + i) % range);
        bool used = false;
        for (const Endpoint* o = m_ports[port % kPortBuckets]; o && !used; o = o->m_next_in_port)
            used = o->m_local.port == port;
        if (used || conflicts(e, {address, port}, false))
            continue;
        m_next_ephemeral = static_cast<uint16_t>(m_next_ephemeral + i + 1);
        return port;
    }
    return Errno::AGAIN;
}

void Tcp::link_port(Endpoint& e)
{
    if (e.m_bound)
        return;
    Endpoint*& head = m_ports[e.m_local.port % kPortBuckets];
    e.m_next_in_port = head;
    head = &e;
    e.m_bound = true;
}

void Tcp::unlink_port(Endpoint& e)
{
    if (!e.m_bound)
        return;
    for (Endpoint** link = &m_ports[e.m_local.port % kPortBuckets]; *link; link = &(*link)->m_next_in_port) {
        if (*link == &e) {
            *link = e.m_next_in_port;
            break;
        }
    }
    e.m_next_in_port = nullptr;
    e.m_bound = false;
}

Endpoint* Tcp::find_listener(Ipv4Address address, uint16_t port) const
{
    Endpoint* wildcard = nullptr;
    for (Endpoint* o = m_ports[port % kPortBuckets]; o; o = o->m_next_in_port) {
        if (o->m_kind != EndpointKind::Listening || o->m_local.port != port)
            continue;
        if (o->m_local.address == address)
            return o;
        if (o->m_local.address.is_any() && !wildcard)
            wildcard = o;
    }
    return wildcard;
}

Result<void> Tcp::link_flow(Endpoint& e)
{
    if (e.m_channel)
        return Errno::BUSY;
    FlowKey key{ e.m_local.address, e.m_remote.address, e.m_local.port, e.m_remote.port, kProtocolNumber };
    e.m_channel = TRY(Channel::open(m_flows, key, &e, e.m_observer, m_channel_retire, m_channel_retire_context));
    return {};
}

// Takes the connection out of the table (and its channel away: Channel::close).
void Tcp::unlink_flow(Endpoint& e)
{
    if (e.m_channel == nullptr)
        return;
    e.m_channel->close(m_flows);
    e.m_channel = nullptr;
}

Endpoint* Tcp::find_connection(const FlowKey& key) const
{
    FlowEntry* f = m_flows.lookup(key);
    return f ? static_cast<Endpoint*>(static_cast<Channel*>(f->owner)->owner()) : nullptr;
}

Result<void> Tcp::bind(Endpoint& e, Ipv4Endpoint local)
{
    if (e.m_kind != EndpointKind::Open)
        return Errno::INVAL;
    if (!local.address.is_any() && !m_stack.ipv4().is_local_address(local.address))
        return Errno::ADDRNOTAVAIL;
    if (local.port == 0)
        local.port = TRY(pick_ephemeral_port(e, local.address));
    else if (conflicts(e, local, false))
        return Errno::ADDRINUSE;
    e.m_local = local;
    e.m_kind = EndpointKind::Bound;
    link_port(e);
    return {};
}

Result<void> Tcp::listen(Endpoint& e, size_t backlog)
{
    if (e.m_kind == EndpointKind::Listening)
        return {};
    if (e.m_kind == EndpointKind::Connection)
        return Errno::INVAL;
    if (e.m_kind == EndpointKind::Open)
        TRY(bind(e, { Ipv4Address::any(), 0 }));
    if (conflicts(e, e.m_local, true))
        return Errno::ADDRINUSE;
    if (backlog < 1)
        backlog = 1;
    if (backlog > kMaxBacklog)
        backlog = kMaxBacklog;
    ListenerConfig config;
    config.connection = e.m_config;
    if (e.m_local.address.is_loopback())
        config.connection.mss = mss_for_mtu(m_stack.loopback().mtu());
    config.backlog = backlog;
    config.syn_backlog = backlog > kMinSynBacklog ? backlog : kMinSynBacklog;
    config.cookie_key = m_cookie_key;
    config.connection.tx_queue_key = take_tx_queue_key();
    e.m_listener = TRY(Listener::create(config, e));
    e.m_kind = EndpointKind::Listening;
    settle(e);
    return {};
}

Result<void> Tcp::connect(Endpoint& e, Ipv4Endpoint remote)
{
    Batch batch(*this);
    if (e.m_kind == EndpointKind::Listening)
        return Errno::ISCONN;
    if (e.m_kind == EndpointKind::Connection) {
        Connection& old = *e.m_connection;
        if (old.state() == State::SynSent || old.state() == State::SynReceived)
            return Errno::ALREADY;
        if (old.state() != State::Closed || old.poll_state().connected)
            return Errno::ISCONN;
        // A failed attempt: try again from the bound state.
        unlink_flow(e);
        delete e.m_connection;
        e.m_connection = nullptr;
        e.m_kind = EndpointKind::Bound;
    }
    if (remote.address.is_any())
        remote.address = Ipv4Address::from_octets(127, 0, 0, 1); // as Linux: 0.0.0.0 is this host
    if (remote.address.is_broadcast() || remote.address.is_multicast())
        return Errno::NETUNREACH;
    Ipv4& ip = m_stack.ipv4();
    RouteDecision route = TRY(ip.route(remote.address));
    Ipv4Address source = e.m_local.address;
    if (source.is_any())
        source = ip.is_local_address(remote.address) ? remote.address : route.interface->ipv4_address();
    if (source.is_any())
        return Errno::ADDRNOTAVAIL; // the interface has no address yet
    uint16_t port = e.m_local.port;
    if (e.m_kind == EndpointKind::Open)
        port = TRY(pick_ephemeral_port(e, source));

    Config config = e.m_config;
    config.mss = mss_for_mtu(ip.path_mtu(remote.address));
    config.tx_queue_key = take_tx_queue_key();
    FourTuple tuple{ source, port, remote.address, remote.port };
    Connection* c = TRY(Connection::create(config, e, tuple));
    c->set_segment_offload(offload_for(ip, remote.address));
    Ipv4Endpoint old_local = e.m_local;
    e.m_local = { source, port };
    e.m_remote = remote;
    if (link_flow(e).is_error()) {
        e.m_local = old_local;
        delete c;
        return Errno::ADDRNOTAVAIL; // this 4-tuple is taken
    }
    link_port(e); // (a bound endpoint stays linked: its bucket is the port's)
    e.m_connection = c;
    e.m_kind = EndpointKind::Connection;
    m_stats.connections_opened++;
    Result<void> opened = c->open_active(now());
    settle(e);
    return opened;
}

Result<Endpoint*> Tcp::accept(Endpoint& listener, Observer& observer)
{
    if (listener.m_kind != EndpointKind::Listening)
        return Errno::INVAL;
    Batch batch(*this);
    Connection* c = listener.m_listener->accept();
    if (c == nullptr)
        return Errno::AGAIN;
    Result<Endpoint*> created = create_endpoint(&observer, listener.m_config);
    if (created.is_error()) {
        c->abort(now());
        delete c;
        settle(listener);
        return created.error();
    }
    Endpoint& e = *created.value();
    const FourTuple& t = c->tuple();
    e.m_connection = c;
    e.m_kind = EndpointKind::Connection;
    e.m_local = { t.local_address, t.local_port };
    e.m_remote = { t.remote_address, t.remote_port };
    e.m_reuse_address = listener.m_reuse_address;
    e.m_reuse_port = listener.m_reuse_port;
    c->set_output(e);
    c->set_segment_offload(offload_for(m_stack.ipv4(), t.remote_address));
    link_port(e);
    if (c->state() != State::Closed && link_flow(e).is_error()) {
        // Cannot happen while the table and the listener agree; never hand out a twin.
        c->abort(now());
        destroy(e);
        settle(listener);
        return Errno::CONNABORTED;
    }
    m_stats.connections_accepted++;
    settle(e);
    settle(listener);
    return &e;
}

// --- data ---

Result<size_t> Tcp::write(Endpoint& e, UserBuffer& data, size_t offset, size_t length)
{
    if (e.m_kind != EndpointKind::Connection)
        return Errno::NOTCONN;
    Batch batch(*this);
    Instant t = now();
    drain(e, t);
    Result<size_t> sent = e.m_connection->send(data, offset, length, t);
    settle(e);
    return sent;
}

Result<size_t> Tcp::read(Endpoint& e, UserBuffer& out, size_t offset, size_t length, bool peek)
{
    if (e.m_kind != EndpointKind::Connection)
        return Errno::NOTCONN;
    Batch batch(*this);
    Instant t = now();
    drain(e, t);
    if (e.m_read_shutdown && e.m_connection->poll_state().readable == 0)
        return size_t(0);
    Result<size_t> received = e.m_connection->receive(out, offset, length, peek, t);
    settle(e);
    return received;
}

Result<void> Tcp::shutdown(Endpoint& e, bool read, bool write)
{
    if (e.m_kind != EndpointKind::Connection)
        return Errno::NOTCONN;
    Batch batch(*this);
    drain(e);
    Connection& c = *e.m_connection;
    if (c.state() == State::Closed && !c.poll_state().connected)
        return Errno::NOTCONN;
    if (read) {
        e.m_read_shutdown = true;
        if (e.m_observer)
            e.m_observer->endpoint_changed();
    }
    Result<void> result;
    if (write && c.state() != State::Closed)
        result = c.shutdown(now());
    settle(e);
    return result;
}

EndpointStatus Tcp::status(Endpoint& e)
{
    drain(e);
    EndpointStatus s;
    switch (e.m_kind) {
    case EndpointKind::Open:
    case EndpointKind::Bound:
        // As Linux's tcp_poll for a socket in CLOSE: nothing to wait for.
        s.writable = true;
        s.hangup = true;
        break;
    case EndpointKind::Listening:
        s.readable = e.m_listener->ready() > 0;
        break;
    case EndpointKind::Connection: {
        const Connection& c = *e.m_connection;
        PollState p = c.poll_state();
        s.readable = (p.events & kEventReadable) || e.m_read_shutdown;
        s.writable = (p.events & kEventWritable) != 0;
        s.error = (p.events & kEventError) != 0;
        s.hangup = (p.events & kEventHangup) != 0;
        s.read_hangup = p.fin_received || e.m_read_shutdown;
        s.connecting = c.state() == State::SynSent || c.state() == State::SynReceived;
        s.connected = p.connected;
        s.readable_bytes = p.readable;
        s.pending_error = p.error;
        s.sending = still_sending(c);
        break;
    }
    }
    return s;
}

bool Tcp::connecting(const Endpoint& e) const
{
    if (e.m_kind != EndpointKind::Connection)
        return false;
    State state = e.m_connection->state();
    return state == State::SynSent || state == State::SynReceived;
}

Errno Tcp::take_error(Endpoint& e)
{
    if (e.m_kind != EndpointKind::Connection)
        return Errno(0);
    drain(e);
    return e.m_connection->take_error();
}

// --- segments in and out ---

void Tcp::receive(Packet packet, const Ipv4Info& info)
{
    m_stats.rx_segments++;
    if (info.broadcast) {
        m_stats.rx_broadcast++;
        return;
    }
    ChecksumMode mode = packet.meta().checksum_verified ? ChecksumMode::Verified : ChecksumMode::Compute;
    Result<Segment> parsed =
        parse_segment(packet.data(), packet.length(), info.source, info.destination, mode, m_parse_stats);
    if (parsed.is_error())
        return;
    const Segment& s = parsed.value();
    Batch batch(*this);
    Instant t = now();

    FlowKey key{ s.destination, s.source, s.destination_port, s.source_port, kProtocolNumber };
    Endpoint* e = find_connection(key);
    if (e && e->m_channel && !e->m_channel->is_empty()) {
        drain(*e); // what the channel holds arrived first
        e = find_connection(key);
    }
    if (e && deliver(*e, s, t))
        return;
    if (Endpoint* l = find_listener(s.destination, s.destination_port)) {
        size_t ready = l->m_listener->ready();
        l->m_listener->on_segment(s, t);
        if (l->m_listener->ready() != ready && l->m_observer)
            l->m_observer->endpoint_changed();
        settle(*l);
        return;
    }
    m_stats.rx_no_endpoint++;
    Connection::send_reset_for(s, *this);
}

// False when the segment is a new SYN for a connection in TIME-WAIT: the old incarnation made
// way [rfc9293 §3.10.7.4] and the caller offers the SYN to a listener.
bool Tcp::deliver(Endpoint& e, const Segment& s, Instant t)
{
    Connection& c = *e.m_connection;
    uint64_t received = c.stats().bytes_received;
    if (c.on_segment(s, t) != InputResult::Reopen) {
        // New data is an edge for epoll even when the socket was readable already.
        if (c.stats().bytes_received != received && e.m_observer && m_quiet != &e)
            e.m_observer->endpoint_changed();
        settle(e);
        return true;
    }
    m_stats.reopened++;
    unlink_flow(e);
    if (e.m_released)
        destroy(e);
    return false;
}

// --- net channels ---

Channel* Tcp::classify(Packet& packet, const Ipv4Header& ip, size_t tcp_offset, Interface& from,
                       const ReceiveBurst& burst, bool& was_empty)
{
    const uint8_t* h = packet.data() + tcp_offset;
    FlowKey key{ ip.destination, ip.source, load_be16(h + 2), load_be16(h), kProtocolNumber };
    FlowEntry* f = m_flows.lookup(key);
    if (f == nullptr)
        return nullptr;
    // Handshakes and resets change which endpoint owns the 4-tuple: the ordinary path.
    bool ordinary = (h[13] & (kSyn | kRst)) != 0;
    return offer_to_channel(*static_cast<Channel*>(f->owner), packet, ip, tcp_offset, from, burst, ordinary,
                            was_empty, m_channel_stats);
}

// Runs the segments queued on the endpoint's channel through its connection, in order.
void Tcp::drain(Endpoint& e)
{
    if (e.m_channel != nullptr && !e.m_channel->is_empty())
        drain(e, now());
}

void Tcp::drain(Endpoint& e, Instant t)
{
    Channel* channel = e.m_channel;
    if (channel == nullptr || channel->is_empty())
        return;
    Batch batch(*this);
    Ipv4Address source = e.m_remote.address, destination = e.m_local.address;
    // A segment may end the connection (it is unlinked, and a released endpoint freed):
    // hold the channel to see that. The owner is not told of what the segments change: it
    // heard of every one of them when it was queued (packets_queued), and whoever it woke
    // looks now — a second notice would only make epoll report the socket again for nothing.
    (void)channel->try_ref();
    Endpoint* outer_quiet = m_quiet;
    m_quiet = &e;
    while (channel->owner() == &e) {
        Packet packet = channel->pop();
        if (!packet)
            break;
        m_stats.rx_segments++;
        m_stats.rx_channel++;
        m_channel_stats.consumed.fetch_add(1, std::memory_order_relaxed);
        ChecksumMode mode = packet.meta().checksum_verified ? ChecksumMode::Verified : ChecksumMode::Compute;
        Result<Segment> parsed =
            parse_segment(packet.data(), packet.length(), source, destination, mode, m_parse_stats);
        if (parsed.is_error())
            continue;
        (void)deliver(e, parsed.value(), t); // (never a SYN: the classifier keeps those)
    }
    m_quiet = outer_quiet;
    channel->unref();
}

void Tcp::drain_channels()
{
    Batch batch(*this);
    // Draining reorders the heap (and may free endpoints): passes until one finds nothing,
    // bounded (a receive thread keeps queueing meanwhile).
    for (int pass = 0; pass < 4; pass++) {
        bool drained = false;
        for (size_t i = 0; i < m_heap_size; i++) {
            Endpoint& e = *m_heap[i];
            if (e.m_channel && !e.m_channel->is_empty()) {
                drain(e);
                drained = true;
            }
        }
        if (!drained)
            return;
    }
}

// An ICMP error quoting one of our segments (the IPv4 layer checked that the quoted header is
// ours and carries 8 bytes of TCP: ports and sequence number). The connection reacts
// (Connection::on_icmp_error) if the quoted sequence number is one it has outstanding — a
// blind attacker must guess it [rfc5927 §4.1]. Only such an error is "ours" (true): the ICMP
// layer lowers the path-MTU cache for new connections only then.
bool Tcp::icmp_error(const IcmpErrorInfo& error)
{
    m_stats.icmp_errors++;
    if (error.transport == nullptr || error.transport_length < 8)
        return false;
    const uint8_t* h = error.transport;
    FlowKey key{ error.source, error.destination, load_be16(h), load_be16(h + 2), kProtocolNumber };
    Endpoint* e = find_connection(key);
    if (e == nullptr || e->m_connection == nullptr) {
        m_stats.icmp_ignored++;
        return false;
    }
    Batch batch(*this);
    drain(*e); // an ACK waiting there may have acknowledged the quoted segment
    e = find_connection(key);
    if (e == nullptr || !e->m_connection->plausible_icmp_sequence(load_be32(h + 4))) {
        m_stats.icmp_ignored++;
        return false;
    }
    e->m_connection->on_icmp_error(error.type, error.code, error.mtu, now());
    if (e->m_observer)
        e->m_observer->endpoint_changed();
    settle(*e);
    return true;
}

void Tcp::transmit(const OutgoingSegment& segment)
{
    queue_segment(segment, 0, m_defaults.ip_ttl, true); // (a RST for no endpoint: no socket's options)
}

uint32_t Tcp::take_tx_queue_key()
{
    uint32_t key = m_next_tx_queue_key;
    m_next_tx_queue_key = next_tx_queue_key(key);
    return key;
}

void Tcp::queue_segment(const OutgoingSegment& segment, uint8_t tos, uint8_t ttl, bool dont_fragment)
{
    size_t length = header_size(segment.header.options) + segment.payload.size();
    Packet packet = Packet::allocate_data(length);
    if (!packet) {
        m_stats.tx_no_memory++; // like a loss: the retransmission timer covers it
        return;
    }
    Result<size_t> written = write_segment(segment.header, segment.payload, ChecksumMode::Offload, packet.data(), length);
    if (written.is_error()) {
        m_stats.tx_errors++;
        return;
    }
    packet.mark_transport_header();
    PacketMeta& meta = packet.meta();
    meta.checksum_needed = true;
    meta.checksum_start = static_cast<uint16_t>(packet.data_offset());
    meta.checksum_offset = kChecksumFieldOffset;
    meta.tx_queue_key = segment.tx_queue_key;
    if (segment.segment_size != 0 && segment.payload.size() > segment.segment_size) {
        meta.gso_type = GsoType::TcpV4;
        meta.gso_size = segment.segment_size;
    }
    uint8_t* prefix = packet.push(kAddressPrefix);
    if (!prefix) {
        m_stats.tx_errors++;
        return;
    }
    store_be32(prefix, segment.header.source.value);
    store_be32(prefix + 4, segment.header.destination.value);
    prefix[8] = tos;
    prefix[9] = ttl;
    prefix[10] = dont_fragment ? 1 : 0;
    m_pending.push_back(std::move(packet));
}

namespace {

// A queued segment as flush sees it: the address prefix, then the TCP header we wrote.
struct QueuedSegment {
    uint32_t source = 0, destination = 0;
    uint16_t source_port = 0, destination_port = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    size_t payload = 0;
};

bool read_queued(const Packet& packet, QueuedSegment& out)
{
    if (packet.length() < kAddressPrefix + kHeaderSize)
        return false;
    const uint8_t* p = packet.data();
    const uint8_t* h = p + kAddressPrefix;
    size_t header = size_t(h[12] >> 4) * 4;
    if (header < kHeaderSize || kAddressPrefix + header > packet.length())
        return false;
    out.source = load_be32(p);
    out.destination = load_be32(p + 4);
    out.source_port = load_be16(h);
    out.destination_port = load_be16(h + 2);
    out.ack = load_be32(h + 8);
    out.flags = h[13];
    out.payload = packet.length() - kAddressPrefix - header;
    return true;
}

// Whether pure ACK `ack` says nothing that `next` (queued after it) does not: the same
// connection, and `next` acknowledges more. Duplicate ACKs (the same number) are all kept:
// the peer counts them for fast retransmit.
bool pure_ack(const Packet& packet)
{
    QueuedSegment q;
    return read_queued(packet, q) && q.flags == kAck && q.payload == 0;
}

// (`ack` is a pure ACK.)
bool superseded(const Packet& ack, const Packet& next)
{
    QueuedSegment a, n;
    if (!read_queued(ack, a) || !read_queued(next, n))
        return false;
    if (!(n.flags & kAck) || (n.flags & (kSyn | kRst)))
        return false;
    return a.source == n.source && a.destination == n.destination && a.source_port == n.source_port &&
           a.destination_port == n.destination_port && seq_gt(n.ack, a.ack);
}

} // namespace

void Tcp::end_batch()
{
    if (--m_depth == 0)
        flush();
}

void Tcp::flush()
{
    while (Packet packet = m_pending.pop_front()) {
        if (!m_pending.is_empty() && pure_ack(packet)) {
            Packet next = m_pending.pop_front();
            bool redundant = superseded(packet, next);
            m_pending.push_front(std::move(next)); // back in place before anything is sent
            if (redundant) {
                m_stats.acks_coalesced++;
                continue;
            }
        }
        Ipv4OutputParams params;
        params.source = Ipv4Address{ load_be32(packet.data()) };
        params.destination = Ipv4Address{ load_be32(packet.data() + 4) };
        params.protocol = kProtocolNumber;
        params.tos = packet.data()[8];
        params.ttl = packet.data()[9];
        params.dont_fragment = packet.data()[10] ? DontFragment::ByProtocol : DontFragment::Clear;
        packet.pull(kAddressPrefix);
        if (m_stack.ipv4().output(std::move(packet), params).is_error())
            m_stats.tx_errors++;
        else
            m_stats.tx_segments++;
    }
}

size_t Tcp::connections_sending() const
{
    size_t n = 0;
    for (size_t i = 0; i < m_heap_size; i++)
        n += m_heap[i]->m_connection && still_sending(*m_heap[i]->m_connection);
    return n;
}

// --- timers ---

void Tcp::poll(uint64_t now_ns)
{
    Batch batch(*this);
    Instant t = now_ns / 1000;
    // Each due endpoint runs once per poll; the bound keeps a timer that fails to move from
    // spinning here.
    size_t budget = 2 * m_heap_size; // (a drain and a timer each)
    while (m_heap_size > 0 && m_heap[0]->m_deadline <= t && budget-- > 0) {
        Endpoint& e = *m_heap[0];
        if (e.m_channel && !e.m_channel->is_empty()) {
            drain(e); // the timer may be moot (an ACK is waiting); look again
            continue;
        }
        if (e.m_kind == EndpointKind::Connection) {
            e.m_connection->on_timer(t);
        } else if (e.m_kind == EndpointKind::Listening) {
            size_t ready = e.m_listener->ready();
            e.m_listener->on_timer(t);
            if (e.m_listener->ready() != ready && e.m_observer)
                e.m_observer->endpoint_changed();
        }
        settle(e);
    }
}

uint64_t Tcp::next_deadline() const
{
    if (m_heap_size == 0 || m_heap[0]->m_deadline == kNever)
        return UINT64_MAX;
    return m_heap[0]->m_deadline * 1000;
}

Result<void> Tcp::heap_reserve(size_t count)
{
    if (count <= m_heap_capacity)
        return {};
    size_t capacity = m_heap_capacity ? m_heap_capacity * 2 : 64;
    while (capacity < count)
        capacity *= 2;
    Endpoint** heap = new (std::nothrow) Endpoint*[capacity];
    if (heap == nullptr)
        return Errno::NOMEM;
    for (size_t i = 0; i < m_heap_size; i++)
        heap[i] = m_heap[i];
    delete[] m_heap;
    m_heap = heap;
    m_heap_capacity = capacity;
    return {};
}

void Tcp::heap_place(size_t index, Endpoint* e)
{
    m_heap[index] = e;
    e->m_heap_index = index;
}

void Tcp::heap_sift_up(size_t index)
{
    Endpoint* e = m_heap[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (m_heap[parent]->m_deadline <= e->m_deadline)
            break;
        heap_place(index, m_heap[parent]);
        index = parent;
    }
    heap_place(index, e);
}

void Tcp::heap_sift_down(size_t index)
{
    Endpoint* e = m_heap[index];
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= m_heap_size)
            break;
        if (child + 1 < m_heap_size && m_heap[child + 1]->m_deadline < m_heap[child]->m_deadline)
            child++;
        if (e->m_deadline <= m_heap[child]->m_deadline)
            break;
        heap_place(index, m_heap[child]);
        index = child;
    }
    heap_place(index, e);
}

void Tcp::heap_insert(Endpoint& e)
{
    // heap_reserve made room.
    e.m_deadline = kNever;
    heap_place(m_heap_size++, &e);
    heap_sift_up(e.m_heap_index);
}

void Tcp::heap_remove(Endpoint& e)
{
    size_t index = e.m_heap_index;
    Endpoint* last = m_heap[--m_heap_size];
    if (last == &e)
        return;
    heap_place(index, last);
    heap_sift_up(index);
    heap_sift_down(last->m_heap_index);
}

void Tcp::heap_update(Endpoint& e, Instant deadline)
{
    if (deadline == e.m_deadline)
        return;
    e.m_deadline = deadline;
    heap_sift_up(e.m_heap_index);
    heap_sift_down(e.m_heap_index);
}

} // namespace net::tcp
