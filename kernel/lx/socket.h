// Sockets: the open file every address family's sockets are, and the operations a family
// implements (AF_UNIX in unix_socket.cc, AF_INET in inet_socket.cc, AF_NETLINK in
// netlink_socket.cc).
//
// Layers. sys_socket.cc owns the Linux ABI: it checks and copies every user pointer and
// length (sockaddr, msghdr, iovecs, control messages, option values), turns control messages
// into kernel objects (SCM_RIGHTS into open-file references, SCM_CREDENTIALS into a
// Credentials) and back, and installs received descriptors. A family sees only kernel
// memory and IoBuffers: a SocketAddress, a SendRequest or ReceiveRequest, option bytes. So a
// family never touches an application pointer except through the IoBuffer of the data.
//
// The generic SOL_SOCKET options every family shares (buffer sizes, timeouts, SO_TYPE,
// SO_ERROR, ...) live in Socket itself (set_option/get_option below); a family sees the rest
// and may override the generic ones it must act on.
//
// Blocking follows pipe.cc: check under the family's lock, then sleep on the readiness
// notifier (poll.h). A wait with no timeout cut short by a signal returns kRestartSys
// (SA_RESTART restarts it); with SO_RCVTIMEO/SO_SNDTIMEO set it returns EINTR, as Linux does,
// and EAGAIN when the timeout passes.
#pragma once

#include <atomic>
#include <fs/io_buffer.h>
#include <fs/open_file.h>
#include <fs/ref.h>
#include <lib/result.h>
#include <lx/syscall.h>
#include <stddef.h>
#include <stdint.h>
#include <sync/mutex.h>

namespace lx {

// Address families, socket types and flags (Linux's values).
inline constexpr int kAfUnspec = 0, kAfUnix = 1, kAfInet = 2, kAfInet6 = 10, kAfNetlink = 16, kAfMax = 46;
inline constexpr int kSockStream = 1, kSockDgram = 2, kSockRaw = 3, kSockSeqpacket = 5, kSockMax = 11;
inline constexpr unsigned kSockNonblock = 04000, kSockCloexec = 02000000;

// send/recv flags.
inline constexpr int kMsgOob = 0x1, kMsgPeek = 0x2, kMsgCtrunc = 0x8, kMsgTrunc = 0x20, kMsgDontwait = 0x40,
                     kMsgEor = 0x80, kMsgWaitall = 0x100, kMsgNosignal = 0x4000, kMsgWaitforone = 0x10000,
                     kMsgCmsgCloexec = 0x40000000;

// Socket options (level SOL_SOCKET).
inline constexpr int kSolSocket = 1;
inline constexpr int kSoDebug = 1, kSoReuseaddr = 2, kSoType = 3, kSoError = 4, kSoDontroute = 5, kSoBroadcast = 6,
                     kSoSndbuf = 7, kSoRcvbuf = 8, kSoKeepalive = 9, kSoOobinline = 10, kSoLinger = 13,
                     kSoReuseport = 15, kSoPasscred = 16, kSoPeercred = 17, kSoRcvlowat = 18, kSoSndlowat = 19,
                     kSoRcvtimeo = 20, kSoSndtimeo = 21, kSoAcceptconn = 30, kSoSndbufforce = 32,
                     kSoRcvbufforce = 33, kSoProtocol = 38, kSoDomain = 39, kSoRcvtimeoNew = 66,
                     kSoSndtimeoNew = 67;

// poll bits the fs layer does not name.
inline constexpr uint32_t kPollWrBand = 0x200, kPollRdHup = 0x2000;

// Linux's buffer defaults and limits (net.core.wmem_default/wmem_max; SOCK_MIN_SNDBUF and
// SOCK_MIN_RCVBUF with a 256-byte sk_buff): setsockopt doubles the value asked for, as Linux
// does, and clamps it to [min, 2 * max].
inline constexpr uint32_t kDefaultBufferSize = 212992, kMaxBufferSize = 212992;
inline constexpr uint32_t kMinSendBuffer = 4608, kMinReceiveBuffer = 2304;

// SCM_MAX_FD: the most descriptors one SCM_RIGHTS message may carry.
inline constexpr size_t kMaxPassedFds = 253;

// A socket address as the family sees it: the bytes of the application's sockaddr (at most
// sizeof(struct sockaddr_storage)) and their length.
struct SocketAddress {
    static constexpr size_t kMaxLength = 128;
    uint8_t bytes[kMaxLength] = {};
    uint32_t length = 0;

