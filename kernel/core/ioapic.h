// I/O APICs: where device interrupt lines (global system interrupts, GSIs) become vectors on a
// CPU [ioapic-82093AA; acpi-6.5 §5.2.12.3 (I/O APIC), §5.2.12.5 (overrides)].
#pragma once

#include <cstdint>
#include <lib/result.h>

namespace core {

enum class Trigger : uint8_t { Edge, Level };
enum class Polarity : uint8_t { ActiveHigh, ActiveLow };

struct GsiRoute {
    uint32_t gsi = 0;
    Trigger trigger = Trigger::Edge;
    Polarity polarity = Polarity::ActiveHigh;
};

// Maps every I/O APIC of cpu_topology() and masks all its pins (firmware may leave some
// enabled). On the boot CPU, after init_interrupts(). Logs "ioapic: N pins (GSI a-b)" per
// chip; a chip whose registers cannot be mapped is reported and skipped.
void init_ioapics();

// The GSI an ISA IRQ (0-15) arrives on, with its trigger mode and polarity: from the
// interrupt source overrides, else the ISA default (same number, edge, active high).
GsiRoute isa_irq_route(uint8_t irq);

// Points `route.gsi` at `vector` on CPU `cpu` (fixed delivery, physical destination) and
// unmasks it. NOENT: no I/O APIC serves that GSI; INVAL: bad vector or CPU (or one whose
// APIC id does not fit the chip's 8-bit destination). Thread context (both functions take a
// sleeping lock): an interrupt handler acknowledges at the device instead.
Result<void> ioapic_route(const GsiRoute& route, uint8_t vector, unsigned cpu);
// Masks (or unmasks) a routed GSI. Harmless for GSIs no chip serves.
void ioapic_mask(uint32_t gsi, bool masked);

} // namespace core
