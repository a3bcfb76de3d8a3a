// Trap dispatch: exceptions go to their handler (page faults to mm) or end in a diagnosed
// panic; device interrupt vectors are reserved for the interrupt-thread API (SMP issue).
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/trap_frame.h>
#include <arch/x86_64/uaccess.h>
#include <core/console.h>
#include <core/irq.h>
#include <core/memory.h>
#include <core/panic.h>
#include <core/traps.h>

namespace arch {

const char* vector_name(uint64_t vector)
{
    static const char* const kNames[] = {
        "divide error", "debug", "NMI", "breakpoint", "overflow", "bound range exceeded",
        "invalid opcode", "device not available", "double fault", "coprocessor segment overrun",
        "invalid TSS", "segment not present", "stack fault", "general protection fault",
        "page fault", "reserved", "x87 floating-point error", "alignment check", "machine check",
        "SIMD floating-point error", "virtualization exception", "control protection",
    };
    if (vector < sizeof(kNames) / sizeof(kNames[0]))
        return kNames[vector];
    return vector < kFirstIrqVector ? "reserved exception" : "interrupt";
}

extern "C" const uint64_t g_uaccess_fixups[], g_uaccess_fixups_end[];

uint64_t uaccess_fixup(uint64_t rip)
{
    for (const uint64_t* e = g_uaccess_fixups; e < g_uaccess_fixups_end; e += 2)
        if (e[0] == rip)
            return e[1];
    return 0;
}

} // namespace arch

namespace core {
namespace {

PageFaultHandler g_page_fault_handler = nullptr;
AppFaultHandler g_app_fault_handler = nullptr;
AppReturnHook g_app_return_hook = nullptr;

bool is_app_address(uint64_t address) { return address < (uint64_t(1) << 47); }

const char* diagnose_page_fault(const arch::TrapFrame& f, uint64_t cr2)
{
    for (int slot = 0; slot < arch::kNumStacks; ++slot) {
        uint64_t guard = arch::stack_guard_page(slot);
        if (cr2 >= guard && cr2 < guard + 0x1000)
            return "stack overflow (guard page hit)";
    }
    if (core::is_vmap_guard(cr2))
        return "stack overflow or heap-block overrun (vmap guard hit)";
    if (f.error_code & arch::kPfReservedBit)
        return "reserved bit set in a page-table entry (a kernel page-table bug)";
    if (!(f.error_code & arch::kPfPresent) && cr2 < 0x10000)
        return "null pointer dereference";
    if ((f.error_code & arch::kPfPresent) && (f.error_code & arch::kPfInstructionFetch))
        return "instruction fetch from non-executable memory";
    if ((f.error_code & arch::kPfPresent) && (f.error_code & arch::kPfWrite))
        return "write to read-only memory";
    if (!(f.error_code & arch::kPfPresent))
        return "access to unmapped memory";
    return nullptr;
}

} // namespace

void set_page_fault_handler(PageFaultHandler handler) { g_page_fault_handler = handler; }
void set_app_fault_handler(AppFaultHandler handler) { g_app_fault_handler = handler; }
void set_app_return_hook(AppReturnHook hook) { g_app_return_hook = hook; }

} // namespace core

namespace {
void dispatch(arch::TrapFrame* frame, void* extended_state);
}

extern "C" void trap_dispatch(arch::TrapFrame* frame, void* extended_state)
{
    dispatch(frame, extended_state);
    if (core::g_app_return_hook && core::is_app_address(frame->rip) && core::is_app_address(frame->rsp) &&
        frame->vector != arch::kNmi)
        core::g_app_return_hook(*frame, extended_state);
}

namespace {
void dispatch(arch::TrapFrame* frame, void* extended_state)
{
    using namespace arch;
    if (frame->error_code == kSoftwareTrapErrorCode)
        core::panic_trap(*frame, "software interrupt (int $n) to an exception vector");
    switch (frame->vector) {
    case kPageFault: {
        uint64_t cr2 = read_cr2(); // before anything can enable interrupts (another fault)
        if (core::g_page_fault_handler && core::g_page_fault_handler(*frame, cr2))
            return;
        // A user-memory copy that met a page the application does not have: the copy fails.
        if (core::is_app_address(cr2)) {
            if (uint64_t fixup = uaccess_fixup(frame->rip)) {
                frame->rip = fixup;
                return;
            }
        }
        if (core::is_app_address(frame->rip) && core::g_app_fault_handler) {
            core::g_app_fault_handler(*frame, extended_state, cr2);
            return;
        }
        core::panic_trap(*frame, core::diagnose_page_fault(*frame, cr2));
    }
    case kDoubleFault:
        core::panic_trap(*frame, "double fault: an exception occurred while delivering another");
    case kNmi:
        if (core::panic_in_progress())
            halt_forever(); // another CPU is reporting a panic and stopped this one
        log_warn("NMI received");
        return;
    default:
        if (frame->vector < kFirstIrqVector) {
            // An exception in application code becomes a signal (SIGILL, SIGFPE, ...).
            if (core::is_app_address(frame->rip) && core::g_app_fault_handler) {
                core::g_app_fault_handler(*frame, extended_state, 0);
                return;
            }
            core::panic_trap(*frame, nullptr);
        }
        core::dispatch_irq(uint8_t(frame->vector));
        return;
    }
}
} // namespace
