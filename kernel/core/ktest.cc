// The in-kernel test runner.
#include <core/console.h>
#include <core/ktest.h>

extern "C" const core::ktest::Case __ktests_start[];
extern "C" const core::ktest::Case __ktests_end[];

namespace core::ktest {
namespace {

bool equals(const char* a, const char* b, uint64_t b_length)
{
    uint64_t i = 0;
    for (; i < b_length; ++i)
        if (a[i] != b[i])
            return false;
    return a[i] == '\0';
}

bool matches_one(const Case& c, const char* filter, uint64_t length)
{
    if ((length == 3 && equals("all", filter, 3)) || (length == 1 && filter[0] == '*'))
        return true;
    // Compare against "suite.name" without building the string.
    char full[128];
    uint64_t n = 0;
    for (const char* p = c.suite; *p && n < sizeof(full) - 2; ++p)
        full[n++] = *p;
    full[n++] = '.';
    for (const char* p = c.name; *p && n < sizeof(full) - 1; ++p)
        full[n++] = *p;
    full[n] = '\0';
    if (length > 0 && filter[length - 1] == '*') {
        if (length - 1 > n)
            return false;
        for (uint64_t i = 0; i + 1 < length; ++i)
            if (full[i] != filter[i])
                return false;
        return true;
    }
    return equals(full, filter, length);
}

// A comma-separated list of patterns: any one matching selects the test.
bool matches(const Case& c, const char* filter, uint64_t length)
{
    uint64_t start = 0;
    for (uint64_t i = 0; i <= length; ++i) {
        if (i == length || filter[i] == ',') {
            if (i > start && matches_one(c, filter + start, i - start))
                return true;
            start = i + 1;
        }
    }
    return false;
}

} // namespace

bool Context::check(bool ok, const char* expr, const char* file, int line)
{
    if (!ok) {
        kprintf("    check failed: %s at %s:%d\n", expr, file, line);
        m_failed = true;
    }
    return ok;
}

bool Context::check_eq(uint64_t a, uint64_t b, const char* expr, const char* file, int line)
{
    if (a != b) {
        kprintf("    check failed: %s (%#lx != %#lx) at %s:%d\n", expr, a, b, file, line);
        m_failed = true;
    }
    return a == b;
}

int run_tests(const char* filter, uint64_t length)
{
    int passed = 0, failed = 0;
    for (const Case* c = __ktests_start; c != __ktests_end; ++c) {
        if (!matches(*c, filter, length))
            continue;
        Context context;
        c->run(context);
        kprintf("ktest %s.%s %s\n", c->suite, c->name, context.failed() ? "FAIL" : "ok");
        if (context.failed())
            ++failed;
        else
            ++passed;
    }
    kprintf("ktest: %d passed, %d failed\n", passed, failed);
    if (passed + failed == 0)
        return 2;
    return failed ? 1 : 0;
}

} // namespace core::ktest
