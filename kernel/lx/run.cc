// lx::run_application (lx.h): from the kernel command line and the root image to a running
// program.
#include <boot/app_command.h>
#include <core/console.h>
#include <core/memory.h>
#include <lib/string.h>
#include <lx/exec.h>
#include <lx/files.h>
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

int run_application(lib::StringView app_args, const boot::BootInfo& info)
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

} // namespace lx
