// Lock-free cross-CPU wake-ups: per-(source, target) single-producer/single-consumer rings of
// thread pointers, an "incoming" bitmap per target with one bit per source CPU (no 64-CPU
// limit), a per-target overflow stack for full rings, and the target's "polling" flag that
// saves the IPI when the target is spinning in its idle loop anyway.
//
// ## Correctness argument
//
// Roles. post(s, t, item) runs only on CPU s with preemption disabled: it is the only producer
// of ring (s→t). drain(t, …), set_polling(t, …) and stop_polling(t) run only on CPU t: it is the
// only consumer of every ring (·→t) and of t's overflow stack. An item is posted at most once
// until it has been drained (the scheduler guarantees it: a thread is woken once per sleep).
//
// The ring (SpscRing). The producer writes the slot, then publishes it with tail.store(release);
// the consumer reads tail with acquire, reads the slot, then frees it with head.store(release),
// which the producer reads with acquire before it reuses the slot. Both operations are
// wait-free (no loops). Indices are free-running 32-bit counters; tail − head ≤ capacity, so
// wrap-around is harmless. Linearisation points: push at its tail store, pop at its head store.
//
// The bitmap. post() first stores the item (ring or overflow), then sets bit s of t's incoming
// word with fetch_or(seq_cst) (a release RMW). drain() clears whole words with exchange(0,
// acq_rel) and only then pops the rings of the sources whose bits it took, until they are
// empty, then takes the overflow stack. For any item, in the modification order of its word:
//   (a) its fetch_or precedes the clear: the clear reads a value from the release sequence
//       headed by that fetch_or, so the pops after it see the item (this drain delivers it);
//   (b) it follows the clear: either the bit was clear, so post() reports it newly set and the
//       caller signals t (IPI, or t is polling) — a later drain; or another post set it after
//       the clear and signalled, and our fetch_or precedes the next clear — case (a) for that
//       next drain.
// So the contract holds: when post() says no IPI is needed, a drain that happens after the
// pending signal delivers the item. No item is delivered twice: each is stored once and popped
// once (a pop is the consumer's, and the overflow stack is emptied by one exchange).
// A drain may find a set bit with an empty ring (it popped that item early, in case (b)): it
// just finds nothing.
//
// Polling (Dekker). post(): fetch_or(seq_cst) on the word, then polling.load(seq_cst). The idle
// loop stops polling with polling.store(false, seq_cst), then loads the words (seq_cst) and
// does not halt if any bit is set. In the single total order of seq_cst operations one of the
// two sees the other: either post() sees polling == false and sends the IPI, or the idle CPU
// sees the bit and drains instead of halting. No wake-up is lost to the halt.
// start_polling() is a relaxed store (no atomic exchange on every idle entry). Suppose a post
// reads polling == true from it and skips the IPI. The idle loop's next stop_polling() store
// is sequenced after it; had that store preceded the post's seq_cst load in the total order,
// the load could not have read the older start_polling() value. So it follows the load, and
// stop_polling()'s seq_cst loads, later still, see the post's bit (if the polling loop has
// not seen it already). A start_polling() store that becomes visible late only costs an IPI.
//
// Ring full. The producer does not wait (the target may be a descheduled vCPU; waiting would
// be the lock-holder-preemption problem this design avoids) and does not fail (a wake-up must
// not be dropped). It pushes the item onto t's overflow stack — an intrusive Treiber stack
// through WakeupItem::wakeup_next, a CAS loop that is lock-free (a failed CAS means another
// producer's push succeeded) — and sets its bit as usual. The consumer takes the whole stack
// with one exchange(nullptr, acquire), so there is no pop of a single node and hence no ABA.
// Items from the overflow are delivered in posting order (the taken list is reversed), but
// not ordered with the rings' items; wake-ups need no order.
//
// Memory: ncpus² rings of 384 bytes plus 192 bytes per CPU, in storage the caller provides
// (storage_size()): 24 KiB for 8 CPUs, 24 MiB for 256.
#pragma once

