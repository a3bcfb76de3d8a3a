// Unit tests of the QEMU and kernel command lines.
#include "runner/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace runner {
namespace {

using Args = std::vector<std::string>;

// Index of the first `flag` followed by `value` in argv, or -1.
int find_pair(const Args& argv, const std::string& flag, const std::string& value) {
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == flag && argv[i + 1] == value) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

bool has(const Args& argv, const std::string& s) {
    return std::find(argv.begin(), argv.end(), s) != argv.end();
}

// The argv, which must build.
Args build(const RunOptions& o, const QemuInputs& in) {
    auto argv = build_qemu_argv(o, in);
    EXPECT_TRUE(argv) << argv.error;
    return argv ? *argv.value : Args{};
}

QemuInputs inputs(Accel accel = Accel::Tcg) {
    QemuInputs in;
    in.qemu = "/usr/bin/qemu-system-x86_64";
    in.kernel = "/k/kernel.elf";
    in.status_path = "/tmp/st";
    in.accel = {accel, "test"};
    return in;
}

TEST(RunnerCmdline, BootOptionsThenGuestWords) {
    EXPECT_EQ(build_kernel_cmdline({}, {}), "");
    EXPECT_EQ(build_kernel_cmdline({"a", "b=1"}, {}), "a b=1");
    EXPECT_EQ(build_kernel_cmdline({}, {"/bin/app"}), "-- /bin/app");
    EXPECT_EQ(build_kernel_cmdline({"boot.times"}, {"/bin/app", "x", "hello world"}),
              "boot.times -- /bin/app x 'hello world'");
    // Boot options in the kernel parser's key="value" form.
    EXPECT_EQ(build_kernel_cmdline({"x=a b", "log=debug"}, {"LANG=C.UTF-8", "/p", "it's"}),
              "x=\"a b\" log=debug -- LANG=C.UTF-8 /p 'it'\\''s'");
}

TEST(RunnerQemu, CommonDevicesAndProtocol) {
    RunOptions o;
    Args a = build(o, inputs());
    EXPECT_EQ(a[0], "/usr/bin/qemu-system-x86_64");
    EXPECT_GE(find_pair(a, "-M", "microvm,acpi=on,pic=off,pit=on,rtc=on"), 0);
    EXPECT_TRUE(has(a, "-nodefaults"));
    EXPECT_TRUE(has(a, "-no-user-config"));
    EXPECT_TRUE(has(a, "-no-reboot"));
    EXPECT_GE(find_pair(a, "-display", "none"), 0);
    EXPECT_GE(find_pair(a, "-kernel", "/k/kernel.elf"), 0);
    EXPECT_GE(find_pair(a, "-smp", "1"), 0);
    EXPECT_GE(find_pair(a, "-m", "128M"), 0);
    EXPECT_GE(find_pair(a, "-serial", "stdio"), 0);
    EXPECT_GE(find_pair(a, "-chardev", "file,id=nimbus-status,path=/tmp/st"), 0);
    EXPECT_GE(find_pair(a, "-device", "isa-serial,chardev=nimbus-status,iobase=0x2f8,irq=3"), 0);
    EXPECT_GE(find_pair(a, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"), 0);
    // stdin is relayed; the default network card on microvm's transport 1 is announced.
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe virtio_mmio.device=512@0xfeb00200:25"), 0);
    EXPECT_GE(find_pair(a, "-netdev", "user,id=nimbus-net0"), 0);
    EXPECT_FALSE(has(a, "-initrd"));
}

TEST(RunnerQemu, TerminalConsole) {
    RunOptions o;
    o.net.mode = NetMode::None;  // no device announcement on the command line
    QemuInputs in = inputs();
    in.console_input = ConsoleInput::Tty;
    Args a = build(o, in);
    EXPECT_GE(find_pair(a, "-chardev", "stdio,id=con,signal=off"), 0);
    EXPECT_GE(find_pair(a, "-serial", "chardev:con"), 0);
    EXPECT_FALSE(has(a, "stdio"));
    EXPECT_FALSE(has(a, "-append"));  // console.input=tty is the kernel's default
    o.boot_options = {"console.input=tty"};
    in.console_input = ConsoleInput::Pipe;
    a = build(o, in);
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe console.input=tty"), 0);  // last wins
}

TEST(RunnerQemu, Machines) {
    RunOptions o;
    o.machine = Machine::Q35;
    Args a = build(o, inputs());
    EXPECT_GE(find_pair(a, "-M", "q35"), 0);
    EXPECT_FALSE(has(a, "-global"));  // virtio-mmio is a microvm thing
    o.machine = Machine::Pc;
    EXPECT_GE(find_pair(build(o, inputs()), "-M", "pc"), 0);
    o.machine = Machine::MicrovmNoAcpi;
    a = build(o, inputs());
    EXPECT_GE(find_pair(a, "-M", "microvm,acpi=off,pic=off,pit=on,rtc=on,auto-kernel-cmdline=off"), 0);
    EXPECT_GE(find_pair(a, "-global", "virtio-mmio.force-legacy=false"), 0);
}

TEST(RunnerQemu, Accelerators) {
    RunOptions o;
    Args a = build(o, inputs(Accel::Tcg));
    EXPECT_GE(find_pair(a, "-accel", "tcg"), 0);
    EXPECT_GE(find_pair(a, "-cpu", "max"), 0);

    o.cpus = 4;
    a = build(o, inputs(Accel::Tcg));
    EXPECT_GE(find_pair(a, "-accel", "tcg,thread=multi"), 0);
    EXPECT_GE(find_pair(a, "-smp", "4"), 0);

    o.icount = true;
    a = build(o, inputs(Accel::Tcg));
    EXPECT_GE(find_pair(a, "-accel", "tcg,thread=single"), 0);
    EXPECT_GE(find_pair(a, "-icount", "shift=0,sleep=off"), 0);

    RunOptions k;
    a = build(k, inputs(Accel::Kvm));
    EXPECT_GE(find_pair(a, "-accel", "kvm"), 0);
    EXPECT_GE(find_pair(a, "-cpu", "host"), 0);
    EXPECT_FALSE(has(a, "max"));
}

TEST(RunnerQemu, AppendAndInitrd) {
    RunOptions o;
    o.net.mode = NetMode::None;  // no device announcement on the command line
    o.boot_options = {"boot.times"};
    o.program = {"/bin/echo", "hi there"};
    o.initrd = "/i.cpio";
    QemuInputs in = inputs();
    in.guest_environment = {"HOME=/", "TERM=dumb"};
    Args a = build(o, in);
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe boot.times -- HOME=/ TERM=dumb /bin/echo 'hi there'"), 0);
    EXPECT_GE(find_pair(a, "-initrd", "/i.cpio"), 0);

    // No program: the environment is not passed.
    o.program.clear();
    a = build(o, in);
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe boot.times"), 0);
}

TEST(RunnerQemu, ShellQuoting) {
    EXPECT_EQ(shell_quote_command({"/q", "-M", "q35,acpi=on", "a b", "it's", ""}),
              "/q -M q35,acpi=on 'a b' 'it'\\''s' ''");
}

// The last n arguments: where the devices go.
Args tail(const Args& argv, size_t n) {
    return n <= argv.size() ? Args(argv.end() - static_cast<std::ptrdiff_t>(n), argv.end()) : argv;
}

std::vector<Disk> two_disks() {
    return {{"/d/a.img", false, DiskFormat::Raw}, {"/d/b.qcow2", true, DiskFormat::Qcow2}};
}

TEST(RunnerDevices, NoDevicesNoArguments) {
    for (Machine m : {Machine::Q35, Machine::Pc, Machine::Microvm, Machine::MicrovmNoAcpi}) {
        RunOptions o;
        o.machine = m;
        o.net.mode = NetMode::None;
        Args a = build(o, inputs());
        EXPECT_EQ(a.back(), "isa-debug-exit,iobase=0xf4,iosize=0x04");
        EXPECT_FALSE(has(a, "-drive"));
        EXPECT_FALSE(has(a, "-object"));
        EXPECT_FALSE(has(a, "-netdev"));
        EXPECT_GE(find_pair(a, "-append", "console.input=pipe"), 0);  // no announcement
    }
}

TEST(RunnerDevices, PciDisksAndRng) {
    for (Machine m : {Machine::Q35, Machine::Pc}) {
        RunOptions o;
        o.machine = m;
        o.rng = true;
        o.boot_options = {"boot.times"};
        QemuInputs in = inputs();
        in.disks = two_disks();
        Args a = build(o, in);
        EXPECT_EQ(tail(a, 16),
                  (Args{"-object", "rng-random,id=nimbus-rng,filename=/dev/urandom",
                        "-device", "virtio-rng-pci,rng=nimbus-rng",
                        "-drive", "file=/d/a.img,if=none,id=nimbus-disk0,format=raw,discard=unmap",
                        "-device", "virtio-blk-pci,drive=nimbus-disk0",
                        "-drive", "file=/d/b.qcow2,if=none,id=nimbus-disk1,format=qcow2,discard=unmap,readonly=on",
                        "-device", "virtio-blk-pci,drive=nimbus-disk1",
                        "-netdev", "user,id=nimbus-net0",
                        "-device", "virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                   "rx_queue_size=1024,romfile="}));
        // PCI devices are found by enumeration: nothing on the kernel command line.
        EXPECT_GE(find_pair(a, "-append", "console.input=pipe boot.times"), 0);
    }
}

TEST(RunnerDevices, MicrovmSlotsRngFirst) {
    RunOptions o;
    o.rng = true;
    o.boot_options = {"boot.times"};
    o.program = {"/bin/app"};
    QemuInputs in = inputs();
    in.disks = two_disks();
    Args a = build(o, in);
    EXPECT_GE(find_pair(a, "-M", "microvm,acpi=on,pic=off,pit=on,rtc=on"), 0);
    EXPECT_EQ(tail(a, 16),
              (Args{"-object", "rng-random,id=nimbus-rng,filename=/dev/urandom",
                    "-device", "virtio-rng-device,rng=nimbus-rng,bus=virtio-mmio-bus.1",
                    "-drive", "file=/d/a.img,if=none,id=nimbus-disk0,format=raw,discard=unmap",
                    "-device", "virtio-blk-device,drive=nimbus-disk0,bus=virtio-mmio-bus.2",
                    "-drive", "file=/d/b.qcow2,if=none,id=nimbus-disk1,format=qcow2,discard=unmap,readonly=on",
                    "-device", "virtio-blk-device,drive=nimbus-disk1,bus=virtio-mmio-bus.3",
                    "-netdev", "user,id=nimbus-net0",
                    "-device", "virtio-net-device,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                               "rx_queue_size=1024,bus=virtio-mmio-bus.4"}));
    // The second I/O APIC's GSIs 24 + slot, slot 0 left empty (QEMU delivers that chip's pin 0
    // on pin 2); announcements before the user's options and " -- ".
    EXPECT_GE(find_pair(a, "-append",
                        "console.input=pipe virtio_mmio.device=512@0xfeb00200:25 "
                        "virtio_mmio.device=512@0xfeb00400:26 virtio_mmio.device=512@0xfeb00600:27 "
                        "virtio_mmio.device=512@0xfeb00800:28 boot.times -- /bin/app"),
              0);
}

TEST(RunnerDevices, MicrovmNoAcpiSlotsWithoutRng) {
    RunOptions o;
    o.machine = Machine::MicrovmNoAcpi;
    o.program = {"/bin/app", "x"};
    QemuInputs in = inputs();
    in.console_input = ConsoleInput::Tty;
    in.disks = two_disks();
    Args a = build(o, in);
    // QEMU must not append its own announcements after the program's arguments.
    EXPECT_GE(find_pair(a, "-M", "microvm,acpi=off,pic=off,pit=on,rtc=on,auto-kernel-cmdline=off"), 0);
    EXPECT_GE(find_pair(a, "-global", "virtio-mmio.force-legacy=false"), 0);
    EXPECT_EQ(tail(a, 12),
              (Args{"-drive", "file=/d/a.img,if=none,id=nimbus-disk0,format=raw,discard=unmap",
                    "-device", "virtio-blk-device,drive=nimbus-disk0,bus=virtio-mmio-bus.0",
                    "-drive", "file=/d/b.qcow2,if=none,id=nimbus-disk1,format=qcow2,discard=unmap,readonly=on",
                    "-device", "virtio-blk-device,drive=nimbus-disk1,bus=virtio-mmio-bus.1",
                    "-netdev", "user,id=nimbus-net0",
                    "-device", "virtio-net-device,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                               "rx_queue_size=1024,bus=virtio-mmio-bus.2"}));
    EXPECT_GE(find_pair(a, "-append",
                        "virtio_mmio.device=512@0xfeb00000:5 virtio_mmio.device=512@0xfeb00200:6 "
                        "virtio_mmio.device=512@0xfeb00400:7 -- /bin/app x"),
              0);
}

TEST(RunnerDevices, MicrovmRngOnly) {
    RunOptions o;
    o.machine = Machine::MicrovmNoAcpi;
    o.rng = true;
    o.net.mode = NetMode::None;
    Args a = build(o, inputs());
    EXPECT_EQ(tail(a, 4), (Args{"-object", "rng-random,id=nimbus-rng,filename=/dev/urandom", "-device",
                                "virtio-rng-device,rng=nimbus-rng,bus=virtio-mmio-bus.0"}));
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe virtio_mmio.device=512@0xfeb00000:5"), 0);
}

TEST(RunnerDevices, CommasInPathsAreDoubled) {
    RunOptions o;
    o.machine = Machine::Q35;
    QemuInputs in = inputs();
    in.disks = {{"/d/a,b,,c.img", false, DiskFormat::Raw}};
    Args a = build(o, in);
    EXPECT_GE(find_pair(a, "-drive", "file=/d/a,,b,,,,c.img,if=none,id=nimbus-disk0,format=raw,discard=unmap"), 0);
    // A relative name with ':' before any '/' would be a QEMU protocol prefix.
    in.disks = {{"nbd:x.img", true, DiskFormat::Raw}, {"dir/a:b.img", false, DiskFormat::Raw}};
    a = build(o, in);
    EXPECT_GE(find_pair(a, "-drive",
                        "file=./nbd:x.img,if=none,id=nimbus-disk0,format=raw,discard=unmap,readonly=on"),
              0);
    EXPECT_GE(find_pair(a, "-drive", "file=dir/a:b.img,if=none,id=nimbus-disk1,format=raw,discard=unmap"), 0);
}

TEST(RunnerDevices, TooManyDevices) {
    struct Case {
        Machine machine;
        size_t fits;  // devices (rng and NIC included) that still fit
    };
    for (auto [m, fits] : {Case{Machine::Microvm, 23}, Case{Machine::MicrovmNoAcpi, 8}, Case{Machine::Q35, 30},
                           Case{Machine::Pc, 30}}) {
        for (bool nic : {false, true}) {
            RunOptions o;
            o.machine = m;
            o.rng = true;
            o.net.mode = nic ? NetMode::User : NetMode::None;
            QemuInputs in = inputs();
            in.disks.assign(fits - 1 - (nic ? 1 : 0), Disk{"/d/x.img", true, DiskFormat::Raw});
            auto ok = build_qemu_argv(o, in);
            ASSERT_TRUE(ok) << machine_name(m) << ": " << ok.error;
            if (m == Machine::Microvm || m == Machine::MicrovmNoAcpi) {
                std::string last = "bus=virtio-mmio-bus." + std::to_string(m == Machine::Microvm ? fits : fits - 1);
                EXPECT_NE(ok.value->back().find(last), std::string::npos) << ok.value->back();
            }
            in.disks.push_back(Disk{"/d/y.img", true, DiskFormat::Raw});
            auto too_many = build_qemu_argv(o, in);
            EXPECT_FALSE(too_many) << machine_name(m);
            EXPECT_NE(too_many.error.find("too many devices: " + std::to_string(fits + 1)), std::string::npos)
                << too_many.error;
            EXPECT_NE(too_many.error.find("at most " + std::to_string(fits)), std::string::npos) << too_many.error;
            // With a NIC, the message says how to make room.
            EXPECT_EQ(too_many.error.find("--net none") != std::string::npos, nic) << too_many.error;
        }
    }
}

TEST(RunnerDevices, MicrovmSlotTable) {
    VirtioMmioSlot s = virtio_mmio_slot(Machine::Microvm, 0);
    EXPECT_EQ(s.base, 0xfeb00000u);
    EXPECT_EQ(s.irq, 24u);
    s = virtio_mmio_slot(Machine::Microvm, 23);
    EXPECT_EQ(s.base, 0xfeb02e00u);
    EXPECT_EQ(s.irq, 47u);
    EXPECT_EQ(virtio_mmio_boot_option(s), "virtio_mmio.device=512@0xfeb02e00:47");
    s = virtio_mmio_slot(Machine::MicrovmNoAcpi, 7);
    EXPECT_EQ(s.base, 0xfeb00e00u);
    EXPECT_EQ(s.irq, 12u);
    EXPECT_EQ(virtio_mmio_boot_option(s), "virtio_mmio.device=512@0xfeb00e00:12");
}

TEST(RunnerDevices, FormatDetection) {
    EXPECT_EQ(detect_disk_format(std::string_view("QFI\xfb\x00\x00\x00\x03", 8)), DiskFormat::Qcow2);
    EXPECT_EQ(detect_disk_format(std::string_view("QFI\xfb", 4)), DiskFormat::Qcow2);
    EXPECT_EQ(detect_disk_format(std::string_view("QFI", 3)), DiskFormat::Raw);  // short file
    EXPECT_EQ(detect_disk_format(""), DiskFormat::Raw);
    EXPECT_EQ(detect_disk_format(std::string_view("QFI\xfa", 4)), DiskFormat::Raw);
    EXPECT_EQ(detect_disk_format(std::string_view("\0\0\0\0", 4)), DiskFormat::Raw);
    EXPECT_EQ(disk_format_name(DiskFormat::Raw), "raw");
    EXPECT_EQ(disk_format_name(DiskFormat::Qcow2), "qcow2");
}

TEST(RunnerDevices, EscapeQemuOptionValue) {
    EXPECT_EQ(escape_qemu_option_value(""), "");
    EXPECT_EQ(escape_qemu_option_value("plain"), "plain");
    EXPECT_EQ(escape_qemu_option_value(",a,,"), ",,a,,,,");
}

} // namespace
} // namespace runner
