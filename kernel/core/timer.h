// Per-CPU one-shot timers and the tickless timer interrupt: the local APIC fires only for the
// earliest of the armed timers and the running thread's preemption deadline — never
// periodically.
#pragma once

#include <cstdint>

namespace core {

struct TimerCpu;

// A timer fires on the CPU that armed it; it is cancelled or re-armed on that CPU only
// (asserted): a thread that waits with a timeout keeps its CPU meanwhile (migration
// disabled, see thread.h).
struct Timer {
    using Callback = void (*)(Timer* timer);
    Callback callback = nullptr; // runs in the timer interrupt, interrupts disabled: no blocking
    uint64_t deadline = 0;       // monotonic ns
    // Owned by the timer list while armed.
    Timer* prev = nullptr;
    Timer* next = nullptr;
    TimerCpu* list = nullptr;    // whose list it is on, while armed
    bool armed = false;
};

// One CPU's timer state (in its PerCpu area). Touched by that CPU only, interrupts disabled.
struct TimerCpu {
    Timer* head = nullptr;         // armed timers, by deadline
    uint64_t preempt_deadline = 0; // 0: none
    uint64_t interrupts = 0;
    uint64_t early = 0; // interrupts that found nothing due (the one-shot fired early)
    // The deadline the hardware is armed for (0: not armed); see program_hardware().
    uint64_t armed_for = 0;
};

// Registers the timer interrupt. After init_interrupts(), on the boot CPU; other CPUs need
// nothing more than their APIC (the vector table and the timer rate are shared).
void init_timers();

// Arms (or re-arms) `timer` to fire at `deadline` (monotonic ns; in the past: at once).
void timer_arm(Timer& timer, uint64_t deadline);
// Disarms it; harmless if it is not armed. After it returns the callback will not run.
void timer_cancel(Timer& timer);

// The scheduler's preemption deadline for this CPU (0: none).
void set_preempt_deadline(uint64_t deadline);

// Blocks the calling thread for at least `ns` nanoseconds.
void sleep_ns(uint64_t ns);

// Timer interrupts taken so far, all CPUs (tests check that idle CPUs take few).
uint64_t timer_interrupts();
// The same for one CPU, and how many of those found nothing due (the APIC timer's rate is an
// estimate, so a one-shot may fire early and be re-armed).
uint64_t timer_interrupts_on(unsigned cpu);
uint64_t timer_early_interrupts_on(unsigned cpu);

} // namespace core
