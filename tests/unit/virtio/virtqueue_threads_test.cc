// SplitQueue against a device running concurrently in another thread, with both directions of
// notification suppression on: the driver sleeps only when enable_interrupts() says nothing is
// pending, the device only after re-arming kicks and re-checking. A lost kick or interrupt
// (a missing fence on either side) shows up as a wait that times out.
#include <virtio/split_queue.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <new>
#include <semaphore>
#include <thread>
#include <vector>

using namespace virtio;

namespace {

constexpr auto kWaitLimit = std::chrono::seconds(30);

template<typename T>
T atomic_load(const uint8_t* p)
{
    return __atomic_load_n(reinterpret_cast<const T*>(p), __ATOMIC_RELAXED);
}

template<typename T>
void atomic_store(uint8_t* p, T v)
{
    __atomic_store_n(reinterpret_cast<T*>(p), v, __ATOMIC_RELAXED);
}

// The device's side of the protocol [virtio-v1.2 §2.7.10, §2.7.14], written as a device would.
class ThreadedDevice {
public:
    ThreadedDevice(const SplitQueue& q, bool event_idx)
        : m_size(q.size()),
          m_avail(reinterpret_cast<uint8_t*>(q.avail_phys())),
          m_used(reinterpret_cast<uint8_t*>(q.used_phys())),
          m_event_idx(event_idx)
    {
    }

    void run()
    {
        uint16_t last_avail = 0;
        std::vector<uint16_t> heads;
        while (!stop.load(std::memory_order_acquire)) {
            uint16_t idx = atomic_load<uint16_t>(m_avail + kAvailIdxOffset);
            if (idx == last_avail) {
                // Re-arm kicks, full fence, re-check, then sleep (pairs with publish()).
                if (m_event_idx)
                    atomic_store<uint16_t>(m_used + used_avail_event_offset(m_size), last_avail);
                else
                    atomic_store<uint16_t>(m_used + kUsedFlagsOffset, 0);
                std::atomic_thread_fence(std::memory_order_seq_cst);
                if (atomic_load<uint16_t>(m_avail + kAvailIdxOffset) != last_avail)
                    continue;
                if (!kicks.try_acquire_for(kWaitLimit) && !stop.load(std::memory_order_acquire)) {
                    lost_kick.store(true, std::memory_order_relaxed);
                    return;
                }
                continue;
            }
            if (!m_event_idx)
                atomic_store<uint16_t>(m_used + kUsedFlagsOffset, kUsedFNoNotify); // busy: no kicks
            std::atomic_thread_fence(std::memory_order_acquire); // avail idx before the ring slots
            heads.clear();
            while (last_avail != idx) {
                heads.push_back(atomic_load<uint16_t>(m_avail + kAvailRingOffset + 2 * size_t(last_avail % m_size)));
                last_avail++;
            }
            // Complete them in reverse order, in two batches.
            uint16_t used = m_used_idx;
            size_t half = (heads.size() + 1) / 2;
            for (size_t part = 0; part < 2; part++) {
                uint16_t old_used = used;
                for (size_t i = part * half; i < heads.size() && i < (part + 1) * half; i++) {
                    uint8_t* e = m_used + kUsedRingOffset + 8 * size_t(used % m_size);
                    atomic_store<uint32_t>(e, heads[heads.size() - 1 - i]);
                    atomic_store<uint32_t>(e + 4, 0);
                    used++;
                }
                if (used == old_used)
                    continue;
                std::atomic_thread_fence(std::memory_order_release); // entries before the index
                atomic_store<uint16_t>(m_used + kUsedIdxOffset, used);
                std::atomic_thread_fence(std::memory_order_seq_cst); // index before reading used_event
                bool interrupt = m_event_idx
                                     ? need_event(atomic_load<uint16_t>(m_avail + avail_used_event_offset(m_size)), used,
                                                  old_used)
                                     : (atomic_load<uint16_t>(m_avail + kAvailFlagsOffset) & kAvailFNoInterrupt) == 0;
                if (interrupt) {
                    interrupts.release();
                    interrupt_count.fetch_add(1, std::memory_order_relaxed);
                }
            }
            m_used_idx = used;
        }
    }

