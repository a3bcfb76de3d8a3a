// Default vnode operations (Linux's error for a vnode of the wrong type) and filesystem ids.
#include <fs/vnode.h>

namespace fs {

namespace {

// Anonymous device minors for st_dev, one per filesystem instance (relaxed: only uniqueness
// matters).
constinit std::atomic<uint32_t> g_next_anon_minor{1};

Errno dir_op_error(const Vnode& v) { return v.is_directory() ? Errno::PERM : Errno::NOTDIR; }

} // namespace

FileSystem::FileSystem() : m_dev(make_dev(0, g_next_anon_minor.fetch_add(1, std::memory_order_relaxed))) {}

bool same_vnode(const Vnode& a, const Vnode& b) { return &a == &b || (&a.fs() == &b.fs() && a.ino() == b.ino()); }

Result<Ref<Vnode>> Vnode::lookup(lib::StringView) { return is_directory() ? Errno::NOENT : Errno::NOTDIR; }
Result<Ref<Vnode>> Vnode::create(lib::StringView, uint32_t) { return dir_op_error(*this); }
Result<Ref<Vnode>> Vnode::mkdir(lib::StringView, uint32_t) { return dir_op_error(*this); }
Result<Ref<Vnode>> Vnode::mknod(lib::StringView, uint32_t, uint64_t) { return dir_op_error(*this); }
Result<Ref<Vnode>> Vnode::symlink(lib::StringView, lib::StringView) { return dir_op_error(*this); }
Result<void> Vnode::link(lib::StringView, Vnode&) { return dir_op_error(*this); }
Result<void> Vnode::unlink(lib::StringView) { return dir_op_error(*this); }
Result<void> Vnode::rmdir(lib::StringView) { return dir_op_error(*this); }
Result<void> Vnode::rename(lib::StringView, Vnode&, lib::StringView, unsigned) { return dir_op_error(*this); }
Result<void> Vnode::readdir(uint64_t, DirSink&) { return Errno::NOTDIR; }

Result<size_t> Vnode::readlink(char*, size_t) { return Errno::INVAL; }

Result<Attr> Vnode::getattr()
{
    Attr a;
    a.dev = m_fs.dev();
    a.ino = m_ino;
    a.mode = mode_type_bits(m_type);
    a.nlink = 1;
    return a;
}
Result<void> Vnode::setattr(const SetAttr&) { return Errno::PERM; }

Result<size_t> Vnode::read(uint64_t, IoBuffer&) { return is_directory() ? Errno::ISDIR : Errno::INVAL; }
Result<size_t> Vnode::write(uint64_t&, IoBuffer&, bool) { return is_directory() ? Errno::ISDIR : Errno::INVAL; }
Result<void> Vnode::fsync() { return {}; }
Result<PageHandle> Vnode::page_for_mmap(uint64_t) { return Errno::NOTSUP; }
Result<PageHandle> Vnode::find_page(uint64_t) { return Errno::NOTSUP; }

} // namespace fs
