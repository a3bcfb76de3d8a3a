// Who the program is: user and group ids, supplementary groups, process group and session.
//
// The program starts as root (every id 0), as it would in a container. It may drop to
// another user or group with the usual calls, and every id call then reports what it set.
// Nothing checks file permissions against these ids (the program owns the VM), but who may
// change which id follows Linux — privileged means an effective uid of 0 — so a program that
// drops privileges and then tries to take them back gets EPERM, as it would on Linux.
//
// There is one process, pid 1: it leads its own process group and session (pgid = sid = 1),
// so setsid and setpgid answer EPERM as they do for a session leader.
#include <lx/process.h>
#include <lx/socket.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <sync/mutex.h>

namespace lx {
namespace {

constexpr uint32_t kUnchanged = ~uint32_t(0); // the -1 of setreuid and friends
constexpr size_t kNgroupsMax = 65536;         // Linux's NGROUPS_MAX: larger lists are EINVAL
constexpr size_t kMaxGroups = 256;            // what we keep; a longer list is ENOMEM

struct Ids {
    uint32_t real = 0, effective = 0, saved = 0, fs = 0;
    bool is(uint32_t id) const { return id == real || id == effective || id == saved; }
};

constinit ksync::Mutex g_cred_lock;
Ids g_uid TA_GUARDED(g_cred_lock);
Ids g_gid TA_GUARDED(g_cred_lock);
uint32_t g_groups[kMaxGroups] TA_GUARDED(g_cred_lock);
size_t g_group_count TA_GUARDED(g_cred_lock) = 0;

bool privileged() TA_REQ(g_cred_lock) { return g_uid.effective == 0; }

// setuid/setgid: privileged, all four ids; otherwise only the effective (and fs) id, and only
// to the real or saved one.
int64_t set_id(Ids& ids, uint32_t id) TA_REQ(g_cred_lock)
{
    if (id == kUnchanged)
        return err(Errno::INVAL);
    if (privileged()) {
        ids = { id, id, id, id };
        return 0;
    }
    if (id != ids.real && id != ids.saved)
        return err(Errno::PERM);
    ids.effective = ids.fs = id;
    return 0;
}

// setreuid/setregid: unprivileged, the real id may become the real or effective one, the
// effective id any of the three. The saved id follows the new effective id whenever the real
// id is set or the effective id becomes something other than the old real id.
int64_t set_re(Ids& ids, uint32_t real, uint32_t effective) TA_REQ(g_cred_lock)
{
    if (!privileged()) {
        if (real != kUnchanged && real != ids.real && real != ids.effective)
            return err(Errno::PERM);
        if (effective != kUnchanged && !ids.is(effective))
            return err(Errno::PERM);
    }
    Ids next = ids;
    if (real != kUnchanged)
        next.real = real;
    if (effective != kUnchanged)
        next.effective = effective;
    if (real != kUnchanged || (effective != kUnchanged && effective != ids.real))
        next.saved = next.effective;
    next.fs = next.effective;
    ids = next;
    return 0;
}

// setresuid/setresgid: unprivileged, each new id must be one of the current three.
int64_t set_res(Ids& ids, uint32_t real, uint32_t effective, uint32_t saved) TA_REQ(g_cred_lock)
{
    if (!privileged())
        for (uint32_t id : { real, effective, saved })
            if (id != kUnchanged && !ids.is(id))
                return err(Errno::PERM);
    if (real != kUnchanged)
        ids.real = real;
    if (effective != kUnchanged)
        ids.effective = effective;
    if (saved != kUnchanged)
        ids.saved = saved;
    ids.fs = ids.effective;
    return 0;
}

// getresuid (`users`) / getresgid: a snapshot of the three ids, written out without the lock.
int64_t get_res(bool users, const Args& a)
{
    Ids ids;
    {
        ksync::MutexGuard guard(g_cred_lock);
        ids = users ? g_uid : g_gid;
    }
    for (int i = 0; i < 3; ++i) {
        uint32_t id = i == 0 ? ids.real : i == 1 ? ids.effective : ids.saved;
        if (auto w = write_app<uint32_t>(a.u(i), id); w.is_error())
            return err(w.error());
    }
    return 0;
}

// setfsuid/setfsgid: return the old fs id, whether or not the change was allowed.
int64_t set_fs(Ids& ids, uint32_t id) TA_REQ(g_cred_lock)
{
    uint32_t old = ids.fs;
    if (privileged() || ids.is(id) || id == ids.fs)
        ids.fs = id;
    return old;
}

// pid 0 means the caller; pid 1 is the caller; nothing else exists.
bool is_self(int32_t pid) { return pid == 0 || pid == kPid; }

} // namespace

// For sockets (socket.h): SO_PEERCRED and SCM_CREDENTIALS carry the effective ids.
Credentials current_credentials()
{
    ksync::MutexGuard guard(g_cred_lock);
    return Credentials { kPid, g_uid.effective, g_gid.effective };
}

bool may_claim_credentials(const Credentials& c)
{
    ksync::MutexGuard guard(g_cred_lock);
    if (privileged())
        return true;
    return c.pid == kPid && g_uid.is(c.uid) && g_gid.is(c.gid);
}

int64_t sys_getuid(const Args&)
{
    ksync::MutexGuard guard(g_cred_lock);
    return g_uid.real;
}
int64_t sys_geteuid(const Args&)
{
    ksync::MutexGuard guard(g_cred_lock);
    return g_uid.effective;
}
int64_t sys_getgid(const Args&)
{
    ksync::MutexGuard guard(g_cred_lock);
    return g_gid.real;
}
int64_t sys_getegid(const Args&)
{
    ksync::MutexGuard guard(g_cred_lock);
    return g_gid.effective;
}

int64_t sys_setuid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_id(g_uid, uint32_t(a.u(0)));
}
int64_t sys_setgid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_id(g_gid, uint32_t(a.u(0)));
}
int64_t sys_setreuid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_re(g_uid, uint32_t(a.u(0)), uint32_t(a.u(1)));
}
int64_t sys_setregid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_re(g_gid, uint32_t(a.u(0)), uint32_t(a.u(1)));
}
int64_t sys_setresuid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_res(g_uid, uint32_t(a.u(0)), uint32_t(a.u(1)), uint32_t(a.u(2)));
}
int64_t sys_setresgid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_res(g_gid, uint32_t(a.u(0)), uint32_t(a.u(1)), uint32_t(a.u(2)));
}
int64_t sys_getresuid(const Args& a) { return get_res(true, a); }
int64_t sys_getresgid(const Args& a) { return get_res(false, a); }
int64_t sys_setfsuid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_fs(g_uid, uint32_t(a.u(0)));
}
int64_t sys_setfsgid(const Args& a)
{
    ksync::MutexGuard guard(g_cred_lock);
    return set_fs(g_gid, uint32_t(a.u(0)));
}

