// Faulting-safe access to application memory (uaccess.S). Callers check the range first
// (lx/uaccess.h); these only survive page faults.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {
size_t arch_copy_user(void* dst, const void* src, size_t n);
int64_t arch_copy_user_string(char* dst, const char* src, size_t max);
int arch_user_cmpxchg32(uint32_t* uaddr, uint32_t expected, uint32_t desired, uint32_t* old);
int arch_user_load32(const uint32_t* uaddr, uint32_t* out);
}

namespace arch {

// Where to resume after a page fault at `rip`, if rip is one of the user-access
// instructions; 0 otherwise.
uint64_t uaccess_fixup(uint64_t rip);

} // namespace arch
