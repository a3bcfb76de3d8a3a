// Waiting for files: the readiness notifier (poll.h), poll/ppoll, and epoll.
//
// epoll instances are open files holding a table of interests (descriptor, its open file,
// the events asked for, the user's 64-bit data). epoll_wait checks every interest's current
// readiness (OpenFile::poll_events) and sleeps on the notifier until something changes —
// only the interests whose files changed, for files that notify (see EpollFile). EPOLLET
// reports once per change; EPOLLONESHOT disables an interest after one report; EPOLLEXCLUSIVE
// is accepted (every waiter wakes, which Linux allows).
//
// Signals. A wait cut short by a signal is never restarted after a handler ran (EINTR), as
// on Linux; if no handler runs it starts again (signal.h): poll and epoll with a timeout
// through restart_syscall with the same deadline, ppoll/pselect6/select by running again
// with the time that remained, which they write back into the caller's timeout as Linux
// does. ppoll, pselect6 and epoll_pwait(2) install their signal mask for the call
// (begin_temporary_mask); a signal that interrupts the call is delivered with it in effect.
#include <atomic>
#include <core/clock.h>
#include <core/thread.h>
#include <fs/open_file.h>
#include <lx/files.h>
#include <lx/poll.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lib/string.h>
#include <lx/uaccess.h>
#include <new>
#include <stddef.h>
#include <sync/mutex.h>
#include <time/linux_time.h>

