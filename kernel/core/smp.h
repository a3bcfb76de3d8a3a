// Starting the other CPUs (application processors) found by discover_cpus().
#pragma once

#include <boot/options.h>

namespace core {

// Starts every enabled CPU of cpu_topology() other than this one (at most max_cpus in all),
// all at once, and returns when they run their idle threads or a time limit passed; CPUs
// that did not come up are reported and left out. Each gets its own GDT/TSS and IST stacks,
// local APIC, timer list, run queue and idle thread; cross-CPU wake-ups are set up first.
// On the boot CPU, in thread context, after enable_interrupts(). Logs "smp: N cpus online".
void start_secondary_cpus(unsigned max_cpus);

} // namespace core
