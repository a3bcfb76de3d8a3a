// The socket system calls: socket, socketpair, bind, listen, accept(4), connect, shutdown,
// sendto/recvfrom, sendmsg/recvmsg, sendmmsg/recvmmsg, getsockname/getpeername and
// set/getsockopt. Every application pointer and length is checked and copied here, as Linux
// checks them (sockaddr lengths EINVAL beyond sockaddr_storage, msghdr and iovec faults
// EFAULT, more than UIO_MAXIOV segments EMSGSIZE, malformed control messages EINVAL, bad
// passed descriptors EBADF); the families (socket.h) see kernel copies only.
#include <core/clock.h>
#include <lib/string.h>
#include <lx/files.h>
#include <lx/socket.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <new>
#include <time/linux_time.h>

namespace lx {
namespace {

constexpr size_t kMaxIoCount = 0x7fffffff;   // INT_MAX: one send/recv moves at most this
constexpr size_t kMaxControlLength = 20480;  // net.core.optmem_max: larger control data ENOBUFS
constexpr size_t kMaxOptionLength = 128;     // no option value here is longer (TCP_INFO: 104)
constexpr int kScmRights = 1, kScmCredentials = 2;

// struct msghdr, struct mmsghdr and struct cmsghdr of x86-64 Linux.
struct MsgHdr {
    uint64_t name;
    int32_t namelen;
    int32_t pad0;
    uint64_t iov;
    uint64_t iovlen;
    uint64_t control;
    uint64_t controllen;
    int32_t flags;
    int32_t pad1;
};
static_assert(sizeof(MsgHdr) == 56);
constexpr uint64_t kMsgNamelenOffset = 8, kMsgControllenOffset = 40, kMsgFlagsOffset = 48;

struct MmsgHdr {
    MsgHdr hdr;
    uint32_t len;
    uint32_t pad;
};
static_assert(sizeof(MmsgHdr) == 64);
constexpr uint64_t kMmsgLenOffset = 56;

struct CmsgHdr {
    uint64_t len;
    int32_t level;
    int32_t type;
};
static_assert(sizeof(CmsgHdr) == 16);

constexpr size_t cmsg_align(size_t n) { return (n + 7) & ~size_t(7); }
constexpr size_t cmsg_len(size_t n) { return sizeof(CmsgHdr) + n; }
constexpr size_t cmsg_space(size_t n) { return sizeof(CmsgHdr) + cmsg_align(n); }

// A msghdr's iovecs copied in (AppIovecs): EMSGSIZE beyond UIO_MAXIOV, as Linux.
Result<void> copy_message_iovecs(const MsgHdr& m, AppIovecs& iovecs)
{
    if (m.iovlen > fs::IovecBuffer::kMaxSegments)
        return Errno::MSGSIZE;
    return iovecs.copy_in(m.iov, size_t(m.iovlen));
}

// The descriptors of a sendmsg's SCM_RIGHTS messages (allocated at the first one).
struct PassedFds {
    fs::Ref<fs::OpenFile>* refs = nullptr;
    ~PassedFds() { delete[] refs; }
};

// The socket behind `fd`: BADF, or NOTSOCK for another kind of file. `holder` keeps it.
Result<Socket*> socket_of(int fd, fs::Ref<fs::OpenFile>& holder)
{
    holder = TRY(fd_table().get(fd));
    Socket* s = as_socket(*holder);
    if (!s)
        return Errno::NOTSOCK;
    return s;
}

// move_addr_to_kernel: INVAL for a negative length or one beyond sockaddr_storage.
Result<void> copy_address_in(uint64_t address, int32_t length, SocketAddress& out)
{
    if (length < 0 || size_t(length) > SocketAddress::kMaxLength)
        return Errno::INVAL;
    out = SocketAddress {};
    if (length)
        TRY(copy_from_app(out.bytes, address, size_t(length)));
    out.length = uint32_t(length);
    return {};
}

// move_addr_to_user: copies at most the caller's length (read from `length_address`) and
// writes back the address's real length. INVAL for a negative length.
Result<void> copy_address_out(const SocketAddress& a, uint64_t address, uint64_t length_address)
{
    int32_t room = TRY(read_app<int32_t>(length_address));
    if (room < 0)
        return Errno::INVAL;
    size_t n = size_t(room) < a.length ? size_t(room) : a.length;
    if (n)
        TRY(copy_to_app(address, a.bytes, n));
    return write_app(length_address, int32_t(a.length));
}

// The file flags of a new socket from SOCK_NONBLOCK.
unsigned socket_file_flags(unsigned type_flags)
{
    return fs::kOpenReadWrite | ((type_flags & kSockNonblock) ? fs::kOpenNonBlock : 0);
}

// socket(2) and socketpair(2)'s shared checks: the flags in `type`, the family and type
// ranges. Splits `type` into the type and its flags.
Result<void> check_socket_args(int family, int& type, unsigned& type_flags)
{
    constexpr int kTypeMask = 0xf;
    type_flags = unsigned(type) & ~unsigned(kTypeMask);
    if (type_flags & ~(kSockNonblock | kSockCloexec))
        return Errno::INVAL;
    type &= kTypeMask;
    if (family < 0 || family >= kAfMax)
        return Errno::AFNOSUPPORT;
    if (type >= kSockMax)
        return Errno::INVAL;
    return {};
}

// The families socket(2) and socketpair(2) know; every other one is EAFNOSUPPORT.
struct SocketFamily {
    int family;
    Result<fs::Ref<Socket>> (*create)(int type, int protocol, unsigned file_flags);
    // null: socketpair is EOPNOTSUPP for the family
    Result<void> (*create_pair)(int type, int protocol, unsigned file_flags, fs::Ref<Socket>& a, fs::Ref<Socket>& b);
};

constexpr SocketFamily kFamilies[] = {
    { kAfUnix, create_unix_socket, create_unix_socket_pair },
    { kAfInet, create_inet_socket, nullptr },
    { kAfNetlink, create_netlink_socket, nullptr },
};

Result<const SocketFamily*> find_family(int family)
{
    for (const SocketFamily& f : kFamilies)
        if (f.family == family)
            return &f;
    return Errno::AFNOSUPPORT;
}

Result<void> decode_control_bytes(uint8_t* control, size_t length, uint64_t address, PassedFds& passed,
                                  SendRequest& request)
{
    TRY(copy_from_app(control, address, length));
    for (size_t at = 0; at + sizeof(CmsgHdr) <= length;) {
        CmsgHdr h;
        lib::mem_copy(&h, control + at, sizeof h);
        if (h.len < sizeof(CmsgHdr) || h.len > length - at)
            return Errno::INVAL;
        const uint8_t* data = control + at + sizeof(CmsgHdr);
        size_t data_length = size_t(h.len) - sizeof(CmsgHdr);
        if (h.level == kSolSocket) {
            if (h.type == kScmRights) {
                size_t count = data_length / sizeof(int32_t);
                if (request.fd_count + count > kMaxPassedFds)
                    return Errno::INVAL;
                if (!passed.refs && count) {
                    passed.refs = new (std::nothrow) fs::Ref<fs::OpenFile>[kMaxPassedFds];
                    if (!passed.refs)
                        return Errno::NOBUFS;
                }
                for (size_t i = 0; i < count; ++i) {
                    int32_t fd;
                    lib::mem_copy(&fd, data + i * sizeof fd, sizeof fd);
                    passed.refs[request.fd_count] = TRY(fd_table().get(fd));
                    ++request.fd_count;
                }
                request.fds = passed.refs;
            } else if (h.type == kScmCredentials) {
                if (h.len != cmsg_len(sizeof(Credentials)))
                    return Errno::INVAL;
                Credentials c;
                lib::mem_copy(&c, data, sizeof c);
                if (!may_claim_credentials(c))
                    return Errno::PERM;
                request.has_credentials = true;
                request.credentials = c;
            } else {
                return Errno::INVAL;
            }
        }
        size_t next = at + cmsg_align(size_t(h.len));
        if (next <= at)
            break;
        at = next;
    }
    return {};
}
// Decodes the control messages of a sendmsg into `request` (__scm_send): SOL_SOCKET's
// SCM_RIGHTS (up to SCM_MAX_FD descriptors, EBADF for a closed one) and SCM_CREDENTIALS
// (EPERM if the caller may not claim them); other levels are ignored, other types EINVAL.
Result<void> decode_control(const MsgHdr& m, PassedFds& passed, SendRequest& request)
{
    if (!m.control || m.controllen < sizeof(CmsgHdr))
        return {};
    if (m.controllen > kMaxControlLength)
        return Errno::NOBUFS;
    size_t length = size_t(m.controllen);
    uint8_t* control = new (std::nothrow) uint8_t[length];
    if (!control)
        return Errno::NOBUFS;
    auto r = decode_control_bytes(control, length, m.control, passed, request);
    delete[] control;
    return r;
}

Result<size_t> do_sendmsg(Socket& s, uint64_t msg_address, int flags)
{
    MsgHdr m = TRY(read_app<MsgHdr>(msg_address));
    if (m.name && m.namelen < 0)
        return Errno::INVAL;
    AppIovecs iov;
    TRY(copy_message_iovecs(m, iov));
    SocketAddress to;
    bool has_to = false;
    if (m.name) {
        constexpr int32_t kMax = int32_t(SocketAddress::kMaxLength);
        int32_t namelen = m.namelen > kMax ? kMax : m.namelen; // Linux clamps it here
        TRY(copy_address_in(m.name, namelen, to));
        has_to = namelen > 0;
    }
    AppIovecBuffer data = iov.buffer();
    SendRequest request { data };
    request.flags = flags;
    request.to = has_to ? &to : nullptr;
    PassedFds passed;
    TRY(decode_control(m, passed, request));
    return s.send(request);
}

// put_cmsg: one control message into the caller's buffer at `at` (of `room` bytes left),
// truncated with MSG_CTRUNC if it does not fit. Returns the bytes used.
Result<size_t> put_control(uint64_t at, size_t room, int type, const void* data, size_t length, int& out_flags)
{
    if (room < sizeof(CmsgHdr)) {
        out_flags |= kMsgCtrunc;
        return size_t(0);
    }
    size_t full = cmsg_len(length), n = full;
    if (room < full) {
        out_flags |= kMsgCtrunc;
        n = room;
    }
    CmsgHdr h { full, kSolSocket, type };
    TRY(copy_to_app(at, &h, sizeof h));
    if (n > sizeof h)
        TRY(copy_to_app(at + sizeof h, data, n - sizeof h));
    size_t used = cmsg_space(length);
    return used < room ? used : room;
}

// recvmsg's control messages (scm_recv): the credentials, then the passed descriptors,
// installed as new descriptors (close-on-exec with MSG_CMSG_CLOEXEC) as far as the buffer
// has room; the rest are closed and MSG_CTRUNC set. Returns the bytes of control data used.
Result<size_t> encode_control(const MsgHdr& m, ReceiveRequest& request, int flags)
{
    if (!m.control) {
        if (request.has_credentials || request.fd_count)
            request.out_flags |= kMsgCtrunc;
        return size_t(0);
    }
    size_t room = m.controllen > 0x7fffffff ? 0x7fffffff : size_t(m.controllen), used = 0;
    if (request.has_credentials)
        used += TRY(put_control(m.control, room, kScmCredentials, &request.credentials, sizeof(Credentials),
                                request.out_flags));
    if (request.fd_count) {
        size_t left = room - used;
        size_t fit = left > sizeof(CmsgHdr) ? (left - sizeof(CmsgHdr)) / sizeof(int32_t) : 0;
        if (fit > request.fd_count)
            fit = request.fd_count;
        int32_t fds[kMaxPassedFds];
        size_t installed = 0;
        for (; installed < fit; ++installed) {
            auto fd = fd_table().install(request.fds[installed], flags & kMsgCmsgCloexec);
            if (fd.is_error())
                break;
            fds[installed] = fd.value();
        }
        if (installed)
            used += TRY(put_control(m.control + used, left, kScmRights, fds, installed * sizeof(int32_t),
                                    request.out_flags));
        if (installed < request.fd_count)
            request.out_flags |= kMsgCtrunc;
    }
    return used;
}

Result<size_t> do_recvmsg(Socket& s, uint64_t msg_address, int flags)
{
    MsgHdr m = TRY(read_app<MsgHdr>(msg_address));
    if (m.name && m.namelen < 0)
        return Errno::INVAL;
    AppIovecs iov;
    TRY(copy_message_iovecs(m, iov));
    AppIovecBuffer data = iov.buffer();
    ReceiveRequest request { data };
    request.flags = flags;
    request.want_fds = true;
    size_t received = TRY(s.receive(request));
    if (m.name) {
        size_t n = size_t(m.namelen) < request.from.length ? size_t(m.namelen) : request.from.length;
        if (n)
            TRY(copy_to_app(m.name, request.from.bytes, n));
        TRY(write_app(msg_address + kMsgNamelenOffset, int32_t(request.from.length)));
    }
    size_t used = TRY(encode_control(m, request, flags));
    TRY(write_app(msg_address + kMsgControllenOffset, uint64_t(used)));
    TRY(write_app(msg_address + kMsgFlagsOffset, int32_t(request.out_flags)));
    return received;
}

// The buffer of send/recv/sendto/recvfrom: at most INT_MAX bytes, all in the application half.
Result<size_t> io_count(uint64_t buf, uint64_t count)
{
    size_t n = count > kMaxIoCount ? kMaxIoCount : size_t(count);
    if (!app_range_ok(buf, n))
        return Errno::FAULT;
    return n;
}

} // namespace

int64_t sys_socket(const Args& a)
{
    int type = a.i(1);
    unsigned type_flags;
    if (auto r = check_socket_args(a.i(0), type, type_flags); r.is_error())
        return err(r.error());
    auto family = find_family(a.i(0));
    if (family.is_error())
        return err(family.error());
    auto s = family.value()->create(type, a.i(2), socket_file_flags(type_flags));
    if (s.is_error())
        return err(s.error());
    return ret(fd_table().install(fs::Ref<fs::OpenFile>(s.release_value()), type_flags & kSockCloexec));
}

int64_t sys_socketpair(const Args& a)
{
    int type = a.i(1);
    unsigned type_flags;
    if (auto r = check_socket_args(a.i(0), type, type_flags); r.is_error())
        return err(r.error());
    auto family = find_family(a.i(0));
    if (family.is_error())
        return err(family.error());
    if (!family.value()->create_pair)
        return err(Errno::NOTSUP);
    fs::Ref<Socket> first, second;
    if (auto r = family.value()->create_pair(type, a.i(2), socket_file_flags(type_flags), first, second);
        r.is_error())
        return err(r.error());
    bool cloexec = type_flags & kSockCloexec;
    auto fd0 = fd_table().install(fs::Ref<fs::OpenFile>(first), cloexec);
    if (fd0.is_error())
        return err(fd0.error());
    auto fd1 = fd_table().install(fs::Ref<fs::OpenFile>(second), cloexec);
    if (fd1.is_error()) {
        (void)fd_table().close(fd0.value());
        return err(fd1.error());
    }
    int32_t fds[2] = { fd0.value(), fd1.value() };
    if (auto r = copy_to_app(a.u(3), fds, sizeof fds); r.is_error()) {
        (void)fd_table().close(fd0.value());
        (void)fd_table().close(fd1.value());
        return err(r.error());
    }
    return 0;
}

int64_t sys_bind(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    SocketAddress address;
    if (auto r = copy_address_in(a.u(1), a.i(2), address); r.is_error())
        return err(r.error());
    return ret(s.value()->bind(address));
}

int64_t sys_listen(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    return ret(s.value()->listen(a.i(1)));
}

namespace {

int64_t do_accept(int fd, uint64_t address, uint64_t length_address, unsigned flags)
{
    if (flags & ~(kSockNonblock | kSockCloexec))
        return err(Errno::INVAL);
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(fd, holder);
    if (s.is_error())
        return err(s.error());
    SocketAddress peer;
    auto accepted = s.value()->accept((flags & kSockNonblock) ? fs::kOpenNonBlock : 0, peer);
    if (accepted.is_error())
        return err(accepted.error());
    if (address || length_address)
        if (auto r = copy_address_out(peer, address, length_address); r.is_error())
            return err(r.error()); // the connection is dropped, as on Linux
    return ret(fd_table().install(fs::Ref<fs::OpenFile>(accepted.release_value()), flags & kSockCloexec));
}

} // namespace

int64_t sys_accept(const Args& a) { return do_accept(a.i(0), a.u(1), a.u(2), 0); }
int64_t sys_accept4(const Args& a) { return do_accept(a.i(0), a.u(1), a.u(2), unsigned(a.u(3))); }

int64_t sys_connect(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    SocketAddress address;
    if (auto r = copy_address_in(a.u(1), a.i(2), address); r.is_error())
        return err(r.error());
    return ret(s.value()->connect(address));
}

int64_t sys_shutdown(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    return ret(s.value()->shutdown(a.i(1)));
}

int64_t sys_getsockname(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    SocketAddress address;
    if (auto r = s.value()->local_address(address); r.is_error())
        return err(r.error());
    return ret(copy_address_out(address, a.u(1), a.u(2)));
}

int64_t sys_getpeername(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    SocketAddress address;
    if (auto r = s.value()->peer_address(address); r.is_error())
        return err(r.error());
    return ret(copy_address_out(address, a.u(1), a.u(2)));
}

int64_t sys_sendto(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    auto count = io_count(a.u(1), a.u(2));
    if (count.is_error())
        return err(count.error());
    SocketAddress to;
    bool has_to = a.u(4) != 0;
    if (has_to)
        if (auto r = copy_address_in(a.u(4), a.i(5), to); r.is_error())
            return err(r.error());
    AppBuffer data(a.u(1), count.value());
    SendRequest request { data };
    request.flags = a.i(3);
    request.to = has_to ? &to : nullptr;
    return ret(s.value()->send(request));
}

int64_t sys_recvfrom(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    auto count = io_count(a.u(1), a.u(2));
    if (count.is_error())
        return err(count.error());
    AppBuffer data(a.u(1), count.value());
    ReceiveRequest request { data };
    request.flags = a.i(3);
    auto received = s.value()->receive(request);
    if (received.is_error())
        return err(received.error());
    if (a.u(4))
        if (auto r = copy_address_out(request.from, a.u(4), a.u(5)); r.is_error())
            return err(r.error());
    return int64_t(received.value());
}

int64_t sys_sendmsg(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    return ret(do_sendmsg(*s.value(), a.u(1), a.i(2)));
}

int64_t sys_recvmsg(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    return ret(do_recvmsg(*s.value(), a.u(1), a.i(2)));
}

// sendmmsg: sends until one fails; the count sent, or the first message's error.
int64_t sys_sendmmsg(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    uint64_t vlen = uint32_t(a.u(2));
    if (vlen > fs::IovecBuffer::kMaxSegments)
        vlen = fs::IovecBuffer::kMaxSegments;
    uint64_t sent = 0;
    for (; sent < vlen; ++sent) {
        uint64_t entry = a.u(1) + sent * sizeof(MmsgHdr);
        auto r = do_sendmsg(*s.value(), entry, a.i(3));
        if (r.is_error()) {
            if (sent == 0)
                return err(r.error());
            break;
        }
        if (write_app(entry + kMmsgLenOffset, uint32_t(r.value())).is_error())
            break;
    }
    return int64_t(sent);
}

// recvmmsg: receives up to vlen messages; MSG_WAITFORONE makes every one after the first
// non-blocking; the timeout is checked after each message (as on Linux) and what remains of it
// written back.
int64_t sys_recvmmsg(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    uint64_t vlen = uint32_t(a.u(2));
    if (vlen > fs::IovecBuffer::kMaxSegments)
        vlen = fs::IovecBuffer::kMaxSegments;
    int flags = a.i(3);
    uint64_t deadline = ~uint64_t(0);
    if (a.u(4)) {
        auto ts = read_app<clk::Timespec>(a.u(4));
        if (ts.is_error())
            return err(ts.error());
        if (ts.value().sec < 0 || ts.value().nsec < 0 || ts.value().nsec >= 1000000000)
            return err(Errno::INVAL);
        if (uint64_t(ts.value().sec) < (uint64_t(1) << 32))
            deadline = core::monotonic_ns() + uint64_t(ts.value().sec) * 1000000000 + uint64_t(ts.value().nsec);
    }
    uint64_t received = 0;
    int64_t result = 0;
    for (; received < vlen; ++received) {
        uint64_t entry = a.u(1) + received * sizeof(MmsgHdr);
        int f = flags & ~kMsgWaitforone;
        if (received && (flags & kMsgWaitforone))
            f |= kMsgDontwait;
        auto r = do_recvmsg(*s.value(), entry, f);
        if (r.is_error()) {
            if (received == 0)
                result = err(r.error());
            break;
        }
        if (write_app(entry + kMmsgLenOffset, uint32_t(r.value())).is_error())
            break;
        if (deadline != ~uint64_t(0) && core::monotonic_ns() >= deadline) {
            ++received;
            break;
        }
    }
    if (result >= 0)
        result = int64_t(received);
    if (a.u(4) && deadline != ~uint64_t(0) && result >= 0) {
        uint64_t now = core::monotonic_ns(), left = deadline > now ? deadline - now : 0;
        clk::Timespec ts { int64_t(left / 1000000000), int64_t(left % 1000000000) };
        (void)write_app(a.u(4), ts);
    }
    return result;
}

int64_t sys_setsockopt(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    int32_t length = a.i(4);
    if (length < 0)
        return err(Errno::INVAL);
    uint8_t value[kMaxOptionLength] = {};
    size_t n = size_t(length) < sizeof value ? size_t(length) : sizeof value;
    if (n)
        if (auto r = copy_from_app(value, a.u(3), n); r.is_error())
            return err(r.error());
    return ret(s.value()->set_option(a.i(1), a.i(2), value, n));
}

int64_t sys_getsockopt(const Args& a)
{
    fs::Ref<fs::OpenFile> holder;
    auto s = socket_of(a.i(0), holder);
    if (s.is_error())
        return err(s.error());
    auto length = read_app<int32_t>(a.u(4));
    if (length.is_error())
        return err(length.error());
    if (length.value() < 0)
        return err(Errno::INVAL);
    uint8_t value[kMaxOptionLength] = {};
    size_t room = size_t(length.value()) < sizeof value ? size_t(length.value()) : sizeof value;
    auto n = s.value()->get_option(a.i(1), a.i(2), value, room);
    if (n.is_error())
        return err(n.error());
    if (n.value())
        if (auto r = copy_to_app(a.u(3), value, n.value()); r.is_error())
            return err(r.error());
    return ret(write_app(a.u(4), int32_t(n.value())));
}

} // namespace lx
