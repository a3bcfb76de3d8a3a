// File locks (flock.h): the flock table and its waiters, and fcntl's record-lock checks.
#include <core/clock.h>
#include <core/thread.h>
#include <lx/flock.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <new>
#include <sync/mutex.h>

namespace lx {
namespace {

using lib::Errno;

// ENOLCK (lib/errno.h has no name for it): no memory for a lock record.
constexpr Errno kNoLocks = Errno(37);
// How often a blocked flock looks again without being woken: a description that died while a
// system call still held it is only noticed by looking (flock.h).
constexpr uint64_t kRecheckNs = 100'000'000;

struct FlockEntry {
    const void* file; // the lock's file: the vnode, or the description itself (no vnode)
    fs::Ref<fs::OpenFile> owner;
    bool exclusive;
    FlockEntry* next;
};

struct Waiter {
    core::Thread* thread;
    Waiter* next;
};

constinit ksync::Mutex g_lock;
FlockEntry* g_entries TA_GUARDED(g_lock) = nullptr;
Waiter* g_waiters TA_GUARDED(g_lock) = nullptr;

// Entries taken out of the table, freed once g_lock is released: dropping the last reference
// to a description runs its destructor, which must not run under the lock.
class Garbage {
public:
    Garbage() = default;
    Garbage(const Garbage&) = delete;
    Garbage& operator=(const Garbage&) = delete;
    ~Garbage()
    {
        while (m_head) {
            FlockEntry* e = m_head;
            m_head = e->next;
            delete e;
        }
    }
    void add(FlockEntry* e)
    {
        e->next = m_head;
        m_head = e;
    }
    bool empty() const { return !m_head; }

private:
    FlockEntry* m_head = nullptr;
};

const void* lock_key(const fs::OpenFile& file)
{
    const fs::Location* loc = file.location();
    return loc ? static_cast<const void*>(loc->vnode.get()) : static_cast<const void*>(&file);
}

void wake_waiters_locked() TA_REQ(g_lock)
{
    for (Waiter* w = g_waiters; w; w = w->next)
        core::unpark_thread(w->thread);
}

// Takes out of the table every entry `drop` selects, into `garbage`; wakes the waiters if
// any went.
template<typename F>
void remove_entries_locked(Garbage& garbage, F drop) TA_REQ(g_lock)
{
    bool removed = false;
    for (FlockEntry** p = &g_entries; *p;) {
        FlockEntry* e = *p;
        if (drop(*e)) {
            *p = e->next;
            garbage.add(e);
            removed = true;
        } else {
            p = &e->next;
        }
    }
    if (removed)
        wake_waiters_locked();
}

// Drops the entries of descriptions only the table still holds. Exact: nobody can take a
// new reference to such a description, since the only one left is here, under g_lock.
void drop_orphans_locked(const void* key, Garbage& garbage) TA_REQ(g_lock)
{
    remove_entries_locked(garbage, [&](const FlockEntry& e) { return e.file == key && e.owner->ref_count() == 1; });
}

// One attempt at `op` (without LOCK_NB's bit): AGAIN if another description's lock is in
// the way.
lib::Result<void> try_flock_locked(const fs::Ref<fs::OpenFile>& file, int op, Garbage& garbage) TA_REQ(g_lock)
{
    const void* key = lock_key(*file);
    drop_orphans_locked(key, garbage);
    bool exclusive = op == kLockEx;
    FlockEntry* mine = nullptr;
    for (FlockEntry* e = g_entries; e; e = e->next)
        if (e->owner.get() == file.get())
            mine = e;
    if (mine && op != kLockUn && mine->exclusive == exclusive)
        return {};
    // Unlocking, or converting (the old lock goes first: not atomic, as on Linux).
    if (mine)
        remove_entries_locked(garbage, [&](const FlockEntry& e) { return &e == mine; });
    if (op == kLockUn)
        return {};
    for (FlockEntry* e = g_entries; e; e = e->next)
        if (e->file == key && (exclusive || e->exclusive))
            return Errno::AGAIN;
    auto* entry = new (std::nothrow) FlockEntry { key, file, exclusive, g_entries };
    if (!entry)
        return kNoLocks;
    g_entries = entry;
    return {};
}

void unregister_locked(Waiter& self) TA_REQ(g_lock)
{
    for (Waiter** p = &g_waiters; *p; p = &(*p)->next) {
        if (*p == &self) {
            *p = self.next;
            return;
        }
    }
}

} // namespace

lib::Result<void> flock_file(const fs::Ref<fs::OpenFile>& file, int op)
{
    int kind = op & ~kLockNb;
    if (kind != kLockSh && kind != kLockEx && kind != kLockUn)
        return Errno::INVAL;
    if (file->is_path_only())
        return Errno::BADF;
    Waiter self { core::current_thread(), nullptr };
    bool registered = false;
    for (;;) {
        lib::Result<void> result;
        bool wait;
        {
            Garbage garbage; // declared first: freed after the guard below lets go
            ksync::MutexGuard guard(g_lock);
            result = try_flock_locked(file, kind, garbage);
            wait = result.is_error() && result.error() == Errno::AGAIN && !(op & kLockNb);
            // Registered before the lock is let go: a release after that unparks us (a token).
            if (wait && !registered) {
                self.next = g_waiters;
                g_waiters = &self;
                registered = true;
            }
            if (wait && signal_pending()) {
                wait = false;
                result = kRestartSys;
            }
            if (!wait && registered)
                unregister_locked(self);
        }
        if (!wait)
            return result;
        core::park_current_thread_until(core::monotonic_ns() + kRecheckNs);
    }
}

void release_file_locks(fs::Ref<fs::OpenFile> file)
{
    Garbage garbage;
    ksync::MutexGuard guard(g_lock);
    // The caller's reference and the table's: nobody else can reach the description.
    remove_entries_locked(garbage, [&](const FlockEntry& e) { return e.owner.get() == file.get() && file->ref_count() == 2; });
}

int64_t fcntl_record_lock(fs::OpenFile& file, int cmd, uint64_t arg)
{
    constexpr int kGetlk = 5, kSetlk = 6, kSetlkw = 7, kOfdGetlk = 36, kOfdSetlk = 37, kOfdSetlkw = 38;
    constexpr int16_t kRdlck = 0, kWrlck = 1, kUnlck = 2;
    constexpr int64_t kMaxOffset = INT64_MAX;
    // struct flock of x86-64 Linux.
    struct Flock {
        int16_t type, whence;
        int64_t start, len;
        int32_t pid;
        int32_t pad;
    };
    static_assert(sizeof(Flock) == 32);
    if (cmd == kOfdGetlk || cmd == kOfdSetlk || cmd == kOfdSetlkw)
        return err(Errno::INVAL); // not implemented (flock.h)
    auto lk = read_app<Flock>(arg);
    if (lk.is_error())
        return err(lk.error());
    Flock l = lk.value();
    // The range: [start, end], with l.len == 0 meaning "to the end of the file, however far".
    int64_t base = 0;
    switch (l.whence) {
    case 0: // SEEK_SET
        break;
    case 1: { // SEEK_CUR (a stream has none: 0)
        auto at = file.seek(0, 1);
        base = at.is_error() ? 0 : int64_t(at.value());
        break;
    }
    case 2: { // SEEK_END
        auto attr = file.getattr();
        if (attr.is_error())
            return err(attr.error());
        base = int64_t(attr.value().size);
        break;
    }
    default:
        return err(Errno::INVAL);
    }
    int64_t start;
    if (__builtin_add_overflow(base, l.start, &start))
        return err(Errno::OVERFLOW);
    if (start < 0)
        return err(Errno::INVAL);
    if (l.len > 0 && l.len - 1 > kMaxOffset - start)
        return err(Errno::OVERFLOW);
    if (l.len < 0 && start + l.len < 0) // [start + len, start - 1]
        return err(Errno::INVAL);
    switch (cmd) {
    case kGetlk:
        if (l.type != kRdlck && l.type != kWrlck)
            return err(Errno::INVAL);
        l.type = kUnlck; // no other process can hold a lock
        return ret(write_app(arg, l));
    case kSetlk:
    case kSetlkw:
        if (l.type == kRdlck && !file.can_read())
            return err(Errno::BADF);
        if (l.type == kWrlck && !file.can_write())
            return err(Errno::BADF);
        if (l.type != kRdlck && l.type != kWrlck && l.type != kUnlck)
            return err(Errno::INVAL);
        return 0; // granted: a process's own locks never conflict with each other
    default:
        return err(Errno::INVAL);
    }
}

} // namespace lx
