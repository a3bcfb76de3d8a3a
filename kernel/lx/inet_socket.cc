// AF_INET sockets over the kernel's network stack (kernel/network, kernel/net): datagram
// sockets (UDP) and stream sockets (TCP).
//
// Locking. The stack is driven under network::stack_lock(). A UDP socket is a
// net::UdpReceiver bound in the stack's port table: the NIC's receive thread delivers to it
// with the stack lock held, so the socket's receive queue is guarded by that lock too (one
// lock, no ordering question). Blocking follows pipe.cc: check under the lock, then sleep on
// the readiness notifier (poll.h); deliver() announces readiness.
//
// A datagram waits in the queue with its source in front of the payload (6 bytes pushed into
// the packet's headroom: address and port), so the queue needs no side table. The queue is
// bounded by SO_RCVBUF in payload bytes, as Linux bounds it by memory; datagrams beyond it
// are dropped and counted.
//
// A TCP socket owns one net::tcp::Endpoint of the stack's TCP layer (net/tcp/tcp.h), which
// holds the connection or listener, its buffers and timers; the socket adds Linux's socket
// semantics on top (connect's EINPROGRESS/EALREADY/EISCONN sequence, blocking with
// timeouts and signals, SIGPIPE, option storage) and is the endpoint's Observer: the layer
// calls endpoint_changed() under the stack lock, and the socket announces readiness. It also
// hears from the NIC's receive thread (packets_queued, without the stack lock) when segments
// were queued on the connection's net channel: it announces readiness the same way, and
// whoever then polls, reads or writes processes them (every Tcp entry point does, first).
// All of a TCP socket's own state is guarded by the stack lock as well; every stack call is
// made under network::StackGuard, which also tells the timer thread about timers the call
// armed. Lock order: the stack lock, then a socket's option lock, then the readiness
// notifier.
#include <core/clock.h>
#include <lib/string.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/socket.h>
#include <net/byte_order.h>
#include <net/tcp/tcp.h>
#include <network/network.h>
#include <utility>

namespace lx {
namespace {

constexpr size_t kSourceBytes = 6;
constexpr size_t kSockaddrInBytes = 16;

// struct sockaddr_in: family (le16), port (be16), address (be32), zero padding.
Result<net::UdpEndpoint> decode_address(const SocketAddress& address)
{
    if (address.length < kSockaddrInBytes)
        return Errno::INVAL;
    if (address.family() != kAfInet)
        return Errno::AFNOSUPPORT;
    return net::UdpEndpoint{ net::Ipv4Address{ net::load_be32(address.bytes + 4) }, net::load_be16(address.bytes + 2) };
}

void encode_address(net::UdpEndpoint endpoint, SocketAddress& out)
{
    lib::mem_set(out.bytes, 0, kSockaddrInBytes);
    out.bytes[0] = uint8_t(kAfInet);
    out.bytes[1] = 0;
    net::store_be16(out.bytes + 2, endpoint.port);
    net::store_be32(out.bytes + 4, endpoint.address.value);
    out.length = kSockaddrInBytes;
}

// Option levels and the IPPROTO_IP options (Linux's values).
constexpr int kSolIp = 0, kSolTcp = 6, kIpprotoTcp = 6, kIpprotoUdp = 17;
constexpr int kIpTos = 1, kIpTtl = 2, kIpMtuDiscover = 10, kIpMtu = 14;
constexpr int32_t kIpPmtudiscWant = 1, kIpPmtudiscOmit = 5; // IP_PMTUDISC_DONT 0 … OMIT 5
constexpr uint32_t kIpMaxMtu = 0xffff; // IP_MTU reports at most this (Linux's IP_MAX_MTU)
constexpr int32_t kDefaultTtl = net::kIpv4DefaultTtl;

// An int option's value: exactly as Linux reads it (EINVAL when shorter than an int).
Result<int32_t> int_option(const void* value, size_t length)
{
    if (length < sizeof(int32_t))
        return Errno::INVAL;
    int32_t v;
    lib::mem_copy(&v, value, sizeof v);
    return v;
}

// An int option's value out: at most `length` bytes of it.
size_t put_int_option(void* value, size_t length, int32_t v)
{
    size_t n = length < sizeof v ? length : sizeof v;
    lib::mem_copy(value, &v, n);
    return n;
}

// The IPPROTO_IP options both kinds of socket keep: IP_TOS, IP_TTL and IP_MTU_DISCOVER,
// stored and read back as Linux reads and reports them (ip_setsockopt/ip_getsockopt: an int,
// or a single byte when shorter), and put in the IPv4 header of what the socket sends
// (header(); TCP takes TOS, TTL and whether DF is set: Linux sets it on TCP segments for
// WANT and DO only). Guarded by the stack lock.
struct IpOptions {
    int32_t tos = 0;
    int32_t ttl = -1; // -1: the default
    int32_t pmtu_discovery = kIpPmtudiscWant; // net::PmtuDiscovery's value

    Result<void> set(int name, const void* value, size_t length, bool stream)
    {
        int32_t v = 0;
        if (length >= sizeof(int32_t))
            lib::mem_copy(&v, value, sizeof v);
        else if (length >= 1)
            v = *static_cast<const uint8_t*>(value);
        switch (name) {
        case kIpTos:
            if (stream) // the ECN bits belong to TCP
                v = (v & ~3) | (tos & 3);
            tos = v & 0xff;
            return {};
        case kIpTtl:
            if (length < 1 || (v != -1 && (v < 1 || v > 255)))
                return Errno::INVAL;
            ttl = v;
            return {};
        case kIpMtuDiscover:
            if (v < 0 || v > kIpPmtudiscOmit)
                return Errno::INVAL;
            pmtu_discovery = v;
            return {};
        default:
            return Errno::NOPROTOOPT; // IP_MTU too: it can only be read
        }
    }

    // The header fields to send with (TCP clears the ECN bits itself: Tcp::set_ip_header).
    net::Ipv4HeaderChoice header() const
    {
        return { uint8_t(tos), uint8_t(ttl == -1 ? kDefaultTtl : ttl), net::PmtuDiscovery(pmtu_discovery) };
    }

    Result<size_t> get(int name, void* value, size_t length) const
    {
        int32_t v;
        switch (name) {
        case kIpTos:
            v = tos;
            break;
        case kIpTtl:
            v = ttl == -1 ? kDefaultTtl : ttl;
            break;
        case kIpMtuDiscover:
            v = pmtu_discovery;
            break;
        default:
            return Errno::NOPROTOOPT;
        }
        return put_ip_option(value, length, v);
    }

