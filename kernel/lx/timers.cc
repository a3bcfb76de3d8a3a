// Timers of the Linux ABI: timerfd (timerfd_create, timerfd_settime, timerfd_gettime), the
// interval timer (setitimer, getitimer, alarm) and POSIX timers (timer_create, timer_settime,
// timer_gettime, timer_getoverrun, timer_delete).
//
// One kernel thread, "lx-timers", fires them all. Every timer that needs something done at
// its deadline is in one tree ordered by that deadline; the thread parks until the earliest
// (a timed park is a core::Timer on the thread's CPU whose interrupt only unparks it), does
// what is due and parks again. With nothing armed it parks with no deadline, and arming a
// timer earlier than the one it waits for unparks it: it never polls. Why not a core::Timer
// per application timer: its callback runs in the timer interrupt with interrupts off and
// may only unpark a thread, while an expiry has to take sleeping mutexes (readiness_changed,
// send_signal); and a core::Timer can only be cancelled on the CPU that armed it, while an
// application timer is re-set, closed or deleted by any thread on any CPU.
//
// Locking. One mutex, g_lock, covers the tree, the state of every timer, the POSIX timer
// table and the interval timer (they are set rarely: a lock per timer would buy nothing).
// The thread fires timers with g_lock held, and a timer leaves the tree under g_lock before
// it is freed, so closing a timerfd or deleting a POSIX timer while it fires on another CPU
// either waits for that expiry to finish or takes the timer out first: nothing touches a
// freed timer, and no signal is sent after timer_delete returns. Order: g_lock, then what
// send_signal, send_process_signal, readiness_changed and run_readiness_watches take inside
// (the thread registry, the signal actions, the signalfd list, the readiness sleepers, the
// watch lock and epoll's ready locks); epoll's lock, then g_lock (poll_events).
// Nothing calls into this file holding the former.
//
// Clocks. CLOCK_REALTIME is monotonic time plus an offset fixed at boot (there is no
// clock_settime), and CLOCK_BOOTTIME is monotonic time (a VM is not suspended), so every
// deadline is kept in monotonic nanoseconds; an absolute CLOCK_REALTIME time is converted
// once, when the timer is set. TFD_TIMER_CANCEL_ON_SET is accepted and never cancels, since
// the clock is never set.
//
// timerfd. The expiration count comes from the clock whenever the file is read, polled or
// queried: the periods that have passed since the last count. The thread only has to wake
// pollers and blocked readers when the count becomes non-zero, so a timerfd is scheduled only
// while it is armed with a zero count; an unread periodic timerfd costs nothing, as on Linux
// (whose timerfd re-arms a periodic timer only when it is read). A timerfd notifies (poll.h):
// at that expiry the thread runs the file's epoll watches under g_lock (the file is alive
// while it is in the tree) and wakes every waiter once the round is over, so an
// edge-triggered interest fires once per expiry-to-read cycle. A poll that counts an expiry
// before the thread reaches it does not notify — the thread still does — so an
// edge-triggered interest that epoll checks in that gap for another reason (just after
// EPOLL_CTL_ADD or MOD, or an earlier expiry's notice not yet collected after a read) may
// report that expiry twice. The poll's early count is kept: without it, whether a timerfd
// looks expired would depend on how soon the timer thread runs.
//
// Signals. ITIMER_REAL sends SIGALRM with SI_KERNEL, process-directed. A POSIX timer sends
// SI_TIMER with its id, sigev_value and overrun count, process-directed or (SIGEV_THREAD_ID)
// to one thread; if that thread has exited by then, nothing is sent. Overruns: the signal
// layer keeps one pending instance per signal number, so while a timer's signal is still
// pending, its later expirations are not sent but counted, and the count is written into
// the pending signal's si_overrun as it grows (see PendingTimerSignal); timer_getoverrun
// reports the count of the last signal that was taken, as Linux does for the last one
// delivered.
#include <core/clock.h>
#include <core/thread.h>
#include <fs/open_file.h>
#include <lib/intrusive_avl.h>
#include <lx/files.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <new>
#include <sync/mutex.h>
#include <time/clock_page.h>
#include <time/linux_time.h>

