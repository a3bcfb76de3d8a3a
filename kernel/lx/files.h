// The application's files: the VFS namespace (root image on "/", ramfs on /tmp, devfs on
// /dev), its working directory, umask and descriptor table, and the IoBuffers over
// application memory that the fs layer copies through.
#pragma once

#include <fs/fd_table.h>
#include <fs/io_buffer.h>
#include <fs/mount.h>
#include <fs/path.h>
#include <lib/result.h>

namespace lx {

inline constexpr int kAtFdcwd = -100;

// Mounts the root image found at [image, image + size) (physical address image_phys) and the
// standard mounts, and opens descriptors 0, 1 and 2 on the console. `why` gets a one-line
// reason on failure (a malformed image: the reader's message). Without an image (nullptr)
// the root is an empty ramfs (in-kernel tests). Once (BUSY after).
lib::Result<void> init_files(const void* image, size_t size, uint64_t image_phys, char* why, size_t why_size);
bool files_ready();
// Mounts procfs on /proc and sysfs on /sys (procfs_source.cc).
lib::Result<void> mount_proc_and_sys(fs::Vfs& vfs);

fs::Vfs& vfs();
fs::FdTable& fd_table();

// Makes /etc/resolv.conf say `text` (the DNS servers of a DHCP lease), before the application
// starts. Nothing happens if it says so already (QEMU's user network: the image's default).
// On a read-only root, /etc becomes a ramfs holding a copy of the image's /etc first.
lib::Result<void> set_resolv_conf(lib::StringView text);

// The context for a path relative to `dirfd` (kAtFdcwd: the working directory). BADF for a
// bad descriptor, NOTDIR when it is not a directory (only if `path` is relative).
lib::Result<fs::PathContext> path_context(int dirfd, bool path_is_absolute = false);
lib::Result<void> set_cwd(const fs::Location& dir);
uint32_t umask();
uint32_t set_umask(uint32_t mask);

// Application memory as an IoBuffer: checked copies (lx/uaccess.h).
class AppBuffer final : public fs::IoBuffer {
public:
    AppBuffer(uint64_t address, size_t size) : m_address(address), m_size(size) {}
    size_t size() const override { return m_size; }
    lib::Result<void> copy_out(size_t at, const void* src, size_t n) override;
    lib::Result<void> copy_in(size_t at, void* dst, size_t n) override;

private:
    uint64_t m_address;
    size_t m_size;
};

class AppIovecBuffer final : public fs::IovecBuffer {
public:
    AppIovecBuffer(const fs::IoVec* segments, size_t count) : fs::IovecBuffer(segments, count) {}

protected:
    lib::Result<void> copy_to_app(uint64_t address, const void* src, size_t n) override;
    lib::Result<void> copy_from_app(uint64_t address, void* dst, size_t n) override;
};

// An application's iovec array (readv/writev, sendmsg/recvmsg), copied in and checked: up to
// kInline segments on the stack — what almost every call passes — more on the heap, exactly
// as many as given. The caller reports a count beyond fs::IovecBuffer::kMaxSegments its own
// way (EINVAL or EMSGSIZE); copy_in answers INVAL for one.
class AppIovecs {
public:
    static constexpr size_t kInline = 8;

    AppIovecs() = default;
    ~AppIovecs() { delete[] m_heap; }
    AppIovecs(const AppIovecs&) = delete;
    AppIovecs& operator=(const AppIovecs&) = delete;

    // FAULT for the array or a segment outside the application half, INVAL for a total
    // beyond SSIZE_MAX, NOMEM.
    lib::Result<void> copy_in(uint64_t address, size_t count);
    fs::IoVec* segments() { return m_heap ? m_heap : m_inline; }
    size_t count() const { return m_count; }
    AppIovecBuffer buffer() { return AppIovecBuffer(segments(), m_count); }

private:
    fs::IoVec m_inline[kInline];
    fs::IoVec* m_heap = nullptr;
    size_t m_count = 0;
};

} // namespace lx
