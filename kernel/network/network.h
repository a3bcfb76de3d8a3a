// The kernel's network service: the one net::Stack (kernel/net), an interface for every NIC
// (drivers/net_dev.h), its configuration (static from the boot options, else DHCP), and the
// thread that runs the stack's timers.
//
// Locking. The portable stack is not synchronised (net/stack.h): every call into it holds
// stack_lock(), held only for the duration of a protocol step, never while sleeping: the
// timer thread to run timers, the socket layer for every operation, a NIC's receive thread
// for the frames that take the ordinary input path.
//
// Net channels (net/channel/channel.h). A NIC's receive thread first offers each frame to
// the stack's classifier without the lock (inside an RCU read-side section): a segment of an
// established TCP connection is queued on the connection's channel, and at the end of the
// burst the socket is told (its waiters wake, its epoll watches fire). The TCP input for
// those segments then runs in whichever thread next calls in for the connection, under the
// lock — the application thread in recv/send/poll/epoll_wait/close — on the CPU that uses
// the data. Segments nobody calls in for within kSweepDelay are processed by the timer
// thread (the sweep), so ACKs for a socket nobody reads still open its send window. Freed
// channels wait for an RCU grace period (a receive thread may still stand on them).
#pragma once

#include <boot/options.h>
#include <lib/result.h>
#include <net/stack.h>
#include <stdint.h>
#include <sync/mutex.h>

namespace network {

// Creates the stack, attaches every NIC, applies net.ip / net.gw or starts DHCP on eth0, and
// starts the timer thread. Boot, after the drivers. Problems (a bad net.ip, no memory) are
// logged; the network then stays down or unconfigured and the application runs without it.
void init_network(const boot::Options& options);

// Waits until eth0 has an address (DHCP) or `timeout_ns` passed; true when configured (or
// configured statically, or there is no NIC to configure). Before the application starts.
bool wait_configured(uint64_t timeout_ns);

// resolv.conf text for the DNS servers (and search domain) of eth0's DHCP lease, into `out`
// (NUL-terminated); its length, 0 when there is no lease, it names no server, or `size` is
// too small.
size_t resolv_conf(char* out, size_t size);

// The stack and its lock (see above). The stack exists after init_network.
net::Stack& stack();
ksync::Mutex& stack_lock();

// Before the VM powers off (the application exited and its sockets are closed): waits, at most
// `tcp_timeout_ns`, until no TCP connection has data or a FIN its peer has not acknowledged —
// the end of a stream written just before exit() must arrive, as it would from a Linux
// process whose kernel lives on — then, at most `nic_timeout_ns`, until every NIC has sent
// what it was given (a datagram sent just before exit() must not die in the ring). Packets
// still waiting for ARP resolution are not waited for.
void flush_transmit(uint64_t tcp_timeout_ns, uint64_t nic_timeout_ns);

// Call with stack_lock() held after anything that may have moved the stack's next deadline
// earlier (a send that started an ARP resolution, a TCP retransmission timer): wakes the
// timer thread if it sleeps past the new deadline.
void timers_changed();

// The stack's MIB counters added to `out` (/proc/net/snmp); false before the network started.
bool read_mib(net::Mib& out);
// `visit(counters, context)` for "lo" and then every NIC (/proc/net/dev); nothing before the
// network started.
void for_each_interface_counters(void (*visit)(const net::InterfaceCounters& counters, void* context), void* context);

// Holds stack_lock() for a scope and calls timers_changed() as it ends: anything done under
// it (a read that processed a channel's segments and armed the delayed ACK, a send that
// armed the retransmission timer) may have moved a deadline earlier.
class TA_SCOPED_CAPABILITY StackGuard {
public:
    StackGuard() TA_ACQUIRE(stack_lock()) TA_NO_ANALYSIS : m_guard(stack_lock()) {}
    ~StackGuard() TA_RELEASE() TA_NO_ANALYSIS { timers_changed(); }
    StackGuard(const StackGuard&) = delete;
    StackGuard& operator=(const StackGuard&) = delete;

private:
    ksync::InlineMutexGuard m_guard; // every socket call: the lock's fast path inline
};

} // namespace network
