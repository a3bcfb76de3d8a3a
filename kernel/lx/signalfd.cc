// signalfd and signalfd4: a file that reads signals. read() takes pending signals in the
// file's mask (signal.h's take_signal_in: the reading thread's own, then a process-directed
// one another thread holds) and returns each as a struct signalfd_siginfo; the file is
// readable (poll, select, epoll) while such a signal is pending for the thread that asks.
//
// The signals are normally blocked by the program, so no handler races the file for them.
// Waiting uses the readiness notifier (poll.h). A signalfd notifies: after making a signal
// pending, send_signal calls notify_signalfds, which runs the epoll watches of every open
// signalfd whose mask holds the signal (any thread's signal: readiness is decided by the
// thread that polls, as on Linux, whose signalfd_wqh is the process's) and then wakes blocked
// readers and pollers.
//
// Locking. g_signalfds_lock covers the list of open signalfds; it is taken inside whatever
// send_signal's callers hold (a pipe's lock, the timer lock) and before the watch lock. A
// signalfd's destructor unlinks it under the lock, so the list holds only live files (or ones
// whose destructor waits for the lock, whose watch lists are empty).
#include <atomic>
#include <fs/open_file.h>
#include <lx/files.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <sync/mutex.h>

namespace lx {
namespace {

// struct signalfd_siginfo [signalfd(2)].
struct SignalfdSiginfo {
    uint32_t signo;
    int32_t errno_value;
    int32_t code;
    uint32_t pid;
    uint32_t uid;
    int32_t fd;
    uint32_t tid; // a POSIX timer's id
    uint32_t band;
    uint32_t overrun;
    uint32_t trapno;
    int32_t status;
    int32_t int_value;
    uint64_t ptr;
    uint64_t utime;
    uint64_t stime;
    uint64_t addr;
    uint16_t addr_lsb;
    uint16_t pad2;
    int32_t syscall;
    uint64_t call_addr;
    uint32_t arch;
    uint8_t pad[28];
};
static_assert(sizeof(SignalfdSiginfo) == 128);

constexpr uint64_t bit(int signo) { return uint64_t(1) << (signo - 1); }
constexpr int kSigIll = 4, kSigTrap = 5, kSigBus = 7, kSigFpe = 8, kSigKill = 9, kSigSegv = 11, kSigStop = 19;
constexpr uint64_t kUnreadable = bit(kSigKill) | bit(kSigStop);
// The fault signals, whose positive si_code means the kernel raised them with an address.
constexpr uint64_t kSynchronous = bit(kSigIll) | bit(kSigTrap) | bit(kSigBus) | bit(kSigFpe) | bit(kSigSegv);
constexpr int32_t kSiTimer = -2;

class SignalFile;
std::atomic<int> g_open_signalfds { 0 }; // a lock-free first look for send_signal
constinit ksync::Mutex g_signalfds_lock;
SignalFile* g_signalfds TA_GUARDED(g_signalfds_lock) = nullptr;

SignalfdSiginfo to_signalfd_siginfo(int signo, const AppThread::PendingInfo& info)
{
    SignalfdSiginfo si {};
    si.signo = uint32_t(signo);
    si.errno_value = info.errno_value;
    si.code = info.code;
    if ((bit(signo) & kSynchronous) && info.code > 0) {
        si.addr = info.address;
        si.trapno = uint32_t(info.trapno);
    } else if (info.code == kSiTimer) {
        si.tid = uint32_t(info.timer_id);
        si.overrun = uint32_t(info.overrun);
        si.int_value = int32_t(info.value);
        si.ptr = info.value;
    } else {
        si.pid = uint32_t(info.sender_pid);
        si.uid = 0;
    }
    return si;
}

class SignalFile final : public fs::OpenFile {
public:
    SignalFile(uint64_t mask, unsigned flags) : fs::OpenFile(flags), m_mask(mask)
    {
        ksync::MutexGuard guard(g_signalfds_lock);
        m_next = g_signalfds;
        if (g_signalfds)
            g_signalfds->m_prev = this;
        g_signalfds = this;
        g_open_signalfds.fetch_add(1, std::memory_order_relaxed);
    }
    ~SignalFile() override
    {
        ksync::MutexGuard guard(g_signalfds_lock);
        (m_prev ? m_prev->m_next : g_signalfds) = m_next;
        if (m_next)
            m_next->m_prev = m_prev;
        g_open_signalfds.fetch_sub(1, std::memory_order_relaxed);
    }

    const void* type_tag() const override;
    bool notifies_readiness() const override { return true; }

