// The TCP control block [rfc9293 §3.3.1]: one connection's state machine, its send and
// receive buffers and its timers. It knows nothing about IP routing, threads or clocks: the
// owner feeds it parsed segments (on_segment), user calls and the current time, and it emits
// segments through an Output sink. Not thread-safe: the owner serialises every call (with net
// channels, the thread that owns the socket does).
#pragma once

#include <lib/result.h>
#include <net/tcp/byte_ring.h>
#include <net/tcp/congestion.h>
#include <net/tcp/keyed_hash.h>
#include <net/tcp/segment.h>
#include <net/tcp/seq.h>
#include <stddef.h>
#include <stdint.h>

namespace net::tcp {

enum class State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
};

const char* state_name(State state);

// Settings; the defaults follow Linux where RFCs leave a choice (see README.md).
struct Config {
    size_t send_buffer_size = 256 * 1024;    // SO_SNDBUF
    size_t receive_buffer_size = 256 * 1024; // SO_RCVBUF; also bounds out-of-order data
    uint16_t mss = 1460;                     // advertised: interface MTU − 40
    bool window_scaling = true;
    bool timestamps = true;
    bool sack = true;
    bool nodelay = false; // TCP_NODELAY: no Nagle
    bool cork = false;    // TCP_CORK: hold partial segments (at most 200 ms)
    CongestionAlgorithm congestion = CongestionAlgorithm::Cubic;
    Duration initial_rto = 1 * kSecond;      // [rfc6298 §2.1]
    Duration min_rto = 200 * kMillisecond;   // Linux's floor, not rfc6298's 1 s (README.md)
    Duration max_rto = 120 * kSecond;
    unsigned max_retransmits = 15;           // then ETIMEDOUT (Linux tcp_retries2)
    unsigned max_syn_retransmits = 6;        // then ETIMEDOUT (Linux tcp_syn_retries)
    Duration delayed_ack = 40 * kMillisecond;
    Duration time_wait = 60 * kSecond;       // 2·MSL
    bool keepalive = false;                  // SO_KEEPALIVE
    Duration keepalive_idle = 7200 * kSecond;    // TCP_KEEPIDLE
    Duration keepalive_interval = 75 * kSecond;  // TCP_KEEPINTVL
    unsigned keepalive_count = 9;                // TCP_KEEPCNT
    unsigned challenge_ack_limit = 100;      // challenge ACKs a second [rfc5961 §7]
    HashKey isn_key;                         // secret for ISNs and timestamp offsets [rfc6528]
    // IP_TOS and IP_TTL: the IPv4 header of every segment the endpoint sends (the connection
    // itself never looks; an accepted connection starts from its listener's, as on Linux).
    // The TOS's ECN bits stay 0 (Not-ECT): they are TCP's, and it does not negotiate ECN.
    uint8_t ip_tos = 0;
    uint8_t ip_ttl = 64; // net.ipv4.ip_default_ttl
    bool ip_dont_fragment = true; // DF on every segment (IP_MTU_DISCOVER WANT or DO, Linux's default)
    // The connection's transmit queue key (PacketMeta::tx_queue_key), on every segment it
    // sends; the layer (Tcp) hands out a new one per connection, round robin, so that the
    // connections of a burst spread evenly over a NIC's queues. A listener's is the first of
    // those it gives its connections (Listener). 0: none.
    uint32_t tx_queue_key = 0;
};

// The transmit queue key after `key` in the round robin (0 means none and is skipped).
inline uint32_t next_tx_queue_key(uint32_t key) { return key + 1 == 0 ? 1 : key + 1; }

// A segment to send. The payload points into the connection's send buffer and stays valid
// until the next call into the connection: the sink copies it (once) into a packet.
struct OutgoingSegment {
    Header header;
    Payload payload;
    // Non-zero: the payload is longer than one segment (TSO) — a whole multiple of this many
    // bytes, each a full segment with this header's options; whoever sends it cuts it there
    // (the device, or IPv4 output in software), FIN and PSH staying on the last piece.
    uint16_t segment_size = 0;
    // The sending connection's Config::tx_queue_key (0 for a reset to no connection).
    uint32_t tx_queue_key = 0;
};

// Poll events, as the socket layer needs them.
enum Event : uint32_t {
    kEventReadable = 1, // data, FIN or an error to report
    kEventWritable = 2,
    kEventError = 4,
    kEventHangup = 8,    // both directions finished (or reset)
    kEventConnected = 16,
};