    // An IPPROTO_IP value out: one byte when asked for less than an int and it fits, else
    // the int's first `length` bytes.
    static size_t put_ip_option(void* value, size_t length, int32_t v)
    {
        if (length > 0 && length < sizeof(int32_t) && v >= 0 && v <= 255) {
            *static_cast<uint8_t*>(value) = uint8_t(v);
            return size_t(1);
        }
        return put_int_option(value, length, v);
    }
};

// IP_MTU: the path MTU toward a connected socket's peer (at most 65535), NOTCONN without one
// (or without a route to it).
Result<size_t> get_ip_mtu(bool connected, net::Ipv4Address peer, void* value, size_t length)
{
    uint32_t mtu = connected ? network::stack().ipv4().path_mtu(peer) : 0;
    if (mtu == 0)
        return Errno::NOTCONN;
    return IpOptions::put_ip_option(value, length, int32_t(mtu < kIpMaxMtu ? mtu : kIpMaxMtu));
}

class UdpSocket final : public Socket, public net::UdpReceiver, public net::ChannelListener {
public:
    explicit UdpSocket(unsigned file_flags) : Socket(kAfInet, kSockDgram, file_flags) {}
    bool notifies_readiness() const override { return true; } // deliver(), icmp_error(), packets_queued()

    // The socket's net channel (net/udp/udp.h): the NIC's receive thread queues datagrams
    // there and says so here, without the stack lock; recv, poll and FIONREAD deliver them
    // to the queue first (drain_locked).
    net::ChannelListener* channel_listener() override { return this; }
    void packets_queued() override { readiness_changed(*this, kReadinessIn); } // datagrams to read
    ~UdpSocket() override
    {
        network::StackGuard guard;
        if (is_bound())
            network::stack().udp().unbind(*this);
        m_queue.clear();
    }

    Result<void> bind(const SocketAddress& address) override
    {
        net::UdpEndpoint local = TRY(decode_address(address));
        network::StackGuard guard;
        if (is_bound())
            return Errno::INVAL;
        TRY(network::stack().udp().bind(*this, local));
        return {};
    }

    Result<void> connect(const SocketAddress& address) override
    {
        if (address.length >= 2 && address.family() == kAfUnspec) {
            network::StackGuard guard;
            m_connected = false;
            return {};
        }
        net::UdpEndpoint peer = TRY(decode_address(address));
        if (peer.port == 0)
            return Errno::INVAL;
        network::StackGuard guard;
        TRY(bind_if_needed_locked());
        // The source address a datagram to the peer gets (what getsockname reports after
        // connect, as on Linux): the peer's if it is ours, else the outgoing interface's.
        net::Ipv4& ip = network::stack().ipv4();
        if (ip.is_local_address(peer.address)) {
            m_source = peer.address;
        } else {
            auto route = ip.route(peer.address);
            if (route.is_error())
                return route.error();
            m_source = route.value().interface->ipv4_address();
        }
        m_peer = peer;
        m_connected = true;
        return {};
    }

    Result<size_t> send(SendRequest& request) override
    {
        if (request.flags & kMsgOob)
            return Errno::NOTSUP;
        net::UdpEndpoint to;
        if (request.to) {
            to = TRY(decode_address(*request.to));
            if (to.port == 0)
                return Errno::INVAL;
        }
        size_t length = request.data.size();
        if (length > 65507)
            return Errno::MSGSIZE;
        net::Packet packet = net::Packet::allocate_data(length);
        if (!packet)
            return Errno::NOBUFS;
        TRY(request.data.copy_in(0, packet.data(), length));
        network::StackGuard guard;
        if (!request.to) {
            if (!m_connected)
                return Errno::DESTADDRREQ;
            to = m_peer;
        }
        TRY(bind_if_needed_locked());
        net::UdpEndpoint from = local();
        auto sent = network::stack().udp().send(from, to, std::move(packet), nullptr, m_ip_options.header());
        if (sent.is_error()) {
            // A queued ARP resolution counts as sent; the rest are the caller's errors.
            return sent.error();
        }
        return length;
    }

    Result<size_t> receive(ReceiveRequest& request) override
    {
        if (request.flags & kMsgOob)
            return Errno::NOTSUP;
        bool peek = request.flags & kMsgPeek;
        bool nonblock = nonblocking(request.flags);
        uint64_t deadline = receive_deadline();
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                network::StackGuard guard;
                drain_locked();
                net::Packet packet = m_queue.pop_front();
                if (packet) {
                    const uint8_t* source = packet.data();
                    net::UdpEndpoint from{ net::Ipv4Address{ net::load_be32(source) }, net::load_be16(source + 4) };
                    size_t length = packet.length() - kSourceBytes;
                    auto copied = copy_datagram(request, source + kSourceBytes, length);
                    if (peek || copied.is_error())
                        m_queue.push_front(std::move(packet));
                    else
                        m_queued_bytes -= length;
                    if (!copied.is_error())
                        encode_address(from, request.from);
                    return copied;
                }
            }
            if (nonblock)
                return Errno::AGAIN;
            TRY(wait_ready(epoch, deadline, false));
        }
    }

    Result<void> shutdown(int how) override
    {
        if (how < 0 || how > 2)
            return Errno::INVAL;
        return Errno::NOTCONN; // as Linux, for an unconnected datagram socket
    }

    Result<void> local_address(SocketAddress& out) override
    {
        network::StackGuard guard;
        net::UdpEndpoint name = is_bound() ? local() : net::UdpEndpoint{};
        if (m_connected && name.address.is_any())
            name.address = m_source;
        encode_address(name, out);
        return {};
    }

    Result<void> peer_address(SocketAddress& out) override
    {
        network::StackGuard guard;
        if (!m_connected)
            return Errno::NOTCONN;
        encode_address(m_peer, out);
        return {};
    }

    Result<size_t> readable_bytes() override
    {
        network::StackGuard guard;
        drain_locked();
        // Linux's FIONREAD on UDP: the size of the next datagram.
        net::Packet head = m_queue.pop_front();
        if (!head)
            return size_t(0);
        size_t n = head.length() - kSourceBytes;
        m_queue.push_front(std::move(head));
        return n;
    }

