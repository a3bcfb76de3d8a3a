// FPU and extended-state (XSAVE) initialisation.
#pragma once

#include <cstdint>

namespace arch {

// Enables XSAVE (or falls back to FXSAVE) and records the save-area size traps.S uses.
void init_fpu();
// The same on another CPU, after init_fpu() ran on the boot CPU.
void init_fpu_secondary();
uint64_t xsave_mask();
// An extended-state area (64-byte aligned, xsave_area_size() bytes): the initial state a
// new program starts with, and XSAVE/XRSTOR (FXSAVE/FXRSTOR without XSAVE) of this CPU's
// state into / from it.
void init_extended_state(void* area);
void save_extended_state(void* area);
void restore_extended_state(const void* area);
uint64_t xsave_area_size();

} // namespace arch
