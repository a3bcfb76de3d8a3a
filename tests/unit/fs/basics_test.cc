// Unit tests for the fs building blocks: Linux constants, Ref, Vector, IoBuffer, the clock.
#include "fs_test_support.h"

#include <fs/io_buffer.h>
#include <fs/ref.h>
#include <fs/types.h>
#include <fs/vector.h>

#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>

namespace {

TEST(FsConstants, MatchTheHostsLinuxValues)
{
    static_assert(fs::kOpenWriteOnly == O_WRONLY && fs::kOpenReadWrite == O_RDWR && fs::kOpenAccessMode == O_ACCMODE);
    static_assert(fs::kOpenCreate == O_CREAT && fs::kOpenExclusive == O_EXCL && fs::kOpenNoCtty == O_NOCTTY);
    static_assert(fs::kOpenTruncate == O_TRUNC && fs::kOpenAppend == O_APPEND && fs::kOpenNonBlock == O_NONBLOCK);
    static_assert(fs::kOpenDirectory == O_DIRECTORY && fs::kOpenNoFollow == O_NOFOLLOW);
    static_assert(fs::kOpenCloseOnExec == O_CLOEXEC && fs::kOpenPath == O_PATH && fs::kOpenSync == O_SYNC);
    static_assert(fs::kOpenDataSync == O_DSYNC && fs::kOpenTmpFile == O_TMPFILE && fs::kOpenNoAtime == O_NOATIME);
    static_assert(fs::kOpenDirect == O_DIRECT && fs::kOpenAsync == O_ASYNC);
    static_assert(fs::kFdCloseOnExec == FD_CLOEXEC);
    static_assert(fs::kAtRemoveDir == AT_REMOVEDIR && fs::kAtSymlinkFollow == AT_SYMLINK_FOLLOW);
    static_assert(fs::kAtSymlinkNoFollow == AT_SYMLINK_NOFOLLOW && fs::kAtEmptyPath == AT_EMPTY_PATH);
    static_assert(fs::kModeTypeMask == S_IFMT && fs::kModeRegular == S_IFREG && fs::kModeDirectory == S_IFDIR);
    static_assert(fs::kModeSymlink == S_IFLNK && fs::kModeCharDevice == S_IFCHR && fs::kModeBlockDevice == S_IFBLK);
    static_assert(fs::kModeFifo == S_IFIFO && fs::kModeSocket == S_IFSOCK);
    static_assert(fs::kSeekSet == SEEK_SET && fs::kSeekCur == SEEK_CUR && fs::kSeekEnd == SEEK_END);
    static_assert(fs::kSeekData == SEEK_DATA && fs::kSeekHole == SEEK_HOLE);
    static_assert(fs::kPollIn == POLLIN && fs::kPollOut == POLLOUT && fs::kPollErr == POLLERR);
    static_assert(fs::kPollHup == POLLHUP && fs::kPollNval == POLLNVAL && fs::kPollPri == POLLPRI);
    static_assert(uint8_t(fs::DirentType::Regular) == DT_REG && uint8_t(fs::DirentType::Directory) == DT_DIR);
    static_assert(uint8_t(fs::DirentType::Symlink) == DT_LNK && uint8_t(fs::DirentType::CharDevice) == DT_CHR);
    static_assert(uint8_t(fs::DirentType::Fifo) == DT_FIFO && uint8_t(fs::DirentType::Socket) == DT_SOCK);
    static_assert(fs::kNameMax == NAME_MAX && fs::kPathMax == PATH_MAX);
}

TEST(FsConstants, DeviceNumbersUseGlibcsEncoding)
{
    const uint32_t majors[] = {0, 1, 5, 255, 4095, 4096, 0xfffff, 0xffffffffu};
    const uint32_t minors[] = {0, 3, 255, 256, 0xfffff, 0xffffffffu};
    for (uint32_t ma : majors) {
        for (uint32_t mi : minors) {
            EXPECT_EQ(fs::make_dev(ma, mi), makedev(ma, mi)) << ma << ":" << mi;
            EXPECT_EQ(fs::dev_major(fs::make_dev(ma, mi)), ma);
            EXPECT_EQ(fs::dev_minor(fs::make_dev(ma, mi)), mi);
        }
    }
}

TEST(FsConstants, ModeAndDirentTypesRoundTrip)
{
    const fs::VnodeType types[] = {fs::VnodeType::Regular,     fs::VnodeType::Directory, fs::VnodeType::Symlink,
                                   fs::VnodeType::CharDevice,  fs::VnodeType::BlockDevice, fs::VnodeType::Fifo,
                                   fs::VnodeType::Socket};
    for (fs::VnodeType t : types) {
        fs::VnodeType back;
        ASSERT_TRUE(fs::type_from_mode(fs::mode_type_bits(t) | 0644, back));
        EXPECT_EQ(back, t);
        EXPECT_EQ(uint32_t(fs::dirent_type(t)), fs::mode_type_bits(t) >> 12); // DT_x == S_IFx >> 12
    }
    fs::VnodeType unused;
    EXPECT_FALSE(fs::type_from_mode(0, unused));
    EXPECT_FALSE(fs::type_from_mode(0030000, unused));
}

struct Counted : fs::RefCounted<Counted> {
    explicit Counted(int* deaths) : deaths(deaths) {}
    ~Counted() { (*deaths)++; }
    int* deaths;
};
struct Base : fs::RefCounted<Base> {
    virtual ~Base() = default;
};
struct Derived : Base {
    explicit Derived(int* deaths) : deaths(deaths) {}
    ~Derived() override { (*deaths)++; }
    int* deaths;
};

TEST(Ref, CountsCopiesMovesAndConversions)
{
    int deaths = 0;
    {
        Ref<Counted> a = MUST(fs::make_ref<Counted>(&deaths));
        EXPECT_EQ(a->ref_count(), 1u);
        Ref<Counted> b = a;
        EXPECT_EQ(a->ref_count(), 2u);
        Ref<Counted> c = std::move(b);
        EXPECT_TRUE(b.is_null());
        EXPECT_EQ(a->ref_count(), 2u);
        c = a; // self-family assignment
        EXPECT_EQ(a->ref_count(), 2u);
        c.reset();
        EXPECT_EQ(a->ref_count(), 1u);
        Ref<Counted> raw(a.get()); // intrusive: a raw pointer can be re-wrapped
        EXPECT_EQ(a->ref_count(), 2u);
        EXPECT_TRUE(raw == a);
    }
    EXPECT_EQ(deaths, 1);
    {
        Ref<Base> base = Ref<Derived>(MUST(fs::make_ref<Derived>(&deaths)));
        Ref<Derived> back = fs::static_ref_cast<Derived>(base);
        EXPECT_EQ(base->ref_count(), 2u);
        Ref<Base>& alias = base;
        base = alias; // self-assignment keeps it alive
        EXPECT_EQ(back->ref_count(), 2u);
    }
    EXPECT_EQ(deaths, 2);
}

TEST(Vector, GrowsKeepsOrderAndDestroys)
{
    int deaths = 0;
    {
        fs::Vector<Ref<Counted>> v;
        for (int i = 0; i < 100; i++)
            ASSERT_OK(v.push_back(MUST(fs::make_ref<Counted>(&deaths))));
        EXPECT_EQ(v.size(), 100u);
        Counted* third = v[3].get();
        v.erase_at(2);
        EXPECT_EQ(deaths, 1);
        EXPECT_EQ(v[2].get(), third);
        ASSERT_OK(v.resize(10));
        EXPECT_EQ(deaths, 90);
        ASSERT_OK(v.resize(12));
        EXPECT_TRUE(v[11].is_null());
        fs::Vector<Ref<Counted>> other;
        v.swap(other);
        EXPECT_EQ(v.size(), 0u);
        EXPECT_EQ(other.size(), 12u);
    }
    EXPECT_EQ(deaths, 100);
    fs::Vector<int> huge;
    EXPECT_ERRNO(huge.reserve(size_t(-1) / 2), Errno::NOMEM);
}

TEST(IoBuffer, KernelBufferCopiesAndRefusesWritesToConstMemory)
{
    char data[8] = "abcdefg";
    fs::KernelBuffer buf(static_cast<void*>(data), 7);
    char out[4] = {};
    ASSERT_OK(buf.copy_in(2, out, 3));
    EXPECT_EQ(std::string(out, 3), "cde");
    ASSERT_OK(buf.copy_out(0, "XY", 2));
    EXPECT_EQ(std::string(data), "XYcdefg");
    fs::KernelBuffer ro(static_cast<const void*>(data), 7);
    EXPECT_ERRNO(ro.copy_out(0, "Z", 1), Errno::FAULT);
    EXPECT_OK(ro.copy_in(0, out, 1));
}

TEST(IoBuffer, IovecBufferSpansSegmentsInAnyOrder)
{
    char a[3], b[0 + 1], c[5];
    fs::IoVec segs[] = {{reinterpret_cast<uint64_t>(a), 3},
                        {reinterpret_cast<uint64_t>(b), 0},
                        {reinterpret_cast<uint64_t>(c), 5}};
    EXPECT_EQ(MUST(fs::IovecBuffer::total_length(segs, 3)), 8u);
    fs::PlainIovecBuffer buf(segs, 3);
    EXPECT_EQ(buf.size(), 8u);
    ASSERT_OK(buf.copy_out(0, "0123456", 7));
    ASSERT_OK(buf.copy_out(7, "7", 1));
    EXPECT_EQ(std::string(a, 3), "012");
    EXPECT_EQ(std::string(c, 5), "34567");
    char back[8];
    ASSERT_OK(buf.copy_in(5, back, 3)); // a later piece first, then an earlier one
    EXPECT_EQ(std::string(back, 3), "567");
    ASSERT_OK(buf.copy_in(1, back, 4));
    EXPECT_EQ(std::string(back, 4), "1234");
}

TEST(IoBuffer, IovecTotalLengthFollowsReadvRules)
{
    fs::IoVec big[2] = {{0, uint64_t(INT64_MAX)}, {0, 1}};
    EXPECT_ERRNO(fs::IovecBuffer::total_length(big, 2), Errno::INVAL);
    EXPECT_EQ(MUST(fs::IovecBuffer::total_length(big, 1)), size_t(INT64_MAX));
    std::vector<fs::IoVec> many(fs::IovecBuffer::kMaxSegments + 1);
    EXPECT_ERRNO(fs::IovecBuffer::total_length(many.data(), many.size()), Errno::INVAL);
    EXPECT_OK(fs::IovecBuffer::total_length(many.data(), fs::IovecBuffer::kMaxSegments));
}

// A buffer whose second segment "faults", as a kernel subclass would report.
class FaultyIovec final : public fs::IovecBuffer {
public:
    FaultyIovec(const fs::IoVec* segs, size_t n) : IovecBuffer(segs, n) {}

protected:
    Result<void> copy_to_app(uint64_t address, const void* src, size_t n) override
    {
        if (address == 0)
            return Errno::FAULT;
        std::memcpy(reinterpret_cast<void*>(address), src, n);
        return {};
    }
    Result<void> copy_from_app(uint64_t address, void* dst, size_t n) override
    {
        if (address == 0)
            return Errno::FAULT;
        std::memcpy(dst, reinterpret_cast<const void*>(address), n);
        return {};
    }
};

TEST(IoBuffer, IovecFaultInAnySegmentIsReported)
{
    char a[4];
    fs::IoVec segs[] = {{reinterpret_cast<uint64_t>(a), 4}, {0, 4}};
    FaultyIovec buf(segs, 2);
    EXPECT_OK(buf.copy_out(0, "abcd", 4));
    EXPECT_ERRNO(buf.copy_out(2, "abcd", 4), Errno::FAULT);
}

TEST(Clock, HookIsUsedAndCanBeRemoved)
{
    fs::set_clock(nullptr);
    EXPECT_EQ(fs::now().sec, 0);
    fs::set_clock(fs_test::test_clock);
    fs_test::g_clock_sec = 77;
    EXPECT_EQ(fs::now().sec, 77);
    fs_test::g_clock_sec = 1000;
}

} // namespace
