// The host binding of thread_ops.h: each std::thread gets a ksync::Thread with one futex word
// used as a binary wake-up token. Compiled into sync_host and sync_tsan only.
//
// The token is deliberately driven with relaxed atomics and raw futex system calls, which
// ThreadSanitizer does not see as synchronisation. A park/unpark pair therefore creates no
// happens-before edge in TSan's eyes, and the algorithms under test must order their data
// with their own atomics (WaitRecord's flag, the mutex's count and token): a missing acquire
// or release there is reported instead of being hidden by the parking layer. Relaxed is
// enough for the token itself: it carries no data, and the futex system call checks and
// sleeps atomically on the same word, so no wake-up is lost whatever the order.
#include <sync/host_thread_ops.h>
#include <sync/thread_ops.h>

#include <atomic>
#include <climits>
#include <mutex>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

namespace ksync {

// States of m_token: a stored wake-up, nothing, or a thread asleep (or about to be) on it.
class Thread {
public:
    static constexpr int kNotified = 1;
    static constexpr int kEmpty = 0;
    static constexpr int kParked = -1;

    std::atomic<int> m_token{kEmpty};
    unsigned m_park_calls = 0;     // owning thread only (spurious wake-up injection)
    bool m_can_block = true;       // owning thread only
    Thread* m_next_free = nullptr; // g_pool_lock
    Thread* m_next_all = nullptr;  // g_pool_lock
};
static_assert(sizeof(std::atomic<int>) == sizeof(int), "futex word must be a plain int");

namespace {

// Thread structures are never freed, only recycled: a late unpark() (thread_ops.h lifetime
// rule) then lands on a live structure and is at worst a spurious wake-up for its new user.
// The pool is host test scaffolding, so an ordinary std::mutex guards it.
std::mutex g_pool_lock;
Thread* g_free_threads = nullptr; // guarded by g_pool_lock
Thread* g_all_threads = nullptr;  // guarded by g_pool_lock; keeps every Thread reachable (LSan)

std::atomic<unsigned> g_spurious_period{0};
std::atomic<uint64_t> g_sleeps{0};
std::atomic<uint64_t> g_unparks{0};

Thread* take_thread()
{
    std::lock_guard<std::mutex> guard(g_pool_lock);
    if (Thread* thread = g_free_threads) {
        g_free_threads = thread->m_next_free;
        thread->m_park_calls = 0;
        thread->m_can_block = true;
        return thread;
    }
    Thread* thread = new Thread;
    thread->m_next_all = g_all_threads;
    g_all_threads = thread;
    return thread;
}

void give_back_thread(Thread* thread)
{
    std::lock_guard<std::mutex> guard(g_pool_lock);
    thread->m_next_free = g_free_threads;
    g_free_threads = thread;
}

struct CurrentThread {
    Thread* thread = take_thread();
    ~CurrentThread() { give_back_thread(thread); }
};
thread_local CurrentThread t_current;

long futex(std::atomic<int>* word, int op, int value)
{
    return syscall(SYS_futex, reinterpret_cast<int*>(word), op, value, nullptr, nullptr, 0);
}

// FUTEX_WAIT_BITSET takes an absolute timeout on CLOCK_MONOTONIC (FUTEX_CLOCK_REALTIME not
// set), the clock now_ns() reads, so a deadline needs no conversion and cannot drift.
long futex_wait_until(std::atomic<int>* word, int value, uint64_t deadline_ns)
{
    timespec abs;
    abs.tv_sec = time_t(deadline_ns / 1'000'000'000);
    abs.tv_nsec = long(deadline_ns % 1'000'000'000);
    return syscall(SYS_futex, reinterpret_cast<int*>(word), FUTEX_WAIT_BITSET_PRIVATE, value, &abs,
                   nullptr, FUTEX_BITSET_MATCH_ANY);
}

// Whether this park should return at once as an injected spurious wake-up.
bool inject_spurious(Thread* self)
{
    // Relaxed: a test knob set before the threads start (thread creation orders it).
    unsigned period = g_spurious_period.load(std::memory_order_relaxed);
    return period != 0 && ++self->m_park_calls % period == 0;
}

} // namespace

Thread* current_thread()
{
    return t_current.thread;
}

void park_current()
{
    Thread* self = current_thread();
    if (inject_spurious(self))
        return;
    // kNotified → kEmpty: consume the stored wake-up and return. kEmpty → kParked: sleep.
    // Relaxed: see the file comment; pairs with the exchange in unpark() only through the
    // futex word's coherence, not for data.
    if (self->m_token.fetch_sub(1, std::memory_order_relaxed) == Thread::kNotified)
        return;
    g_sleeps.fetch_add(1, std::memory_order_relaxed); // statistics only
    // Sleeps only if the word is still kParked; an unpark in between makes this return.
    futex(&self->m_token, FUTEX_WAIT_PRIVATE, Thread::kParked);
    // Woken, or a spurious return (EINTR): either way leave the token empty. An unpark
    // racing with this exchange either is consumed by it or stays stored for the next park.
    // Relaxed: as above.
    self->m_token.exchange(Thread::kEmpty, std::memory_order_relaxed);
}

bool park_current_until(uint64_t deadline_ns)
{
    if (deadline_ns == kNoDeadline) {
        park_current();
        return true;
    }
    // Past deadline: no sleep, token untouched (thread_ops.h contract).
    if (now_ns() >= deadline_ns)
        return false;
    Thread* self = current_thread();
    if (inject_spurious(self))
        return true;
    // As in park_current(): kNotified → kEmpty consumes the token; kEmpty → kParked sleeps.
    // Relaxed: see the file comment.
    if (self->m_token.fetch_sub(1, std::memory_order_relaxed) == Thread::kNotified)
        return true;
    g_sleeps.fetch_add(1, std::memory_order_relaxed); // statistics only
    futex_wait_until(&self->m_token, Thread::kParked, deadline_ns);
    // Woken, timed out, or EINTR. Leave kParked behind in every case; the old value tells
    // whether an unpark came: kNotified means a token was stored after we parked, and we
    // consume it (return true) — so a timeout never swallows one silently. If the word is
    // still kParked no token came, and a return with the deadline passed is a timeout.
    // Relaxed: as above.
    if (self->m_token.exchange(Thread::kEmpty, std::memory_order_relaxed) == Thread::kNotified)
        return true;
    // Not woken: either the deadline passed (false), or an early EINTR (spurious, true).
    return now_ns() < deadline_ns;
}

uint64_t now_ns()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000 + uint64_t(ts.tv_nsec);
}

void unpark(Thread* thread)
{
    g_unparks.fetch_add(1, std::memory_order_relaxed); // statistics only
    // Relaxed: see the file comment (pairs with park_current()'s fetch_sub/exchange through
    // the word's coherence only).
    if (thread->m_token.exchange(Thread::kNotified, std::memory_order_relaxed) == Thread::kParked)
        futex(&thread->m_token, FUTEX_WAKE_PRIVATE, 1);
}

bool can_block()
{
    return current_thread()->m_can_block;
}

void host::set_spurious_wakeup_period(unsigned period)
{
    // Relaxed: see park_current().
    g_spurious_period.store(period, std::memory_order_relaxed);
}

void host::set_can_block(bool allowed)
{
    current_thread()->m_can_block = allowed;
}

uint64_t host::sleep_count()
{
    return g_sleeps.load(std::memory_order_relaxed); // relaxed: statistics
}

uint64_t host::unpark_count()
{
    return g_unparks.load(std::memory_order_relaxed); // relaxed: statistics
}

} // namespace ksync
