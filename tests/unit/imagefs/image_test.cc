// Unit tests for imagefs::Image: the accessors on valid images (lookup, iteration, hard links,
// symlinks, empty and deep trees, file data), and open()'s validation, where each test breaks
// exactly one rule of the format, reseals the checksums, and checks the image is rejected
// with a message naming the defect.
#include "test_image.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace imagefs {
namespace {

using test::entry_of;
using test::header_of;
using test::inode_of;
using test::strings_of;
using test::TestImage;

std::string str(lib::StringView v) { return std::string(v.data(), v.size()); }

Image open_ok(const std::vector<uint8_t>& bytes)
{
    ErrorReport why;
    auto image = Image::open(bytes.data(), bytes.size(), &why);
    EXPECT_FALSE(image.is_error()) << why.message;
    if (image.is_error())
        std::abort();
    return image.release_value();
}

// open() must fail with INVAL and a message containing `expected`.
void expect_rejected(const std::vector<uint8_t>& bytes, const std::string& expected, size_t size = SIZE_MAX)
{
    ErrorReport why;
    auto image = Image::open(bytes.data(), size == SIZE_MAX ? bytes.size() : size, &why);
    ASSERT_TRUE(image.is_error()) << "accepted; expected: " << expected;
    EXPECT_EQ(image.error(), Errno::INVAL);
    std::string message = why.message;
    EXPECT_NE(message.find(expected), std::string::npos) << "message: " << message << "\nexpected: " << expected;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

// root: bin/ (sh, ls), etc/ (hostname, empty), lib -> usr/lib, usr/lib/ (libc.so, empty dir x/)
struct Sample {
    TestImage t;
    Ino bin, etc, usr, usr_lib, x, sh, ls, hostname, empty, libc, lib_link;
    Sample()
    {
        bin = t.dir(kRootIno, "bin");
        etc = t.dir(kRootIno, "etc");
        usr = t.dir(kRootIno, "usr");
        lib_link = t.symlink(kRootIno, "lib", "usr/lib");
        sh = t.file(bin, "sh", "#!shell\n", 0755);
        ls = t.file(bin, "ls", std::string(5000, 'L'), 0755);
        hostname = t.file(etc, "hostname", "nimbus\n");
        empty = t.file(etc, "empty", "");
        usr_lib = t.dir(usr, "lib");
        libc = t.file(usr_lib, "libc.so", "ELF");
        x = t.dir(usr_lib, "x", 0700);
    }
};

TEST(ImagefsImage, MinimalImageIsAnEmptyRoot)
{
    auto bytes = TestImage().build();
    EXPECT_EQ(bytes.size(), kPageSize);
    Image image = open_ok(bytes);
    EXPECT_EQ(image.root(), kRootIno);
    EXPECT_EQ(image.inode_count(), 2u);
    InodeInfo root = image.inode(kRootIno);
    EXPECT_TRUE(root.is_directory());
    EXPECT_EQ(root.permissions(), 0755u);
    EXPECT_EQ(root.nlink, 2u);
    EXPECT_EQ(image.entry_count(kRootIno), 0u);
    EXPECT_EQ(image.parent(kRootIno), kRootIno);
    EXPECT_EQ(image.lookup(kRootIno, "x").error(), Errno::NOENT);
    EXPECT_FALSE(image.is_valid_ino(0));
    EXPECT_FALSE(image.is_valid_ino(2));
}

TEST(ImagefsImage, LookupWalksTheTree)
{
    Sample s;
    auto bytes = s.t.build();
    Image image = open_ok(bytes);
    EXPECT_EQ(image.lookup(kRootIno, "bin").value(), s.bin);
    EXPECT_EQ(image.lookup(s.bin, "sh").value(), s.sh);
    EXPECT_EQ(image.lookup(s.bin, "ls").value(), s.ls);
    EXPECT_EQ(image.lookup(s.usr, "lib").value(), s.usr_lib);
    EXPECT_EQ(image.lookup(s.usr_lib, "x").value(), s.x);
    EXPECT_EQ(image.lookup(s.bin, "s").error(), Errno::NOENT);
    EXPECT_EQ(image.lookup(s.bin, "shh").error(), Errno::NOENT);
    EXPECT_EQ(image.lookup(s.bin, "").error(), Errno::NOENT);
    EXPECT_EQ(image.lookup(s.bin, ".").error(), Errno::NOENT);
    EXPECT_EQ(image.lookup(s.bin, "..").error(), Errno::NOENT);
    EXPECT_EQ(image.lookup(s.sh, "x").error(), Errno::NOTDIR);
    EXPECT_EQ(image.lookup(s.lib_link, "libc.so").error(), Errno::NOTDIR);
    EXPECT_EQ(image.parent(s.usr_lib), s.usr);
    EXPECT_EQ(image.parent(s.x), s.usr_lib);
    EXPECT_EQ(image.inode(kRootIno).nlink, 5u); // 2 + bin, etc, usr
    EXPECT_EQ(image.inode(s.usr_lib).nlink, 3u);
    EXPECT_EQ(image.inode(s.x).permissions(), 0700u);
}

TEST(ImagefsImage, IterationIsInNameOrder)
{
    Sample s;
    auto bytes = s.t.build();
    Image image = open_ok(bytes);
    ASSERT_EQ(image.entry_count(kRootIno), 4u);
    std::vector<std::string> names;
    for (uint32_t i = 0; i < image.entry_count(kRootIno); i++)
        names.push_back(str(image.entry(kRootIno, i).name));
    EXPECT_EQ(names, (std::vector<std::string>{"bin", "etc", "lib", "usr"}));
    EXPECT_EQ(image.entry(kRootIno, 2).ino, s.lib_link);
    EXPECT_EQ(image.entry_count(s.x), 0u);
}

TEST(ImagefsImage, NamesAreOrderedAsUnsignedBytes)
{
    TestImage t;
    std::vector<std::string> names = {"b", "a", "ab", "\xff", "B", "a\x7f", "a\x80", "aa", std::string(255, 'z')};
    std::vector<Ino> inos;
    for (const auto& n : names)
        inos.push_back(t.file(kRootIno, n, ""));
    auto bytes = t.build();
    Image image = open_ok(bytes);
    std::vector<std::string> got;
    for (uint32_t i = 0; i < image.entry_count(kRootIno); i++)
        got.push_back(str(image.entry(kRootIno, i).name));
    std::vector<std::string> want = {"B", "a", "aa", "ab", "a\x7f", "a\x80", "b", std::string(255, 'z'), "\xff"};
    EXPECT_EQ(got, want);
    for (size_t i = 0; i < names.size(); i++)
        EXPECT_EQ(image.lookup(kRootIno, lib::StringView(names[i].data(), names[i].size())).value(), inos[i]) << i;
}

TEST(ImagefsImage, LookupInALargeDirectory)
{
    TestImage t;
    std::vector<Ino> inos;
    for (int i = 0; i < 1000; i++)
        inos.push_back(t.file(kRootIno, "f" + std::to_string(i), ""));
    auto bytes = t.build();
    Image image = open_ok(bytes);
    for (int i = 0; i < 1000; i++) {
        std::string n = "f" + std::to_string(i);
        EXPECT_EQ(image.lookup(kRootIno, lib::StringView(n.data(), n.size())).value(), inos[i]);
        std::string missing = n + "x";
        EXPECT_EQ(image.lookup(kRootIno, lib::StringView(missing.data(), missing.size())).error(), Errno::NOENT);
    }
}

TEST(ImagefsImage, FileDataIsPageAlignedAndInPlace)
{
    Sample s;
    auto bytes = s.t.build();
    Image image = open_ok(bytes);
    for (Ino ino : {s.sh, s.ls, s.hostname, s.libc}) {
        InodeInfo info = image.inode(ino);
        EXPECT_TRUE(info.is_regular());
        EXPECT_EQ(info.data_offset % kPageSize, 0u);
        EXPECT_EQ(image.data_offset(ino), info.data_offset);
        FileData d = image.file_data(ino);
        EXPECT_EQ(d.data, bytes.data() + info.data_offset);
        EXPECT_EQ(d.size, info.size);
    }
    FileData ls = image.file_data(s.ls);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(ls.data), ls.size), std::string(5000, 'L'));
    FileData sh = image.file_data(s.sh);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(sh.data), sh.size), "#!shell\n");
    EXPECT_EQ(image.inode(s.sh).permissions(), 0755u);
    EXPECT_EQ(image.inode(s.hostname).permissions(), 0644u);
}