namespace lx {
namespace {

constexpr uint64_t kNsPerSec = 1000000000;
constexpr uint64_t kNever = ~uint64_t(0);

constexpr int kClockRealtime = 0, kClockMonotonic = 1, kClockBoottime = 7;
constexpr int kSigAlrm = 14, kMaxSignal = 64;
constexpr int32_t kSiTimer = -2, kSiKernel = 0x80;
constexpr int kTimerAbstime = 1; // TIMER_ABSTIME and TFD_TIMER_ABSTIME
constexpr int kTfdTimerCancelOnSet = 2;
constexpr unsigned kTfdNonblock = 04000, kTfdCloexec = 02000000;
constexpr int kSigevSignal = 0, kSigevNone = 1, kSigevThread = 2, kSigevThreadId = 4;
constexpr int kItimerReal = 0, kItimerProf = 2;
constexpr int32_t kDelayTimerMax = 0x7fffffff; // overrun counts saturate here, as on Linux

// POSIX timers per process; timer_create answers EAGAIN beyond.
constexpr int kMaxPosixTimers = 1024;
// A signal timer's expiries are processed at most this often (its period may be shorter:
// the expirations in between are counted, not lost). Without it a 1 ns period would keep
// the timer thread busy for good; Linux is saved by re-arming only on delivery.
constexpr uint64_t kMinRearmNs = 100000;

// Linux's x86-64 layouts [timerfd_create(2), setitimer(2), timer_create(2), sigevent(7)].
using clk::Itimerspec;
using clk::Itimerval;
using clk::Timespec;
using clk::Timeval;
struct Sigevent {
    uint64_t value; // sigev_value: sival_int or sival_ptr
    int32_t signo;
    int32_t notify;
    int32_t tid; // SIGEV_THREAD_ID: the thread (_sigev_un._tid)
    int32_t pad[11];
};
static_assert(sizeof(Itimerspec) == 32 && sizeof(Itimerval) == 32);
static_assert(sizeof(Sigevent) == 64);

uint64_t add_saturating(uint64_t a, uint64_t b) { return b > kNever - a ? kNever : a + b; }

int32_t clamp_overrun(uint64_t n) { return n > uint64_t(kDelayTimerMax) ? kDelayTimerMax : int32_t(n); }

// A duration the application gave, in ns; past ~584 years it saturates to kNever ("never").
// INVAL for a negative or non-normalised value.
Result<uint64_t> ns_of(const Timespec& t)
{
    if (t.sec < 0 || t.nsec < 0 || t.nsec >= int64_t(kNsPerSec))
        return Errno::INVAL;
    if (uint64_t(t.sec) >= kNever / kNsPerSec)
        return kNever;
    return add_saturating(uint64_t(t.sec) * kNsPerSec, uint64_t(t.nsec));
}

Result<uint64_t> ns_of(const Timeval& t)
{
    if (t.usec < 0 || t.usec >= 1000000)
        return Errno::INVAL;
    return ns_of(Timespec { t.sec, t.usec * 1000 });
}

Timespec timespec_of(uint64_t ns) { return { int64_t(ns / kNsPerSec), int64_t(ns % kNsPerSec) }; }
Timeval timeval_of(uint64_t ns) { return { int64_t(ns / kNsPerSec), int64_t(ns % kNsPerSec / 1000) }; }

bool is_timer_clock(int clock)
{
    return clock == kClockRealtime || clock == kClockMonotonic || clock == kClockBoottime;
}

// When a timer expires: `next`, the first expiry not yet counted (monotonic ns), then every
// `interval` ns (0: once).
struct Schedule {
    bool armed = false;
    uint64_t next = 0;
    uint64_t interval = 0;

    // Counts the expirations up to `now` and moves `next` past them (a one-shot disarms).
    uint64_t advance(uint64_t now)
    {
        if (!armed || now < next)
            return 0;
        if (!interval) {
            armed = false;
            return 1;
        }
        // periods * interval ≤ (now - next) + interval: no overflow for any real `now`.
        uint64_t periods = (now - next) / interval + 1;
        next = add_saturating(next, periods * interval);
        return periods;
    }