    // The stack's receive path, under the stack lock.
    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint) override
    {
        if (m_connected && !(source.address == m_peer.address && source.port == m_peer.port))
            return; // a connected socket hears only its peer
        size_t length = payload.length();
        if (m_queued_bytes + length > receive_buffer()) {
            m_dropped++;
            return;
        }
        uint8_t* front = payload.push(kSourceBytes);
        if (!front) {
            m_dropped++;
            return;
        }
        net::store_be32(front, source.address.value);
        net::store_be16(front + 4, source.port);
        m_queued_bytes += length;
        m_queue.push_back(std::move(payload));
        if (!m_draining) // (from the channel: packets_queued announced it)
            readiness_changed(*this, kReadinessIn);
    }

    Result<void> set_option(int level, int name, const void* value, size_t length) override
    {
        if (level == kSolIp) {
            network::StackGuard guard;
            return m_ip_options.set(name, value, length, false);
        }
        return Socket::set_option(level, name, value, length);
    }

    Result<size_t> get_option(int level, int name, void* value, size_t length) override
    {
        if (level == kSolIp) {
            network::StackGuard guard;
            if (name == kIpMtu)
                return get_ip_mtu(m_connected, m_peer.address, value, length);
            return m_ip_options.get(name, value, length);
        }
        if (level == kSolSocket && name == kSoProtocol)
            return put_int_option(value, length, kIpprotoUdp);
        return Socket::get_option(level, name, value, length);
    }

    void icmp_error(const net::IcmpErrorInfo& error) override
    {
        // Port unreachable for a connected socket's datagram: the next call reports it.
        if (m_connected && error.type == 3 && error.code == 3)
            set_error(int(Errno::CONNREFUSED));
        readiness_changed(*this, kReadinessAll);
    }

protected:
    uint32_t do_poll_events() override
    {
        uint32_t ev = fs::kPollOut | fs::kPollWrNorm;
        network::StackGuard guard;
        drain_locked();
        if (!m_queue.is_empty())
            ev |= fs::kPollIn | fs::kPollRdNorm;
        return ev;
    }

private:
    void drain_locked()
    {
        m_draining = true;
        network::stack().udp().drain(*this);
        m_draining = false;
    }

    Result<void> bind_if_needed_locked()
    {
        if (is_bound())
            return {};
        TRY(network::stack().udp().bind(*this, { net::Ipv4Address::any(), 0 }));
        return {};
    }

    net::PacketQueue m_queue;
    size_t m_queued_bytes = 0;
    bool m_draining = false;
    uint64_t m_dropped = 0;
    net::UdpEndpoint m_peer;
    net::Ipv4Address m_source; // connected: the address datagrams to m_peer leave from
    bool m_connected = false;
    IpOptions m_ip_options;
};

// --- TCP ---

// IPPROTO_TCP options (Linux's values and limits).
constexpr int kTcpNodelay = 1, kTcpMaxseg = 2, kTcpCork = 3, kTcpKeepidle = 4, kTcpKeepintvl = 5,
              kTcpKeepcnt = 6, kTcpInfo = 11, kTcpQuickack = 12, kTcpCongestion = 13;
constexpr int32_t kMaxKeepIdle = 32767, kMaxKeepInterval = 32767, kMaxKeepCount = 127;
constexpr int32_t kMinMss = 88, kMaxUserMss = 32767; // TCP_MIN_MSS, MAX_TCP_WINDOW
constexpr uint32_t kDefaultMss = 536;                // TCP_MSS_DEFAULT
constexpr size_t kCongestionNameMax = 16;            // TCP_CA_NAME_MAX
constexpr int kSigPipe = 13;
constexpr int32_t kSiUser = 0;

// struct tcp_info up to tcpi_total_retrans: the part every Linux since 2.6 fills (later
// kernels append fields; the caller gets min(its length, this size)).
struct TcpInfo {
    uint8_t state;
    uint8_t ca_state;
    uint8_t retransmits;
    uint8_t probes;
    uint8_t backoff;
    uint8_t options;
    uint8_t wscale; // snd_wscale : 4 (low bits), rcv_wscale : 4
    uint8_t flags;
    uint32_t rto;
    uint32_t ato;
    uint32_t snd_mss;
    uint32_t rcv_mss;
    uint32_t unacked;
    uint32_t sacked;
    uint32_t lost;
    uint32_t retrans;
    uint32_t fackets;
    uint32_t last_data_sent;
    uint32_t last_ack_sent;
    uint32_t last_data_recv;
    uint32_t last_ack_recv;
    uint32_t pmtu;
    uint32_t rcv_ssthresh;
    uint32_t rtt;
    uint32_t rttvar;
    uint32_t snd_ssthresh;
    uint32_t snd_cwnd;
    uint32_t advmss;
    uint32_t reordering;
    uint32_t rcv_rtt;
    uint32_t rcv_space;
    uint32_t total_retrans;
};
static_assert(sizeof(TcpInfo) == 104);
constexpr uint8_t kTcpiOptTimestamps = 1, kTcpiOptSack = 2, kTcpiOptWscale = 4;

// Linux's TCP state numbers (include/net/tcp_states.h), for TCP_INFO.
uint8_t linux_tcp_state(net::tcp::State state)
{
    using net::tcp::State;
    switch (state) {
    case State::Established: return 1;
    case State::SynSent: return 2;
    case State::SynReceived: return 3;
    case State::FinWait1: return 4;
    case State::FinWait2: return 5;
    case State::TimeWait: return 6;
    case State::Closed: return 7;
    case State::CloseWait: return 8;
    case State::LastAck: return 9;
    case State::Listen: return 10;
    case State::Closing: return 11;
    }
    return 7;
}

// The TCP layer's user-memory interface over the IoBuffer of one call: the layer copies at
// offsets of its own, counted from `base` in the buffer.
class IoBufferAdapter final : public net::tcp::UserBuffer {
public:
    explicit IoBufferAdapter(fs::IoBuffer& buffer, size_t base = 0) : m_buffer(buffer), m_base(base) {}
    Result<void> copy_out(size_t at, const uint8_t* from, size_t length) override
    {
        return m_buffer.copy_out(m_base + at, from, length);
    }
    Result<void> copy_in(size_t at, uint8_t* to, size_t length) override
    {
        return m_buffer.copy_in(m_base + at, to, length);
    }

private:
    fs::IoBuffer& m_buffer;
    size_t m_base;
};

net::tcp::Tcp& tcp_layer() { return network::stack().tcp(); }

// A TCP socket. Its endpoint always exists (opened by create(), or by accept for an accepted
// socket); it is replaced by a fresh one when the socket starts over (a failed connect
// followed by another connect, connect(AF_UNSPEC), shutdown(SHUT_RD) of a listener).
//
// m_state is Linux's sock->state, which only connect() reads and moves: a non-blocking
// connect leaves it Connecting until a later connect() sees the outcome (0 once, then
// EISCONN; or the error). Everything else asks the endpoint's status.
class TcpSocket final : public Socket, public net::tcp::Observer {
public:
    explicit TcpSocket(unsigned file_flags) : Socket(kAfInet, kSockStream, file_flags) {}

