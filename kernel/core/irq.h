// Interrupts: the local APIC, the vector table's device half, and the API drivers use.
//
// Design (../shared/design/osv-design.md §4): a handler only acknowledges/masks its source and
// wakes the thread that does the work; it must not block. Handlers run with interrupts
// disabled on the CPU that took the interrupt.
#pragma once

#include <arch/x86_64/apic.h>
#include <cstdint>
#include <lib/result.h>

namespace core {

using IrqHandler = void (*)(void* context);

// Sets up the boot CPU's local APIC. Interrupts stay disabled until enable_interrupts().
void init_interrupts();
// Sets up another CPU's local APIC (same mode as the boot CPU's); returns its APIC id.
uint32_t init_interrupts_secondary();
const arch::ApicInfo& apic_info();

// Installs `handler` for `vector` (32..0xef for devices, or one of arch's reserved vectors).
// EXIST if taken, INVAL if out of range.
Result<void> set_irq_handler(uint8_t vector, IrqHandler handler, void* context);
// Removes it. A handler already running on another CPU may still be finishing: wait for an
// RCU grace period (handlers run with interrupts off) before freeing its context.
void clear_irq_handler(uint8_t vector);

// Installs `handler` on a free device vector (0x30-0xef) and returns it. BUSY if none.
Result<uint8_t> allocate_irq_vector(IrqHandler handler, void* context);

// Masks the legacy 8259 PICs (their IRQ0 would arrive on the double-fault vector) and
// enables interrupts: from here on threads run with interrupts enabled.
void enable_interrupts();
bool interrupts_enabled_globally();

// Called by trap_dispatch for vectors >= 32: runs the handler and acknowledges the APIC.
void dispatch_irq(uint8_t vector);

// Interrupts seen per vector, all CPUs, for tests and diagnostics.
uint64_t irq_count(uint8_t vector);

} // namespace core
