// The net-channel receive path under ThreadSanitizer: a "receive thread" classifies frames
// into a stack's connection channels without the stack's lock (inside simulated RCU read
// sections), notifies and lets go of the channels at each burst's end, and hands the rest to
// the ordinary path under the lock; meanwhile the "application" under the lock reads the
// connections (processing their channels), and aborts and reconnects them, so channels are
// unlinked, their listeners detached and their memory retired through RCU while the receive
// thread may still stand on them.
#include "../../unit/net/net_test_support.h"

#include <net/channel/channel.h>
#include <net/tcp/tcp.h>
#include <sync/rcu.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>
#include <vector>

namespace {

using namespace nettest;
using net::Channel;
using net::tcp::Endpoint;
using net::tcp::MemoryBuffer;
using net::tcp::Tcp;

uint64_t now_ns()
{
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

TEST(ClassifyTsan, ReceiveThreadAgainstReadersAndTeardown)
{
    // Two simulated CPUs: 0 the receive thread (the only reader), 1 idle throughout.
    size_t size = ksync::RcuDomain::storage_size(2);
    void* storage = std::aligned_alloc(64, (size + 63) / 64 * 64);
    ksync::RcuDomain* rcu = ksync::RcuDomain::create(2, storage, size).value();
    rcu->set_idle(1, true);

    Host a(2, 11), b(3, 22);
    std::mutex stack_lock; // b's network context
    std::atomic<uint64_t> retired{ 0 };
    struct Retire {
        ksync::RcuDomain* rcu;
        std::atomic<uint64_t>* retired;
    } retire{ rcu, &retired };
    b.stack.tcp().set_channel_retire(
        [](Channel* channel, void* context) {
            auto* r = static_cast<Retire*>(context);
            r->retired->fetch_add(1, std::memory_order_relaxed);
            r->rcu->call_rcu(&channel->rcu_head(), [](ksync::RcuHead* head) { delete Channel::from_rcu_head(head); });
        },
        &retire);

    constexpr int kConnections = 4;
    EventCounter events[kConnections], listener_events;
    Endpoint* listener = b.stack.tcp().open(listener_events).value();
    ASSERT_FALSE(b.stack.tcp().bind(*listener, { {}, 7000 }).is_error());
    ASSERT_FALSE(b.stack.tcp().listen(*listener, 16).is_error());
    Endpoint* clients[kConnections] = {};
    Endpoint* conns[kConnections] = {};
    EventCounter client_events;
    std::vector<Bytes> frames; // data segments from a to b, replayed by the receive thread

    // Under stack_lock (and the only user of a): (re)connects pair i, remembers one data frame.
    auto connect = [&](int i) {
        if (conns[i])
            b.stack.tcp().release(*conns[i], true);
        if (clients[i])
            a.stack.tcp().release(*clients[i], true);
        clients[i] = a.stack.tcp().open(client_events).value();
        a.stack.tcp().set_reuse(*clients[i], true, false);
        ASSERT_FALSE(a.stack.tcp().bind(*clients[i], { ip(10, 0, 0, 2), uint16_t(40000 + i) }).is_error());
        ASSERT_FALSE(a.stack.tcp().connect(*clients[i], { ip(10, 0, 0, 3), 7000 }).is_error());
        pump(a, b);
        auto accepted = b.stack.tcp().accept(*listener, events[i]);
        ASSERT_FALSE(accepted.is_error());
        conns[i] = accepted.value();
        MemoryBuffer text(reinterpret_cast<const uint8_t*>("ping"), 4);
        ASSERT_FALSE(a.stack.tcp().write(*clients[i], text, 0, 4).is_error());
        Bytes f = a.eth.pop();
        ASSERT_FALSE(f.empty());
        if (frames.size() < size_t(kConnections))
            frames.push_back(f);
        else
            frames[size_t(i)] = f;
        a.eth.frames.clear();
        b.eth.frames.clear();
    };
    {
        std::lock_guard guard(stack_lock);
        for (int i = 0; i < kConnections; i++)
            connect(i);
    }
    std::vector<Bytes> replay;
    {
        std::lock_guard guard(stack_lock);
        replay = frames; // the receive thread's own copy: frames[] changes under the lock
    }

    std::atomic<bool> stop{ false };
    std::atomic<uint64_t> queued{ 0 }, ordinary{ 0 };
    std::thread housekeeping([&] {
        while (!stop.load(std::memory_order_acquire)) {
            rcu->poll();
            rcu->wait_for_callbacks(now_ns() + 2'000'000);
        }
    });
    std::thread receive([&] {
        uint64_t burst = 0;
        while (!stop.load(std::memory_order_acquire)) {
            burst++;
            std::vector<Channel*> touched;
            std::vector<net::Packet> rest;
            for (int k = 0; k < 8; k++) {
                net::Packet p = make_packet(replay[size_t(burst + k) % replay.size()]);
                bool was_empty = false;
                Channel* c = b.stack.classify(b.eth, p, { &b.eth, burst }, was_empty); // no lock: a reader section
                rcu->quiescent(0); // the section ends
                if (c) {
                    touched.push_back(c);
                    queued.fetch_add(1, std::memory_order_relaxed);
                } else {
                    rest.push_back(std::move(p));
                }
            }
            for (Channel* c : touched)
                c->notify();
            for (Channel* c : touched)
                c->unref();
            std::lock_guard guard(stack_lock);
            for (net::Packet& p : rest) {
                ordinary.fetch_add(1, std::memory_order_relaxed);
                b.stack.input(b.eth, std::move(p));
            }
            b.eth.frames.clear();
        }
        rcu->set_idle(0, true);
    });

    // The application: reads (processing channels), sweeps, and tears connections down.
    uint64_t deadline = now_ns() + 3'000'000'000ull;
    int reconnects = 0;
    for (int round = 0; round < 4000 && now_ns() < deadline; round++) {
        std::lock_guard guard(stack_lock);
        int i = round % kConnections;
        uint8_t buffer[4096];
        MemoryBuffer out(buffer, sizeof buffer);
        (void)b.stack.tcp().status(*conns[i]);
        (void)b.stack.tcp().read(*conns[i], out, 0, sizeof buffer, false);
        if (round % 16 == 3)
            b.stack.tcp().drain_channels();
        if (round % 32 == 7) {
            connect(i);
            reconnects++;
        }
        b.eth.frames.clear();
    }
    stop.store(true, std::memory_order_release);
    receive.join();
    housekeeping.join();
    {
        std::lock_guard guard(stack_lock);
        for (int i = 0; i < kConnections; i++) {
            b.stack.tcp().release(*conns[i], true);
            a.stack.tcp().release(*clients[i], true);
        }
        b.stack.tcp().release(*listener);
    }
    rcu->synchronize();
    while (rcu->poll() > 0) {
    }
    EXPECT_GT(queued.load(), 0u);
    EXPECT_GT(reconnects, 0);
    EXPECT_GE(retired.load(), uint64_t(reconnects)); // every replaced connection's channel
    net::ChannelStats& stats = b.stack.tcp().channel_stats();
    EXPECT_EQ(stats.queued.load(), queued.load());
    EXPECT_LE(stats.consumed.load(), stats.queued.load()); // the rest were dropped at unlink
    std::free(storage);
}

} // namespace
