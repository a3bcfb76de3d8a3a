// Clocks and sleeping. Monotonic time is the kernel's clock (kvmclock or the TSC); the wall
// clock is boot-time wall clock plus monotonic time. TODO(#4): these also go in the vDSO.
#include <core/clock.h>
#include <core/thread.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

struct Timespec {
    int64_t sec;
    int64_t nsec;
};
struct Timeval {
    int64_t sec;
    int64_t usec;
};

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
        // TODO(#4): the sum over the application's threads; the caller's is a lower bound.
        return core::current_thread()->runtime_ns();
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

// nanosleep's remainder for an interrupted sleep.
int64_t interrupted(uint64_t rem_address, uint64_t deadline)
{
    if (rem_address) {
        uint64_t now = core::monotonic_ns();
        if (auto r = write_app(rem_address, to_timespec(deadline > now ? deadline - now : 0)); r.is_error())
            return err(r.error());
    }
    return err(Errno::INTR);
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
        if (auto r = write_app(a.u(0), Timeval { int64_t(ns / 1000000000), int64_t(ns % 1000000000 / 1000) }); r.is_error())
            return err(r.error());
    }
    if (a.u(1)) // the obsolete timezone: UTC
        return ret(write_app(a.u(1), uint64_t(0)));
    return 0;
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
    return sleep_until(deadline) ? 0 : interrupted(a.u(1), deadline);
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
    if (sleep_until(deadline))
        return 0;
    return (a.i(1) & kTimerAbstime) ? err(Errno::INTR) : interrupted(a.u(3), deadline);
}

} // namespace lx
