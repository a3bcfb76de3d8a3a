// The system-call surface under hostile arguments: every syscall number 0..463 (and a few
// past the table: 500, 511..513, 1000, 2^30 | 1, 2^32 - 1, 2^64 - 1), each in turn, with
// arguments drawn by a fixed-seed PRNG from values meant to hurt — 0, -1, small integers, huge
// lengths, unmapped and non-canonical addresses, KERNEL addresses (the kernel image at
// -2 GiB + 1 MiB, the direct map at 0xffff800000000000), misaligned pointers, pointers that
// run off a valid buffer into a guard page, read-only memory (the program's text, the vDSO,
// a read-only page of constants), and descriptors of every kind the kernel has. The kernel
// must never panic or hang: every call returns, whatever its errno. First a few exact checks:
// reads into kernel memory, write/clock_gettime/uname/getrandom with kernel pointers give
// EFAULT, and read-only memory is never written. At the end, the text, the vDSO and the
// constants are compared with copies taken at the start.
//
// What is not called, or only in a shape that cannot end or wreck the program (each case in
// shape() says why): exit, exit_group, rt_sigreturn, execve(at), fork, vfork, clone(3),
// pause, rt_sigsuspend, alarm, setitimer, timer_create/settime (their signals kill), and
// sched_setaffinity. Memory calls (mmap with MAP_FIXED, munmap, mremap, mprotect, madvise,
// mlock) only ever name the scratch region, addresses known to be unmapped, or kernel and
// non-canonical ones; brk only values it must refuse or ignore; every timeout is zero (or a
// bad pointer); signals sent are ones whose default action is to ignore; rt_sigaction
// installs no handler from garbage; arch_prctl never moves FS into the program's memory; fds
// 0..kFixtures-1 (the fixtures below) are never closed or replaced, and every descriptor a
// call creates is closed right after it, so nothing blocking outlives its call.
//
// Usage: syscall_fuzz [CALLS [SEED]] — 20000 calls by default. Prints "syscall_fuzz: ok N
// calls" and exits 0. To find the call that hangs or kills, run it under `--boot strace`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul

static int failures;
static char failure_text[16][160];
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (failures < 16)                                                                         \
            snprintf(failure_text[failures], sizeof failure_text[0], __VA_ARGS__);                 \
        ++failures;                                                                                \
    } while (0)
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FAIL("line %d: %s", __LINE__, #cond);                                                  \
    } while (0)

