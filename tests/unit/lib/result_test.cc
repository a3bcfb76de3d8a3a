// Unit tests for Result<T>, TRY and MUST.
#include <lib/result.h>

#include <gtest/gtest.h>

namespace {

Result<int> half(int x)
{
    if (x % 2)
        return Errno::INVAL;
    return x / 2;
}

Result<int> quarter(int x)
{
    int h = TRY(half(x));
    return TRY(half(h));
}

Result<void> check_even(int x)
{
    TRY(half(x));
    return {};
}

TEST(Result, ValueAndError)
{
    auto ok = half(8);
    ASSERT_FALSE(ok.is_error());
    EXPECT_EQ(ok.value(), 4);
    auto bad = half(3);
    ASSERT_TRUE(bad.is_error());
    EXPECT_EQ(bad.error(), Errno::INVAL);
}

TEST(Result, TryPropagates)
{
    EXPECT_EQ(quarter(8).value(), 2);
    EXPECT_EQ(quarter(6).error(), Errno::INVAL);
    EXPECT_FALSE(check_even(4).is_error());
    EXPECT_EQ(check_even(5).error(), Errno::INVAL);
}

TEST(Result, ErrnoNames)
{
    EXPECT_STREQ(lib::errno_name(Errno::NOMEM), "ENOMEM");
    EXPECT_STREQ(lib::errno_name(Errno(9999)), "E?");
}

TEST(Result, Assignment)
{
    Result<int> r = half(3);
    EXPECT_TRUE(r.is_error());
    r = half(10);
    ASSERT_FALSE(r.is_error());
    EXPECT_EQ(r.value(), 5);
    Result<int> other = Errno::NOENT;
    r = other;
    EXPECT_EQ(r.error(), Errno::NOENT);
}

TEST(ResultDeath, ValueOfErrorAsserts)
{
    EXPECT_DEATH({ (void)half(3).value(); }, "assertion failed");
}

} // namespace
