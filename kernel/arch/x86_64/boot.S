// PVH entry: 32-bit protected mode with paging off (ebx = physical address of the
// hvm_start_info), to 64-bit long mode in the higher half, then kernel_main().
// [xen-pvh] entry state; [intel-sdm-3a §9.8.5] initialising IA-32e mode.
#include "layout.h"

#define PHYS(x) ((x) - NIMBUS_KERNEL_WINDOW)

#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80

// CPUID.1:ECX bits of x86-64-v2: SSE3 0, SSSE3 9, CX16 13, SSE4.1 19, SSE4.2 20, POPCNT 23.
#define CPU_V2_ECX ((1 << 0) | (1 << 9) | (1 << 13) | (1 << 19) | (1 << 20) | (1 << 23))

// The PVH ELF note: type XEN_ELFNOTE_PHYS32_ENTRY (18), 64-bit descriptor holding the
// physical address of the 32-bit entry point. QEMU, Firecracker and cloud-hypervisor read it.
        .section .note.Xen, "a"
        .p2align 2
        .long 4                       // namesz ("Xen\0")
        .long 8                       // descsz
        .long 18                      // XEN_ELFNOTE_PHYS32_ENTRY
        .asciz "Xen"
        .p2align 2
        .quad PHYS(pvh_start32)

        .section .text.boot, "ax"
        .code32
        .global pvh_start32
pvh_start32:
        cli
        cld
        // The first boot-time stamp: everything the guest does is measured from here.
        rdtsc
        movl %eax, PHYS(g_boot_entry_tsc)
        movl %edx, PHYS(g_boot_entry_tsc) + 4
        movl %ebx, %esi                   // keep start_info across the set-up

        // The CPU must offer long mode, NX and the x86-64-v2 set the kernel is compiled for
        // (SSE3, SSSE3, CMPXCHG16B, SSE4.1, SSE4.2, POPCNT, LAHF in 64-bit mode)
        // [intel-sdm-2a CPUID]; otherwise say so and end the VM rather than crash later.
        movl $0x80000000, %eax
        cpuid
        cmpl $0x80000001, %eax
        jb cpu_unsupported
        movl $0x80000001, %eax
        cpuid
        andl $((1 << 29) | (1 << 20)), %edx
        cmpl $((1 << 29) | (1 << 20)), %edx
        jne cpu_unsupported
        testl $1, %ecx
        jz cpu_unsupported
        movl $1, %eax
        cpuid
        andl $CPU_V2_ECX, %ecx
        cmpl $CPU_V2_ECX, %ecx
        jne cpu_unsupported

        // Zero the four early page-table pages.
        movl $PHYS(early_pml4), %edi
        xorl %eax, %eax
        movl $(4 * 4096 / 4), %ecx
        rep stosl

        // PML4[0] (identity, for the jump) and PML4[256] (direct map) -> pdpt_low;
        // PML4[511] -> pdpt_high. Both PDPTs point at one PD mapping phys 0..1 GiB with
        // 2 MiB pages: pdpt_low[0] at 0, pdpt_high[510] at -2 GiB (the kernel window).
        movl $(PHYS(early_pdpt_low) + PTE_P + PTE_W), %eax
        movl %eax, PHYS(early_pml4)
        movl %eax, PHYS(early_pml4) + 256 * 8
        movl $(PHYS(early_pdpt_high) + PTE_P + PTE_W), %eax
        movl %eax, PHYS(early_pml4) + 511 * 8
        movl $(PHYS(early_pd) + PTE_P + PTE_W), %eax
        movl %eax, PHYS(early_pdpt_low)
        movl %eax, PHYS(early_pdpt_high) + 510 * 8
        movl $PHYS(early_pd), %edi
        movl $(PTE_P + PTE_W + PTE_PS), %eax
        movl $512, %ecx
1:      movl %eax, (%edi)
        addl $0x200000, %eax
        addl $8, %edi
        loop 1b

        enter_long_mode PHYS(early_pml4)

        lgdt PHYS(boot_gdt_ptr32)
        ljmp $NIMBUS_SEL_KCODE, $PHYS(long_mode_low)

// Prints cpu_message on COM1, reports status 1 (COM2 record + isa-debug-exit), halts.
cpu_unsupported:
        movl $(PHYS(g_stacks) + NIMBUS_STACK_SLOT), %esp // PVH promises no stack: use the boot stack
        movl $PHYS(cpu_message), %edi
        movw $0x3f8, %dx
        call put_string32
        movl $PHYS(cpu_exit_record), %edi
        movw $0x2f8, %dx
        call put_string32
        movw $0xf4, %dx
        movl $1, %eax
        outl %eax, %dx
1:      cli
        hlt
        jmp 1b

// Writes the NUL-terminated string at edi to I/O port dx.
put_string32:
1:      movb (%edi), %al
        testb %al, %al
        jz 2f
        outb %al, %dx
        incl %edi
        jmp 1b
2:      ret

        .code64
long_mode_low:
        movabsq $long_mode_high, %rax
        jmp *%rax

        .text
long_mode_high:
        // Now running in the kernel window; reload the GDT through its virtual address so
        // that it stays reachable once the identity mapping is gone.
        load_kernel_segments

        leaq g_stacks + NIMBUS_STACK_SLOT(%rip), %rsp   // top of the boot stack (slot 0)
        xorl %ebp, %ebp

        // SSE on: compiled C++ may use it [intel-sdm-3a §13.1.3].
        movq %cr0, %rax
        andq $~0x4, %rax                  // clear EM
        orq $0x22, %rax                   // MP | NE
        movq %rax, %cr0
        movq %cr4, %rax
        orq $0x600, %rax                  // OSFXSR | OSXMMEXCPT
        movq %rax, %cr4

        // Clear .bss (the stacks and early page tables live outside it).
        leaq __bss_start(%rip), %rdi
        leaq __bss_end(%rip), %rcx
        subq %rdi, %rcx
        shrq $3, %rcx
        xorl %eax, %eax
        rep stosq

        movl %esi, %edi                   // arg 0: start_info physical address
        call kernel_main
        ud2

        .section .rodata
cpu_message:
        .asciz "nimbus: cannot boot: this CPU lacks long mode, NX or x86-64-v2 (SSE4.2, POPCNT, CX16); use -cpu max or host\n"
cpu_exit_record:
        .asciz "exit 1\n"
        .p2align 3
boot_gdt:
        .quad 0                           // null
        .quad 0x00af9a000000ffff          // 0x08 kernel code, 64-bit
        .quad 0x00cf92000000ffff          // 0x10 kernel data
boot_gdt_end:
        .p2align 3
boot_gdt_ptr32:
        .word boot_gdt_end - boot_gdt - 1
        .long PHYS(boot_gdt)
        .p2align 3
        .global boot_gdt_ptr64
boot_gdt_ptr64:
        .word boot_gdt_end - boot_gdt - 1
        .quad boot_gdt

        .data
        .p2align 3
        .global g_boot_entry_tsc
g_boot_entry_tsc:
        .quad 0

        // Early page tables and the stacks are not part of .bss: they are in use while
        // .bss is cleared.
        .section .boot_tables, "aw", @nobits
        .p2align 12
        .global early_pml4
early_pml4:       .skip 4096
early_pdpt_low:   .skip 4096
early_pdpt_high:  .skip 4096
early_pd:         .skip 4096

        .section .stacks, "aw", @nobits
        .p2align 12
        .global g_stacks
g_stacks:
        .skip NIMBUS_STACK_SLOT * NIMBUS_NUM_STACKS
