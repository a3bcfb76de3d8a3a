// Disks for the kernel and for applications (block_dev.h).
#include <core/console.h>
#include <core/memory.h>
#include <drivers/block_dev.h>
#include <fs/io_buffer.h>
#include <fs/types.h>
#include <lib/format.h>
#include <lx/uaccess.h>
#include <new>
#include <sync/mutex.h>
#include <atomic>
#include <core/thread.h>

namespace drivers {
namespace {

// Boot-time registry: written by register_block_device (boot CPU), read-only afterwards.
block::Device* g_devices[kMaxBlockDevices];
size_t g_device_count = 0;

constexpr size_t kBounceBytes = 128 * 1024;
constexpr size_t kBouncePages = kBounceBytes / 4096;
constexpr size_t kMaxSegmentsPerCall = 64;

// [linux uapi/linux/fs.h] Block ioctls: _IO(0x12, n) and _IOR(0x12, n, size_t) numbers.
constexpr unsigned kBlkRoGet = 0x125e, kBlkGetSize = 0x1260, kBlkFlushBuffers = 0x1261, kBlkSectorSizeGet = 0x1268,
                   kBlkDiscard = 0x1277, kBlkPhysicalSizeGet = 0x127b, kBlkZeroOut = 0x127f,
                   kBlkGetSize64 = 0x80081272;

// A caller of block_transfer waiting for its requests. It lives on the caller's stack, so a
// completion touches it only before its decrement of `remaining`: the caller may return the
// moment that reaches 0. The thread pointer is read first; an unpark that arrives after the
// caller has moved on is a spurious wake-up for its next park, which every park loop allows.
struct Waiter {
    core::Thread* thread = core::current_thread();
    std::atomic<size_t> remaining{ 0 };
    std::atomic<int> first_error{ 0 };

