// pipe2 and eventfd2: in-kernel files for talking between threads (and to the program itself,
// as the Go runtime's poller does). Both are fs::OpenFile subclasses held by descriptors.
//
// A pipe is a 64 KiB ring under a sleeping mutex, shared by its read and write ends; readers
// and writers wait for each other through the readiness notifier (poll.h), which every change
// signals; epoll watches hear only what their end gained (a write: input for the read end; a
// read that makes room: output for the write end; a close: everything). Writes of up to
// PIPE_BUF (4096) bytes are atomic. Reading with no writers left is end of file; writing with
// no readers is EPIPE and SIGPIPE. A wait cut short by a signal returns kRestartSys
// (signal.h): EINTR, or the call runs again after an SA_RESTART handler; a write that moved
// some bytes returns their count instead.
#include <core/clock.h>
#include <fs/open_file.h>
#include <lx/files.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <new>
#include <sync/mutex.h>

namespace lx {
namespace {

constexpr size_t kPipeSize = 64 * 1024;
constexpr size_t kPipeBuf = 4096;
constexpr int kSigPipe = 13;
constexpr int32_t kSiUser = 0;

struct PipeBuffer : fs::RefCounted<PipeBuffer> {
    ksync::Mutex lock;
    uint8_t* data = nullptr;
    size_t head TA_GUARDED(lock) = 0; // next byte to read
    size_t used TA_GUARDED(lock) = 0;
    uint32_t readers TA_GUARDED(lock) = 0;
    uint32_t writers TA_GUARDED(lock) = 0;
    fs::OpenFile* ends[2] TA_GUARDED(lock) = {}; // the read end, the write end (while open)
    uint64_t ino = 0;
    ~PipeBuffer() { delete[] data; }
};

std::atomic<uint64_t> g_next_pipe_ino { 1 };

fs::Attr stream_attr(uint64_t ino, uint32_t type_bits)
{
    fs::Attr a;
    a.ino = ino;
    a.mode = type_bits | 0600;
    a.nlink = 1;
    a.blksize = 4096;
    return a;
}

class PipeEnd final : public fs::OpenFile {
public:
    PipeEnd(fs::Ref<PipeBuffer> pipe, bool write_end, unsigned flags)
        : fs::OpenFile(flags), m_pipe(pipe), m_write_end(write_end)
    {
        ksync::MutexGuard guard(m_pipe->lock);
        (write_end ? m_pipe->writers : m_pipe->readers)++;
        m_pipe->ends[write_end] = this;
    }
    ~PipeEnd() override
    {
        ksync::MutexGuard guard(m_pipe->lock);
        (m_write_end ? m_pipe->writers : m_pipe->readers)--;
        m_pipe->ends[m_write_end] = nullptr;
        // The other end hangs up (POLLHUP) or fails (POLLERR).
        run_watches_locked(!m_write_end, kReadinessAll);
        readiness_changed();
    }

    bool notifies_readiness() const override { return true; }

protected:
    lib::Result<size_t> do_read(fs::IoBuffer& buf) override
    {
        if (buf.size() == 0)
            return size_t(0);
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(m_pipe->lock);
                if (m_pipe->used) {
                    bool was_writable = kPipeSize - m_pipe->used >= kPipeBuf;
                    size_t n = buf.size() < m_pipe->used ? buf.size() : m_pipe->used;
                    size_t first = n < kPipeSize - m_pipe->head ? n : kPipeSize - m_pipe->head;
                    TRY(buf.copy_out(0, m_pipe->data + m_pipe->head, first));
                    if (n > first)
                        TRY(buf.copy_out(first, m_pipe->data, n - first));
                    m_pipe->head = (m_pipe->head + n) % kPipeSize;
                    m_pipe->used -= n;
                    // Room for the writer, if it had too little: as Linux, which wakes the
                    // write side only when the pipe was full. The reader's own readiness only
                    // shrank (no edge for it).
                    if (!was_writable)
                        run_watches_locked(true, kReadinessOut);
                    readiness_changed(); // a blocked writer may go on with less than PIPE_BUF
                    return n;
                }
                if (m_pipe->writers == 0)
                    return size_t(0);
            }
            if (flags() & fs::kOpenNonBlock)
                return lib::Errno::AGAIN;
            if (!wait_readiness(epoch, ~uint64_t(0)))
                return kRestartSys;
        }
    }

