// In-kernel tests: KTEST(suite, name) { ... } registers a test in the .ktests section; a
// kernel built with tests (ktest.elf) runs the ones matching the boot option `ktest=FILTER`,
// prints one line per test and ends the VM with status 0 (all passed), 1 (a test failed)
// or 2 (the filter matched nothing).
#pragma once

#include <cstdint>

namespace core::ktest {

class Context {
public:
    // Records a failed check (with its location) and returns `ok`.
    bool check(bool ok, const char* expr, const char* file, int line);
    bool check_eq(uint64_t a, uint64_t b, const char* expr, const char* file, int line);
    bool failed() const { return m_failed; }

private:
    bool m_failed = false;
};

struct Case {
    const char* suite;
    const char* name;
    void (*run)(Context&);
};

// Runs the tests whose "suite.name" matches `filter`: a comma-separated list of "all", "*",
// exact names and prefixes ending in "*". Returns the VM exit status described above.
int run_tests(const char* filter, uint64_t filter_length);

} // namespace core::ktest

#define KTEST(suite, name)                                                                  \
    static void ktest_##suite##_##name(::core::ktest::Context& kt);                        \
    [[gnu::used, gnu::section(".ktests")]] static const ::core::ktest::Case                \
        ktest_case_##suite##_##name = { #suite, #name, ktest_##suite##_##name };           \
    static void ktest_##suite##_##name([[maybe_unused]] ::core::ktest::Context& kt)

// Checks continue the test on failure; KT_ASSERT* return from it.
#define KT_EXPECT(cond) kt.check(bool(cond), #cond, __FILE__, __LINE__)
#define KT_EXPECT_EQ(a, b) kt.check_eq(uint64_t(a), uint64_t(b), #a " == " #b, __FILE__, __LINE__)
#define KT_ASSERT(cond)                                     \
    do {                                                    \
        if (!kt.check(bool(cond), #cond, __FILE__, __LINE__)) \
            return;                                         \
    } while (0)
#define KT_ASSERT_EQ(a, b)                                                               \
    do {                                                                                 \
        if (!kt.check_eq(uint64_t(a), uint64_t(b), #a " == " #b, __FILE__, __LINE__))   \
            return;                                                                      \
    } while (0)
