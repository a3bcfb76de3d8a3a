// Unit tests for the stdin relay encoder (the kernel's decoder is tested in unit_tty).
#include "runner/stdin_relay.h"

#include <gtest/gtest.h>

namespace {

TEST(StdinRelay, PlainBytesUnchanged) {
    std::string out;
    std::string in("a\0\x03\x04\r\n\xff", 7);
    runner::relay_encode(in.data(), in.size(), &out);
    EXPECT_EQ(out, in);
}

TEST(StdinRelay, EscapeDoubledAndEndMarker) {
    std::string out = "x";
    runner::relay_encode("\x10" "E\x10", 3, &out);
    runner::relay_encode_end(&out);
    EXPECT_EQ(out, std::string("x\x10\x10" "E\x10\x10\x10" "E"));
}

TEST(StdinRelay, StartIsPaddingThenMarker) {
    std::string out;
    runner::relay_encode_start(&out);
    EXPECT_EQ(out, std::string("\0\0\0\0\x10S", 6));
}

} // namespace
