// procfs and sysfs mounted on a Vfs (ramfs root) over a fake ProcessSource: the exact text
// of every file for the fake's data, symlinks, directory listings (also resumed with small
// buffers), ".." navigation, numbers that vanish between lookup and read, and that nothing
// can be written.
#include <procfs/procfs.h>
#include <procfs/text_buffer.h>

#include <gtest/gtest.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "../fs/fs_test_support.h"

namespace {

using fs_test::list_dir;
using fs_test::Namespace;
using procfs::ThreadState;
using Strings = std::vector<std::string>;

void put(lib::FormatSink& out, const std::string& s) { out.put(s.data(), s.size()); }

// A process with two threads, five descriptors, three mappings, on two CPUs.
class FakeSource final : public procfs::ProcessSource {
public:
    struct Thread {
        int tid;
        std::string name;
        ThreadState state;
        int cpu;
        uint64_t user_ns, system_ns;
    };
    struct Fd {
        int fd;
        std::string target;
    };

    std::vector<Thread> threads = {
        {42, "myprog", ThreadState::Running, 1, 2500000000, 500000000},
        {43, "worker thread name long", ThreadState::Sleeping, 0, 1000000000, 250000000},
    };
    std::vector<Fd> fds = {{0, "/dev/console"}, {1, "/dev/console"}, {2, "/dev/console"}, {5, "pipe:[5]"}, {3, "/tmp/x"}};
    std::vector<procfs::Mapping> mappings = {
        {0x555555554000, 0x555555556000, true, false, true, true, 0, 0, 0, 0, "/usr/bin/x"},
        {0x7ffff7fc1000, 0x7ffff7fc5000, true, true, false, true, 0, 0, 0, 0, ""},
        {0x7ffffffde000, 0x7ffffffff000, true, true, false, true, 0, 0, 0, 0, "[stack]"},
    };
    unsigned cpus = 2;
    std::string argv = std::string("/usr/bin/x\0-v\0", 14);
    std::string exe = "/usr/bin/x";
    int tid_calling = 43;

    int pid() override { return 42; }
    int current_tid() override { return tid_calling; }
    void cmdline(lib::FormatSink& out) override { put(out, argv); }
    void exe_path(lib::FormatSink& out) override { put(out, exe); }
    void cwd_path(lib::FormatSink& out) override { put(out, "/tmp"); }
    void auxv(lib::FormatSink& out) override
    {
        const uint64_t words[] = {6, 4096, 0, 0}; // AT_PAGESZ 4096, AT_NULL
        out.put(reinterpret_cast<const char*>(words), sizeof(words));
    }
    void for_each_thread(procfs::Visitor<const procfs::ThreadInfo&> visit) override
    {
        uint64_t switches = 7;
        for (const Thread& t : threads) {
            procfs::ThreadInfo info;
            info.tid = t.tid;
            info.name = lib::StringView(t.name.data(), t.name.size());
            info.state = t.state;
            info.cpu = t.cpu;
            info.user_ns = t.user_ns;
            info.system_ns = t.system_ns;
            info.voluntary_switches = switches++;
            info.involuntary_switches = 3;
            visit(info);
        }
    }
    void for_each_fd(procfs::Visitor<const procfs::FdInfo&> visit) override
    {
        for (const Fd& f : fds)
            visit(procfs::FdInfo{f.fd, lib::StringView(f.target.data(), f.target.size())});
    }
    void for_each_mapping(procfs::Visitor<const procfs::Mapping&> visit) override
    {
        for (const procfs::Mapping& m : mappings)
            visit(m);
    }
    procfs::MemoryUsage memory_usage() override
    {
        return {10 << 20, 2 << 20, 1 << 20, 4 << 20, 132 << 10, 8 << 10, 0};
    }
    uint64_t start_time_ns() override { return 1500000000; }

    unsigned cpu_count() override { return cpus; }
    procfs::CpuTimes cpu_times(unsigned cpu) override
    {
        if (cpu == 0)
            return {1230000000, 450000000, 10000000000};
        return {0, 0, 12000000000};
    }
    procfs::SystemMemory system_memory() override { return {512 << 20, 256 << 20, 300 << 20, 16 << 20}; }
    uint64_t uptime_ns() override { return 12345678000; }
    uint64_t idle_ns() override { return 5678000000; }
    uint64_t boot_time_sec() override { return 1700000000; }
    uint64_t context_switches() override { return 12345; }
    void for_each_mount(procfs::Visitor<const procfs::MountInfo&> visit) override
    {
        visit({"none", "/", "imagefs", true});
        visit({"none", "/tmp", "ramfs", false});
        visit({"proc", "/proc", "proc", false});
        visit({"", "/mnt/a b", "ramfs", false});
    }
    void cpu_vendor(lib::FormatSink& out) override { put(out, "GenuineIntel"); }
    void cpu_model_name(lib::FormatSink& out) override { put(out, "Intel(R) Xeon(R) Test CPU @ 2.00GHz"); }
    void cpu_flags(lib::FormatSink& out) override { put(out, "fpu vme de pse"); }
    procfs::CpuIdentity cpu_identity() override { return {6, 85, 7, 2000000, 16384, 40, 48}; }

