// Clocks and sleeping. Monotonic time is the kernel's clock (kvmclock or the TSC); the wall
// clock is boot-time wall clock plus monotonic time. TODO(#4): these also go in the vDSO.
//
// A sleep cut short by a signal is never restarted after a handler ran: EINTR, with the time
// that remained for a relative sleep. If no handler runs, a relative sleep goes on through
// restart_syscall until the same deadline, and an absolute one simply runs again (signal.h).
#include <core/clock.h>
#include <core/thread.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <time/linux_time.h>

namespace lx {
namespace {

using clk::Timespec;
using clk::Timeval;

constexpr int kClockRealtime = 0;
constexpr int kClockMonotonic = 1;
constexpr int kClockProcessCputime = 2;
constexpr int kClockThreadCputime = 3;
constexpr int kClockMonotonicRaw = 4;
constexpr int kClockRealtimeCoarse = 5;
constexpr int kClockMonotonicCoarse = 6;
constexpr int kClockBoottime = 7;
constexpr int kClockRealtimeAlarm = 8;
constexpr int kClockBoottimeAlarm = 9;
constexpr int kClockTai = 11;
constexpr int kTimerAbstime = 1;

Timespec to_timespec(uint64_t ns) { return Timespec { int64_t(ns / 1000000000), int64_t(ns % 1000000000) }; }

// The application's CPU time: the sum over its live threads. TODO(#4): threads that exited
// are not counted (their time should be added up when they go).
uint64_t process_cpu_ns()
{
    uint64_t sum = 0;
    for_each_app_thread(
        [](AppThread& t, void* ctx) {
            if (t.thread)
                *static_cast<uint64_t*>(ctx) += t.thread->runtime_ns();
            return false;
        },
        &sum);
    return sum;
}

Timeval to_timeval(uint64_t ns)
{
    return Timeval { int64_t(ns / 1000000000), int64_t(ns % 1000000000 / 1000) };
}

Result<uint64_t> clock_now(int clock)
{
    switch (clock) {
    case kClockRealtime:
    case kClockRealtimeCoarse:
    case kClockRealtimeAlarm:
    case kClockTai:
        return core::realtime_ns();
    case kClockMonotonic:
    case kClockMonotonicRaw:
    case kClockMonotonicCoarse:
    case kClockBoottime:
    case kClockBoottimeAlarm:
        return core::monotonic_ns();
    case kClockThreadCputime:
        return core::current_thread()->runtime_ns();
    case kClockProcessCputime:
        return process_cpu_ns();
    default:
        return Errno::INVAL;
    }
}

bool valid(const Timespec& t) { return t.sec >= 0 && t.nsec >= 0 && t.nsec < 1000000000; }

// Sleeps until monotonic `deadline`; false if a signal cut it short (EINTR).
bool sleep_until(uint64_t deadline)
{
    while (core::monotonic_ns() < deadline) {
        if (signal_pending())
            return false;
        core::park_current_thread_until(deadline);
    }
    return true;
}

int64_t sleep_relative(uint64_t deadline, uint64_t rem_address);

// A relative sleep interrupted with no handler to run: restart_syscall sleeps on (arg: rem).
int64_t restart_sleep(const AppThread::RestartBlock& b) { return sleep_relative(b.deadline, b.arg[0]); }

// nanosleep and relative clock_nanosleep: until monotonic `deadline`; if a signal cuts it
// short, the remainder goes to `rem_address` (0: nowhere) and the call is restartable.
int64_t sleep_relative(uint64_t deadline, uint64_t rem_address)
{
    if (sleep_until(deadline))
        return 0;
    if (rem_address) {
        uint64_t now = core::monotonic_ns();
        if (auto r = write_app(rem_address, to_timespec(deadline > now ? deadline - now : 0)); r.is_error())
            return err(r.error());
    }
    return restart_later(&restart_sleep, deadline, rem_address);
}

uint64_t to_ns_saturating(const Timespec& t)
{
    constexpr uint64_t kMaxSec = ~uint64_t(0) / 1000000000 - 1;
    if (uint64_t(t.sec) >= kMaxSec)
        return ~uint64_t(0);
    return uint64_t(t.sec) * 1000000000 + uint64_t(t.nsec);
}

} // namespace

int64_t sys_clock_gettime(const Args& a)
{
    auto now = clock_now(a.i(0));
    if (now.is_error())
        return err(now.error());
    return ret(write_app(a.u(1), to_timespec(now.value())));
}

int64_t sys_clock_getres(const Args& a)
{
    if (clock_now(a.i(0)).is_error())
        return err(Errno::INVAL);
    if (!a.u(1))
        return 0;
    return ret(write_app(a.u(1), Timespec { 0, 1 }));
}

int64_t sys_gettimeofday(const Args& a)
{
    if (a.u(0)) {
        uint64_t ns = core::realtime_ns();
        if (auto r = write_app(a.u(0), to_timeval(ns)); r.is_error())
            return err(r.error());
    }
    if (a.u(1)) // the obsolete timezone: UTC
        return ret(write_app(a.u(1), uint64_t(0)));
    return 0;
}

// struct rusage: user and system time, then 14 counters (maxrss, page faults, context
// switches ...) that are 0 here. Everything runs in ring 0 in one address space, so all of
// a thread's time is reported as user time.
struct Rusage {
    Timeval utime;
    Timeval stime;
    int64_t counters[14];
};
static_assert(sizeof(Rusage) == 144);

int64_t sys_getrusage(const Args& a)
{
    constexpr int kRusageSelf = 0, kRusageChildren = -1, kRusageThread = 1;
    Rusage usage {};
    switch (a.i(0)) {
    case kRusageSelf:
        usage.utime = to_timeval(process_cpu_ns());
        break;
    case kRusageThread:
        usage.utime = to_timeval(core::current_thread()->runtime_ns());
        break;
    case kRusageChildren:
        break; // no child processes in a unikernel
    default:
        return err(Errno::INVAL);
    }
    return ret(write_app(a.u(1), usage));
}

// times(2): CPU time in clock ticks (USER_HZ, 100) and the ticks since boot.
int64_t sys_times(const Args& a)
{
    constexpr uint64_t kNsPerTick = 10'000'000;
    if (a.u(0)) {
        int64_t tms[4] = { int64_t(process_cpu_ns() / kNsPerTick), 0, 0, 0 };
        if (auto r = write_app(a.u(0), tms); r.is_error())
            return err(r.error());
    }
    return int64_t(core::monotonic_ns() / kNsPerTick);
}

int64_t sys_time(const Args& a)
{
    int64_t sec = int64_t(core::realtime_ns() / 1000000000);
    if (a.u(0) && write_app(a.u(0), sec).is_error())
        return err(Errno::FAULT);
    return sec;
}

int64_t sys_nanosleep(const Args& a)
{
    auto req = read_app<Timespec>(a.u(0));
    if (req.is_error())
        return err(req.error());
    if (!valid(req.value()))
        return err(Errno::INVAL);
    uint64_t now = core::monotonic_ns();
    uint64_t ns = to_ns_saturating(req.value());
    uint64_t deadline = ns > ~uint64_t(0) - now ? ~uint64_t(0) : now + ns;
    return sleep_relative(deadline, a.u(1));
}

int64_t sys_clock_nanosleep(const Args& a)
{
    int clock = a.i(0);
    if (clock == kClockThreadCputime)
        return err(Errno::INVAL);
    auto now = clock_now(clock);
    if (now.is_error())
        return err(Errno::INVAL);
    auto req = read_app<Timespec>(a.u(2));
    if (req.is_error())
        return err(req.error());
    if (!valid(req.value()))
        return err(Errno::INVAL);
    uint64_t ns = to_ns_saturating(req.value());
    uint64_t mono = core::monotonic_ns();
    uint64_t delay;
    if (a.i(1) & kTimerAbstime)
        delay = ns > now.value() ? ns - now.value() : 0;
    else
        delay = ns;
    uint64_t deadline = delay > ~uint64_t(0) - mono ? ~uint64_t(0) : mono + delay;
    if (!(a.i(1) & kTimerAbstime))
        return sleep_relative(deadline, a.u(3));
    // An absolute sleep runs again with the same arguments if no handler runs.
    return sleep_until(deadline) ? 0 : err(kRestartNoHand);
}

} // namespace lx
