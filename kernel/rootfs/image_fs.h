// ImageFs: a root image (kernel/imagefs) as a read-only VFS filesystem. The image stays where
// the boot loader put it; reads copy straight out of it and mmap gets the image's own pages
// (file data is page-aligned in the format for exactly this).
//
// Vnodes are created per lookup (fs/vnode.h allows it: identity is (filesystem, ino)); they
// hold nothing but the inode number, so there is no cache to keep coherent — the image never
// changes. Nothing here locks: everything is a read of immutable memory validated once, at
// create(), by imagefs::Image::open.
#pragma once

#include <fs/vnode.h>
#include <imagefs/image.h>

namespace rootfs {

class ImageFs final : public fs::FileSystem {
public:
    // Serves `image`. `image_phys` is the physical address of image.base() when the kernel
    // can map its pages (the base must then be page-aligned), or kNoPhys: page_for_mmap then
    // answers NOTSUP and the caller copies instead. NOMEM.
    static constexpr uint64_t kNoPhys = ~uint64_t(0);
    static lib::Result<fs::Ref<ImageFs>> create(const imagefs::Image& image, uint64_t image_phys);

    fs::Ref<fs::Vnode> root() override { return m_root; }
    const char* name() const override { return "imagefs"; }
    bool is_read_only() const override { return true; }

    const imagefs::Image& image() const { return m_image; }
    uint64_t image_phys() const { return m_image_phys; }
    // A vnode for `ino` (valid in the image). NOMEM.
    lib::Result<fs::Ref<fs::Vnode>> vnode(imagefs::Ino ino);

    ImageFs(const imagefs::Image& image, uint64_t image_phys) : m_image(image), m_image_phys(image_phys) {}

private:
    imagefs::Image m_image;
    uint64_t m_image_phys;
    fs::Ref<fs::Vnode> m_root;
};

} // namespace rootfs
