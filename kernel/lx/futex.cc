// futex(2) (futex.h).
//
// Waiters are queued in one of kBuckets buckets by address; each bucket is a ksync::Mutex
// and an intrusive list of Waiter records that live on the waiting threads' stacks. The
// futex word is read under the bucket lock, so a waker that changes the word and then calls
// FUTEX_WAKE either runs before the waiter's check (the waiter sees the new value: EAGAIN)
// or after the waiter is queued (the wake finds it). A woken waiter is removed from the
// list by its waker, which sets `woken` under the lock and unparks it after releasing the lock
// (Wakeups); a waiter that times out takes the lock and removes itself unless a waker got
// there first. A woken waiter returns without taking the lock again: `woken` is the waker's
// last access to the record (release), and the waiter reads it with acquire.
//
// A wake on a bucket without waiters takes no lock (glibc's mutex unlock after a condvar wait
// always asks for one). Each bucket counts its waiters, the queued ones and those about to
// queue: a waiter increments the count (a locked instruction, a full barrier on x86) before it
// reads the futex word; a waker has changed the word before its system call and executes a full
// fence before it reads the count. Of the two, at least one sees the other's write (the
// store-buffering pattern with a barrier on both sides): either the waker sees a non-zero
// count and takes the lock as before, or the waiter reads the new word and returns EAGAIN.
//
// A signal for the waiter ends the wait as Linux does (signal.h): an untimed wait returns
// kRestartSys (it runs again after an SA_RESTART handler), a timed one kRestartBlock (EINTR
// after any handler; with none, restart_syscall waits again until the same deadline).
//
// Robust lists (exit_robust_list): at a thread's exit, every futex word on its list that
// still names it as the owner is marked FUTEX_OWNER_DIED and one waiter is woken, which is how
// the next pthread_mutex_lock of a robust mutex learns EOWNERDEAD. The list lives in
// application memory and may be garbage: every read is a checked copy, and the walk stops
// after kRobustListLimit entries (a cycle) or at the first fault.
//
// TODO(#4): priority-inheritance operations (LOCK_PI & co., ENOSYS now).
#include <arch/x86_64/uaccess.h>
#include <atomic>
#include <core/clock.h>
#include <core/thread.h>
#include <lx/futex.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <sync/mutex.h>
#include <time/linux_time.h>

namespace lx {
namespace {

constexpr int kFutexWait = 0, kFutexWake = 1, kFutexRequeue = 3, kFutexCmpRequeue = 4, kFutexWakeOp = 5,
              kFutexWaitBitset = 9, kFutexWakeBitset = 10;
constexpr int kFutexPrivateFlag = 128, kFutexClockRealtime = 256;
constexpr int kFutexCmdMask = ~(kFutexPrivateFlag | kFutexClockRealtime);
constexpr unsigned kBuckets = 256;

struct Waiter {
    uint64_t address = 0;
    uint32_t bitset = 0;
    core::Thread* thread = nullptr;
    // Set (release) by the waker under the bucket lock, as its last access to the record; the
    // waiter may read it (acquire) without the lock.
    std::atomic<bool> woken { false };
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
};

struct Bucket {
    ksync::Mutex lock;
    Waiter* head TA_GUARDED(lock) = nullptr;
    Waiter* tail TA_GUARDED(lock) = nullptr;
    // The queued waiters plus those between their increment and their enqueue (or EAGAIN);
    // see the file comment. Decremented under the lock when a waiter leaves the queue.
    std::atomic<uint32_t> waiters { 0 };
};

Bucket g_buckets[kBuckets];

Bucket& bucket_of(uint64_t address)
{
    uint64_t h = (address >> 2) * 0x9e3779b97f4a7c15ull;
    return g_buckets[h >> 56];
}

void enqueue(Bucket& b, Waiter& w) TA_REQ(b.lock)
{
    w.prev = b.tail;
    w.next = nullptr;
    if (b.tail)
        b.tail->next = &w;
    else
        b.head = &w;
    b.tail = &w;
}

// Unlinks `w` and drops it from the bucket's waiter count.
void dequeue(Bucket& b, Waiter& w) TA_REQ(b.lock)
{
    b.waiters.fetch_sub(1, std::memory_order_relaxed); // the lock orders it for lock holders
    if (w.prev)
        w.prev->next = w.next;
    else
        b.head = w.next;
    if (w.next)
        w.next->prev = w.prev;
    else
        b.tail = w.prev;
    w.prev = w.next = nullptr;
}

// Threads to unpark once the bucket locks are released. Unparking under a bucket lock lets
// the woken thread — which may preempt the waker at once (wake-up preemption) — find the lock
// still held, and every such wake-up then costs two more switches. The Waiter records cannot
// be used after the lock is dropped (a woken or timed-out waiter returns and its record, on
// its stack, is gone), so the thread pointers are copied out; threads are type-stable, and a
// thread that has already returned only sees a spurious wake-up later, which every park
// caller tolerates. Beyond kDeferred threads, the rest are unparked under the lock.
//
// `handoff` (FUTEX_WAKE from the application): the waker usually waits on a futex next (glibc's
// condvar signal, then its wait), so the first thread is woken for a direct hand-off
// (core::unpark_thread_for_handoff: if it lives on this CPU, the waker's next block switches
// straight to it).
struct Wakeups {
    static constexpr int kDeferred = 16;
    core::Thread* threads[kDeferred];
    int count = 0;
    bool handoff = false;

