// The transport-independent half of virtio transports (virtio_transport.h).
#include <arch/x86_64/cpu.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/timer.h>
#include <drivers/virtio_transport.h>
#include <lib/string.h>

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

// The virtqueue protocol has two store -> load points (split_queue.h): the driver stores
// avail->idx then reads avail_event (kick or not), and stores used_event then re-reads used->idx
// (sleep or not); the device does the mirror image. Each side's full fence makes sure at least
// one of them sees the other's store. QEMU's TCG translates the guest's fences (mfence, locked
// instructions) into host fences only when the machine has more than one vCPU (CF_PARALLEL) —
// up to QEMU 8.0; commit c914d46d0a "tcg: Do not elide memory barriers for !CF_PARALLEL in
// system mode" (v8.1.0) emits them always. With one vCPU the host CPU may then keep the
// guest's index store in its store buffer while the guest's next load reads the device's old
// event index, and the device thread (QEMU's main loop) reads the old avail/used index: the
// kick or the interrupt is lost, and with event idx every later one too (the window it waited
// for has passed) — a queue that stops for good. Seen as a network stall on `-smp 1 -accel tcg`
// (QEMU 7.2): the transmit ring holding ACKs the device was never told about. An access to a
// device register is handled by QEMU under its global mutex, a full fence on the host.
bool Transport::needs_device_fence()
{
    if (core::cpu_count() > 1)
        return false; // the fences are real: QEMU emits them for a multi-vCPU machine
    if (!(arch::cpuid(1).ecx & (1u << 31))) // hypervisor present [intel-sdm-2a CPUID.1:ECX.31]
        return false;
    // QEMU's TCG signature in the hypervisor leaf: "TCGTCGTCGTCG" in EBX, ECX, EDX.
    arch::CpuidResult sig = arch::cpuid(0x40000000);
    char name[12];
    lib::mem_copy(name, &sig.ebx, 4);
    lib::mem_copy(name + 4, &sig.ecx, 4);
    lib::mem_copy(name + 8, &sig.edx, 4);
    return lib::mem_compare(name, "TCGTCGTCGTCG", 12) == 0;
}

void Transport::device_fence(void* transport) { (void)static_cast<Transport*>(transport)->status(); }

uint16_t Transport::count_queues_by_probing(uint16_t limit)
{
    uint16_t n = 0;
    while (n < limit && queue_max_size(n) != 0)
        ++n;
    return n;
}

Result<void> Transport::start_interrupts(uint16_t queues, QueueWork work, void* driver, QueueCpu cpu_of)
{
    if (!work || queues == 0 || m_thread_count != 0)
        return Errno::INVAL;
    m_work = work;
    m_cpu_of = cpu_of;
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
