// AF_UNIX sockets: SOCK_STREAM, SOCK_DGRAM (and SOCK_RAW, which Linux makes a datagram
// socket) and SOCK_SEQPACKET, with path names (a socket node in the file system), abstract
// names (sun_path[0] == 0, a kernel table) and unnamed sockets, descriptor passing
// (SCM_RIGHTS) and credentials (SCM_CREDENTIALS, SO_PEERCRED).
//
// Data. A socket's receive queue is a list of packets, one per datagram or per chunk of a
// stream write (at most 64 KiB), each with the sender's name, credentials and passed
// descriptors. A packet is admitted while the queue's charge (its bytes plus kPacketOverhead
// per packet, as Linux charges an sk_buff's truesize) is below the limit — the sender's
// SO_SNDBUF for a connection, the receiver's SO_RCVBUF and at most kMaxDatagramQueue packets
// for datagrams — so one packet may overshoot it and a large write never waits forever.
//
// Connections. connect() to a listener makes the server's socket at once (an "embryo", owned
// by the listener's accept queue until accept takes it), so the client is connected and may
// send before the server accepts; when the queue holds more than the backlog, connect waits
// (EAGAIN if non-blocking). Closing a socket shuts its peer down both ways: the peer reads
// what is queued and then end of file (ECONNRESET first if the closed socket had unread data
// or was never accepted), and its writes fail with EPIPE (+ SIGPIPE without MSG_NOSIGNAL).
// shutdown() on a connection is mirrored on the peer, as on Linux.
//
// Locking. One sleeping mutex, g_unix_lock, covers every AF_UNIX socket's state, queues, peer
// pointers and the name table (the list of all sockets). Peer and name-table pointers are
// raw and never own: a socket's destructor takes the lock and unlinks itself from the list
// and from every socket pointing at it, so whoever holds the lock sees only sockets that are
// alive or whose destructor is waiting for the lock (ref_count() == 0: "dying", treated as
// absent by lookups); a Ref is never made from a raw pointer. References are only dropped
// with the lock released (packets carry open files, embryos are sockets: their destructors
// take the lock) — see Graveyard. Data is copied from the sender outside the lock and to the
// receiver under it (as pipes do). Lock order: g_unix_lock → a socket's option lock → the
// readiness notifier.
//
// Readiness. An AF_UNIX socket notifies (poll.h): every change that can make a socket readier
// runs that socket's epoll watches under g_unix_lock (Graveyard::notify, where the socket is
// known to be alive), and the blocked readers, writers and pollers wake once the lock is
// dropped. Who is told: the receiver of a packet; the writer whose peer read (room again);
// for datagrams, the sockets connected to one whose full queue drained; a listener when a
// connection arrives, and the connecting socket; both ends of a shutdown; the peer of a
// closed socket (EPOLLHUP, EPOLLRDHUP, EPOLLERR for a reset), and datagram sockets connected
// to it; the sockets whose buffer sizes changed.
//
// Known limits: descriptor cycles (a socket sent over itself, unread) are never collected —
// Linux has a garbage collector for them; the name table is a list (linear lookups);
// MSG_OOB is EOPNOTSUPP; SO_PEEK_OFF is not supported.
#include <core/clock.h>
#include <fs/mount.h>
#include <fs/ops.h>
#include <fs/path.h>
#include <fs/vnode.h>
#include <lib/string.h>
#include <lx/files.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/socket.h>
#include <new>
#include <sync/mutex.h>

namespace lx {
namespace {

constexpr size_t kPacketOverhead = 256;
constexpr size_t kMaxDatagramQueue = 512; // net.unix.max_dgram_qlen as systemd sets it
constexpr size_t kStreamChunk = 64 * 1024;
constexpr int kSomaxconn = 4096;
constexpr size_t kSunPathOffset = 2, kSockaddrUnSize = 110;
constexpr int kSigPipe = 13;
constexpr int32_t kSiUser = 0;
constexpr unsigned kShutRead = 1, kShutWrite = 2;
constexpr int kEconnreset = int(Errno::CONNRESET);

struct Packet {
    Packet* next = nullptr;
    size_t size = 0;
    size_t consumed = 0; // streams: bytes already read
    fs::Ref<fs::OpenFile>* fds = nullptr;
    size_t fd_count = 0;
    bool fds_delivered = false; // taken by a read (or dropped by read(2))
    Credentials credentials;
    SocketAddress from; // the sender's name (length 0: unnamed)
    uint8_t* data() { return reinterpret_cast<uint8_t*>(this + 1); }

    static Packet* create(size_t size)
    {
        void* memory = new (std::nothrow) uint8_t[sizeof(Packet) + size];
        if (!memory)
            return nullptr;
        Packet* p = new (memory) Packet;
        p->size = size;
        return p;
    }
    static void destroy(Packet* p)
    {
        delete[] p->fds;
        p->~Packet();
        delete[] reinterpret_cast<uint8_t*>(p);
    }
    size_t charge() const { return size + kPacketOverhead; }
};
static_assert(alignof(Packet) <= 16);

void destroy_packets(Packet* p)
{
    while (p) {
        Packet* next = p->next;
        Packet::destroy(p);
        p = next;
    }
}

struct PacketQueue {
    Packet* head = nullptr;
    Packet* tail = nullptr;
    size_t count = 0;
    size_t unread = 0; // data bytes not yet read
    size_t charge = 0;