    void add(core::Thread* t)
    {
        if (count < kDeferred)
            threads[count++] = t;
        else
            core::unpark_thread(t);
    }
    ~Wakeups()
    {
        int i = 0;
        if (handoff && count > 0)
            core::unpark_thread_for_handoff(threads[i++]);
        for (; i < count; ++i)
            core::unpark_thread(threads[i]);
    }
};

// Wakes up to `count` matching waiters of `b`; the caller holds the lock, `wakeups` (which
// unparks them) outlives it.
int wake_locked(Bucket& b, uint64_t address, int count, uint32_t bitset, Wakeups& wakeups) TA_REQ(b.lock)
{
    int woken = 0;
    for (Waiter* w = b.head; w && woken < count;) {
        Waiter* next = w->next;
        if (w->address == address && (w->bitset & bitset)) {
            core::Thread* thread = w->thread;
            dequeue(b, *w);
            // The last access to *w: the waiter may return and drop it from here on. Pairs
            // with futex_wait's acquire load.
            w->woken.store(true, std::memory_order_release);
            wakeups.add(thread);
            ++woken;
        }
        w = next;
    }
    return woken;
}

// futex_wake with waiters in the bucket. Out of line: the test before it is the whole cost of a
// wake without waiters.
[[gnu::noinline]] int wake_bucket(Bucket& b, uint64_t address, int count, uint32_t bitset, bool handoff)
{
    Wakeups wakeups; // declared before the lock: unparks after it is released
    wakeups.handoff = handoff;
    ksync::InlineMutexGuard guard(b.lock); // every wake with waiters: the lock's fast path inline
    return wake_locked(b, address, count, bitset, wakeups);
}

// Runs fn() with both buckets locked, in address order (once if they are the same).
template<typename F>
int64_t with_buckets(Bucket& a, Bucket& b, F fn)
{
    if (&a == &b) {
        ksync::MutexGuard guard(a.lock);
        return fn();
    }
    ksync::MutexGuard first(&a < &b ? a.lock : b.lock);
    ksync::MutexGuard second(&a < &b ? b.lock : a.lock);
    return fn();
}

Result<uint32_t> load_word(uint64_t address)
{
    if (address % 4)
        return Errno::INVAL;
    if (!app_range_ok(address, 4))
        return Errno::FAULT;
    uint32_t v;
    if (arch_user_load32(reinterpret_cast<const uint32_t*>(address), &v) != 0)
        return Errno::FAULT;
    return v;
}

using clk::Timespec;

// The absolute monotonic deadline of a wait: `timeout` (0 = none) is relative for
// FUTEX_WAIT, absolute for FUTEX_WAIT_BITSET (on CLOCK_REALTIME with the flag).
Result<uint64_t> deadline_of(uint64_t timeout, bool absolute, bool realtime)
{
    if (!timeout)
        return ~uint64_t(0);
    Timespec ts = TRY(read_app<Timespec>(timeout));
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000)
        return Errno::INVAL;
    uint64_t ns = uint64_t(ts.sec) > 18000000000ull ? ~uint64_t(0) / 2 : uint64_t(ts.sec) * 1000000000 + uint64_t(ts.nsec);
    uint64_t now = core::monotonic_ns();
    if (!absolute)
        return now + ns;
    if (realtime) {
        uint64_t wall = core::realtime_ns();
        return ns > wall ? now + (ns - wall) : now;
    }
    return ns;
}

int64_t futex_wait(uint64_t address, uint32_t expected, uint64_t deadline, uint32_t bitset);

// An interrupted timed wait, run again by restart_syscall (arg: address, expected, bitset).
int64_t restart_futex_wait(const AppThread::RestartBlock& b)
{
    return futex_wait(b.arg[0], uint32_t(b.arg[1]), b.deadline, uint32_t(b.arg[2]));
}

int64_t futex_wait(uint64_t address, uint32_t expected, uint64_t deadline, uint32_t bitset)
{
    if (bitset == 0)
        return err(Errno::INVAL);
    Bucket& b = bucket_of(address);
    Waiter w;
    w.address = address;
    w.bitset = bitset;
    w.thread = core::current_thread();
    // Counted before the word is read (a full barrier on x86): pairs with futex_wake's fence.
    b.waiters.fetch_add(1, std::memory_order_seq_cst);
    {
        ksync::InlineMutexGuard guard(b.lock); // every wait: the lock's fast path inline
        auto value = load_word(address);
        if (value.is_error() || value.value() != expected) {
            b.waiters.fetch_sub(1, std::memory_order_relaxed);
            return err(value.is_error() ? value.error() : Errno::AGAIN);
        }
        enqueue(b, w);
    }
    for (;;) {
        bool timed_out = deadline != ~uint64_t(0) && !core::park_current_thread_until(deadline);
        if (deadline == ~uint64_t(0))
            core::park_current_thread();
        // pairs with wake_locked's release store: the waker is done with w
        if (w.woken.load(std::memory_order_acquire))
            return 0;
        ksync::MutexGuard guard(b.lock);
        if (w.woken.load(std::memory_order_relaxed))
            return 0;
        if (signal_pending()) {
            dequeue(b, w);
            if (deadline == ~uint64_t(0))
                return err(kRestartSys);
            return restart_later(&restart_futex_wait, deadline, address, expected, bitset);
        }
        if (timed_out || (deadline != ~uint64_t(0) && core::monotonic_ns() >= deadline)) {
            dequeue(b, w);
            return err(Errno::TIMEDOUT);
        }
        // A spurious wake-up: still queued, wait again.
    }
}

// FUTEX_WAIT(_BITSET) with a timeout.
[[gnu::noinline]] int64_t futex_wait_timed(const Args& a, bool bitset_op, bool realtime)
{
    auto deadline = deadline_of(a.u(3), bitset_op, realtime);
    if (deadline.is_error())
        return err(deadline.error());
    return futex_wait(a.u(0), uint32_t(a.u(2)), deadline.value(), bitset_op ? uint32_t(a.u(5)) : ~uint32_t(0));
}

[[gnu::noinline]] int64_t futex_requeue(uint64_t address, int wake_count, int requeue_count, uint64_t target, bool compare,
                      uint32_t expected)
{
    if (wake_count < 0 || requeue_count < 0)
        return err(Errno::INVAL);
    Bucket& from = bucket_of(address);
    Bucket& to = bucket_of(target);
    Wakeups wakeups; // declared before the locks: unparks after they are released
    return with_buckets(from, to, [&]() TA_NO_ANALYSIS -> int64_t {
        if (compare) {
            auto value = load_word(address);
            if (value.is_error())
                return err(value.error());
            if (value.value() != expected)
                return err(Errno::AGAIN);
        }
        int woken = wake_locked(from, address, wake_count, ~uint32_t(0), wakeups);
        int moved = 0;
        for (Waiter* w = from.head; w && moved < requeue_count;) {
            Waiter* next = w->next;
            if (w->address == address) {
                to.waiters.fetch_add(1, std::memory_order_relaxed); // before it leaves `from`
                dequeue(from, *w);
                w->address = target;
                enqueue(to, *w);
                ++moved;
            }
            w = next;
        }
        return woken + moved;
    });
}

// FUTEX_WAKE_OP: *target = op(*target, oparg) atomically; wake on address; if the old value
// of *target compares true, also wake on target.
[[gnu::noinline]] int64_t futex_wake_op(uint64_t address, int count, int count2, uint64_t target, uint32_t encoded)
{
    unsigned op = (encoded >> 28) & 0xf, cmp = (encoded >> 24) & 0xf;
    uint32_t oparg = (encoded >> 12) & 0xfff, cmparg = encoded & 0xfff;
    if (op & 8) {
        op &= 7;
        oparg = oparg >= 32 ? 0 : (1u << oparg); // FUTEX_OP_OPARG_SHIFT
    }
    if (op > 4 || cmp > 5)
        return err(Errno::NOSYS);
    Bucket& b1 = bucket_of(address);
    Bucket& b2 = bucket_of(target);
    Wakeups wakeups; // declared before the locks: unparks after they are released
    return with_buckets(b1, b2, [&]() TA_NO_ANALYSIS -> int64_t {
        auto old = load_word(target);
        if (old.is_error())
            return err(old.error());
        uint32_t current = old.value();
        for (;;) {
            uint32_t next = 0;
            switch (op) {
            case 0: next = oparg; break;            // SET
            case 1: next = current + oparg; break;  // ADD
            case 2: next = current | oparg; break;  // OR
            case 3: next = current & ~oparg; break; // ANDN
            case 4: next = current ^ oparg; break;  // XOR
            }
            uint32_t seen;
            if (arch_user_cmpxchg32(reinterpret_cast<uint32_t*>(target), current, next, &seen) != 0)
                return err(Errno::FAULT);
            if (seen == current)
                break;
            current = seen;
        }
        bool hit = false;
        int32_t s_old = int32_t(current), s_arg = int32_t(cmparg);
        switch (cmp) {
        case 0: hit = s_old == s_arg; break;
        case 1: hit = s_old != s_arg; break;
        case 2: hit = s_old < s_arg; break;
        case 3: hit = s_old <= s_arg; break;
        case 4: hit = s_old > s_arg; break;
        case 5: hit = s_old >= s_arg; break;
        }
        int woken = wake_locked(b1, address, count, ~uint32_t(0), wakeups);
        if (hit)
            woken += wake_locked(b2, target, count2, ~uint32_t(0), wakeups);
        return woken;
    });
}

// The robust list ABI [futex(2), "Robust futexes"; the kernel's robust-futex-ABI notes]: the
// head (registered by set_robust_list) starts a circular singly linked list of entries in
// the application's mutexes; the futex word of an entry is at entry + futex_offset. Bit 0 of
// a pointer marks a PI futex.
struct RobustListHead {
    uint64_t next;            // the first entry (the head itself when the list is empty)
    int64_t futex_offset;     // from an entry to its futex word
    uint64_t list_op_pending; // an entry being locked or unlocked right now (or 0)
};
static_assert(sizeof(RobustListHead) == 24);

constexpr uint32_t kFutexWaiters = 0x80000000u, kFutexOwnerDied = 0x40000000u, kFutexTidMask = 0x3fffffffu;
constexpr int kRobustListLimit = 2048; // Linux's ROBUST_LIST_LIMIT

// One futex word of a dying thread's list: if `tid` still owns it, marks the owner dead
// (keeping FUTEX_WAITERS, clearing the tid) and wakes one waiter. `pending_op`: the word of
// list_op_pending, which may be unlocked already; a zero word there still gets a wake-up, as
// the thread may have died between releasing it and waking. False on a fault (stop walking).
bool handle_owner_death(uint64_t word, int32_t tid, bool pi, bool pending_op)
{
    if (word % 4 || !app_range_ok(word, 4))
        return false;
    uint32_t* p = reinterpret_cast<uint32_t*>(word);
    uint32_t value;
    if (arch_user_load32(p, &value) != 0)
        return false;
    for (;;) {
        if (pending_op && !pi && value == 0) {
            futex_wake(word, 1);
            return true;
        }
        if ((value & kFutexTidMask) != uint32_t(tid))
            return true;
        uint32_t dead = (value & kFutexWaiters) | kFutexOwnerDied;
        uint32_t seen;
        if (arch_user_cmpxchg32(p, value, dead, &seen) != 0)
            return false;
        if (seen == value)
            break;
        value = seen; // changed under us (a waiter set FUTEX_WAITERS): look again
    }
    // A PI futex's waiters wait in FUTEX_LOCK_PI, which is not implemented: none to wake.
    if (!pi && (value & kFutexWaiters))
        futex_wake(word, 1);
    return true;
}

} // namespace

