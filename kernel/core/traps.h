// Kernel-side hooks into trap dispatch.
#pragma once

#include <cstdint>

namespace arch {
struct TrapFrame;
}

namespace core {

// Called for every page fault with the faulting address; returns true when the fault was
// resolved (demand paging) and the instruction may be retried, false to report it.
using PageFaultHandler = bool (*)(const arch::TrapFrame& frame, uint64_t address);
void set_page_fault_handler(PageFaultHandler handler);

} // namespace core