namespace lx {
namespace {

// ---- the notifier --------------------------------------------------------------------------

struct Sleeper {
    core::Thread* thread;
    Sleeper* next;
};

constinit ksync::Mutex g_sleepers_lock;
Sleeper* g_sleepers TA_GUARDED(g_sleepers_lock) = nullptr;
std::atomic<uint64_t> g_epoch { 0 };

// Whether anyone sleeps on the notifier; read without the lock (see readiness_changed()).
bool any_sleepers() TA_NO_ANALYSIS { return __atomic_load_n(&g_sleepers, __ATOMIC_SEQ_CST) != nullptr; }

} // namespace

uint64_t readiness_epoch() { return g_epoch.load(std::memory_order_acquire); }

void readiness_changed()
{
    // No sleeper, the common case for a thread that changes what it reads itself: no lock.
    // The epoch's increment and the look at the list are seq_cst, and wait_readiness() fences
    // between registering and reading the epoch: a sleeper is seen here or sees the new epoch.
    g_epoch.fetch_add(1, std::memory_order_seq_cst);
    if (!any_sleepers())
        return;
    ksync::MutexGuard guard(g_sleepers_lock);
    for (Sleeper* s = g_sleepers; s; s = s->next)
        core::unpark_thread(s->thread);
}

namespace {
// Guards every file's watch list (fs::OpenFile::readiness_watches). A leaf but for the
// callbacks, which take only their instance's ready lock.
constinit ksync::Mutex g_watch_lock;
} // namespace

void run_readiness_watches(fs::OpenFile& file, uint32_t events)
{
    run_readiness_watches(file.readiness_watches(), events);
}

void readiness_changed(fs::OpenFile& file, uint32_t events)
{
    run_readiness_watches(file, events);
    readiness_changed();
}

void run_readiness_watches(fs::ReadinessWatch*& watches, uint32_t events)
{
    // Most files have no watch (nothing in epoll watches them): then no lock. The fence orders
    // the caller's state change before this look at the list; watch_readiness() has the
    // matching one after linking a watch, before its owner first looks at the file. So either
    // this sees the new watch or that look sees the change.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (__atomic_load_n(&watches, __ATOMIC_RELAXED) == nullptr)
        return;
    // Every watch asks about kPollErr | kPollHup (epoll reports them unasked), so a
    // notification naming them reaches all; one that does not (kReadinessIn, kReadinessOut)
    // reaches only the watches asking about its kinds.
    ksync::MutexGuard guard(g_watch_lock);
    for (fs::ReadinessWatch* w = watches; w; w = w->next)
        if (w->events & events)
            w->changed(w);
}

void readiness_changed(fs::ReadinessWatch*& watches, uint32_t events)
{
    run_readiness_watches(watches, events);
    readiness_changed();
}

void set_watch_events(fs::ReadinessWatch& watch, uint32_t events)
{
    ksync::MutexGuard guard(g_watch_lock);
    watch.events = events;
}

void watch_readiness(fs::OpenFile& file, fs::ReadinessWatch& watch)
{
    {
        ksync::MutexGuard guard(g_watch_lock);
        fs::ReadinessWatch*& head = file.readiness_watches();
        watch.prev = nullptr;
        watch.next = head;
        if (head)
            head->prev = &watch;
        __atomic_store_n(&head, &watch, __ATOMIC_RELAXED); // read unlocked by run_readiness_watches
    }
    std::atomic_thread_fence(std::memory_order_seq_cst); // see run_readiness_watches
}

void unwatch_readiness(fs::OpenFile& file, fs::ReadinessWatch& watch)
{
    ksync::MutexGuard guard(g_watch_lock);
    if (watch.prev)
        watch.prev->next = watch.next;
    else if (file.readiness_watches() == &watch)
        __atomic_store_n(&file.readiness_watches(), watch.next, __ATOMIC_RELAXED); // read unlocked too
    if (watch.next)
        watch.next->prev = watch.prev;
    watch.next = watch.prev = nullptr;
}

bool wait_readiness(uint64_t seen, uint64_t deadline_ns)
{
    Sleeper self { core::current_thread(), nullptr };
    {
        ksync::MutexGuard guard(g_sleepers_lock);
        self.next = g_sleepers;
        __atomic_store_n(&g_sleepers, &self, __ATOMIC_RELAXED); // any_sleepers() reads it unlocked
    }
    std::atomic_thread_fence(std::memory_order_seq_cst); // see readiness_changed()
    bool changed = false;
    for (;;) {
        // The epoch is read after registering: a change in between unparks us (a token).
        if (g_epoch.load(std::memory_order_acquire) != seen) {
            changed = true;
            break;
        }
        if (signal_pending())
            break;
        if (deadline_ns == ~uint64_t(0))
            core::park_current_thread();
        else if (!core::park_current_thread_until(deadline_ns) || core::monotonic_ns() >= deadline_ns)
            break;
    }
    {
        ksync::MutexGuard guard(g_sleepers_lock);
        for (Sleeper** p = &g_sleepers; *p; p = &(*p)->next) {
            if (*p == &self) {
                __atomic_store_n(p, self.next, __ATOMIC_RELAXED); // g_sleepers itself, maybe
                break;
            }
        }
    }
    return changed;
}

namespace {

struct PollFd {
    int32_t fd;
    int16_t events;
    int16_t revents;
};

using clk::Timespec;

constexpr uint32_t kAlwaysReported = fs::kPollErr | fs::kPollHup | fs::kPollNval;

// The deadline of a poll timeout in milliseconds (negative: none).
uint64_t deadline_from_ms(int64_t ms)
{
    if (ms < 0)
        return ~uint64_t(0);
    return core::monotonic_ns() + uint64_t(ms) * 1000000;
}

Result<uint64_t> deadline_from_timespec(uint64_t address)
{
    if (!address)
        return ~uint64_t(0);
    Timespec ts = TRY(read_app<Timespec>(address));
    if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000)
        return Errno::INVAL;
    if (uint64_t(ts.sec) >= (uint64_t(1) << 32)) // over a century: as good as none (and no overflow)
        return ~uint64_t(0);
    return core::monotonic_ns() + uint64_t(ts.sec) * 1000000000 + uint64_t(ts.nsec);
}

int64_t do_poll(uint64_t fds_address, uint64_t nfds, uint64_t deadline)
{
    constexpr uint64_t kMaxPollFds = 4096;
    if (nfds > kMaxPollFds)
        return err(Errno::INVAL);
    PollFd* fds = nfds ? new (std::nothrow) PollFd[nfds] : nullptr;
    if (nfds && !fds)
        return err(Errno::NOMEM);
    int64_t result = 0;
    if (auto r = copy_from_app(fds, fds_address, nfds * sizeof(PollFd)); r.is_error()) {
        delete[] fds;
        return err(r.error());
    }
    for (;;) {
        uint64_t epoch = readiness_epoch();
        int ready = 0;
        for (uint64_t i = 0; i < nfds; ++i) {
            fds[i].revents = 0;
            if (fds[i].fd < 0)
                continue;
            auto f = fd_table().get(fds[i].fd);
            uint32_t ev = f.is_error() ? fs::kPollNval : f.value()->poll_events();
            fds[i].revents = int16_t(ev & (uint32_t(uint16_t(fds[i].events)) | kAlwaysReported));
            if (fds[i].revents)
                ++ready;
        }
        if (ready || core::monotonic_ns() >= deadline) {
            result = ready;
            break;
        }
        if (!wait_readiness(epoch, deadline) && signal_pending()) {
            result = err(kRestartNoHand);
            break;
        }
    }
    if (result >= 0)
        if (auto r = copy_to_app(fds_address, fds, nfds * sizeof(PollFd)); r.is_error())
            result = err(r.error());
    delete[] fds;
    return result;
}

// ---- epoll ---------------------------------------------------------------------------------

constexpr uint32_t kEpollIn = 0x1, kEpollPri = 0x2, kEpollOut = 0x4, kEpollErr = 0x8, kEpollHup = 0x10,
                   kEpollRdHup = 0x2000, kEpollExclusive = 1u << 28, kEpollWakeup = 1u << 29,
                   kEpollOneshot = 1u << 30, kEpollEt = 1u << 31;
constexpr int kCtlAdd = 1, kCtlDel = 2, kCtlMod = 3;
// Interests compare epoll bits with poll_events() directly: Linux gives them the same values.
static_assert(kEpollIn == fs::kPollIn && kEpollPri == fs::kPollPri && kEpollOut == fs::kPollOut &&
              kEpollErr == fs::kPollErr && kEpollHup == fs::kPollHup);

struct __attribute__((packed)) EpollEvent {
    uint32_t events;
    uint64_t data;
};
static_assert(sizeof(EpollEvent) == 12);

// One interest of an epoll instance. Heap-allocated (the watch must not move while linked).
struct Interest {
    fs::ReadinessWatch watch; // first: the watch callback finds the interest from it
    class EpollFile* owner = nullptr;
    int fd = -1;
    fs::Ref<fs::OpenFile> file;
    uint32_t events = 0;
    uint64_t data = 0;
    bool disabled = false;  // EPOLLONESHOT after a report
    bool precise = false;   // the file notifies its watches (fs::OpenFile::notifies_readiness)
    // Precise interests: whether it is on the ready list (under the instance's ready lock).
    bool queued = false;
    Interest* ready_next = nullptr;
    // Imprecise edge-triggered interests: the global epoch at the last report.
    uint64_t reported_epoch = ~uint64_t(0);
};

// An epoll instance. Interests on files that notify (sockets, pipes, eventfds, timerfds,
// signalfds: poll.h) sit on the ready list only after their file changed: epoll_wait checks
// those, not every interest. A level-triggered interest that was ready goes back on the list
// after its report (it is checked again next time, as Linux does); an edge-triggered one waits
// for the next change. Interests on other files (the terminal, other devices, regular files,
// nested epoll instances) are checked on every wait; an edge-triggered one reports again only
// after something changed somewhere.
//
// Locks: m_lock (the interest table, held across collect, which calls poll_events) before
// the file's locks; m_ready_lock is a leaf, taken by the watch callback from any notifier.
class EpollFile final : public fs::OpenFile {
public:
    EpollFile(unsigned flags) : fs::OpenFile(flags) {}
    ~EpollFile() override
    {
        ksync::MutexGuard guard(m_lock);
        for (size_t i = 0; i < m_count; ++i)
            drop_locked(m_interests[i]);
        delete[] m_interests;
    }
    const void* type_tag() const override;

