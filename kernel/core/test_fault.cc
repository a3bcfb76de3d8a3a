// Deliberate faults for testing the panic path. Each one must end in a diagnosed panic with
// a symbolised backtrace (checked by tests/integration/panic).
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/trap_frame.h>
#include <core/console.h>
#include <core/test_fault.h>
#include <core/thread.h>

namespace core {
namespace {

// Opaque to the optimiser, so the faults below are really executed.
template<typename T>
T launder_value(T value)
{
    asm volatile("" : "+r"(value));
    return value;
}

[[gnu::noinline]] int recurse_forever(int depth)
{
    volatile char frame[512];
    frame[0] = char(depth);
    if (launder_value(depth) < 0) // never true; keeps the recursion "bounded" for the compiler
        return 0;
    return recurse_forever(depth + 1) + frame[0];
}

uint64_t g_data_word = 0xc3c3c3c3c3c3c3c3; // "ret" bytes: harmless if NX were missing

} // namespace

[[gnu::noinline]] void trigger_test_fault(boot::TestFault fault)
{
    using boot::TestFault;
    switch (fault) {
    case TestFault::none:
    case TestFault::oom:
        return;
    case TestFault::null_read:
        kprintf("test.fault: reading address 0\n");
        (void)*launder_value(static_cast<volatile int*>(nullptr));
        break;
    case TestFault::null_write:
        kprintf("test.fault: writing address 0\n");
        *launder_value(static_cast<volatile int*>(nullptr)) = 1;
        break;
    case TestFault::write_text:
        kprintf("test.fault: writing kernel text\n");
        *launder_value(reinterpret_cast<volatile uint8_t*>(&trigger_test_fault)) = 0xcc;
        break;
    case TestFault::exec_data:
        kprintf("test.fault: executing kernel data\n");
        launder_value(reinterpret_cast<void (*)()>(&g_data_word))();
        asm volatile("" ::: "memory"); // not a tail call: keep this frame in the backtrace
        break;
    case TestFault::divide: {
        kprintf("test.fault: dividing by zero\n");
        // In assembly: the compiler may rewrite 1 / x without a division instruction.
        uint32_t quotient = 1, divisor = 0;
        asm volatile("xorl %%edx, %%edx; divl %1" : "+a"(quotient) : "r"(divisor) : "edx");
        break;
    }
    case TestFault::ud:
        kprintf("test.fault: executing ud2\n");
        asm volatile("ud2");
        break;
    case TestFault::double_fault:
        // A page fault whose gate is not present raises #NP while delivering #PF: a
        // contributory exception during a page fault is a double fault [intel-sdm-3a §6.15].
        kprintf("test.fault: page fault with the #PF gate not present\n");
        arch::set_gate(arch::kPageFault, false);
        (void)*launder_value(static_cast<volatile int*>(nullptr));
        break;
    case TestFault::soft_int:
        // Ring-0 code can raise an exception vector with `int`; the CPU then pushes no error
        // code even for #PF, and the entry must notice rather than misread the frame.
        kprintf("test.fault: int $14\n");
        asm volatile("int $14");
        break;
    case TestFault::thread_stack_overflow: {
        kprintf("test.fault: unbounded recursion in a kernel thread\n");
        auto t = Thread::create("overflow", [](void*) { recurse_forever(0); }, nullptr);
        if (t.is_error())
            return;
        Thread::join(t.value());
        break;
    }
    case TestFault::stack_overflow:
        kprintf("test.fault: unbounded recursion\n");
        recurse_forever(0);
        break;
    }
}

} // namespace core
