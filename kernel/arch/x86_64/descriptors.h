// GDT/TSS/IDT set-up and the kernel's fixed stacks (boot stack and IST stacks).
#pragma once

#include <cstddef>
#include <cstdint>

namespace arch {

// IST slots: slot n of g_stacks backs IST n; slot 0 is the boot stack.
inline constexpr uint8_t kIstDoubleFault = 1;
inline constexpr uint8_t kIstNmi = 2;
inline constexpr uint8_t kIstMachineCheck = 3;
inline constexpr uint8_t kIstException = 4;
inline constexpr uint8_t kIstInterrupt = 5;
inline constexpr int kBootStackSlot = 0;

// Builds the IDT (every vector enters traps.S) and loads it with the boot CPU's GDT and TSS
// (IST stacks from the fixed slots below).
void init_descriptors();

// Another CPU's GDT and TSS: built in `storage` (cpu_descriptors_size() bytes, 16-byte
// aligned, kept for the CPU's lifetime) with IST n's stack top ist_tops[n - 1], then loaded
// together with the shared IDT. Runs on that CPU.
size_t cpu_descriptors_size();
void load_cpu_descriptors(void* storage, const uint64_t ist_tops[5]);

// Marks an IDT gate present or not (tests use a non-present #PF gate to force a double fault).
void set_gate(unsigned vector, bool present);

// Address ranges of stack slot n: [bottom, top) is usable, the page below bottom is an
// unmapped guard page once the kernel page tables are live.
uint64_t stack_bottom(int slot);
uint64_t stack_top(int slot);
uint64_t stack_guard_page(int slot);

} // namespace arch
