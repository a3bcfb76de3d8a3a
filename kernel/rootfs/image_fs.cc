// ImageFs (image_fs.h).
#include <fs/types.h>
#include <rootfs/image_fs.h>

namespace rootfs {
namespace {

using lib::Errno;
using fs::Ref;
using lib::Result;

fs::VnodeType type_of(const imagefs::InodeInfo& info)
{
    fs::VnodeType t = fs::VnodeType::Regular;
    fs::type_from_mode(info.mode, t); // the reader accepts only types the VFS knows
    return t;
}

class ImageVnode final : public fs::Vnode {
public:
    ImageVnode(ImageFs& owner, const imagefs::InodeInfo& info)
        : fs::Vnode(owner, info.ino, type_of(info)), m_owner(owner), m_ino(info.ino)
    {
    }

    Result<Ref<fs::Vnode>> lookup(lib::StringView name) override
    {
        if (!is_directory())
            return Errno::NOTDIR;
        const imagefs::Image& img = m_owner.image();
        if (name.size() == 2 && name[0] == '.' && name[1] == '.')
            return m_owner.vnode(img.parent(m_ino));
        imagefs::Ino child = TRY(img.lookup(m_ino, name));
        return m_owner.vnode(child);
    }

    Result<void> readdir(uint64_t cookie, fs::DirSink& sink) override
    {
        if (!is_directory())
            return Errno::NOTDIR;
        const imagefs::Image& img = m_owner.image();
        uint32_t count = img.entry_count(m_ino);
        for (uint64_t i = cookie; i < count; ++i) {
            imagefs::DirEntry e = img.entry(m_ino, uint32_t(i));
            if (!sink.emit(e.ino, fs::dirent_type(type_of(img.inode(e.ino))), e.name, i + 1))
                break;
        }
        return {};
    }

    Result<size_t> readlink(char* buf, size_t size) override
    {
        if (!is_symlink())
            return Errno::INVAL;
        lib::StringView target = m_owner.image().read_link(m_ino);
        size_t n = target.size() < size ? target.size() : size;
        lib::mem_copy(buf, target.data(), n);
        return target.size();
    }

    Result<fs::Attr> getattr() override
    {
        imagefs::InodeInfo info = m_owner.image().inode(m_ino);
        fs::Attr a;
        a.dev = m_owner.dev();
        a.ino = info.ino;
        a.mode = info.mode;
        a.nlink = info.nlink;
        a.uid = info.uid;
        a.gid = info.gid;
        a.size = info.is_directory() ? 4096 : info.size;
        a.blocks = info.is_regular() ? (info.size + 4095) / 4096 * 8 : 0;
        a.blksize = 4096;
        a.mtime = { info.mtime_sec, info.mtime_nsec };
        a.atime = a.mtime;
        a.ctime = a.mtime;
        return a;
    }

    Result<size_t> read(uint64_t offset, fs::IoBuffer& buf) override
    {
        if (is_directory())
            return Errno::ISDIR;
        if (!is_regular())
            return Errno::INVAL;
        imagefs::FileData data = m_owner.image().file_data(m_ino);
        if (offset >= data.size)
            return size_t(0);
        size_t n = buf.size() < data.size - offset ? buf.size() : size_t(data.size - offset);
        TRY(buf.copy_out(0, data.data + offset, n));
        return n;
    }

    Result<size_t> write(uint64_t&, fs::IoBuffer&, bool) override { return Errno::ROFS; }

    // Image pages are never allocated: a lookup is all there is.
    Result<fs::PageHandle> find_page(uint64_t offset) override { return page_for_mmap(offset); }

    Result<fs::PageHandle> page_for_mmap(uint64_t offset) override
    {
        if (!is_regular())
            return Errno::NODEV;
        const imagefs::Image& img = m_owner.image();
        imagefs::FileData data = img.file_data(m_ino);
        if (offset % fs::kPageSize || offset >= data.size)
            return Errno::NXIO;
        if (m_owner.image_phys() == ImageFs::kNoPhys)
            return Errno::NOTSUP;
        uint64_t at = img.data_offset(m_ino) + offset;
        return fs::PageHandle { m_owner.image_phys() + at, const_cast<uint8_t*>(img.base()) + at };
    }

private:
    ImageFs& m_owner;
    imagefs::Ino m_ino;
};

} // namespace

Result<Ref<ImageFs>> ImageFs::create(const imagefs::Image& image, uint64_t image_phys)
{
    if (image_phys != kNoPhys && (image_phys % fs::kPageSize || reinterpret_cast<uintptr_t>(image.base()) % fs::kPageSize))
        image_phys = kNoPhys; // pages cannot be mapped in place: mmap copies
    Ref<ImageFs> self = TRY(fs::make_ref<ImageFs>(image, image_phys));
    self->m_root = TRY(self->vnode(image.root()));
    return self;
}

Result<Ref<fs::Vnode>> ImageFs::vnode(imagefs::Ino ino)
{
    auto v = TRY(fs::make_ref<ImageVnode>(*this, m_image.inode(ino)));
    return Ref<fs::Vnode>(v);
}

} // namespace rootfs
