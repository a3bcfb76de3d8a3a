// Unit tests of the runner's command-line parser.
#include "runner/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace runner {
namespace {

Parsed<ParsedCommand> parse(std::vector<std::string> args) { return parse_command_line(args); }

TEST(RunnerOptions, DefaultsMatchTheDocumentation) {
    auto p = parse({"run"});
    ASSERT_TRUE(p) << p.error;
    const RunOptions& o = p.value->run;
    EXPECT_EQ(p.value->command, Command::Run);
    EXPECT_EQ(o.machine, Machine::Microvm);
    EXPECT_EQ(o.cpus, 1u);
    EXPECT_EQ(o.memory, "128M");
    EXPECT_EQ(o.accel, AccelRequest::Auto);
    EXPECT_FALSE(o.kernel);
    EXPECT_FALSE(o.icount);
    EXPECT_FALSE(o.dry_run);
    EXPECT_EQ(o.timeout_seconds, 0);
    EXPECT_TRUE(o.program.empty());
    EXPECT_FALSE(o.memory_given);
    EXPECT_TRUE(o.image.empty());
    EXPECT_TRUE(o.env.empty());
    EXPECT_TRUE(o.disks.empty());
    EXPECT_FALSE(o.rng);
    EXPECT_EQ(o.net.mode, NetMode::User);  // a NIC on QEMU's user networking
    EXPECT_TRUE(o.net.forwards.empty());
    EXPECT_FALSE(o.net.mac);
    EXPECT_EQ(o.net.mac_address(), "52:54:00:12:34:56");
}

TEST(RunnerOptions, Networking) {
    auto p = parse({"run", "-p", "8080:80", "--publish=0.0.0.0:2222:22", "-p=5353:53/udp", "--mac",
                    "02:AA:00:00:00:01", "/bin/app", "-p", "1:2"});
    ASSERT_TRUE(p) << p.error;
    const RunOptions& o = p.value->run;
    EXPECT_EQ(o.net.mode, NetMode::User);
    EXPECT_EQ(o.net.forwards, (std::vector<PortForward>{{PortProtocol::Tcp, "127.0.0.1", 8080, 80},
                                                        {PortProtocol::Tcp, "0.0.0.0", 2222, 22},
                                                        {PortProtocol::Udp, "127.0.0.1", 5353, 53}}));
    EXPECT_EQ(o.net.mac, "02:aa:00:00:00:01");
    EXPECT_EQ(o.program, (std::vector<std::string>{"/bin/app", "-p", "1:2"}));  // the guest's own

    p = parse({"run", "--net", "tap:nimbus0", "--cpus", "2"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.net.mode, NetMode::Tap);
    EXPECT_EQ(p.value->run.net.tap_name, "nimbus0");
    p = parse({"run", "--net=none"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.net.mode, NetMode::None);
    // The last --net wins, like every other single-valued option.
    p = parse({"run", "--net", "none", "--net", "user", "-p", "80:80"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.net.mode, NetMode::User);
    p = parse({"run", "--net", "tap:t0", "--net", "user"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.net.mode, NetMode::User);
    // -p before --net user is the same as after.
    p = parse({"run", "-p", "80:80", "--net", "user"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.net.forwards.size(), 1u);
}

TEST(RunnerOptions, DisksInOrderAndRng) {
    auto p = parse({"run", "--disk", "a.img", "--rng", "--disk=/b.qcow2,ro", "--disk", "c,,d.img",
                    "--disk", "e,,,ro", "/bin/app"});
    ASSERT_TRUE(p) << p.error;
    const RunOptions& o = p.value->run;
    EXPECT_TRUE(o.rng);
    EXPECT_EQ(o.disks, (std::vector<DiskOption>{
                           {"a.img", false}, {"/b.qcow2", true}, {"c,d.img", false}, {"e,", true}}));
    EXPECT_EQ(o.program, (std::vector<std::string>{"/bin/app"}));
    // Devices need no program: the bare kernel finds them too.
    p = parse({"run", "--machine", "q35", "--disk", "x"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.disks.size(), 1u);
}

TEST(RunnerOptions, DiskOptionSyntax) {
    EXPECT_EQ(*parse_disk_option("x").value, (DiskOption{"x", false}));
    EXPECT_EQ(*parse_disk_option("x,ro").value, (DiskOption{"x", true}));
    EXPECT_EQ(*parse_disk_option("x,ro,ro").value, (DiskOption{"x", true}));
    EXPECT_EQ(*parse_disk_option(",,").value, (DiskOption{",", false}));
    EXPECT_EQ(*parse_disk_option("a,,ro").value, (DiskOption{"a,ro", false}));
    EXPECT_EQ(*parse_disk_option("/x/y z.img").value, (DiskOption{"/x/y z.img", false}));
    for (const char* bad : {"", ",ro", ",", "x,", "x,rw", "x,x", "x,RO", "x,ro,", "x,ro,rw", "x,readonly=on"}) {
        EXPECT_FALSE(parse_disk_option(bad)) << bad;
    }
    EXPECT_EQ(parse_disk_option("x,rw").error,
              "bad option 'rw' in --disk 'x,rw' (expected FILE or FILE,ro; write a ',' in FILE as ',,')");
    EXPECT_EQ(parse_disk_option(",ro").error, "empty FILE in --disk ',ro'");
}

TEST(RunnerOptions, ParsesEveryOption) {
    auto p = parse({"run", "--machine", "q35", "--cpus=4", "--memory", "1g", "--accel", "tcg",
                    "--boot", "a=1", "--boot=b", "--kernel", "k.elf", "--initrd", "i.cpio",
                    "--timeout", "2.5", "--icount", "--dry-run", "--qemu", "/q"});
    ASSERT_TRUE(p) << p.error;
    const RunOptions& o = p.value->run;
    EXPECT_EQ(o.machine, Machine::Q35);
    EXPECT_EQ(o.cpus, 4u);
    EXPECT_EQ(o.memory, "1G");
    EXPECT_EQ(o.accel, AccelRequest::Tcg);
    EXPECT_EQ(o.boot_options, (std::vector<std::string>{"a=1", "b"}));
    EXPECT_EQ(o.kernel, "k.elf");
    EXPECT_EQ(o.initrd, "i.cpio");
    EXPECT_DOUBLE_EQ(o.timeout_seconds, 2.5);
    EXPECT_TRUE(o.icount);
    EXPECT_TRUE(o.dry_run);
    EXPECT_EQ(o.qemu, "/q");
    EXPECT_TRUE(o.memory_given);
}

TEST(RunnerOptions, ImageInputsAndEnvironmentForAProgram) {
    auto p = parse({"run", "--env", "LANG=C.UTF-8", "--add=data:/srv/data", "--manifest", "m.txt",
                    "--library-path", "/opt/lib", "--env=X=", "python3", "-c", "print(1)"});
    ASSERT_TRUE(p) << p.error;
    const RunOptions& o = p.value->run;
    EXPECT_EQ(o.env, (std::vector<std::string>{"LANG=C.UTF-8", "X="}));
    EXPECT_EQ(o.image.adds, (std::vector<std::string>{"data:/srv/data"}));
    EXPECT_EQ(o.image.manifests, (std::vector<std::string>{"m.txt"}));
    EXPECT_EQ(o.image.library_path, (std::vector<std::string>{"/opt/lib"}));
    EXPECT_EQ(o.program, (std::vector<std::string>{"python3", "-c", "print(1)"}));
    EXPECT_FALSE(o.memory_given);
}

TEST(RunnerOptions, ImageCommand) {
    auto p = parse({"image", "--add", "x", "-o", "app.img", "--library-path=/l", "/bin/true"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->command, Command::Image);
    const ImageOptions& o = p.value->image;
    EXPECT_EQ(o.action, ImageOptions::Action::Build);
    EXPECT_EQ(o.output, "app.img");
    EXPECT_EQ(o.program, "/bin/true");
    EXPECT_EQ(o.inputs.adds, (std::vector<std::string>{"x"}));
    EXPECT_EQ(o.inputs.library_path, (std::vector<std::string>{"/l"}));

    p = parse({"image", "--output=o.img", "--", "-weird-name"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->image.program, "-weird-name");

    p = parse({"image", "--check", "a.img"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->image.action, ImageOptions::Action::Check);
    EXPECT_EQ(p.value->image.image, "a.img");
    p = parse({"image", "--list=a.img"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->image.action, ImageOptions::Action::List);

    EXPECT_EQ(parse({"image", "--help"}).value->command, Command::ImageHelp);
    EXPECT_EQ(parse({"image", "-o", "x", "-h"}).value->command, Command::ImageHelp);
}

TEST(RunnerOptions, ProgramStartsAtFirstNonOption) {
    auto p = parse({"run", "--cpus", "2", "/bin/app", "--cpus", "9", "-x"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->run.cpus, 2u);
    EXPECT_EQ(p.value->run.program, (std::vector<std::string>{"/bin/app", "--cpus", "9", "-x"}));
}

TEST(RunnerOptions, DoubleDashEndsOptions) {
    auto p = parse({"run", "--", "--help", "x"});
    ASSERT_TRUE(p) << p.error;
    EXPECT_EQ(p.value->command, Command::Run);
    EXPECT_EQ(p.value->run.program, (std::vector<std::string>{"--help", "x"}));
}

TEST(RunnerOptions, Help) {
    EXPECT_EQ(parse({"--help"}).value->command, Command::Help);
    EXPECT_EQ(parse({"-h"}).value->command, Command::Help);
    EXPECT_EQ(parse({"run", "--machine", "pc", "--help"}).value->command, Command::RunHelp);
}

TEST(RunnerOptions, MachineNames) {
    for (auto [name, m] : {std::pair{"q35", Machine::Q35}, {"pc", Machine::Pc},
                           {"microvm", Machine::Microvm}, {"microvm-noacpi", Machine::MicrovmNoAcpi}}) {
        auto p = parse({"run", "--machine", name});
        ASSERT_TRUE(p) << name;
        EXPECT_EQ(p.value->run.machine, m);
        EXPECT_EQ(machine_name(m), name);
    }
}

TEST(RunnerOptions, ErrorsNameTheProblem) {
    struct Case {
        std::vector<std::string> args;
        std::string fragment;
    };
    for (const auto& c : std::vector<Case>{
             {{}, "no command"},
             {{"boot"}, "unknown command 'boot'"},
             {{"run", "--machine", "virt"}, "unknown machine 'virt'"},
             {{"run", "--machine"}, "--machine needs a value"},
             {{"run", "--cpus", "0"}, "bad --cpus '0'"},
             {{"run", "--cpus", "256"}, "bad --cpus"},
             {{"run", "--cpus", "2x"}, "bad --cpus"},
             {{"run", "--memory", "12Q"}, "bad --memory '12Q'"},
             {{"run", "--memory", "0"}, "bad --memory"},
             {{"run", "--accel", "hvf"}, "unknown accelerator 'hvf'"},
             {{"run", "--timeout", "-1"}, "bad --timeout"},
             {{"run", "--timeout", "soon"}, "bad --timeout"},
             {{"run", "--icount=yes"}, "--icount takes no value"},
             {{"run", "--frobnicate"}, "unknown option '--frobnicate'"},
             {{"run", "--boot", ""}, "empty --boot"},
             {{"run", "--icount", "--accel", "kvm"}, "--icount needs TCG"},
             {{"run", "--disk"}, "--disk needs a value"},
             {{"run", "--disk", ""}, "empty FILE in --disk ''"},
             {{"run", "--disk", "a.img,rw"}, "bad option 'rw' in --disk 'a.img,rw'"},
             {{"run", "--disk", "a.img,x"}, "bad option 'x' in --disk 'a.img,x'"},
             {{"run", "--rng=on"}, "--rng takes no value"},
             {{"run", "--machine", "microvm-noacpi", "--rng", "--disk", "1", "--disk", "2", "--disk", "3",
               "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7", "--disk", "8", "--net", "none"},
              "too many devices: 9 virtio devices (--disk, --rng, --net) but microvm-noacpi takes at most 8"},
             // The default NIC takes a transport: 7 disks and the rng fit only with --net none.
             {{"run", "--machine", "microvm-noacpi", "--rng", "--disk", "1", "--disk", "2", "--disk", "3",
               "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7"},
              "too many devices: 9 virtio devices (--disk, --rng, --net) but microvm-noacpi takes at most 8 "
              "(the network card counts; --net none leaves it out)"},
             {{"run", "--net"}, "--net needs a value"},
             {{"run", "--net", "bridge"}, "unknown --net 'bridge' (expected user, tap:NAME or none)"},
             {{"run", "--net", "tap:"}, "bad tap device name '' in --net 'tap:'"},
             {{"run", "--net", "tap:much-too-long-name"}, "bad tap device name 'much-too-long-name'"},
             {{"run", "-p"}, "-p needs a value"},
             {{"run", "--publish"}, "--publish needs a value"},
             {{"run", "-p", "80"}, "bad -p '80' (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/udp])"},
             {{"run", "-p", "70000:80"}, "bad port '70000' in -p '70000:80' (expected 1..65535)"},
             {{"run", "-p", "8080:80/icmp"}, "bad protocol 'icmp'"},
             {{"run", "-p", "example.com:80:80"}, "bad host address 'example.com'"},
             {{"run", "-p", "8080:80", "-p", "8080:81"}, "host tcp port 8080 is forwarded twice"},
             {{"run", "-p", "8080:80", "--net", "tap:tap0"}, "-p forwards host ports through QEMU's user networking"},
             {{"run", "--net", "none", "-p", "8080:80"}, "-p needs a network: it cannot be combined with --net none"},
             {{"run", "--mac"}, "--mac needs a value"},
             {{"run", "--mac", "01:02:03:04:05:06"}, "a multicast address"},
             {{"run", "--mac", "52:54:00:12:34"}, "bad --mac '52:54:00:12:34' (expected six hex bytes"},
             {{"run", "--mac", "52:54:00:12:34:56", "--net", "none"}, "--net none has none"},
             {{"run", "--boot", "x=\"q\""}, "boot options cannot contain"},
             {{"run", "--boot", "a b"}, "only the value after '=' may contain spaces"},
             {{"run", "--env", "NOEQUALS", "/p"}, "bad --env 'NOEQUALS' (expected NAME=VALUE)"},
             {{"run", "--env", "1X=2", "/p"}, "bad --env '1X=2'"},
             {{"run", "--env"}, "--env needs a value"},
             {{"run", "--add", "x:rel", "/p"}, "GUEST must be an absolute path: 'rel'"},
             {{"run", "--add", "", "/p"}, "empty value for --add"},
             {{"run", "--add", "x"}, "need a PROGRAM"},
             {{"run", "--env", "A=1"}, "need a PROGRAM"},
             {{"run", "--initrd", "i.img", "--manifest", "m", "/p"}, "cannot be combined with --initrd"},
             {{"image"}, "nimbus image needs a PROGRAM"},
             {{"image", "/bin/true"}, "needs -o IMAGE"},
             {{"image", "-o", "x.img", "/bin/echo", "hello"},
              "nimbus image takes no program arguments ('hello')"},
             {{"image", "--env", "A=1", "-o", "x", "/p"}, "--env is a run-time setting"},
             {{"image", "-o"}, "-o needs a value"},
             {{"image", "--check", "a", "--list", "b"}, "only one of --check and --list"},
             {{"image", "--check", "a", "-o", "x"}, "--check and --list take only the image file"},
             {{"image", "--list", "a", "/p"}, "--check and --list take only the image file"},
             {{"image", "--bogus"}, "unknown option '--bogus' (see nimbus image --help)"},
         }) {
        auto p = parse(c.args);
        EXPECT_FALSE(p);
        EXPECT_NE(p.error.find(c.fragment), std::string::npos) << p.error;
    }
}

TEST(RunnerOptions, MemorySizes) {
    EXPECT_EQ(*parse_memory_size("128M").value, "128M");
    EXPECT_EQ(*parse_memory_size("512").value, "512M");
    EXPECT_EQ(*parse_memory_size("2g").value, "2G");
    EXPECT_EQ(*parse_memory_size("65536k").value, "65536K");
    EXPECT_FALSE(parse_memory_size(""));
    EXPECT_FALSE(parse_memory_size("M"));
    EXPECT_FALSE(parse_memory_size("-1M"));
    EXPECT_FALSE(parse_memory_size("1.5G"));
}

TEST(RunnerOptions, Timeouts) {
    EXPECT_DOUBLE_EQ(*parse_timeout("30").value, 30.0);
    EXPECT_DOUBLE_EQ(*parse_timeout("0.25").value, 0.25);
    EXPECT_DOUBLE_EQ(*parse_timeout("0").value, 0.0);
    EXPECT_FALSE(parse_timeout(""));
    EXPECT_FALSE(parse_timeout("1e3"));
    EXPECT_FALSE(parse_timeout("inf"));
    EXPECT_FALSE(parse_timeout("5s"));
}

} // namespace
} // namespace runner
