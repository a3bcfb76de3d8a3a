// AF_NETLINK sockets (NETLINK_ROUTE only, SOCK_RAW or SOCK_DGRAM) and the interface ioctls
// (SIOCGIF*) every socket answers: how getifaddrs, if_nameindex, if_nametoindex and
// getaddrinfo's AI_ADDRCONFIG learn the interfaces.
//
// Requests go to the kernel (port id 0) only; there is no netlink between applications and no
// multicast notification is ever sent (memberships are kept, to be read back). A request is
// answered during sendmsg: the interfaces are copied from the stack under its lock
// (net::netlink::take_snapshot), the lock is dropped, and the portable message code
// (kernel/net/netlink/route.h) builds every answer, dumps included, into datagrams that are
// queued on the socket at once. So a reader that receives with MSG_DONTWAIT right after its
// send (musl) finds them, and a dump never waits for the reader as Linux's lazy dumps do. One
// recvmsg returns one datagram (MSG_TRUNC and MSG_PEEK as for any datagram socket); the
// sender's address is always the kernel's (nl_pid 0), which glibc checks.
//
// Port ids (netlink_autobind): bind with nl_pid 0, or the first send, gives the socket the
// process's pid if no other socket has it, else -4096, -4097, ... (as unsigned numbers).
//
// Answers that would take the receive queue beyond SO_RCVBUF are dropped and the socket's
// error becomes ENOBUFS (netlink_overrun), reported by the next recvmsg or SO_ERROR, unless
// NETLINK_NO_ENOBUFS is set.
//
// Locking. g_netlink_lock covers every netlink socket's state and the list of bound sockets.
// Lock order: the stack lock is never held with it (the snapshot is taken before); then a
// socket's option lock, then the readiness notifier.
#include <core/clock.h>
#include <lib/string.h>
#include <lx/poll.h>
#include <lx/signal.h>
#include <lx/socket.h>
#include <lx/uaccess.h>
#include <net/byte_order.h>
#include <net/netlink/route.h>
#include <network/network.h>
#include <new>
#include <sync/mutex.h>

namespace lx {
namespace {

namespace nl = net::netlink;

// SOL_NETLINK options (Linux's values).
constexpr int kSolNetlink = 270;
constexpr int kNetlinkAddMembership = 1, kNetlinkDropMembership = 2, kNetlinkPktinfo = 3,
              kNetlinkBroadcastError = 4, kNetlinkNoEnobufs = 5, kNetlinkListenAllNsid = 8,
              kNetlinkListMemberships = 9, kNetlinkCapAck = 10, kNetlinkExtAck = 11, kNetlinkGetStrictChk = 12;
constexpr unsigned kMaxGroups = 64; // more than RTNLGRP_MAX

// Linux refuses a message within 32 bytes of SO_SNDBUF (netlink_sendmsg).
constexpr size_t kSendOverhead = 32;

class NetlinkSocket;
constinit ksync::Mutex g_netlink_lock;
NetlinkSocket* g_bound TA_GUARDED(g_netlink_lock) = nullptr; // every socket with a port id
uint32_t g_rover TA_GUARDED(g_netlink_lock) = uint32_t(-4096);

// The snapshot of the interfaces, on the heap (it is ~1.5 KiB).
struct SnapshotHolder {
    nl::Snapshot* snapshot = new (std::nothrow) nl::Snapshot;
    ~SnapshotHolder() { delete snapshot; }
};

Result<void> take_snapshot(SnapshotHolder& holder)
{
    if (!holder.snapshot)
        return Errno::NOBUFS;
    network::StackGuard guard;
    nl::take_snapshot(network::stack(), *holder.snapshot);
    return {};
}

// struct sockaddr_nl in and out. EINVAL when short or of another family.
Result<nl::SockaddrNl> decode_address(const SocketAddress& address)
{
    if (address.length < sizeof(nl::SockaddrNl))
        return Errno::INVAL;
    nl::SockaddrNl a;
    lib::mem_copy(&a, address.bytes, sizeof a);
    if (a.family != nl::kAfNetlink)
        return Errno::INVAL;
    return a;
}

void encode_address(uint32_t port, uint32_t groups, SocketAddress& out)
{
    nl::SockaddrNl a{ nl::kAfNetlink, 0, port, groups };
    out = SocketAddress{};
    lib::mem_copy(out.bytes, &a, sizeof a);
    out.length = sizeof a;
}

class NetlinkSocket final : public Socket {
public:
    NetlinkSocket(int type, unsigned file_flags) : Socket(kAfNetlink, type, file_flags) {}
    bool notifies_readiness() const override { return true; }

