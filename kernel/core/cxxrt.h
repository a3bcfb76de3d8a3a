// C++ runtime start-up for the kernel.
#pragma once

#include <cstdint>

namespace core {

// Runs the constructors of global objects (.init_array), once, early in kernel_main.
void run_global_constructors();

} // namespace core