// The raw instruction: no errno, no wrapper, rax exactly as given.
static long raw_syscall(unsigned long nr, unsigned long a, unsigned long b, unsigned long c, unsigned long d,
                        unsigned long e, unsigned long f)
{
    long ret;
    register unsigned long r10 __asm__("r10") = d;
    register unsigned long r8 __asm__("r8") = e;
    register unsigned long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define SC(nr, ...) raw_syscall_n(nr, __VA_ARGS__)
static long raw_syscall_n(unsigned long nr, unsigned long a, unsigned long b, unsigned long c)
{
    return raw_syscall(nr, a, b, c, 0, 0, 0);
}

// xorshift64*: deterministic for a given seed.
static uint64_t g_rng = 0x4e494d4255535a5aull;
static uint64_t rnd(void)
{
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}
static uint64_t pick(const uint64_t* values, size_t n) { return values[rnd() % n]; }
#define PICK(...) pick((const uint64_t[]){ __VA_ARGS__ }, sizeof((const uint64_t[]){ __VA_ARGS__ }) / sizeof(uint64_t))

// ---- the address space the fuzzer plays in -----------------------------------------------

// Kernel addresses (kernel/arch/x86_64/layout.h): the image window, the kernel's text at
// +1 MiB, and the direct map of physical memory.
static const uint64_t kKernel[] = {
    0xffffffff80000000ull, 0xffffffff80100000ull, 0xffffffff80200000ull, 0xffffffff80100123ull,
    0xffff800000000000ull, 0xffff800000100000ull, 0xffff800001000000ull, 0xffff800000001000ull,
    0xfffffffffffff000ull, 0xfffffffffffffff8ull,
};
// Non-canonical, and the last bytes below the top of the application half.
static const uint64_t kNonCanonical[] = { 0x0000800000000000ull, 0x8000000000000000ull, 0x00007ffffffffff8ull,
                                          0x0000800000000000ull - PAGE, 0x7fffffffffffffffull };
// Known to be unmapped (checked at start), 64 KiB from each.
static const uint64_t kUnmapped[] = { 0x10000, 0xdead0000 };
#define UNMAPPED_SPAN (16 * PAGE)

enum {
    kScratchPages = 16, // [0,1] the valid buffer, [2] a PROT_NONE guard, [3] structures, rest free
    kConstantPages = 3, // read-only: [0] zeros, timespecs, short paths; [1..2] a long path
};
static uint8_t* g_scratch; // fuzzed freely: mmap(MAP_FIXED), munmap, mprotect ... land here
static uint8_t* g_buffer;  // 2 pages of valid memory, then the guard
static uint8_t* g_structs; // iovecs, pollfds and the like pointing at hostile places
static uint8_t* g_const;   // read-only constants, then an unmapped page
static uint8_t* g_text;    // a page of our own code
static uint8_t* g_vdso;    // the vDSO (read-only)
static uint8_t g_text_copy[PAGE], g_vdso_copy[PAGE], g_const_copy[kConstantPages * PAGE];

// Offsets in the constants: a zero timespec / timeval / itimerspec at 0, paths from 256.
static const char* const kPaths[] = {
    "/tmp/fuzzfile", "/tmp/fuzzdir", "/tmp/fuzzdir/x", "/tmp/fuzzlink", "/tmp", "/", "", ".", "..",
    "/proc/self/maps", "/proc/self/fd/3", "/proc/self/exe", "/dev/null", "/dev", "/proc", "/etc/passwd",
    "/nonexistent/x", "/tmp/fuzzfile/notdir", "//tmp///fuzzfile", "/tmp/../tmp/./fuzzfile",
};
#define NPATHS (sizeof kPaths / sizeof kPaths[0])
static uint64_t path_pointer(void)
{
    uint64_t r = rnd() % (NPATHS + 3);
    if (r < NPATHS)
        return (uint64_t)g_const + 256 + r * 64;
    if (r == NPATHS)
        return (uint64_t)g_const + PAGE; // 8 KiB without a NUL: ENAMETOOLONG
    if (r == NPATHS + 1)
        return (uint64_t)g_const + kConstantPages * PAGE - 10; // runs into the unmapped page
    return (uint64_t)g_buffer + rnd() % 64; // whatever the buffer holds
}

// A pointer to a zero timeout, or one the kernel cannot read (never one to data it might
// read as a long wait).
static uint64_t time_pointer(void)
{
    switch (rnd() % 6) {
    case 0:
    case 1:
    case 2:
        return (uint64_t)g_const;
    case 3:
        return kKernel[rnd() % (sizeof kKernel / 8)];
    case 4:
        return kUnmapped[rnd() % 2];
    default:
        return (uint64_t)g_const + 1; // misaligned, still zeros
    }
}

// An address a memory call may act on: in the scratch region (mostly page-aligned), an
// unmapped one, or a kernel / non-canonical one; and a length that keeps the first two kinds
// inside their 64 KiB.
static uint64_t g_last_len;
static uint64_t memory_range(int bounded_len)
{
    uint64_t addr;
    uint64_t room;
    switch (rnd() % 8) {
    case 0:
    case 1:
    case 2:
    case 3:
        addr = (uint64_t)g_scratch + (rnd() % kScratchPages) * PAGE + (rnd() % 8 == 0 ? rnd() % PAGE : 0);
        room = (uint64_t)g_scratch + kScratchPages * PAGE - addr;
        break;
    case 4:
        addr = kUnmapped[rnd() % 2] + (rnd() % 16) * PAGE;
        room = UNMAPPED_SPAN - (addr & (UNMAPPED_SPAN - 1));
        break;
    case 5:
    case 6:
        addr = kKernel[rnd() % (sizeof kKernel / 8)];
        room = ~0ull;
        break;
    default:
        addr = kNonCanonical[rnd() % (sizeof kNonCanonical / 8)];
        room = ~0ull;
        break;
    }
    uint64_t len;
    if (room != ~0ull)
        len = rnd() % 4 == 0 ? rnd() % (room + 1) : (rnd() % (room / PAGE + 1)) * PAGE;
    else if (bounded_len)
        len = PICK(0, 1, PAGE, 16 * PAGE);
    else
        len = PICK(0, 1, PAGE, 1ull << 21, 1ull << 30, 1ull << 47, ~0ull, ~0ull - PAGE + 1, 0x8000000000000000ull);
    g_last_len = len;
    return addr;
}

// ---- descriptors ----------------------------------------------------------------------------

// Opened in this order, so their numbers are these. Every one is non-blocking or never
// blocks; 0-2 are /dev/null while the fuzzer runs (nothing reads the console).
enum {
    kFdFile = 3,  // /tmp/fuzzfile, read-write, with some bytes
    kFdDir,       // /tmp
    kFdPipeRead,  // non-blocking pipe
    kFdPipeWrite,
    kFdEvent,     // eventfd, non-blocking
    kFdEpoll,     // epoll with the pipe and the eventfd
    kFdTimer,     // timerfd, non-blocking
    kFdSignal,    // signalfd for SIGUSR2, non-blocking
    kFdZero,      // /dev/zero
    kFdRandom,    // /dev/urandom
    kFdPath,      // O_PATH of /tmp/fuzzfile
    kFdProc,      // /proc/self/maps
    kFdStream,    // AF_UNIX stream socketpair, non-blocking, both ends
    kFdStreamPeer,
    kFdDgram,     // AF_UNIX datagram socket with an abstract name, non-blocking
    kFdListen,    // AF_UNIX stream socket listening on an abstract name, non-blocking
    kFixtures,
};
static int g_fixture_flags[kFixtures];

static uint64_t fd_value(void)
{
    switch (rnd() % 8) {
    case 0:
    case 1:
    case 2:
    case 3:
        return rnd() % kFixtures;
    case 4:
        return kFixtures + rnd() % 4; // closed
    case 5:
        return PICK(-1ull, -100ull /* AT_FDCWD */, 0xffffffffull, 1u << 20, 0x7fffffff, 4095, 1ull << 32);
    default:
        return rnd() % kFixtures | (rnd() % 2 ? 0xffffffff00000000ull : 0); // high bits set
    }
}

// A descriptor a call may close or replace: never a fixture.
static uint64_t disposable_fd(uint64_t fd)
{
    if ((int)fd >= 0 && (int)fd < kFixtures)
        return kFixtures + rnd() % 4;
    return fd;
}

// ---- arguments ------------------------------------------------------------------------------

static uint64_t hostile_value(void)
{
    switch (rnd() % 16) {
    case 0:
        return 0;
    case 1:
        return -1ull;
    case 2:
        return rnd() % 8;
    case 3:
        return rnd() % 4096;
    case 4:
        return PICK(1ull << 31, 1ull << 32, 1ull << 47, 1ull << 62, 0x7fffffffffffffffull, ~0ull - 1, 0x80000000ull,
                    0xffffffffull, 1ull << 63, 0x7ffff000ull);
    case 5:
        return kUnmapped[rnd() % 2] + rnd() % 64;
    case 6:
    case 7:
        return kKernel[rnd() % (sizeof kKernel / 8)];
    case 8:
        return kNonCanonical[rnd() % (sizeof kNonCanonical / 8)];
    case 9: // in the valid buffer, aligned or not
        return (uint64_t)g_buffer + (rnd() % 2 ? 0 : rnd() % (2 * PAGE));
    case 10: // running off the buffer's end into the guard page
        return (uint64_t)g_buffer + 2 * PAGE - 1 - rnd() % 64;
    case 11:
        return (uint64_t)g_structs + (rnd() % 8) * 16;
    case 12: // read-only memory
        return PICK((uint64_t)g_const, (uint64_t)g_text, (uint64_t)g_vdso, (uint64_t)g_vdso - PAGE,
                    (uint64_t)g_const + 256);
    case 13:
        return fd_value();
    case 14:
        return path_pointer();
    default:
        return rnd() % 2 ? rnd() : 1ull << (rnd() % 64);
    }
}

// A value a well-meaning caller might pass: a fixture, a small number, the valid buffer, a
// path, a common size or flag word. Calls made mostly of these get past the first checks.
static uint64_t plausible_value(int position)
{
    // The first argument is most often a descriptor or a path, the second often a path.
    if (position < 2 && rnd() % 2)
        return rnd() % 2 ? rnd() % kFixtures : (uint64_t)g_const + 256 + (rnd() % NPATHS) * 64;
    switch (rnd() % 9) {
    case 0:
    case 1:
        return rnd() % kFixtures;
    case 2:
        return rnd() % 17;
    case 3:
        return (uint64_t)g_buffer;
    case 4:
        return (uint64_t)g_structs + (rnd() % 4) * 16;
    case 5:
        return (uint64_t)g_const + 256 + (rnd() % NPATHS) * 64;
    case 6:
        return PICK(8, 16, 64, 128, 4096, 8192);
    case 7:
        return rnd() & PICK(0xff, 0xfff, 0x80800, 0xc0000);
    default:
        return 0;
    }
}

// Signals whose default action is to ignore (or that only test the target: 0), or invalid.
static uint64_t harmless_signal(void)
{
    return PICK(0, SIGCHLD, SIGURG, SIGWINCH, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, 65, -1ull, 1000, 64 + 256);
}

// The kinds of call, to shape arguments and to skip.
enum Shape { kRun, kSkip };

// Reshapes the arguments of call `nr` so that it cannot end or wreck the program (see the
// header); kSkip for calls never made.
static enum Shape shape(uint64_t nr, uint64_t* a)
{
    switch (nr) {
    case SYS_exit:
    case SYS_exit_group:
    case SYS_rt_sigreturn: // would load a garbage context
    case SYS_execve:
    case SYS_execveat:
    case SYS_fork:
    case SYS_vfork:
    case SYS_clone:
    case SYS_clone3:
    case SYS_pause: // wait for a signal: forever
    case SYS_rt_sigsuspend:
    case SYS_alarm: // SIGALRM's default action ends the program
    case SYS_setitimer:
    case SYS_timer_create:
    case SYS_timer_settime:
    case SYS_sched_setaffinity:
    // Not implemented today; they could end or wreck the program once they are.
    case SYS_reboot:
    case SYS_kexec_load:
    case SYS_kexec_file_load:
    case SYS_seccomp:
    case SYS_ptrace:
    case SYS_process_vm_writev:
    case SYS_pidfd_send_signal:
    case 436: // close_range: would close the fixtures
    case SYS_vhangup:
    case SYS_setsid:
        return kSkip;

    // Memory: only the scratch region, known-unmapped, kernel or non-canonical addresses.
    case SYS_mmap: {
        uint64_t flags = a[3];
        if (rnd() % 2)
            flags = PICK(MAP_PRIVATE | MAP_ANONYMOUS, MAP_SHARED | MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, MAP_PRIVATE | MAP_FIXED_NOREPLACE | MAP_ANONYMOUS,
                         MAP_SHARED_VALIDATE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN) |
                    (rnd() % 8 == 0 ? rnd() : 0);
        a[3] = flags;
        if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
            a[0] = memory_range(1);
            a[1] = g_last_len;
        } else if (flags & (MAP_POPULATE | MAP_LOCKED)) {
            a[1] %= 1ull << 20; // populating 2^40 bytes would be the program's own doing
        }
        if (rnd() % 2)
            a[4] = fd_value();
        return kRun;
    }
    case SYS_munmap:
    case SYS_mprotect:
    case SYS_madvise:
    case SYS_mlock:
    case SYS_munlock:
    case SYS_mlock2:
    case SYS_pkey_mprotect:
    case SYS_remap_file_pages:
    case 462: // mseal
        a[0] = memory_range(0);
        a[1] = g_last_len;
        if (nr == SYS_mprotect && rnd() % 2)
            a[2] = PICK(PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_EXEC, PROT_GROWSDOWN | PROT_READ);
        if (nr == SYS_madvise && rnd() % 2)
            a[2] = PICK(MADV_DONTNEED, MADV_FREE, MADV_WILLNEED, MADV_REMOVE, MADV_DONTFORK, MADV_HUGEPAGE,
                        MADV_HWPOISON, MADV_POPULATE_WRITE, 1000);
        return kRun;
    case SYS_mremap:
        a[0] = memory_range(1);
        a[1] = g_last_len;
        a[3] = PICK(0, MREMAP_MAYMOVE, MREMAP_MAYMOVE | MREMAP_FIXED, MREMAP_MAYMOVE | 4 /* DONTUNMAP */, MREMAP_FIXED,
                    rnd());
        if (a[3] & MREMAP_FIXED) {
            // The target is replaced whole: it must lie where memory_range allows.
            a[4] = memory_range(1);
            a[2] = g_last_len;
        } else {
            // Growing in place only takes free space; moving goes where the kernel chooses.
            a[2] = rnd() % 8 ? (rnd() % (kScratchPages + 1)) * PAGE : PICK(1ull << 40, ~0ull, 1);
        }
        return kRun;
    case SYS_brk: // the heap is glibc's: only values brk must refuse or ignore
        a[0] = PICK(0, kKernel[1], kNonCanonical[0], -1ull, 0x1000, 1);
        return kRun;
    case SYS_shmat:
    case SYS_shmdt:
        a[1] = memory_range(1);
        return kRun;

    // Timeouts: zero, or unreadable.
    case SYS_select:
    case SYS_pselect6:
        a[4] = time_pointer();
        return kRun;
    case SYS_poll:
        a[2] = 0;
        return kRun;
    case SYS_ppoll:
    case SYS_epoll_pwait2:
        a[2 + (nr == SYS_epoll_pwait2)] = time_pointer();
        return kRun;
    case SYS_epoll_wait:
    case SYS_epoll_pwait:
        a[3] = 0;
        return kRun;
    case SYS_nanosleep:
        a[0] = time_pointer();
        return kRun;
    case SYS_clock_nanosleep:
        a[2] = time_pointer();
        return kRun;
    case SYS_rt_sigtimedwait:
        a[2] = time_pointer();
        return kRun;
    case SYS_futex:
        a[3] = time_pointer(); // the timeout of every waiting operation
        if (rnd() % 2)
            a[1] = rnd() % 14 | PICK(0, 128 /* PRIVATE */, 256 /* CLOCK_REALTIME */, 384);
        if (rnd() % 2)
            a[0] = (uint64_t)g_buffer + (rnd() % 64) * 4; // a word the wait may find equal
        return kRun;
    case 449: // futex_waitv
        a[3] = time_pointer();
        return kRun;
    case 455: // futex_wait
        a[4] = time_pointer();
        return kRun;
    case SYS_io_getevents:
    case SYS_io_pgetevents:
        a[4] = time_pointer();
        return kRun;
    case SYS_semtimedop:
    case SYS_mq_timedreceive:
    case SYS_mq_timedsend:
        a[nr == SYS_semtimedop ? 3 : 4] = time_pointer();
        return kRun;
    case SYS_recvmmsg:
        a[4] = time_pointer();
        return kRun;
    case SYS_flock:
        a[1] |= LOCK_NB; // the fixtures' locks are never released by another description
        return kRun;
    case SYS_msgrcv:
    case SYS_msgsnd:
        a[nr == SYS_msgrcv ? 4 : 3] |= 04000; // IPC_NOWAIT
        return kRun;
    case SYS_semop:
        return kSkip; // no timeout to give: could wait forever once implemented

    // Descriptors: the fixtures are never closed or replaced.
    case SYS_close:
        a[0] = disposable_fd(a[0]);
        return kRun;
    case SYS_dup2:
    case SYS_dup3:
        a[1] = disposable_fd(a[1]);
        return kRun;

    // Signals: no handler from garbage, only signals whose default is to ignore.
    case SYS_rt_sigaction:
        a[1] = PICK(0, (uint64_t)g_const, kKernel[1], kUnmapped[1], kNonCanonical[0]); // SIG_DFL at most
        return kRun;
    case SYS_kill:
    case SYS_tkill:
        a[1] = harmless_signal();
        return kRun;
    case SYS_tgkill:
    case SYS_rt_tgsigqueueinfo:
        a[2] = harmless_signal();
        return kRun;
    case SYS_rt_sigqueueinfo:
        a[1] = harmless_signal();
        return kRun;

    // The thread's FS base is its TLS: never moved into the program's memory.
    case SYS_arch_prctl:
        a[0] = PICK(0x1001 /* ARCH_SET_GS: the kernel's */, 0x1002, 0x1003, 0x1004, 0x1011, 0x1012, 0x2001, 0x2002,
                    0x2003, 0x3001, 0x4001, rnd());
        if (a[0] == 0x1002 || a[0] == 0x1012 /* SET_CPUID */ || (a[0] >= 0x2001 && a[0] <= 0x2003))
            a[1] = PICK(kKernel[1], kNonCanonical[0], kNonCanonical[1], 1ull << 47);
        return kRun;
    case SYS_prctl:
        if (a[0] == 22 /* PR_SET_SECCOMP */)
            a[0] = 23;
        return kRun;
    case SYS_personality:
        a[0] = PICK(0xffffffff, 0, -1ull, rnd()); // query, or invalid
        return kRun;
    default:
        return kRun;
    }
}

