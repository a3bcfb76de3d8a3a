// The clock behind file timestamps: a settable hook, so the fs needs nothing from kernel/time
// and host tests can drive time by hand.
//
// Until set_clock() is called, now() returns the epoch (0, 0). The hook is one atomic
// function pointer (relaxed: a function pointer publishes no data; a caller that switches
// clocks while files are being written may stamp some with either clock).
#pragma once

#include <fs/types.h>

namespace fs {

// Returns the current wall-clock time (CLOCK_REALTIME). Must not block; may be called with
// fs locks held.
using ClockFn = Timespec (*)();

// Installs `fn` (nullptr restores the epoch clock). Callable at any time.
void set_clock(ClockFn fn);

// The current time according to the installed clock.
Timespec now();

} // namespace fs
