// Unit tests for the boot option parser (over the kernel's table and over a test table that has
// a row of every type) and for the generated documentation, which must match the committed
// docs/boot-options.md.
#include <boot/options.h>

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using boot::CommandLine;
using boot::LogLevel;
using boot::StringView;
using boot::TestFault;

std::string str(StringView v) { return std::string(v.data(), v.size()); }

std::vector<std::string> messages(const boot::OptionErrors& errors)
{
    std::vector<std::string> out;
    for (size_t i = 0; i < errors.count; i++)
        out.emplace_back(errors.entries[i].message);
    return out;
}

CommandLine parse(StringView text)
{
    CommandLine cl;
    boot::parse_command_line(text, cl);
    return cl;
}

// A table with one row of each type, including the ones options.def does not use yet.
enum class Color : uint8_t { red, green, blue };

struct TestOptions {
    bool flag = false;
    uint64_t count = 4;
    uint64_t mem = 64ull << 20;
    StringView name;
    Color color = Color::green;
};

const boot::OptionDesc kTestRows[] = {
    BOOT_BOOL_ROW(TestOptions, "flag", flag, false, "A bool.")
    BOOT_UINT_ROW(TestOptions, "count", count, 4, 1, 1000, "An integer.")
    BOOT_SIZE_ROW(TestOptions, "mem", mem, 64ull << 20, 16ull << 10, 4ull << 30, "A size.")
    BOOT_STRING_ROW(TestOptions, "name", name, "A string.")
    BOOT_ENUM_ROW(TestOptions, "color", color, Color, green, "An enum.", red, green, blue)
};
constexpr boot::OptionTable kTestTable = {kTestRows, sizeof(kTestRows) / sizeof(kTestRows[0])};

struct TestParse {
    TestOptions options;
    boot::OptionErrors errors;
    StringView app_args;
};

TestParse parse_test(StringView text)
{
    TestParse r;
    r.app_args = boot::parse_options(text, kTestTable, &r.options, r.errors);
    return r;
}

TEST(BootOptions, DefaultsWhenEmpty)
{
    for (const char* text : {"", "   ", "\t\n "}) {
        CommandLine cl = parse(text);
        EXPECT_EQ(cl.options.log, LogLevel::info);
        EXPECT_TRUE(cl.options.boot_times); // on by default
        EXPECT_FALSE(cl.options.mm_info);
        EXPECT_TRUE(cl.options.mm_huge1g);
        EXPECT_EQ(cl.options.test_fault, TestFault::none);
        EXPECT_TRUE(cl.options.ktest.is_empty());
        EXPECT_TRUE(cl.app_args.is_empty());
        EXPECT_EQ(cl.errors.count, 0u);
    }
}

TEST(BootOptions, KernelTable)
{
    CommandLine cl = parse("log=debug boot.times=off mm.info=yes mm.huge1g=off test.fault=double_fault ktest=sched.*");
    EXPECT_EQ(cl.errors.count, 0u) << messages(cl.errors)[0];
    EXPECT_EQ(cl.options.log, LogLevel::debug);
    EXPECT_FALSE(cl.options.boot_times);
    EXPECT_TRUE(cl.options.mm_info);
    EXPECT_FALSE(cl.options.mm_huge1g);
    EXPECT_EQ(cl.options.test_fault, TestFault::double_fault);
    EXPECT_EQ(str(cl.options.ktest), "sched.*");
}

TEST(BootOptions, ParseResetsPreviousResults)
{
    CommandLine cl;
    boot::parse_command_line("log=error bogus -- x", cl);
    boot::parse_command_line("", cl);
    EXPECT_EQ(cl.options.log, LogLevel::info);
    EXPECT_EQ(cl.errors.count, 0u);
    EXPECT_TRUE(cl.app_args.is_empty());
}

