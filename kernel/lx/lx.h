// The Linux ABI layer (kernel/lx): system calls, application threads, the process.
#pragma once

namespace lx {

// Installs the application fault handler and the strace setting. Once, at boot.
void init(bool strace);

} // namespace lx