#include <atomic>
#include <lib/result.h>
#include <stddef.h>
#include <stdint.h>

namespace sched {

inline constexpr unsigned kMaxCpus = 1024;
inline constexpr unsigned kWakeupRingCapacity = 32; // power of two
inline constexpr size_t kCacheLine = 64;

// What a ring carries: embed it in (a base of) the thread. wakeup_next is used only while
// the item sits on an overflow stack.
struct WakeupItem {
    std::atomic<WakeupItem*> wakeup_next{nullptr};
};

// Bounded wait-free single-producer/single-consumer ring of WakeupItem pointers.
class SpscRing {
public:
    // Producer only. false when full (nothing stored).
    bool push(WakeupItem* item)
    {
        uint32_t tail = m_tail.load(std::memory_order_relaxed); // only we write it
        if (tail - m_head_cache == kWakeupRingCapacity) {
            // pairs with the consumer's head.store(release) in pop(): the slot was read
            m_head_cache = m_head.load(std::memory_order_acquire);
            if (tail - m_head_cache == kWakeupRingCapacity)
                return false;
        }
        m_slots[tail % kWakeupRingCapacity] = item;
        // pairs with pop()'s tail.load(acquire): publishes the slot
        m_tail.store(tail + 1, std::memory_order_release);
        return true;
    }

    // Consumer only. nullptr when empty.
    WakeupItem* pop()
    {
        uint32_t head = m_head.load(std::memory_order_relaxed); // only we write it
        if (head == m_tail_cache) {
            // pairs with push()'s tail.store(release): the slot's contents are visible
            m_tail_cache = m_tail.load(std::memory_order_acquire);
            if (head == m_tail_cache)
                return nullptr;
        }
        WakeupItem* item = m_slots[head % kWakeupRingCapacity];
        // pairs with push()'s head.load(acquire): the slot may be reused
        m_head.store(head + 1, std::memory_order_release);
        return item;
    }

private:
    // Producer's line: its index and its cached view of the consumer's.
    alignas(kCacheLine) std::atomic<uint32_t> m_tail{0};
    uint32_t m_head_cache = 0;
    // Consumer's line.
    alignas(kCacheLine) std::atomic<uint32_t> m_head{0};
    uint32_t m_tail_cache = 0;
    alignas(kCacheLine) WakeupItem* m_slots[kWakeupRingCapacity] = {};
};

struct PostResult {
    bool newly_set;  // the source's bit in the target's bitmap was clear before this post
    bool send_ipi;   // newly_set and the target is not polling: the caller must send an IPI
    bool overflowed; // the ring was full; the item went to the overflow stack
};

class WakeupQueues {
public:
    // Bytes of storage (aligned to kCacheLine) needed for `ncpus` CPUs.
    static size_t storage_size(unsigned ncpus);

    // Builds the queues inside `storage` (which must outlive them; never freed by this type).
    // INVAL if ncpus is 0 or above kMaxCpus, or storage is too small or misaligned.
    static Result<WakeupQueues*> create(unsigned ncpus, void* storage, size_t size);

    unsigned cpu_count() const { return m_ncpus; }

    // Producer: on CPU `source` only, preemption disabled. Never blocks or fails; wait-free
    // unless the ring is full (then lock-free). If send_ipi, the caller sends t an IPI whose
    // handler (or the next reschedule) calls drain(t).
    PostResult post(unsigned source, unsigned target, WakeupItem* item);

    // Consumer: on CPU `target` only. Calls fn(WakeupItem*) for every item posted to it that
    // it can see, each exactly once over all drains; returns how many. Call it after receiving
    // the IPI, on every reschedule and while polling. fn may post the item again.
    template<typename F>
    size_t drain(unsigned target, F&& fn);

    // Consumer: any bit set? (seq_cst loads; cheap enough to poll.)
    bool has_pending(unsigned target) const;

