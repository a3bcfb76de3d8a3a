// The standard character devices — null, zero, full, random/urandom, console — and devfs,
// a ramfs holding their nodes, for the kernel to mount on /dev.
//
// The devices are Device objects (fs/device.h) reached through the Vfs's device registry by
// Linux's device numbers, so a node for them works in any filesystem (mknod in ramfs, a node
// in the image). Their only dependencies on the kernel are two interfaces it implements:
// EntropySource (RDRAND, virtio-rng) and ConsoleBackend (the serial port). devfs is an
// ordinary ramfs (the application may add files, as on Linux's devtmpfs); the kernel adds
// /dev/stdin & co. as symlinks itself.
//
// Locking: the devices keep no state of their own; each backend call is the backend's to
// synchronise. Console reads may block (in the backend) without holding any fs lock. (The
// kernel's backend, its line discipline and the pipe-mode standard input are in
// kernel/lx/files.cc and kernel/tty.)
#pragma once

#include <fs/device.h>
#include <fs/mount.h>
#include <fs/page_provider.h>
#include <fs/ref.h>
#include <fs/types.h>
#include <lib/result.h>

#include <stddef.h>
#include <stdint.h>

namespace fs::devfs {

// Linux's numbers [Documentation/admin-guide/devices.txt].
inline constexpr uint64_t kNullDevice = make_dev(1, 3);
inline constexpr uint64_t kZeroDevice = make_dev(1, 5);
inline constexpr uint64_t kFullDevice = make_dev(1, 7);
inline constexpr uint64_t kRandomDevice = make_dev(1, 8);
inline constexpr uint64_t kUrandomDevice = make_dev(1, 9);
inline constexpr uint64_t kTtyDevice = make_dev(5, 0);
inline constexpr uint64_t kConsoleDevice = make_dev(5, 1);

// Random bytes for /dev/random and /dev/urandom (both the same, as on Linux once the pool is
// initialised). fill() may block; IO if the source failed.
class EntropySource {
public:
    virtual Result<void> fill(void* dst, size_t n) = 0;

protected:
    ~EntropySource() = default;
};

// The console's bytes (the kernel maps it to the serial port).
class ConsoleBackend {
public:
    // Writes up to n bytes; returns how many were taken.
    virtual Result<size_t> write(const void* data, size_t n) = 0;
    // Reads up to n bytes (n > 0): at least one, waiting for input unless `nonblocking`
    // (then AGAIN if there is none). A terminal backend may also return 0 (end of file,
    // VMIN/VTIME timeouts).
    virtual Result<size_t> read(void* dst, size_t n, bool nonblocking) = 0;
    // The same into the reader's buffer (buf.size() > 0). A backend that can keep its input
    // until the copy succeeded overrides this, so that a read into a bad buffer fails with
    // FAULT and loses nothing; the default reads into a bounce buffer first (bytes taken are
    // lost if the copy then faults).
    virtual Result<size_t> read_into(IoBuffer& buf, bool nonblocking);
    // poll(2) readiness; default: always writable, readable.
    virtual uint32_t poll_events();
    // Terminal ioctls (TCGETS, TIOCGWINSZ, ...) are the backend's; default NOTTY.
    virtual Result<long> ioctl(unsigned cmd, uint64_t arg);
    // Device::readiness_watches for the console (both /dev/console and /dev/tty); default
    // null: the backend does not notify.
    virtual ReadinessWatch** readiness_watches() { return nullptr; }

protected:
    ~ConsoleBackend() = default;
};

// /dev/null: reads end at once, writes are swallowed.
class NullDevice final : public Device {
public:
    Result<size_t> read(uint64_t offset, IoBuffer& buf, unsigned flags) override;
    Result<size_t> write(uint64_t offset, IoBuffer& buf, unsigned flags) override;
};

// /dev/zero: reads give zeros, writes are swallowed.
class ZeroDevice final : public Device {
public:
    Result<size_t> read(uint64_t offset, IoBuffer& buf, unsigned flags) override;
    Result<size_t> write(uint64_t offset, IoBuffer& buf, unsigned flags) override;
};

// /dev/full: reads give zeros, writes fail with NOSPC.
class FullDevice final : public Device {
public:
    Result<size_t> read(uint64_t offset, IoBuffer& buf, unsigned flags) override;
    Result<size_t> write(uint64_t offset, IoBuffer& buf, unsigned flags) override;
};

// /dev/random, /dev/urandom: reads come from the entropy source; writes are accepted and
// dropped (Linux mixes them in; there is no pool here).
class RandomDevice final : public Device {
public:
    explicit RandomDevice(EntropySource& source) : m_source(source) {}
    Result<size_t> read(uint64_t offset, IoBuffer& buf, unsigned flags) override;
    Result<size_t> write(uint64_t offset, IoBuffer& buf, unsigned flags) override;

private:
    EntropySource& m_source;
};

// /dev/console and /dev/tty: the ConsoleBackend. A read returns what one backend read_into
// gave (AGAIN with O_NONBLOCK and no input); a write passes everything on.
class ConsoleDevice final : public Device {
public:
    explicit ConsoleDevice(ConsoleBackend& backend) : m_backend(backend) {}
    Result<size_t> read(uint64_t offset, IoBuffer& buf, unsigned flags) override;
    Result<size_t> write(uint64_t offset, IoBuffer& buf, unsigned flags) override;
    Result<long> ioctl(unsigned cmd, uint64_t arg) override;
    uint32_t poll_events() override;
    ReadinessWatch** readiness_watches() override { return m_backend.readiness_watches(); }

private:
    ConsoleBackend& m_backend;
};

struct Config {
    EntropySource* entropy = nullptr;  // no random/urandom without one
    ConsoleBackend* console = nullptr; // no console/tty without one
    uint64_t max_bytes = 1 << 20;      // the ramfs cap for files the application adds
};

// Registers the devices in `vfs` (a number already registered keeps its driver) and returns
// a ramfs with their nodes: null, zero, full (0666), random, urandom (0666, with an entropy
// source), console (0600) and tty (0666, with a console). The backends and `pages` must
// outlive the filesystem. NOMEM.
Result<Ref<FileSystem>> create(Vfs& vfs, PageProvider& pages, const Config& config);

} // namespace fs::devfs
