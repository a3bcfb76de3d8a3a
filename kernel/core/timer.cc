// Timer list and the APIC timer. One CPU today: the list is this CPU's, touched with
// interrupts disabled. The hardware timer is programmed for min(first armed timer,
// preemption deadline); with nothing due it is stopped (tickless).
//
// APIC timer rate: with TSC-deadline mode the TSC (whose rate the clock knows) is used
// directly; otherwise the APIC timer's rate is measured once against the monotonic clock, the
// first time a timer is armed (about 100 µs, never during boot).
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/irq.h>
#include <core/panic.h>
#include <core/thread.h>
#include <core/timer.h>

namespace core {
namespace {

Timer* g_head = nullptr;         // armed timers, by deadline
uint64_t g_preempt_deadline = 0; // 0: none
uint64_t g_interrupts = 0;
uint64_t g_apic_ticks_per_ms = 0; // 0: not measured yet
// The last one-shot programmed, to correct the rate when the timer fires early or late.
uint64_t g_programmed_at = 0;
uint64_t g_programmed_ticks = 0;
// The deadline the hardware is armed for (0: not armed). A later wish needs no reprogramming:
// the timer fires early, the handler finds nothing due and re-arms. That trades a rare extra
// interrupt for a device write on every context switch (each switch moves the preemption
// deadline, usually later) — device writes are VM exits under a hypervisor.
uint64_t g_armed_for = 0;

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
    g_apic_ticks_per_ms = elapsed ? uint64_t(c0 - c1) * 1'000'000 / elapsed : 0;
    if (g_apic_ticks_per_ms == 0)
        g_apic_ticks_per_ms = 1'000'000; // assume 1 GHz rather than never firing
    log_debug("timer: APIC timer at %lu kHz", g_apic_ticks_per_ms);
}

// Programs the hardware for the earliest of the list head and the preemption deadline.
// Interrupts disabled.
void program_hardware()
{
    uint64_t next = g_head ? g_head->deadline : 0;
    if (g_preempt_deadline && (!next || g_preempt_deadline < next))
        next = g_preempt_deadline;
    const arch::ApicInfo& apic = apic_info();
    if (apic.mode == arch::ApicMode::None)
        return;
    // Nothing due, or due no earlier than what the hardware will already deliver: leave it.
    if (!next || (g_armed_for && g_armed_for <= next))
        return;
    g_armed_for = next;
    uint64_t now = monotonic_ns();
    uint64_t delta = next > now ? next - now : 0;
    if (delta < 1000)
        delta = 1000; // at least 1 µs: an interrupt storm helps nobody
    if (apic.tsc_deadline) {
        uint64_t hz = tsc_frequency_hz();
        arch::apic_set_tsc_deadline(arch::rdtsc() + delta * (hz / 1'000'000) / 1000);
        return;
    }
    if (!g_apic_ticks_per_ms)
        measure_apic_rate();
    uint64_t ticks = delta / 1000 * g_apic_ticks_per_ms / 1000;
    if (ticks > 0xffffffffu)
        ticks = 0xffffffffu; // fires early; the handler re-arms
    if (ticks == 0)
        ticks = 1;
    g_programmed_at = now;
    g_programmed_ticks = ticks;
    arch::apic_timer_oneshot(uint32_t(ticks));
}

void unlink(Timer& t)
{
    if (t.prev)
        t.prev->next = t.next;
    else
        g_head = t.next;
    if (t.next)
        t.next->prev = t.prev;
    t.prev = t.next = nullptr;
    t.armed = false;
}

// Refines the APIC timer's rate from a one-shot that ran to completion: it counted
// g_programmed_ticks in the time since g_programmed_at. Long shots only (short ones are
// dominated by interrupt latency); a quarter-step average damps the noise.
void refine_apic_rate(uint64_t now)
{
    uint64_t elapsed = now - g_programmed_at;
    if (!g_programmed_ticks || elapsed < 1'000'000 || g_programmed_ticks >= 0xffffffffu)
        return;
    uint64_t observed = g_programmed_ticks * 1'000'000 / elapsed;
    g_apic_ticks_per_ms = (3 * g_apic_ticks_per_ms + observed) / 4;
}

void on_timer_interrupt(void*)
{
    ++g_interrupts;
    g_armed_for = 0; // the one-shot is spent
    uint64_t now = monotonic_ns();
    if (!apic_info().tsc_deadline)
        refine_apic_rate(now);
    while (g_head && g_head->deadline <= now) {
        Timer* t = g_head;
        unlink(*t);
        t->callback(t);
    }
    if (g_preempt_deadline && g_preempt_deadline <= now) {
        g_preempt_deadline = 0;
        this_cpu().need_resched = true; // the scheduler re-checks on interrupt exit
    }
    program_hardware();
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
    if (timer.armed)
        unlink(timer);
    timer.deadline = deadline;
    Timer* prev = nullptr;
    Timer* cur = g_head;
    while (cur && cur->deadline <= deadline) {
        prev = cur;
        cur = cur->next;
    }
    timer.prev = prev;
    timer.next = cur;
    if (prev)
        prev->next = &timer;
    else
        g_head = &timer;
    if (cur)
        cur->prev = &timer;
    timer.armed = true;
    if (g_head == &timer)
        program_hardware();
}

void timer_cancel(Timer& timer)
{
    IrqGuard irq;
    if (timer.armed)
        unlink(timer);
}

void set_preempt_deadline(uint64_t deadline)
{
    IrqGuard irq;
    if (deadline == g_preempt_deadline)
        return;
    g_preempt_deadline = deadline;
    program_hardware();
}

void sleep_ns(uint64_t ns)
{
    struct SleepTimer : Timer {
        Thread* thread;
        bool fired;
    } t;
    t.thread = current_thread();
    t.fired = false;
    t.callback = [](Timer* base) {
        auto* self = static_cast<SleepTimer*>(base);
        self->fired = true;
        unpark_thread(self->thread);
    };
    uint64_t deadline = monotonic_ns() + ns;
    timer_arm(t, deadline);
    while (!__atomic_load_n(&t.fired, __ATOMIC_ACQUIRE))
        park_current_thread();
    timer_cancel(t);
}

uint64_t timer_interrupts() { return g_interrupts; }

} // namespace core