    bool network = true;
    net::Mib mib;
    bool net_mib(net::Mib& out) override
    {
        if (network)
            out = mib;
        return network;
    }
    void for_each_net_interface(procfs::Visitor<const net::InterfaceCounters&> visit) override
    {
        if (!network)
            return;
        // name, rx bytes/packets/errors/dropped, tx bytes/packets/errors/dropped
        visit(net::InterfaceCounters{"lo", 1234, 12, 0, 0, 1234, 12, 0, 0});
        visit(net::InterfaceCounters{"eth0", 987654321, 654321, 3, 4, 123456789, 54321, 0, 7});
    }
};

class ProcFsTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_OK(fs::mkdir(ns.ctx, "/proc", 0555));
        ASSERT_OK(fs::mkdir(ns.ctx, "/sys", 0555));
        ASSERT_OK(fs::mkdir(ns.ctx, "/tmp", 0777));
        ASSERT_OK(ns.write_file("/tmp/x", "hello"));
        auto proc = procfs::create_procfs(source);
        ASSERT_OK(proc);
        ASSERT_OK(ns.vfs.mount(ns.ctx, "/proc", proc.value()));
        auto sys = procfs::create_sysfs(source);
        ASSERT_OK(sys);
        ASSERT_OK(ns.vfs.mount(ns.ctx, "/sys", sys.value()));
    }

    std::string read(const char* path)
    {
        auto r = ns.read_file(path);
        if (r.is_error())
            return std::string("<") + lib::errno_name(r.error()) + ">";
        return r.value();
    }

    std::string readlink(const char* path)
    {
        char buf[256];
        fs::KernelBuffer kb(static_cast<void*>(buf), sizeof(buf));
        auto n = fs::readlink(ns.ctx, path, kb);
        if (n.is_error())
            return std::string("<") + lib::errno_name(n.error()) + ">";
        return std::string(buf, n.value());
    }

    Strings list(const char* path, size_t buffer_size = 4096)
    {
        auto dir = fs::open(ns.ctx, path, fs::kOpenReadOnly | fs::kOpenDirectory);
        if (dir.is_error())
            return {std::string("<") + lib::errno_name(dir.error()) + ">"};
        return list_dir(*dir.value(), buffer_size);
    }

    // The source outlives the namespace whose mounts refer to it.
    FakeSource source;
    Namespace ns;
};

Strings split(const std::string& s, char sep)
{
    Strings out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, sep))
        out.push_back(item);
    return out;
}

constexpr const char* kStatus42 =
    "Name:\tmyprog\n"
    "Umask:\t0022\n"
    "State:\tR (running)\n"
    "Tgid:\t42\n"
    "Ngid:\t0\n"
    "Pid:\t42\n"
    "PPid:\t0\n"
    "TracerPid:\t0\n"
    "Uid:\t0\t0\t0\t0\n"
    "Gid:\t0\t0\t0\t0\n"
    "FDSize:\t64\n"
    "Groups:\t\n"
    "NStgid:\t42\n"
    "NSpid:\t42\n"
    "NSpgid:\t42\n"
    "NSsid:\t42\n"
    "VmPeak:\t   10240 kB\n"
    "VmSize:\t   10240 kB\n"
    "VmLck:\t       0 kB\n"
    "VmPin:\t       0 kB\n"
    "VmHWM:\t    2048 kB\n"
    "VmRSS:\t    2048 kB\n"
    "RssAnon:\t    1024 kB\n"
    "RssFile:\t    1024 kB\n"
    "RssShmem:\t       0 kB\n"
    "VmData:\t    4096 kB\n"
    "VmStk:\t     132 kB\n"
    "VmExe:\t       8 kB\n"
    "VmLib:\t       0 kB\n"
    "VmPTE:\t       0 kB\n"
    "VmSwap:\t       0 kB\n"
    "HugetlbPages:\t       0 kB\n"
    "CoreDumping:\t0\n"
    "THP_enabled:\t1\n"
    "Threads:\t2\n"
    "SigQ:\t0/0\n"
    "SigPnd:\t0000000000000000\n"
    "ShdPnd:\t0000000000000000\n"
    "SigBlk:\t0000000000000000\n"
    "SigIgn:\t0000000000000000\n"
    "SigCgt:\t0000000000000000\n"
    "CapInh:\t0000000000000000\n"
    "CapPrm:\t000001ffffffffff\n"
    "CapEff:\t000001ffffffffff\n"
    "CapBnd:\t000001ffffffffff\n"
    "CapAmb:\t0000000000000000\n"
    "NoNewPrivs:\t0\n"
    "Seccomp:\t0\n"
    "Seccomp_filters:\t0\n"
    "Speculation_Store_Bypass:\tthread vulnerable\n"
    "SpeculationIndirectBranch:\tconditional enabled\n"
    "Cpus_allowed:\t3\n"
    "Cpus_allowed_list:\t0-1\n"
    "Mems_allowed:\t1\n"
    "Mems_allowed_list:\t0\n"
    "voluntary_ctxt_switches:\t7\n"
    "nonvoluntary_ctxt_switches:\t3\n";

