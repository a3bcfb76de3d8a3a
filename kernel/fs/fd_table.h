// FdTable: the application's file descriptors — small integers naming open file descriptions
// (OpenFile), each with its own close-on-exec flag — with Linux's semantics: the lowest free
// number is used, dup2 onto an open descriptor closes it first (atomically), and the table is
// capped by RLIMIT_NOFILE.
//
// Locking. One mutex (m_lock) guards the slots. Every operation, lookups included, holds it
// only for a few instructions: get() copies the Ref out under the lock, so a close racing with
// a read on the same descriptor cannot free the OpenFile in use (the reader's Ref keeps it;
// the last Ref, wherever it is dropped, frees it). Refs displaced by close/dup2 are dropped
// after the lock is released, so an OpenFile's destructor (which may block: a socket's
// shutdown) never runs under it. m_lock is a leaf: nothing is called with it held.
//
// Storage grows on demand (doubling, up to the limit), so a table with a 1 M limit costs
// nothing until descriptors are used. Finding the lowest free descriptor is a scan from a
// hint (the lowest slot that may be free), O(1) amortised for the usual open/close pattern.
#pragma once

#include <fs/open_file.h>
#include <fs/ref.h>
#include <fs/vector.h>
#include <lib/result.h>
#include <sync/mutex.h>
#include <sync/thread_annotations.h>

#include <stdint.h>

namespace fs {

class FdTable {
public:
    static constexpr unsigned kDefaultLimit = 1024;   // RLIMIT_NOFILE's usual soft limit
    static constexpr unsigned kMaxLimit = 1u << 20;   // fs.nr_open's default

    FdTable() = default;
    FdTable(const FdTable&) = delete;
    FdTable& operator=(const FdTable&) = delete;
    ~FdTable();

    // Installs `file` at the lowest free descriptor ≥ min_fd. MFILE if none below the limit,
    // INVAL if min_fd is at or above it (F_DUPFD's rule), NOMEM.
    Result<int> install(Ref<OpenFile> file, bool close_on_exec, int min_fd = 0);
    // The open file behind `fd`; BADF if none.
    Result<Ref<OpenFile>> get(int fd) const;
    // close(2). BADF if not open.
    Result<void> close(int fd);
    // dup(2): a new descriptor (lowest free), close-on-exec clear.
    Result<int> dup(int fd);
    // dup2(2): makes `new_fd` refer to old_fd's file, closing what it held. old_fd == new_fd
    // returns new_fd if it is open (BADF otherwise). BADF if new_fd is outside [0, limit).
    Result<int> dup2(int old_fd, int new_fd);
    // dup3(2): dup2 with `flags` (0 or kOpenCloseOnExec); INVAL if old_fd == new_fd or other
    // flags are given.
    Result<int> dup3(int old_fd, int new_fd, unsigned flags);
    // fcntl(F_DUPFD / F_DUPFD_CLOEXEC): lowest free descriptor ≥ min_fd.
    Result<int> dup_at_least(int fd, int min_fd, bool close_on_exec);
    // F_GETFD / F_SETFD (kFdCloseOnExec).
    Result<unsigned> fd_flags(int fd) const;
    Result<void> set_fd_flags(int fd, unsigned flags);

    // RLIMIT_NOFILE. Lowering it below open descriptors leaves them open (as Linux does);
    // new ones must fit under it. INVAL above kMaxLimit.
    unsigned limit() const;
    Result<void> set_limit(unsigned limit);

    // Open descriptors right now (for tests and /proc).
    size_t count() const;
    // Closes everything (process exit).
    void close_all();

private:
    struct Slot {
        Ref<OpenFile> file;
        bool close_on_exec = false;
    };

    // Index of the lowest free slot ≥ min_fd below the limit, growing the storage if needed.
    Result<int> allocate_locked(int min_fd) TA_REQ(m_lock);
    bool is_open_locked(int fd) const TA_REQ(m_lock);

    mutable ksync::Mutex m_lock;
    Vector<Slot> m_slots TA_GUARDED(m_lock);
    unsigned m_limit TA_GUARDED(m_lock) = kDefaultLimit;
    size_t m_count TA_GUARDED(m_lock) = 0;
    int m_lowest_free TA_GUARDED(m_lock) = 0; // no free slot below this
};

} // namespace fs