    // A socket with a fresh endpoint. NOBUFS.
    static Result<fs::Ref<Socket>> create(unsigned file_flags)
    {
        auto made = fs::make_ref<TcpSocket>(file_flags);
        if (made.is_error())
            return Errno::NOBUFS;
        fs::Ref<TcpSocket> s = made.release_value();
        {
            network::StackGuard guard;
            auto opened = tcp_layer().open(*s);
            if (opened.is_error())
                return Errno::NOBUFS;
            s->m_endpoint = opened.value();
        }
        return fs::Ref<Socket>(std::move(s));
    }

    ~TcpSocket() override
    {
        // SO_LINGER with a zero timeout resets the connection instead of closing it; with a
        // timeout, the last close of a blocking socket waits (as Linux) until the peer has
        // acknowledged everything and the FIN, the timeout passes or a signal comes — then
        // the connection finishes on its own either way.
        bool abort;
        int32_t linger_seconds;
        {
            ksync::MutexGuard guard(m_option_lock);
            abort = m_linger[0] != 0 && m_linger[1] == 0;
            linger_seconds = m_linger[0] != 0 ? m_linger[1] : 0;
        }
        if (linger_seconds > 0 && !(flags() & fs::kOpenNonBlock))
            linger(core::monotonic_ns() + uint64_t(linger_seconds) * 1'000'000'000);
        network::StackGuard guard;
        if (m_endpoint) {
            tcp_layer().release(*m_endpoint, abort);
            m_endpoint = nullptr;
        }
    }

    // SO_LINGER's wait (above): FIN after the queued data, then until the peer acknowledged
    // it all. Unread data means close() resets instead (Linux too), so nothing to wait for.
    void linger(uint64_t deadline)
    {
        {
            network::StackGuard guard;
            if (m_endpoint == nullptr || m_endpoint->kind() != net::tcp::EndpointKind::Connection)
                return;
            net::tcp::EndpointStatus st = tcp_layer().status(*m_endpoint);
            if (st.readable_bytes > 0 || !st.connected || st.error)
                return;
            (void)tcp_layer().shutdown(*m_endpoint, false, true);
        }
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                network::StackGuard guard;
                net::tcp::EndpointStatus st = tcp_layer().status(*m_endpoint);
                if (!st.sending || st.error || st.hangup)
                    return;
            }
            // (Re-checked every 20 ms: not every acknowledgement is announced as a change.)
            uint64_t now = core::monotonic_ns();
            if (now >= deadline || signal_pending())
                return;
            (void)wait_readiness(epoch, deadline - now > 20'000'000 ? now + 20'000'000 : deadline);
        }
    }

    // The layer's notification, under the stack lock: the watches hear what changed.
    void endpoint_changed() override { readiness_changed(*this, changed_events_locked()); }
    // Segments queued on the channel, not processed yet (outside the stack lock): they may
    // bring anything.
    void packets_queued() override { readiness_changed(*this, kReadinessAll); }
    // Every change reaches endpoint_changed (the layer notifies even for more data on a
    // readable socket), so epoll can rely on the watches.
    bool notifies_readiness() const override { return true; }

    Result<void> bind(const SocketAddress& address) override
    {
        net::Ipv4Endpoint local = TRY(decode_address(address));
        bool reuse_address = flag_option(kSoReuseaddr), reuse_port = flag_option(kSoReuseport);
        network::StackGuard guard;
        if (m_endpoint->kind() != net::tcp::EndpointKind::Open)
            return Errno::INVAL;
        tcp_layer().set_reuse(*m_endpoint, reuse_address, reuse_port);
        return tcp_layer().bind(*m_endpoint, local);
    }

    Result<void> listen(int backlog) override
    {
        // Linux: a negative or too large backlog is somaxconn.
        size_t queue = unsigned(backlog) > net::tcp::Tcp::kMaxBacklog ? net::tcp::Tcp::kMaxBacklog : size_t(backlog);
        bool reuse_address = flag_option(kSoReuseaddr), reuse_port = flag_option(kSoReuseport);
        network::StackGuard guard;
        if (m_state != State::Unconnected)
            return Errno::INVAL;
        TRY(renew_if_finished_locked());
        if (m_endpoint->kind() == net::tcp::EndpointKind::Open)
            tcp_layer().set_reuse(*m_endpoint, reuse_address, reuse_port);
        TRY(tcp_layer().listen(*m_endpoint, queue));
        readiness_changed(*this, kReadinessAll); // poll's answer changed (no longer POLLHUP|POLLOUT)
        return {};
    }

    Result<fs::Ref<Socket>> accept(unsigned file_flags, SocketAddress& peer) override
    {
        auto made = fs::make_ref<TcpSocket>(fs::kOpenReadWrite | file_flags);
        if (made.is_error())
            return Errno::NOBUFS;
        fs::Ref<TcpSocket> accepted = made.release_value();
        accepted->inherit_generic_options(*this);
        bool nonblock = flags() & fs::kOpenNonBlock;
        uint64_t deadline = receive_deadline();
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                network::StackGuard guard;
                if (m_endpoint->kind() != net::tcp::EndpointKind::Listening)
                    return Errno::INVAL;
                auto taken = tcp_layer().accept(*m_endpoint, *accepted);
                if (!taken.is_error()) {
                    TcpSocket& s = *accepted;
                    s.m_endpoint = taken.value();
                    s.m_state = State::Connected;
                    s.m_tcp = m_tcp;
                    s.m_ip_options = m_ip_options; // (the endpoint inherited them: Tcp::accept)
                    tcp_layer().set_nodelay(*s.m_endpoint, s.m_tcp.nodelay);
                    tcp_layer().set_cork(*s.m_endpoint, s.m_tcp.cork);
                    s.apply_keepalive_locked(s.flag_option(kSoKeepalive));
                    encode_address(s.m_endpoint->remote(), peer);
                    return fs::Ref<Socket>(std::move(accepted));
                }
                if (taken.error() != Errno::AGAIN)
                    return taken.error();
            }
            if (nonblock)
                return Errno::AGAIN;
            TRY(wait_ready(epoch, deadline, false));
        }
    }

    Result<void> connect(const SocketAddress& address) override
    {
        if (address.length < 2)
            return Errno::INVAL;
        if (address.family() == kAfUnspec)
            return disconnect();
        Errno progress = Errno(0); // what a connect that has not finished returns
        {
            network::StackGuard guard;
            switch (m_state) {
            case State::Connected:
                return Errno::ISCONN;
            case State::Connecting:
                progress = Errno::ALREADY;
                break;
            case State::Unconnected: {
                if (m_endpoint->kind() == net::tcp::EndpointKind::Listening)
                    return Errno::ISCONN; // as Linux: the socket is not closed
                net::Ipv4Endpoint remote = TRY(decode_address(address));
                if (remote.address.is_any()) // Linux connects 0.0.0.0 to the local host
                    remote.address = net::Ipv4Address::from_octets(127, 0, 0, 1);
                TRY(renew_if_finished_locked());
                if (m_endpoint->kind() == net::tcp::EndpointKind::Open)
                    tcp_layer().set_reuse(*m_endpoint, flag_option(kSoReuseaddr), flag_option(kSoReuseport));
                auto started = tcp_layer().connect(*m_endpoint, remote);
                TRY(started);
                m_state = State::Connecting;
                progress = Errno::INPROGRESS;
                break;
            }
            }
        }
        // Linux waits for SO_SNDTIMEO (forever without one); a non-blocking socket does not,
        // and its first connect says EINPROGRESS even when the handshake is already over
        // (over loopback it is): a later connect or poll tells the outcome.
        bool nonblock = flags() & fs::kOpenNonBlock;
        if (nonblock && progress == Errno::INPROGRESS)
            return progress;
        uint64_t deadline = send_deadline();
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                network::StackGuard guard;
                if (m_state != State::Connecting)
                    return m_state == State::Connected ? Errno::ISCONN : Errno::CONNABORTED; // another thread's connect decided
                net::tcp::EndpointStatus st = tcp_layer().status(*m_endpoint);
                if (!st.connecting) {
                    if (st.connected) {
                        m_state = State::Connected;
                        return {};
                    }
                    // Refused, unreachable, timed out: the socket may connect again.
                    m_state = State::Unconnected;
                    Errno e = take_pending_error_locked();
                    return e != Errno(0) ? e : Errno::CONNABORTED;
                }
            }
            if (nonblock)
                return progress;
            if (wait_readiness(epoch, deadline))
                continue;
            if (signal_pending())
                return interrupted_error(true);
            if (core::monotonic_ns() >= deadline)
                return progress; // the handshake goes on; poll and SO_ERROR tell the outcome
        }
    }

    Result<size_t> send(SendRequest& request) override
    {
        if (request.flags & kMsgOob)
            return Errno::NOTSUP;
        size_t total = request.data.size(), done = 0;
        bool nonblock = nonblocking(request.flags);
        uint64_t deadline = send_deadline();
        IoBufferAdapter data(request.data);
        Errno failure = Errno(0);
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                network::StackGuard guard;
                if (m_endpoint->kind() != net::tcp::EndpointKind::Connection) {
                    // Never connected, or listening: Linux's sk_stream_wait_connect says EPIPE.
                    failure = Errno::PIPE;
                } else if (!tcp_layer().connecting(*m_endpoint)) {
                    if (total == 0 && !tcp_layer().status(*m_endpoint).error)
                        return size_t(0);
                    auto wrote = tcp_layer().write(*m_endpoint, data, done, total - done);
                    if (!wrote.is_error()) {
                        done += wrote.value();
                        if (done == total)
                            return done;
                    } else if (wrote.error() != Errno::AGAIN) {
                        failure = wrote.error();
                        if (done && failure != Errno::PIPE && failure != Errno::FAULT)
                            set_error(int(failure)); // reported by the next call
                    }
                }
            }
            if (failure != Errno(0)) {
                if (done)
                    return done;
                if (failure == Errno::PIPE)
                    raise_sigpipe(request.flags);
                return failure;
            }
            if (nonblock)
                return done ? Result<size_t>(done) : Result<size_t>(Errno::AGAIN);
            if (auto w = wait_ready(epoch, deadline, true); w.is_error())
                return done ? Result<size_t>(done) : Result<size_t>(w.error());
        }
    }

    Result<size_t> receive(ReceiveRequest& request) override
    {
        if (request.flags & kMsgOob)
            return Errno::INVAL; // no urgent data is ever kept
        size_t total = request.data.size(), copied = 0;
        bool peek = request.flags & kMsgPeek;
        bool nonblock = nonblocking(request.flags);
        // How much to wait for: everything with MSG_WAITALL, else SO_RCVLOWAT (at least 1).
        size_t target = (request.flags & kMsgWaitall) ? total : low_water();
        if (target > total)
            target = total;
        uint64_t deadline = receive_deadline();
        IoBufferAdapter data(request.data);
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                network::StackGuard guard;
                if (m_endpoint->kind() != net::tcp::EndpointKind::Connection)
                    return Errno::NOTCONN; // never connected, or listening
                if (total == 0)
                    return size_t(0);
                if (!tcp_layer().connecting(*m_endpoint)) {
                    // Peeking copies from the head of the stream each time.
                    size_t at = peek ? 0 : copied;
                    auto got = tcp_layer().read(*m_endpoint, data, at, total - at, peek);
                    if (!got.is_error()) {
                        size_t n = got.value();
                        copied = peek ? n : copied + n;
                        if (n == 0 || copied >= target)
                            return copied; // 0: end of stream
                        if (peek) {
                            // Short of the target: nothing more comes after a FIN or a reset.
                            net::tcp::EndpointStatus now = tcp_layer().status(*m_endpoint);
                            if (now.read_hangup || now.hangup || now.error)
                                return copied;
                        }
                    } else if (got.error() != Errno::AGAIN) {
                        if (!copied)
                            return got.error();
                        if (got.error() != Errno::FAULT && got.error() != Errno::NOTCONN)
                            set_error(int(got.error())); // reported by the next call
                        return copied;
                    }
                }
            }
            if (nonblock)
                return copied ? Result<size_t>(copied) : Result<size_t>(Errno::AGAIN);
            if (auto w = wait_ready(epoch, deadline, false); w.is_error())
                return copied ? Result<size_t>(copied) : Result<size_t>(w.error());
        }
    }

    Result<void> shutdown(int how) override
    {
        if (how < 0 || how > 2)
            return Errno::INVAL;
        bool read = how != 1, write = how != 0; // SHUT_RD 0, SHUT_WR 1, SHUT_RDWR 2
        network::StackGuard guard;
        switch (m_endpoint->kind()) {
        case net::tcp::EndpointKind::Listening:
            // Linux stops listening on SHUT_RD (threads blocked in accept get EINVAL); the
            // port stays bound.
            if (read) {
                TRY(renew_locked(true));
                readiness_changed(*this, kReadinessAll);
            }
            return {};
        case net::tcp::EndpointKind::Connection: {
            if (tcp_layer().status(*m_endpoint).connecting) {
                // Linux drops a connection still in SYN-SENT.
                TRY(renew_locked(true));
                m_state = State::Unconnected;
                readiness_changed(*this, kReadinessAll);
                return {};
            }
            TRY(tcp_layer().shutdown(*m_endpoint, read, write));
            if (write)
                m_shut_write = true;
            readiness_changed(*this, kReadinessAll);
            return {};
        }
        default:
            return Errno::NOTCONN;
        }
    }

    Result<void> local_address(SocketAddress& out) override
    {
        network::StackGuard guard;
        encode_address(m_endpoint->local(), out);
        return {};
    }

    Result<void> peer_address(SocketAddress& out) override
    {
        network::StackGuard guard;
        const net::tcp::Connection* c = m_endpoint->connection();
        // Linux: ENOTCONN while SYN-SENT and once CLOSED (reset, refused).
        if (!c || c->state() == net::tcp::State::Closed || c->state() == net::tcp::State::SynSent)
            return Errno::NOTCONN;
        encode_address(m_endpoint->remote(), out);
        return {};
    }

    Result<size_t> readable_bytes() override
    {
        network::StackGuard guard;
        return tcp_layer().status(*m_endpoint).readable_bytes;
    }

    bool is_listening() const override
    {
        network::StackGuard guard;
        return m_endpoint->kind() == net::tcp::EndpointKind::Listening;
    }

    Result<void> set_option(int level, int name, const void* value, size_t length) override
    {
        if (level == kSolIp) {
            network::StackGuard guard;
            TRY(m_ip_options.set(name, value, length, true));
            apply_ip_options_locked();
            return {};
        }
        if (level == kSolTcp)
            return set_tcp_option(name, value, length);
        TRY(Socket::set_option(level, name, value, length));
        if (level != kSolSocket)
            return {};
        switch (name) {
        case kSoSndbuf:
        case kSoRcvbuf:
        case kSoSndbufforce:
        case kSoRcvbufforce: {
            size_t send_size = send_buffer(), receive_size = receive_buffer();
            network::StackGuard guard;
            tcp_layer().set_buffer_sizes(*m_endpoint, send_size, receive_size);
            readiness_changed(*this, kReadinessAll);
            return {};
        }
        case kSoKeepalive: {
            bool enabled = flag_option(kSoKeepalive);
            network::StackGuard guard;
            apply_keepalive_locked(enabled);
            return {};
        }
        default:
            return {};
        }
    }

    Result<size_t> get_option(int level, int name, void* value, size_t length) override
    {
        if (level == kSolIp) {
            network::StackGuard guard;
            if (name == kIpMtu) { // connecting counts, as on Linux (the route is chosen)
                bool connection = m_endpoint->kind() == net::tcp::EndpointKind::Connection;
                return get_ip_mtu(connection, m_endpoint->remote().address, value, length);
            }
            return m_ip_options.get(name, value, length);
        }
        if (level == kSolTcp)
            return get_tcp_option(name, value, length);
        if (level == kSolSocket && name == kSoProtocol)
            return put_int_option(value, length, kIpprotoTcp);
        if (level == kSolSocket && name == kSoError) {
            // The socket's own error first (one a partial send or receive left), then the
            // connection's.
            int e = take_error();
            if (!e) {
                network::StackGuard guard;
                e = int(tcp_layer().take_error(*m_endpoint));
            }
            return put_int_option(value, length, e);
        }
        return Socket::get_option(level, name, value, length);
    }

