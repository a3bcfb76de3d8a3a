// Device drivers: the buses (PCI, virtio-mmio) and the drivers bound to what they find.
#pragma once

#include <boot/options.h>

namespace drivers {

// Finds the machine's devices and starts their drivers. Once, on the boot CPU, after threads,
// interrupts, the other CPUs and RCU are up (drivers start interrupt threads on any CPU) and
// before the application. A device whose driver fails is reported and left alone; the boot
// goes on.
void init_devices(const boot::CommandLine& command_line);

} // namespace drivers