TEST(BootOptions, Bools)
{
    struct Case {
        const char* text;
        bool expected;
    };
    for (Case c : {Case{"flag", true}, Case{"flag=on", true}, Case{"flag=1", true}, Case{"flag=yes", true},
                   Case{"flag=true", true}, Case{"flag=off", false}, Case{"flag=0", false}, Case{"flag=no", false},
                   Case{"flag=false", false}, Case{"flag=on flag=off", false}}) {
        TestParse r = parse_test(c.text);
        EXPECT_EQ(r.errors.count, 0u) << c.text;
        EXPECT_EQ(r.options.flag, c.expected) << c.text;
    }
    for (const char* bad : {"flag=", "flag=On", "flag=2", "flag=onn", "flag=o"}) {
        TestParse r = parse_test(bad);
        ASSERT_EQ(r.errors.count, 1u) << bad;
        EXPECT_FALSE(r.options.flag) << bad;
        EXPECT_NE(std::string(r.errors.entries[0].message).find("is not one of on|off|1|0|yes|no|true|false"),
                  std::string::npos);
    }
    EXPECT_EQ(messages(parse_test("flag=maybe").errors),
              std::vector<std::string>{"boot option 'flag': 'maybe' is not one of on|off|1|0|yes|no|true|false"});
}

TEST(BootOptions, Integers)
{
    EXPECT_EQ(parse_test("count=7").options.count, 7u);
    EXPECT_EQ(parse_test("count=1000").options.count, 1000u);
    EXPECT_EQ(parse_test("count=1").options.count, 1u);
    EXPECT_EQ(parse_test("count=0x10").options.count, 16u);
    EXPECT_EQ(parse_test("count=0X3e8").options.count, 1000u);
    EXPECT_EQ(parse_test("count=007").options.count, 7u); // decimal, not octal

    struct Case {
        const char* text;
        const char* message;
    };
    for (Case c : {
             Case{"count=0", "boot option 'count': '0' is out of range (1 to 1000)"},
             Case{"count=1001", "boot option 'count': '1001' is out of range (1 to 1000)"},
             Case{"count=", "boot option 'count': '' is not a number"},
             Case{"count=-1", "boot option 'count': '-1' is not a number"},
             Case{"count=12abc", "boot option 'count': '12abc' is not a number"},
             Case{"count=0x", "boot option 'count': '0x' is not a number"},
             Case{"count=0xg", "boot option 'count': '0xg' is not a number"},
             Case{"count=10K", "boot option 'count': '10K' is not a number"},
             Case{"count=18446744073709551616", "boot option 'count': '18446744073709551616' is too large"},
             Case{"count=0x10000000000000000", "boot option 'count': '0x10000000000000000' is too large"},
             Case{"count", "boot option 'count' needs a value"},
         }) {
        TestParse r = parse_test(c.text);
        EXPECT_EQ(messages(r.errors), std::vector<std::string>{c.message}) << c.text;
        EXPECT_EQ(r.options.count, 4u) << c.text; // the default stays
    }
}

TEST(BootOptions, IntegerAtTheTypeLimit)
{
    const boot::OptionDesc rows[] = {
        BOOT_UINT_ROW(TestOptions, "count", count, 0, 0, UINT64_MAX, "Unbounded.")
    };
    TestOptions options;
    boot::OptionErrors errors;
    boot::parse_options("count=18446744073709551615", {rows, 1}, &options, errors);
    EXPECT_EQ(errors.count, 0u);
    EXPECT_EQ(options.count, UINT64_MAX);
    boot::parse_options("count=0xffffffffffffffff", {rows, 1}, &options, errors);
    EXPECT_EQ(options.count, UINT64_MAX);
}

