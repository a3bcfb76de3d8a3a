// The PCI host (pci_host.h): configuration-space access, the device list, BARs, MSI-X.
#include <arch/x86_64/cpu.h>
#include <core/acpi.h>
#include <core/console.h>
#include <core/cpu.h>
#include <core/memory.h>
#include <drivers/pci_host.h>
#include <pci/mcfg.h>
#include <sync/mutex.h>

namespace drivers {
namespace {

// [pci-3.0 §3.2.2.3.2] Configuration mechanism #1: an address dword at 0xcf8 selects the
// register, the data window at 0xcfc reads or writes it. Two steps: the lock keeps them
// together. Reaches the first 256 bytes of segment 0 only.
class PortConfigAccess final : public pci::ConfigAccess {
public:
    uint32_t read32(pci::Address a, uint16_t offset) override
    {
        if (!reachable(a, offset))
            return 0xffffffff;
        ksync::MutexGuard guard(m_lock);
        arch::outl(kAddressPort, address(a, offset));
        return arch::inl(kDataPort);
    }
    void write32(pci::Address a, uint16_t offset, uint32_t value) override
    {
        if (!reachable(a, offset))
            return;
        ksync::MutexGuard guard(m_lock);
        arch::outl(kAddressPort, address(a, offset));
        arch::outl(kDataPort, value);
    }
    uint16_t config_size() const override { return 256; }
    bool covers(uint16_t segment, uint8_t) const override { return segment == 0; }

private:
    static constexpr uint16_t kAddressPort = 0xcf8;
    static constexpr uint16_t kDataPort = 0xcfc;

    static bool reachable(pci::Address a, uint16_t offset)
    {
        return a.segment == 0 && a.device < 32 && a.function < 8 && offset < 256 && (offset & 3) == 0;
    }
    static uint32_t address(pci::Address a, uint16_t offset)
    {
        return 0x80000000u | (uint32_t(a.bus) << 16) | (uint32_t(a.device) << 11) | (uint32_t(a.function) << 8) |
               offset;
    }

    ksync::Mutex m_lock;
};

// [pcie-5.0 §7.2.2] ECAM: each function's 4 KiB of configuration space is memory. A window
// covers up to 256 buses (256 MiB); only the buses enumeration visits are mapped (uncached,
// 1 MiB each), while init_pci runs. Afterwards an unmapped bus reads as absent.
class EcamConfigAccess final : public pci::ConfigAccess {
public:
    explicit EcamConfigAccess(const pci::EcamWindow& window) : m_window(window) {}

    uint32_t read32(pci::Address a, uint16_t offset) override
    {
        volatile uint32_t* reg = locate(a, offset);
        return reg ? *reg : 0xffffffff;
    }
    void write32(pci::Address a, uint16_t offset, uint32_t value) override
    {
        if (volatile uint32_t* reg = locate(a, offset))
            *reg = value;
    }
    uint16_t config_size() const override { return 4096; }
    const pci::EcamWindow& window() const { return m_window; }
    bool covers(uint16_t segment, uint8_t bus) const override
    {
        return segment == m_window.segment && bus >= m_window.start_bus && bus <= m_window.end_bus;
    }
    // Stops mapping buses on demand (end of init_pci: later accesses come from any thread).
    void close_mapping() { m_mapping_open = false; }

private:
    volatile uint32_t* locate(pci::Address a, uint16_t offset)
    {
        if (!covers(a.segment, a.bus) || a.device >= 32 || a.function >= 8 || offset >= 4096 || (offset & 3))
            return nullptr;
        uint64_t bit = 1ull << (a.bus % 64);
        if (!(m_mapped[a.bus / 64] & bit)) {
            if (!m_mapping_open || !core::map_mmio(m_window.address(a.bus, 0, 0, 0), 1u << 20))
                return nullptr;
            m_mapped[a.bus / 64] |= bit;
        }
        return static_cast<volatile uint32_t*>(
            core::phys_to_virt(m_window.address(a.bus, a.device, a.function, offset)));
    }