    ~NetlinkSocket() override
    {
        ksync::MutexGuard guard(g_netlink_lock);
        if (m_bound)
            unlink_locked();
        m_queue.clear();
    }

    Result<void> bind(const SocketAddress& address) override
    {
        nl::SockaddrNl a = TRY(decode_address(address));
        ksync::MutexGuard guard(g_netlink_lock);
        if (m_bound) {
            if (a.port != m_port)
                return Errno::INVAL;
        } else if (a.port == 0) {
            autobind_locked();
        } else {
            if (port_in_use_locked(a.port))
                return Errno::ADDRINUSE;
            link_locked(a.port);
        }
        m_groups = (m_groups & ~uint64_t(0xffffffff)) | a.groups;
        return {};
    }

    Result<void> connect(const SocketAddress& address) override
    {
        if (address.length >= 2 && address.family() == kAfUnspec) {
            ksync::MutexGuard guard(g_netlink_lock);
            m_peer_port = 0;
            m_peer_groups = 0;
            return {};
        }
        nl::SockaddrNl a = TRY(decode_address(address));
        ksync::MutexGuard guard(g_netlink_lock);
        if (!m_bound)
            autobind_locked();
        m_peer_port = a.port;
        m_peer_groups = a.groups;
        return {};
    }

    Result<size_t> send(SendRequest& request) override
    {
        if (request.flags & kMsgOob)
            return Errno::NOTSUP;
        uint32_t to_port;
        {
            ksync::MutexGuard guard(g_netlink_lock);
            to_port = m_peer_port;
        }
        if (request.to)
            to_port = TRY(decode_address(*request.to)).port;
        size_t length = request.data.size();
        uint32_t limit = send_buffer();
        if (length > limit - kSendOverhead)
            return Errno::MSGSIZE;
        {
            ksync::MutexGuard guard(g_netlink_lock);
            if (!m_bound)
                autobind_locked();
        }
        // Only the kernel listens: no application socket can be sent to (and messages to a
        // multicast group alone reach no one).
        if (to_port != 0)
            return Errno::CONNREFUSED;
        uint8_t* bytes = new (std::nothrow) uint8_t[length ? length : 1];
        if (!bytes)
            return Errno::NOBUFS;
        auto copied = request.data.copy_in(0, bytes, length);
        if (copied.is_error()) {
            delete[] bytes;
            return copied.error();
        }
        SnapshotHolder holder;
        auto taken = take_snapshot(holder);
        if (taken.is_error()) {
            delete[] bytes;
            return taken.error();
        }
        nl::RequestContext context;
        nl::DatagramQueue answers;
        {
            ksync::MutexGuard guard(g_netlink_lock);
            context.port = m_port;
            context.cap_ack = m_cap_ack;
            context.strict_check = m_strict_check;
        }
        auto handled = nl::handle_requests(bytes, length, *holder.snapshot, context, answers);
        delete[] bytes;
        uint32_t changed = 0; // the readiness gained (lx/poll.h)
        {
            ksync::MutexGuard guard(g_netlink_lock);
            if (handled.is_error() || m_queue.byte_count() + answers.byte_count() > receive_buffer()) {
                answers.clear();
                if (!m_no_enobufs)
                    set_error(int(Errno::NOBUFS));
                changed = kReadinessAll;
            } else if (!answers.is_empty()) {
                m_queue.splice(answers);
                changed = kReadinessIn; // answers to read
            }
        }
        if (changed)
            readiness_changed(*this, changed);
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
                ksync::MutexGuard guard(g_netlink_lock);
                if (int error = take_error())
                    return Errno(error);
                if (const nl::Datagram* d = m_queue.front()) {
                    size_t result = TRY(copy_datagram(request, d->bytes(), d->length));
                    if (!peek)
                        m_queue.pop_front();
                    encode_address(0, 0, request.from); // from the kernel
                    return result;
                }
            }
            if (nonblock)
                return Errno::AGAIN;
            TRY(wait_ready(epoch, deadline, false));
        }
    }

