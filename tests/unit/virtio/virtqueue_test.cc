// SplitQueue against a fake device that reads the avail ring and descriptor tables the way a
// device does and writes used entries (honest ones and garbage). Physical = virtual here.
#include <virtio/split_queue.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>
#include <optional>
#include <random>
#include <set>
#include <vector>

using namespace virtio;

namespace {

struct DmaBuffer {
    explicit DmaBuffer(size_t n)
        : size(n), bytes(static_cast<uint8_t*>(::operator new(n ? n : 1, std::align_val_t(4096))))
    {
        std::memset(bytes, 0xa5, size); // init() must not rely on zeroed memory
    }
    ~DmaBuffer() { ::operator delete(bytes, std::align_val_t(4096)); }
    DmaBuffer(const DmaBuffer&) = delete;
    DmaBuffer& operator=(const DmaBuffer&) = delete;
    DmaMemory dma() const { return { bytes, reinterpret_cast<uint64_t>(bytes), size }; }

    size_t size;
    uint8_t* bytes;
};

template<typename T>
T load(const uint8_t* p)
{
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

template<typename T>
void store(uint8_t* p, T v)
{
    std::memcpy(p, &v, sizeof v);
}

struct SeenSegment {
    uint64_t phys;
    uint32_t len;
    bool writes;
    bool operator==(const SeenSegment&) const = default;
};

// A request as the device reads it.
struct SeenRequest {
    uint16_t head;
    bool indirect;
    std::vector<SeenSegment> segments;
    uint32_t writable() const
    {
        uint32_t n = 0;
        for (auto& s : segments)
            n += s.writes ? s.len : 0;
        return n;
    }
};

// The device side of the ring, following [virtio-v1.2 §2.7] (single-threaded: the test calls
// it between driver calls).
class FakeDevice {
public:
    FakeDevice(const SplitQueue& q)
        : m_size(q.size()),
          m_desc(reinterpret_cast<uint8_t*>(q.desc_phys())),
          m_avail(reinterpret_cast<uint8_t*>(q.avail_phys())),
          m_used(reinterpret_cast<uint8_t*>(q.used_phys()))
    {
    }

    uint16_t avail_idx() const { return load<uint16_t>(m_avail + kAvailIdxOffset); }
    uint16_t avail_flags() const { return load<uint16_t>(m_avail + kAvailFlagsOffset); }
    uint16_t used_event() const { return load<uint16_t>(m_avail + avail_used_event_offset(m_size)); }
    uint16_t used_idx() const { return load<uint16_t>(m_used + kUsedIdxOffset); }
    void set_used_idx(uint16_t v) { store<uint16_t>(m_used + kUsedIdxOffset, v); }
    void set_used_flags(uint16_t v) { store<uint16_t>(m_used + kUsedFlagsOffset, v); }
    void set_avail_event(uint16_t v) { store<uint16_t>(m_used + used_avail_event_offset(m_size), v); }
    void write_used(uint16_t slot, uint32_t id, uint32_t len)
    {
        uint8_t* e = m_used + kUsedRingOffset + 8 * size_t(slot % m_size);
        store<uint32_t>(e, id);
        store<uint32_t>(e + 4, len);
    }
    size_t pending_available() const { return uint16_t(avail_idx() - m_last_avail); }

    // Takes every request the driver has published.
    std::vector<SeenRequest> pop_available()
    {
        std::vector<SeenRequest> out;
        uint16_t idx = avail_idx();
        while (m_last_avail != idx) {
            uint16_t head = load<uint16_t>(m_avail + kAvailRingOffset + 2 * size_t(m_last_avail % m_size));
            m_last_avail++;
            out.push_back(read_chain(head));
        }
        return out;
    }

    // Completes `head` with `len` written: the entry, then the index, then the interrupt
    // decision (counted in interrupts).
    void complete(uint16_t head, uint32_t len)
    {
        uint16_t old_idx = used_idx();
        write_used(old_idx, head, len);
        set_used_idx(uint16_t(old_idx + 1));
        if (m_event_idx ? need_event(used_event(), uint16_t(old_idx + 1), old_idx)
                        : (avail_flags() & kAvailFNoInterrupt) == 0)
            interrupts++;
    }

    void set_event_idx(bool on) { m_event_idx = on; }
    uint16_t last_avail() const { return m_last_avail; }

    int interrupts = 0;

private:
    SeenRequest read_chain(uint16_t head)
    {
        SeenRequest r { head, false, {} };
        EXPECT_LT(head, m_size);
        const uint8_t* table = m_desc;
        size_t table_len = m_size;
        uint16_t i = head;
        uint16_t flags = load<uint16_t>(m_desc + 16 * size_t(head) + 12);
        if (flags & kDescFIndirect) {
            EXPECT_EQ(flags & kDescFNext, 0);
            r.indirect = true;
            table = reinterpret_cast<const uint8_t*>(load<uint64_t>(m_desc + 16 * size_t(head)));
            uint32_t bytes = load<uint32_t>(m_desc + 16 * size_t(head) + 8);
            EXPECT_EQ(bytes % 16, 0u);
            table_len = bytes / 16;
            i = 0;
        }
        for (size_t n = 0; n <= table_len; n++) {
            EXPECT_LT(n, table_len) << "loop in the chain";
            if (n == table_len || i >= table_len)
                break;
            const uint8_t* d = table + 16 * size_t(i);
            uint16_t f = load<uint16_t>(d + 12);
            EXPECT_EQ(f & kDescFIndirect, 0) << "nested indirect";
            r.segments.push_back({ load<uint64_t>(d), load<uint32_t>(d + 8), (f & kDescFWrite) != 0 });
            if (!(f & kDescFNext))
                break;
            i = load<uint16_t>(d + 14);
        }
        return r;
    }

    uint16_t m_size;
    uint8_t* m_desc;
    uint8_t* m_avail;
    uint8_t* m_used;
    uint16_t m_last_avail = 0;
    bool m_event_idx = false;
};

void* cookie(uintptr_t n) { return reinterpret_cast<void*>(n); }

// A queue with its memory.
struct Fixture {
    explicit Fixture(SplitQueue::Config c)
        : config(c),
          ring(split_queue_layout(c.size).bytes),
          pool(c.indirect ? indirect_pool_bytes(c.size, c.max_indirect) : 0)
    {
        auto r = q.init(c, ring.dma(), c.indirect ? pool.dma() : DmaMemory {});
        EXPECT_FALSE(r.is_error());
        dev.emplace(q);
        dev->set_event_idx(c.event_idx);
    }

    // One readable segment (an address that names the request).
    Result<void> add_simple(uintptr_t n) { return add_chain(n, 1, 0); }
    Result<void> add_chain(uintptr_t n, size_t readable, size_t writable, uint32_t len = 100)
    {
        std::vector<Segment> segs;
        for (size_t i = 0; i < readable + writable; i++)
            segs.push_back({ 0x1000'0000 + n * 0x1000 + i * 0x10, len, i >= readable });
        return q.add(segs.data(), segs.size(), cookie(n));
    }
    std::vector<SplitQueue::Completion> drain()
    {
        std::vector<SplitQueue::Completion> out;
        SplitQueue::Completion c;
        for (;;) {
            auto r = q.next_used(c);
            EXPECT_FALSE(r.is_error());
            if (r.is_error() || !r.value())
                break;
            out.push_back(c);
        }
        return out;
    }

    SplitQueue::Config config;
    DmaBuffer ring;
    DmaBuffer pool;
    SplitQueue q;
    std::optional<FakeDevice> dev;
};

SplitQueue::Config plain(uint16_t size) { return { size, false, false, 0 }; }

TEST(VirtqueueLayout, FollowsTheSpecAlignments)
{
    QueueLayout l = split_queue_layout(256);
    EXPECT_EQ(l.avail_offset, 4096u);       // 256 × 16
    EXPECT_EQ(l.used_offset, 8192u);        // 4096 + 6 + 512, page-aligned
    EXPECT_GE(l.state_offset, 8192u + 6 + 8 * 256);
    EXPECT_GE(l.bytes, l.state_offset + 256 * 8);

    QueueLayout one = split_queue_layout(1);
    EXPECT_EQ(one.avail_offset, 16u);
    EXPECT_EQ(one.used_offset, 4096u);
    QueueLayout max = split_queue_layout(32768);
    EXPECT_EQ(max.avail_offset, 32768u * 16);
    EXPECT_EQ(max.used_offset % 4096, 0u);
    EXPECT_GE(max.used_offset, max.avail_offset + 6 + 2 * 32768);
    EXPECT_EQ(split_queue_layout(0).bytes, 0u);
    EXPECT_EQ(split_queue_layout(3).bytes, 0u);
    EXPECT_EQ(indirect_pool_bytes(128, 8), 128u * 8 * 16);
}

TEST(VirtqueueInit, RejectsBadConfigurations)
{
    DmaBuffer ring(split_queue_layout(64).bytes);
    DmaBuffer pool(indirect_pool_bytes(64, 4));
    SplitQueue q;
    EXPECT_EQ(q.init(plain(0), ring.dma(), {}).error(), Errno::INVAL);
    EXPECT_EQ(q.init(plain(48), ring.dma(), {}).error(), Errno::INVAL);
    EXPECT_EQ(q.init(plain(128), ring.dma(), {}).error(), Errno::INVAL); // memory too small
    DmaMemory odd = ring.dma();
    odd.phys += 8;
    EXPECT_EQ(q.init(plain(64), odd, {}).error(), Errno::INVAL);
    EXPECT_EQ(q.init(plain(64), {}, {}).error(), Errno::INVAL);
    EXPECT_EQ(q.init({ 64, false, true, 4 }, ring.dma(), {}).error(), Errno::INVAL);          // no pool
    EXPECT_EQ(q.init({ 64, false, true, 8 }, ring.dma(), pool.dma()).error(), Errno::INVAL);  // pool too small
    EXPECT_EQ(q.init({ 64, false, true, 0 }, ring.dma(), pool.dma()).error(), Errno::INVAL);
    EXPECT_EQ(q.init({ 2, false, true, 4 }, ring.dma(), pool.dma()).error(), Errno::INVAL);   // longer than the queue
    EXPECT_FALSE(q.init({ 64, true, true, 4 }, ring.dma(), pool.dma()).is_error());
    EXPECT_EQ(q.size(), 64);
    EXPECT_EQ(q.free_descriptors(), 64);
    EXPECT_EQ(q.desc_phys(), ring.dma().phys);
    EXPECT_EQ(q.used_phys() - q.desc_phys(), split_queue_layout(64).used_offset);
}

TEST(Virtqueue, MixedChainRoundTrip)
{
    Fixture f(plain(8));
    Segment segs[] = { { 0x1000, 16, false }, { 0x2000, 512, false }, { 0x3000, 1, true }, { 0x4000, 64, true } };
    ASSERT_FALSE(f.q.add(segs, 4, cookie(7)).is_error());
    EXPECT_EQ(f.q.free_descriptors(), 4);
    EXPECT_EQ(f.q.outstanding(), 1u);
    EXPECT_TRUE(f.dev->pop_available().empty()) << "visible before publish()";
    EXPECT_TRUE(f.q.publish());
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 1u);
    EXPECT_FALSE(reqs[0].indirect);
    std::vector<SeenSegment> want = { { 0x1000, 16, false }, { 0x2000, 512, false }, { 0x3000, 1, true },
                                      { 0x4000, 64, true } };
    EXPECT_EQ(reqs[0].segments, want);

    SplitQueue::Completion c;
    auto none = f.q.next_used(c);
    ASSERT_FALSE(none.is_error());
    EXPECT_FALSE(none.value());
    f.dev->complete(reqs[0].head, 65);
    auto got = f.q.next_used(c);
    ASSERT_FALSE(got.is_error());
    ASSERT_TRUE(got.value());
    EXPECT_EQ(c.cookie, cookie(7));
    EXPECT_EQ(c.written, 65u);
    EXPECT_EQ(f.q.free_descriptors(), 8);
    EXPECT_EQ(f.q.outstanding(), 0u);
    EXPECT_FALSE(f.q.publish()) << "nothing new: no kick";
}

TEST(Virtqueue, AddRejectsMalformedChains)
{
    Fixture f(plain(4));
    Segment wr[] = { { 0x1000, 8, true }, { 0x2000, 8, false } };
    EXPECT_EQ(f.q.add(wr, 2, nullptr).error(), Errno::INVAL); // writable before readable
    Segment zero[] = { { 0x1000, 8, false }, { 0x2000, 0, true } };
    EXPECT_EQ(f.q.add(zero, 2, nullptr).error(), Errno::INVAL);
    EXPECT_EQ(f.q.add(zero, 0, nullptr).error(), Errno::INVAL);
    std::vector<Segment> five(5, Segment { 0x1000, 8, false });
    EXPECT_EQ(f.q.add(five.data(), 5, nullptr).error(), Errno::INVAL); // can never fit
    Segment huge[] = { { 0x1000, 0xffff'ffff, false }, { 0x2000, 2, true } };
    EXPECT_EQ(f.q.add(huge, 2, nullptr).error(), Errno::INVAL); // > 4 GiB in total
    Segment only_writes[] = { { 0x1000, 8, true }, { 0x2000, 8, true } };
    EXPECT_FALSE(f.q.add(only_writes, 2, nullptr).is_error());
    EXPECT_EQ(f.q.free_descriptors(), 2);
    EXPECT_FALSE(f.q.broken());
}

TEST(Virtqueue, BusyWhenFullThenFreedByCompletions)
{
    Fixture f(plain(4));
    for (uintptr_t i = 1; i <= 4; i++)
        ASSERT_FALSE(f.add_simple(i).is_error());
    EXPECT_EQ(f.add_simple(5).error(), Errno::BUSY);
    EXPECT_TRUE(f.q.publish());
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 4u);
    f.dev->complete(reqs[1].head, 0);
    ASSERT_EQ(f.drain().size(), 1u);
    EXPECT_EQ(f.add_chain(6, 1, 1).error(), Errno::BUSY) << "two descriptors, one free";
    EXPECT_FALSE(f.add_simple(6).is_error());
    EXPECT_FALSE(f.q.broken());
}

TEST(Virtqueue, OutOfOrderCompletionsKeepTheFreeListSound)
{
    Fixture f(plain(8));
    for (uintptr_t i = 1; i <= 4; i++)
        ASSERT_FALSE(f.add_chain(i, 1, 1).is_error());
    f.q.publish();
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 4u);
    for (int k : { 2, 0, 3, 1 })
        f.dev->complete(reqs[k].head, 100);
    auto done = f.drain();
    ASSERT_EQ(done.size(), 4u);
    EXPECT_EQ(done[0].cookie, cookie(3));
    EXPECT_EQ(done[1].cookie, cookie(1));
    EXPECT_EQ(done[2].cookie, cookie(4));
    EXPECT_EQ(done[3].cookie, cookie(2));
    // The whole table is free again: eight single descriptors, all distinct heads.
    for (uintptr_t i = 10; i < 18; i++)
        ASSERT_FALSE(f.add_simple(i).is_error());
    f.q.publish();
    std::set<uint16_t> heads;
    for (auto& r : f.dev->pop_available())
        heads.insert(r.head);
    EXPECT_EQ(heads.size(), 8u);
}

// More than 65536 requests through small queues: both 16-bit indices wrap several times.
void run_wraparound(SplitQueue::Config config, uint32_t seed)
{
    Fixture f(config);
    std::mt19937 rng(seed);
    std::set<uintptr_t> outstanding;
    std::vector<SeenRequest> at_device;
    uintptr_t next = 1;
    size_t completed = 0;
    while (completed < 70000) {
        size_t batch = 1 + rng() % 4;
        for (size_t i = 0; i < batch; i++) {
            size_t readable = rng() % 3, writable = (readable == 0) + rng() % 2;
            auto r = f.add_chain(next, readable, writable, 1 + rng() % 4096);
            if (r.is_error()) {
                ASSERT_EQ(r.error(), Errno::BUSY);
                break;
            }
            outstanding.insert(next++);
        }
        f.q.publish();
        for (auto& r : f.dev->pop_available())
            at_device.push_back(r);
        std::shuffle(at_device.begin(), at_device.end(), rng);
        size_t n = at_device.empty() ? 0 : 1 + rng() % at_device.size();
        for (size_t i = 0; i < n; i++) {
            f.dev->complete(at_device.back().head, at_device.back().writable());
            at_device.pop_back();
        }
        for (auto& c : f.drain()) {
            ASSERT_EQ(outstanding.erase(reinterpret_cast<uintptr_t>(c.cookie)), 1u);
            completed++;
        }
        ASSERT_EQ(f.q.outstanding(), outstanding.size());
    }
    EXPECT_FALSE(f.q.broken());
    EXPECT_GT(next, 65536u + config.size);
}

TEST(Virtqueue, WrapAroundDirect) { run_wraparound(plain(4), 1); }
TEST(Virtqueue, WrapAroundIndirectEventIdx) { run_wraparound({ 8, true, true, 3 }, 2); }

TEST(Virtqueue, NoNotifyFlagSuppressesKicks)
{
    Fixture f(plain(8));
    ASSERT_FALSE(f.add_simple(1).is_error());
    EXPECT_TRUE(f.q.publish());
    f.dev->set_used_flags(kUsedFNoNotify);
    ASSERT_FALSE(f.add_simple(2).is_error());
    ASSERT_FALSE(f.add_simple(3).is_error());
    EXPECT_FALSE(f.q.publish());
    f.dev->set_used_flags(0);
    ASSERT_FALSE(f.add_simple(4).is_error());
    EXPECT_TRUE(f.q.publish());
    EXPECT_EQ(f.dev->pop_available().size(), 4u);
}

TEST(Virtqueue, EventIdxKicksOnlyWhenTheDeviceAsked)
{
    Fixture f({ 16, true, false, 0 });
    f.dev->set_used_flags(kUsedFNoNotify); // ignored with event idx
    ASSERT_FALSE(f.add_simple(1).is_error());
    EXPECT_TRUE(f.q.publish()) << "avail_event 0: wants to hear about entry 0";
    ASSERT_FALSE(f.add_simple(2).is_error());
    EXPECT_FALSE(f.q.publish()) << "the device has not asked again";
    f.dev->pop_available();
    f.dev->set_avail_event(f.dev->last_avail()); // "tell me about the next one": 2
    ASSERT_FALSE(f.add_simple(3).is_error());
    ASSERT_FALSE(f.add_simple(4).is_error());
    ASSERT_FALSE(f.add_simple(5).is_error());
    EXPECT_TRUE(f.q.publish()) << "batch 2..4 crosses 2: one kick";
    f.dev->set_avail_event(10); // the device will look again by itself until 10
    ASSERT_FALSE(f.add_simple(6).is_error());
    EXPECT_FALSE(f.q.publish()); // 5..5
    for (uintptr_t i = 7; i <= 11; i++)
        ASSERT_FALSE(f.add_simple(i).is_error());
    EXPECT_TRUE(f.q.publish()); // 6..10 includes 10
}

// Kick decisions across the 16-bit wrap of avail->idx: the device asks for entry 65535, 0, 1.
TEST(Virtqueue, EventIdxAcrossIndexWrap)
{
    Fixture f({ 4, true, false, 0 });
    f.dev->set_avail_event(0x8000); // far away: no kicks while we get near the wrap
    for (uint32_t i = 0; i < 65534; i++) {
        ASSERT_FALSE(f.add_simple(1).is_error());
        bool kick = f.q.publish();
        ASSERT_EQ(kick, i == 0x8000) << i;
        auto r = f.dev->pop_available();
        f.dev->complete(r[0].head, 0);
        ASSERT_EQ(f.drain().size(), 1u);
    }
    ASSERT_EQ(f.dev->avail_idx(), 65534);
    f.dev->set_avail_event(65535);
    ASSERT_FALSE(f.add_simple(1).is_error());
    EXPECT_FALSE(f.q.publish()); // entry 65534
    ASSERT_FALSE(f.add_simple(2).is_error());
    ASSERT_FALSE(f.add_simple(3).is_error());
    EXPECT_TRUE(f.q.publish()); // entries 65535, 0
    f.dev->set_avail_event(1);
    ASSERT_FALSE(f.add_simple(4).is_error());
    EXPECT_TRUE(f.q.publish()); // entry 1
    EXPECT_EQ(f.dev->pop_available().size(), 4u);
}

TEST(Virtqueue, InterruptSuppressionAndTheEnableRace)
{
    Fixture f(plain(8));
    for (uintptr_t i = 1; i <= 4; i++)
        ASSERT_FALSE(f.add_simple(i).is_error());
    f.q.publish();
    auto reqs = f.dev->pop_available();
    f.dev->complete(reqs[0].head, 0);
    EXPECT_EQ(f.dev->interrupts, 1);
    f.q.disable_interrupts(); // the handler masks, the thread polls
    EXPECT_EQ(f.dev->avail_flags(), kAvailFNoInterrupt);
    ASSERT_EQ(f.drain().size(), 1u);
    // A completion lands after the last poll, while interrupts are off: no interrupt ...
    f.dev->complete(reqs[1].head, 0);
    EXPECT_EQ(f.dev->interrupts, 1);
    // ... so enable must say so instead of letting the thread sleep.
    EXPECT_TRUE(f.q.enable_interrupts());
    EXPECT_EQ(f.dev->avail_flags(), 0);
    ASSERT_EQ(f.drain().size(), 1u);
    EXPECT_FALSE(f.q.enable_interrupts());
    f.dev->complete(reqs[2].head, 0);
    EXPECT_EQ(f.dev->interrupts, 2);
}

TEST(Virtqueue, EventIdxInterruptSuppressionAndDelayedEnable)
{
    Fixture f({ 16, true, false, 0 });
    for (uintptr_t i = 1; i <= 10; i++)
        ASSERT_FALSE(f.add_simple(i).is_error());
    f.q.publish();
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 10u);
    EXPECT_FALSE(f.q.enable_interrupts());
    EXPECT_EQ(f.dev->used_event(), 0);
    f.dev->complete(reqs[0].head, 0);
    EXPECT_EQ(f.dev->interrupts, 1);

    f.q.disable_interrupts();
    EXPECT_EQ(f.dev->avail_flags(), 0) << "flags stay 0 with event idx";
    ASSERT_EQ(f.drain().size(), 1u);
    f.dev->complete(reqs[1].head, 0);
    f.dev->complete(reqs[2].head, 0);
    EXPECT_EQ(f.dev->interrupts, 1);
    EXPECT_TRUE(f.q.enable_interrupts()) << "completions arrived while disabled";
    EXPECT_EQ(f.dev->used_event(), 1);
    ASSERT_EQ(f.drain().size(), 2u);
    EXPECT_EQ(f.dev->used_event(), 3) << "re-armed for the next entry while enabled";
    EXPECT_FALSE(f.q.enable_interrupts());

    // Delayed: wake me after three more.
    EXPECT_FALSE(f.q.enable_interrupts_after(3));
    EXPECT_EQ(f.dev->used_event(), 5);
    f.dev->complete(reqs[3].head, 0);
    f.dev->complete(reqs[4].head, 0);
    EXPECT_EQ(f.dev->interrupts, 1);
    EXPECT_FALSE(f.q.enable_interrupts_after(3)) << "two of three pending";
    f.dev->complete(reqs[5].head, 0);
    EXPECT_EQ(f.dev->interrupts, 2);
    EXPECT_TRUE(f.q.enable_interrupts_after(3));
    EXPECT_EQ(f.drain().size(), 3u);
    // More than are in flight: clamped to the 4 left.
    EXPECT_FALSE(f.q.enable_interrupts_after(100));
    EXPECT_EQ(f.dev->used_event(), uint16_t(6 + 4 - 1));
}

TEST(Virtqueue, IndirectTablesAsTheDeviceSeesThem)
{
    Fixture f({ 8, false, true, 4 });
    Segment segs[] = { { 0x1000, 16, false }, { 0x2000, 4096, true }, { 0x3000, 1, true } };
    ASSERT_FALSE(f.q.add(segs, 3, cookie(1)).is_error());
    EXPECT_EQ(f.q.free_descriptors(), 7) << "one descriptor for the whole chain";
    ASSERT_FALSE(f.add_simple(2).is_error()); // a single segment goes direct
    std::vector<Segment> five(5, Segment { 0x5000, 8, false });
    ASSERT_FALSE(f.q.add(five.data(), 5, cookie(3)).is_error()); // longer than max_indirect: direct
    EXPECT_EQ(f.q.free_descriptors(), 1);
    f.q.publish();
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 3u);
    EXPECT_TRUE(reqs[0].indirect);
    std::vector<SeenSegment> want = { { 0x1000, 16, false }, { 0x2000, 4096, true }, { 0x3000, 1, true } };
    EXPECT_EQ(reqs[0].segments, want);
    // The table is the head's slot of the pool.
    uint64_t table = load<uint64_t>(reinterpret_cast<uint8_t*>(f.q.desc_phys() + 16 * reqs[0].head));
    EXPECT_EQ(table, f.pool.dma().phys + uint64_t(reqs[0].head) * 4 * 16);
    EXPECT_FALSE(reqs[1].indirect);
    EXPECT_FALSE(reqs[2].indirect);
    EXPECT_EQ(reqs[2].segments.size(), 5u);

    f.dev->complete(reqs[0].head, 4097);
    f.dev->complete(reqs[2].head, 0);
    auto done = f.drain();
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[0].cookie, cookie(1));
    EXPECT_EQ(done[0].written, 4097u);
    EXPECT_EQ(f.q.free_descriptors(), 7);
}

