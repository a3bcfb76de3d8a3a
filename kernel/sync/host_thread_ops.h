// The host binding of thread_ops.h (one futex word per std::thread) and its test knobs.
// Host builds only (sync_host, sync_tsan); kernel code never includes this.
#pragma once

#if !defined(NIMBUS_HOST)
#error "sync/host_thread_ops.h is for host builds only"
#endif

#include <cstdint>

namespace ksync::host {

// Makes every `period`-th park_current() of each thread return at once without sleeping (a
// spurious wake-up), so tests exercise the algorithms' re-check loops. 0 turns it off.
// Process-wide; set it while no test threads run.
void set_spurious_wakeup_period(unsigned period);

// Pretends the calling thread is in a context where blocking is forbidden (can_block()
// returns false), for tests of the primitives' entry assertions.
void set_can_block(bool allowed);

// Process-wide counts since start: park_current() calls that really slept in the kernel (not
// consumed a stored token or returned spuriously), and unpark() calls.
uint64_t sleep_count();
uint64_t unpark_count();

} // namespace ksync::host
