// Unit tests for tty::LineDiscipline: canonical editing, end of file, echo, signals, ICRNL,
// non-canonical VMIN, mode switches and back-pressure.
#include <tty/line_discipline.h>

#include <gtest/gtest.h>

#include <string>

namespace {

using tty::LineDiscipline;
using tty::Termios;

struct Echo final : tty::EchoSink {
    std::string text;
    void echo(const char* data, size_t size) override { text.append(data, size); }
};

struct Tty {
    LineDiscipline ld;
    Echo echo;
    int last_signal = 0;

    // Feeds every byte; all must be taken.
    void type(const std::string& bytes)
    {
        for (char c : bytes) {
            auto r = ld.receive(uint8_t(c), echo);
            ASSERT_TRUE(r.taken);
            if (r.signal)
                last_signal = r.signal;
        }
    }
    // One read of up to n bytes; "" for nothing or end of file (see `eof`).
    std::string read(size_t n = 4096, bool* consumed_something = nullptr)
    {
        std::string buf(n, '\0');
        auto plan = ld.peek(reinterpret_cast<uint8_t*>(buf.data()), n);
        ld.consume(plan);
        if (consumed_something)
            *consumed_something = plan.consumed > 0;
        buf.resize(plan.bytes);
        return buf;
    }
    void set_lflag(uint32_t on, uint32_t off)
    {
        Termios t = ld.termios();
        t.lflag = (t.lflag | on) & ~off;
        ld.set_termios(t);
    }
};

TEST(LineDiscipline, CanonicalLineIsReadableOnlyWhenComplete)
{
    Tty t;
    t.type("hello");
    EXPECT_FALSE(t.ld.readable());
    EXPECT_EQ(t.read(), "");
    t.type("\r"); // ICRNL
    EXPECT_TRUE(t.ld.readable());
    EXPECT_EQ(t.read(), "hello\n");
    EXPECT_FALSE(t.ld.readable());
    EXPECT_EQ(t.echo.text, "hello\n");
}

TEST(LineDiscipline, ReadTakesOneLineAtATime)
{
    Tty t;
    t.type("one\ntwo\n");
    EXPECT_EQ(t.read(), "one\n");
    EXPECT_EQ(t.read(2), "tw");
    EXPECT_EQ(t.read(), "o\n");
}

TEST(LineDiscipline, EraseAndBackspaceEditTheLine)
{
    Tty t;
    t.type("abx\x7f" "c\bd\n");
    EXPECT_EQ(t.read(), "abd\n");
    EXPECT_EQ(t.echo.text, "abx\b \bc\b \bd\n");
}

TEST(LineDiscipline, EraseOnEmptyLineDoesNothing)
{
    Tty t;
    t.type("\x7f\x7f" "a\n");
    EXPECT_EQ(t.read(), "a\n");
    EXPECT_EQ(t.echo.text, "a\n");
}

TEST(LineDiscipline, EraseOfControlCharacterRemovesTwoColumns)
{
    Tty t;
    t.type("\x01\x7f");
    EXPECT_EQ(t.echo.text, "^A\b \b\b \b");
}

TEST(LineDiscipline, KillErasesTheWholeLine)
{
    Tty t;
    t.type("abc\x15xy\n");
    EXPECT_EQ(t.read(), "xy\n");
    EXPECT_EQ(t.echo.text, "abc\b \b\b \b\b \bxy\n");
}

TEST(LineDiscipline, KillWithoutEchokeEchoesKillAndNewline)
{
    Tty t;
    t.set_lflag(0, tty::kEchoke);
    t.type("abc\x15");
    EXPECT_EQ(t.echo.text, "abc^U\n");
}

TEST(LineDiscipline, KillOnEmptyLineDoesNothing)
{
    Tty t;
    t.type("\x15");
    EXPECT_EQ(t.echo.text, "");
}

TEST(LineDiscipline, EraseWithoutEchoeEchoesTheEraseCharacter)
{
    Tty t;
    t.set_lflag(0, tty::kEchoe);
    t.type("ab\x7f\n");
    EXPECT_EQ(t.echo.text, "ab^?\n");
    EXPECT_EQ(t.read(), "a\n");
}

TEST(LineDiscipline, WordErase)
{
    Tty t;
    t.type("one two  \x17three\n");
    EXPECT_EQ(t.read(), "one three\n");
}

TEST(LineDiscipline, EofAtLineStartReadsZero)
{
    Tty t;
    t.type("\x04");
    EXPECT_TRUE(t.ld.readable());
    bool consumed = false;
    EXPECT_EQ(t.read(4096, &consumed), "");
    EXPECT_TRUE(consumed);
    EXPECT_FALSE(t.ld.readable());
    EXPECT_EQ(t.echo.text, "");
}

TEST(LineDiscipline, EofAfterBytesHandsOverThePartialLine)
{
    Tty t;
    t.type("abc\x04");
    EXPECT_EQ(t.read(), "abc");
    EXPECT_FALSE(t.ld.readable()); // the mark went with the bytes: no extra end of file
    t.type("\x04");
    EXPECT_EQ(t.read(), "");
}

TEST(LineDiscipline, EofMarkGoesWithAReadThatFillsTheBuffer)
{
    Tty t;
    t.type("abc\x04");
    EXPECT_EQ(t.read(3), "abc");
    EXPECT_EQ(t.ld.committed(), 0u);
}

TEST(LineDiscipline, InterruptRaisesSigintAndFlushes)
{
    Tty t;
    t.type("partial\nmore");
    t.type("\x03");
    EXPECT_EQ(t.last_signal, tty::kSigInt);
    EXPECT_FALSE(t.ld.readable());
    EXPECT_EQ(t.ld.committed(), 0u);
    EXPECT_EQ(t.echo.text, "partial\nmore^C");
    t.type("\x1c");
    EXPECT_EQ(t.last_signal, tty::kSigQuit);
}

TEST(LineDiscipline, NoflshKeepsInput)
{
    Tty t;
    t.set_lflag(tty::kNoflsh, 0);
    t.type("x\n\x03");
    EXPECT_EQ(t.read(), "x\n");
}

TEST(LineDiscipline, WithoutIsigControlCharactersAreData)
{
    Tty t;
    t.set_lflag(0, tty::kIsig | tty::kIcanon);
    t.type("\x03\x1c");
    EXPECT_EQ(t.last_signal, 0);
    EXPECT_EQ(t.read(), "\x03\x1c");
}

TEST(LineDiscipline, EchoOffButEchonl)
{
    Tty t;
    t.set_lflag(tty::kEchonl, tty::kEcho);
    t.type("secret\n");
    EXPECT_EQ(t.echo.text, "\n");
    EXPECT_EQ(t.read(), "secret\n");
}

TEST(LineDiscipline, EchoOffIsSilent)
{
    Tty t;
    t.set_lflag(0, tty::kEcho);
    t.type("pw\x7f\n");
    EXPECT_EQ(t.echo.text, "");
    EXPECT_EQ(t.read(), "p\n");
}

TEST(LineDiscipline, IgncrAndInlcr)
{
    Tty t;
    Termios m = t.ld.termios();
    m.iflag = tty::kIgncr;
    m.lflag &= ~tty::kIcanon;
    t.ld.set_termios(m);
    t.type("a\rb");
    EXPECT_EQ(t.read(), "ab");
    m.iflag = tty::kInlcr;
    t.ld.set_termios(m);
    t.type("\n");
    EXPECT_EQ(t.read(), "\r");
}

TEST(LineDiscipline, CrWithoutIcrnlIsData)
{
    Tty t;
    Termios m = t.ld.termios();
    m.iflag = 0;
    t.ld.set_termios(m);
    t.type("a\r");
    EXPECT_FALSE(t.ld.readable());
}

TEST(LineDiscipline, NonCanonicalVminThreshold)
{
    Tty t;
    Termios m = t.ld.termios();
    m.lflag &= ~(tty::kIcanon | tty::kEcho);
    m.cc[tty::kVmin] = 3;
    m.cc[tty::kVtime] = 0;
    t.ld.set_termios(m);
    t.type("ab");
    EXPECT_FALSE(t.ld.readable());
    t.type("c");
    EXPECT_TRUE(t.ld.readable());
    m.cc[tty::kVmin] = 0;
    t.ld.set_termios(m);
    EXPECT_EQ(t.read(2), "ab");
    EXPECT_EQ(t.read(), "c");
}

TEST(LineDiscipline, NonCanonicalTakesEditingCharactersAsData)
{
    Tty t;
    t.set_lflag(0, tty::kIcanon);
    t.type("a\x7f\x04\x15\n");
    EXPECT_EQ(t.read(), std::string("a\x7f\x04\x15\n"));
}

TEST(LineDiscipline, LeavingCanonicalModeCommitsTheEditLine)
{
    Tty t;
    t.type("abc");
    t.set_lflag(0, tty::kIcanon);
    EXPECT_TRUE(t.ld.readable());
    EXPECT_EQ(t.read(), "abc");
}

TEST(LineDiscipline, EnteringCanonicalModeMakesUnreadBytesTheEditLine)
{
    Tty t;
    t.set_lflag(0, tty::kIcanon);
    t.type("ab");
    t.set_lflag(tty::kIcanon, 0);
    EXPECT_FALSE(t.ld.readable());
    t.type("\x7f\n");
    EXPECT_EQ(t.read(), "a\n");
}

TEST(LineDiscipline, Utf8EraseRemovesWholeCharacter)
{
    Tty t;
    Termios m = t.ld.termios();
    m.iflag |= tty::kIutf8;
    t.ld.set_termios(m);
    t.type("a\xc3\xa9\x7f\n");
    EXPECT_EQ(t.read(), "a\n");
}

TEST(LineDiscipline, FullRingPushesBack)
{
    Tty t;
    t.set_lflag(0, tty::kIcanon | tty::kEcho);
    for (size_t i = 0; i < LineDiscipline::kCapacity; ++i)
        ASSERT_TRUE(t.ld.receive('x', t.echo).taken);
    EXPECT_FALSE(t.ld.can_receive());
    EXPECT_FALSE(t.ld.receive('y', t.echo).taken);
    EXPECT_EQ(t.read(10).size(), 10u);
    EXPECT_TRUE(t.ld.can_receive());
}

TEST(LineDiscipline, OverlongCanonicalLineIsCutNotStuck)
{
    Tty t;
    t.set_lflag(0, tty::kEcho);
    for (size_t i = 0; i < 3 * LineDiscipline::kMaxLine; ++i)
        ASSERT_TRUE(t.ld.receive('x', t.echo).taken);
    t.type("\n");
    std::string line = t.read();
    EXPECT_EQ(line.size(), LineDiscipline::kMaxLine);
    EXPECT_EQ(line.back(), '\n');
}

TEST(LineDiscipline, CanonicalLinesFillTheRingThenDrain)
{
    Tty t;
    t.set_lflag(0, tty::kEcho);
    size_t lines = 0;
    while (t.ld.can_receive()) {
        t.type("abcdefg\n");
        lines++;
    }
    EXPECT_FALSE(t.ld.receive('z', t.echo).taken);
    for (size_t i = 0; i < lines; ++i)
        ASSERT_EQ(t.read(), "abcdefg\n");
    EXPECT_FALSE(t.ld.readable());
}

TEST(LineDiscipline, FlushDiscardsEverything)
{
    Tty t;
    t.type("a\nb");
    t.ld.flush();
    EXPECT_EQ(t.ld.committed(), 0u);
    t.type("\n");
    EXPECT_EQ(t.read(), "\n");
}

TEST(LineDiscipline, DisabledControlCharacterDoesNotMatchNul)
{
    Tty t;
    t.set_lflag(0, tty::kEcho);
    std::string in("a\0b\n", 4); // VEOL is 0 (disabled): NUL is data
    t.type(in);
    EXPECT_EQ(t.read(), in);
}

TEST(LineDiscipline, RingWrapsAround)
{
    Tty t;
    t.set_lflag(0, tty::kEcho);
    std::string line(100, 'q');
    line += '\n';
    for (int i = 0; i < 200; ++i) {
        t.type(line);
        ASSERT_EQ(t.read(), line);
    }
}

} // namespace
