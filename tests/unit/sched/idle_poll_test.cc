// Unit tests for the idle loop's adaptive polling window (sched/idle_poll.h).
#include <sched/idle_poll.h>

#include <gtest/gtest.h>

namespace {

using namespace sched;

// Short halts that posted wake-ups ended double the window, up to the maximum.
TEST(IdlePoll, PostedWakeUpsGrowTheWindowToItsBound)
{
    uint64_t w = kIdlePollStartNs;
    w = next_idle_poll_ns(w, 50'000, true);
    EXPECT_EQ(w, 2 * kIdlePollStartNs);
    for (int i = 0; i < 20; i++)
        w = next_idle_poll_ns(w, 50'000, true);
    EXPECT_EQ(w, kIdlePollMaxNs);
}

// A device or timer interrupt ends a halt no later than polling would: however short the
// halt, the window shrinks (the 2-vCPU ping-pong whose wake-ups all came from the local NIC).
TEST(IdlePoll, ShortHaltsEndedByOtherInterruptsShrinkTheWindow)
{
    uint64_t w = kIdlePollMaxNs;
    w = next_idle_poll_ns(w, 1'000, false);
    EXPECT_EQ(w, kIdlePollMaxNs / 2);
    for (int i = 0; i < 20; i++)
        w = next_idle_poll_ns(w, 1'000, false);
    EXPECT_EQ(w, kIdlePollMinNs);
}

// A long halt shrinks it even when a posted wake-up ended it: polling would not have lasted.
TEST(IdlePoll, LongHaltsShrinkTheWindow)
{
    EXPECT_EQ(next_idle_poll_ns(80'000, kIdlePollGrowNs, true), 40'000u);
    EXPECT_EQ(next_idle_poll_ns(80'000, kIdlePollGrowNs - 1, true), 160'000u);
    EXPECT_EQ(next_idle_poll_ns(kIdlePollMinNs, 10 * kIdlePollGrowNs, false), kIdlePollMinNs);
}

} // namespace
