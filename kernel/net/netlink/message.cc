// Netlink's wire format: reading requests, writing answers, queueing datagrams (message.h).
#include <lib/string.h>
#include <net/netlink/message.h>
#include <new>

namespace net::netlink {

bool MessageReader::next(Message& out)
{
    if (m_length - m_offset < kHeaderLength)
        return false;
    const uint8_t* at = m_data + m_offset;
    MessageHeader h;
    lib::mem_copy(&h, at, sizeof h);
    if (h.length < kHeaderLength || h.length > m_length - m_offset) {
        m_offset = m_length; // netlink_rcv_skb: the rest of the datagram is dropped
        return false;
    }
    out.header = h;
    out.bytes = at;
    out.payload = at + kHeaderLength;
    out.payload_length = h.length - kHeaderLength;
    size_t step = align(h.length);
    m_offset = step > m_length - m_offset ? m_length : m_offset + step;
    return true;
}

bool AttributeReader::next(Attribute& out)
{
    if (m_malformed || m_length - m_offset < kAttributeHeaderLength)
        return false;
    AttributeHeader h;
    lib::mem_copy(&h, m_data + m_offset, sizeof h);
    if (h.length < kAttributeHeaderLength || h.length > m_length - m_offset) {
        m_malformed = true;
        return false;
    }
    out.type = h.type & kAttributeTypeMask;
    out.data = m_data + m_offset + kAttributeHeaderLength;
    out.length = h.length - kAttributeHeaderLength;
    size_t step = align(h.length);
    m_offset = step > m_length - m_offset ? m_length : m_offset + step;
    return true;
}

uint8_t* MessageWriter::reserve(size_t length)
{
    size_t padded = align(length);
    if (m_failed || padded < length || padded > m_capacity - m_length) {
        m_failed = true;
        return nullptr;
    }
    uint8_t* at = m_buffer + m_length;
    lib::mem_set(at + length, 0, padded - length);
    m_length += padded;
    return at;
}

bool MessageWriter::begin(uint16_t type, uint16_t flags, uint32_t sequence, uint32_t port)
{
    m_length = 0;
    m_failed = false;
    MessageHeader h{ 0, type, flags, sequence, port };
    uint8_t* at = reserve(sizeof h);
    if (!at)
        return false;
    lib::mem_copy(at, &h, sizeof h);
    return true;
}

bool MessageWriter::put(const void* data, size_t length)
{
    uint8_t* at = reserve(length);
    if (!at)
        return false;
    if (length)
        lib::mem_copy(at, data, length);
    return true;
}

bool MessageWriter::put_attribute(uint16_t type, const void* data, size_t length)
{
    if (length > 0xffff - kAttributeHeaderLength) {
        m_failed = true;
        return false;
    }
    uint8_t* at = reserve(kAttributeHeaderLength + length);
    if (!at)
        return false;
    AttributeHeader h{ uint16_t(kAttributeHeaderLength + length), type };
    lib::mem_copy(at, &h, sizeof h);
    if (length)
        lib::mem_copy(at + kAttributeHeaderLength, data, length);
    return true;
}

bool MessageWriter::put_string(uint16_t type, const char* text)
{
    return put_attribute(type, text, lib::str_length(text) + 1);
}

size_t MessageWriter::finish()
{
    if (m_failed || m_length < kHeaderLength)
        return 0;
    uint32_t length = uint32_t(m_length);
    lib::mem_copy(m_buffer, &length, sizeof length);
    return m_length;
}

Result<void> DatagramQueue::append(const uint8_t* message, size_t length, bool pack)
{
    if (pack && m_open && m_tail && align(m_tail->length) + length <= m_tail->capacity) {
        size_t at = align(m_tail->length);
        lib::mem_set(m_tail->bytes() + m_tail->length, 0, at - m_tail->length);
        lib::mem_copy(m_tail->bytes() + at, message, length);
        m_bytes += at + length - m_tail->length;
        m_tail->length = at + length;
        return {};
    }
    size_t capacity = pack && length < kDumpDatagramSize ? kDumpDatagramSize : length;
    void* memory = new (std::nothrow) uint8_t[sizeof(Datagram) + capacity];
    if (!memory)
        return Errno::NOMEM;
    Datagram* d = new (memory) Datagram;
    d->capacity = capacity;
    d->length = length;
    lib::mem_copy(d->bytes(), message, length);
    if (m_tail)
        m_tail->next = d;
    else
        m_head = d;
    m_tail = d;
    m_count++;
    m_bytes += length;
    m_open = pack;
    return {};
}

void DatagramQueue::pop_front()
{
    Datagram* d = m_head;
    if (!d)
        return;
    m_head = d->next;
    if (!m_head) {
        m_tail = nullptr;
        m_open = false;
    }
    m_count--;
    m_bytes -= d->length;
    d->~Datagram();
    delete[] reinterpret_cast<uint8_t*>(d);
}

void DatagramQueue::splice(DatagramQueue& other)
{
    if (!other.m_head)
        return;
    if (m_tail)
        m_tail->next = other.m_head;
    else
        m_head = other.m_head;
    m_tail = other.m_tail;
    m_count += other.m_count;
    m_bytes += other.m_bytes;
    m_open = false; // answers to different requests never share a datagram
    other.m_head = other.m_tail = nullptr;
    other.m_count = other.m_bytes = 0;
    other.m_open = false;
}

void DatagramQueue::clear()
{
    while (m_head)
        pop_front();
}

} // namespace net::netlink