TEST_F(ProcFsTest, StatusOfTheProcess)
{
    EXPECT_EQ(read("/proc/42/status"), kStatus42);
    EXPECT_EQ(read("/proc/self/status"), kStatus42);
}

TEST_F(ProcFsTest, StatusOfAThread)
{
    std::string s = read("/proc/self/task/43/status");
    EXPECT_NE(s.find("Name:\tworker thread n\n"), std::string::npos) << s; // cut to 15 bytes
    EXPECT_NE(s.find("State:\tS (sleeping)\nTgid:\t42\nNgid:\t0\nPid:\t43\nPPid:\t0\n"), std::string::npos) << s;
    EXPECT_NE(s.find("Threads:\t2\n"), std::string::npos);
    EXPECT_NE(s.find("voluntary_ctxt_switches:\t8\n"), std::string::npos);
    EXPECT_EQ(read("/proc/self/task/42/status"), kStatus42);
}

TEST_F(ProcFsTest, StatHasEveryFieldInPlace)
{
    const std::string expected = "42 (myprog) R 0 42 42 0 -1 4194304 0 0 0 0 350 75 0 0 20 0 2 0 150 10485760 512 "
                                 "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    EXPECT_EQ(read("/proc/self/stat"), expected);
    Strings fields = split(expected.substr(0, expected.size() - 1), ' ');
    ASSERT_EQ(fields.size(), 52u);
    EXPECT_EQ(fields[2], "R");         // state
    EXPECT_EQ(fields[19], "2");        // num_threads
    EXPECT_EQ(fields[21], "150");      // starttime, ticks
    EXPECT_EQ(fields[22], "10485760"); // vsize, bytes
    EXPECT_EQ(fields[23], "512");      // rss, pages
    EXPECT_EQ(fields[37], "17");       // exit_signal
    EXPECT_EQ(fields[38], "1");        // processor

    // A task's stat: its own tid, name (with spaces, as Linux prints it), state and times.
    const std::string task = "43 (worker thread n) S 0 42 42 0 -1 4194304 0 0 0 0 100 25 0 0 20 0 2 0 150 10485760 "
                             "512 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
    EXPECT_EQ(read("/proc/42/task/43/stat"), task);
    EXPECT_EQ(split(task.substr(task.find(')')), ' ').size(), 51u); // the comm's spaces aside
}

TEST_F(ProcFsTest, StatmCommCmdlineAuxv)
{
    EXPECT_EQ(read("/proc/self/statm"), "2560 512 256 2 0 1057 0\n");
    EXPECT_EQ(read("/proc/self/comm"), "myprog\n");
    EXPECT_EQ(read("/proc/self/task/43/comm"), "worker thread n\n");
    EXPECT_EQ(read("/proc/self/cmdline"), std::string("/usr/bin/x\0-v\0", 14));
    EXPECT_EQ(read("/proc/self/environ"), "");
    std::string auxv = read("/proc/self/auxv");
    ASSERT_EQ(auxv.size(), 32u);
    uint64_t words[4];
    std::memcpy(words, auxv.data(), 32);
    EXPECT_EQ(words[0], 6u);
    EXPECT_EQ(words[1], 4096u);
    EXPECT_EQ(words[2], 0u);
}

TEST_F(ProcFsTest, MapsInLinuxColumns)
{
    // The path starts in column 74: the fields are padded to 72 columns, then one space.
    std::string line1 = "555555554000-555555556000 r-xp 00000000 00:00 0";
    std::string line3 = "7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0";
    std::string expected = line1 + std::string(73 - line1.size(), ' ') + "/usr/bin/x\n" +
                           "7ffff7fc1000-7ffff7fc5000 rw-p 00000000 00:00 0\n" + line3 +
                           std::string(73 - line3.size(), ' ') + "[stack]\n";
    EXPECT_EQ(read("/proc/self/maps"), expected);

    // Short addresses are zero-padded to 8 digits; a shared file mapping with an offset.
    source.mappings = {{0x400000, 0x401000, true, true, false, false, 0x2000, 8, 1, 1234, "/data/a\nb"}};
    std::string line = "00400000-00401000 rw-s 00002000 08:01 1234";
    EXPECT_EQ(read("/proc/self/maps"), line + std::string(73 - line.size(), ' ') + "/data/a\\012b\n");
}