    Result<void> control(int op, int fd, fs::Ref<fs::OpenFile> file, uint32_t events, uint64_t data)
    {
        ksync::MutexGuard guard(m_lock);
        size_t index = find_locked(fd, file);
        Interest* existing = index < m_count ? m_interests[index] : nullptr;
        switch (op) {
        case kCtlAdd: {
            if (existing)
                return Errno::EXIST;
            if (m_count == m_capacity) {
                size_t capacity = m_capacity ? m_capacity * 2 : 8;
                auto* grown = new (std::nothrow) Interest*[capacity];
                if (!grown)
                    return Errno::NOMEM;
                for (size_t i = 0; i < m_count; ++i)
                    grown[i] = m_interests[i];
                delete[] m_interests;
                m_interests = grown;
                m_capacity = capacity;
            }
            auto* in = new (std::nothrow) Interest;
            if (!in)
                return Errno::NOMEM;
            in->owner = this;
            in->fd = fd;
            in->file = file;
            in->events = events;
            in->data = data;
            in->precise = file->notifies_readiness();
            m_interests[m_count++] = in;
            if (!in->precise)
                m_imprecise++;
            if (in->precise) {
                in->watch.changed = &EpollFile::watch_changed;
                in->watch.events = watch_events(events); // not linked yet: no lock needed
                watch_readiness(*file, in->watch);
                enqueue(in); // checked once now, as Linux checks a new interest
            }
            return {};
        }
        case kCtlMod:
            if (!existing)
                return Errno::NOENT;
            existing->events = events;
            existing->data = data;
            existing->disabled = false;
            existing->reported_epoch = ~uint64_t(0);
            if (existing->precise) {
                set_watch_events(existing->watch, watch_events(events));
                enqueue(existing);
            }
            return {};
        case kCtlDel:
            if (!existing)
                return Errno::NOENT;
            remove_locked(index);
            return {};
        default:
            return Errno::INVAL;
        }
    }

