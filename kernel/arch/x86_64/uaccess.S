// Copies to and from application memory that may fault. The caller (lx/uaccess.h) has
// checked that the application range lies in the lower half; a page fault here on a page
// the application has not mapped (or not with the access needed) is not a kernel bug: the
// page-fault handler finds the faulting instruction in g_uaccess_fixups and resumes at its
// fixup, which returns the failure to the caller.

        .text
// size_t arch_copy_user(void* dst, const void* src, size_t n): the number of bytes NOT
// copied (0 on success). Eight bytes at a time, then the rest: a string instruction counts
// once per element under TCG (and -icount), so a 4 KiB `rep movsb` costs 4,096 steps there;
// on hardware with fast string moves both forms run at the same speed.
        .global arch_copy_user
arch_copy_user:
        movq %rdx, %rcx
        shrq $3, %rcx
        andl $7, %edx
1:      rep movsq
        movl %edx, %ecx
11:     rep movsb
        xorl %eax, %eax
        ret
2:      leaq (%rdx,%rcx,8), %rax           // a fault in the words: rcx of them and the tail left
        ret
12:     movq %rcx, %rax                    // a fault in the tail: rep movsb leaves what remains
        ret

// int64_t arch_copy_user_string(char* dst, const char* src, size_t max): copies up to max
// bytes up to and including a NUL; the string's length if the NUL was among them, max if
// not, -1 on a fault.
        .global arch_copy_user_string
arch_copy_user_string:
        xorl %eax, %eax
3:      cmpq %rdx, %rax
        je 5f
4:      movb (%rsi,%rax), %cl
        movb %cl, (%rdi,%rax)
        testb %cl, %cl
        jz 5f
        incq %rax
        jmp 3b
5:      ret
6:      movq $-1, %rax
        ret

// int arch_user_cmpxchg32(uint32_t* uaddr, uint32_t expected, uint32_t desired,
// uint32_t* old): 0 and the value found in *old, or -1 on a fault. For futexes.
        .global arch_user_cmpxchg32
arch_user_cmpxchg32:
        movl %esi, %eax
7:      lock cmpxchgl %edx, (%rdi)
        movl %eax, (%rcx)
        xorl %eax, %eax
        ret
8:      movl $-1, %eax
        ret

// int arch_user_load32(const uint32_t* uaddr, uint32_t* out): 0, or -1 on a fault.
        .global arch_user_load32
arch_user_load32:
9:      movl (%rdi), %eax
        movl %eax, (%rsi)
        xorl %eax, %eax
        ret
10:     movl $-1, %eax
        ret

        .section .rodata
        .p2align 3
        .global g_uaccess_fixups, g_uaccess_fixups_end
g_uaccess_fixups:                          // {faulting instruction, where to resume}
        .quad 1b, 2b
        .quad 11b, 12b
        .quad 4b, 6b
        .quad 7b, 8b
        .quad 9b, 10b
g_uaccess_fixups_end:
