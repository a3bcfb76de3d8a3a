// The packet buffer every layer of the stack shares: one contiguous buffer with headroom, so a
// layer prepends its header without copying, owned by exactly one holder at a time.
//
// Memory layout of one allocation (a PacketBuffer header, then the bytes):
//
//   [PacketBuffer][ headroom | data() ... length() | tailroom ]
//                 ^ bytes()  ^ m_head              ^ m_tail   ^ capacity
//
// `Packet` is the move-only handle; dropping it returns the memory through the buffer's free
// function (the heap's by default, or a driver's own via Packet::adopt). Packets are queued
// without allocating through the intrusive `next` link (PacketQueue). Not synchronised: a
// packet has one owner, and handing it over is the caller's synchronisation.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace net {

class Interface;
class Packet;

enum class GsoType : uint8_t {
    None,
    TcpV4, // TCP over IPv4 [virtio-v1.2 §5.1.6 VIRTIO_NET_HDR_GSO_TCPV4]
};

// What the layers record about a packet besides its bytes. Offsets are from the start of the
// buffer (not from data()), so they stay valid across push/pull.
struct PacketMeta {
    Interface* interface = nullptr; // the receiving interface (input); nullptr on output
    uint16_t network_offset = 0;    // the IPv4 (or ARP) header
    uint16_t transport_offset = 0;  // the UDP/TCP/ICMP header
    // Receive: the device verified the transport checksum (virtio-net DATA_VALID).
    bool checksum_verified = false;
    // Transmit: the transport checksum is to be completed by the device: the Internet checksum
    // of the bytes from checksum_start (buffer offset) to the end goes at checksum_start +
    // checksum_offset; the field already holds the pseudo-header sum (virtio-net NEEDS_CSUM).
    bool checksum_needed = false;
    uint16_t checksum_start = 0;
    uint16_t checksum_offset = 0;
    // Segmentation offload (virtio-net gso_type/gso_size). Transmit: a TCP/IPv4 segment longer
    // than the path allows, to be cut into segments of gso_size payload bytes each (by the
    // device when the interface offers tso4, else by IPv4 output in software); it always
    // comes with checksum_needed. Receive: the device coalesced segments of this size (LRO);
    // informative only — every layer checks the bytes as it would for any packet.
    GsoType gso_type = GsoType::None;
    uint16_t gso_size = 0;
    // Transmit: the packet's flow's choice of the device's transmit queue (a multiqueue NIC
    // takes queue tx_queue_key mod its queues), the same for every packet of the flow: one
    // flow never leaves through two queues, whose packets the device would interleave in any
    // order, and a host that steers a flow's receive to the queue the guest last sent it on
    // (Linux's multiqueue tap) keeps it on one receive queue too. 0: no flow's — the sending
    // CPU's queue (ARP, ICMP, UDP, resets for no connection).
    uint32_t tx_queue_key = 0;
};

// The storage behind a Packet. Only Packet and PacketQueue touch it.
struct PacketBuffer {
    using FreeFn = void (*)(PacketBuffer* buffer, void* context);

    PacketBuffer* next = nullptr; // PacketQueue link; null when not queued
    FreeFn free_fn = nullptr;
    void* free_context = nullptr;
    uint32_t capacity = 0; // bytes after the header
    uint32_t head = 0;     // data() offset
    uint32_t tail = 0;     // end-of-data offset
    PacketMeta meta;

    uint8_t* bytes() { return reinterpret_cast<uint8_t*>(this + 1); }
};

class Packet {
public:
    static constexpr size_t kDefaultCapacity = 2048;
    // Room for Ethernet (14) + IPv4 with options (60) + TCP with options (60), rounded up.
    static constexpr size_t kDefaultHeadroom = 160;
    // The largest buffer: a 64 KiB datagram (TSO/LRO) plus headroom.
    static constexpr size_t kMaxCapacity = 65536 + 256;
    // allocate_data leaves room for this many bytes of data at least (a minimum Ethernet frame
    // without its header is 46 bytes).
    static constexpr size_t kMinDataRoom = 64;

    // A packet with `capacity` bytes of buffer, data() empty at offset `headroom` (clamped to
    // capacity). A null packet if out of memory or capacity > kMaxCapacity.
    static Packet allocate(size_t capacity = kDefaultCapacity, size_t headroom = kDefaultHeadroom);
    // A packet with `length` bytes of data and `headroom` in front, and room for at least
    // kMinDataRoom bytes in all after the headroom (so a runt frame is padded in place); null
    // on failure.
    static Packet allocate_data(size_t length, size_t headroom = kDefaultHeadroom);
    // Builds a packet in caller-owned memory (a driver's receive buffer): the PacketBuffer
    // header takes the first sizeof(PacketBuffer) bytes of `memory` (aligned for it), the rest
    // is the buffer. `free_fn(buffer, context)` gets it back when the packet is dropped (the
    // buffer pointer is `memory`). Null if `size` cannot hold the header.
    static Packet adopt(void* memory, size_t size, size_t headroom, PacketBuffer::FreeFn free_fn,
                        void* context);