    Result<void> local_address(SocketAddress& out) override
    {
        ksync::MutexGuard guard(g_netlink_lock);
        encode_address(m_bound ? m_port : 0, uint32_t(m_groups), out);
        return {};
    }

    Result<void> peer_address(SocketAddress& out) override
    {
        ksync::MutexGuard guard(g_netlink_lock);
        encode_address(m_peer_port, m_peer_groups, out);
        return {};
    }

    Result<size_t> readable_bytes() override
    {
        ksync::MutexGuard guard(g_netlink_lock);
        const nl::Datagram* d = m_queue.front();
        return d ? d->length : size_t(0);
    }

    Result<void> set_option(int level, int name, const void* value, size_t length) override
    {
        if (level != kSolNetlink)
            return Socket::set_option(level, name, value, length);
        if (length < sizeof(int32_t))
            return Errno::INVAL;
        uint32_t v;
        lib::mem_copy(&v, value, sizeof v);
        ksync::MutexGuard guard(g_netlink_lock);
        switch (name) {
        case kNetlinkAddMembership:
        case kNetlinkDropMembership:
            if (v == 0 || v > kMaxGroups)
                return Errno::INVAL;
            if (!m_bound)
                autobind_locked();
            if (name == kNetlinkAddMembership)
                m_groups |= uint64_t(1) << (v - 1);
            else
                m_groups &= ~(uint64_t(1) << (v - 1));
            return {};
        case kNetlinkPktinfo:
            m_pktinfo = v != 0;
            return {};
        case kNetlinkBroadcastError:
            m_broadcast_error = v != 0;
            return {};
        case kNetlinkNoEnobufs:
            m_no_enobufs = v != 0;
            return {};
        case kNetlinkListenAllNsid:
            m_listen_all_nsid = v != 0;
            return {};
        case kNetlinkCapAck:
            m_cap_ack = v != 0;
            return {};
        case kNetlinkExtAck:
            m_ext_ack = v != 0; // accepted; our errors carry no extended attributes
            return {};
        case kNetlinkGetStrictChk:
            m_strict_check = v != 0;
            return {};
        default:
            return Errno::NOPROTOOPT;
        }
    }

    Result<size_t> get_option(int level, int name, void* value, size_t length) override
    {
        if (level != kSolNetlink)
            return Socket::get_option(level, name, value, length);
        ksync::MutexGuard guard(g_netlink_lock);
        if (name == kNetlinkListMemberships) {
            // The group bitmap as u32 words; the length written back is what all of it needs.
            uint32_t words[kMaxGroups / 32] = { uint32_t(m_groups), uint32_t(m_groups >> 32) };
            size_t n = length < sizeof words ? length & ~size_t(3) : sizeof words;
            lib::mem_copy(value, words, n);
            return sizeof words < length ? sizeof words : length;
        }
        bool flag;
        switch (name) {
        case kNetlinkPktinfo:
            flag = m_pktinfo;
            break;
        case kNetlinkBroadcastError:
            flag = m_broadcast_error;
            break;
        case kNetlinkNoEnobufs:
            flag = m_no_enobufs;
            break;
        case kNetlinkListenAllNsid:
            flag = m_listen_all_nsid;
            break;
        case kNetlinkCapAck:
            flag = m_cap_ack;
            break;
        case kNetlinkExtAck:
            flag = m_ext_ack;
            break;
        case kNetlinkGetStrictChk:
            flag = m_strict_check;
            break;
        default:
            return Errno::NOPROTOOPT;
        }
        if (length < sizeof(int32_t))
            return Errno::INVAL;
        int32_t v = flag;
        lib::mem_copy(value, &v, sizeof v);
        return sizeof v;
    }

protected:
    uint32_t do_poll_events() override
    {
        uint32_t ev = fs::kPollOut | fs::kPollWrNorm;
        ksync::MutexGuard guard(g_netlink_lock);
        if (!m_queue.is_empty())
            ev |= fs::kPollIn | fs::kPollRdNorm;
        return ev;
    }

private:
    static bool port_in_use_locked(uint32_t port) TA_REQ(g_netlink_lock)
    {
        for (NetlinkSocket* s = g_bound; s; s = s->m_next)
            if (s->m_port == port)
                return true;
        return false;
    }

