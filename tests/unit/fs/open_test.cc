// Unit tests for open(2) semantics and open file descriptions: creation flags, access modes,
// O_PATH, O_APPEND, offsets and lseek, getdents64 records, ftruncate, readv/writev buffers.
#include "fs_test_support.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using fs_test::Namespace;

Result<size_t> write_str(fs::OpenFile& f, const std::string& s)
{
    fs::KernelBuffer buf(static_cast<const void*>(s.data()), s.size());
    return f.write(buf);
}

Result<std::string> read_n(fs::OpenFile& f, size_t n)
{
    std::string out(n, '\0');
    fs::KernelBuffer buf(static_cast<void*>(out.data()), n);
    size_t got = TRY(f.read(buf));
    out.resize(got);
    return out;
}

TEST(Open, CreateExclTruncAndMissing)
{
    Namespace ns;
    EXPECT_ERRNO(fs::open(ns.ctx, "/f", fs::kOpenReadOnly), Errno::NOENT);
    auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadWrite | fs::kOpenCreate | fs::kOpenExclusive, 0640));
    EXPECT_EQ(MUST(ns.stat("/f")).mode, fs::kModeRegular | 0640);
    ASSERT_OK(write_str(*f, "hello"));
    EXPECT_ERRNO(fs::open(ns.ctx, "/f", fs::kOpenReadWrite | fs::kOpenCreate | fs::kOpenExclusive), Errno::EXIST);
    // O_CREAT without O_EXCL opens the existing file and keeps its data and mode.
    auto again = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadOnly | fs::kOpenCreate, 0777));
    EXPECT_EQ(MUST(read_n(*again, 10)), "hello");
    EXPECT_EQ(MUST(ns.stat("/f")).mode, fs::kModeRegular | 0640);
    // O_TRUNC with write access empties it; read-only leaves it alone.
    MUST(fs::open(ns.ctx, "/f", fs::kOpenReadOnly | fs::kOpenTruncate));
    EXPECT_EQ(MUST(ns.stat("/f")).size, 5u);
    MUST(fs::open(ns.ctx, "/f", fs::kOpenWriteOnly | fs::kOpenTruncate));
    EXPECT_EQ(MUST(ns.stat("/f")).size, 0u);
    // Missing parent, and a trailing slash on a new name.
    EXPECT_ERRNO(fs::open(ns.ctx, "/no/f", fs::kOpenWriteOnly | fs::kOpenCreate), Errno::NOENT);
    EXPECT_ERRNO(fs::open(ns.ctx, "/g/", fs::kOpenWriteOnly | fs::kOpenCreate), Errno::ISDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/f/", fs::kOpenReadOnly), Errno::NOTDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/f", fs::kOpenAccessMode), Errno::INVAL);
    EXPECT_ERRNO(fs::open(ns.ctx, "/t", fs::kOpenTmpFile | fs::kOpenReadWrite), Errno::NOTSUP);
}

TEST(Open, DirectoriesAndODirectory)
{
    Namespace ns;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    ASSERT_OK(ns.write_file("/f", "x"));
    EXPECT_OK(fs::open(ns.ctx, "/d", fs::kOpenReadOnly));
    EXPECT_OK(fs::open(ns.ctx, "/d/", fs::kOpenReadOnly | fs::kOpenDirectory));
    EXPECT_ERRNO(fs::open(ns.ctx, "/d", fs::kOpenWriteOnly), Errno::ISDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/d", fs::kOpenReadWrite), Errno::ISDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/d", fs::kOpenReadOnly | fs::kOpenCreate), Errno::ISDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/d", fs::kOpenReadOnly | fs::kOpenTruncate), Errno::ISDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/f", fs::kOpenReadOnly | fs::kOpenDirectory), Errno::NOTDIR);
    EXPECT_ERRNO(fs::open(ns.ctx, "/n", fs::kOpenReadOnly | fs::kOpenDirectory | fs::kOpenCreate), Errno::INVAL);
    auto d = MUST(fs::open(ns.ctx, "/d", fs::kOpenReadOnly));
    char byte;
    fs::KernelBuffer buf(static_cast<void*>(&byte), 1);
    EXPECT_ERRNO(d->read(buf), Errno::ISDIR);
    EXPECT_ERRNO(d->write(buf), Errno::BADF);
    EXPECT_ERRNO(d->truncate(0), Errno::INVAL);
}