protected:
    // Linux's tcp_poll, from the endpoint's status.
    uint32_t do_poll_events() override
    {
        uint32_t ev = 0;
        {
            network::StackGuard guard;
            net::tcp::EndpointStatus st = tcp_layer().status(*m_endpoint);
            switch (m_endpoint->kind()) {
            case net::tcp::EndpointKind::Listening:
                return st.readable ? fs::kPollIn | fs::kPollRdNorm : 0;
            case net::tcp::EndpointKind::Open:
            case net::tcp::EndpointKind::Bound:
                // A socket that never connected is CLOSED: hung up, and "writable".
                ev = fs::kPollHup | fs::kPollOut | fs::kPollWrNorm;
                break;
            case net::tcp::EndpointKind::Connection:
                if (st.hangup)
                    ev |= fs::kPollHup;
                if (st.read_hangup)
                    ev |= fs::kPollIn | fs::kPollRdNorm | kPollRdHup;
                if (!st.connecting) {
                    if (st.readable)
                        ev |= fs::kPollIn | fs::kPollRdNorm;
                    // A finished or shut down sending side reports writable: write() fails at once.
                    if (st.writable || st.hangup || m_shut_write)
                        ev |= fs::kPollOut | fs::kPollWrNorm;
                }
                if (st.error)
                    ev |= fs::kPollErr;
                break;
            }
        }
        ksync::MutexGuard guard(m_option_lock);
        if (m_error)
            ev |= fs::kPollErr;
        return ev;
    }

