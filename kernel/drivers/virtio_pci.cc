// Virtio over PCI (virtio_transport.h): the modern transport [virtio-v1.2 §4.1.4] through the
// virtio vendor capabilities, and the legacy one [§4.1.5] through I/O BAR 0.
#include <arch/x86_64/cpu.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/memory.h>
#include <drivers/pci_host.h>
#include <drivers/virtio_transport.h>
#include <lib/format.h>
#include <new>

namespace drivers::virtio {
namespace {

constexpr uint16_t kVirtioVendor = 0x1af4;
constexpr uint16_t kFirstDevice = 0x1000, kLastTransitional = 0x103f, kFirstModern = 0x1040, kLastDevice = 0x107f;
constexpr uint16_t kNoVector = 0xffff;
constexpr uint16_t kMaxQueues = 64;

// [virtio-v1.2 §4.1.4] The virtio vendor capability: cfg_type, bar, offset, length.
constexpr uint8_t kCapCommon = 1, kCapNotify = 2, kCapIsr = 3, kCapDevice = 4;

// [virtio-v1.2 §4.1.4.3] struct virtio_pci_common_cfg.
namespace common {
constexpr uint32_t kDeviceFeatureSelect = 0x00, kDeviceFeature = 0x04, kDriverFeatureSelect = 0x08,
                   kDriverFeature = 0x0c, kConfigMsixVector = 0x10, kNumQueues = 0x12, kDeviceStatus = 0x14,
                   kConfigGeneration = 0x15, kQueueSelect = 0x16, kQueueSize = 0x18, kQueueMsixVector = 0x1a,
                   kQueueEnable = 0x1c, kQueueNotifyOff = 0x1e, kQueueDesc = 0x20, kQueueDriver = 0x28,
                   kQueueDevice = 0x30, kSize = 0x38;
} // namespace common

template<typename T>
T mmio_read(volatile uint8_t* base, uint32_t offset)
{
    return *reinterpret_cast<volatile T*>(base + offset);
}
template<typename T>
void mmio_write(volatile uint8_t* base, uint32_t offset, T value)
{
    *reinterpret_cast<volatile T*>(base + offset) = value;
}

struct Region {
    volatile uint8_t* base = nullptr;
    uint32_t length = 0;
};

// What the PCI transports share: the function, MSI-X or INTx wiring.
class PciTransport : public Transport {
protected:
    PciTransport(const pci::Device& device, uint32_t type, bool legacy) : m_device(device)
    {
        m_device_type = type;
        m_legacy = legacy;
        const pci::Address& a = device.address;
        lib::format_to(m_name, sizeof m_name, "virtio-pci%s %04x:%02x:%02x.%u", legacy ? " legacy" : "", a.segment,
                       a.bus, a.device, a.function);
    }

    // MSI-X when the function has it (one vector per queue if there are enough entries, else
    // one for all), INTx otherwise.
    Result<void> attach_interrupts(uint16_t queues) override
    {
        auto msix = MsixTable::open(m_device);
        if (!msix.is_error()) {
            m_msix = msix.value();
            m_per_queue_vectors = m_msix.size() >= queues && queues <= kMaxQueueThreads;
            unsigned threads = m_per_queue_vectors ? queues : 1;
            for (unsigned i = 0; i < threads; ++i) {
                unsigned cpu = (m_cpu_of ? m_cpu_of(uint16_t(i)) : i) % core::cpu_count();
                core::InterruptThread::Ops ops{ ack_always, m_per_queue_vectors ? work_one : work_all };
                void* context = m_per_queue_vectors ? static_cast<void*>(&m_slots[i]) : static_cast<void*>(this);
                auto thread = TRY(core::InterruptThread::create_for_vector("virtio-pci", ops, context, cpu));
                TRY(add_thread(thread));
                TRY(m_msix.route(uint16_t(i), thread->vector(), cpu));
            }
            m_msix.enable();
            m_msix_enabled = true;
            set_config_vector(kNoVector);
            return {};
        }
        auto route = pci_intx_route(m_device);
        if (route.is_error()) {
            log_warn("%s: neither MSI-X nor a routable INTx line", m_name);
            return Errno::NOENT;
        }
        auto thread = TRY(core::InterruptThread::create_for_gsi("virtio-pci", route.value(),
                                                                { ack_shared, work_all }, this, 0));
        return add_thread(thread);
    }

