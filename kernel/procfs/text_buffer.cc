// TextBuffer (text_buffer.h).
#include <procfs/text_buffer.h>

#include <new>
#include <stdarg.h>

namespace procfs {

TextBuffer::~TextBuffer()
{
    ::operator delete(m_data);
}

void TextBuffer::put(const char* data, size_t size)
{
    if (m_failed || size == 0)
        return;
    if (size > kMaxSize - m_size) {
        m_failed = true;
        return;
    }
    if (m_size + size > m_capacity) {
        size_t capacity = m_capacity ? m_capacity * 2 : 256;
        while (capacity < m_size + size)
            capacity *= 2;
        char* grown = static_cast<char*>(::operator new(capacity, std::nothrow));
        if (!grown) {
            m_failed = true;
            return;
        }
        if (m_size)
            lib::mem_copy(grown, m_data, m_size);
        ::operator delete(m_data);
        m_data = grown;
        m_capacity = capacity;
    }
    lib::mem_copy(m_data + m_size, data, size);
    m_size += size;
}

void TextBuffer::print(const char* fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    lib::vformat(*this, fmt, args);
    va_end(args);
}

Result<void> TextBuffer::status() const
{
    if (m_failed)
        return Errno::NOMEM;
    return {};
}

} // namespace procfs