struct PollState {
    size_t readable = 0;       // bytes receive() can return now
    size_t writable = 0;       // bytes send() can take now
    Errno error = Errno(0);    // pending error (ECONNREFUSED, ECONNRESET, ETIMEDOUT ...)
    bool fin_received = false; // the peer will send no more: receive() returns 0 after the data
    bool connected = false;    // the handshake completed at some point
    bool closed = false;       // State::Closed: the owner may destroy the connection
    uint32_t events = 0;       // Event bits derived from the above
};

class Connection;

// The application's side of send and receive: bytes at offsets of a buffer the connection
// must not touch directly (the socket layer's user memory). An error (FAULT for a bad user
// pointer) stops the copy.
class UserBuffer {
public:
    // Connection → buffer (receiving).
    virtual Result<void> copy_out(size_t at, const uint8_t* from, size_t length) = 0;
    // Buffer → connection (sending).
    virtual Result<void> copy_in(size_t at, uint8_t* to, size_t length) = 0;

protected:
    ~UserBuffer() = default;
};

// A UserBuffer over kernel (or test) memory.
class MemoryBuffer final : public UserBuffer {
public:
    MemoryBuffer(uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    MemoryBuffer(const uint8_t* data, size_t size) : m_data(const_cast<uint8_t*>(data)), m_size(size), m_read_only(true) {}
    Result<void> copy_out(size_t at, const uint8_t* from, size_t length) override;
    Result<void> copy_in(size_t at, uint8_t* to, size_t length) override;

private:
    uint8_t* m_data;
    size_t m_size;
    bool m_read_only = false;
};

// Where a connection's segments go, and who hears of changes. Calls happen synchronously
// from inside the connection's methods; the sink must not call back into the connection.
class Output {
public:
    virtual void transmit(const OutgoingSegment& segment) = 0;
    // The poll state's events changed (data arrived, space freed, error, connected ...).
    virtual void state_changed(Connection&) {}

protected:
    ~Output() = default;
};

// Per-connection counters: every dropped or unusual segment lands in one of them.
struct ConnectionStats {
    uint64_t segments_received = 0;
    uint64_t segments_sent = 0;
    uint64_t bytes_received = 0; // in order, delivered to the buffer
    uint64_t bytes_sent = 0;     // new data, not counting retransmissions
    uint64_t retransmitted_segments = 0;
    uint64_t fast_retransmits = 0;
    uint64_t timeouts = 0;
    uint64_t duplicate_acks = 0;
    uint64_t out_of_order_segments = 0;
    uint64_t out_of_order_dropped = 0; // too many holes to track
    uint64_t icmp_errors = 0;          // ICMP errors about our segments that passed the checks
    uint64_t path_mtu_updates = 0;     // fragmentation needed: the segment size lowered
    uint64_t duplicate_segments = 0;   // entirely old data
    uint64_t out_of_window = 0;        // unacceptable sequence numbers
    uint64_t paws_rejected = 0;
    uint64_t bad_ack = 0;              // ACK outside the acceptable range [rfc5961 §5]
    uint64_t bad_syn_sent_ack = 0;     // bad ACK in SYN-SENT (answered with RST)
    uint64_t dropped_no_ack = 0;       // ACK bit off
    uint64_t challenge_acks = 0;
    uint64_t challenge_acks_limited = 0;
    uint64_t resets_received = 0;
    uint64_t resets_sent = 0;
    uint64_t zero_window_probes = 0;
    uint64_t zero_windows_received = 0; // the peer's window closed
    uint64_t keepalive_probes = 0;
    uint64_t delayed_acks = 0;         // ACKs that waited for the delayed-ACK timer
    uint64_t sack_skipped_bytes = 0;   // not retransmitted because the peer SACKed them
    uint64_t rtt_samples = 0;
    uint64_t no_buffer_memory = 0;     // data dropped: no memory for the receive buffer
    uint64_t failed_opens = 0;         // SYN-SENT -> CLOSED: refused, timed out, given up
};

// What the owner should do after on_segment.
enum class InputResult {
    Done,
    // A new SYN arrived in TIME-WAIT that may start a new incarnation [rfc9293 §3.10.7.4,
    // rfc6191]: destroy this connection and hand the segment to the listener.
    Reopen,
};

// Connection parameters agreed in the handshake, carried by the listener's SYN cookies.
struct NegotiatedOptions {
    uint16_t peer_mss = 536;
    bool window_scaling = false;
    uint8_t peer_window_scale = 0;
    bool sack = false;
    bool timestamps = false;
};

class Connection {
public:
    // A connection in State::Closed for `tuple`, with buffers of the configured sizes.
    // Errno::NOMEM. The caller owns the result (delete it).
    static Result<Connection*> create(const Config& config, Output& output, const FourTuple& tuple);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // --- user calls [rfc9293 §3.10.1-3.10.6] ---

