// IoBuffer implementations: kernel memory and iovec lists.
#include <fs/io_buffer.h>

#include <lib/assert.h>
#include <lib/string.h>

namespace fs {

namespace {

// Asserts that [at, at + n) lies inside a buffer of `size` bytes (without overflowing).
void check_range(size_t at, size_t n, size_t size)
{
    NIMBUS_ASSERT(at <= size && n <= size - at);
}

} // namespace

Result<void> KernelBuffer::copy_out(size_t at, const void* src, size_t n)
{
    check_range(at, n, m_size);
    if (!m_writable)
        return Errno::FAULT;
    lib::mem_copy(m_data + at, src, n);
    return {};
}

Result<void> KernelBuffer::copy_in(size_t at, void* dst, size_t n)
{
    check_range(at, n, m_size);
    lib::mem_copy(dst, m_data + at, n);
    return {};
}

Result<size_t> IovecBuffer::total_length(const IoVec* segments, size_t count)
{
    if (count > kMaxSegments)
        return Errno::INVAL;
    constexpr uint64_t kSsizeMax = uint64_t(INT64_MAX);
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++) {
        if (segments[i].length > kSsizeMax - total)
            return Errno::INVAL;
        total += segments[i].length;
    }
    return size_t(total);
}

IovecBuffer::IovecBuffer(const IoVec* segments, size_t count) : m_segments(segments), m_count(count), m_size(0)
{
    for (size_t i = 0; i < count; i++)
        m_size += segments[i].length;
}

void IovecBuffer::seek_segment(size_t at)
{
    if (at < m_cursor_start) {
        m_cursor = 0;
        m_cursor_start = 0;
    }
    while (m_cursor < m_count && at >= m_cursor_start + m_segments[m_cursor].length) {
        m_cursor_start += m_segments[m_cursor].length;
        m_cursor++;
    }
    NIMBUS_ASSERT(m_cursor < m_count);
}

Result<void> IovecBuffer::copy_out(size_t at, const void* src, size_t n)
{
    check_range(at, n, m_size);
    auto* from = static_cast<const uint8_t*>(src);
    while (n > 0) {
        seek_segment(at);
        const IoVec& seg = m_segments[m_cursor];
        size_t inside = at - m_cursor_start;
        size_t piece = seg.length - inside;
        if (piece > n)
            piece = n;
        TRY(copy_to_app(seg.base + inside, from, piece));
        from += piece;
        at += piece;
        n -= piece;
    }
    return {};
}

Result<void> IovecBuffer::copy_in(size_t at, void* dst, size_t n)
{
    check_range(at, n, m_size);
    auto* to = static_cast<uint8_t*>(dst);
    while (n > 0) {
        seek_segment(at);
        const IoVec& seg = m_segments[m_cursor];
        size_t inside = at - m_cursor_start;
        size_t piece = seg.length - inside;
        if (piece > n)
            piece = n;
        TRY(copy_from_app(seg.base + inside, to, piece));
        to += piece;
        at += piece;
        n -= piece;
    }
    return {};
}

Result<void> PlainIovecBuffer::copy_to_app(uint64_t address, const void* src, size_t n)
{
    lib::mem_copy(reinterpret_cast<void*>(address), src, n);
    return {};
}

Result<void> PlainIovecBuffer::copy_from_app(uint64_t address, void* dst, size_t n)
{
    lib::mem_copy(dst, reinterpret_cast<const void*>(address), n);
    return {};
}

} // namespace fs
