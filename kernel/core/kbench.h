// In-kernel micro-benchmarks, run by name with the boot option `bench=NAME[,NAME...]` (or
// `bench=all`) and reported one parseable line per figure, e.g.
//   bench pingpong ns_per_switch=412 switches=40000 total_ns=16480000
// The Linux counterpart with the same workloads and line format is bench/sched/pingpong.c;
// bench/sched/pingpong_bench.py runs both and compares (see bench/sched/README.md).
//
//   pingpong   two threads on CPU 0 hand a turn flag back and forth under a ksync::Mutex and
//              ksync::Condvar (OSv's context-switch benchmark): time per hand-off.
//   yield      two threads on CPU 0 hand the turn flag back and forth by core::yield() alone.
//   pingpong2  pingpong with player 0 pinned on CPU 0 and player 1 on CPU 1: every hand-off
//              is a cross-CPU wake-up.
//   wakeup     a waker on CPU 0 signals a condvar a sleeper blocked on CPU 1 waits on:
//              median and 99th percentile of signal -> sleeper running with the mutex.
//   mutex      one thread pinned on each CPU, all taking one ksync::Mutex around a short
//              critical section: time per lock operation.
//   spinlock   the same with a test-and-test-and-set spinlock that exists only in the
//              benchmark (the kernel has none), to show what the design avoids.
// `all` runs them in this order. pingpong2, wakeup, mutex and spinlock need 2 CPUs; with
// fewer they print "bench-skip NAME needs 2 cpus" and count as run.
#pragma once

#include <cstdint>

namespace core::kbench {

// Runs the benchmarks named in `names` (comma-separated, in that order; "all" runs every
// one), from the boot thread on CPU 0, which only creates, joins and reports. Returns the VM
// exit status: 0 when all ran (or were skipped), 1 when one failed (the others still run), 2
// at once for an unknown name. Blocks.
int run_benchmarks(const char* names, uint64_t length);

} // namespace core::kbench
