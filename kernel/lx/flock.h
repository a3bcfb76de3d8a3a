// File locks: flock(2) whole-file locks per open file description, and fcntl's record locks.
//
// flock. A lock belongs to an open file description (what dup'ed descriptors share) and covers
// the whole file (the vnode; a file without a vnode — a pipe — is its own lock). Shared locks
// coexist; an exclusive one excludes every other description's. Converting a lock is not
// atomic, as on Linux: the old lock goes first, so two holders of shared locks that both
// upgrade cannot deadlock. A lock lasts until LOCK_UN or until the description is gone: the
// table holds a reference to the description, and an entry whose reference is the last one
// (no descriptor, mapping or call in flight holds the description any more) is dropped — at
// once by close/dup2/dup3 of the last descriptor (release_file_locks), otherwise the next time
// anyone looks at the file's locks (a waiter re-looks every 100 ms).
//
// fcntl record locks (F_GETLK/F_SETLK/F_SETLKW). One process, and POSIX locks never conflict
// with their own process: after Linux's argument checks every request is granted and F_GETLK
// reports F_UNLCK. Open-file-description locks (F_OFD_*) would conflict between descriptions
// of the one process; they are not implemented and answer EINVAL, as a kernel before 3.15
// does (QEMU and others then fall back to process locks).
//
// Locking: one sleeping mutex guards the flock table and its waiters (locks are rare; a list).
// Every call may block (the mutex; flock without LOCK_NB waits for the conflict to go away).
#pragma once

#include <cstdint>
#include <fs/open_file.h>
#include <lib/result.h>

namespace lx {

// flock(2) operations.
inline constexpr int kLockSh = 1, kLockEx = 2, kLockNb = 4, kLockUn = 8;

// flock(2) on `file`. INVAL for an operation other than LOCK_SH, LOCK_EX or LOCK_UN (with
// LOCK_NB or not); AGAIN (EWOULDBLOCK) on a conflict with LOCK_NB; kRestartSys if a signal
// cuts the wait short (signal.h); BADF for an O_PATH file.
lib::Result<void> flock_file(const fs::Ref<fs::OpenFile>& file, int op);

// After a descriptor of `file` was closed (dropped by close, dup2 or dup3): if the caller's
// reference and the lock table's are the last ones, the description's flock goes now and
// its waiters wake. Cheap when the description holds no lock.
void release_file_locks(fs::Ref<fs::OpenFile> file);

// fcntl(F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW) with the struct
// flock at `arg`: a syscall result (0 or -errno). FAULT, INVAL (type, whence, a negative
// start; every F_OFD_* command), BADF (a read lock on a file not open for reading, a write
// lock on one not open for writing), OVERFLOW (a range past the largest offset).
int64_t fcntl_record_lock(fs::OpenFile& file, int cmd, uint64_t arg);

} // namespace lx