    // Time until the next expiry (the next period's, if the current one has passed
    // uncounted); 0 when disarmed or a one-shot that has expired.
    uint64_t remaining(uint64_t now) const
    {
        if (!armed)
            return 0;
        if (next > now)
            return next - now;
        return interval ? interval - (now - next) % interval : 0;
    }
};

// The schedule timer_settime, timerfd_settime or setitimer asks for at `now`: `value` 0
// disarms; otherwise the first expiry is `value` ns from now or, if `absolute`, the time
// `value` on `clock` (in the past: at once).
Schedule schedule_for(int clock, bool absolute, uint64_t value, uint64_t interval, uint64_t now)
{
    Schedule s;
    s.interval = interval;
    if (!value)
        return s;
    s.armed = true;
    if (!absolute) {
        s.next = add_saturating(now, value);
    } else if (clock == kClockRealtime) {
        uint64_t offset = core::clock_page().wall_offset_ns; // fixed at boot (clock_page.h)
        s.next = value > offset ? value - offset : 0;
    } else {
        s.next = value;
    }
    return s;
}

// What the application passed as an itimerspec at `address`. FAULT, INVAL.
struct Setting {
    uint64_t value, interval;
};

Result<Setting> read_itimerspec(uint64_t address)
{
    Itimerspec s = TRY(read_app<Itimerspec>(address));
    return Setting { TRY(ns_of(s.value)), TRY(ns_of(s.interval)) };
}

// ---- the timer thread -------------------------------------------------------------------

constinit ksync::Mutex g_lock;

// A timer the thread fires: one tree for all, ordered by (wake_at, seq).
class AppTimer : public lib::AvlLink<> {
public:
    // Its deadline has passed: do what the timer does, and schedule it again if it should
    // fire again. The timer thread, g_lock held; the timer is out of the tree.
    virtual void expire_locked(uint64_t now) TA_REQ(g_lock) = 0;

    // The key while it is in the tree (g_lock): the deadline, and a sequence number that
    // makes equal deadlines distinct.
    uint64_t wake_at = 0;
    uint64_t seq = 0;

protected:
    ~AppTimer() = default;
};

struct WakeKey {
    uint64_t at, seq;
    bool operator<(const WakeKey& o) const { return at < o.at || (at == o.at && seq < o.seq); }
};
struct WakeKeyOf {
    WakeKey operator()(const AppTimer& t) const { return { t.wake_at, t.seq }; }
};

lib::IntrusiveAvlTree<AppTimer, WakeKeyOf> g_due TA_GUARDED(g_lock);
uint64_t g_next_seq TA_GUARDED(g_lock) = 0;
core::Thread* g_thread TA_GUARDED(g_lock) = nullptr;
// The deadline the thread sleeps until (kNever: none); an earlier one must unpark it.
uint64_t g_thread_wakes_at TA_GUARDED(g_lock) = kNever;
// A timerfd's count became non-zero in this round: wake pollers once it is over.
bool g_wake_pollers TA_GUARDED(g_lock) = false;

void unschedule_locked(AppTimer& t) TA_REQ(g_lock)
{
    if (t.is_linked())
        g_due.erase(t);
}

// (Re)schedules `t` to expire at monotonic `at` (kNever: not at all).
void schedule_locked(AppTimer& t, uint64_t at) TA_REQ(g_lock)
{
    if (t.is_linked() && t.wake_at == at)
        return;
    unschedule_locked(t);
    if (at == kNever)
        return;
    t.wake_at = at;
    t.seq = g_next_seq++;
    g_due.insert(t); // cannot fail: seq makes the key unique
    if (at < g_thread_wakes_at && g_thread) {
        g_thread_wakes_at = at;
        core::unpark_thread(g_thread); // a token: not lost if the thread is not parked yet
    }
}

void run_timers(void*)
{
    for (;;) {
        uint64_t wake_at;
        bool wake_pollers;
        {
            ksync::MutexGuard guard(g_lock);
            g_thread_wakes_at = 0; // awake: re-arming below needs no unpark
            uint64_t now = core::monotonic_ns();
            for (AppTimer* t = g_due.first(); t && t->wake_at <= now; t = g_due.first()) {
                g_due.erase(*t);
                t->expire_locked(now); // sends its signal under g_lock: see the header
            }
            AppTimer* first = g_due.first();
            wake_at = first ? first->wake_at : kNever;
            g_thread_wakes_at = wake_at;
            wake_pollers = g_wake_pollers;
            g_wake_pollers = false;
        }
        if (wake_pollers)
            readiness_changed();
        // A timer armed from here on for earlier than wake_at unparks us; the token makes
        // that safe before we park.
        if (wake_at == kNever)
            core::park_current_thread();
        else
            core::park_current_thread_until(wake_at);
    }
}

// The thread starts with the first timer. NOMEM.
Result<void> start_thread_locked() TA_REQ(g_lock)
{
    if (g_thread)
        return {};
    core::Thread* t = TRY(core::Thread::create("lx-timers", &run_timers, nullptr));
    core::Thread::detach(t); // it never exits, so g_thread stays valid
    g_thread = t;
    return {};
}

// ---- timerfd ----------------------------------------------------------------------------

constexpr char kTimerFileTag = 0;
std::atomic<uint64_t> g_next_ino { 1 };

class TimerFile final : public fs::OpenFile, public AppTimer {
public:
    TimerFile(int clock, unsigned flags)
        : fs::OpenFile(flags), m_clock(clock), m_ino(g_next_ino.fetch_add(1, std::memory_order_relaxed))
    {
    }
    // The last reference: the descriptor is closed and nobody is in read or poll. Taking
    // g_lock waits out an expiry of this file on the timer thread.
    ~TimerFile() override
    {
        ksync::MutexGuard guard(g_lock);
        unschedule_locked(*this);
    }

