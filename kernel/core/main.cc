// kernel_main: the boot sequence after boot.S — console, CPU tables, boot hand-off, boot
// options, memory, then the work the command line asks for, then a clean VM exit.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/fpu.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/vm_exit.h>
#include <boot/options.h>
#include <boot/pvh.h>
#include <core/acpi.h>
#include <core/boot_info.h>
#include <core/boot_time.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/cpus.h>
#include <core/cxxrt.h>
#include <core/ioapic.h>
#include <core/irq.h>
#include <core/kbench.h>
#include <core/entropy.h>
#include <core/ktest.h>
#include <drivers/drivers.h>
#include <core/memory.h>
#include <core/panic.h>
#include <core/rcu.h>
#include <network/network.h>
#include <core/smp.h>
#include <core/test_fault.h>
#include <core/thread.h>
#include <core/timer.h>
#include <lx/lx.h>

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
boot::CommandLine g_command_line;

void apply_log_level(boot::LogLevel level)
{
    switch (level) {
    case boot::LogLevel::error:
        set_log_level(LogLevel::Error);
        break;
    case boot::LogLevel::warn:
        set_log_level(LogLevel::Warn);
        break;
    case boot::LogLevel::info:
        set_log_level(LogLevel::Info);
        break;
    case boot::LogLevel::debug:
        set_log_level(LogLevel::Debug);
        break;
    }
}

void print_memory_map()
{
    kprintf("memory map (from the hypervisor):\n");
    for (size_t i = 0; i < g_boot_info.region_count; ++i) {
        const auto& r = g_boot_info.regions[i];
        static const char* const kTypes[] = { "?", "ram", "reserved", "acpi", "acpi-nvs", "unusable", "disabled", "pmem" };
        unsigned type = unsigned(r.type);
        kprintf("  0x%016lx-0x%016lx %s\n", r.base, r.base + r.size, type < 8 ? kTypes[type] : "?");
    }
}

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
    set_boot_info(g_boot_info);
    boot::parse_command_line(g_boot_info.command_line(), g_command_line);
    const boot::Options& options = g_command_line.options;
    set_boot_options(options);
    apply_log_level(options.log);
    boot_stamp("boot info");

    if (auto mm = init_memory(g_boot_info, options); mm.is_error()) {
        kprintf("nimbus: cannot boot: memory set-up failed: %s\n", lib::errno_name(mm.error()));
        arch::exit_vm(1);
    }
    boot_stamp("memory");
    init_clock();
    init_acpi(g_boot_info); // never fails the boot: the exit path has other ways out
    discover_cpus();
    boot_stamp("acpi");
    init_threads();
    boot_stamp("threads");
    init_interrupts();
    init_ioapics();
    init_timers();
    if (auto idle = start_idle_thread(); idle.is_error()) {
        kprintf("nimbus: cannot boot: no memory for the idle thread\n");
        arch::exit_vm(1);
    }
    enable_interrupts();
    boot_stamp("interrupts");
    init_entropy();
    boot_stamp("entropy");
    start_secondary_cpus(unsigned(options.smp_max_cpus));
    if (init_rcu().is_error()) {
        kprintf("nimbus: cannot boot: no memory for RCU\n");
        arch::exit_vm(1);
    }
    boot_stamp("smp");
    drivers::init_devices(g_command_line);
    boot_stamp("devices");
    network::init_network(options);
    boot_stamp("network");
    lx::init(options.strace);
    boot_stamp("ready");

    // Everything below is reporting and work, not boot.
    kprintf("Nimbus kernel, %lu MiB of RAM, command line: %s\n", total_memory() >> 20, g_boot_info.cmdline);
    for (size_t i = 0; i < g_command_line.errors.count; ++i)
        log_error("%s (ignored)", g_command_line.errors.entries[i].message);
    if (g_command_line.errors.dropped)
        log_error("%zu more boot option errors not shown", g_command_line.errors.dropped);
    print_memory_map();
    if (options.mm_info)
        print_memory_state();
    if (options.boot_times)
        print_boot_times();

    if (options.test_fault == boot::TestFault::oom) {
        exhaust_memory_test();
    } else if (options.test_fault != boot::TestFault::none) {
        trigger_test_fault(options.test_fault);
        log_error("test.fault: the fault did not happen");
        arch::exit_vm(1);
    }
    if (!options.ktest.is_empty())
        arch::exit_vm(ktest::run_tests(options.ktest.data(), options.ktest.size()));
    if (!options.bench.is_empty())
        arch::exit_vm(kbench::run_benchmarks(options.bench.data(), options.bench.size()));

    if (!g_command_line.app_args.is_empty()) {
        if (!network::wait_configured(options.net_dhcp_wait_ms * 1'000'000))
            log_warn("network: no DHCP lease after %lu ms; the application starts without one", options.net_dhcp_wait_ms);
        if (int status = lx::run_application(g_command_line.app_args, g_boot_info))
            arch::exit_vm(status);
        exit_current_thread(); // the application runs on; its end ends the VM
    }
    kprintf("nimbus: nothing to run, shutting down\n");
    arch::exit_vm(0);
}
