// Unit tests for the host binding's timed parking (thread_ops.h): now_ns() and the exact
// park_current_until() contract the kernel binding must also meet.
#include "../../support/watchdog.h"

#include <sync/host_thread_ops.h>
#include <sync/thread_ops.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

using ksync::now_ns;
using ksync::park_current_until;

constexpr uint64_t kMs = 1'000'000;

// Leaves no token stored on the calling thread (so tests do not leak into each other).
void drain_token()
{
    ksync::unpark(ksync::current_thread());
    ksync::park_current();
}

TEST(ThreadOps, NowIsMonotonic)
{
    uint64_t a = now_ns();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    uint64_t b = now_ns();
    EXPECT_GE(b - a, 2 * kMs);
}

TEST(ThreadOps, PastDeadlineReturnsFalseAtOnceAndKeepsTheToken)
{
    drain_token();
    ksync::unpark(ksync::current_thread()); // a stored token
    uint64_t sleeps = ksync::host::sleep_count();
    EXPECT_FALSE(park_current_until(0));
    EXPECT_FALSE(park_current_until(now_ns() - 1));
    EXPECT_EQ(ksync::host::sleep_count(), sleeps);
    // The token is still there: an untimed park returns at once.
    test_support::Watchdog watchdog("PastDeadlineKeepsToken", std::chrono::seconds(10));
    ksync::park_current();
}

TEST(ThreadOps, TimesOutAfterTheDeadline)
{
    drain_token();
    uint64_t start = now_ns();
    uint64_t deadline = start + 30 * kMs;
    bool woken = park_current_until(deadline);
    uint64_t end = now_ns();
    // No token: false, not before the deadline, and not absurdly late.
    EXPECT_FALSE(woken);
    EXPECT_GE(end, deadline);
    EXPECT_LT(end - start, 2000 * kMs);
}

TEST(ThreadOps, StoredTokenReturnsTrueAtOnce)
{
    drain_token();
    ksync::unpark(ksync::current_thread());
    uint64_t start = now_ns();
    EXPECT_TRUE(park_current_until(start + 5000 * kMs));
    EXPECT_LT(now_ns() - start, 1000 * kMs);
}

TEST(ThreadOps, UnparkWakesATimedPark)
{
    drain_token();
    ksync::Thread* self = ksync::current_thread();
    std::thread waker([self] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        ksync::unpark(self);
    });
    uint64_t start = now_ns();
    bool woken = false;
    // Loop: a spurious return (true, no token) is allowed by the contract.
    while (!woken && now_ns() - start < 5000 * kMs)
        woken = park_current_until(start + 5000 * kMs) && now_ns() - start >= 15 * kMs;
    waker.join();
    EXPECT_TRUE(woken);
    EXPECT_LT(now_ns() - start, 2000 * kMs);
}

// A token that arrives after a park timed out is kept for the next park, never lost.
TEST(ThreadOps, TokenAfterTimeoutIsNotLost)
{
    drain_token();
    EXPECT_FALSE(park_current_until(now_ns() + 5 * kMs));
    ksync::unpark(ksync::current_thread());
    uint64_t start = now_ns();
    EXPECT_TRUE(park_current_until(start + 5000 * kMs));
    EXPECT_LT(now_ns() - start, 1000 * kMs);
}

TEST(ThreadOps, NoDeadlineIsPark)
{
    drain_token();
    ksync::unpark(ksync::current_thread());
    EXPECT_TRUE(park_current_until(ksync::kNoDeadline));
}

} // namespace
