// The printf-style format engine: parses one conversion at a time and writes through a
// FormatSink, batching literal text and padding to keep the number of put() calls low.
#include <lib/format.h>
#include <lib/string.h>

namespace lib {

namespace {

static_assert(sizeof(__PTRDIFF_TYPE__) == sizeof(__SIZE_TYPE__), "%zd and %tu assume this");

// One conversion's flags, width and precision as parsed from the format string.
struct Spec {
    bool left = false;  // '-': pad on the right
    bool plus = false;  // '+': always print a sign on signed conversions
    bool space = false; // ' ': a space where a '+' would go
    bool zero = false;  // '0': pad numbers with zeros after the sign/prefix
    bool alt = false;   // '#': 0x/0X for hex, a leading 0 for octal
    int width = 0;
    int precision = -1; // -1: none given
};

enum class Length { Default, Char, Short, Long, LongLong, Size, Ptrdiff, Intmax };

// Counts what goes to the sink, so vformat can return the total length.
class Writer {
public:
    explicit Writer(FormatSink& sink) : m_sink(sink) {}

    void put(const char* data, size_t size)
    {
        if (size == 0)
            return;
        m_sink.put(data, size);
        m_count += size;
    }

    void repeat(char c, size_t count)
    {
        char chunk[32];
        mem_set(chunk, c, count < sizeof(chunk) ? count : sizeof(chunk));
        while (count) {
            size_t n = count < sizeof(chunk) ? count : sizeof(chunk);
            put(chunk, n);
            count -= n;
        }
    }

    size_t count() const { return m_count; }

private:
    FormatSink& m_sink;
    size_t m_count = 0;
};

size_t padding(int width, size_t used) { return static_cast<size_t>(width) > used ? static_cast<size_t>(width) - used : 0; }

int clamp_width(unsigned value) { return value > static_cast<unsigned>(kFormatMaxWidth) ? kFormatMaxWidth : static_cast<int>(value); }

// Reads decimal digits at *p (possibly none, giving 0), clamping the value.
int parse_decimal(const char*& p)
{
    unsigned value = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        // Stop growing once past the clamp so that the multiplication cannot overflow.
        if (value <= static_cast<unsigned>(kFormatMaxWidth))
            value = value * 10 + static_cast<unsigned>(*p - '0');
    }
    return clamp_width(value);
}

// A string (or a character) padded to the width with spaces; the '0' flag does not apply.
void write_padded(Writer& w, const Spec& spec, const char* s, size_t size)
{
    size_t pad = padding(spec.width, size);
    if (!spec.left)
        w.repeat(' ', pad);
    w.put(s, size);
    if (spec.left)
        w.repeat(' ', pad);
}

// An integer: [spaces][sign or 0x prefix][zeros][digits][spaces], following C's rules for
// how precision, '0', '#', '+' and ' ' interact.
void write_integer(Writer& w, Spec spec, unsigned long long magnitude, bool negative, bool is_signed,
                   unsigned base, bool upper)
{
    const char* digit_chars = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char digits[24]; // 22 octal digits are the most a 64-bit value needs
    size_t n = 0;
    // Precision 0 with the value 0 prints no digits at all.
    if (magnitude != 0 || spec.precision != 0) {
        char* end = digits + sizeof(digits);
        char* d = end;
        do {
            *--d = digit_chars[magnitude % base];
            magnitude /= base;
        } while (magnitude);
        n = static_cast<size_t>(end - d);
        mem_move(digits, d, n);
    }
    bool is_zero = n == 0 || (n == 1 && digits[0] == '0');

    char prefix[2];
    size_t prefix_size = 0;
    if (is_signed) {
        if (negative)
            prefix[prefix_size++] = '-';
        else if (spec.plus)
            prefix[prefix_size++] = '+';
        else if (spec.space)
            prefix[prefix_size++] = ' ';
    } else if (spec.alt && base == 16 && !is_zero) {
        prefix[prefix_size++] = '0';
        prefix[prefix_size++] = upper ? 'X' : 'x';
    }

    size_t zeros = spec.precision > 0 && static_cast<size_t>(spec.precision) > n ? static_cast<size_t>(spec.precision) - n : 0;
    // '#' with octal makes the first digit a 0, adding one only if there is none yet.
    if (spec.alt && base == 8 && zeros == 0 && (n == 0 || digits[0] != '0'))
        zeros = 1;
    // A precision turns the '0' flag off; '-' wins over '0'.
    if (spec.zero && !spec.left && spec.precision < 0)
        zeros += padding(spec.width, prefix_size + zeros + n);

    size_t spaces = padding(spec.width, prefix_size + zeros + n);
    if (!spec.left)
        w.repeat(' ', spaces);
    w.put(prefix, prefix_size);
    w.repeat('0', zeros);
    w.put(digits, n);
    if (spec.left)
        w.repeat(' ', spaces);
}

} // namespace

BufferSink::BufferSink(char* buf, size_t capacity) : m_buf(buf), m_capacity(capacity)
{
    if (m_capacity > 0)
        m_buf[0] = '\0';
}

void BufferSink::put(const char* data, size_t size)
{
    m_total += size;
    if (m_capacity == 0)
        return;
    size_t room = m_capacity - 1 - m_used;
    size_t n = size < room ? size : room;
    mem_copy(m_buf + m_used, data, n);
    m_used += n;
    m_buf[m_used] = '\0';
}

