// Unit tests of the guest command line: quoting (round trip through a reference splitter
// written from docs/runner.md, "The guest command line"), environment, memory rule.
#include "runner/guest_command.h"

#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "runner/qemu_command.h"

namespace runner {
namespace {

// The decoder the kernel implements, written from the documentation: words separated by
// runs of spaces and tabs; inside a word '...' is literal up to the next ', and outside
// quotes a backslash makes the next byte literal. nullopt for an unterminated quote or a
// trailing backslash.
std::optional<std::vector<std::string>> split_guest_words(std::string_view text) {
    std::vector<std::string> words;
    size_t i = 0;
    for (;;) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) {
            ++i;
        }
        if (i == text.size()) {
            return words;
        }
        std::string word;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t') {
            char c = text[i++];
            if (c == '\'') {
                size_t close = text.find('\'', i);
                if (close == std::string_view::npos) {
                    return std::nullopt;
                }
                word += text.substr(i, close - i);
                i = close + 1;
            } else if (c == '\\') {
                if (i == text.size()) {
                    return std::nullopt;
                }
                word += text[i++];
            } else {
                word += c;
            }
        }
        words.push_back(std::move(word));
    }
}

std::vector<std::string> round_trip(const std::vector<std::string>& words) {
    std::string line = build_kernel_cmdline({"boot.times", "x=a b"}, words);
    auto sep = line.find(" -- ");
    EXPECT_NE(sep, std::string::npos) << line;
    auto split = split_guest_words(line.substr(sep + 4));
    EXPECT_TRUE(split) << line;
    return split.value_or(std::vector<std::string>{});
}

TEST(RunnerGuestWords, Quoting) {
    EXPECT_EQ(quote_guest_word("/usr/bin/python3"), "/usr/bin/python3");
    EXPECT_EQ(quote_guest_word("LANG=C.UTF-8"), "LANG=C.UTF-8");
    EXPECT_EQ(quote_guest_word("print(1)"), "print(1)");
    EXPECT_EQ(quote_guest_word(""), "''");
    EXPECT_EQ(quote_guest_word("a b"), "'a b'");
    EXPECT_EQ(quote_guest_word("tab\there"), "'tab\there'");
    EXPECT_EQ(quote_guest_word("it's"), "'it'\\''s'");
    EXPECT_EQ(quote_guest_word("say \"hi\""), "'say \"hi\"'");
    EXPECT_EQ(quote_guest_word("back\\slash"), "'back\\slash'");
    EXPECT_EQ(quote_guest_word("line\nbreak"), "'line\nbreak'");
    EXPECT_EQ(quote_guest_word("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 passes through
}

TEST(RunnerGuestWords, TheDocumentedExample) {
    auto words = guest_words({"LANG=C.UTF-8"}, {"/usr/bin/python3", "-c", "print(1)"});
    EXPECT_EQ(build_kernel_cmdline({}, words), "-- LANG=C.UTF-8 /usr/bin/python3 -c print(1)");
    words = guest_words({"PATH=/usr/bin", "HOME=/"}, {"/usr/bin/python3", "-c", "print('hi there')"});
    EXPECT_EQ(build_kernel_cmdline({}, words),
              "-- PATH=/usr/bin HOME=/ /usr/bin/python3 -c 'print('\\''hi there'\\'')'");
}

TEST(RunnerGuestWords, RoundTripsThroughTheReferenceSplitter) {
    std::vector<std::vector<std::string>> cases = {
        {"/bin/true"},
        {"/p", ""},
        {"/p", "", "", "x"},
        {"/p", "'", "''", "'\\''", "\\", "\\\\", "\"", "a'b\"c\\d"},
        {"/p", " leading", "trailing ", "  ", "\t", "\n", "mixed \t\n'\"\\ all"},
        {"/p", "--", "-c", "import sys; print(sys.argv)", "$HOME", "*", "a=b"},
    };
    for (const auto& words : cases) {
        EXPECT_EQ(round_trip(words), words);
    }
    std::mt19937 rng(7);
    const std::string alphabet = "ab '\"\\\t\n=$-/\x01\x7f\xc3\xa9";
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::string> words = {"/prog"};
        size_t n = rng() % 6;
        for (size_t w = 0; w < n; ++w) {
            std::string word;
            size_t len = rng() % 8;
            for (size_t k = 0; k < len; ++k) {
                word += alphabet[rng() % alphabet.size()];
            }
            words.push_back(word);
        }
        ASSERT_EQ(round_trip(words), words);
    }
}

TEST(RunnerGuestWords, BootOptions) {
    EXPECT_EQ(quote_boot_option("log=debug"), "log=debug");
    EXPECT_EQ(quote_boot_option("mm.info"), "mm.info");
    EXPECT_EQ(quote_boot_option("x=a b"), "x=\"a b\"");
    EXPECT_EQ(quote_boot_option("x=a\tb"), "x=\"a\tb\"");
    EXPECT_TRUE(check_boot_option("x=a b"));
    EXPECT_TRUE(check_boot_option("x="));
    EXPECT_EQ(check_boot_option("").error, "empty --boot option");
    EXPECT_FALSE(check_boot_option("x=\"q\""));
    EXPECT_FALSE(check_boot_option("x=a\nb"));
    EXPECT_FALSE(check_boot_option("a b"));
    EXPECT_FALSE(check_boot_option("a b=c"));
}

TEST(RunnerGuestWords, Environment) {
    EXPECT_EQ(default_guest_environment(false),
              (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/", "TERM=dumb"}));
    EXPECT_EQ(default_guest_environment(true)[2], "TERM=xterm");
    auto env = merge_environment(default_guest_environment(false), {"HOME=/root", "LANG=C.UTF-8", "LANG=C", "X="});
    EXPECT_EQ(env, (std::vector<std::string>{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "TERM=dumb",
                                             "LANG=C", "X="}));
    EXPECT_TRUE(is_env_assignment("A=1"));
    EXPECT_TRUE(is_env_assignment("_x9=a=b"));
    EXPECT_TRUE(is_env_assignment("EMPTY="));
    EXPECT_FALSE(is_env_assignment("=1"));
    EXPECT_FALSE(is_env_assignment("9A=1"));
    EXPECT_FALSE(is_env_assignment("A-B=1"));
    EXPECT_FALSE(is_env_assignment("NOEQUALS"));
    EXPECT_FALSE(is_env_assignment("/usr/bin/env"));
}

TEST(RunnerGuestWords, MemoryGrowsWithTheImage) {
    constexpr uint64_t kMiB = 1024 * 1024;
    EXPECT_EQ(memory_for_image(0), "128M");
    EXPECT_EQ(memory_for_image(1), "129M");
    EXPECT_EQ(memory_for_image(3 * kMiB), "134M");
    EXPECT_EQ(memory_for_image(50 * kMiB + 1), "229M");
    EXPECT_EQ(memory_for_image(2048 * kMiB), "4224M");
}

} // namespace
} // namespace runner
