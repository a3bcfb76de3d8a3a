// Unit tests of the network options (--net, -p, --mac) and the NIC's QEMU arguments.
#include "runner/network.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "runner/qemu_command.h"

namespace runner {
namespace {

using Args = std::vector<std::string>;

TEST(RunnerNetwork, NetModes) {
    auto user = parse_net_option("user");
    ASSERT_TRUE(user) << user.error;
    EXPECT_EQ(user.value->mode, NetMode::User);
    EXPECT_TRUE(user.value->has_nic());
    auto none = parse_net_option("none");
    ASSERT_TRUE(none) << none.error;
    EXPECT_EQ(none.value->mode, NetMode::None);
    EXPECT_FALSE(none.value->has_nic());
    auto tap = parse_net_option("tap:nimbus0");
    ASSERT_TRUE(tap) << tap.error;
    EXPECT_EQ(tap.value->mode, NetMode::Tap);
    EXPECT_EQ(tap.value->tap_name, "nimbus0");
    EXPECT_TRUE(parse_net_option("tap:abcdefghijklmno"));  // 15 bytes: the most Linux takes

    EXPECT_EQ(parse_net_option("bridge").error, "unknown --net 'bridge' (expected user, tap:NAME or none)");
    EXPECT_EQ(parse_net_option("").error, "unknown --net '' (expected user, tap:NAME or none)");
    EXPECT_EQ(parse_net_option("tap").error, "unknown --net 'tap' (expected user, tap:NAME or none)");
    EXPECT_EQ(parse_net_option("USER").error, "unknown --net 'USER' (expected user, tap:NAME or none)");
    for (const char* bad : {"tap:", "tap:abcdefghijklmnop", "tap:.", "tap:..", "tap:a/b", "tap:a:b",
                            "tap:a b", "tap:a\tb"}) {
        auto p = parse_net_option(bad);
        EXPECT_FALSE(p) << bad;
        EXPECT_NE(p.error.find("bad tap device name"), std::string::npos) << p.error;
    }
    EXPECT_EQ(parse_net_option("tap:a/b").error,
              "bad tap device name 'a/b' in --net 'tap:a/b' (an interface name: 1..15 characters, no '/', "
              "':' or spaces)");
}

TEST(RunnerNetwork, PortForwards) {
    auto f = parse_port_forward("8080:80");
    ASSERT_TRUE(f) << f.error;
    EXPECT_EQ(*f.value, (PortForward{PortProtocol::Tcp, "127.0.0.1", 8080, 80}));  // loopback only
    EXPECT_EQ(*parse_port_forward("0.0.0.0:8080:80").value, (PortForward{PortProtocol::Tcp, "0.0.0.0", 8080, 80}));
    EXPECT_EQ(*parse_port_forward("192.168.1.20:1:65535/tcp").value,
              (PortForward{PortProtocol::Tcp, "192.168.1.20", 1, 65535}));
    EXPECT_EQ(*parse_port_forward("5353:53/udp").value, (PortForward{PortProtocol::Udp, "127.0.0.1", 5353, 53}));
    EXPECT_EQ(*parse_port_forward("65535:65535").value, (PortForward{PortProtocol::Tcp, "127.0.0.1", 65535, 65535}));
    EXPECT_EQ(port_forward_text(*parse_port_forward("5353:53/udp").value), "127.0.0.1:5353:53/udp");
    EXPECT_EQ(port_forward_text(*parse_port_forward("10.0.0.1:8080:80").value), "10.0.0.1:8080:80");

    struct Case {
        const char* value;
        const char* error;
    };
    for (const auto& c : std::vector<Case>{
             {"8080", "bad -p '8080' (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/udp])"},
             {"", "bad -p '' (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/udp])"},
             {"1.2.3.4:1:2:3", "bad -p '1.2.3.4:1:2:3' (expected [HOSTADDR:]HOSTPORT:GUESTPORT[/udp])"},
             {"0:80", "bad port '0' in -p '0:80' (expected 1..65535)"},
             {"8080:0", "bad port '0' in -p '8080:0' (expected 1..65535)"},
             {"65536:80", "bad port '65536' in -p '65536:80' (expected 1..65535)"},
             {"99999999999:80", "bad port '99999999999' in -p '99999999999:80' (expected 1..65535)"},
             {"8080:", "bad port '' in -p '8080:' (expected 1..65535)"},
             {":80", "bad port '' in -p ':80' (expected 1..65535)"},
             {"-1:80", "bad port '-1' in -p '-1:80' (expected 1..65535)"},
             {"+80:80", "bad port '+80' in -p '+80:80' (expected 1..65535)"},
             {" 80:80", "bad port ' 80' in -p ' 80:80' (expected 1..65535)"},
             {"http:80", "bad port 'http' in -p 'http:80' (expected 1..65535)"},
             {"8080:80/sctp", "bad protocol 'sctp' in -p '8080:80/sctp' (expected tcp or udp)"},
             {"8080:80/", "bad protocol '' in -p '8080:80/' (expected tcp or udp)"},
             {"8080:80/UDP", "bad protocol 'UDP' in -p '8080:80/UDP' (expected tcp or udp)"},
             {"localhost:8080:80",
              "bad host address 'localhost' in -p 'localhost:8080:80' (expected an IPv4 address such as 127.0.0.1)"},
             {":8080:80", "bad host address '' in -p ':8080:80'"},
             {"256.0.0.1:8080:80", "bad host address '256.0.0.1'"},
             {"1.2.3:8080:80", "bad host address '1.2.3'"},
             {"1.2.3.4.5:8080:80", "bad host address '1.2.3.4.5'"},
             {"01.2.3.4:8080:80", "bad host address '01.2.3.4'"},  // octal to some parsers
             {"1..3.4:8080:80", "bad host address '1..3.4'"},
             {"1.2.3.4.:8080:80", "bad host address '1.2.3.4.'"},
         }) {
        auto p = parse_port_forward(c.value);
        EXPECT_FALSE(p) << c.value;
        EXPECT_EQ(p.error.substr(0, std::string(c.error).size()), c.error) << c.value;
    }
}

TEST(RunnerNetwork, MacAddresses) {
    EXPECT_EQ(*parse_mac_address("52:54:00:12:34:57").value, "52:54:00:12:34:57");
    EXPECT_EQ(*parse_mac_address("02:AB:cd:EF:00:01").value, "02:ab:cd:ef:00:01");  // lower case
    EXPECT_EQ(*parse_mac_address("fe:ff:ff:ff:ff:ff").value, "fe:ff:ff:ff:ff:ff");
    EXPECT_EQ(parse_mac_address("01:00:5e:00:00:01").error,
              "bad --mac '01:00:5e:00:00:01' (a multicast address: the first byte is odd; a NIC needs a "
              "unicast address)");
    EXPECT_NE(parse_mac_address("ff:ff:ff:ff:ff:ff").error.find("multicast"), std::string::npos);  // broadcast
    EXPECT_EQ(parse_mac_address("00:00:00:00:00:00").error,
              "bad --mac '00:00:00:00:00:00' (the all-zero address is not a NIC's address)");
    for (const char* bad : {"", "52:54:00:12:34", "52:54:00:12:34:5", "52:54:00:12:34:567", "52-54-00-12-34-56",
                            "52:54:00:12:34:5g", "525400123456", "52:54:00:12:34:56:", " 52:54:00:12:34:5",
                            "52:54::00:12:34:5"}) {
        auto p = parse_mac_address(bad);
        EXPECT_FALSE(p) << bad;
        EXPECT_EQ(p.error, "bad --mac '" + std::string(bad) + "' (expected six hex bytes such as 52:54:00:12:34:57)");
    }
}

NetOptions with_forwards(NetMode mode, std::vector<std::string> specs) {
    NetOptions net;
    net.mode = mode;
    net.tap_name = mode == NetMode::Tap ? "tap0" : "";
    for (const auto& spec : specs) {
        auto f = parse_port_forward(spec);
        EXPECT_TRUE(f) << f.error;
        if (f) {
            net.forwards.push_back(*f.value);
        }
    }
    return net;
}

TEST(RunnerNetwork, ChecksAcrossOptions) {
    EXPECT_TRUE(check_net_options(NetOptions{}));
    EXPECT_TRUE(check_net_options(with_forwards(NetMode::User, {"8080:80", "8081:80", "8080:80/udp",
                                                                "10.0.0.1:8080:80", "127.0.0.2:8080:80"})));
    EXPECT_TRUE(check_net_options(with_forwards(NetMode::Tap, {})));
    EXPECT_TRUE(check_net_options(with_forwards(NetMode::None, {})));

    Status s = check_net_options(with_forwards(NetMode::Tap, {"8080:80"}));
    EXPECT_EQ(s.error,
              "-p forwards host ports through QEMU's user networking; with --net tap:tap0 the guest is reached "
              "at its own address on the tap device, so there is nothing to forward");
    s = check_net_options(with_forwards(NetMode::None, {"8080:80"}));
    EXPECT_EQ(s.error, "-p needs a network: it cannot be combined with --net none");
    NetOptions none_with_mac;
    none_with_mac.mode = NetMode::None;
    none_with_mac.mac = "52:54:00:12:34:57";
    EXPECT_EQ(check_net_options(none_with_mac).error,
              "--mac sets the address of the network card, and --net none has none");

    s = check_net_options(with_forwards(NetMode::User, {"8080:80", "9000:90", "8080:81"}));
    EXPECT_EQ(s.error, "host tcp port 8080 is forwarded twice (-p 127.0.0.1:8080:80 and -p 127.0.0.1:8080:81)");
    s = check_net_options(with_forwards(NetMode::User, {"5353:53/udp", "5353:53/udp"}));
    EXPECT_EQ(s.error,
              "host udp port 5353 is forwarded twice (-p 127.0.0.1:5353:53/udp and -p 127.0.0.1:5353:53/udp)");
    // Every address includes the loopback one.
    s = check_net_options(with_forwards(NetMode::User, {"8080:80", "0.0.0.0:8080:81"}));
    EXPECT_EQ(s.error, "host tcp port 8080 is forwarded twice (-p 127.0.0.1:8080:80 and -p 0.0.0.0:8080:81)");
    s = check_net_options(with_forwards(NetMode::User, {"0.0.0.0:8080:80", "10.1.2.3:8080:81"}));
    EXPECT_FALSE(s);
}

TEST(RunnerNetwork, NetdevValues) {
    NetOptions user = with_forwards(NetMode::User, {});
    EXPECT_EQ(netdev_value(user, 1, false), "user,id=nimbus-net0");
    user = with_forwards(NetMode::User, {"8080:80", "0.0.0.0:2222:22", "5353:53/udp"});
    EXPECT_EQ(netdev_value(user, 1, false),
              "user,id=nimbus-net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp:0.0.0.0:2222-:22,"
              "hostfwd=udp:127.0.0.1:5353-:53");
    // Neither queues nor vhost mean anything to user networking.
    EXPECT_EQ(netdev_value(with_forwards(NetMode::User, {}), 4, true), "user,id=nimbus-net0");

    NetOptions tap = with_forwards(NetMode::Tap, {});
    EXPECT_EQ(netdev_value(tap, 1, false), "tap,id=nimbus-net0,ifname=tap0,script=no,downscript=no,vhost=off");
    EXPECT_EQ(netdev_value(tap, 4, false),
              "tap,id=nimbus-net0,ifname=tap0,script=no,downscript=no,vhost=off,queues=4");
    EXPECT_EQ(netdev_value(tap, 2, true), "tap,id=nimbus-net0,ifname=tap0,script=no,downscript=no,vhost=on,queues=2");
    tap.tap_name = "a,b";  // a legal interface name; ',' is doubled for QEMU
    EXPECT_EQ(netdev_value(tap, 1, false), "tap,id=nimbus-net0,ifname=a,,b,script=no,downscript=no,vhost=off");
}

// The NIC's -netdev/-device pairs of a VM: the last four arguments.
Args nic_args(const RunOptions& o, bool vhost = false) {
    QemuInputs in;
    in.qemu = "/q";
    in.kernel = "/k";
    in.status_path = "/s";
    in.accel = {vhost ? Accel::Kvm : Accel::Tcg, "test"};
    in.vhost_net = vhost;
    auto argv = build_qemu_argv(o, in);
    EXPECT_TRUE(argv) << argv.error;
    if (!argv || argv.value->size() < 4) {
        return {};
    }
    return Args(argv.value->end() - 4, argv.value->end());
}

std::string append_of(const RunOptions& o) {
    QemuInputs in;
    in.qemu = "/q";
    in.kernel = "/k";
    in.status_path = "/s";
    in.console_input = ConsoleInput::Tty;
    auto argv = build_qemu_argv(o, in);
    EXPECT_TRUE(argv) << argv.error;
    auto it = std::find(argv.value->begin(), argv.value->end(), "-append");
    return it == argv.value->end() ? "" : *(it + 1);
}

TEST(RunnerNetwork, UserNetworkingOnEveryMachine) {
    RunOptions o;  // the default: --net user
    o.net.forwards = with_forwards(NetMode::User, {"8080:80"}).forwards;
    const std::string netdev = "user,id=nimbus-net0,hostfwd=tcp:127.0.0.1:8080-:80";
    for (Machine m : {Machine::Q35, Machine::Pc}) {
        o.machine = m;
        EXPECT_EQ(nic_args(o), (Args{"-netdev", netdev, "-device",
                                     "virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                     "rx_queue_size=1024,romfile="}));
        EXPECT_EQ(append_of(o), "");  // found by PCI enumeration
    }
    o.machine = Machine::Microvm;
    EXPECT_EQ(nic_args(o), (Args{"-netdev", netdev, "-device",
                                 "virtio-net-device,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                 "rx_queue_size=1024,bus=virtio-mmio-bus.1"}));
    EXPECT_EQ(append_of(o), "virtio_mmio.device=512@0xfeb00200:25");
    o.machine = Machine::MicrovmNoAcpi;
    EXPECT_EQ(nic_args(o), (Args{"-netdev", netdev, "-device",
                                 "virtio-net-device,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                 "rx_queue_size=1024,bus=virtio-mmio-bus.0"}));
    EXPECT_EQ(append_of(o), "virtio_mmio.device=512@0xfeb00000:5");
}

TEST(RunnerNetwork, MacAddressOption) {
    RunOptions o;
    o.machine = Machine::Q35;
    o.net.mac = "02:00:00:00:00:01";
    EXPECT_EQ(nic_args(o)[3], "virtio-net-pci,netdev=nimbus-net0,mac=02:00:00:00:00:01,rx_queue_size=1024,romfile=");
}

TEST(RunnerNetwork, OffloadOption) {
    EXPECT_EQ(parse_net_offload("all"), NetOffload::All);
    EXPECT_EQ(parse_net_offload("csum"), NetOffload::Csum);
    EXPECT_EQ(parse_net_offload("none"), NetOffload::None);
    EXPECT_FALSE(parse_net_offload("tso").has_value());
    RunOptions o;
    o.machine = Machine::Q35;
    o.net.mode = NetMode::Tap;
    o.net.tap_name = "nimbus0";
    const std::string tap = "tap,id=nimbus-net0,ifname=nimbus0,script=no,downscript=no,vhost=off";
    const std::string card = "virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,rx_queue_size=1024,romfile=";
    EXPECT_EQ(nic_args(o), (Args{"-netdev", tap, "-device", card}));
    o.net.offload = NetOffload::Csum; // checksums only: the device leaves TSO and LRO out
    EXPECT_EQ(nic_args(o), (Args{"-netdev", tap, "-device", card + ",host_tso4=off,guest_tso4=off"}));
    o.net.offload = NetOffload::None; // no vnet header: no offload at all
    EXPECT_EQ(nic_args(o), (Args{"-netdev", tap + ",vnet_hdr=off", "-device", card}));
    o.cpus = 2;
    EXPECT_EQ(nic_args(o)[1], tap + ",queues=2,vnet_hdr=off");
}

TEST(RunnerNetwork, TapQueuesAndVhost) {
    RunOptions o;
    o.net.mode = NetMode::Tap;
    o.net.tap_name = "nimbus0";
    const std::string tap = "tap,id=nimbus-net0,ifname=nimbus0,script=no,downscript=no";
    for (Machine m : {Machine::Q35, Machine::Pc}) {
        o.machine = m;
        o.cpus = 1;
        EXPECT_EQ(nic_args(o), (Args{"-netdev", tap + ",vhost=off", "-device",
                                     "virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                     "rx_queue_size=1024,romfile="}));
        // One queue pair per vCPU; MSI-X vectors for each queue, the control queue and
        // configuration changes.
        o.cpus = 4;
        EXPECT_EQ(nic_args(o),
                  (Args{"-netdev", tap + ",vhost=off,queues=4", "-device",
                        "virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                        "rx_queue_size=1024,romfile=,mq=on,vectors=10"}));
        o.cpus = 255;
        EXPECT_EQ(nic_args(o)[1], tap + ",vhost=off,queues=255");
        EXPECT_EQ(nic_args(o)[3], "virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                  "rx_queue_size=1024,romfile=,mq=on,vectors=512");
        o.cpus = 2;
        EXPECT_EQ(nic_args(o, /*vhost=*/true)[1], tap + ",vhost=on,queues=2");
    }
    // virtio-mmio: one interrupt, one queue pair whatever the vCPU count.
    o.machine = Machine::Microvm;
    o.cpus = 4;
    EXPECT_EQ(nic_args(o), (Args{"-netdev", tap + ",vhost=off", "-device",
                                 "virtio-net-device,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                                 "rx_queue_size=1024,bus=virtio-mmio-bus.1"}));
    o.machine = Machine::MicrovmNoAcpi;
    EXPECT_EQ(nic_args(o)[1], tap + ",vhost=off");
}

TEST(RunnerNetwork, TapQueueFlagsMustMatch) {
    constexpr unsigned kSingle = 0x1802;  // IFF_TAP | IFF_NO_PI | IFF_PERSIST, as sysfs shows them
    constexpr unsigned kMulti = 0x1902;   // ... | IFF_MULTI_QUEUE
    EXPECT_TRUE(check_tap_queues("t0", kSingle, 1));
    EXPECT_TRUE(check_tap_queues("t0", kMulti, 2));
    EXPECT_TRUE(check_tap_queues("t0", kMulti, 255));
    EXPECT_EQ(check_tap_queues("t0", kSingle, 4).error,
              "tap device t0 has one queue, but the NIC asks for 4 (one per vCPU on q35/pc): recreate it "
              "multi-queue ('ip link del t0; ip tuntap add dev t0 mode tap multi_queue'), or run with --cpus 1");
    EXPECT_EQ(check_tap_queues("t0", kMulti, 1).error,
              "tap device t0 is multi-queue, but the NIC uses one queue (--cpus 1, or a microvm machine): "
              "recreate it without multi_queue ('ip link del t0; ip tuntap add dev t0 mode tap')");

    RunOptions o;
    o.cpus = 4;
    EXPECT_EQ(nic_queue_pairs(o), 1u);  // user networking
    o.net.mode = NetMode::Tap;
    EXPECT_EQ(nic_queue_pairs(o), 1u);  // microvm
    o.machine = Machine::MicrovmNoAcpi;
    EXPECT_EQ(nic_queue_pairs(o), 1u);
    o.machine = Machine::Pc;
    EXPECT_EQ(nic_queue_pairs(o), 4u);
    o.machine = Machine::Q35;
    EXPECT_EQ(nic_queue_pairs(o), 4u);
    o.cpus = 1;
    EXPECT_EQ(nic_queue_pairs(o), 1u);
}

TEST(RunnerNetwork, NoNetworkCard) {
    for (Machine m : {Machine::Q35, Machine::Pc, Machine::Microvm, Machine::MicrovmNoAcpi}) {
        RunOptions o;
        o.machine = m;
        o.net.mode = NetMode::None;
        QemuInputs in;
        in.qemu = "/q";
        in.kernel = "/k";
        in.status_path = "/s";
        auto argv = build_qemu_argv(o, in);
        ASSERT_TRUE(argv) << argv.error;
        EXPECT_EQ(std::count(argv.value->begin(), argv.value->end(), "-netdev"), 0);
        for (const auto& arg : *argv.value) {
            EXPECT_EQ(arg.find("virtio-net"), std::string::npos) << arg;
            EXPECT_EQ(arg.find("virtio_mmio.device"), std::string::npos) << arg;
        }
    }
}

} // namespace
} // namespace runner
