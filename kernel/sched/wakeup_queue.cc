// Lock-free cross-CPU wake-up queues (see wakeup_queue.h for the correctness argument).
#include <sched/wakeup_queue.h>

#include <lib/assert.h>
#include <new>

namespace sched {

namespace {

constexpr size_t round_up(size_t x) { return (x + kCacheLine - 1) / kCacheLine * kCacheLine; }

} // namespace

size_t WakeupQueues::storage_size(unsigned ncpus)
{
    return round_up(sizeof(WakeupQueues)) + sizeof(Target) * ncpus + sizeof(SpscRing) * size_t(ncpus) * ncpus;
}

Result<WakeupQueues*> WakeupQueues::create(unsigned ncpus, void* storage, size_t size)
{
    if (ncpus == 0 || ncpus > kMaxCpus || !storage || uintptr_t(storage) % kCacheLine != 0
        || size < storage_size(ncpus))
        return Errno::INVAL;
    char* p = static_cast<char*>(storage);
    Target* targets = reinterpret_cast<Target*>(p + round_up(sizeof(WakeupQueues)));
    SpscRing* rings = reinterpret_cast<SpscRing*>(reinterpret_cast<char*>(targets) + sizeof(Target) * ncpus);
    for (unsigned i = 0; i < ncpus; i++) {
        Target* t = new (&targets[i]) Target;
        for (auto& w : t->incoming)
            w.store(0, std::memory_order_relaxed); // published by whoever hands out the object
    }
    for (size_t i = 0; i < size_t(ncpus) * ncpus; i++)
        new (&rings[i]) SpscRing;
    return new (storage) WakeupQueues(ncpus, targets, rings);
}

PostResult WakeupQueues::post(unsigned source, unsigned target, WakeupItem* item)
{
    NIMBUS_ASSERT(source < m_ncpus && target < m_ncpus && item);
    Target& t = m_targets[target];
    PostResult result{false, false, false};
    if (!ring(source, target).push(item)) {
        // Ring full: the lock-free overflow stack (see the header's "Ring full").
        result.overflowed = true;
        WakeupItem* head = t.overflow.load(std::memory_order_relaxed);
        do {
            item->wakeup_next.store(head, std::memory_order_relaxed);
            // pairs with drain_overflow()'s exchange(acquire): publishes the node and its link
        } while (!t.overflow.compare_exchange_weak(head, item, std::memory_order_release,
                                                   std::memory_order_relaxed));
    }
    const uint64_t bit = uint64_t(1) << (source % 64);
    // pairs with drain()'s exchange(acq_rel) (publishes the item stored above) and, being
    // seq_cst, with stop_polling()'s store/loads (the Dekker pair in the header).
    uint64_t old = t.incoming[source / 64].fetch_or(bit, std::memory_order_seq_cst);
    result.newly_set = (old & bit) == 0;
    // pairs with start_polling()/stop_polling()'s seq_cst stores
    result.send_ipi = result.newly_set && !t.polling.load(std::memory_order_seq_cst);
    return result;
}

bool WakeupQueues::has_pending(unsigned target) const
{
    const Target& t = m_targets[target];
    for (unsigned w = 0; w < words(); w++) {
        // pairs with post()'s fetch_or(seq_cst)
        if (t.incoming[w].load(std::memory_order_seq_cst) != 0)
            return true;
    }
    return false;
}

void WakeupQueues::start_polling(unsigned target)
{
    // Relaxed: read by post()'s polling.load(seq_cst), but the Dekker pair is stop_polling()'s
    // seq_cst store with that load (see "Polling" in the header for why this may be relaxed).
    m_targets[target].polling.store(true, std::memory_order_relaxed);
}

bool WakeupQueues::stop_polling(unsigned target)
{
    // pairs with post()'s polling.load(seq_cst); must precede the bitmap loads in the single
    // total order (seq_cst store then seq_cst loads: the Dekker pattern)
    m_targets[target].polling.store(false, std::memory_order_seq_cst);
    return has_pending(target);
}

} // namespace sched
