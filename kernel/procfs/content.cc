// The file generators (content.h).
#include <procfs/content.h>

namespace procfs::content {
namespace {

// USER_HZ: the unit of the tick counts in stat files [man 5 proc].
constexpr uint64_t kNsPerTick = 1000000000 / 100;
constexpr uint64_t kPageSize = 4096;
// TASK_COMM_LEN - 1: comm is cut to 15 bytes.
constexpr size_t kCommMax = 15;

uint64_t ticks(uint64_t ns) { return ns / kNsPerTick; }
uint64_t kib(uint64_t bytes) { return bytes / 1024; }

// What one pass over the threads tells: the thread asked for (if alive) and the totals.
struct ThreadSummary {
    bool found = false;
    char name[kCommMax + 1] = {};
    size_t name_length = 0;
    ThreadState state = ThreadState::Sleeping;
    int cpu = 0;
    uint64_t user_ns = 0; // of the thread asked for
    uint64_t system_ns = 0;
    uint64_t voluntary_switches = 0;
    uint64_t involuntary_switches = 0;
    int count = 0;
    int running = 0;
    int last_tid = 0;
    uint64_t total_user_ns = 0;
    uint64_t total_system_ns = 0;

    lib::StringView name_view() const { return {name, name_length}; }
};

void summarize_threads(ProcessSource& source, int tid, ThreadSummary& s)
{
    source.for_each_thread([&](const ThreadInfo& t) {
        s.count++;
        if (t.state == ThreadState::Running)
            s.running++;
        if (t.tid > s.last_tid)
            s.last_tid = t.tid;
        s.total_user_ns += t.user_ns;
        s.total_system_ns += t.system_ns;
        if (t.tid != tid)
            return;
        s.found = true;
        s.name_length = t.name.size() < kCommMax ? t.name.size() : kCommMax;
        lib::mem_copy(s.name, t.name.data(), s.name_length);
        s.state = t.state;
        s.cpu = t.cpu;
        s.user_ns = t.user_ns;
        s.system_ns = t.system_ns;
        s.voluntary_switches = t.voluntary_switches;
        s.involuntary_switches = t.involuntary_switches;
    });
}

// The summary for a file of thread `tid`; SRCH if it is gone. The process's files describe
// the main thread; when that one has exited (other threads still running) they still work,
// named after the executable, as Linux keeps showing the zombie leader.
Result<void> thread_summary(ProcessSource& source, int tid, bool thread_view, ThreadSummary& s)
{
    summarize_threads(source, tid, s);
    if (s.found && s.name_length)
        return {};
    if (thread_view && !s.found)
        return Errno::SRCH;
    TextBuffer exe;
    source.exe_path(exe);
    TRY(exe.status());
    lib::StringView path = exe.view();
    size_t slash = 0;
    for (size_t i = 0; i < path.size(); i++) {
        if (path[i] == '/')
            slash = i + 1;
    }
    lib::StringView base = path.substr(slash, kCommMax);
    lib::mem_copy(s.name, base.data(), base.size());
    s.name_length = base.size();
    if (!s.found)
        s.state = ThreadState::Zombie;
    return {};
}

const char* state_name(ThreadState state)
{
    switch (state) {
    case ThreadState::Running:
        return "running";
    case ThreadState::Sleeping:
        return "sleeping";
    case ThreadState::DiskSleep:
        return "disk sleep";
    case ThreadState::Stopped:
        return "stopped";
    case ThreadState::Zombie:
        return "zombie";
    }
    return "unknown";
}

// A cpumask as Linux's "%*pb" prints it: 32-bit words in hex, most significant first,
// separated by commas; the first word has only the digits the CPU count needs.
void put_cpu_mask(unsigned cpus, TextBuffer& out)
{
    unsigned words = (cpus + 31) / 32;
    for (unsigned w = words; w-- > 0;) {
        unsigned bits = cpus - w * 32 < 32 ? cpus - w * 32 : 32;
        uint32_t word = bits == 32 ? 0xffffffffu : (1u << bits) - 1;
        if (w == words - 1)
            out.print("%0*x", int((bits + 3) / 4), word);
        else
            out.print(",%08x", word);
    }
}

// "0" or "0-N" for CPUs 0 .. cpus - 1.
void put_cpu_list(unsigned cpus, TextBuffer& out)
{
    if (cpus <= 1)
        out.put("0");
    else
        out.print("0-%u", cpus - 1);
}

unsigned cpu_count(ProcessSource& source)
{
    unsigned n = source.cpu_count();
    return n ? n : 1;
}

// A path as /proc/mounts and maps print it: the characters that would break the line's
// fields become octal escapes (\040 for a space).
void put_escaped(lib::StringView text, const char* special, TextBuffer& out)
{
    for (char c : text) {
        if (lib::str_find_char(special, c) && c != '\0')
            out.print("\\%03o", unsigned(static_cast<unsigned char>(c)));
        else
            out.put_char(c);
    }
}

// /proc/N/fd has the Linux file-table size rounded to whole 64-descriptor words.
int fd_table_size(ProcessSource& source)
{
    int highest = -1;
    source.for_each_fd([&](const FdInfo& f) {
        if (f.fd > highest)
            highest = f.fd;
    });
    int size = (highest + 1 + 63) / 64 * 64;
    return size ? size : 64;
}

} // namespace

Result<void> status(ProcessSource& source, int tid, bool thread_view, TextBuffer& out)
{
    ThreadSummary t;
    TRY(thread_summary(source, tid, thread_view, t));
    int pid = source.pid();
    MemoryUsage m = source.memory_usage();
    out.put("Name:\t");
    out.put(t.name_view());
    out.print("\nUmask:\t%04o\n", source.umask() & 0777);
    out.print("State:\t%c (%s)\n", char(t.state), state_name(t.state));
    out.print("Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", pid, tid, source.ppid());
    out.put("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
    out.print("FDSize:\t%d\nGroups:\t\n", fd_table_size(source));
    out.print("NStgid:\t%d\nNSpid:\t%d\nNSpgid:\t%d\nNSsid:\t%d\n", pid, tid, pid, pid);
    out.print("VmPeak:\t%8lu kB\nVmSize:\t%8lu kB\nVmLck:\t%8lu kB\nVmPin:\t%8lu kB\n", kib(m.vm_size),
              kib(m.vm_size), 0ul, 0ul);
    uint64_t anon = m.rss > m.rss_file ? m.rss - m.rss_file : 0;
    out.print("VmHWM:\t%8lu kB\nVmRSS:\t%8lu kB\nRssAnon:\t%8lu kB\nRssFile:\t%8lu kB\nRssShmem:\t%8lu kB\n",
              kib(m.rss), kib(m.rss), kib(anon), kib(m.rss_file), 0ul);
    out.print("VmData:\t%8lu kB\nVmStk:\t%8lu kB\nVmExe:\t%8lu kB\nVmLib:\t%8lu kB\n", kib(m.data), kib(m.stack),
              kib(m.text), kib(m.lib));
    out.print("VmPTE:\t%8lu kB\nVmSwap:\t%8lu kB\nHugetlbPages:\t%8lu kB\n", 0ul, 0ul, 0ul);
    out.print("CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t%d\n", t.count);
    out.put("SigQ:\t0/0\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n"
            "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n");
    out.put("CapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n"
            "CapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000000\n");
    out.put("NoNewPrivs:\t0\nSeccomp:\t0\nSeccomp_filters:\t0\n"
            "Speculation_Store_Bypass:\tthread vulnerable\nSpeculationIndirectBranch:\tconditional enabled\n");
    unsigned cpus = cpu_count(source);
    out.put("Cpus_allowed:\t");
    put_cpu_mask(cpus, out);
    out.put("\nCpus_allowed_list:\t");
    put_cpu_list(cpus, out);
    out.put("\nMems_allowed:\t1\nMems_allowed_list:\t0\n");
    out.print("voluntary_ctxt_switches:\t%lu\nnonvoluntary_ctxt_switches:\t%lu\n", t.voluntary_switches,
              t.involuntary_switches);
    return {};
}

Result<void> stat(ProcessSource& source, int tid, bool thread_view, TextBuffer& out)
{
    ThreadSummary t;
    TRY(thread_summary(source, tid, thread_view, t));
    int pid = source.pid();
    MemoryUsage m = source.memory_usage();
    // The process's CPU time is its threads' sum; a task's is its own.
    uint64_t user = thread_view ? t.user_ns : t.total_user_ns;
    uint64_t system = thread_view ? t.system_ns : t.total_system_ns;
    // Fields 1-13: pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt
    // majflt cmajflt. comm is printed raw, as Linux does (parsers look for the last ')').
    out.print("%d (", tid);
    out.put(t.name_view());
    out.print(") %c %d %d %d 0 -1 4194304 0 0 0 0 ", char(t.state), source.ppid(), pid, pid);
    // 14-25: utime stime cutime cstime priority nice num_threads itrealvalue starttime vsize
    // rss rsslim.
    out.print("%lu %lu 0 0 20 0 %d 0 %lu %lu %lu 18446744073709551615 ", ticks(user), ticks(system), t.count,
              ticks(source.start_time_ns()), m.vm_size, m.rss / kPageSize);
    // 26-38: startcode endcode startstack kstkesp kstkeip signal blocked sigignore sigcatch
    // wchan nswap cnswap exit_signal (SIGCHLD); 39-41: processor rt_priority policy.
    out.print("0 0 0 0 0 0 0 0 0 0 0 0 17 %d 0 0 ", t.cpu);
    // 42-52: delayacct_blkio_ticks guest_time cguest_time start_data end_data start_brk
    // arg_start arg_end env_start env_end exit_code.
    out.put("0 0 0 0 0 0 0 0 0 0 0\n");
    return {};
}

Result<void> comm(ProcessSource& source, int tid, TextBuffer& out)
{
    ThreadSummary t;
    TRY(thread_summary(source, tid, tid != source.pid(), t));
    out.put(t.name_view());
    out.put_char('\n');
    return {};
}

Result<void> statm(ProcessSource& source, TextBuffer& out)
{
    // size resident shared text lib data dt, in pages; lib and dt are always 0 on Linux.
    MemoryUsage m = source.memory_usage();
    out.print("%lu %lu %lu %lu 0 %lu 0\n", m.vm_size / kPageSize, m.rss / kPageSize, m.rss_file / kPageSize,
              m.text / kPageSize, (m.data + m.stack) / kPageSize);
    return {};
}

Result<void> maps(ProcessSource& source, TextBuffer& out)
{
    source.for_each_mapping([&](const Mapping& v) {
        size_t before = out.size();
        out.print("%08lx-%08lx %c%c%c%c %08lx %02x:%02x %lu", v.start, v.end, v.read ? 'r' : '-', v.write ? 'w' : '-',
                  v.exec ? 'x' : '-', v.is_private ? 'p' : 's', v.offset, v.dev_major, v.dev_minor, v.inode);
        if (!v.path.is_empty()) {
            // Linux pads the fields to 25 + 6 * sizeof(void*) - 1 = 72 columns, then a space.
            constexpr size_t kPathColumn = 72;
            for (size_t n = out.size() - before; n < kPathColumn; n++)
                out.put_char(' ');
            out.put_char(' ');
            put_escaped(v.path, "\n", out);
        }
        out.put_char('\n');
    });
    return {};
}

Result<void> cmdline(ProcessSource& source, TextBuffer& out)
{
    source.cmdline(out);
    return {};
}

Result<void> environment(ProcessSource& source, TextBuffer& out)
{
    source.environment(out);
    return {};
}

Result<void> auxv(ProcessSource& source, TextBuffer& out)
{
    source.auxv(out);
    return {};
}

Result<void> mounts(ProcessSource& source, TextBuffer& out)
{
    // fstab(5) fields; options are only ro/rw (we have no relatime & co.).
    source.for_each_mount([&](const MountInfo& mnt) {
        const char* special = " \t\n\\";
        put_escaped(mnt.device.is_empty() ? lib::StringView("none") : mnt.device, special, out);
        out.put_char(' ');
        put_escaped(mnt.mount_point, special, out);
        out.put_char(' ');
        put_escaped(mnt.fs_type, special, out);
        out.put(mnt.read_only ? " ro 0 0\n" : " rw 0 0\n");
    });
    return {};
}

Result<void> cpuinfo(ProcessSource& source, TextBuffer& out)
{
    TextBuffer vendor, model, flags;
    source.cpu_vendor(vendor);
    source.cpu_model_name(model);
    source.cpu_flags(flags);
    TRY(vendor.status());
    TRY(model.status());
    TRY(flags.status());
    CpuIdentity id = source.cpu_identity();
    unsigned cpus = cpu_count(source);
    // bogomips is twice the clock on current x86 (loops_per_jiffy from the TSC).
    uint64_t bogo_centi = id.khz * 2 / 10;
    for (unsigned cpu = 0; cpu < cpus; cpu++) {
        out.print("processor\t: %u\nvendor_id\t: ", cpu);
        out.put(vendor.view());
        out.print("\ncpu family\t: %u\nmodel\t\t: %u\nmodel name\t: ", id.family, id.model);
        out.put(model.view());
        out.print("\nstepping\t: %u\nmicrocode\t: 0x1\ncpu MHz\t\t: %lu.%03lu\ncache size\t: %u KB\n", id.stepping,
                  id.khz / 1000, id.khz % 1000, id.cache_kb);
        out.print("physical id\t: 0\nsiblings\t: %u\ncore id\t\t: %u\ncpu cores\t: %u\n", cpus, cpu, cpus);
        out.print("apicid\t\t: %u\ninitial apicid\t: %u\n", cpu, cpu);
        out.put("fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\nflags\t\t: ");
        out.put(flags.view());
        out.print("\nbugs\t\t:\nbogomips\t: %lu.%02lu\n", bogo_centi / 100, bogo_centi % 100);
        out.print("clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: %u bits physical, %u bits virtual\n",
                  id.physical_bits, id.virtual_bits);
        out.put("power management:\n\n");
    }
    return {};
}

Result<void> meminfo(ProcessSource& source, TextBuffer& out)
{
    SystemMemory m = source.system_memory();
    // Linux's layout: the name and colon left-aligned in 16 columns, the value in 8, " kB".
    auto line = [&](const char* name, uint64_t bytes) { out.print("%-16s%8lu kB\n", name, kib(bytes)); };
    line("MemTotal:", m.total);
    line("MemFree:", m.free);
    line("MemAvailable:", m.available);
    line("Buffers:", 0);
    line("Cached:", m.cached);
    line("SwapCached:", 0);
    uint64_t used = m.total > m.free + m.cached ? m.total - m.free - m.cached : 0;
    line("Active:", used + m.cached);
    line("Inactive:", 0);
    line("Active(anon):", used);
    line("Inactive(anon):", 0);
    line("Active(file):", m.cached);
    line("Inactive(file):", 0);
    line("Unevictable:", 0);
    line("Mlocked:", 0);
    line("SwapTotal:", 0);
    line("SwapFree:", 0);
    line("Dirty:", 0);
    line("Writeback:", 0);
    line("AnonPages:", used);
    line("Mapped:", 0);
    line("Shmem:", 0);
    line("KReclaimable:", 0);
    line("Slab:", 0);
    line("SReclaimable:", 0);
    line("SUnreclaim:", 0);
    line("KernelStack:", 0);
    line("PageTables:", 0);
    line("NFS_Unstable:", 0);
    line("Bounce:", 0);
    line("WritebackTmp:", 0);
    line("CommitLimit:", m.total);
    line("Committed_AS:", used);
    line("VmallocTotal:", uint64_t(34359738367) * 1024);
    line("VmallocUsed:", 0);
    line("VmallocChunk:", 0);
    line("Percpu:", 0);
    line("HardwareCorrupted:", 0);
    line("AnonHugePages:", 0);
    line("ShmemHugePages:", 0);
    line("ShmemPmdMapped:", 0);
    line("FileHugePages:", 0);
    line("FilePmdMapped:", 0);
    out.put("HugePages_Total:       0\nHugePages_Free:        0\nHugePages_Rsvd:        0\n"
            "HugePages_Surp:        0\n");
    line("Hugepagesize:", 2048 * 1024);
    line("Hugetlb:", 0);
    return {};
}

Result<void> system_stat(ProcessSource& source, TextBuffer& out)
{
    unsigned cpus = cpu_count(source);
    CpuTimes total;
    for (unsigned cpu = 0; cpu < cpus; cpu++) {
        CpuTimes t = source.cpu_times(cpu);
        total.user_ns += t.user_ns;
        total.system_ns += t.system_ns;
        total.idle_ns += t.idle_ns;
    }
    // user nice system idle iowait irq softirq steal guest guest_nice, in USER_HZ ticks.
    out.print("cpu  %lu 0 %lu %lu 0 0 0 0 0 0\n", ticks(total.user_ns), ticks(total.system_ns), ticks(total.idle_ns));
    for (unsigned cpu = 0; cpu < cpus; cpu++) {
        CpuTimes t = source.cpu_times(cpu);
        out.print("cpu%u %lu 0 %lu %lu 0 0 0 0 0 0\n", cpu, ticks(t.user_ns), ticks(t.system_ns), ticks(t.idle_ns));
    }
    ThreadSummary threads;
    summarize_threads(source, 0, threads);
    out.print("intr 0\nctxt %lu\nbtime %lu\nprocesses %lu\n", source.context_switches(), source.boot_time_sec(),
              source.processes_created());
    out.print("procs_running %d\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n", threads.running);
    return {};
}

Result<void> uptime(ProcessSource& source, TextBuffer& out)
{
    uint64_t up = source.uptime_ns() / 10000000;  // hundredths of a second
    uint64_t idle = source.idle_ns() / 10000000;
    out.print("%lu.%02lu %lu.%02lu\n", up / 100, up % 100, idle / 100, idle % 100);
    return {};
}

Result<void> loadavg(ProcessSource& source, TextBuffer& out)
{
    // No load average is kept: zeros, then running/total threads and the last id handed out.
    ThreadSummary threads;
    summarize_threads(source, 0, threads);
    out.print("0.00 0.00 0.00 %d/%d %d\n", threads.running, threads.count, threads.last_tid);
    return {};
}

Result<void> version(ProcessSource& source, TextBuffer& out)
{
    out.put("Linux version ");
    out.put(source.kernel_release());
    out.put(" (nimbus@nimbus) (clang version 19) ");
    out.put(source.kernel_version());
    out.put_char('\n');
    return {};
}

namespace {

// One group of /proc/net/snmp: a line of names, then a line of values, each "Group:" first.
void snmp_group(TextBuffer& out, const char* group, const char* const* names, const uint64_t* values, size_t count)
{
    out.print("%s:", group);
    for (size_t i = 0; i < count; i++)
        out.print(" %s", names[i]);
    out.print("\n%s:", group);
    for (size_t i = 0; i < count; i++)
        out.print(" %lu", values[i]);
    out.put_char('\n');
}

template<size_t N>
void snmp_group(TextBuffer& out, const char* group, const char* const (&names)[N], const uint64_t (&values)[N])
{
    snmp_group(out, group, names, values, N);
}

} // namespace

Result<void> net_snmp(ProcessSource& source, TextBuffer& out)
{
    net::Mib m;
    source.net_mib(m);
    // Forwarding 2: not a router; DefaultTTL 64. InDiscards, ForwDatagrams: nothing is
    // discarded after the header checks, nothing forwarded.
    const char* const ip_names[] = {"Forwarding", "DefaultTTL", "InReceives", "InHdrErrors", "InAddrErrors",
                                    "ForwDatagrams", "InUnknownProtos", "InDiscards", "InDelivers", "OutRequests",
                                    "OutDiscards", "OutNoRoutes", "ReasmTimeout", "ReasmReqds", "ReasmOKs",
                                    "ReasmFails", "FragOKs", "FragFails", "FragCreates"};
    const uint64_t ip_values[] = {2, 64, m.ip_in_receives, m.ip_in_hdr_errors, m.ip_in_addr_errors, 0,
                                  m.ip_in_unknown_protos, m.ip_in_discards, m.ip_in_delivers, m.ip_out_requests,
                                  m.ip_out_discards, m.ip_out_no_routes, m.ip_reasm_timeout, m.ip_reasm_reqds,
                                  m.ip_reasm_oks, m.ip_reasm_fails, m.ip_frag_oks, m.ip_frag_fails, m.ip_frag_creates};
    snmp_group(out, "Ip", ip_names, ip_values);

    // Per-type columns in Linux's order, from the by-type counts.
    const uint64_t* in = m.icmp_in_types;
    const uint64_t* o = m.icmp_out_types;
    const char* const icmp_names[] = {
        "InMsgs", "InErrors", "InCsumErrors", "InDestUnreachs", "InTimeExcds", "InParmProbs", "InSrcQuenchs",
        "InRedirects", "InEchos", "InEchoReps", "InTimestamps", "InTimestampReps", "InAddrMasks", "InAddrMaskReps",
        "OutMsgs", "OutErrors", "OutRateLimitGlobal", "OutRateLimitHost", "OutDestUnreachs", "OutTimeExcds",
        "OutParmProbs", "OutSrcQuenchs", "OutRedirects", "OutEchos", "OutEchoReps", "OutTimestamps",
        "OutTimestampReps", "OutAddrMasks", "OutAddrMaskReps"};
    const uint64_t icmp_values[] = {m.icmp_in_msgs, m.icmp_in_errors, m.icmp_in_csum_errors, in[3], in[11], in[12],
                                    in[4], in[5], in[8], in[0], in[13], in[14], in[17], in[18], m.icmp_out_msgs,
                                    m.icmp_out_errors, m.icmp_out_rate_limit_global, 0, o[3], o[11], o[12], o[4],
                                    o[5], o[8], o[0], o[13], o[14], o[17], o[18]};
    snmp_group(out, "Icmp", icmp_names, icmp_values);
    // IcmpMsg: only the types seen, inbound then outbound (Linux omits the line when none).
    bool any = false;
    for (unsigned t = 0; t < net::Mib::kIcmpTypes; t++)
        any = any || in[t] || o[t];
    if (any) {
        for (int pass = 0; pass < 2; pass++) {
            out.put("IcmpMsg:");
            for (int dir = 0; dir < 2; dir++) {
                const uint64_t* counts = dir == 0 ? in : o;
                for (unsigned t = 0; t < net::Mib::kIcmpTypes; t++) {
                    if (!counts[t])
                        continue;
                    if (pass == 0)
                        out.print(" %sType%u", dir == 0 ? "In" : "Out", t);
                    else
                        out.print(" %lu", counts[t]);
                }
            }
            out.put_char('\n');
        }
    }

    // RtoAlgorithm 1 (other: RFC 6298), RtoMin/RtoMax in ms, MaxConn -1 (no fixed limit);
    // a signed column as Linux prints it.
    const char* const tcp_names[] = {"RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens",
                                     "PassiveOpens", "AttemptFails", "EstabResets", "CurrEstab", "InSegs",
                                     "OutSegs", "RetransSegs", "InErrs", "OutRsts", "InCsumErrors"};
    out.put("Tcp:");
    for (const char* name : tcp_names)
        out.print(" %s", name);
    out.print("\nTcp: 1 200 120000 -1 %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu %lu\n", m.tcp_active_opens,
              m.tcp_passive_opens, m.tcp_attempt_fails, m.tcp_estab_resets, m.tcp_curr_estab, m.tcp_in_segs,
              m.tcp_out_segs, m.tcp_retrans_segs, m.tcp_in_errs, m.tcp_out_rsts, m.tcp_in_csum_errors);

    const char* const udp_names[] = {"InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors",
                                     "SndbufErrors", "InCsumErrors", "IgnoredMulti", "MemErrors"};
    const uint64_t udp_values[] = {m.udp_in_datagrams, m.udp_no_ports, m.udp_in_errors, m.udp_out_datagrams, 0,
                                   m.udp_sndbuf_errors, m.udp_in_csum_errors, 0, 0};
    snmp_group(out, "Udp", udp_names, udp_values);
    const uint64_t no_udplite[] = {0, 0, 0, 0, 0, 0, 0, 0, 0}; // no UDP-Lite
    snmp_group(out, "UdpLite", udp_names, no_udplite);
    return {};
}

Result<void> net_dev(ProcessSource& source, TextBuffer& out)
{
    // Two header lines, then one line per interface: name right-aligned in 6 columns, eight
    // receive and eight transmit counters (fifo, frame, compressed, multicast, colls, carrier:
    // not kept, 0) [Linux net/core/net-procfs.c's layout].
    out.put("Inter-|   Receive                                                |  Transmit\n"
            " face |bytes    packets errs drop fifo frame compressed multicast|"
            "bytes    packets errs drop fifo colls carrier compressed\n");
    source.for_each_net_interface([&](const net::InterfaceCounters& c) {
        out.print("%6s: %7lu %7lu %4lu %4lu %4u %5u %10u %9u %8lu %7lu %4lu %4lu %4u %5u %7u %10u\n", c.name,
                  c.rx_bytes, c.rx_packets, c.rx_errors, c.rx_dropped, 0u, 0u, 0u, 0u, c.tx_bytes, c.tx_packets,
                  c.tx_errors, c.tx_dropped, 0u, 0u, 0u, 0u);
    });
    return {};
}

Result<void> filesystems(TextBuffer& out)
{
    // Filesystems without a backing device are marked "nodev" [man 5 filesystems].
    out.put("nodev\tsysfs\nnodev\tproc\nnodev\tramfs\n\timagefs\n");
    return {};
}

Result<void> osrelease(ProcessSource& source, TextBuffer& out)
{
    out.put(source.kernel_release());
    out.put_char('\n');
    return {};
}

Result<void> pid_max(ProcessSource& source, TextBuffer& out)
{
    out.print("%u\n", source.pid_max());
    return {};
}

Result<void> overcommit_memory(TextBuffer& out)
{
    // 0: heuristic overcommit, Linux's default.
    out.put("0\n");
    return {};
}

Result<void> cpu_range(ProcessSource& source, TextBuffer& out)
{
    put_cpu_list(cpu_count(source), out);
    out.put_char('\n');
    return {};
}

} // namespace procfs::content