    // Ready interests into out[0..max); how many.
    size_t collect(EpollEvent* out, size_t max)
    {
        ksync::MutexGuard guard(m_lock);
        size_t n = 0;
        // Precise interests: the ones whose files changed since the last look.
        Interest* list;
        {
            ksync::MutexGuard ready(m_ready_lock);
            list = m_ready_head;
            m_ready_head = m_ready_tail = nullptr;
        }
        Interest* keep_head = nullptr;
        Interest* keep_tail = nullptr;
        while (list) {
            Interest* in = list;
            list = in->ready_next;
            in->ready_next = nullptr;
            if (n == max) {
                // No room this time: it stays queued for the next call, in order.
                (keep_tail ? keep_tail->ready_next : keep_head) = in;
                keep_tail = in;
                continue;
            }
            {
                // Off the list before looking: a change from now on queues it again.
                ksync::MutexGuard ready(m_ready_lock);
                in->queued = false;
            }
            if (in->disabled || !still_open(in)) {
                if (!in->disabled)
                    remove_locked(find_locked(in->fd, in->file));
                continue;
            }
            uint32_t got = ready_events(*in);
            if (!got)
                continue;
            out[n++] = EpollEvent { got, in->data };
            if (in->events & kEpollOneshot)
                in->disabled = true;
            else if (!(in->events & kEpollEt))
                enqueue(in); // level-triggered: look again next time
        }
        if (keep_head) {
            ksync::MutexGuard ready(m_ready_lock);
            keep_tail->ready_next = m_ready_head;
            m_ready_head = keep_head;
            if (!m_ready_tail)
                m_ready_tail = keep_tail;
        }
        // The others: looked at every time.
        uint64_t epoch = readiness_epoch();
        for (size_t i = 0; i < m_count && n < max; ++i) {
            Interest* in = m_interests[i];
            if (in->precise || in->disabled)
                continue;
            if (!still_open(in)) {
                remove_locked(i);
                --i;
                continue;
            }
            uint32_t got = ready_events(*in);
            if (!got)
                continue;
            if (in->events & kEpollEt) {
                if (in->reported_epoch == epoch)
                    continue; // nothing changed anywhere since the last report
                in->reported_epoch = epoch;
            }
            out[n++] = EpollEvent { got, in->data };
            if (in->events & kEpollOneshot)
                in->disabled = true;
        }
        return n;
    }

    // Whether every interest is on a file that notifies: epoll_wait then sleeps on this
    // instance alone (wait_for_ready), not on the process-wide notifier.
    bool all_precise()
    {
        ksync::MutexGuard guard(m_lock);
        return m_imprecise == 0;
    }

    uint64_t ready_generation()
    {
        ksync::MutexGuard ready(m_ready_lock);
        return m_generation;
    }

