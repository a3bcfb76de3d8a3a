// The Linux system-call layer: what every family file (sys_*.cc) needs. The table itself is
// syscalls.def; the dispatcher and the strace option are in syscall.cc.
//
// A handler is `int64_t sys_<name>(const Args&)`: it returns the result, or a negative
// errno (-ENOENT) as Linux's raw syscall ABI does. Pointers from the application are plain
// integers here and are only ever dereferenced through lx/uaccess.h, so a bad pointer is
// EFAULT and never a kernel fault. Handlers run on the calling thread's kernel stack with
// interrupts on and may block.
#pragma once

#include <arch/x86_64/syscall_entry.h>
#include <cstdint>
#include <lib/errno.h>
#include <lib/result.h>

namespace lx {

using lib::Errno;
template<typename T>
using Result = lib::Result<T>;

// A call's six arguments and its frame. The dispatcher's Args reads the arguments in place, in
// the frame's rdi..r9 (consecutive, in argument order: syscall_entry.h), rather than copying
// them (a dozen instructions of every system call); a handler that calls another with other
// arguments builds one with its own copy: `sys_pipe2({ { a.u(0), 0, 0, 0, 0, 0 }, a.frame })`.
// Not copyable (the pointer may point into the object itself).
class Args {
public:
    explicit Args(arch::SyscallFrame* f) : frame(f), m_values(&f->rdi) {}
    Args(const uint64_t (&values)[6], arch::SyscallFrame* f) : frame(f), m_values(m_own)
    {
        for (int n = 0; n < 6; ++n)
            m_own[n] = values[n];
    }
    Args(const Args&) = delete;
    Args& operator=(const Args&) = delete;

    uint64_t u(int i) const { return m_values[i]; }
    int32_t i(int n) const { return int32_t(m_values[n]); }
    int64_t l(int n) const { return int64_t(m_values[n]); }

    arch::SyscallFrame* frame;

private:
    const uint64_t* m_values;
    uint64_t m_own[6];
};
static_assert(__builtin_offsetof(arch::SyscallFrame, r9) - __builtin_offsetof(arch::SyscallFrame, rdi) == 5 * 8,
              "Args reads rdi, rsi, rdx, r10, r8, r9 as one array");

inline int64_t err(Errno e) { return -int64_t(e); }

// A Result as a syscall return value: the value, or -errno.
template<typename T>
int64_t ret(const Result<T>& r)
{
    if (r.is_error())
        return err(r.error());
    if constexpr (__is_same(T, void))
        return 0;
    else
        return int64_t(r.value());
}

// Declarations of every handler in syscalls.def.
#define SYSCALL(nr, name, args) int64_t sys_##name(const Args&);
#include <lx/syscalls.def>

// The name of syscall `nr`, or nullptr for a number Linux does not define.
const char* syscall_name(uint64_t nr);

// Whether the strace boot option is on.
void set_strace(bool on);

} // namespace lx
