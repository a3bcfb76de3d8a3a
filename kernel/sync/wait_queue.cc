// ksync::WaitQueue: the wakers (the waiting side is a template in wait_queue.h).
#include <sync/wait_queue.h>

namespace ksync {

void WaitQueue::wake_one()
{
    // has_waiters() is the waker's half of the no-lost-wake-up handshake (waiter_list.h).
    if (m_list.has_waiters())
        m_list.wake(1);
}

void WaitQueue::wake_all()
{
    if (m_list.has_waiters())
        m_list.wake_all();
}

} // namespace ksync
