// fuzz-links: net
// libFuzzer target: hostile TCP input. The first part throws the bytes at the option parser
// and the segment parser, and checks that whatever parses writes back and parses again with
// the same fields and a valid checksum. The second part reads the input as a script — peer
// segments (raw, or with sequence and acknowledgment numbers placed near the connection's
// own so they get past the window checks), user calls and clock steps — against an
// established Connection and a Listener. Nothing may crash, leak or break the invariants
// checked below; every segment the stack sends must be well-formed.
#include <net/tcp/connection.h>
#include <net/tcp/listener.h>
#include <net/tcp/segment.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace {

using namespace net::tcp;
using net::Ipv4Address;

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

const Ipv4Address kLocal = Ipv4Address::from_octets(10, 1, 0, 1);
const Ipv4Address kRemote = Ipv4Address::from_octets(10, 1, 0, 2);

// Checks every outgoing segment: it must serialise, verify and stay within sane sizes.
class CheckingOutput final : public Output {
public:
    void transmit(const OutgoingSegment& o) override
    {
        CHECK(o.payload.size() <= 65535);
        m_buffer.resize(80 + o.payload.size());
        auto r = write_segment(o.header, o.payload, ChecksumMode::Compute, m_buffer.data(),
                               m_buffer.size());
        CHECK(!r.is_error());
        ParseStats stats;
        auto s = parse_segment(m_buffer.data(), r.value(), o.header.source, o.header.destination,
                               ChecksumMode::Compute, stats);
        CHECK(!s.is_error());
        CHECK(s.value().payload_length == o.payload.size());
        last_seq = o.header.seq;
        last_ack = o.header.ack;
        count++;
    }
    uint32_t last_seq = 0;
    uint32_t last_ack = 0;
    uint64_t count = 0;

private:
    std::vector<uint8_t> m_buffer;
};

void fuzz_parsers(const uint8_t* data, size_t size)
{
    Options options;
    (void)parse_options(data, size < 40 ? size : 40, options);
    CHECK(options.sack_block_count <= kMaxSackBlocks);

    ParseStats stats;
    auto parsed = parse_segment(data, size, kRemote, kLocal, ChecksumMode::Verified, stats);
    if (parsed.is_error())
        return;
    const Segment& s = parsed.value();
    CHECK(s.payload >= data && s.payload + s.payload_length == data + size);
    Header h;
    h.source = kRemote;
    h.destination = kLocal;
    h.source_port = s.source_port;
    h.destination_port = s.destination_port;
    h.seq = s.seq;
    h.ack = s.ack;
    h.flags = s.flags;
    h.window = s.window;
    h.urgent = s.urgent;
    h.options = s.options;
    Payload p;
    p.data[0] = s.payload;
    p.length[0] = s.payload_length;
    std::vector<uint8_t> out(60 + s.payload_length);
    auto written = write_segment(h, p, ChecksumMode::Compute, out.data(), out.size());
    if (written.is_error()) {
        CHECK(written.error() == Errno::INVAL); // only a payload too big for 16 bits
        return;
    }
    ParseStats again_stats;
    auto again = parse_segment(out.data(), written.value(), kRemote, kLocal, ChecksumMode::Compute,
                               again_stats);
    CHECK(!again.is_error());
    const Segment& t = again.value();
    CHECK(t.seq == s.seq && t.ack == s.ack && t.flags == s.flags && t.window == s.window);
    CHECK(t.payload_length == s.payload_length);
    CHECK(t.options.has_mss == s.options.has_mss && t.options.mss == s.options.mss);
    CHECK(t.options.has_timestamps == s.options.has_timestamps);
    CHECK(t.options.ts_value == s.options.ts_value && t.options.ts_echo == s.options.ts_echo);
    CHECK(t.options.has_window_scale == s.options.has_window_scale);
    CHECK(t.options.sack_permitted == s.options.sack_permitted);
    CHECK(t.options.sack_block_count <= s.options.sack_block_count);
}

