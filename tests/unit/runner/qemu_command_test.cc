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

QemuInputs inputs(Accel accel = Accel::Tcg) {
    return {"/usr/bin/qemu-system-x86_64", "/k/kernel.elf", "/tmp/st", {accel, "test"}, {}};
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
    Args a = build_qemu_argv(o, inputs());
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
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe"), 0);  // stdin is relayed
    EXPECT_FALSE(has(a, "-initrd"));
}

TEST(RunnerQemu, TerminalConsole) {
    RunOptions o;
    QemuInputs in = inputs();
    in.console_input = ConsoleInput::Tty;
    Args a = build_qemu_argv(o, in);
    EXPECT_GE(find_pair(a, "-chardev", "stdio,id=con,signal=off"), 0);
    EXPECT_GE(find_pair(a, "-serial", "chardev:con"), 0);
    EXPECT_FALSE(has(a, "stdio"));
    EXPECT_FALSE(has(a, "-append"));  // console.input=tty is the kernel's default
    o.boot_options = {"console.input=tty"};
    in.console_input = ConsoleInput::Pipe;
    a = build_qemu_argv(o, in);
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe console.input=tty"), 0);  // last wins
}

TEST(RunnerQemu, Machines) {
    RunOptions o;
    o.machine = Machine::Q35;
    Args a = build_qemu_argv(o, inputs());
    EXPECT_GE(find_pair(a, "-M", "q35"), 0);
    EXPECT_FALSE(has(a, "-global"));  // virtio-mmio is a microvm thing
    o.machine = Machine::Pc;
    EXPECT_GE(find_pair(build_qemu_argv(o, inputs()), "-M", "pc"), 0);
    o.machine = Machine::MicrovmNoAcpi;
    a = build_qemu_argv(o, inputs());
    EXPECT_GE(find_pair(a, "-M", "microvm,acpi=off,pic=off,pit=on,rtc=on"), 0);
    EXPECT_GE(find_pair(a, "-global", "virtio-mmio.force-legacy=false"), 0);
}

TEST(RunnerQemu, Accelerators) {
    RunOptions o;
    Args a = build_qemu_argv(o, inputs(Accel::Tcg));
    EXPECT_GE(find_pair(a, "-accel", "tcg"), 0);
    EXPECT_GE(find_pair(a, "-cpu", "max"), 0);

    o.cpus = 4;
    a = build_qemu_argv(o, inputs(Accel::Tcg));
    EXPECT_GE(find_pair(a, "-accel", "tcg,thread=multi"), 0);
    EXPECT_GE(find_pair(a, "-smp", "4"), 0);

    o.icount = true;
    a = build_qemu_argv(o, inputs(Accel::Tcg));
    EXPECT_GE(find_pair(a, "-accel", "tcg,thread=single"), 0);
    EXPECT_GE(find_pair(a, "-icount", "shift=0,sleep=off"), 0);

    RunOptions k;
    a = build_qemu_argv(k, inputs(Accel::Kvm));
    EXPECT_GE(find_pair(a, "-accel", "kvm"), 0);
    EXPECT_GE(find_pair(a, "-cpu", "host"), 0);
    EXPECT_FALSE(has(a, "max"));
}

TEST(RunnerQemu, AppendAndInitrd) {
    RunOptions o;
    o.boot_options = {"boot.times"};
    o.program = {"/bin/echo", "hi there"};
    o.initrd = "/i.cpio";
    QemuInputs in = inputs();
    in.guest_environment = {"HOME=/", "TERM=dumb"};
    Args a = build_qemu_argv(o, in);
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe boot.times -- HOME=/ TERM=dumb /bin/echo 'hi there'"), 0);
    EXPECT_GE(find_pair(a, "-initrd", "/i.cpio"), 0);

    // No program: the environment is not passed.
    o.program.clear();
    a = build_qemu_argv(o, in);
    EXPECT_GE(find_pair(a, "-append", "console.input=pipe boot.times"), 0);
}

TEST(RunnerQemu, ShellQuoting) {
    EXPECT_EQ(shell_quote_command({"/q", "-M", "q35,acpi=on", "a b", "it's", ""}),
              "/q -M q35,acpi=on 'a b' 'it'\\''s' ''");
}

} // namespace
} // namespace runner
