// Device discovery and driver start-up (drivers.h).
#include <core/console.h>
#include <drivers/drivers.h>
#include <drivers/pci_host.h>
#include <drivers/virtio_blk.h>
#include <drivers/virtio_net.h>
#include <drivers/virtio_rng.h>
#include <drivers/virtio_transport.h>

namespace drivers {
namespace {

// The virtio drivers, by device type.
struct VirtioDriver {
    uint32_t device_type;
    const char* name;
    Result<void> (*probe)(virtio::Transport& transport);
};

constexpr VirtioDriver kVirtioDrivers[] = {
    { virtio::kDeviceNet, "network", virtio::probe_net },
    { virtio::kDeviceBlock, "block", virtio::probe_block },
    { virtio::kDeviceEntropy, "entropy", virtio::probe_entropy },
};

void bind_virtio(virtio::Transport* transport)
{
    for (const VirtioDriver& driver : kVirtioDrivers) {
        if (driver.device_type == transport->device_type()) {
            if (auto probed = driver.probe(*transport); probed.is_error()) {
                log_warn("%s: %s driver failed: %s", transport->name(), driver.name, lib::errno_name(probed.error()));
                transport->shut_down();
            }
            return;
        }
    }
    log_info("%s: virtio device type %u: no driver", transport->name(), transport->device_type());
}

void probe_virtio_pci(const pci::Device& device, void*)
{
    auto transport = virtio::create_pci_transport(device);
    if (transport.is_error()) {
        log_warn("virtio-pci %02x:%02x.%u: unusable (%s)", device.address.bus, device.address.device,
                 device.address.function, lib::errno_name(transport.error()));
        return;
    }
    bind_virtio(transport.value());
}

} // namespace

void init_devices(const boot::CommandLine& command_line)
{
    init_pci(command_line.options.pci_list);
    for_each_pci_device(0x1af4, 0x1000, 0x107f, probe_virtio_pci, nullptr);
    for (size_t i = 0; i < command_line.mmio_device_count; ++i) {
        const boot::VirtioMmioDevice& d = command_line.mmio_devices[i];
        auto transport = virtio::create_mmio_transport(d);
        if (transport.is_error()) {
            if (transport.error() != Errno::NOENT)
                log_warn("virtio-mmio %#lx: unusable (%s)", d.base, lib::errno_name(transport.error()));
            continue;
        }
        bind_virtio(transport.value());
    }
}

} // namespace drivers
