// Interrupts served by threads — the API drivers use (osv-design.md §4, issue 3 item 6).
//
// A device interrupt runs two pieces of driver code. `acknowledge` runs in the interrupt
// handler, interrupts off, on the CPU the interrupt is routed to: it silences the source
// (reads the device's status register, masks the device's interrupt) and says whether the
// interrupt was this device's; it must not block, allocate or take locks. `work` runs in the
// device's own kernel thread, pinned to that CPU (so the wake-up is a local one, no IPI): it
// does everything else — completions, buffers, waking waiters — and may block. The handler
// only counts and wakes the thread; interrupts that arrive while `work` runs are coalesced
// into one more call.
//
//   struct Rtc { ... };
//   bool rtc_ack(void* p) { return read_status_c() & kPeriodic; } // reading C acknowledges
//   void rtc_work(void* p) { static_cast<Rtc*>(p)->tick(); }
//   auto t = InterruptThread::create_for_gsi("rtc", isa_irq_route(8), {rtc_ack, rtc_work}, &rtc, 0);
//   ... t.value()->destroy();
#pragma once

#include <atomic>
#include <core/ioapic.h>
#include <cstdint>
#include <lib/result.h>

namespace core {

class Thread;

class InterruptThread {
public:
    struct Ops {
        bool (*acknowledge)(void* context); // interrupt context: silence the source; ours?
        void (*work)(void* context);        // the device's thread: everything else
    };

    // A thread named `name` pinned to CPU `cpu`, a device vector, and the I/O APIC pin of
    // `route` pointed at it on that CPU and unmasked. INVAL (bad CPU, missing ops), BUSY (no
    // vector), NOENT (no I/O APIC serves the GSI), NOMEM.
    static Result<InterruptThread*> create_for_gsi(const char* name, const GsiRoute& route, Ops ops, void* context,
                                                   unsigned cpu);
    // The same without an I/O APIC: the caller points its source (an MSI/MSI-X message) at
    // vector() on CPU `cpu` itself.
    static Result<InterruptThread*> create_for_vector(const char* name, Ops ops, void* context, unsigned cpu);

    // Masks the I/O APIC pin (if any), frees the vector, stops and joins the thread, and
    // frees this object once no handler can still be running. The device must be quiet
    // first (or its interrupts masked at the device). Thread context.
    void destroy();

    uint8_t vector() const { return m_vector; }
    unsigned cpu() const { return m_cpu; }
    Thread* thread() const { return m_thread; }
    // Interrupts acknowledged as ours, and calls of `work` so far.
    uint64_t interrupts() const { return m_interrupts.load(std::memory_order_relaxed); }
    uint64_t work_calls() const { return m_work_calls.load(std::memory_order_relaxed); }

private:
    InterruptThread() = default;
    static Result<InterruptThread*> create(const char* name, const GsiRoute* route, Ops ops, void* context, unsigned cpu);
    static void on_interrupt(void* self);
    static void thread_main(void* self);

    Ops m_ops{};
    void* m_context = nullptr;
    unsigned m_cpu = 0;
    uint8_t m_vector = 0;
    bool m_has_route = false;
    GsiRoute m_route;
    Thread* m_thread = nullptr;
    std::atomic<bool> m_pending{false};
    std::atomic<bool> m_stop{false};
    std::atomic<uint64_t> m_interrupts{0};
    std::atomic<uint64_t> m_work_calls{0};
};

} // namespace core
