// The layout shared by the vDSO (kernel/vdso/vdso.cc) and the kernel that maps it
// (kernel/lx/vdso.cc): the page right below the vDSO's ELF header — Linux calls it vvar —
// and the per-CPU field the vDSO's getcpu reads.
#pragma once

#include <cstdint>
#include <time/clock_page.h>

namespace vdso {

inline constexpr uint64_t kPageSize = 4096;

// The vvar page, read-only for the application. The clock state itself stays in the kernel
// image (core::clock_page()): everything runs in ring 0 in one address space, so the vDSO
// reads the kernel's page in place and sees each update as the kernel's own readers do —
// no copy to keep in step.
struct Vvar {
    const clk::ClockPage* clock;
};

// %gs points at the running CPU's core::PerCpu while application code runs (the program
// may not change the GS base, docs/linux-abi.md); its `id` field is at this offset
// (static_assert in kernel/lx/vdso.cc).
inline constexpr uint32_t kPerCpuIdOffset = 24;

} // namespace vdso
