// Unit tests for ksync::RcuDomain: creation checks, grace periods with idle CPUs, a grace
// period held open by a CPU inside a reader section, shared grace periods, and call_rcu.
#include "../../support/watchdog.h"

#include <sync/rcu.h>
#include <sync/thread_ops.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace {

using ksync::now_ns;
using ksync::RcuDomain;
using ksync::RcuHead;
using test_support::Watchdog;

constexpr uint64_t kMs = 1'000'000;

// Storage for a domain (64-byte aligned), freed with the test.
struct Storage {
    explicit Storage(unsigned ncpus) : size(RcuDomain::storage_size(ncpus))
    {
        bytes = static_cast<unsigned char*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
    }
    ~Storage() { std::free(bytes); }
    size_t size;
    unsigned char* bytes;
};

RcuDomain* make(Storage& storage, unsigned ncpus)
{
    auto domain = RcuDomain::create(ncpus, storage.bytes, storage.size);
    EXPECT_FALSE(domain.is_error());
    return domain.value();
}

TEST(Rcu, CreateChecksItsArguments)
{
    Storage storage(4);
    EXPECT_TRUE(RcuDomain::create(0, storage.bytes, storage.size).is_error());
    EXPECT_TRUE(RcuDomain::create(ksync::kRcuMaxCpus + 1, storage.bytes, storage.size).is_error());
    EXPECT_TRUE(RcuDomain::create(4, storage.bytes, storage.size - 1).is_error());
    EXPECT_TRUE(RcuDomain::create(4, storage.bytes + 8, storage.size - 8).is_error());
    auto domain = RcuDomain::create(4, storage.bytes, storage.size);
    ASSERT_FALSE(domain.is_error());
    EXPECT_EQ(domain.value()->cpu_count(), 4u);
}

TEST(Rcu, SupportsManyCpus)
{
    Storage storage(ksync::kRcuMaxCpus);
    RcuDomain* rcu = make(storage, ksync::kRcuMaxCpus);
    for (unsigned c = 0; c < ksync::kRcuMaxCpus; c++)
        rcu->set_idle(c, c != 777);
    std::thread cpu([&] {
        // CPU 777 passes quiescent states until the grace period is over.
        while (rcu->completed() == 0) {
            rcu->quiescent(777);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    Watchdog watchdog("SupportsManyCpus", std::chrono::seconds(20));
    rcu->synchronize();
    cpu.join();
    EXPECT_GE(rcu->completed(), 1u);
}

TEST(Rcu, AllIdleCompletesAtOnce)
{
    Storage storage(4);
    RcuDomain* rcu = make(storage, 4);
    for (unsigned c = 0; c < 4; c++)
        rcu->set_idle(c, true);
    Watchdog watchdog("AllIdleCompletesAtOnce", std::chrono::seconds(10));
    rcu->synchronize();
    rcu->synchronize();
    EXPECT_EQ(rcu->completed(), 2u);
}

// A CPU inside a reader section holds the grace period open; its quiescent state ends it.
TEST(Rcu, ReaderSectionHoldsTheGracePeriod)
{
    Storage storage(3);
    RcuDomain* rcu = make(storage, 3);
    rcu->set_idle(0, true);
    rcu->set_idle(2, true);
    // CPU 1 is "in a reader section": it calls no quiescent() until we say so.
    std::atomic<bool> done{false};
    Watchdog watchdog("ReaderSectionHoldsTheGracePeriod", std::chrono::seconds(20));
    std::thread updater([&] {
        rcu->synchronize();
        done.store(true);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(done.load());
    // Another idle CPU waking up and passing quiescent states does not end it either.
    rcu->set_idle(2, false);
    rcu->quiescent(2);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(done.load());
    uint64_t start = now_ns();
    rcu->quiescent(1); // the section ends
    rcu->quiescent(2);
    updater.join();
    EXPECT_TRUE(done.load());
    EXPECT_LT(now_ns() - start, 5000 * kMs);
}

// A CPU that goes idle while a grace period waits for it releases it.
TEST(Rcu, GoingIdleIsAQuiescentState)
{
    Storage storage(2);
    RcuDomain* rcu = make(storage, 2);
    rcu->set_idle(0, true);
    Watchdog watchdog("GoingIdleIsAQuiescentState", std::chrono::seconds(20));
    std::thread updater([&] { rcu->synchronize(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rcu->set_idle(1, true);
    updater.join();
}

// Concurrent synchronize() callers share grace periods.
TEST(Rcu, ConcurrentCallersShareGracePeriods)
{
    constexpr int kCallers = 8;
    Storage storage(2);
    RcuDomain* rcu = make(storage, 2);
    rcu->set_idle(0, true);
    std::atomic<int> done{0};
    Watchdog watchdog("ConcurrentCallersShareGracePeriods", std::chrono::seconds(20));
    std::vector<std::thread> callers;
    for (int i = 0; i < kCallers; i++)
        callers.emplace_back([&] {
            rcu->synchronize();
            done.fetch_add(1);
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(100)); // all waiting on CPU 1
    EXPECT_EQ(done.load(), 0);
    while (done.load() != kCallers) {
        rcu->quiescent(1);
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    for (std::thread& t : callers)
        t.join();
    // Each needed at most two grace periods of its own; shared, far fewer than 2 per caller.
    EXPECT_LE(rcu->completed(), 3u);
}

struct Node {
    RcuHead rcu;
    std::atomic<int>* freed;
};

void free_node(RcuHead* head)
{
    Node* node = reinterpret_cast<Node*>(reinterpret_cast<char*>(head) - offsetof(Node, rcu));
    node->freed->fetch_add(1);
    delete node;
}

TEST(Rcu, CallRcuRunsAfterTheGracePeriod)
{
    Storage storage(2);
    RcuDomain* rcu = make(storage, 2);
    rcu->set_idle(0, true);
    std::atomic<int> freed{0};
    for (int i = 0; i < 3; i++)
        rcu->call_rcu(&(new Node{{}, &freed})->rcu, free_node);
    EXPECT_EQ(rcu->poll(), 0u); // starts a grace period; CPU 1 has not passed a QS
    EXPECT_EQ(freed.load(), 0);
    EXPECT_FALSE(rcu->wait_for_callbacks(now_ns() + 20 * kMs)); // GP running: no work
    rcu->quiescent(1);
    EXPECT_TRUE(rcu->wait_for_callbacks(now_ns() + 5000 * kMs));
    EXPECT_EQ(rcu->poll(), 3u);
    EXPECT_EQ(freed.load(), 3);
    EXPECT_EQ(rcu->poll(), 0u);
}

TEST(Rcu, HousekeepingThreadRunsCallbacks)
{
    Storage storage(2);
    RcuDomain* rcu = make(storage, 2);
    std::atomic<int> freed{0};
    std::atomic<bool> stop{false};
    Watchdog watchdog("HousekeepingThreadRunsCallbacks", std::chrono::seconds(20));
    std::thread housekeeping([&] {
        while (!stop.load()) {
            rcu->poll();
            rcu->wait_for_callbacks(now_ns() + 10 * kMs);
        }
    });
    std::thread cpus([&] {
        while (!stop.load()) {
            rcu->quiescent(0);
            rcu->quiescent(1);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    for (int i = 0; i < 10; i++)
        rcu->call_rcu(&(new Node{{}, &freed})->rcu, free_node);
    while (freed.load() != 10)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    stop.store(true);
    housekeeping.join();
    cpus.join();
}

} // namespace
