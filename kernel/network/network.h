// The kernel's network service: the one net::Stack (kernel/net), an interface for every NIC
// (drivers/net_dev.h), its configuration (static from the boot options, else DHCP), and the
// thread that runs the stack's timers.
//
// Locking. The portable stack is not synchronised (net/stack.h): every call into it holds
// stack_lock(). The NIC receive threads take it to hand a frame in, the timer thread to run
// timers, the socket layer for every operation. Net channels (kernel/net/channel) are how
// established flows will leave this lock (issue 6); until then it is the one serialisation
// point of the network, held only for the duration of a protocol step, never while sleeping.
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

} // namespace network
