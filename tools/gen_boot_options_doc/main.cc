// Prints docs/boot-options.md, the documentation of kernel/boot/options.def, to stdout:
//   gen_boot_options_doc > docs/boot-options.md
#include <boot/options.h>

#include <cstdio>

namespace {

class StdoutSink final : public lib::FormatSink {
public:
    void put(const char* data, size_t size) override { std::fwrite(data, 1, size, stdout); }
};

} // namespace

int main()
{
    StdoutSink sink;
    boot::write_options_markdown(sink);
    return std::fflush(stdout) == 0 ? 0 : 1;
}