    bool is_empty() const { return head == nullptr; }
    void push(Packet* p)
    {
        p->next = nullptr;
        (tail ? tail->next : head) = p;
        tail = p;
        ++count;
        unread += p->size;
        charge += p->charge();
    }
    Packet* pop()
    {
        Packet* p = head;
        head = p->next;
        if (!head)
            tail = nullptr;
        --count;
        unread -= p->size - p->consumed;
        charge -= p->charge();
        p->next = nullptr;
        return p;
    }
    Packet* take_all()
    {
        Packet* p = head;
        *this = PacketQueue {};
        return p;
    }
};

class UnixSocket;

constinit ksync::Mutex g_unix_lock;
UnixSocket* g_sockets TA_GUARDED(g_unix_lock) = nullptr; // every AF_UNIX socket
uint32_t g_next_autobind TA_GUARDED(g_unix_lock) = 0;

// What to release once g_unix_lock is dropped. Declare it before the lock guard, so that it
// is destroyed after the guard.
struct Graveyard {
    Packet* packets = nullptr;
    UnixSocket* sockets[8] = {}; // leaked references (embryos)
    size_t socket_count = 0;
    fs::Location node;
    bool changed = false; // call readiness_changed

    // `socket` may have gained the readiness in `events` (lx/poll.h; kReadinessAll when it
    // may be anything): its epoll watches run now, the waiters wake when the graveyard goes
    // (after the lock).
    void notify(UnixSocket& socket, uint32_t events = kReadinessAll) TA_REQ(g_unix_lock);
    void bury(Packet* p)
    {
        while (p) {
            Packet* next = p->next;
            p->next = packets;
            packets = p;
            p = next;
        }
    }
    ~Graveyard();
};

// An address as a name: the normalised sockaddr bytes (a path name ends at its first NUL and
// gets one; an abstract name is what was given) and, for a path, the path.
struct UnixName {
    SocketAddress address;
    bool abstract = false;
    char path[kSockaddrUnSize] = {};
    size_t path_length = 0;
    lib::StringView path_view() const { return { path, path_length }; }
};

// EINVAL for anything but an AF_UNIX address with a name (longer than the family).
Result<void> parse_name(const SocketAddress& a, UnixName& out)
{
    if (a.length <= kSunPathOffset || a.length > kSockaddrUnSize || a.family() != kAfUnix)
        return Errno::INVAL;
    out.address = SocketAddress {};
    if (a.bytes[kSunPathOffset] == 0) {
        out.abstract = true;
        lib::mem_copy(out.address.bytes, a.bytes, a.length);
        out.address.length = a.length;
        return {};
    }
    size_t n = lib::str_nlength(reinterpret_cast<const char*>(a.bytes + kSunPathOffset), a.length - kSunPathOffset);
    lib::mem_copy(out.path, a.bytes + kSunPathOffset, n);
    out.path_length = n;
    lib::mem_copy(out.address.bytes, a.bytes, kSunPathOffset + n);
    out.address.bytes[kSunPathOffset + n] = 0;
    out.address.length = uint32_t(kSunPathOffset + n + 1);
    return {};
}

// The socket node a path names (resolved outside the lock). NOENT if missing; ECONNREFUSED
// if it is not a socket.
Result<fs::Location> resolve_node(const UnixName& name)
{
    fs::PathContext ctx = TRY(path_context(kAtFdcwd, name.path[0] == '/'));
    fs::Resolved r;
    TRY(fs::resolve(ctx, name.path_view(), fs::kResolveFollow, r));
    if (r.node.vnode->type() != fs::VnodeType::Socket)
        return Errno::CONNREFUSED;
    return r.node;
}

SocketAddress unnamed_address()
{
    SocketAddress a;
    a.bytes[0] = uint8_t(kAfUnix);
    a.length = kSunPathOffset;
    return a;
}

class UnixSocket final : public Socket {
public:
    UnixSocket(int type, unsigned file_flags) : Socket(kAfUnix, type, file_flags)
    {
        ksync::MutexGuard guard(g_unix_lock);
        m_next = g_sockets;
        if (g_sockets)
            g_sockets->m_prev = this;
        g_sockets = this;
    }
    ~UnixSocket() override;

    Result<void> bind(const SocketAddress& address) override;
    Result<void> listen(int backlog) override;
    Result<fs::Ref<Socket>> accept(unsigned file_flags, SocketAddress& peer) override;
    Result<void> connect(const SocketAddress& address) override;
    Result<size_t> send(SendRequest& request) override;
    Result<size_t> receive(ReceiveRequest& request) override;
    Result<void> shutdown(int how) override;
    Result<void> local_address(SocketAddress& out) override;
    Result<void> peer_address(SocketAddress& out) override;
    Result<void> set_option(int level, int name, const void* value, size_t length) override;
    Result<size_t> get_option(int level, int name, void* value, size_t length) override;
    Result<size_t> readable_bytes() override;
    bool is_listening() const override
    {
        ksync::MutexGuard guard(g_unix_lock);
        return m_state == State::Listening;
    }
    bool notifies_readiness() const override { return true; }

    // socketpair: connects two new sockets to each other.
    static void pair(UnixSocket& a, UnixSocket& b);

protected:
    uint32_t do_poll_events() override;

private:
    enum class State { Unconnected, Listening, Connected };

    bool is_stream() const { return type() == kSockStream; }
    bool is_connection() const { return type() == kSockStream || type() == kSockSeqpacket; }
    bool is_dying() const { return ref_count() == 0; }