    std::counting_semaphore<> kicks { 0 };
    std::counting_semaphore<> interrupts { 0 };
    std::atomic<bool> stop { false };
    std::atomic<bool> lost_kick { false };
    std::atomic<uint64_t> interrupt_count { 0 };

private:
    uint16_t m_size;
    uint8_t* m_avail;
    uint8_t* m_used;
    bool m_event_idx;
    uint16_t m_used_idx = 0;
};

void run_threaded(bool event_idx, bool indirect)
{
    constexpr uint16_t kSize = 16;
    constexpr uint64_t kRequests = 100'000;
    SplitQueue::Config config { kSize, event_idx, indirect, 4 };
    size_t ring_bytes = split_queue_layout(kSize).bytes;
    size_t pool_bytes = indirect_pool_bytes(kSize, 4);
    auto* ring = static_cast<uint8_t*>(::operator new(ring_bytes, std::align_val_t(4096)));
    auto* pool = static_cast<uint8_t*>(::operator new(pool_bytes, std::align_val_t(4096)));
    SplitQueue q;
    ASSERT_FALSE(q.init(config, { ring, reinterpret_cast<uint64_t>(ring), ring_bytes },
                        { pool, reinterpret_cast<uint64_t>(pool), pool_bytes })
                     .is_error());

    ThreadedDevice device(q, event_idx);
    std::thread device_thread([&] { device.run(); });

    std::vector<uint8_t> done(kRequests + 1, 0);
    uint64_t submitted = 0, completed = 0, kicks = 0, sleeps = 0;
    bool lost_interrupt = false;
    Segment segs[] = { { 0x1000, 16, false }, { 0x2000, 512, true } };
    // The driver thread; returns at the first failure so the device thread is always joined.
    auto drive = [&] {
        q.disable_interrupts();
        while (completed < kRequests) {
            while (submitted < kRequests) {
                auto r = q.add(segs, 1 + submitted % 2, reinterpret_cast<void*>(submitted + 1));
                if (r.is_error()) {
                    EXPECT_EQ(r.error(), Errno::BUSY);
                    if (r.error() != Errno::BUSY)
                        return;
                    break;
                }
                submitted++;
            }
            if (q.publish()) {
                kicks++;
                device.kicks.release();
            }
            SplitQueue::Completion c;
            bool any = false;
            for (;;) {
                auto r = q.next_used(c);
                EXPECT_FALSE(r.is_error());
                if (r.is_error())
                    return;
                if (!r.value())
                    break;
                uintptr_t n = reinterpret_cast<uintptr_t>(c.cookie);
                EXPECT_TRUE(n >= 1 && n <= kRequests && !done[n]) << n;
                if (n < 1 || n > kRequests || done[n])
                    return;
                done[n] = 1;
                completed++;
                any = true;
            }
            if (any || completed == kRequests)
                continue;
            // Forget interrupts for completions already consumed, so that a token present
            // during the wait below was given after this point.
            while (device.interrupts.try_acquire()) {
            }
            if (q.enable_interrupts()) {
                q.disable_interrupts();
                continue;
            }
            sleeps++;
            if (!device.interrupts.try_acquire_for(kWaitLimit)) {
                lost_interrupt = true;
                return;
            }
            q.disable_interrupts(); // what the interrupt handler does
        }
    };
    drive();
    device.stop.store(true, std::memory_order_release);
    device.kicks.release();
    device_thread.join();
    EXPECT_FALSE(lost_interrupt) << "driver slept through a completion";
    EXPECT_FALSE(device.lost_kick.load()) << "device slept through a request";
    EXPECT_EQ(completed, kRequests);
    EXPECT_FALSE(q.broken());
    // Suppression did its job: far fewer kicks than requests.
    EXPECT_LT(kicks, kRequests);
    std::printf("kicks %llu, driver sleeps %llu, interrupts %llu for %llu requests\n", (unsigned long long)kicks,
                (unsigned long long)sleeps, (unsigned long long)device.interrupt_count.load(),
                (unsigned long long)kRequests);
    ::operator delete(ring, std::align_val_t(4096));
    ::operator delete(pool, std::align_val_t(4096));
}

TEST(VirtqueueThreads, FlagsNoLostNotifications) { run_threaded(false, false); }
TEST(VirtqueueThreads, EventIdxNoLostNotifications) { run_threaded(true, false); }
TEST(VirtqueueThreads, EventIdxIndirectNoLostNotifications) { run_threaded(true, true); }

} // namespace