// Reads the script.
class Script {
public:
    Script(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool done() const { return m_pos >= m_size; }
    uint8_t byte() { return m_pos < m_size ? m_data[m_pos++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(byte() << 8 | byte()); }
    uint32_t u32() { return uint32_t(u16()) << 16 | u16(); }
    // Up to `max` bytes of the rest.
    const uint8_t* take(size_t& length, size_t max)
    {
        length = byte() % (max + 1);
        if (length > m_size - m_pos)
            length = m_size - m_pos;
        const uint8_t* p = m_data + m_pos;
        m_pos += length;
        return p;
    }

private:
    const uint8_t* m_data;
    size_t m_size;
    size_t m_pos = 0;
};

Segment make_segment(Script& script, uint32_t seq, uint32_t ack, std::vector<uint8_t>& storage)
{
    Header h;
    h.source = kRemote;
    h.destination = kLocal;
    h.source_port = 80;
    h.destination_port = 5000;
    h.seq = seq;
    h.ack = ack;
    h.flags = script.byte();
    h.window = script.u16();
    uint8_t option_bits = script.byte();
    if (option_bits & 1) {
        h.options.has_timestamps = true;
        h.options.ts_value = script.u32();
        h.options.ts_echo = script.u32();
    }
    if (option_bits & 2) {
        h.options.sack_block_count = static_cast<uint8_t>(1 + (option_bits >> 6));
        for (uint8_t b = 0; b < h.options.sack_block_count; b++) {
            uint32_t left = ack + (script.u16() - 0x8000);
            h.options.sack_blocks[b] = {left, left + script.u16()};
        }
    }
    if (option_bits & 4) {
        h.options.has_mss = true;
        h.options.mss = script.u16();
        h.options.has_window_scale = true;
        h.options.window_scale = script.byte();
        h.options.sack_permitted = true;
    }
    size_t length;
    const uint8_t* bytes = script.take(length, 3000);
    Payload p;
    p.data[0] = bytes;
    p.length[0] = length;
    storage.resize(100 + length);
    auto r = write_segment(h, p, ChecksumMode::Compute, storage.data(), storage.size());
    CHECK(!r.is_error());
    ParseStats stats;
    auto s = parse_segment(storage.data(), r.value(), kRemote, kLocal, ChecksumMode::Compute, stats);
    CHECK(!s.is_error());
    return s.value();
}

void check_invariants(const Connection& c)
{
    CHECK(seq_le(c.snd_una(), c.snd_nxt()));
    PollState p = c.poll_state();
    CHECK(p.readable <= 8192);
    CHECK(c.send_queued() <= 8192);
    CHECK(c.cwnd() >= 1);
}

void fuzz_connection(const uint8_t* data, size_t size)
{
    Script script(data, size);
    CheckingOutput output;
    Config config;
    config.send_buffer_size = 8192;
    config.receive_buffer_size = 8192;
    config.isn_key = HashKey{1, 2};
    uint8_t flags = script.byte();
    config.timestamps = flags & 1;
    config.sack = flags & 2;
    config.window_scaling = flags & 4;
    config.nodelay = flags & 8;
    config.keepalive = flags & 16;
    config.keepalive_idle = 5 * kSecond;
    config.keepalive_interval = kSecond;
    config.congestion = (flags & 32) ? CongestionAlgorithm::NewReno : CongestionAlgorithm::Cubic;
    config.max_retransmits = 4;
    config.time_wait = 10 * kSecond;
    Instant now = 1000 * kSecond;

    auto created = Connection::create(config, output, FourTuple{kLocal, 5000, kRemote, 80});
    CHECK(!created.is_error());
    Connection* c = created.value();

    ListenerConfig lc;
    lc.connection = config;
    lc.backlog = 2;
    lc.syn_backlog = 2;
    auto lr = Listener::create(lc, output);
    CHECK(!lr.is_error());
    Listener* listener = lr.value();

    // Handshake: active open, the peer's SYN-ACK built from the script.
    (void)c->open_active(now);
    uint32_t peer_seq = script.u32();
    std::vector<uint8_t> storage;
    {
        Segment synack = make_segment(script, peer_seq, c->iss() + 1, storage);
        synack.flags = kSyn | kAck;
        (void)c->on_segment(synack, now);
    }
    uint8_t buffer[4096];
    std::vector<Connection*> accepted;
    for (int steps = 0; !script.done() && steps < 2000; steps++) {
        uint8_t op = script.byte();
        switch (op % 10) {
        case 0: { // a raw segment
            size_t length;
            const uint8_t* bytes = script.take(length, 255);
            ParseStats stats;
            auto s = parse_segment(bytes, length, kRemote, kLocal, ChecksumMode::Verified, stats);
            if (!s.is_error())
                (void)c->on_segment(s.value(), now);
            break;
        }
        case 1:
        case 2: { // a segment near the connection's window
            uint32_t seq = c->rcv_nxt() + static_cast<int16_t>(script.u16());
            uint32_t ack = c->snd_una() + static_cast<int16_t>(script.u16());
            Segment s = make_segment(script, seq, ack, storage);
            if (c->on_segment(s, now) == InputResult::Reopen) {
                // TIME-WAIT reuse: the owner would hand the SYN to a listener.
                listener->on_segment(s, now);
            }
            break;
        }
        case 3: { // the clock moves and timers run
            now += Duration(script.u16()) * kMillisecond;
            if (c->next_deadline() <= now) {
                c->on_timer(now);
                CHECK(c->next_deadline() > now);
            }
            if (listener->next_deadline() <= now)
                listener->on_timer(now);
            break;
        }
        case 4: { // the application writes
            size_t length;
            const uint8_t* bytes = script.take(length, 255);
            (void)c->send(bytes, length, now);
            break;
        }
        case 5: // the application reads
            (void)c->receive(buffer, script.byte() * 16u + 1, now);
            break;
        case 6:
            switch (script.byte() % 5) {
            case 0:
                (void)c->shutdown(now);
                break;
            case 1:
                c->close(now);
                break;
            case 2:
                c->abort(now);
                break;
            case 3:
                c->set_nodelay(script.byte() & 1, now);
                break;
            default:
                c->set_keepalive(true, kSecond, kSecond, 2, now);
                break;
            }
            break;
        case 7: { // a segment for the listener
            uint32_t seq = script.u32();
            uint32_t ack = output.last_seq + 1 + (script.byte() & 3);
            Segment s = make_segment(script, seq, ack, storage);
            s.source_port = static_cast<uint16_t>(1000 + (script.byte() & 7));
            listener->on_segment(s, now);
            if (Connection* a = listener->accept())
                accepted.push_back(a);
            break;
        }
        case 8: // a big step of the clock
            now += Duration(script.byte()) * kSecond;
            while (c->next_deadline() <= now) {
                Instant at = c->next_deadline();
                c->on_timer(at);
                CHECK(c->next_deadline() > at);
            }
            if (listener->next_deadline() <= now)
                listener->on_timer(now);
            break;
        default: { // accepted connections get traffic too
            if (accepted.empty())
                break;
            Connection* a = accepted[script.byte() % accepted.size()];
            uint32_t seq = a->rcv_nxt() + static_cast<int8_t>(script.byte());
            Segment s = make_segment(script, seq, a->snd_una() + script.byte(), storage);
            s.source_port = a->tuple().remote_port;
            (void)a->on_segment(s, now);
            (void)a->send(buffer, script.byte(), now);
            break;
        }
        }
        check_invariants(*c);
    }
    for (Connection* a : accepted)
        delete a;
    delete listener;
    delete c;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz_parsers(data, size);
    fuzz_connection(data, size);
    return 0;
}
