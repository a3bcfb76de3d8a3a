// Virtio transports: how a driver reaches a virtio device, whatever carries it — PCI with the
// virtio 1.x capabilities ("modern"), legacy PCI (virtio 0.9.5, an I/O BAR), or virtio-mmio
// (version 2, and version 1 "legacy" as QEMU may present it). A driver sees one interface:
// feature negotiation, the status state machine, queues, notifications, config space and
// interrupts delivered to per-queue threads.
//
// The initialisation sequence [virtio-v1.2 §3.1.1] a driver follows:
//
//   uint64_t features = TRY(t.negotiate(kWanted));      // reset, ACKNOWLEDGE, DRIVER, features,
//                                                       // FEATURES_OK (checked)
//   TRY(t.start_interrupts(queues, &Driver::on_queue, this));
//   for each queue q: allocate its ring, TRY(t.enable_queue(q, size, desc, avail, used));
//   t.driver_ok();                                      // the device is live
//   ... t.notify(q) after publishing buffers ...
//   on any failure after negotiate(): t.fail() (status FAILED) and give up the device.
//
// Interrupts (osv-design.md §4): the handler only acknowledges the device (a read of the ISR /
// interrupt-status register where the line is shared; nothing for a per-queue MSI-X vector)
// and wakes the queue's interrupt thread, which calls the driver's `work(driver, queue)`;
// the driver processes completions there and may block. With MSI-X each queue has its own
// vector and thread, on CPU queue % cpu_count(); otherwise one thread serves every queue.
//
// Everything a device says is device input: config space is read with generation checks and
// bounded retries, sizes and offsets of capabilities are checked against their BARs, and a
// device that misbehaves gets FAILED and an error — never a panic.
//
// Spec: [virtio-v1.2] Virtual I/O Device (VIRTIO) Version 1.2, §2 (basic facilities), §3.1
// (initialisation), §4.1 (PCI, and §4.1.5 legacy), §4.2 (MMIO, and §4.2.4 legacy).
#pragma once

#include <boot/options.h>
#include <core/irq_thread.h>
#include <lib/result.h>
#include <new>
#include <pci/pci.h>
#include <stddef.h>
#include <stdint.h>

namespace drivers::virtio {

// [virtio-v1.2 §2.1] Device status bits.
constexpr uint8_t kStatusAcknowledge = 1;
constexpr uint8_t kStatusDriver = 2;
constexpr uint8_t kStatusDriverOk = 4;
constexpr uint8_t kStatusFeaturesOk = 8;
constexpr uint8_t kStatusFailed = 128;

// [virtio-v1.2 §6] Reserved feature bits the transports and queues handle.
constexpr uint64_t kFeatureIndirectDesc = 1ull << 28;
constexpr uint64_t kFeatureEventIdx = 1ull << 29;
constexpr uint64_t kFeatureVersion1 = 1ull << 32;

// [virtio-v1.2 §5] Device types.
constexpr uint32_t kDeviceNet = 1;
constexpr uint32_t kDeviceBlock = 2;
constexpr uint32_t kDeviceEntropy = 4;

// The driver's per-queue interrupt work (thread context; may block).
using QueueWork = void (*)(void* driver, uint16_t queue);
// Which CPU a queue's interrupt thread (and MSI-X vector) should be on, taken modulo the CPU
// count: a multiqueue NIC puts receive and transmit queue k on CPU k.
using QueueCpu = unsigned (*)(uint16_t queue);

class Transport {
public:
    virtual ~Transport() = default;

    // "virtio-pci 0000:00:03.0", "virtio-mmio 0xfeb00000": for log lines.
    const char* name() const { return m_name; }
    uint32_t device_type() const { return m_device_type; }
    // Legacy transports (virtio 0.9.5 PCI, virtio-mmio version 1) place a queue's three parts
    // contiguously: the descriptor table page-aligned, the available ring right after it and
    // the used ring at the next 4 KiB boundary (kLegacyQueueAlign). enable_queue() checks it.
    bool is_legacy() const { return m_legacy; }
    static constexpr uint64_t kLegacyQueueAlign = 4096;

    // Resets the device and negotiates: offers `wanted` & what the device offers (modern
    // transports always take VERSION_1 and require the device to offer it), sets FEATURES_OK and
    // checks the device kept it. Returns the negotiated features. NOTSUP: the device refused
    // them or is modern-only on a legacy-only path; IO: the device does not reset.
    Result<uint64_t> negotiate(uint64_t wanted);
    // How many queues the device has (legacy: probed by queue_max_size until 0), and a queue's
    // largest size (0: the queue does not exist).
    virtual uint16_t queue_count() = 0;
    virtual uint16_t queue_max_size(uint16_t queue) = 0;

