// ThreadSanitizer stress tests of the cross-CPU wake-up queues: host threads play CPUs.
// Consumers drain only when signalled — by an "IPI" (a counter the poster bumps when post()
// says send_ipi) or while they poll — so a post that wrongly reports "no IPI needed" shows up
// as a lost item (a bounded wait fails instead of hanging). Every item is checked to arrive
// exactly once. CPU ids above 64 (and above 128) are used throughout.
#include <sched/wakeup_queue.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <gtest/gtest.h>
#include <memory>
#include <random>
#include <thread>
#include <vector>

namespace {

using sched::PostResult;
using sched::WakeupItem;
using sched::WakeupQueues;
using Clock = std::chrono::steady_clock;

struct Item : WakeupItem {
    uint32_t id = 0;
    std::atomic<uint32_t> deliveries{0};
    std::atomic<uint32_t> hops_left{0};
};

struct Storage {
    explicit Storage(unsigned ncpus)
        : size(WakeupQueues::storage_size(ncpus)), mem(static_cast<char*>(std::aligned_alloc(64, (size + 63) / 64 * 64)))
    {
    }
    ~Storage() { std::free(mem); }
    size_t size;
    char* mem;
};

// The simulated interrupt controller: one pending-IPI counter per CPU.
struct Ipis {
    explicit Ipis(unsigned n) : count(new std::atomic<uint64_t>[n]) {
        for (unsigned i = 0; i < n; i++)
            count[i].store(0, std::memory_order_relaxed);
    }
    void send(unsigned target)
    {
        // pairs with the acquire load in the target's loop: the drain happens after the post
        count[target].fetch_add(1, std::memory_order_release);
        sent.fetch_add(1, std::memory_order_relaxed);
    }
    std::unique_ptr<std::atomic<uint64_t>[]> count;
    std::atomic<uint64_t> sent{0};
};

// One target CPU's idle/IRQ loop. Drains only (a) after observing a new IPI or (b) while in
// its polling phase; exits when `finished()` and no IPI is outstanding.
template<typename OnItem, typename Finished>
void target_loop(WakeupQueues& q, Ipis& ipis, unsigned cpu, OnItem on_item, Finished finished,
                 Clock::time_point deadline, std::atomic<bool>& timed_out)
{
    uint64_t handled = 0;
    std::mt19937 rng(cpu);
    for (;;) {
        if (rng() % 4 == 0) {
            // Idle: poll a little, then stop polling; drain instead of halting if needed.
            q.start_polling(cpu);
            for (int i = 0; i < 50; i++) {
                if (q.has_pending(cpu))
                    q.drain(cpu, on_item);
                std::this_thread::yield();
            }
            if (q.stop_polling(cpu)) {
                q.drain(cpu, on_item);
                continue;
            }
        }
        // "Halted": only an IPI wakes us.
        uint64_t s;
        while ((s = ipis.count[cpu].load(std::memory_order_acquire)) == handled) {
            if (finished() && ipis.count[cpu].load(std::memory_order_acquire) == handled)
                return;
            if (Clock::now() > deadline) {
                timed_out.store(true, std::memory_order_relaxed);
                return;
            }
            std::this_thread::yield();
        }
        handled = s;
        q.drain(cpu, on_item);
    }
}

uint64_t total_overflowed = 0;
uint64_t total_polled_posts = 0;

// Races are found by repetition: each stress test runs rounds with fresh seeds for ~3 s
// (a round takes ~0.1–0.5 s under TSan on 2 cores; a lost wake-up fails its round after 15 s).
template<typename Round>
void repeat_rounds(Round round)
{
    auto stop = Clock::now() + std::chrono::seconds(3);
    unsigned seed = 0;
    do {
        round(seed++);
        if (::testing::Test::HasFailure())
            return;
    } while (Clock::now() < stop);
    ::testing::Test::RecordProperty("rounds", std::to_string(seed));
}

// Producers on CPUs 1, 63, 64, 100, 127, 159 post to consumers on CPUs 0, 65, 130; small rings
// force the overflow path too.
void many_producers_round(unsigned seed)
{
    const unsigned ncpus = 160;
    const std::vector<unsigned> sources = {1, 63, 64, 100, 127, 159};
    const std::vector<unsigned> targets = {0, 65, 130};
    const uint32_t per_producer = 60000;
    Storage storage(ncpus);
    WakeupQueues* q = MUST(WakeupQueues::create(ncpus, storage.mem, storage.size));
    Ipis ipis(ncpus);
    std::vector<std::unique_ptr<Item[]>> items;
    for (size_t p = 0; p < sources.size(); p++) {
        items.emplace_back(new Item[per_producer]);
        for (uint32_t i = 0; i < per_producer; i++)
            items[p][i].id = uint32_t(p * per_producer + i);
    }
    std::atomic<bool> producers_done{false};
    std::atomic<bool> timed_out{false};
    std::atomic<uint64_t> no_ipi{0}, overflowed{0};
    auto deadline = Clock::now() + std::chrono::seconds(15);

    std::vector<std::thread> consumers;
    std::vector<uint64_t> received(targets.size(), 0);
    for (size_t t = 0; t < targets.size(); t++) {
        consumers.emplace_back([&, t] {
            auto on_item = [&](WakeupItem* w) {
                static_cast<Item*>(w)->deliveries.fetch_add(1, std::memory_order_relaxed);
                received[t]++;
            };
            target_loop(*q, ipis, targets[t], on_item,
                        [&] { return producers_done.load(std::memory_order_acquire); }, deadline, timed_out);
        });
    }
    std::vector<std::thread> producers;
    for (size_t p = 0; p < sources.size(); p++) {
        producers.emplace_back([&, p] {
            std::mt19937 rng(unsigned(p) + 100 + seed * 1000);
            for (uint32_t i = 0; i < per_producer; i++) {
                unsigned target = targets[rng() % targets.size()];
                PostResult r = q->post(sources[p], target, &items[p][i]);
                if (r.send_ipi)
                    ipis.send(target);
                else
                    no_ipi.fetch_add(1, std::memory_order_relaxed);
                overflowed.fetch_add(r.overflowed, std::memory_order_relaxed);
                if (rng() % 64 == 0)
                    std::this_thread::yield();
            }
        });
    }
    for (auto& t : producers)
        t.join();
    producers_done.store(true, std::memory_order_release);
    for (auto& t : consumers)
        t.join();

    ASSERT_FALSE(timed_out.load()) << "a target was never signalled for a pending item (lost wake-up)";
    uint64_t total = 0;
    for (uint64_t r : received)
        total += r;
    EXPECT_EQ(total, uint64_t(per_producer) * sources.size());
    for (size_t p = 0; p < sources.size(); p++)
        for (uint32_t i = 0; i < per_producer; i++)
            ASSERT_EQ(items[p][i].deliveries.load(), 1u) << "item " << items[p][i].id;
    // The interesting paths were exercised.
    EXPECT_GT(no_ipi.load(), 0u);
    EXPECT_GT(ipis.sent.load(), 0u);
    total_overflowed += overflowed.load();
}

// Every thread is a CPU that is both producer and consumer: tokens hop between CPUs with ids
// up to 299 (5 bitmap words), each delivery forwarding the token to a random CPU until its hops
// run out. Checks that every hop arrives exactly once and nothing is stranded.
void tokens_round(unsigned seed)
{
    const unsigned ncpus = 300;
    const std::vector<unsigned> cpus = {0, 63, 64, 127, 128, 191, 255, 299};
    const uint32_t tokens_per_cpu = 64; // 2× the ring: overflow under bursts
    const uint32_t hops = 300;
    Storage storage(ncpus);
    WakeupQueues* q = MUST(WakeupQueues::create(ncpus, storage.mem, storage.size));
    Ipis ipis(ncpus);
    const size_t ntokens = cpus.size() * tokens_per_cpu;
    std::unique_ptr<Item[]> tokens(new Item[ntokens]);
    std::atomic<uint64_t> live{ntokens};
    std::atomic<uint64_t> deliveries{0};
    std::atomic<bool> timed_out{false};
    auto deadline = Clock::now() + std::chrono::seconds(15);

    std::vector<std::thread> threads;
    for (size_t c = 0; c < cpus.size(); c++) {
        threads.emplace_back([&, c] {
            unsigned me = cpus[c];
            std::mt19937 rng(me + 7 + seed * 1000);
            auto forward = [&](Item* it) {
                unsigned target = cpus[rng() % cpus.size()];
                PostResult r = q->post(me, target, it);
                if (r.send_ipi)
                    ipis.send(target);
            };
            // Launch our tokens.
            for (uint32_t i = 0; i < tokens_per_cpu; i++) {
                Item* it = &tokens[c * tokens_per_cpu + i];
                it->id = uint32_t(c * tokens_per_cpu + i);
                it->hops_left.store(hops, std::memory_order_relaxed);
                forward(it);
            }
            auto on_item = [&](WakeupItem* w) {
                Item* it = static_cast<Item*>(w);
                it->deliveries.fetch_add(1, std::memory_order_relaxed);
                deliveries.fetch_add(1, std::memory_order_relaxed);
                // Only the holder touches hops_left; relaxed is enough (the queue orders it).
                uint32_t left = it->hops_left.load(std::memory_order_relaxed) - 1;
                it->hops_left.store(left, std::memory_order_relaxed);
                if (left)
                    forward(it);
                else
                    live.fetch_sub(1, std::memory_order_acq_rel);
            };
            target_loop(*q, ipis, me, on_item, [&] { return live.load(std::memory_order_acquire) == 0; },
                        deadline, timed_out);
        });
    }
    for (auto& t : threads)
        t.join();
    ASSERT_FALSE(timed_out.load()) << "tokens stranded: " << live.load() << " (lost wake-up)";
    EXPECT_EQ(deliveries.load(), uint64_t(ntokens) * hops);
    for (size_t i = 0; i < ntokens; i++) {
        EXPECT_EQ(tokens[i].deliveries.load(), hops) << i;
        EXPECT_EQ(tokens[i].hops_left.load(), 0u) << i;
    }
}

// The polling handshake in isolation: a target alternates between polling and "halting"; a
// producer posts one item at a time and waits until it is delivered. A missed IPI (post saw
// polling, target halted without seeing the bit) would strand an item and time out.
void polling_round(unsigned seed)
{
    const unsigned ncpus = 130;
    const unsigned source = 129, target = 66;
    Storage storage(ncpus);
    WakeupQueues* q = MUST(WakeupQueues::create(ncpus, storage.mem, storage.size));
    Ipis ipis(ncpus);
    const int rounds = 50000;
    std::unique_ptr<Item[]> items(new Item[rounds]);
    std::atomic<int> delivered{0};
    std::atomic<bool> done{false}, timed_out{false};
    auto deadline = Clock::now() + std::chrono::seconds(15);
    std::atomic<uint64_t> polled_posts{0};

    std::thread consumer([&] {
        uint64_t handled = 0;
        for (;;) {
            q->start_polling(target);
            for (int i = 0; i < 20; i++) {
                std::this_thread::yield();
                if (q->has_pending(target))
                    q->drain(target, [&](WakeupItem*) { delivered.fetch_add(1, std::memory_order_release); });
            }
            if (q->stop_polling(target)) {
                q->drain(target, [&](WakeupItem*) { delivered.fetch_add(1, std::memory_order_release); });
                continue;
            }
            // Halted until an IPI (or the end of the test).
            uint64_t s;
            while ((s = ipis.count[target].load(std::memory_order_acquire)) == handled) {
                if (done.load(std::memory_order_acquire) || Clock::now() > deadline)
                    return;
                std::this_thread::yield();
            }
            handled = s;
            q->drain(target, [&](WakeupItem*) { delivered.fetch_add(1, std::memory_order_release); });
        }
    });
    for (int i = 0; i < rounds && !timed_out.load(); i++) {
        PostResult r = q->post(source, target, &items[i]);
        if (r.send_ipi)
            ipis.send(target);
        else if (r.newly_set)
            polled_posts.fetch_add(1, std::memory_order_relaxed);
        while (delivered.load(std::memory_order_acquire) <= i) {
            if (Clock::now() > deadline) {
                timed_out.store(true);
                break;
            }
            std::this_thread::yield();
        }
    }
    done.store(true, std::memory_order_release);
    consumer.join();
    ASSERT_FALSE(timed_out.load()) << "item stranded after " << delivered.load() << " deliveries";
    EXPECT_EQ(delivered.load(), rounds);
    total_polled_posts += polled_posts.load();
}

TEST(WakeupQueuesTsan, ManyProducersManyTargetsNoLossNoDuplicates)
{
    repeat_rounds(many_producers_round);
    EXPECT_GT(total_overflowed, 0u); // the ring-full path was taken
}

TEST(WakeupQueuesTsan, TokensHopBetweenCpusAbove64)
{
    repeat_rounds(tokens_round);
}

TEST(WakeupQueuesTsan, PollingHandshakeLosesNothing)
{
    repeat_rounds(polling_round);
    EXPECT_GT(total_polled_posts, 0u); // the no-IPI-because-polling path was taken
}

} // namespace