    uint64_t mask() const { return m_mask.load(std::memory_order_relaxed); }
    // signalfd on an existing descriptor: the mask changes for every reader at once.
    void set_mask(uint64_t mask) { m_mask.store(mask, std::memory_order_relaxed); }

    SignalFile* m_next TA_GUARDED(g_signalfds_lock) = nullptr; // g_signalfds
    SignalFile* m_prev TA_GUARDED(g_signalfds_lock) = nullptr;

protected:
    // As many signals as whole records fit; blocks for the first unless non-blocking.
    lib::Result<size_t> do_read(fs::IoBuffer& buf) override
    {
        constexpr size_t kRecord = sizeof(SignalfdSiginfo);
        if (buf.size() < kRecord)
            return lib::Errno::INVAL;
        size_t max = buf.size() / kRecord, done = 0;
        for (;;) {
            uint64_t epoch = readiness_epoch();
            AppThread::PendingInfo info;
            if (int signo = take_signal_in(m_mask.load(std::memory_order_relaxed), info)) {
                SignalfdSiginfo si = to_signalfd_siginfo(signo, info);
                if (auto r = buf.copy_out(done * kRecord, &si, kRecord); r.is_error())
                    return done ? lib::Result<size_t>(done * kRecord) : lib::Result<size_t>(r.error());
                if (++done == max)
                    return done * kRecord;
                continue;
            }
            if (done)
                return done * kRecord;
            if (flags() & fs::kOpenNonBlock)
                return lib::Errno::AGAIN;
            if (!wait_readiness(epoch, ~uint64_t(0)))
                return kRestartSys; // a signal to handle (one outside the mask) came first
        }
    }

    uint32_t do_poll_events() override
    {
        return has_signal_in(m_mask.load(std::memory_order_relaxed)) ? (fs::kPollIn | fs::kPollRdNorm) : 0;
    }

    lib::Result<fs::Attr> do_getattr() override
    {
        fs::Attr a;
        a.mode = 0600; // an anonymous inode, as Linux's
        a.nlink = 1;
        return a;
    }

private:
    std::atomic<uint64_t> m_mask;
};

constexpr char kSignalfdTag = 0;
const void* SignalFile::type_tag() const { return &kSignalfdTag; }

constexpr unsigned kCloexec = 02000000, kNonblock = 04000; // SFD_CLOEXEC, SFD_NONBLOCK

} // namespace

void notify_signalfds(int signo)
{
    // Relaxed: a signalfd opened concurrently checks the pending set itself when it is
    // read, polled or added to an epoll instance.
    if (g_open_signalfds.load(std::memory_order_relaxed) == 0)
        return;
    bool any = false;
    {
        ksync::MutexGuard guard(g_signalfds_lock);
        for (SignalFile* f = g_signalfds; f; f = f->m_next) {
            if (f->mask() & bit(signo)) {
                run_readiness_watches(*f, kReadinessIn); // a signal to read
                any = true;
            }
        }
    }
    if (any)
        readiness_changed(); // blocked readers and pollers
}

// signalfd4(fd, mask, sizemask, flags): fd -1 makes a new signalfd; an existing signalfd's
// descriptor gets the new mask (flags then do nothing). SIGKILL and SIGSTOP are left out
// silently. INVAL (flags, sizemask, fd not a signalfd), FAULT, BADF, MFILE.
int64_t sys_signalfd4(const Args& a)
{
    int fd = a.i(0);
    unsigned flags = unsigned(a.u(3));
    if (flags & ~(kCloexec | kNonblock))
        return err(Errno::INVAL);
    if (a.u(2) != 8)
        return err(Errno::INVAL);
    auto mask = read_app<uint64_t>(a.u(1));
    if (mask.is_error())
        return err(mask.error());
    uint64_t set = mask.value() & ~kUnreadable;
    if (fd != -1) {
        auto file = fd_table().get(fd);
        if (file.is_error())
            return err(file.error());
        if (file.value()->type_tag() != &kSignalfdTag)
            return err(Errno::INVAL);
        static_cast<SignalFile*>(file.value().get())->set_mask(set);
        // Pollers and watches re-check against the new mask.
        readiness_changed(*file.value(), kReadinessAll);
        return fd;
    }
    auto file = fs::make_ref<SignalFile>(set, fs::kOpenReadWrite | (flags & kNonblock)); // writes: EINVAL
    if (file.is_error())
        return err(Errno::NOMEM);
    return ret(fd_table().install(fs::Ref<fs::OpenFile>(file.value()), flags & kCloexec));
}

int64_t sys_signalfd(const Args& a) { return sys_signalfd4({ { a.u(0), a.u(1), a.u(2), 0, 0, 0 }, a.frame }); }

} // namespace lx
