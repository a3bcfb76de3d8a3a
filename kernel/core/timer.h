// Per-CPU one-shot timers and the tickless timer interrupt: the local APIC fires only for the
// earliest of the armed timers and the running thread's preemption deadline — never
// periodically.
#pragma once

#include <cstdint>

namespace core {

struct Timer {
    using Callback = void (*)(Timer* timer);
    Callback callback = nullptr; // runs in the timer interrupt, interrupts disabled: no blocking
    uint64_t deadline = 0;       // monotonic ns
    // Owned by the timer list while armed.
    Timer* prev = nullptr;
    Timer* next = nullptr;
    bool armed = false;
};

// Registers the timer interrupt. After init_interrupts().
void init_timers();

// Arms (or re-arms) `timer` to fire at `deadline` (monotonic ns; in the past: at once).
void timer_arm(Timer& timer, uint64_t deadline);
// Disarms it; harmless if it is not armed. After it returns the callback will not run.
void timer_cancel(Timer& timer);

// The scheduler's preemption deadline for this CPU (0: none).
void set_preempt_deadline(uint64_t deadline);

// Blocks the calling thread for at least `ns` nanoseconds.
void sleep_ns(uint64_t ns);

// Timer interrupts taken so far (tests check that an idle CPU takes few).
uint64_t timer_interrupts();

} // namespace core
