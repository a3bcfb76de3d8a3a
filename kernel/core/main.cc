// kernel_main: the boot sequence after boot.S — console, CPU tables, boot hand-off, boot
// options, memory, then the work the command line asks for, then a clean VM exit.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/fpu.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/vm_exit.h>
#include <boot/pvh.h>
#include <core/boot_time.h>
#include <core/console.h>
#include <core/cxxrt.h>
#include <core/panic.h>

namespace core {
namespace {

// Reads physical memory through the early direct map (the first GiB, see boot.S).
class EarlyPhysReader final : public boot::PhysReader {
public:
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr >= arch::kEarlyMapSize || size > arch::kEarlyMapSize - paddr)
            return false;
        __builtin_memcpy(out, reinterpret_cast<const void*>(arch::kDirectMap + paddr), size);
        return true;
    }
};

boot::BootInfo g_boot_info;

} // namespace
} // namespace core

extern "C" [[noreturn]] void kernel_main(uint32_t start_info_paddr)
{
    using namespace core;
    console_init();
    run_global_constructors();
    arch::init_descriptors();
    arch::init_fpu();
    boot_stamp("cpu");

    EarlyPhysReader reader;
    boot::PvhError err = boot::parse_start_info(reader, start_info_paddr, g_boot_info);
    if (err != boot::PvhError::None) {
        // The hypervisor handed over something unusable: say what, and end the VM.
        kprintf("nimbus: cannot boot: %s (start_info at %#x)\n", boot::pvh_error_message(err),
                start_info_paddr);
        arch::exit_vm(1);
    }
    boot_stamp("boot info");

    kprintf("Nimbus kernel\n");
    kprintf("command line: %s\n", g_boot_info.cmdline);
    kprintf("memory map:\n");
    for (size_t i = 0; i < g_boot_info.region_count; ++i) {
        const auto& r = g_boot_info.regions[i];
        kprintf("  0x%016lx-0x%016lx type %u\n", r.base, r.base + r.size, unsigned(r.type));
    }
    boot_stamp("ready");
    print_boot_times();
    arch::exit_vm(0);
}
