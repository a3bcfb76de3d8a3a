// Path resolution and get_path (see path.h for the rules).
//
// The walk keeps the unresolved rest of the path as a view. Following a symlink replaces the
// view with "target + what followed the link" built in one of two heap buffers of kPathMax
// bytes, allocated at the first symlink of a walk (kernel stacks are small) and used in turn:
// the new text is built in the buffer the current view does not point into.
#include <fs/path.h>

#include <lib/assert.h>
#include <lib/string.h>

#include <new>

namespace fs {

namespace {

bool is_dot(lib::StringView s) { return s.size() == 1 && s[0] == '.'; }
bool is_dotdot(lib::StringView s) { return s.size() == 2 && s[0] == '.' && s[1] == '.'; }

lib::StringView skip_slashes(lib::StringView s)
{
    size_t i = 0;
    while (i < s.size() && s[i] == '/')
        i++;
    return s.substr(i);
}

void set_name(Resolved& out, lib::StringView name)
{
    lib::mem_copy(out.name, name.data(), name.size());
    out.name[name.size()] = '\0';
    out.name_length = name.size();
}

class Walker {
public:
    explicit Walker(const PathContext& ctx) : m_ctx(ctx) {}
    ~Walker() { delete[] m_buffers; }
    Walker(const Walker&) = delete;
    Walker& operator=(const Walker&) = delete;

    Result<void> walk(lib::StringView path, unsigned flags, Resolved& out);

private:
    // The text of `link`'s target followed by `after`, in a buffer `after` does not live in.
    Result<lib::StringView> expand(Vnode& link, lib::StringView after);

