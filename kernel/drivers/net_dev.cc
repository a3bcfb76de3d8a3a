// The NIC registry (net_dev.h).
#include <core/console.h>
#include <drivers/net_dev.h>

namespace drivers {
namespace {

NetDevice* g_devices[kMaxNetDevices];
size_t g_count;

} // namespace

void NetDevice::deliver(const ReceivedFrame& frame)
{
    FrameReceiver receiver = m_receiver.load(std::memory_order_acquire);
    if (!receiver) {
        m_stats.rx_no_receiver.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    m_stats.rx_packets.fetch_add(1, std::memory_order_relaxed);
    m_stats.rx_bytes.fetch_add(frame.length, std::memory_order_relaxed);
    if (frame.queue < kMaxNetQueues)
        m_stats.rx_queue_packets[frame.queue].fetch_add(1, std::memory_order_relaxed);
    receiver(m_receiver_context, frame);
}

void NetDevice::end_burst(uint16_t queue)
{
    if (BurstEnd burst_end = m_burst_end.load(std::memory_order_acquire))
        burst_end(m_burst_end_context, queue);
}

Result<void> register_net_device(NetDevice& device, const char* description)
{
    if (g_count == kMaxNetDevices)
        return Errno::BUSY;
    device.m_name[0] = 'e';
    device.m_name[1] = 't';
    device.m_name[2] = 'h';
    device.m_name[3] = char('0' + g_count);
    device.m_name[4] = '\0';
    g_devices[g_count++] = &device;
    const uint8_t* m = device.mac();
    log_info("%s: %02x:%02x:%02x:%02x:%02x:%02x mtu %u link %s, %s", device.name(), m[0], m[1], m[2], m[3], m[4],
             m[5], device.mtu(), device.link_up() ? "up" : "down", description);
    return {};
}

size_t net_device_count() { return g_count; }

NetDevice* net_device(size_t index) { return index < g_count ? g_devices[index] : nullptr; }

} // namespace drivers
