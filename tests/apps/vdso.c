// The vDSO: announced in AT_SYSINFO_EHDR, a valid ELF object that glibc's own loader
// registered (dlopen RTLD_NOLOAD + dlvsym by name and version LINUX_2.6), whose clocks agree
// with the system calls and never run backwards, on every CPU; sched_getaffinity and
// sched_getcpu agree with sched_setaffinity. Prints "vdso: ok" and exits 0.
//   vdso glibc   only glibc's clock_gettime, gettimeofday, time and sched_getcpu, many times:
//                the integration test runs this under --boot strace and checks that none of
//                them made a system call. Prints "vdso: glibc ok".
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("vdso: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno));      \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

static int64_t ns_of(const struct timespec* t) { return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec; }

static int64_t sys_now(clockid_t clock)
{
    struct timespec t;
    if (syscall(SYS_clock_gettime, clock, &t) != 0)
        return -1;
    return ns_of(&t);
}

typedef int (*clock_gettime_fn)(clockid_t, struct timespec*);
typedef int (*gettimeofday_fn)(struct timeval*, void*);
typedef time_t (*time_fn)(time_t*);
typedef int (*clock_getres_fn)(clockid_t, struct timespec*);
typedef int (*getcpu_fn)(unsigned*, unsigned*, void*);

// The vDSO's clock, bracketed by the kernel's: before <= vdso <= after.
static void check_bracketed(clock_gettime_fn fn, clockid_t clock)
{
    struct timespec t;
    int64_t before = sys_now(clock);
    CHECK(fn(clock, &t) == 0);
    int64_t after = sys_now(clock);
    CHECK(before <= ns_of(&t) && ns_of(&t) <= after);
}

// Many readings on each CPU in turn: never backwards, on one CPU or across a migration.
static void* monotonic_everywhere(void* arg)
{
    long cpus = (long)arg;
    struct timespec prev, now;
    clock_gettime(CLOCK_MONOTONIC, &prev);
    for (long cpu = 0; cpu < cpus; ++cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);
        CHECK(sched_getcpu() == cpu);
        cpu_set_t got;
        CHECK(sched_getaffinity(0, sizeof(got), &got) == 0 && CPU_EQUAL(&got, &set));
        for (int i = 0; i < 20000; ++i) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (ns_of(&now) < ns_of(&prev)) {
                CHECK(!"monotonic time went backwards");
                break;
            }
            prev = now;
        }
    }
    return NULL;
}

static int glibc_only(void)
{
    struct timespec a, b;
    struct timeval tv;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
    for (int i = 0; i < 10000; ++i) {
        CHECK(clock_gettime(i % 2 ? CLOCK_MONOTONIC : CLOCK_MONOTONIC_COARSE, &b) == 0);
        CHECK(ns_of(&b) >= ns_of(&a));
        a = b;
    }
    CHECK(clock_gettime(CLOCK_REALTIME, &a) == 0 && a.tv_sec > 1500000000);
    CHECK(clock_gettime(CLOCK_BOOTTIME, &a) == 0);
    CHECK(gettimeofday(&tv, NULL) == 0 && tv.tv_sec > 1500000000);
    CHECK(time(NULL) > 1500000000);
    CHECK(sched_getcpu() >= 0);
    if (failures)
        return 1;
    printf("vdso: glibc ok\n");
    return 0;
}

