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
        // A stack at the top of the trampoline's page (the AP comes with none).
        movw %ax, %ss
        movw $0x1000, %sp

        // The GDT descriptor needs the GDT's linear address: patch it in, then load it.
        leal OFF(ap_gdt)(%ebx), %eax
        movl %eax, OFF(ap_gdt_ptr) + 2
        lgdtl OFF(ap_gdt_ptr)

        movl %cr0, %eax
        orl $1, %eax                        // PE
        movl %eax, %cr0
        // Far return into 32-bit code (loads CS with protected-mode semantics).
        leal OFF(ap_pm32)(%ebx), %eax
        pushl $TRAMP_CODE32
        pushl %eax
        lretl

        .code32
ap_pm32:
        movl $TRAMP_DATA, %eax
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %ss
        leal 0x1000(%ebx), %esp
        enter_long_mode PHYS(early_pml4)
        leal OFF(ap_lm64)(%ebx), %eax
        pushl $TRAMP_CODE64
        pushl %eax
        lret

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
