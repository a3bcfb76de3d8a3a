// Kernel-side hooks into trap dispatch.
#pragma once

#include <cstdint>

namespace arch {
struct TrapFrame;
}

namespace core {

// Called for every page fault with the faulting address; returns true when the fault was
// resolved (demand paging) and the instruction may be retried, false to report it (it may
// then mark the frame's error code with arch::kPfSoftBusError).
using PageFaultHandler = bool (*)(arch::TrapFrame& frame, uint64_t address);
void set_page_fault_handler(PageFaultHandler handler);

// Called for an exception raised by application code (RIP in the lower half) that the
// kernel did not resolve: a page fault demand paging could not satisfy (address = CR2), or
// any other exception (address 0). Runs on the thread's kernel stack with interrupts off; it
// may enable them and block. It turns the fault into a signal, or ends the application; if
// it returns, the (possibly rewritten) frame is resumed.
using AppFaultHandler = void (*)(arch::TrapFrame& frame, void* extended_state, uint64_t address);
void set_app_fault_handler(AppFaultHandler handler);

// Called whenever an interrupt or exception is about to return to application code (RIP
// and RSP in the lower half), on the thread's kernel stack with interrupts off, with the
// frame and the XSAVE image traps.S saved (what the return restores). It may rewrite both
// (signal delivery) and may enable interrupts and block.
using AppReturnHook = void (*)(arch::TrapFrame& frame, void* extended_state);
void set_app_return_hook(AppReturnHook hook);

} // namespace core
