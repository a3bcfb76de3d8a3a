// Unit tests for packet buffers: headroom arithmetic, bounds, ownership, adopted memory, queues.
#include <net/packet.h>

#include <gtest/gtest.h>
#include <stdlib.h>
#include <string.h>
#include <utility>

namespace {

using net::Packet;
using net::PacketQueue;

TEST(Packet, AllocateStartsEmptyAtHeadroom)
{
    Packet p = Packet::allocate();
    ASSERT_FALSE(p.is_null());
    EXPECT_EQ(p.length(), 0u);
    EXPECT_EQ(p.headroom(), Packet::kDefaultHeadroom);
    EXPECT_EQ(p.capacity(), Packet::kDefaultCapacity);
    EXPECT_EQ(p.tailroom(), Packet::kDefaultCapacity - Packet::kDefaultHeadroom);
}

TEST(Packet, PushPullTrimPutKeepBytesInPlace)
{
    Packet p = Packet::allocate(256, 64);
    uint8_t* body = p.put(10);
    ASSERT_NE(body, nullptr);
    for (int i = 0; i < 10; i++)
        body[i] = uint8_t(i);
    uint8_t* header = p.push(4);
    ASSERT_EQ(header, body - 4);
    memset(header, 0xaa, 4);
    EXPECT_EQ(p.length(), 14u);
    EXPECT_EQ(p.headroom(), 60u);
    EXPECT_EQ(p.pull(4), header);
    EXPECT_EQ(p.data(), body);
    EXPECT_TRUE(p.trim(5));
    EXPECT_EQ(p.length(), 5u);
    EXPECT_EQ(p.data()[4], 4);
    EXPECT_TRUE(p.trim(5));
    EXPECT_FALSE(p.trim(6));
}

TEST(Packet, OutOfBoundsOperationsFailWithoutChange)
{
    Packet p = Packet::allocate(100, 20);
    EXPECT_EQ(p.push(21), nullptr);
    EXPECT_EQ(p.headroom(), 20u);
    EXPECT_EQ(p.put(81), nullptr);
    EXPECT_EQ(p.length(), 0u);
    EXPECT_EQ(p.pull(1), nullptr);
    EXPECT_NE(p.put(80), nullptr);
    EXPECT_EQ(p.tailroom(), 0u);
    EXPECT_NE(p.push(20), nullptr);
    EXPECT_EQ(p.length(), 100u);
}

TEST(Packet, CapacityLimits)
{
    EXPECT_TRUE(Packet::allocate(Packet::kMaxCapacity + 1).is_null());
    Packet big = Packet::allocate_data(65535, 200);
    ASSERT_FALSE(big.is_null());
    EXPECT_EQ(big.length(), 65535u);
    EXPECT_TRUE(Packet::allocate_data(Packet::kMaxCapacity, 1).is_null());
    // Headroom larger than capacity is clamped.
    Packet small = Packet::allocate(8, 100);
    EXPECT_EQ(small.headroom(), 8u);
}

TEST(Packet, MoveTransfersOwnership)
{
    Packet a = Packet::allocate_data(3);
    a.data()[0] = 7;
    Packet b = std::move(a);
    EXPECT_TRUE(a.is_null());
    EXPECT_EQ(b.data()[0], 7);
    Packet c = Packet::allocate_data(1);
    c = std::move(b); // frees c's old buffer (ASan would see a leak otherwise)
    EXPECT_EQ(c.length(), 3u);
    c.reset();
    EXPECT_TRUE(c.is_null());
}

struct FreeLog {
    int calls = 0;
    void* last = nullptr;
};

void free_into_log(net::PacketBuffer* buffer, void* context)
{
    auto* log = static_cast<FreeLog*>(context);
    log->calls++;
    log->last = buffer;
}

TEST(Packet, AdoptedMemoryReturnsThroughItsFreeFunction)
{
    alignas(16) static uint8_t memory[1024];
    FreeLog log;
    {
        Packet p = Packet::adopt(memory, sizeof memory, 64, free_into_log, &log);
        ASSERT_FALSE(p.is_null());
        EXPECT_EQ(p.capacity(), sizeof memory - sizeof(net::PacketBuffer));
        EXPECT_NE(p.put(100), nullptr);
    }
    EXPECT_EQ(log.calls, 1);
    EXPECT_EQ(log.last, static_cast<void*>(memory));
    EXPECT_TRUE(Packet::adopt(memory, sizeof(net::PacketBuffer) - 1, 0, free_into_log, &log).is_null());
    EXPECT_TRUE(Packet::adopt(memory + 1, sizeof memory - 1, 0, free_into_log, &log).is_null());
}

TEST(Packet, CopyKeepsDataAndShiftsOffsets)
{
    Packet p = Packet::allocate(512, 100);
    memcpy(p.put(5), "hello", 5);
    p.mark_network_header();
    p.pull(2);
    p.mark_transport_header();
    p.meta().checksum_verified = true;
    Packet q = p.copy(40);
    ASSERT_FALSE(q.is_null());
    EXPECT_EQ(q.length(), 3u);
    EXPECT_EQ(memcmp(q.data(), "llo", 3), 0);
    EXPECT_EQ(q.transport_header(), q.data());
    EXPECT_EQ(q.network_header(), q.data() - 2);
    EXPECT_TRUE(q.meta().checksum_verified);
}

TEST(PacketQueue, FifoWithCountAndMemory)
{
    PacketQueue q;
    EXPECT_TRUE(q.is_empty());
    for (int i = 0; i < 5; i++) {
        Packet p = Packet::allocate_data(1);
        p.data()[0] = uint8_t(i);
        q.push_back(std::move(p));
    }
    q.push_back(Packet()); // ignored
    EXPECT_EQ(q.count(), 5u);
    EXPECT_EQ(q.memory_size(), 5 * (Packet::kDefaultHeadroom + Packet::kMinDataRoom + sizeof(net::PacketBuffer)));
    for (int i = 0; i < 3; i++) {
        Packet p = q.pop_front();
        ASSERT_FALSE(p.is_null());
        EXPECT_EQ(p.data()[0], i);
    }
    PacketQueue moved = std::move(q);
    EXPECT_TRUE(q.is_empty());
    EXPECT_EQ(moved.count(), 2u);
    EXPECT_EQ(moved.pop_front().data()[0], 3);
    // The last packet is freed by the queue's destructor (ASan checks).
}

TEST(PacketQueue, PushFrontPutsAPeekedPacketBack)
{
    PacketQueue q;
    q.push_front(Packet()); // ignored
    EXPECT_TRUE(q.is_empty());
    for (int i = 1; i <= 2; i++) {
        Packet p = Packet::allocate_data(1);
        p.data()[0] = uint8_t(i);
        q.push_back(std::move(p));
    }
    size_t memory = q.memory_size();
    Packet first = q.pop_front();
    q.push_front(std::move(first));
    EXPECT_EQ(q.count(), 2u);
    EXPECT_EQ(q.memory_size(), memory);
    EXPECT_EQ(q.pop_front().data()[0], 1);
    EXPECT_EQ(q.pop_front().data()[0], 2);
    // push_front on an empty queue sets the tail too: push_back after it appends.
    Packet a = Packet::allocate_data(1);
    a.data()[0] = 7;
    q.push_front(std::move(a));
    Packet b = Packet::allocate_data(1);
    b.data()[0] = 8;
    q.push_back(std::move(b));
    EXPECT_EQ(q.pop_front().data()[0], 7);
    EXPECT_EQ(q.pop_front().data()[0], 8);
    EXPECT_TRUE(q.is_empty());
}

TEST(PacketQueue, PopFromEmptyIsNull)
{
    PacketQueue q;
    EXPECT_TRUE(q.pop_front().is_null());
    q.push_back(Packet::allocate_data(10));
    q.clear();
    EXPECT_EQ(q.count(), 0u);
    EXPECT_EQ(q.memory_size(), 0u);
    EXPECT_TRUE(q.pop_front().is_null());
}

} // namespace