    const PathContext& m_ctx;
    char* m_buffers = nullptr; // 2 × kPathMax
    int m_active = -1;         // which buffer the rest of the path is in (-1: the caller's)
    unsigned m_links = 0;
};

Result<lib::StringView> Walker::expand(Vnode& link, lib::StringView after)
{
    if (++m_links > kSymlinkMax)
        return Errno::LOOP;
    if (!m_buffers) {
        m_buffers = new (std::nothrow) char[2 * kPathMax];
        if (!m_buffers)
            return Errno::NOMEM;
    }
    int target_buffer = m_active == 0 ? 1 : 0;
    char* buf = m_buffers + target_buffer * kPathMax;
    size_t length = TRY(link.readlink(buf, kPathMax));
    if (length == 0)
        return Errno::NOENT;
    if (length >= kPathMax || after.size() >= kPathMax - length)
        return Errno::NAMETOOLONG;
    lib::mem_move(buf + length, after.data(), after.size());
    m_active = target_buffer;
    return lib::StringView(buf, length + after.size());
}

Result<void> Walker::walk(lib::StringView path, unsigned flags, Resolved& out)
{
    out = {};
    if (path.is_empty())
        return Errno::NOENT;
    if (path.size() >= kPathMax)
        return Errno::NAMETOOLONG;

    Location cur;
    if (path[0] == '/')
        cur = m_ctx.root;
    else
        cur = m_ctx.base.is_valid() ? m_ctx.base : m_ctx.cwd;
    NIMBUS_ASSERT(cur.is_valid() && m_ctx.vfs); // a context without root/cwd is a kernel bug
    lib::StringView rest = path;

    for (;;) {
        if (rest.size() > 0 && rest[0] == '/')
            rest = skip_slashes(rest);
        if (rest.is_empty()) {
            // No last component: "/" (possibly reached through a symlink). `cur` is a
            // directory: the walk only ever moves into directories.
            out.node = cur;
            return {};
        }
        size_t end = rest.find('/');
        if (end == lib::StringView::npos)
            end = rest.size();
        lib::StringView component = rest.substr(0, end);
        lib::StringView after = rest.substr(end);
        lib::StringView tail = skip_slashes(after);
        bool last = tail.is_empty();
        bool slash = last && !after.is_empty();

        if (component.size() > kNameMax)
            return Errno::NAMETOOLONG;
        if (!cur.vnode->is_directory())
            return Errno::NOTDIR;

        if (last && (flags & kResolveParent)) {
            set_name(out, component);
            out.trailing_slash = slash;
            out.parent = std::move(cur);
            return {};
        }

        Location next;
        if (is_dot(component)) {
            next = cur;
        } else if (is_dotdot(component)) {
            next = m_ctx.vfs->cross_mounts(TRY(parent_location(cur, m_ctx.root)));
        } else {
            auto found = cur.vnode->lookup(component);
            if (found.is_error()) {
                if (found.error() == Errno::NOENT && last && (flags & kResolveMayNotExist)) {
                    set_name(out, component);
                    out.trailing_slash = slash;
                    out.parent = std::move(cur);
                    return {};
                }
                return found.error();
            }
            next = m_ctx.vfs->cross_mounts({cur.mount, found.release_value()});
            if (next.vnode->is_symlink() && (!last || slash || (flags & kResolveFollow))) {
                rest = TRY(expand(*next.vnode, after));
                if (rest[0] == '/')
                    cur = m_ctx.root;
                continue; // a relative target goes on from `cur`, the link's directory
            }
        }

        if (last) {
            if ((slash || (flags & kResolveDirectory)) && !next.vnode->is_directory())
                return Errno::NOTDIR;
            set_name(out, component);
            out.trailing_slash = slash;
            out.parent = std::move(cur);
            out.node = std::move(next);
            return {};
        }
        cur = std::move(next);
        rest = tail;
    }
}

// Finds the name of the entry with inode `ino` (for get_path).
class NameFinder final : public DirSink {
public:
    explicit NameFinder(uint64_t ino) : m_ino(ino) {}
    bool emit(uint64_t ino, DirentType, lib::StringView name, uint64_t) override
    {
        if (m_found || ino != m_ino || is_dot(name) || is_dotdot(name))
            return true;
        lib::mem_copy(m_name, name.data(), name.size());
        m_length = name.size();
        m_found = true;
        return false; // stop the scan
    }
    bool found() const { return m_found; }
    lib::StringView name() const { return {m_name, m_length}; }

private:
    uint64_t m_ino;
    bool m_found = false;
    char m_name[kNameMax];
    size_t m_length = 0;
};

} // namespace

bool Resolved::name_is_dot_or_dotdot() const { return is_dot(name_view()) || is_dotdot(name_view()); }

Result<void> resolve(const PathContext& ctx, lib::StringView path, unsigned flags, Resolved& out)
{
    Walker walker(ctx);
    return walker.walk(path, flags, out);
}

Result<Location> parent_location(const Location& loc, const Location& limit)
{
    Location cur = loc;
    for (;;) {
        if (limit.is_valid() && same_location(cur, limit))
            return cur;
        const Mount& mount = *cur.mount;
        if (!same_vnode(*cur.vnode, *mount.root()))
            break;
        if (!mount.parent())
            return cur; // the top of the namespace is its own parent
        cur = Location{mount.parent(), mount.mountpoint()};
    }
    Ref<Vnode> parent = TRY(cur.vnode->lookup(".."));
    return Location{cur.mount, std::move(parent)};
}

Result<size_t> get_path(const PathContext& ctx, const Location& loc, char* buf, size_t size)
{
    char* path = new (std::nothrow) char[kPathMax];
    if (!path)
        return Errno::NOMEM;
    // Built backwards from the end of `path`.
    size_t start = kPathMax;
    Location cur = loc;
    Result<void> status;
    while (!same_location(cur, ctx.root)) {
        const Mount& mount = *cur.mount;
        if (same_vnode(*cur.vnode, *mount.root())) {
            if (!mount.parent()) {
                status = Errno::NOENT; // not below ctx.root
                break;
            }
            cur = Location{mount.parent(), mount.mountpoint()};
            continue;
        }
        auto parent = cur.vnode->lookup("..");
        if (parent.is_error()) {
            status = parent.error();
            break;
        }
        NameFinder finder(cur.vnode->ino());
        auto listed = parent.value()->readdir(0, finder);
        if (listed.is_error() || !finder.found()) {
            status = listed.is_error() ? listed.error() : Errno::NOENT;
            break;
        }
        lib::StringView name = finder.name();
        if (start < name.size() + 1) {
            status = Errno::NAMETOOLONG;
            break;
        }
        start -= name.size();
        lib::mem_copy(path + start, name.data(), name.size());
        path[--start] = '/';
        cur = Location{cur.mount, parent.release_value()};
    }
    if (!status.is_error() && start == kPathMax)
        path[--start] = '/';
    size_t length = kPathMax - start;
    if (!status.is_error()) {
        if (length + 1 > size) {
            status = Errno::RANGE;
        } else {
            lib::mem_copy(buf, path + start, length);
            buf[length] = '\0';
        }
    }
    delete[] path;
    if (status.is_error())
        return status.error();
    return length;
}

} // namespace fs