// Each kind of garbage from the device: IO, the queue stays broken, no cookie comes back.
enum class Garbage { IdOutOfRange, IdNotAHead, IdFree, IdTwice, LenTooLong, IdxAhead, IdxBackwards, Unpublished };

void expect_broken(Fixture& f)
{
    SplitQueue::Completion c { nullptr, 0 };
    auto r = f.q.next_used(c);
    ASSERT_TRUE(r.is_error());
    EXPECT_EQ(r.error(), Errno::IO);
    EXPECT_TRUE(f.q.broken());
    EXPECT_EQ(f.q.next_used(c).error(), Errno::IO);
    EXPECT_EQ(f.add_simple(99).error(), Errno::IO);
    EXPECT_FALSE(f.q.publish());
    EXPECT_TRUE(f.q.enable_interrupts()) << "so a sleeping driver polls and meets the IO";
}

void run_garbage(Garbage g)
{
    Fixture f(plain(8));
    ASSERT_FALSE(f.add_chain(1, 1, 2).is_error()); // 3 descriptors, 200 writable bytes
    ASSERT_FALSE(f.add_simple(2).is_error());
    f.q.publish();
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 2u);
    uint16_t head = reqs[0].head;
    switch (g) {
    case Garbage::IdOutOfRange:
        f.dev->write_used(0, 8, 0);
        f.dev->set_used_idx(1);
        break;
    case Garbage::IdNotAHead: {
        uint16_t middle = load<uint16_t>(reinterpret_cast<uint8_t*>(f.q.desc_phys() + 16 * head + 14));
        f.dev->write_used(0, middle, 0);
        f.dev->set_used_idx(1);
        break;
    }
    case Garbage::IdFree:
        f.dev->write_used(0, 7, 0); // descriptors 0..3 are in use, 7 is free
        f.dev->set_used_idx(1);
        break;
    case Garbage::IdTwice: {
        f.dev->complete(head, 10);
        SplitQueue::Completion c;
        auto first = f.q.next_used(c);
        ASSERT_TRUE(!first.is_error() && first.value());
        EXPECT_EQ(c.cookie, cookie(1));
        f.dev->complete(head, 10);
        break;
    }
    case Garbage::LenTooLong:
        f.dev->complete(head, 201);
        break;
    case Garbage::IdxAhead:
        f.dev->complete(head, 0);
        f.dev->set_used_idx(3); // two requests in flight
        break;
    case Garbage::IdxBackwards:
        f.dev->set_used_idx(0xffff);
        break;
    case Garbage::Unpublished: {
        ASSERT_FALSE(f.add_simple(3).is_error());
        // Guess the head the driver took: the free descriptor the device has not been shown.
        std::set<uint16_t> shown;
        for (auto& r : reqs)
            shown.insert(r.head);
        uint16_t guess = 0;
        for (uint16_t d = 0; d < 8; d++) {
            uint16_t flags = load<uint16_t>(reinterpret_cast<uint8_t*>(f.q.desc_phys() + 16 * d + 12));
            uint64_t addr = load<uint64_t>(reinterpret_cast<uint8_t*>(f.q.desc_phys() + 16 * d));
            if (!shown.count(d) && addr == 0x1000'0000 + 3 * 0x1000 && flags == 0)
                guess = d;
        }
        f.dev->write_used(0, guess, 0);
        f.dev->set_used_idx(1);
        break;
    }
    }
    expect_broken(f);
    // The driver can still fail what was outstanding, each cookie once.
    std::multiset<void*> detached;
    void* c;
    while (f.q.detach_outstanding(c))
        detached.insert(c);
    std::multiset<void*> want;
    if (g != Garbage::IdTwice)
        want.insert(cookie(1));
    want.insert(cookie(2));
    if (g == Garbage::Unpublished)
        want.insert(cookie(3));
    EXPECT_EQ(detached, want);
    EXPECT_EQ(f.q.outstanding(), 0u);
    EXPECT_EQ(f.q.free_descriptors(), 8);
    // And start over.
    ASSERT_FALSE(f.q.init(f.config, f.ring.dma(), {}).is_error());
    EXPECT_FALSE(f.add_simple(5).is_error());
}