    // Sends a SYN: Closed → SynSent. Errno::ISCONN if not Closed.
    Result<void> open_active(Instant now);
    // Waits for a SYN: Closed → Listen (one connection; Listener handles backlogs).
    Result<void> open_passive();
    // Queues up to `length` bytes from `data` at `offset`; returns how many (Errno::AGAIN when
    // the buffer is full, Errno::PIPE after shutdown, the pending error after a reset/timeout,
    // NOTCONN if closed, the buffer's error when nothing could be copied).
    Result<size_t> send(UserBuffer& data, size_t offset, size_t length, Instant now);
    Result<size_t> send(const uint8_t* data, size_t length, Instant now);
    // Takes up to `length` received bytes into `out` at `offset` (with `peek`, copies them and
    // leaves them); 0 means end of stream (FIN received, all read). Errno::AGAIN when nothing
    // is there yet; the pending error after a reset; the buffer's error.
    Result<size_t> receive(UserBuffer& out, size_t offset, size_t length, bool peek, Instant now);
    Result<size_t> receive(uint8_t* out, size_t length, Instant now);
    // The pending error (SO_ERROR), cleared; Errno(0) if none. The connection still reports
    // end of stream / EPIPE as its state demands.
    Errno take_error();
    // No more sends: a FIN follows the queued data.
    Result<void> shutdown(Instant now);
    // The user is done: like shutdown, but unread received data aborts with RST
    // [rfc9293 §3.10.4, rfc2525 §2.17].
    void close(Instant now);
    // Sends RST (if synchronised) and goes to Closed.
    void abort(Instant now);

    void set_nodelay(bool nodelay, Instant now);
    // TCP_CORK: while set, only full segments leave (a partial one after 200 ms); clearing it
    // sends what waited.
    void set_cork(bool cork, Instant now);
    void set_keepalive(bool enabled, Duration idle, Duration interval, unsigned count, Instant now);
    // SO_SNDBUF / SO_RCVBUF: only before the connection opens (Errno::BUSY after).
    Result<void> set_buffer_sizes(size_t send_size, size_t receive_size);
    // Where segments and notifications go from now on (the socket layer takes over a
    // connection from its listener).
    void set_output(Output& output) { m_output = &output; }
    // Segmentation offload (TSO): the output may put up to `max_payload` bytes (a multiple of
    // the segment size, within cwnd and the peer's window; Nagle and cork rules unchanged) in
    // one OutgoingSegment with segment_size set. 0 (the default) sends one segment at a time.
    // The owner sets it from the interface the connection's route leaves through.
    void set_segment_offload(uint32_t max_payload) { m_tso_max = max_payload; }
    uint32_t segment_offload() const { return m_tso_max; }

    // --- input and time ---

    // Processes one segment addressed to this connection's tuple [rfc9293 §3.10.7].
    InputResult on_segment(const Segment& segment, Instant now);
    // Runs every timer whose deadline is <= now.
    void on_timer(Instant now);
    // Whether `seq`, the sequence number in the TCP header an ICMP error quotes, is one this
    // connection sent and the peer has not acknowledged: anything else is stale or forged and
    // is ignored [rfc5927 §4.1].
    bool plausible_icmp_sequence(uint32_t seq) const;
    // An ICMP error about one of our segments [rfc1122 §4.2.3.9, rfc5927] (`mtu`: the next
    // hop's, for fragmentation needed). Fragmentation needed lowers the segment size to fit
    // and resends what is outstanding at once [rfc1191 §6.1]; in SYN-SENT an unreachable
    // destination ends the attempt with its error (as Linux); otherwise the error is soft:
    // kept, and reported instead of ETIMEDOUT if the connection later times out.
    void on_icmp_error(uint8_t type, uint8_t code, uint32_t mtu, Instant now);
    // The earliest timer deadline, kNever if none is armed.
    Instant next_deadline() const;

    // --- seams for the listener ---

    // In Listen: takes a SYN, answers SYN-ACK with `iss` and enters SynReceived.
    Result<void> accept_syn(const Segment& syn, uint32_t iss, Instant now);
    // Builds an established connection from a SYN cookie's final ACK: the peer's ISN is
    // ack.seq − 1, ours ack.ack − 1. Closed → Established.
    Result<void> establish_from_cookie(const Segment& ack, const NegotiatedOptions& options,
                                       Instant now);

    // --- inspection ---