    uint16_t family() const { return length >= 2 ? uint16_t(bytes[0] | (bytes[1] << 8)) : 0; }
};

// struct ucred: what SO_PEERCRED and SCM_CREDENTIALS carry.
struct Credentials {
    int32_t pid = 0;
    uint32_t uid = 0;
    uint32_t gid = 0;

    bool operator==(const Credentials& o) const { return pid == o.pid && uid == o.uid && gid == o.gid; }
};
static_assert(sizeof(Credentials) == 12);

// The calling process's credentials (pid, effective uid and gid).
Credentials current_credentials();
// Whether the caller may claim `c` in SCM_CREDENTIALS (Linux: its own pid and one of its
// real/effective/saved ids, or privileged).
bool may_claim_credentials(const Credentials& c);

// One sendmsg: the data, the flags, the destination (null: none given) and the ancillary data
// the syscall layer decoded.
struct SendRequest {
    explicit SendRequest(fs::IoBuffer& buffer) : data(buffer) {}
    fs::IoBuffer& data;
    int flags = 0;
    const SocketAddress* to = nullptr;
    fs::Ref<fs::OpenFile>* fds = nullptr; // SCM_RIGHTS (the request keeps the references)
    size_t fd_count = 0;
    bool has_credentials = false; // SCM_CREDENTIALS given (checked by the syscall layer)
    Credentials credentials;
};

// One recvmsg: the buffer and flags in; the source address, out-flags, received descriptors
// and credentials out. With want_fds, the family hands over the passed descriptors as an
// array the request owns (allocated with new[]; the syscall layer installs them, and the
// request drops what is left when it goes — never under a family's lock, as it outlives the
// call). Without (read(2), recv(2)) passed descriptors are dropped, as on Linux.
struct ReceiveRequest {
    explicit ReceiveRequest(fs::IoBuffer& buffer) : data(buffer) {}
    ~ReceiveRequest() { delete[] fds; }
    ReceiveRequest(const ReceiveRequest&) = delete;
    ReceiveRequest& operator=(const ReceiveRequest&) = delete;

    fs::IoBuffer& data;
    int flags = 0;
    bool want_fds = false;
    SocketAddress from;     // length 0: no address to report
    int out_flags = 0;      // kMsgTrunc, kMsgCtrunc
    fs::Ref<fs::OpenFile>* fds = nullptr;
    size_t fd_count = 0;
    bool has_credentials = false;
    Credentials credentials;
};

// A socket: an open file with the family's operations. Defaults give Linux's errors for a
// family that lacks the operation (EOPNOTSUPP). Every operation may block unless the file is
// non-blocking or the request says MSG_DONTWAIT.
class Socket : public fs::OpenFile {
public:
    int family() const { return m_family; }
    int type() const { return m_type; }
    const void* type_tag() const override;

    virtual Result<void> bind(const SocketAddress& address);
    virtual Result<void> listen(int backlog);
    // A new connected socket (its file flags are `file_flags`); the peer's address into `peer`.
    virtual Result<fs::Ref<Socket>> accept(unsigned file_flags, SocketAddress& peer);
    virtual Result<void> connect(const SocketAddress& address);
    virtual Result<size_t> send(SendRequest& request);
    virtual Result<size_t> receive(ReceiveRequest& request);
    virtual Result<void> shutdown(int how);
    virtual Result<void> local_address(SocketAddress& out);
    virtual Result<void> peer_address(SocketAddress& out);
    // Options: the generic SOL_SOCKET ones here; a family overrides to add its own and calls
    // these for the rest. `value` is kernel memory. get_option returns the length written.
    virtual Result<void> set_option(int level, int name, const void* value, size_t length);
    virtual Result<size_t> get_option(int level, int name, void* value, size_t length);
    // Bytes ready to read (FIONREAD / SIOCINQ).
    virtual Result<size_t> readable_bytes() { return size_t(0); }

    // Whether the socket is listening (SO_ACCEPTCONN; FIONREAD is EINVAL then). Takes the
    // family's lock: never called with the option lock held.
    virtual bool is_listening() const { return false; }

