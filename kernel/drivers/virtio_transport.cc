// The transport-independent half of virtio transports (virtio_transport.h).
#include <core/console.h>
#include <core/cpu.h>
#include <core/timer.h>
#include <drivers/virtio_transport.h>

namespace drivers::virtio {

namespace {
constexpr unsigned kResetPolls = 1000;       // a device must read status 0 after a reset
constexpr unsigned kConfigGenerationTries = 16;
} // namespace

Result<uint64_t> Transport::negotiate(uint64_t wanted)
{
    // [virtio-v1.2 §3.1.1] Reset, then announce ourselves.
    set_status(0);
    unsigned polls = 0;
    while (status() != 0) {
        if (++polls == kResetPolls) {
            log_warn("%s: the device does not reset", m_name);
            return Errno::IO;
        }
        core::sleep_ns(10'000);
    }
    set_status(kStatusAcknowledge);
    set_status(kStatusAcknowledge | kStatusDriver);

    uint64_t offered = device_features();
    uint64_t accepted = offered & wanted;
    if (m_legacy) {
        accepted &= 0xffffffffull; // legacy devices have 32 feature bits
    } else {
        if (!(offered & kFeatureVersion1)) {
            log_warn("%s: a modern transport whose device does not offer VERSION_1", m_name);
            fail();
            return Errno::NOTSUP;
        }
        accepted |= kFeatureVersion1;
    }
    set_driver_features(accepted);
    if (!m_legacy) { // [virtio-v1.2 §3.1.1 steps 5-6] legacy devices have no FEATURES_OK
        set_status(kStatusAcknowledge | kStatusDriver | kStatusFeaturesOk);
        if (!(status() & kStatusFeaturesOk)) {
            log_warn("%s: the device refused features %#lx", m_name, accepted);
            fail();
            return Errno::NOTSUP;
        }
    }
    return accepted;
}

Result<size_t> Transport::read_config_bytes(void* out, size_t size)
{
    size_t available = config_size();
    if (size > available)
        size = available;
    auto* bytes = static_cast<uint8_t*>(out);
    for (unsigned tries = 0; tries < kConfigGenerationTries; ++tries) {
        uint32_t before = config_generation();
        size_t at = 0;
        for (; at + 4 <= size; at += 4) {
            uint32_t v = raw_config(uint32_t(at), 4);
            for (unsigned b = 0; b < 4; ++b)
                bytes[at + b] = uint8_t(v >> (8 * b));
        }
        for (; at < size; ++at)
            bytes[at] = uint8_t(raw_config(uint32_t(at), 1));
        if (config_generation() == before)
            return size;
    }
    log_warn("%s: configuration keeps changing while read", m_name);
    return Errno::IO;
}

uint16_t Transport::count_queues_by_probing(uint16_t limit)
{
    uint16_t n = 0;
    while (n < limit && queue_max_size(n) != 0)
        ++n;
    return n;
}

Result<void> Transport::start_interrupts(uint16_t queues, QueueWork work, void* driver)
{
    if (!work || queues == 0 || m_thread_count != 0)
        return Errno::INVAL;
    m_work = work;
    m_driver = driver;
    m_queues = queues;
    for (uint16_t q = 0; q < queues && q < kMaxQueueThreads; ++q)
        m_slots[q] = { this, q };
    return attach_interrupts(queues);
}

void Transport::work_one(void* slot)
{
    auto* s = static_cast<QueueSlot*>(slot);
    s->transport->m_work(s->transport->m_driver, s->queue);
}

void Transport::work_all(void* self)
{
    auto* t = static_cast<Transport*>(self);
    for (uint16_t q = 0; q < t->m_queues; ++q)
        t->m_work(t->m_driver, q);
}

Result<void> Transport::add_thread(core::InterruptThread* thread)
{
    if (m_thread_count == kMaxQueueThreads) {
        thread->destroy();
        return Errno::BUSY;
    }
    m_threads[m_thread_count++] = thread;
    return {};
}

void Transport::shut_down()
{
    set_status(0);
    for (size_t i = 0; i < m_thread_count; ++i)
        m_threads[i]->destroy();
    m_thread_count = 0;
}

} // namespace drivers::virtio
