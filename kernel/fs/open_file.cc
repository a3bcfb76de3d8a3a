// Open file descriptions: access checks, offsets, getdents64 records (see open_file.h).
#include <fs/open_file.h>

#include <lib/string.h>

namespace fs {

// ---- OpenFile: access checks around the subclass's operations --------------------------

bool OpenFile::can_read() const
{
    unsigned f = flags();
    return !(f & kOpenPath) && ((f & kOpenAccessMode) == kOpenReadOnly || (f & kOpenAccessMode) == kOpenReadWrite);
}

bool OpenFile::can_write() const
{
    unsigned f = flags();
    return !(f & kOpenPath) && ((f & kOpenAccessMode) == kOpenWriteOnly || (f & kOpenAccessMode) == kOpenReadWrite);
}

void OpenFile::set_status_flags(unsigned flags)
{
    unsigned old = m_flags.load(std::memory_order_relaxed);
    // relaxed: see open_file.h; the CAS only keeps concurrent F_SETFLs from mixing.
    while (!m_flags.compare_exchange_weak(old, (old & ~kOpenSettableFlags) | (flags & kOpenSettableFlags),
                                          std::memory_order_relaxed)) {
    }
}

Result<size_t> OpenFile::read(IoBuffer& buf)
{
    if (!can_read())
        return Errno::BADF;
    return do_read(buf);
}

Result<size_t> OpenFile::write(IoBuffer& buf)
{
    if (!can_write())
        return Errno::BADF;
    return do_write(buf);
}

Result<size_t> OpenFile::pread(int64_t offset, IoBuffer& buf)
{
    if (!can_read())
        return Errno::BADF;
    if (offset < 0)
        return Errno::INVAL;
    return do_pread(uint64_t(offset), buf);
}

Result<size_t> OpenFile::pwrite(int64_t offset, IoBuffer& buf)
{
    if (!can_write())
        return Errno::BADF;
    if (offset < 0)
        return Errno::INVAL;
    return do_pwrite(uint64_t(offset), buf);
}

Result<uint64_t> OpenFile::seek(int64_t offset, int whence)
{
    if (is_path_only())
        return Errno::BADF;
    return do_seek(offset, whence);
}

Result<size_t> OpenFile::getdents(IoBuffer& buf)
{
    if (is_path_only())
        return Errno::BADF;
    return do_getdents(buf);
}

Result<long> OpenFile::ioctl(unsigned cmd, uint64_t arg)
{
    if (is_path_only())
        return Errno::BADF;
    return do_ioctl(cmd, arg);
}

uint32_t OpenFile::poll_events()
{
    if (is_path_only())
        return kPollNval;
    return do_poll_events();
}

Result<Attr> OpenFile::getattr() { return do_getattr(); }

Result<void> OpenFile::truncate(uint64_t length)
{
    if (is_path_only())
        return Errno::BADF;
    if (!can_write())
        return Errno::INVAL;
    if (length > kMaxOffset)
        return Errno::INVAL;
    return do_truncate(length);
}

Result<void> OpenFile::fsync()
{
    if (is_path_only())
        return Errno::BADF;
    return do_fsync();
}

Result<PageHandle> OpenFile::page_for_mmap(uint64_t offset)
{
    if (is_path_only())
        return Errno::BADF;
    if (!can_read())
        return Errno::ACCES;
    return do_page_for_mmap(offset);
}

Result<size_t> OpenFile::do_read(IoBuffer&) { return Errno::INVAL; }
Result<size_t> OpenFile::do_write(IoBuffer&) { return Errno::INVAL; }
Result<size_t> OpenFile::do_pread(uint64_t, IoBuffer&) { return Errno::SPIPE; }
Result<size_t> OpenFile::do_pwrite(uint64_t, IoBuffer&) { return Errno::SPIPE; }
Result<uint64_t> OpenFile::do_seek(int64_t, int) { return Errno::SPIPE; }
Result<size_t> OpenFile::do_getdents(IoBuffer&) { return Errno::NOTDIR; }
Result<long> OpenFile::do_ioctl(unsigned, uint64_t) { return Errno::NOTTY; }
uint32_t OpenFile::do_poll_events() { return kPollIn | kPollOut | kPollRdNorm | kPollWrNorm; }
Result<void> OpenFile::do_truncate(uint64_t) { return Errno::INVAL; }
Result<void> OpenFile::do_fsync() { return Errno::INVAL; }
Result<PageHandle> OpenFile::do_page_for_mmap(uint64_t) { return Errno::NODEV; }

// ---- VnodeFile ---------------------------------------------------------------------------

namespace {

// The new offset for lseek, given the current offset and (for SEEK_END/DATA/HOLE) the size.
Result<uint64_t> seek_target(uint64_t current, uint64_t size, int64_t offset, int whence)
{
    uint64_t base;
    switch (whence) {
    case kSeekSet:
        base = 0;
        break;
    case kSeekCur:
        base = current;
        break;
    case kSeekEnd:
        base = size;
        break;
    case kSeekData:
    case kSeekHole:
        // The whole file counts as data (allowed by POSIX): data is where you are, the
        // first hole is the end.
        if (offset < 0)
            return Errno::INVAL;
        if (uint64_t(offset) >= size)
            return Errno::NXIO;
        return whence == kSeekData ? uint64_t(offset) : size;
    default:
        return Errno::INVAL;
    }
    if (offset < 0) {
        if (uint64_t(-(offset + 1)) + 1 > base)
            return Errno::INVAL;
        return base - (uint64_t(-(offset + 1)) + 1);
    }
    if (uint64_t(offset) > kMaxOffset - (base > kMaxOffset ? kMaxOffset : base))
        return Errno::OVERFLOW;
    return base + uint64_t(offset);
}

// linux_dirent64 [man 2 getdents64]: d_ino, d_off, d_reclen, d_type, then the name and its
// NUL, the record padded to 8 bytes.
constexpr size_t kDirentHeader = 19;

constexpr size_t dirent_size(size_t name_length) { return (kDirentHeader + name_length + 1 + 7) & ~size_t(7); }

// Writes records for getdents into an IoBuffer. Positions: 0 is ".", 1 is "..", and the
// filesystem's cookie c is position c + 2.
class DirentWriter final : public DirSink {
public:
    explicit DirentWriter(IoBuffer& buf) : m_buf(buf) {}

