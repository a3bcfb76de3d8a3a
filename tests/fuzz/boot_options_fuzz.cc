// fuzz-links: boot lib
// libFuzzer target for the boot option parser: any bytes as a kernel command line, parsed with
// the kernel's table and with a table that has a row of every option type. Beyond not
// crashing (and not tripping ASan/UBSan), every view the parser returns must lie inside the
// input and every error message must be NUL-terminated.
#include <boot/options.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

enum class Mode : uint8_t { a, b, c };

struct AllTypes {
    bool flag = false;
    uint64_t count = 0;
    uint64_t mem = 0;
    boot::StringView name;
    Mode mode = Mode::a;
};

const boot::OptionDesc kAllTypesRows[] = {
    BOOT_BOOL_ROW(AllTypes, "flag", flag, false, "A bool.")
    BOOT_UINT_ROW(AllTypes, "count", count, 0, 0, 1000, "An integer.")
    BOOT_SIZE_ROW(AllTypes, "mem", mem, 0, 4096, UINT64_MAX, "A size.")
    BOOT_STRING_ROW(AllTypes, "name", name, "A string.")
    BOOT_ENUM_ROW(AllTypes, "mode", mode, Mode, a, "An enum.", a, b, c)
};

void check_inside(boot::StringView v, const char* begin, size_t size)
{
    if (v.is_empty())
        return;
    if (v.data() < begin || v.data() + v.size() > begin + size)
        std::abort();
}

void check_errors(const boot::OptionErrors& errors, const char* begin, size_t size)
{
    if (errors.count > boot::kMaxOptionErrors)
        std::abort();
    for (size_t i = 0; i < errors.count; i++) {
        if (strnlen(errors.entries[i].message, boot::kOptionErrorSize) == boot::kOptionErrorSize)
            std::abort();
        check_inside(errors.entries[i].option, begin, size);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // An exactly-sized heap copy (not NUL-terminated), so that ASan reports any read past it.
    auto copy = std::make_unique<char[]>(size ? size : 1);
    if (size)
        std::memcpy(copy.get(), data, size);
    boot::StringView text(copy.get(), size);

    auto cl = std::make_unique<boot::CommandLine>();
    boot::parse_command_line(text, *cl);
    check_inside(cl->app_args, copy.get(), size);
    check_inside(cl->options.ktest, copy.get(), size);
    check_errors(cl->errors, copy.get(), size);
    if (static_cast<unsigned>(cl->options.log) > static_cast<unsigned>(boot::LogLevel::debug) ||
        static_cast<unsigned>(cl->options.test_fault) > static_cast<unsigned>(boot::TestFault::oom))
        std::abort();

    AllTypes options;
    boot::OptionErrors errors;
    boot::OptionTable table = {kAllTypesRows, sizeof(kAllTypesRows) / sizeof(kAllTypesRows[0])};
    boot::StringView app_args = boot::parse_options(text, table, &options, errors);
    check_inside(app_args, copy.get(), size);
    check_inside(options.name, copy.get(), size);
    check_errors(errors, copy.get(), size);
    if (options.count > 1000 || (options.mem != 0 && options.mem < 4096) || static_cast<unsigned>(options.mode) > 2)
        std::abort();
    return 0;
}
