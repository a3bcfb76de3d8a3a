// AF_INET sockets over the kernel's network stack (kernel/network, kernel/net): datagram
// sockets (UDP) for now; stream sockets (TCP) are next (issue 6).
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
#include <core/clock.h>
#include <lib/string.h>
#include <lx/poll.h>
#include <lx/signal.h>
#include <lx/socket.h>
#include <net/byte_order.h>
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

class UdpSocket final : public Socket, public net::UdpReceiver {
public:
    explicit UdpSocket(unsigned file_flags) : Socket(kAfInet, kSockDgram, file_flags) {}
    ~UdpSocket() override
    {
        ksync::MutexGuard guard(network::stack_lock());
        if (is_bound())
            network::stack().udp().unbind(*this);
        m_queue.clear();
    }

    Result<void> bind(const SocketAddress& address) override
    {
        net::UdpEndpoint local = TRY(decode_address(address));
        ksync::MutexGuard guard(network::stack_lock());
        if (is_bound())
            return Errno::INVAL;
        TRY(network::stack().udp().bind(*this, local));
        return {};
    }

    Result<void> connect(const SocketAddress& address) override
    {
        if (address.length >= 2 && address.family() == kAfUnspec) {
            ksync::MutexGuard guard(network::stack_lock());
            m_connected = false;
            return {};
        }
        net::UdpEndpoint peer = TRY(decode_address(address));
        if (peer.port == 0)
            return Errno::INVAL;
        ksync::MutexGuard guard(network::stack_lock());
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
        ksync::MutexGuard guard(network::stack_lock());
        if (!request.to) {
            if (!m_connected)
                return Errno::DESTADDRREQ;
            to = m_peer;
        }
        TRY(bind_if_needed_locked());
        net::UdpEndpoint from = local();
        auto sent = network::stack().udp().send(from, to, std::move(packet));
        network::timers_changed(); // an ARP resolution may have started
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
        bool nonblock = (request.flags & kMsgDontwait) || (flags() & fs::kOpenNonBlock);
        uint64_t deadline = receive_deadline();
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(network::stack_lock());
                net::Packet packet = m_queue.pop_front();
                if (packet) {
                    const uint8_t* source = packet.data();
                    net::UdpEndpoint from{ net::Ipv4Address{ net::load_be32(source) }, net::load_be16(source + 4) };
                    size_t length = packet.length() - kSourceBytes;
                    size_t n = length < request.data.size() ? length : request.data.size();
                    auto copied = request.data.copy_out(0, packet.data() + kSourceBytes, n);
                    if (peek || copied.is_error()) {
                        m_queue.push_front(std::move(packet));
                    } else {
                        m_queued_bytes -= length;
                    }
                    if (copied.is_error())
                        return copied.error();
                    encode_address(from, request.from);
                    if (n < length)
                        request.out_flags |= kMsgTrunc;
                    return (request.flags & kMsgTrunc) ? length : n;
                }
            }
            if (nonblock)
                return Errno::AGAIN;
            if (wait_readiness(epoch, deadline))
                continue;
            if (signal_pending())
                return interrupted_error(false);
            if (core::monotonic_ns() >= deadline)
                return Errno::AGAIN;
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
        ksync::MutexGuard guard(network::stack_lock());
        net::UdpEndpoint name = is_bound() ? local() : net::UdpEndpoint{};
        if (m_connected && name.address.is_any())
            name.address = m_source;
        encode_address(name, out);
        return {};
    }

    Result<void> peer_address(SocketAddress& out) override
    {
        ksync::MutexGuard guard(network::stack_lock());
        if (!m_connected)
            return Errno::NOTCONN;
        encode_address(m_peer, out);
        return {};
    }

    Result<size_t> readable_bytes() override
    {
        ksync::MutexGuard guard(network::stack_lock());
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
        readiness_changed();
    }

    void icmp_error(const net::IcmpErrorInfo& error) override
    {
        // Port unreachable for a connected socket's datagram: the next call reports it.
        if (m_connected && error.type == 3 && error.code == 3)
            set_error(int(Errno::CONNREFUSED));
        readiness_changed();
    }

protected:
    uint32_t do_poll_events() override
    {
        uint32_t ev = fs::kPollOut | fs::kPollWrNorm;
        ksync::MutexGuard guard(network::stack_lock());
        if (!m_queue.is_empty())
            ev |= fs::kPollIn | fs::kPollRdNorm;
        return ev;
    }

private:
    Result<void> bind_if_needed_locked()
    {
        if (is_bound())
            return {};
        TRY(network::stack().udp().bind(*this, { net::Ipv4Address::any(), 0 }));
        return {};
    }

    net::PacketQueue m_queue;
    size_t m_queued_bytes = 0;
    uint64_t m_dropped = 0;
    net::UdpEndpoint m_peer;
    net::Ipv4Address m_source; // connected: the address datagrams to m_peer leave from
    bool m_connected = false;
};

} // namespace

Result<fs::Ref<Socket>> create_inet_socket(int type, int protocol, unsigned file_flags)
{
    if (type != kSockDgram)
        return Errno::SOCKTNOSUPPORT; // SOCK_STREAM: TCP sockets are next (issue 6)
    if (protocol != 0 && protocol != 17)
        return Errno::PROTONOSUPPORT;
    auto s = fs::make_ref<UdpSocket>(file_flags);
    if (s.is_error())
        return Errno::NOBUFS;
    return fs::Ref<Socket>(s.release_value());
}

} // namespace lx