TEST(ImagefsImage, EmptyFileHasNoData)
{
    Sample s;
    auto bytes = s.t.build();
    Image image = open_ok(bytes);
    InodeInfo info = image.inode(s.empty);
    EXPECT_EQ(info.size, 0u);
    EXPECT_EQ(info.data_offset, 0u);
    EXPECT_EQ(image.file_data(s.empty).size, 0u);
}

TEST(ImagefsImage, SymlinksReadBack)
{
    TestImage t;
    Ino a = t.symlink(kRootIno, "a", "usr/lib");
    Ino b = t.symlink(kRootIno, "b", std::string(kMaxLinkTargetLength, 'x'));
    Ino c = t.symlink(kRootIno, "c", "/dangling/\xff target");
    auto bytes = t.build();
    Image image = open_ok(bytes);
    EXPECT_EQ(str(image.read_link(a)), "usr/lib");
    EXPECT_EQ(str(image.read_link(b)), std::string(kMaxLinkTargetLength, 'x'));
    EXPECT_EQ(str(image.read_link(c)), "/dangling/\xff target");
    InodeInfo info = image.inode(a);
    EXPECT_TRUE(info.is_symlink());
    EXPECT_EQ(info.size, 7u);
    EXPECT_EQ(info.permissions(), 0777u);
    EXPECT_EQ(info.data_offset, 0u);
}

