// The `syscall` entry. Applications run in ring 0 like the kernel, so `syscall` changes no
// privilege and no stack: it only puts the return RIP in rcx and RFLAGS in r11, loads the
// kernel code selector and clears the RFLAGS bits in IA32_FMASK (IF among them, so nothing
// interrupts the stack switch). The application's stack must not be touched — it uses the
// 128-byte red zone below rsp — so the entry moves to the current thread's kernel stack (its
// top: an application thread's kernel stack is empty while it runs application code), saves
// the registers as a SyscallFrame, and returns without sysret (which would drop to ring 3):
// restore, switch back to the application stack, `sti; jmp *%rcx`. STI's one-instruction
// interrupt shadow makes the jump and the re-enabling one step, so no interrupt ever arrives
// between the stack switch and the application code.
//
// Linux's convention: number in rax, arguments in rdi, rsi, rdx, r10, r8, r9; result in rax;
// rcx and r11 are clobbered (they hold RIP and RFLAGS afterwards); every other register,
// including the SSE/AVX/x87 state, survives. The kernel is built without SSE and floating
// point (cmake/nimbus.cmake), so it never touches that state and nothing of it is saved
// here: it stays in the registers through the call, and is saved only when the thread is
// switched out (thread.cc) or interrupted (traps.S).
#include "layout.h"

#define PERCPU_KERNEL_STACK_TOP 8
#define PERCPU_SYSCALL_SCRATCH 16
// SyscallFrame (syscall_entry.h) is 16 words.
#define FRAME_SIZE (16 * 8)
// A cloned thread's SyscallSseArea (syscall_entry.h) lies below its first frame: 16 xmm + MXCSR.
#define SSE_SIZE (16 * 16 + 16)

        .text
        .p2align 4
        .global arch_syscall_entry
arch_syscall_entry:
        movq %rsp, %gs:PERCPU_SYSCALL_SCRATCH
        movq %gs:PERCPU_KERNEL_STACK_TOP, %rsp
        pushq %gs:PERCPU_SYSCALL_SCRATCH   // rsp
        pushq %rcx                         // rip
        pushq %r11                         // rflags
        pushq %rax                         // number, then result
        pushq %r9                          // the arguments, rdi lowest: lx::Args' order
        pushq %r8
        pushq %r10
        pushq %rdx
        pushq %rsi
        pushq %rdi
        pushq %rbx
        pushq %rbp
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, %rbx                    // rbx: SyscallFrame*, callee-saved
        sti                                // (DF is clear: IA32_FMASK clears it)
        movq %rbx, %rdi
        pushq 8*14(%rbx)                   // a frame record, so backtraces reach the caller:
        pushq 8*4(%rbx)                    // its rip and rbp
        movq %rsp, %rbp
        call lx_syscall_dispatch
        addq $16, %rsp
        // fall through

// Returns to the application described by the SyscallFrame at rbx. Also the way back from a
// signal handler (rt_sigreturn rewrites the frame, and the extended state in the registers).
        .global arch_syscall_return
arch_syscall_return:
        cli
        movq %rbx, %rsp
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbp
        popq %rbx
        popq %rdi
        popq %rsi
        popq %rdx
        popq %r10
        popq %r8
        popq %r9
        popq %rax
        popq %r11                          // rflags (Linux leaves them in r11)
        popq %rcx                          // rip (Linux leaves it in rcx)
        // The flags without IF: interrupts stay off until the application's first
        // instruction. The word written below is the rcx slot, already consumed.
        pushq %r11
        andq $~0x200, (%rsp)
        popfq
        popq %rsp                          // the application's stack
        sti
        jmp *%rcx

// [[noreturn]] void arch_enter_app(uint64_t rip, uint64_t rsp): starts application code on
// the current (application) thread: registers zeroed as execve leaves them (rdx = 0: no
// exit function for the program to register), flags clear, xmm zero and MXCSR initial (the
// caller restored the thread's initial extended state), interrupts on.
        .global arch_enter_app
