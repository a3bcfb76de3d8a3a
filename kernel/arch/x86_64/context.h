// Thread contexts: the switch routine (switch.S) and the initial stack of a new thread.
#pragma once

#include <cstdint>

extern "C" void arch_context_switch(uint64_t* save_rsp, uint64_t new_rsp);
extern "C" void arch_thread_start();

namespace arch {

// Lays out, below `stack_top` (16-byte aligned), the frame arch_context_switch restores for a
// thread that has never run: callee-saved registers with r12 = entry and r13 = arg, default
// MXCSR and x87 control word, and arch_thread_start as the return address. Returns the
// stack pointer to switch to.
inline uint64_t build_initial_stack(uint64_t stack_top, void (*entry)(void*), void* arg)
{
    auto* slot = reinterpret_cast<uint64_t*>(stack_top);
    slot[-1] = uint64_t(&arch_thread_start); // ret lands with rsp == stack_top (aligned)
    slot[-2] = 0;                            // rbp: ends the frame-pointer chain
    slot[-3] = 0;                            // rbx
    slot[-4] = uint64_t(entry);              // r12
    slot[-5] = uint64_t(arg);                // r13
    slot[-6] = 0;                            // r14
    slot[-7] = 0;                            // r15
    // MXCSR (all exceptions masked, round to nearest) in the low half, x87 control word
    // (all exceptions masked, 64-bit precision) in the high half [intel-sdm-1 §10.2.3, §8.1.5].
    slot[-8] = 0x1f80 | (uint64_t(0x037f) << 32);
    return stack_top - 8 * 8;
}

} // namespace arch