private:
    enum class State { Unconnected, Connecting, Connected };

    // IPPROTO_TCP option values (Linux's defaults). Guarded by the stack lock.
    struct TcpOptions {
        bool nodelay = false;
        bool cork = false;
        bool quickack = true; // stored only: ACKs follow the delayed-ACK rules
        int32_t user_mss = 0; // stored only: the MSS comes from the interface and the peer
        int32_t keep_idle = 7200; // seconds
        int32_t keep_interval = 75;
        int32_t keep_count = 9;
    };

    bool flag_option(int name) const
    {
        ksync::MutexGuard guard(m_option_lock);
        return (m_flag_options >> name) & 1;
    }

    size_t low_water() const
    {
        ksync::MutexGuard guard(m_option_lock);
        return m_receive_low_water < 1 ? 1 : size_t(m_receive_low_water);
    }

    // An accepted socket starts with its listener's SOL_SOCKET options, as on Linux.
    void inherit_generic_options(const TcpSocket& listener)
    {
        uint32_t send_size, receive_size, flag_options;
        uint64_t receive_timeout, send_timeout;
        int32_t linger[2], low_water;
        {
            ksync::MutexGuard guard(listener.m_option_lock);
            send_size = listener.m_send_buffer;
            receive_size = listener.m_receive_buffer;
            flag_options = listener.m_flag_options;
            receive_timeout = listener.m_receive_timeout_ns;
            send_timeout = listener.m_send_timeout_ns;
            linger[0] = listener.m_linger[0];
            linger[1] = listener.m_linger[1];
            low_water = listener.m_receive_low_water;
        }
        ksync::MutexGuard guard(m_option_lock);
        m_send_buffer = send_size;
        m_receive_buffer = receive_size;
        m_flag_options = flag_options;
        m_receive_timeout_ns = receive_timeout;
        m_send_timeout_ns = send_timeout;
        m_linger[0] = linger[0];
        m_linger[1] = linger[1];
        m_receive_low_water = low_water;
    }

    // Waits after a check found nothing to do: {} to check again, or the error to return.
    void raise_sigpipe(int flags)
    {
        if (!(flags & kMsgNosignal))
            send_signal(current_app_thread(), kSigPipe, kSiUser, 0, kPid);
    }

    // SO_ERROR's value as connect reports it: the socket's error, else the connection's.
    Errno take_pending_error_locked()
    {
        Errno e = tcp_layer().take_error(*m_endpoint);
        if (int own = take_error())
            return Errno(own);
        return e;
    }

    // Replaces the endpoint by a fresh one with the socket's options, keeping the local
    // address it was bound to if `keep_binding` (the old endpoint is released first, so the
    // port is free again). NOBUFS; a failed re-bind leaves the new endpoint unbound.
    Result<void> renew_locked(bool keep_binding)
    {
        net::tcp::Tcp& tcp = tcp_layer();
        net::Ipv4Endpoint local = m_endpoint->local();
        bool was_bound = m_endpoint->kind() != net::tcp::EndpointKind::Open;
        bool reuse_address = m_endpoint->reuse_address(), reuse_port = m_endpoint->reuse_port();
        auto opened = tcp.open(*this);
        if (opened.is_error())
            return Errno::NOBUFS;
        tcp.release(*m_endpoint, true);
        m_endpoint = opened.value();
        m_shut_write = false;
        m_seen_events = 0; // a new connection's first bytes are new
        m_seen_received = 0;
        tcp.set_buffer_sizes(*m_endpoint, send_buffer(), receive_buffer());
        tcp.set_nodelay(*m_endpoint, m_tcp.nodelay);
        tcp.set_cork(*m_endpoint, m_tcp.cork);
        apply_keepalive_locked(flag_option(kSoKeepalive));
        apply_ip_options_locked();
        tcp.set_reuse(*m_endpoint, reuse_address, reuse_port);
        if (keep_binding && was_bound && local.port != 0)
            (void)tcp.bind(*m_endpoint, local);
        return {};
    }

    // A connection that failed or ended cannot connect or listen again: start over.
    Result<void> renew_if_finished_locked()
    {
        if (m_endpoint->kind() != net::tcp::EndpointKind::Connection)
            return {};
        return renew_locked(false);
    }

    // connect(AF_UNSPEC): Linux's tcp_disconnect — drop the connection (RST) or stop
    // listening; the socket may connect again.
    Result<void> disconnect()
    {
        network::StackGuard guard;
        if (m_endpoint->kind() == net::tcp::EndpointKind::Connection
            || m_endpoint->kind() == net::tcp::EndpointKind::Listening)
            TRY(renew_locked(false));
        m_state = State::Unconnected;
        readiness_changed(*this, kReadinessAll);
        return {};
    }

    // IP_TOS / IP_TTL onto the endpoint (which keeps them across a listen and hands them to
    // the connections it accepts).
    void apply_ip_options_locked()
    {
        net::Ipv4HeaderChoice header = m_ip_options.header();
        // Linux sets DF on TCP segments for IP_PMTUDISC_WANT and DO only (checked on a host).
        bool df = header.pmtu_discovery == net::PmtuDiscovery::Want || header.pmtu_discovery == net::PmtuDiscovery::Do;
        tcp_layer().set_ip_header(*m_endpoint, header.tos, header.ttl, df);
    }

    void apply_keepalive_locked(bool enabled)
    {
        tcp_layer().set_keepalive(*m_endpoint, enabled, net::tcp::Duration(m_tcp.keep_idle) * net::tcp::kSecond,
                                  net::tcp::Duration(m_tcp.keep_interval) * net::tcp::kSecond,
                                  unsigned(m_tcp.keep_count));
    }

    Result<void> set_tcp_option(int name, const void* value, size_t length)
    {
        if (name == kTcpCongestion) {
            // Only CUBIC is offered (Linux: ENOENT for an algorithm it does not have).
            if (length < 1)
                return Errno::INVAL;
            char wanted[kCongestionNameMax] = {};
            size_t n = length < kCongestionNameMax - 1 ? length : kCongestionNameMax - 1;
            lib::mem_copy(wanted, value, n);
            static constexpr char kCubic[] = "cubic";
            if (lib::mem_compare(wanted, kCubic, sizeof kCubic) != 0)
                return Errno::NOENT;
            return {};
        }
        if (name == kTcpInfo)
            return Errno::NOPROTOOPT;
        int32_t v = TRY(int_option(value, length));
        network::StackGuard guard;
        switch (name) {
        case kTcpNodelay:
            m_tcp.nodelay = v != 0;
            tcp_layer().set_nodelay(*m_endpoint, m_tcp.nodelay);
            return {};
        case kTcpCork:
            m_tcp.cork = v != 0;
            tcp_layer().set_cork(*m_endpoint, m_tcp.cork);
            return {};
        case kTcpMaxseg:
            if (v && (v < kMinMss || v > kMaxUserMss))
                return Errno::INVAL;
            m_tcp.user_mss = v;
            return {};
        case kTcpKeepidle:
            if (v < 1 || v > kMaxKeepIdle)
                return Errno::INVAL;
            m_tcp.keep_idle = v;
            break;
        case kTcpKeepintvl:
            if (v < 1 || v > kMaxKeepInterval)
                return Errno::INVAL;
            m_tcp.keep_interval = v;
            break;
        case kTcpKeepcnt:
            if (v < 1 || v > kMaxKeepCount)
                return Errno::INVAL;
            m_tcp.keep_count = v;
            break;
        case kTcpQuickack:
            m_tcp.quickack = v != 0;
            return {};
        default:
            return Errno::NOPROTOOPT;
        }
        apply_keepalive_locked(flag_option(kSoKeepalive)); // TCP_KEEPIDLE/INTVL/CNT
        return {};
    }

    Result<size_t> get_tcp_option(int name, void* value, size_t length)
    {
        network::StackGuard guard;
        const net::tcp::Connection* c = m_endpoint->connection();
        switch (name) {
        case kTcpNodelay:
            return put_int_option(value, length, m_tcp.nodelay);
        case kTcpCork:
            return put_int_option(value, length, m_tcp.cork);
        case kTcpMaxseg: {
            // Linux: the connection's MSS; before connecting the user's value, or 536.
            int32_t mss = int32_t(kDefaultMss);
            if (c && c->state() != net::tcp::State::Closed && c->state() != net::tcp::State::SynSent)
                mss = int32_t(c->send_mss());
            else if (m_tcp.user_mss)
                mss = m_tcp.user_mss;
            return put_int_option(value, length, mss);
        }
        case kTcpKeepidle:
            return put_int_option(value, length, m_tcp.keep_idle);
        case kTcpKeepintvl:
            return put_int_option(value, length, m_tcp.keep_interval);
        case kTcpKeepcnt:
            return put_int_option(value, length, m_tcp.keep_count);
        case kTcpQuickack:
            return put_int_option(value, length, m_tcp.quickack);
        case kTcpCongestion: {
            char name_out[kCongestionNameMax] = {};
            bool reno = (c ? c->congestion_algorithm() : m_endpoint->config().congestion)
                        == net::tcp::CongestionAlgorithm::NewReno;
            lib::mem_copy(name_out, reno ? "reno" : "cubic", reno ? 4 : 5);
            size_t n = length < kCongestionNameMax ? length : kCongestionNameMax;
            lib::mem_copy(value, name_out, n);
            return n;
        }
        case kTcpInfo: {
            TcpInfo info = tcp_info_locked();
            size_t n = length < sizeof info ? length : sizeof info;
            lib::mem_copy(value, &info, n);
            return n;
        }
        default:
            return Errno::NOPROTOOPT;
        }
    }

    TcpInfo tcp_info_locked() const
    {
        TcpInfo info = {};
        info.state = m_endpoint->kind() == net::tcp::EndpointKind::Listening ? 10 : 7;
        info.snd_mss = kDefaultMss;
        info.rcv_mss = kDefaultMss;
        info.advmss = m_endpoint->config().mss;
        info.pmtu = 1500;
        info.reordering = 3;
        info.snd_ssthresh = 0x7fffffff; // "infinite", as Linux reports an unset ssthresh
        const net::tcp::Connection* c = m_endpoint->connection();
        if (!c)
            return info;
        uint32_t mss = c->send_mss() ? c->send_mss() : kDefaultMss;
        info.state = linux_tcp_state(c->state());
        info.snd_mss = mss;
        info.rto = uint32_t(c->backed_off_rto());
        info.ato = uint32_t(m_endpoint->config().delayed_ack);
        info.unacked = (c->snd_nxt() - c->snd_una() + mss - 1) / mss;
        info.rtt = uint32_t(c->srtt());
        info.snd_cwnd = (c->cwnd() + mss - 1) / mss;
        if (c->ssthresh() < 0x7fffffff)
            info.snd_ssthresh = c->ssthresh() / mss;
        if (c->timestamps_enabled())
            info.options |= kTcpiOptTimestamps;
        if (c->sack_enabled())
            info.options |= kTcpiOptSack;
        if (c->send_window_scale() || c->receive_window_scale()) {
            info.options |= kTcpiOptWscale;
            info.wscale = uint8_t((c->send_window_scale() & 0xf) | (c->receive_window_scale() << 4));
        }
        info.total_retrans = uint32_t(c->stats().retransmitted_segments);
        info.rcv_space = uint32_t(m_endpoint->config().receive_buffer_size);
        return info;
    }

    // What the layer's notification may have added (lx/poll.h), from the connection's state
    // against what the last notification saw: new bytes or a readable edge → input; a writable
    // edge → output; an error, a hang-up or the handshake's end → everything. Nothing new is a
    // second notification of a change already passed on (one segment's data is announced by
    // the connection's state change and again by its delivery): the watches were told, and only
    // the waiters wake. The one change of the endpoint this cannot see, a read shutdown, the
    // socket's shutdown() announces itself with kReadinessAll. Reads the connection without
    // calling into the Tcp (endpoint_changed must not). Under the stack lock.
    uint32_t changed_events_locked()
    {
        if (m_endpoint == nullptr) // accept() is still handing the endpoint over
            return kReadinessAll;
        if (m_endpoint->kind() == net::tcp::EndpointKind::Listening)
            return kReadinessIn; // a connection to accept
        const net::tcp::Connection* c = m_endpoint->connection();
        if (c == nullptr)
            return kReadinessAll;
        uint32_t now = c->poll_state().events;
        uint64_t received = c->stats().bytes_received;
        uint32_t flipped = now ^ m_seen_events;
        bool more_data = received != m_seen_received;
        m_seen_events = now;
        m_seen_received = received;
        using namespace net::tcp;
        if (flipped & ~uint32_t(kEventReadable | kEventWritable))
            return kReadinessAll; // an error, a hang-up, the handshake's end
        uint32_t events = 0;
        if (more_data || (flipped & kEventReadable))
            events |= kReadinessIn;
        if (flipped & kEventWritable)
            events |= kReadinessOut;
        return events;
    }

    net::tcp::Endpoint* m_endpoint = nullptr; // never null once created or accepted
    // The connection's state at the last notification (changed_events_locked); stack lock.
    uint32_t m_seen_events = 0;
    uint64_t m_seen_received = 0;
    State m_state = State::Unconnected;
    bool m_shut_write = false; // shutdown(SHUT_WR) called: poll reports writable
    TcpOptions m_tcp;
    IpOptions m_ip_options;
};

} // namespace

Result<fs::Ref<Socket>> create_inet_socket(int type, int protocol, unsigned file_flags)
{
    if (type == kSockStream) {
        if (protocol != 0 && protocol != kIpprotoTcp)
            return Errno::PROTONOSUPPORT;
        return TcpSocket::create(file_flags);
    }
    if (type != kSockDgram)
        return Errno::SOCKTNOSUPPORT;
    if (protocol != 0 && protocol != kIpprotoUdp)
        return Errno::PROTONOSUPPORT;
    auto s = fs::make_ref<UdpSocket>(file_flags);
    if (s.is_error())
        return Errno::NOBUFS;
    return fs::Ref<Socket>(s.release_value());
}

} // namespace lx
