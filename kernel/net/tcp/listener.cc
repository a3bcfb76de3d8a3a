// The listener: SYN queue, accept queue and SYN cookies (see listener.h).
#include <net/byte_order.h>
#include <net/tcp/listener.h>
#include <new>

namespace net::tcp {

namespace {

// MSS values a cookie can carry: the largest not above the peer's is used.
constexpr uint16_t kCookieMss[8] = {216, 536, 1200, 1220, 1360, 1400, 1440, 1460};
constexpr Duration kCookiePeriod = 64 * kSecond;
constexpr uint32_t kNoWindowScale = 15;
constexpr uint32_t kOptionBitsSack = 1u << 4;
constexpr uint32_t kOptionBitsValid = 1u << 5;

FourTuple tuple_of(const Segment& s)
{
    return FourTuple{s.destination, s.destination_port, s.source, s.source_port};
}

} // namespace

Listener::Listener(const ListenerConfig& config, Output& output)
    : m_config(config), m_output(output), m_next_tx_queue_key(config.connection.tx_queue_key)
{
}

Result<Listener*> Listener::create(const ListenerConfig& config, Output& output)
{
    Listener* l = new (std::nothrow) Listener(config, output);
    if (l == nullptr)
        return Errno::NOMEM;
    l->m_syn_queue = new (std::nothrow) Connection*[config.syn_backlog + 1];
    l->m_accept_queue = new (std::nothrow) Connection*[config.backlog + 1];
    if (l->m_syn_queue == nullptr || l->m_accept_queue == nullptr) {
        delete l;
        return Errno::NOMEM;
    }
    return l;
}

Listener::~Listener()
{
    for (size_t i = 0; i < m_syn_count; i++)
        delete m_syn_queue[i];
    for (size_t i = 0; i < m_accept_count; i++)
        delete m_accept_queue[i];
    delete[] m_syn_queue;
    delete[] m_accept_queue;
}

uint32_t Listener::cookie_hash(const FourTuple& tuple, uint32_t counter, uint32_t peer_isn,
                               uint32_t mss_index, uint32_t option_bits) const
{
    uint64_t extra = uint64_t(counter) << 32 | peer_isn;
    uint64_t h = hash_tuple(m_config.cookie_key, tuple, extra);
    // Second round binds the small fields without widening the first input.
    uint8_t tail[12];
    store_be32(tail, static_cast<uint32_t>(h >> 32));
    store_be32(tail + 4, static_cast<uint32_t>(h));
    store_be32(tail + 8, mss_index << 8 | option_bits);
    return static_cast<uint32_t>(siphash24(m_config.cookie_key, tail, sizeof tail)) & 0xffffff;
}

Listener::Cookie Listener::make_cookie(const Segment& syn, Instant now) const
{
    FourTuple tuple = tuple_of(syn);
    uint16_t peer_mss = syn.options.has_mss ? syn.options.mss : 536;
    uint32_t mss_index = 0;
    for (uint32_t i = 0; i < 8; i++)
        if (kCookieMss[i] <= peer_mss)
            mss_index = i;
    const Config& c = m_config.connection;
    Cookie cookie;
    uint32_t option_bits = 0;
    if (c.timestamps && syn.options.has_timestamps) {
        // Window scale and SACK survive only in our TSval, echoed back in the ACK.
        option_bits = kOptionBitsValid;
        option_bits |= (c.window_scaling && syn.options.has_window_scale)
                           ? (syn.options.window_scale > 14 ? 14u : syn.options.window_scale)
                           : kNoWindowScale;
        if (c.sack && syn.options.sack_permitted)
            option_bits |= kOptionBitsSack;
        // At or below the connection's own TSval clock, so later TSvals never go back.
        uint32_t clock = Connection::timestamp_at(c.isn_key, tuple, now);
        cookie.has_timestamp = true;
        cookie.ts_value = ((clock - 64) & ~63u) | option_bits;
    }
    uint32_t counter = static_cast<uint32_t>(now / kCookiePeriod);
    cookie.isn = (counter & 0x1f) << 27 | mss_index << 24 |
                 cookie_hash(tuple, counter, syn.seq, mss_index, option_bits);
    return cookie;
}

bool Listener::check_cookie(const Segment& ack, Instant now, NegotiatedOptions& options) const
{
    if (!ack.has(kAck) || ack.has(kSyn) || ack.has(kRst))
        return false;
    FourTuple tuple = tuple_of(ack);
    uint32_t isn = ack.ack - 1;
    uint32_t peer_isn = ack.seq - 1;
    uint32_t mss_index = (isn >> 24) & 7;
    const Config& c = m_config.connection;
    uint32_t option_bits = 0;
    if (c.timestamps && ack.options.has_timestamps && (ack.options.ts_echo & kOptionBitsValid))
        option_bits = ack.options.ts_echo & 0x3f;
    uint32_t now_counter = static_cast<uint32_t>(now / kCookiePeriod);
    bool valid = false;
    for (uint32_t age = 0; age < 2 && !valid; age++) {
        uint32_t counter = now_counter - age;
        if ((counter & 0x1f) != isn >> 27)
            continue;
        valid = cookie_hash(tuple, counter, peer_isn, mss_index, option_bits) == (isn & 0xffffff);
    }
    if (!valid)
        return false;
    options = NegotiatedOptions{};
    options.peer_mss = kCookieMss[mss_index];
    if (option_bits & kOptionBitsValid) {
        options.timestamps = true;
        uint32_t ws = option_bits & 0xf;
        options.window_scaling = ws != kNoWindowScale;
        options.peer_window_scale = static_cast<uint8_t>(options.window_scaling ? ws : 0);
        options.sack = (option_bits & kOptionBitsSack) != 0;
    }
    return true;
}

Config Listener::next_connection_config()
{
    Config config = m_config.connection;
    if (config.tx_queue_key != 0) {
        config.tx_queue_key = m_next_tx_queue_key;
        m_next_tx_queue_key = next_tx_queue_key(m_next_tx_queue_key);
    }
    return config;
}

void Listener::send_cookie_syn_ack(const Segment& syn, Instant now)
{
    Cookie cookie = make_cookie(syn, now);
    const Config& c = m_config.connection;
    OutgoingSegment out;
    Header& h = out.header;
    h.source = syn.destination;
    h.destination = syn.source;
    h.source_port = syn.destination_port;
    h.destination_port = syn.source_port;
    h.seq = cookie.isn;
    h.ack = syn.seq + 1;
    h.flags = kSyn | kAck;
    h.window = static_cast<uint16_t>(c.receive_buffer_size > 0xffff ? 0xffff : c.receive_buffer_size);
    h.options.has_mss = true;
    h.options.mss = c.mss;
    if (cookie.has_timestamp) {
        h.options.has_timestamps = true;
        h.options.ts_value = cookie.ts_value;
        h.options.ts_echo = syn.options.ts_value;
        if ((cookie.ts_value & 0xf) != kNoWindowScale) {
            h.options.has_window_scale = true;
            h.options.window_scale = Connection::window_scale_for(c.receive_buffer_size);
        }
        h.options.sack_permitted = (cookie.ts_value & kOptionBitsSack) != 0;
    }
    m_stats.cookies_sent++;
    m_output.transmit(out);
}

void Listener::on_segment(const Segment& segment, Instant now)
{
    FourTuple tuple = tuple_of(segment);
    // A segment for a connection this listener still holds (half-open or not yet accepted).
    for (size_t i = 0; i < m_syn_count; i++) {
        if (m_syn_queue[i]->tuple() == tuple) {
            (void)m_syn_queue[i]->on_segment(segment, now);
            promote_established();
            reap_closed();
            return;
        }
    }
    for (size_t i = 0; i < m_accept_count; i++) {
        if (m_accept_queue[i]->tuple() == tuple) {
            (void)m_accept_queue[i]->on_segment(segment, now);
            return;
        }
    }

    // LISTEN state processing [rfc9293 §3.10.7.2].
    if (segment.has(kRst)) {
        m_stats.dropped++;
        return;
    }
    if (segment.has(kAck)) {
        NegotiatedOptions options;
        if (!segment.has(kSyn) && m_config.syn_cookies && check_cookie(segment, now, options)) {
            if (m_accept_count >= m_config.backlog) {
                m_stats.accept_queue_full++; // the peer retransmits; maybe room then
                return;
            }
            Result<Connection*> created = Connection::create(next_connection_config(), m_output, tuple);
            if (created.is_error()) {
                m_stats.allocation_failures++;
                return;
            }
            Connection* c = created.value();
            if (c->establish_from_cookie(segment, options, now).is_error()) {
                delete c;
                return;
            }
            m_stats.cookies_accepted++;
            m_accept_queue[m_accept_count++] = c;
            return;
        }
        if (!segment.has(kSyn) && m_config.syn_cookies)
            m_stats.cookies_rejected++;
        Connection::send_reset_for(segment, m_output);
        m_stats.resets_sent++;
        return;
    }
    if (!segment.has(kSyn) || segment.has(kFin)) {
        m_stats.dropped++;
        return;
    }
    m_stats.syns_received++;
    if (m_accept_count >= m_config.backlog) {
        m_stats.accept_queue_full++;
        return;
    }
    if (m_syn_count >= m_config.syn_backlog) {
        m_stats.syn_queue_full++;
        if (m_config.syn_cookies)
            send_cookie_syn_ack(segment, now);
        return;
    }
    Result<Connection*> created = Connection::create(next_connection_config(), m_output, tuple);
    if (created.is_error()) {
        m_stats.allocation_failures++;
        return;
    }
    Connection* c = created.value();
    uint32_t iss = Connection::generate_isn(m_config.connection.isn_key, tuple, now);
    if (c->accept_syn(segment, iss, now).is_error()) {
        delete c;
        m_stats.dropped++;
        return;
    }
    m_syn_queue[m_syn_count++] = c;
}

void Listener::promote_established()
{
    // Connections whose handshake completed move to the accept queue while there is room;
    // the others stay (established) in the SYN queue until accept() makes room.
    size_t kept = 0;
    for (size_t i = 0; i < m_syn_count; i++) {
        Connection* c = m_syn_queue[i];
        bool ready = c->poll_state().connected && c->state() != State::Closed;
        if (ready && m_accept_count < m_config.backlog)
            m_accept_queue[m_accept_count++] = c;
        else
            m_syn_queue[kept++] = c;
    }
    m_syn_count = kept;
}

void Listener::reap_closed()
{
    size_t kept = 0;
    for (size_t i = 0; i < m_syn_count; i++) {
        Connection* c = m_syn_queue[i];
        if (c->state() == State::Closed) {
            m_stats.half_open_expired++;
            delete c;
        } else {
            m_syn_queue[kept++] = c;
        }
    }
    m_syn_count = kept;
}

void Listener::on_timer(Instant now)
{
    for (size_t i = 0; i < m_syn_count; i++)
        if (m_syn_queue[i]->next_deadline() <= now)
            m_syn_queue[i]->on_timer(now);
    for (size_t i = 0; i < m_accept_count; i++)
        if (m_accept_queue[i]->next_deadline() <= now)
            m_accept_queue[i]->on_timer(now);
    promote_established();
    reap_closed();
}

Instant Listener::next_deadline() const
{
    Instant d = kNever;
    for (size_t i = 0; i < m_syn_count; i++)
        if (m_syn_queue[i]->next_deadline() < d)
            d = m_syn_queue[i]->next_deadline();
    for (size_t i = 0; i < m_accept_count; i++)
        if (m_accept_queue[i]->next_deadline() < d)
            d = m_accept_queue[i]->next_deadline();
    return d;
}

Connection* Listener::accept()
{
    promote_established();
    if (m_accept_count == 0)
        return nullptr;
    Connection* c = m_accept_queue[0];
    for (size_t i = 1; i < m_accept_count; i++)
        m_accept_queue[i - 1] = m_accept_queue[i];
    m_accept_count--;
    promote_established();
    return c;
}

} // namespace net::tcp
