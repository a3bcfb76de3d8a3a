// Single-threaded unit tests of the wake-up queues' contract (the concurrent ones are under
// tests/tsan/sched/).
#include <sched/wakeup_queue.h>

#include <cstdlib>
#include <gtest/gtest.h>
#include <memory>
#include <set>
#include <vector>

namespace {

using sched::PostResult;
using sched::WakeupItem;
using sched::WakeupQueues;

struct Item : WakeupItem {
    int id = 0;
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

TEST(WakeupQueues, CreateValidates)
{
    Storage s(4);
    EXPECT_TRUE(WakeupQueues::create(0, s.mem, s.size).is_error());
    EXPECT_TRUE(WakeupQueues::create(4, s.mem + 8, s.size).is_error());
    EXPECT_TRUE(WakeupQueues::create(4, s.mem, s.size - 1).is_error());
    EXPECT_TRUE(WakeupQueues::create(sched::kMaxCpus + 1, s.mem, s.size).is_error());
    auto q = WakeupQueues::create(4, s.mem, s.size);
    ASSERT_FALSE(q.is_error());
    EXPECT_EQ(q.value()->cpu_count(), 4u);
}

TEST(WakeupQueues, NewlySetBitAndDrain)
{
    const unsigned n = 200; // sources and targets above 64 and 128
    Storage s(n);
    WakeupQueues* q = MUST(WakeupQueues::create(n, s.mem, s.size));
    Item items[4];
    PostResult r = q->post(150, 70, &items[0]);
    EXPECT_TRUE(r.newly_set);
    EXPECT_TRUE(r.send_ipi);
    r = q->post(150, 70, &items[1]);
    EXPECT_FALSE(r.newly_set); // already pending: no IPI
    EXPECT_FALSE(r.send_ipi);
    r = q->post(199, 70, &items[2]); // another source: its own bit
    EXPECT_TRUE(r.newly_set);
    EXPECT_TRUE(q->has_pending(70));
    EXPECT_FALSE(q->has_pending(71));
    std::vector<WakeupItem*> got;
    EXPECT_EQ(q->drain(70, [&](WakeupItem* i) { got.push_back(i); }), 3u);
    EXPECT_EQ(got.size(), 3u);
    EXPECT_FALSE(q->has_pending(70));
    EXPECT_EQ(q->drain(70, [&](WakeupItem*) { ADD_FAILURE(); }), 0u);
    r = q->post(150, 70, &items[3]); // cleared by the drain: newly set again
    EXPECT_TRUE(r.newly_set);
}

TEST(WakeupQueues, PollingTargetNeedsNoIpi)
{
    Storage s(80);
    WakeupQueues* q = MUST(WakeupQueues::create(80, s.mem, s.size));
    Item a, b;
    q->start_polling(79);
    PostResult r = q->post(3, 79, &a);
    EXPECT_TRUE(r.newly_set);
    EXPECT_FALSE(r.send_ipi);
    EXPECT_TRUE(q->stop_polling(79)); // pending: must not halt
    EXPECT_EQ(q->drain(79, [](WakeupItem*) {}), 1u);
    EXPECT_FALSE(q->stop_polling(79));
    r = q->post(3, 79, &b);
    EXPECT_TRUE(r.send_ipi);
}

TEST(WakeupQueues, FullRingOverflowsInOrder)
{
    Storage s(2);
    WakeupQueues* q = MUST(WakeupQueues::create(2, s.mem, s.size));
    const int count = int(sched::kWakeupRingCapacity) * 3;
    std::vector<Item> items(count);
    int overflowed = 0;
    for (int i = 0; i < count; i++) {
        items[i].id = i;
        overflowed += q->post(0, 1, &items[i]).overflowed;
    }
    EXPECT_EQ(overflowed, count - int(sched::kWakeupRingCapacity));
    std::vector<int> ids;
    q->drain(1, [&](WakeupItem* i) { ids.push_back(static_cast<Item*>(i)->id); });
    ASSERT_EQ(int(ids.size()), count);
    for (int i = 0; i < count; i++)
        EXPECT_EQ(ids[i], i); // ring first, then the overflow in posting order
    // Items can be posted again after delivery, including through the overflow path.
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < count; i++)
            q->post(1, 0, &items[i]);
        std::set<int> seen;
        q->drain(0, [&](WakeupItem* i) { EXPECT_TRUE(seen.insert(static_cast<Item*>(i)->id).second); });
        EXPECT_EQ(int(seen.size()), count);
    }
}

TEST(WakeupQueues, MayHavePendingFollowsPostsAndDrains)
{
    const unsigned n = 130; // a source in the third bitmap word
    Storage s(n);
    WakeupQueues* q = MUST(WakeupQueues::create(n, s.mem, s.size));
    EXPECT_FALSE(q->may_have_pending(3));
    Item item;
    q->post(129, 3, &item);
    EXPECT_TRUE(q->may_have_pending(3));
    EXPECT_FALSE(q->may_have_pending(4));
    EXPECT_EQ(q->drain(3, [](WakeupItem*) {}), 1u);
    EXPECT_FALSE(q->may_have_pending(3));
    // An item on the overflow stack counts too.
    std::vector<Item> items(sched::kWakeupRingCapacity + 1);
    for (Item& i : items)
        q->post(0, 3, &i);
    EXPECT_TRUE(q->may_have_pending(3));
    EXPECT_EQ(q->drain(3, [](WakeupItem*) {}), items.size());
    EXPECT_FALSE(q->may_have_pending(3));
}

TEST(WakeupQueues, DrainMayRepost)
{
    Storage s(3);
    WakeupQueues* q = MUST(WakeupQueues::create(3, s.mem, s.size));
    std::vector<Item> items(100);
    for (auto& i : items)
        q->post(0, 1, &i);
    // CPU 1 forwards everything to CPU 2 (e.g. migrating threads it just received).
    size_t n = q->drain(1, [&](WakeupItem* i) { q->post(1, 2, i); });
    EXPECT_EQ(n, 100u);
    EXPECT_EQ(q->drain(2, [](WakeupItem*) {}), 100u);
}

} // namespace
