// ksync::RcuDomain: read-copy-update grace periods from quiescent states, for a fixed set of
// CPUs — the portable core of the kernel's RCU (osv-design.md §4).
//
// Model. A reader section is code that runs with preemption disabled (kernel) — on the host
// tests, a stretch of a simulated CPU's loop between two quiescent() calls. A CPU passes a
// quiescent state (QS) when it is outside any reader section and says so: quiescent(cpu) on
// every context switch, or set_idle(cpu, true) before it halts (an idle CPU stays in an
// extended QS until set_idle(cpu, false)). A grace period (GP) ends once every CPU has passed
// a QS after it started; then no reader section that began before the GP can still run, and
// memory unpublished before the GP started may be freed.
//
// ----------------------------------------------------------------------------------------
// Correctness argument
// ----------------------------------------------------------------------------------------
// State
//   m_seq      even: no GP running, m_seq/2 GPs completed; odd g: GP g is running.
//   m_pending  CPUs that still owe GP g a report, plus one "bias" held by g's starter until
//              it has scanned every CPU. Reset to ncpus + 1 when a GP completes.
//   cpu.reported  the last (odd) GP the CPU was counted for; only grows.
//   cpu.idle   true while the CPU is halted in its idle loop.
//
// Start (start_gp_if_idle(), thread context, O(ncpus)): CAS m_seq even s → g = s + 1
//   (seq_cst). The winner scans every CPU and reports on behalf of each one whose idle flag
//   it reads true (seq_cst load), then drops the bias. Nobody else modifies m_seq while g
//   runs except by fetch_add(0) snapshots, which change nothing.
// Report for (cpu, g): CAS cpu.reported from r < g to g; the winner decrements m_pending.
//   So each CPU is counted exactly once per GP, whether it reports itself (quiescent(),
//   set_idle()) or the starter reports for it; the decrement that reaches 0 is the last
//   one: that thread completes g (m_pending reset, m_seq = g + 1 release, wake_all).
// quiescent(cpu): load m_seq (seq_cst). Even, or cpu.reported >= m_seq: nothing to do (the
//   common case: one load and a compare). Otherwise report for (cpu, m_seq).
//
// Safety (a reader section R on CPU c that began before GP g started ends before g
// completes). g completes only after c was counted for g:
//   - c reported itself at a quiescent() that read m_seq == g: R began before g started,
//     so R ended at or before that quiescent() (R has no QS inside it); R's accesses are
//     sequenced before the report CAS (release) → m_pending RMW chain → completer
//     (acquire) → m_seq = g+1 (release) → the updater's acquire load: R hb the free.
//   - the starter read c.idle == true after its start CAS: c stored true after R ended
//     (set_idle is called outside reader sections), and the seq_cst load reading it gives
//     R hb the starter's report — the same chain.
// Visibility (a reader section that begins after c was counted for g sees the new pointer).
//   The updater published the new pointer (release store) and then took its snapshot of
//   m_seq with an RMW (snapshot(): fetch_add(0, acq_rel)); the start CAS of any GP it waits
//   for reads that snapshot or a later RMW (release sequence), so the publication hb the
//   start. c counted by itself read m_seq == g (an acquire that reads the start CAS or a
//   later RMW) before its new reader section. c counted as idle by the starter: when c
//   leaves idle it stores idle = false (seq_cst) and then loads m_seq (seq_cst). If that
//   load returns >= g it synchronises with the start as above. If it returns < g, it
//   precedes the start CAS in the seq_cst order S, so c's idle store does too, and the
//   starter's later idle load would have read false — it cannot have counted c as idle.
// Idle. set_idle(cpu, true) stores idle = true and then runs quiescent() (seq_cst store,
//   then seq_cst load of m_seq). Against a starter's CAS-then-load-idle this is a store→load
//   handshake: in S either the starter's idle load follows our store (it reports for us) or
//   our m_seq load follows its CAS (we report ourselves) — possibly both; report()'s CAS
//   counts us once. (Loading m_seq before storing the flag would let a GP start in between,
//   read idle == false, and then wait forever for a CPU that halted.)
// Which GP an updater waits for (target): snapshot s; even → GP s+1 must complete
//   (m_seq >= s + 2); odd → GP s may have started before the update, so the next one must
//   (m_seq >= s + 3). Concurrent synchronize() callers with the same target share a GP.
// Liveness: a running GP completes once every non-idle CPU calls quiescent() or goes idle.
//   synchronize() starts a GP if none is running and sleeps on m_gp_done (a WaitQueue)
//   until m_seq >= target or no GP runs (then it starts the next): at most two GPs.
//
// Callbacks. call_rcu() pushes the head (Treiber push, release) with its target and bumps
// m_queued; poll() detaches the whole list (exchange, acquire), runs the heads whose target
// m_seq (acquire) has reached, pushes the rest back, and starts a GP if heads remain and
// none runs. Detaching with one exchange means no ABA; a head is on the list or in one
// poller's hands, never both, so it runs exactly once. No order between callbacks.
//
// Progress. quiescent(), set_idle(), call_rcu() and poll() never block (poll runs the
// callbacks, which must not block either). The only loops are CAS retries that fail because
// another thread's CAS succeeded. synchronize() sleeps; it never spins.
// ----------------------------------------------------------------------------------------
//
// Kernel binding points (see kernel/sync/README.md): quiescent(cpu) on every context switch
// (and from the timer tick when the interrupted thread was preemptible, so a CPU running one
// thread for long does not stall GPs), set_idle(cpu, true/false) around the idle halt, and a
// housekeeping thread looping { poll(); wait_for_callbacks(deadline); }.
#pragma once