TEST(ImagefsImage, HardLinksShareOneInode)
{
    TestImage t;
    Ino d = t.dir(kRootIno, "d");
    Ino f = t.file(kRootIno, "f", "shared");
    t.link(d, "g", f);
    t.link(kRootIno, "h", f);
    Ino s = t.symlink(d, "s", "f");
    t.link(kRootIno, "s2", s);
    auto bytes = t.build();
    Image image = open_ok(bytes);
    EXPECT_EQ(image.lookup(kRootIno, "f").value(), f);
    EXPECT_EQ(image.lookup(d, "g").value(), f);
    EXPECT_EQ(image.lookup(kRootIno, "h").value(), f);
    EXPECT_EQ(image.inode(f).nlink, 3u);
    EXPECT_EQ(image.inode(s).nlink, 2u);
    EXPECT_EQ(image.lookup(kRootIno, "s2").value(), s);
}

TEST(ImagefsImage, DeepTree)
{
    TestImage t;
    Ino dir = kRootIno;
    std::vector<Ino> chain;
    for (int i = 0; i < 2000; i++) {
        dir = t.dir(dir, "d" + std::to_string(i % 7));
        chain.push_back(dir);
    }
    Ino leaf = t.file(dir, "leaf", "bottom");
    auto bytes = t.build();
    Image image = open_ok(bytes);
    Ino at = kRootIno;
    for (int i = 0; i < 2000; i++) {
        std::string n = "d" + std::to_string(i % 7);
        at = image.lookup(at, lib::StringView(n.data(), n.size())).value();
        EXPECT_EQ(at, chain[i]);
    }
    EXPECT_EQ(image.lookup(at, "leaf").value(), leaf);
    for (int i = 1999; i > 0; i--) {
        at = image.parent(at);
        EXPECT_EQ(at, chain[i - 1]);
    }
    EXPECT_EQ(image.parent(at), kRootIno);
}

TEST(ImagefsImage, AttributesRoundTrip)
{
    TestImage t;
    Ino f = t.file(kRootIno, "f", "x", 04751);
    auto bytes = t.build();
    DiskInode& in = inode_of(bytes, f);
    in.uid = 1000;
    in.gid = 4294967295u;
    in.mtime_sec = -86400;
    in.mtime_nsec = 999'999'999;
    TestImage::reseal(bytes);
    Image image = open_ok(bytes);
    InodeInfo info = image.inode(f);
    EXPECT_EQ(info.ino, f);
    EXPECT_EQ(info.mode, kModeRegular | 04751);
    EXPECT_EQ(info.uid, 1000u);
    EXPECT_EQ(info.gid, 4294967295u);
    EXPECT_EQ(info.mtime_sec, -86400);
    EXPECT_EQ(info.mtime_nsec, 999'999'999u);
    EXPECT_EQ(info.nlink, 1u);
}