    // The live socket bound to `name` (path: its node), or nullptr.
    static UnixSocket* find_locked(const UnixName& name, const fs::Location* node) TA_REQ(g_unix_lock);
    // Gives an unnamed socket an abstract name of five hex digits (Linux's autobind).
    Result<void> autobind_locked() TA_REQ(g_unix_lock);
    // Whether a datagram fits into `target`'s queue now.
    static bool datagram_fits_locked(UnixSocket& target) TA_REQ(g_unix_lock);
    bool stream_room_locked() const TA_REQ(g_unix_lock);
    // Notifies the datagram sockets connected to this one (their writability follows our
    // queue; not our own peer if it is connected back, whose is unconditional).
    void notify_senders_locked(Graveyard& dead, uint32_t events = kReadinessAll) TA_REQ(g_unix_lock);

    Result<size_t> send_stream(SendRequest& request);
    Result<size_t> send_datagram(SendRequest& request);
    Result<size_t> receive_stream(ReceiveRequest& request);
    Result<size_t> receive_datagram(ReceiveRequest& request);
    // One packet for a send: the data at [at, at + size), the sender's name and credentials,
    // and the descriptors if `with_fds`.
    Result<Packet*> make_packet(SendRequest& request, size_t at, size_t size, bool with_fds,
                                const Credentials& credentials);
    // Reports packet `p`'s name, credentials and descriptors into `request` (descriptors
    // only once, and copied when peeking).
    void deliver_extras_locked(Packet& p, ReceiveRequest& request, bool first) TA_REQ(g_unix_lock);
    // Waits after a state check found nothing to do: {} to check again, or the error to
    // return (EAGAIN when the timeout passed, EINTR/kRestartSys for a signal).
    void raise_sigpipe(int flags)
    {
        if (!(flags & kMsgNosignal))
            send_signal(current_app_thread(), kSigPipe, kSiUser, 0, kPid);
    }

    UnixSocket* m_next TA_GUARDED(g_unix_lock) = nullptr; // g_sockets
    UnixSocket* m_prev TA_GUARDED(g_unix_lock) = nullptr;
    State m_state TA_GUARDED(g_unix_lock) = State::Unconnected;
    UnixSocket* m_peer TA_GUARDED(g_unix_lock) = nullptr;
    bool m_peer_gone TA_GUARDED(g_unix_lock) = false; // datagrams: the connected peer closed
    SocketAddress m_peer_name TA_GUARDED(g_unix_lock);
    unsigned m_shutdown TA_GUARDED(g_unix_lock) = 0;
    SocketAddress m_name TA_GUARDED(g_unix_lock); // length 0: unnamed
    bool m_listed TA_GUARDED(g_unix_lock) = false;  // m_name is ours to be found by (not an accepted copy)
    bool m_binding TA_GUARDED(g_unix_lock) = false;
    fs::Location m_node TA_GUARDED(g_unix_lock); // a path name's socket node
    PacketQueue m_queue TA_GUARDED(g_unix_lock);
    // Listening: the embryos (each holding a leaked reference), oldest first.
    UnixSocket* m_accept_head TA_GUARDED(g_unix_lock) = nullptr;
    UnixSocket* m_accept_tail TA_GUARDED(g_unix_lock) = nullptr;
    UnixSocket* m_accept_next TA_GUARDED(g_unix_lock) = nullptr;
    size_t m_accept_count TA_GUARDED(g_unix_lock) = 0;
    int m_backlog TA_GUARDED(g_unix_lock) = 0;
    bool m_embryo TA_GUARDED(g_unix_lock) = false;
    bool m_has_peer_credentials TA_GUARDED(g_unix_lock) = false;
    Credentials m_peer_credentials TA_GUARDED(g_unix_lock);

