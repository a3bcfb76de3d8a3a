// virtio-net [virtio-v1.2 §5.1]: a NIC for the network stack (drivers/net_dev.h).
#pragma once

#include <drivers/virtio_transport.h>
#include <lib/result.h>

namespace drivers::virtio {

// Binds the network driver to `transport` (a device of type kDeviceNet) and registers the NIC
// (eth0, …). One receive/transmit queue pair; mergeable receive buffers, checksum offload
// both ways where offered, MAC and MTU from the configuration, link status at start.
Result<void> probe_net(Transport& transport);

} // namespace drivers::virtio