TEST(ImagefsImage, TrailingPaddingAndUnalignedBaseAreAccepted)
{
    Sample s;
    auto bytes = s.t.build();
    std::vector<uint8_t> padded(bytes.size() + 3 * kPageSize + 1, 0xaa);
    std::memcpy(padded.data() + 1, bytes.data(), bytes.size());
    ErrorReport why;
    auto image = Image::open(padded.data() + 1, padded.size() - 1, &why);
    ASSERT_FALSE(image.is_error()) << why.message;
    EXPECT_EQ(image.value().image_size(), bytes.size());
    EXPECT_EQ(image.value().lookup(s.bin, "sh").value(), s.sh);
}

TEST(ImagefsImage, NullReportIsAllowed)
{
    std::vector<uint8_t> bytes(10);
    EXPECT_EQ(Image::open(bytes.data(), bytes.size(), nullptr).error(), Errno::INVAL);
}

// ---- Header ----

TEST(ImagefsValidate, TooSmall)
{
    auto bytes = TestImage().build();
    expect_rejected(bytes, "smaller than the 80-byte header", 79);
    ErrorReport why;
    EXPECT_EQ(Image::open(nullptr, 4096, &why).error(), Errno::INVAL);
}

TEST(ImagefsValidate, BadMagic)
{
    auto bytes = TestImage().build();
    header_of(bytes).magic[7] = 'X';
    TestImage::reseal(bytes);
    expect_rejected(bytes, "bad magic");
}

TEST(ImagefsValidate, UnknownVersion)
{
    auto bytes = TestImage().build();
    header_of(bytes).version = 2;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "version 2");
}

TEST(ImagefsValidate, HeaderChecksum)
{
    auto bytes = TestImage().build();
    header_of(bytes).string_size ^= 1; // not resealed
    expect_rejected(bytes, "header: checksum");
}

TEST(ImagefsValidate, UnknownFlags)
{
    auto bytes = TestImage().build();
    header_of(bytes).flags = 4;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "unknown flags 0x4");
}

TEST(ImagefsValidate, ImageSizeNotPageMultiple)
{
    auto bytes = TestImage().build();
    header_of(bytes).image_size = 4095;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "image size 0xfff is not a multiple of 4096");
}

TEST(ImagefsValidate, TruncatedImage)
{
    Sample s;
    auto bytes = s.t.build();
    expect_rejected(bytes, "only 0x1000 bytes are present", kPageSize);
}

TEST(ImagefsValidate, MetadataSize)
{
    auto bytes = TestImage().build();
    header_of(bytes).metadata_size = 79;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "metadata size 0x4f outside");
    bytes = TestImage().build();
    header_of(bytes).metadata_size = 2 * kPageSize;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "metadata size 0x2000 outside");
}

TEST(ImagefsValidate, InodeTableMisaligned)
{
    auto bytes = TestImage().build();
    header_of(bytes).inode_offset = 84;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode table: offset 0x54 is not 8-byte aligned");
}

TEST(ImagefsValidate, InodeTableOverlapsHeader)
{
    auto bytes = TestImage().build();
    header_of(bytes).inode_offset = 72;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode table: 0x48+0x70 is outside [0x50");
}

TEST(ImagefsValidate, InodeTableBeyondMetadata)
{
    Sample s;
    auto bytes = s.t.build();
    header_of(bytes).inode_count = 1'000'000;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode table: 0x50+0x3567e00 is outside");
}

TEST(ImagefsValidate, EntryTableOverlapsInodeTable)
{
    Sample s;
    auto bytes = s.t.build();
    header_of(bytes).entry_offset -= 8;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "entry table:");
}

TEST(ImagefsValidate, EntryTableMisaligned)
{
    Sample s;
    auto bytes = s.t.build();
    header_of(bytes).entry_offset += 2;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "entry table: offset");
}

TEST(ImagefsValidate, StringTableBeyondMetadata)
{
    Sample s;
    auto bytes = s.t.build();
    header_of(bytes).string_size += 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "string table:");
}

TEST(ImagefsValidate, StringTableSizeOverflow)
{
    Sample s;
    auto bytes = s.t.build();
    header_of(bytes).string_size = ~uint64_t(0) - 10;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "string table:");
}

