// VM exit: isa-debug-exit (QEMU) with a status line on COM2 for the full 8-bit status, then
// ACPI soft-off and reset fallbacks for machines without it.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/uart.h>
#include <arch/x86_64/vm_exit.h>
#include <lib/format.h>

namespace arch {
namespace {

constexpr uint16_t kDebugExitPort = 0xf4;

// Written once at boot (set_acpi_poweroff), read on the way out.
boot::AcpiPowerOff g_acpi;
// Set on the first attempt: a fault inside the ACPI path panics and re-enters power_off(),
// which must then go straight to the resets instead of looping.
bool g_acpi_attempted = false;

// Register access through a Generic Address: I/O ports, or system memory through the direct
// map (mapped by the caller of set_acpi_poweroff). Accesses are 1, 2 or 4 bytes wide.
uint8_t width_of(const boot::GenericAddress& reg, uint8_t fallback)
{
    uint8_t w = reg.access_bytes(fallback);
    return w > 4 ? 4 : w;
}

uint32_t read_register(const boot::GenericAddress& reg, uint8_t width)
{
    if (reg.is_io()) {
        uint16_t port = uint16_t(reg.address);
        return width == 1 ? inb(port) : width == 2 ? inw(port) : inl(port);
    }
    uintptr_t va = uintptr_t(kDirectMap + reg.address);
    if (width == 1)
        return *reinterpret_cast<volatile uint8_t*>(va);
    if (width == 2)
        return *reinterpret_cast<volatile uint16_t*>(va);
    return *reinterpret_cast<volatile uint32_t*>(va);
}

void write_register(const boot::GenericAddress& reg, uint8_t width, uint32_t value)
{
    if (reg.is_io()) {
        uint16_t port = uint16_t(reg.address);
        if (width == 1)
            outb(port, uint8_t(value));
        else if (width == 2)
            outw(port, uint16_t(value));
        else
            outl(port, value);
        return;
    }
    uintptr_t va = uintptr_t(kDirectMap + reg.address);
    if (width == 1)
        *reinterpret_cast<volatile uint8_t*>(va) = uint8_t(value);
    else if (width == 2)
        *reinterpret_cast<volatile uint16_t*>(va) = uint16_t(value);
    else
        *reinterpret_cast<volatile uint32_t*>(va) = value;
}

// Spins for about `ticks` TSC ticks (no timer needed; the TSC runs at ~1-3 GHz, or 1 GHz
// under -icount shift=0). Only on the way out of the VM, waiting for the hypervisor to act on
// a power-off write — a bounded wait on a device, not on a lock.
void spin_ticks(uint64_t ticks)
{
    uint64_t start = rdtsc();
    while (rdtsc() - start < ticks)
        asm volatile("pause");
}

// The hypervisor acts on the write asynchronously (QEMU queues a shutdown request and stops
// the vCPUs from its main loop): give it time before trying anything else, or a reset
// written right after could win.
constexpr uint64_t kSettleTicks = 1ull << 29;

// [acpi-6.5 §4.8.3.2.1, §4.8.3.7] Enter S5 with what set_acpi_poweroff() recorded. Returns
// if the machine is still running afterwards.
void acpi_power_off()
{
    using P = boot::AcpiPowerOff;
    const P& p = g_acpi;
    switch (p.method) {
    case P::Method::None:
        return;
    case P::Method::SleepControl:
        // One 8-bit write: SLP_TYPa in bits 2-4, SLP_EN in bit 5.
        write_register(p.sleep_control, 1, p.sleep_value);
        break;
    case P::Method::Pm1Control: {
        uint8_t wa = width_of(p.pm1a_control, 2), wb = width_of(p.pm1b_control, 2);
        if (wa < 2)
            wa = 2; // PM1 control registers are 16 bits wide
        if (wb < 2)
            wb = 2;
        uint32_t cnt_a = read_register(p.pm1a_control, wa);
        // Not in ACPI mode yet (SCI_EN clear, as SeaBIOS leaves pc/q35): ask the firmware to
        // switch through SMI_CMD [acpi-6.5 §5.2.9 Table 5.9 SMI_CMD, ACPI_ENABLE] and wait
        // a bounded time for SCI_EN. QEMU powers off without it, real chipsets may not.
        if (!(cnt_a & P::kPm1SciEnable) && p.smi_command != 0 && p.smi_command <= 0xffff && p.acpi_enable != 0) {
            outb(uint16_t(p.smi_command), p.acpi_enable);
            uint64_t start = rdtsc();
            while (!(read_register(p.pm1a_control, wa) & P::kPm1SciEnable) && rdtsc() - start < kSettleTicks)
                asm volatile("pause");
            cnt_a = read_register(p.pm1a_control, wa);
        }
        uint32_t keep = ~uint32_t(P::kPm1SleepMask | P::kPm1SleepEnable);
        uint32_t a = (cnt_a & keep) | p.pm1a_slp_value;
        uint32_t b = 0;
        if (p.pm1b_control.is_present())
            b = (read_register(p.pm1b_control, wb) & keep) | p.pm1b_slp_value;
        // SLP_TYP first, then SLP_EN, to both blocks (as ACPICA's legacy sleep does).
        write_register(p.pm1a_control, wa, a);
        if (p.pm1b_control.is_present())
            write_register(p.pm1b_control, wb, b);
        write_register(p.pm1a_control, wa, a | P::kPm1SleepEnable);
        if (p.pm1b_control.is_present())
            write_register(p.pm1b_control, wb, b | P::kPm1SleepEnable);
        break;
    }
    }
    spin_ticks(kSettleTicks);
}

[[noreturn]] void power_off(const char* record, size_t size, int status)
{
    irq_disable();
    Uart16550 status_uart(Uart16550::kCom2);
    status_uart.init();
    status_uart.write(record, size);
    // QEMU exits with (status << 1) | 1; only the low 7 bits survive the process exit code,
    // which is why the runner prefers the COM2 record.
    outl(kDebugExitPort, uint32_t(status));
    // No isa-debug-exit: ACPI soft-off (microvm without the device, Firecracker-like VMMs,
    // QEMU started by other tools), once.
    bool first = !g_acpi_attempted;
    g_acpi_attempted = true;
    if (first) {
        acpi_power_off();
        // [acpi-6.5 §4.8.3.6] The ACPI reset register: always an 8-bit write of RESET_VALUE.
        if (g_acpi.reset_register.is_present()) {
            write_register(g_acpi.reset_register, 1, g_acpi.reset_value);
            spin_ticks(kSettleTicks);
        }
    }
    // Reset through the PCI reset-control register, then the keyboard controller; a runner
    // started with -no-reboot sees the VM end.
    outb(0xcf9, 0x02);
    outb(0xcf9, 0x0e);
    outb(0x64, 0xfe);
    // Last resort: a triple fault (empty IDT, then an exception).
    struct [[gnu::packed]] {
        uint16_t limit;
        uint64_t base;
    } empty_idt { 0, 0 };
    asm volatile("lidt %0; int3" ::"m"(empty_idt));
    halt_forever();
}

} // namespace

void set_acpi_poweroff(const boot::AcpiPowerOff& poweroff) { g_acpi = poweroff; }

void exit_vm(int status)
{
    char record[16];
    size_t n = lib::format_to(record, sizeof(record), "exit %d\n", status & 0xff);
    power_off(record, n, status & 0xff);
}

void exit_vm_panic()
{
    power_off("panic\n", 6, kPanicStatus);
}

} // namespace arch
