// Threads: clone for threads (what pthread_create does). One process per VM, so anything
// that would create a process (fork, vfork, clone without CLONE_VM|CLONE_THREAD) is refused.
#include <lx/process.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

constexpr uint64_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneFiles = 0x400, kCloneSighand = 0x800;
constexpr uint64_t kClonePidfd = 0x1000, kCloneVfork = 0x4000, kCloneParent = 0x8000, kCloneThread = 0x10000;
constexpr uint64_t kCloneSysvsem = 0x40000, kCloneSettls = 0x80000, kCloneParentSettid = 0x100000;
constexpr uint64_t kCloneChildCleartid = 0x200000, kCloneDetached = 0x400000, kCloneChildSettid = 0x1000000;
constexpr uint64_t kCloneSignalMask = 0xff;
constexpr uint64_t kThreadFlags = kCloneVm | kCloneFs | kCloneFiles | kCloneSighand | kCloneThread;
constexpr uint64_t kAllowed = kThreadFlags | kCloneSysvsem | kCloneSettls | kCloneParentSettid | kCloneChildCleartid |
                              kCloneDetached | kCloneChildSettid | kCloneParent;

} // namespace

int64_t sys_clone(const Args& a)
{
    uint64_t flags = a.u(0), stack = a.u(1), parent_tid = a.u(2), child_tid = a.u(3), tls = a.u(4);
    if ((flags & kThreadFlags) != kThreadFlags || (flags & (kCloneVfork | kClonePidfd)))
        return err(Errno::NOSYS); // a new process: not in a unikernel
    if (flags & ~(kAllowed | kCloneSignalMask))
        return err(Errno::INVAL);
    if ((flags & kCloneSettls) && tls >= kAppLimit)
        return err(Errno::PERM);
    auto child = spawn_cloned_thread(*a.frame, stack, (flags & kCloneSettls) ? tls : core::current_fs_base(),
                                     (flags & kCloneChildCleartid) ? child_tid : 0,
                                     (flags & kCloneParentSettid) ? parent_tid : 0,
                                     (flags & kCloneChildSettid) ? child_tid : 0);
    if (child.is_error())
        return err(child.error() == Errno::NOMEM ? Errno::AGAIN : child.error());
    return child.value();
}

// clone3: glibc tries it first and falls back to clone on ENOSYS (quietly: no log).
int64_t sys_clone3(const Args&) { return err(Errno::NOSYS); }

int64_t sys_fork(const Args&) { return err(Errno::NOSYS); }
int64_t sys_vfork(const Args&) { return err(Errno::NOSYS); }

} // namespace lx