TEST(ImagefsValidate, MetadataChecksum)
{
    Sample s;
    auto bytes = s.t.build();
    strings_of(bytes)[0] ^= 0x20; // not resealed
    expect_rejected(bytes, "metadata: checksum");
}

TEST(ImagefsValidate, TooFewInodes)
{
    auto bytes = TestImage().build();
    header_of(bytes).inode_count = 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "1 slots, need at least 2");
}

// ---- Inodes ----

TEST(ImagefsValidate, ReservedInodeNotZero)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, 0).gid = 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 0: reserved slot is not all zero (byte 12)");
}

TEST(ImagefsValidate, RootNotADirectory)
{
    auto bytes = TestImage().build();
    inode_of(bytes, kRootIno).mode = kModeRegular | 0644;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 1: the root is not a directory");
}

TEST(ImagefsValidate, RootParentNotItself)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, kRootIno).parent = 0;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "the root's parent is 0");
}

TEST(ImagefsValidate, RootIsNamed)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, kRootIno).first_link = 0;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 1: the root is named by entry 0");
}

TEST(ImagefsValidate, UnsupportedFileType)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.hostname).mode = 0020644; // S_IFCHR
    TestImage::reseal(bytes);
    expect_rejected(bytes, "mode 020644 is not a regular file, directory or symlink");
}

TEST(ImagefsValidate, ModeBitsOutsideTypeAndPermissions)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.hostname).mode |= 0x10000000;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "is not a regular file, directory or symlink");
}

TEST(ImagefsValidate, MtimeNanoseconds)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.sh).mtime_nsec = 1'000'000'000;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "mtime nanoseconds 1000000000 out of range");
}

TEST(ImagefsValidate, InodeReservedField)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.sh).reserved = 9;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "reserved field is 0x9");
}

TEST(ImagefsValidate, NonDirectoryWithParent)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.lib_link).parent = kRootIno;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "a symlink with parent 1");
}

TEST(ImagefsValidate, FileWithoutLinks)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.sh).nlink = 0;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "file with nlink 0");
}

TEST(ImagefsValidate, EmptyFileWithDataOffset)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.empty).offset = kPageSize;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "empty file with data offset 0x1000");
}

TEST(ImagefsValidate, DataNotPageAligned)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.sh).offset += 16;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "is not page aligned");
}

TEST(ImagefsValidate, DataInsideMetadata)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.sh).offset = 0;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "data offset 0x0 inside the metadata (data starts at 0x1000)");
}

TEST(ImagefsValidate, DataBeyondImageEnd)
{
    Sample s;
    auto bytes = s.t.build();
    uint64_t end = header_of(bytes).image_size;
    inode_of(bytes, s.libc).offset = end - kPageSize;
    inode_of(bytes, s.libc).size = kPageSize + 1;
    TestImage::reseal(bytes);
    char expected[96];
    std::snprintf(expected, sizeof(expected), "data range 0x%llx+0x1001 beyond the image end 0x%llx",
                  (unsigned long long)(end - kPageSize), (unsigned long long)end);
    expect_rejected(bytes, expected);
}

TEST(ImagefsValidate, DataRangeOverflow)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.libc).offset = ~uint64_t(0) & ~(kPageSize - 1);
    inode_of(bytes, s.libc).size = 2 * kPageSize;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "beyond the image end");
}

TEST(ImagefsValidate, DirectoryEntriesNotConsecutive)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.etc).offset += 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "entries must be consecutive in ino order");
}

TEST(ImagefsValidate, DirectoryEntriesBeyondTable)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.x).size = 1; // x is the last directory and the last run
    TestImage::reseal(bytes);
    expect_rejected(bytes, "beyond the entry table");
}

TEST(ImagefsValidate, EntriesOwnedByNoDirectory)
{
    Sample s;
    auto bytes = s.t.build();
    // usr/lib is the last directory with entries: drop its last one from its run.
    inode_of(bytes, s.usr_lib).size -= 1;
    inode_of(bytes, s.x).offset -= 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "belong to no directory");
}

TEST(ImagefsValidate, DirectoryParentNotSmaller)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.etc).parent = s.usr;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "directory's parent 4 is not a smaller ino");
}

