// Interrupt threads (irq_thread.h).
//
// Handler -> thread hand-off: the handler stores m_pending = true (release) and unparks the
// thread; the thread takes it with exchange(false, acquire) before each `work` call and parks
// only while it finds nothing. An interrupt during `work` sets m_pending again and its unpark
// leaves a token, so the loop calls `work` once more: interrupts coalesce, none is lost.
#include <core/irq.h>
#include <core/irq_thread.h>
#include <core/rcu.h>
#include <core/thread.h>
#include <new>

namespace core {

void InterruptThread::on_interrupt(void* p)
{
    auto* self = static_cast<InterruptThread*>(p);
    if (!self->m_ops.acknowledge(self->m_context))
        return;
    self->m_interrupts.store(self->m_interrupts.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // pairs with thread_main()'s acquire exchange: what acknowledge() read is visible to work()
    self->m_pending.store(true, std::memory_order_release);
    unpark_thread(self->m_thread);
}

void InterruptThread::thread_main(void* p)
{
    auto* self = static_cast<InterruptThread*>(p);
    for (;;) {
        while (!self->m_pending.exchange(false, std::memory_order_acquire)) {
            if (self->m_stop.load(std::memory_order_acquire))
                return;
            park_current_thread();
        }
        self->m_work_calls.fetch_add(1, std::memory_order_relaxed);
        self->m_ops.work(self->m_context);
    }
}

Result<InterruptThread*> InterruptThread::create(const char* name, const GsiRoute* route, Ops ops, void* context,
                                                 unsigned cpu)
{
    if (!ops.acknowledge || !ops.work || cpu >= cpu_count())
        return Errno::INVAL;
    auto* self = new (std::nothrow) InterruptThread();
    if (!self)
        return Errno::NOMEM;
    self->m_ops = ops;
    self->m_context = context;
    self->m_cpu = cpu;
    ThreadAttr attr;
    attr.cpu = int(cpu);
    attr.wakes_affine = true; // its work is short and it parks again: see ThreadAttr
    attr.stack_size = 32 * 1024;
    auto thread = Thread::create(name, &thread_main, self, attr);
    if (thread.is_error()) {
        delete self;
        return thread.error();
    }
    self->m_thread = thread.value();
    auto vector = allocate_irq_vector(&on_interrupt, self);
    if (vector.is_error()) {
        self->destroy();
        return vector.error();
    }
    self->m_vector = vector.value();
    if (route) {
        if (auto routed = ioapic_route(*route, self->m_vector, cpu); routed.is_error()) {
            self->destroy();
            return routed.error();
        }
        self->m_route = *route;
        self->m_has_route = true;
    }
    return self;
}

Result<InterruptThread*> InterruptThread::create_for_gsi(const char* name, const GsiRoute& route, Ops ops,
                                                         void* context, unsigned cpu)
{
    return create(name, &route, ops, context, cpu);
}

Result<InterruptThread*> InterruptThread::create_for_vector(const char* name, Ops ops, void* context, unsigned cpu)
{
    return create(name, nullptr, ops, context, cpu);
}

void InterruptThread::destroy()
{
    if (m_has_route)
        ioapic_mask(m_route.gsi, true);
    if (m_vector)
        clear_irq_handler(m_vector);
    // A handler that read the slot before it was cleared may still be running on the
    // interrupt's CPU (interrupts off: an RCU reader); after a grace period none is.
    rcu_synchronize();
    m_stop.store(true, std::memory_order_release);
    unpark_thread(m_thread);
    Thread::join(m_thread);
    delete this;
}

} // namespace core
