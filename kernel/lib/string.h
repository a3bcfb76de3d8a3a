// Portable memory and C-string helpers (the kernel's memcpy & co. forward here) and StringView,
// a non-owning view of characters.
//
// Only the compiler's own C headers are included: the kernel target has no C++ standard
// library headers on its include path, and libstdc++'s <string_view> is not freestanding
// (it drags in <cwchar>), so StringView stands in for std::string_view.
#pragma once

#include <stddef.h>

namespace lib {

// Same contracts as the C functions of the same family (memcpy, memmove, ...): mem_copy's
// ranges must not overlap, mem_move's may. Comparisons treat bytes as unsigned char and only
// the sign of the result is meaningful.
void* mem_copy(void* dst, const void* src, size_t size);
void* mem_move(void* dst, const void* src, size_t size);
void* mem_set(void* dst, int byte, size_t size);
int mem_compare(const void* a, const void* b, size_t size);

size_t str_length(const char* s);
// Length of s, but reads at most max_size bytes (s need not be terminated within them).
size_t str_nlength(const char* s, size_t max_size);
int str_compare(const char* a, const char* b);
int str_ncompare(const char* a, const char* b, size_t max_size);
// First occurrence of c in s, or nullptr; c == '\0' finds the terminator (as strchr does).
const char* str_find_char(const char* s, char c);

// A read-only view of `size` characters at `data`; the characters are owned elsewhere and
// must outlive the view. Not necessarily NUL-terminated.
class StringView {
public:
    static constexpr size_t npos = static_cast<size_t>(-1);

    constexpr StringView() = default;
    constexpr StringView(const char* data, size_t size) : m_data(data), m_size(size) {}
    // From a NUL-terminated string (nullptr gives the empty view).
    constexpr StringView(const char* s) : m_data(s), m_size(s ? __builtin_strlen(s) : 0) {}

    constexpr const char* data() const { return m_data; }
    constexpr size_t size() const { return m_size; }
    constexpr bool is_empty() const { return m_size == 0; }
    constexpr char operator[](size_t i) const { return m_data[i]; }
    constexpr const char* begin() const { return m_data; }
    constexpr const char* end() const { return m_data + m_size; }

    // The characters [pos, pos + count), clamped to the view (never out of bounds).
    constexpr StringView substr(size_t pos, size_t count = npos) const
    {
        if (pos > m_size)
            pos = m_size;
        if (count > m_size - pos)
            count = m_size - pos;
        return {m_data + pos, count};
    }

    // Index of the first c at or after `from`, or npos.
    constexpr size_t find(char c, size_t from = 0) const
    {
        for (size_t i = from; i < m_size; i++) {
            if (m_data[i] == c)
                return i;
        }
        return npos;
    }

    constexpr bool starts_with(StringView prefix) const
    {
        return prefix.m_size <= m_size && substr(0, prefix.m_size) == prefix;
    }

    friend constexpr bool operator==(StringView a, StringView b)
    {
        if (a.m_size != b.m_size)
            return false;
        for (size_t i = 0; i < a.m_size; i++) {
            if (a.m_data[i] != b.m_data[i])
                return false;
        }
        return true;
    }

private:
    const char* m_data = nullptr;
    size_t m_size = 0;
};

} // namespace lib