TEST(BootOptions, Sizes)
{
    EXPECT_EQ(parse_test("mem=65536").options.mem, 65536u);
    EXPECT_EQ(parse_test("mem=16K").options.mem, 16u << 10);
    EXPECT_EQ(parse_test("mem=16k").options.mem, 16u << 10);
    EXPECT_EQ(parse_test("mem=64M").options.mem, 64u << 20);
    EXPECT_EQ(parse_test("mem=2G").options.mem, 2ull << 30);
    EXPECT_EQ(parse_test("mem=4g").options.mem, 4ull << 30);
    EXPECT_EQ(parse_test("mem=0x100000").options.mem, 1u << 20);
    EXPECT_EQ(parse_test("mem=0x10M").options.mem, 16u << 20);

    struct Case {
        const char* text;
        const char* message;
    };
    const char* not_a_size = "' is not a size (a number with an optional K, M, G or T suffix)";
    for (Case c : {
             Case{"mem=8K", "boot option 'mem': '8K' is out of range (16K to 4G)"},
             Case{"mem=5G", "boot option 'mem': '5G' is out of range (16K to 4G)"},
             Case{"mem=1T", "boot option 'mem': '1T' is out of range (16K to 4G)"},
             Case{"mem=16384000000000000000K", "boot option 'mem': '16384000000000000000K' is too large"},
             Case{"mem=17179869184G", "boot option 'mem': '17179869184G' is too large"},
             Case{"mem=64MB", nullptr},
             Case{"mem=M", nullptr},
             Case{"mem=64X", nullptr},
             Case{"mem=", nullptr},
         }) {
        TestParse r = parse_test(c.text);
        std::string expected = c.message ? c.message
                                         : "boot option 'mem': '" + std::string(c.text + 4) + not_a_size;
        EXPECT_EQ(messages(r.errors), std::vector<std::string>{expected}) << c.text;
        EXPECT_EQ(r.options.mem, 64u << 20) << c.text;
    }
}

TEST(BootOptions, Strings)
{
    StringView text = "name=hello";
    TestParse r = parse_test(text);
    EXPECT_EQ(str(r.options.name), "hello");
    // The value is a view into the command line, not a copy.
    EXPECT_EQ(r.options.name.data(), text.data() + 5);

    EXPECT_TRUE(parse_test("name=").options.name.is_empty());
    EXPECT_EQ(parse_test("name").errors.count, 1u);
    EXPECT_EQ(str(parse_test("name=a=b,c").options.name), "a=b,c");
}

TEST(BootOptions, Enums)
{
    EXPECT_EQ(parse_test("color=red").options.color, Color::red);
    EXPECT_EQ(parse_test("color=blue").options.color, Color::blue);
    EXPECT_EQ(parse_test("color=green").options.color, Color::green);
    for (const char* bad : {"color=", "color=Red", "color=re", "color=reds", "color=red,green"}) {
        TestParse r = parse_test(bad);
        EXPECT_EQ(r.errors.count, 1u) << bad;
        EXPECT_EQ(r.options.color, Color::green) << bad;
    }
    EXPECT_EQ(messages(parse("log=loud").errors),
              std::vector<std::string>{"boot option 'log': 'loud' is not one of error|warn|info|debug"});
    EXPECT_EQ(messages(parse("log").errors), std::vector<std::string>{"boot option 'log' needs a value"});

    // Every test.fault name round-trips to its enumerator, in table order.
    const char* faults[] = {"none", "null_read", "null_write", "write_text", "exec_data",
                            "divide", "ud", "double_fault", "stack_overflow", "oom"};
    for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
        CommandLine cl = parse(("test.fault=" + std::string(faults[i])).c_str());
        EXPECT_EQ(cl.errors.count, 0u) << faults[i];
        EXPECT_EQ(static_cast<size_t>(cl.options.test_fault), i) << faults[i];
    }
    EXPECT_EQ(parse("test.fault=stack_overflow").options.test_fault, TestFault::stack_overflow);
}

