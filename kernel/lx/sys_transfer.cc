// Copying between descriptors inside the kernel — sendfile, copy_file_range — and the
// advice calls that have nothing to act on here (fadvise64, readahead: every file is in
// memory already).
//
// Copies go through a kernel bounce buffer a chunk at a time, with no lock held across the
// call (each read and write takes what its file needs), so a large copy never blocks other
// users of either file for long. A call moves at most kMaxTransfer bytes, as Linux's do.
#include <core/memory.h>
#include <fs/io_buffer.h>
#include <fs/open_file.h>
#include <fs/types.h>
#include <lx/files.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
namespace {

constexpr uint64_t kMaxTransfer = 0x7ffff000; // Linux's MAX_RW_COUNT
constexpr size_t kChunk = 64 * 1024;

// Where one side of a transfer reads or writes: at an explicit offset (pread/pwrite; the
// file offset stays) that the program passed by pointer and gets back advanced, or at the
// file offset (read/write, advancing it) when the pointer is null.
struct Side {
    fs::OpenFile& file;
    uint64_t offset_ptr = 0; // the program's loff_t*, or 0
    bool positioned = false;
    int64_t offset = 0;

    // Reads the program's offset: FAULT, or INVAL if negative.
    lib::Result<void> load()
    {
        positioned = offset_ptr != 0;
        if (!positioned)
            return {};
        offset = TRY(read_app<int64_t>(offset_ptr));
        if (offset < 0)
            return lib::Errno::INVAL;
        return {};
    }
    lib::Result<void> store() const { return positioned ? write_app<int64_t>(offset_ptr, offset) : lib::Result<void>(); }
};

// Moves up to `count` bytes from `in` to `out`, advancing positioned sides' offsets by what
// was written. Returns the bytes moved; an error only if none were. Stops at the end of the
// input, after a short write, or at the first error. If a write falls short after an
// unpositioned read, the unwritten bytes are given back to `in` by seeking (they would be
// lost to the program otherwise; a stream cannot seek, and Linux loses them too).
lib::Result<size_t> transfer(Side& in, Side& out, uint64_t count)
{
    void* buf = core::kmalloc(kChunk);
    if (!buf)
        return lib::Errno::NOMEM;
    size_t done = 0;
    lib::Result<size_t> failure = size_t(0);
    while (done < count) {
        size_t want = count - done < kChunk ? size_t(count - done) : kChunk;
        fs::KernelBuffer rb(buf, want);
        auto got = in.positioned ? in.file.pread(in.offset, rb) : in.file.read(rb);
        if (got.is_error() || got.value() == 0) {
            if (got.is_error())
                failure = got.error();
            break;
        }
        size_t written = 0;
        while (written < got.value()) {
            fs::KernelBuffer wb(static_cast<char*>(buf) + written, got.value() - written);
            auto w = out.positioned ? out.file.pwrite(out.offset + int64_t(written), wb) : out.file.write(wb);
            if (w.is_error() || w.value() == 0) {
                if (w.is_error())
                    failure = w.error();
                break;
            }
            written += w.value();
        }
        if (in.positioned)
            in.offset += int64_t(written);
        else if (written < got.value())
            (void)in.file.seek(-int64_t(got.value() - written), 1 /* SEEK_CUR */);
        if (out.positioned)
            out.offset += int64_t(written);
        done += written;
        if (written < got.value() || got.value() < want)
            break; // short write, or the input has no more for now
    }
    core::kfree(buf);
    if (done == 0 && failure.is_error())
        return failure.error();
    return done;
}

// The transfer, then the advanced offsets back to the program.
int64_t finish(Side& src, Side& dst, uint64_t count)
{
    auto moved = transfer(src, dst, count);
    if (moved.is_error())
        return err(moved.error());
    for (const Side* side : { &src, &dst })
        if (auto w = side->store(); w.is_error())
            return err(w.error());
    return int64_t(moved.value());
}

lib::Result<uint32_t> file_type(fs::OpenFile& f)
{
    auto attr = f.getattr();
    if (attr.is_error())
        return attr.error();
    return attr.value().mode & fs::kModeTypeMask;
}

} // namespace