TEST_F(ProcFsTest, Symlinks)
{
    EXPECT_EQ(readlink("/proc/self"), "42");
    EXPECT_EQ(readlink("/proc/thread-self"), "42/task/43");
    EXPECT_EQ(readlink("/proc/self/exe"), "/usr/bin/x");
    EXPECT_EQ(readlink("/proc/42/cwd"), "/tmp");
    EXPECT_EQ(readlink("/proc/42/root"), "/");
    EXPECT_EQ(readlink("/proc/self/fd/0"), "/dev/console");
    EXPECT_EQ(readlink("/proc/self/fd/3"), "/tmp/x");
    EXPECT_EQ(readlink("/proc/self/fd/5"), "pipe:[5]");
    EXPECT_EQ(readlink("/proc/mounts"), "self/mounts");
    // Followed like any symlink: into the process directory, and out to the real files.
    EXPECT_EQ(read("/proc/thread-self/comm"), "worker thread n\n");
    EXPECT_EQ(read("/proc/self/fd/3"), "hello");
    EXPECT_EQ(read("/proc/self/cwd/x"), "hello");
    EXPECT_EQ(read("/proc/mounts"), read("/proc/self/mounts"));

    auto l = fs::stat(ns.ctx, "/proc/self/fd/3", fs::kAtSymlinkNoFollow);
    ASSERT_OK(l);
    EXPECT_EQ(l.value().mode, fs::kModeSymlink | 0700);
    EXPECT_EQ(l.value().size, 0u);
    // Not a symlink: INVAL, as readlink(2) says.
    EXPECT_EQ(readlink("/proc/self/status"), "<EINVAL>");
    // No executable to show.
    source.exe = "";
    EXPECT_EQ(readlink("/proc/self/exe"), "<ENOENT>");
}

TEST_F(ProcFsTest, NetDevInLinuxColumns)
{
    // Linux's two header lines, then "%6s:" and sixteen right-aligned counters per interface.
    EXPECT_EQ(read("/proc/net/dev"),
              "Inter-|   Receive                                                |  Transmit\n"
              " face |bytes    packets errs drop fifo frame compressed multicast|"
              "bytes    packets errs drop fifo colls carrier compressed\n"
              "    lo:    1234      12    0    0    0     0          0         0     1234      12    0    0    0     0"
              "       0          0\n"
              "  eth0: 987654321  654321    3    4    0     0          0         0 123456789   54321    0    7    0     0"
              "       0          0\n");
    source.network = false;
    EXPECT_EQ(split(read("/proc/net/dev"), '\n').size(), 2u); // the headers alone
}

