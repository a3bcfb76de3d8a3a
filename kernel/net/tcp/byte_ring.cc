// The bounded byte ring (see byte_ring.h).
#include <lib/string.h>
#include <net/tcp/byte_ring.h>
#include <new>

namespace net::tcp {

ByteRing::~ByteRing()
{
    delete[] m_data;
}

Result<void> ByteRing::set_capacity(size_t capacity)
{
    if (m_size != 0)
        return Errno::BUSY;
    delete[] m_data;
    m_data = nullptr;
    m_capacity = capacity;
    m_head = 0;
    return {};
}

void ByteRing::release()
{
    if (m_size != 0)
        return;
    delete[] m_data;
    m_data = nullptr;
    m_head = 0;
}

bool ByteRing::reserve()
{
    if (m_data != nullptr || m_capacity == 0)
        return true;
    m_data = new (std::nothrow) uint8_t[m_capacity];
    return m_data != nullptr;
}

ByteRing::Space ByteRing::space(size_t length)
{
    Space s;
    if (m_data == nullptr)
        return s;
    if (length > free_space())
        length = free_space();
    split((m_head + m_size) % m_capacity, length, s.data, s.length);
    return s;
}

void ByteRing::split(size_t start, size_t length, uint8_t* data[2], size_t lengths[2]) const
{
    // `start` indexes the storage; the range wraps at most once (length <= capacity).
    if (length == 0)
        return;
    size_t first = m_capacity - start;
    if (first > length)
        first = length;
    data[0] = m_data + start;
    lengths[0] = first;
    if (length > first) {
        data[1] = m_data;
        lengths[1] = length - first;
    }
}

void ByteRing::copy_in(size_t position, const uint8_t* data, size_t length)
{
    // `position` is an index into the storage (already reduced modulo the capacity).
    size_t first = m_capacity - position;
    if (first > length)
        first = length;
    lib::mem_copy(m_data + position, data, first);
    if (length > first)
        lib::mem_copy(m_data, data + first, length - first);
}

size_t ByteRing::append(const uint8_t* data, size_t length)
{
    if (length > free_space())
        length = free_space();
    if (length == 0 || !reserve())
        return 0;
    copy_in((m_head + m_size) % m_capacity, data, length);
    m_size += length;
    return length;
}

size_t ByteRing::read(uint8_t* out, size_t length)
{
    Payload p = peek(0, length);
    if (p.length[0] > 0)
        lib::mem_copy(out, p.data[0], p.length[0]);
    if (p.length[1] > 0)
        lib::mem_copy(out + p.length[0], p.data[1], p.length[1]);
    consume(p.size());
    return p.size();
}

void ByteRing::consume(size_t length)
{
    if (length > m_size)
        length = m_size;
    m_size -= length;
    // The head is not reset when the ring empties: out-of-order bytes may sit beyond it.
    m_head = m_capacity == 0 ? 0 : (m_head + length) % m_capacity;
}

Payload ByteRing::peek(size_t offset, size_t length) const
{
    Payload p;
    if (offset >= m_size)
        return p;
    if (length > m_size - offset)
        length = m_size - offset;
    uint8_t* data[2] = {nullptr, nullptr};
    split((m_head + offset) % m_capacity, length, data, p.length);
    p.data[0] = data[0];
    p.data[1] = data[1];
    return p;
}

void ByteRing::write_at(size_t offset, const uint8_t* data, size_t length)
{
    if (offset >= free_space())
        return;
    if (length > free_space() - offset)
        length = free_space() - offset;
    if (length == 0 || m_data == nullptr)
        return;
    copy_in((m_head + m_size + offset) % m_capacity, data, length);
}

void ByteRing::commit(size_t length)
{
    if (m_data == nullptr)
        return;
    if (length > free_space())
        length = free_space();
    m_size += length;
}

} // namespace net::tcp
