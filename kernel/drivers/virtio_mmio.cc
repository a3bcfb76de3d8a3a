// Virtio over MMIO (virtio_transport.h) [virtio-v1.2 §4.2]: version 2, and version 1 (legacy,
// §4.2.4), as QEMU's microvm and Firecracker present devices announced on the command line.
#include <core/console.h>
#include <core/ioapic.h>
#include <core/memory.h>
#include <drivers/virtio_transport.h>
#include <lib/format.h>
#include <new>

namespace drivers::virtio {
namespace {

constexpr uint32_t kMagic = 0x74726976; // "virt"
constexpr uint16_t kMaxQueues = 64;

// [virtio-v1.2 §4.2.2 table 4.1] Registers (and §4.2.4 for the legacy-only ones). The 64-bit
// queue addresses are a low register and the high one 4 bytes above it.
namespace reg {
constexpr uint32_t kMagicValue = 0x000, kVersion = 0x004, kDeviceId = 0x008, kDeviceFeatures = 0x010,
                   kDeviceFeaturesSel = 0x014, kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024,
                   kGuestPageSize = 0x028, kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038,
                   kQueueAlign = 0x03c, kQueuePfn = 0x040, kQueueReady = 0x044, kQueueNotify = 0x050,
                   kInterruptStatus = 0x060, kInterruptAck = 0x064, kStatus = 0x070, kQueueDescLow = 0x080,
                   kQueueDriverLow = 0x090, kQueueDeviceLow = 0x0a0, kConfigGeneration = 0x0fc, kConfig = 0x100;
} // namespace reg

class MmioTransport final : public Transport {
public:
    MmioTransport(const boot::VirtioMmioDevice& device, volatile uint8_t* base, uint32_t version, uint32_t type)
        : m_device(device), m_base(base)
    {
        m_device_type = type;
        m_legacy = version == 1;
        lib::format_to(m_name, sizeof m_name, "virtio-mmio%s %#lx", m_legacy ? " legacy" : "", device.base);
    }

    uint16_t queue_count() override { return count_queues_by_probing(kMaxQueues); }

    uint16_t queue_max_size(uint16_t queue) override
    {
        write32(reg::kQueueSel, queue);
        uint32_t max = read32(reg::kQueueNumMax);
        return max > 32768 ? 32768 : uint16_t(max); // the largest size a split queue may have
    }

    Result<void> enable_queue(uint16_t queue, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) override
    {
        uint16_t max = queue_max_size(queue);
        if (max == 0 || size == 0 || size > max || (size & (size - 1)))
            return Errno::INVAL;
        write32(reg::kQueueSel, queue);
        if (m_legacy) {
            // [§4.2.4] One contiguous area: desc page-aligned, used at the next kQueueAlign.
            uint64_t expected_used =
                (avail + 6 + 2 * uint64_t(size) + kLegacyQueueAlign - 1) & ~(kLegacyQueueAlign - 1);
            if ((desc & (kLegacyQueueAlign - 1)) || avail != desc + 16 * uint64_t(size) || used != expected_used ||
                (desc >> 12) > 0xffffffffull)
                return Errno::INVAL;
            if (read32(reg::kQueuePfn) != 0)
                return Errno::BUSY; // already in use
            write32(reg::kQueueNum, size);
            write32(reg::kQueueAlign, uint32_t(kLegacyQueueAlign));
            write32(reg::kQueuePfn, uint32_t(desc >> 12));
            return {};
        }
        if (read32(reg::kQueueReady) != 0)
            return Errno::BUSY;
        write32(reg::kQueueNum, size);
        write64(reg::kQueueDescLow, desc);
        write64(reg::kQueueDriverLow, avail);
        write64(reg::kQueueDeviceLow, used);
        write32(reg::kQueueReady, 1);
        return {};
    }

