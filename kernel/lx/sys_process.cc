// Identity, limits, thread bookkeeping and the process's end: the calls every C runtime
// makes at start-up and exit.
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/cpus.h>
#include <core/memory.h>
#include <core/thread.h>
#include <lib/string.h>
#include <lx/process.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

constexpr int kArchSetFs = 0x1002;
constexpr int kArchGetFs = 0x1003;
constexpr int kPrSetName = 15;
constexpr int kPrGetName = 16;

struct Rlimit {
    uint64_t cur, max;
};
constexpr uint64_t kRlimInfinity = ~uint64_t(0);
constexpr int kRlimitCount = 16;
constexpr int kRlimitNofile = 7;

// Process resource limits; only a few mean anything here, the rest read back as set.
Rlimit g_rlimits[kRlimitCount] = {
    { kRlimInfinity, kRlimInfinity }, // CPU
    { kRlimInfinity, kRlimInfinity }, // FSIZE
    { kRlimInfinity, kRlimInfinity }, // DATA
    { 8 << 20, kRlimInfinity },       // STACK: the main thread's stack size
    { 0, kRlimInfinity },             // CORE
    { kRlimInfinity, kRlimInfinity }, // RSS
    { 4096, 4096 },                   // NPROC
    { 1024, 1024 * 1024 },            // NOFILE
    { 8 << 20, 8 << 20 },             // MEMLOCK
    { kRlimInfinity, kRlimInfinity }, // AS
    { kRlimInfinity, kRlimInfinity }, // LOCKS
    { 4096, 4096 },                   // SIGPENDING
    { 819200, 819200 },               // MSGQUEUE
    { 0, 0 },                         // NICE
    { 0, 0 },                         // RTPRIO
    { kRlimInfinity, kRlimInfinity }, // RTTIME
};

struct Utsname {
    char sysname[65], nodename[65], release[65], version[65], machine[65], domainname[65];
};

void set_field(char* field, const char* value)
{
    size_t n = lib::str_nlength(value, 64);
    lib::mem_copy(field, value, n);
    field[n] = '\0';
}

} // namespace

int64_t sys_getpid(const Args&) { return kPid; }
int64_t sys_getppid(const Args&) { return 0; }
int64_t sys_gettid(const Args&) { return current_app_thread().tid; }
// User and group ids, process group and session: sys_identity.cc.

int64_t sys_exit(const Args& a) { exit_app_thread(a.i(0)); }
int64_t sys_exit_group(const Args& a) { exit_application(a.i(0)); }

// One process per VM: there is never a child to wait for. After Linux's argument checks
// (unknown option bits, a bad id type) the answer is ECHILD. wait4 never touches its status
// and rusage pointers then; waitid, as Linux's does, still writes the siginfo's fields (all
// zero: no child changed state) when infop is not null — EFAULT if it cannot.
namespace {
constexpr uint64_t kWnohang = 1, kWuntraced = 2, kWstopped = 2, kWexited = 4, kWcontinued = 8, kWnowait = 0x01000000,
                   kWnothread = 0x20000000, kWall = 0x40000000, kWclone = 0x80000000;
constexpr int kPAll = 0, kPPid = 1, kPPgid = 2, kPPidfd = 3;

Errno waitid_error(int which, int32_t id, uint64_t options)
{
    if (options & ~(kWnohang | kWnowait | kWexited | kWstopped | kWcontinued | kWnothread | kWall | kWclone))
        return Errno::INVAL;
    if (!(options & (kWexited | kWstopped | kWcontinued)))
        return Errno::INVAL;
    switch (which) {
    case kPAll:
        return Errno::CHILD;
    case kPPid:
        return id <= 0 ? Errno::INVAL : Errno::CHILD;
    case kPPgid:
        return id < 0 ? Errno::INVAL : Errno::CHILD;
    case kPPidfd:
        return id < 0 ? Errno::INVAL : Errno::BADF; // no descriptor is a pidfd
    default:
        return Errno::INVAL;
    }
}
} // namespace

int64_t sys_wait4(const Args& a)
{
    if (a.u(2) & ~(kWnohang | kWuntraced | kWcontinued | kWnothread | kWall | kWclone))
        return err(Errno::INVAL);
    if (a.i(0) == INT32_MIN) // -INT_MIN: no such process group
        return err(Errno::SRCH);
    return err(Errno::CHILD);
}

