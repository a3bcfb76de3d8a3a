// Boot-time stamps: a TSC reading at the first instruction (boot.S) and at the end of each
// init stage, printed as a breakdown with the boot option `boot.times`.
#pragma once

#include <cstdint>

namespace core {

// Records the end of a stage. `name` must be a string literal.
void boot_stamp(const char* name);

// TSC ticks from the first instruction to the latest stamp.
uint64_t boot_ticks();

// Prints the breakdown (ticks, and microseconds when the TSC frequency is known).
void print_boot_times();

} // namespace core