    void notify(uint16_t queue) override { write32(reg::kQueueNotify, queue); }


protected:
    uint8_t status() override { return uint8_t(read32(reg::kStatus)); }
    void set_status(uint8_t status) override
    {
        write32(reg::kStatus, status);
        if (status == 0 && m_legacy)
            write32(reg::kGuestPageSize, uint32_t(kLegacyQueueAlign)); // [§4.2.4] before any queue
    }
    uint64_t device_features() override
    {
        uint64_t features = 0;
        for (uint32_t word = 0; word < (m_legacy ? 1u : 2u); ++word) {
            write32(reg::kDeviceFeaturesSel, word);
            features |= uint64_t(read32(reg::kDeviceFeatures)) << (32 * word);
        }
        return features;
    }
    void set_driver_features(uint64_t features) override
    {
        for (uint32_t word = 0; word < (m_legacy ? 1u : 2u); ++word) {
            write32(reg::kDriverFeaturesSel, word);
            write32(reg::kDriverFeatures, uint32_t(features >> (32 * word)));
        }
    }
    uint32_t config_generation() override { return m_legacy ? 0 : read32(reg::kConfigGeneration); }
    uint32_t config_size() override { return m_device.size > reg::kConfig ? uint32_t(m_device.size - reg::kConfig) : 0; }
    uint32_t raw_config(uint32_t offset, unsigned size) override
    {
        volatile uint8_t* p = m_base + reg::kConfig + offset;
        switch (size) {
        case 1: return *p;
        case 2: return *reinterpret_cast<volatile uint16_t*>(p);
        default: return *reinterpret_cast<volatile uint32_t*>(p);
        }
    }

    Result<void> attach_interrupts(uint16_t) override
    {
        // One line for the whole device, level-triggered (the device holds it until the driver
        // acknowledges) and active high.
        core::GsiRoute route{ m_device.irq, core::Trigger::Level, core::Polarity::ActiveHigh };
        auto thread =
            TRY(core::InterruptThread::create_for_gsi("virtio-mmio", route, { ack_shared, work_all }, this, 0));
        return add_thread(thread);
    }

    bool acknowledge_shared() override
    {
        uint32_t pending = read32(reg::kInterruptStatus);
        if (pending == 0)
            return false;
        write32(reg::kInterruptAck, pending);
        return true;
    }

private:
    uint32_t read32(uint32_t offset) { return *reinterpret_cast<volatile uint32_t*>(m_base + offset); }
    void write32(uint32_t offset, uint32_t value) { *reinterpret_cast<volatile uint32_t*>(m_base + offset) = value; }
    void write64(uint32_t low, uint64_t value)
    {
        write32(low, uint32_t(value));
        write32(low + 4, uint32_t(value >> 32));
    }

    boot::VirtioMmioDevice m_device;
    volatile uint8_t* m_base;
};

} // namespace

Result<Transport*> create_mmio_transport(const boot::VirtioMmioDevice& device)
{
    if (device.size < reg::kConfig || device.base & 3 || device.base >= core::phys_addr_limit())
        return Errno::INVAL;
    auto* base = static_cast<volatile uint8_t*>(core::map_mmio(device.base, device.size));
    if (!base)
        return Errno::NOMEM;
    uint32_t magic = *reinterpret_cast<volatile uint32_t*>(base + reg::kMagicValue);
    uint32_t version = *reinterpret_cast<volatile uint32_t*>(base + reg::kVersion);
    uint32_t type = *reinterpret_cast<volatile uint32_t*>(base + reg::kDeviceId);
    if (magic != kMagic)
        return Errno::NOENT;
    if (version != 1 && version != 2)
        return Errno::NOTSUP;
    if (type == 0) // [§4.2.2] an empty slot
        return Errno::NOENT;
    auto* t = new (std::nothrow) MmioTransport(device, base, version, type);
    if (!t)
        return Errno::NOMEM;
    return static_cast<Transport*>(t);
}

} // namespace drivers::virtio