    lib::Result<size_t> do_write(fs::IoBuffer& buf) override
    {
        size_t done = 0, total = buf.size();
        while (done < total || total == 0) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(m_pipe->lock);
                if (m_pipe->readers == 0) {
                    send_signal(current_app_thread(), kSigPipe, kSiUser, 0, kPid);
                    return done ? lib::Result<size_t>(done) : lib::Result<size_t>(lib::Errno::PIPE);
                }
                if (total == 0)
                    return size_t(0);
                size_t room = kPipeSize - m_pipe->used;
                size_t want = total - done;
                // Up to PIPE_BUF bytes go in at once or not at all.
                if (room && (want > kPipeBuf || room >= want)) {
                    size_t n = want < room ? want : room;
                    size_t tail = (m_pipe->head + m_pipe->used) % kPipeSize;
                    size_t first = n < kPipeSize - tail ? n : kPipeSize - tail;
                    TRY(buf.copy_in(done, m_pipe->data + tail, first));
                    if (n > first)
                        TRY(buf.copy_in(done + first, m_pipe->data, n - first));
                    m_pipe->used += n;
                    done += n;
                    // Data for the reader (every write is an edge, even into a readable pipe,
                    // as on Linux); the writer's readiness only shrank.
                    run_watches_locked(false, kReadinessIn);
                    readiness_changed();
                    continue;
                }
            }
            if (flags() & fs::kOpenNonBlock)
                return done ? lib::Result<size_t>(done) : lib::Result<size_t>(lib::Errno::AGAIN);
            if (!wait_readiness(epoch, ~uint64_t(0)))
                return done ? lib::Result<size_t>(done) : lib::Result<size_t>(kRestartSys);
        }
        return done;
    }

    uint32_t do_poll_events() override
    {
        ksync::MutexGuard guard(m_pipe->lock);
        uint32_t ev = 0;
        if (m_write_end) {
            if (m_pipe->readers == 0)
                ev |= fs::kPollErr;
            else if (kPipeSize - m_pipe->used >= kPipeBuf)
                ev |= fs::kPollOut | fs::kPollWrNorm;
        } else {
            if (m_pipe->used)
                ev |= fs::kPollIn | fs::kPollRdNorm;
            if (m_pipe->writers == 0)
                ev |= fs::kPollHup;
        }
        return ev;
    }

    lib::Result<fs::Attr> do_getattr() override { return stream_attr(m_pipe->ino, 0010000 /* S_IFIFO */); }

private:
    // End `write_end` (if open) may have gained the readiness in `events`: its watches run,
    // under the pipe lock, which keeps the end alive. The caller then wakes the waiters
    // (readiness_changed()), whose wait is process-wide.
    void run_watches_locked(bool write_end, uint32_t events) TA_REQ(m_pipe->lock)
    {
        if (fs::OpenFile* end = m_pipe->ends[write_end])
            run_readiness_watches(*end, events);
    }

    fs::Ref<PipeBuffer> m_pipe;
    bool m_write_end;
};

class EventFile final : public fs::OpenFile {
public:
    EventFile(uint64_t initial, bool semaphore, unsigned flags)
        : fs::OpenFile(flags), m_count(initial), m_semaphore(semaphore), m_ino(g_next_pipe_ino.fetch_add(1))
    {
    }

