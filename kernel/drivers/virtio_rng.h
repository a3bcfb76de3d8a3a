// virtio-rng [virtio-v1.2 §5.4]: a source for the kernel's entropy pool (core/entropy.h).
#pragma once

#include <drivers/virtio_transport.h>
#include <lib/result.h>

namespace drivers::virtio {

// Binds the entropy driver to `transport` (a device of type kDeviceEntropy): a kernel thread
// asks the device for kRequestBytes at once and then every kReseedSeconds, and mixes what it
// gets into the pool, credited fully. A device that does not answer within kAnswerSeconds is
// reported once and asked again next time; the pool never waits for it.
Result<void> probe_entropy(Transport& transport);

} // namespace drivers::virtio
