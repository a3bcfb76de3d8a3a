// LineDiscipline: a terminal's input processing — what Linux's N_TTY does between the serial
// line and read(2) — as pure logic: bytes in, echo and signals out, reads served from a
// bounded queue.
//
// Design
//  * One ring of kCapacity slots holds the input. Each slot is a byte and a kind: Data, Line
//    (a byte that ends a canonical line and is returned: '\n', VEOL, VEOL2) or Eof (the VEOF
//    mark: ends a line, returned as nothing). Slots [tail, commit) are committed — a read may
//    take them; [commit, head) is the line being edited (canonical mode only).
//  * Canonical mode (ICANON): ordinary bytes extend the edit line (up to kMaxLine - 1 bytes;
//    more are dropped, as Linux does, so that a line never fills the ring), VERASE (and ^H),
//    VWERASE (with IEXTEN) and VKILL edit it, and a line end or VEOF commits it. A read takes
//    at most one line: its bytes up to and including the line end; a VEOF mark is consumed and
//    not returned, so VEOF at the start of a line makes read return 0 (end of file) and after
//    some bytes hands them over. Non-canonical mode: every byte is committed at once.
//  * Turning ICANON off commits the edit line; turning it on makes the unread bytes the
//    edit line (Linux does the same).
//  * Back-pressure, not loss: can_receive() is false while the ring is full; the caller then
//    leaves further bytes in the device (the UART keeps them and the host stops sending).
//    Because a canonical line is shorter than the ring, a full ring always holds committed
//    bytes a reader can drain, so the two cannot wait for each other.
//  * Reads do not consume until the caller says so: peek() copies what a read would return and
//    consume() then removes it, so a read into a bad buffer loses nothing.
//  * Echo (ECHO, ECHOE, ECHOK, ECHOKE, ECHONL, ECHOCTL) goes to an EchoSink as it happens.
//    ISIG: VINTR and VQUIT are not queued; receive() reports the signal (and, without NOFLSH,
//    discards the queued input) and the caller sends it.
//  * Not done: flow control (IXON/IXOFF: ^S and ^Q are ordinary bytes), VSUSP, VLNEXT,
//    VREPRINT, ECHOPRT, PARMRK, and column tracking for erasing a tab (erased as one column).
//
// Locking: none; the owner serialises every call (the kernel holds its console mutex).
#pragma once

#include <tty/termios.h>

#include <cstddef>
#include <cstdint>

namespace tty {

// Where echoed bytes go (the terminal's output).
class EchoSink {
public:
    virtual void echo(const char* data, size_t size) = 0;

protected:
    ~EchoSink() = default;
};

class LineDiscipline {
public:
    static constexpr size_t kCapacity = 4096;
    static constexpr size_t kMaxLine = 1024;

    struct Received {
        bool taken = true; // false: the ring is full, the byte was not consumed (retry later)
        int signal = 0;    // kSigInt / kSigQuit to send to the foreground program, else 0
    };

    // What a read of up to n bytes returns: `bytes` copied, `consumed` slots to remove
    // (consumed may exceed bytes by a VEOF mark).
    struct ReadPlan {
        size_t bytes = 0;
        size_t consumed = 0;
    };

    LineDiscipline() = default;

    const Termios& termios() const { return m_termios; }
    // Applies new modes (TCSETS); see the class comment for what switching ICANON does.
    void set_termios(const Termios& termios);

    // Whether one more byte can be taken now.
    bool can_receive() const { return m_used < kCapacity; }
    // Processes one byte from the line. Echo goes to `echo`.
    Received receive(uint8_t byte, EchoSink& echo);

    // Committed slots (what reads may take).
    size_t committed() const { return m_committed; }
    // Whether a read would not block: canonical, a whole line (or VEOF) is committed;
    // non-canonical, at least max(VMIN, 1) bytes are when VTIME is 0, else at least one.
    bool readable() const;
    // Copies into dst (n bytes of room) what a read of n bytes would return now; see ReadPlan.
    // Canonical: at most one line; nothing if no line is committed. Non-canonical: what is
    // committed.
    ReadPlan peek(uint8_t* dst, size_t n) const;
    void consume(const ReadPlan& plan);
    // Discards all input, committed or not (TCSETSF, TCFLSH).
    void flush();

private:
    enum class Kind : uint8_t { Data, Line, Eof };
    struct Slot {
        uint8_t byte;
        Kind kind;
    };

    bool lflag(uint32_t bit) const { return m_termios.lflag & bit; }
    bool is_control(uint8_t byte, unsigned index) const
    {
        return m_termios.cc[index] != 0 && byte == m_termios.cc[index];
    }
    const Slot& slot(size_t index) const { return m_slots[index % kCapacity]; }
    size_t edit_length() const { return m_used - m_committed; }
    void push(uint8_t byte, Kind kind);
    void commit_all() { m_committed = m_used; }
    // Echo helpers: a byte as the terminal shows it, and erasing the last edit-line byte.
    void echo_byte(uint8_t byte, EchoSink& echo) const;
    size_t echo_width(uint8_t byte) const;
    bool erase_one(EchoSink& echo, bool visible);
    void erase_word(EchoSink& echo);
    void kill_line(uint8_t kill_char, EchoSink& echo);

    Termios m_termios = Termios::console_default();
    Slot m_slots[kCapacity] {};
    size_t m_tail = 0;      // index of the oldest slot (mod kCapacity)
    size_t m_used = 0;      // slots in use: committed, then the edit line
    size_t m_committed = 0; // slots a read may take
};

} // namespace tty
