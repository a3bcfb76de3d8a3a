// Unit tests for tty::PipeInput: the runner's relay protocol, end of file, back-pressure.
#include <tty/pipe_input.h>

#include <gtest/gtest.h>

#include <string>

namespace {

using tty::PipeInput;

// A decoder past the stream's start marker.
PipeInput& started(PipeInput& in)
{
    in.receive(0x10);
    in.receive('S');
    return in;
}

void feed(PipeInput& in, const std::string& bytes)
{
    for (char c : bytes) {
        ASSERT_TRUE(in.can_receive());
        in.receive(uint8_t(c));
    }
}

std::string drain(PipeInput& in, size_t n = 1 << 20)
{
    std::string out(PipeInput::kCapacity, '\0');
    size_t got = in.peek(reinterpret_cast<uint8_t*>(out.data()), n < out.size() ? n : out.size());
    in.consume(got);
    out.resize(got);
    return out;
}

TEST(PipeInput, PlainBytesPassUnchanged)
{
    PipeInput in;
    started(in);
    std::string all;
    for (int b = 0; b < 256; ++b)
        if (b != 0x10)
            all += char(b);
    feed(in, all);
    EXPECT_EQ(drain(in), all);
    EXPECT_FALSE(in.ended());
    EXPECT_FALSE(in.readable());
}

TEST(PipeInput, EscapedEscapeIsOneByte)
{
    PipeInput in;
    started(in);
    feed(in, "a\x10\x10" "b");
    EXPECT_EQ(drain(in), "a\x10" "b");
}

TEST(PipeInput, EndMarkerEndsTheInput)
{
    PipeInput in;
    started(in);
    feed(in, "tail\x10" "E" "ignored");
    EXPECT_TRUE(in.ended());
    EXPECT_TRUE(in.readable());
    EXPECT_EQ(drain(in), "tail");
    EXPECT_TRUE(in.readable()); // end of file stays readable
    EXPECT_EQ(drain(in), "");
}

TEST(PipeInput, EscapeSplitAcrossCallsAndBadEscape)
{
    PipeInput in;
    started(in);
    feed(in, "\x10");
    EXPECT_EQ(in.available(), 0u);
    feed(in, "\x10\x10q" "z");
    EXPECT_EQ(drain(in), "\x10" "z");
    EXPECT_EQ(in.errors(), 1u);
}

TEST(PipeInput, PeekDoesNotConsume)
{
    PipeInput in;
    started(in);
    feed(in, "abc");
    uint8_t buf[2];
    EXPECT_EQ(in.peek(buf, 2), 2u);
    EXPECT_EQ(in.available(), 3u);
    EXPECT_EQ(drain(in), "abc");
}

TEST(PipeInput, FullQueuePushesBackAndWraps)
{
    PipeInput in;
    started(in);
    std::string expected;
    for (size_t i = 0; i < PipeInput::kCapacity; ++i) {
        uint8_t byte = uint8_t(i * 7) == PipeInput::kEscape ? 0 : uint8_t(i * 7);
        in.receive(byte);
        expected += char(byte);
    }
    EXPECT_FALSE(in.can_receive());
    EXPECT_EQ(drain(in, 100), expected.substr(0, 100));
    feed(in, std::string(100, 'w'));
    EXPECT_EQ(drain(in), expected.substr(100) + std::string(100, 'w'));
}

TEST(PipeInput, BytesBeforeTheStartMarkerAreDiscarded)
{
    PipeInput in;
    feed(in, std::string("\0\0\x10\x10\x10S", 6));
    EXPECT_EQ(in.available(), 0u);
    feed(in, "\x10S"); // a second start marker is a protocol error
    EXPECT_EQ(in.errors(), 1u);
    feed(in, "go");
    EXPECT_EQ(drain(in), "go");
}

TEST(PipeInput, LostPaddingDoesNotMatter)
{
    for (size_t lost = 0; lost < 3; ++lost) {
        std::string stream = std::string("\0\0\0\0\x10S", 6) + "data\x10\x10\x10" "E";
        stream.erase(lost == 0 ? 0 : 1, lost); // the first or the second byte(s) vanish
        PipeInput in;
        feed(in, stream);
        EXPECT_EQ(drain(in), "data\x10");
        EXPECT_TRUE(in.ended());
    }
}

} // namespace
