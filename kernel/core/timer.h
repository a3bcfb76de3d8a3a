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

// Programs `tc`'s hardware for its earliest wish (timer.cc). Interrupts disabled, on tc's CPU.
void program_timer_hardware(TimerCpu& tc);

// set_preempt_deadline() for the scheduler, which has interrupts disabled and its CPU's
// TimerCpu at hand, inline: it moves the deadline on every switch and wake-up, and almost
// always to a time no earlier than what the hardware is armed for (or to none). Such a move
// only records the deadline: the hardware fires as armed, the handler finds nothing due and
// re-arms for the recorded one (see program_hardware in timer.cc). Only an earlier wish
// reprograms the hardware — which reads the clock and writes a device register.
inline void set_preempt_deadline_here(TimerCpu& tc, uint64_t deadline)
{
    tc.preempt_deadline = deadline;
    uint64_t next = tc.head ? tc.head->deadline : 0;
    if (deadline && (!next || deadline < next))
        next = deadline;
    if (!next || (tc.armed_for && tc.armed_for <= next))
        return;
    program_timer_hardware(tc);
}

// Blocks the calling thread for at least `ns` nanoseconds.
void sleep_ns(uint64_t ns);

// Timer interrupts taken so far, all CPUs (tests check that idle CPUs take few).
uint64_t timer_interrupts();
// The same for one CPU, and how many of those found nothing due (the APIC timer's rate is an
// estimate, so a one-shot may fire early and be re-armed).
uint64_t timer_interrupts_on(unsigned cpu);
uint64_t timer_early_interrupts_on(unsigned cpu);

} // namespace core
