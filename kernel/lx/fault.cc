// Exceptions raised by application code become signals. TODO(#4): delivery to handlers
// (rt_sigaction, signal frames); until then every such signal takes its default action:
// the application ends with what happened reported and status 128 + signal, as a shell
// shows it.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/trap_frame.h>
#include <core/console.h>
#include <core/thread.h>
#include <core/traps.h>
#include <lx/lx.h>
#include <lx/process.h>
#include <lx/syscall.h>

namespace lx {
using core::kprintf;
namespace {

constexpr int kSigill = 4, kSigtrap = 5, kSigbus = 7, kSigfpe = 8, kSigsegv = 11;

struct SignalInfo {
    int signo;
    const char* name;
    const char* what;
};

SignalInfo classify(const arch::TrapFrame& f)
{
    using namespace arch;
    switch (f.vector) {
    case kDivideError:
        return { kSigfpe, "SIGFPE", "integer divide by zero" };
    case kX87Fault:
    case kSimdFault:
        return { kSigfpe, "SIGFPE", "floating-point exception" };
    case kOverflow:
    case kBoundRange:
    case kGeneralProtection:
    case kStackFault:
    case kSegmentNotPresent:
        return { kSigsegv, "SIGSEGV", "general protection fault" };
    case kInvalidOpcode:
        return { kSigill, "SIGILL", "illegal instruction" };
    case kDebug:
    case kBreakpoint:
        return { kSigtrap, "SIGTRAP", "trace/breakpoint trap" };
    case kAlignmentCheck:
        return { kSigbus, "SIGBUS", "alignment check" };
    case kPageFault:
        if (!(f.error_code & kPfPresent))
            return { kSigsegv, "SIGSEGV", "access to unmapped memory" };
        return { kSigsegv, "SIGSEGV", "access not allowed by the page's protection" };
    default:
        return { kSigsegv, "SIGSEGV", vector_name(f.vector) };
    }
}

void app_fault(arch::TrapFrame& f, uint64_t address)
{
    SignalInfo s = classify(f);
    AppThread* t = static_cast<AppThread*>(core::current_thread()->app_data());
    kprintf("nimbus: application killed by %s (%s) at rip %#lx", s.name, s.what, f.rip);
    if (f.vector == arch::kPageFault)
        kprintf(", address %#lx (%s)", address, f.error_code & arch::kPfWrite ? "write" : (f.error_code & arch::kPfInstructionFetch) ? "execute" : "read");
    kprintf(", thread %d '%s'\n", t ? t->tid : 0, t ? t->comm : core::current_thread()->name());
    kprintf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", f.rax, f.rbx, f.rcx, f.rdx);
    kprintf("  rsi %016lx rdi %016lx rbp %016lx rsp %016lx\n", f.rsi, f.rdi, f.rbp, f.rsp);
    kprintf("  r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n", f.r8, f.r9, f.r10, f.r11);
    kprintf("  r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n", f.r12, f.r13, f.r14, f.r15);
    kprintf("  rflags %016lx error code %#lx\n", f.rflags, f.error_code);
    asm volatile("sti" ::: "memory");
    exit_application(128 + s.signo);
}

} // namespace

void init(bool strace)
{
    set_strace(strace);
    core::set_app_fault_handler(&app_fault);
}

} // namespace lx