    // Generic option state, read by the families. Each takes the option lock, a leaf (the
    // family's lock may be held).
    uint32_t send_buffer() const;
    uint32_t receive_buffer() const;
    bool pass_credentials() const;
    // The timeouts as deadlines from now (~0: none).
    uint64_t receive_deadline() const;
    uint64_t send_deadline() const;
    // What a wait cut short by a signal returns: kRestartSys without a timeout, EINTR with one.
    lib::Errno interrupted_error(bool sending) const;
    // Sleeps until readiness changed after `epoch` (readiness_epoch(), read before the check
    // that found nothing to do). Errors end the wait: AGAIN when `deadline` passed, the
    // interrupted_error when a signal came; success means "look again".
    lib::Result<void> wait_ready(uint64_t epoch, uint64_t deadline, bool sending) const;
    // Whether a call with these send/recv flags must not block (MSG_DONTWAIT or O_NONBLOCK).
    bool nonblocking(int msg_flags) const { return (msg_flags & kMsgDontwait) || (flags() & fs::kOpenNonBlock); }
    // SO_ERROR: records an error for the socket / takes it (0 if none).
    void set_error(int error);
    int take_error();

protected:
    Socket(int family, int type, unsigned file_flags);

    // read/write are recv/send without flags; ioctl has FIONREAD.
    Result<size_t> do_read(fs::IoBuffer& buf) override;
    Result<size_t> do_write(fs::IoBuffer& buf) override;
    Result<long> do_ioctl(unsigned cmd, uint64_t arg) override;
    Result<fs::Attr> do_getattr() override;

    mutable ksync::Mutex m_option_lock;
    uint32_t m_send_buffer TA_GUARDED(m_option_lock) = kDefaultBufferSize;
    uint32_t m_receive_buffer TA_GUARDED(m_option_lock) = kDefaultBufferSize;
    // 0: none. Atomic rather than guarded: every blocking send and receive reads them.
    std::atomic<uint64_t> m_receive_timeout_ns{ 0 };
    std::atomic<uint64_t> m_send_timeout_ns{ 0 };
    int m_error TA_GUARDED(m_option_lock) = 0;
    bool m_pass_credentials TA_GUARDED(m_option_lock) = false;
    uint32_t m_flag_options TA_GUARDED(m_option_lock) = 0; // bit n: boolean option n set
    int32_t m_linger[2] TA_GUARDED(m_option_lock) = { 0, 0 };
    int32_t m_receive_low_water TA_GUARDED(m_option_lock) = 1;

private:
    const int m_family;
    const int m_type;
    const uint64_t m_ino;
};

// recv of one datagram of `length` bytes at `data`: copies what fits into the request's buffer
// (MSG_TRUNC in the out-flags when it was cut) and returns what recv returns — the bytes
// copied, or the datagram's length when the caller asked MSG_TRUNC. The buffer's error (FAULT)
// otherwise; the caller dequeues only after success.
lib::Result<size_t> copy_datagram(ReceiveRequest& request, const uint8_t* data, size_t length);

// The socket behind an open file, or nullptr if it is not one.
Socket* as_socket(fs::OpenFile& file);

// The families (unix_socket.cc), listed in sys_socket.cc's table. `type` is without
// SOCK_NONBLOCK/SOCK_CLOEXEC; `file_flags` the open-file flags (read-write, maybe
// non-blocking). ESOCKTNOSUPPORT / EPROTONOSUPPORT for what the family lacks, ENOBUFS.
Result<fs::Ref<Socket>> create_unix_socket(int type, int protocol, unsigned file_flags);
// AF_INET (inet_socket.cc): SOCK_STREAM (TCP) and SOCK_DGRAM (UDP).
Result<fs::Ref<Socket>> create_inet_socket(int type, int protocol, unsigned file_flags);
// AF_NETLINK (netlink_socket.cc): SOCK_RAW and SOCK_DGRAM, protocol NETLINK_ROUTE.
Result<fs::Ref<Socket>> create_netlink_socket(int type, int protocol, unsigned file_flags);
// The interface ioctls every socket answers (SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS,
// SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN; on AF_INET sockets also
// SIOCGIFADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK), netlink_socket.cc: NOTTY for other commands,
// NODEV for an unknown interface, FAULT. `arg` is the application's struct ifreq or ifconf.
Result<long> interface_ioctl(const Socket& socket, unsigned cmd, uint64_t arg);
Result<void> create_unix_socket_pair(int type, int protocol, unsigned file_flags, fs::Ref<Socket>& a,
                                     fs::Ref<Socket>& b);

} // namespace lx
