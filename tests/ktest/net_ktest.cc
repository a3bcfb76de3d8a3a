// In-kernel tests of the NIC driver against QEMU's user networking (`nimbus run --net user`,
// the default): the guest is 10.0.2.15, the virtual gateway 10.0.2.2 answers ARP and ICMP
// echo. Frames are built and checked by hand here — the driver alone, below the stack:
// ARP resolution, then 300 echo requests of growing size (more than either ring holds, so
// both wrap), each answered byte for byte. And a stalled device (its notifications held back):
// a full transmit ring makes transmit wait kTxFullWaitNs, then fail with NOBUFS, and the ring
// drains once the device hears of it again.
#include <atomic>
#include <core/clock.h>
#include <core/console.h>
#include <core/ktest.h>
#include <core/thread.h>
#include <core/timer.h>
#include <drivers/net_dev.h>
#include <lib/string.h>

namespace {

constexpr uint8_t kGuestIp[4] = { 10, 0, 2, 15 };
constexpr uint8_t kGatewayIp[4] = { 10, 0, 2, 2 };

// The receiver: keeps the first frame `wanted` accepts, wakes the test thread.
struct Capture {
    bool (*wanted)(const uint8_t* frame, size_t length, const void* arg) = nullptr;
    const void* arg = nullptr;
    uint8_t frame[2048];
    size_t length = 0;
    std::atomic<bool> done{ false };
    std::atomic<core::Thread*> waiter{ nullptr };
    std::atomic<uint32_t> seen{ 0 };
};

Capture g_capture;

void on_frame(void* context, const drivers::ReceivedFrame& f)
{
    auto* c = static_cast<Capture*>(context);
    c->seen.fetch_add(1, std::memory_order_relaxed);
    if (c->done.load(std::memory_order_acquire) || !c->wanted || f.length > sizeof c->frame)
        return;
    if (!c->wanted(f.data, f.length, c->arg))
        return;
    lib::mem_copy(c->frame, f.data, f.length);
    c->length = f.length;
    c->done.store(true, std::memory_order_release);
    if (core::Thread* t = c->waiter.load(std::memory_order_acquire))
        core::unpark_thread(t);
}

// Arms the capture, sends `frame`, waits up to 5 s for an accepted frame.
bool exchange(drivers::NetDevice& nic, const uint8_t* frame, size_t length,
              bool (*wanted)(const uint8_t*, size_t, const void*), const void* arg)
{
    g_capture.done.store(false, std::memory_order_relaxed);
    g_capture.wanted = wanted;
    g_capture.arg = arg;
    g_capture.waiter.store(core::current_thread(), std::memory_order_release);
    if (nic.transmit(frame, length, {}).is_error())
        return false;
    uint64_t deadline = core::monotonic_ns() + 5'000'000'000ull;
    while (!g_capture.done.load(std::memory_order_acquire)) {
        if (!core::park_current_thread_until(deadline) && core::monotonic_ns() >= deadline)
            return false;
    }
    return true;
}

void put16(uint8_t* p, uint16_t v)
{
    p[0] = uint8_t(v >> 8);
    p[1] = uint8_t(v);
}

uint16_t get16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }

uint16_t checksum(const uint8_t* p, size_t n)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += get16(p + i);
    if (n & 1)
        sum += uint32_t(p[n - 1]) << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return uint16_t(~sum);
}

bool is_arp_reply_from_gateway(const uint8_t* f, size_t n, const void*)
{
    return n >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 && lib::mem_compare(f + 28, kGatewayIp, 4) == 0;
}

struct EchoKey {
    uint16_t id, sequence;
};

bool is_echo_reply(const uint8_t* f, size_t n, const void* arg)
{
    auto* key = static_cast<const EchoKey*>(arg);
    return n >= 42 && get16(f + 12) == 0x0800 && f[23] == 1 && f[34] == 0 && get16(f + 38) == key->id &&
           get16(f + 40) == key->sequence;
}

