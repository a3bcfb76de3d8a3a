// virtio-rng (virtio_rng.h) [virtio-v1.2 §5.4]: one queue, device-writable buffers filled
// with random bytes.
#include <atomic>
#include <core/clock.h>
#include <core/console.h>
#include <core/entropy.h>
#include <core/memory.h>
#include <core/thread.h>
#include <core/timer.h>
#include <drivers/virtio_rng.h>
#include <new>
#include <virtio/split_queue.h>

namespace drivers::virtio {
namespace {

constexpr uint32_t kRequestBytes = 64;
constexpr uint64_t kReseedSeconds = 60;
constexpr uint64_t kAnswerSeconds = 10;
constexpr uint16_t kQueueSize = 4; // one request in flight at a time

class EntropyDevice {
public:
    explicit EntropyDevice(Transport& transport) : m_transport(transport) {}

    Result<void> start()
    {
        TRY(m_transport.negotiate(0));
        uint16_t size = m_transport.queue_max_size(0);
        if (size == 0)
            return Errno::NOTSUP;
        if (!m_transport.is_legacy() && size > kQueueSize)
            size = kQueueSize;
        if (size & (size - 1))
            return Errno::NOTSUP;
        ::virtio::QueueLayout layout = ::virtio::split_queue_layout(size);
        size_t pages = (layout.bytes + 4095) / 4096;
        void* ring = core::alloc_contiguous_pages(pages);
        m_buffer = static_cast<uint8_t*>(core::alloc_contiguous_pages(1));
        if (!ring || !m_buffer)
            return Errno::NOMEM;
        ::virtio::SplitQueue::Config config;
        config.size = size;
        config.clamp_used_len = m_transport.is_legacy();
        if (Transport::needs_device_fence()) {
            config.device_fence = &Transport::device_fence;
            config.device_fence_context = &m_transport;
        }
        TRY(m_ring.init(config, { ring, core::virt_to_phys(ring), pages * 4096 }, {}));
        TRY(m_transport.start_interrupts(1, &EntropyDevice::on_queue, this));
        TRY(m_transport.enable_queue(0, size, m_ring.desc_phys(), m_ring.avail_phys(), m_ring.used_phys()));
        m_transport.driver_ok();
        core::ThreadAttr attr;
        attr.stack_size = 16 * 1024;
        auto thread = TRY(core::Thread::create("virtio-rng", &EntropyDevice::feed, this, attr));
        core::Thread::detach(thread);
        return {};
    }

private:
    // The feeder thread: request, wait, mix in, sleep, forever.
    static void feed(void* self)
    {
        auto* d = static_cast<EntropyDevice*>(self);
        bool reported = false;
        for (;;) {
            uint32_t got = d->request();
            if (got) {
                core::add_entropy(d->m_buffer, got, size_t(got) * 8);
                __builtin_memset(d->m_buffer, 0, kRequestBytes); // no copy of pool input left behind
                if (!reported) {
                    log_info("%s: virtio-rng: %u bytes into the entropy pool (then every %lu s)", d->m_transport.name(),
                             got, kReseedSeconds);
                    reported = true;
                }
            }
            core::sleep_ns(kReseedSeconds * 1'000'000'000ull);
        }
    }

    // One request for kRequestBytes; the bytes the device wrote (0 if none in time).
    uint32_t request()
    {
        if (m_waiting.load(std::memory_order_acquire)) {
            // The last request is still out (a slow device): do not pile up more.
            return 0;
        }
        m_feeder = core::current_thread();
        m_written.store(0, std::memory_order_relaxed);
        m_waiting.store(true, std::memory_order_release);
        ::virtio::Segment segment{ core::virt_to_phys(m_buffer), kRequestBytes, true };
        if (m_ring.add(&segment, 1, this).is_error()) {
            m_waiting.store(false, std::memory_order_relaxed);
            return 0;
        }
        if (m_ring.publish())
            m_transport.notify(0);
        uint64_t deadline = core::monotonic_ns() + kAnswerSeconds * 1'000'000'000ull;
        while (m_waiting.load(std::memory_order_acquire)) {
            if (!core::park_current_thread_until(deadline) && core::monotonic_ns() >= deadline) {
                if (!m_slow_reported)
                    log_warn("%s: virtio-rng: no answer within %lu s", m_transport.name(), kAnswerSeconds);
                m_slow_reported = true;
                return 0;
            }
        }
        return m_written.load(std::memory_order_relaxed);
    }

    // The queue's interrupt thread: the request came back.
    static void on_queue(void* self, uint16_t)
    {
        auto* d = static_cast<EntropyDevice*>(self);
        for (;;) {
            ::virtio::SplitQueue::Completion c;
            auto next = d->m_ring.next_used(c);
            if (next.is_error()) {
                if (!d->m_broken_reported)
                    log_error("%s: virtio-rng: the device corrupted its queue; no more entropy from it",
                              d->m_transport.name());
                d->m_broken_reported = true;
                return;
            }
            if (!next.value()) {
                if (!d->m_ring.enable_interrupts())
                    return;
                continue;
            }
            uint32_t written = c.written > kRequestBytes ? kRequestBytes : c.written;
            d->m_written.store(written, std::memory_order_relaxed);
            d->m_waiting.store(false, std::memory_order_release);
            core::unpark_thread(d->m_feeder);
        }
    }

    Transport& m_transport;
    ::virtio::SplitQueue m_ring;
    uint8_t* m_buffer = nullptr;
    core::Thread* m_feeder = nullptr;
    std::atomic<bool> m_waiting{ false };
    std::atomic<uint32_t> m_written{ 0 };
    bool m_slow_reported = false;
    bool m_broken_reported = false;
};

} // namespace

Result<void> probe_entropy(Transport& transport)
{
    TRY(start_driver<EntropyDevice>(transport));
    return {};
}

} // namespace drivers::virtio
