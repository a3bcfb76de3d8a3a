// Assertions for kernel bugs. Never use them for anything an application, a packet, a disk
// image, the command line or a device can cause: those return an Errno.
#pragma once

namespace lib {

// Defined by the kernel (panics with the panic exit status) and by the host support library
// (prints and aborts, so a unit test fails loudly).
[[noreturn]] void assert_fail(const char* expr, const char* file, int line);

} // namespace lib

#define NIMBUS_ASSERT(cond)                                        \
    do {                                                           \
        if (__builtin_expect(!(cond), 0))                          \
            ::lib::assert_fail(#cond, __FILE__, __LINE__);         \
    } while (0)