TEST(Open, SymlinksWithNoFollowCreatAndExcl)
{
    Namespace ns;
    ASSERT_OK(ns.write_file("/target", "T"));
    ASSERT_OK(fs::symlink(ns.ctx, "target", "/link"));
    ASSERT_OK(fs::symlink(ns.ctx, "made", "/dangling"));
    auto via = MUST(fs::open(ns.ctx, "/link", fs::kOpenReadOnly));
    EXPECT_EQ(MUST(read_n(*via, 4)), "T");
    EXPECT_ERRNO(fs::open(ns.ctx, "/link", fs::kOpenReadOnly | fs::kOpenNoFollow), Errno::LOOP);
    // O_CREAT through a dangling link creates its target; with O_EXCL it fails on the link.
    EXPECT_ERRNO(fs::open(ns.ctx, "/dangling", fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenExclusive),
                 Errno::EXIST);
    EXPECT_ERRNO(fs::open(ns.ctx, "/made", fs::kOpenReadOnly), Errno::NOENT);
    MUST(fs::open(ns.ctx, "/dangling", fs::kOpenWriteOnly | fs::kOpenCreate, 0600));
    EXPECT_EQ(MUST(ns.stat("/made")).mode, fs::kModeRegular | 0600);
    EXPECT_ERRNO(fs::open(ns.ctx, "/link", fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenNoFollow), Errno::LOOP);
}

TEST(Open, PathOnlyFiles)
{
    Namespace ns;
    ASSERT_OK(ns.write_file("/f", "data"));
    ASSERT_OK(fs::symlink(ns.ctx, "f", "/link"));
    auto p = MUST(fs::open(ns.ctx, "/f", fs::kOpenPath | fs::kOpenReadWrite));
    EXPECT_TRUE(p->is_path_only());
    char c;
    fs::KernelBuffer buf(static_cast<void*>(&c), 1);
    EXPECT_ERRNO(p->read(buf), Errno::BADF);
    EXPECT_ERRNO(p->write(buf), Errno::BADF);
    EXPECT_ERRNO(p->seek(0, fs::kSeekSet), Errno::BADF);
    EXPECT_ERRNO(p->truncate(0), Errno::BADF);
    EXPECT_ERRNO(p->ioctl(0x5401, 0), Errno::BADF);
    EXPECT_EQ(MUST(p->getattr()).size, 4u);
    EXPECT_NE(p->location(), nullptr);
    // O_PATH|O_NOFOLLOW opens the link itself.
    auto l = MUST(fs::open(ns.ctx, "/link", fs::kOpenPath | fs::kOpenNoFollow));
    EXPECT_EQ(MUST(l->getattr()).mode & fs::kModeTypeMask, fs::kModeSymlink);
}

TEST(Open, AccessModesAreEnforced)
{
    Namespace ns;
    ASSERT_OK(ns.write_file("/f", "abc"));
    auto ro = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadOnly));
    auto wo = MUST(fs::open(ns.ctx, "/f", fs::kOpenWriteOnly));
    EXPECT_ERRNO(write_str(*ro, "x"), Errno::BADF);
    EXPECT_ERRNO(read_n(*wo, 1), Errno::BADF);
    char c;
    fs::KernelBuffer buf(static_cast<void*>(&c), 1);
    EXPECT_ERRNO(ro->pwrite(0, buf), Errno::BADF);
    EXPECT_ERRNO(wo->pread(0, buf), Errno::BADF);
    EXPECT_ERRNO(ro->truncate(0), Errno::INVAL);
    EXPECT_ERRNO(ro->pread(-1, buf), Errno::INVAL);
    EXPECT_OK(wo->truncate(1));
    EXPECT_EQ(MUST(ns.stat("/f")).size, 1u);
    EXPECT_EQ(ro->flags() & fs::kOpenCreate, 0u); // creation flags are not kept
}

// A file the running program was loaded from (exec marks it): reading is fine, but opening
// it for writing, truncating it by open or by path, is TXTBSY — its pages are mapped.
TEST(Open, RunningExecutableIsTextBusy)
{
    Namespace ns;
    ASSERT_OK(ns.write_file("/prog", "\177ELF"));
    auto exe = MUST(fs::open(ns.ctx, "/prog", fs::kOpenReadOnly));
    exe->location()->vnode->deny_write();
    EXPECT_OK(fs::open(ns.ctx, "/prog", fs::kOpenReadOnly));
    EXPECT_ERRNO(fs::open(ns.ctx, "/prog", fs::kOpenWriteOnly), Errno::TXTBSY);
    EXPECT_ERRNO(fs::open(ns.ctx, "/prog", fs::kOpenReadWrite), Errno::TXTBSY);
    EXPECT_ERRNO(fs::open(ns.ctx, "/prog", fs::kOpenReadOnly | fs::kOpenTruncate), Errno::TXTBSY);
    EXPECT_ERRNO(fs::open(ns.ctx, "/prog", fs::kOpenWriteOnly | fs::kOpenCreate | fs::kOpenTruncate, 0644),
                 Errno::TXTBSY);
    fs::SetAttr size;
    size.mask = fs::SetAttr::kSize;
    size.size = 0;
    EXPECT_ERRNO(fs::set_attr(ns.ctx, "/prog", true, size), Errno::TXTBSY);
    fs::SetAttr mode;
    mode.mask = fs::SetAttr::kMode;
    mode.mode = 0755;
    EXPECT_OK(fs::set_attr(ns.ctx, "/prog", true, mode)); // chmod is not a write
    EXPECT_EQ(MUST(ns.stat("/prog")).size, 4u);
}