    friend struct Graveyard;
};

void Graveyard::notify(UnixSocket& socket, uint32_t events)
{
    run_readiness_watches(socket, events);
    changed = true;
}

void UnixSocket::notify_senders_locked(Graveyard& dead, uint32_t events)
{
    for (UnixSocket* s = g_sockets; s; s = s->m_next)
        if (s->m_peer == this && s != m_peer)
            dead.notify(*s, events);
}

Graveyard::~Graveyard()
{
    if (changed)
        readiness_changed();
    destroy_packets(packets);
    for (size_t i = 0; i < socket_count; ++i)
        sockets[i]->unref();
    node = fs::Location {};
}

UnixSocket::~UnixSocket()
{
    Graveyard dead;
    UnixSocket* embryos = nullptr;
    {
        ksync::MutexGuard guard(g_unix_lock);
        (m_prev ? m_prev->m_next : g_sockets) = m_next;
        if (m_next)
            m_next->m_prev = m_prev;
        if (is_connection() && m_peer) {
            m_peer->m_shutdown = kShutRead | kShutWrite;
            if (!m_queue.is_empty() || m_embryo)
                m_peer->set_error(kEconnreset);
            m_peer->m_peer = nullptr;
            dead.notify(*m_peer); // EPOLLHUP | EPOLLRDHUP | EPOLLIN, maybe EPOLLERR
        }
        if (!is_connection()) {
            for (UnixSocket* s = g_sockets; s; s = s->m_next) {
                if (s->m_peer == this) {
                    s->m_peer = nullptr;
                    s->m_peer_gone = true;
                    dead.notify(*s); // writable: the next send says ECONNREFUSED
                }
            }
        }
        dead.bury(m_queue.take_all());
        embryos = m_accept_head;
        m_accept_head = m_accept_tail = nullptr;
        dead.node = m_node;
        m_node = fs::Location {};
        dead.changed = true;
    }
    // Embryos never accepted: their clients see the connection reset.
    while (embryos) {
        UnixSocket* next;
        {
            ksync::MutexGuard guard(g_unix_lock);
            next = embryos->m_accept_next;
            embryos->m_accept_next = nullptr;
        }
        embryos->unref();
        embryos = next;
    }
}

UnixSocket* UnixSocket::find_locked(const UnixName& name, const fs::Location* node)
{
    for (UnixSocket* s = g_sockets; s; s = s->m_next) {
        if (!s->m_listed || s->is_dying())
            continue;
        if (name.abstract) {
            if (s->m_name.length == name.address.length
                && lib::mem_compare(s->m_name.bytes, name.address.bytes, name.address.length) == 0)
                return s;
        } else if (node && s->m_node.is_valid() && fs::same_vnode(*s->m_node.vnode, *node->vnode)) {
            return s;
        }
    }
    return nullptr;
}

Result<void> UnixSocket::autobind_locked()
{
    if (m_name.length)
        return {};
    for (uint32_t tries = 0; tries < 0x100000; ++tries) {
        uint32_t n = g_next_autobind++ & 0xfffff;
        UnixName name;
        name.abstract = true;
        name.address.bytes[0] = uint8_t(kAfUnix);
        name.address.bytes[2] = 0;
        for (int i = 0; i < 5; ++i)
            name.address.bytes[3 + i] = uint8_t("0123456789abcdef"[(n >> (4 * (4 - i))) & 0xf]);
        name.address.length = kSunPathOffset + 6;
        if (!find_locked(name, nullptr)) {
            m_name = name.address;
            m_listed = true;
            return {};
        }
    }
    return Errno::NOSPC;
}

Result<void> UnixSocket::bind(const SocketAddress& address)
{
    if (address.length < kSunPathOffset || address.family() != kAfUnix)
        return Errno::INVAL;
    {
        ksync::MutexGuard guard(g_unix_lock);
        if (m_name.length || m_binding)
            return Errno::INVAL;
        if (address.length == kSunPathOffset)
            return autobind_locked();
    }
    UnixName name;
    TRY(parse_name(address, name));
    if (name.abstract) {
        ksync::MutexGuard guard(g_unix_lock);
        if (m_name.length || m_binding)
            return Errno::INVAL;
        if (find_locked(name, nullptr))
            return Errno::ADDRINUSE;
        m_name = name.address;
        m_listed = true;
        return {};
    }
    {
        ksync::MutexGuard guard(g_unix_lock);
        if (m_name.length || m_binding)
            return Errno::INVAL;
        m_binding = true;
    }
    // The node: S_IFSOCK with the umask applied, as bind(2) makes it. An existing name of any
    // kind is EADDRINUSE.
    Result<fs::Location> node = Errno::INVAL;
    {
        auto ctx = path_context(kAtFdcwd, name.path[0] == '/');
        if (ctx.is_error()) {
            node = ctx.error();
        } else if (auto made = fs::mknod(ctx.value(), name.path_view(), fs::kModeSocket | (0777 & ~umask()), 0);
                   made.is_error()) {
            node = made.error() == Errno::EXIST ? Errno::ADDRINUSE : made.error();
        } else {
            fs::Resolved r;
            if (auto found = fs::resolve(ctx.value(), name.path_view(), 0, r); found.is_error())
                node = found.error();
            else
                node = r.node;
        }
    }
    ksync::MutexGuard guard(g_unix_lock);
    m_binding = false;
    if (node.is_error())
        return node.error();
    m_node = node.release_value();
    m_name = name.address;
    m_listed = true;
    return {};
}

Result<void> UnixSocket::listen(int backlog)
{
    if (!is_connection())
        return Errno::NOTSUP;
    Credentials self = current_credentials();
    ksync::MutexGuard guard(g_unix_lock);
    if (m_state == State::Connected || !m_name.length)
        return Errno::INVAL;
    if (unsigned(backlog) > unsigned(kSomaxconn))
        backlog = kSomaxconn;
    m_backlog = backlog;
    m_state = State::Listening;
    m_peer_credentials = self;
    m_has_peer_credentials = true;
    return {};
}

Result<fs::Ref<Socket>> UnixSocket::accept(unsigned file_flags, SocketAddress& peer)
{
    if (!is_connection())
        return Errno::NOTSUP;
    uint64_t deadline = receive_deadline();
    for (;;) {
        uint64_t epoch = readiness_epoch();
        {
            Graveyard dead;
            ksync::MutexGuard guard(g_unix_lock);
            if (m_state != State::Listening)
                return Errno::INVAL;
            if (UnixSocket* embryo = m_accept_head) {
                m_accept_head = embryo->m_accept_next;
                if (!m_accept_head)
                    m_accept_tail = nullptr;
                embryo->m_accept_next = nullptr;
                --m_accept_count;
                embryo->m_embryo = false;
                peer = embryo->m_peer_name.length ? embryo->m_peer_name : unnamed_address();
                embryo->set_status_flags(file_flags);
                fs::Ref<Socket> accepted(embryo);
                // The queue's reference, dropped once the lock is released.
                dead.sockets[dead.socket_count++] = embryo;
                dead.changed = true; // a connect waiting for room in the queue
                return accepted;
            }
        }
        if (flags() & fs::kOpenNonBlock)
            return Errno::AGAIN;
        TRY(wait_ready(epoch, deadline, false));
    }
}

Result<void> UnixSocket::connect(const SocketAddress& address)
{
    if (!is_connection()) {
        // Datagrams: sets (or with AF_UNSPEC clears) the default destination.
        if (address.length >= sizeof(uint16_t) && address.family() == kAfUnspec) {
            Graveyard dead;
            ksync::MutexGuard guard(g_unix_lock);
            if (m_peer)
                dead.notify(*m_peer); // if it is connected to us, its writability now follows our queue
            m_peer = nullptr;
            m_peer_gone = false;
            m_peer_name = SocketAddress {};
            dead.notify(*this);
            return {};
        }
        UnixName name;
        TRY(parse_name(address, name));
        fs::Location node;
        if (!name.abstract)
            node = TRY(resolve_node(name));
        bool passcred = pass_credentials();
        Graveyard dead;
        ksync::MutexGuard guard(g_unix_lock);
        UnixSocket* target = find_locked(name, name.abstract ? nullptr : &node);
        if (!target)
            return Errno::CONNREFUSED;
        if (target->type() != type())
            return Errno::PROTOTYPE;
        if (target->m_peer && target->m_peer != this)
            return Errno::PERM; // it only takes datagrams from its own peer
        if (passcred)
            TRY(autobind_locked());
        UnixSocket* old = m_peer;
        m_peer = target;
        m_peer_gone = false;
        m_peer_name = target->m_name;
        // Our writability now follows the target's queue; the target's, if it is connected to
        // us, no longer depends on its peer's queue (and a former peer's may again).
        dead.notify(*this);
        dead.notify(*target);
        if (old && old != target)
            dead.notify(*old);
        return {};
    }

    UnixName name;
    TRY(parse_name(address, name));
    fs::Location node;
    if (!name.abstract)
        node = TRY(resolve_node(name));
    auto made = fs::make_ref<UnixSocket>(type(), fs::kOpenReadWrite);
    if (made.is_error())
        return Errno::NOBUFS;
    fs::Ref<UnixSocket> embryo = made.release_value();
    Credentials self = current_credentials();
    bool passcred = pass_credentials();
    uint64_t deadline = send_deadline();
    for (;;) {
        uint64_t epoch = readiness_epoch();
        {
            Graveyard dead;
            ksync::MutexGuard guard(g_unix_lock);
            if (m_state == State::Listening)
                return Errno::INVAL;
            if (m_state == State::Connected)
                return Errno::ISCONN;
            UnixSocket* listener = find_locked(name, name.abstract ? nullptr : &node);
            if (!listener)
                return Errno::CONNREFUSED;
            if (listener->type() != type())
                return Errno::PROTOTYPE;
            if (listener->m_state != State::Listening)
                return Errno::CONNREFUSED;
            if (listener->m_accept_count <= size_t(listener->m_backlog)) {
                if (passcred)
                    TRY(autobind_locked());
                UnixSocket& e = *embryo;
                e.m_state = m_state = State::Connected;
                e.m_peer = this;
                m_peer = &e;
                e.m_name = listener->m_name; // getsockname of the accepted socket: the listener's
                e.m_peer_name = m_name;
                m_peer_name = listener->m_name;
                m_peer_credentials = listener->m_peer_credentials;
                m_has_peer_credentials = true;
                e.m_peer_credentials = self;
                e.m_has_peer_credentials = true;
                e.m_embryo = true;
                // The accept queue keeps the reference.
                UnixSocket* queued = embryo.leak();
                (listener->m_accept_tail ? listener->m_accept_tail->m_accept_next : listener->m_accept_head) = queued;
                listener->m_accept_tail = queued;
                ++listener->m_accept_count;
                dead.notify(*listener, kReadinessIn); // a connection to accept
                dead.notify(*this);     // connected: writable, no longer EPOLLHUP
                return {};
            }
        }
        if (flags() & fs::kOpenNonBlock)
            return Errno::AGAIN;
        TRY(wait_ready(epoch, deadline, true));
    }
}

void UnixSocket::pair(UnixSocket& a, UnixSocket& b)
{
    Credentials self = current_credentials();
    ksync::MutexGuard guard(g_unix_lock);
    a.m_peer = &b;
    b.m_peer = &a;
    a.m_peer_name = b.m_peer_name = SocketAddress {};
    if (a.is_connection())
        a.m_state = b.m_state = State::Connected;
    a.m_peer_credentials = b.m_peer_credentials = self;
    a.m_has_peer_credentials = b.m_has_peer_credentials = true;
}

Result<Packet*> UnixSocket::make_packet(SendRequest& request, size_t at, size_t size, bool with_fds,
                                        const Credentials& credentials)
{
    Packet* p = Packet::create(size);
    if (!p)
        return Errno::NOBUFS;
    if (size) {
        if (auto r = request.data.copy_in(at, p->data(), size); r.is_error()) {
            Packet::destroy(p);
            return r.error();
        }
    }
    if (with_fds && request.fd_count) {
        p->fds = new (std::nothrow) fs::Ref<fs::OpenFile>[request.fd_count];
        if (!p->fds) {
            Packet::destroy(p);
            return Errno::NOBUFS;
        }
        for (size_t i = 0; i < request.fd_count; ++i)
            p->fds[i] = request.fds[i];
        p->fd_count = request.fd_count;
    }
    p->credentials = credentials;
    return p;
}

Result<size_t> UnixSocket::send(SendRequest& request)
{
    if (request.flags & kMsgOob)
        return Errno::NOTSUP;
    return is_stream() ? send_stream(request) : send_datagram(request);
}

bool UnixSocket::stream_room_locked() const
{
    return m_peer && m_peer->m_queue.charge < send_buffer();
}

Result<size_t> UnixSocket::send_stream(SendRequest& request)
{
    {
        ksync::MutexGuard guard(g_unix_lock);
        if (request.to && request.to->length)
            return m_state == State::Connected ? Errno::ISCONN : Errno::NOTSUP;
        if (m_state != State::Connected)
            return Errno::NOTCONN;
    }
    Credentials credentials = request.has_credentials ? request.credentials : current_credentials();
    size_t total = request.data.size(), done = 0;
    size_t chunk_limit = send_buffer() / 2;
    if (chunk_limit > kStreamChunk)
        chunk_limit = kStreamChunk;
    bool nonblock = nonblocking(request.flags);
    uint64_t deadline = send_deadline();
    bool broken = false;
    while (done < total || (total == 0 && !broken)) {
        {
            ksync::MutexGuard guard(g_unix_lock);
            if ((m_shutdown & kShutWrite) || !m_peer || (m_peer->m_shutdown & kShutRead))
                broken = true;
        }
        if (broken || total == 0)
            break;
        size_t n = total - done < chunk_limit ? total - done : chunk_limit;
        auto made = make_packet(request, done, n, done == 0, credentials);
        if (made.is_error())
            return done ? Result<size_t>(done) : Result<size_t>(made.error());
        Packet* p = made.value();
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                Graveyard dead;
                ksync::MutexGuard guard(g_unix_lock);
                if ((m_shutdown & kShutWrite) || !m_peer || (m_peer->m_shutdown & kShutRead)) {
                    dead.bury(p);
                    broken = true;
                    break;
                }
                if (stream_room_locked()) {
                    p->from = m_name;
                    m_peer->m_queue.push(p);
                    done += n;
                    dead.notify(*m_peer, kReadinessIn);
                    break;
                }
            }
            Result<void> waited = Errno::AGAIN;
            if (!nonblock)
                waited = wait_ready(epoch, deadline, true);
            if (waited.is_error()) {
                Packet::destroy(p);
                return done ? Result<size_t>(done) : Result<size_t>(waited.error());
            }
        }
        if (broken)
            break;
    }
    if (broken) {
        if (done)
            return done;
        raise_sigpipe(request.flags);
        return Errno::PIPE;
    }
    return done;
}