    State state() const { return m_state; }
    // ESTABLISHED or later, TIME-WAIT included [rfc9293 §3.3.2].
    bool is_synchronised() const;
    const FourTuple& tuple() const { return m_tuple; }
    PollState poll_state() const;
    const ConnectionStats& stats() const { return m_stats; }
    uint32_t iss() const { return m_iss; }
    uint32_t snd_una() const { return m_snd_una; }
    uint32_t snd_nxt() const { return m_snd_nxt; }
    uint32_t snd_wnd() const { return m_snd_wnd; }
    uint32_t rcv_nxt() const { return m_rcv_nxt; }
    uint32_t cwnd() const { return m_cc->cwnd(); }
    uint32_t ssthresh() const { return m_cc->ssthresh(); }
    uint32_t send_mss() const { return m_send_mss; }
    uint8_t send_window_scale() const { return m_snd_wscale; }
    uint8_t receive_window_scale() const { return m_rcv_wscale; }
    bool timestamps_enabled() const { return m_ts_enabled; }
    bool sack_enabled() const { return m_sack_enabled; }
    bool in_recovery() const { return m_in_recovery; }
    Duration srtt() const { return m_srtt; }
    Duration rto() const { return m_rto; }
    // The current retransmission timeout including back-off.
    Duration backed_off_rto() const;
    size_t send_queued() const { return m_send_buffer.size(); }
    // Whether either ring holds storage (allocated on first use, released when done).
    bool holds_buffer_memory() const { return m_send_buffer.has_storage() || m_receive_buffer.has_storage(); }
    CongestionAlgorithm congestion_algorithm() const { return m_config.congestion; }

    // The window scale this stack asks for with a receive buffer of `size` bytes: the
    // smallest shift that lets the 16-bit field cover the buffer, at most 14 [rfc7323 §2.3].
    static uint8_t window_scale_for(size_t size);
    // The per-connection offset of the timestamp clock (so TSvals do not reveal uptime).
    static uint32_t timestamp_offset(const HashKey& key, const FourTuple& tuple);
    // The TSval clock: milliseconds plus the offset.
    static uint32_t timestamp_at(const HashKey& key, const FourTuple& tuple, Instant now);
    // ISN per rfc6528 §3: a 4 µs clock plus a keyed hash of the tuple.
    static uint32_t generate_isn(const HashKey& key, const FourTuple& tuple, Instant now);
    // Answers a segment that reached no connection (or a listener that refuses it) with a
    // RST, per rfc9293 §3.10.7.1; nothing for a RST.
    static void send_reset_for(const Segment& segment, Output& output);

private:
    Connection(const Config& config, Output& output, const FourTuple& tuple);

    uint32_t ts_clock(Instant now) const;
    uint16_t advertised_window_field(bool syn);
    void update_receive_edge();
    Options make_options(bool syn, bool include_sack);
    void emit(uint32_t seq, uint8_t flags, Payload payload, Instant now, bool syn_options,
              uint16_t segment_size = 0);
    void send_ack(Instant now);
    bool persist_mode() const;
    bool fin_acked() const;
    InputResult process_synchronised(const Segment& segment, Instant now);
    void retransmit_hole(uint32_t from, Instant now);
    void send_rst(uint32_t seq);
    void send_challenge_ack(Instant now);
    void send_syn(Instant now);
    void output(Instant now);
    size_t send_range(uint32_t seq, size_t max_length, Instant now);
    bool fin_pending() const;
    uint32_t send_data_end() const;
    uint32_t flight_size() const;

    void process_syn_sent(const Segment& segment, Instant now);
    bool check_sequence(const Segment& segment, Instant now);
    bool process_rst(const Segment& segment, Instant now);
    bool process_ack(const Segment& segment, Instant now);
    void process_new_ack(const Segment& segment, uint32_t acked, Instant now);
    void process_duplicate_ack(Instant now);
    void process_data(const Segment& segment, Instant now);
    void process_fin(Instant now);
    void apply_peer_options(const Options& options, bool syn_has_ack);
    void negotiate(const NegotiatedOptions& negotiated);
    void update_send_window(const Segment& segment);
    void sample_rtt(Duration rtt);
    void record_sack_blocks(const Segment& segment);
    bool next_hole(uint32_t from, uint32_t& seq, size_t& length) const;
    void insert_out_of_order(uint32_t left, uint32_t right);
    void merge_out_of_order();
    void schedule_ack(Instant now, bool immediately);
    void update_timers(Instant now);
    void enter_time_wait(Instant now);
    void release_idle_buffers();
    void set_error_and_close(Errno error);
    void count_failed_open();
    Errno timeout_error() const;
    void become_established(Instant now);
    void notify();