int64_t sys_waitid(const Args& a)
{
    Errno e = waitid_error(a.i(0), a.i(1), a.u(3));
    if (a.u(2)) {
        // si_signo, si_errno, si_code at 0; si_pid, si_uid, si_status at 16.
        struct {
            int32_t signo, errno_value, code;
        } head {};
        struct {
            int32_t pid, uid, status;
        } child {};
        if (write_app(a.u(2), head).is_error() || write_app(a.u(2) + 16, child).is_error())
            return err(Errno::FAULT);
    }
    return err(e);
}

int64_t sys_set_tid_address(const Args& a)
{
    AppThread& t = current_app_thread();
    t.clear_child_tid = a.u(0);
    return t.tid;
}

int64_t sys_set_robust_list(const Args& a)
{
    constexpr uint64_t kRobustListHeadSize = 24;
    if (a.u(1) != kRobustListHeadSize)
        return err(Errno::INVAL);
    AppThread& t = current_app_thread();
    t.robust_list = a.u(0);
    t.robust_list_len = a.u(1);
    return 0;
}

// Restartable sequences: glibc registers one per thread when the kernel offers it and runs
// without when told ENOSYS (the choice; no per-CPU critical sections to abort).
int64_t sys_rseq(const Args&) { return err(Errno::NOSYS); }

int64_t sys_arch_prctl(const Args& a)
{
    switch (a.i(0)) {
    case kArchSetFs:
        if (a.u(1) >= kAppLimit)
            return err(Errno::PERM);
        core::set_current_fs_base(a.u(1));
        return 0;
    case kArchGetFs:
        return ret(write_app<uint64_t>(a.u(1), core::current_fs_base()));
    default:
        return err(Errno::INVAL);
    }
}

int64_t sys_prctl(const Args& a)
{
    AppThread& t = current_app_thread();
    switch (a.i(0)) {
    case kPrSetName: {
        char name[16];
        auto n = copy_string_from_app(name, a.u(1), sizeof(name));
        if (n.is_error() && n.error() != Errno::NAMETOOLONG)
            return err(n.error());
        name[sizeof(name) - 1] = '\0'; // Linux truncates to 15 bytes
        lib::mem_copy(t.comm, name, sizeof(name));
        return 0;
    }
    case kPrGetName:
        return ret(copy_to_app(a.u(1), t.comm, sizeof(t.comm)));
    default:
        return err(Errno::INVAL);
    }
}

int64_t sys_uname(const Args& a)
{
    Utsname u {};
    set_field(u.sysname, "Linux");
    set_field(u.nodename, "nimbus");
    // Programs (glibc among them) compare the release with minimum versions: claim a
    // recent Linux whose ABI we follow.
    set_field(u.release, "6.1.0-nimbus");
    set_field(u.version, "#1 SMP Nimbus");
    set_field(u.machine, "x86_64");
    set_field(u.domainname, "(none)");
    return ret(write_app(a.u(0), u));
}

int64_t sys_prlimit64(const Args& a)
{
    if (a.i(0) != 0 && a.i(0) != kPid)
        return err(Errno::SRCH);
    int resource = a.i(1);
    if (resource < 0 || resource >= kRlimitCount)
        return err(Errno::INVAL);
    Rlimit old = g_rlimits[resource];
    if (a.u(2)) {
        auto limit = read_app<Rlimit>(a.u(2));
        if (limit.is_error())
            return err(limit.error());
        if (limit.value().cur > limit.value().max)
            return err(Errno::INVAL);
        if (resource == kRlimitNofile && limit.value().max > 1024 * 1024)
            return err(Errno::PERM);
        g_rlimits[resource] = limit.value();
    }
    if (a.u(3))
        return ret(write_app(a.u(3), old));
    return 0;
}

int64_t sys_getrlimit(const Args& a)
{
    Args b { { 0, a.u(0), 0, a.u(1), 0, 0 }, a.frame };
    return sys_prlimit64(b);
}

int64_t sys_setrlimit(const Args& a)
{
    Args b { { 0, a.u(0), a.u(1), 0, 0, 0 }, a.frame };
    return sys_prlimit64(b);
}

