// The generators of every procfs/sysfs file: each writes one file's whole text for the
// current state of a ProcessSource into a TextBuffer. Internal to kernel/procfs (the
// filesystem in procfs.cc calls them on every read); formats follow man 5 proc and Linux 6.1.
//
// Errors: SRCH when the thread a per-thread file belongs to no longer exists; NOMEM when the
// buffer cannot grow (reported by the caller through TextBuffer::status()).
#pragma once

#include <lib/result.h>
#include <procfs/procfs.h>
#include <procfs/text_buffer.h>

namespace procfs::content {

// ---- per process (tid == source.pid()) or per thread (task/<tid>/...) -----------------------
// `thread_view`: the file is task/<tid>/…, describing that thread; otherwise the process.
Result<void> status(ProcessSource& source, int tid, bool thread_view, TextBuffer& out);
Result<void> stat(ProcessSource& source, int tid, bool thread_view, TextBuffer& out);
Result<void> comm(ProcessSource& source, int tid, TextBuffer& out);
Result<void> statm(ProcessSource& source, TextBuffer& out);
Result<void> maps(ProcessSource& source, TextBuffer& out);
Result<void> cmdline(ProcessSource& source, TextBuffer& out);
Result<void> environment(ProcessSource& source, TextBuffer& out);
Result<void> auxv(ProcessSource& source, TextBuffer& out);
Result<void> mounts(ProcessSource& source, TextBuffer& out);

// ---- system-wide ---------------------------------------------------------------------------
Result<void> cpuinfo(ProcessSource& source, TextBuffer& out);
Result<void> meminfo(ProcessSource& source, TextBuffer& out);
Result<void> system_stat(ProcessSource& source, TextBuffer& out);
Result<void> uptime(ProcessSource& source, TextBuffer& out);
Result<void> loadavg(ProcessSource& source, TextBuffer& out);
Result<void> version(ProcessSource& source, TextBuffer& out);
Result<void> filesystems(TextBuffer& out);
Result<void> osrelease(ProcessSource& source, TextBuffer& out);
Result<void> pid_max(ProcessSource& source, TextBuffer& out);
Result<void> overcommit_memory(TextBuffer& out);
// /proc/net/snmp and /proc/net/dev in Linux 6.1's layout.
Result<void> net_snmp(ProcessSource& source, TextBuffer& out);
Result<void> net_dev(ProcessSource& source, TextBuffer& out);
// sysfs cpu/online, possible, present: "0\n" or "0-N\n".
Result<void> cpu_range(ProcessSource& source, TextBuffer& out);

} // namespace procfs::content