size_t vformat(FormatSink& sink, const char* fmt, va_list args)
{
    va_list ap;
    va_copy(ap, args);
    Writer w(sink);
    const char* p = fmt;
    while (*p) {
        if (*p != '%') {
            const char* start = p;
            while (*p && *p != '%')
                p++;
            w.put(start, static_cast<size_t>(p - start));
            continue;
        }

        const char* spec_start = p++;
        Spec spec;
        for (;; p++) {
            if (*p == '-')
                spec.left = true;
            else if (*p == '+')
                spec.plus = true;
            else if (*p == ' ')
                spec.space = true;
            else if (*p == '0')
                spec.zero = true;
            else if (*p == '#')
                spec.alt = true;
            else
                break;
        }

        if (*p == '*') {
            p++;
            int value = va_arg(ap, int);
            // A negative width from an argument means '-' and its magnitude.
            if (value < 0) {
                spec.left = true;
                spec.width = clamp_width(0u - static_cast<unsigned>(value));
            } else {
                spec.width = clamp_width(static_cast<unsigned>(value));
            }
        } else {
            spec.width = parse_decimal(p);
        }

        if (*p == '.') {
            p++;
            if (*p == '*') {
                p++;
                int value = va_arg(ap, int);
                // A negative precision from an argument counts as none given.
                spec.precision = value < 0 ? -1 : clamp_width(static_cast<unsigned>(value));
            } else {
                spec.precision = parse_decimal(p); // a lone '.' means precision 0
            }
        }

        Length length = Length::Default;
        switch (*p) {
        case 'h':
            p++;
            length = Length::Short;
            if (*p == 'h') {
                p++;
                length = Length::Char;
            }
            break;
        case 'l':
            p++;
            length = Length::Long;
            if (*p == 'l') {
                p++;
                length = Length::LongLong;
            }
            break;
        case 'z': p++; length = Length::Size; break;
        case 't': p++; length = Length::Ptrdiff; break;
        case 'j': p++; length = Length::Intmax; break;
        default: break;
        }

        char conversion = *p;
        if (conversion == '\0') {
            // The format ends inside a conversion: show what there was.
            w.put(spec_start, static_cast<size_t>(p - spec_start));
            break;
        }
        p++;

        switch (conversion) {
        case 'd':
        case 'i': {
            long long value;
            switch (length) {
            case Length::Char: value = static_cast<signed char>(va_arg(ap, int)); break;
            case Length::Short: value = static_cast<short>(va_arg(ap, int)); break;
            case Length::Long: value = va_arg(ap, long); break;
            case Length::LongLong: value = va_arg(ap, long long); break;
            case Length::Size:
            case Length::Ptrdiff: value = va_arg(ap, __PTRDIFF_TYPE__); break;
            case Length::Intmax: value = va_arg(ap, __INTMAX_TYPE__); break;
            default: value = va_arg(ap, int); break;
            }
            // Negate in unsigned arithmetic so that the most negative value does not overflow.
            unsigned long long magnitude = value < 0 ? 0ull - static_cast<unsigned long long>(value)
                                                     : static_cast<unsigned long long>(value);
            write_integer(w, spec, magnitude, value < 0, true, 10, false);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            unsigned long long value;
            switch (length) {
            case Length::Char: value = static_cast<unsigned char>(va_arg(ap, unsigned)); break;
            case Length::Short: value = static_cast<unsigned short>(va_arg(ap, unsigned)); break;
            case Length::Long: value = va_arg(ap, unsigned long); break;
            case Length::LongLong: value = va_arg(ap, unsigned long long); break;
            case Length::Size:
            case Length::Ptrdiff: value = va_arg(ap, __SIZE_TYPE__); break;
            case Length::Intmax: value = va_arg(ap, __UINTMAX_TYPE__); break;
            default: value = va_arg(ap, unsigned); break;
            }
            unsigned base = conversion == 'u' ? 10 : conversion == 'o' ? 8 : 16;
            write_integer(w, spec, value, false, false, base, conversion == 'X');
            break;
        }
        case 'c': {
            char c = static_cast<char>(va_arg(ap, int));
            write_padded(w, spec, &c, 1);
            break;
        }
        case 's': {
            const char* s = va_arg(ap, const char*);
            if (!s)
                s = "(null)";
            size_t size = spec.precision >= 0 ? str_nlength(s, static_cast<size_t>(spec.precision)) : str_length(s);
            write_padded(w, spec, s, size);
            break;
        }
        case 'p': {
            const void* ptr = va_arg(ap, const void*);
            if (!ptr) {
                // As glibc does; the precision cannot shorten it.
                write_padded(w, spec, "(nil)", 5);
            } else {
                spec.alt = true;
                write_integer(w, spec, reinterpret_cast<__UINTPTR_TYPE__>(ptr), false, false, 16, false);
            }
            break;
        }
        case '%':
            w.put("%", 1);
            break;
        default:
            // Unsupported (floating point, %n, wide strings, typos): copy it for the reader to see.
            w.put(spec_start, static_cast<size_t>(p - spec_start));
            break;
        }
    }
    va_end(ap);
    return w.count();
}

size_t format(FormatSink& sink, const char* fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    size_t n = vformat(sink, fmt, args);
    va_end(args);
    return n;
}

size_t vformat_to(char* buf, size_t size, const char* fmt, va_list args)
{
    BufferSink sink(buf, size);
    return vformat(sink, fmt, args);
}

size_t format_to(char* buf, size_t size, const char* fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    size_t n = vformat_to(buf, size, fmt, args);
    va_end(args);
    return n;
}

} // namespace lib