    bool emit(uint64_t ino, DirentType type, lib::StringView name, uint64_t next_cookie) override
    {
        return put(ino, type, name, next_cookie + 2);
    }

    // One record ending at position `next`; false (nothing written) if it does not fit or
    // the copy faulted.
    bool put(uint64_t ino, DirentType type, lib::StringView name, uint64_t next)
    {
        if (m_error)
            return false;
        size_t size = dirent_size(name.size());
        if (size > m_buf.size() - m_written) {
            m_full = true;
            return false;
        }
        uint8_t record[dirent_size(kNameMax)] = {};
        int64_t off = int64_t(next);
        uint16_t reclen = uint16_t(size);
        lib::mem_copy(record, &ino, 8);
        lib::mem_copy(record + 8, &off, 8);
        lib::mem_copy(record + 16, &reclen, 2);
        record[18] = uint8_t(type);
        lib::mem_copy(record + kDirentHeader, name.data(), name.size());
        if (m_buf.copy_out(m_written, record, size).is_error()) {
            m_error = true;
            return false;
        }
        m_written += size;
        m_position = next;
        return true;
    }

    size_t written() const { return m_written; }
    bool stopped() const { return m_full || m_error; }
    bool full() const { return m_full; }
    bool faulted() const { return m_error; }
    uint64_t position() const { return m_position; }
    void set_position(uint64_t p) { m_position = p; }

private:
    IoBuffer& m_buf;
    size_t m_written = 0;
    uint64_t m_position = 0;
    bool m_full = false;
    bool m_error = false;
};

} // namespace

Result<Ref<VnodeFile>> VnodeFile::create(Location location, unsigned flags, Ref<Device> device)
{
    return make_ref<VnodeFile>(std::move(location), flags, std::move(device));
}

VnodeFile::VnodeFile(Location location, unsigned flags, Ref<Device> device)
    : OpenFile(flags), m_location(std::move(location)), m_device(std::move(device))
{
}

void VnodeFile::set_opened_as(const Location& parent, lib::StringView name)
{
    if (name.size() > kNameMax)
        return;
    m_parent = parent;
    lib::mem_copy(m_name, name.data(), name.size());
    m_name_length = name.size();
}

bool VnodeFile::opened_as(const Location*& parent, lib::StringView& name) const
{
    if (!m_parent.is_valid() || !m_name_length)
        return false;
    parent = &m_parent;
    name = { m_name, m_name_length };
    return true;
}

Result<size_t> VnodeFile::do_read(IoBuffer& buf)
{
    if (m_device && m_device->is_seekable()) {
        ksync::MutexGuard guard(m_offset_lock);
        size_t n = TRY(m_device->read(m_offset, buf, flags()));
        m_offset += n;
        return n;
    }
    if (m_device)
        return m_device->read(0, buf, flags());
    ksync::MutexGuard guard(m_offset_lock);
    size_t n = TRY(vnode().read(m_offset, buf));
    m_offset += n;
    return n;
}

Result<size_t> VnodeFile::do_write(IoBuffer& buf)
{
    if (m_device && m_device->is_seekable()) {
        ksync::MutexGuard guard(m_offset_lock);
        size_t n = TRY(m_device->write(m_offset, buf, flags()));
        m_offset += n;
        return n;
    }
    if (m_device)
        return m_device->write(0, buf, flags());
    if (m_location.mount->is_read_only())
        return Errno::ROFS;
    ksync::MutexGuard guard(m_offset_lock);
    uint64_t offset = m_offset;
    size_t n = TRY(vnode().write(offset, buf, flags() & kOpenAppend));
    m_offset = offset;
    return n;
}

Result<size_t> VnodeFile::do_pread(uint64_t offset, IoBuffer& buf)
{
    if (m_device)
        return m_device->read(offset, buf, flags());
    return vnode().read(offset, buf);
}

Result<size_t> VnodeFile::do_pwrite(uint64_t offset, IoBuffer& buf)
{
    if (m_device)
        return m_device->write(offset, buf, flags());
    if (m_location.mount->is_read_only())
        return Errno::ROFS;
    return vnode().write(offset, buf, flags() & kOpenAppend);
}

Result<uint64_t> VnodeFile::do_seek(int64_t offset, int whence)
{
    if (m_device && m_device->is_seekable()) {
        if (whence != kSeekSet && whence != kSeekCur && whence != kSeekEnd)
            return Errno::INVAL;
        ksync::MutexGuard guard(m_offset_lock);
        m_offset = TRY(seek_target(m_offset, m_device->size(), offset, whence));
        return m_offset;
    }
    if (m_device)
        return uint64_t(0); // a stream with nothing to seek: Linux's /dev/null answers 0
    ksync::MutexGuard guard(m_offset_lock);
    uint64_t target;
    if (vnode().is_directory()) {
        // Positions are cookies (telldir/seekdir); there is no end to seek from.
        if (whence != kSeekSet && whence != kSeekCur)
            return Errno::INVAL;
        target = TRY(seek_target(m_offset, 0, offset, whence));
    } else {
        Attr attr = TRY(vnode().getattr());
        target = TRY(seek_target(m_offset, attr.size, offset, whence));
    }
    m_offset = target;
    return target;
}

Result<size_t> VnodeFile::do_getdents(IoBuffer& buf)
{
    if (!vnode().is_directory())
        return Errno::NOTDIR;
    ksync::MutexGuard guard(m_offset_lock);
    return getdents_locked(buf);
}

Result<size_t> VnodeFile::getdents_locked(IoBuffer& buf)
{
    DirentWriter writer(buf);
    uint64_t position = m_offset;
    writer.set_position(position);
    if (position == 0)
        writer.put(vnode().ino(), DirentType::Directory, ".", 1);
    if (position <= 1 && !writer.stopped()) {
        // The filesystem's parent (d_ino of ".." is not mount-crossed, as on Linux); a
        // removed directory has none and reports itself.
        auto parent = vnode().lookup("..");
        uint64_t ino = parent.is_error() ? vnode().ino() : parent.value()->ino();
        writer.put(ino, DirentType::Directory, "..", 2);
    }
    if (!writer.stopped()) {
        uint64_t cookie = position >= 2 ? position - 2 : 0;
        auto listed = vnode().readdir(cookie, writer);
        if (listed.is_error() && writer.written() == 0)
            return listed.error();
    }
    m_offset = writer.position();
    if (writer.written() == 0) {
        if (writer.faulted())
            return Errno::FAULT;
        if (writer.full())
            return Errno::INVAL; // not even one record fits
    }
    return writer.written();
}

Result<long> VnodeFile::do_ioctl(unsigned cmd, uint64_t arg)
{
    if (m_device)
        return m_device->ioctl(cmd, arg);
    return Errno::NOTTY;
}

ReadinessWatch*& VnodeFile::readiness_watches()
{
    if (m_device)
        if (ReadinessWatch** shared = m_device->readiness_watches())
            return *shared;
    return OpenFile::readiness_watches();
}

uint32_t VnodeFile::do_poll_events()
{
    if (m_device)
        return m_device->poll_events();
    return OpenFile::do_poll_events();
}

Result<Attr> VnodeFile::do_getattr() { return vnode().getattr(); }

Result<void> VnodeFile::do_truncate(uint64_t length)
{
    if (!vnode().is_regular())
        return Errno::INVAL;
    if (m_location.mount->is_read_only())
        return Errno::ROFS;
    SetAttr req;
    req.mask = SetAttr::kSize;
    req.size = length;
    return vnode().setattr(req);
}

Result<void> VnodeFile::do_fsync()
{
    if (m_device)
        return m_device->sync();
    return vnode().fsync();
}

Result<PageHandle> VnodeFile::do_page_for_mmap(uint64_t offset)
{
    if (!vnode().is_regular())
        return Errno::NODEV;
    return vnode().page_for_mmap(offset);
}

} // namespace fs