    const void* type_tag() const override { return &kTimerFileTag; }

    // timerfd_settime: the new schedule, with the count reset; returns the old setting.
    Itimerspec set(bool absolute, uint64_t value, uint64_t interval) TA_EXCL(g_lock)
    {
        ksync::MutexGuard guard(g_lock);
        uint64_t now = core::monotonic_ns();
        count_locked(now); // the old value is the time to the next expiry, not a past one
        Itimerspec old = { timespec_of(m_schedule.interval), timespec_of(m_schedule.remaining(now)) };
        m_schedule = schedule_for(m_clock, absolute, value, interval, now);
        m_ticks = 0;
        rearm_locked();
        return old;
    }

    // timerfd_gettime.
    Itimerspec get() TA_EXCL(g_lock)
    {
        ksync::MutexGuard guard(g_lock);
        uint64_t now = core::monotonic_ns();
        count_locked(now);
        return { timespec_of(m_schedule.interval), timespec_of(m_schedule.remaining(now)) };
    }

    void expire_locked(uint64_t now) override TA_REQ(g_lock)
    {
        count_locked(now);
        if (m_ticks) {
            run_readiness_watches(*this, kReadinessIn); // g_lock → the watch lock: see the header
            g_wake_pollers = true;
        } else {
            rearm_locked();
        }
    }

    bool notifies_readiness() const override { return true; }

protected:
    // The count since the last read, as 8 bytes. INVAL for a smaller buffer; AGAIN when
    // non-blocking and zero; otherwise waits for an expiry (kRestartSys on a signal).
    lib::Result<size_t> do_read(fs::IoBuffer& buf) override
    {
        if (buf.size() < 8)
            return Errno::INVAL;
        for (;;) {
            uint64_t epoch = readiness_epoch();
            uint64_t ticks, deadline = kNever;
            {
                ksync::MutexGuard guard(g_lock);
                count_locked(core::monotonic_ns());
                ticks = m_ticks;
                if (ticks) {
                    m_ticks = 0;
                    rearm_locked();
                } else if (m_schedule.armed) {
                    deadline = m_schedule.next;
                }
            }
            if (ticks) {
                // A fault loses the count, as on Linux: it was taken before the copy.
                TRY(buf.copy_out(0, &ticks, 8));
                return size_t(8);
            }
            if (flags() & fs::kOpenNonBlock)
                return Errno::AGAIN;
            // The timer thread's readiness_changed() ends the wait at the expiry; the
            // deadline is only a second way to the same end.
            if (!wait_readiness(epoch, deadline) && signal_pending())
                return kRestartSys;
        }
    }

    uint32_t do_poll_events() override
    {
        ksync::MutexGuard guard(g_lock);
        count_locked(core::monotonic_ns());
        return m_ticks ? fs::kPollIn | fs::kPollRdNorm : 0;
    }

    lib::Result<fs::Attr> do_getattr() override
    {
        fs::Attr a;
        a.ino = m_ino;
        a.mode = 0600; // an anonymous inode: no type bits, as Linux's
        a.nlink = 1;
        return a;
    }

private:
    // Adds the expirations up to `now` to the count.
    void count_locked(uint64_t now) TA_REQ(g_lock) { m_ticks = add_saturating(m_ticks, m_schedule.advance(now)); }

    // After the count went to zero or the schedule changed: scheduled iff armed with a zero
    // count. A file whose count became non-zero in poll or gettime stays scheduled until the
    // thread has woken the pollers (someone else may be waiting for the same expiry).
    void rearm_locked() TA_REQ(g_lock)
    {
        if (m_schedule.armed && m_ticks == 0)
            schedule_locked(*this, m_schedule.next);
        else
            unschedule_locked(*this);
    }

