// Ending the virtual machine with a status the runner can read.
#pragma once

#include <boot/acpi.h>

namespace arch {

// The documented status of a kernel panic (see docs/runner.md).
inline constexpr int kPanicStatus = 120;

// Reports `status` (0..255) and powers the VM off. Order: the status line on COM2 and the
// isa-debug-exit port (QEMU), then ACPI soft-off (S5, if set_acpi_poweroff() was given a
// method), then a reset (the ACPI reset register, PCI 0xcf9, the keyboard controller), then a
// triple fault.
[[noreturn]] void exit_vm(int status);

// Same, reporting a kernel panic.
[[noreturn]] void exit_vm_panic();

// Records how to power off through ACPI (see boot::acpi_poweroff()). Registers in system
// memory space must already be mapped writable in the direct map at kDirectMap + address:
// core::init_acpi() does that (uncached, unless the page was already mapped as RAM). Call at boot, before other CPUs run;
// the values are copied.
void set_acpi_poweroff(const boot::AcpiPowerOff& poweroff);

} // namespace arch