TEST(Open, OffsetsAppendAndPositionalIo)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    ASSERT_OK(write_str(*f, "0123456789"));
    EXPECT_EQ(MUST(f->seek(0, fs::kSeekCur)), 10u);
    EXPECT_EQ(MUST(f->seek(2, fs::kSeekSet)), 2u);
    EXPECT_EQ(MUST(read_n(*f, 3)), "234");
    EXPECT_EQ(MUST(f->seek(-2, fs::kSeekEnd)), 8u);
    EXPECT_EQ(MUST(read_n(*f, 10)), "89");
    EXPECT_EQ(MUST(read_n(*f, 10)), "");
    EXPECT_ERRNO(f->seek(-11, fs::kSeekEnd), Errno::INVAL);
    EXPECT_ERRNO(f->seek(0, 7), Errno::INVAL);
    EXPECT_ERRNO(f->seek(1, fs::kSeekSet + 100), Errno::INVAL);
    EXPECT_EQ(MUST(f->seek(INT64_MAX, fs::kSeekSet)), uint64_t(INT64_MAX));
    EXPECT_ERRNO(f->seek(1, fs::kSeekCur), Errno::OVERFLOW);
    EXPECT_ERRNO(f->seek(INT64_MIN, fs::kSeekSet), Errno::INVAL);
    EXPECT_EQ(MUST(f->seek(3, fs::kSeekData)), 3u);
    EXPECT_EQ(MUST(f->seek(3, fs::kSeekHole)), 10u);
    EXPECT_ERRNO(f->seek(10, fs::kSeekData), Errno::NXIO);

    // pread/pwrite leave the offset alone.
    ASSERT_EQ(MUST(f->seek(1, fs::kSeekSet)), 1u);
    char two[2];
    fs::KernelBuffer buf(static_cast<void*>(two), 2);
    EXPECT_EQ(MUST(f->pread(5, buf)), 2u);
    EXPECT_EQ(std::string(two, 2), "56");
    fs::KernelBuffer out(static_cast<const void*>("XY"), 2);
    EXPECT_EQ(MUST(f->pwrite(12, out)), 2u); // leaves a hole at 10..11
    EXPECT_EQ(MUST(f->seek(0, fs::kSeekCur)), 1u);
    EXPECT_EQ(MUST(ns.read_file("/f")), std::string("0123456789\0\0XY", 14));

    // O_APPEND writes at the end whatever the offset; F_SETFL can turn it off.
    auto app = MUST(fs::open(ns.ctx, "/f", fs::kOpenWriteOnly | fs::kOpenAppend));
    ASSERT_OK(app->seek(0, fs::kSeekSet));
    ASSERT_OK(write_str(*app, "!"));
    EXPECT_EQ(MUST(app->seek(0, fs::kSeekCur)), 15u);
    app->set_status_flags(0);
    EXPECT_EQ(app->flags() & fs::kOpenAppend, 0u);
    EXPECT_EQ(app->access_mode(), fs::kOpenWriteOnly); // the access mode is not settable
    ASSERT_OK(app->seek(0, fs::kSeekSet));
    ASSERT_OK(write_str(*app, "_"));
    EXPECT_EQ(MUST(ns.read_file("/f")), std::string("_123456789\0\0XY!", 15));
    app->set_status_flags(fs::kOpenAppend | fs::kOpenNonBlock | fs::kOpenReadWrite);
    EXPECT_EQ(app->flags(), fs::kOpenWriteOnly | fs::kOpenAppend | fs::kOpenNonBlock);
}

TEST(Open, VectoredBuffers)
{
    Namespace ns;
    auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadWrite | fs::kOpenCreate, 0644));
    const char* parts[] = {"ab", "", "cdef", "g"};
    fs::IoVec segs[4];
    for (int i = 0; i < 4; i++)
        segs[i] = {reinterpret_cast<uint64_t>(parts[i]), std::strlen(parts[i])};
    fs::PlainIovecBuffer out(segs, 4);
    EXPECT_EQ(MUST(f->write(out)), 7u);
    char x[3], y[10];
    fs::IoVec in_segs[] = {{reinterpret_cast<uint64_t>(x), 3}, {reinterpret_cast<uint64_t>(y), 10}};
    fs::PlainIovecBuffer in(in_segs, 2);
    EXPECT_EQ(MUST(f->pread(0, in)), 7u);
    EXPECT_EQ(std::string(x, 3), "abc");
    EXPECT_EQ(std::string(y, 4), "defg");
}

