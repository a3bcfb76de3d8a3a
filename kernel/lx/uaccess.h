// Application memory, reached only through these checked copies: the range must lie in the
// application half (else FAULT at once), and a page the application has not mapped (or not
// with the access needed) makes the copy fail with FAULT instead of faulting the kernel
// (arch/x86_64/uaccess.S). Copies may sleep: a page not yet touched is demand-paged in.
#pragma once

#include <arch/x86_64/uaccess.h>
#include <cstddef>
#include <cstdint>
#include <lib/errno.h>
#include <lib/result.h>

namespace lx {

inline constexpr uint64_t kAppLimit = uint64_t(1) << 47;

inline bool app_range_ok(uint64_t addr, size_t size)
{
    return addr < kAppLimit && size <= kAppLimit - addr;
}

inline lib::Result<void> copy_from_app(void* dst, uint64_t src, size_t size)
{
    if (!app_range_ok(src, size))
        return lib::Errno::FAULT;
    if (arch_copy_user(dst, reinterpret_cast<const void*>(src), size) != 0)
        return lib::Errno::FAULT;
    return {};
}

inline lib::Result<void> copy_to_app(uint64_t dst, const void* src, size_t size)
{
    if (!app_range_ok(dst, size))
        return lib::Errno::FAULT;
    if (arch_copy_user(reinterpret_cast<void*>(dst), src, size) != 0)
        return lib::Errno::FAULT;
    return {};
}

template<typename T>
lib::Result<T> read_app(uint64_t src)
{
    T value;
    if (auto r = copy_from_app(&value, src, sizeof(T)); r.is_error())
        return r.error();
    return value;
}

template<typename T>
lib::Result<void> write_app(uint64_t dst, const T& value)
{
    return copy_to_app(dst, &value, sizeof(T));
}

// Copies a NUL-terminated string of at most max - 1 bytes into dst (max bytes); its length.
// FAULT, or NAMETOOLONG when there is no NUL within max bytes.
inline lib::Result<size_t> copy_string_from_app(char* dst, uint64_t src, size_t max)
{
    if (src >= kAppLimit || max == 0)
        return lib::Errno::FAULT;
    size_t limit = max < kAppLimit - src ? max : size_t(kAppLimit - src);
    int64_t n = arch_copy_user_string(dst, reinterpret_cast<const char*>(src), limit);
    if (n < 0)
        return lib::Errno::FAULT;
    if (size_t(n) == limit)
        return limit == max ? lib::Errno::NAMETOOLONG : lib::Errno::FAULT;
    return size_t(n);
}

} // namespace lx