TEST(VirtqueueHostileDevice, IdOutOfRange) { run_garbage(Garbage::IdOutOfRange); }
TEST(VirtqueueHostileDevice, IdInsideAChain) { run_garbage(Garbage::IdNotAHead); }
TEST(VirtqueueHostileDevice, IdOfAFreeDescriptor) { run_garbage(Garbage::IdFree); }
TEST(VirtqueueHostileDevice, SameIdTwice) { run_garbage(Garbage::IdTwice); }
TEST(VirtqueueHostileDevice, LengthBeyondWritableBytes) { run_garbage(Garbage::LenTooLong); }
TEST(VirtqueueHostileDevice, UsedIdxRunsAhead) { run_garbage(Garbage::IdxAhead); }
TEST(VirtqueueHostileDevice, UsedIdxMovesBackwards) { run_garbage(Garbage::IdxBackwards); }
TEST(VirtqueueHostileDevice, CompletesAnUnpublishedRequest) { run_garbage(Garbage::Unpublished); }

TEST(VirtqueueHostileDevice, ClampUsedLenForLegacyDevices)
{
    SplitQueue::Config config = plain(8);
    config.clamp_used_len = true;
    Fixture f(config);
    ASSERT_FALSE(f.add_chain(1, 1, 1).is_error());
    ASSERT_FALSE(f.add_simple(2).is_error());
    f.q.publish();
    auto reqs = f.dev->pop_available();
    f.dev->complete(reqs[0].head, 5000);
    f.dev->complete(reqs[1].head, 7);
    auto done = f.drain();
    ASSERT_EQ(done.size(), 2u);
    EXPECT_EQ(done[0].written, 100u);
    EXPECT_EQ(done[1].written, 0u);
    EXPECT_FALSE(f.q.broken());
}

