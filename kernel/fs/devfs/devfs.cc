// The standard character devices and devfs (see devfs.h).
#include <fs/devfs/devfs.h>
#include <fs/ramfs/ramfs.h>

namespace fs::devfs {

namespace {

// Bytes moved per step through a stack buffer (random, console).
constexpr size_t kChunk = 256;

const uint8_t g_zeros[kPageSize] = {};

// Fills buf with zeros; a fault after some bytes gives a short count.
Result<size_t> read_zeros(IoBuffer& buf)
{
    size_t done = 0;
    while (done < buf.size()) {
        size_t chunk = buf.size() - done < kPageSize ? buf.size() - done : kPageSize;
        if (buf.copy_out(done, g_zeros, chunk).is_error())
            return done ? Result<size_t>(done) : Result<size_t>(Errno::FAULT);
        done += chunk;
    }
    return done;
}

Result<void> add_node(Vnode& dir, lib::StringView name, uint32_t perm, uint64_t rdev)
{
    TRY(dir.mknod(name, kModeCharDevice | perm, rdev));
    return {};
}

// Registers `device` under `rdev` unless the number is taken.
Result<void> register_if_free(Vfs& vfs, uint64_t rdev, Result<Ref<Device>> device)
{
    if (device.is_error())
        return device.error();
    auto registered = vfs.register_device(rdev, device.release_value());
    if (registered.is_error() && registered.error() != Errno::EXIST)
        return registered.error();
    return {};
}

template<typename T, typename... Args>
Result<Ref<Device>> make_device(Args&... args)
{
    Ref<T> device = TRY(make_ref<T>(args...));
    return Ref<Device>(std::move(device));
}

} // namespace

uint32_t ConsoleBackend::poll_events() { return kPollIn | kPollOut | kPollRdNorm | kPollWrNorm; }
Result<long> ConsoleBackend::ioctl(unsigned, uint64_t) { return Errno::NOTTY; }

Result<size_t> NullDevice::read(uint64_t, IoBuffer&, unsigned) { return size_t(0); }
Result<size_t> NullDevice::write(uint64_t, IoBuffer& buf, unsigned) { return buf.size(); }

Result<size_t> ZeroDevice::read(uint64_t, IoBuffer& buf, unsigned) { return read_zeros(buf); }
Result<size_t> ZeroDevice::write(uint64_t, IoBuffer& buf, unsigned) { return buf.size(); }

Result<size_t> FullDevice::read(uint64_t, IoBuffer& buf, unsigned) { return read_zeros(buf); }
Result<size_t> FullDevice::write(uint64_t, IoBuffer& buf, unsigned)
{
    if (buf.size() == 0)
        return size_t(0);
    return Errno::NOSPC;
}

Result<size_t> RandomDevice::read(uint64_t, IoBuffer& buf, unsigned)
{
    uint8_t bytes[kChunk];
    size_t done = 0;
    while (done < buf.size()) {
        size_t chunk = buf.size() - done < kChunk ? buf.size() - done : kChunk;
        auto filled = m_source.fill(bytes, chunk);
        if (filled.is_error())
            return done ? Result<size_t>(done) : Result<size_t>(filled.error());
        if (buf.copy_out(done, bytes, chunk).is_error())
            return done ? Result<size_t>(done) : Result<size_t>(Errno::FAULT);
        done += chunk;
    }
    return done;
}

Result<size_t> RandomDevice::write(uint64_t, IoBuffer& buf, unsigned) { return buf.size(); }

Result<size_t> ConsoleBackend::read_into(IoBuffer& buf, bool nonblocking)
{
    uint8_t bytes[kChunk];
    size_t want = buf.size() < kChunk ? buf.size() : kChunk;
    size_t got = TRY(read(bytes, want, nonblocking));
    if (got > want)
        got = want; // a misbehaving backend cannot make us copy past the buffer
    TRY(buf.copy_out(0, bytes, got));
    return got;
}

Result<size_t> ConsoleDevice::read(uint64_t, IoBuffer& buf, unsigned flags)
{
    if (buf.size() == 0)
        return size_t(0);
    size_t got = TRY(m_backend.read_into(buf, flags & kOpenNonBlock));
    return got < buf.size() ? got : buf.size();
}

Result<size_t> ConsoleDevice::write(uint64_t, IoBuffer& buf, unsigned)
{
    uint8_t bytes[kChunk];
    size_t done = 0;
    while (done < buf.size()) {
        size_t chunk = buf.size() - done < kChunk ? buf.size() - done : kChunk;
        if (buf.copy_in(done, bytes, chunk).is_error())
            return done ? Result<size_t>(done) : Result<size_t>(Errno::FAULT);
        size_t put = 0;
        while (put < chunk) {
            auto wrote = m_backend.write(bytes + put, chunk - put);
            if (wrote.is_error() || wrote.value() == 0) {
                size_t total = done + put;
                if (total)
                    return total;
                return wrote.is_error() ? wrote.error() : Errno::IO;
            }
            put += wrote.value() < chunk - put ? wrote.value() : chunk - put;
        }
        done += chunk;
    }
    return done;
}

Result<long> ConsoleDevice::ioctl(unsigned cmd, uint64_t arg) { return m_backend.ioctl(cmd, arg); }

uint32_t ConsoleDevice::poll_events() { return m_backend.poll_events(); }

Result<Ref<FileSystem>> create(Vfs& vfs, PageProvider& pages, const Config& config)
{
    ramfs::Config fs_config;
    fs_config.pages = &pages;
    fs_config.max_bytes = config.max_bytes;
    Ref<ramfs::RamFs> fs = TRY(ramfs::RamFs::create(fs_config));
    Ref<Vnode> root = fs->root();

    TRY(register_if_free(vfs, kNullDevice, make_device<NullDevice>()));
    TRY(register_if_free(vfs, kZeroDevice, make_device<ZeroDevice>()));
    TRY(register_if_free(vfs, kFullDevice, make_device<FullDevice>()));
    TRY(add_node(*root, "null", 0666, kNullDevice));
    TRY(add_node(*root, "zero", 0666, kZeroDevice));
    TRY(add_node(*root, "full", 0666, kFullDevice));
    if (config.entropy) {
        TRY(register_if_free(vfs, kRandomDevice, make_device<RandomDevice>(*config.entropy)));
        TRY(register_if_free(vfs, kUrandomDevice, make_device<RandomDevice>(*config.entropy)));
        TRY(add_node(*root, "random", 0666, kRandomDevice));
        TRY(add_node(*root, "urandom", 0666, kUrandomDevice));
    }
    if (config.console) {
        TRY(register_if_free(vfs, kConsoleDevice, make_device<ConsoleDevice>(*config.console)));
        TRY(register_if_free(vfs, kTtyDevice, make_device<ConsoleDevice>(*config.console)));
        TRY(add_node(*root, "console", 0600, kConsoleDevice));
        TRY(add_node(*root, "tty", 0666, kTtyDevice));
    }
    root.reset(); // before the filesystem reference goes (vnode.h)
    return Ref<FileSystem>(std::move(fs));
}

} // namespace fs::devfs
