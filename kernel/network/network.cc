// The kernel's network service (network.h).
#include <atomic>
#include <core/clock.h>
#include <core/console.h>
#include <core/entropy.h>
#include <core/rcu.h>
#include <core/thread.h>
#include <core/timer.h>
#include <drivers/net_dev.h>
#include <lib/string.h>
#include <net/dhcp/client.h>
#include <network/network.h>
#include <new>

namespace network {
namespace {

constexpr uint16_t kDhcpClientPort = net::dhcp::kClientPort;
constexpr uint16_t kDhcpServerPort = net::dhcp::kServerPort;

class KernelClock final : public net::Clock {
public:
    uint64_t now_ns() const override { return core::monotonic_ns(); }
};

net::MacAddress mac_of(const drivers::NetDevice& nic)
{
    net::MacAddress mac;
    lib::mem_copy(mac.bytes, nic.mac(), 6);
    return mac;
}

// A NIC as the stack's interface: frames out through the driver, offloads as it offers them.
class NicInterface final : public net::Interface {
public:
    explicit NicInterface(drivers::NetDevice& nic)
        : Interface(lib::StringView(nic.name()), net::LinkKind::Ethernet, mac_of(nic), nic.mtu()), m_nic(nic)
    {
        net::InterfaceFeatures features;
        features.tx_checksum = nic.can_offload_checksum();
        features.tso4 = nic.can_segment_tcp4();
        features.lro4 = nic.can_receive_coalesced();
        set_features(features);
        set_link_up(nic.link_up());
    }

    Result<void> transmit(net::Packet frame) override
    {
        drivers::TransmitOffload offload;
        offload.queue_key = frame.meta().tx_queue_key;
        if (frame.meta().checksum_needed) {
            // PacketMeta counts from the buffer's start, the driver from the frame's.
            if (frame.meta().checksum_start < frame.data_offset())
                return Errno::INVAL;
            offload.partial_checksum = true;
            offload.csum_start = uint16_t(frame.meta().checksum_start - frame.data_offset());
            offload.csum_offset = frame.meta().checksum_offset;
            if (frame.meta().gso_type == net::GsoType::TcpV4) {
                // The device cuts it: every header byte up to the TCP payload is repeated.
                size_t tcp = offload.csum_start;
                if (tcp + 13 > frame.length())
                    return Errno::INVAL;
                offload.tcp4_segment_size = frame.meta().gso_size;
                offload.header_length = uint16_t(tcp + (frame.data()[tcp + 12] >> 4) * 4);
            }
        }
        return m_nic.transmit(frame.data(), frame.length(), offload);
    }

    drivers::NetDevice& nic() { return m_nic; }

    // One receive queue of the NIC and the burst in progress on it, touched only by that
    // queue's receive thread: frames for the ordinary path (on_frame queues, on_burst_end
    // processes), the channels frames were queued on (each holds a reference; told at the
    // burst's end), and the burst's number. The queue is the net channels' producer (the
    // single-producer rule is per receive queue, not per NIC).
    struct ReceiveQueue {
        static constexpr size_t kMaxTouched = 64;
        net::PacketQueue inbox;
        net::Channel* touched[kMaxTouched];
        size_t touched_count = 0;
        bool sweep_wanted = false; // a channel went from empty to not empty
        uint64_t burst = 1;
        // Frames dropped for want of packet memory (the queue's thread adds, others read).
        std::atomic<uint64_t> rx_no_memory{ 0 };
    };
    // The receive queue `index` (a driver's number past the last is folded onto queue 0:
    // never the case for ours).
    ReceiveQueue& queue(uint16_t index) { return m_queues[index < drivers::kMaxNetQueues ? index : 0]; }
    // Received frames the stack dropped for want of memory, over all queues.
    uint64_t rx_no_memory() const
    {
        uint64_t n = 0;
        for (const ReceiveQueue& q : m_queues)
            n += q.rx_no_memory.load(std::memory_order_relaxed);
        return n;
    }

private:
    ReceiveQueue m_queues[drivers::kMaxNetQueues];
    drivers::NetDevice& m_nic;
};

class DhcpAgent;

KernelClock g_clock;
alignas(net::Stack) unsigned char g_stack_storage[sizeof(net::Stack)];
net::Stack* g_stack;
ksync::Mutex g_lock;
NicInterface* g_interfaces[drivers::kMaxNetDevices];
size_t g_interface_count;
DhcpAgent* g_dhcp;
core::Thread* g_timer_thread;
std::atomic<uint64_t> g_timer_wake{ UINT64_MAX }; // when the timer thread will look next
std::atomic<bool> g_configured{ false };
// net.dns: written once at boot, before the application reads resolv_conf().
net::dhcp::Lease g_static_dns; // only its servers
// The sweep of channels nobody called in for (network.h): armed by a receive thread when a
// channel stops being empty, run by the timer thread at g_sweep_at.
constexpr uint64_t kSweepDelay = 10'000'000;
std::atomic<bool> g_sweep_armed{ false };
std::atomic<uint64_t> g_sweep_at{ 0 };
std::atomic<core::Thread*> g_config_waiter{ nullptr };

void set_configured()
{
    g_configured.store(true, std::memory_order_seq_cst);
    if (core::Thread* waiter = g_config_waiter.exchange(nullptr, std::memory_order_seq_cst))
        core::unpark_thread(waiter);
}

// DHCP on one interface: the client state machine (net/dhcp) bound to UDP port 68.
class DhcpAgent final : public net::UdpReceiver {
public:
    DhcpAgent(NicInterface& interface, uint64_t seed)
        : m_interface(interface), m_client(interface.mac(), seed, "nimbus")
    {
    }

