// PipeInput: console input when the runner's stdin is not a terminal — the runner's relay
// protocol decoded into a bounded byte queue that ends in end of file.
//
// The protocol (docs/runner.md, "Standard input"): the stream opens with DLE 'S' (DLE =
// 0x10); everything before it is discarded — the runner sends a few padding bytes first,
// because the UART loses up to two of the host's first bytes while the kernel turns its FIFO
// on (which empties the receiver). After it, bytes pass unchanged except DLE: DLE DLE is one
// literal 0x10 and DLE 'E' is the end of the input; DLE followed by anything else is a
// protocol error and both bytes are dropped (counted in errors()). Everything after the end
// marker is ignored. There is no line discipline: bytes arrive exactly as sent.
//
// Back-pressure as in LineDiscipline: can_receive() is false while the queue is full and the
// caller leaves further bytes in the device. Reads peek() first and consume() after copying
// out, so a read into a bad buffer loses nothing.
//
// Locking: none; the owner serialises every call.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tty {

class PipeInput {
public:
    static constexpr size_t kCapacity = 4096;
    static constexpr uint8_t kEscape = 0x10; // DLE
    static constexpr uint8_t kStart = 'S';
    static constexpr uint8_t kEnd = 'E';

    bool can_receive() const { return m_used < kCapacity; }
    // Decodes one byte from the line (call only when can_receive()).
    void receive(uint8_t byte);

    // Whether the end marker arrived (reads return 0 once the queue is empty).
    bool ended() const { return m_ended; }
    size_t available() const { return m_used; }
    // A read would not block: data is queued or the input ended.
    bool readable() const { return m_used > 0 || m_ended; }
    // Copies up to n queued bytes into dst without removing them; returns the count.
    size_t peek(uint8_t* dst, size_t n) const;
    void consume(size_t n);
    // Malformed escapes seen so far.
    uint64_t errors() const { return m_errors; }

private:
    uint8_t m_data[kCapacity] {};
    size_t m_head = 0; // oldest byte
    size_t m_used = 0;
    bool m_started = false;
    bool m_escaped = false;
    bool m_ended = false;
    uint64_t m_errors = 0;
};

} // namespace tty
