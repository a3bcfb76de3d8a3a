// Packet buffers and packet queues.
#include <lib/string.h>
#include <net/packet.h>
#include <new>

namespace net {

namespace {

void free_heap_buffer(PacketBuffer* buffer, void*)
{
    buffer->~PacketBuffer();
    ::operator delete(static_cast<void*>(buffer));
}

} // namespace

Packet Packet::allocate(size_t capacity, size_t headroom)
{
    if (capacity > kMaxCapacity)
        return {};
    void* memory = ::operator new(sizeof(PacketBuffer) + capacity, std::nothrow);
    if (!memory)
        return {};
    auto* buffer = new (memory) PacketBuffer;
    buffer->free_fn = free_heap_buffer;
    buffer->capacity = static_cast<uint32_t>(capacity);
    buffer->head = buffer->tail = static_cast<uint32_t>(headroom < capacity ? headroom : capacity);
    return Packet(buffer);
}

Packet Packet::allocate_data(size_t length, size_t headroom)
{
    if (length > kMaxCapacity || headroom > kMaxCapacity - length)
        return {};
    size_t room = length < kMinDataRoom ? kMinDataRoom : length;
    Packet packet = allocate(headroom + room, headroom);
    if (packet)
        packet.put(length);
    return packet;
}

Packet Packet::adopt(void* memory, size_t size, size_t headroom, PacketBuffer::FreeFn free_fn,
                     void* context)
{
    if (!memory || !free_fn || reinterpret_cast<uintptr_t>(memory) % alignof(PacketBuffer) != 0 ||
        size < sizeof(PacketBuffer) || size - sizeof(PacketBuffer) > kMaxCapacity)
        return {};
    auto* buffer = new (memory) PacketBuffer;
    buffer->free_fn = free_fn;
    buffer->free_context = context;
    buffer->capacity = static_cast<uint32_t>(size - sizeof(PacketBuffer));
    buffer->head = buffer->tail =
        static_cast<uint32_t>(headroom < buffer->capacity ? headroom : buffer->capacity);
    return Packet(buffer);
}

Packet& Packet::operator=(Packet&& other)
{
    if (this != &other) {
        reset();
        m_buffer = other.m_buffer;
        other.m_buffer = nullptr;
    }
    return *this;
}

void Packet::release()
{
    PacketBuffer* buffer = m_buffer;
    m_buffer = nullptr;
    buffer->free_fn(buffer, buffer->free_context);
}

uint8_t* Packet::push(size_t n)
{
    if (n > m_buffer->head)
        return nullptr;
    m_buffer->head -= static_cast<uint32_t>(n);
    return data();
}

uint8_t* Packet::pull(size_t n)
{
    if (n > length())
        return nullptr;
    uint8_t* start = data();
    m_buffer->head += static_cast<uint32_t>(n);
    return start;
}

bool Packet::trim(size_t new_length)
{
    if (new_length > length())
        return false;
    m_buffer->tail = m_buffer->head + static_cast<uint32_t>(new_length);
    return true;
}

uint8_t* Packet::put(size_t n)
{
    if (n > tailroom())
        return nullptr;
    uint8_t* start = m_buffer->bytes() + m_buffer->tail;
    m_buffer->tail += static_cast<uint32_t>(n);
    return start;
}

Packet Packet::copy(size_t headroom) const
{
    Packet out = allocate_data(length(), headroom);
    if (!out)
        return out;
    lib::mem_copy(out.data(), data(), length());
    // Offsets are buffer-relative; shift them by the difference in data() position (offsets in
    // front of the copied range become meaningless but stay inside the new buffer).
    PacketMeta meta = m_buffer->meta;
    auto shift = [&](uint16_t offset) -> uint16_t {
        long moved = long(offset) - long(m_buffer->head) + long(out.m_buffer->head);
        return moved < 0 ? 0 : static_cast<uint16_t>(moved);
    };
    meta.network_offset = shift(meta.network_offset);
    meta.transport_offset = shift(meta.transport_offset);
    meta.checksum_start = shift(meta.checksum_start);
    out.m_buffer->meta = meta;
    return out;
}

PacketQueue::PacketQueue(PacketQueue&& other)
    : m_head(other.m_head), m_tail(other.m_tail), m_count(other.m_count), m_memory(other.m_memory)
{
    other.m_head = other.m_tail = nullptr;
    other.m_count = other.m_memory = 0;
}

PacketQueue& PacketQueue::operator=(PacketQueue&& other)
{
    if (this != &other) {
        clear();
        m_head = other.m_head;
        m_tail = other.m_tail;
        m_count = other.m_count;
        m_memory = other.m_memory;
        other.m_head = other.m_tail = nullptr;
        other.m_count = other.m_memory = 0;
    }
    return *this;
}

void PacketQueue::push_back(Packet packet)
{
    if (!packet)
        return;
    m_memory += packet.memory_size();
    PacketBuffer* buffer = packet.m_buffer;
    packet.m_buffer = nullptr;
    buffer->next = nullptr;
    if (m_tail)
        m_tail->next = buffer;
    else
        m_head = buffer;
    m_tail = buffer;
    m_count++;
}

void PacketQueue::push_front(Packet packet)
{
    if (!packet)
        return;
    m_memory += packet.memory_size();
    PacketBuffer* buffer = packet.m_buffer;
    packet.m_buffer = nullptr;
    buffer->next = m_head;
    m_head = buffer;
    if (!m_tail)
        m_tail = buffer;
    m_count++;
}

Packet PacketQueue::pop_front()
{
    PacketBuffer* buffer = m_head;
    if (!buffer)
        return {};
    m_head = buffer->next;
    if (!m_head)
        m_tail = nullptr;
    buffer->next = nullptr;
    m_count--;
    Packet packet(buffer);
    m_memory -= packet.memory_size();
    return packet;
}

void PacketQueue::clear()
{
    while (!is_empty())
        pop_front();
}

} // namespace net