    bool notifies_readiness() const override { return true; }

protected:
    lib::Result<size_t> do_read(fs::IoBuffer& buf) override
    {
        if (buf.size() < 8)
            return lib::Errno::INVAL;
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(m_lock);
                if (m_count) {
                    uint64_t value = m_semaphore ? 1 : m_count;
                    TRY(buf.copy_out(0, &value, 8));
                    m_count -= value;
                    readiness_changed(*this, kReadinessOut); // room for a blocked write (Linux: EPOLLOUT)
                    return size_t(8);
                }
            }
            if (flags() & fs::kOpenNonBlock)
                return lib::Errno::AGAIN;
            if (!wait_readiness(epoch, ~uint64_t(0)))
                return kRestartSys;
        }
    }

    lib::Result<size_t> do_write(fs::IoBuffer& buf) override
    {
        if (buf.size() < 8)
            return lib::Errno::INVAL;
        uint64_t value;
        TRY(buf.copy_in(0, &value, 8));
        if (value == ~uint64_t(0))
            return lib::Errno::INVAL;
        for (;;) {
            uint64_t epoch = readiness_epoch();
            {
                ksync::MutexGuard guard(m_lock);
                if (m_count <= ~uint64_t(0) - 1 - value) {
                    m_count += value;
                    readiness_changed(*this, kReadinessIn); // a count to read (Linux: EPOLLIN)
                    return size_t(8);
                }
            }
            if (flags() & fs::kOpenNonBlock)
                return lib::Errno::AGAIN;
            if (!wait_readiness(epoch, ~uint64_t(0)))
                return kRestartSys;
        }
    }

    uint32_t do_poll_events() override
    {
        ksync::MutexGuard guard(m_lock);
        uint32_t ev = 0;
        if (m_count)
            ev |= fs::kPollIn | fs::kPollRdNorm;
        if (m_count < ~uint64_t(0) - 1)
            ev |= fs::kPollOut | fs::kPollWrNorm;
        return ev;
    }

    lib::Result<fs::Attr> do_getattr() override { return stream_attr(m_ino, 0); }

private:
    ksync::Mutex m_lock;
    uint64_t m_count TA_GUARDED(m_lock);
    bool m_semaphore;
    uint64_t m_ino;
};

constexpr unsigned kCloexec = 02000000, kNonblock = 04000, kDirect = 040000;

} // namespace

int64_t sys_pipe2(const Args& a)
{
    unsigned flags = unsigned(a.u(1));
    if (flags & ~(kCloexec | kNonblock | kDirect))
        return err(Errno::INVAL);
    auto buffer = fs::make_ref<PipeBuffer>();
    if (buffer.is_error())
        return err(Errno::NFILE);
    buffer.value()->data = new (std::nothrow) uint8_t[kPipeSize];
    buffer.value()->ino = g_next_pipe_ino.fetch_add(1);
    if (!buffer.value()->data)
        return err(Errno::NFILE);
    unsigned status = flags & kNonblock;
    auto reader = fs::make_ref<PipeEnd>(buffer.value(), false, fs::kOpenReadOnly | status);
    auto writer = fs::make_ref<PipeEnd>(buffer.value(), true, fs::kOpenWriteOnly | status);
    if (reader.is_error() || writer.is_error())
        return err(Errno::NFILE);
    auto rfd = fd_table().install(fs::Ref<fs::OpenFile>(reader.value()), flags & kCloexec);
    if (rfd.is_error())
        return err(rfd.error());
    auto wfd = fd_table().install(fs::Ref<fs::OpenFile>(writer.value()), flags & kCloexec);
    if (wfd.is_error()) {
        (void)fd_table().close(rfd.value());
        return err(wfd.error());
    }
    int32_t fds[2] = { rfd.value(), wfd.value() };
    if (auto r = copy_to_app(a.u(0), fds, sizeof(fds)); r.is_error()) {
        (void)fd_table().close(rfd.value());
        (void)fd_table().close(wfd.value());
        return err(r.error());
    }
    return 0;
}

int64_t sys_pipe(const Args& a) { return sys_pipe2({ { a.u(0), 0, 0, 0, 0, 0 }, a.frame }); }

int64_t sys_eventfd2(const Args& a)
{
    constexpr unsigned kSemaphore = 1;
    unsigned flags = unsigned(a.u(1));
    if (flags & ~(kCloexec | kNonblock | kSemaphore))
        return err(Errno::INVAL);
    auto file = fs::make_ref<EventFile>(uint64_t(uint32_t(a.u(0))), flags & kSemaphore,
                                        fs::kOpenReadWrite | (flags & kNonblock));
    if (file.is_error())
        return err(Errno::NFILE);
    return ret(fd_table().install(fs::Ref<fs::OpenFile>(file.value()), flags & kCloexec));
}

int64_t sys_eventfd(const Args& a) { return sys_eventfd2({ { a.u(0), 0, 0, 0, 0, 0 }, a.frame }); }

} // namespace lx