    // The MSI-X entry queue `queue` signals: its own, the shared one, or none (INTx).
    uint16_t queue_vector(uint16_t queue) const
    {
        if (!m_msix_enabled)
            return kNoVector;
        return m_per_queue_vectors ? queue : 0;
    }
    virtual void set_config_vector(uint16_t vector) = 0;

    const pci::Device& m_device;
    MsixTable m_msix;
    bool m_msix_enabled = false;
};

// ---- modern ----

class ModernTransport final : public PciTransport {
public:
    ModernTransport(const pci::Device& device, uint32_t type, Region common, Region notify, uint32_t notify_multiplier, Region isr,
                    Region config, uint32_t* notify_offsets)
        : PciTransport(device, type, false), m_common(common), m_notify(notify), m_notify_multiplier(notify_multiplier), m_isr(isr),
          m_config(config), m_notify_offsets(notify_offsets)
    {
    }

    uint16_t queue_count() override
    {
        uint16_t n = mmio_read<uint16_t>(m_common.base, common::kNumQueues);
        return n > kMaxQueues ? kMaxQueues : n;
    }

    uint16_t queue_max_size(uint16_t queue) override
    {
        if (queue >= queue_count())
            return 0;
        mmio_write<uint16_t>(m_common.base, common::kQueueSelect, queue);
        return mmio_read<uint16_t>(m_common.base, common::kQueueSize);
    }

    Result<void> enable_queue(uint16_t queue, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) override
    {
        uint16_t max = queue_max_size(queue);
        if (max == 0 || size == 0 || size > max || (size & (size - 1)))
            return Errno::INVAL;
        volatile uint8_t* c = m_common.base;
        mmio_write<uint16_t>(c, common::kQueueSelect, queue);
        mmio_write<uint16_t>(c, common::kQueueSize, size);
        uint16_t vector = queue_vector(queue);
        mmio_write<uint16_t>(c, common::kQueueMsixVector, vector);
        if (mmio_read<uint16_t>(c, common::kQueueMsixVector) != vector) {
            log_warn("%s: queue %u: the device cannot use MSI-X entry %u", m_name, queue, vector);
            return Errno::BUSY;
        }
        write64(common::kQueueDesc, desc);
        write64(common::kQueueDriver, avail);
        write64(common::kQueueDevice, used);
        // [virtio-v1.2 §4.1.4.4] The queue's notification address: within the notify region.
        uint64_t offset = uint64_t(mmio_read<uint16_t>(c, common::kQueueNotifyOff)) * m_notify_multiplier;
        if (offset + 2 > m_notify.length) {
            log_warn("%s: queue %u: notification offset %#lx outside the notify region", m_name, queue, offset);
            return Errno::INVAL;
        }
        m_notify_offsets[queue] = uint32_t(offset);
        mmio_write<uint16_t>(c, common::kQueueEnable, 1);
        return {};
    }

    void notify(uint16_t queue) override
    {
        if (queue < kMaxQueues)
            mmio_write<uint16_t>(m_notify.base, m_notify_offsets[queue], queue);
    }


protected:
    uint8_t status() override { return mmio_read<uint8_t>(m_common.base, common::kDeviceStatus); }
    void set_status(uint8_t status) override { mmio_write<uint8_t>(m_common.base, common::kDeviceStatus, status); }
    uint64_t device_features() override
    {
        uint64_t features = 0;
        for (uint32_t word = 0; word < 2; ++word) {
            mmio_write<uint32_t>(m_common.base, common::kDeviceFeatureSelect, word);
            features |= uint64_t(mmio_read<uint32_t>(m_common.base, common::kDeviceFeature)) << (32 * word);
        }
        return features;
    }
    void set_driver_features(uint64_t features) override
    {
        for (uint32_t word = 0; word < 2; ++word) {
            mmio_write<uint32_t>(m_common.base, common::kDriverFeatureSelect, word);
            mmio_write<uint32_t>(m_common.base, common::kDriverFeature, uint32_t(features >> (32 * word)));
        }
    }
    uint32_t config_generation() override { return mmio_read<uint8_t>(m_common.base, common::kConfigGeneration); }
    uint32_t config_size() override { return m_config.length; }
    uint32_t raw_config(uint32_t offset, unsigned size) override
    {
        switch (size) {
        case 1: return mmio_read<uint8_t>(m_config.base, offset);
        case 2: return mmio_read<uint16_t>(m_config.base, offset);
        default: return mmio_read<uint32_t>(m_config.base, offset);
        }
    }
    bool acknowledge_shared() override { return m_isr.base && mmio_read<uint8_t>(m_isr.base, 0) != 0; } // read clears
    void set_config_vector(uint16_t vector) override
    {
        mmio_write<uint16_t>(m_common.base, common::kConfigMsixVector, vector);
    }

private:
    void write64(uint32_t offset, uint64_t value)
    {
        mmio_write<uint32_t>(m_common.base, offset, uint32_t(value));
        mmio_write<uint32_t>(m_common.base, offset + 4, uint32_t(value >> 32));
    }