int main(int argc, char** argv)
{
    if (argc > 1 && strcmp(argv[1], "glibc") == 0)
        return glibc_only();

    // The object.
    const unsigned char* ehdr = (const unsigned char*)getauxval(AT_SYSINFO_EHDR);
    CHECK(ehdr != NULL);
    if (!ehdr)
        return 1;
    const Elf64_Ehdr* eh = (const Elf64_Ehdr*)ehdr;
    CHECK(memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 && eh->e_type == ET_DYN && eh->e_machine == EM_X86_64);

    // /proc/self/maps names it, read-execute, with its read-only [vvar] page right below.
    FILE* maps = fopen("/proc/self/maps", "r");
    CHECK(maps != NULL);
    char line[256];
    unsigned long vdso_start = 0, vvar_end = 0;
    while (maps && fgets(line, sizeof(line), maps)) {
        unsigned long start, end;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) != 3)
            continue;
        if (strstr(line, "[vdso]")) {
            vdso_start = start;
            CHECK(strcmp(perms, "r-xp") == 0);
        }
        if (strstr(line, "[vvar]")) {
            vvar_end = end;
            CHECK(strcmp(perms, "r--p") == 0);
        }
    }
    if (maps)
        fclose(maps);
    CHECK(vdso_start == (unsigned long)ehdr && vvar_end == vdso_start);

    // glibc registered it and finds its symbols by version.
    void* handle = dlopen("linux-vdso.so.1", RTLD_NOW | RTLD_NOLOAD);
    CHECK(handle != NULL);
    if (!handle)
        return 1;
    clock_gettime_fn vgettime = (clock_gettime_fn)dlvsym(handle, "__vdso_clock_gettime", "LINUX_2.6");
    gettimeofday_fn vgettimeofday = (gettimeofday_fn)dlvsym(handle, "__vdso_gettimeofday", "LINUX_2.6");
    time_fn vtime = (time_fn)dlvsym(handle, "__vdso_time", "LINUX_2.6");
    clock_getres_fn vgetres = (clock_getres_fn)dlvsym(handle, "__vdso_clock_getres", "LINUX_2.6");
    getcpu_fn vgetcpu = (getcpu_fn)dlvsym(handle, "__vdso_getcpu", "LINUX_2.6");
    CHECK(vgettime && vgettimeofday && vtime && vgetres && vgetcpu);
    CHECK(dlvsym(handle, "clock_gettime", "LINUX_2.6") == (void*)vgettime);
    CHECK(dlvsym(handle, "__vdso_clock_gettime", "LINUX_2.5") == NULL);
    if (!vgettime || !vgettimeofday || !vtime || !vgetres || !vgetcpu)
        return 1;

    // Each clock agrees with the system call.
    check_bracketed(vgettime, CLOCK_MONOTONIC);
    check_bracketed(vgettime, CLOCK_REALTIME);
    check_bracketed(vgettime, CLOCK_BOOTTIME);
    check_bracketed(vgettime, CLOCK_MONOTONIC_RAW);
    check_bracketed(vgettime, CLOCK_MONOTONIC_COARSE);
    check_bracketed(vgettime, CLOCK_REALTIME_COARSE);
    // CPU-time clocks go to the kernel; unknown clocks give -EINVAL.
    struct timespec t;
    CHECK(vgettime(CLOCK_THREAD_CPUTIME_ID, &t) == 0 && ns_of(&t) > 0);
    CHECK(vgettime(1234, &t) == -EINVAL);
    CHECK(vgetres(CLOCK_MONOTONIC, &t) == 0 && t.tv_sec == 0 && t.tv_nsec == 1);
    CHECK(vgetres(1234, &t) == -EINVAL);
    CHECK(vgetres(CLOCK_REALTIME, NULL) == 0);

    struct timeval tv;
    struct { int minuteswest, dsttime; } tz = { 99, 99 };
    int64_t before = sys_now(CLOCK_REALTIME) / 1000;
    CHECK(vgettimeofday(&tv, &tz) == 0);
    int64_t after = sys_now(CLOCK_REALTIME) / 1000;
    int64_t us = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
    CHECK(before <= us && us <= after && tv.tv_usec < 1000000);
    CHECK(tz.minuteswest == 0 && tz.dsttime == 0);
    time_t secs = 0;
    time_t r = vtime(&secs);
    CHECK(r == secs && r >= (time_t)(before / 1000000) && r <= (time_t)(after / 1000000) + 1);
    CHECK(vtime(NULL) >= r);
    CHECK(r > 1500000000); // the CMOS clock gives the host's date, not the epoch

    unsigned cpu = 99, node = 99;
    CHECK(vgetcpu(&cpu, &node, NULL) == 0 && cpu < 64 && node == 0);
    CHECK(vgetcpu(NULL, NULL, NULL) == 0);

    // glibc's own entry points (no system call: the strace check), and monotonic time on every CPU.
    struct timespec a;
    CHECK(clock_gettime(CLOCK_MONOTONIC, &a) == 0);
    CHECK(gettimeofday(&tv, NULL) == 0);
    CHECK(time(NULL) >= r);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(cpus >= 1);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, monotonic_everywhere, (void*)cpus) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    // Affinity: every CPU again unpins; no online CPU is EINVAL; no such thread ESRCH.
    cpu_set_t all, none;
    CPU_ZERO(&all);
    CPU_ZERO(&none);
    for (long c = 0; c < cpus; ++c)
        CPU_SET(c, &all);
    CPU_SET(cpus, &none); // one past the last CPU
    CHECK(sched_setaffinity(0, sizeof(none), &none) == -1 && errno == EINVAL);
    CHECK(sched_setaffinity(0, sizeof(all), &all) == 0);
    cpu_set_t got;
    CHECK(sched_getaffinity(0, sizeof(got), &got) == 0 && CPU_EQUAL(&got, &all));
    CHECK(sched_getaffinity(999999, sizeof(got), &got) == -1 && errno == ESRCH);

    if (failures)
        return 1;
    printf("vdso: ok (%ld cpus)\n", cpus);
    return 0;
}
