// fuzz-links: tty
// libFuzzer target: hostile console input. The input drives both decoders: PipeInput (the
// runner's relay protocol) and LineDiscipline (a terminal), the latter also under modes taken
// from the input (any termios a program could set with TCSETS) and with reads of every size
// interleaved. Neither may crash, read or write out of bounds, hand out more bytes than the
// read asked for, or grow past its capacity; a read must consume at least what it returns.
#include <tty/line_discipline.h>
#include <tty/pipe_input.h>

#include <cstdint>
#include <cstring>

namespace {

#define CHECK(cond)           \
    do {                      \
        if (!(cond))          \
            __builtin_trap(); \
    } while (0)

class CountingSink final : public tty::EchoSink {
public:
    void echo(const char* data, size_t size) override
    {
        CHECK(size <= 64); // an echo is a few bytes at most (erasing a character, ^X, a newline)
        for (size_t i = 0; i < size; ++i)
            m_sum += uint8_t(data[i]);
    }
    unsigned m_sum = 0;
};

void fuzz_pipe(const uint8_t* data, size_t size)
{
    tty::PipeInput in;
    uint8_t buf[tty::PipeInput::kCapacity];
    for (size_t i = 0; i < size; ++i) {
        if (!in.can_receive()) {
            size_t n = in.peek(buf, data[i] % 200 + 1);
            CHECK(n <= in.available());
            in.consume(n);
        }
        if (in.can_receive())
            in.receive(data[i]);
        CHECK(in.available() <= tty::PipeInput::kCapacity);
    }
    while (in.available()) {
        size_t n = in.peek(buf, sizeof buf);
        CHECK(n > 0 && n <= sizeof buf);
        in.consume(n);
    }
    CHECK(!in.readable() || in.ended());
}

void fuzz_terminal(const uint8_t* data, size_t size)
{
    tty::LineDiscipline ld;
    if (size >= sizeof(tty::Termios)) {
        tty::Termios t;
        std::memcpy(&t, data, sizeof t);
        ld.set_termios(t);
        data += sizeof t;
        size -= sizeof t;
    }
    CountingSink sink;
    uint8_t buf[tty::LineDiscipline::kCapacity + 16];
    for (size_t i = 0; i < size; ++i) {
        uint8_t byte = data[i];
        if (byte == 0xfe && i + 1 < size) { // a read of data[i+1] + 1 bytes
            size_t want = data[++i] + 1u;
            auto plan = ld.peek(buf, want);
            CHECK(plan.bytes <= want && plan.consumed >= plan.bytes && plan.consumed <= ld.committed());
            ld.consume(plan);
            continue;
        }
        if (byte == 0xfd) {
            ld.flush();
            CHECK(ld.committed() == 0);
            continue;
        }
        if (!ld.can_receive()) {
            auto plan = ld.peek(buf, sizeof buf);
            ld.consume(plan);
            if (!ld.can_receive())
                ld.flush(); // a full ring of an unfinished line: what TCFLSH would do
        }
        auto r = ld.receive(byte, sink);
        CHECK(r.signal == 0 || r.signal == 2 || r.signal == 3);
    }
    for (int rounds = 0; rounds < 4096 && ld.committed(); ++rounds) {
        auto plan = ld.peek(buf, sizeof buf);
        if (plan.consumed == 0)
            break; // canonical mode with no whole line committed
        ld.consume(plan);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    fuzz_pipe(data, size);
    fuzz_terminal(data, size);
    return 0;
}