    Config m_config;
    Output* m_output;
    FourTuple m_tuple;
    State m_state = State::Closed;
    Errno m_error = Errno(0);
    Errno m_soft_error = Errno(0); // the last ICMP error, reported if we time out
    bool m_error_reported = false; // by send, receive or take_error: reported once
    bool m_connected = false;
    bool m_user_closed = false;
    bool m_passive = false;

    // Send sequence space [rfc9293 §3.3.1]. snd_max is the highest sequence number sent
    // (snd_nxt falls back to snd_una after a timeout, go-back-N).
    uint32_t m_iss = 0;
    uint32_t m_snd_una = 0;
    uint32_t m_snd_nxt = 0;
    uint32_t m_snd_max = 0;
    uint32_t m_snd_wnd = 0; // scaled
    uint32_t m_max_snd_wnd = 0;
    uint32_t m_snd_wl1 = 0;
    uint32_t m_snd_wl2 = 0;
    uint8_t m_snd_wscale = 0;
    uint32_t m_send_base = 0; // sequence number of the send buffer's first byte
    bool m_fin_queued = false;
    uint16_t m_peer_mss = 536;
    uint32_t m_send_mss = 536; // payload of a full segment with the usual options
    uint32_t m_tso_max = 0;    // set_segment_offload: the largest super-segment's payload
    ByteRing m_send_buffer;

    // Receive sequence space.
    uint32_t m_irs = 0;
    uint32_t m_rcv_nxt = 0;
    uint32_t m_rcv_adv = 0; // right edge of the advertised window
    uint8_t m_rcv_wscale = 0;
    bool m_fin_received = false;
    bool m_ooo_fin = false; // a FIN beyond a hole, at m_ooo_fin_seq
    uint32_t m_ooo_fin_seq = 0;
    uint32_t m_last_ack_sent = 0;
    ByteRing m_receive_buffer;

    // Out-of-order ranges held in the receive buffer beyond rcv_nxt, sorted, disjoint.
    static constexpr size_t kMaxOutOfOrderRanges = 16;
    struct Range {
        uint32_t left;
        uint32_t right;
        uint64_t stamp; // for SACK block order: most recently changed first [rfc2018 §4]
    };
    Range m_ooo[kMaxOutOfOrderRanges];
    size_t m_ooo_count = 0;
    uint64_t m_ooo_stamp = 0;

    // What the peer has SACKed beyond snd_una (the scoreboard), sorted, disjoint.
    static constexpr size_t kMaxSackedRanges = 16;
    SackBlock m_sacked[kMaxSackedRanges];
    size_t m_sacked_count = 0;

    // Options.
    bool m_ws_enabled = false;
    bool m_ts_enabled = false;
    bool m_sack_enabled = false;
    uint32_t m_ts_offset = 0;
    uint32_t m_ts_recent = 0;
    Instant m_ts_recent_age = 0;

    // RTT and retransmission [rfc6298].
    Duration m_srtt = 0;
    Duration m_rttvar = 0;
    Duration m_rto = 0;
    bool m_have_rtt = false;
    unsigned m_backoff = 0;
    unsigned m_retransmits = 0;
    bool m_rtt_timing = false; // Karn: timing one segment when timestamps are off
    uint32_t m_rtt_seq = 0;
    Instant m_rtt_start = 0;

    // Loss recovery [rfc5681 §3.2, rfc6582].
    unsigned m_dup_acks = 0;
    bool m_in_recovery = false;
    uint32_t m_recover = 0;
    uint32_t m_high_rxt = 0;

    NewReno m_newreno;
    Cubic m_cubic;
    CongestionControl* m_cc = &m_cubic;

    // Receive-side ACK scheduling.
    bool m_ack_now = false;
    uint32_t m_rcv_mss = 536; // largest payload seen, for "every second full segment"
    unsigned m_persist_unanswered = 0;
    unsigned m_orphan_probes = 0; // persist probes since the user closed

    // Timers (kNever when disarmed).
    Instant m_rto_deadline = kNever;
    Instant m_persist_deadline = kNever;
    unsigned m_persist_backoff = 0;
    Instant m_delack_deadline = kNever;
    Instant m_keepalive_deadline = kNever;
    unsigned m_keepalive_sent = 0;
    Instant m_time_wait_deadline = kNever;
    Instant m_cork_deadline = kNever;
    bool m_cork_flush = false; // the cork's 200 ms passed: one output pass ignores it
    Instant m_last_received = 0;

    // Challenge ACK rate limit [rfc5961 §7].
    Instant m_challenge_window = 0;
    unsigned m_challenge_count = 0;

    uint32_t m_last_events = 0;
    ConnectionStats m_stats;
};

} // namespace net::tcp
