// Readiness: how poll, ppoll and epoll_wait sleep until a file they watch may have changed.
//
// Two layers. Every thread in a poll-style wait (poll, select, epoll_wait, a blocking read on
// a pipe or socket) sleeps on one process-wide notifier and re-checks its own files when
// anything changes: readiness_changed(). On top, a file type that knows which file changed
// calls readiness_changed(file) instead: that first runs the file's watches (the epoll
// interests on it, which queue themselves on their instance's ready list — so epoll_wait
// looks only at files that changed, and edge-triggered interests fire once per change), then
// wakes the waiters as above. Such a type says notifies_readiness() (fs/open_file.h) and must
// notify on every change, including more data arriving on an already readable file.
#pragma once

#include <cstdint>

namespace fs {
class OpenFile;
struct ReadinessWatch;
}

namespace lx {

void readiness_changed();
// `file` may have changed: its watches run, then every waiter wakes.
void readiness_changed(fs::OpenFile& file);
// Links / unlinks a watch (fs::ReadinessWatch::changed set) on `file`.
void watch_readiness(fs::OpenFile& file, fs::ReadinessWatch& watch);
void unwatch_readiness(fs::OpenFile& file, fs::ReadinessWatch& watch);

// Sleeps until readiness_changed() was called after `seen` was read from readiness_epoch(),
// the monotonic deadline passes (false) or a signal arrives (false; the caller returns a
// restart code, signal.h).
uint64_t readiness_epoch();
bool wait_readiness(uint64_t seen, uint64_t deadline_ns);

} // namespace lx
