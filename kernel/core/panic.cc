// Panic reporting. Everything here must work with a broken kernel: it only reads validated
// stack memory, formats into fixed buffers and never allocates.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/trap_frame.h>
#include <arch/x86_64/vm_exit.h>
#include <atomic>
#include <arch/x86_64/apic.h>
#include <core/console.h>
#include <core/irq.h>
#include <core/ksyms.h>
#include <core/panic.h>
#include <core/thread.h>
#include <lib/assert.h>

namespace core {
namespace {

// The id + 1 of the CPU that is panicking (0: none). The first panic wins; a panic on that
// CPU while it reports (a fault in the panic path) ends the VM at once; a panic on another
// CPU halts that CPU, so the first report is not cut off.
std::atomic<uint32_t> g_panicking{0};

uint32_t cpu_tag()
{
    PerCpu* cpu = this_cpu_or_null();
    return cpu ? cpu->id + 1 : 1;
}

// Claims the panic for this CPU and stops the others (an NMI each, whose handler halts them:
// they may be spinning with interrupts off or printing). Returns only to the first panicker.
void begin_panic()
{
    arch::irq_disable();
    uint32_t expected = 0;
    uint32_t self = cpu_tag();
    if (!g_panicking.compare_exchange_strong(expected, self)) {
        if (expected == self)
            arch::exit_vm_panic();
        arch::halt_forever();
    }
    if (this_cpu_or_null() && apic_info().mode != arch::ApicMode::None)
        arch::apic_send_nmi_to_others();
}

// True if [address, address + size) lies inside one of the kernel's fixed stacks, so the
// backtrace walker never dereferences a wild frame pointer.
bool is_stack_range(uint64_t address, uint64_t size)
{
    if (PerCpu* cpu = this_cpu_or_null(); cpu && cpu->current && cpu->current->stack_bottom()) {
        uint64_t bottom = cpu->current->stack_bottom(), top = cpu->current->stack_top();
        if (address >= bottom && address <= top && size <= top - address)
            return true;
    }
    for (int slot = 0; slot < arch::kNumStacks; ++slot) {
        uint64_t bottom = arch::stack_bottom(slot), top = arch::stack_top(slot);
        if (address >= bottom && address <= top && size <= top - address)
            return true;
    }
    if (PerCpu* cpu = this_cpu_or_null(); cpu && cpu->ist_size) { // another CPU's IST stacks
        for (uint64_t bottom : cpu->ist_bottom) {
            uint64_t top = bottom + cpu->ist_size;
            if (address >= bottom && address <= top && size <= top - address)
                return true;
        }
    }
    return false;
}


void print_frame(int index, uint64_t address)
{
    SymbolInfo sym = symbolize(address);
    if (sym.name)
        kprintf("  #%-2d 0x%016lx %s+%#lx\n", index, address, sym.name, sym.offset);
    else
        kprintf("  #%-2d 0x%016lx ?\n", index, address);
}


} // namespace

void print_backtrace(uint64_t rip, uint64_t rbp)
{
    kprintf("backtrace:\n");
    print_frame(0, rip);
    for (int i = 1; i < 32; ++i) {
        if ((rbp & 7) || !is_stack_range(rbp, 16))
            break;
        auto* frame = reinterpret_cast<const uint64_t*>(rbp);
        uint64_t return_address = frame[1];
        if (return_address == 0)
            break;
        // Report the call instruction rather than the instruction after it.
        print_frame(i, return_address - 1);
        if (frame[0] <= rbp)
            break; // frames must move up the stack
        rbp = frame[0];
    }
}

bool panic_in_progress() { return g_panicking.load() != 0; }

void panic(const char* fmt, ...)
{
    begin_panic();
    kprintf("\nkernel panic: ");
    va_list args;
    va_start(args, fmt);
    vkprintf(fmt, args);
    va_end(args);
    kprintf("\n");
    // Start at panic()'s caller: its return address and the frame pointer it saved.
    auto* own_frame = static_cast<const uint64_t*>(__builtin_frame_address(0));
    print_backtrace(uint64_t(__builtin_return_address(0)) - 1, own_frame[0]);
    if (this_cpu_or_null())
        dump_threads();
    kprintf("KERNEL PANIC: VM exits with status %d\n", arch::kPanicStatus);
    arch::exit_vm_panic();
}

void panic_trap(const arch::TrapFrame& f, const char* what)
{
    begin_panic();
    kprintf("\nkernel panic: %s (vector %lu) at %#lx", arch::vector_name(f.vector), f.vector, f.rip);
    if (what)
        kprintf(": %s", what);
    kprintf("\n  error code %#lx  cr2 0x%016lx  cr3 0x%016lx\n", f.error_code, arch::read_cr2(), arch::read_cr3());
    kprintf("  rax 0x%016lx rbx 0x%016lx rcx 0x%016lx rdx 0x%016lx\n", f.rax, f.rbx, f.rcx, f.rdx);
    kprintf("  rsi 0x%016lx rdi 0x%016lx rbp 0x%016lx rsp 0x%016lx\n", f.rsi, f.rdi, f.rbp, f.rsp);
    kprintf("  r8  0x%016lx r9  0x%016lx r10 0x%016lx r11 0x%016lx\n", f.r8, f.r9, f.r10, f.r11);
    kprintf("  r12 0x%016lx r13 0x%016lx r14 0x%016lx r15 0x%016lx\n", f.r12, f.r13, f.r14, f.r15);
    kprintf("  rip 0x%016lx rflags %#lx cs %#lx ss %#lx\n", f.rip, f.rflags, f.cs, f.ss);
    print_backtrace(f.rip, f.rbp);
    // A call into non-code (a bad function pointer) leaves the caller's return address at
    // the top of the stack rather than in the frame-pointer chain: show it too.
    if (!symbolize(f.rip).name && is_stack_range(f.rsp, 8)) {
        uint64_t ret = *reinterpret_cast<const uint64_t*>(f.rsp);
        if (symbolize(ret - 1).name) {
            kprintf("called from:\n");
            print_frame(1, ret - 1);
        }
    }
    if (this_cpu_or_null())
        dump_threads();
    kprintf("KERNEL PANIC: VM exits with status %d\n", arch::kPanicStatus);
    arch::exit_vm_panic();
}

} // namespace core

namespace lib {

void assert_fail(const char* expr, const char* file, int line)
{
    core::panic("assertion failed: %s at %s:%d", expr, file, line);
}

} // namespace lib