    // Sleeps until an interest was queued after `seen` was read from ready_generation() (true),
    // the deadline passed or a signal came (false) — as wait_readiness, for this instance.
    bool wait_for_ready(uint64_t seen, uint64_t deadline_ns)
    {
        Waiter self { core::current_thread(), nullptr };
        {
            ksync::MutexGuard ready(m_ready_lock);
            self.next = m_waiters;
            m_waiters = &self;
        }
        bool changed = false;
        for (;;) {
            {
                ksync::MutexGuard ready(m_ready_lock);
                changed = m_generation != seen;
            }
            if (changed || signal_pending())
                break;
            if (deadline_ns == ~uint64_t(0))
                core::park_current_thread();
            else if (!core::park_current_thread_until(deadline_ns) || core::monotonic_ns() >= deadline_ns)
                break;
        }
        {
            ksync::MutexGuard ready(m_ready_lock);
            for (Waiter** p = &m_waiters; *p; p = &(*p)->next) {
                if (*p == &self) {
                    *p = self.next;
                    break;
                }
            }
        }
        return changed;
    }

    uint32_t do_poll_events() override
    {
        ksync::MutexGuard guard(m_lock);
        for (size_t i = 0; i < m_count; ++i)
            if (!m_interests[i]->disabled && ready_events(*m_interests[i]))
                return fs::kPollIn | fs::kPollRdNorm;
        return 0;
    }

    Result<fs::Attr> do_getattr() override
    {
        fs::Attr a;
        a.mode = 0600;
        a.nlink = 1;
        return a;
    }

private:
    static void watch_changed(fs::ReadinessWatch* watch)
    {
        auto* in = reinterpret_cast<Interest*>(watch);
        in->owner->enqueue(in);
    }

    void enqueue(Interest* in)
    {
        ksync::MutexGuard ready(m_ready_lock);
        if (in->queued)
            return;
        in->queued = true;
        in->ready_next = nullptr;
        if (m_ready_tail)
            m_ready_tail->ready_next = in;
        else
            m_ready_head = in;
        m_ready_tail = in;
        m_generation++;
        for (Waiter* w = m_waiters; w; w = w->next)
            core::unpark_thread(w->thread);
    }

    // What an interest's watch asks about (fs::ReadinessWatch::events): the epoll bits it
    // wants are the poll bits of the same value, and a read-side hang-up is input readiness.
    static uint32_t watch_events(uint32_t events)
    {
        uint32_t watched = events & (kEpollIn | kEpollPri | kEpollOut);
        if (events & kEpollRdHup)
            watched |= fs::kPollIn;
        if (watched & kEpollIn)
            watched |= fs::kPollRdNorm;
        if (watched & kEpollOut)
            watched |= fs::kPollWrNorm;
        return watched | fs::kPollErr | fs::kPollHup;
    }

    static uint32_t ready_events(Interest& in)
    {
        uint32_t wanted = (in.events & (kEpollIn | kEpollPri | kEpollOut | kEpollRdHup)) | kEpollErr | kEpollHup;
        return in.file->poll_events() & wanted;
    }

    // A descriptor closed since it was added: Linux drops the interest with the last
    // reference to the open file; ours holds a reference, so it is dropped when seen.
    static bool still_open(Interest* in)
    {
        auto current = fd_table().get(in->fd);
        return !current.is_error() && current.value().get() == in->file.get();
    }

    void remove_locked(size_t index) TA_REQ(m_lock)
    {
        if (index >= m_count)
            return;
        Interest* in = m_interests[index];
        m_interests[index] = m_interests[--m_count];
        m_interests[m_count] = nullptr;
        drop_locked(in);
    }

    void drop_locked(Interest* in) TA_REQ(m_lock)
    {
        if (in->precise)
            unwatch_readiness(*in->file, in->watch);
        else
            m_imprecise--;
        {
            // After unwatching no callback can queue it again; take it off the list.
            ksync::MutexGuard ready(m_ready_lock);
            if (in->queued) {
                Interest* prev = nullptr;
                for (Interest* p = m_ready_head; p; prev = p, p = p->ready_next) {
                    if (p == in) {
                        (prev ? prev->ready_next : m_ready_head) = in->ready_next;
                        if (m_ready_tail == in)
                            m_ready_tail = prev;
                        break;
                    }
                }
                in->queued = false;
            }
        }
        delete in;
    }

    size_t find_locked(int fd, const fs::Ref<fs::OpenFile>& file) TA_REQ(m_lock)
    {
        for (size_t i = 0; i < m_count; ++i)
            if (m_interests[i]->fd == fd && m_interests[i]->file.get() == file.get())
                return i;
        return m_count;
    }