TEST(BootOptions, Quoting)
{
    TestParse r = parse_test("name=\"two words\" flag");
    EXPECT_EQ(r.errors.count, 0u);
    EXPECT_EQ(str(r.options.name), "two words");
    EXPECT_TRUE(r.options.flag);

    EXPECT_EQ(str(parse_test("name=\"\"").options.name), "");
    EXPECT_EQ(str(parse_test("name=\"a\tb\n c\"").options.name), "a\tb\n c");
    EXPECT_EQ(str(parse_test("name=\"x=y -- z\"").options.name), "x=y -- z");
    EXPECT_EQ(parse_test("color=\"blue\"").options.color, Color::blue);
    EXPECT_EQ(parse_test("count=\" 5\"").errors.count, 1u); // quotes keep the space; not a number
    // A quote later in an unquoted value is an ordinary character.
    EXPECT_EQ(str(parse_test("name=a\"b").options.name), "a\"b");

    r = parse_test("flag name=\"unterminated count=5");
    EXPECT_EQ(messages(r.errors), std::vector<std::string>{"boot option 'name': missing closing quote"});
    EXPECT_TRUE(r.options.flag);
    EXPECT_EQ(r.options.count, 4u); // swallowed by the open quote
    EXPECT_TRUE(r.options.name.is_empty());

    r = parse_test("name=\"a\"b count=5");
    EXPECT_EQ(messages(r.errors), std::vector<std::string>{"boot option 'name': text after the closing quote"});
    EXPECT_TRUE(r.options.name.is_empty());
    EXPECT_EQ(r.options.count, 5u); // parsing resumes at the next token
}

TEST(BootOptions, ApplicationArguments)
{
    CommandLine cl = parse("log=warn -- /app --verbose log=error \"x y\"  ");
    EXPECT_EQ(cl.errors.count, 0u);
    EXPECT_EQ(cl.options.log, LogLevel::warn); // the application's log=error is not ours
    EXPECT_EQ(str(cl.app_args), "/app --verbose log=error \"x y\"");

    EXPECT_TRUE(parse("log=warn --").app_args.is_empty());
    EXPECT_TRUE(parse("log=warn --   ").app_args.is_empty());
    EXPECT_EQ(str(parse("-- a").app_args), "a");
    EXPECT_EQ(str(parse("--\ta -- b").app_args), "a -- b");
    // Only a whole "--" token counts.
    EXPECT_EQ(messages(parse("--x").errors), std::vector<std::string>{"unknown boot option '--x'"});
    EXPECT_EQ(messages(parse("--=1").errors), std::vector<std::string>{"unknown boot option '--'"});
    EXPECT_EQ(str(parse("ktest=\"--\" -- z").options.ktest), "--");
    EXPECT_EQ(str(parse("ktest=\"--\" -- z").app_args), "z");
}

TEST(BootOptions, ErrorsDoNotStopParsing)
{
    CommandLine cl = parse("foo log=loud mm.info=maybe =x boot.times -- app");
    EXPECT_EQ(messages(cl.errors), (std::vector<std::string>{
                                       "unknown boot option 'foo'",
                                       "boot option 'log': 'loud' is not one of error|warn|info|debug",
                                       "boot option 'mm.info': 'maybe' is not one of on|off|1|0|yes|no|true|false",
                                       "unknown boot option ''",
                                   }));
    EXPECT_EQ(str(cl.errors.entries[0].option), "foo");
    EXPECT_EQ(str(cl.errors.entries[2].option), "mm.info");
    EXPECT_EQ(cl.options.log, LogLevel::info);
    EXPECT_FALSE(cl.options.mm_info);
    EXPECT_TRUE(cl.options.boot_times);
    EXPECT_EQ(str(cl.app_args), "app");
}

TEST(BootOptions, DuplicatesLastWins)
{
    CommandLine cl = parse("log=debug mm.huge1g=off log=error mm.huge1g ktest=a ktest=b");
    EXPECT_EQ(cl.options.log, LogLevel::error);
    EXPECT_TRUE(cl.options.mm_huge1g);
    EXPECT_EQ(str(cl.options.ktest), "b");
    // A bad later value leaves the earlier good one in place.
    cl = parse("log=debug log=loud");
    EXPECT_EQ(cl.options.log, LogLevel::debug);
    EXPECT_EQ(cl.errors.count, 1u);
}