TEST_F(ProcFsTest, NetSnmpPairsNamesWithValues)
{
    net::Mib& m = source.mib;
    m.ip_in_receives = 100;
    m.ip_in_hdr_errors = 2;
    m.ip_frag_oks = 5;
    m.ip_frag_creates = 11;
    m.icmp_in_msgs = 4;
    m.icmp_in_types[8] = 3;  // echo requests
    m.icmp_in_types[3] = 1;  // destination unreachable
    m.icmp_out_types[0] = 3; // echo replies
    m.icmp_out_msgs = 3;
    m.tcp_active_opens = 6;
    m.tcp_curr_estab = 2;
    m.tcp_retrans_segs = 9;
    m.tcp_in_segs = 70;
    m.udp_in_datagrams = 8;
    m.udp_no_ports = 1;
    Strings lines = split(read("/proc/net/snmp"), '\n');
    ASSERT_EQ(lines.size(), 12u); // Ip Icmp IcmpMsg Tcp Udp UdpLite: names and values each
    // Each group: a line of names, a line of as many values, both led by the group's name.
    auto field = [&](const std::string& group, const std::string& name) -> std::string {
        for (size_t i = 0; i + 1 < lines.size(); i += 2) {
            Strings names = split(lines[i], ' '), values = split(lines[i + 1], ' ');
            EXPECT_EQ(names.size(), values.size()) << lines[i];
            EXPECT_EQ(names[0], values[0]);
            if (names[0] != group + ":")
                continue;
            for (size_t j = 1; j < names.size(); j++)
                if (names[j] == name)
                    return values[j];
        }
        return "<missing>";
    };
    EXPECT_EQ(lines[0].substr(0, 39), "Ip: Forwarding DefaultTTL InReceives In");
    EXPECT_EQ(field("Ip", "Forwarding"), "2");
    EXPECT_EQ(field("Ip", "DefaultTTL"), "64");
    EXPECT_EQ(field("Ip", "InReceives"), "100");
    EXPECT_EQ(field("Ip", "InHdrErrors"), "2");
    EXPECT_EQ(field("Ip", "FragOKs"), "5");
    EXPECT_EQ(field("Ip", "FragCreates"), "11");
    EXPECT_EQ(field("Icmp", "InMsgs"), "4");
    EXPECT_EQ(field("Icmp", "InEchos"), "3");
    EXPECT_EQ(field("Icmp", "InDestUnreachs"), "1");
    EXPECT_EQ(field("Icmp", "OutEchoReps"), "3");
    EXPECT_EQ(field("Icmp", "OutMsgs"), "3");
    EXPECT_EQ(field("IcmpMsg", "InType3"), "1");
    EXPECT_EQ(field("IcmpMsg", "InType8"), "3");
    EXPECT_EQ(field("IcmpMsg", "OutType0"), "3");
    EXPECT_EQ(field("Tcp", "RtoMin"), "200");
    EXPECT_EQ(field("Tcp", "MaxConn"), "-1");
    EXPECT_EQ(field("Tcp", "ActiveOpens"), "6");
    EXPECT_EQ(field("Tcp", "CurrEstab"), "2");
    EXPECT_EQ(field("Tcp", "InSegs"), "70");
    EXPECT_EQ(field("Tcp", "RetransSegs"), "9");
    EXPECT_EQ(field("Udp", "InDatagrams"), "8");
    EXPECT_EQ(field("Udp", "NoPorts"), "1");
    EXPECT_EQ(field("UdpLite", "InDatagrams"), "0");
    // No ICMP yet: Linux leaves the IcmpMsg lines out.
    source.mib = net::Mib();
    EXPECT_EQ(split(read("/proc/net/snmp"), '\n').size(), 10u);
}

TEST_F(ProcFsTest, ListsDirectories)
{
    EXPECT_EQ(list("/proc"), (Strings {".", "..", "self", "thread-self", "cpuinfo", "meminfo", "stat", "uptime",
                                       "loadavg", "version", "filesystems", "mounts", "sys", "net", "42"}));
    EXPECT_EQ(list("/proc/net"), (Strings {".", "..", "dev", "snmp"}));
    EXPECT_EQ(list("/proc/self"), (Strings {".", "..", "exe", "cwd", "root", "cmdline", "environ", "auxv", "maps",
                                            "status", "stat", "statm", "comm", "mounts", "fd", "task"}));
    EXPECT_EQ(list("/proc/self/fd"), (Strings {".", "..", "0", "1", "2", "3", "5"})); // sorted
    EXPECT_EQ(list("/proc/self/task"), (Strings {".", "..", "42", "43"}));
    EXPECT_EQ(list("/proc/self/task/43"), (Strings {".", "..", "comm", "stat", "status"}));
    EXPECT_EQ(list("/proc/sys"), (Strings {".", "..", "kernel", "vm"}));
    EXPECT_EQ(list("/proc/sys/kernel"), (Strings {".", "..", "osrelease", "pid_max"}));
    EXPECT_EQ(list("/sys"), (Strings {".", "..", "devices", "fs"}));
    EXPECT_EQ(list("/sys/devices/system/cpu"), (Strings {".", "..", "online", "possible", "present", "cpu0", "cpu1"}));
    EXPECT_EQ(list("/sys/devices/system/cpu/cpu1"), (Strings {".", ".."}));
    EXPECT_EQ(list("/sys/fs/cgroup"), (Strings {".", ".."}));
}

TEST_F(ProcFsTest, ListingsResumeWithSmallBuffers)
{
    // 48 bytes hold at most two records: every listing is resumed from cookies many times.
    for (const char* dir : {"/proc", "/proc/self", "/proc/self/fd", "/proc/self/task", "/sys/devices/system/cpu"})
        EXPECT_EQ(list(dir, 48), list(dir)) << dir;
    // Descriptors opened and closed between two getdents calls: the ones that stayed are
    // listed exactly once.
    auto dir = fs::open(ns.ctx, "/proc/self/fd", fs::kOpenReadOnly | fs::kOpenDirectory);
    ASSERT_OK(dir);
    alignas(8) char buf[64];
    fs::KernelBuffer kb(static_cast<void*>(buf), sizeof(buf));
    auto n = dir.value()->getdents(kb); // ".", "..": 2 × 24 bytes
    ASSERT_OK(n);
    source.fds = {{1, "/a"}, {9, "/b"}, {2, "/c"}, {3, "/d"}};
    Strings rest = list_dir(*dir.value(), 4096);
    EXPECT_EQ(rest, (Strings {"1", "2", "3", "9"}));
}

