// Thread context switch. A switch happens at a function-call boundary, so only what the
// SysV ABI makes callee-saved needs saving: rbx, rbp, r12-r15, the MXCSR control bits and the
// x87 control word [sysv-abi-x86_64 §3.2.1]. The full extended state is saved only when an
// interrupt or exception interrupts arbitrary code (traps.S).

        .text
// void arch_context_switch(uint64_t* save_rsp, uint64_t new_rsp)
// Saves the current context on its stack, stores the stack pointer in *save_rsp, and resumes
// the context whose stack pointer is new_rsp (saved by a previous switch, or built by
// arch::build_initial_stack).
        .global arch_context_switch
arch_context_switch:
        pushq %rbp
        pushq %rbx
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        subq $8, %rsp
        stmxcsr (%rsp)
        fnstcw 4(%rsp)
        movq %rsp, (%rdi)
        movq %rsi, %rsp
        ldmxcsr (%rsp)
        fldcw 4(%rsp)
        addq $8, %rsp
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %rbx
        popq %rbp
        ret

// First code of a new thread: r12 = entry function, r13 = its argument (placed by
// build_initial_stack). rsp is 16-byte aligned here, as the ABI wants before a call.
        .global arch_thread_start
arch_thread_start:
        callq core_thread_first_run
        movq %r13, %rdi
        callq *%r12
        callq core_thread_exit_current
        ud2