    // Interrupts for queues [0, queues): see the header comment. Before enable_queue().
    // `cpu_of` places per-queue threads (default: queue % cpu_count()).
    // BUSY: no vectors; NOENT: the device has no interrupt the kernel can route.
    Result<void> start_interrupts(uint16_t queues, QueueWork work, void* driver, QueueCpu cpu_of = nullptr);
    // Tells the device where queue `queue`'s parts are (physical addresses) and enables it.
    // INVAL: a size the device cannot take (above max, not a power of two) or a legacy layout
    // that does not fit the legacy rules.
    virtual Result<void> enable_queue(uint16_t queue, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used) = 0;
    void driver_ok() { set_status(status() | kStatusDriverOk); }
    void fail() { set_status(status() | kStatusFailed); }
    // Resets the device (it stops using every queue) and stops the interrupt threads.
    void shut_down();

    // Tells the device queue `queue` has new buffers.
    virtual void notify(uint16_t queue) = 0;

    // Whether a CPU fence fails to order the driver against the device on this machine, so the
    // queues need device_fence() (SplitQueue::Config::device_fence): QEMU's TCG before 8.1
    // drops the guest's fences when the machine has one vCPU, though its device models run in
    // other host threads — a notification or interrupt is then lost now and then and the queue
    // stalls for good (virtio_transport.cc). Call once the CPUs are up.
    static bool needs_device_fence();
    // A read of the device status register: the hypervisor handles it outside the guest (QEMU
    // under its global lock), which orders the guest's earlier memory accesses before its later
    // ones as the device sees them. `transport` is a Transport*. Thread context.
    static void device_fence(void* transport);

    // Reads the first min(size, config size) bytes of device-specific configuration into `out`
    // as one consistent snapshot (same generation before and after; bounded retries, IO) and
    // returns how many bytes that was. Reads are 4 bytes wide where they fit, then bytes.
    Result<size_t> read_config_bytes(void* out, size_t size);

protected:
    virtual uint8_t status() = 0;
    virtual void set_status(uint8_t status) = 0;
    virtual uint64_t device_features() = 0;
    virtual void set_driver_features(uint64_t features) = 0;
    virtual uint32_t config_generation() = 0;
    virtual uint32_t config_size() = 0;
    // One naturally aligned access of `size` (1, 2 or 4) bytes of device-specific configuration.
    virtual uint32_t raw_config(uint32_t offset, unsigned size) = 0;
    // Transports without a queue count (legacy PCI, MMIO): queues exist until the first one
    // whose maximum size reads 0, at most `limit`.
    uint16_t count_queues_by_probing(uint16_t limit);
    // Creates the interrupt threads (m_threads) for `queues` queues.
    virtual Result<void> attach_interrupts(uint16_t queues) = 0;
    // Shared-line transports: acknowledges an interrupt at the device; whether it was its.
    virtual bool acknowledge_shared() { return false; }

    static bool ack_always(void*) { return true; }
    static bool ack_shared(void* self) { return static_cast<Transport*>(self)->acknowledge_shared(); }
    static void work_one(void* slot);
    static void work_all(void* self);
    Result<void> add_thread(core::InterruptThread* thread);

    static constexpr size_t kMaxQueueThreads = 16;
    struct QueueSlot {
        Transport* transport = nullptr;
        uint16_t queue = 0;
    };

    char m_name[40] = {};
    uint32_t m_device_type = 0;
    bool m_legacy = false;
    QueueWork m_work = nullptr;
    QueueCpu m_cpu_of = nullptr;
    void* m_driver = nullptr;
    uint16_t m_queues = 0;
    QueueSlot m_slots[kMaxQueueThreads];
    core::InterruptThread* m_threads[kMaxQueueThreads] = {};
    size_t m_thread_count = 0;
    bool m_per_queue_vectors = false;
};

// Creates the transport for a virtio PCI function (vendor 0x1af4, device 0x1000-0x107f):
// modern when the function has the virtio capabilities, else legacy. NOTSUP: not virtio or
// an unusable layout; NOMEM.
Result<Transport*> create_pci_transport(const pci::Device& device);

// Creates the transport for a virtio-mmio device announced on the command line. NOENT: nothing
// there (no magic value, device id 0: an empty slot); NOTSUP: an unknown version; NOMEM.
Result<Transport*> create_mmio_transport(const boot::VirtioMmioDevice& device);

// Creates a driver object for `transport` and starts it; on failure the device gets FAILED
// and the error is returned. The object is never freed, even then: the transport's interrupt
// threads may already reference it.
template <typename Driver>
Result<Driver*> start_driver(Transport& transport)
{
    auto* driver = new (std::nothrow) Driver(transport);
    if (!driver)
        return Errno::NOMEM;
    if (auto started = driver->start(); started.is_error()) {
        transport.fail();
        return started.error();
    }
    return driver;
}

} // namespace drivers::virtio
