// Exception and interrupt entry. Every vector arrives on an IST stack (see descriptors.cc): kernel
// and application code both run in ring 0 and use the 128-byte red zone, so nothing may be
// pushed onto the interrupted stack. The entry saves the general registers and the full
// extended (x87/SSE/AVX) state, because the interrupted code can be anywhere, calls
// trap_dispatch(TrapFrame*), and restores everything on the way out.
#include "layout.h"

#define PERCPU_KERNEL_STACK_TOP 8 // core::PerCpu::kernel_stack_top

        .text
        .p2align 4
trap_common:
        pushq %rax
        pushq %rbx
        pushq %rcx
        pushq %rdx
        pushq %rsi
        pushq %rdi
        pushq %rbp
        pushq %r8
        pushq %r9
        pushq %r10
        pushq %r11
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        cld
        movq %rsp, %rbx                    // rbx: TrapFrame*, callee-saved across the call

        // A device interrupt in kernel code (on a kernel stack) leaves the extended state in
        // the registers: the kernel never uses it, and a thread switch in the handler saves
        // an application thread's own (thread.cc). r12 (callee-saved) remembers the choice.
        xorl %r12d, %r12d
        cmpq $32, 15*8(%rbx)               // vector
        jb 5f
        btq $63, 20*8(%rbx)                // interrupted RSP
        jnc 5f
        andq $-16, %rsp
        xorl %esi, %esi                    // no extended state
        jmp 6f
5:      movl $1, %r12d
        // Extended state below the frame, 64-byte aligned; the XSAVE header must be zero
        // before XSAVE (XRSTOR faults on a dirty header) [intel-sdm-1 §13.4.2].
        subq g_xsave_area_size(%rip), %rsp
        andq $-64, %rsp
        cmpb $0, g_use_xsave(%rip)
        je 1f
        xorl %eax, %eax
        movq %rax, 512(%rsp)
        movq %rax, 520(%rsp)
        movq %rax, 528(%rsp)
        movq %rax, 536(%rsp)
        movq %rax, 544(%rsp)
        movq %rax, 552(%rsp)
        movq %rax, 560(%rsp)
        movq %rax, 568(%rsp)
        movl g_xsave_mask(%rip), %eax
        movl g_xsave_mask+4(%rip), %edx
        xsave64 (%rsp)
        jmp 2f
1:      fxsave64 (%rsp)
2:
        movq %rsp, %rsi
6:      movq %rbx, %rdi
        // A frame record so that backtraces run from the handler into the interrupted code.
        pushq 17*8(%rbx)                   // interrupted rip
        pushq 8*8(%rbx)                    // interrupted rbp
        movq %rsp, %rbp
        call trap_dispatch
        addq $16, %rsp

        testl %r12d, %r12d
        jz 4f
        cmpb $0, g_use_xsave(%rip)
        je 3f
        movl g_xsave_mask(%rip), %eax
        movl g_xsave_mask+4(%rip), %edx
        xrstor64 (%rsp)
        jmp 4f
3:      fxrstor64 (%rsp)
4:
        movq %rbx, %rsp
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %r11
        popq %r10
        popq %r9
        popq %r8
        popq %rbp
        popq %rdi
        popq %rsi
        popq %rdx
        popq %rcx
        popq %rbx
        popq %rax
        addq $16, %rsp                     // vector and error code
        iretq

// Device interrupts (vectors >= 32) arrive on the IST stack like everything else, but their
// handlers may switch threads (preemption), which cannot happen on a per-CPU IST stack: the
// next interrupt would overwrite the suspended frame. So the CPU-pushed frame plus vector and
// error code (7 words) is moved to the interrupted thread's stack and the entry continues
// there: below the red zone of the interrupted stack when that is a kernel stack; at the top
// of the thread's kernel stack when it was on an application stack (RSP in the lower half:
// application code, whose stack is the application's — nothing of ours goes there, and its
// next page may not even be mapped). The decision is by RSP, not RIP, so kernel code that
// runs on an application stack (the syscall return, in-kernel tests) is covered too. Only
// interrupts from thread context get here: nothing enables interrupts on an IST stack.
        .p2align 4
irq_common:
        pushq %rax
        pushq %rbx
        movq 56(%rsp), %rax                // the interrupted RSP
        btq $63, %rax
        jnc move_to_kernel_stack_top       // on an application stack
move_below_red_zone:
        movq 7*8(%rsp), %rax               // the interrupted RSP
        subq $128, %rax                    // skip its red zone
move_frame:
        andq $-16, %rax
        subq $7*8, %rax
        .irp i, 0, 1, 2, 3, 4, 5, 6
        movq (16 + \i * 8)(%rsp), %rbx
        movq %rbx, (\i * 8)(%rax)
        .endr
        popq %rbx
        xchgq %rax, (%rsp)                 // restore rax; the new stack pointer takes its slot
        popq %rsp                          // POP into RSP loads the popped value
        jmp trap_common
move_to_kernel_stack_top:
        movq %gs:PERCPU_KERNEL_STACK_TOP, %rax
        jmp move_frame

// Exceptions other than NMI, double fault and machine check. From an application stack they
// continue at the top of the thread's kernel stack, where the handler may sleep (demand
// paging takes the memory lock) and turn the fault into a signal. A page fault in kernel code
// on an application address with interrupts on (a user-memory copy in a syscall, a kernel
// thread using mmap'ed memory) continues below the red zone of the interrupted stack, for the
// same reason. Anything else is handled on the IST stack (kernel bugs: panics, or faults that
// must not sleep).
        .p2align 4
exc_common:
        pushq %rax
        pushq %rbx
        movq 56(%rsp), %rax                // the faulting code's RSP
        btq $63, %rax
        jnc move_to_kernel_stack_top       // on an application stack
        cmpq $14, 16(%rsp)                 // a page fault ...
        jne stay_on_ist
        testq $0x200, 48(%rsp)             // ... with interrupts on ...
        jz stay_on_ist
        movq %cr2, %rax
        btq $63, %rax                      // ... on an application address
        jnc move_below_red_zone
stay_on_ist:
        popq %rbx
        popq %rax
        jmp trap_common

// One 32-byte stub per vector (kTrapStubSize). Vectors where the CPU pushes an error code
// (8, 10-14, 17, 21, 29, 30 [intel-sdm-3a §6.13]) skip the dummy push — unless the vector
// was raised by `int $n` (code runs in ring 0, so it can), which pushes none: then the word
// above the return RIP is the code selector rather than a RIP, and the stub pushes the
// marker kSoftwareTrapErrorCode so trap_dispatch can report it instead of misreading the frame.
        .p2align 5
        .global g_trap_stubs
g_trap_stubs:
        .set vec, 0
        .rept 256
        .p2align 5
        .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
        cmpq $NIMBUS_SEL_KCODE, 8(%rsp)
        jne 1f
        pushq $-1
1:
        .else
        pushq $0
        .endif
        pushq $vec
        .if vec >= 32
        jmp irq_common
        .elseif (vec == 2) || (vec == 8) || (vec == 18)
        jmp trap_common
        .else
        jmp exc_common
        .endif
        .set vec, vec + 1
        .endr