TEST(ImagefsValidate, SymlinkTargetLength)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.lib_link).size = 0;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "symlink target length 0, must be 1..4095");
    bytes = s.t.build();
    inode_of(bytes, s.lib_link).size = 4096;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "symlink target length 4096");
}

TEST(ImagefsValidate, SymlinkTargetBeyondStrings)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.lib_link).offset = header_of(bytes).string_size - 3;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "beyond the string table");
    bytes = s.t.build();
    inode_of(bytes, s.lib_link).offset = ~uint64_t(0) - 2;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "beyond the string table");
}

TEST(ImagefsValidate, SymlinkTargetWithNul)
{
    Sample s;
    auto bytes = s.t.build();
    strings_of(bytes)[inode_of(bytes, s.lib_link).offset + 3] = '\0';
    TestImage::reseal(bytes);
    expect_rejected(bytes, "symlink target contains a NUL byte");
}

// ---- Directory entries ----

// Index in the entry table of the entry of `dir` named `name` (bytes must be valid).
uint32_t entry_index(std::vector<uint8_t>& bytes, Ino dir, const char* name)
{
    Image image = open_ok(bytes);
    for (uint32_t i = 0; i < image.entry_count(dir); i++) {
        if (image.entry(dir, i).name == lib::StringView(name))
            return uint32_t(inode_of(bytes, dir).offset) + i;
    }
    ADD_FAILURE() << "no entry " << name;
    return 0;
}

TEST(ImagefsValidate, EntryReservedField)
{
    Sample s;
    auto bytes = s.t.build();
    entry_of(bytes, entry_index(bytes, s.bin, "sh")).reserved = 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "directory 2, entry");
}

TEST(ImagefsValidate, EmptyName)
{
    Sample s;
    auto bytes = s.t.build();
    entry_of(bytes, entry_index(bytes, s.bin, "sh")).name_length = 0;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "name length 0, must be 1..255");
}

TEST(ImagefsValidate, NameTooLong)
{
    Sample s;
    auto bytes = s.t.build();
    entry_of(bytes, entry_index(bytes, s.bin, "sh")).name_length = 256;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "name length 256");
}

TEST(ImagefsValidate, NameBeyondStrings)
{
    Sample s;
    auto bytes = s.t.build();
    DiskEntry& e = entry_of(bytes, entry_index(bytes, s.bin, "sh"));
    e.name_offset = uint32_t(header_of(bytes).string_size - 1);
    TestImage::reseal(bytes);
    expect_rejected(bytes, "beyond the string table");
    bytes = s.t.build();
    entry_of(bytes, entry_index(bytes, s.bin, "sh")).name_offset = 0xffff'ffff;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "name 0xffffffff+0x2 beyond the string table");
}

TEST(ImagefsValidate, NameWithSlashOrNul)
{
    for (char bad : {'/', '\0'}) {
        Sample s;
        auto bytes = s.t.build();
        strings_of(bytes)[entry_of(bytes, entry_index(bytes, s.etc, "hostname")).name_offset + 2] = bad;
        TestImage::reseal(bytes);
        expect_rejected(bytes, "name contains '/' or NUL");
    }
}

TEST(ImagefsValidate, DotNames)
{
    TestImage t;
    t.file(kRootIno, "..", "x");
    t.file(kRootIno, "a", "x");
    expect_rejected(t.build(), "\"..\" is never stored");
    TestImage u;
    u.dir(kRootIno, ".");
    expect_rejected(u.build(), "\".\" is never stored");
}

TEST(ImagefsValidate, EntriesOutOfOrder)
{
    Sample s;
    auto bytes = s.t.build();
    // Swap the names of bin/ls and bin/sh (and their inos, so only the order is wrong).
    DiskEntry& a = entry_of(bytes, entry_index(bytes, s.bin, "ls"));
    DiskEntry& b = entry_of(bytes, entry_index(bytes, s.bin, "sh"));
    std::swap(a.name_offset, b.name_offset);
    std::swap(a.name_length, b.name_length);
    TestImage::reseal(bytes);
    expect_rejected(bytes, "\"ls\" is not after \"sh\"");
}