// ---- keeping the ground stable between calls -------------------------------------------

static struct rlimit g_limits[16];

static void restore_fixture_flags(void)
{
    for (int fd = kFdFile; fd < kFixtures; ++fd)
        if (g_fixture_flags[fd] >= 0)
            raw_syscall(SYS_fcntl, fd, F_SETFL, g_fixture_flags[fd], 0, 0, 0);
}

static void reset_scratch(void)
{
    // MAP_FIXED over our own region: whatever the fuzzer did to it is gone.
    void* p = mmap(g_scratch, kScratchPages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (p != g_scratch)
        FAIL("re-mapping the scratch region: %s", strerror(errno));
    for (size_t i = 0; i < 2 * PAGE; ++i)
        g_buffer[i] = (uint8_t)rnd();
    mprotect(g_scratch + 2 * PAGE, PAGE, PROT_NONE);
    // Structures that point at hostile places: iovecs, then pollfds / epoll events.
    uint64_t* s = (uint64_t*)g_structs;
    const uint64_t iov[] = { kKernel[1],         64, (uint64_t)g_buffer, 16, kKernel[4],  4096, kUnmapped[1], 8,
                             (uint64_t)g_buffer, ~0ull, kNonCanonical[0], 8, (uint64_t)g_text, 16, (uint64_t)g_vdso, 16 };
    memcpy(s, iov, sizeof iov);
    int32_t* pfd = (int32_t*)(g_structs + 512);
    for (int i = 0; i < 16; ++i) {
        pfd[2 * i] = i;
        pfd[2 * i + 1] = 0xffff;
    }
    // The known-unmapped spans stay unmapped (mremap may have moved pages there).
    for (size_t i = 0; i < 2; ++i)
        munmap((void*)kUnmapped[i], UNMAPPED_SPAN);
}

// After each call: closes what it created (a result that is a descriptor, and any beyond the
// fixtures), and puts back what it may have changed.
static void clean_up(uint64_t nr, const uint64_t* a, long result)
{
    if (result >= kFixtures && result < (1 << 20))
        raw_syscall(SYS_close, (uint64_t)result, 0, 0, 0, 0, 0);
    for (;;) {
        long fd = raw_syscall(SYS_fcntl, kFdFile, F_DUPFD, kFixtures, 0, 0, 0);
        if (fd < 0)
            break;
        for (long i = kFixtures; i <= fd; ++i)
            raw_syscall(SYS_close, i, 0, 0, 0, 0, 0);
        if (fd == kFixtures)
            break;
    }
    if (nr == SYS_fcntl || nr == SYS_ioctl)
        restore_fixture_flags();
    if (nr == SYS_setrlimit || nr == SYS_prlimit64)
        for (int r = 0; r < 16; ++r)
            setrlimit(r, &g_limits[r]);
    uint8_t* scratch_end = g_scratch + kScratchPages * PAGE;
    if ((nr == SYS_mmap || nr == SYS_mremap) && result > 0 && (result & (PAGE - 1)) == 0 &&
        !((uint8_t*)result >= g_scratch && (uint8_t*)result < scratch_end)) {
        uint64_t len = nr == SYS_mmap ? a[1] : a[2];
        raw_syscall(SYS_munmap, (uint64_t)result, (len + PAGE - 1) & ~(PAGE - 1), 0, 0, 0, 0);
    }
}

// ---- the exact checks -----------------------------------------------------------------------

static void exact_checks(void)
{
    char before[PAGE];
    for (size_t i = 0; i < sizeof kKernel / 8; ++i) {
        uint64_t k = kKernel[i];
        CHECK(SC(SYS_read, kFdZero, k, 64) == -EFAULT);
        CHECK(raw_syscall(SYS_pread64, kFdFile, k, 16, 0, 0, 0) == -EFAULT);
        CHECK(SC(SYS_write, 1, k, 64) == -EFAULT);
        CHECK(SC(SYS_clock_gettime, CLOCK_MONOTONIC, k, 0) == -EFAULT);
        CHECK(SC(SYS_uname, k, 0, 0) == -EFAULT);
        CHECK(SC(SYS_getrandom, k, 16, 0) == -EFAULT);
        CHECK(SC(SYS_gettimeofday, k, 0, 0) == -EFAULT);
        CHECK(SC(SYS_pipe, k, 0, 0) == -EFAULT);
        CHECK(SC(SYS_readv, kFdZero, (uint64_t)g_structs, 1) == -EFAULT); // iov[0] is the kernel image
        CHECK(SC(SYS_munmap, k & ~(PAGE - 1), PAGE, 0) == -EINVAL);
        CHECK(SC(SYS_mprotect, k & ~(PAGE - 1), PAGE, PROT_READ) != 0);
        CHECK(raw_syscall(SYS_mmap, k & ~(PAGE - 1), PAGE, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) < 0);
        CHECK(SC(SYS_madvise, k & ~(PAGE - 1), PAGE, MADV_DONTNEED) != 0);
    }
    // pipe with a bad pointer must not leave descriptors behind.
    long fd = raw_syscall(SYS_fcntl, kFdFile, F_DUPFD, kFixtures, 0, 0, 0);
    CHECK(fd == kFixtures);
    raw_syscall(SYS_close, fd, 0, 0, 0, 0, 0);
    // Read-only memory is never written.
    // (The [vvar] page below the vDSO too: it points at the kernel's clock page.)
    const uint64_t read_only[] = { (uint64_t)g_text, (uint64_t)g_vdso, (uint64_t)g_const, (uint64_t)g_vdso - PAGE };
    for (size_t i = 0; i < 4; ++i) {
        memcpy(before, (void*)read_only[i], 64);
        CHECK(SC(SYS_read, kFdZero, read_only[i], 64) == -EFAULT);
        CHECK(SC(SYS_clock_gettime, CLOCK_MONOTONIC, read_only[i], 0) == -EFAULT);
        CHECK(memcmp(before, (void*)read_only[i], 64) == 0);
    }
    // Non-canonical addresses and the last bytes of the lower half.
    for (size_t i = 0; i < sizeof kNonCanonical / 8; ++i)
        CHECK(SC(SYS_read, kFdZero, kNonCanonical[i], 64) == -EFAULT);
    // A leak of the kernel's internal restart codes would show here as -512..-516.
    CHECK(SC(SYS_restart_syscall, 0, 0, 0) == -EINTR);
}

// ---- a second thread, so that the memory calls shoot down TLBs on another CPU ------------

static volatile int g_done;
static void* bystander(void* arg)
{
    (void)arg;
    while (!g_done) {
        raw_syscall(SYS_getpid, 0, 0, 0, 0, 0, 0);
        raw_syscall(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
    }
    return NULL;
}

static void must(int ok, const char* what)
{
    if (!ok) {
        printf("syscall_fuzz: FAIL setting up: %s (%s)\n", what, strerror(errno));
        exit(1);
    }
}

static int open_as(int expected, int fd, const char* what)
{
    must(fd == expected, what);
    g_fixture_flags[fd] = fcntl(fd, F_GETFL);
    return fd;
}

int main(int argc, char** argv)
{
    long calls = argc > 1 ? atol(argv[1]) : 20000;
    if (argc > 2)
        g_rng = strtoull(argv[2], NULL, 0) | 1;
    setvbuf(stdout, NULL, _IONBF, 0);

    // Memory.
    // The scratch region, then as much again of PROT_NONE that no call can reach (the memory
    // calls stay inside the scratch region): a huge length from a pointer into the scratch
    // region stops there, even after mremap grew the region or mprotect opened its guard.
    g_scratch = mmap(NULL, 2 * kScratchPages * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    g_const = mmap(NULL, (kConstantPages + 1) * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    must(g_scratch != MAP_FAILED && g_const != MAP_FAILED, "mmap");
    must(g_scratch != MAP_FAILED, "mmap");
    must(mprotect(g_scratch, kScratchPages * PAGE, PROT_READ | PROT_WRITE) == 0, "mprotect");
    g_buffer = g_scratch;
    g_structs = g_scratch + 3 * PAGE;
    for (size_t i = 0; i < NPATHS; ++i)
        strcpy((char*)g_const + 256 + i * 64, kPaths[i]);
    memcpy(g_const + PAGE, "/tmp/", 5);
    memset(g_const + PAGE + 5, 'a', 2 * PAGE - 5); // no NUL up to the unmapped page
    must(munmap(g_const + kConstantPages * PAGE, PAGE) == 0, "munmap");
    must(mprotect(g_const, kConstantPages * PAGE, PROT_READ) == 0, "mprotect");
    g_text = (uint8_t*)((uint64_t)&main & ~(PAGE - 1));
    g_vdso = (uint8_t*)getauxval(AT_SYSINFO_EHDR);
    must(g_vdso != NULL, "no vDSO");
    memcpy(g_text_copy, g_text, PAGE);
    memcpy(g_vdso_copy, g_vdso, PAGE);
    memcpy(g_const_copy, g_const, sizeof g_const_copy);
    unsigned char vec;
    for (size_t i = 0; i < 2; ++i)
        must(mincore((void*)kUnmapped[i], UNMAPPED_SPAN, &vec) == -1 && errno == ENOMEM, "the unmapped spans are mapped");
    for (int r = 0; r < 16; ++r)
        getrlimit(r, &g_limits[r]);
    signal(SIGPIPE, SIG_IGN);

    // Descriptors (0-2 become /dev/null below, after the checks that write to stdout).
    must(mkdir("/tmp/fuzzdir", 0755) == 0, "mkdir");
    must(symlink("/tmp/fuzzfile", "/tmp/fuzzlink") == 0, "symlink");
    memset(g_fixture_flags, -1, sizeof g_fixture_flags);
    open_as(kFdFile, open("/tmp/fuzzfile", O_RDWR | O_CREAT, 0644), "fuzzfile");
    must(write(kFdFile, "0123456789abcdef0123456789abcdef", 32) == 32, "write");
    open_as(kFdDir, open("/tmp", O_RDONLY | O_DIRECTORY), "/tmp");
    int p[2];
    must(pipe2(p, O_NONBLOCK) == 0 && p[0] == kFdPipeRead && p[1] == kFdPipeWrite, "pipe2");
    open_as(kFdPipeRead, p[0], "pipe");
    open_as(kFdPipeWrite, p[1], "pipe");
    open_as(kFdEvent, eventfd(1, EFD_NONBLOCK), "eventfd");
    open_as(kFdEpoll, epoll_create1(0), "epoll");
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };
    must(epoll_ctl(kFdEpoll, EPOLL_CTL_ADD, kFdPipeRead, &ev) == 0, "epoll_ctl");
    must(epoll_ctl(kFdEpoll, EPOLL_CTL_ADD, kFdEvent, &ev) == 0, "epoll_ctl");
    open_as(kFdTimer, timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK), "timerfd");
    sigset_t usr2;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    open_as(kFdSignal, signalfd(-1, &usr2, SFD_NONBLOCK), "signalfd");
    open_as(kFdZero, open("/dev/zero", O_RDONLY), "/dev/zero");
    open_as(kFdRandom, open("/dev/urandom", O_RDWR), "/dev/urandom");
    open_as(kFdPath, open("/tmp/fuzzfile", O_PATH), "O_PATH");
    open_as(kFdProc, open("/proc/self/maps", O_RDONLY | O_NONBLOCK), "/proc/self/maps");
    int sv[2];
    must(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0, "socketpair");
    open_as(kFdStream, sv[0], "socketpair");
    open_as(kFdStreamPeer, sv[1], "socketpair");
    struct sockaddr_un name = { .sun_family = AF_UNIX, .sun_path = "\0fuzz-dgram" };
    open_as(kFdDgram, socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0), "socket");
    must(bind(kFdDgram, (struct sockaddr*)&name, offsetof(struct sockaddr_un, sun_path) + 11) == 0, "bind");
    memcpy(name.sun_path, "\0fuzz-listen", 12);
    open_as(kFdListen, socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0), "socket");
    must(bind(kFdListen, (struct sockaddr*)&name, offsetof(struct sockaddr_un, sun_path) + 12) == 0, "bind");
    must(listen(kFdListen, 4) == 0, "listen");

    reset_scratch();
    exact_checks();
    pthread_t other;
    must(pthread_create(&other, NULL, bystander, NULL) == 0, "pthread_create");

    int null_fd = open("/dev/null", O_RDWR);
    must(null_fd >= 0 && dup2(null_fd, 0) == 0 && dup2(null_fd, 1) == 1 && dup2(null_fd, 2) == 2, "/dev/null");
    close(null_fd);

    // The numbers, in turn: every one up to past the newest Linux call, then a few beyond.
    static const uint64_t kExtra[] = { 500, 511, 512, 513, 1000, (1ull << 30) | 1, 0xffffffffull, ~0ull };
    const uint64_t kTableEnd = 464, kNumbers = kTableEnd + sizeof kExtra / 8;
    long made = 0;
    for (uint64_t i = 0; made < calls; ++i) {
        uint64_t k = i % kNumbers;
        uint64_t nr = k < kTableEnd ? k : kExtra[k - kTableEnd];
        // Every argument hostile, every one plausible, or plausible but one.
        uint64_t a[6];
        int mode = (int)(rnd() % 3), odd_one = (int)(rnd() % 6);
        for (int j = 0; j < 6; ++j)
            a[j] = mode == 0 || (mode == 2 && j == odd_one) ? hostile_value() : plausible_value(j);
        if (shape(nr, a) == kSkip)
            continue;
        long r = raw_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        ++made;
        if (r <= -512 && r >= -530)
            FAIL("syscall %lu returned the kernel-internal %ld", (unsigned long)nr, r);
        clean_up(nr, a, r);
        if (made % 64 == 0)
            reset_scratch();
    }

    g_done = 1;
    pthread_join(other, NULL);
    CHECK(memcmp(g_text_copy, g_text, PAGE) == 0);
    CHECK(memcmp(g_vdso_copy, g_vdso, PAGE) == 0);
    CHECK(memcmp(g_const_copy, g_const, sizeof g_const_copy) == 0);
    struct timespec now;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &now) == 0 && now.tv_sec >= 0);

    int out = open("/dev/console", O_WRONLY);
    if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
    }
    for (int i = 0; i < failures && i < 16; ++i)
        printf("syscall_fuzz: FAIL %s\n", failure_text[i]);
    if (failures) {
        printf("syscall_fuzz: %d failures\n", failures);
        return 1;
    }
    printf("syscall_fuzz: ok %ld calls\n", made);
    return 0;
}
