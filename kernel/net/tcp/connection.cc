// The TCP control block (see connection.h). Input follows the order of rfc9293 §3.10.7
// ("SEGMENT ARRIVES") with the checks of rfc7323 (PAWS) and rfc5961 (RST, SYN and ACK
// acceptance) added where those RFCs place them.
#include <lib/string.h>
#include <new>
#include <net/tcp/connection.h>

namespace net::tcp {

namespace {

constexpr uint32_t kTimestampOptionBytes = 12;
constexpr uint16_t kMinimumPeerMss = 88;  // smaller MSS values are raised (tiny-MSS attacks)
constexpr uint16_t kDefaultPeerMss = 536; // without the option [rfc9293 §3.7.1]
// ts_recent older than this is not used for PAWS [rfc7323 §5.5].
constexpr Duration kPawsIdle = 24ull * 24 * 3600 * kSecond;
// A timestamp at most this many ticks older than ts_recent still passes PAWS, as on Linux: a
// peer whose timestamps come from several CPUs' clocks may send one a tick behind its last.
// An old duplicate is older than that by far (rfc7323 §5.3 itself rejects any older one).
constexpr uint32_t kPawsWindow = 1;
// The longest TCP_CORK holds a partial segment (Linux's TCP_CORK ceiling).
constexpr Duration kCorkCeiling = 200 * kMillisecond;

// Moves the (up to two) ranges of a ring to or from a user buffer through `copy(range, at,
// length)`, `at` counting from the first range. How many bytes moved before the first error;
// the error itself only when nothing moved (a partial send or receive is a success).
template<typename Byte, typename Copy>
Result<size_t> copy_ranges(Byte* const (&data)[2], const size_t (&length)[2], Copy copy)
{
    size_t n = 0;
    for (size_t i = 0; i < 2 && length[i] > 0; i++) {
        Result<void> copied = copy(data[i], n, length[i]);
        if (copied.is_error()) {
            if (n == 0)
                return copied.error();
            break;
        }
        n += length[i];
    }
    return n;
}

template<typename T>
T min_of(T a, T b)
{
    return a < b ? a : b;
}

template<typename T>
T max_of(T a, T b)
{
    return a > b ? a : b;
}

} // namespace

const char* state_name(State state)
{
    switch (state) {
    case State::Closed:
        return "CLOSED";
    case State::Listen:
        return "LISTEN";
    case State::SynSent:
        return "SYN-SENT";
    case State::SynReceived:
        return "SYN-RECEIVED";
    case State::Established:
        return "ESTABLISHED";
    case State::FinWait1:
        return "FIN-WAIT-1";
    case State::FinWait2:
        return "FIN-WAIT-2";
    case State::CloseWait:
        return "CLOSE-WAIT";
    case State::Closing:
        return "CLOSING";
    case State::LastAck:
        return "LAST-ACK";
    case State::TimeWait:
        return "TIME-WAIT";
    }
    return "?";
}

// --- creation ---

Connection::Connection(const Config& config, Output& output, const FourTuple& tuple)
    : m_config(config), m_output(&output), m_tuple(tuple)
{
    m_cc = config.congestion == CongestionAlgorithm::NewReno
               ? static_cast<CongestionControl*>(&m_newreno)
               : static_cast<CongestionControl*>(&m_cubic);
    m_rto = config.initial_rto;
    m_rcv_wscale = config.window_scaling ? window_scale_for(config.receive_buffer_size) : 0;
    m_ts_offset = timestamp_offset(config.isn_key, tuple);
}

Connection::~Connection() = default;

Result<Connection*> Connection::create(const Config& config, Output& output, const FourTuple& tuple)
{
    Connection* c = new (std::nothrow) Connection(config, output, tuple);
    if (c == nullptr)
        return Errno::NOMEM;
    if (c->m_send_buffer.set_capacity(config.send_buffer_size).is_error() ||
        c->m_receive_buffer.set_capacity(config.receive_buffer_size).is_error()) {
        delete c;
        return Errno::NOMEM;
    }
    return c;
}

Result<void> Connection::set_buffer_sizes(size_t send_size, size_t receive_size)
{
    if (m_state != State::Closed && m_state != State::Listen)
        return Errno::BUSY;
    TRY(m_send_buffer.set_capacity(send_size));
    TRY(m_receive_buffer.set_capacity(receive_size));
    m_config.send_buffer_size = send_size;
    m_config.receive_buffer_size = receive_size;
    m_rcv_wscale = m_config.window_scaling ? window_scale_for(receive_size) : 0;
    return {};
}

uint8_t Connection::window_scale_for(size_t size)
{
    uint8_t shift = 0;
    while (shift < 14 && (size >> shift) > 0xffff)
        shift++;
    return shift;
}

uint32_t Connection::timestamp_offset(const HashKey& key, const FourTuple& tuple)
{
    return static_cast<uint32_t>(hash_tuple(key, tuple, 0x7473'6f66'6673'6574ull));
}

uint32_t Connection::timestamp_at(const HashKey& key, const FourTuple& tuple, Instant now)
{
    return static_cast<uint32_t>(now / kMillisecond) + timestamp_offset(key, tuple);
}

uint32_t Connection::generate_isn(const HashKey& key, const FourTuple& tuple, Instant now)
{
    // M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs timer.
    return static_cast<uint32_t>(now / 4) + static_cast<uint32_t>(hash_tuple(key, tuple));
}

uint32_t Connection::ts_clock(Instant now) const
{
    return static_cast<uint32_t>(now / kMillisecond) + m_ts_offset;
}

// --- small predicates ---

bool Connection::is_synchronised() const
{
    switch (m_state) {
    case State::Established:
    case State::FinWait1:
    case State::FinWait2:
    case State::CloseWait:
    case State::Closing:
    case State::LastAck:
    case State::TimeWait:
        return true;
    default:
        return false;
    }
}

uint32_t Connection::send_data_end() const
{
    return m_send_base + static_cast<uint32_t>(m_send_buffer.size());
}

bool Connection::fin_pending() const
{
    // Our FIN occupies send_data_end(); it is unsent while snd_nxt has not passed it.
    return m_fin_queued && seq_le(m_snd_nxt, send_data_end());
}

bool Connection::fin_acked() const
{
    return m_fin_queued && seq_gt(m_snd_una, send_data_end());
}

uint32_t Connection::flight_size() const
{
    return m_snd_nxt - m_snd_una;
}

Duration Connection::backed_off_rto() const
{
    Duration rto = m_rto;
    for (unsigned i = 0; i < m_backoff && rto < m_config.max_rto; i++)
        rto *= 2;
    return min_of(rto, m_config.max_rto);
}

bool Connection::persist_mode() const
{
    // Zero window with something to send and at most the one probe byte outstanding: the
    // persist timer probes instead of the retransmission timer [rfc9293 §3.8.6.1].
    if (m_state != State::Established && m_state != State::CloseWait &&
        m_state != State::FinWait1 && m_state != State::LastAck && m_state != State::Closing)
        return false;
    if (m_snd_wnd != 0)
        return false;
    bool unsent = seq_lt(m_snd_nxt, send_data_end()) || fin_pending();
    uint32_t outstanding = m_snd_max - m_snd_una;
    return (unsent && outstanding <= 1) || (outstanding == 1 && !m_fin_queued);
}

// --- output ---

void Connection::update_receive_edge()
{
    size_t free = m_receive_buffer.free_space();
    uint32_t room = static_cast<uint32_t>(min_of<size_t>(free, 0x3fffffff));
    uint32_t candidate = m_rcv_nxt + room;
    if (seq_lt(m_rcv_adv, m_rcv_nxt))
        m_rcv_adv = m_rcv_nxt;
    // Receiver-side silly window avoidance [rfc9293 §3.8.6.2.2]: move the right edge only by
    // at least min(half the buffer, one MSS).
    uint32_t threshold = static_cast<uint32_t>(
        min_of<size_t>(m_receive_buffer.capacity() / 2, m_config.mss));
    if (seq_gt(candidate, m_rcv_adv) && candidate - m_rcv_adv >= threshold)
        m_rcv_adv = candidate;
}

uint16_t Connection::advertised_window_field(bool syn)
{
    if (syn) {
        // Windows in SYN segments are never scaled [rfc7323 §2.2].
        size_t window = min_of<size_t>(m_receive_buffer.free_space(), 0xffff);
        return static_cast<uint16_t>(window);
    }
    update_receive_edge();
    uint32_t window = m_rcv_adv - m_rcv_nxt;
    uint32_t field = window >> m_rcv_wscale;
    return static_cast<uint16_t>(min_of<uint32_t>(field, 0xffff));
}

Options Connection::make_options(bool syn, bool include_sack)
{
    Options o;
    if (syn) {
        // Our SYN offers what the configuration allows; a SYN-ACK only what the peer offered.
        bool offering = m_state == State::SynSent;
        o.has_mss = true;
        o.mss = m_config.mss;
        if (offering ? m_config.window_scaling : m_ws_enabled) {
            o.has_window_scale = true;
            o.window_scale = m_rcv_wscale;
        }
        o.sack_permitted = offering ? m_config.sack : m_sack_enabled;
        if (offering ? m_config.timestamps : m_ts_enabled) {
            o.has_timestamps = true;
            o.ts_echo = offering ? 0 : m_ts_recent;
        }
        return o;
    }
    if (m_ts_enabled) {
        o.has_timestamps = true;
        o.ts_echo = m_ts_recent;
    }
    if (include_sack && m_sack_enabled && m_ooo_count > 0) {
        // Most recently changed range first, then the others by recency [rfc2018 §4].
        bool used[kMaxOutOfOrderRanges] = {};
        size_t count = min_of(m_ooo_count, kMaxSackBlocks);
        for (size_t b = 0; b < count; b++) {
            size_t best = kMaxOutOfOrderRanges;
            for (size_t i = 0; i < m_ooo_count; i++)
                if (!used[i] && (best == kMaxOutOfOrderRanges || m_ooo[i].stamp > m_ooo[best].stamp))
                    best = i;
            used[best] = true;
            o.sack_blocks[b] = {m_ooo[best].left, m_ooo[best].right};
        }
        o.sack_block_count = static_cast<uint8_t>(count);
    }
    return o;
}

void Connection::emit(uint32_t seq, uint8_t flags, Payload payload, Instant now, bool syn_options,
                      uint16_t segment_size)
{
    OutgoingSegment out;
    out.segment_size = segment_size;
    out.tx_queue_key = m_config.tx_queue_key;
    Header& h = out.header;
    h.source = m_tuple.local_address;
    h.destination = m_tuple.remote_address;
    h.source_port = m_tuple.local_port;
    h.destination_port = m_tuple.remote_port;
    h.seq = seq;
    h.flags = flags;
    h.ack = (flags & kAck) ? m_rcv_nxt : 0;
    h.options = make_options(syn_options, true);
    if (h.options.has_timestamps)
        h.options.ts_value = ts_clock(now);
    h.window = advertised_window_field(flags & kSyn);
    out.payload = payload;
    m_stats.segments_sent++;
    if (flags & kAck) {
        m_last_ack_sent = m_rcv_nxt;
        m_ack_now = false;
        m_delack_deadline = kNever;
    }
    m_output->transmit(out);
}

void Connection::send_ack(Instant now)
{
    // SND.MAX, not SND.NXT: after a timeout snd_nxt walks back over data the peer may
    // already hold, and an ACK with a sequence number below its RCV.NXT would be refused
    // as outside the window (rfc9293's SND.NXT is our snd_max; snd_nxt is the go-back-N
    // pointer).
    emit(m_snd_max, kAck, Payload{}, now, false);
}

void Connection::send_rst(uint32_t seq)
{
    OutgoingSegment out;
    out.tx_queue_key = m_config.tx_queue_key;
    Header& h = out.header;
    h.source = m_tuple.local_address;
    h.destination = m_tuple.remote_address;
    h.source_port = m_tuple.local_port;
    h.destination_port = m_tuple.remote_port;
    h.seq = seq;
    h.flags = kRst;
    m_stats.resets_sent++;
    m_stats.segments_sent++;
    m_output->transmit(out);
}

void Connection::send_reset_for(const Segment& segment, Output& output)
{
    if (segment.has(kRst))
        return;
    OutgoingSegment out;
    Header& h = out.header;
    h.source = segment.destination;
    h.destination = segment.source;
    h.source_port = segment.destination_port;
    h.destination_port = segment.source_port;
    if (segment.has(kAck)) {
        h.seq = segment.ack;
        h.flags = kRst;
    } else {
        h.seq = 0;
        h.ack = segment.seq + segment.sequence_length();
        h.flags = kRst | kAck;
    }
    output.transmit(out);
}

void Connection::send_challenge_ack(Instant now)
{
    // At most challenge_ack_limit a second [rfc5961 §7].
    if (now - m_challenge_window >= kSecond || m_challenge_window == 0) {
        m_challenge_window = now == 0 ? 1 : now;
        m_challenge_count = 0;
    }
    if (m_challenge_count >= m_config.challenge_ack_limit) {
        m_stats.challenge_acks_limited++;
        return;
    }
    m_challenge_count++;
    m_stats.challenge_acks++;
    send_ack(now);
}

void Connection::send_syn(Instant now)
{
    uint8_t flags = m_state == State::SynReceived ? (kSyn | kAck) : kSyn;
    if (m_retransmits == 0)
        m_rtt_start = now;
    emit(m_iss, flags, Payload{}, now, true);
    m_snd_nxt = m_iss + 1;
    m_snd_max = seq_max(m_snd_max, m_snd_nxt);
}

size_t Connection::send_range(uint32_t seq, size_t max_length, Instant now)
{
    // Sends [seq, seq + length) of already-sent sequence space again (plus the FIN if the
    // range ends where it sits). Returns the sequence space covered.
    uint32_t data_end = send_data_end();
    size_t length = 0;
    if (seq_lt(seq, data_end))
        length = min_of<size_t>(data_end - seq, max_length);
    uint32_t limit = m_send_mss;
    if (m_sack_enabled && m_ooo_count > 0)
        limit -= min_of<uint32_t>(limit / 2, 4 + 8 * static_cast<uint32_t>(min_of(m_ooo_count, kMaxSackBlocks)));
    length = min_of<size_t>(length, limit);
    bool fin = m_fin_queued && seq + length == data_end && seq_gt(m_snd_max, data_end);
    if (length == 0 && !fin)
        return 0;
    uint8_t flags = kAck | (fin ? kFin : 0) | (length > 0 && seq + length == data_end ? kPsh : 0);
    Payload payload = m_send_buffer.peek(seq - m_send_base, length);
    emit(seq, flags, payload, now, false);
    m_stats.retransmitted_segments++;
    if (m_rtt_timing && seq_le(seq, m_rtt_seq))
        m_rtt_timing = false; // Karn: an ambiguous sample
    uint32_t end = seq + static_cast<uint32_t>(length) + (fin ? 1 : 0);
    if (seq_gt(end, m_snd_nxt))
        m_snd_nxt = end;
    m_snd_max = seq_max(m_snd_max, m_snd_nxt);
    if (m_rto_deadline == kNever && !persist_mode())
        m_rto_deadline = now + backed_off_rto();
    return length + (fin ? 1 : 0);
}

void Connection::output(Instant now)
{
    switch (m_state) {
    case State::Established:
    case State::CloseWait:
    case State::FinWait1:
    case State::Closing:
    case State::LastAck:
        break;
    default:
        return;
    }
    for (;;) {
        uint32_t data_end = send_data_end();
        uint32_t unsent = seq_lt(m_snd_nxt, data_end) ? data_end - m_snd_nxt : 0;
        uint32_t flight = flight_size();
        uint32_t window = min_of(m_snd_wnd, m_cc->cwnd());
        uint32_t usable = window > flight ? window - flight : 0;
        uint32_t segment_limit = m_send_mss;
        if (m_sack_enabled && m_ooo_count > 0)
            segment_limit -= min_of<uint32_t>(
                segment_limit / 2, 4 + 8 * static_cast<uint32_t>(min_of(m_ooo_count, kMaxSackBlocks)));
        // With segmentation offload a send may cover several full segments (TSO): as many as
        // fit the window, whole ones only, so a short tail still goes through the Nagle and
        // cork checks below on the next round, as it would without the offload.
        uint32_t max_length = segment_limit;
        if (m_tso_max >= 2 * segment_limit)
            max_length = min_of<uint32_t>(m_tso_max, 0xffff) / segment_limit * segment_limit;
        uint32_t length = min_of(min_of(unsent, usable), max_length);
        if (length > segment_limit)
            length -= length % segment_limit;
        bool fin = m_fin_queued && fin_pending() && m_snd_nxt + length == data_end;
        if (fin && length == 0 && m_snd_wnd <= flight)
            fin = false; // a lone FIN waits for window like data (the persist timer probes)
        if (length == 0 && !fin)
            break;
        if (m_config.cork && length > 0 && length < segment_limit && !fin && !m_cork_flush) {
            // TCP_CORK: a partial segment waits for more data, the uncork or 200 ms (Linux's
            // ceiling), whatever is in flight.
            if (m_cork_deadline == kNever)
                m_cork_deadline = now + kCorkCeiling;
            break;
        }
        if (length > 0 && length < segment_limit && flight > 0 && !fin) {
            // Nagle [rfc9293 §3.7.4] and sender-side SWS avoidance [§3.8.6.2.1]: with data
            // unacknowledged (whose ACK will bring us back here), a short segment waits —
            // unless NODELAY is set and it empties the queue or fills at least half the
            // largest window the peer offered. With nothing in flight it goes now: no ACK
            // would come to release it (the RFC's override timeout, taken at once).
            bool all = length == unsent;
            bool big = m_max_snd_wnd > 0 && length >= m_max_snd_wnd / 2;
            if (!(m_config.nodelay && (all || big)))
                break;
        }
        uint32_t seq = m_snd_nxt;
        bool new_data = seq == m_snd_max;
        uint8_t flags = kAck | (fin ? kFin : 0) | (length > 0 && length == unsent ? kPsh : 0);
        Payload payload = m_send_buffer.peek(seq - m_send_base, length);
        emit(seq, flags, payload, now, false, length > segment_limit ? static_cast<uint16_t>(segment_limit) : 0);
        if (new_data) {
            m_stats.bytes_sent += length;
            if (!m_ts_enabled && !m_rtt_timing && length > 0) {
                m_rtt_timing = true;
                m_rtt_seq = seq;
                m_rtt_start = now;
            }
        } else {
            m_stats.retransmitted_segments++;
        }
        m_snd_nxt = seq + length + (fin ? 1 : 0);
        m_snd_max = seq_max(m_snd_max, m_snd_nxt);
        if (m_rto_deadline == kNever && !persist_mode())
            m_rto_deadline = now + backed_off_rto();
    }
}

// --- user calls ---

Result<void> Connection::open_active(Instant now)
{
    if (m_state != State::Closed || m_connected)
        return Errno::ISCONN;
    m_iss = generate_isn(m_config.isn_key, m_tuple, now);
    m_snd_una = m_iss;
    m_snd_nxt = m_iss;
    m_snd_max = m_iss;
    m_send_base = m_iss + 1;
    m_recover = m_iss;
    m_last_received = now;
    m_state = State::SynSent;
    send_syn(now);
    update_timers(now);
    notify();
    return {};
}

Result<void> Connection::open_passive()
{
    if (m_state != State::Closed || m_connected)
        return Errno::ISCONN;
    m_state = State::Listen;
    return {};
}

Result<void> MemoryBuffer::copy_out(size_t at, const uint8_t* from, size_t length)
{
    if (m_read_only || at > m_size || length > m_size - at)
        return Errno::FAULT;
    lib::mem_copy(m_data + at, from, length);
    return {};
}

Result<void> MemoryBuffer::copy_in(size_t at, uint8_t* to, size_t length)
{
    if (at > m_size || length > m_size - at)
        return Errno::FAULT;
    lib::mem_copy(to, m_data + at, length);
    return {};
}

Errno Connection::take_error()
{
    if (m_error == Errno(0) || m_error_reported)
        return Errno(0);
    m_error_reported = true;
    notify();
    return m_error;
}

Result<size_t> Connection::send(const uint8_t* data, size_t length, Instant now)
{
    MemoryBuffer buffer(data, length);
    return send(buffer, 0, length, now);
}

Result<size_t> Connection::send(UserBuffer& data, size_t offset, size_t length, Instant now)
{
    if (m_error != Errno(0)) {
        if (m_error_reported)
            return Errno::PIPE;
        m_error_reported = true;
        return m_error;
    }
    switch (m_state) {
    case State::SynSent:
    case State::SynReceived:
    case State::Established:
    case State::CloseWait:
        break;
    case State::Closed:
    case State::Listen:
        return Errno::NOTCONN;
    default:
        return Errno::PIPE;
    }
    if (m_fin_queued)
        return Errno::PIPE;
    if (length == 0)
        return size_t(0);
    if (!m_send_buffer.reserve())
        return Errno::NOBUFS;
    ByteRing::Space space = m_send_buffer.space(length);
    if (space.size() == 0)
        return Errno::AGAIN;
    size_t n = TRY(copy_ranges(space.data, space.length,
                               [&](uint8_t* range, size_t at, size_t length) { return data.copy_in(offset + at, range, length); }));
    m_send_buffer.commit(n);
    output(now);
    update_timers(now);
    notify();
    return n;
}

Result<size_t> Connection::receive(uint8_t* out, size_t length, Instant now)
{
    MemoryBuffer buffer(out, length);
    return receive(buffer, 0, length, false, now);
}

Result<size_t> Connection::receive(UserBuffer& out, size_t offset, size_t length, bool peek, Instant now)
{
    Payload p = m_receive_buffer.peek(0, length);
    if (p.size() > 0) {
        size_t n = TRY(copy_ranges(p.data, p.length,
                                   [&](const uint8_t* range, size_t at, size_t length) { return out.copy_out(offset + at, range, length); }));
        if (peek)
            return n;
        m_receive_buffer.consume(n);
        if (is_synchronised() && !m_fin_received) {
            // A window update when the right edge moves far enough [rfc9293 §3.8.6.2.2].
            uint32_t before = m_rcv_adv;
            update_receive_edge();
            if (m_rcv_adv != before)
                send_ack(now);
        }
        update_timers(now);
        notify();
        return n;
    }
    if (length == 0)
        return size_t(0);
    if (m_fin_received)
        return size_t(0);
    if (m_error != Errno(0)) {
        if (m_error_reported)
            return size_t(0); // reported once; then end of stream, as Linux after a reset
        m_error_reported = true;
        notify();
        return m_error;
    }
    if (m_state == State::Closed || m_state == State::Listen)
        return Errno::NOTCONN;
    return Errno::AGAIN;
}

Result<void> Connection::shutdown(Instant now)
{
    switch (m_state) {
    case State::Closed:
    case State::Listen:
        return Errno::NOTCONN;
    case State::SynSent:
        count_failed_open();
        m_state = State::Closed;
        break;
    case State::SynReceived:
        m_fin_queued = true; // sent once established
        break;
    case State::Established:
        m_fin_queued = true;
        m_state = State::FinWait1;
        break;
    case State::CloseWait:
        m_fin_queued = true;
        m_state = State::LastAck;
        break;
    default:
        break; // already closing
    }
    output(now);
    update_timers(now);
    notify();
    return {};
}

void Connection::close(Instant now)
{
    m_user_closed = true;
    if (m_state == State::Closed)
        return;
    if (m_state == State::Listen || m_state == State::SynSent) {
        count_failed_open();
        m_state = State::Closed;
        update_timers(now);
        notify();
        return;
    }
    if (!m_receive_buffer.is_empty() && m_state != State::TimeWait) {
        abort(now); // unread data is lost: tell the peer [rfc2525 §2.17]
        return;
    }
    if (m_state == State::FinWait2 && m_time_wait_deadline == kNever) {
        // Shut down for writing earlier, now closed: nobody will read what the peer may still
        // send, and it may never send its FIN — bound the wait as on reaching FIN-WAIT-2.
        m_time_wait_deadline = now + m_config.time_wait;
        update_timers(now);
        return;
    }
    (void)shutdown(now);
}

void Connection::abort(Instant now)
{
    switch (m_state) {
    case State::SynReceived:
    case State::Established:
    case State::FinWait1:
    case State::FinWait2:
    case State::CloseWait:
        send_rst(m_snd_max);
        break;
    default:
        break;
    }
    count_failed_open();
    m_state = State::Closed;
    update_timers(now);
    notify();
}

void Connection::set_cork(bool cork, Instant now)
{
    m_config.cork = cork;
    if (!cork) {
        // What waited goes now (Nagle still applies unless NODELAY, as on Linux).
        m_cork_deadline = kNever;
        output(now);
        update_timers(now);
    }
}

void Connection::set_nodelay(bool nodelay, Instant now)
{
    m_config.nodelay = nodelay;
    if (nodelay) {
        output(now);
        update_timers(now);
    }
}

void Connection::set_keepalive(bool enabled, Duration idle, Duration interval, unsigned count,
                               Instant now)
{
    m_config.keepalive = enabled;
    m_config.keepalive_idle = idle;
    m_config.keepalive_interval = interval;
    m_config.keepalive_count = count;
    m_keepalive_deadline = kNever;
    m_keepalive_sent = 0;
    update_timers(now);
}

// --- state changes ---

// An active open that ends before it connects (/proc/net/snmp AttemptFails). Call before
// leaving the state.
void Connection::count_failed_open()
{
    if (m_state == State::SynSent)
        m_stats.failed_opens++;
}

void Connection::set_error_and_close(Errno error)
{
    m_error = error;
    count_failed_open();
    m_state = State::Closed;
    m_rto_deadline = kNever;
    m_persist_deadline = kNever;
    m_delack_deadline = kNever;
    m_keepalive_deadline = kNever;
    m_time_wait_deadline = kNever;
}

void Connection::become_established(Instant now)
{
    m_state = State::Established;
    m_connected = true;
    m_cc->start(m_send_mss);
    m_last_received = now;
    if (m_fin_queued)
        m_state = State::FinWait1;
}

void Connection::enter_time_wait(Instant now)
{
    m_state = State::TimeWait;
    m_rto_deadline = kNever;
    m_persist_deadline = kNever;
    m_keepalive_deadline = kNever;
    m_time_wait_deadline = now + m_config.time_wait;
    release_idle_buffers();
}

void Connection::release_idle_buffers()
{
    // A connection that will send nothing more (and, once read, receive nothing) keeps no
    // buffer memory through TIME-WAIT or FIN-WAIT-2 — a server closing thousands of
    // connections a second would otherwise hold two rings per connection for 60 s.
    if (m_send_buffer.is_empty() && fin_acked())
        m_send_buffer.release();
    if (m_receive_buffer.is_empty() && m_ooo_count == 0 && m_fin_received)
        m_receive_buffer.release();
}

void Connection::apply_peer_options(const Options& options, bool)
{
    uint16_t mss = options.has_mss ? options.mss : kDefaultPeerMss;
    m_peer_mss = max_of(mss, kMinimumPeerMss);
    m_ws_enabled = m_config.window_scaling && options.has_window_scale;
    m_snd_wscale = m_ws_enabled ? min_of<uint8_t>(options.window_scale, 14) : 0;
    if (!m_ws_enabled)
        m_rcv_wscale = 0;
    m_sack_enabled = m_config.sack && options.sack_permitted;
    m_ts_enabled = m_config.timestamps && options.has_timestamps;
    if (m_ts_enabled)
        m_ts_recent = options.ts_value;
    uint32_t mss_both = min_of<uint32_t>(m_peer_mss, m_config.mss);
    m_send_mss = mss_both - (m_ts_enabled ? kTimestampOptionBytes : 0);
}

void Connection::negotiate(const NegotiatedOptions& n)
{
    Options o;
    o.has_mss = true;
    o.mss = n.peer_mss;
    o.has_window_scale = n.window_scaling;
    o.window_scale = n.peer_window_scale;
    o.sack_permitted = n.sack;
    o.has_timestamps = n.timestamps;
    apply_peer_options(o, true);
}

void Connection::notify()
{
    uint32_t events = poll_state().events;
    if (events != m_last_events) {
        m_last_events = events;
        m_output->state_changed(*this);
    }
}

PollState Connection::poll_state() const
{
    PollState p;
    p.readable = m_receive_buffer.size();
    // An error is pending until send, receive or take_error reported it (once, as Linux).
    bool error_pending = m_error != Errno(0) && !m_error_reported;
    p.error = error_pending ? m_error : Errno(0);
    p.fin_received = m_fin_received;
    p.connected = m_connected;
    p.closed = m_state == State::Closed;
    bool dead = p.closed && (m_connected || m_error != Errno(0));
    bool can_send = (m_state == State::Established || m_state == State::CloseWait) && !m_fin_queued;
    p.writable = can_send ? m_send_buffer.free_space() : 0;
    if (p.readable > 0 || p.fin_received || error_pending || dead)
        p.events |= kEventReadable;
    if (p.writable > 0 || error_pending || dead)
        p.events |= kEventWritable;
    if (error_pending)
        p.events |= kEventError;
    if (dead || (p.fin_received && m_fin_queued))
        p.events |= kEventHangup;
    if (p.connected)
        p.events |= kEventConnected;
    return p;
}

// --- the listener seams ---

Result<void> Connection::accept_syn(const Segment& syn, uint32_t iss, Instant now)
{
    if ((m_state != State::Listen && m_state != State::Closed) || m_connected)
        return Errno::ISCONN;
    if (!syn.has(kSyn) || syn.has(kAck) || syn.has(kRst))
        return Errno::INVAL;
    m_tuple.local_address = syn.destination;
    m_tuple.local_port = syn.destination_port;
    m_tuple.remote_address = syn.source;
    m_tuple.remote_port = syn.source_port;
    m_ts_offset = timestamp_offset(m_config.isn_key, m_tuple);
    m_passive = true;
    m_irs = syn.seq;
    m_rcv_nxt = syn.seq + 1;
    m_last_ack_sent = m_rcv_nxt;
    apply_peer_options(syn.options, false);
    m_ts_recent_age = now;
    m_iss = iss;
    m_snd_una = iss;
    m_snd_nxt = iss;
    m_snd_max = iss;
    m_send_base = iss + 1;
    m_recover = iss;
    m_snd_wnd = syn.window; // unscaled in a SYN
    m_max_snd_wnd = m_snd_wnd;
    m_snd_wl1 = syn.seq;
    m_snd_wl2 = iss;
    m_last_received = now;
    m_state = State::SynReceived;
    m_rcv_adv = m_rcv_nxt + advertised_window_field(true);
    send_syn(now);
    update_timers(now);
    return {};
}

Result<void> Connection::establish_from_cookie(const Segment& ack, const NegotiatedOptions& options,
                                               Instant now)
{
    if (m_state != State::Closed || m_connected)
        return Errno::ISCONN;
    m_tuple.local_address = ack.destination;
    m_tuple.local_port = ack.destination_port;
    m_tuple.remote_address = ack.source;
    m_tuple.remote_port = ack.source_port;
    m_ts_offset = timestamp_offset(m_config.isn_key, m_tuple);
    m_passive = true;
    m_irs = ack.seq - 1;
    m_rcv_nxt = ack.seq;
    m_last_ack_sent = m_rcv_nxt;
    negotiate(options);
    if (m_ts_enabled && ack.options.has_timestamps) {
        m_ts_recent = ack.options.ts_value;
        m_ts_recent_age = now;
    }
    m_iss = ack.ack - 1;
    m_snd_una = ack.ack;
    m_snd_nxt = ack.ack;
    m_snd_max = ack.ack;
    m_send_base = ack.ack;
    m_recover = m_iss;
    m_snd_wnd = uint32_t(ack.window) << m_snd_wscale;
    m_max_snd_wnd = m_snd_wnd;
    m_snd_wl1 = ack.seq;
    m_snd_wl2 = ack.ack;
    // The SYN-ACK advertised an unscaled window of at most 64 KiB.
    m_rcv_adv = m_rcv_nxt + static_cast<uint32_t>(min_of<size_t>(m_receive_buffer.free_space(), 0xffff));
    become_established(now);
    // The ACK may carry data (or be a data segment whose pure ACK was lost).
    (void)process_synchronised(ack, now);
    update_timers(now);
    notify();
    return {};
}

// --- input ---

InputResult Connection::on_segment(const Segment& segment, Instant now)
{
    m_stats.segments_received++;
    InputResult result = InputResult::Done;
    switch (m_state) {
    case State::Closed:
        if (!segment.has(kRst)) {
            send_reset_for(segment, *m_output);
            m_stats.resets_sent++;
        }
        break;
    case State::Listen:
        if (segment.has(kRst))
            break;
        if (segment.has(kAck)) {
            send_reset_for(segment, *m_output);
            m_stats.resets_sent++;
            break;
        }
        if (segment.has(kSyn)) {
            FourTuple tuple{segment.destination, segment.destination_port, segment.source,
                            segment.source_port};
            (void)accept_syn(segment, generate_isn(m_config.isn_key, tuple, now), now);
        }
        break;
    case State::SynSent:
        process_syn_sent(segment, now);
        break;
    default:
        result = process_synchronised(segment, now);
        break;
    }
    update_timers(now);
    notify();
    return result;
}

void Connection::process_syn_sent(const Segment& segment, Instant now)
{
    // [rfc9293 §3.10.7.3]
    if (segment.has(kAck) && (seq_le(segment.ack, m_iss) || seq_gt(segment.ack, m_snd_max))) {
        m_stats.bad_syn_sent_ack++;
        if (!segment.has(kRst))
            send_rst(segment.ack);
        return;
    }
    if (segment.has(kRst)) {
        m_stats.resets_received++;
        // Only with an acceptable ACK (which, for a SYN, is exactly snd_nxt) [rfc5961 §3.2].
        if (segment.has(kAck))
            set_error_and_close(Errno::CONNREFUSED);
        return;
    }
    if (!segment.has(kSyn))
        return;
    m_irs = segment.seq;
    m_rcv_nxt = segment.seq + 1;
    m_last_ack_sent = m_rcv_nxt;
    apply_peer_options(segment.options, segment.has(kAck));
    m_ts_recent_age = now;
    m_snd_wnd = segment.window; // unscaled in a SYN
    m_max_snd_wnd = m_snd_wnd;
    m_snd_wl1 = segment.seq;
    m_snd_wl2 = segment.ack;
    m_last_received = now;
    if (segment.has(kAck)) {
        m_snd_una = segment.ack;
        if (m_ts_enabled && segment.options.has_timestamps && segment.options.ts_echo != 0) {
            uint32_t ms = ts_clock(now) - segment.options.ts_echo;
            if (ms < 0x7fffffffu)
                sample_rtt(Duration(ms) * kMillisecond);
        } else if (m_retransmits == 0) {
            sample_rtt(now - m_rtt_start); // Karn: only if the SYN was not retransmitted
        }
        m_backoff = 0;
        m_retransmits = 0;
        m_rto_deadline = kNever;
        m_rcv_adv = m_rcv_nxt + static_cast<uint32_t>(
                                    min_of<size_t>(m_receive_buffer.free_space(), 0x3fffffff));
        become_established(now);
        output(now);
        send_ack(now);
        return;
    }
    // Simultaneous open [rfc9293 §3.5, figure 7].
    m_state = State::SynReceived;
    m_rcv_adv = m_rcv_nxt + advertised_window_field(true);
    send_syn(now);
}

bool Connection::check_sequence(const Segment& segment, Instant now)
{
    // The four cases of rfc9293 §3.10.7.4.
    uint32_t window = seq_gt(m_rcv_adv, m_rcv_nxt) ? m_rcv_adv - m_rcv_nxt : 0;
    uint32_t length = segment.sequence_length();
    uint32_t seq = segment.seq;
    if (length == 0) {
        if (window == 0)
            return seq == m_rcv_nxt;
        return seq_in_range(seq, m_rcv_nxt, m_rcv_nxt + window);
    }
    if (window == 0)
        return false;
    return seq_in_range(seq, m_rcv_nxt, m_rcv_nxt + window) ||
           seq_in_range(seq + length - 1, m_rcv_nxt, m_rcv_nxt + window);
}

InputResult Connection::process_synchronised(const Segment& segment, Instant now)
{
    // TIME-WAIT: a new SYN may open a new incarnation if it is clearly newer
    // [rfc9293 §3.10.7.4, rfc6191 §2].
    if (m_state == State::TimeWait && segment.has(kSyn) && !segment.has(kAck) &&
        !segment.has(kRst)) {
        bool newer = (m_ts_enabled && segment.options.has_timestamps)
                         ? seq_gt(segment.options.ts_value, m_ts_recent)
                         : seq_gt(segment.seq, m_rcv_nxt);
        if (newer) {
            m_state = State::Closed;
            m_time_wait_deadline = kNever;
            return InputResult::Reopen;
        }
    }

    // PAWS [rfc7323 §5.3]: a timestamp older than ts_recent (by more than kPawsWindow) marks
    // an old duplicate.
    if (m_ts_enabled && segment.options.has_timestamps && !segment.has(kRst) &&
        seq_lt(segment.options.ts_value + kPawsWindow, m_ts_recent) && now - m_ts_recent_age < kPawsIdle) {
        m_stats.paws_rejected++;
        send_ack(now);
        return InputResult::Done;
    }

    if (segment.has(kSyn)) {
        if (m_state == State::SynReceived && segment.seq == m_irs && !segment.has(kRst)) {
            if (!segment.has(kAck)) {
                send_syn(now); // our SYN-ACK was lost: the peer repeats its SYN
                return InputResult::Done;
            }
            // Simultaneous open: the peer's SYN-ACK acknowledges our SYN.
            if (seq_gt(segment.ack, m_snd_una) && seq_le(segment.ack, m_snd_max)) {
                m_snd_una = segment.ack;
                m_retransmits = 0;
                m_backoff = 0;
                m_rto_deadline = kNever;
                m_snd_wnd = segment.window;
                m_max_snd_wnd = max_of(m_max_snd_wnd, m_snd_wnd);
                m_snd_wl1 = segment.seq;
                m_snd_wl2 = segment.ack;
                become_established(now);
                output(now);
                send_ack(now);
                return InputResult::Done;
            }
            send_rst(segment.ack);
            return InputResult::Done;
        }
        // A SYN in a synchronised state, whatever its sequence number [rfc5961 §4.2].
        send_challenge_ack(now);
        return InputResult::Done;
    }

    bool acceptable = check_sequence(segment, now);
    bool data_allowed = true;
    if (!acceptable) {
        // With a zero window, a segment at rcv_nxt still carries a valid ACK and window
        // (a zero-window probe's answer, say) [rfc9293 §3.10.7.4].
        uint32_t window = seq_gt(m_rcv_adv, m_rcv_nxt) ? m_rcv_adv - m_rcv_nxt : 0;
        if (window == 0 && segment.seq == m_rcv_nxt && segment.has(kAck) && !segment.has(kRst)) {
            data_allowed = false;
        } else {
            m_stats.out_of_window++;
            if (segment.payload_length > 0 && seq_lt(segment.seq, m_rcv_nxt))
                m_stats.duplicate_segments++;
            if (!segment.has(kRst))
                send_ack(now);
            return InputResult::Done;
        }
    }

    if (segment.has(kRst)) {
        m_stats.resets_received++;
        // [rfc5961 §3.2]: only an exact match resets; in-window gets a challenge ACK.
        if (segment.seq != m_rcv_nxt) {
            send_challenge_ack(now);
            return InputResult::Done;
        }
        switch (m_state) {
        case State::SynReceived:
            // From a listener: the half-open connection just goes away [rfc9293 §3.10.7.4].
            set_error_and_close(m_passive ? Errno(0) : Errno::CONNREFUSED);
            break;
        case State::Established:
        case State::FinWait1:
        case State::FinWait2:
        case State::CloseWait:
            set_error_and_close(Errno::CONNRESET);
            break;
        default:
            set_error_and_close(Errno(0));
            break;
        }
        return InputResult::Done;
    }

    if (!segment.has(kAck)) {
        m_stats.dropped_no_ack++;
        return InputResult::Done;
    }

    m_last_received = now;
    m_persist_unanswered = 0;
    m_keepalive_sent = 0;
    m_keepalive_deadline = kNever;

    // Remember the peer's timestamp [rfc7323 §4.3]: only from a segment that covers the
    // left edge of our window, so that a delayed ACK does not push ts_recent back.
    if (m_ts_enabled && segment.options.has_timestamps &&
        seq_le(segment.seq, m_last_ack_sent) &&
        seq_le(m_last_ack_sent, segment.seq + segment.sequence_length()) &&
        seq_ge(segment.options.ts_value, m_ts_recent)) {
        m_ts_recent = segment.options.ts_value;
        m_ts_recent_age = now;
    }

    if (!process_ack(segment, now))
        return InputResult::Done;

    if (data_allowed && (segment.payload_length > 0 || segment.has(kFin)))
        process_data(segment, now);
    else if (!data_allowed)
        m_ack_now = true;

    output(now);
    if (m_ack_now)
        send_ack(now);
    return InputResult::Done;
}

bool Connection::process_ack(const Segment& segment, Instant now)
{
    if (m_state == State::SynReceived) {
        if (!(seq_gt(segment.ack, m_snd_una) && seq_le(segment.ack, m_snd_max))) {
            m_stats.bad_ack++;
            send_rst(segment.ack);
            return false;
        }
        m_snd_wnd = uint32_t(segment.window) << m_snd_wscale;
        m_max_snd_wnd = max_of(m_max_snd_wnd, m_snd_wnd);
        m_snd_wl1 = segment.seq;
        m_snd_wl2 = segment.ack;
        // The SYN-ACK was acknowledged: the SYN is the first byte acked.
        m_snd_una = m_iss + 1;
        if (m_retransmits == 0 && m_ts_enabled && segment.options.has_timestamps &&
            segment.options.ts_echo != 0) {
            uint32_t ms = ts_clock(now) - segment.options.ts_echo;
            if (ms < 0x7fffffffu)
                sample_rtt(Duration(ms) * kMillisecond);
        }
        m_retransmits = 0;
        m_backoff = 0;
        m_rto_deadline = kNever;
        become_established(now);
        if (segment.ack == m_snd_una)
            return true;
        // Fall through: the ACK may also cover data sent since.
    }

    // [rfc5961 §5.2]: acceptable if snd_una − max_snd_wnd <= ack <= snd_max.
    if (seq_gt(segment.ack, m_snd_max) ||
        seq_lt(segment.ack, m_snd_una - max_of<uint32_t>(m_max_snd_wnd, 1))) {
        m_stats.bad_ack++;
        if (seq_gt(segment.ack, m_snd_max))
            send_ack(now);
        else
            send_challenge_ack(now);
        return false;
    }

    record_sack_blocks(segment);
    uint32_t old_window = m_snd_wnd;
    if (seq_gt(segment.ack, m_snd_una)) {
        uint32_t acked = segment.ack - m_snd_una;
        process_new_ack(segment, acked, now);
    } else if (segment.ack == m_snd_una && segment.payload_length == 0 &&
               !segment.has(kSyn) && !segment.has(kFin) &&
               (uint32_t(segment.window) << m_snd_wscale) == old_window && old_window != 0 &&
               m_snd_max != m_snd_una) {
        // A duplicate ACK by rfc5681 §2's definition.
        process_duplicate_ack(now);
    }
    // Window update [rfc9293 §3.10.7.4, SND.WL1/WL2 rule].
    if (seq_lt(m_snd_wl1, segment.seq) ||
        (m_snd_wl1 == segment.seq && seq_le(m_snd_wl2, segment.ack))) {
        m_snd_wnd = uint32_t(segment.window) << m_snd_wscale;
        m_max_snd_wnd = max_of(m_max_snd_wnd, m_snd_wnd);
        m_snd_wl1 = segment.seq;
        m_snd_wl2 = segment.ack;
        if (m_snd_wnd == 0 && old_window != 0)
            m_stats.zero_windows_received++;
        if (m_snd_wnd != 0 && old_window == 0) {
            m_persist_deadline = kNever;
            m_persist_backoff = 0;
            // The window opened after a probe the peer could not take: send it again now.
            if (m_snd_max != m_snd_una && m_snd_max - m_snd_una <= 1)
                m_snd_nxt = m_snd_una;
        }
    }

    if (fin_acked()) {
        switch (m_state) {
        case State::FinWait1:
            m_state = State::FinWait2;
            if (m_user_closed)
                m_time_wait_deadline = now + m_config.time_wait; // nobody will read: bound it
            release_idle_buffers();
            break;
        case State::Closing:
            enter_time_wait(now);
            break;
        case State::LastAck:
            set_error_and_close(Errno(0));
            return false;
        default:
            break;
        }
    }
    return true;
}

void Connection::sample_rtt(Duration rtt)
{
    // [rfc6298 §2.2-2.4], with G = 1 ms.
    m_stats.rtt_samples++;
    if (!m_have_rtt) {
        m_srtt = rtt;
        m_rttvar = rtt / 2;
        m_have_rtt = true;
    } else {
        Duration delta = m_srtt > rtt ? m_srtt - rtt : rtt - m_srtt;
        m_rttvar = (3 * m_rttvar + delta) / 4;
        m_srtt = (7 * m_srtt + rtt) / 8;
    }
    Duration variance = max_of<Duration>(kMillisecond, 4 * m_rttvar);
    m_rto = min_of(max_of(m_srtt + variance, m_config.min_rto), m_config.max_rto);
}

void Connection::process_new_ack(const Segment& segment, uint32_t acked, Instant now)
{
    uint32_t ack = segment.ack;
    // RTT measurement: RTTM with timestamps [rfc7323 §4], else one timed segment (Karn).
    if (m_ts_enabled && segment.options.has_timestamps && segment.options.ts_echo != 0) {
        uint32_t ms = ts_clock(now) - segment.options.ts_echo;
        if (ms < 0x7fffffffu)
            sample_rtt(Duration(ms) * kMillisecond);
    } else if (m_rtt_timing && seq_gt(ack, m_rtt_seq)) {
        m_rtt_timing = false;
        sample_rtt(now - m_rtt_start);
    }

    // Drop acknowledged bytes from the send buffer (the FIN is not in it).
    uint32_t data_end = send_data_end();
    uint32_t data_acked = seq_lt(ack, data_end) ? ack - m_send_base : data_end - m_send_base;
    if (seq_gt(m_send_base, ack))
        data_acked = 0;
    m_send_buffer.consume(data_acked);
    m_send_base += data_acked;

    m_snd_una = ack;
    if (seq_lt(m_snd_nxt, ack))
        m_snd_nxt = ack;
    m_backoff = 0;
    m_retransmits = 0;

    // Forget SACKed ranges now below snd_una.
    size_t kept = 0;
    for (size_t i = 0; i < m_sacked_count; i++) {
        if (seq_le(m_sacked[i].right, m_snd_una))
            continue;
        SackBlock b = m_sacked[i];
        if (seq_lt(b.left, m_snd_una))
            b.left = m_snd_una;
        m_sacked[kept++] = b;
    }
    m_sacked_count = kept;

    uint32_t mss = m_send_mss;
    if (m_in_recovery) {
        if (seq_ge(ack, m_recover)) {
            // Full acknowledgement: leave recovery, deflate [rfc6582 §3.2 step 3].
            m_in_recovery = false;
            m_dup_acks = 0;
            uint32_t flight = flight_size();
            m_cc->set_cwnd(min_of(m_cc->ssthresh(), max_of(flight, mss) + mss));
        } else {
            // Partial acknowledgement [rfc6582 §3.2 step 4]: retransmit the next hole,
            // deflate by the amount acked, add back one MSS, restart the timer.
            retransmit_hole(m_snd_una, now);
            uint32_t cwnd = m_cc->cwnd();
            cwnd = cwnd > acked ? cwnd - acked : 0;
            if (acked >= mss)
                cwnd += mss;
            m_cc->set_cwnd(cwnd);
            m_rto_deadline = now + backed_off_rto();
            return;
        }
    } else {
        m_dup_acks = 0;
        m_cc->on_ack(acked, now, m_srtt);
    }
    // [rfc6298 §5.2-5.3]
    m_rto_deadline = m_snd_una == m_snd_max ? kNever : now + backed_off_rto();
}

bool Connection::next_hole(uint32_t from, uint32_t& seq, size_t& length) const
{
    // The first byte at or after `from` the peer has not SACKed, below the highest SACKed
    // byte (beyond it, nothing is known to be lost).
    if (m_sacked_count == 0)
        return false;
    uint32_t s = seq_max(from, m_snd_una);
    for (size_t i = 0; i < m_sacked_count; i++) {
        if (seq_le(m_sacked[i].right, s))
            continue;
        if (seq_le(m_sacked[i].left, s)) {
            s = m_sacked[i].right;
            continue;
        }
        seq = s;
        length = m_sacked[i].left - s;
        return true;
    }
    return false;
}

void Connection::retransmit_hole(uint32_t from, Instant now)
{
    uint32_t seq = from;
    size_t length = m_send_mss;
    if (m_sack_enabled && m_sacked_count > 0) {
        if (!next_hole(seq_max(from, m_high_rxt), seq, length)) {
            // Nothing known missing beyond what was already resent: resend at snd_una
            // only if that was not resent in this recovery yet.
            if (seq_lt(m_snd_una, m_high_rxt))
                return;
            seq = m_snd_una;
            length = m_send_mss;
        }
        // Count what the scoreboard saved us from resending.
        if (seq != m_snd_una)
            m_stats.sack_skipped_bytes += seq - seq_max(from, m_snd_una);
    }
    size_t sent = send_range(seq, min_of<size_t>(length, m_send_mss), now);
    if (sent > 0)
        m_high_rxt = seq_max(m_high_rxt, seq + static_cast<uint32_t>(sent));
}

void Connection::process_duplicate_ack(Instant now)
{
    m_stats.duplicate_acks++;
    m_dup_acks++;
    uint32_t mss = m_send_mss;
    if (m_in_recovery) {
        // Window inflation [rfc6582 §3.2 step 3]; with SACK, fill the next hole now.
        m_cc->set_cwnd(m_cc->cwnd() + mss);
        if (m_sack_enabled && m_sacked_count > 0) {
            uint32_t seq;
            size_t length;
            uint32_t from = seq_max(m_high_rxt, m_snd_una);
            if (next_hole(from, seq, length)) {
                m_stats.sack_skipped_bytes += seq - from;
                size_t sent = send_range(seq, min_of<size_t>(length, mss), now);
                if (sent > 0)
                    m_high_rxt = seq_max(m_high_rxt, seq + static_cast<uint32_t>(sent));
            }
        }
        return;
    }
    if (m_dup_acks != 3)
        return;
    // Fast retransmit [rfc5681 §3.2] unless this loss belongs to an earlier window
    // [rfc6582 §3.2 step 2: the cumulative ACK must cover more than `recover`].
    if (!seq_gt(m_snd_una, m_recover))
        return;
    m_stats.fast_retransmits++;
    m_in_recovery = true;
    m_recover = m_snd_max;
    m_high_rxt = m_snd_una;
    m_cc->on_fast_loss(flight_size(), now);
    m_cc->set_cwnd(m_cc->ssthresh() + 3 * mss);
    m_rtt_timing = false;
    size_t sent = send_range(m_snd_una, mss, now);
    m_high_rxt = m_snd_una + static_cast<uint32_t>(sent);
    m_rto_deadline = now + backed_off_rto();
}

namespace {

// Merges [block.left, block.right) into `count` sorted, disjoint ranges, writing the result
// (at most count + 1 ranges, still sorted and disjoint) to `out`; returns its length. Ranges
// that touch or overlap the block are absorbed into it (the block's other fields are kept).
template <typename R>
size_t merge_range(const R* ranges, size_t count, R block, R* out)
{
    size_t n = 0;
    bool placed = false;
    for (size_t i = 0; i < count; i++) {
        const R& r = ranges[i];
        if (seq_lt(r.right, block.left)) {
            out[n++] = r;
        } else if (seq_lt(block.right, r.left)) {
            if (!placed) {
                out[n++] = block;
                placed = true;
            }
            out[n++] = r;
        } else {
            block.left = seq_min(block.left, r.left);
            block.right = seq_max(block.right, r.right);
        }
    }
    if (!placed)
        out[n++] = block;
    return n;
}

} // namespace

void Connection::record_sack_blocks(const Segment& segment)
{
    if (!m_sack_enabled)
        return;
    for (size_t b = 0; b < segment.options.sack_block_count; b++) {
        SackBlock block = segment.options.sack_blocks[b];
        // Ignore blocks that are empty, not above snd_una or beyond what was sent.
        if (!seq_lt(block.left, block.right) || !seq_gt(block.right, m_snd_una) ||
            seq_gt(block.right, m_snd_max))
            continue;
        if (seq_lt(block.left, m_snd_una))
            block.left = m_snd_una;
        // Merge into the sorted, disjoint scoreboard.
        SackBlock merged[kMaxSackedRanges + 1];
        size_t count = merge_range(m_sacked, m_sacked_count, block, merged);
        if (count > kMaxSackedRanges)
            count = kMaxSackedRanges; // the highest range is forgotten: only less is skipped
        for (size_t i = 0; i < count; i++)
            m_sacked[i] = merged[i];
        m_sacked_count = count;
    }
}

void Connection::insert_out_of_order(uint32_t left, uint32_t right)
{
    Range merged[kMaxOutOfOrderRanges + 1];
    size_t count = merge_range(m_ooo, m_ooo_count, Range{left, right, ++m_ooo_stamp}, merged);
    if (count > kMaxOutOfOrderRanges) {
        // Too many holes: keep the lowest ranges; the data of the dropped one is resent.
        m_stats.out_of_order_dropped++;
        count = kMaxOutOfOrderRanges;
    }
    for (size_t i = 0; i < count; i++)
        m_ooo[i] = merged[i];
    m_ooo_count = count;
}

void Connection::merge_out_of_order()
{
    size_t consumed = 0;
    while (consumed < m_ooo_count && seq_le(m_ooo[consumed].left, m_rcv_nxt)) {
        if (seq_gt(m_ooo[consumed].right, m_rcv_nxt)) {
            uint32_t extra = m_ooo[consumed].right - m_rcv_nxt;
            m_receive_buffer.commit(extra);
            m_stats.bytes_received += extra;
            m_rcv_nxt += extra;
        }
        consumed++;
    }
    if (consumed == 0)
        return;
    for (size_t i = consumed; i < m_ooo_count; i++)
        m_ooo[i - consumed] = m_ooo[i];
    m_ooo_count -= consumed;
}

void Connection::process_data(const Segment& segment, Instant now)
{
    if (m_state != State::Established && m_state != State::FinWait1 &&
        m_state != State::FinWait2)
        return; // after the peer's FIN, nothing more can arrive [rfc9293 §3.10.7.4 step 7]
    uint32_t seq = segment.seq;
    const uint8_t* data = segment.payload;
    size_t length = segment.payload_length;
    bool fin = segment.has(kFin);
    bool had_data = length > 0;

    // Trim what was already received.
    if (seq_lt(seq, m_rcv_nxt)) {
        uint32_t skip = m_rcv_nxt - seq;
        if (skip > length) {
            m_stats.duplicate_segments++;
            length = 0;
            fin = false; // that FIN was already processed
            data = nullptr;
            seq = m_rcv_nxt;
        } else {
            if (skip == length && had_data && !fin)
                m_stats.duplicate_segments++;
            data += skip;
            length -= skip;
            seq = m_rcv_nxt;
        }
    }
    // Trim to the buffer (the window never offers more than it holds).
    uint32_t offset = seq - m_rcv_nxt;
    size_t room = m_receive_buffer.free_space();
    if (offset >= room) {
        length = 0;
        fin = false;
    } else if (offset + length > room) {
        length = room - offset;
        fin = false;
    }
    if (length == 0 && !fin) {
        if (had_data)
            m_ack_now = true; // a duplicate: tell the peer where we are
        return;
    }
    if (length > 0 && !m_receive_buffer.reserve()) {
        m_stats.no_buffer_memory++; // dropped like a lost segment: the peer retransmits
        return;
    }
    if (length > 0)
        m_rcv_mss = max_of<uint32_t>(m_rcv_mss, min_of<uint32_t>(static_cast<uint32_t>(length), m_config.mss));

    if (offset == 0) {
        m_receive_buffer.write_at(0, data, length);
        m_receive_buffer.commit(length);
        m_rcv_nxt += static_cast<uint32_t>(length);
        m_stats.bytes_received += length;
        bool filled_hole = m_ooo_count > 0;
        merge_out_of_order();
        if (fin || (m_ooo_fin && m_rcv_nxt == m_ooo_fin_seq && m_ooo_count == 0))
            process_fin(now);
        else
            schedule_ack(now, filled_hole);
        return;
    }
    // Out of order: park it in the buffer beyond the gap and ACK at once (a duplicate ACK
    // with SACK blocks) [rfc5681 §4.2, rfc2018 §4].
    m_stats.out_of_order_segments++;
    if (length > 0) {
        m_receive_buffer.write_at(offset, data, length);
        insert_out_of_order(seq, seq + static_cast<uint32_t>(length));
    }
    if (fin) {
        m_ooo_fin = true;
        m_ooo_fin_seq = seq + static_cast<uint32_t>(length);
    }
    m_ack_now = true;
}

void Connection::process_fin(Instant now)
{
    m_rcv_nxt += 1;
    m_fin_received = true;
    m_ooo_fin = false;
    switch (m_state) {
    case State::SynReceived:
    case State::Established:
        m_state = State::CloseWait;
        break;
    case State::FinWait1:
        if (fin_acked())
            enter_time_wait(now);
        else
            m_state = State::Closing; // simultaneous close [rfc9293 figure 13]
        break;
    case State::FinWait2:
        enter_time_wait(now);
        break;
    case State::TimeWait:
        m_time_wait_deadline = now + m_config.time_wait;
        break;
    default:
        break;
    }
    m_ack_now = true;
}

void Connection::schedule_ack(Instant now, bool immediately)
{
    // Delayed ACKs [rfc9293 §3.8.6.3, rfc5681 §4.2]: at least every second full-sized
    // segment, and within delayed_ack of the first unacknowledged byte.
    if (immediately || m_rcv_nxt - m_last_ack_sent >= 2 * m_rcv_mss) {
        m_ack_now = true;
        return;
    }
    if (m_delack_deadline == kNever)
        m_delack_deadline = now + m_config.delayed_ack;
}

// --- timers ---

void Connection::update_timers(Instant now)
{
    if (m_state == State::Closed || m_state == State::Listen) {
        m_rto_deadline = m_persist_deadline = m_delack_deadline = kNever;
        m_keepalive_deadline = m_time_wait_deadline = kNever;
        return;
    }
    if (m_state == State::TimeWait) {
        m_rto_deadline = m_persist_deadline = m_keepalive_deadline = kNever;
        return;
    }
    bool outstanding = m_snd_una != m_snd_max;
    if (persist_mode()) {
        m_rto_deadline = kNever;
        if (m_persist_deadline == kNever) {
            Duration wait = m_rto;
            for (unsigned i = 0; i < m_persist_backoff && wait < m_config.max_rto; i++)
                wait *= 2;
            m_persist_deadline = now + min_of(wait, m_config.max_rto);
        }
    } else {
        m_persist_deadline = kNever;
        if (!outstanding)
            m_rto_deadline = kNever;
        else if (m_rto_deadline == kNever)
            m_rto_deadline = now + backed_off_rto();
    }
    bool keepalive_state = m_state == State::Established || m_state == State::CloseWait ||
                           m_state == State::FinWait2;
    if (m_config.keepalive && keepalive_state) {
        if (m_keepalive_deadline == kNever)
            m_keepalive_deadline = m_last_received + m_config.keepalive_idle;
    } else {
        m_keepalive_deadline = kNever;
    }
}

Instant Connection::next_deadline() const
{
    Instant d = m_rto_deadline;
    d = min_of(d, m_persist_deadline);
    d = min_of(d, m_delack_deadline);
    d = min_of(d, m_keepalive_deadline);
    d = min_of(d, m_time_wait_deadline);
    d = min_of(d, m_cork_deadline);
    return d;
}

// What a connection that gives up reports: the last ICMP error if one came (the peer is
// unreachable, say), else ETIMEDOUT — as Linux.
Errno Connection::timeout_error() const
{
    return m_soft_error != Errno(0) ? m_soft_error : Errno::TIMEDOUT;
}

bool Connection::plausible_icmp_sequence(uint32_t seq) const
{
    return seq_ge(seq, m_snd_una) && seq_lt(seq, m_snd_max);
}

namespace {

// What an ICMP destination-unreachable code means to a socket (Linux's mapping, so that
// programs see the errors they know).
Errno unreachable_error(uint8_t code)
{
    switch (code) {
    case 0:  // network unreachable
    case 6:  // destination network unknown
    case 9:  // network administratively prohibited
    case 11: // network unreachable for the type of service
        return Errno::NETUNREACH;
    case 2: // protocol unreachable
        return Errno::NOPROTOOPT;
    case 3: // port unreachable
        return Errno::CONNREFUSED;
    case 4: // fragmentation needed
        return Errno::MSGSIZE;
    case 5: // source route failed
        return Errno::NOTSUP;
    case 7: // destination host unknown
        return Errno::HOSTDOWN;
    case 8: // source host isolated
        return Errno::NONET;
    default: // host unreachable, prohibited, filtered, precedence
        return Errno::HOSTUNREACH;
    }
}

} // namespace

void Connection::on_icmp_error(uint8_t type, uint8_t code, uint32_t mtu, Instant now)
{
    constexpr uint8_t kUnreachable = 3, kTimeExceeded = 11, kParameterProblem = 12;
    if (type == kUnreachable && code == 4) {
        m_stats.icmp_errors++;
        // Fragmentation needed: the path is narrower than our segments [rfc1191 §6.1]. The
        // next hop's MTU, floored (as the IPv4 layer's cache) so a forged tiny MTU cannot
        // make us send crumbs; 0 from an old router: the IPv4 layer's estimate is in the
        // path-MTU cache for new connections, and this one drops to the RFC 1191 floor.
        uint32_t path = mtu >= 576 ? mtu : 576;
        uint32_t fits = path - 40 - (m_ts_enabled ? kTimestampOptionBytes : 0);
        if (fits >= m_send_mss || !is_synchronised())
            return;
        m_send_mss = fits;
        m_stats.path_mtu_updates++;
        // The segments in flight were dropped: send them again now, smaller, without the
        // congestion response of a loss (Linux's "simple retransmit").
        if (m_snd_una != m_snd_max) {
            m_snd_nxt = m_snd_una;
            m_high_rxt = m_snd_una;
            m_sacked_count = 0;
            m_stats.retransmitted_segments++;
            send_range(m_snd_una, m_send_mss, now);
            output(now);
        }
        return;
    }
    Errno error;
    if (type == kUnreachable)
        error = unreachable_error(code);
    else if (type == kTimeExceeded)
        error = Errno::HOSTUNREACH;
    else if (type == kParameterProblem)
        error = Errno::PROTO;
    else
        return;
    m_stats.icmp_errors++;
    if (m_state == State::SynSent) {
        set_error_and_close(error);
        notify();
        return;
    }
    m_soft_error = error;
}

void Connection::on_timer(Instant now)
{
    if (m_cork_deadline <= now) {
        m_cork_deadline = kNever;
        m_cork_flush = true; // corked data waited its 200 ms: out it goes
        output(now);
        m_cork_flush = false;
    }
    if (m_time_wait_deadline <= now) {
        m_time_wait_deadline = kNever;
        if (m_state == State::TimeWait || m_state == State::FinWait2) {
            set_error_and_close(m_error);
            notify();
            return;
        }
    }
    if (m_delack_deadline <= now) {
        m_delack_deadline = kNever;
        if (m_rcv_nxt != m_last_ack_sent && is_synchronised()) {
            m_stats.delayed_acks++;
            send_ack(now);
        }
    }
    if (m_rto_deadline <= now) {
        m_rto_deadline = kNever;
        if (m_state == State::SynSent || m_state == State::SynReceived) {
            if (++m_retransmits > m_config.max_syn_retransmits) {
                set_error_and_close(timeout_error());
                notify();
                return;
            }
            m_stats.timeouts++;
            m_stats.retransmitted_segments++;
            m_backoff++;
            send_syn(now);
            m_rto_deadline = now + backed_off_rto();
        } else if (m_snd_una != m_snd_max) {
            if (++m_retransmits > m_config.max_retransmits) {
                set_error_and_close(timeout_error());
                notify();
                return;
            }
            // [rfc6298 §5.4-5.6, rfc5681 §3.1, rfc6582 §4]: back off, collapse the window,
            // forget SACK information (the peer may renege [rfc2018 §8]) and go back to
            // snd_una.
            m_stats.timeouts++;
            m_backoff++;
            m_cc->on_timeout(flight_size(), now);
            m_in_recovery = false;
            m_recover = m_snd_max;
            m_dup_acks = 0;
            m_sacked_count = 0;
            m_rtt_timing = false;
            m_snd_nxt = m_snd_una;
            m_high_rxt = m_snd_una;
            send_range(m_snd_una, m_send_mss, now);
            m_rto_deadline = now + backed_off_rto();
        }
    }
    if (m_persist_deadline <= now) {
        m_persist_deadline = kNever;
        if (persist_mode()) {
            // A closed-by-user connection gives up after as many probes, answered or not: a
            // peer that keeps its window shut must not hold an orphan forever.
            if (++m_persist_unanswered > m_config.max_retransmits ||
                (m_user_closed && ++m_orphan_probes > m_config.max_retransmits)) {
                set_error_and_close(timeout_error());
                notify();
                return;
            }
            // A zero-window probe: one byte beyond the window (or the FIN), resent until the
            // window opens [rfc9293 §3.8.6.1].
            m_stats.zero_window_probes++;
            if (m_snd_max != m_snd_una) {
                send_range(m_snd_una, 1, now);
            } else {
                uint32_t data_end = send_data_end();
                if (seq_lt(m_snd_nxt, data_end)) {
                    Payload payload = m_send_buffer.peek(m_snd_nxt - m_send_base, 1);
                    emit(m_snd_nxt, kAck, payload, now, false);
                    m_snd_nxt += 1;
                } else {
                    emit(m_snd_nxt, kAck | kFin, Payload{}, now, false);
                    m_snd_nxt += 1;
                }
                m_snd_max = seq_max(m_snd_max, m_snd_nxt);
            }
            m_rto_deadline = kNever;
            m_persist_backoff++;
        }
    }
    if (m_keepalive_deadline <= now) {
        m_keepalive_deadline = kNever;
        if (m_config.keepalive && (m_state == State::Established || m_state == State::CloseWait ||
                                   m_state == State::FinWait2)) {
            if (m_snd_una != m_snd_max) {
                m_keepalive_deadline = now + m_config.keepalive_idle; // busy: the RTO watches
            } else if (m_keepalive_sent >= m_config.keepalive_count) {
                set_error_and_close(timeout_error());
                notify();
                return;
            } else {
                // A keep-alive probe: an old sequence number forces an ACK [rfc9293 §3.8.4].
                m_stats.keepalive_probes++;
                m_keepalive_sent++;
                emit(m_snd_una - 1, kAck, Payload{}, now, false);
                m_keepalive_deadline = now + m_config.keepalive_interval;
            }
        }
    }
    update_timers(now);
    notify();
}

} // namespace net::tcp
