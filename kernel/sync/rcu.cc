// ksync::RcuDomain: grace periods from quiescent states; the protocol and its correctness
// argument are at the top of rcu.h.
#include <sync/rcu.h>

#include <lib/assert.h>

#include <new>

namespace ksync {

namespace {

constexpr size_t kAlign = 64;

size_t header_size()
{
    return (sizeof(RcuDomain) + kAlign - 1) / kAlign * kAlign;
}

} // namespace

size_t RcuDomain::storage_size(unsigned ncpus)
{
    return header_size() + size_t(ncpus) * sizeof(Cpu);
}

Result<RcuDomain*> RcuDomain::create(unsigned ncpus, void* storage, size_t size)
{
    if (ncpus == 0 || ncpus > kRcuMaxCpus || storage == nullptr ||
        reinterpret_cast<uintptr_t>(storage) % kAlign != 0 || size < storage_size(ncpus))
        return Errno::INVAL;
    auto* base = static_cast<unsigned char*>(storage);
    Cpu* cpus = reinterpret_cast<Cpu*>(base + header_size());
    for (unsigned i = 0; i < ncpus; i++)
        new (&cpus[i]) Cpu();
    return new (storage) RcuDomain(ncpus, cpus);
}

uint64_t RcuDomain::snapshot_target()
{
    // An RMW, not a load: whoever starts the grace period we wait for reads this value or a
    // later RMW's, so what the caller published before (the new pointer) happens-before the
    // start (rcu.h, "Visibility"). acq_rel: the release half is that; the acquire half keeps
    // our later reads after it.
    uint64_t seq = m_seq.fetch_add(0, std::memory_order_acq_rel);
    return (seq & 1) != 0 ? seq + 3 : seq + 2;
}

bool RcuDomain::reached(uint64_t target) const
{
    // Acquire pairs with the release store in complete(): every reader section the grace
    // period waited for happens-before what the caller does next (free the old object).
    return m_seq.load(std::memory_order_acquire) >= target;
}

void RcuDomain::start_gp_if_idle()
{
    uint64_t seq = m_seq.load(std::memory_order_relaxed); // relaxed: a hint; the CAS decides
    if ((seq & 1) != 0)
        return;
    // seq_cst: the start precedes our idle loads below in S (rcu.h, "Visibility", idle case);
    // acquire pairs with complete()'s release (m_pending's reset) and the updaters' snapshot
    // RMWs; release passes both on to the reporters that read the odd value.
    if (!m_seq.compare_exchange_strong(seq, seq + 1, std::memory_order_seq_cst,
                                       std::memory_order_relaxed))
        return; // someone else started one (or it already ended)
    uint64_t gp = seq + 1;
    for (unsigned cpu = 0; cpu < m_ncpus; cpu++) {
        // seq_cst: pairs with set_idle()'s seq_cst stores (rcu.h, "Safety" and "Visibility").
        if (m_cpus[cpu].idle.load(std::memory_order_seq_cst))
            report(cpu, gp);
    }
    count_report(gp); // drop the starter's bias
}

void RcuDomain::report(unsigned cpu, uint64_t gp)
{
    std::atomic<uint64_t>& reported = m_cpus[cpu].reported;
    uint64_t seen = reported.load(std::memory_order_relaxed);
    while (seen < gp) {
        // Release: the CPU's finished reader sections (or, for a starter reporting an idle
        // CPU, what it acquired from the idle store) travel on to count_report()'s chain.
        if (reported.compare_exchange_weak(seen, gp, std::memory_order_release,
                                           std::memory_order_relaxed)) {
            count_report(gp);
            return;
        }
    }
}

void RcuDomain::count_report(uint64_t gp)
{
    // acq_rel: each report releases its CPU's sections; the last decrement acquires them all
    // (every write to m_pending during a GP is an RMW, so the release sequences chain).
    if (m_pending.fetch_sub(1, std::memory_order_acq_rel) == 1)
        complete(gp);
}

void RcuDomain::complete(uint64_t gp)
{
    // Relaxed: no one touches m_pending until the next start, which acquires the store below.
    m_pending.store(m_ncpus + 1, std::memory_order_relaxed);
    // Release pairs with reached()'s acquire (and the next start CAS). A plain store is safe:
    // while gp runs the only other writers of m_seq are fetch_add(0) snapshots.
    m_seq.store(gp + 1, std::memory_order_release);
    m_gp_done.wake_all();
}

void RcuDomain::quiescent(unsigned cpu)
{
    NIMBUS_ASSERT(cpu < m_ncpus);
    // seq_cst: see rcu.h, "Visibility" (for set_idle(false), which calls us after its store);
    // it includes the acquire that makes the updates before a running GP visible to our next
    // reader sections. A plain load on x86.
    uint64_t seq = m_seq.load(std::memory_order_seq_cst);
    if ((seq & 1) == 0)
        return; // no grace period running
    // Relaxed: only grows; a stale value just costs report()'s CAS.
    if (m_cpus[cpu].reported.load(std::memory_order_relaxed) >= seq)
        return; // already counted for this one
    report(cpu, seq);
}

void RcuDomain::set_idle(unsigned cpu, bool idle)
{
    NIMBUS_ASSERT(cpu < m_ncpus);
    // Both directions: store the flag, then quiescent()'s seq_cst load of m_seq (rcu.h,
    // "Idle"). seq_cst pairs with the starter's CAS and seq_cst idle loads; the release part
    // of storing true also carries our finished reader sections to a starter that reads it.
    m_cpus[cpu].idle.store(idle, std::memory_order_seq_cst);
    // Going idle: a GP that started before the store may not have seen the flag; its start
    // is then seen here and we report ourselves. Waking up: see rcu.h, "Visibility".
    quiescent(cpu);
}

void RcuDomain::synchronize()
{
    NIMBUS_ASSERT(can_block());
    uint64_t target = snapshot_target();
    while (!reached(target)) {
        start_gp_if_idle();
        // Until our GP has ended, or the running one has and the next must be started.
        m_gp_done.wait([&] {
            // Acquire: as reached().
            uint64_t seq = m_seq.load(std::memory_order_acquire);
            return seq >= target || (seq & 1) == 0;
        });
    }
}

void RcuDomain::call_rcu(RcuHead* head, void (*func)(RcuHead*))
{
    head->func = func;
    head->target = snapshot_target();
    RcuHead* top = m_callbacks.load(std::memory_order_relaxed);
    do {
        head->next = top;
        // Release pairs with poll()'s acquire exchange: the head's fields.
    } while (!m_callbacks.compare_exchange_weak(top, head, std::memory_order_release,
                                                std::memory_order_relaxed));
    // Relaxed: a hint for wait_for_callbacks(); the WaitQueue handshake orders the wake-up.
    if (m_queued.fetch_add(1, std::memory_order_relaxed) == 0)
        m_gp_done.wake_all();
}

size_t RcuDomain::poll()
{
    // Relaxed: a hint; the exchange below is what synchronises.
    if (m_callbacks.load(std::memory_order_relaxed) == nullptr)
        return 0;
    // Acquire pairs with call_rcu()'s release CAS (and a poller's push-back).
    RcuHead* list = m_callbacks.exchange(nullptr, std::memory_order_acquire);
    // Acquire: as reached() — loaded after taking the list, so it covers every head in it.
    uint64_t seq = m_seq.load(std::memory_order_acquire);
    RcuHead* keep = nullptr;
    RcuHead* keep_last = nullptr;
    size_t ran = 0;
    while (list != nullptr) {
        RcuHead* head = list;
        list = head->next; // read before func(), which may free or reuse the head
        if (seq >= head->target) {
            head->func(head);
            ran++;
            continue;
        }
        head->next = keep;
        keep = head;
        if (keep_last == nullptr)
            keep_last = head;
    }
    if (keep != nullptr) {
        RcuHead* top = m_callbacks.load(std::memory_order_relaxed);
        do {
            keep_last->next = top;
            // Release: as in call_rcu().
        } while (!m_callbacks.compare_exchange_weak(top, keep, std::memory_order_release,
                                                    std::memory_order_relaxed));
    }
    if (ran > 0)
        m_queued.fetch_sub(ran, std::memory_order_relaxed); // relaxed: a hint
    if (keep != nullptr)
        start_gp_if_idle();
    return ran;
}

bool RcuDomain::wait_for_callbacks(uint64_t deadline_ns)
{
    return m_gp_done.wait_until(deadline_ns, [&] {
        // Relaxed: hints; poll() synchronises on its own.
        return m_queued.load(std::memory_order_relaxed) > 0 &&
               (m_seq.load(std::memory_order_relaxed) & 1) == 0;
    });
}

} // namespace ksync
