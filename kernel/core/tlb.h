// Cross-CPU TLB shootdown for the kernel page table (one address space, shared by all CPUs).
#pragma once

#include <cstdint>

namespace core {

// Most pages one shootdown names; more become a full flush.
inline constexpr unsigned kTlbShootdownBatch = 32;

// Registers the shootdown IPI's handler. On the boot CPU, before other CPUs start.
void init_tlb_shootdown();

// Makes every other running CPU drop its TLB entries for `pages` (count of them), or all of
// its entries (global ones included) if `all`; returns when they have. The calling CPU has
// done its own invalidation already. Callers are serialised (the kernel's memory lock); in
// thread context the caller sleeps while it waits, before threads exist it cannot be asked
// to (there are no other CPUs yet).
void tlb_shootdown(const uint64_t* pages, unsigned count, bool all);

// Shootdowns sent so far (tests, statistics).
uint64_t tlb_shootdowns();

} // namespace core
