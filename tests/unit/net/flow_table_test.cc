// Unit tests for the net-channel pieces: SipHash-2-4 against the paper's vectors, the flow
// table (insert, lookup, remove, duplicates, chains under adversarial-looking keys) and the
// SPSC ring's bounds. The concurrent behaviour is tested under TSan (tests/tsan/net).
#include <net/channel/flow_table.h>
#include <net/channel/spsc_ring.h>
#include <net/siphash.h>

#include <gtest/gtest.h>
#include <memory>
#include <vector>

namespace {

net::SipKey paper_key()
{
    // Key 00 01 02 ... 0f, little-endian halves.
    return { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
}

TEST(SipHash, PaperVectors)
{
    uint8_t message[64];
    for (int i = 0; i < 64; i++)
        message[i] = uint8_t(i);
    // The paper's appendix A: 15-byte message 00..0e.
    EXPECT_EQ(net::siphash24(paper_key(), message, 15), 0xa129ca6149be45e5ull);
    // The reference implementation's vectors for lengths 0, 1, 7, 8 and 63.
    EXPECT_EQ(net::siphash24(paper_key(), message, 0), 0x726fdb47dd0e0e31ull);
    EXPECT_EQ(net::siphash24(paper_key(), message, 1), 0x74f839c593dc67fdull);
    EXPECT_EQ(net::siphash24(paper_key(), message, 7), 0xab0200f58b01d137ull);
    EXPECT_EQ(net::siphash24(paper_key(), message, 8), 0x93f5f5799a932462ull);
    EXPECT_EQ(net::siphash24(paper_key(), message, 63), 0x958a324ceb064572ull);
}

TEST(SipHash, KeyMatters)
{
    const char text[] = "10.0.2.15:80 198.18.0.1:40000";
    net::SipKey other = paper_key();
    other.k1 ^= 1;
    EXPECT_NE(net::siphash24(paper_key(), text, sizeof text), net::siphash24(other, text, sizeof text));
}

net::FlowKey flow(uint16_t remote_port, uint8_t last_octet = 1)
{
    net::FlowKey k;
    k.local = net::Ipv4Address::from_octets(10, 0, 2, 15);
    k.remote = net::Ipv4Address::from_octets(198, 18, 0, last_octet);
    k.local_port = 80;
    k.remote_port = remote_port;
    k.protocol = 6;
    return k;
}

TEST(FlowTable, InsertLookupRemove)
{
    net::FlowTable table(paper_key(), 64);
    ASSERT_TRUE(table.is_valid());
    EXPECT_EQ(table.bucket_count(), 64u);
    net::FlowEntry a, b, dup;
    a.key = flow(1000);
    b.key = flow(1001);
    dup.key = flow(1000);
    int owner_a = 0, owner_b = 0;
    a.owner = &owner_a;
    b.owner = &owner_b;
    EXPECT_FALSE(table.insert(a).is_error());
    EXPECT_FALSE(table.insert(b).is_error());
    EXPECT_EQ(table.insert(dup).error(), lib::Errno::EXIST);
    EXPECT_EQ(table.insert(a).error(), lib::Errno::BUSY);
    EXPECT_EQ(table.size(), 2u);
    EXPECT_EQ(table.lookup(flow(1000)), &a);
    EXPECT_EQ(table.lookup(flow(1001))->owner, &owner_b);
    EXPECT_EQ(table.lookup(flow(1002)), nullptr);
    net::FlowKey udp = flow(1000);
    udp.protocol = 17;
    EXPECT_EQ(table.lookup(udp), nullptr); // the protocol is part of the key
    table.remove(a);
    EXPECT_EQ(table.lookup(flow(1000)), nullptr);
    EXPECT_EQ(table.lookup(flow(1001)), &b);
    table.remove(a); // no-op
    EXPECT_EQ(table.size(), 1u);
    EXPECT_FALSE(table.insert(dup).is_error()); // the key is free again
    EXPECT_EQ(table.lookup(flow(1000)), &dup);
}

TEST(FlowTable, RemoveFromEveryPositionOfAChain)
{
    // 16 buckets, 200 flows: long chains; remove in an order that hits heads, middles, tails.
    net::FlowTable table(paper_key(), 16);
    std::vector<net::FlowEntry> entries(200);
    for (size_t i = 0; i < entries.size(); i++) {
        entries[i].key = flow(uint16_t(2000 + i));
        ASSERT_FALSE(table.insert(entries[i]).is_error());
    }
    for (size_t step : { 3u, 1u }) {
        for (size_t i = 0; i < entries.size(); i += step) {
            if (!entries[i].linked)
                continue;
            table.remove(entries[i]);
            for (size_t j = 0; j < entries.size(); j++)
                ASSERT_EQ(table.lookup(entries[j].key), entries[j].linked ? &entries[j] : nullptr) << i << " " << j;
        }
    }
    EXPECT_EQ(table.size(), 0u);
}

TEST(FlowTable, SequentialPortsSpreadEvenly)
{
    // What an attacker controls (its ports, its addresses) lands all over a keyed table.
    net::FlowTable table(paper_key(), 4096);
    std::vector<net::FlowEntry> entries(16384);
    for (size_t i = 0; i < entries.size(); i++) {
        entries[i].key = flow(uint16_t(i), uint8_t(i >> 14));
        ASSERT_FALSE(table.insert(entries[i]).is_error());
    }
    // 4 per bucket on average; a uniform hash keeps the maximum far below 20.
    EXPECT_LT(table.longest_chain(), 20u);
    for (auto& e : entries)
        table.remove(e);
}

TEST(SpscRing, Bounds)
{
    auto ring = std::make_unique<net::SpscRing<int*, 4>>();
    int values[5];
    EXPECT_TRUE(ring->is_empty());
    for (int i = 0; i < 4; i++)
        EXPECT_TRUE(ring->push(&values[i]));
    EXPECT_FALSE(ring->push(&values[4]));
    EXPECT_EQ(ring->size(), 4u);
    int* out;
    for (int round = 0; round < 10; round++) { // wrap many times
        ASSERT_TRUE(ring->pop(out));
        EXPECT_EQ(out, &values[round % 4]);
        EXPECT_TRUE(ring->push(&values[round % 4]));
    }
    for (int i = 0; i < 4; i++)
        EXPECT_TRUE(ring->pop(out));
    EXPECT_FALSE(ring->pop(out));
    EXPECT_TRUE(ring->is_empty());
}

} // namespace
