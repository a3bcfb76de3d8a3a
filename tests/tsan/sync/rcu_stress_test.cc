// ThreadSanitizer stress tests for ksync::RcuDomain: simulated CPUs run reader sections that
// read an RCU-protected object's plain fields, while updaters replace it and free the old one
// after synchronize() or call_rcu(). Freeing too early is a data race on the poisoned fields
// (TSan) or a use-after-free; CPUs also drop into and out of idle.
#include "stress_support.h"

#include <sync/rcu.h>
#include <sync/thread_ops.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>

namespace {

using ksync::now_ns;
using ksync::RcuDomain;
using ksync::RcuHead;
using sync_stress::Rng;
using sync_stress::run_threads;
using sync_stress::Watchdog;

constexpr uint64_t kMagic = 0x5eed'cafe'f00d'beefull;
constexpr uint64_t kMs = 1'000'000;

struct Object {
    RcuHead rcu;
    uint64_t magic = kMagic; // plain: written at creation and by the poisoner only
    uint64_t value = 0;
    uint64_t check = 0; // value ^ kMagic
};

Object* make_object(uint64_t value)
{
    auto* o = new Object;
    o->value = value;
    o->check = value ^ kMagic;
    return o;
}

void poison_and_free(Object* o)
{
    o->magic = 0; // a reader still inside would race with this (TSan) or see it
    o->check = 0;
    delete o;
}

void free_callback(RcuHead* head)
{
    poison_and_free(reinterpret_cast<Object*>(reinterpret_cast<char*>(head) - offsetof(Object, rcu)));
}

struct Domain {
    explicit Domain(unsigned ncpus)
    {
        size_t size = RcuDomain::storage_size(ncpus);
        storage = static_cast<unsigned char*>(std::aligned_alloc(64, (size + 63) / 64 * 64));
        rcu = RcuDomain::create(ncpus, storage, size).value();
    }
    ~Domain() { std::free(storage); }
    unsigned char* storage;
    RcuDomain* rcu;
};

// `cpus` simulated CPUs read; `sync_writers` replace + synchronize + free; `cb_writers`
// replace + call_rcu; one housekeeping thread polls.
void readers_and_updaters(unsigned cpus, int sync_writers, int cb_writers, int updates_each)
{
    Domain d(cpus);
    RcuDomain* rcu = d.rcu;
    std::atomic<Object*> current{make_object(0)};
    std::atomic<int> writers_left{sync_writers + cb_writers};
    std::atomic<bool> stop_housekeeping{false};
    std::atomic<int64_t> sections{0}, idles{0};
    Watchdog watchdog("Rcu readers_and_updaters", std::chrono::seconds(90));
    std::thread housekeeping([&] {
        while (!stop_housekeeping.load(std::memory_order_relaxed)) {
            rcu->poll();
            rcu->wait_for_callbacks(now_ns() + 5 * kMs);
        }
    });
    run_threads(int(cpus) + sync_writers + cb_writers, [&](int t) {
        Rng rng(t + 11);
        if (t < int(cpus)) {
            unsigned cpu = unsigned(t);
            while (writers_left.load(std::memory_order_relaxed) > 0) {
                // One reader section: a few reads of the current object.
                for (int k = 0; k < 4; k++) {
                    Object* o = ksync::rcu_read(current);
                    EXPECT_EQ(o->magic, kMagic);
                    EXPECT_EQ(o->value ^ kMagic, o->check);
                }
                sections.fetch_add(1, std::memory_order_relaxed);
                uint32_t r = rng.next();
                if (r % 64 == 0) {
                    rcu->set_idle(cpu, true); // halt for a moment
                    idles.fetch_add(1, std::memory_order_relaxed);
                    std::this_thread::sleep_for(std::chrono::microseconds(r % 500));
                    rcu->set_idle(cpu, false);
                } else {
                    rcu->quiescent(cpu); // a context switch
                    if (r % 8 == 1)
                        std::this_thread::yield();
                }
            }
            rcu->set_idle(cpu, true); // this CPU is done: idle for good
            return;
        }
        bool use_callbacks = t >= int(cpus) + sync_writers;
        for (int i = 1; i <= updates_each; i++) {
            Object* fresh = make_object(uint64_t(t) << 32 | uint64_t(i));
            Object* old = current.exchange(fresh, std::memory_order_acq_rel); // publish (release)
            if (use_callbacks) {
                rcu->call_rcu(&old->rcu, free_callback);
            } else {
                rcu->synchronize();
                poison_and_free(old);
            }
        }
        writers_left.fetch_sub(1, std::memory_order_relaxed);
    });
    // Everything queued must still run.
    while (rcu->poll() > 0 || rcu->wait_for_callbacks(now_ns() + 20 * kMs)) {
    }
    stop_housekeeping.store(true);
    housekeeping.join();
    rcu->synchronize();
    while (rcu->poll() > 0) {
    }
    delete current.load();
    std::printf("[Rcu] %u cpus: %lld reader sections, %lld idle periods, %llu grace periods\n",
                cpus, (long long)sections.load(), (long long)idles.load(),
                (unsigned long long)rcu->completed());
}

TEST(RcuStress, SynchronizeAndCallRcu)
{
    readers_and_updaters(6, 3, 2, 2'000);
}

TEST(RcuStress, ManyCpusMostlyIdle)
{
    // 200 CPUs in the domain, 4 of them running: the rest stay idle (never started).
    Domain d(200);
    RcuDomain* rcu = d.rcu;
    for (unsigned c = 4; c < 200; c++)
        rcu->set_idle(c, true);
    std::atomic<Object*> current{make_object(0)};
    std::atomic<bool> done{false};
    Watchdog watchdog("Rcu ManyCpusMostlyIdle", std::chrono::seconds(60));
    run_threads(4 + 4, [&](int t) {
        if (t < 4) {
            while (!done.load(std::memory_order_relaxed)) {
                Object* o = ksync::rcu_read(current);
                EXPECT_EQ(o->magic, kMagic);
                rcu->quiescent(unsigned(t));
            }
            rcu->set_idle(unsigned(t), true);
            return;
        }
        for (int i = 0; i < 200; i++) {
            Object* old = current.exchange(make_object(uint64_t(i)), std::memory_order_acq_rel);
            rcu->synchronize();
            poison_and_free(old);
        }
        if (t == 4 + 3)
            done.store(true);
    });
    delete current.load();
}

} // namespace
