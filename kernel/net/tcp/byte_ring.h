// A bounded byte ring: the send and receive buffers of a connection. The receive side also
// writes out-of-order data into the free space beyond the readable bytes (write_at) and
// makes it readable once the gap before it is filled (commit), so reassembly needs no
// allocation and is bounded by the buffer itself.
#pragma once

#include <lib/result.h>
#include <net/tcp/segment.h>
#include <stddef.h>
#include <stdint.h>

namespace net::tcp {

class ByteRing {
public:
    ByteRing() = default;
    ~ByteRing();
    ByteRing(const ByteRing&) = delete;
    ByteRing& operator=(const ByteRing&) = delete;

    // Sets the capacity; only while empty (Errno::BUSY when bytes are held). The storage is
    // allocated on first use (reserve), so an idle connection costs no buffer memory.
    Result<void> set_capacity(size_t capacity);
    // Allocates the storage if it is not there yet; false when memory ran out (then nothing
    // can be held: append returns 0, write_at and commit do nothing).
    bool reserve();
    bool has_storage() const { return m_data != nullptr; }
    // Frees the storage while nothing is held (reserve() brings it back). Nothing happens when
    // bytes are held. Out-of-order bytes placed with write_at are the caller's to mind.
    void release();

    size_t capacity() const { return m_capacity; }
    size_t size() const { return m_size; }
    size_t free_space() const { return m_capacity - m_size; }
    bool is_empty() const { return m_size == 0; }

    // Appends up to `length` bytes; returns how many fit.
    size_t append(const uint8_t* data, size_t length);
    // The first `length` bytes (clamped to free_space()) of free space after the held data, as
    // up to two ranges to fill and then commit(). Empty without storage.
    struct Space {
        uint8_t* data[2] = {nullptr, nullptr};
        size_t length[2] = {0, 0};
        size_t size() const { return length[0] + length[1]; }
    };
    Space space(size_t length);
    // Copies up to `length` bytes from the front into `out` and drops them; returns the count.
    size_t read(uint8_t* out, size_t length);
    // Drops `length` bytes (at most size()) from the front.
    void consume(size_t length);
    // The bytes [offset, offset + length) of the held data as up to two ranges; clamped to size().
    Payload peek(size_t offset, size_t length) const;
    // Copies `length` bytes to `offset` bytes past the end of the held data, into free
    // space (offset + length <= free_space(), else the excess is not written).
    void write_at(size_t offset, const uint8_t* data, size_t length);
    // Makes `length` bytes already placed with write_at(0, …) part of the held data.
    void commit(size_t length);

private:
    void copy_in(size_t position, const uint8_t* data, size_t length);
    // [start, start + length) of the storage as up to two ranges (wrapping once).
    void split(size_t start, size_t length, uint8_t* data[2], size_t lengths[2]) const;

    uint8_t* m_data = nullptr;
    size_t m_capacity = 0;
    size_t m_head = 0; // index of the first held byte
    size_t m_size = 0;
};

} // namespace net::tcp