    void wait()
    {
        while (remaining.load(std::memory_order_acquire) != 0)
            core::park_current_thread();
    }
    lib::Errno error() const { return lib::Errno(first_error.load(std::memory_order_relaxed)); }
};

void on_complete(block::Request& request, lib::Errno status)
{
    auto* waiter = static_cast<Waiter*>(request.context);
    core::Thread* thread = waiter->thread;
    if (status != lib::Errno(0)) {
        int none = 0;
        waiter->first_error.compare_exchange_strong(none, int(status), std::memory_order_relaxed);
    }
    if (waiter->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
        core::unpark_thread(thread); // `waiter` may be gone from here on
}

} // namespace

Result<void> register_block_device(block::Device& device, const char* description)
{
    if (g_device_count == kMaxBlockDevices)
        return Errno::BUSY;
    char name[8];
    lib::format_to(name, sizeof name, "vd%c", char('a' + g_device_count));
    device.set_name(name);
    g_devices[g_device_count++] = &device;
    const block::Geometry& g = device.geometry();
    log_info("%s: %s, %lu MiB (%lu sectors), %u-byte blocks%s%s%s%s", name, description, g.bytes() >> 20,
             g.sectors, g.logical_block_size, g.read_only ? ", read-only" : "", g.flush ? ", flush" : "",
             g.discard ? ", discard" : "", g.write_zeroes ? ", write-zeroes" : "");
    return {};
}

namespace {

// Submits one request (whose sector range and segments the caller set) and waits for it.
Result<void> submit_and_wait(block::Device& device, block::Request& r)
{
    Waiter waiter;
    r.complete = on_complete;
    r.context = &waiter;
    waiter.remaining.store(1, std::memory_order_relaxed);
    device.submit(r);
    waiter.wait();
    if (waiter.error() != lib::Errno(0))
        return waiter.error();
    return {};
}

} // namespace

Result<void> block_transfer(block::Device& device, block::Op op, uint64_t offset, void* buffer, uint64_t bytes)
{
    const block::Geometry& g = device.geometry();
    bool data = op == block::Op::Read || op == block::Op::Write;
    if (op != block::Op::Flush && ((offset | bytes) & (block::kSectorSize - 1)))
        return Errno::INVAL;
    if (!data) {
        block::Request r;
        r.op = op;
        if (op != block::Op::Flush) {
            if (bytes == 0 || (bytes >> block::kSectorShift) > 0xffffffffull)
                return Errno::INVAL;
            r.sector = offset >> block::kSectorShift;
            r.sectors = uint32_t(bytes >> block::kSectorShift);
        }
        return submit_and_wait(device, r);
    }
    if (bytes == 0)
        return {};
    // Requests of at most max_request_bytes, segments of at most max_segment_bytes, all in
    // flight at once (up to kMaxSegmentsPerCall segments in total per round).
    uint64_t phys = core::virt_to_phys(buffer);
    uint64_t per_request = g.max_request_bytes;
    uint64_t per_segment_limit = g.max_segment_bytes;
    if (per_request > uint64_t(g.max_segments) * per_segment_limit)
        per_request = uint64_t(g.max_segments) * per_segment_limit;
    per_request &= ~uint64_t(block::kSectorSize - 1);
    if (bytes <= per_segment_limit && bytes <= per_request) {
        // The common case (a page, a bounce buffer's worth): one request, one segment, without
        // the batch arrays below.
        block::Segment segment{ phys, uint32_t(bytes) };
        block::Request r;
        r.op = op;
        r.sector = offset >> block::kSectorShift;
        r.sectors = uint32_t(bytes >> block::kSectorShift);
        r.segments = &segment;
        r.segment_count = 1;
        return submit_and_wait(device, r);
    }
    Waiter waiter;
    uint64_t done = 0;
    while (done < bytes) {
        block::Request requests[8];
        block::Segment segments[kMaxSegmentsPerCall];
        size_t used_segments = 0, submitted = 0;
        while (done < bytes && submitted < 8) {
            uint64_t chunk = bytes - done < per_request ? bytes - done : per_request;
            size_t first = used_segments;
            uint64_t covered = 0;
            while (covered < chunk && used_segments < kMaxSegmentsPerCall &&
                   used_segments - first < g.max_segments) {
                uint64_t piece = chunk - covered < per_segment_limit ? chunk - covered : per_segment_limit;
                segments[used_segments++] = { phys + done + covered, uint32_t(piece) };
                covered += piece;
            }
            if (covered == 0)
                break;
            covered &= ~uint64_t(block::kSectorSize - 1);
            block::Request& r = requests[submitted++];
            r.op = op;
            r.sector = (offset + done) >> block::kSectorShift;
            r.sectors = uint32_t(covered >> block::kSectorShift);
            r.segments = &segments[first];
            r.segment_count = uint16_t(used_segments - first);
            r.complete = on_complete;
            r.context = &waiter;
            done += covered;
        }
        waiter.remaining.store(submitted, std::memory_order_relaxed);
        for (size_t i = 0; i < submitted; ++i)
            device.submit(requests[i]);
        waiter.wait();
        if (waiter.error() != lib::Errno(0))
            return waiter.error();
    }
    return {};
}

namespace {

// /dev/vdX. Reads and writes go through bounce buffers (kBounceBytes, physically contiguous);
// unaligned pieces are read-modify-written under m_rmw_lock, so two unaligned writes into the
// same logical block do not lose each other's bytes.
class BlockFile final : public fs::Device {
public:
    explicit BlockFile(block::Device& device) : m_device(device) {}

    Result<void> open(unsigned flags) override
    {
        bool writes = (flags & fs::kOpenAccessMode) != fs::kOpenReadOnly;
        if (writes && m_device.geometry().read_only)
            return Errno::ROFS;
        return {};
    }

    bool is_seekable() const override { return true; }
    uint64_t size() const override { return m_device.geometry().bytes(); }
    Result<void> sync() override { return block_transfer(m_device, block::Op::Flush, 0, nullptr, 0); }