void exit_robust_list(uint64_t head_address, int32_t tid)
{
    if (!head_address)
        return;
    auto head = read_app<RobustListHead>(head_address);
    if (head.is_error())
        return;
    uint64_t offset = uint64_t(head.value().futex_offset);
    uint64_t pending = head.value().list_op_pending & ~uint64_t(1);
    bool pending_pi = head.value().list_op_pending & 1;
    uint64_t entry = head.value().next & ~uint64_t(1);
    bool pi = head.value().next & 1;
    for (int n = 0; entry != head_address && n < kRobustListLimit; ++n) {
        // The next pointer is read first: waking a waiter may let it free this entry.
        auto next = read_app<uint64_t>(entry);
        if (next.is_error())
            return;
        if (entry != pending && !handle_owner_death(entry + offset, tid, pi, false))
            return;
        pi = next.value() & 1;
        entry = next.value() & ~uint64_t(1);
    }
    if (pending)
        (void)handle_owner_death(pending + offset, tid, pending_pi, true);
}

namespace {

// futex_wake; `handoff`: for the application's FUTEX_WAKE (see Wakeups).
inline int wake(uint64_t address, int count, uint32_t bitset, bool handoff)
{
    if (count <= 0 || bitset == 0)
        return 0;
    Bucket& b = bucket_of(address);
    // The caller (or the application, before its system call) changed the futex word: the
    // fence orders that before the count's read. Pairs with futex_wait's increment.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (b.waiters.load(std::memory_order_relaxed) == 0)
        return 0;
    return wake_bucket(b, address, count, bitset, handoff);
}

} // namespace

