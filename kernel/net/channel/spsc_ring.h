// A net channel's ring (osv-design.md §6, after Van Jacobson's net channels): a bounded
// single-producer/single-consumer queue of pointers. The producer is the receive thread that
// classified a packet to this flow; the consumer is whichever application thread runs the
// flow's protocol input (inside recv/send/poll/close) — one at a time, which the flow's owner
// guarantees (its socket lock). No locks, no read-modify-write: one store per side.
//
// ## Memory ordering
//
//   m_tail is written only by the producer, m_head only by the consumer; both only grow
//   (they wrap as unsigned integers; capacity is a power of two, so tail − head is the count).
//
//   push: t = m_tail (relaxed: own variable); h = m_head (acquire) — pairs with the
//         consumer's release of head, so the slot it vacated is free to overwrite (the
//         consumer's read of that slot happens before our write); full if t − h == N; write
//         slot[t mod N]; m_tail = t + 1 (release) — publishes the slot's contents.
//   pop:  h = m_head (relaxed); t = m_tail (acquire) — pairs with push's release, so the
//         slot's contents are visible; empty if h == t; read slot[h mod N]; m_head = h + 1
//         (release).
//
// A full ring refuses the push (the caller drops or takes the ordinary path); nothing waits.
// Waking the consumer is the owner's business: after a successful push the producer
// signals the flow's waiters (the socket's poll wait queue); the consumer re-checks the ring
// after registering as a waiter, so a push between its check and its sleep is not lost.
// head and tail live in separate cache lines so the two sides do not false-share.
#pragma once

#include <atomic>
#include <stddef.h>
#include <stdint.h>

namespace net {

template <typename T, size_t Capacity>
class SpscRing {
    static_assert(Capacity >= 2 && (Capacity & (Capacity - 1)) == 0, "capacity must be a power of two");

public:
    // Producer only. False (nothing changed) when full.
    bool push(T value)
    {
        size_t t = m_tail.load(std::memory_order_relaxed);
        size_t h = m_head.load(std::memory_order_acquire);
        if (t - h == Capacity)
            return false;
        m_slots[t & (Capacity - 1)] = value;
        m_tail.store(t + 1, std::memory_order_release);
        return true;
    }

    // Consumer only. False when empty.
    bool pop(T& out)
    {
        size_t h = m_head.load(std::memory_order_relaxed);
        size_t t = m_tail.load(std::memory_order_acquire);
        if (h == t)
            return false;
        out = m_slots[h & (Capacity - 1)];
        m_head.store(h + 1, std::memory_order_release);
        return true;
    }

    // Either side; a snapshot (the other side may move it at once).
    bool is_empty() const
    {
        return m_head.load(std::memory_order_acquire) == m_tail.load(std::memory_order_acquire);
    }
    size_t size() const
    {
        size_t h = m_head.load(std::memory_order_acquire); // first: tail only grows past it
        return m_tail.load(std::memory_order_acquire) - h;
    }
    static constexpr size_t capacity() { return Capacity; }

private:
    alignas(64) std::atomic<size_t> m_head{ 0 };
    alignas(64) std::atomic<size_t> m_tail{ 0 };
    alignas(64) T m_slots[Capacity];
};

} // namespace net
