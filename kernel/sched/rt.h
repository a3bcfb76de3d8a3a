// Real-time run queue: SCHED_FIFO/SCHED_RR threads ordered by static priority, FIFO within a
// priority, above the fair class.
//
// Priorities are Linux's 1..99, higher runs first. Each level is an intrusive doubly linked
// list; a two-word bitmap of non-empty levels makes highest() O(1). The round-robin time slice
// and the pick order between the classes live in run_queue.h; this is just the ordered set.
//
// Not synchronised: one CPU owns it (same rules as FairRunQueue). Never allocates or fails.
#pragma once

#include <sched/fair.h>
#include <stddef.h>
#include <stdint.h>

namespace sched {

enum class Policy : uint8_t {
    Fair,       // the fair class (fair.h)
    Fifo,       // runs until it blocks, yields or a higher RT priority becomes runnable
    RoundRobin, // as Fifo, plus a time slice after which it goes behind its equals
};

inline constexpr int kRtPriorityMin = 1;
inline constexpr int kRtPriorityMax = 99;

// Per-thread state of the real-time classes; a base of the thread like FairEntity.
struct RtEntity {
    int rt_priority = kRtPriorityMin;
    // Round-robin slice left; owned by the run queue.
    Nanos rr_remaining = 0;
    // Links, owned by the RtRunQueue while queued.
    RtEntity* rt_prev = nullptr;
    RtEntity* rt_next = nullptr;
    bool rt_queued = false;
};

class RtRunQueue {
public:
    RtRunQueue() = default;
    RtRunQueue(const RtRunQueue&) = delete;
    RtRunQueue& operator=(const RtRunQueue&) = delete;

    // Appends at the tail / inserts at the head of e's level. e must not be queued and its
    // priority must be within [kRtPriorityMin, kRtPriorityMax].
    void push_back(RtEntity& e);
    void push_front(RtEntity& e);
    // Unlinks a queued entity.
    void remove(RtEntity& e);

    // The first entity of the highest non-empty level, or nullptr.
    RtEntity* highest() const;
    // Its priority, or 0 when empty.
    int highest_priority() const;
    // Number of entities queued at `priority`.
    size_t count_at(int priority) const;

    bool empty() const { return m_size == 0; }
    size_t size() const { return m_size; }

private:
    struct Level {
        RtEntity* head = nullptr;
        RtEntity* tail = nullptr;
        size_t count = 0;
    };
    void mark(int priority, bool nonempty);

    Level m_levels[kRtPriorityMax + 1];
    uint64_t m_nonempty[2] = {0, 0}; // bit p ⇔ level p non-empty
    size_t m_size = 0;
};

} // namespace sched