arch_enter_app:
        pushq $0x2                         // every flag clear (bit 1 is always set), IF too
        popfq
        ldmxcsr g_kernel_mxcsr(%rip)       // 0x1f80, the initial MXCSR
        pxor %xmm0, %xmm0
        pxor %xmm1, %xmm1
        pxor %xmm2, %xmm2
        pxor %xmm3, %xmm3
        pxor %xmm4, %xmm4
        pxor %xmm5, %xmm5
        pxor %xmm6, %xmm6
        pxor %xmm7, %xmm7
        pxor %xmm8, %xmm8
        pxor %xmm9, %xmm9
        pxor %xmm10, %xmm10
        pxor %xmm11, %xmm11
        pxor %xmm12, %xmm12
        pxor %xmm13, %xmm13
        pxor %xmm14, %xmm14
        pxor %xmm15, %xmm15
        movq %rdi, %rcx
        movq %rsi, %rsp
        xorl %eax, %eax
        xorl %ebx, %ebx
        xorl %edx, %edx
        xorl %esi, %esi
        xorl %edi, %edi
        xorl %ebp, %ebp
        xorl %r8d, %r8d
        xorl %r9d, %r9d
        xorl %r10d, %r10d
        xorl %r11d, %r11d
        xorl %r12d, %r12d
        xorl %r13d, %r13d
        xorl %r14d, %r14d
        xorl %r15d, %r15d
        sti
        jmp *%rcx

        .section .rodata
        .p2align 2
        .global g_kernel_mxcsr
g_kernel_mxcsr:
        .long 0x1f80

        .text
// [[noreturn]] void arch_syscall_return_to(SyscallFrame* frame): a cloned thread's first
// return, with xmm0-15 and MXCSR from the SyscallSseArea below the frame (the parent's, as
// they were at clone). Interrupts are off from here on: the stack pointer is set to the
// frame's area first.
        .global arch_syscall_return_to
arch_syscall_return_to:
        cli
        movq %rdi, %rbx
        leaq -SSE_SIZE(%rdi), %rsp
        ldmxcsr 0x100(%rsp)
        .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        movaps (\n * 16)(%rsp), %xmm\n
        .endr
        jmp arch_syscall_return

// void arch_save_sse(SyscallSseArea* area): xmm0-15 and MXCSR as they are (the calling
// application's: the kernel does not touch them), for clone's child.
        .global arch_save_sse
arch_save_sse:
        .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        movaps %xmm\n, (\n * 16)(%rdi)
        .endr
        stmxcsr 0x100(%rdi)
        ret

// [[noreturn]] void arch_syscall_return_exact(SyscallFrame* frame, uint64_t rcx, uint64_t r11)
// Like arch_syscall_return, but every register comes back, rcx and r11 included (given
// separately: the frame's slots for them hold rip and rflags), through IRETQ: rt_sigreturn
// resumes code that was interrupted anywhere, whose rcx and r11 are live. The IRET frame is
// built just below the SyscallFrame.
        .global arch_syscall_return_exact
arch_syscall_return_exact:
        cli
        movq %rdi, %rbx
        leaq -64(%rdi), %rsp
        movq 8*14(%rbx), %rax              // IRET frame below the SyscallFrame: rip,
        movq %rax, -40(%rbx)
        movq $NIMBUS_SEL_KCODE, -32(%rbx)  // cs,
        movq 8*13(%rbx), %rax              // rflags (IF on),
        movq %rax, -24(%rbx)
        movq 8*15(%rbx), %rax              // rsp,
        movq %rax, -16(%rbx)
        movq $NIMBUS_SEL_KDATA, -8(%rbx)   // ss
        movq %rsi, -48(%rbx)               // and the two registers to load last
        movq %rdx, -56(%rbx)
        movq %rbx, %rsp
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbp
        popq %rbx
        popq %rdi
        popq %rsi
        popq %rdx
        popq %r10
        popq %r8
        popq %r9
        popq %rax                          // rsp = frame + 13 * 8
        movq -(13 * 8 + 48)(%rsp), %rcx
        movq -(13 * 8 + 56)(%rsp), %r11
        leaq -(13 * 8 + 40)(%rsp), %rsp    // the IRET frame
        iretq
