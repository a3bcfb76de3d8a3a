// The PCI host: how the kernel reaches configuration space on this machine (the ECAM windows of
// the ACPI MCFG table, else the 0xcf8/0xcfc ports), the functions found at boot, and MSI-X
// programming for drivers. Portable decoding lives in kernel/pci (pci.h); this is the part that
// touches hardware.
//
// Boot: init_pci() runs once on the boot CPU after ACPI and the I/O APICs are set up; it
// enumerates every segment and logs "pci: N functions (ecam|ports)"; the boot option
// pci.list prints each function. Machines without PCI (microvm) find none.
#pragma once

#include <core/ioapic.h>
#include <lib/result.h>
#include <pci/pci.h>
#include <stddef.h>

namespace drivers {

void init_pci(bool list);

// The configuration-space access serving `address` (nullptr if no PCI there).
pci::ConfigAccess* pci_config(const pci::Address& address);

// Functions found by init_pci, in enumeration order; valid for the kernel's lifetime.
size_t pci_device_count();
const pci::Device& pci_device(size_t index);

// Calls `probe` for each function with this vendor id and one of the device ids in
// [first_device, last_device]. Used by drivers' init functions.
void for_each_pci_device(uint16_t vendor, uint16_t first_device, uint16_t last_device,
                         void (*probe)(const pci::Device& device, void* context), void* context);

// Sets (or clears) bits of a function's command register (bus mastering, decoding, INTx disable).
void pci_set_command(const pci::Device& device, uint16_t set, uint16_t clear);

// Maps memory BAR `index` of `device` (uncached) and returns its kernel address; nullptr for an
// I/O or absent BAR or when it cannot be mapped.
volatile uint8_t* pci_map_bar(const pci::Device& device, unsigned index);

// The GSI a function's INTx pin arrives on (level, active low, as PCI interrupts are): from the
// line the firmware wrote (pc/q35 firmware routes PCI INTx through the I/O APIC with the ISA
// numbering, GSI = line). NOENT if the function has no pin or the firmware gave it no line.
Result<core::GsiRoute> pci_intx_route(const pci::Device& device);

// A function's MSI-X table, mapped. Vectors start masked; enable() switches MSI-X on (and INTx
// off) for the function.
class MsixTable {
public:
    // NOENT: no (usable) MSI-X capability; NOMEM: the table cannot be mapped.
    static Result<MsixTable> open(const pci::Device& device);

    uint16_t size() const { return m_size; }
    // Points entry `entry` at `vector` on CPU `cpu` and unmasks it. INVAL: bad entry or CPU.
    Result<void> route(uint16_t entry, uint8_t vector, unsigned cpu);
    void mask(uint16_t entry, bool masked);
    void enable();
    void disable();

private:
    const pci::Device* m_device = nullptr;
    volatile uint8_t* m_table = nullptr;
    uint16_t m_size = 0;
};

} // namespace drivers
