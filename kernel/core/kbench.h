// In-kernel micro-benchmarks, run by name with the boot option `bench=NAME[,NAME...]` (or
// `bench=all`) and reported one parseable line per figure, e.g.
//   bench pingpong ns_per_switch=412 switches=40000 total_ns=16480000
// The Linux counterpart with the same workloads and line format is bench/sched/pingpong.c;
// bench/sched/pingpong_bench.py runs both and compares (see bench/sched/README.md).
//
//   pingpong  two threads hand a turn flag back and forth under a ksync::Mutex and
//             ksync::Condvar (OSv's context-switch benchmark): time per hand-off.
//   yield     two threads hand the turn flag back and forth by core::yield() alone.
#pragma once

#include <cstdint>

namespace core::kbench {

// Runs the benchmarks named in `names` (comma-separated; "all" runs every one) on CPU 0.
// Returns the VM exit status: 0 when all ran, 1 when one failed, 2 for an unknown name.
int run_benchmarks(const char* names, uint64_t length);

} // namespace core::kbench
