// How long an idle CPU polls its wake-up queues before it halts: the adaptive window of the
// idle loop (kernel/core/thread.cc), kept here as a pure function so the host can test it.
//
// A wake-up another CPU posts while this one polls needs no IPI and no exit from halt — under
// a hypervisor both cost tens of microseconds, under TCG up to a hundred. So a halt that a
// posted wake-up (a reschedule IPI) ended soon after it began says wake-ups come in quick
// succession: double the window, up to kIdlePollMaxNs. In the spirit of Linux's haltpoll, but
// with two differences measured under TCG:
// - "Soon" is kIdlePollGrowNs, well above the window: the halt's length includes the
//   hypervisor's wake-up latency, and comparing with the window itself (as haltpoll does)
//   mistakes a slow wake-up for a long idle period and shrinks the window exactly when polling
//   would pay.
// - Only a posted wake-up grows it. A device or timer interrupt ends a halt no later than a
//   poll would have noticed it, so a halt that anything else ended — however short — shrinks
//   the window. Growing on every short halt let a CPU whose wake-ups all came from its own
//   NIC's interrupts poll 200 us after every request of a 1-byte ping-pong, burning the host
//   CPU that QEMU's network back-end needed: 2-vCPU round trips took 2.5x one vCPU's.
// Polling burns the host CPU the vCPU runs on, hence the bounds.
#pragma once

#include <stdint.h>

namespace sched {

inline constexpr uint64_t kIdlePollMinNs = 5'000;
inline constexpr uint64_t kIdlePollStartNs = 20'000;
inline constexpr uint64_t kIdlePollMaxNs = 200'000;
inline constexpr uint64_t kIdlePollGrowNs = 1'000'000;

// The window after a halt of `halted_ns` (from the halt until the idle loop ran again) that
// a posted wake-up ended (`posted`) or not.
constexpr uint64_t next_idle_poll_ns(uint64_t window_ns, uint64_t halted_ns, bool posted)
{
    if (posted && halted_ns < kIdlePollGrowNs)
        return window_ns * 2 < kIdlePollMaxNs ? window_ns * 2 : kIdlePollMaxNs;
    return window_ns / 2 > kIdlePollMinNs ? window_ns / 2 : kIdlePollMinNs;
}

} // namespace sched
