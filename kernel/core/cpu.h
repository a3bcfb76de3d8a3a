// Per-CPU state, reached through the GS base: `this_cpu()` is one load from %gs:0.
//
// CPU 0 is the boot CPU; the others are numbered in the firmware table's order as smp.cc
// starts them. A CPU's area is written only by that CPU (interrupts or preemption disabled)
// except where a field says otherwise.
#pragma once

#include <atomic>
#include <core/timer.h>
#include <cstdint>
#include <sched/run_queue.h>
#include <sync/thread_ops.h>

namespace core {

class Thread;

struct PerCpu {
    PerCpu* self = nullptr;       // %gs:0 — keep first
    // The syscall entry (arch/x86_64/syscall.S) reads these two at fixed offsets (8, 16):
    // the running thread's kernel stack top, and a slot for the application's stack pointer
    // while it switches stacks (interrupts are off there).
    uint64_t kernel_stack_top = 0;
    uint64_t syscall_scratch = 0;
    uint32_t id = 0;              // 0 .. cpu_count() - 1
    uint32_t apic_id = 0;
    Thread* current = nullptr;    // the thread running on this CPU
    sched::RunQueue* run_queue = nullptr;
    // > 0: the current thread may not be switched away or block (PreemptGuard).
    uint32_t preempt_count = 0;
    // Set (interrupts off) when the running thread should give way; acted on when an
    // interrupt returns to preemptible code, or at the next PreemptGuard exit.
    bool need_resched = false;
    Thread* idle = nullptr;
    // The FS base loaded on this CPU (the last running thread's, see Thread::m_fs_base).
    uint64_t fs_base = 0;
    // What the thread that just left this CPU still needs done once it is off its stack
    // (finish_switch in thread.cc): the exit to publish, the migration to post.
    Thread* switched_out = nullptr;
    // A wake-up held back for a direct hand-off (unpark_thread_for_handoff in thread.cc): a
    // thread of this CPU in state Waking, in no run queue, that the current thread woke and is
    // expected to switch to when it blocks. Interrupts off to touch it.
    Thread* handoff = nullptr;
    // Runnable threads here, current included; read by other CPUs' load balancing.
    std::atomic<uint32_t> load{0};
    // Context switches, for RCU-style "has every CPU passed a switch" checks and statistics.
    std::atomic<uint64_t> switches{0};
    TimerCpu timers;
    uint64_t irq_counts[256] = {};
    // This CPU's IST stacks (the boot CPU's are the fixed slots), for backtraces.
    uint64_t ist_bottom[5] = {};
    uint64_t ist_size = 0;
};

static_assert(__builtin_offsetof(PerCpu, kernel_stack_top) == 8);
static_assert(__builtin_offsetof(PerCpu, syscall_scratch) == 16);
// ksync's inline kernel binding (sync/thread_ops.h) reads these two at fixed offsets.
static_assert(__builtin_offsetof(PerCpu, current) == ksync::kPerCpuCurrentOffset);
static_assert(__builtin_offsetof(PerCpu, preempt_count) == ksync::kPerCpuPreemptCountOffset);

// Sets up CPU 0's area and points GS at it. Before this, this_cpu() must not be used.
void init_boot_cpu();

// CPUs started so far (1 until smp.cc brings up the others) and their areas. cpu(i) for
// i < cpu_count() is valid for the kernel's lifetime.
unsigned cpu_count();
PerCpu& cpu(unsigned index);
// Registers a started CPU's area (smp.cc). Index must be cpu_count().
void register_cpu(PerCpu* cpu);

// This CPU's area, or nullptr before init_boot_cpu() (for code that may run that early, such
// as the panic path).
PerCpu* this_cpu_or_null();

inline PerCpu& this_cpu()
{
    PerCpu* cpu;
    asm volatile("movq %%gs:0, %0" : "=r"(cpu));
    return *cpu;
}

// Disables interrupts on this CPU for its lifetime and restores the previous state after.
// For state an interrupt handler also touches (the run queue, timer lists).
class IrqGuard {
public:
    IrqGuard()
    {
        asm volatile("pushfq; popq %0; cli" : "=r"(m_flags)::"memory");
    }
    ~IrqGuard()
    {
        if (m_flags & (1u << 9))
            asm volatile("sti" ::: "memory");
    }
    IrqGuard(const IrqGuard&) = delete;
    IrqGuard& operator=(const IrqGuard&) = delete;
    // Whether interrupts were on when the guard was taken (thread context, not a handler).
    bool interrupts_were_on() const { return m_flags & (1u << 9); }

private:
    uint64_t m_flags;
};

// Disables preemption (and blocking) on this CPU for its lifetime. Per-CPU data is accessed
// under one. Nests.
class PreemptGuard {
public:
    PreemptGuard() { ++this_cpu().preempt_count; }
    ~PreemptGuard() { --this_cpu().preempt_count; }
    PreemptGuard(const PreemptGuard&) = delete;
    PreemptGuard& operator=(const PreemptGuard&) = delete;
};

} // namespace core
