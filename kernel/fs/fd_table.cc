// The file descriptor table (see fd_table.h).
#include <fs/fd_table.h>

namespace fs {

FdTable::~FdTable() { close_all(); }

bool FdTable::is_open_locked(int fd) const
{
    return fd >= 0 && size_t(fd) < m_slots.size() && m_slots[size_t(fd)].file;
}

Result<int> FdTable::allocate_locked(int min_fd)
{
    int start = min_fd > m_lowest_free ? min_fd : m_lowest_free;
    for (int fd = start; unsigned(fd) < m_limit; fd++) {
        if (size_t(fd) >= m_slots.size()) {
            // Grow: double, at least to this slot, at most to the limit.
            size_t size = m_slots.size() * 2;
            if (size < 16)
                size = 16;
            if (size < size_t(fd) + 1)
                size = size_t(fd) + 1;
            if (size > m_limit)
                size = m_limit;
            TRY(m_slots.resize(size));
        }
        if (!m_slots[size_t(fd)].file) {
            if (min_fd <= m_lowest_free)
                m_lowest_free = fd + 1; // the scan began at the lowest free slot
            return fd;
        }
    }
    return Errno::MFILE;
}

Result<int> FdTable::install(Ref<OpenFile> file, bool close_on_exec, int min_fd)
{
    if (min_fd < 0)
        return Errno::INVAL;
    ksync::MutexGuard guard(m_lock);
    if (unsigned(min_fd) >= m_limit)
        return Errno::INVAL;
    int fd = TRY(allocate_locked(min_fd));
    Slot& slot = m_slots[size_t(fd)];
    slot.file = std::move(file);
    slot.close_on_exec = close_on_exec;
    m_count++;
    return fd;
}

Result<Ref<OpenFile>> FdTable::get(int fd) const
{
    ksync::InlineMutexGuard guard(m_lock); // every system call on a descriptor
    if (!is_open_locked(fd))
        return Errno::BADF;
    return m_slots[size_t(fd)].file;
}

Result<void> FdTable::close(int fd)
{
    Ref<OpenFile> closing; // dropped after the lock (declared before the guard)
    ksync::MutexGuard guard(m_lock);
    if (!is_open_locked(fd))
        return Errno::BADF;
    closing = std::move(m_slots[size_t(fd)].file);
    m_slots[size_t(fd)].close_on_exec = false;
    m_count--;
    if (fd < m_lowest_free)
        m_lowest_free = fd;
    return {};
}

Result<int> FdTable::dup(int fd) { return dup_at_least(fd, 0, false); }

Result<int> FdTable::dup_at_least(int fd, int min_fd, bool close_on_exec)
{
    if (min_fd < 0)
        return Errno::INVAL;
    ksync::MutexGuard guard(m_lock);
    if (!is_open_locked(fd))
        return Errno::BADF;
    if (unsigned(min_fd) >= m_limit)
        return Errno::INVAL;
    int new_fd = TRY(allocate_locked(min_fd));
    Slot& slot = m_slots[size_t(new_fd)];
    slot.file = m_slots[size_t(fd)].file;
    slot.close_on_exec = close_on_exec;
    m_count++;
    return new_fd;
}

Result<int> FdTable::dup2(int old_fd, int new_fd)
{
    if (old_fd == new_fd) {
        ksync::MutexGuard guard(m_lock);
        if (!is_open_locked(old_fd))
            return Errno::BADF;
        return new_fd;
    }
    return dup3(old_fd, new_fd, 0);
}

Result<int> FdTable::dup3(int old_fd, int new_fd, unsigned flags)
{
    if (flags & ~kOpenCloseOnExec)
        return Errno::INVAL;
    if (old_fd == new_fd)
        return Errno::INVAL;
    Ref<OpenFile> replaced; // dropped after the lock
    ksync::MutexGuard guard(m_lock);
    if (!is_open_locked(old_fd))
        return Errno::BADF;
    if (new_fd < 0 || unsigned(new_fd) >= m_limit)
        return Errno::BADF;
    if (size_t(new_fd) >= m_slots.size()) {
        size_t size = m_slots.size() * 2;
        if (size < size_t(new_fd) + 1)
            size = size_t(new_fd) + 1;
        if (size > m_limit)
            size = m_limit;
        TRY(m_slots.resize(size));
    }
    Slot& slot = m_slots[size_t(new_fd)];
    replaced = std::move(slot.file);
    if (!replaced)
        m_count++;
    slot.file = m_slots[size_t(old_fd)].file;
    slot.close_on_exec = flags & kOpenCloseOnExec;
    if (new_fd == m_lowest_free)
        m_lowest_free = new_fd + 1;
    return new_fd;
}

Result<unsigned> FdTable::fd_flags(int fd) const
{
    ksync::MutexGuard guard(m_lock);
    if (!is_open_locked(fd))
        return Errno::BADF;
    return m_slots[size_t(fd)].close_on_exec ? kFdCloseOnExec : 0u;
}

Result<void> FdTable::set_fd_flags(int fd, unsigned flags)
{
    ksync::MutexGuard guard(m_lock);
    if (!is_open_locked(fd))
        return Errno::BADF;
    m_slots[size_t(fd)].close_on_exec = flags & kFdCloseOnExec;
    return {};
}

unsigned FdTable::limit() const
{
    ksync::MutexGuard guard(m_lock);
    return m_limit;
}

Result<void> FdTable::set_limit(unsigned limit)
{
    if (limit > kMaxLimit)
        return Errno::INVAL;
    ksync::MutexGuard guard(m_lock);
    m_limit = limit;
    return {};
}

size_t FdTable::count() const
{
    ksync::MutexGuard guard(m_lock);
    return m_count;
}

void FdTable::close_all()
{
    Vector<Slot> closing; // dropped after the lock
    ksync::MutexGuard guard(m_lock);
    m_slots.swap(closing);
    m_count = 0;
    m_lowest_free = 0;
}

} // namespace fs