// sendfile(out_fd, in_fd, offset*, count): in_fd must be a regular file (Linux: one it could
// mmap); with `offset` it reads from *offset and leaves in_fd's file offset alone.
int64_t sys_sendfile(const Args& a)
{
    auto out = fd_table().get(a.i(0));
    auto in = fd_table().get(a.i(1));
    if (out.is_error() || in.is_error())
        return err(Errno::BADF);
    fs::OpenFile& fin = *in.value();
    fs::OpenFile& fout = *out.value();
    if (!fin.can_read() || !fout.can_write() || fin.is_path_only() || fout.is_path_only())
        return err(Errno::BADF);
    if (fout.flags() & fs::kOpenAppend)
        return err(Errno::INVAL);
    auto type = file_type(fin);
    if (type.is_error())
        return err(type.error());
    if (type.value() != fs::kModeRegular)
        return err(Errno::INVAL);
    uint64_t count = a.u(3) < kMaxTransfer ? a.u(3) : kMaxTransfer;
    Side src { fin, a.u(2) }, dst { fout };
    if (auto r = src.load(); r.is_error())
        return err(r.error());
    return finish(src, dst, count);
}

// copy_file_range(fd_in, off_in*, fd_out, off_out*, len, flags): between regular files; an
// offset pointer makes that side positioned (and is updated), else the file offset is used.
int64_t sys_copy_file_range(const Args& a)
{
    if (a.u(5) != 0)
        return err(Errno::INVAL); // no flags are defined
    auto in = fd_table().get(a.i(0));
    auto out = fd_table().get(a.i(2));
    if (in.is_error() || out.is_error())
        return err(Errno::BADF);
    fs::OpenFile& fin = *in.value();
    fs::OpenFile& fout = *out.value();
    if (!fin.can_read() || !fout.can_write() || fin.is_path_only() || fout.is_path_only() ||
        (fout.flags() & fs::kOpenAppend))
        return err(Errno::BADF);
    for (fs::OpenFile* f : { &fin, &fout }) {
        auto type = file_type(*f);
        if (type.is_error())
            return err(type.error());
        if (type.value() == fs::kModeDirectory)
            return err(Errno::ISDIR);
        if (type.value() != fs::kModeRegular)
            return err(Errno::INVAL);
    }
    Side src { fin, a.u(1) }, dst { fout, a.u(3) };
    for (Side* side : { &src, &dst })
        if (auto r = side->load(); r.is_error())
            return err(r.error());
    uint64_t count = a.u(4) < kMaxTransfer ? a.u(4) : kMaxTransfer;
    // The same file with overlapping ranges is refused, as on Linux (where both positions
    // are known; a file-offset side is checked against where that offset is now).
    auto lin = fin.location(), lout = fout.location();
    if (lin && lout && fs::same_location(*lin, *lout)) {
        int64_t from = src.positioned ? src.offset : int64_t(fin.seek(0, 1).value_or(0));
        int64_t to = dst.positioned ? dst.offset : int64_t(fout.seek(0, 1).value_or(0));
        if (from < to + int64_t(count) && to < from + int64_t(count))
            return err(Errno::INVAL);
    }
    return finish(src, dst, count);
}

// posix_fadvise: checked, then nothing to do — file data is in memory already.
int64_t sys_fadvise64(const Args& a)
{
    constexpr int kPosixFadvNoreuse = 5;
    auto f = fd_table().get(a.i(0));
    if (f.is_error() || f.value()->is_path_only())
        return err(Errno::BADF);
    auto type = file_type(*f.value());
    if (type.is_error())
        return err(type.error());
    if (type.value() == fs::kModeFifo)
        return err(Errno::SPIPE);
    if (a.i(3) < 0 || a.i(3) > kPosixFadvNoreuse || a.l(2) < 0)
        return err(Errno::INVAL);
    return 0;
}

// readahead: the same — a regular file is required.
int64_t sys_readahead(const Args& a)
{
    auto f = fd_table().get(a.i(0));
    if (f.is_error() || !f.value()->can_read() || f.value()->is_path_only())
        return err(Errno::BADF);
    auto type = file_type(*f.value());
    if (type.is_error())
        return err(type.error());
    return type.value() == fs::kModeRegular ? 0 : err(Errno::INVAL);
}

} // namespace lx