TEST_F(ProcFsTest, LookupsOfNumbers)
{
    EXPECT_EQ(read("/proc/43/status"), "<ENOENT>"); // only the process is listed
    EXPECT_EQ(read("/proc/042/status"), "<ENOENT>");
    EXPECT_EQ(read("/proc/+42/status"), "<ENOENT>");
    EXPECT_EQ(read("/proc/99999999999/status"), "<ENOENT>");
    EXPECT_EQ(read("/proc/self/task/99/stat"), "<ENOENT>");
    EXPECT_EQ(readlink("/proc/self/fd/4"), "<ENOENT>");
    EXPECT_EQ(read("/sys/devices/system/cpu/cpu2/x"), "<ENOENT>");
    EXPECT_EQ(list("/sys/devices/system/cpu/cpu01"), (Strings {"<ENOENT>"}));
    EXPECT_EQ(read("/proc/nothing"), "<ENOENT>");
    EXPECT_EQ(read("/proc/self/status/x"), "<ENOTDIR>");
}

TEST_F(ProcFsTest, DotDotClimbs)
{
    EXPECT_EQ(read("/proc/self/task/43/../../status"), kStatus42);
    EXPECT_EQ(read("/proc/self/fd/../comm"), "myprog\n");
    EXPECT_EQ(read("/proc/sys/kernel/../vm/overcommit_memory"), "0\n");
    EXPECT_EQ(read("/sys/devices/system/cpu/cpu1/../online"), "0-1\n");
    EXPECT_EQ(read("/proc/self/../uptime"), "12.34 5.67\n");
    EXPECT_EQ(read("/proc/../tmp/x"), "hello"); // out of the mount
}

TEST_F(ProcFsTest, NumbersThatVanish)
{
    auto task = fs::open(ns.ctx, "/proc/self/task/43/stat", fs::kOpenReadOnly);
    ASSERT_OK(task);
    auto fd_dir = fs::lookup_directory(ns.ctx, "/proc/self/fd");
    ASSERT_OK(fd_dir);
    auto link = fd_dir.value().vnode->lookup("5");
    ASSERT_OK(link);
    source.threads.pop_back();
    source.fds.pop_back();
    source.fds.erase(source.fds.begin() + 3); // fd 5
    char buf[64];
    fs::KernelBuffer kb(static_cast<void*>(buf), sizeof(buf));
    EXPECT_ERRNO(task.value()->read(kb), Errno::SRCH);
    EXPECT_ERRNO(link.value()->readlink(buf, sizeof(buf)), Errno::NOENT);
    EXPECT_EQ(read("/proc/self/status").find("Threads:\t1\n") != std::string::npos, true);
    // The main thread gone, the others running: the process's files still answer.
    source.threads = {{44, "other", ThreadState::Running, 0, 0, 0}};
    std::string s = read("/proc/self/status");
    EXPECT_EQ(s.rfind("Name:\tx\nUmask:\t0022\nState:\tZ (zombie)\nTgid:\t42\n", 0), 0u) << s;
}

TEST_F(ProcFsTest, ChunkedReadsSeeTheSameText)
{
    auto f = fs::open(ns.ctx, "/proc/self/status", fs::kOpenReadOnly);
    ASSERT_OK(f);
    std::string out;
    for (;;) {
        char chunk[7];
        fs::KernelBuffer kb(static_cast<void*>(chunk), sizeof(chunk));
        auto n = f.value()->read(kb);
        ASSERT_OK(n);
        if (n.value() == 0)
            break;
        out.append(chunk, n.value());
    }
    EXPECT_EQ(out, kStatus42);
    char byte;
    fs::KernelBuffer kb(static_cast<void*>(&byte), 1);
    auto n = f.value()->pread(100000, kb);
    ASSERT_OK(n);
    EXPECT_EQ(n.value(), 0u);
}

TEST_F(ProcFsTest, Cpuinfo)
{
    const std::string block = "vendor_id\t: GenuineIntel\n"
                              "cpu family\t: 6\n"
                              "model\t\t: 85\n"
                              "model name\t: Intel(R) Xeon(R) Test CPU @ 2.00GHz\n"
                              "stepping\t: 7\n"
                              "microcode\t: 0x1\n"
                              "cpu MHz\t\t: 2000.000\n"
                              "cache size\t: 16384 KB\n"
                              "physical id\t: 0\n"
                              "siblings\t: 2\n";
    const std::string tail = "fpu\t\t: yes\n"
                             "fpu_exception\t: yes\n"
                             "cpuid level\t: 13\n"
                             "wp\t\t: yes\n"
                             "flags\t\t: fpu vme de pse\n"
                             "bugs\t\t:\n"
                             "bogomips\t: 4000.00\n"
                             "clflush size\t: 64\n"
                             "cache_alignment\t: 64\n"
                             "address sizes\t: 40 bits physical, 48 bits virtual\n"
                             "power management:\n\n";
    std::string expected;
    for (int cpu = 0; cpu < 2; cpu++) {
        std::string n = std::to_string(cpu);
        expected += "processor\t: " + n + "\n" + block + "core id\t\t: " + n + "\ncpu cores\t: 2\napicid\t\t: " + n +
                    "\ninitial apicid\t: " + n + "\n" + tail;
    }
    EXPECT_EQ(read("/proc/cpuinfo"), expected);
}

