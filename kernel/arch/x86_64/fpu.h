// FPU and extended-state (XSAVE) initialisation.
#pragma once

#include <cstdint>

namespace arch {

// Enables XSAVE (or falls back to FXSAVE) and records the save-area size traps.S uses.
void init_fpu();
// The same on another CPU, after init_fpu() ran on the boot CPU.
void init_fpu_secondary();
uint64_t xsave_mask();
uint64_t xsave_area_size();

} // namespace arch
