// fuzz-links: imagefs
// libFuzzer target: a hostile root image. Image::open() must never crash or read outside the
// input, and when it accepts an image every accessor on every inode must work (no assertion
// may fire) and stay inside the image.
//
// Each input is tried twice: as given (exercising the header and checksum checks), and with
// both checksums recomputed, so that mutations reach the structural checks behind them
// instead of dying at the CRC.
#include <imagefs/crc32c.h>
#include <imagefs/format.h>
#include <imagefs/image.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

using imagefs::Image;
using imagefs::Ino;

void check(bool ok)
{
    if (!ok)
        std::abort();
}

bool inside(const uint8_t* p, uint64_t size, const uint8_t* base, uint64_t image_size)
{
    return p >= base && size <= image_size && uint64_t(p - base) <= image_size - size;
}

void walk(const Image& image)
{
    const uint8_t* base = image.base();
    uint64_t image_size = image.image_size();
    check(image.inode(image.root()).is_directory());
    check(image.parent(image.root()) == image.root());
    uint64_t named = 0;
    for (Ino ino = 1; ino < image.inode_count(); ino++) {
        imagefs::InodeInfo info = image.inode(ino);
        check(info.ino == ino);
        if (info.is_directory()) {
            check(image.is_valid_ino(image.parent(ino)));
            check(image.inode(image.parent(ino)).is_directory());
            uint32_t count = image.entry_count(ino);
            named += count;
            lib::StringView previous;
            for (uint32_t k = 0; k < count; k++) {
                imagefs::DirEntry e = image.entry(ino, k);
                check(e.name.size() >= 1 && e.name.size() <= imagefs::kMaxNameLength);
                check(inside(reinterpret_cast<const uint8_t*>(e.name.data()), e.name.size(), base, image_size));
                check(e.name.find('/') == lib::StringView::npos && e.name.find('\0') == lib::StringView::npos);
                check(image.is_valid_ino(e.ino) && e.ino != image.root());
                auto found = image.lookup(ino, e.name);
                check(!found.is_error() && found.value() == e.ino);
                if (image.inode(e.ino).is_directory())
                    check(image.parent(e.ino) == ino);
                check(k == 0 || !(e.name == previous));
                previous = e.name;
            }
            check(image.lookup(ino, ".").is_error());
            check(image.lookup(ino, "").is_error());
        } else if (info.is_symlink()) {
            lib::StringView target = image.read_link(ino);
            check(target.size() == info.size && target.size() >= 1 && target.size() <= imagefs::kMaxLinkTargetLength);
            check(inside(reinterpret_cast<const uint8_t*>(target.data()), target.size(), base, image_size));
            check(target.find('\0') == lib::StringView::npos);
            check(image.lookup(ino, "x").error() == Errno::NOTDIR);
        } else {
            check(info.is_regular());
            imagefs::FileData data = image.file_data(ino);
            check(data.size == info.size);
            check(inside(data.data, data.size, base, image_size));
            check(image.data_offset(ino) % imagefs::kPageSize == 0);
            check(data.size == 0 || image.data_offset(ino) >= sizeof(imagefs::DiskHeader));
            volatile uint8_t sink = 0;
            if (data.size > 0)
                sink = sink + data.data[0] + data.data[data.size - 1];
            check(image.lookup(ino, "x").error() == Errno::NOTDIR);
        }
    }
    check(named == image.total_entry_count());
}

void try_open(const uint8_t* data, size_t size)
{
    auto image = Image::open(data, size, nullptr);
    if (!image.is_error())
        walk(image.value());
    imagefs::ErrorReport why;
    auto again = Image::open(data, size, &why);
    check(again.is_error() == image.is_error());
    check(!again.is_error() || (why.message[0] != '\0' && std::strchr(why.message, '\n') == nullptr));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    // A heap copy of exactly `size` bytes, so ASan catches any read past the end.
    std::vector<uint8_t> bytes(data, data + size);
    try_open(bytes.data(), bytes.size());

    if (size < sizeof(imagefs::DiskHeader))
        return 0;
    imagefs::DiskHeader h;
    std::memcpy(&h, bytes.data(), sizeof(h));
    if (h.metadata_size >= sizeof(h) && h.metadata_size <= size)
        h.metadata_crc = imagefs::crc32c(bytes.data() + sizeof(h), h.metadata_size - sizeof(h));
    std::memcpy(bytes.data(), &h, sizeof(h));
    h.header_crc = imagefs::crc32c(bytes.data(), offsetof(imagefs::DiskHeader, header_crc));
    std::memcpy(bytes.data(), &h, sizeof(h));
    try_open(bytes.data(), bytes.size());
    return 0;
}