    ksync::Mutex m_lock;
    Interest** m_interests TA_GUARDED(m_lock) = nullptr;
    size_t m_count TA_GUARDED(m_lock) = 0;
    size_t m_capacity TA_GUARDED(m_lock) = 0;
    size_t m_imprecise TA_GUARDED(m_lock) = 0; // interests on files that do not notify
    struct Waiter {
        core::Thread* thread;
        Waiter* next;
    };
    ksync::Mutex m_ready_lock;
    Interest* m_ready_head TA_GUARDED(m_ready_lock) = nullptr;
    Interest* m_ready_tail TA_GUARDED(m_ready_lock) = nullptr;
    uint64_t m_generation TA_GUARDED(m_ready_lock) = 0; // interests queued so far
    Waiter* m_waiters TA_GUARDED(m_ready_lock) = nullptr; // threads in wait_for_ready
};

constexpr char kEpollTag = 0;

// The epoll instance behind descriptor `epfd`; `holder` keeps it alive. BADF, or INVAL when
// the descriptor is not an epoll instance.
const void* EpollFile::type_tag() const { return &kEpollTag; }

Result<EpollFile*> epoll_of(int epfd, fs::Ref<fs::OpenFile>& holder)
{
    holder = TRY(fd_table().get(epfd));
    if (holder->type_tag() != &kEpollTag)
        return Errno::INVAL;
    return static_cast<EpollFile*>(holder.get());
}

int64_t do_epoll_wait(int epfd, uint64_t events_address, int max, uint64_t deadline)
{
    if (max <= 0 || max > 65536)
        return err(Errno::INVAL);
    fs::Ref<fs::OpenFile> holder;
    auto ep = epoll_of(epfd, holder);
    if (ep.is_error())
        return err(ep.error());
    size_t cap = size_t(max) < 256 ? size_t(max) : 256;
    EpollEvent out[256];
    EpollFile& instance = *ep.value();
    for (;;) {
        // Both counters before looking, so that a change meanwhile ends the sleep at once.
        uint64_t epoch = readiness_epoch();
        uint64_t generation = instance.ready_generation();
        size_t n = instance.collect(out, cap);
        if (n) {
            if (auto r = copy_to_app(events_address, out, n * sizeof(EpollEvent)); r.is_error())
                return err(r.error());
            return int64_t(n);
        }
        if (core::monotonic_ns() >= deadline)
            return 0;
        // Interests only on files that notify: only their changes can end the wait, so the
        // thread is not woken by every other file's (memcached's worker threads each sleep on
        // their own instance).
        bool woken = instance.all_precise() ? instance.wait_for_ready(generation, deadline)
                                            : wait_readiness(epoch, deadline);
        if (!woken && signal_pending())
            return err(kRestartNoHand);
    }
}

// An interrupted epoll wait with a deadline (arg: epfd, events, max, the temporary mask and
// whether there is one): runs again until the same deadline, under the same mask.
int64_t restart_epoll_wait(const AppThread::RestartBlock& b)
{
    if (b.arg[4])
        begin_temporary_mask_value(b.arg[3]);
    int64_t result = do_epoll_wait(int(b.arg[0]), b.arg[1], int(b.arg[2]), b.deadline);
    if (result == err(kRestartNoHand))
        result = restart_later(&restart_epoll_wait, b.deadline, b.arg[0], b.arg[1], b.arg[2], b.arg[3], b.arg[4]);
    return end_temporary_mask(result);
}

// epoll_wait, epoll_pwait and epoll_pwait2 after their timeout became `deadline`: with the
// mask at `mask_address` (0: none) for the call.
int64_t epoll_wait_masked(int epfd, uint64_t events, int max, uint64_t deadline, uint64_t mask_address,
                          uint64_t mask_size)
{
    uint64_t mask = 0;
    if (mask_address) {
        if (mask_size != 8)
            return err(Errno::INVAL);
        auto m = read_app<uint64_t>(mask_address);
        if (m.is_error())
            return err(m.error());
        mask = m.value();
        begin_temporary_mask_value(mask);
    }
    int64_t result = do_epoll_wait(epfd, events, max, deadline);
    if (result == err(kRestartNoHand) && deadline != ~uint64_t(0))
        result = restart_later(&restart_epoll_wait, deadline, uint64_t(epfd), events, uint64_t(max), mask,
                               mask_address != 0);
    return end_temporary_mask(result);
}

// An interrupted poll with a timeout: runs again until the same deadline (arg: fds, nfds).
int64_t restart_poll(const AppThread::RestartBlock& b)
{
    int64_t result = do_poll(b.arg[0], b.arg[1], b.deadline);
    if (result == err(kRestartNoHand))
        return restart_later(&restart_poll, b.deadline, b.arg[0], b.arg[1]);
    return result;
}

// ppoll, pselect6 and select write the time that remained back into the caller's timeout at
// `address` (0: none given), so that a restarted call waits only for the rest; if that fails,
// an interrupted call cannot restart and says EINTR (other results stand).
int64_t write_back_remaining(int64_t result, uint64_t address, uint64_t deadline, bool timeval)
{
    if (!address || deadline == ~uint64_t(0))
        return result;
    uint64_t now = core::monotonic_ns(), left = deadline > now ? deadline - now : 0;
    Timespec ts { int64_t(left / 1000000000), int64_t(left % 1000000000) };
    if (timeval)
        ts.nsec /= 1000;
    if (write_app(address, ts).is_error() && result == err(kRestartNoHand))
        return err(Errno::INTR);
    return result;
}

} // namespace

