// The vDSO: the clock and CPU-number calls every libc and the Go runtime make through the
// object announced in AT_SYSINFO_EHDR instead of a system call. A position-independent
// shared object with no relocations and no writable data, linked as one read-execute
// segment (vdso.lds) and versioned LINUX_2.6 (vdso.map) like Linux's, so glibc's and Go's
// vDSO parsers accept it unchanged.
//
// Time is read from the kernel's published clock state (time/clock_page.h) with the same
// code the kernel uses; where only the kernel can answer (first TSC calibration, a due rate
// refinement, an unstable kvmclock, a CPU-time clock) the call falls back to the `syscall`
// instruction, which in Nimbus stays in ring 0 and costs a few hundred instructions.
// Like Linux's vDSO, these functions write through the caller's pointers directly (a bad
// pointer faults, it does not give EFAULT) and return 0 or −errno.
#include <cstdint>
#include <vdso/vvar.h>
#include <time/linux_time.h>

extern "C" {
// The start of this object as loaded (the linker defines it when the headers are in the
// first segment, as vdso.lds arranges); the vvar page is the page below.
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
}

namespace {

using clk::Timespec;
using clk::Timeval;
using clk::Timezone;

constexpr int64_t kNsPerSec = 1'000'000'000;
constexpr long kSysGettimeofday = 96, kSysTime = 201, kSysClockGettime = 228, kSysClockGetres = 229;

enum class Base { Realtime, Monotonic, Kernel };

// The clocks answered here, as sys_clock_gettime (kernel/lx/sys_time.cc) answers them; the
// CPU-time clocks and anything unknown go to the kernel.
Base base_of(int clock)
{
    switch (clock) {
    case 0:  // CLOCK_REALTIME
    case 5:  // CLOCK_REALTIME_COARSE
    case 11: // CLOCK_TAI (no leap-second offset is kept)
        return Base::Realtime;
    case 1: // CLOCK_MONOTONIC
    case 4: // CLOCK_MONOTONIC_RAW
    case 6: // CLOCK_MONOTONIC_COARSE
    case 7: // CLOCK_BOOTTIME (the VM does not suspend)
        return Base::Monotonic;
    default:
        return Base::Kernel;
    }
}

long syscall2(long nr, long a, long b)
{
    long result;
    asm volatile("syscall" : "=a"(result) : "0"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return result;
}

uint64_t rdtsc_ordered()
{
    uint32_t lo, hi;
    asm volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi)::"memory");
    return uint64_t(hi) << 32 | lo;
}

const vdso::Vvar& vvar() { return *reinterpret_cast<const vdso::Vvar*>(__ehdr_start - vdso::kPageSize); }

// The fast path: the TSC source with a published segment, nanoseconds on `base`'s clock.
// Inlined into each entry point, which then needs no stack frame: a call frame and saved
// registers would be a good part of the whole cost.
[[gnu::always_inline]] inline bool fast_ns(Base base, uint64_t& ns)
{
    const clk::ClockPage& page = *vvar().clock;
    if (page.source != clk::ClockSource::Tsc || !clk::tsc_segments_ns(page, rdtsc_ordered(), ns))
        return false;
    if (base == Base::Realtime)
        ns += page.wall_offset_ns;
    return true;
}

// Everything else the page can answer (kvmclock), or false: only the kernel can say.
[[gnu::noinline]] bool slow_ns(Base base, uint64_t& ns)
{
    const clk::ClockPage& page = *vvar().clock;
    if (!clk::read_published_ns(page, rdtsc_ordered, ns))
        return false;
    if (base == Base::Realtime)
        ns += page.wall_offset_ns;
    return true;
}

void store(Timespec* ts, uint64_t ns)
{
    ts->sec = int64_t(ns / kNsPerSec);
    ts->nsec = int64_t(ns % kNsPerSec);
}

void store(Timeval* tv, uint64_t ns)
{
    tv->sec = int64_t(ns / kNsPerSec);
    tv->usec = int64_t(ns % kNsPerSec / 1000);
}

// The slow halves of the entry points below, reached by a tail call.
[[gnu::noinline]] int clock_gettime_slow(int clock, Timespec* ts)
{
    Base base = base_of(clock);
    uint64_t ns;
    if (base == Base::Kernel || !slow_ns(base, ns))
        return int(syscall2(kSysClockGettime, clock, long(ts)));
    store(ts, ns);
    return 0;
}

[[gnu::noinline]] int gettimeofday_slow(Timeval* tv, Timezone* tz)
{
    uint64_t ns;
    if (tv && !slow_ns(Base::Realtime, ns))
        return int(syscall2(kSysGettimeofday, long(tv), long(tz)));
    if (tv)
        store(tv, ns);
    if (tz) // the obsolete time zone: UTC
        *tz = {};
    return 0;
}

[[gnu::noinline]] int64_t time_slow(int64_t* t)
{
    uint64_t ns;
    if (!slow_ns(Base::Realtime, ns))
        return syscall2(kSysTime, long(t), 0);
    int64_t sec = int64_t(ns / kNsPerSec);
    if (t)
        *t = sec;
    return sec;
}

} // namespace

extern "C" {

int __vdso_clock_gettime(int clock, Timespec* ts)
{
    Base base = base_of(clock);
    uint64_t ns;
    if (__builtin_expect(base == Base::Kernel || !fast_ns(base, ns), 0))
        return clock_gettime_slow(clock, ts);
    store(ts, ns);
    return 0;
}

int __vdso_gettimeofday(Timeval* tv, Timezone* tz)
{
    uint64_t ns;
    if (__builtin_expect(!tv || tz || !fast_ns(Base::Realtime, ns), 0))
        return gettimeofday_slow(tv, tz);
    store(tv, ns);
    return 0;
}

int64_t __vdso_time(int64_t* t)
{
    uint64_t ns;
    if (__builtin_expect(!fast_ns(Base::Realtime, ns), 0))
        return time_slow(t);
    int64_t sec = int64_t(ns / kNsPerSec);
    if (t)
        *t = sec;
    return sec;
}

// Every clock the kernel keeps counts nanoseconds exactly, coarse ones included.
int __vdso_clock_getres(int clock, Timespec* res)
{
    if (base_of(clock) == Base::Kernel)
        return int(syscall2(kSysClockGetres, clock, long(res)));
    if (res)
        *res = { 0, 1 };
    return 0;
}

// The CPU the caller was on when it looked (it may have moved since, as on Linux); one NUMA node.
int __vdso_getcpu(unsigned* cpu, unsigned* node, void* unused)
{
    (void)unused;
    unsigned id;
    asm volatile("movl %%gs:%c1, %0" : "=r"(id) : "i"(vdso::kPerCpuIdOffset));
    if (cpu)
        *cpu = id;
    if (node)
        *node = 0;
    return 0;
}

// The unprefixed names Linux's vDSO also exports.
int clock_gettime(int, Timespec*) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(Timeval*, Timezone*) __attribute__((weak, alias("__vdso_gettimeofday")));
int64_t time(int64_t*) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, Timespec*) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned*, unsigned*, void*) __attribute__((weak, alias("__vdso_getcpu")));

} // extern "C"