bool UnixSocket::datagram_fits_locked(UnixSocket& target)
{
    return target.m_queue.count < kMaxDatagramQueue && target.m_queue.charge < target.receive_buffer();
}

Result<size_t> UnixSocket::send_datagram(SendRequest& request)
{
    bool seqpacket = type() == kSockSeqpacket;
    size_t size = request.data.size();
    if (size + 32 > send_buffer())
        return Errno::MSGSIZE;
    UnixName name;
    fs::Location node;
    bool addressed = !seqpacket && request.to && request.to->length;
    if (addressed) {
        TRY(parse_name(*request.to, name));
        if (!name.abstract)
            node = TRY(resolve_node(name));
    }
    {
        ksync::MutexGuard guard(g_unix_lock);
        if (seqpacket && m_state != State::Connected)
            return Errno::NOTCONN;
        if (!addressed && !m_peer) {
            if (m_peer_gone) {
                m_peer_gone = false;
                return Errno::CONNREFUSED;
            }
            if (!seqpacket)
                return Errno::NOTCONN;
        }
    }
    bool passcred = pass_credentials();
    Credentials credentials = request.has_credentials ? request.credentials : current_credentials();
    Packet* p = TRY(make_packet(request, 0, size, true, credentials));
    bool nonblock = nonblocking(request.flags);
    uint64_t deadline = send_deadline();
    for (;;) {
        uint64_t epoch = readiness_epoch();
        {
            Graveyard dead;
            ksync::MutexGuard guard(g_unix_lock);
            UnixSocket* target = nullptr;
            Result<size_t> failure = Errno::INVAL;
            bool failed = true;
            if ((m_shutdown & kShutWrite)) {
                failure = Errno::PIPE;
            } else if (addressed) {
                target = find_locked(name, name.abstract ? nullptr : &node);
                if (!target)
                    failure = Errno::CONNREFUSED;
                else if (target->type() != type())
                    failure = Errno::PROTOTYPE;
                else if (target->m_peer && target->m_peer != this)
                    failure = Errno::PERM;
                else
                    failed = false;
            } else if (!m_peer) {
                failure = seqpacket ? Errno::PIPE : Errno::CONNREFUSED;
                if (!seqpacket)
                    m_peer_gone = false;
            } else {
                target = m_peer;
                failed = false;
            }
            if (!failed && (target->m_shutdown & kShutRead)) {
                failed = true;
                failure = Errno::PIPE;
            }
            if (failed) {
                dead.bury(p);
                return failure;
            }
            if (passcred) {
                if (auto r = autobind_locked(); r.is_error()) {
                    dead.bury(p);
                    return r.error();
                }
            }
            bool room = seqpacket ? target->m_queue.charge < send_buffer() : datagram_fits_locked(*target);
            if (room) {
                p->from = m_name;
                target->m_queue.push(p);
                dead.notify(*target, kReadinessIn);
                return size;
            }
        }
        Result<void> waited = Errno::AGAIN;
        if (!nonblock)
            waited = wait_ready(epoch, deadline, true);
        if (waited.is_error()) {
            Packet::destroy(p);
            return waited.error();
        }
    }
}