    void link_locked(uint32_t port) TA_REQ(g_netlink_lock)
    {
        m_port = port;
        m_bound = true;
        m_next = g_bound;
        g_bound = this;
    }

    void unlink_locked() TA_REQ(g_netlink_lock)
    {
        for (NetlinkSocket** p = &g_bound; *p; p = &(*p)->m_next) {
            if (*p == this) {
                *p = m_next;
                break;
            }
        }
        m_bound = false;
    }

    // netlink_autobind: the process's pid first, then -4096 downwards.
    void autobind_locked() TA_REQ(g_netlink_lock)
    {
        uint32_t port = uint32_t(current_credentials().pid);
        while (port == 0 || port_in_use_locked(port)) {
            port = g_rover--;
            if (int32_t(g_rover) > -4096)
                g_rover = uint32_t(-4097);
        }
        link_locked(port);
    }

    NetlinkSocket* m_next TA_GUARDED(g_netlink_lock) = nullptr; // g_bound
    nl::DatagramQueue m_queue TA_GUARDED(g_netlink_lock);
    uint32_t m_port TA_GUARDED(g_netlink_lock) = 0;
    bool m_bound TA_GUARDED(g_netlink_lock) = false;
    uint64_t m_groups TA_GUARDED(g_netlink_lock) = 0; // bit n: group n + 1
    uint32_t m_peer_port TA_GUARDED(g_netlink_lock) = 0;
    uint32_t m_peer_groups TA_GUARDED(g_netlink_lock) = 0;
    bool m_pktinfo TA_GUARDED(g_netlink_lock) = false;
    bool m_broadcast_error TA_GUARDED(g_netlink_lock) = false;
    bool m_no_enobufs TA_GUARDED(g_netlink_lock) = false;
    bool m_listen_all_nsid TA_GUARDED(g_netlink_lock) = false;
    bool m_cap_ack TA_GUARDED(g_netlink_lock) = false;
    bool m_ext_ack TA_GUARDED(g_netlink_lock) = false;
    bool m_strict_check TA_GUARDED(g_netlink_lock) = false;
};

// --- the interface ioctls ---

// struct ifreq: the name, then a 24-byte union (an address, flags, an index, the MTU ...).
constexpr size_t kIfreqLength = 40, kIfreqUnion = 16, kIfNameSize = 16;
// struct ifconf: the length, padding, the buffer's address.
constexpr size_t kIfconfLength = 16;

constexpr unsigned kSiocgifname = 0x8910, kSiocgifconf = 0x8912, kSiocgifflags = 0x8913, kSiocgifaddr = 0x8915,
                   kSiocgifbrdaddr = 0x8919, kSiocgifnetmask = 0x891b, kSiocgifmtu = 0x8921,
                   kSiocgifhwaddr = 0x8927, kSiocgifindex = 0x8933, kSiocgiftxqlen = 0x8942;

// A struct sockaddr_in into ifreq bytes.
void put_sockaddr_in(uint8_t* at, net::Ipv4Address address)
{
    lib::mem_set(at, 0, 16);
    at[0] = uint8_t(kAfInet);
    net::store_be32(at + 4, address.value);
}

Result<long> interface_list(uint64_t arg, const nl::Snapshot& snapshot)
{
    uint8_t conf[kIfconfLength];
    TRY(copy_from_app(conf, arg, sizeof conf));
    int32_t room;
    uint64_t buffer;
    lib::mem_copy(&room, conf, sizeof room);
    lib::mem_copy(&buffer, conf + 8, sizeof buffer);
    // Only interfaces with an IPv4 address are listed (inet_gifconf); without a buffer the
    // length all of them need is reported.
    int32_t written = 0;
    for (size_t i = 0; i < snapshot.link_count; i++) {
        const nl::LinkSnapshot& link = snapshot.links[i];
        if (link.address.is_any())
            continue;
        if (buffer) {
            if (room - written < int32_t(kIfreqLength))
                break;
            uint8_t ifr[kIfreqLength] = {};
            lib::mem_copy(ifr, link.name, lib::str_length(link.name));
            put_sockaddr_in(ifr + kIfreqUnion, link.address);
            TRY(copy_to_app(buffer + uint64_t(written), ifr, sizeof ifr));
        }
        written += int32_t(kIfreqLength);
    }
    TRY(write_app(arg, written));
    return 0;
}

} // namespace

