// The Linux ABI layer (kernel/lx): system calls, application threads, the process.
#pragma once

#include <boot/app_command.h>
#include <boot/pvh.h>
#include <lib/string.h>

namespace lx {

// Installs the application fault handler and the strace setting. Once, at boot.
void init(bool strace);

// Runs the application the command line names (`app_args`, the words after " -- ") from the
// root image (the first boot module): mounts the file systems, loads the program, starts its
// main thread and returns 0; the VM ends when the application does. On failure prints why
// and returns the exit status a shell would give: 127 when the program or the image is
// missing, 126 when it cannot be run, 1 for other errors.
int run_application(lib::StringView app_args, const boot::BootInfo& info);

// The application's command line as it was split (argv, environment); null before.
const boot::AppCommand* app_command();

} // namespace lx