KTEST(net, virtio_net_arp_and_echo)
{
    KT_ASSERT(drivers::net_device_count() >= 1); // the runner attaches a NIC by default
    drivers::NetDevice& nic = *drivers::net_device(0);
    KT_EXPECT(nic.link_up());
    KT_EXPECT(nic.mtu() >= 576);
    void* saved_context;
    drivers::FrameReceiver saved = nic.receiver(&saved_context); // the network service's
    nic.set_receiver(on_frame, &g_capture);

    // ARP: who has 10.0.2.2? tell 10.0.2.15.
    uint8_t arp[42] = {};
    lib::mem_set(arp, 0xff, 6);
    lib::mem_copy(arp + 6, nic.mac(), 6);
    put16(arp + 12, 0x0806);
    put16(arp + 14, 1);      // Ethernet
    put16(arp + 16, 0x0800); // IPv4
    arp[18] = 6;
    arp[19] = 4;
    put16(arp + 20, 1); // request
    lib::mem_copy(arp + 22, nic.mac(), 6);
    lib::mem_copy(arp + 28, kGuestIp, 4);
    lib::mem_copy(arp + 38, kGatewayIp, 4);
    if (!exchange(nic, arp, sizeof arp, is_arp_reply_from_gateway, nullptr)) {
        nic.set_receiver(saved, saved_context);
        KT_ASSERT(!"no ARP reply from the gateway");
    }
    uint8_t gateway_mac[6];
    lib::mem_copy(gateway_mac, g_capture.frame + 22, 6);
    KT_EXPECT(lib::mem_compare(g_capture.frame, nic.mac(), 6) == 0); // addressed to us

    // ICMP echo, 300 times, payload 0..1399 bytes cycling; each reply echoes the payload.
    static uint8_t frame[1514];
    uint32_t answered = 0;
    for (uint16_t seq = 0; seq < 300; seq++) {
        size_t payload = (size_t(seq) * 97) % 1400;
        size_t ip_length = 20 + 8 + payload;
        lib::mem_copy(frame, gateway_mac, 6);
        lib::mem_copy(frame + 6, nic.mac(), 6);
        put16(frame + 12, 0x0800);
        uint8_t* ip = frame + 14;
        lib::mem_set(ip, 0, 20);
        ip[0] = 0x45;
        put16(ip + 2, uint16_t(ip_length));
        put16(ip + 4, seq);
        ip[8] = 64;
        ip[9] = 1;
        lib::mem_copy(ip + 12, kGuestIp, 4);
        lib::mem_copy(ip + 16, kGatewayIp, 4);
        put16(ip + 10, checksum(ip, 20));
        uint8_t* icmp = ip + 20;
        icmp[0] = 8;
        icmp[1] = 0;
        put16(icmp + 2, 0);
        put16(icmp + 4, 0x4e42);
        put16(icmp + 6, seq);
        for (size_t i = 0; i < payload; i++)
            icmp[8 + i] = uint8_t(i * 7 + seq);
        put16(icmp + 2, checksum(icmp, 8 + payload));
        EchoKey key{ 0x4e42, seq };
        if (!exchange(nic, frame, 14 + ip_length, is_echo_reply, &key)) {
            log_error("net ktest: no echo reply for sequence %u", seq);
            break;
        }
        const uint8_t* r = g_capture.frame;
        size_t n = g_capture.length;
        if (n < 14 + ip_length) {
            KT_EXPECT(n >= 14 + ip_length);
            break;
        }
        KT_EXPECT_EQ(checksum(r + 14, 20), 0);
        KT_EXPECT_EQ(get16(r + 16), ip_length);
        KT_EXPECT_EQ(checksum(r + 34, 8 + payload), 0);
        KT_EXPECT(lib::mem_compare(r + 42, icmp + 8, payload) == 0);
        answered++;
    }
    KT_EXPECT_EQ(answered, 300);
    KT_EXPECT_EQ(nic.stats().rx_bad_header.load(), 0);
    log_info("net ktest: %u echo replies, %lu frames received, %lu sent", answered, nic.stats().rx_packets.load(),
             nic.stats().tx_packets.load());
    nic.set_receiver(saved, saved_context);
}

// Releases hold_transmit_notifications() however the test ends.
struct NotificationHold {
    explicit NotificationHold(drivers::NetDevice& nic) : nic(nic) { nic.hold_transmit_notifications(true); }
    ~NotificationHold() { release(); }
    void release()
    {
        if (held)
            nic.hold_transmit_notifications(false);
        held = false;
    }
    drivers::NetDevice& nic;
    bool held = true;
};

KTEST(net, virtio_net_full_transmit_ring_waits_then_gives_up)
{
    KT_ASSERT(drivers::net_device_count() >= 1);
    drivers::NetDevice& nic = *drivers::net_device(0);
    // A broadcast of the IEEE's local experimental EtherType: QEMU's user network drops it.
    uint8_t frame[60] = {};
    lib::mem_set(frame, 0xff, 6);
    lib::mem_copy(frame + 6, nic.mac(), 6);
    put16(frame + 12, 0x88b5);
    uint64_t full_before = nic.stats().tx_ring_full.load();
    uint64_t waits_before = nic.stats().tx_ring_waits.load();

    NotificationHold hold(nic);
    // The device may still take what it was told of before the hold; then the ring fills.
    constexpr uint32_t kMaxFrames = 8192; // far more than any transmit ring holds
    uint32_t sent = 0;
    Result<void> last;
    uint64_t failed_after_ns = 0;
    while (sent < kMaxFrames) {
        uint64_t start = core::monotonic_ns();
        last = nic.transmit(frame, sizeof frame, {});
        if (last.is_error()) {
            failed_after_ns = core::monotonic_ns() - start;
            break;
        }
        sent++;
    }
    KT_ASSERT(last.is_error());
    KT_EXPECT_EQ(int(last.error()), int(Errno::NOBUFS));
    KT_EXPECT(sent >= 16);
    // It waited for the device, as long as the driver allows (2 ms), before it gave up.
    KT_EXPECT(failed_after_ns >= 2'000'000);
    KT_EXPECT(failed_after_ns < 1'000'000'000);
    KT_EXPECT(nic.stats().tx_ring_full.load() > full_before);
    KT_EXPECT(nic.stats().tx_ring_waits.load() > waits_before);
    log_info("net ktest: transmit ring full after %u frames; gave up after %lu us", sent, failed_after_ns / 1000);

    // The device hears of the queued frames and sends them: the ring drains, transmit works.
    hold.release();
    uint64_t deadline = core::monotonic_ns() + 5'000'000'000ull;
    while (!nic.transmit_idle() && core::monotonic_ns() < deadline)
        core::sleep_ns(1'000'000);
    KT_EXPECT(nic.transmit_idle());
    KT_EXPECT(!nic.transmit(frame, sizeof frame, {}).is_error());
}

} // namespace
