// The registry of file memory objects (see file_mapping.h).
#include <core/memory.h>
#include <fs/path.h>
#include <lib/string.h>
#include <lx/file_mapping.h>
#include <lx/files.h>
#include <lx/lx.h>
#include <new>
#include <sync/mutex.h>

namespace lx {
namespace {

class FileObject;

// Every live FileObject, to find the one of a file. A list: a program maps a few dozen files.
constinit ksync::Mutex g_objects_lock;
FileObject* g_objects TA_GUARDED(g_objects_lock) = nullptr;

class FileObject final : public mm::MemoryObject {
public:
    FileObject(const fs::Location& location, const char* path, size_t length) : m_location(location)
    {
        m_path_length = length < sizeof(m_path) - 1 ? length : sizeof(m_path) - 1;
        lib::mem_copy(m_path, path, m_path_length);
        m_path[m_path_length] = 0;
    }

    lib::Result<uint64_t> page(uint64_t offset, bool) override
    {
        // Writability is the VMA's business (max_prot follows the open file's mode).
        fs::PageHandle h = TRY(m_location.vnode->page_for_mmap(offset));
        return h.phys;
    }

    void acquire() override { m_refs.fetch_add(1, std::memory_order_relaxed); }

    void release() override
    {
        {
            // The count reaches zero only under the lock, so a lookup that finds the object
            // (under the same lock) never revives a dying one.
            ksync::MutexGuard guard(g_objects_lock);
            if (m_refs.fetch_sub(1, std::memory_order_acq_rel) != 1)
                return;
            unlink_locked();
        }
        delete this;
    }

    bool is_file(const fs::Vnode& v) const { return &v.fs() == &vnode().fs() && v.ino() == vnode().ino(); }
    const fs::Vnode& vnode() const { return *m_location.vnode; }

    // Registry links, under g_objects_lock.
    FileObject* next = nullptr;
    FileObject** prev = nullptr;

    // What /proc/self/maps shows: the path the file was first mapped through (cut short past
    // the buffer).
    lib::StringView path() const { return { m_path, m_path_length }; }

private:
    void unlink_locked()
    {
        *prev = next;
        if (next)
            next->prev = prev;
    }

    fs::Location m_location;
    char m_path[128];
    size_t m_path_length = 0;
    std::atomic<uint32_t> m_refs{1};
};

FileObject* find_locked(const fs::Vnode& v) TA_REQ(g_objects_lock)
{
    for (FileObject* o = g_objects; o; o = o->next)
        if (o->is_file(v))
            return o;
    return nullptr;
}

// The path `file` was opened through (computed outside every lock), or "" when unknown.
size_t path_of(const fs::OpenFile& file, char* buf, size_t size)
{
    const fs::Location* parent = nullptr;
    lib::StringView name;
    auto ctx = path_context(kAtFdcwd, true);
    if (ctx.is_error() || !file.opened_as(parent, name) || name.size() + 2 > size)
        return 0;
    auto got = fs::get_path(ctx.value(), *parent, buf, size - name.size() - 2);
    if (got.is_error())
        return 0;
    size_t n = got.value();
    if (n == 0 || buf[n - 1] != '/')
        buf[n++] = '/';
    lib::mem_copy(buf + n, name.data(), name.size());
    return n + name.size();
}

} // namespace

lib::Result<mm::MemoryObject*> file_object(const fs::OpenFile& file)
{
    if (!file.location())
        return lib::Errno::NOTSUP;
    const fs::Location& location = *file.location();
    // Mappability is the filesystem's, the same for every page: probe the first.
    if (auto probe = location.vnode->find_page(0); probe.is_error() && probe.error() == lib::Errno::NOTSUP)
        return lib::Errno::NOTSUP;
    {
        ksync::MutexGuard guard(g_objects_lock);
        if (FileObject* o = find_locked(*location.vnode)) {
            o->acquire();
            return static_cast<mm::MemoryObject*>(o);
        }
    }
    char path[128];
    size_t length = path_of(file, path, sizeof(path));
    auto* created = new (std::nothrow) FileObject(location, path, length);
    if (!created)
        return lib::Errno::NOMEM;
    FileObject* existing;
    {
        ksync::MutexGuard guard(g_objects_lock);
        existing = find_locked(*location.vnode);
        if (existing) {
            existing->acquire(); // another thread mapped the file meanwhile
        } else {
            created->next = g_objects;
            created->prev = &g_objects;
            if (g_objects)
                g_objects->prev = &created->next;
            g_objects = created;
        }
    }
    if (existing) {
        delete created; // outside the registry lock: freeing takes the memory lock
        return static_cast<mm::MemoryObject*>(existing);
    }
    return static_cast<mm::MemoryObject*>(created);
}

size_t file_object_name(const mm::MemoryObject* object, char* path, size_t size, uint64_t& ino)
{
    ksync::MutexGuard guard(g_objects_lock);
    for (FileObject* o = g_objects; o; o = o->next) {
        if (o != object)
            continue;
        lib::StringView name = o->path();
        size_t n = name.size() < size ? name.size() : (size ? size - 1 : 0);
        lib::mem_copy(path, name.data(), n);
        if (size)
            path[n] = 0;
        ino = o->vnode().ino();
        return n;
    }
    return 0;
}

void revoke_file_mappings(const fs::Vnode& file, uint64_t from_offset)
{
    FileObject* o;
    {
        ksync::MutexGuard guard(g_objects_lock);
        o = find_locked(file);
        if (!o)
            return; // never mapped
        o->acquire();
    }
    core::revoke_object_pages(*o, from_offset);
    o->release();
}

} // namespace lx
