// RealHostFs: host_fs.h over POSIX calls. The only file-system I/O of the runner library.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "runner/host_fs.h"

namespace runner {

namespace {

std::string io_error(std::string_view what, const std::string& path, int err) {
    return std::string(what) + " " + path + ": " + std::strerror(err);
}

} // namespace

FileStat RealHostFs::lstat(const std::string& path) {
    struct stat st {};
    FileStat out;
    if (::lstat(path.c_str(), &st) != 0) {
        return out;
    }
    if (S_ISREG(st.st_mode)) {
        out.kind = FileKind::Regular;
    } else if (S_ISDIR(st.st_mode)) {
        out.kind = FileKind::Directory;
    } else if (S_ISLNK(st.st_mode)) {
        out.kind = FileKind::Symlink;
    } else {
        out.kind = FileKind::Other;
    }
    out.mode = static_cast<uint32_t>(st.st_mode) & 07777;
    out.size = static_cast<uint64_t>(st.st_size);
    out.mtime_sec = st.st_mtim.tv_sec;
    out.mtime_nsec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
    out.device = st.st_dev;
    out.inode = st.st_ino;
    return out;
}

Parsed<std::string> RealHostFs::read_link(const std::string& path) {
    std::string buf(256, '\0');
    for (;;) {
        ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
        if (n < 0) {
            return Parsed<std::string>::fail(io_error("cannot read the symlink", path, errno));
        }
        if (static_cast<size_t>(n) < buf.size()) {
            buf.resize(static_cast<size_t>(n));
            return Parsed<std::string>::ok(std::move(buf));
        }
        buf.resize(buf.size() * 2);  // possibly truncated: try again with more room
    }
}

Parsed<std::string> RealHostFs::read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return Parsed<std::string>::fail(io_error("cannot read", path, errno));
    }
    std::string data;
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            ::close(fd);
            return Parsed<std::string>::fail(io_error("cannot read", path, err));
        }
        if (n == 0) {
            break;
        }
        data.append(chunk, static_cast<size_t>(n));
    }
    ::close(fd);
    return Parsed<std::string>::ok(std::move(data));
}

Parsed<std::vector<std::string>> RealHostFs::list_directory(const std::string& path) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) {
        return Parsed<std::vector<std::string>>::fail(
            io_error("cannot list the directory", path, errno));
    }
    std::vector<std::string> names;
    for (;;) {
        errno = 0;  // readdir() returns null at the end and on errors; errno tells them apart
        dirent* ent = ::readdir(dir);
        if (ent == nullptr) {
            break;
        }
        std::string name = ent->d_name;
        if (name != "." && name != "..") {
            names.push_back(std::move(name));
        }
    }
    int err = errno;
    ::closedir(dir);
    if (err != 0) {
        return Parsed<std::vector<std::string>>::fail(io_error("cannot list the directory", path, err));
    }
    std::sort(names.begin(), names.end());
    return Parsed<std::vector<std::string>>::ok(std::move(names));
}

} // namespace runner