void UnixSocket::deliver_extras_locked(Packet& p, ReceiveRequest& request, bool first)
{
    if (first) {
        request.from = p.from;
        if (pass_credentials()) {
            request.has_credentials = true;
            request.credentials = p.credentials;
        }
    }
    if (!p.fd_count || p.fds_delivered || request.fds)
        return;
    bool peek = request.flags & kMsgPeek;
    if (request.want_fds) {
        if (!peek) {
            request.fds = p.fds; // the request takes the array over
            request.fd_count = p.fd_count;
            p.fds = nullptr;
            p.fd_count = 0;
        } else if ((request.fds = new (std::nothrow) fs::Ref<fs::OpenFile>[p.fd_count])) {
            // Peeking installs copies (Linux dups them); out of memory, they are not reported.
            for (size_t i = 0; i < p.fd_count; ++i)
                request.fds[i] = p.fds[i];
            request.fd_count = p.fd_count;
        }
    }
    if (!peek)
        p.fds_delivered = true;
}

Result<size_t> UnixSocket::receive(ReceiveRequest& request)
{
    if (request.flags & kMsgOob)
        return Errno::NOTSUP;
    return is_stream() ? receive_stream(request) : receive_datagram(request);
}

Result<size_t> UnixSocket::receive_stream(ReceiveRequest& request)
{
    size_t total = request.data.size(), copied = 0;
    bool peek = request.flags & kMsgPeek;
    bool waitall = (request.flags & kMsgWaitall) && !peek;
    bool nonblock = nonblocking(request.flags);
    uint64_t deadline = receive_deadline();
    for (;;) {
        uint64_t epoch = readiness_epoch();
        {
            Graveyard dead;
            ksync::MutexGuard guard(g_unix_lock);
            if (m_state != State::Connected)
                return Errno::INVAL;
            // Copy from the queue, across packets, until the buffer is full; stop after a
            // packet that carried descriptors, and (with SO_PASSCRED) at a change of sender.
            Packet* p = m_queue.head;
            size_t skip = peek ? copied : 0; // peeking: bytes of the queue already copied
            bool stop = false;
            Credentials first_credentials;
            bool have_first = false;
            while (p && copied < total && !stop) {
                size_t available = p->size - p->consumed;
                if (skip >= available) {
                    skip -= available;
                    p = p->next;
                    continue;
                }
                if (have_first && pass_credentials() && !(p->credentials == first_credentials))
                    break;
                size_t offset = p->consumed + skip;
                size_t n = available - skip;
                if (n > total - copied)
                    n = total - copied;
                if (auto r = request.data.copy_out(copied, p->data() + offset, n); r.is_error())
                    return copied ? Result<size_t>(copied) : Result<size_t>(r.error());
                bool had_fds = p->fd_count && !p->fds_delivered && !request.fds;
                deliver_extras_locked(*p, request, copied == 0);
                if (!have_first) {
                    first_credentials = p->credentials;
                    have_first = true;
                }
                copied += n;
                skip = 0;
                stop = had_fds;
                if (peek) {
                    p = p->next;
                    continue;
                }
                p->consumed += n;
                m_queue.unread -= n;
                if (m_peer)
                    dead.notify(*m_peer, kReadinessOut); // room for the writer
                else
                    dead.changed = true;
                Packet* next = p->next;
                if (p->consumed == p->size)
                    dead.bury(m_queue.pop());
                p = next;
            }
            if (copied == total || (copied && !waitall) || (copied && stop))
                return copied;
            if (m_queue.is_empty() || peek) {
                if (int e = take_error())
                    return copied ? Result<size_t>(copied) : Result<size_t>(Errno(e));
                if (m_shutdown & kShutRead)
                    return copied;
            }
        }
        if (nonblock)
            return copied ? Result<size_t>(copied) : Result<size_t>(Errno::AGAIN);
        if (auto w = wait_ready(epoch, deadline, false); w.is_error())
            return copied ? Result<size_t>(copied) : Result<size_t>(w.error());
    }
}