namespace {

// select/pselect6: fd_set bitmaps of up to 1024 descriptors; EBADF for a set bit naming a
// closed descriptor.
int64_t do_select(int nfds, uint64_t rset, uint64_t wset, uint64_t eset, uint64_t deadline)
{
    constexpr int kMaxFds = 1024;
    if (nfds < 0 || nfds > kMaxFds)
        return err(Errno::INVAL);
    size_t bytes = size_t((nfds + 63) / 64) * 8;
    uint64_t in[3][kMaxFds / 64] = {}, out[3][kMaxFds / 64];
    const uint64_t sets[3] = { rset, wset, eset };
    for (int k = 0; k < 3; ++k)
        if (sets[k])
            if (auto r = copy_from_app(in[k], sets[k], bytes); r.is_error())
                return err(r.error());
    constexpr uint32_t kRead = fs::kPollIn | fs::kPollRdNorm | fs::kPollHup | fs::kPollErr;
    constexpr uint32_t kWrite = fs::kPollOut | fs::kPollWrNorm | fs::kPollErr;
    constexpr uint32_t kExcept = fs::kPollPri;
    const uint32_t wanted[3] = { kRead, kWrite, kExcept };
    int64_t ready = 0;
    for (;;) {
        uint64_t epoch = readiness_epoch();
        lib::mem_set(out, 0, sizeof(out));
        ready = 0;
        for (int fd = 0; fd < nfds; ++fd) {
            uint64_t bit = uint64_t(1) << (fd % 64);
            bool any = false;
            for (int k = 0; k < 3; ++k)
                any |= (in[k][fd / 64] & bit) != 0;
            if (!any)
                continue;
            auto f = fd_table().get(fd);
            if (f.is_error())
                return err(Errno::BADF);
            uint32_t ev = f.value()->poll_events();
            for (int k = 0; k < 3; ++k) {
                if ((in[k][fd / 64] & bit) && (ev & wanted[k])) {
                    out[k][fd / 64] |= bit;
                    ++ready;
                }
            }
        }
        if (ready || core::monotonic_ns() >= deadline)
            break;
        if (!wait_readiness(epoch, deadline) && signal_pending())
            return err(kRestartNoHand);
    }
    for (int k = 0; k < 3; ++k)
        if (sets[k])
            if (auto r = copy_to_app(sets[k], out[k], bytes); r.is_error())
                return err(r.error());
    return ready;
}

} // namespace

int64_t sys_select(const Args& a)
{
    uint64_t deadline = ~uint64_t(0);
    if (a.u(4)) {
        auto tv = read_app<clk::Timeval>(a.u(4));
        if (tv.is_error())
            return err(tv.error());
        if (tv.value().sec < 0 || tv.value().usec < 0 || tv.value().usec >= 1000000)
            return err(Errno::INVAL);
        deadline = core::monotonic_ns() + uint64_t(tv.value().sec) * 1000000000 + uint64_t(tv.value().usec) * 1000;
    }
    return write_back_remaining(do_select(a.i(0), a.u(1), a.u(2), a.u(3), deadline), a.u(4), deadline, true);
}

