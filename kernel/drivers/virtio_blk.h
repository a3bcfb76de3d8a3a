// virtio-blk [virtio-v1.2 §5.2]: a block::Device over one or more virtqueues.
#pragma once

#include <drivers/virtio_transport.h>
#include <lib/result.h>

namespace drivers::virtio {

// Binds the block driver to `transport` (a device of type kDeviceBlock) and registers the disk
// with the block glue (vda, vdb, ...). Errors leave the device failed and unregistered.
Result<void> probe_block(Transport& transport);

} // namespace drivers::virtio