Result<size_t> UnixSocket::receive_datagram(ReceiveRequest& request)
{
    bool seqpacket = type() == kSockSeqpacket;
    bool peek = request.flags & kMsgPeek;
    bool nonblock = nonblocking(request.flags);
    uint64_t deadline = receive_deadline();
    for (;;) {
        uint64_t epoch = readiness_epoch();
        {
            Graveyard dead;
            ksync::MutexGuard guard(g_unix_lock);
            if (seqpacket && m_state != State::Connected)
                return m_state == State::Listening ? Errno::INVAL : Errno::NOTCONN;
            if (Packet* p = m_queue.head) {
                size_t result = TRY(copy_datagram(request, p->data(), p->size));
                deliver_extras_locked(*p, request, true);
                if (!peek) {
                    bool was_full = !datagram_fits_locked(*this);
                    dead.bury(m_queue.pop());
                    dead.changed = true; // room for a blocked sendto
                    if (seqpacket && m_peer)
                        dead.notify(*m_peer, kReadinessOut);
                    else if (!seqpacket && was_full)
                        notify_senders_locked(dead, kReadinessOut);
                }
                return result;
            }
            if (int e = take_error())
                return Errno(e);
            if (m_shutdown & kShutRead)
                return size_t(0);
        }
        if (nonblock)
            return Errno::AGAIN;
        TRY(wait_ready(epoch, deadline, false));
    }
}

