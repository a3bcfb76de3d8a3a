// Unit tests for ksync::RwLock: shared readers, exclusive writers, writer preference, the
// try_ variants, guards and adoption.
#include "../../support/watchdog.h"

#include <sync/host_thread_ops.h>
#include <sync/rwlock.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {

using ksync::ReadGuard;
using ksync::RwLock;
using ksync::WriteGuard;
using test_support::Watchdog;

void await_sleeps(uint64_t before, uint64_t n)
{
    while (ksync::host::sleep_count() - before < n)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

TEST(RwLock, ReadersShare)
{
    RwLock l;
    ReadGuard a(l);
    Watchdog watchdog("ReadersShare", std::chrono::seconds(10));
    std::thread other([&] {
        ReadGuard b(l);
        EXPECT_TRUE(l.try_lock_shared());
        ReadGuard c(l, ksync::kAdoptLock);
    });
    other.join();
}

TEST(RwLock, WriterExcludesEveryone) TA_NO_ANALYSIS // try_* on other threads' locks
{
    RwLock l;
    {
        WriteGuard w(l);
        EXPECT_TRUE(l.is_write_held());
        std::thread other([&] {
            EXPECT_FALSE(l.is_write_held());
            EXPECT_FALSE(l.try_lock_shared());
            EXPECT_FALSE(l.try_lock());
        });
        other.join();
    }
    EXPECT_FALSE(l.is_write_held());
    EXPECT_TRUE(l.try_lock());
    WriteGuard w(l, ksync::kAdoptLock);
}

TEST(RwLock, ReaderExcludesWriter) TA_NO_ANALYSIS // try_* on another thread's lock
{
    RwLock l;
    ReadGuard r(l);
    std::thread other([&] { EXPECT_FALSE(l.try_lock()); });
    other.join();
}

TEST(RwLock, WriterWaitsForReaders)
{
    RwLock l;
    std::atomic<bool> written{false};
    Watchdog watchdog("WriterWaitsForReaders", std::chrono::seconds(10));
    std::thread writer;
    {
        ReadGuard r(l);
        uint64_t sleeps = ksync::host::sleep_count();
        writer = std::thread([&] {
            WriteGuard w(l);
            written.store(true);
        });
        await_sleeps(sleeps, 1);
        EXPECT_FALSE(written.load());
    }
    writer.join();
    EXPECT_TRUE(written.load());
}

// Writer preference: with a writer waiting, new readers queue behind it.
TEST(RwLock, WaitingWriterBlocksNewReaders) TA_NO_ANALYSIS // try_* on other threads' locks
{
    RwLock l;
    std::atomic<int> step{0};
    Watchdog watchdog("WaitingWriterBlocksNewReaders", std::chrono::seconds(10));
    std::thread writer, reader;
    {
        ReadGuard r(l);
        uint64_t sleeps = ksync::host::sleep_count();
        writer = std::thread([&] {
            WriteGuard w(l);
            int expected = 0;
            EXPECT_TRUE(step.compare_exchange_strong(expected, 1)); // before the late reader
        });
        await_sleeps(sleeps, 1); // the writer sleeps, counted as waiting
        std::thread probe([&] { EXPECT_FALSE(l.try_lock_shared()); });
        probe.join();
        sleeps = ksync::host::sleep_count();
        reader = std::thread([&] {
            ReadGuard r2(l);
            EXPECT_EQ(step.load(), 1);
            step.store(2);
        });
        await_sleeps(sleeps, 1); // the late reader sleeps too
    }
    writer.join();
    reader.join();
    EXPECT_EQ(step.load(), 2);
}

// Readers asleep behind a writer all get in when it leaves.
TEST(RwLock, WriterUnlockWakesAllReaders)
{
    constexpr int kReaders = 5;
    RwLock l;
    std::atomic<int> inside{0};
    std::atomic<int> max_inside{0};
    std::atomic<bool> go{false};
    Watchdog watchdog("WriterUnlockWakesAllReaders", std::chrono::seconds(10));
    std::vector<std::thread> readers;
    {
        WriteGuard w(l);
        uint64_t sleeps = ksync::host::sleep_count();
        for (int i = 0; i < kReaders; i++)
            readers.emplace_back([&] {
                ReadGuard r(l);
                int n = inside.fetch_add(1) + 1;
                int m = max_inside.load();
                while (n > m && !max_inside.compare_exchange_weak(m, n)) {
                }
                while (!go.load()) // hold the read lock until everyone is in
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                inside.fetch_sub(1);
            });
        await_sleeps(sleeps, kReaders);
    }
    while (inside.load() != kReaders)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    go.store(true);
    for (std::thread& t : readers)
        t.join();
    EXPECT_EQ(max_inside.load(), kReaders);
}

void write_lock_twice(RwLock& l) TA_NO_ANALYSIS
{
    WriteGuard a(l);
    WriteGuard b(l);
}

TEST(RwLockDeathTest, RecursiveWriteLockAsserts)
{
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    RwLock l;
    EXPECT_DEATH(write_lock_twice(l), "is_write_held");
}

} // namespace
