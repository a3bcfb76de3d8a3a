// The kernel's virtual address-space layout, shared by C++ and assembly.
//
//   0x0000_0000_0000_0000 .. 0x0000_7fff_ffff_ffff  application half (VMAs, mmap)
//   0xffff_8000_0000_0000 .. +RAM                   direct map of all RAM (2 MiB / 1 GiB pages)
//   0xffff_ffff_8000_0000 .. +1 GiB                 kernel image window (-2 GiB, -mcmodel=kernel)
//
// The kernel is loaded at physical 1 MiB and linked at kKernelWindow + 1 MiB.
#pragma once

#define NIMBUS_KERNEL_WINDOW 0xffffffff80000000
#define NIMBUS_KERNEL_PHYS 0x100000
#define NIMBUS_DIRECT_MAP 0xffff800000000000

// Boot GDT selectors (descriptors.cc keeps the same layout).
#define NIMBUS_SEL_KCODE 0x08
#define NIMBUS_SEL_KDATA 0x10
#define NIMBUS_SEL_TSS 0x18

// Each IST / boot stack is preceded by an unmapped guard page.
#define NIMBUS_STACK_SIZE 0x4000
#define NIMBUS_STACK_SLOT (NIMBUS_STACK_SIZE + 0x1000)
#define NIMBUS_NUM_STACKS 6 // boot + IST1..IST5

#ifdef __ASSEMBLER__
// 32-bit protected mode -> IA-32e mode on boot.S's early page tables (at physical
// \pml4_phys): PAE on, CR3, EFER.LME and NXE, then paging (with WP) [intel-sdm-3a §9.8.5].
// The caller far-jumps to a 64-bit code segment next. Clobbers eax, ecx, edx.
.macro enter_long_mode pml4_phys
        movl %cr4, %eax
        orl $0x20, %eax                   // CR4.PAE
        movl %eax, %cr4
        movl $\pml4_phys, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx            // IA32_EFER
        rdmsr
        orl $((1 << 8) | (1 << 11)), %eax // LME | NXE
        wrmsr
        movl %cr0, %eax
        orl $0x80010001, %eax             // PG | WP | PE
        movl %eax, %cr0
.endm

// In the kernel window: the boot GDT through its virtual address (so it stays reachable once
// the identity mapping is gone), flat data segments, FS and GS null. Clobbers eax.
.macro load_kernel_segments
        lgdt boot_gdt_ptr64(%rip)
        movl $NIMBUS_SEL_KDATA, %eax
        movl %eax, %ds
        movl %eax, %es
        movl %eax, %ss
        xorl %eax, %eax
        movl %eax, %fs
        movl %eax, %gs
.endm
#else
#include <cstdint>
namespace arch {
inline constexpr uint64_t kKernelWindow = NIMBUS_KERNEL_WINDOW;
inline constexpr uint64_t kDirectMap = NIMBUS_DIRECT_MAP;
inline constexpr uint64_t kEarlyMapSize = 1ull << 30; // what boot.S maps before mm init
inline constexpr uint64_t kStackSize = NIMBUS_STACK_SIZE;
inline constexpr uint64_t kStackSlot = NIMBUS_STACK_SLOT;
inline constexpr int kNumStacks = NIMBUS_NUM_STACKS;
} // namespace arch
#endif
