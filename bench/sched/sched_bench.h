/* What pingpong.c (the program: output, workload selection, the hand-off workloads) and
 * smp.c (the multi-CPU workloads) share. See README.md for the workload definitions. */
#ifndef SCHED_BENCH_H
#define SCHED_BENCH_H

#include <pthread.h>
#include <stdint.h>

/* Every workload stops early once this much CLOCK_MONOTONIC time has passed. */
#define BENCH_TIME_LIMIT_NS 10000000000ull

/* Writes a line to COM1 (or stdout with --host). Main thread only: port access (ioperm) is
 * per thread. */
void say(const char* line);

uint64_t monotonic_ns(void);

/* CPUs online (sysconf(_SC_NPROCESSORS_ONLN); sysfs is mounted before it is asked). */
int online_cpus(void);

/* pthread_create with the new thread bound to `cpu` from its first instruction
 * (pthread_attr_setaffinity_np), or with the creator's affinity if cpu < 0. Says why and
 * returns 0 on failure, 1 on success. */
int start_thread(pthread_t* thread, void* (*entry)(void*), void* arg, int cpu);

/* The multi-CPU workloads of smp.c: each prints its "bench NAME ..." line (or
 * "bench NAME failed: ..." / "bench-error NAME ...") and returns 1 on success, 0 on failure.
 * They need at least 2 CPUs online. */
int bench_wakeup(void);
int bench_mutex(void);
int bench_spinlock(void);

#endif
