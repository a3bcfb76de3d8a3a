// The C++ runtime support the kernel needs: global constructors, guard variables for
// function-local statics, pure-virtual calls and the nothrow operator new/delete.
#include <core/cxxrt.h>
#include <core/panic.h>
#include <new>

extern "C" {

using InitFunction = void (*)();
extern InitFunction __init_array_start[];
extern InitFunction __init_array_end[];

void* __dso_handle = nullptr;

// Destructors of kernel globals never run: the kernel ends by powering the VM off.
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }

void __cxa_pure_virtual() { core::panic("pure virtual function called"); }

// Guard-variable protocol [itanium-cxx-abi §3.3.2]: byte 0 = initialised, byte 1 = in
// progress. Single CPU for now; the SMP issue makes contenders wait on the lock-free mutex.
int __cxa_guard_acquire(uint64_t* guard)
{
    auto* bytes = reinterpret_cast<volatile uint8_t*>(guard);
    if (bytes[0])
        return 0;
    if (bytes[1])
        core::panic("recursive initialisation of a function-local static");
    bytes[1] = 1;
    return 1;
}

void __cxa_guard_release(uint64_t* guard)
{
    auto* bytes = reinterpret_cast<volatile uint8_t*>(guard);
    bytes[0] = 1;
    bytes[1] = 0;
}

void __cxa_guard_abort(uint64_t* guard) { reinterpret_cast<volatile uint8_t*>(guard)[1] = 0; }

} // extern "C"

namespace core {

void run_global_constructors()
{
    for (InitFunction* fn = __init_array_start; fn != __init_array_end; ++fn)
        (*fn)();
}

} // namespace core

// The tag object for `new (std::nothrow) T`; normally provided by libstdc++.
namespace std {
const nothrow_t nothrow {};
}