int futex_wake(uint64_t address, int count, uint32_t bitset) { return wake(address, count, bitset, false); }

int64_t sys_futex(const Args& a)
{
    uint64_t address = a.u(0);
    int op = a.i(1);
    int cmd = op & kFutexCmdMask;
    bool realtime = op & kFutexClockRealtime;
    uint32_t val = uint32_t(a.u(2));
    switch (cmd) {
    case kFutexWait:
    case kFutexWaitBitset:
        if (realtime && cmd == kFutexWait)
            return err(Errno::NOSYS);
        if (address % 4)
            return err(Errno::INVAL);
        if (!a.u(3)) // untimed: no deadline to read
            return futex_wait(address, val, ~uint64_t(0), cmd == kFutexWait ? ~uint32_t(0) : uint32_t(a.u(5)));
        return futex_wait_timed(a, cmd == kFutexWaitBitset, realtime);
    case kFutexWake:
    case kFutexWakeBitset: {
        if (address % 4)
            return err(Errno::INVAL);
        uint32_t bitset = cmd == kFutexWake ? ~uint32_t(0) : uint32_t(a.u(5));
        if (bitset == 0)
            return err(Errno::INVAL);
        return wake(address, int(val > 0x7fffffff ? 0x7fffffff : val), bitset, true);
    }
    case kFutexRequeue:
    case kFutexCmpRequeue:
        if (address % 4 || a.u(4) % 4)
            return err(Errno::INVAL);
        return futex_requeue(address, int(val), int(a.u(3)), a.u(4), cmd == kFutexCmpRequeue, uint32_t(a.u(5)));
    case kFutexWakeOp:
        if (address % 4 || a.u(4) % 4)
            return err(Errno::INVAL);
        return futex_wake_op(address, int(val), int(a.u(3)), a.u(4), uint32_t(a.u(5)));
    default:
        return err(Errno::NOSYS);
    }
}

} // namespace lx