    pci::EcamWindow m_window;
    uint64_t m_mapped[4] = {};
    bool m_mapping_open = true;
};

constexpr size_t kMaxDevices = 64;

// Boot-time state: written by init_pci (boot CPU, before drivers), read-only afterwards.
alignas(PortConfigAccess) uint8_t g_port_storage[sizeof(PortConfigAccess)];
PortConfigAccess* g_ports = nullptr;
alignas(EcamConfigAccess) uint8_t g_ecam_storage[pci::McfgInfo::kMaxWindows][sizeof(EcamConfigAccess)];
EcamConfigAccess* g_ecam[pci::McfgInfo::kMaxWindows];
size_t g_ecam_count = 0;
pci::Device* g_devices = nullptr;
size_t g_device_count = 0;
size_t g_devices_dropped = 0;

struct Collect {
    bool list;
};

bool collect(const pci::Device& device, void* context)
{
    const Collect& c = *static_cast<const Collect*>(context);
    if (c.list) {
        const pci::Address& a = device.address;
        log_info("pci: %04x:%02x:%02x.%u %04x:%04x %s (class %02x.%02x.%02x)%s%s%s", a.segment, a.bus, a.device,
                 a.function, device.vendor_id, device.device_id, pci::class_name(device.class_code), device.class_code,
                 device.subclass, device.prog_if, device.msix.offset ? " msi-x" : "", device.problem ? ": " : "",
                 device.problem ? device.problem : "");
        for (unsigned i = 0; i < 6; ++i) {
            const pci::Bar& bar = device.bars[i];
            if (bar.is_present())
                log_info("pci:   bar%u %s %#lx size %#lx%s", i, bar.is_memory() ? "mem" : "io", bar.base, bar.size,
                         bar.prefetchable ? " prefetchable" : "");
        }
    }
    if (g_device_count == kMaxDevices) {
        ++g_devices_dropped;
        return true;
    }
    g_devices[g_device_count++] = device;
    return true;
}

// Whether port-based configuration space answers at all: the host bridge 00:00.0 is there on
// every PC chipset. microvm has no PCI and its ports read as all ones.
bool ports_answer(pci::ConfigAccess& ports)
{
    return (ports.read32({}, pci::reg::kVendorId) & 0xffff) != 0xffff;
}

} // namespace

void init_pci(bool list)
{
    g_devices = static_cast<pci::Device*>(core::kmalloc(sizeof(pci::Device) * kMaxDevices));
    if (!g_devices) {
        log_error("pci: no memory for the device list; no PCI devices");
        return;
    }
    const char* how = "none";
    if (const boot::AcpiTableRef* mcfg = core::acpi_info().find("MCFG")) {
        pci::McfgInfo info;
        if (auto parsed = pci::parse_mcfg(core::firmware_reader(), *mcfg, info); parsed.is_error()) {
            log_warn("pci: malformed MCFG table (%s); using the configuration ports", lib::errno_name(parsed.error()));
        } else {
            if (info.skipped)
                log_warn("pci: %zu malformed MCFG entries skipped", info.skipped);
            for (size_t i = 0; i < info.count; ++i) {
                const pci::EcamWindow& w = info.windows[i];
                if (w.first_address() >= core::phys_addr_limit() ||
                    w.size() > core::phys_addr_limit() - w.first_address()) {
                    log_warn("pci: the ECAM window at %#lx is beyond physical memory's reach", w.first_address());
                    continue;
                }
                g_ecam[g_ecam_count] = new (g_ecam_storage[g_ecam_count]) EcamConfigAccess(w);
                ++g_ecam_count;
            }
        }
    }
    g_ports = new (g_port_storage) PortConfigAccess();
    Collect context{ list };
    size_t found = 0;
    if (g_ecam_count != 0) {
        how = "ecam";
        for (size_t i = 0; i < g_ecam_count; ++i) // each window's first bus is a root bus
            found += pci::enumerate(*g_ecam[i], g_ecam[i]->window().segment, g_ecam[i]->window().start_bus, collect,
                                    &context);
    } else if (ports_answer(*g_ports)) {
        how = "ports";
        found = pci::enumerate(*g_ports, 0, 0, collect, &context);
    }
    for (size_t i = 0; i < g_ecam_count; ++i)
        g_ecam[i]->close_mapping();
    if (g_devices_dropped)
        log_warn("pci: %zu functions beyond the first %zu ignored", g_devices_dropped, kMaxDevices);
    log_info("pci: %zu functions (%s)", found, how);
}

pci::ConfigAccess* pci_config(const pci::Address& address)
{
    for (size_t i = 0; i < g_ecam_count; ++i) {
        if (g_ecam[i]->covers(address.segment, address.bus))
            return g_ecam[i];
    }
    if (g_ecam_count == 0 && g_ports && address.segment == 0)
        return g_ports;
    return nullptr;
}

size_t pci_device_count() { return g_device_count; }

const pci::Device& pci_device(size_t index)
{
    NIMBUS_ASSERT(index < g_device_count);
    return g_devices[index];
}

void for_each_pci_device(uint16_t vendor, uint16_t first_device, uint16_t last_device,
                         void (*probe)(const pci::Device& device, void* context), void* context)
{
    for (size_t i = 0; i < g_device_count; ++i) {
        const pci::Device& d = g_devices[i];
        if (d.vendor_id == vendor && d.device_id >= first_device && d.device_id <= last_device)
            probe(d, context);
    }
}

void pci_set_command(const pci::Device& device, uint16_t set, uint16_t clear)
{
    pci::ConfigAccess* access = pci_config(device.address);
    if (!access)
        return;
    uint16_t command = access->read16(device.address, pci::reg::kCommand);
    access->write16(device.address, pci::reg::kCommand, uint16_t((command & ~clear) | set));
}

volatile uint8_t* pci_map_bar(const pci::Device& device, unsigned index)
{
    if (index >= 6)
        return nullptr;
    const pci::Bar& bar = device.bars[index];
    if (!bar.is_memory() || bar.size == 0 || bar.base == 0)
        return nullptr;
    if (bar.base >= core::phys_addr_limit() || bar.size > core::phys_addr_limit() - bar.base)
        return nullptr;
    return static_cast<volatile uint8_t*>(core::map_mmio(bar.base, bar.size));
}

Result<core::GsiRoute> pci_intx_route(const pci::Device& device)
{
    // 0xff (and 0) mean "not connected" / "unknown" [pci-3.0 §6.2.4]; the ISA numbering the
    // firmware uses covers 1-15.
    if (device.interrupt_pin == 0 || device.interrupt_line == 0 || device.interrupt_line >= 16)
        return Errno::NOENT;
    core::GsiRoute route = core::isa_irq_route(device.interrupt_line);
    route.trigger = core::Trigger::Level; // PCI INTx is level-triggered
    return route;
}

Result<MsixTable> MsixTable::open(const pci::Device& device)
{
    if (device.msix.offset == 0 || !pci_config(device.address))
        return Errno::NOENT;
    const pci::Bar& bar = device.bars[device.msix.table_bar];
    uint64_t table = bar.base + device.msix.table_offset;
    size_t bytes = size_t(device.msix.table_size) * pci::kMsixEntrySize;
    void* mapped = bar.base ? core::map_mmio(table & ~0xfffull, (table & 0xfff) + bytes) : nullptr;
    if (!mapped)
        return Errno::NOMEM;
    MsixTable t;
    t.m_device = &device;
    t.m_table = static_cast<volatile uint8_t*>(mapped) + (table & 0xfff);
    t.m_size = device.msix.table_size;
    for (uint16_t i = 0; i < t.m_size; ++i)
        t.mask(i, true);
    return t;
}

Result<void> MsixTable::route(uint16_t entry, uint8_t vector, unsigned cpu)
{
    if (entry >= m_size || cpu >= core::cpu_count())
        return Errno::INVAL;
    pci::MsiMessage message = TRY(pci::msi_message(core::cpu(cpu).apic_id, vector));
    volatile uint32_t* e = reinterpret_cast<volatile uint32_t*>(m_table + size_t(entry) * pci::kMsixEntrySize);
    mask(entry, true); // [pci-3.0 §6.8.2.9] change a masked entry only
    e[pci::kMsixEntryAddressLow / 4] = uint32_t(message.address);
    e[pci::kMsixEntryAddressHigh / 4] = uint32_t(message.address >> 32);
    e[pci::kMsixEntryData / 4] = message.data;
    mask(entry, false);
    return {};
}

void MsixTable::mask(uint16_t entry, bool masked)
{
    if (entry >= m_size)
        return;
    volatile uint32_t* control =
        reinterpret_cast<volatile uint32_t*>(m_table + size_t(entry) * pci::kMsixEntrySize + pci::kMsixEntryControl);
    uint32_t value = *control;
    *control = masked ? (value | pci::kMsixEntryMasked) : (value & ~pci::kMsixEntryMasked);
}

void MsixTable::enable()
{
    pci::ConfigAccess* access = pci_config(m_device->address);
    uint16_t offset = uint16_t(m_device->msix.offset + 2);
    uint16_t control = access->read16(m_device->address, offset);
    access->write16(m_device->address, offset,
                    uint16_t((control | pci::kMsixControlEnable) & ~pci::kMsixControlFunctionMask));
    pci_set_command(*m_device, pci::kCommandIntxDisable, 0);
}

void MsixTable::disable()
{
    pci::ConfigAccess* access = pci_config(m_device->address);
    uint16_t offset = uint16_t(m_device->msix.offset + 2);
    uint16_t control = access->read16(m_device->address, offset);
    access->write16(m_device->address, offset, uint16_t(control & ~pci::kMsixControlEnable));
}

} // namespace drivers