TEST(ImagefsValidate, DuplicateNames)
{
    Sample s;
    auto bytes = s.t.build();
    DiskEntry& a = entry_of(bytes, entry_index(bytes, s.bin, "ls"));
    DiskEntry& b = entry_of(bytes, entry_index(bytes, s.bin, "sh"));
    b.name_offset = a.name_offset;
    b.name_length = a.name_length;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "\"ls\" is not after \"ls\" (entries must be sorted, names unique)");
}

TEST(ImagefsValidate, MessagesEscapeControlBytes)
{
    TestImage t;
    t.file(kRootIno, "a\nb", "");
    t.file(kRootIno, "c", "");
    auto bytes = t.build();
    std::swap(entry_of(bytes, 0).name_offset, entry_of(bytes, 1).name_offset);
    std::swap(entry_of(bytes, 0).name_length, entry_of(bytes, 1).name_length);
    TestImage::reseal(bytes);
    expect_rejected(bytes, "\"a?b\" is not after \"c\"");
}

TEST(ImagefsValidate, EntryNamesReservedRootOrMissingInode)
{
    for (Ino bad : {Ino(0), kRootIno, Ino(99)}) {
        Sample s;
        auto bytes = s.t.build();
        entry_of(bytes, entry_index(bytes, s.etc, "hostname")).ino = bad;
        TestImage::reseal(bytes);
        expect_rejected(bytes, "\"hostname\": names inode " + std::to_string(bad) + ", not one of 2..");
    }
}

TEST(ImagefsValidate, SubdirectoryWithWrongParent)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.usr_lib).parent = s.bin; // smaller than usr_lib, but not where it is named
    TestImage::reseal(bytes);
    expect_rejected(bytes, "subdirectory 10 records parent 2 (must be 4");
}

TEST(ImagefsValidate, DirectoryCycle)
{
    // a/b/c, then c gets an entry naming a: a would be named twice and sit below itself.
    TestImage t;
    Ino a = t.dir(kRootIno, "a");
    Ino b = t.dir(a, "b");
    Ino c = t.dir(b, "c");
    t.file(c, "f", "");
    auto bytes = t.build();
    entry_of(bytes, entry_index(bytes, c, "f")).ino = a;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "subdirectory 2 records parent 1 (must be 4");
}

TEST(ImagefsValidate, DirectoryLinkCount)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.usr).nlink = 2;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 4: directory nlink 2, expected 3 (2 + 1 subdirectories)");
}

// ---- Link chains ----

struct Linked {
    TestImage t;
    Ino d, f;
    Linked()
    {
        d = t.dir(kRootIno, "d");
        f = t.file(kRootIno, "f", "data");
        t.link(d, "g", f);
        t.file(d, "other", "");
    }
};

TEST(ImagefsValidate, LinkChainBeyondTable)
{
    Linked l;
    auto bytes = l.t.build();
    uint32_t first = inode_of(bytes, l.f).first_link;
    entry_of(bytes, first).next_link = 100;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 3: link chain reaches entry 100 beyond the table");
}

TEST(ImagefsValidate, LinkChainNotIncreasing)
{
    Linked l;
    auto bytes = l.t.build();
    DiskInode& f = inode_of(bytes, l.f);
    uint32_t first = f.first_link;
    uint32_t second = entry_of(bytes, first).next_link;
    f.first_link = second;
    entry_of(bytes, second).next_link = first;
    entry_of(bytes, first).next_link = kNoEntry;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "link chain goes from entry");
}

TEST(ImagefsValidate, LinkChainLoopEnds)
{
    Linked l;
    auto bytes = l.t.build();
    uint32_t first = inode_of(bytes, l.f).first_link;
    uint32_t second = entry_of(bytes, first).next_link;
    entry_of(bytes, second).next_link = first; // a loop
    TestImage::reseal(bytes);
    expect_rejected(bytes, "link chain goes from entry");
}

TEST(ImagefsValidate, LinkChainHoldsForeignEntry)
{
    Linked l;
    auto bytes = l.t.build();
    uint32_t first = inode_of(bytes, l.f).first_link;
    uint32_t other = entry_index(bytes, l.d, "other");
    ASSERT_GT(other, first);
    entry_of(bytes, first).next_link = other;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 3: link chain holds entry");
}

