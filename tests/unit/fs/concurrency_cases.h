// Multi-threaded fs scenarios, shared by the unit tests (ASan, small counts) and the TSan
// stress tests (tests/tsan/fs, larger counts). Each takes a `scale` multiplying its work and
// checks its own invariants with gtest assertions; a watchdog turns a deadlock into a failure.
#pragma once

#include "../../support/watchdog.h"
#include "fs_test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fs_test {

inline void run_threads(int n, const std::function<void(int)>& body)
{
    std::vector<std::thread> threads;
    for (int i = 0; i < n; i++)
        threads.emplace_back(body, i);
    for (auto& t : threads)
        t.join();
}

// Four readers pread a whole 16-page file while a writer rewrites it whole with one byte value
// per generation: every read must see one generation only (no torn writes).
inline void readers_and_a_writer(int scale)
{
    test_support::Watchdog watchdog("readers_and_a_writer", std::chrono::seconds(60));
    Namespace ns;
    constexpr size_t kSize = 16 * fs::kPageSize;
    ASSERT_OK(ns.write_file("/shared", std::string(kSize, char(1))));
    std::atomic<bool> done{false};
    std::atomic<int> bad_reads{0};
    std::atomic<long> reads{0};
    std::atomic<int> started{0};
    std::thread writer([&] {
        auto f = MUST(fs::open(ns.ctx, "/shared", fs::kOpenWriteOnly));
        while (started.load() < 4)
            std::this_thread::yield();
        std::string data(kSize, 0);
        for (int gen = 0; gen < 50 * scale; gen++) {
            std::memset(data.data(), 1 + gen % 250, kSize);
            fs::KernelBuffer buf(static_cast<const void*>(data.data()), kSize);
            EXPECT_EQ(MUST(f->pwrite(0, buf)), kSize);
        }
        done = true;
    });
    run_threads(4, [&](int) {
        auto f = MUST(fs::open(ns.ctx, "/shared", fs::kOpenReadOnly));
        std::vector<char> data(kSize);
        started++;
        do {
            fs::KernelBuffer buf(static_cast<void*>(data.data()), kSize);
            EXPECT_EQ(MUST(f->pread(0, buf)), kSize);
            for (size_t i = 1; i < kSize; i++) {
                if (data[i] != data[0]) {
                    bad_reads++;
                    break;
                }
            }
            reads++;
        } while (!done.load());
    });
    writer.join();
    EXPECT_EQ(bad_reads.load(), 0);
    EXPECT_GT(reads.load(), 0);
}

// An IoBuffer whose copy_out waits (up to 5 s) until `expected` readers are inside a copy at
// once: it completes only if reads of one file really run concurrently.
class RendezvousBuffer final : public fs::IoBuffer {
public:
    struct Meeting {
        std::mutex lock;
        std::condition_variable cv;
        int inside = 0;
        int expected = 0;
        bool met = false;
    };
    RendezvousBuffer(Meeting& meeting, char* data, size_t size) : m_meeting(meeting), m_data(data), m_size(size) {}
    size_t size() const override { return m_size; }
    Result<void> copy_out(size_t at, const void* src, size_t n) override
    {
        {
            std::unique_lock<std::mutex> guard(m_meeting.lock);
            if (++m_meeting.inside >= m_meeting.expected) {
                m_meeting.met = true;
                m_meeting.cv.notify_all();
            }
            m_meeting.cv.wait_for(guard, std::chrono::seconds(5), [&] { return m_meeting.met; });
        }
        std::memcpy(m_data + at, src, n);
        return {};
    }
    Result<void> copy_in(size_t, void*, size_t) override { return Errno::FAULT; }

private:
    Meeting& m_meeting;
    char* m_data;
    size_t m_size;
};

inline void reads_of_one_file_overlap()
{
    test_support::Watchdog watchdog("reads_of_one_file_overlap", std::chrono::seconds(30));
    Namespace ns;
    ASSERT_OK(ns.write_file("/f", std::string(100, 'r')));
    RendezvousBuffer::Meeting meeting;
    meeting.expected = 4;
    run_threads(4, [&](int) {
        auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadOnly));
        char data[100];
        RendezvousBuffer buf(meeting, data, sizeof(data));
        EXPECT_EQ(MUST(f->pread(0, buf)), 100u);
    });
    EXPECT_TRUE(meeting.met) << "readers of one file were serialised";
}