    // Consumer: whether drain(target) may find anything (relaxed loads of the bitmap and the
    // overflow stack; no ordering). A false "no" is possible only for posts that did not
    // happen-before the call — those the next signal's drain delivers, as in drain()'s own
    // skip of clear words — so a caller may skip drain() on "no". Inline, for the common
    // nothing-posted case on every switch.
    bool may_have_pending(unsigned target) const
    {
        const Target& t = m_targets[target];
        for (unsigned w = 0; w < words(); w++) {
            if (t.incoming[w].load(std::memory_order_relaxed) != 0)
                return true;
        }
        return t.overflow.load(std::memory_order_relaxed) != nullptr;
    }

    // Consumer: the idle loop announces that it polls has_pending()/drain() so posters skip
    // the IPI.
    void start_polling(unsigned target);
    // Consumer: the idle loop stops polling before it halts. Returns true if wake-ups are
    // pending — then it must drain instead of halting (see "Polling" above).
    [[nodiscard]] bool stop_polling(unsigned target);

private:
    static constexpr unsigned kWords = kMaxCpus / 64;

    struct alignas(kCacheLine) Target {
        std::atomic<uint64_t> incoming[kWords]; // bit s: source s posted since t cleared it
        std::atomic<bool> polling{false};
        std::atomic<WakeupItem*> overflow{nullptr};
    };

    WakeupQueues(unsigned ncpus, Target* targets, SpscRing* rings)
        : m_ncpus(ncpus), m_targets(targets), m_rings(rings)
    {
    }
    SpscRing& ring(unsigned source, unsigned target) { return m_rings[size_t(target) * m_ncpus + source]; }
    unsigned words() const { return (m_ncpus + 63) / 64; }
    template<typename F>
    size_t drain_overflow(Target& t, F& fn);

    unsigned m_ncpus;
    Target* m_targets;
    SpscRing* m_rings;
};

template<typename F>
size_t WakeupQueues::drain(unsigned target, F&& fn)
{
    Target& t = m_targets[target];
    size_t delivered = 0;
    for (unsigned w = 0; w < words(); w++) {
        // Skip clear words without writing. A stale 0 is impossible for a bit whose post
        // happened-before this drain (coherence), and any other bit is a later drain's.
        if (t.incoming[w].load(std::memory_order_relaxed) == 0)
            continue;
        // pairs with post()'s fetch_or: every item stored before a bit we take is visible
        uint64_t bits = t.incoming[w].exchange(0, std::memory_order_acq_rel);
        while (bits) {
            unsigned source = w * 64 + unsigned(__builtin_ctzll(bits));
            bits &= bits - 1;
            SpscRing& r = ring(source, target);
            while (WakeupItem* item = r.pop()) {
                fn(item);
                delivered++;
            }
        }
    }
    return delivered + drain_overflow(t, fn);
}

template<typename F>
size_t WakeupQueues::drain_overflow(Target& t, F& fn)
{
    if (t.overflow.load(std::memory_order_relaxed) == nullptr)
        return 0;
    // pairs with post()'s compare_exchange(release): the pushed nodes' links are visible
    WakeupItem* list = t.overflow.exchange(nullptr, std::memory_order_acquire);
    // The stack is newest first; reverse it to deliver in posting order.
    WakeupItem* fifo = nullptr;
    while (list) {
        WakeupItem* next = list->wakeup_next.load(std::memory_order_relaxed);
        list->wakeup_next.store(fifo, std::memory_order_relaxed);
        fifo = list;
        list = next;
    }
    size_t delivered = 0;
    while (fifo) {
        // Read the link before fn(), which may post the item again.
        WakeupItem* next = fifo->wakeup_next.load(std::memory_order_relaxed);
        fifo->wakeup_next.store(nullptr, std::memory_order_relaxed);
        fn(fifo);
        delivered++;
        fifo = next;
    }
    return delivered;
}

} // namespace sched