    const int m_clock;
    const uint64_t m_ino;
    Schedule m_schedule TA_GUARDED(g_lock);
    uint64_t m_ticks TA_GUARDED(g_lock) = 0; // expirations not yet read
};

// The timerfd behind descriptor `fd`; `holder` keeps it alive. BADF, or INVAL when the
// descriptor is something else.
Result<TimerFile*> timer_file_of(int fd, fs::Ref<fs::OpenFile>& holder)
{
    holder = TRY(fd_table().get(fd));
    if (holder->type_tag() != &kTimerFileTag)
        return Errno::INVAL;
    return static_cast<TimerFile*>(holder.get());
}

Result<int64_t> timerfd_create(int clock, uint32_t flags)
{
    if (!is_timer_clock(clock) || (flags & ~(kTfdNonblock | kTfdCloexec)))
        return Errno::INVAL;
    {
        ksync::MutexGuard guard(g_lock);
        TRY(start_thread_locked());
    }
    auto file = fs::make_ref<TimerFile>(clock, fs::kOpenReadWrite | ((flags & kTfdNonblock) ? fs::kOpenNonBlock : 0));
    if (file.is_error())
        return Errno::NOMEM;
    return TRY(fd_table().install(fs::Ref<fs::OpenFile>(file.value()), flags & kTfdCloexec));
}

Result<void> timerfd_settime(int fd, int flags, uint64_t new_address, uint64_t old_address)
{
    Setting s = TRY(read_itimerspec(new_address));
    if (flags & ~(kTimerAbstime | kTfdTimerCancelOnSet))
        return Errno::INVAL;
    fs::Ref<fs::OpenFile> holder;
    TimerFile* file = TRY(timer_file_of(fd, holder));
    Itimerspec old = file->set(flags & kTimerAbstime, s.value, s.interval);
    if (old_address)
        TRY(write_app(old_address, old));
    return {};
}

Result<void> timerfd_gettime(int fd, uint64_t address)
{
    fs::Ref<fs::OpenFile> holder;
    TimerFile* file = TRY(timer_file_of(fd, holder));
    return write_app(address, file->get());
}

// ---- the interval timer -----------------------------------------------------------------

// ITIMER_REAL (and alarm, which is the same timer): SIGALRM, process-directed.
class RealTimer final : public AppTimer {
public:
    void expire_locked(uint64_t now) override TA_REQ(g_lock)
    {
        if (schedule.advance(now)) {
            AppThread::PendingInfo info;
            info.code = kSiKernel;
            send_process_signal(kSigAlrm, info);
        }
        if (schedule.armed)
            schedule_locked(*this, schedule.next > now + kMinRearmNs ? schedule.next : now + kMinRearmNs);
    }

