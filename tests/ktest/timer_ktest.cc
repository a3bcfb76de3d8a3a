// In-kernel tests of timers, sleeping, tickless idle and timer-driven preemption.
#include <core/clock.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/irq.h>
#include <core/ktest.h>
#include <core/thread.h>
#include <core/timer.h>

namespace {

using core::Thread;

KTEST(timer, sleep_sleeps)
{
    uint64_t t0 = core::monotonic_ns();
    core::sleep_ns(5'000'000);
    uint64_t elapsed = core::monotonic_ns() - t0;
    KT_EXPECT(elapsed >= 5'000'000);
    KT_EXPECT(elapsed < 2'000'000'000); // generous: TCG on a loaded host
}

KTEST(timer, timers_fire_in_deadline_order)
{
    static int order[3];
    static int fired;
    fired = 0;
    struct Probe : core::Timer {
        int tag;
    } probes[3];
    uint64_t now = core::monotonic_ns();
    int tags[3] = { 3, 1, 2 };
    for (int i = 0; i < 3; ++i) {
        probes[i].tag = tags[i];
        probes[i].callback = [](core::Timer* t) {
            if (fired < 3)
                order[fired++] = static_cast<Probe*>(t)->tag;
        };
        core::timer_arm(probes[i], now + uint64_t(tags[i]) * 1'000'000);
    }
    core::sleep_ns(20'000'000);
    for (auto& p : probes)
        core::timer_cancel(p);
    KT_ASSERT_EQ(fired, 3);
    KT_EXPECT_EQ(order[0], 1);
    KT_EXPECT_EQ(order[1], 2);
    KT_EXPECT_EQ(order[2], 3);
}

KTEST(timer, cancelled_timer_does_not_fire)
{
    static bool fired;
    fired = false;
    core::Timer t;
    t.callback = [](core::Timer*) { fired = true; };
    core::timer_arm(t, core::monotonic_ns() + 2'000'000);
    core::timer_cancel(t);
    core::sleep_ns(5'000'000);
    KT_EXPECT(!fired);
}

// The scheduler moves the preemption deadline on every switch and wake-up; only a wish
// earlier than what the hardware is armed for may reprogram it.
KTEST(timer, preempt_deadline_reprograms_only_when_earlier)
{
    if (core::apic_info().mode == arch::ApicMode::None)
        return; // no timer hardware to program
    core::IrqGuard irq; // no timer interrupt (which re-arms) during the test
    core::TimerCpu& tc = core::this_cpu().timers;
    uint64_t saved = tc.preempt_deadline;
    uint64_t now = core::monotonic_ns();
    core::set_preempt_deadline_here(tc, now + 50'000'000);
    KT_EXPECT_EQ(tc.preempt_deadline, now + 50'000'000);
    KT_EXPECT(tc.armed_for != 0 && tc.armed_for <= now + 50'000'000);
    uint64_t armed = tc.armed_for;
    core::set_preempt_deadline_here(tc, now + 80'000'000); // later: recorded only
    KT_EXPECT_EQ(tc.preempt_deadline, now + 80'000'000);
    KT_EXPECT_EQ(tc.armed_for, armed);
    core::set_preempt_deadline_here(tc, 0); // none: recorded only
    KT_EXPECT_EQ(tc.preempt_deadline, 0u);
    KT_EXPECT_EQ(tc.armed_for, armed);
    core::set_preempt_deadline_here(tc, saved);
    KT_EXPECT_EQ(tc.preempt_deadline, saved);
}

KTEST(timer, idle_is_tickless)
{
    // A 200 ms sleep with nothing else to do: the CPU idles in hlt and the timer fires for the
    // wake-up, not periodically (a 100 Hz tick would take 20). A few extra interrupts are
    // re-arms after the APIC timer fired early (its rate is estimated; a loaded host
    // stretches interrupt latency).
    // Counted on this CPU (a sleeping thread stays on its CPU); other CPUs may be finishing
    // earlier tests' work.
    unsigned cpu = core::current_thread()->cpu_index();
    uint64_t before = core::timer_interrupts_on(cpu);
    uint64_t early_before = core::timer_early_interrupts_on(cpu);
    core::sleep_ns(200'000'000);
    uint64_t taken = core::timer_interrupts_on(cpu) - before;
    uint64_t early = core::timer_early_interrupts_on(cpu) - early_before;
    KT_EXPECT_EQ(core::current_thread()->cpu_index(), cpu);
    KT_EXPECT(taken >= 1);
    if (taken > 8)
        core::kprintf("    timer interrupts during a 200 ms idle sleep: %lu (%lu early)\n", taken, early);
    KT_EXPECT(taken <= 8);
}

KTEST(sched, busy_threads_are_preempted_and_share)
{
    // Two threads that never yield: only timer preemption lets the other (and main) run.
    // Shares are compared in scheduler run time, which is what preemption divides: spin
    // counts also measure how much CPU the host gave the vCPU meanwhile (a loaded host can
    // stall it for a good part of one thread's turn).
    static volatile bool stop;
    static volatile uint64_t spins[2];
    static uint64_t runtime[2];
    stop = false;
    spins[0] = 0;
    spins[1] = 0;
    auto spinner = [](void* arg) {
        uint64_t i = uint64_t(arg);
        uint64_t start = core::current_thread()->runtime_ns();
        while (!stop)
            spins[i] = spins[i] + 1;
        runtime[i] = core::current_thread()->runtime_ns() - start;
    };
    auto a = Thread::create("spin0", spinner, reinterpret_cast<void*>(0));
    auto b = Thread::create("spin1", spinner, reinterpret_cast<void*>(1));
    KT_ASSERT(!a.is_error() && !b.is_error());
    core::sleep_ns(300'000'000); // main sleeps; its wake-up preempts a spinner
    stop = true;
    Thread::join(a.value());
    Thread::join(b.value());
    KT_EXPECT(spins[0] > 0 && spins[1] > 0);
    // Fair shares within a wide tolerance (timer latency under TCG).
    uint64_t lo = runtime[0] < runtime[1] ? runtime[0] : runtime[1];
    uint64_t hi = runtime[0] < runtime[1] ? runtime[1] : runtime[0];
    if (lo * 4 < hi)
        core::kprintf("    run times %lu ms / %lu ms, spins %lu / %lu\n", runtime[0] / 1'000'000,
                      runtime[1] / 1'000'000, uint64_t(spins[0]), uint64_t(spins[1]));
    KT_EXPECT(lo * 4 >= hi);
}

} // namespace
