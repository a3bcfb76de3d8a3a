// Mappings between vnode types, mode bits and dirent types (types.h).
#include <fs/types.h>

namespace fs {

uint32_t mode_type_bits(VnodeType type)
{
    switch (type) {
    case VnodeType::Regular:
        return kModeRegular;
    case VnodeType::Directory:
        return kModeDirectory;
    case VnodeType::Symlink:
        return kModeSymlink;
    case VnodeType::CharDevice:
        return kModeCharDevice;
    case VnodeType::BlockDevice:
        return kModeBlockDevice;
    case VnodeType::Fifo:
        return kModeFifo;
    case VnodeType::Socket:
        return kModeSocket;
    }
    return 0;
}

bool type_from_mode(uint32_t mode, VnodeType& type)
{
    switch (mode & kModeTypeMask) {
    case kModeRegular:
        type = VnodeType::Regular;
        return true;
    case kModeDirectory:
        type = VnodeType::Directory;
        return true;
    case kModeSymlink:
        type = VnodeType::Symlink;
        return true;
    case kModeCharDevice:
        type = VnodeType::CharDevice;
        return true;
    case kModeBlockDevice:
        type = VnodeType::BlockDevice;
        return true;
    case kModeFifo:
        type = VnodeType::Fifo;
        return true;
    case kModeSocket:
        type = VnodeType::Socket;
        return true;
    default:
        return false;
    }
}

DirentType dirent_type(VnodeType type)
{
    switch (type) {
    case VnodeType::Regular:
        return DirentType::Regular;
    case VnodeType::Directory:
        return DirentType::Directory;
    case VnodeType::Symlink:
        return DirentType::Symlink;
    case VnodeType::CharDevice:
        return DirentType::CharDevice;
    case VnodeType::BlockDevice:
        return DirentType::BlockDevice;
    case VnodeType::Fifo:
        return DirentType::Fifo;
    case VnodeType::Socket:
        return DirentType::Socket;
    }
    return DirentType::Unknown;
}

} // namespace fs