    Result<size_t> read(uint64_t offset, fs::IoBuffer& buf, unsigned flags) override
    {
        uint64_t end = size();
        if (flags & fs::kOpenDirect)
            TRY(check_direct(offset, buf.size()));
        if (offset >= end || buf.size() == 0)
            return size_t(0);
        uint64_t length = buf.size() < end - offset ? buf.size() : end - offset;
        return transfer(offset, length, buf, false);
    }

    Result<size_t> write(uint64_t offset, fs::IoBuffer& buf, unsigned flags) override
    {
        if (m_device.geometry().read_only)
            return Errno::ROFS;
        if (flags & fs::kOpenDirect)
            TRY(check_direct(offset, buf.size()));
        uint64_t end = size();
        if (buf.size() == 0)
            return size_t(0);
        if (offset >= end)
            return Errno::NOSPC;
        uint64_t length = buf.size() < end - offset ? buf.size() : end - offset;
        return transfer(offset, length, buf, true);
    }

    Result<long> ioctl(unsigned cmd, uint64_t arg) override
    {
        const block::Geometry& g = m_device.geometry();
        switch (cmd) {
        case kBlkGetSize64:
            TRY(lx::write_app<uint64_t>(arg, g.bytes()));
            return 0L;
        case kBlkGetSize:
            TRY(lx::write_app<uint64_t>(arg, g.sectors));
            return 0L;
        case kBlkSectorSizeGet:
            TRY(lx::write_app<int32_t>(arg, int32_t(g.logical_block_size)));
            return 0L;
        case kBlkPhysicalSizeGet:
            TRY(lx::write_app<uint32_t>(arg, g.physical_block_size));
            return 0L;
        case kBlkRoGet:
            TRY(lx::write_app<int32_t>(arg, g.read_only ? 1 : 0));
            return 0L;
        case kBlkFlushBuffers:
            TRY(sync());
            return 0L;
        case kBlkDiscard:
        case kBlkZeroOut: {
            uint64_t range[2];
            TRY(lx::copy_from_app(range, arg, sizeof range));
            if (g.read_only)
                return Errno::BADF; // Linux: the file must be open for writing; a read-only disk never is
            if ((range[0] | range[1]) & (g.logical_block_size - 1) || range[0] > g.bytes() ||
                range[1] > g.bytes() - range[0])
                return Errno::INVAL;
            if (range[1] == 0)
                return 0L;
            block::Op op = cmd == kBlkDiscard ? block::Op::Discard : block::Op::WriteZeroes;
            if (op == block::Op::WriteZeroes && !g.write_zeroes)
                return zero_out(range[0], range[1]);
            if (op == block::Op::Discard && !g.discard)
                return Errno::NOTSUP; // EOPNOTSUPP: the same number
            TRY(ranged(op, range[0], range[1]));
            return 0L;
        }
        default:
            return Errno::NOTTY;
        }
    }

private:
    Result<void> check_direct(uint64_t offset, uint64_t length) const
    {
        uint32_t block = m_device.geometry().logical_block_size;
        if ((offset | length) & (block - 1))
            return Errno::INVAL;
        return {};
    }

    // Discard / write-zeroes in pieces the device accepts.
    Result<void> ranged(block::Op op, uint64_t offset, uint64_t bytes)
    {
        uint64_t max = m_device.geometry().max_discard_sectors;
        uint64_t step = (max ? max : 0xffffffffull) << block::kSectorShift;
        step &= ~uint64_t(m_device.geometry().logical_block_size - 1);
        for (uint64_t done = 0; done < bytes;) {
            uint64_t n = bytes - done < step ? bytes - done : step;
            TRY(block_transfer(m_device, op, offset + done, nullptr, n));
            done += n;
        }
        return {};
    }

    Result<long> zero_out(uint64_t offset, uint64_t bytes)
    {
        Bounce bounce(*this);
        if (!bounce.data)
            return Errno::NOMEM;
        __builtin_memset(bounce.data, 0, kBounceBytes);
        for (uint64_t done = 0; done < bytes;) {
            uint64_t n = bytes - done < kBounceBytes ? bytes - done : kBounceBytes;
            TRY(block_transfer(m_device, block::Op::Write, offset + done, bounce.data, n));
            done += n;
        }
        return 0L;
    }

