// Readiness: how poll, ppoll and epoll_wait sleep until a file they watch may have changed.
//
// Two layers. Every thread in a poll-style wait (poll, select, epoll_wait, a blocking read on
// a pipe or socket) sleeps on one process-wide notifier and re-checks its own files when
// anything changes: readiness_changed(). On top, a file type that knows which file changed
// calls readiness_changed(file, events) instead: that first runs the file's watches (the epoll
// interests on it, which queue themselves on their instance's ready list — so epoll_wait
// looks only at files that changed, and edge-triggered interests fire once per change), then
// wakes the waiters as above. Such a type says notifies_readiness() (fs/open_file.h) and must
// notify on every change that can make it readier (more data arriving on an already readable
// file counts; a change that only takes readiness away need not be told).
//
// Which files notify: pipes and eventfds (pipe.cc), AF_UNIX, AF_INET and AF_NETLINK sockets,
// timerfds (at each expiry the timer thread counts), signalfds (when a signal in the mask is
// sent to any thread), and the console — /dev/console, /dev/tty and standard input relayed in
// pipe mode share one watch list, run for input when bytes arrive, the input ends or the
// terminal modes change (files.cc; it is always writable, so output never changes). Which do
// not: other device nodes, regular files and directories, the console when it has no receive
// interrupt (its input is then polled), and epoll instances themselves — an epoll instance
// with an interest on one of those falls back to re-checking on every change (poll.cc).
//
// What changed. Every notification names the kinds of readiness it may have added (`events`,
// kPoll* bits), as Linux's wake-up keys do, and a watch asking about none of them is skipped
// (kPollErr and kPollHup always reach every watch): an epoll interest in EPOLLIN alone is not
// queued — and an edge-triggered one not reported again — when only room to write appeared.
// The rule for a notifier: name every kind a change may have added, and when unsure pass
// kReadinessAll. Too many kinds costs an extra look (a level-triggered check, a repeated edge);
// too few loses a wake-up. The kinds per source, matching what Linux wakes with:
//   data arriving (pipe write, socket delivery, eventfd write, timer expiry, signal, a
//   connection to accept)                                → kReadinessIn for the reader
//   room appearing (pipe read that leaves the pipe writable again, a peer consuming an
//   AF_UNIX sender's bytes, eventfd read)                → kReadinessOut for the writer
//   anything else (connect, shutdown, close, errors, option and mask changes, a TCP
//   socket's segments queued on its channel but not processed yet) → kReadinessAll
// Reading does not add input readiness to the reader, nor writing output readiness to the
// writer: those files are not notified at all.
#pragma once

#include <cstdint>
#include <fs/types.h>

namespace fs {
class OpenFile;
struct ReadinessWatch;
}

namespace lx {

// The kinds of readiness a notification names (see "What changed" above).
inline constexpr uint32_t kReadinessIn = fs::kPollIn | fs::kPollRdNorm | fs::kPollPri;
inline constexpr uint32_t kReadinessOut = fs::kPollOut | fs::kPollWrNorm;
inline constexpr uint32_t kReadinessAll = ~0u;

void readiness_changed();
// `file` may have gained the readiness in `events`: its watches asking about any of it run,
// then every waiter wakes.
void readiness_changed(fs::OpenFile& file, uint32_t events);
// Only runs `file`'s watches: for a notifier that changes several files at once, under its own
// lock (where it knows they are alive), and then wakes the waiters once with
// readiness_changed(). Takes the watch lock and, inside it, the instances' ready locks: the
// caller may hold any lock that an epoll instance never holds while it links a watch.
void run_readiness_watches(fs::OpenFile& file, uint32_t events);
// The same for a shared watch list (fs::Device::readiness_watches). The list's owner passes
// its head, which the watch lock guards.
void run_readiness_watches(fs::ReadinessWatch*& watches, uint32_t events);
void readiness_changed(fs::ReadinessWatch*& watches, uint32_t events);
// Links / unlinks a watch (fs::ReadinessWatch::changed set) on `file`.
void watch_readiness(fs::OpenFile& file, fs::ReadinessWatch& watch);
void unwatch_readiness(fs::OpenFile& file, fs::ReadinessWatch& watch);
// Changes which events a linked (or unlinked) watch asks about (fs::ReadinessWatch::events).
void set_watch_events(fs::ReadinessWatch& watch, uint32_t events);

// Sleeps until readiness_changed() was called after `seen` was read from readiness_epoch(),
// the monotonic deadline passes (false) or a signal arrives (false; the caller returns a
// restart code, signal.h).
uint64_t readiness_epoch();
bool wait_readiness(uint64_t seen, uint64_t deadline_ns);

} // namespace lx