TEST(BootOptions, TooManyErrorsAreCounted)
{
    std::string text;
    for (int i = 0; i < 20; i++)
        text += "bad" + std::to_string(i) + " ";
    text += "log=warn";
    CommandLine cl = parse(StringView(text.data(), text.size()));
    EXPECT_EQ(cl.errors.count, boot::kMaxOptionErrors);
    EXPECT_EQ(cl.errors.dropped, 20 - boot::kMaxOptionErrors);
    EXPECT_STREQ(cl.errors.entries[boot::kMaxOptionErrors - 1].message, "unknown boot option 'bad7'");
    EXPECT_EQ(cl.options.log, LogLevel::warn);
}

TEST(BootOptions, LongValuesAreShortenedInMessages)
{
    std::string value(500, 'z');
    std::string text = "log=" + value + " " + value + "=1";
    CommandLine cl = parse(StringView(text.data(), text.size()));
    ASSERT_EQ(cl.errors.count, 2u);
    EXPECT_EQ(std::string(cl.errors.entries[0].message),
              "boot option 'log': '" + value.substr(0, 32) + "...' is not one of error|warn|info|debug");
    EXPECT_EQ(std::string(cl.errors.entries[1].message), "unknown boot option '" + value.substr(0, 32) + "...'");
    EXPECT_EQ(cl.errors.entries[1].option.size(), 500u); // the record still has the whole key
}

TEST(BootOptions, NotNulTerminatedAndOddBytes)
{
    // The parser must stay inside the view: "log=warn" followed by bytes it must not read.
    const char text[] = "log=warnXXXX";
    CommandLine cl = parse(StringView(text, 8));
    EXPECT_EQ(cl.options.log, LogLevel::warn);
    EXPECT_EQ(cl.errors.count, 0u);

    const char nul[] = "log=warn\0 mm.info";
    cl = parse(StringView(nul, sizeof(nul) - 1));
    EXPECT_EQ(cl.errors.count, 1u); // "warn\0" is not a level
    EXPECT_TRUE(cl.options.mm_info);
}

// A FormatSink that collects into a std::string.
class StringSink final : public lib::FormatSink {
public:
    void put(const char* data, size_t size) override { text.append(data, size); }
    std::string text;
};

TEST(BootOptionsDoc, TableRows)
{
    StringSink sink;
    boot::write_options_markdown(sink, kTestTable);
    const std::string& doc = sink.text;
    EXPECT_NE(doc.find("| `flag` | bool | `off` | `on`, `off` | A bool. |\n"), std::string::npos) << doc;
    EXPECT_NE(doc.find("| `count` | integer | `4` | `1` to `1000` | An integer. |\n"), std::string::npos) << doc;
    EXPECT_NE(doc.find("| `mem` | size | `64M` | `16K` to `4G` | A size. |\n"), std::string::npos) << doc;
    EXPECT_NE(doc.find("| `name` | string | (empty) | any text | A string. |\n"), std::string::npos) << doc;
    EXPECT_NE(doc.find("| `color` | enum | `green` | `red`, `green`, `blue` | An enum. |\n"), std::string::npos) << doc;
}

TEST(VirtioMmioDevices, RepeatedBeforeTheApplication)
{
    CommandLine cl = parse("virtio_mmio.device=512@0xfeb00000:24 log=warn virtio_mmio.device=4K@0xd0000000:5:3 -- /bin/x y");
    EXPECT_EQ(cl.errors.count, 0u) << (cl.errors.count ? cl.errors.entries[0].message : "");
    ASSERT_EQ(cl.mmio_device_count, 2u);
    EXPECT_EQ(cl.mmio_devices[0].base, 0xfeb00000u);
    EXPECT_EQ(cl.mmio_devices[0].size, 512u);
    EXPECT_EQ(cl.mmio_devices[0].irq, 24u);
    EXPECT_EQ(cl.mmio_devices[1].base, 0xd0000000u);
    EXPECT_EQ(cl.mmio_devices[1].size, 4096u);
    EXPECT_EQ(cl.mmio_devices[1].irq, 5u);
    EXPECT_EQ(str(cl.app_args), "/bin/x y");
    EXPECT_EQ(cl.options.log, boot::LogLevel::warn);
}