int64_t sys_sysinfo(const Args& a)
{
    struct Sysinfo {
        int64_t uptime;
        uint64_t loads[3];
        uint64_t totalram, freeram, sharedram, bufferram, totalswap, freeswap;
        uint16_t procs, pad;
        uint64_t totalhigh, freehigh;
        uint32_t mem_unit;
        char reserved[4];
    } info {};
    static_assert(sizeof(Sysinfo) == 112);
    info.uptime = int64_t(core::monotonic_ns() / 1000000000);
    info.totalram = core::total_memory();
    info.freeram = core::phys_allocator().free_pages() * 4096;
    info.procs = 1;
    info.mem_unit = 1;
    return ret(write_app(a.u(0), info));
}

int64_t sys_sched_yield(const Args&)
{
    core::yield();
    return 0;
}

// CPU affinity maps onto the scheduler's pinning: a thread is free to run anywhere, or pinned
// to one CPU. A mask of every online CPU unpins; any other mask pins the thread to one CPU of
// the mask (the one it is on, if allowed, else the lowest) — always a placement the mask
// permits, if a narrower one than asked. The mask read back is what is enforced.
namespace {

constexpr size_t kMaxMaskBytes = 1024 / 8;

// Whether the call is about the calling thread (pid 0 or its own tid); SRCH for a tid that
// does not exist.
Result<bool> affinity_self(int32_t pid)
{
    if (pid == 0 || pid == current_app_thread().tid)
        return true;
    if (pid < 0)
        return Errno::SRCH;
    struct Find {
        int32_t tid;
        bool found;
    } find { pid, false };
    for_each_app_thread(
        [](AppThread& t, void* ctx) {
            auto* f = static_cast<Find*>(ctx);
            f->found = f->found || t.tid == f->tid;
            return f->found;
        },
        &find);
    if (!find.found)
        return Errno::SRCH;
    return false;
}

} // namespace

int64_t sys_sched_getaffinity(const Args& a)
{
    // Bit i for CPU i, in a buffer of a.u(1) bytes that must hold every CPU (a multiple of 8).
    size_t size = a.u(1);
    unsigned ncpus = core::cpu_count();
    size_t needed = ((ncpus + 63) / 64) * 8;
    if (size < needed || size % 8)
        return err(Errno::INVAL);
    auto self = affinity_self(a.i(0));
    if (self.is_error())
        return err(self.error());
    int pinned = core::kAnyCpu;
    if (self.value())
        pinned = core::current_thread()->pinned_cpu();
    uint64_t words[kMaxMaskBytes / 8] = {};
    for (unsigned i = 0; i < ncpus && i < kMaxMaskBytes * 8; ++i) {
        if (pinned == core::kAnyCpu || int(i) == pinned)
            words[i / 64] |= uint64_t(1) << (i % 64);
    }
    if (auto r = copy_to_app(a.u(2), words, needed); r.is_error())
        return err(r.error());
    return int64_t(needed);
}

int64_t sys_sched_setaffinity(const Args& a)
{
    uint64_t words[kMaxMaskBytes / 8] = {};
    size_t size = a.u(1) < kMaxMaskBytes ? a.u(1) : kMaxMaskBytes; // CPUs beyond 1024 do not exist
    if (auto r = copy_from_app(words, a.u(2), size); r.is_error())
        return err(r.error());
    auto self = affinity_self(a.i(0));
    if (self.is_error())
        return err(self.error());
    unsigned ncpus = core::cpu_count();
    unsigned current = core::current_thread()->cpu_index();
    unsigned allowed = 0;
    int choice = -1;
    for (unsigned i = 0; i < ncpus && i < kMaxMaskBytes * 8; ++i) {
        if (!(words[i / 64] & (uint64_t(1) << (i % 64))))
            continue;
        ++allowed;
        if (choice < 0 || i == current)
            choice = int(i);
    }
    if (allowed == 0)
        return err(Errno::INVAL); // no online CPU in the mask
    // TODO(#4): another thread's affinity needs a way to pin a thread other than the caller.
    if (!self.value())
        return err(Errno::PERM);
    if (allowed == ncpus) {
        core::unpin_current_thread();
        return 0;
    }
    return ret(core::pin_current_thread(unsigned(choice)));
}

int64_t sys_getcpu(const Args& a)
{
    unsigned cpu = core::current_thread()->cpu_index();
    if (a.u(0) && write_app<uint32_t>(a.u(0), cpu).is_error())
        return err(Errno::FAULT);
    if (a.u(1) && write_app<uint32_t>(a.u(1), 0).is_error())
        return err(Errno::FAULT);
    return 0;
}

} // namespace lx