// Threads sharing one open file: read() hands out each page exactly once; write() never
// overlaps two records; O_APPEND through separate open files never overwrites.
inline void shared_offsets_and_append(int scale)
{
    test_support::Watchdog watchdog("shared_offsets_and_append", std::chrono::seconds(60));
    Namespace ns;
    const int pages = 64 * scale;
    std::string content;
    for (int i = 0; i < pages; i++) {
        std::string page(fs::kPageSize, ' ');
        std::snprintf(page.data(), 16, "%08d", i);
        content += page;
    }
    ASSERT_OK(ns.write_file("/pages", content));
    auto shared = MUST(fs::open(ns.ctx, "/pages", fs::kOpenReadOnly));
    std::mutex seen_lock;
    std::multiset<int> seen;
    run_threads(4, [&](int) {
        std::vector<char> page(fs::kPageSize);
        for (;;) {
            fs::KernelBuffer buf(static_cast<void*>(page.data()), page.size());
            size_t n = MUST(shared->read(buf));
            if (n == 0)
                break;
            EXPECT_EQ(n, fs::kPageSize);
            std::lock_guard<std::mutex> guard(seen_lock);
            seen.insert(std::atoi(page.data()));
        }
    });
    ASSERT_EQ(seen.size(), size_t(pages));
    for (int i = 0; i < pages; i++)
        EXPECT_EQ(seen.count(i), 1u) << i;

    // Shared write() offset and O_APPEND from separate open files.
    auto out = MUST(fs::open(ns.ctx, "/records", fs::kOpenWriteOnly | fs::kOpenCreate, 0644));
    const int per_thread = 200 * scale;
    run_threads(4, [&](int t) {
        auto own = MUST(fs::open(ns.ctx, "/appended", fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenAppend, 0644));
        for (int i = 0; i < per_thread; i++) {
            char record[17];
            std::snprintf(record, sizeof(record), "T%dR%012d\n", t, i); // 16 bytes
            fs::KernelBuffer a(static_cast<const void*>(record), 16);
            EXPECT_EQ(MUST(out->write(a)), 16u);
            fs::KernelBuffer b(static_cast<const void*>(record), 16);
            EXPECT_EQ(MUST(own->write(b)), 16u);
        }
    });
    for (const char* path : {"/records", "/appended"}) {
        std::string data = MUST(ns.read_file(path));
        ASSERT_EQ(data.size(), size_t(4 * per_thread * 16)) << path;
        std::set<std::string> records;
        for (size_t at = 0; at < data.size(); at += 16) {
            std::string r = data.substr(at, 16);
            EXPECT_EQ(r[0], 'T') << path;
            EXPECT_EQ(r[15], '\n') << path;
            records.insert(r);
        }
        EXPECT_EQ(records.size(), size_t(4 * per_thread)) << path;
    }
}

// Threads install, dup, dup2, get and close descriptors of one table while others use the
// files they got: no file is freed while in use (ASan/TSan), the count stays consistent.
inline void fd_table_races(int scale)
{
    test_support::Watchdog watchdog("fd_table_races", std::chrono::seconds(60));
    Namespace ns;
    ASSERT_OK(ns.write_file("/f", "0123456789"));
    fs::FdTable table;
    ASSERT_OK(table.set_limit(64));
    std::atomic<int> installed{0};
    run_threads(6, [&](int t) {
        for (int i = 0; i < 300 * scale; i++) {
            switch ((t + i) % 5) {
            case 0: {
                auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadOnly));
                auto fd = table.install(f, i % 2);
                if (!fd.is_error())
                    installed++;
                else
                    EXPECT_EQ(fd.error(), Errno::MFILE);
                break;
            }
            case 1: {
                auto fd = table.dup(i % 64);
                EXPECT_TRUE(!fd.is_error() || fd.error() == Errno::BADF || fd.error() == Errno::MFILE);
                break;
            }
            case 2: {
                auto r = table.dup2(i % 64, (i * 7) % 64);
                EXPECT_TRUE(!r.is_error() || r.error() == Errno::BADF);
                break;
            }
            case 3: {
                auto file = table.get(i % 64);
                if (!file.is_error()) {
                    char c;
                    fs::KernelBuffer buf(static_cast<void*>(&c), 1);
                    EXPECT_EQ(MUST(file.value()->pread(3, buf)), 1u);
                    EXPECT_EQ(c, '3');
                }
                break;
            }
            case 4: {
                auto r = table.close((i * 3) % 64);
                EXPECT_TRUE(!r.is_error() || r.error() == Errno::BADF);
                break;
            }
            }
        }
    });
    size_t open = 0;
    for (int fd = 0; fd < 64; fd++)
        open += table.get(fd).is_error() ? 0 : 1;
    EXPECT_EQ(table.count(), open);
    table.close_all();
}