Result<void> UnixSocket::shutdown(int how)
{
    if (how < 0 || how > 2)
        return Errno::INVAL;
    unsigned mode = unsigned(how) + 1; // SHUT_RD 0 → read, SHUT_WR 1 → write, SHUT_RDWR 2 → both
    Graveyard dead;
    ksync::MutexGuard guard(g_unix_lock);
    m_shutdown |= mode;
    if (is_connection() && m_peer) {
        unsigned peer_mode = 0;
        if (mode & kShutRead)
            peer_mode |= kShutWrite;
        if (mode & kShutWrite)
            peer_mode |= kShutRead;
        m_peer->m_shutdown |= peer_mode;
        dead.notify(*m_peer);
    }
    dead.notify(*this);
    return {};
}

Result<void> UnixSocket::local_address(SocketAddress& out)
{
    ksync::MutexGuard guard(g_unix_lock);
    out = m_name.length ? m_name : unnamed_address();
    return {};
}

Result<void> UnixSocket::peer_address(SocketAddress& out)
{
    ksync::MutexGuard guard(g_unix_lock);
    bool connected = is_connection() ? m_state == State::Connected : m_peer != nullptr;
    if (!connected)
        return Errno::NOTCONN;
    out = m_peer_name.length ? m_peer_name : unnamed_address();
    return {};
}

Result<void> UnixSocket::set_option(int level, int name, const void* value, size_t length)
{
    if (level != kSolSocket)
        return Errno::NOTSUP;
    if (name == kSoPeercred)
        return Errno::NOPROTOOPT;
    TRY(Socket::set_option(level, name, value, length));
    if (name == kSoSndbuf || name == kSoRcvbuf || name == kSoSndbufforce || name == kSoRcvbufforce) {
        // Our writability (send buffer) and our senders' (receive buffer) may have changed.
        Graveyard dead;
        ksync::MutexGuard guard(g_unix_lock);
        dead.notify(*this);
        if (is_connection() && m_peer)
            dead.notify(*m_peer);
        if (!is_connection())
            notify_senders_locked(dead);
    }
    return {};
}

Result<size_t> UnixSocket::get_option(int level, int name, void* value, size_t length)
{
    if (level != kSolSocket)
        return Errno::NOTSUP;
    if (name == kSoPeercred) {
        Credentials c { 0, 65534, 65534 }; // no peer: Linux's overflow ids
        {
            ksync::MutexGuard guard(g_unix_lock);
            if (m_has_peer_credentials)
                c = m_peer_credentials;
        }
        size_t n = length < sizeof c ? length : sizeof c;
        lib::mem_copy(value, &c, n);
        return n;
    }
    return Socket::get_option(level, name, value, length);
}

Result<size_t> UnixSocket::readable_bytes()
{
    ksync::MutexGuard guard(g_unix_lock);
    if (is_connection())
        return m_queue.unread;
    return m_queue.head ? m_queue.head->size : 0;
}

uint32_t UnixSocket::do_poll_events()
{
    uint32_t ev = 0;
    {
        ksync::MutexGuard guard(g_unix_lock);
        if (m_state == State::Listening)
            return m_accept_head ? (fs::kPollIn | fs::kPollRdNorm) : 0;
        if (m_shutdown == (kShutRead | kShutWrite))
            ev |= fs::kPollHup;
        if (m_shutdown & kShutRead)
            ev |= kPollRdHup | fs::kPollIn | fs::kPollRdNorm;
        if (!m_queue.is_empty())
            ev |= fs::kPollIn | fs::kPollRdNorm;
        if (is_connection() && m_state == State::Unconnected)
            ev |= fs::kPollHup;
        bool writable = true;
        if (m_peer) {
            if (is_connection())
                writable = uint64_t(m_peer->m_queue.charge) * 4 <= send_buffer();
            else if (m_peer->m_peer != this)
                writable = datagram_fits_locked(*m_peer);
        }
        if (writable)
            ev |= fs::kPollOut | fs::kPollWrNorm | kPollWrBand;
    }
    {
        ksync::MutexGuard guard(m_option_lock);
        if (m_error)
            ev |= fs::kPollErr;
    }
    return ev;
}

} // namespace

Result<fs::Ref<Socket>> create_unix_socket(int type, int protocol, unsigned file_flags)
{
    if (protocol != 0 && protocol != kAfUnix)
        return Errno::PROTONOSUPPORT;
    if (type == kSockRaw)
        type = kSockDgram;
    if (type != kSockStream && type != kSockDgram && type != kSockSeqpacket)
        return Errno::SOCKTNOSUPPORT;
    auto s = fs::make_ref<UnixSocket>(type, file_flags);
    if (s.is_error())
        return Errno::NOBUFS;
    return fs::Ref<Socket>(s.release_value());
}

Result<void> create_unix_socket_pair(int type, int protocol, unsigned file_flags, fs::Ref<Socket>& a,
                                     fs::Ref<Socket>& b)
{
    a = TRY(create_unix_socket(type, protocol, file_flags));
    b = TRY(create_unix_socket(type, protocol, file_flags));
    UnixSocket::pair(static_cast<UnixSocket&>(*a), static_cast<UnixSocket&>(*b));
    return {};
}

} // namespace lx