TEST(Virtqueue, DetachAfterResetReturnsEveryOutstandingCookieOnce)
{
    Fixture f({ 8, false, true, 4 });
    for (uintptr_t i = 1; i <= 5; i++)
        ASSERT_FALSE(f.add_chain(i, 1, i % 2).is_error());
    f.q.publish();
    auto reqs = f.dev->pop_available();
    f.dev->complete(reqs[2].head, 0);
    ASSERT_EQ(f.drain().size(), 1u);
    std::set<void*> detached;
    void* c;
    while (f.q.detach_outstanding(c))
        EXPECT_TRUE(detached.insert(c).second);
    EXPECT_EQ(detached, (std::set<void*> { cookie(1), cookie(2), cookie(4), cookie(5) }));
    EXPECT_TRUE(f.q.broken());
    ASSERT_FALSE(f.q.init(f.config, f.ring.dma(), f.pool.dma()).is_error());
    EXPECT_EQ(f.q.free_descriptors(), 8);
    EXPECT_EQ(f.q.outstanding(), 0u);
}

} // namespace

// The device fence (Config::device_fence): made only before a "no kick" or "nothing pending"
// answer, and the answer re-read after it — here the "device" publishes its newer event index
// and completion from inside the fence, as a device whose view was stale until then.
struct FenceProbe {
    FakeDevice* dev = nullptr;
    int calls = 0;
    uint16_t avail_event_after = 0;
    bool complete_after = false;
    uint16_t head = 0;
};