TEST_F(ProcFsTest, Meminfo)
{
    std::string m = read("/proc/meminfo");
    for (const char* line : {"MemTotal:         524288 kB\n", "MemFree:          262144 kB\n",
                             "MemAvailable:     307200 kB\n", "Buffers:               0 kB\n",
                             "Cached:            16384 kB\n", "SwapTotal:             0 kB\n",
                             "SwapFree:              0 kB\n", "HugePages_Total:       0\n",
                             "Hugepagesize:       2048 kB\n"})
        EXPECT_NE(m.find(line), std::string::npos) << line << " in\n" << m;
    EXPECT_EQ(m.substr(0, 9), "MemTotal:");
    // Every line is "Name:<padding>value[ kB]".
    for (const std::string& line : split(m, '\n'))
        EXPECT_NE(line.find(':'), std::string::npos) << line;
}

TEST_F(ProcFsTest, SystemFiles)
{
    EXPECT_EQ(read("/proc/stat"), "cpu  123 0 45 2200 0 0 0 0 0 0\n"
                                  "cpu0 123 0 45 1000 0 0 0 0 0 0\n"
                                  "cpu1 0 0 0 1200 0 0 0 0 0 0\n"
                                  "intr 0\n"
                                  "ctxt 12345\n"
                                  "btime 1700000000\n"
                                  "processes 1\n"
                                  "procs_running 1\n"
                                  "procs_blocked 0\n"
                                  "softirq 0 0 0 0 0 0 0 0 0 0 0\n");
    EXPECT_EQ(read("/proc/uptime"), "12.34 5.67\n");
    EXPECT_EQ(read("/proc/loadavg"), "0.00 0.00 0.00 1/2 43\n");
    EXPECT_EQ(read("/proc/version"), "Linux version 6.1.0-nimbus (nimbus@nimbus) (clang version 19) #1 SMP Nimbus\n");
    EXPECT_EQ(read("/proc/sys/kernel/osrelease"), "6.1.0-nimbus\n");
    EXPECT_EQ(read("/proc/sys/kernel/pid_max"), "4194304\n");
    EXPECT_EQ(read("/proc/sys/vm/overcommit_memory"), "0\n");
    EXPECT_EQ(read("/proc/filesystems"), "nodev\tsysfs\nnodev\tproc\nnodev\tramfs\n\timagefs\n");
    EXPECT_EQ(read("/proc/self/mounts"), "none / imagefs ro 0 0\n"
                                         "none /tmp ramfs rw 0 0\n"
                                         "proc /proc proc rw 0 0\n"
                                         "none /mnt/a\\040b ramfs rw 0 0\n");
}

TEST_F(ProcFsTest, SysfsCpus)
{
    EXPECT_EQ(read("/sys/devices/system/cpu/online"), "0-1\n");
    EXPECT_EQ(read("/sys/devices/system/cpu/possible"), "0-1\n");
    EXPECT_EQ(read("/sys/devices/system/cpu/present"), "0-1\n");
    auto cpu1 = fs::stat(ns.ctx, "/sys/devices/system/cpu/cpu1");
    ASSERT_OK(cpu1);
    EXPECT_EQ(cpu1.value().mode, fs::kModeDirectory | 0555);
    EXPECT_EQ(read("/sys/devices/system/cpu/cpu2"), "<ENOENT>");
    source.cpus = 1;
    EXPECT_EQ(read("/sys/devices/system/cpu/online"), "0\n");
    EXPECT_NE(read("/proc/self/status").find("Cpus_allowed:\t1\nCpus_allowed_list:\t0\n"), std::string::npos);
}

TEST_F(ProcFsTest, CpuMasksOfManyCpus)
{
    source.cpus = 4;
    EXPECT_NE(read("/proc/self/status").find("Cpus_allowed:\tf\nCpus_allowed_list:\t0-3\n"), std::string::npos);
    source.cpus = 32;
    EXPECT_NE(read("/proc/self/status").find("Cpus_allowed:\tffffffff\n"), std::string::npos);
    source.cpus = 37;
    EXPECT_NE(read("/proc/self/status").find("Cpus_allowed:\t1f,ffffffff\nCpus_allowed_list:\t0-36\n"),
              std::string::npos);
    EXPECT_EQ(list("/sys/devices/system/cpu").size(), 5u + 37u);
}