    // Under g_lock.
    Result<void> start(uint64_t now)
    {
        TRY(g_stack->udp().bind(*this, { net::Ipv4Address::any(), kDhcpClientPort }));
        m_client.start(now);
        flush();
        return {};
    }

    void deliver(net::Packet payload, net::UdpEndpoint source, net::UdpEndpoint) override
    {
        if (source.port != kDhcpServerPort)
            return;
        uint64_t now = core::monotonic_ns();
        m_client.on_message(payload.data(), payload.length(), now);
        flush();
        apply(now);
    }

    void on_timer(uint64_t now)
    {
        m_client.on_timer(now);
        flush();
        apply(now);
    }

    uint64_t deadline() const { return m_client.next_deadline(); }

    // Under g_lock.
    size_t resolv_conf(char* out, size_t size) const
    {
        if (!m_client.has_lease() || m_client.lease().dns_count == 0)
            return 0;
        return net::dhcp::format_resolv_conf(m_client.lease(), out, size);
    }

private:
    void flush()
    {
        net::dhcp::Outgoing out;
        while (m_client.take_outgoing(out)) {
            net::Packet packet = net::Packet::allocate_data(out.length);
            if (!packet)
                return; // the client retransmits
            lib::mem_copy(packet.data(), out.bytes, out.length);
            (void)g_stack->udp().send({ out.source, kDhcpClientPort }, { out.destination, kDhcpServerPort },
                                      std::move(packet), &m_interface);
        }
    }

    void apply(uint64_t)
    {
        if (m_client.lease_generation() == m_generation)
            return;
        m_generation = m_client.lease_generation();
        if (!m_client.has_lease()) {
            log_warn("%s: DHCP lease lost", m_interface.name());
            (void)g_stack->set_ipv4_address(m_interface, net::Ipv4Address::any(), 0);
            return;
        }
        const net::dhcp::Lease& lease = m_client.lease();
        if (auto set = g_stack->set_ipv4_address(m_interface, lease.address, lease.prefix_length); set.is_error()) {
            log_warn("%s: cannot use the DHCP address: %s", m_interface.name(), lib::errno_name(set.error()));
            return;
        }
        if (!lease.router.is_any())
            (void)g_stack->set_default_gateway(m_interface, lease.router);
        if (lease.mtu >= 576 && lease.mtu < m_interface.nic().mtu())
            m_interface.set_mtu(lease.mtu);
        char address[16], router[16], server[16];
        net::format_ipv4(lease.address, address);
        net::format_ipv4(lease.router, router);
        net::format_ipv4(lease.server, server);
        log_info("%s: %s/%u via %s (DHCP from %s, lease %u s)", m_interface.name(), address, lease.prefix_length,
                 lease.router.is_any() ? "-" : router, server, lease.lease_seconds);
        set_configured();
    }