    // A bounce buffer for one call, from a small free list (allocated on first use).
    struct Bounce {
        explicit Bounce(BlockFile& file) : owner(file)
        {
            ksync::MutexGuard guard(file.m_bounce_lock);
            if (file.m_bounce_count) {
                data = file.m_bounce[--file.m_bounce_count];
                return;
            }
            data = static_cast<uint8_t*>(core::alloc_contiguous_pages(kBouncePages));
        }
        ~Bounce()
        {
            if (!data)
                return;
            ksync::MutexGuard guard(owner.m_bounce_lock);
            if (owner.m_bounce_count < kKeptBounces)
                owner.m_bounce[owner.m_bounce_count++] = data;
            else
                core::free_contiguous_pages(data, kBouncePages);
        }
        BlockFile& owner;
        uint8_t* data = nullptr;
    };

    // Moves `length` bytes at `offset` (within the disk) between the disk and `buf`.
    Result<size_t> transfer(uint64_t offset, uint64_t length, fs::IoBuffer& buf, bool writing)
    {
        Bounce bounce(*this);
        if (!bounce.data)
            return Errno::NOMEM;
        uint64_t block = m_device.geometry().logical_block_size;
        uint64_t done = 0;
        while (done < length) {
            uint64_t at = offset + done;
            uint64_t head = at & (block - 1);
            uint64_t aligned_at = at - head;
            uint64_t want = length - done;
            uint64_t span = head + want;
            if (span > kBounceBytes)
                span = kBounceBytes;
            uint64_t n = span - head; // bytes of the caller's this round
            uint64_t aligned_span = (span + block - 1) & ~(block - 1);
            bool partial = head != 0 || (span & (block - 1)) != 0;
            Result<void> step;
            if (!writing) {
                step = block_transfer(m_device, block::Op::Read, aligned_at, bounce.data, aligned_span);
                if (!step.is_error())
                    step = buf.copy_out(done, bounce.data + head, n);
            } else if (!partial) {
                step = buf.copy_in(done, bounce.data, n);
                if (!step.is_error())
                    step = block_transfer(m_device, block::Op::Write, aligned_at, bounce.data, aligned_span);
            } else {
                ksync::MutexGuard guard(m_rmw_lock);
                step = block_transfer(m_device, block::Op::Read, aligned_at, bounce.data, aligned_span);
                if (!step.is_error())
                    step = buf.copy_in(done, bounce.data + head, n);
                if (!step.is_error())
                    step = block_transfer(m_device, block::Op::Write, aligned_at, bounce.data, aligned_span);
            }
            if (step.is_error()) {
                if (done)
                    return size_t(done); // a short count; the error comes with the next call
                return step.error();
            }
            done += n;
        }
        return size_t(done);
    }

    static constexpr size_t kKeptBounces = 4;

    block::Device& m_device;
    ksync::Mutex m_rmw_lock;
    ksync::Mutex m_bounce_lock;
    uint8_t* m_bounce[kKeptBounces] = {};
    size_t m_bounce_count = 0;
};

} // namespace

Result<void> publish_block_devices(fs::Vfs& vfs, Result<void> (*make_node)(const char* name, uint64_t rdev))
{
    for (size_t i = 0; i < g_device_count; ++i) {
        uint64_t rdev = fs::make_dev(kVirtioBlockMajor, uint32_t(16 * i));
        fs::Ref<BlockFile> file = TRY(fs::make_ref<BlockFile>(*g_devices[i]));
        TRY(vfs.register_device(fs::block_device_key(rdev), fs::Ref<fs::Device>(std::move(file))));
        TRY(make_node(g_devices[i]->name(), rdev));
    }
    return {};
}

} // namespace drivers