TEST_F(ProcFsTest, NothingCanBeWritten)
{
    EXPECT_ERRNO(fs::open(ns.ctx, "/proc/self/status", fs::kOpenWriteOnly), Errno::ROFS);
    EXPECT_ERRNO(fs::open(ns.ctx, "/proc/sys/vm/overcommit_memory", fs::kOpenReadWrite), Errno::ROFS);
    EXPECT_ERRNO(fs::open(ns.ctx, "/proc/new", fs::kOpenWriteOnly | fs::kOpenCreate, 0644), Errno::ROFS);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/proc/d", 0755), Errno::ROFS);
    EXPECT_ERRNO(fs::mkdir(ns.ctx, "/sys/fs/cgroup/x", 0755), Errno::ROFS);
    EXPECT_ERRNO(fs::unlink(ns.ctx, "/proc/self/fd/0"), Errno::ROFS);
    EXPECT_ERRNO(fs::symlink(ns.ctx, "x", "/proc/self/fd/9"), Errno::ROFS);
    fs::SetAttr chmod;
    chmod.mask = fs::SetAttr::kMode;
    chmod.mode = 0777;
    EXPECT_ERRNO(fs::set_attr(ns.ctx, "/proc/uptime", true, chmod), Errno::ROFS);
    // The vnodes refuse on their own too (a mount that forgot the flag).
    auto root = fs::lookup_directory(ns.ctx, "/proc");
    ASSERT_OK(root);
    auto uptime = root.value().vnode->lookup("uptime");
    ASSERT_OK(uptime);
    char data[1] = {'1'};
    fs::KernelBuffer kb(static_cast<const void*>(data), 1);
    uint64_t offset = 0;
    EXPECT_ERRNO(uptime.value()->write(offset, kb, false), Errno::ROFS);
    EXPECT_ERRNO(root.value().vnode->create("f", 0644), Errno::ROFS);
    EXPECT_ERRNO(root.value().vnode->unlink("uptime"), Errno::ROFS);
    EXPECT_TRUE(root.value().vnode->fs().is_read_only());
}

TEST_F(ProcFsTest, AttributesAndIdentity)
{
    auto a = fs::stat(ns.ctx, "/proc/self/status");
    ASSERT_OK(a);
    EXPECT_EQ(a.value().mode, fs::kModeRegular | 0444);
    EXPECT_EQ(a.value().size, 0u);
    EXPECT_EQ(fs::stat(ns.ctx, "/proc/self/fd").value().mode, fs::kModeDirectory | 0500);
    EXPECT_EQ(fs::stat(ns.ctx, "/proc/self/auxv").value().mode, fs::kModeRegular | 0400);
    // The same file by two paths is one inode; different files differ.
    EXPECT_EQ(fs::stat(ns.ctx, "/proc/self/task/43").value().ino, fs::stat(ns.ctx, "/proc/42/task/43").value().ino);
    EXPECT_NE(fs::stat(ns.ctx, "/proc/self/task/43/stat").value().ino,
              fs::stat(ns.ctx, "/proc/self/task/42/stat").value().ino);
    EXPECT_NE(fs::stat(ns.ctx, "/proc/self/stat").value().ino, fs::stat(ns.ctx, "/proc/stat").value().ino);
    EXPECT_NE(fs::stat(ns.ctx, "/proc").value().dev, fs::stat(ns.ctx, "/sys").value().dev);
}

// A source whose command line never ends: NOMEM at the size cap, not a crash or a heap eaten.
TEST_F(ProcFsTest, RunawayContentIsNomem)
{
    source.argv = std::string(procfs::TextBuffer::kMaxSize + 1, 'a');
    auto f = fs::open(ns.ctx, "/proc/self/cmdline", fs::kOpenReadOnly);
    ASSERT_OK(f);
    char buf[16];
    fs::KernelBuffer kb(static_cast<void*>(buf), sizeof(buf));
    EXPECT_ERRNO(f.value()->read(kb), Errno::NOMEM);
}

TEST(TextBuffer, GrowsAndFormats)
{
    procfs::TextBuffer t;
    for (int i = 0; i < 1000; i++)
        t.print("%d,", i);
    EXPECT_OK(t.status());
    std::string s(t.data(), t.size());
    EXPECT_EQ(s.substr(0, 8), "0,1,2,3,");
    EXPECT_EQ(s.substr(s.size() - 4), "999,");
    t.put(std::string(procfs::TextBuffer::kMaxSize, 'x').c_str(), procfs::TextBuffer::kMaxSize);
    EXPECT_ERRNO(t.status(), Errno::NOMEM);
}

} // namespace
