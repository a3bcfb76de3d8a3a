// I/O APIC programming (ioapic.h). Each chip has an index register (IOREGSEL, offset 0) and a
// data window (IOWIN, offset 0x10); register 1 holds the version and the highest redirection
// entry, registers 0x10 + 2n / 0x11 + 2n the low and high halves of pin n's redirection entry
// [ioapic-82093AA §3.2]. The index/data pair is a two-step access: calls are serialised by
// the chip lock (a sleeping mutex; routing happens in thread context, at driver set-up).
#include <core/console.h>
#include <core/cpu.h>
#include <core/cpus.h>
#include <core/ioapic.h>
#include <core/memory.h>
#include <sync/mutex.h>

namespace core {
namespace {

constexpr uint32_t kRegVersion = 0x01;
constexpr uint32_t kRegRedirection = 0x10;
constexpr uint32_t kEntryMasked = 1u << 16;
constexpr uint32_t kEntryLevel = 1u << 15;
constexpr uint32_t kEntryActiveLow = 1u << 13;

struct Chip {
    volatile uint32_t* mmio = nullptr;
    uint32_t gsi_base = 0;
    uint32_t pins = 0;
};

Chip g_chips[boot::CpuTopology::kMaxIoApics];
size_t g_chip_count = 0;
constinit ksync::Mutex g_lock;

uint32_t read_reg(const Chip& chip, uint32_t reg)
{
    chip.mmio[0] = reg;
    return chip.mmio[4];
}

void write_reg(const Chip& chip, uint32_t reg, uint32_t value)
{
    chip.mmio[0] = reg;
    chip.mmio[4] = value;
}

// The chip serving `gsi` and the pin on it, or nullptr.
Chip* find(uint32_t gsi, uint32_t& pin)
{
    for (size_t i = 0; i < g_chip_count; ++i) {
        Chip& c = g_chips[i];
        if (gsi >= c.gsi_base && gsi - c.gsi_base < c.pins) {
            pin = gsi - c.gsi_base;
            return &c;
        }
    }
    return nullptr;
}

} // namespace

void init_ioapics()
{
    const boot::CpuTopology& topology = cpu_topology();
    uint32_t next_base = 0;
    for (size_t i = 0; i < topology.ioapic_count; ++i) {
        const boot::IoApicEntry& e = topology.ioapics[i];
        void* mmio = map_mmio(e.address, 0x20);
        if (!mmio) {
            log_warn("ioapic: cannot map the chip at %#x: its interrupts are unavailable", e.address);
            continue;
        }
        Chip& chip = g_chips[g_chip_count];
        chip.mmio = static_cast<volatile uint32_t*>(mmio);
        chip.pins = ((read_reg(chip, kRegVersion) >> 16) & 0xff) + 1;
        // MP tables give no GSI base for chips after the first: they follow on [mp-1.4 §4.3.3].
        chip.gsi_base = e.gsi_base == boot::IoApicEntry::kGsiBaseUnknown ? next_base : e.gsi_base;
        next_base = chip.gsi_base + chip.pins;
        for (uint32_t pin = 0; pin < chip.pins; ++pin) {
            write_reg(chip, kRegRedirection + 2 * pin, kEntryMasked);
            write_reg(chip, kRegRedirection + 2 * pin + 1, 0);
        }
        log_debug("ioapic: id %u, %u pins (GSI %u-%u)", e.id, chip.pins, chip.gsi_base, chip.gsi_base + chip.pins - 1);
        ++g_chip_count;
    }
}

GsiRoute isa_irq_route(uint8_t irq)
{
    GsiRoute route;
    route.gsi = irq;
    const boot::CpuTopology& topology = cpu_topology();
    for (size_t i = 0; i < topology.override_count; ++i) {
        const boot::InterruptOverride& o = topology.overrides[i];
        if (o.bus != 0 || o.source_irq != irq)
            continue;
        route.gsi = o.gsi;
        // MPS INTI flags: polarity bits 0-1 (3 = active low), trigger bits 2-3 (3 = level);
        // 0 means "conforms to the bus" — ISA: high, edge [acpi-6.5 Table 5.26].
        if ((o.flags & 3) == 3)
            route.polarity = Polarity::ActiveLow;
        if (((o.flags >> 2) & 3) == 3)
            route.trigger = Trigger::Level;
        break;
    }
    return route;
}

Result<void> ioapic_route(const GsiRoute& route, uint8_t vector, unsigned target)
{
    // xAPIC destinations are 8 bits; higher x2APIC ids need interrupt remapping.
    if (vector < 0x20 || vector >= 0xf0 || target >= cpu_count() || cpu(target).apic_id > 0xff)
        return Errno::INVAL;
    ksync::MutexGuard guard(g_lock);
    uint32_t pin;
    Chip* chip = find(route.gsi, pin);
    if (!chip)
        return Errno::NOENT;
    uint32_t low = vector;
    if (route.trigger == Trigger::Level)
        low |= kEntryLevel;
    if (route.polarity == Polarity::ActiveLow)
        low |= kEntryActiveLow;
    // Masked while the destination changes, then the low half (which unmasks) last.
    write_reg(*chip, kRegRedirection + 2 * pin, kEntryMasked);
    write_reg(*chip, kRegRedirection + 2 * pin + 1, cpu(target).apic_id << 24);
    write_reg(*chip, kRegRedirection + 2 * pin, low);
    return {};
}

void ioapic_mask(uint32_t gsi, bool masked)
{
    ksync::MutexGuard guard(g_lock);
    uint32_t pin;
    Chip* chip = find(gsi, pin);
    if (!chip)
        return;
    uint32_t low = read_reg(*chip, kRegRedirection + 2 * pin);
    write_reg(*chip, kRegRedirection + 2 * pin, masked ? (low | kEntryMasked) : (low & ~kEntryMasked));
}

} // namespace core