    Region m_common, m_notify;
    uint32_t m_notify_multiplier;
    Region m_isr, m_config;
    uint32_t* m_notify_offsets; // kMaxQueues entries
};

// Finds the first usable capability of `type` and maps its window. NOENT if none.
Result<Region> map_capability(const pci::Device& device, pci::ConfigAccess& access, uint8_t type, uint32_t min_length,
                              uint32_t* notify_multiplier = nullptr)
{
    for (size_t i = 0; i < device.capability_count; ++i) {
        const pci::Capability& cap = device.capabilities[i];
        if (cap.id != pci::kCapVendor || cap.offset > 0xf0)
            continue;
        if (access.read8(device.address, uint16_t(cap.offset + 3)) != type)
            continue;
        uint8_t bar = access.read8(device.address, uint16_t(cap.offset + 4));
        uint32_t offset = access.read32(device.address, uint16_t(cap.offset + 8));
        uint32_t length = access.read32(device.address, uint16_t(cap.offset + 12));
        if (bar >= 6 || !device.bars[bar].is_memory() || length < min_length ||
            uint64_t(offset) + length > device.bars[bar].size)
            continue; // [virtio-v1.2 §4.1.4.1] a driver skips capabilities it cannot use
        if (notify_multiplier) {
            if (cap.offset > 0xec)
                continue;
            *notify_multiplier = access.read32(device.address, uint16_t(cap.offset + 16));
        }
        volatile uint8_t* base = pci_map_bar(device, bar);
        if (!base)
            return Errno::NOMEM;
        return Region{ base + offset, length };
    }
    return Errno::NOENT;
}

Result<Transport*> create_modern(const pci::Device& device, uint32_t type)
{
    pci::ConfigAccess* access = pci_config(device.address);
    if (!access)
        return Errno::NOTSUP;
    auto common_region = map_capability(device, *access, kCapCommon, common::kSize);
    if (common_region.is_error())
        return common_region.error();
    uint32_t multiplier = 0;
    Region notify = TRY(map_capability(device, *access, kCapNotify, 2, &multiplier));
    Region isr = TRY(map_capability(device, *access, kCapIsr, 1));
    auto config = map_capability(device, *access, kCapDevice, 1); // optional: some devices have none
    auto* offsets = static_cast<uint32_t*>(core::kmalloc(sizeof(uint32_t) * kMaxQueues));
    if (!offsets)
        return Errno::NOMEM;
    auto* t = new (std::nothrow) ModernTransport(device, type, common_region.value(), notify, multiplier, isr,
                                                 !config.is_error() ? config.value() : Region{}, offsets);
    if (!t) {
        core::kfree(offsets);
        return Errno::NOMEM;
    }
    return static_cast<Transport*>(t);
}

// ---- legacy (virtio 0.9.5) ----

// [virtio-v1.2 §4.1.4.10 (legacy interface)] The I/O BAR's registers.
namespace legacy {
constexpr uint16_t kDeviceFeatures = 0x00, kDriverFeatures = 0x04, kQueueAddress = 0x08, kQueueSize = 0x0c,
                   kQueueSelect = 0x0e, kQueueNotify = 0x10, kDeviceStatus = 0x12, kIsrStatus = 0x13,
                   kConfigVector = 0x14, kQueueVector = 0x16, kConfigWithoutMsix = 0x14, kConfigWithMsix = 0x18;
} // namespace legacy

class LegacyTransport final : public PciTransport {
public:
    LegacyTransport(const pci::Device& device, uint32_t type, uint16_t port, uint32_t io_size)
        : PciTransport(device, type, true), m_port(port), m_io_size(io_size)
    {
    }