TEST(Open, GetdentsRecordsAndSmallBuffers)
{
    Namespace ns;
    ASSERT_OK(fs::mkdir(ns.ctx, "/d", 0755));
    ASSERT_OK(ns.write_file("/d/file", ""));
    ASSERT_OK(fs::mkdir(ns.ctx, "/d/sub", 0755));
    ASSERT_OK(fs::symlink(ns.ctx, "x", "/d/link"));
    auto d = MUST(fs::open(ns.ctx, "/d", fs::kOpenReadOnly | fs::kOpenDirectory));
    alignas(8) char buffer[512];
    fs::KernelBuffer buf(static_cast<void*>(buffer), sizeof(buffer));
    size_t n = MUST(d->getdents(buf));
    struct Rec {
        uint64_t ino;
        int64_t off;
        uint8_t type;
        std::string name;
    };
    std::vector<Rec> recs;
    for (size_t at = 0; at < n;) {
        Rec r;
        uint16_t reclen;
        std::memcpy(&r.ino, buffer + at, 8);
        std::memcpy(&r.off, buffer + at + 8, 8);
        std::memcpy(&reclen, buffer + at + 16, 2);
        r.type = uint8_t(buffer[at + 18]);
        r.name = buffer + at + 19;
        EXPECT_EQ(reclen % 8, 0u);
        EXPECT_GE(reclen, 19 + r.name.size() + 1);
        recs.push_back(r);
        at += reclen;
    }
    ASSERT_EQ(recs.size(), 5u);
    EXPECT_EQ(recs[0].name, ".");
    EXPECT_EQ(recs[0].ino, MUST(ns.stat("/d")).ino);
    EXPECT_EQ(recs[1].name, "..");
    EXPECT_EQ(recs[1].ino, MUST(ns.stat("/")).ino);
    EXPECT_EQ(recs[2].name, "file");
    EXPECT_EQ(recs[2].type, uint8_t(fs::DirentType::Regular));
    EXPECT_EQ(recs[3].type, uint8_t(fs::DirentType::Directory));
    EXPECT_EQ(recs[4].type, uint8_t(fs::DirentType::Symlink));
    EXPECT_EQ(recs[4].ino, MUST(ns.stat("/d/link", false)).ino);
    EXPECT_EQ(MUST(d->getdents(buf)), 0u); // the end
    // Resuming from each record's d_off (seekdir) gives the rest.
    for (size_t i = 0; i < recs.size(); i++) {
        ASSERT_OK(d->seek(recs[i].off, fs::kSeekSet));
        auto names = fs_test::list_dir(*d);
        ASSERT_EQ(names.size(), recs.size() - i - 1);
        if (!names.empty())
            EXPECT_EQ(names[0], recs[i + 1].name);
    }
    // A buffer too small for one record is INVAL; one record per call works.
    ASSERT_OK(d->seek(0, fs::kSeekSet));
    fs::KernelBuffer tiny(static_cast<void*>(buffer), 20);
    EXPECT_ERRNO(d->getdents(tiny), Errno::INVAL);
    EXPECT_EQ(fs_test::list_dir(*d, 24).size(), 5u);
    EXPECT_ERRNO(d->seek(0, fs::kSeekEnd), Errno::INVAL);
    // getdents on a file.
    auto f = MUST(fs::open(ns.ctx, "/d/file", fs::kOpenReadOnly));
    EXPECT_ERRNO(f->getdents(buf), Errno::NOTDIR);
}

TEST(Open, GetdentsFaultIsReported)
{
    Namespace ns;
    auto d = MUST(fs::open(ns.ctx, "/", fs::kOpenReadOnly));
    char buffer[64];
    fs::KernelBuffer ro(static_cast<const void*>(buffer), sizeof(buffer));
    EXPECT_ERRNO(d->getdents(ro), Errno::FAULT);
}

TEST(Open, OpenFileKeepsAnUnlinkedFileAlive)
{
    Namespace ns;
    ASSERT_OK(ns.write_file("/f", "still here"));
    auto f = MUST(fs::open(ns.ctx, "/f", fs::kOpenReadWrite));
    ASSERT_OK(fs::unlink(ns.ctx, "/f"));
    EXPECT_ERRNO(ns.stat("/f"), Errno::NOENT);
    EXPECT_EQ(MUST(f->getattr()).nlink, 0u);
    EXPECT_EQ(MUST(read_n(*f, 20)), "still here");
    ASSERT_OK(write_str(*f, "!"));
    EXPECT_GT(ns.pages.outstanding(), 0);
    f.reset();
    EXPECT_EQ(ns.pages.outstanding(), 0); // freed with the last reference
}

} // namespace
