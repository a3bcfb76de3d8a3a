// Application threads and the application's lifetime.
#include <arch/x86_64/fpu.h>
#include <arch/x86_64/syscall_entry.h>
#include <arch/x86_64/vm_exit.h>
#include <core/console.h>
#include <core/memory.h>
#include <lib/string.h>
#include <lx/files.h>
#include <lx/futex.h>
#include <lx/process.h>
#include <network/network.h>
#include <lx/uaccess.h>
#include <new>
#include <sync/mutex.h>

namespace lx {
namespace {

// Thread ids after the main thread's (which is the pid).
std::atomic<int32_t> g_next_tid { kPid + 1 };
// Application threads alive; the last to exit ends the application.
std::atomic<int32_t> g_live_threads { 0 };
std::atomic<ExitHook> g_exit_hook { nullptr };
// Every live application thread, for signals (tgkill, kill) and /proc.
constinit ksync::Mutex g_registry_lock;
AppThread* g_registry TA_GUARDED(g_registry_lock) = nullptr;

void register_thread(AppThread* t)
{
    ksync::MutexGuard guard(g_registry_lock);
    t->registry_next = g_registry;
    g_registry = t;
}

void unregister_thread(AppThread* t)
{
    ksync::MutexGuard guard(g_registry_lock);
    for (AppThread** p = &g_registry; *p; p = &(*p)->registry_next) {
        if (*p == t) {
            *p = t->registry_next;
            return;
        }
    }
}

struct StartInfo {
    AppThread* app;
    uint64_t rip, rsp, fs_base;
    bool cloned;
};

void app_thread_start(void* arg)
{
    StartInfo info = *static_cast<StartInfo*>(arg);
    delete static_cast<StartInfo*>(arg);
    core::Thread* self = core::current_thread();
    info.app->thread = self;
    self->set_app_data(info.app);
    core::set_current_fs_base(info.fs_base);
    if (info.cloned)
        arch_syscall_return_to(&info.app->initial.frame);
    arch_enter_app(info.rip, info.rsp);
}

lib::Result<AppThread*> start_thread(AppThread* app, const char* name, const StartInfo& start)
{
    auto* info = new (std::nothrow) StartInfo(start);
    if (!info) {
        delete app;
        return lib::Errno::NOMEM;
    }
    info->app = app;
    g_live_threads.fetch_add(1, std::memory_order_relaxed);
    register_thread(app);
    core::ThreadAttr attr;
    attr.app = true;
    auto thread = core::Thread::create(name, &app_thread_start, info, attr);
    if (thread.is_error()) {
        g_live_threads.fetch_sub(1, std::memory_order_relaxed);
        unregister_thread(app);
        delete app;
        delete info;
        return thread.error();
    }
    // `app` belongs to the new thread now (it may even have exited already): not touched.
    core::Thread::detach(thread.value());
    return app;
}

} // namespace

AppThread& current_app_thread() { return *static_cast<AppThread*>(core::current_thread()->app_data()); }

lib::Result<AppThread*> spawn_app_thread(const char* name, uint64_t rip, uint64_t rsp, uint64_t fs_base, int32_t tid)
{
    auto* app = new (std::nothrow) AppThread;
    if (!app)
        return lib::Errno::NOMEM;
    app->tid = tid ? tid : g_next_tid.fetch_add(1, std::memory_order_relaxed);
    // comm is the executable's base name, truncated to 15 bytes, as Linux sets it at exec.
    for (const char* p = name; *p; ++p)
        if (*p == '/' && p[1])
            name = p + 1;
    size_t len = lib::str_nlength(name, sizeof(app->comm) - 1);
    lib::mem_copy(app->comm, name, len);
    app->comm[len] = '\0';
    return start_thread(app, name, StartInfo { nullptr, rip, rsp, fs_base, false });
}

lib::Result<int32_t> spawn_cloned_thread(const arch::SyscallFrame& parent, uint64_t stack, uint64_t fs_base,
                                         uint64_t clear_child_tid, uint64_t parent_tid_ptr, uint64_t child_tid_ptr)
{
    auto* app = new (std::nothrow) AppThread;
    if (!app)
        return lib::Errno::NOMEM;
    AppThread& self = current_app_thread();
    int32_t tid = g_next_tid.fetch_add(1, std::memory_order_relaxed);
    app->tid = tid;
    app->clear_child_tid = clear_child_tid;
    app->blocked = self.blocked; // the signal mask is inherited
    lib::mem_copy(app->comm, self.comm, sizeof(app->comm));
    // The parent's xmm0-15 and MXCSR are still in the registers: the kernel does not use them.
    arch_save_sse(&app->initial.sse);
    app->initial.frame = parent;
    app->initial.frame.rax = 0;
    if (stack)
        app->initial.frame.rsp = stack;
    // The tid words are written before the child can run, as Linux does.
    if ((parent_tid_ptr && write_app<int32_t>(parent_tid_ptr, tid).is_error()) ||
        (child_tid_ptr && write_app<int32_t>(child_tid_ptr, tid).is_error())) {
        delete app;
        return lib::Errno::FAULT;
    }
    TRY(start_thread(app, self.comm, StartInfo { nullptr, 0, 0, fs_base, true }));
    return tid;
}

bool for_each_app_thread(bool (*fn)(AppThread&, void*), void* ctx)
{
    ksync::MutexGuard guard(g_registry_lock);
    for (AppThread* t = g_registry; t; t = t->registry_next)
        if (fn(*t, ctx))
            return true;
    return false;
}

void set_exit_hook(ExitHook hook) { g_exit_hook.store(hook, std::memory_order_release); }

void exit_application(int status)
{
    if (ExitHook hook = g_exit_hook.load(std::memory_order_acquire)) {
        hook(status);
        core::exit_current_thread();
    }
    // The application's files close as a Linux process's do at exit: sockets send what they
    // hold and their FIN (their connections live on as orphans while the network drains).
    fd_table().close_all();
    network::flush_transmit(3'000'000'000, 200'000'000);
    arch::exit_vm(status & 0xff);
}

void exit_app_thread(int status)
{
    // The robust futex list first: mutexes the thread still holds are marked FUTEX_OWNER_DIED
    // (their next locker gets EOWNERDEAD). Then CLONE_CHILD_CLEARTID / set_tid_address: clear
    // the word and wake one waiter (this is how pthread_join learns that the thread is gone).
    AppThread& self = current_app_thread();
    exit_robust_list(self.robust_list, self.tid);
    if (self.clear_child_tid && !write_app<uint32_t>(self.clear_child_tid, 0).is_error())
        futex_wake(self.clear_child_tid, 1);
    if (g_live_threads.fetch_sub(1, std::memory_order_acq_rel) == 1)
        exit_application(status);
    core::Thread* thread = core::current_thread();
    unregister_thread(&self);
    delete static_cast<AppThread*>(thread->app_data());
    thread->set_app_data(nullptr);
    core::exit_current_thread();
}

} // namespace lx