// Renames, rmdirs, mkdirs, creates, unlinks and lookups in a small tree from several threads:
// the lock order of ramfs.h must not deadlock, and the tree must stay consistent (every
// directory reachable, link counts right) afterwards.
inline void namespace_churn(int scale)
{
    test_support::Watchdog watchdog("namespace_churn", std::chrono::seconds(90));
    Namespace ns;
    const char* dirs[] = {"/a", "/b", "/a/x", "/b/y"};
    for (const char* d : dirs)
        ASSERT_OK(fs::mkdir(ns.ctx, d, 0755));
    const char* places[] = {"/a/m", "/b/m", "/a/x/m", "/b/y/m", "/m", "/a/x/n", "/b/n"};
    constexpr int kPlaces = sizeof(places) / sizeof(places[0]);
    run_threads(5, [&](int t) {
        unsigned seed = unsigned(t) * 2654435761u + 1;
        auto next = [&] {
            seed = seed * 1103515245u + 12345u;
            return seed >> 8;
        };
        for (int i = 0; i < 400 * scale; i++) {
            const char* p = places[next() % kPlaces];
            const char* q = places[next() % kPlaces];
            switch (next() % 7) {
            case 0:
                (void)fs::mkdir(ns.ctx, p, 0755);
                break;
            case 1:
                (void)fs::unlink(ns.ctx, p, fs::kAtRemoveDir);
                break;
            case 2:
            case 3:
                (void)fs::rename(ns.ctx, p, ns.ctx, q);
                break;
            case 4:
                (void)ns.write_file(p, "x");
                break;
            case 5:
                (void)fs::unlink(ns.ctx, p);
                break;
            case 6: {
                char buf[256];
                auto loc = fs::lookup_directory(ns.ctx, p);
                if (!loc.is_error()) {
                    auto path = fs::get_path(ns.ctx, loc.value(), buf, sizeof(buf));
                    EXPECT_TRUE(!path.is_error() || path.error() == Errno::NOENT);
                }
                break;
            }
            }
        }
    });
    // Consistency: walk everything, checking ".." and the directory link counts.
    std::function<void(const std::string&)> check = [&](const std::string& dir) {
        auto d = MUST(fs::open(ns.ctx, dir.c_str(), fs::kOpenReadOnly | fs::kOpenDirectory));
        uint32_t subdirs = 0;
        for (const std::string& name : list_dir(*d)) {
            if (name == "." || name == "..")
                continue;
            std::string path = (dir == "/" ? "" : dir) + "/" + name;
            fs::Attr a = MUST(ns.stat(path.c_str(), false));
            if ((a.mode & fs::kModeTypeMask) == fs::kModeDirectory) {
                subdirs++;
                EXPECT_EQ(MUST(ns.stat((path + "/..").c_str())).ino, MUST(ns.stat(dir.c_str())).ino) << path;
                check(path);
            }
        }
        EXPECT_EQ(MUST(ns.stat(dir.c_str())).nlink, 2 + subdirs) << dir;
    };
    check("/");
}

// An application buffer that lies in a shared mapping of `file`, from file offset `base` on,
// as the kernel sees it: each copy first "faults" every page it touches — page_for_mmap, what
// the kernel's page fault asks the file — and then copies through the file's own page.
class MappedBuffer final : public fs::IoBuffer {
public:
    MappedBuffer(fs::OpenFile& file, uint64_t base, size_t size) : m_file(file), m_base(base), m_size(size) {}
    size_t size() const override { return m_size; }
    Result<void> copy_out(size_t at, const void* src, size_t n) override
    {
        return each_page(at, n, [&](char* page, size_t done, size_t chunk) {
            std::memcpy(page, static_cast<const char*>(src) + done, chunk);
        });
    }
    Result<void> copy_in(size_t at, void* dst, size_t n) override
    {
        return each_page(at, n, [&](char* page, size_t done, size_t chunk) {
            std::memcpy(static_cast<char*>(dst) + done, page, chunk);
        });
    }

private:
    template<typename F>
    Result<void> each_page(size_t at, size_t n, F&& copy)
    {
        for (size_t done = 0; done < n;) {
            uint64_t pos = m_base + at + done;
            size_t in = size_t(pos % fs::kPageSize);
            size_t chunk = std::min(n - done, fs::kPageSize - in);
            fs::PageHandle page = TRY(m_file.page_for_mmap(pos - in)); // the "fault"
            copy(static_cast<char*>(page.data) + in, done, chunk);
            done += chunk;
        }
        return {};
    }

