// Kernel panic: report, backtrace, end the VM with the panic status. For kernel bugs only;
// nothing an application, the network, a disk image or the command line can cause may panic.
#pragma once

#include <cstdint>

namespace arch {
struct TrapFrame;
}

namespace core {

[[noreturn]] void panic(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// An unexpected exception: vector, error code, CR2, registers and a symbolised backtrace
// that starts at the faulting instruction. `what` adds a diagnosis (e.g. "stack overflow").
[[noreturn]] void panic_trap(const arch::TrapFrame& frame, const char* what);

// Whether a panic is being reported (another CPU's NMI handler then halts its CPU).
bool panic_in_progress();

// Prints a symbolised backtrace following the frame-pointer chain from (rip, rbp).
void print_backtrace(uint64_t rip, uint64_t rbp);

} // namespace core
