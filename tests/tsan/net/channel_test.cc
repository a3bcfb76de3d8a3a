// Concurrency tests of the net-channel pieces under ThreadSanitizer: a producer and a consumer
// moving a million pointers through an SpscRing in order, and readers looking up flows while a
// writer inserts and removes others (entries are not reused while readers run — the RCU rule
// of flow_table.h — so the test only needs a pool).
#include <net/channel/flow_table.h>
#include <net/channel/spsc_ring.h>

#include <atomic>
#include <gtest/gtest.h>
#include <memory>
#include <thread>
#include <vector>

namespace {

struct Item {
    uint64_t sequence;
    uint64_t check;
};

TEST(ChannelTsan, SpscRingKeepsOrderAndContents)
{
    constexpr uint64_t kCount = 1'000'000;
    auto ring = std::make_unique<net::SpscRing<Item*, 256>>();
    std::vector<Item> items(4096);
    std::atomic<uint64_t> consumed{ 0 };
    std::thread consumer([&] {
        uint64_t expect = 0;
        Item* item;
        while (expect < kCount) {
            if (!ring->pop(item)) {
                std::this_thread::yield();
                continue;
            }
            // The producer wrote the item before pushing it; pop's acquire makes it visible.
            ASSERT_EQ(item->sequence, expect);
            ASSERT_EQ(item->check, expect * 7 + 1);
            expect++;
            consumed.store(expect, std::memory_order_release);
        }
    });
    for (uint64_t i = 0; i < kCount; i++) {
        // Reuse an item only once the consumer is past it (it is then free to overwrite).
        while (i >= items.size() && consumed.load(std::memory_order_acquire) <= i - items.size())
            std::this_thread::yield();
        Item* item = &items[i % items.size()];
        item->sequence = i;
        item->check = i * 7 + 1;
        while (!ring->push(item))
            std::this_thread::yield();
    }
    consumer.join();
    EXPECT_TRUE(ring->is_empty());
}

TEST(ChannelTsan, LookupsDuringInsertAndRemove)
{
    net::FlowTable table({ 1, 2 }, 64);
    auto key = [](uint16_t port) {
        net::FlowKey k;
        k.local = net::Ipv4Address::from_octets(10, 0, 0, 1);
        k.remote = net::Ipv4Address::from_octets(10, 0, 0, 2);
        k.local_port = 80;
        k.remote_port = port;
        k.protocol = 6;
        return k;
    };
    // Permanent flows are always there; churn flows come and go (each entry used once).
    std::vector<net::FlowEntry> permanent(100);
    for (size_t i = 0; i < permanent.size(); i++) {
        permanent[i].key = key(uint16_t(i));
        permanent[i].owner = &permanent[i];
        ASSERT_FALSE(table.insert(permanent[i]).is_error());
    }
    constexpr size_t kChurn = 20000;
    std::vector<net::FlowEntry> churn(kChurn);
    std::atomic<bool> stop{ false };
    std::atomic<uint64_t> misses{ 0 };
    std::vector<std::thread> readers;
    for (int r = 0; r < 2; r++) {
        readers.emplace_back([&, r] {
            uint64_t n = 0;
            while (!stop.load(std::memory_order_acquire)) {
                uint16_t port = uint16_t((n++ * 31 + r) % permanent.size());
                net::FlowEntry* e = table.lookup(key(port));
                if (!e || e->owner != &permanent[port])
                    misses.fetch_add(1);
                // Churn keys: found or not, a found entry is fully formed.
                net::FlowEntry* c = table.lookup(key(uint16_t(1000 + n % 500)));
                if (c && (c->key.local_port != 80 || c->owner != c))
                    misses.fetch_add(1);
            }
        });
    }
    for (size_t i = 0; i < kChurn; i++) {
        churn[i].key = key(uint16_t(1000 + i % 500));
        churn[i].owner = &churn[i];
        ASSERT_FALSE(table.insert(churn[i]).is_error());
        if (i >= 8)
            table.remove(churn[i - 8]);
    }
    stop.store(true, std::memory_order_release);
    for (auto& t : readers)
        t.join();
    EXPECT_EQ(misses.load(), 0u);
}

} // namespace
