// The terminal line discipline (see line_discipline.h).
#include <tty/line_discipline.h>

namespace tty {

void LineDiscipline::set_termios(const Termios& termios)
{
    bool was_canonical = lflag(kIcanon);
    m_termios = termios;
    bool canonical = lflag(kIcanon);
    if (was_canonical && !canonical)
        commit_all();
    else if (!was_canonical && canonical)
        m_committed = 0; // the unread bytes become the line being edited
}

void LineDiscipline::push(uint8_t byte, Kind kind)
{
    m_slots[(m_tail + m_used) % kCapacity] = { byte, kind };
    m_used++;
}

size_t LineDiscipline::echo_width(uint8_t byte) const
{
    if (lflag(kEchoctl) && ((byte < 0x20 && byte != '\t' && byte != '\n') || byte == 0x7f))
        return 2; // shown as ^X
    if ((m_termios.iflag & kIutf8) && (byte & 0xc0) == 0x80)
        return 0; // a UTF-8 continuation byte shares its character's column
    return 1;
}

void LineDiscipline::echo_byte(uint8_t byte, EchoSink& echo) const
{
    if (echo_width(byte) == 2) {
        char shown[2] = { '^', char(byte ^ 0x40) };
        echo.echo(shown, 2);
        return;
    }
    char c = char(byte);
    echo.echo(&c, 1);
}

// Removes the edit line's last character (with IUTF8 all bytes of a multi-byte one); with
// `visible` and ECHO+ECHOE also from the screen. False if the line was empty.
bool LineDiscipline::erase_one(EchoSink& echo, bool visible)
{
    if (edit_length() == 0)
        return false;
    size_t width = 0;
    for (;;) {
        uint8_t byte = slot(m_tail + m_used - 1).byte;
        m_used--;
        width += echo_width(byte);
        bool continuation = (m_termios.iflag & kIutf8) && (byte & 0xc0) == 0x80;
        if (!continuation || edit_length() == 0)
            break;
    }
    if (visible && lflag(kEcho) && lflag(kEchoe))
        for (size_t i = 0; i < width; ++i)
            echo.echo("\b \b", 3);
    return true;
}

// VWERASE: erases trailing blanks, then the word before them.
void LineDiscipline::erase_word(EchoSink& echo)
{
    auto last = [&] { return slot(m_tail + m_used - 1).byte; };
    while (edit_length() && (last() == ' ' || last() == '\t'))
        erase_one(echo, true);
    while (edit_length() && last() != ' ' && last() != '\t')
        erase_one(echo, true);
}

void LineDiscipline::kill_line(uint8_t kill_char, EchoSink& echo)
{
    if (edit_length() == 0)
        return;
    if (lflag(kEcho) && lflag(kEchok) && lflag(kEchoke) && lflag(kEchoe)) {
        while (erase_one(echo, true)) {
        }
        return;
    }
    while (erase_one(echo, false)) {
    }
    if (lflag(kEcho)) {
        echo_byte(kill_char, echo);
        if (lflag(kEchok))
            echo.echo("\n", 1);
    }
}

LineDiscipline::Received LineDiscipline::receive(uint8_t byte, EchoSink& echo)
{
    Received result;
    if (m_termios.iflag & kIstrip)
        byte &= 0x7f;
    if (lflag(kIsig) && (is_control(byte, kVintr) || is_control(byte, kVquit))) {
        result.signal = is_control(byte, kVintr) ? kSigInt : kSigQuit;
        if (!lflag(kNoflsh))
            flush();
        if (lflag(kEcho))
            echo_byte(byte, echo);
        return result;
    }
    if (byte == '\r') {
        if (m_termios.iflag & kIgncr)
            return result;
        if (m_termios.iflag & kIcrnl)
            byte = '\n';
    } else if (byte == '\n' && (m_termios.iflag & kInlcr)) {
        byte = '\r';
    }

    if (!lflag(kIcanon)) {
        if (!can_receive())
            return { false, 0 };
        push(byte, Kind::Data);
        commit_all();
        if (lflag(kEcho))
            echo_byte(byte, echo);
        return result;
    }

    // Canonical mode: editing characters first (they need no room).
    if (is_control(byte, kVerase) || byte == '\b') {
        // Without ECHOE the erase character itself is echoed (nothing when the line was
        // already empty).
        if (erase_one(echo, true) && lflag(kEcho) && !lflag(kEchoe))
            echo_byte(byte, echo);
        return result;
    }
    if (lflag(kIexten) && is_control(byte, kVwerase)) {
        erase_word(echo);
        return result;
    }
    if (is_control(byte, kVkill)) {
        kill_line(byte, echo);
        return result;
    }
    if (!can_receive())
        return { false, 0 };
    if (is_control(byte, kVeof)) {
        push(0, Kind::Eof);
        commit_all();
        return result;
    }
    if (byte == '\n' || is_control(byte, kVeol) || is_control(byte, kVeol2)) {
        push(byte, Kind::Line);
        commit_all();
        if (lflag(kEcho) || (byte == '\n' && lflag(kEchonl)))
            echo_byte(byte, echo);
        return result;
    }
    if (edit_length() >= kMaxLine - 1)
        return result; // the line is full: dropped (only a line end or VEOF gets in)
    push(byte, Kind::Data);
    if (lflag(kEcho))
        echo_byte(byte, echo);
    return result;
}

bool LineDiscipline::readable() const
{
    if (lflag(kIcanon))
        return m_committed > 0;
    size_t want = 1;
    if (m_termios.cc[kVtime] == 0 && m_termios.cc[kVmin] > 0)
        want = m_termios.cc[kVmin];
    return m_committed >= want;
}

LineDiscipline::ReadPlan LineDiscipline::peek(uint8_t* dst, size_t n) const
{
    ReadPlan plan;
    bool canonical = lflag(kIcanon);
    while (plan.consumed < m_committed) {
        const Slot& s = slot(m_tail + plan.consumed);
        if (s.kind == Kind::Eof) {
            plan.consumed++; // taken, never returned
            if (canonical)
                break;
            continue;
        }
        if (plan.bytes == n)
            break;
        dst[plan.bytes++] = s.byte;
        plan.consumed++;
        if (canonical && s.kind == Kind::Line)
            break;
    }
    return plan;
}

void LineDiscipline::consume(const ReadPlan& plan)
{
    size_t n = plan.consumed < m_committed ? plan.consumed : m_committed;
    m_tail = (m_tail + n) % kCapacity;
    m_used -= n;
    m_committed -= n;
}

void LineDiscipline::flush()
{
    m_tail = 0;
    m_used = 0;
    m_committed = 0;
}

} // namespace tty