int64_t sys_pselect6(const Args& a)
{
    auto deadline = deadline_from_timespec(a.u(4));
    if (deadline.is_error())
        return err(deadline.error());
    // The sixth argument is { const sigset_t* mask; size_t size; }.
    if (a.u(5)) {
        struct MaskArg {
            uint64_t address, size;
        };
        auto m = read_app<MaskArg>(a.u(5));
        if (m.is_error())
            return err(m.error());
        if (auto r = begin_temporary_mask(m.value().address, m.value().size); r.is_error())
            return err(r.error());
    }
    int64_t result = do_select(a.i(0), a.u(1), a.u(2), a.u(3), deadline.value());
    return end_temporary_mask(write_back_remaining(result, a.u(4), deadline.value(), false));
}

int64_t sys_poll(const Args& a)
{
    uint64_t deadline = deadline_from_ms(a.i(2));
    int64_t result = do_poll(a.u(0), a.u(1), deadline);
    if (result == err(kRestartNoHand) && deadline != ~uint64_t(0))
        return restart_later(&restart_poll, deadline, a.u(0), a.u(1));
    return result;
}

int64_t sys_ppoll(const Args& a)
{
    auto deadline = deadline_from_timespec(a.u(2));
    if (deadline.is_error())
        return err(deadline.error());
    if (auto r = begin_temporary_mask(a.u(3), a.u(4)); r.is_error())
        return err(r.error());
    int64_t result = do_poll(a.u(0), a.u(1), deadline.value());
    return end_temporary_mask(write_back_remaining(result, a.u(2), deadline.value(), false));
}

int64_t sys_epoll_create1(const Args& a)
{
    constexpr unsigned kCloexec = 02000000;
    if (a.u(0) & ~uint64_t(kCloexec))
        return err(Errno::INVAL);
    auto file = fs::make_ref<EpollFile>(fs::kOpenReadWrite);
    if (file.is_error())
        return err(Errno::NOMEM);
    return ret(fd_table().install(fs::Ref<fs::OpenFile>(file.value()), a.u(0) & kCloexec));
}

int64_t sys_epoll_create(const Args& a)
{
    if (a.i(0) <= 0)
        return err(Errno::INVAL);
    return sys_epoll_create1({ { 0, 0, 0, 0, 0, 0 }, a.frame });
}

int64_t sys_epoll_ctl(const Args& a)
{
    int epfd = a.i(0), op = a.i(1), fd = a.i(2);
    fs::Ref<fs::OpenFile> holder;
    auto ep = epoll_of(epfd, holder);
    if (ep.is_error())
        return err(ep.error());
    if (fd == epfd)
        return err(Errno::INVAL);
    auto target = fd_table().get(fd);
    if (target.is_error())
        return err(target.error());
    EpollEvent ev { 0, 0 };
    if (op != kCtlDel) {
        auto in = read_app<EpollEvent>(a.u(3));
        if (in.is_error())
            return err(in.error());
        ev = in.value();
        if ((ev.events & kEpollExclusive) && op == kCtlMod)
            return err(Errno::INVAL);
    }
    (void)kEpollWakeup; // accepted, meaningless here (no suspend)
    return ret(ep.value()->control(op, fd, target.release_value(), ev.events, ev.data));
}

int64_t sys_epoll_wait(const Args& a)
{
    return epoll_wait_masked(a.i(0), a.u(1), a.i(2), deadline_from_ms(a.i(3)), 0, 0);
}

int64_t sys_epoll_pwait(const Args& a)
{
    return epoll_wait_masked(a.i(0), a.u(1), a.i(2), deadline_from_ms(a.i(3)), a.u(4), a.u(5));
}

// epoll_pwait2: the timeout is a relative timespec (null: none).
int64_t sys_epoll_pwait2(const Args& a)
{
    auto deadline = deadline_from_timespec(a.u(3));
    if (deadline.is_error())
        return err(deadline.error());
    return epoll_wait_masked(a.i(0), a.u(1), a.i(2), deadline.value(), a.u(4), a.u(5));
}

} // namespace lx
