// The `syscall` entry (syscall.S): its register frame, and the per-CPU MSR set-up.
#pragma once

#include <cstdint>

namespace arch {

// What the entry saves on the thread's kernel stack, lowest address first (the pushes in
// syscall.S in reverse). Handlers may rewrite it: clone builds a child's from its parent's,
// rt_sigreturn restores one from a signal frame, signal delivery redirects rip/rsp.
struct SyscallFrame {
    uint64_t r15, r14, r13, r12, rbp, rbx;
    uint64_t rdi, rsi, rdx, r10, r8, r9; // the arguments in order (lx::Args reads them as an array)
    uint64_t rax;    // the syscall number on entry, the result on return
    uint64_t rflags; // from r11
    uint64_t rip;    // from rcx
    uint64_t rsp;    // the application's stack pointer
};
static_assert(sizeof(SyscallFrame) == 16 * 8);

// xmm0-15 and MXCSR: what a cloned thread inherits from its parent (the rest of the extended
// state starts from its initial value). The system call entry saves none of it: the kernel
// leaves the extended state alone (syscall.S).
struct SyscallSseArea {
    uint8_t xmm[16][16];
    uint32_t mxcsr;
    uint32_t pad[3];
};
static_assert(sizeof(SyscallSseArea) == 272);

// Enables `syscall` on this CPU (EFER.SCE) with the entry point, the kernel selectors and
// the RFLAGS bits to clear on entry (IF, DF, TF, AC, NT). Every CPU calls it once.
void init_syscall();

} // namespace arch

extern "C" {
void arch_syscall_entry();
// Resumes the application from `frame`, with xmm0-15 and MXCSR from the SyscallSseArea just
// below it (16-byte aligned); the stack pointer is set to that area first. For clone's child.
[[noreturn]] void arch_syscall_return_to(arch::SyscallFrame* frame);
// Stores the live xmm0-15 and MXCSR (16-byte aligned area).
void arch_save_sse(arch::SyscallSseArea* area);
[[noreturn]] void arch_enter_app(uint64_t rip, uint64_t rsp);
// Resumes from `frame` with every register exact, rcx and r11 from the arguments (IRETQ).
[[noreturn]] void arch_syscall_return_exact(arch::SyscallFrame* frame, uint64_t rcx, uint64_t r11);
}