void probe_fence(void* context)
{
    auto* p = static_cast<FenceProbe*>(context);
    p->calls++;
    p->dev->set_avail_event(p->avail_event_after);
    if (p->complete_after) {
        p->dev->complete(p->head, 0);
        p->complete_after = false;
    }
}

TEST(Virtqueue, DeviceFenceOnlyBeforeANegativeAnswer)
{
    FenceProbe probe;
    SplitQueue::Config c { 16, true, false, 0 };
    c.device_fence = &probe_fence;
    c.device_fence_context = &probe;
    Fixture f(c);
    probe.dev = &*f.dev;
    ASSERT_FALSE(f.add_simple(1).is_error());
    probe.avail_event_after = 0;
    EXPECT_TRUE(f.q.publish()); // the device asked for entry 0: a kick, no fence needed
    EXPECT_EQ(probe.calls, 0);
    ASSERT_FALSE(f.add_simple(2).is_error());
    f.dev->set_avail_event(0);   // stale: entry 0 is behind us ...
    probe.avail_event_after = 1; // ... but after the fence the device asks for entry 1
    EXPECT_TRUE(f.q.publish());
    EXPECT_EQ(probe.calls, 1);
    ASSERT_FALSE(f.add_simple(3).is_error());
    probe.avail_event_after = 1; // still behind after the fence: no kick
    EXPECT_FALSE(f.q.publish());
    EXPECT_EQ(probe.calls, 2);

    // Re-arming: a completion the device made but the driver could not see yet shows after
    // the fence, so the thread does not sleep on it.
    auto reqs = f.dev->pop_available();
    ASSERT_EQ(reqs.size(), 3u);
    probe.avail_event_after = f.dev->last_avail();
    f.q.disable_interrupts();
    int before = probe.calls;
    probe.head = reqs[0].head;
    probe.complete_after = true;
    EXPECT_TRUE(f.q.enable_interrupts());
    EXPECT_EQ(probe.calls, before + 1);
    ASSERT_EQ(f.drain().size(), 1u);
    f.dev->complete(reqs[1].head, 0);
    before = probe.calls;
    EXPECT_TRUE(f.q.enable_interrupts()); // pending already: no fence
    EXPECT_EQ(probe.calls, before);
}