Result<fs::Ref<Socket>> create_netlink_socket(int type, int protocol, unsigned file_flags)
{
    if (type != kSockRaw && type != kSockDgram)
        return Errno::SOCKTNOSUPPORT;
    if (protocol != nl::kNetlinkRoute)
        return Errno::PROTONOSUPPORT;
    auto s = fs::make_ref<NetlinkSocket>(type, file_flags);
    if (s.is_error())
        return Errno::NOBUFS;
    return fs::Ref<Socket>(s.release_value());
}

Result<long> interface_ioctl(const Socket& socket, unsigned cmd, uint64_t arg)
{
    switch (cmd) {
    case kSiocgifname:
    case kSiocgifconf:
    case kSiocgifflags:
    case kSiocgifmtu:
    case kSiocgifhwaddr:
    case kSiocgifindex:
    case kSiocgiftxqlen:
        break;
    case kSiocgifaddr:
    case kSiocgifbrdaddr:
    case kSiocgifnetmask:
        if (socket.family() != kAfInet) // devinet_ioctl: AF_INET sockets only
            return Errno::NOTTY;
        break;
    default:
        return Errno::NOTTY;
    }
    SnapshotHolder holder;
    TRY(take_snapshot(holder));
    const nl::Snapshot& snapshot = *holder.snapshot;
    if (cmd == kSiocgifconf)
        return interface_list(arg, snapshot);

    uint8_t ifr[kIfreqLength];
    TRY(copy_from_app(ifr, arg, sizeof ifr));
    ifr[kIfNameSize - 1] = 0;
    const nl::LinkSnapshot* link;
    if (cmd == kSiocgifname) {
        int32_t index;
        lib::mem_copy(&index, ifr + kIfreqUnion, sizeof index);
        link = index > 0 ? snapshot.find_link(uint32_t(index)) : nullptr;
        if (!link)
            return Errno::NODEV;
        lib::mem_set(ifr, 0, kIfNameSize);
        lib::mem_copy(ifr, link->name, lib::str_length(link->name));
        TRY(copy_to_app(arg, ifr, kIfNameSize));
        return 0;
    }
    const char* name = reinterpret_cast<const char*>(ifr);
    link = snapshot.find_link(name, lib::str_length(name));
    if (!link)
        return Errno::NODEV;
    uint8_t* out = ifr + kIfreqUnion;
    size_t out_length = 4;
    switch (cmd) {
    case kSiocgifflags: {
        uint16_t flags = uint16_t(link->flags); // a short: IFF_LOWER_UP does not fit
        lib::mem_copy(out, &flags, sizeof flags);
        out_length = sizeof flags;
        break;
    }
    case kSiocgifmtu:
    case kSiocgifindex:
    case kSiocgiftxqlen: {
        int32_t v = int32_t(cmd == kSiocgifmtu ? link->mtu : cmd == kSiocgifindex ? link->index : link->tx_queue_length);
        lib::mem_copy(out, &v, sizeof v);
        break;
    }
    case kSiocgifhwaddr: // struct sockaddr: the ARPHRD type, then the address
        lib::mem_set(out, 0, 16);
        lib::mem_copy(out, &link->type, sizeof link->type);
        lib::mem_copy(out + 2, link->mac, sizeof link->mac);
        out_length = 16;
        break;
    default: { // the IPv4 address ioctls
        if (link->address.is_any())
            return Errno::ADDRNOTAVAIL;
        net::Ipv4Address a = link->address;
        if (cmd == kSiocgifbrdaddr)
            a = link->broadcast;
        else if (cmd == kSiocgifnetmask)
            a = net::Ipv4Address{ link->prefix_length == 0 ? 0u
                                  : link->prefix_length >= 32 ? 0xffffffffu
                                                              : ~(0xffffffffu >> link->prefix_length) };
        put_sockaddr_in(out, a);
        out_length = 16;
        break;
    }
    }
    TRY(copy_to_app(arg + kIfreqUnion, out, out_length));
    return 0;
}

} // namespace lx