    Schedule schedule TA_GUARDED(g_lock);
};

RealTimer g_real_timer;

// What getitimer shows of it: an armed timer never shows as 0 (as on Linux, at least 1 µs).
Itimerval current_itimer_locked(uint64_t now) TA_REQ(g_lock)
{
    const Schedule& s = g_real_timer.schedule;
    if (!s.armed)
        return {};
    uint64_t left = s.remaining(now);
    return { timeval_of(s.interval), timeval_of(left < 1000 ? 1000 : left) };
}

// Sets ITIMER_REAL to `value` then every `interval` ns (value 0: disarmed) and returns the
// old setting. NOMEM (no timer thread).
Result<Itimerval> set_itimer(uint64_t value, uint64_t interval)
{
    ksync::MutexGuard guard(g_lock);
    if (value)
        TRY(start_thread_locked());
    uint64_t now = core::monotonic_ns();
    Itimerval old = current_itimer_locked(now);
    g_real_timer.schedule = schedule_for(kClockMonotonic, false, value, value ? interval : 0, now);
    if (g_real_timer.schedule.armed)
        schedule_locked(g_real_timer, g_real_timer.schedule.next);
    else
        unschedule_locked(g_real_timer);
    return old;
}

// ITIMER_VIRTUAL and ITIMER_PROF count CPU time, which the scheduler does not account per
// process as it runs: they cannot be armed (INVAL, docs/linux-abi.md), so they always read
// as disarmed and disarming them succeeds.
Result<void> setitimer(int which, uint64_t new_address, uint64_t old_address)
{
    if (which < kItimerReal || which > kItimerProf)
        return Errno::INVAL;
    Itimerval requested {};
    if (new_address) // a null value disarms, as Linux has always allowed
        requested = TRY(read_app<Itimerval>(new_address));
    uint64_t value = TRY(ns_of(requested.value));
    uint64_t interval = TRY(ns_of(requested.interval));
    Itimerval old {};
    if (which == kItimerReal)
        old = TRY(set_itimer(value, interval));
    else if (value)
        return Errno::INVAL;
    if (old_address)
        TRY(write_app(old_address, old));
    return {};
}

Result<void> getitimer(int which, uint64_t address)
{
    if (which < kItimerReal || which > kItimerProf)
        return Errno::INVAL;
    Itimerval current {};
    if (which == kItimerReal) {
        ksync::MutexGuard guard(g_lock);
        current = current_itimer_locked(core::monotonic_ns());
    }
    return write_app(address, current);
}

// alarm: the seconds left of the previous alarm, rounded to the nearest second but never
// to 0 while one is pending.
Result<int64_t> alarm(uint32_t seconds)
{
    Itimerval old = TRY(set_itimer(uint64_t(seconds) * kNsPerSec, 0));
    int64_t left = old.value.sec;
    if (old.value.usec >= 500000 || (left == 0 && old.value.usec > 0))
        ++left;
    return left;
}

// ---- POSIX timers -----------------------------------------------------------------------

// Whether the signal a timer sent is still pending on a thread (pending bit set, and the
// slot says SI_TIMER from this timer); if so and `overrun` ≥ 0, writes it into the pending
// signal's si_overrun. Runs under the registry lock (for_each_app_thread). The acquire load
// of the pending bit pairs with send_signal's release, which follows its writing the slot.
// The slot is written in place while its owner may be taking the signal (take_from copies
// the slot, then clears the bit): the fields are single aligned words written atomically,
// so the owner sees the old count or the new one, never a torn one — at worst a signal
// leaves with one expiration fewer than timer_getoverrun then reports.
struct PendingTimerSignal {
    int signo;
    int32_t timer_id;
    int32_t overrun; // < 0: only look
};

bool find_pending_timer_signal(AppThread& t, void* ctx)
{
    auto* p = static_cast<PendingTimerSignal*>(ctx);
    if (!(t.pending.load(std::memory_order_acquire) & (uint64_t(1) << (p->signo - 1))))
        return false;
    AppThread::PendingInfo& info = t.pending_info[p->signo - 1];
    if (__atomic_load_n(&info.code, __ATOMIC_RELAXED) != kSiTimer ||
        __atomic_load_n(&info.timer_id, __ATOMIC_RELAXED) != p->timer_id)
        return false;
    if (p->overrun >= 0)
        __atomic_store_n(&info.overrun, p->overrun, __ATOMIC_RELAXED);
    return true;
}

// SIGEV_THREAD_ID: sends to thread `tid` if it still exists (registry lock held, so it
// cannot exit meanwhile).
struct ThreadSignal {
    int32_t tid;
    int signo;
    const AppThread::PendingInfo* info; // nullptr: only look whether the thread exists
    bool found;
};

bool signal_thread(AppThread& t, void* ctx)
{
    auto* s = static_cast<ThreadSignal*>(ctx);
    if (t.tid != s->tid)
        return false;
    if (s->info)
        send_signal(t, s->signo, *s->info);
    s->found = true;
    return true;
}

class PosixTimer final : public AppTimer {
public:
    enum class Notify : uint8_t { None, Process, Thread };

    PosixTimer(int32_t id, int clock, Notify notify, int signo, int32_t tid, uint64_t value)
        : m_id(id), m_clock(clock), m_notify(notify), m_signo(signo), m_tid(tid), m_value(value)
    {
    }

    // timer_settime: returns the old setting.
    Itimerspec set_locked(bool absolute, uint64_t value, uint64_t interval) TA_REQ(g_lock)
    {
        uint64_t now = core::monotonic_ns();
        Itimerspec old = get_locked(now);
        m_schedule = schedule_for(m_clock, absolute, value, interval, now);
        m_signal_out = false;
        m_overrun = m_overrun_last = 0;
        // SIGEV_NONE does nothing at expiry: timer_gettime reads the schedule from the clock.
        if (m_notify != Notify::None && m_schedule.armed)
            schedule_locked(*this, m_schedule.next);
        else
            unschedule_locked(*this);
        return old;
    }