    fs::OpenFile& m_file;
    uint64_t m_base;
    size_t m_size;
};

// Reads and writes of ramfs files whose buffers lie in mappings of ramfs files, at pages that
// are holes: the copy faults while the file's lock is held. First one file into and out of
// itself; then two threads crosswise, each copying between its own file and the other's holes
// (each holds its file's lock while faulting on the other file). Both would wait forever if
// a fault needed a file's lock; the watchdog makes that a failure.
inline void copies_faulting_on_mappings(int scale)
{
    test_support::Watchdog watchdog("copies_faulting_on_mappings", std::chrono::seconds(60));
    constexpr uint64_t kPage = fs::kPageSize;
    Namespace ns;
    {
        ASSERT_OK(ns.write_file("/self", std::string(kPage, 's')));
        auto f = MUST(fs::open(ns.ctx, "/self", fs::kOpenReadWrite));
        ASSERT_OK(f->truncate(16 * kPage));
        MappedBuffer into(*f, 8 * kPage, kPage); // a hole
        EXPECT_EQ(MUST(f->pread(0, into)), kPage);
        MappedBuffer from_hole(*f, 10 * kPage, kPage);
        EXPECT_EQ(MUST(f->pwrite(12 * kPage, from_hole)), kPage);
        MappedBuffer from_data(*f, 8 * kPage, 100);
        EXPECT_EQ(MUST(f->pwrite(13 * kPage + 50, from_data)), 100u);
        EXPECT_EQ(MUST(ns.read_file("/self")), std::string(kPage, 's') + std::string(7 * kPage, '\0') +
                                             std::string(kPage, 's') + std::string(4 * kPage + 50, '\0') +
                                             std::string(100, 's') + std::string(3 * kPage - 150, '\0'));
    }
    const int rounds = 8 * scale;
    // Each round uses 24 pages of each file, so that no page is stored by one thread while
    // the other touches it (that would be a race in the application itself): pages 1-7 of a
    // file are stored through its mapping by the other thread's reads; pages 8-15 are holes
    // the other thread's writes copy from; pages 16-23 are what those writes store.
    const uint64_t pages = 24;
    const char* names[2] = { "/x", "/y" };
    Ref<fs::OpenFile> files[2];
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(ns.write_file(names[i], std::string(kPage, char('x' + i))));
        files[i] = MUST(fs::open(ns.ctx, names[i], fs::kOpenReadWrite));
        ASSERT_OK(files[i]->truncate(rounds * pages * kPage));
    }
    std::atomic<int> failures{0};
    run_threads(2, [&](int me) {
        fs::OpenFile& mine = *files[me];
        fs::OpenFile& other = *files[1 - me];
        for (int round = 0; round < rounds; round++) {
            for (uint64_t p = 1; p < 16; p++) {
                uint64_t at = (round * pages + p) * kPage;
                MappedBuffer buf(other, at, kPage);
                // read(): my first page into the other file's hole (a store fault on it);
                // write(): from the other file's hole (a load fault) into my file.
                auto n = p < 8 ? mine.pread(0, buf) : mine.pwrite(int64_t(at + 8 * kPage), buf);
                if (n.is_error() || n.value() != kPage)
                    failures.fetch_add(1, std::memory_order_relaxed);
            }
        }
    });
    EXPECT_EQ(failures.load(), 0);
    for (int i = 0; i < 2; i++) {
        EXPECT_EQ(MUST(files[i]->getattr()).size, rounds * pages * kPage);
        for (uint64_t page = 1; page < rounds * pages; page++) {
            std::string data(kPage, '?');
            fs::KernelBuffer buf(static_cast<void*>(data.data()), kPage);
            ASSERT_EQ(MUST(files[i]->pread(int64_t(page * kPage), buf)), kPage);
            // Pages 1-7 hold the other file's first page; everything else reads as zeros.
            uint64_t in_round = page % pages;
            char want = in_round >= 1 && in_round < 8 ? char('x' + 1 - i) : '\0';
            ASSERT_EQ(data, std::string(kPage, want)) << names[i] << " page " << page;
        }
    }
}

} // namespace fs_test