    NicInterface& m_interface;
    net::dhcp::Client m_client;
    uint32_t m_generation = 0;
};

// Freed channels wait for a grace period: a receive thread may still stand on one.
void retire_channel(net::Channel* channel, void*)
{
    core::rcu_call(&channel->rcu_head(), [](ksync::RcuHead* head) { delete net::Channel::from_rcu_head(head); });
}

// Tells the channels of the burst (each once) and lets go of them.
void notify_channels(NicInterface::ReceiveQueue& queue)
{
    for (size_t i = 0; i < queue.touched_count; i++) {
        net::Channel* channel = queue.touched[i];
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = queue.touched[j] == channel;
        if (!seen)
            channel->notify();
    }
    for (size_t i = 0; i < queue.touched_count; i++)
        queue.touched[i]->unref();
    queue.touched_count = 0;
    if (queue.sweep_wanted && !g_sweep_armed.load(std::memory_order_relaxed) &&
        !g_sweep_armed.exchange(true, std::memory_order_seq_cst)) {
        g_sweep_at.store(core::monotonic_ns() + kSweepDelay, std::memory_order_seq_cst);
        if (g_timer_thread)
            core::unpark_thread(g_timer_thread); // it looks at the new deadline
    }
    queue.sweep_wanted = false;
}

// The NICs' receive threads hand frames in here: each is copied into a packet and offered to
// the classifier; what it does not take waits until the burst ends.
void on_frame(void* context, const drivers::ReceivedFrame& frame)
{
    auto* nic = static_cast<NicInterface*>(context);
    NicInterface::ReceiveQueue* queue = &nic->queue(frame.queue);
    net::Packet packet = net::Packet::allocate_data(frame.length);
    if (!packet) {
        queue->rx_no_memory.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    lib::mem_copy(packet.data(), frame.data, frame.length);
    // A partial checksum comes from a local peer that trusted its own data (tap offload).
    packet.meta().checksum_verified = frame.checksum_valid || frame.checksum_partial;
    if (frame.coalesced_segment_size != 0) {
        packet.meta().gso_type = net::GsoType::TcpV4;
        packet.meta().gso_size = frame.coalesced_segment_size;
    }
    net::Channel* channel;
    bool was_empty = false;
    {
        core::RcuReadGuard rcu;
        // The receive queue is the producer: each has its own thread.
        channel = g_stack->classify(*nic, packet, { queue, queue->burst }, was_empty);
    }
    if (channel == nullptr) {
        queue->inbox.push_back(static_cast<net::Packet&&>(packet));
        return;
    }
    queue->sweep_wanted |= was_empty;
    if (queue->touched_count == NicInterface::ReceiveQueue::kMaxTouched)
        notify_channels(*queue);
    queue->touched[queue->touched_count++] = channel;
}

// The end of a burst: the channels are told, then the other frames go through the stack
// under one acquisition of the lock, as one TCP batch (a pure ACK a later one of the burst
// supersedes is not sent: one ACK per burst and connection, like a NIC that aggregates).
void on_burst_end(void* context, uint16_t index)
{
    auto* nic = static_cast<NicInterface*>(context);
    NicInterface::ReceiveQueue& queue = nic->queue(index);
    queue.burst++;
    notify_channels(queue);
    if (queue.inbox.is_empty())
        return;
    ksync::MutexGuard guard(g_lock);
    g_stack->tcp().begin_batch();
    while (net::Packet packet = queue.inbox.pop_front())
        g_stack->input(*nic, static_cast<net::Packet&&>(packet));
    g_stack->tcp().end_batch();
    timers_changed();
}

// The earliest timer of the stack, the DHCP client and the sweep. Under g_lock.
uint64_t next_deadline_locked()
{
    uint64_t deadline = g_stack->next_deadline();
    if (g_dhcp && g_dhcp->deadline() < deadline)
        deadline = g_dhcp->deadline();
    if (g_sweep_armed.load(std::memory_order_seq_cst)) {
        uint64_t sweep = g_sweep_at.load(std::memory_order_seq_cst);
        if (sweep < deadline)
            deadline = sweep;
    }
    return deadline;
}

void timer_loop(void*)
{
    for (;;) {
        uint64_t deadline;
        {
            ksync::MutexGuard guard(g_lock);
            uint64_t now = core::monotonic_ns();
            // Disarmed before the sweep: a channel that becomes non-empty after its turn
            // arms the next one.
            if (g_sweep_armed.load(std::memory_order_seq_cst) && now >= g_sweep_at.load(std::memory_order_seq_cst)) {
                g_sweep_armed.store(false, std::memory_order_seq_cst);
                g_stack->tcp().drain_channels();
            }
            g_stack->poll_timers(now);
            if (g_dhcp)
                g_dhcp->on_timer(now);
            deadline = next_deadline_locked();
            g_timer_wake.store(deadline, std::memory_order_seq_cst);
        }
        if (deadline == UINT64_MAX)
            core::park_current_thread();
        else if (deadline > core::monotonic_ns())
            core::park_current_thread_until(deadline);
    }
}

bool parse_prefix(lib::StringView text, net::Ipv4Address& address, unsigned& prefix)
{
    size_t slash = text.find('/');
    if (slash == lib::StringView::npos)
        return false;
    if (!net::parse_ipv4(text.data(), slash, address))
        return false;
    lib::StringView digits = text.substr(slash + 1);
    if (digits.is_empty() || digits.size() > 2)
        return false;
    prefix = 0;
    for (size_t i = 0; i < digits.size(); i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return false;
        prefix = prefix * 10 + unsigned(digits[i] - '0');
    }
    return prefix <= 32;
}

// Applies net.ip / net.gw. The application does not wait for the network afterwards, whether
// that worked or not.
void configure_static(NicInterface& interface, const boot::Options& options)
{
    set_configured();
    net::Ipv4Address address, gateway;
    unsigned prefix = 0;
    if (!parse_prefix(options.net_ip, address, prefix)) {
        log_error("net.ip=%.*s: not an address/prefix (e.g. 198.18.0.2/15); %s stays unconfigured",
                  int(options.net_ip.size()), options.net_ip.data(), interface.name());
        return;
    }
    if (auto set = g_stack->set_ipv4_address(interface, address, prefix); set.is_error()) {
        log_error("net.ip: %s", lib::errno_name(set.error()));
        return;
    }
    if (!options.net_gw.is_empty()) {
        if (!net::parse_ipv4(options.net_gw.data(), options.net_gw.size(), gateway) ||
            !gateway.same_prefix(address, prefix)) {
            log_error("net.gw=%.*s: not an address on %s's subnet; no default route", int(options.net_gw.size()),
                      options.net_gw.data(), interface.name());
        } else {
            (void)g_stack->set_default_gateway(interface, gateway);
        }
    }
    log_info("%s: %.*s (static)%s%.*s", interface.name(), int(options.net_ip.size()), options.net_ip.data(),
             options.net_gw.is_empty() ? "" : " via ", int(options.net_gw.size()), options.net_gw.data());
}

// net.dns=A.B.C.D[,...]: up to three servers (glibc's MAXNS), or none if any is malformed.
void parse_static_dns(lib::StringView text)
{
    size_t count = 0;
    net::Ipv4Address servers[net::dhcp::kMaxDnsServers];
    const lib::StringView all = text;
    while (!text.is_empty()) {
        size_t comma = text.find(',');
        lib::StringView item = comma == lib::StringView::npos ? text : text.substr(0, comma);
        net::Ipv4Address address;
        if (count == net::dhcp::kMaxDnsServers || !net::parse_ipv4(item.data(), item.size(), address) ||
            address.is_any() || address.is_broadcast() || address.is_multicast()) {
            log_error("net.dns=%.*s: not 1 to %zu unicast IPv4 addresses separated by commas; ignored",
                      int(all.size()), all.data(), net::dhcp::kMaxDnsServers);
            return;
        }
        servers[count++] = address;
        text = comma == lib::StringView::npos ? lib::StringView() : text.substr(comma + 1);
    }
    for (size_t i = 0; i < count; i++)
        g_static_dns.dns[i] = servers[i];
    g_static_dns.dns_count = uint8_t(count);
}

} // namespace

net::Stack& stack() { return *g_stack; }

ksync::Mutex& stack_lock() { return g_lock; }

size_t resolv_conf(char* out, size_t size)
{
    if (!g_stack)
        return 0;
    if (g_static_dns.dns_count > 0)
        return net::dhcp::format_resolv_conf(g_static_dns, out, size); // (the same text as a lease's)
    ksync::MutexGuard guard(g_lock);
    return g_dhcp ? g_dhcp->resolv_conf(out, size) : 0;
}

void timers_changed()
{
    if (!g_stack || !g_timer_thread)
        return;
    uint64_t next = next_deadline_locked();
    if (next < g_timer_wake.load(std::memory_order_seq_cst)) {
        g_timer_wake.store(next, std::memory_order_seq_cst);
        core::unpark_thread(g_timer_thread);
    }
}

void init_network(const boot::Options& options)
{
    uint64_t seed;
    core::fill_random(&seed, sizeof seed);
    g_stack = new (g_stack_storage) net::Stack(g_clock, seed);
    if (!options.net_dns.is_empty())
        parse_static_dns(options.net_dns);
    g_stack->tcp().set_channel_retire(retire_channel, nullptr);
    g_stack->udp().set_channel_retire(retire_channel, nullptr);
    for (size_t i = 0; i < drivers::net_device_count(); i++) {
        drivers::NetDevice* nic = drivers::net_device(i);
        auto* interface = new (std::nothrow) NicInterface(*nic);
        if (!interface) {
            log_error("%s: no memory for its interface", nic->name());
            continue;
        }
        ksync::MutexGuard guard(g_lock);
        if (g_stack->add_interface(*interface).is_error()) {
            delete interface;
            continue;
        }
        g_interfaces[g_interface_count++] = interface;
        nic->set_burst_end(on_burst_end, interface);
        nic->set_receiver(on_frame, interface);
    }

    core::ThreadAttr attr;
    attr.stack_size = 32 * 1024;
    auto thread = core::Thread::create("net-timers", timer_loop, nullptr, attr);
    if (thread.is_error()) {
        log_error("network: cannot start the timer thread; the network stays down");
        return;
    }
    core::Thread::detach(thread.value());
    g_timer_thread = thread.value();

    if (g_interface_count == 0) {
        set_configured(); // nothing to wait for
        return;
    }
    NicInterface& eth0 = *g_interfaces[0];
    ksync::MutexGuard guard(g_lock);
    if (!options.net_ip.is_empty()) {
        configure_static(eth0, options);
    } else if (options.net_dhcp) {
        uint64_t dhcp_seed;
        core::fill_random(&dhcp_seed, sizeof dhcp_seed);
        g_dhcp = new (std::nothrow) DhcpAgent(eth0, dhcp_seed);
        if (!g_dhcp || g_dhcp->start(core::monotonic_ns()).is_error()) {
            log_error("%s: cannot start DHCP", eth0.name());
            g_dhcp = nullptr;
            set_configured();
        }
    } else {
        set_configured();
    }
    timers_changed();
}

void flush_transmit(uint64_t tcp_timeout_ns, uint64_t nic_timeout_ns)
{
    if (!g_stack)
        return;
    uint64_t tcp_deadline = core::monotonic_ns() + tcp_timeout_ns;
    for (;;) {
        size_t sending;
        {
            ksync::MutexGuard guard(g_lock);
            sending = g_stack->tcp().connections_sending();
        }
        if (sending == 0 || core::monotonic_ns() >= tcp_deadline)
            break;
        core::sleep_ns(5'000'000); // the timer and receive threads move the connections on
    }
    uint64_t deadline = core::monotonic_ns() + nic_timeout_ns;
    for (size_t i = 0; i < g_interface_count; i++) {
        drivers::NetDevice& nic = g_interfaces[i]->nic();
        while (!nic.transmit_idle() && core::monotonic_ns() < deadline)
            core::sleep_ns(20'000); // the device works in its own thread; give it the CPU
        // What the offloads did, for a NIC that used them (the tap tests read it).
        drivers::NetStats& st = nic.stats();
        uint64_t segmented = st.tx_segmented.load(std::memory_order_relaxed);
        uint64_t coalesced = st.rx_coalesced.load(std::memory_order_relaxed);
        if (segmented || coalesced)
            log_info("%s: tx %lu frames (%lu cut by the device), rx %lu frames (%lu coalesced), %lu bad", nic.name(),
                     st.tx_packets.load(std::memory_order_relaxed), segmented,
                     st.rx_packets.load(std::memory_order_relaxed), coalesced,
                     st.rx_bad_header.load(std::memory_order_relaxed));
        // Frames dropped inside the guest, which the host sees as losses (its retransmissions).
        uint64_t ring_full = st.tx_ring_full.load(std::memory_order_relaxed);
        uint64_t no_memory = g_interfaces[i]->rx_no_memory();
        if (ring_full || no_memory)
            log_info("%s: %lu frames dropped for a full transmit ring, %lu received ones for want of memory",
                     nic.name(), ring_full, no_memory);
        for (uint16_t q = 0; nic.queue_count() > 1 && q < nic.queue_count() && q < drivers::kMaxNetQueues; q++)
            log_info("%s: queue %u: rx %lu frames, tx %lu frames", nic.name(), q,
                     st.rx_queue_packets[q].load(std::memory_order_relaxed),
                     st.tx_queue_packets[q].load(std::memory_order_relaxed));
    }
    // How TCP's segments came in: through net channels, or the ordinary path and why.
    net::ChannelStats& ch = g_stack->tcp().channel_stats();
    uint64_t queued = ch.queued.load(std::memory_order_relaxed);
    uint64_t full = ch.full.load(std::memory_order_relaxed);
    uint64_t diverted = ch.diverted.load(std::memory_order_relaxed);
    if (queued || full || diverted)
        log_info("tcp: %lu segments through net channels, %lu past a full one, %lu diverted (%lu from a second "
                 "receive queue)", queued, full, diverted, ch.other_queue.load(std::memory_order_relaxed));
}

bool wait_configured(uint64_t timeout_ns)
{
    uint64_t deadline = core::monotonic_ns() + timeout_ns;
    while (!g_configured.load(std::memory_order_seq_cst)) {
        g_config_waiter.store(core::current_thread(), std::memory_order_seq_cst);
        if (g_configured.load(std::memory_order_seq_cst))
            break;
        if (!core::park_current_thread_until(deadline) && core::monotonic_ns() >= deadline) {
            g_config_waiter.store(nullptr, std::memory_order_seq_cst);
            return g_configured.load(std::memory_order_seq_cst);
        }
    }
    g_config_waiter.store(nullptr, std::memory_order_seq_cst);
    return true;
}

bool read_mib(net::Mib& out)
{
    if (!g_stack)
        return false;
    ksync::MutexGuard guard(g_lock);
    g_stack->read_mib(out);
    return true;
}

void for_each_interface_counters(void (*visit)(const net::InterfaceCounters& counters, void* context), void* context)
{
    if (!g_stack)
        return;
    net::InterfaceCounters lo;
    {
        ksync::MutexGuard guard(g_lock);
        const net::LoopbackInterface& loopback = g_stack->loopback();
        lo.name = loopback.name();
        lo.rx_packets = lo.tx_packets = loopback.packets();
        lo.rx_bytes = lo.tx_bytes = loopback.bytes();
        lo.tx_dropped = loopback.dropped();
    }
    visit(lo, context);
    // The NICs' counters are relaxed atomics (their threads add to them): no lock. Frames the
    // stack could not take (no packet memory) count as dropped with the driver's own drops.
    for (size_t i = 0; i < g_interface_count; i++) {
        NicInterface& interface = *g_interfaces[i];
        drivers::NetStats& st = interface.nic().stats();
        net::InterfaceCounters c;
        c.name = interface.name();
        c.rx_bytes = st.rx_bytes.load(std::memory_order_relaxed);
        c.rx_packets = st.rx_packets.load(std::memory_order_relaxed);
        c.rx_errors = st.rx_bad_header.load(std::memory_order_relaxed);
        c.rx_dropped = st.rx_no_receiver.load(std::memory_order_relaxed) + interface.rx_no_memory();
        c.tx_bytes = st.tx_bytes.load(std::memory_order_relaxed);
        c.tx_packets = st.tx_packets.load(std::memory_order_relaxed);
        c.tx_dropped = st.tx_ring_full.load(std::memory_order_relaxed);
        visit(c, context);
    }
}

} // namespace network