    Itimerspec get_locked(uint64_t now) const TA_REQ(g_lock)
    {
        return { timespec_of(m_schedule.interval), timespec_of(m_schedule.remaining(now)) };
    }

    // timer_getoverrun: the overrun count of the last signal taken from this timer.
    int32_t overrun_locked() TA_REQ(g_lock)
    {
        if (m_signal_out && !still_pending_locked(-1)) {
            m_overrun_last = m_overrun;
            m_signal_out = false;
        }
        return m_overrun_last;
    }

    // timer_delete.
    void cancel_locked() TA_REQ(g_lock) { unschedule_locked(*this); }

    void expire_locked(uint64_t now) override TA_REQ(g_lock)
    {
        if (uint64_t n = m_schedule.advance(now))
            notify_locked(n);
        if (m_schedule.armed)
            schedule_locked(*this, m_schedule.next > now + kMinRearmNs ? m_schedule.next : now + kMinRearmNs);
    }

private:
    bool still_pending_locked(int32_t overrun) TA_REQ(g_lock)
    {
        PendingTimerSignal p { m_signo, m_id, overrun };
        return for_each_app_thread(&find_pending_timer_signal, &p);
    }

    // `n` expirations have passed: one signal, or n more overruns for the one still pending.
    void notify_locked(uint64_t n) TA_REQ(g_lock)
    {
        if (m_signal_out) {
            int32_t grown = clamp_overrun(uint64_t(m_overrun) + n);
            if (still_pending_locked(grown)) {
                m_overrun = grown;
                return;
            }
            m_overrun_last = m_overrun; // taken since: it left with m_overrun
        }
        m_overrun = clamp_overrun(n - 1); // expirations this round beyond the one signalled
        AppThread::PendingInfo info;
        info.code = kSiTimer;
        info.timer_id = m_id;
        info.overrun = m_overrun;
        info.value = m_value;
        if (m_notify == Notify::Thread) {
            ThreadSignal s { m_tid, m_signo, &info, false };
            for_each_app_thread(&signal_thread, &s);
            m_signal_out = s.found;
        } else {
            send_process_signal(m_signo, info);
            m_signal_out = true;
        }
    }

