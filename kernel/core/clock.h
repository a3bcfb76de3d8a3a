// The kernel's clocks: monotonic time, wall-clock time and the TSC frequency, from kvmclock
// where the hypervisor offers it and from the TSC otherwise (portable arithmetic in
// kernel/time, namespace clk).
#pragma once

#include <cstdint>

namespace clk {
struct ClockPage;
}

namespace core {

// Chooses the clock source, reads the wall clock (kvmclock's, or the CMOS RTC's) and takes
// the first TSC calibration sample. Boot CPU, once, before anything asks for the time.
// Costs a few dozen port accesses and no waiting; never fails the boot (without any
// frequency source the TSC is assumed to run at 1 GHz, with a warning).
void init_clock();

// Nanoseconds since an arbitrary point at or before init_clock(). Never decreases. Lock-free
// and wait-free apart from the pvclock version retry; any context, interrupts on or off.
//
// On the TSC path without a CPUID-reported frequency, the first call measures the TSC
// against the PIT for ~27 µs (32 PIT ticks) — that call must come from the boot CPU
// before other CPUs or interrupt handlers use the clock. Later calls now and then (at
// exponentially growing intervals, see kernel/time/calibration.h) take one more PIT
// sample to refine the rate; that costs three port accesses and never waits.
uint64_t monotonic_ns();

// Nanoseconds since the Unix epoch (UTC): the wall clock at boot plus monotonic time. From
// the CMOS RTC it is accurate to the RTC's one-second resolution; there is no NTP.
uint64_t realtime_ns();

// The published clock state (time/clock_page.h), page-aligned in the kernel image, for the
// vDSO: applications read it in place (kernel/lx/vdso.cc).
const clk::ClockPage& clock_page();

// The TSC frequency in Hz as the clock currently uses it.
uint64_t tsc_frequency_hz();

// "kvmclock" or "tsc".
const char* clock_source_name();

} // namespace core