TEST(ImagefsValidate, NlinkHigherThanNames)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.sh).nlink = 2;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "nlink 2 but its link chain has 1 entries");
}

TEST(ImagefsValidate, NlinkLowerThanChain)
{
    Linked l;
    auto bytes = l.t.build();
    inode_of(bytes, l.f).nlink = 1;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "nlink 1 but its link chain has more than 1 entries");
}

TEST(ImagefsValidate, EntryMissingFromChain)
{
    // f has two names but claims one, and its chain lists only the first: every chain is
    // consistent on its own, and only the total gives it away.
    Linked l;
    auto bytes = l.t.build();
    inode_of(bytes, l.f).nlink = 1;
    entry_of(bytes, inode_of(bytes, l.f).first_link).next_link = kNoEntry;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "4 entries but the inodes' link chains hold 3");
}

TEST(ImagefsValidate, DirectoryNamedTwice)
{
    // root/d and root/e both name directory d, and d's chain lists both.
    TestImage t;
    Ino d = t.dir(kRootIno, "d");
    t.file(kRootIno, "e", "");
    auto bytes = t.build();
    uint32_t e = entry_index(bytes, kRootIno, "e");
    entry_of(bytes, e).ino = d;
    entry_of(bytes, inode_of(bytes, d).first_link).next_link = e;
    inode_of(bytes, kRootIno).nlink = 4;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 2: directory named by several entries, must be exactly 1");
}

TEST(ImagefsValidate, DirectoryNamedTwiceOffItsChain)
{
    // As above, but d's chain lists only its first name; e's inode is left with no name.
    TestImage t;
    Ino d = t.dir(kRootIno, "d");
    t.file(kRootIno, "e", "");
    auto bytes = t.build();
    entry_of(bytes, entry_index(bytes, kRootIno, "e")).ino = d;
    inode_of(bytes, kRootIno).nlink = 4;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 3: link chain holds entry 1, which names inode 2");
}

TEST(ImagefsValidate, DirectoryNamedByNoEntry)
{
    Sample s;
    auto bytes = s.t.build();
    inode_of(bytes, s.x).first_link = kNoEntry;
    TestImage::reseal(bytes);
    expect_rejected(bytes, "inode 12: directory named by no entries, must be exactly 1");
}

// ---- Every single-byte corruption of the metadata is caught by a checksum or a rule ----

TEST(ImagefsValidate, AnyMetadataByteFlipIsRejectedWithoutReseal)
{
    Sample s;
    auto good = s.t.build();
    uint64_t metadata = header_of(good).metadata_size;
    for (uint64_t i = 0; i < metadata; i++) {
        auto bytes = good;
        bytes[i] ^= 0x01;
        ErrorReport why;
        EXPECT_TRUE(Image::open(bytes.data(), bytes.size(), &why).is_error()) << "byte " << i;
        EXPECT_NE(why.message[0], '\0');
    }
}

TEST(ImagefsValidate, ResealedByteFlipsNeverCrash)
{
    // With checksums fixed up, each flipped bit must either be rejected or leave an image
    // whose whole tree can be walked (the accessors' preconditions hold).
    Sample s;
    auto good = s.t.build();
    uint64_t metadata = header_of(good).metadata_size;
    for (uint64_t i = 0; i < metadata; i++) {
        for (int bit = 0; bit < 8; bit++) {
            auto bytes = good;
            bytes[i] ^= uint8_t(1 << bit);
            TestImage::reseal(bytes);
            auto image = Image::open(bytes.data(), bytes.size(), nullptr);
            if (image.is_error())
                continue;
            const Image& im = image.value();
            for (Ino ino = 1; ino < im.inode_count(); ino++) {
                InodeInfo info = im.inode(ino);
                if (info.is_directory()) {
                    for (uint32_t k = 0; k < im.entry_count(ino); k++) {
                        DirEntry e = im.entry(ino, k);
                        EXPECT_EQ(im.lookup(ino, e.name).value(), e.ino);
                    }
                } else if (info.is_symlink()) {
                    EXPECT_EQ(im.read_link(ino).size(), info.size);
                } else {
                    FileData d = im.file_data(ino);
                    EXPECT_LE(d.data + d.size, bytes.data() + bytes.size());
                }
            }
        }
    }
}

} // namespace
} // namespace imagefs
