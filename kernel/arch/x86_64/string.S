// The bulk of the kernel's large memory copies and fills (kernel/lib/string.cc, kernel build):
// one string instruction per 8 bytes. The kernel is built without SSE, so the compiler's
// word loop moves 8 bytes in about three instructions; `rep movsq` / `rep stosq` move them
// in one step of a string instruction — also the unit in which TCG (and -icount) counts it
// — and are what fast-string hardware is tuned for at these sizes [intel-sdm-1 §7.3.9.3].

        .text
// void arch_copy_qwords(void* dst, const void* src, size_t count): count·8 bytes, forward;
// the areas must not overlap. DF is clear in the kernel (the syscall and trap entries clear
// it).
        .global arch_copy_qwords
arch_copy_qwords:
        movq %rdx, %rcx
        rep movsq
        ret

// void arch_fill_qwords(void* dst, uint64_t pattern, size_t count)
        .global arch_fill_qwords
arch_fill_qwords:
        movq %rsi, %rax
        movq %rdx, %rcx
        rep stosq
        ret
