// Application-processor start-up. An AP leaves reset in real mode and, on the start-up IPI
// with vector V, begins at CS = V << 8, IP = 0, i.e. physical address V << 12
// [intel-sdm-3a §9.4.4 MP initialisation]. core/smp.cc copies the trampoline below to such a
// page under 1 MiB; it is position independent (it finds its own base in CS) and goes
//
//   real mode -> 32-bit protected mode -> long mode on boot.S's early page tables (which map
//   the first GiB at 0, so the trampoline page, and the kernel window) -> the kernel window
//   -> the kernel's page tables, a stack of its own, ap_main(index).
//
// The early page tables are part of the kernel image and stay untouched after boot, and the
// kernel is below 4 GiB, so a 32-bit CR3 load reaches them. Each AP takes the next slot of
// g_ap_stacks with an atomic increment of g_ap_next, so every AP can start at once.
#include "layout.h"

#define PHYS(x) ((x) - NIMBUS_KERNEL_WINDOW)
#define OFF(x) ((x) - ap_trampoline_start)

// Selectors of the trampoline's own GDT.
#define TRAMP_CODE64 0x08
#define TRAMP_DATA 0x10
#define TRAMP_CODE32 0x18

        .section .rodata
        .p2align 12
        .global ap_trampoline_start
ap_trampoline_start:
        .code16
        cli
        cld
        movw %cs, %ax
        movw %ax, %ds
        xorl %ebx, %ebx
        movw %ax, %bx
        shll $4, %ebx                       // ebx = the trampoline's physical base

        // No stack: every AP runs this code at the same time, and a shared stack would let
        // one AP's far-return pop what another pushed (a 64-bit target while still in real
        // mode: a triple fault, seen in ~2% of 8-vCPU boots). The two far jumps go through
        // pointers in the page instead, and the only writes — the GDT base and those
        // pointers — store the same values whichever AP makes them.
        leal OFF(ap_gdt)(%ebx), %eax
        movl %eax, OFF(ap_gdt_ptr) + 2
        leal OFF(ap_pm32)(%ebx), %eax
        movl %eax, OFF(ap_pm32_far)
        leal OFF(ap_lm64)(%ebx), %eax
        movl %eax, OFF(ap_lm64_far)
        lgdtl OFF(ap_gdt_ptr)

        movl %cr0, %eax
        orl $1, %eax                        // PE
        movl %eax, %cr0
        // Far jump into 32-bit code (loads CS with protected-mode semantics).
        ljmpl *OFF(ap_pm32_far)

        .code32
ap_pm32:
        movl $TRAMP_DATA, %eax
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %ss
        enter_long_mode PHYS(early_pml4)
        ljmpl *OFF(ap_lm64_far)(%ebx)

        .code64
ap_lm64:
        movabsq $ap_long_mode_high, %rax
        jmp *%rax

        .p2align 3
ap_gdt:
        .quad 0
        .quad 0x00af9a000000ffff            // 0x08 64-bit code
        .quad 0x00cf92000000ffff            // 0x10 data
        .quad 0x00cf9a000000ffff            // 0x18 32-bit code
ap_gdt_end:
        .p2align 3
ap_gdt_ptr:
        .word ap_gdt_end - ap_gdt - 1
        .long 0                             // patched: linear address of ap_gdt
        .p2align 2
ap_pm32_far:                                // patched: far pointer to ap_pm32
        .long 0
        .word TRAMP_CODE32
        .p2align 2
ap_lm64_far:                                // patched: far pointer to ap_lm64
        .long 0
        .word TRAMP_CODE64
        .global ap_trampoline_end
ap_trampoline_end:

        .text
ap_long_mode_high:
        load_kernel_segments
        // The kernel's page tables (global pages on), then the stack they map.
        movq %cr4, %rax
        orq $0x680, %rax                    // PGE | OSFXSR | OSXMMEXCPT
        movq %rax, %cr4
        movq g_ap_cr3(%rip), %rax
        movq %rax, %cr3
        movq %cr0, %rax
        andq $~0x4, %rax                    // clear EM
        orq $0x22, %rax                     // MP | NE
        movq %rax, %cr0
        movl $1, %eax
        lock xaddl %eax, g_ap_next(%rip)
        leaq g_ap_stacks(%rip), %rcx
        movq (%rcx, %rax, 8), %rsp
        xorl %ebp, %ebp
        movl %eax, %edi
        call ap_main
        ud2
