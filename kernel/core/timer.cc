// Per-CPU timer lists and the APIC timer. Each CPU's list (PerCpu::timers) is touched by that
// CPU only, with interrupts disabled. The hardware timer is programmed for min(first armed
// timer, preemption deadline); with nothing due it is stopped (tickless).
//
// APIC timer rate: with TSC-deadline mode the TSC (whose rate the clock knows) is used
// directly; otherwise the APIC timer's rate is measured once against the monotonic clock, the
// first time a timer is armed (1 ms, never during boot).
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/irq.h>
#include <core/panic.h>
#include <core/thread.h>
#include <core/timer.h>
#include <atomic>

namespace core {
namespace {

// APIC timer ticks per ms, shared by all CPUs (one bus clock). 0: not measured yet. Measured
// once, by whichever CPU arms a timer first, against the clock over 1 ms with both read back
// to back (0.1% or better). It is not refined from later shots: their interrupt latency,
// which a loaded host stretches to milliseconds, would make the rate look low and every
// later shot fire early. Relaxed atomics: either value is a good value.
std::atomic<uint64_t> g_apic_ticks_per_ms{0};

void measure_apic_rate()
{
    arch::apic_timer_oneshot(0xffffffff);
    uint64_t t0 = monotonic_ns();
    uint32_t c0 = arch::apic_timer_remaining();
    uint64_t t1;
    // A bounded measurement of a device, not a lock: ~1 ms of wall time, once.
    do {
        t1 = monotonic_ns();
    } while (t1 - t0 < 1'000'000);
    uint32_t c1 = arch::apic_timer_remaining();
    arch::apic_timer_oneshot(0);
    uint64_t elapsed = t1 - t0;
    uint64_t rate = elapsed ? uint64_t(c0 - c1) * 1'000'000 / elapsed : 0;
    if (rate == 0)
        rate = 1'000'000; // assume 1 GHz rather than never firing
    g_apic_ticks_per_ms.store(rate, std::memory_order_relaxed);
    log_debug("timer: APIC timer at %lu kHz", rate);
}

// Programs the hardware for the earliest of the list head and the preemption deadline.
// Interrupts disabled.
//
// A later wish than what the hardware is armed for needs no reprogramming: the timer fires
// early, the handler finds nothing due and re-arms. That trades a rare extra interrupt for a
// device write on every context switch (each switch moves the preemption deadline, usually
// later) — device writes are VM exits under a hypervisor.
void program_hardware(TimerCpu& tc)
{
    uint64_t next = tc.head ? tc.head->deadline : 0;
    if (tc.preempt_deadline && (!next || tc.preempt_deadline < next))
        next = tc.preempt_deadline;
    const arch::ApicInfo& apic = apic_info();
    if (apic.mode == arch::ApicMode::None)
        return;
    // Nothing due, or due no earlier than what the hardware will already deliver: leave it.
    if (!next || (tc.armed_for && tc.armed_for <= next))
        return;
    tc.armed_for = next;
    uint64_t now = monotonic_ns();
    uint64_t delta = next > now ? next - now : 0;
    if (delta < 1000)
        delta = 1000; // at least 1 µs: an interrupt storm helps nobody
    if (apic.tsc_deadline) {
        uint64_t hz = tsc_frequency_hz();
        arch::apic_set_tsc_deadline(arch::rdtsc() + delta * (hz / 1'000'000) / 1000);
        return;
    }
    if (!g_apic_ticks_per_ms.load(std::memory_order_relaxed))
        measure_apic_rate();
    uint64_t ticks = delta / 1000 * g_apic_ticks_per_ms.load(std::memory_order_relaxed) / 1000;
    if (ticks > 0xffffffffu)
        ticks = 0xffffffffu; // fires early; the handler re-arms
    if (ticks == 0)
        ticks = 1;
    arch::apic_timer_oneshot(uint32_t(ticks));
}

void unlink(Timer& t)
{
    TimerCpu& tc = *t.list;
    if (t.prev)
        t.prev->next = t.next;
    else
        tc.head = t.next;
    if (t.next)
        t.next->prev = t.prev;
    t.prev = t.next = nullptr;
    t.list = nullptr;
    t.armed = false;
}

void on_timer_interrupt(void*)
{
    PerCpu& cpu = this_cpu();
    TimerCpu& tc = cpu.timers;
    __atomic_store_n(&tc.interrupts, tc.interrupts + 1, __ATOMIC_RELAXED); // read by timer_interrupts()
    tc.armed_for = 0; // the one-shot is spent
    uint64_t now = monotonic_ns();
    bool due = false;
    while (tc.head && tc.head->deadline <= now) {
        Timer* t = tc.head;
        unlink(*t);
        t->callback(t);
        due = true;
    }
    if (tc.preempt_deadline && tc.preempt_deadline <= now) {
        tc.preempt_deadline = 0;
        cpu.need_resched = true; // the scheduler re-checks on interrupt exit
        due = true;
    }
    if (!due)
        __atomic_store_n(&tc.early, tc.early + 1, __ATOMIC_RELAXED);
    program_hardware(tc);
}

} // namespace

void init_timers()
{
    if (apic_info().mode == arch::ApicMode::None) {
        log_warn("timer: no local APIC: no timers, no preemption");
        return;
    }
    MUST(set_irq_handler(arch::kVectorTimer, &on_timer_interrupt, nullptr));
}

void timer_arm(Timer& timer, uint64_t deadline)
{
    NIMBUS_ASSERT(timer.callback);
    IrqGuard irq;
    TimerCpu& tc = this_cpu().timers;
    if (timer.armed) {
        NIMBUS_ASSERT(timer.list == &tc);
        unlink(timer);
    }
    timer.deadline = deadline;
    timer.list = &tc;
    Timer* prev = nullptr;
    Timer* cur = tc.head;
    while (cur && cur->deadline <= deadline) {
        prev = cur;
        cur = cur->next;
    }
    timer.prev = prev;
    timer.next = cur;
    if (prev)
        prev->next = &timer;
    else
        tc.head = &timer;
    if (cur)
        cur->prev = &timer;
    timer.armed = true;
    if (tc.head == &timer)
        program_hardware(tc);
}

void timer_cancel(Timer& timer)
{
    IrqGuard irq;
    if (!timer.armed)
        return;
    NIMBUS_ASSERT(timer.list == &this_cpu().timers); // see timer.h: cancel where armed
    unlink(timer);
}

void set_preempt_deadline(uint64_t deadline)
{
    IrqGuard irq;
    set_preempt_deadline_here(this_cpu().timers, deadline);
}

void program_timer_hardware(TimerCpu& tc) { program_hardware(tc); }

void sleep_ns(uint64_t ns)
{
    uint64_t deadline = monotonic_ns() + ns;
    // true: woken early (a stray unpark); sleep on until the deadline
    while (park_current_thread_until(deadline)) {
    }
}

uint64_t timer_interrupts_on(unsigned index) { return __atomic_load_n(&cpu(index).timers.interrupts, __ATOMIC_RELAXED); }

uint64_t timer_early_interrupts_on(unsigned index) { return __atomic_load_n(&cpu(index).timers.early, __ATOMIC_RELAXED); }

uint64_t timer_interrupts()
{
    uint64_t total = 0;
    for (unsigned i = 0; i < cpu_count(); ++i)
        total += __atomic_load_n(&cpu(i).timers.interrupts, __ATOMIC_RELAXED);
    return total;
}

} // namespace core
