// The runner's stdin relay protocol, decoded (see pipe_input.h).
#include <tty/pipe_input.h>

namespace tty {

void PipeInput::receive(uint8_t byte)
{
    if (m_ended || m_used == kCapacity)
        return;
    if (!m_started) {
        // Looking for DLE 'S'; a DLE DLE pair keeps looking with the second DLE.
        if (m_escaped && byte == kStart)
            m_started = true;
        m_escaped = byte == kEscape && !m_started;
        return;
    }
    if (m_escaped) {
        m_escaped = false;
        if (byte == kEnd) {
            m_ended = true;
            return;
        }
        if (byte != kEscape) {
            m_errors++;
            return;
        }
    } else if (byte == kEscape) {
        m_escaped = true;
        return;
    }
    m_data[(m_head + m_used) % kCapacity] = byte;
    m_used++;
}

size_t PipeInput::peek(uint8_t* dst, size_t n) const
{
    size_t count = n < m_used ? n : m_used;
    for (size_t i = 0; i < count; ++i)
        dst[i] = m_data[(m_head + i) % kCapacity];
    return count;
}

void PipeInput::consume(size_t n)
{
    if (n > m_used)
        n = m_used;
    m_head = (m_head + n) % kCapacity;
    m_used -= n;
}

} // namespace tty
