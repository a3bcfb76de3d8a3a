// lx::run_application (lx.h): from the kernel command line and the root image to a running
// program.
#include <boot/app_command.h>
#include <core/console.h>
#include <core/memory.h>
#include <core/thread.h>
#include <lib/string.h>
#include <lx/exec.h>
#include <lx/files.h>
#include <network/network.h>
#include <lx/lx.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <new>

namespace lx {

void init(bool strace)
{
    set_strace(strace);
    init_signals();
}

namespace {

const boot::AppCommand* g_command = nullptr;

int start(lib::StringView app_args, const boot::BootInfo& info);

struct StartRequest {
    lib::StringView app_args;
    const boot::BootInfo* info;
    int status;
};

} // namespace

const boot::AppCommand* app_command() { return g_command; }

int run_application(lib::StringView app_args, const boot::BootInfo& info)
{
    // Loading takes more stack than the boot stack has (ELF headers, load plans and path
    // buffers live on it): do it on a thread of its own with room to spare.
    StartRequest request { app_args, &info, 1 };
    core::ThreadAttr attr;
    attr.stack_size = 256 * 1024;
    auto loader = core::Thread::create(
        "loader", [](void* arg) {
            auto* r = static_cast<StartRequest*>(arg);
            r->status = start(r->app_args, *r->info);
        },
        &request, attr);
    if (loader.is_error()) {
        core::kprintf("nimbus: no memory to start the application\n");
        return 1;
    }
    core::Thread::join(loader.value());
    return request.status;
}

namespace {

int start(lib::StringView app_args, const boot::BootInfo& info)
{
    auto* cmd = new (std::nothrow) boot::AppCommand;
    char* storage = static_cast<char*>(core::kmalloc(app_args.size() + 1));
    if (!cmd || !storage) {
        core::kprintf("nimbus: out of memory starting the application\n");
        return 1;
    }
    // The command and its strings live as long as the application: argv/envp were copied
    // onto its stack, but keep them for /proc/self/cmdline. TODO(#4): procfs.
    if (const char* problem = boot::split_app_command(app_args, storage, app_args.size() + 1, *cmd)) {
        core::kprintf("nimbus: %s\n", problem);
        return 1;
    }
    g_command = cmd;
    if (info.module_count == 0) {
        core::kprintf("nimbus: no root image (the initrd) to run %s from\n", cmd->argv[0]);
        return 127;
    }
    const boot::Module& image = info.modules[0];
    char why[256] = {};
    if (auto r = init_files(core::phys_to_virt(image.paddr), image.size, image.paddr, why, sizeof(why)); r.is_error()) {
        core::kprintf("nimbus: cannot mount the root image: %s\n", why);
        return 127;
    }
    // The DNS servers of the DHCP lease (the network came up before the application).
    char resolv[512];
    if (size_t n = network::resolv_conf(resolv, sizeof resolv)) {
        if (auto r = set_resolv_conf({ resolv, n }); r.is_error())
            core::kprintf("nimbus: cannot write /etc/resolv.conf: %s\n", lib::errno_name(r.error()));
    }
    auto ctx = path_context(kAtFdcwd, true);
    if (ctx.is_error()) {
        core::kprintf("nimbus: %s\n", lib::errno_name(ctx.error()));
        return 1;
    }
    if (auto r = start_application(ctx.value(), *cmd, why, sizeof(why)); r.is_error()) {
        core::kprintf("nimbus: cannot run %s\n", why);
        return r.error() == lib::Errno::NOENT ? 127 : 126;
    }
    return 0;
}

} // namespace

} // namespace lx
