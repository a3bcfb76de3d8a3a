// printf-style formatting into any sink (console, log ring, fixed buffer), without floating
// point and without allocation.
//
// Supported: conversions %d %i %u %x %X %o %c %s %p %%; flags '-' '+' ' ' '0' '#'; field
// width and precision, each either digits or '*'; length modifiers hh h l ll z t j. Results
// match the C library's printf for these, with two deliberate differences: %s with a null
// pointer prints "(null)" (cut by the precision like any string), and widths and precisions
// above kFormatMaxWidth are clamped to it. An unsupported conversion (%f, %n, ...) is copied
// to the output verbatim and consumes no argument.
#pragma once

#include <stdarg.h>
#include <stddef.h>

namespace lib {

// Largest field width or precision honoured; larger ones are clamped (they are format-string
// bugs, and clamping keeps the arithmetic far from overflow).
constexpr int kFormatMaxWidth = 4096;

// Receives formatted output in pieces. Implementations must accept any number of calls; the
// pieces are not NUL-terminated.
class FormatSink {
public:
    virtual void put(const char* data, size_t size) = 0;

protected:
    ~FormatSink() = default;
};

// Writes into a fixed buffer, dropping what does not fit and remembering how much was
// offered. Keeps buf NUL-terminated (when capacity > 0) after every put().
class BufferSink final : public FormatSink {
public:
    BufferSink(char* buf, size_t capacity);
    void put(const char* data, size_t size) override;

    // Characters offered so far, including those that did not fit.
    size_t total() const { return m_total; }

private:
    char* m_buf;
    size_t m_capacity;
    size_t m_used = 0;
    size_t m_total = 0;
};

// Formats to `sink`; returns the number of characters produced. Never fails.
size_t vformat(FormatSink& sink, const char* fmt, va_list args);
size_t format(FormatSink& sink, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// snprintf semantics: writes at most size - 1 characters plus a NUL when size > 0, and
// returns the length the full output would have had.
size_t vformat_to(char* buf, size_t size, const char* fmt, va_list args);
size_t format_to(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

} // namespace lib