    Packet() = default;
    Packet(const Packet&) = delete;
    Packet& operator=(const Packet&) = delete;
    Packet(Packet&& other) : m_buffer(other.m_buffer) { other.m_buffer = nullptr; }
    Packet& operator=(Packet&& other);
    ~Packet() { reset(); }

    bool is_null() const { return m_buffer == nullptr; }
    explicit operator bool() const { return m_buffer != nullptr; }
    // Frees the buffer now (the handle becomes null). Inline: most handles that reach it (moved
    // from, or destroyed empty) hold nothing.
    void reset()
    {
        if (m_buffer)
            release();
    }

    uint8_t* data() { return m_buffer->bytes() + m_buffer->head; }
    const uint8_t* data() const { return m_buffer->bytes() + m_buffer->head; }
    size_t length() const { return m_buffer->tail - m_buffer->head; }
    size_t headroom() const { return m_buffer->head; }
    size_t tailroom() const { return m_buffer->capacity - m_buffer->tail; }
    size_t capacity() const { return m_buffer->capacity; }
    // Bytes of memory this packet holds (for memory caps): buffer plus header.
    size_t memory_size() const { return m_buffer->capacity + sizeof(PacketBuffer); }
    // Offset of data() from the start of the buffer (what PacketMeta offsets are relative to).
    size_t data_offset() const { return m_buffer->head; }
    uint8_t* buffer_at(size_t offset) { return m_buffer->bytes() + offset; }
    const uint8_t* buffer_at(size_t offset) const { return m_buffer->bytes() + offset; }

    // Grows data() by `n` bytes at the front (a header); returns the new data(), or nullptr
    // (nothing changed) if the headroom is short.
    uint8_t* push(size_t n);
    // Removes `n` bytes from the front; returns the removed bytes' start (still readable until
    // the next push), or nullptr (nothing changed) if length() < n.
    uint8_t* pull(size_t n);
    // Cuts data() to `new_length` bytes (no-op when already shorter or equal); false if longer.
    bool trim(size_t new_length);
    // Appends `n` bytes at the tail; returns their start, or nullptr if the tailroom is short.
    uint8_t* put(size_t n);

    PacketMeta& meta() { return m_buffer->meta; }
    const PacketMeta& meta() const { return m_buffer->meta; }
    // Records the current data() as the network / transport header.
    void mark_network_header() { m_buffer->meta.network_offset = static_cast<uint16_t>(m_buffer->head); }
    void mark_transport_header() { m_buffer->meta.transport_offset = static_cast<uint16_t>(m_buffer->head); }
    uint8_t* network_header() { return buffer_at(m_buffer->meta.network_offset); }
    uint8_t* transport_header() { return buffer_at(m_buffer->meta.transport_offset); }

    // A fresh packet holding a copy of data() with `headroom` in front (metadata copied too,
    // offsets adjusted); null if out of memory.
    Packet copy(size_t headroom = kDefaultHeadroom) const;

private:
    void release(); // reset() with a buffer
    friend class PacketQueue;
    friend class Channel; // holds buffers in its ring
    explicit Packet(PacketBuffer* buffer) : m_buffer(buffer) {}
    PacketBuffer* m_buffer = nullptr;
};

// FIFO of packets linked through PacketBuffer::next (no allocation). Owns what it holds:
// destroying or clearing the queue frees the packets. Not synchronised.
class PacketQueue {
public:
    PacketQueue() = default;
    PacketQueue(const PacketQueue&) = delete;
    PacketQueue& operator=(const PacketQueue&) = delete;
    PacketQueue(PacketQueue&& other);
    PacketQueue& operator=(PacketQueue&& other);
    ~PacketQueue() { clear(); }

    // Appends `packet` (ignored if null).
    void push_back(Packet packet);
    // Puts `packet` back at the front (ignored if null): a reader that peeked returns it.
    void push_front(Packet packet);
    // The oldest packet, or a null packet when empty.
    Packet pop_front();
    void clear();

    bool is_empty() const { return m_head == nullptr; }
    size_t count() const { return m_count; }
    // Sum of memory_size() of the queued packets.
    size_t memory_size() const { return m_memory; }

private:
    PacketBuffer* m_head = nullptr;
    PacketBuffer* m_tail = nullptr;
    size_t m_count = 0;
    size_t m_memory = 0;
};

} // namespace net