    uint16_t queue_count() override { return count_queues_by_probing(kMaxQueues); }

    uint16_t queue_max_size(uint16_t queue) override
    {
        arch::outw(uint16_t(m_port + legacy::kQueueSelect), queue);
        return arch::inw(uint16_t(m_port + legacy::kQueueSize));
    }

    Result<void> enable_queue(uint16_t queue, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) override
    {
        // The legacy device's queue size is fixed, and it derives avail and used from desc.
        uint16_t max = queue_max_size(queue);
        uint64_t expected_used = (avail + 6 + 2 * uint64_t(size) + kLegacyQueueAlign - 1) & ~(kLegacyQueueAlign - 1);
        if (max == 0 || size != max || (desc & (kLegacyQueueAlign - 1)) || avail != desc + 16 * uint64_t(size) ||
            used != expected_used || (desc >> 12) > 0xffffffffull)
            return Errno::INVAL;
        if (m_msix_enabled) {
            uint16_t vector = queue_vector(queue);
            arch::outw(uint16_t(m_port + legacy::kQueueVector), vector);
            if (arch::inw(uint16_t(m_port + legacy::kQueueVector)) != vector)
                return Errno::BUSY;
        }
        arch::outl(uint16_t(m_port + legacy::kQueueAddress), uint32_t(desc >> 12));
        return {};
    }

    void notify(uint16_t queue) override { arch::outw(uint16_t(m_port + legacy::kQueueNotify), queue); }


protected:
    uint8_t status() override { return arch::inb(uint16_t(m_port + legacy::kDeviceStatus)); }
    void set_status(uint8_t status) override { arch::outb(uint16_t(m_port + legacy::kDeviceStatus), status); }
    uint64_t device_features() override { return arch::inl(uint16_t(m_port + legacy::kDeviceFeatures)); }
    void set_driver_features(uint64_t features) override
    {
        arch::outl(uint16_t(m_port + legacy::kDriverFeatures), uint32_t(features));
    }
    uint32_t config_generation() override { return 0; } // legacy has none
    uint32_t config_size() override { return m_io_size > config_base() ? m_io_size - config_base() : 0; }
    uint32_t raw_config(uint32_t offset, unsigned size) override
    {
        uint16_t port = uint16_t(m_port + config_base() + offset);
        switch (size) {
        case 1: return arch::inb(port);
        case 2: return arch::inw(port);
        default: return arch::inl(port);
        }
    }
    bool acknowledge_shared() override { return arch::inb(uint16_t(m_port + legacy::kIsrStatus)) != 0; }
    void set_config_vector(uint16_t vector) override { arch::outw(uint16_t(m_port + legacy::kConfigVector), vector); }

private:
    uint32_t config_base() const { return m_msix_enabled ? legacy::kConfigWithMsix : legacy::kConfigWithoutMsix; }

    uint16_t m_port;
    uint32_t m_io_size;
};

Result<Transport*> create_legacy(const pci::Device& device, uint32_t type)
{
    const pci::Bar& bar = device.bars[0];
    if (bar.kind != pci::Bar::Kind::Io || bar.size < legacy::kConfigWithMsix || bar.base == 0 ||
        bar.base + bar.size > 0x10000)
        return Errno::NOTSUP;
    auto* t = new (std::nothrow) LegacyTransport(device, type, uint16_t(bar.base), uint32_t(bar.size));
    if (!t)
        return Errno::NOMEM;
    return static_cast<Transport*>(t);
}

} // namespace

Result<Transport*> create_pci_transport(const pci::Device& device)
{
    if (device.vendor_id != kVirtioVendor || device.device_id < kFirstDevice || device.device_id > kLastDevice)
        return Errno::NOTSUP;
    // [virtio-v1.2 §4.1.2] Modern ids are 0x1040 + type; transitional ones carry the type in
    // the subsystem id.
    uint32_t type = device.device_id >= kFirstModern ? device.device_id - kFirstModern : device.subsystem_id;
    pci_set_command(device, pci::kCommandBusMaster | pci::kCommandMemory | pci::kCommandIo, 0);
    auto modern = create_modern(device, type);
    if (!modern.is_error() || device.device_id > kLastTransitional)
        return modern;
    return create_legacy(device, type);
}

} // namespace drivers::virtio
