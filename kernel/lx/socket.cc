// The generic socket: what every family shares — the file side (read/write as recv/send,
// FIONREAD, fstat), the SOL_SOCKET options, timeouts and the pending error (socket.h).
#include <core/clock.h>
#include <lib/string.h>
#include <lx/poll.h>
#include <lx/signal.h>
#include <lx/socket.h>
#include <lx/uaccess.h>
#include <time/linux_time.h>

namespace lx {
namespace {

constexpr char kSocketTag = 0;
std::atomic<uint64_t> g_next_socket_ino { 1 };

constexpr unsigned kFionread = 0x541b;

// A boolean option kept only to be read back (bit `name` of m_flag_options).
bool is_flag_option(int name)
{
    switch (name) {
    case kSoDebug:
    case kSoReuseaddr:
    case kSoDontroute:
    case kSoBroadcast:
    case kSoKeepalive:
    case kSoOobinline:
    case kSoReuseport:
        return true;
    default:
        return false;
    }
}

// SO_SNDBUF/SO_RCVBUF: Linux doubles the request (for its bookkeeping) within its limits. The
// plain options compare the value as unsigned (a negative one is as large as allowed); the
// FORCE variants take a negative one as 0.
uint32_t buffer_size(int32_t requested, uint32_t minimum, bool force)
{
    uint64_t v = force ? (requested < 0 ? 0 : uint64_t(requested)) : uint64_t(uint32_t(requested));
    if (!force && v > kMaxBufferSize)
        v = kMaxBufferSize;
    v *= 2;
    if (v > 0x7fffffff)
        v = 0x7fffffff;
    return v < minimum ? minimum : uint32_t(v);
}

Result<int32_t> int_value(const void* value, size_t length)
{
    if (length < sizeof(int32_t))
        return Errno::INVAL;
    int32_t v;
    lib::mem_copy(&v, value, sizeof v);
    return v;
}

// SO_RCVTIMEO/SO_SNDTIMEO: a struct timeval; zero means none. EDOM for microseconds out of
// range; a negative time means none, as on Linux (which also logs a warning).
Result<uint64_t> timeout_value(const void* value, size_t length)
{
    if (length < sizeof(clk::Timeval))
        return Errno::INVAL;
    clk::Timeval tv;
    lib::mem_copy(&tv, value, sizeof tv);
    if (tv.usec < 0 || tv.usec >= 1000000)
        return Errno::DOM;
    if (tv.sec < 0)
        return uint64_t(0);
    if (uint64_t(tv.sec) >= (uint64_t(1) << 32)) // over a century: none
        return uint64_t(0);
    uint64_t ns = uint64_t(tv.sec) * 1000000000 + uint64_t(tv.usec) * 1000;
    return ns;
}

size_t put_int(void* value, size_t length, int32_t v)
{
    size_t n = length < sizeof v ? length : sizeof v;
    lib::mem_copy(value, &v, n);
    return n;
}

size_t put_timeout(void* value, size_t length, uint64_t ns)
{
    clk::Timeval tv { int64_t(ns / 1000000000), int64_t(ns % 1000000000 / 1000) };
    size_t n = length < sizeof tv ? length : sizeof tv;
    lib::mem_copy(value, &tv, n);
    return n;
}

uint64_t deadline_after(uint64_t timeout_ns)
{
    return timeout_ns ? core::monotonic_ns() + timeout_ns : ~uint64_t(0);
}

} // namespace

Socket::Socket(int family, int type, unsigned file_flags)
    : fs::OpenFile(file_flags), m_family(family), m_type(type), m_ino(g_next_socket_ino.fetch_add(1))
{
}

const void* Socket::type_tag() const { return &kSocketTag; }

Socket* as_socket(fs::OpenFile& file)
{
    return file.type_tag() == &kSocketTag ? static_cast<Socket*>(&file) : nullptr;
}

Result<void> Socket::bind(const SocketAddress&) { return Errno::NOTSUP; }
Result<void> Socket::listen(int) { return Errno::NOTSUP; }
Result<fs::Ref<Socket>> Socket::accept(unsigned, SocketAddress&) { return Errno::NOTSUP; }
Result<void> Socket::connect(const SocketAddress&) { return Errno::NOTSUP; }
Result<size_t> Socket::send(SendRequest&) { return Errno::NOTSUP; }
Result<size_t> Socket::receive(ReceiveRequest&) { return Errno::NOTSUP; }
Result<void> Socket::shutdown(int) { return Errno::NOTSUP; }
Result<void> Socket::local_address(SocketAddress&) { return Errno::NOTSUP; }
Result<void> Socket::peer_address(SocketAddress&) { return Errno::NOTSUP; }

Result<void> Socket::set_option(int level, int name, const void* value, size_t length)
{
    if (level != kSolSocket)
        return Errno::NOPROTOOPT;
    ksync::MutexGuard guard(m_option_lock);
    if (is_flag_option(name)) {
        int32_t v = TRY(int_value(value, length));
        m_flag_options = v ? m_flag_options | (1u << name) : m_flag_options & ~(1u << name);
        return {};
    }
    switch (name) {
    case kSoSndbuf:
    case kSoSndbufforce:
        m_send_buffer = buffer_size(TRY(int_value(value, length)), kMinSendBuffer, name == kSoSndbufforce);
        return {};
    case kSoRcvbuf:
    case kSoRcvbufforce:
        m_receive_buffer = buffer_size(TRY(int_value(value, length)), kMinReceiveBuffer, name == kSoRcvbufforce);
        return {};
    case kSoPasscred:
        m_pass_credentials = TRY(int_value(value, length)) != 0;
        return {};
    case kSoRcvtimeo:
    case kSoRcvtimeoNew: // the same 16-byte structure on x86-64
        m_receive_timeout_ns = TRY(timeout_value(value, length));
        return {};
    case kSoSndtimeo:
    case kSoSndtimeoNew:
        m_send_timeout_ns = TRY(timeout_value(value, length));
        return {};
    case kSoLinger:
        if (length < sizeof m_linger)
            return Errno::INVAL;
        lib::mem_copy(m_linger, value, sizeof m_linger);
        return {};
    case kSoRcvlowat: {
        int32_t v = TRY(int_value(value, length));
        m_receive_low_water = v < 1 ? 1 : v;
        return {};
    }
    case kSoSndlowat:
        return Errno::NOPROTOOPT; // Linux: not changeable
    default:
        return Errno::NOPROTOOPT;
    }
}

Result<size_t> Socket::get_option(int level, int name, void* value, size_t length)
{
    if (level != kSolSocket)
        return Errno::NOPROTOOPT;
    if (name == kSoAcceptconn) // the family's state: asked before taking the option lock
        return put_int(value, length, is_listening());
    ksync::MutexGuard guard(m_option_lock);
    if (is_flag_option(name))
        return put_int(value, length, (m_flag_options >> name) & 1);
    switch (name) {
    case kSoType:
        return put_int(value, length, m_type);
    case kSoDomain:
        return put_int(value, length, m_family);
    case kSoProtocol:
        return put_int(value, length, 0);
    case kSoError: {
        int e = m_error;
        m_error = 0;
        return put_int(value, length, e);
    }
    case kSoSndbuf:
        return put_int(value, length, int32_t(m_send_buffer));
    case kSoRcvbuf:
        return put_int(value, length, int32_t(m_receive_buffer));
    case kSoPasscred:
        return put_int(value, length, m_pass_credentials);
    case kSoRcvtimeo:
    case kSoRcvtimeoNew:
        return put_timeout(value, length, m_receive_timeout_ns);
    case kSoSndtimeo:
    case kSoSndtimeoNew:
        return put_timeout(value, length, m_send_timeout_ns);
    case kSoLinger: {
        size_t n = length < sizeof m_linger ? length : sizeof m_linger;
        lib::mem_copy(value, m_linger, n);
        return n;
    }
    case kSoRcvlowat:
        return put_int(value, length, m_receive_low_water);
    case kSoSndlowat:
        return put_int(value, length, 1);
    default:
        return Errno::NOPROTOOPT;
    }
}

uint64_t Socket::receive_deadline() const
{
    return deadline_after(m_receive_timeout_ns.load(std::memory_order_relaxed));
}

uint64_t Socket::send_deadline() const
{
    return deadline_after(m_send_timeout_ns.load(std::memory_order_relaxed));
}

lib::Errno Socket::interrupted_error(bool sending) const
{
    const std::atomic<uint64_t>& timeout = sending ? m_send_timeout_ns : m_receive_timeout_ns;
    return timeout.load(std::memory_order_relaxed) ? Errno::INTR : kRestartSys;
}

lib::Result<size_t> copy_datagram(ReceiveRequest& request, const uint8_t* data, size_t length)
{
    size_t n = length < request.data.size() ? length : request.data.size();
    if (n)
        TRY(request.data.copy_out(0, data, n));
    if (n < length)
        request.out_flags |= kMsgTrunc;
    return (request.flags & kMsgTrunc) ? length : n;
}

lib::Result<void> Socket::wait_ready(uint64_t epoch, uint64_t deadline, bool sending) const
{
    if (wait_readiness(epoch, deadline))
        return {};
    if (signal_pending())
        return interrupted_error(sending);
    if (core::monotonic_ns() >= deadline)
        return lib::Errno::AGAIN;
    return {};
}

int Socket::take_error()
{
    ksync::MutexGuard guard(m_option_lock);
    int e = m_error;
    m_error = 0;
    return e;
}

void Socket::set_error(int error)
{
    ksync::MutexGuard guard(m_option_lock);
    m_error = error;
}

uint32_t Socket::send_buffer() const
{
    ksync::MutexGuard guard(m_option_lock);
    return m_send_buffer;
}

uint32_t Socket::receive_buffer() const
{
    ksync::MutexGuard guard(m_option_lock);
    return m_receive_buffer;
}

bool Socket::pass_credentials() const
{
    ksync::MutexGuard guard(m_option_lock);
    return m_pass_credentials;
}

Result<size_t> Socket::do_read(fs::IoBuffer& buf)
{
    ReceiveRequest request { buf };
    return receive(request); // no room for descriptors: a plain read drops them, as on Linux
}

Result<size_t> Socket::do_write(fs::IoBuffer& buf)
{
    SendRequest request { buf };
    return send(request);
}

Result<long> Socket::do_ioctl(unsigned cmd, uint64_t arg)
{
    if (cmd != kFionread)
        return interface_ioctl(*this, cmd, arg); // SIOCGIF*, else NOTTY
    if (is_listening())
        return Errno::INVAL;
    size_t n = TRY(readable_bytes());
    int32_t v = n > 0x7fffffff ? 0x7fffffff : int32_t(n);
    TRY(write_app(arg, v));
    return 0;
}

Result<fs::Attr> Socket::do_getattr()
{
    fs::Attr a;
    a.ino = m_ino;
    a.mode = fs::kModeSocket | 0777;
    a.nlink = 1;
    a.blksize = 4096;
    return a;
}

} // namespace lx