TEST(VirtioMmioDevices, TakenFromTheEndOfTheApplicationsArguments)
{
    // QEMU microvm (acpi=off) appends its announcements to whatever line it was given.
    CommandLine cl = parse("virtio_mmio.device=512@0xfeb00000:5 -- /bin/x y virtio_mmio.device=512@0xfeb00c00:11 "
                           "virtio_mmio.device=512@0xfeb00e00:12");
    ASSERT_EQ(cl.mmio_device_count, 3u);
    EXPECT_EQ(cl.mmio_devices[0].base, 0xfeb00000u);
    EXPECT_EQ(cl.mmio_devices[1].base, 0xfeb00c00u);
    EXPECT_EQ(cl.mmio_devices[2].base, 0xfeb00e00u);
    EXPECT_EQ(str(cl.app_args), "/bin/x y");

    // Only trailing ones: an argument in the middle belongs to the program.
    cl = parse("-- /bin/echo virtio_mmio.device=512@0x1000:5 end");
    EXPECT_EQ(cl.mmio_device_count, 0u);
    EXPECT_EQ(str(cl.app_args), "/bin/echo virtio_mmio.device=512@0x1000:5 end");
}

TEST(VirtioMmioDevices, MalformedValuesAreReportedAndSkipped)
{
    for (const char* bad : { "virtio_mmio.device=", "virtio_mmio.device=512", "virtio_mmio.device=512@",
                             "virtio_mmio.device=512@0x1000", "virtio_mmio.device=512@0x1000:",
                             "virtio_mmio.device=512X@0x1000:5", "virtio_mmio.device=0@0x1000:5",
                             "virtio_mmio.device=512@0x1000:256", "virtio_mmio.device=512@0xffffffffffffff00:5",
                             "virtio_mmio.device=512@0x1000:5:x", "virtio_mmio.device=99999999999999999999@0:5",
                             "virtio_mmio.device=17179869184G@0x1000:5" }) {
        CommandLine cl = parse(bad);
        EXPECT_EQ(cl.mmio_device_count, 0u) << bad;
        ASSERT_EQ(cl.errors.count, 1u) << bad;
        EXPECT_NE(std::string(cl.errors.entries[0].message).find("virtio_mmio.device"), std::string::npos) << bad;
    }
}

TEST(VirtioMmioDevices, AtMostTheLimit)
{
    std::string line;
    for (size_t i = 0; i < boot::kMaxVirtioMmioDevices + 3; ++i)
        line += "virtio_mmio.device=512@" + std::to_string(0x10000 + i * 0x200) + ":5 ";
    CommandLine cl = parse(StringView(line.data(), line.size()));
    EXPECT_EQ(cl.mmio_device_count, boot::kMaxVirtioMmioDevices);
    EXPECT_EQ(cl.errors.count, 3u);
}

TEST(BootOptionsDoc, CommittedDocIsUpToDate)
{
    // This file is tests/unit/boot/options_test.cc: the repository root is three levels up.
    std::string path = __FILE__;
    for (int i = 0; i < 4; i++)
        path = path.substr(0, path.find_last_of('/'));
    path += "/docs/boot-options.md";
    std::ifstream in(path);
    ASSERT_TRUE(in) << "cannot read " << path;
    std::stringstream committed;
    committed << in.rdbuf();

    StringSink sink;
    boot::write_options_markdown(sink);
    EXPECT_EQ(committed.str(), sink.text)
        << path << " is stale: regenerate it with build/bin/gen_boot_options_doc > docs/boot-options.md";
}

} // namespace