#include <lib/result.h>
#include <sync/wait_queue.h>

#include <atomic>
#include <stddef.h>
#include <stdint.h>

namespace ksync {

inline constexpr unsigned kRcuMaxCpus = 1024;

// Embed in an object to free it (or do anything else) after a grace period with call_rcu().
struct RcuHead {
    RcuHead* next = nullptr;            // call_rcu's list
    void (*func)(RcuHead*) = nullptr;   // what to run
    uint64_t target = 0;                // m_seq value at which it may run
};

// Reader side: load an RCU-protected pointer inside a reader section (acquire: the object's
// initialisation, published with rcu_assign, is visible).
template<typename T>
T* rcu_read(const std::atomic<T*>& pointer)
{
    // Acquire pairs with the release store in rcu_assign() (or any release exchange).
    return pointer.load(std::memory_order_acquire);
}

// Updater side: publish a new object (its initialisation happens-before any reader that sees it).
template<typename T>
void rcu_assign(std::atomic<T*>& pointer, T* value)
{
    // Release pairs with the acquire load in rcu_read().
    pointer.store(value, std::memory_order_release);
}

class RcuDomain {
public:
    // Bytes of storage (aligned to 64) that create() needs for `ncpus` CPUs.
    static size_t storage_size(unsigned ncpus);

    // Builds a domain inside `storage`, which must outlive it (never freed by this type).
    // Every CPU starts non-idle. INVAL if ncpus is 0 or above kRcuMaxCpus, or storage is too
    // small or misaligned. No allocation.
    static Result<RcuDomain*> create(unsigned ncpus, void* storage, size_t size);

    unsigned cpu_count() const { return m_ncpus; }

    // CPU `cpu` is outside every reader section. The kernel calls it on each context switch
    // (preemption disabled, on that CPU). Usually one load and a compare; once per GP per CPU
    // a CAS and an RMW; the CPU that completes a GP also wakes its waiters (WaitQueue::
    // wake_all, which may unpark()). Never blocks. Must be called where unpark() may be
    // called — in the kernel, not inside the scheduler's run-queue manipulation.
    void quiescent(unsigned cpu);

    // CPU `cpu` halts (true: an extended quiescent state until it calls set_idle(cpu, false))
    // or resumes (false). Called by that CPU, outside reader sections: true right before
    // halting, false right after waking and before any reader section. Never blocks; same
    // context rule as quiescent().
    void set_idle(unsigned cpu, bool idle);

    // Waits for a full grace period: every reader section that began before the call has
    // ended when it returns. Blocks (asserted: preemption and interrupts enabled — the
    // caller must not be in a reader section). Concurrent callers share grace periods.
    void synchronize();

    // Runs func(head) from poll() after a grace period that starts after this call. Never
    // blocks or allocates; any context. `head` must stay valid until func runs.
    void call_rcu(RcuHead* head, void (*func)(RcuHead*));

    // Runs the callbacks whose grace period has ended (returns how many) and starts a grace
    // period if callbacks wait and none runs. Called by the kernel's housekeeping thread(s);
    // concurrent callers are fine (each takes its own callbacks). Callbacks run in the
    // caller's context and must not block. Never blocks itself.
    size_t poll();

    // Housekeeping: sleeps until poll() has work (callbacks queued and no grace period
    // running) or now_ns() >= deadline_ns. Returns whether there is work. Blocks.
    bool wait_for_callbacks(uint64_t deadline_ns);

    // Grace periods completed so far (statistics, tests).
    uint64_t completed() const { return m_seq.load(std::memory_order_relaxed) / 2; }
    // Hints for the housekeeping thread (racy snapshots): a grace period is running;
    // callbacks are queued.
    bool grace_period_running() const { return m_seq.load(std::memory_order_relaxed) & 1; }
    bool callbacks_queued() const { return m_queued.load(std::memory_order_relaxed) != 0; }

private:
    struct alignas(64) Cpu {
        std::atomic<uint64_t> reported{0};
        std::atomic<bool> idle{false};
    };

    RcuDomain(unsigned ncpus, Cpu* cpus) : m_ncpus(ncpus), m_cpus(cpus), m_pending(ncpus + 1) {}

    uint64_t snapshot_target();
    bool reached(uint64_t target) const;
    void start_gp_if_idle();
    void report(unsigned cpu, uint64_t gp);
    void count_report(uint64_t gp);
    void complete(uint64_t gp);

    const unsigned m_ncpus;
    Cpu* const m_cpus;
    alignas(64) std::atomic<uint64_t> m_seq{0};
    std::atomic<uint64_t> m_pending;
    alignas(64) std::atomic<RcuHead*> m_callbacks{nullptr};
    std::atomic<uint64_t> m_queued{0}; // callbacks pushed and not yet run (a hint)
    WaitQueue m_gp_done;               // synchronize() callers and the housekeeping thread
};

} // namespace ksync
