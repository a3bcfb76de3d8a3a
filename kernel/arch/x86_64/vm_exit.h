// Ending the virtual machine with a status the runner can read.
#pragma once

namespace arch {

// The documented status of a kernel panic (see docs/runner.md).
inline constexpr int kPanicStatus = 120;

// Reports `status` (0..255) and powers the VM off. Order: the status line on COM2 and the
// isa-debug-exit port (QEMU), then ACPI/PM poweroff, then a reset, then a triple fault.
[[noreturn]] void exit_vm(int status);

// Same, reporting a kernel panic.
[[noreturn]] void exit_vm_panic();

} // namespace arch
