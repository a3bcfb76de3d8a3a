// The kernel's splitter of the application command line, against the runner's encoding
// (docs/runner.md, "The guest command line").
#include <boot/app_command.h>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Split {
    const char* error = nullptr;
    std::vector<std::string> env, argv;
};

Split split(const std::string& text)
{
    auto cmd = std::make_unique<boot::AppCommand>();
    std::vector<char> storage(text.size() + 1);
    Split s;
    s.error = boot::split_app_command({ text.data(), text.size() }, storage.data(), storage.size(), *cmd);
    if (!s.error) {
        for (size_t i = 0; i < cmd->env_count; ++i)
            s.env.push_back(cmd->env[i]);
        for (size_t i = 0; i < cmd->argc; ++i)
            s.argv.push_back(cmd->argv[i]);
    }
    return s;
}

using V = std::vector<std::string>;

TEST(AppCommand, EnvironmentThenProgramAndArguments)
{
    Split s = split("PATH=/usr/bin:/bin HOME=/ TERM=dumb /usr/bin/python3 -c 'print(1)'");
    ASSERT_EQ(s.error, nullptr);
    EXPECT_EQ(s.env, (V { "PATH=/usr/bin:/bin", "HOME=/", "TERM=dumb" }));
    EXPECT_EQ(s.argv, (V { "/usr/bin/python3", "-c", "print(1)" }));
}

TEST(AppCommand, RunnerDocumentationExample)
{
    Split s = split("PATH=/usr/local/bin:/usr/bin:/bin HOME=/ TERM=dumb LANG=C.UTF-8 /usr/bin/python3 -c "
                    "'print('\\''hi there'\\'')' ''");
    ASSERT_EQ(s.error, nullptr);
    EXPECT_EQ(s.env.size(), 4u);
    EXPECT_EQ(s.argv, (V { "/usr/bin/python3", "-c", "print('hi there')", "" }));
}

TEST(AppCommand, QuotingRules)
{
    EXPECT_EQ(split("/p 'a b' a\\ b \"x\" 'tab\there' 'new\nline'").argv,
              (V { "/p", "a b", "a b", "\"x\"", "tab\there", "new\nline" }));
    EXPECT_EQ(split("  \t/p   x  ").argv, (V { "/p", "x" }));
    EXPECT_EQ(split("/p a'b c'd").argv, (V { "/p", "ab cd" }));
    EXPECT_EQ(split("/p '' ''''").argv, (V { "/p", "", "" }));
    // NAME=VALUE after the program is an ordinary argument; a quoted one before it is still
    // the environment (the test is after unquoting); an invalid NAME is the program.
    EXPECT_EQ(split("/p A=1").argv, (V { "/p", "A=1" }));
    EXPECT_EQ(split("'A=x y' /p").env, (V { "A=x y" }));
    EXPECT_EQ(split("1A=2 x").argv, (V { "1A=2", "x" }));
    EXPECT_EQ(split("=x /p").argv, (V { "=x", "/p" }));
}

TEST(AppCommand, Errors)
{
    EXPECT_NE(split("").error, nullptr);
    EXPECT_NE(split("   ").error, nullptr);
    EXPECT_NE(split("A=1 B=2").error, nullptr);
    EXPECT_NE(split("/p 'open").error, nullptr);
    EXPECT_NE(split("/p x\\").error, nullptr);
    std::string many = "/p";
    for (size_t i = 0; i < boot::AppCommand::kMaxWords; ++i)
        many += " x";
    EXPECT_NE(split(many).error, nullptr);
    // Too little storage is an error, not an overflow.
    boot::AppCommand cmd;
    char tiny[2];
    EXPECT_NE(boot::split_app_command({ "/p x", 4 }, tiny, sizeof(tiny), cmd), nullptr);
}

TEST(AppCommand, EnvWordShape)
{
    EXPECT_TRUE(boot::is_env_word("A=1"));
    EXPECT_TRUE(boot::is_env_word("_a9="));
    EXPECT_FALSE(boot::is_env_word("9a=1"));
    EXPECT_FALSE(boot::is_env_word("a-b=1"));
    EXPECT_FALSE(boot::is_env_word("abc"));
    EXPECT_FALSE(boot::is_env_word(""));
}

} // namespace