// getgroups(size, list): the count when size is 0; EINVAL if the list does not fit.
int64_t sys_getgroups(const Args& a)
{
    int32_t size = a.i(0);
    if (size < 0)
        return err(Errno::INVAL);
    uint32_t groups[kMaxGroups];
    size_t count;
    {
        ksync::MutexGuard guard(g_cred_lock);
        count = g_group_count;
        for (size_t i = 0; i < count; ++i)
            groups[i] = g_groups[i];
    }
    if (size == 0)
        return int64_t(count);
    if (size_t(size) < count)
        return err(Errno::INVAL);
    if (auto w = copy_to_app(a.u(1), groups, count * sizeof(uint32_t)); w.is_error())
        return err(w.error());
    return int64_t(count);
}

// setgroups(size, list): privileged only.
int64_t sys_setgroups(const Args& a)
{
    uint64_t size = a.u(0);
    if (size > kNgroupsMax)
        return err(Errno::INVAL);
    if (size > kMaxGroups)
        return err(Errno::NOMEM);
    uint32_t groups[kMaxGroups];
    if (auto r = copy_from_app(groups, a.u(1), size * sizeof(uint32_t)); size && r.is_error())
        return err(r.error());
    ksync::MutexGuard guard(g_cred_lock);
    if (!privileged())
        return err(Errno::PERM);
    for (size_t i = 0; i < size; ++i)
        g_groups[i] = groups[i];
    g_group_count = size;
    return 0;
}

int64_t sys_getpgrp(const Args&) { return kPid; }
int64_t sys_getpgid(const Args& a) { return is_self(a.i(0)) ? kPid : err(Errno::SRCH); }
int64_t sys_getsid(const Args& a) { return is_self(a.i(0)) ? kPid : err(Errno::SRCH); }
int64_t sys_setsid(const Args&) { return err(Errno::PERM); } // already a process group leader
int64_t sys_setpgid(const Args& a)
{
    if (a.i(1) < 0)
        return err(Errno::INVAL);
    if (!is_self(a.i(0)))
        return err(Errno::SRCH);
    return err(Errno::PERM); // a session leader cannot move
}

} // namespace lx
