// Readiness: how poll, ppoll and epoll_wait sleep until a file they watch may have changed.
//
// One process-wide notifier for now: anything that can make a file readable or writable
// (pipes, eventfds, sockets) calls readiness_changed(), which wakes every thread in a
// poll-style wait; each re-checks its own files. Simple and correct; a per-file waiter list
// replaces it when the network stack makes the herd large (TODO(#6)).
#pragma once

#include <cstdint>

namespace lx {

void readiness_changed();

// Sleeps until readiness_changed() was called after `seen` was read from readiness_epoch(),
// the monotonic deadline passes (false) or a signal arrives (false; the caller returns a
// restart code, signal.h).
uint64_t readiness_epoch();
bool wait_readiness(uint64_t seen, uint64_t deadline_ns);

} // namespace lx
