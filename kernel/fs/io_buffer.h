// IoBuffer: the application memory of one read or write, seen by fs code only through
// checked copies, so no filesystem ever dereferences an application pointer.
//
// A buffer is a sequence of size() bytes, addressed from 0. copy_out() moves bytes from the
// kernel into the buffer (read(2) direction), copy_in() from the buffer into the kernel
// (write(2) direction). Both fail with FAULT when the application memory behind the range is
// not accessible; the destination range may then be partly written. Asking for bytes beyond
// size() is a caller (kernel) bug and asserts.
//
// Implementations:
//   KernelBuffer    plain kernel memory (host tests, kernel-internal I/O).
//   IovecBuffer     a list of (application address, length) segments for readv/writev; the
//                   kernel subclasses it with its checked user copies. PlainIovecBuffer is the
//                   variant whose addresses are ordinary pointers (host tests, kernel memory).
//
// Not synchronised: a buffer belongs to one call on one thread.
#pragma once

#include <lib/result.h>

#include <stddef.h>
#include <stdint.h>

namespace fs {

class IoBuffer {
public:
    virtual size_t size() const = 0;
    // Kernel → application: copies n bytes from src to buffer bytes [at, at + n).
    virtual Result<void> copy_out(size_t at, const void* src, size_t n) = 0;
    // Application → kernel: copies buffer bytes [at, at + n) to dst.
    virtual Result<void> copy_in(size_t at, void* dst, size_t n) = 0;

protected:
    ~IoBuffer() = default;
};

// An IoBuffer over kernel memory. A read-only one (over const memory) refuses copy_out with
// FAULT, as a write-protected application page would.
class KernelBuffer final : public IoBuffer {
public:
    KernelBuffer(void* data, size_t size) : m_data(static_cast<uint8_t*>(data)), m_size(size), m_writable(true) {}
    KernelBuffer(const void* data, size_t size)
        : m_data(static_cast<uint8_t*>(const_cast<void*>(data))), m_size(size), m_writable(false)
    {
    }

    size_t size() const override { return m_size; }
    Result<void> copy_out(size_t at, const void* src, size_t n) override;
    Result<void> copy_in(size_t at, void* dst, size_t n) override;

private:
    uint8_t* m_data;
    size_t m_size;
    bool m_writable;
};

// One readv/writev segment: an application address (never dereferenced by fs code) and a
// length. Same layout as struct iovec.
struct IoVec {
    uint64_t base = 0;
    uint64_t length = 0;
};
static_assert(sizeof(IoVec) == 16, "IoVec must match struct iovec");

// The segments of a readv/writev as one buffer. Subclasses provide the checked copies of one
// contiguous piece; this class maps buffer offsets to segments (remembering the last segment
// used, so sequential copies cost O(1) per piece).
class IovecBuffer : public IoBuffer {
public:
    // Linux's limit on segments per call (IOV_MAX / UIO_MAXIOV).
    static constexpr size_t kMaxSegments = 1024;

    // The total length of `count` segments. INVAL if count > kMaxSegments or the total
    // exceeds SSIZE_MAX (readv(2)'s rules); the syscall layer calls it before building one.
    static Result<size_t> total_length(const IoVec* segments, size_t count);

    size_t size() const override { return m_size; }
    Result<void> copy_out(size_t at, const void* src, size_t n) override;
    Result<void> copy_in(size_t at, void* dst, size_t n) override;

protected:
    // `segments` must outlive the buffer and have passed total_length().
    IovecBuffer(const IoVec* segments, size_t count);
    ~IovecBuffer() = default;

    // Copies n bytes to / from application address `address`; FAULT if not accessible.
    virtual Result<void> copy_to_app(uint64_t address, const void* src, size_t n) = 0;
    virtual Result<void> copy_from_app(uint64_t address, void* dst, size_t n) = 0;

private:
    // Positions the cursor on the segment holding byte `at` (at < size()).
    void seek_segment(size_t at);

    const IoVec* m_segments;
    size_t m_count;
    size_t m_size;
    size_t m_cursor = 0;       // index of a segment
    size_t m_cursor_start = 0; // buffer offset where that segment starts
};

// An IovecBuffer whose addresses are plain kernel (or host) pointers.
class PlainIovecBuffer final : public IovecBuffer {
public:
    PlainIovecBuffer(const IoVec* segments, size_t count) : IovecBuffer(segments, count) {}

protected:
    Result<void> copy_to_app(uint64_t address, const void* src, size_t n) override;
    Result<void> copy_from_app(uint64_t address, void* dst, size_t n) override;
};

} // namespace fs