    const int32_t m_id;
    const int m_clock;
    const Notify m_notify;
    const int m_signo;
    const int32_t m_tid;
    const uint64_t m_value; // sigev_value
    Schedule m_schedule TA_GUARDED(g_lock);
    // A signal was sent and not yet seen taken; its overrun count so far; and the count of
    // the last one taken (timer_getoverrun).
    bool m_signal_out TA_GUARDED(g_lock) = false;
    int32_t m_overrun TA_GUARDED(g_lock) = 0;
    int32_t m_overrun_last TA_GUARDED(g_lock) = 0;
};

// The process's POSIX timers by id. Ids are handed out round-robin, so a deleted timer's id
// is not reused at once (a stale id then fails with INVAL rather than reaching a new timer).
PosixTimer* g_posix_timers[kMaxPosixTimers] TA_GUARDED(g_lock) = {};
int g_next_posix_id TA_GUARDED(g_lock) = 0;

PosixTimer* posix_timer_locked(int32_t id) TA_REQ(g_lock)
{
    return id >= 0 && id < kMaxPosixTimers ? g_posix_timers[id] : nullptr;
}

Result<int64_t> timer_create(int clock, uint64_t event_address, uint64_t id_address)
{
    if (!is_timer_clock(clock))
        return Errno::INVAL;
    Sigevent ev {};
    bool default_event = event_address == 0;
    if (default_event) { // SIGALRM with the timer's id as its value
        ev.notify = kSigevSignal;
        ev.signo = kSigAlrm;
    } else {
        ev = TRY(read_app<Sigevent>(event_address));
    }
    PosixTimer::Notify notify;
    switch (ev.notify) {
    case kSigevNone:
        notify = PosixTimer::Notify::None;
        break;
    case kSigevSignal:
    case kSigevThread: // glibc runs SIGEV_THREAD on SIGEV_THREAD_ID; the raw call is a signal
        notify = PosixTimer::Notify::Process;
        break;
    case kSigevThreadId:
        notify = PosixTimer::Notify::Thread;
        break;
    default:
        return Errno::INVAL;
    }
    if (notify != PosixTimer::Notify::None && (ev.signo < 1 || ev.signo > kMaxSignal))
        return Errno::INVAL;
    if (notify == PosixTimer::Notify::Thread) {
        ThreadSignal lookup { ev.tid, 0, nullptr, false };
        for_each_app_thread(&signal_thread, &lookup);
        if (!lookup.found)
            return Errno::INVAL;
    }

    int32_t id = -1;
    {
        ksync::MutexGuard guard(g_lock);
        TRY(start_thread_locked());
        for (int i = 0; i < kMaxPosixTimers; ++i) {
            int candidate = (g_next_posix_id + i) % kMaxPosixTimers;
            if (!g_posix_timers[candidate]) {
                id = candidate;
                break;
            }
        }
        if (id < 0)
            return Errno::AGAIN;
        uint64_t value = default_event ? uint64_t(uint32_t(id)) : ev.value;
        auto* timer = new (std::nothrow) PosixTimer(id, clock, notify, ev.signo, ev.tid, value);
        if (!timer)
            return Errno::AGAIN; // Linux's answer when the timer cannot be allocated
        g_posix_timers[id] = timer;
        g_next_posix_id = (id + 1) % kMaxPosixTimers;
    }
    // Disarmed until timer_settime, so nothing fires if the id cannot be stored.
    if (auto r = write_app(id_address, id); r.is_error()) {
        PosixTimer* timer;
        {
            ksync::MutexGuard guard(g_lock);
            timer = g_posix_timers[id];
            g_posix_timers[id] = nullptr;
            if (timer)
                timer->cancel_locked();
        }
        delete timer;
        return r.error();
    }
    return 0;
}

Result<void> timer_settime(int32_t id, int flags, uint64_t new_address, uint64_t old_address)
{
    if (!new_address)
        return Errno::INVAL;
    Setting s = TRY(read_itimerspec(new_address));
    Itimerspec old;
    {
        ksync::MutexGuard guard(g_lock);
        PosixTimer* timer = posix_timer_locked(id);
        if (!timer)
            return Errno::INVAL;
        old = timer->set_locked(flags & kTimerAbstime, s.value, s.interval);
    }
    if (old_address)
        TRY(write_app(old_address, old));
    return {};
}

Result<void> timer_gettime(int32_t id, uint64_t address)
{
    Itimerspec current;
    {
        ksync::MutexGuard guard(g_lock);
        PosixTimer* timer = posix_timer_locked(id);
        if (!timer)
            return Errno::INVAL;
        current = timer->get_locked(core::monotonic_ns());
    }
    return write_app(address, current);
}

Result<int64_t> timer_getoverrun(int32_t id)
{
    ksync::MutexGuard guard(g_lock);
    PosixTimer* timer = posix_timer_locked(id);
    if (!timer)
        return Errno::INVAL;
    return timer->overrun_locked();
}

Result<void> timer_delete(int32_t id)
{
    PosixTimer* timer;
    {
        ksync::MutexGuard guard(g_lock);
        timer = posix_timer_locked(id);
        if (!timer)
            return Errno::INVAL;
        timer->cancel_locked();
        g_posix_timers[id] = nullptr;
    }
    delete timer; // out of the tree and the table: the thread can no longer reach it
    return {};
}

} // namespace

int64_t sys_timerfd_create(const Args& a) { return ret(timerfd_create(a.i(0), uint32_t(a.u(1)))); }
int64_t sys_timerfd_settime(const Args& a) { return ret(timerfd_settime(a.i(0), a.i(1), a.u(2), a.u(3))); }
int64_t sys_timerfd_gettime(const Args& a) { return ret(timerfd_gettime(a.i(0), a.u(1))); }

int64_t sys_setitimer(const Args& a) { return ret(setitimer(a.i(0), a.u(1), a.u(2))); }
int64_t sys_getitimer(const Args& a) { return ret(getitimer(a.i(0), a.u(1))); }
int64_t sys_alarm(const Args& a) { return ret(alarm(uint32_t(a.u(0)))); }

int64_t sys_timer_create(const Args& a) { return ret(timer_create(a.i(0), a.u(1), a.u(2))); }
int64_t sys_timer_settime(const Args& a) { return ret(timer_settime(a.i(0), a.i(1), a.u(2), a.u(3))); }
int64_t sys_timer_gettime(const Args& a) { return ret(timer_gettime(a.i(0), a.u(1))); }
int64_t sys_timer_getoverrun(const Args& a) { return ret(timer_getoverrun(a.i(0))); }
int64_t sys_timer_delete(const Args& a) { return ret(timer_delete(a.i(0))); }

} // namespace lx
