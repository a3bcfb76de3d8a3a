// The timestamp clock hook.
#include <fs/clock.h>

#include <atomic>

namespace fs {

namespace {

Timespec epoch_clock() { return {}; }

constinit std::atomic<ClockFn> g_clock{nullptr};

} // namespace

void set_clock(ClockFn fn)
{
    g_clock.store(fn, std::memory_order_relaxed); // relaxed: see clock.h
}

Timespec now()
{
    ClockFn fn = g_clock.load(std::memory_order_relaxed); // relaxed: see clock.h
    return fn ? fn() : epoch_clock();
}

} // namespace fs
