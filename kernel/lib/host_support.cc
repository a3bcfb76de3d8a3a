// Host-only glue for the portable libraries: what the kernel provides itself (assertion
// failure) done the host way, so unit tests fail loudly.
#include <lib/assert.h>

#include <cstdio>
#include <cstdlib>

namespace lib {

[[noreturn]] void assert_fail(const char* expr, const char* file, int line)
{
    std::fprintf(stderr, "assertion failed: %s at %s:%d\n", expr, file, line);
    std::abort();
}

} // namespace lib
