// The Linux x86-64 ABI's time structures, as system calls and the vDSO read and write them
// in application memory: one definition for kernel/lx and kernel/vdso. Header-only.
#pragma once

#include <cstdint>

namespace clk {

struct Timespec { // struct timespec
    int64_t sec;
    int64_t nsec;
};
struct Timeval { // struct timeval
    int64_t sec;
    int64_t usec;
};
struct Timezone { // struct timezone (obsolete; always UTC here)
    int32_t minuteswest;
    int32_t dsttime;
};
struct Itimerspec { // struct itimerspec
    Timespec interval, value;
};
struct Itimerval { // struct itimerval
    Timeval interval, value;
};
static_assert(sizeof(Timespec) == 16 && sizeof(Timeval) == 16 && sizeof(Timezone) == 8);
static_assert(sizeof(Itimerspec) == 32 && sizeof(Itimerval) == 32);

} // namespace clk
