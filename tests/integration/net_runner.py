#!/usr/bin/env python3
"""The runner's networking options end to end (issue 6): --net user|tap:NAME|none, -p, --mac.

Checks, through the real `nimbus` binary and QEMU, with the trivial guest (it exits 0 at once):
  * `--dry-run` prints the documented -netdev/-device arguments on every machine;
  * bad values exit 125 with one line naming the problem;
  * a -p forward is set up by QEMU (the guest boots and exits 0), and a host port that is
    already taken ends in 125 with QEMU's own message;
  * --net tap:NAME inside a network namespace of its own (needs root, `ip` and /dev/net/tun,
    else that part is reported as skipped): a single-queue tap on microvm and q35, a
    multi-queue tap with --cpus 2 on q35, a mismatch and a missing device refused with 125.

usage: net_runner.py --nimbus NIMBUS --kernel TRIVIAL_ELF
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(cmd, timeout=120):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


def dry_run(nimbus, kernel, args):
    status, out, err = run([nimbus, "run", "--dry-run", "--accel", "tcg", "--kernel", kernel] + args)
    if status != 0:
        print(err, file=sys.stderr)
    return out.strip().splitlines()[-1] if out.strip() else ""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def dry_run_checks(nimbus, kernel):
    mac = "52:54:00:12:34:56"
    for machine, device in [("q35", f"virtio-net-pci,netdev=nimbus-net0,mac={mac},rx_queue_size=1024,romfile="),
                            ("pc", f"virtio-net-pci,netdev=nimbus-net0,mac={mac},rx_queue_size=1024,romfile="),
                            ("microvm", f"virtio-net-device,netdev=nimbus-net0,mac={mac},"
                                        f"rx_queue_size=1024,bus=virtio-mmio-bus.1"),
                            ("microvm-noacpi", f"virtio-net-device,netdev=nimbus-net0,mac={mac},"
                                               f"rx_queue_size=1024,bus=virtio-mmio-bus.0")]:
        line = dry_run(nimbus, kernel, ["--machine", machine])
        check(line.endswith(f"-netdev user,id=nimbus-net0 -device {device}"), f"dry-run {machine}: default NIC")
        if machine.startswith("microvm"):
            gsi = "25" if machine == "microvm" else "5"
            base = "0xfeb00200" if machine == "microvm" else "0xfeb00000"
            check(f"virtio_mmio.device=512@{base}:{gsi}" in line, f"dry-run {machine}: NIC announced")
    line = dry_run(nimbus, kernel, ["-p", "8080:80", "-p", "0.0.0.0:5353:53/udp", "--mac", "02:00:00:AB:CD:EF"])
    check("-netdev user,id=nimbus-net0,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=udp:0.0.0.0:5353-:53 "
          "-device virtio-net-device,netdev=nimbus-net0,mac=02:00:00:ab:cd:ef,"
          "rx_queue_size=1024,bus=virtio-mmio-bus.1" in line,
          "dry-run: -p forwards and --mac")
    line = dry_run(nimbus, kernel, ["--machine", "q35", "--cpus", "2", "--net", "tap:nimbus9"])
    check(line.endswith("-netdev tap,id=nimbus-net0,ifname=nimbus9,script=no,downscript=no,vhost=off,queues=2 "
                        "-device virtio-net-pci,netdev=nimbus-net0,mac=52:54:00:12:34:56,"
                        "rx_queue_size=1024,romfile=,mq=on,vectors=6"),
          "dry-run: multiqueue tap on q35")
    line = dry_run(nimbus, kernel, ["--net", "none"])
    check(line != "" and "-netdev" not in line and "virtio-net" not in line and "virtio_mmio.device" not in line,
          "dry-run: --net none")


def error_checks(nimbus, kernel):
    for args, message in [(["-p", "0:80"], "bad port '0' in -p '0:80' (expected 1..65535)"),
                          (["-p", "8080:80", "-p", "8080:81"], "host tcp port 8080 is forwarded twice"),
                          (["--net", "tap:t0", "-p", "1:2"], "-p forwards host ports through QEMU's user networking"),
                          (["--net", "wifi"], "unknown --net 'wifi'"),
                          (["--mac", "ff:ff:ff:ff:ff:ff"], "a multicast address")]:
        status, _, err = run([nimbus, "run", "--kernel", kernel] + args)
        check(status == 125 and message in err, f"{' '.join(args)}: 125, '{message}'")


def forward_checks(nimbus, kernel):
    port = free_port()
    status, _, err = run([nimbus, "run", "--timeout", "60", "--kernel", kernel, "-p", f"{port}:80"])
    check(status == 0, f"boot with -p {port}:80: status {status}")
    if status != 0:
        print(err, file=sys.stderr)
    # The host port is taken: QEMU refuses to start.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        busy = s.getsockname()[1]
        status, _, err = run([nimbus, "run", "--timeout", "60", "--kernel", kernel, "-p", f"{busy}:80"])
        check(status == 125 and "Could not set up host forwarding rule" in err,
              f"-p on a busy port {busy}: status {status}")


def ip(*args):
    subprocess.run(["ip"] + list(args), check=True, stdout=subprocess.DEVNULL)


def tap_checks(nimbus, kernel):
    if os.geteuid() != 0 or shutil.which("ip") is None or not os.path.exists("/dev/net/tun"):
        print("skip tap checks: they need root, ip(8) and /dev/net/tun", flush=True)
        return
    ns = f"nimbus-test-{os.getpid()}"
    try:
        try:
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "tuntap", "add", "dev", "nimbus0", "mode", "tap")
            ip("-n", ns, "tuntap", "add", "dev", "nimbusmq", "mode", "tap", "multi_queue")
            for dev in ("nimbus0", "nimbusmq"):
                ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "addr", "add", "198.18.0.1/24", "dev", "nimbus0")
        except subprocess.CalledProcessError as e:
            # A container may refuse namespaces or tun devices even to root.
            print(f"skip tap checks: cannot set up the namespace ({e})", flush=True)
            return
        inside = ["ip", "netns", "exec", ns, nimbus, "run", "--timeout", "60", "--kernel", kernel]
        for args in (["--net", "tap:nimbus0"], ["--machine", "q35", "--net", "tap:nimbus0"],
                     ["--machine", "q35", "--cpus", "2", "--net", "tap:nimbusmq"],
                     ["--cpus", "2", "--net", "tap:nimbus0"]):  # microvm: one queue whatever the vCPUs
            status, _, err = run(inside + args)
            check(status == 0, f"tap {' '.join(args)}: status {status}")
            if status != 0:
                print(err, file=sys.stderr)
        for args, message in [(["--machine", "q35", "--cpus", "2", "--net", "tap:nimbus0"],
                               "tap device nimbus0 has one queue, but the NIC asks for 2"),
                              (["--net", "tap:nimbusmq"], "tap device nimbusmq is multi-queue"),
                              (["--net", "tap:nosuch0"], "tap device nosuch0 not found in this network namespace")]:
            status, _, err = run(inside + args)
            check(status == 125 and message in err, f"tap {' '.join(args)}: 125, '{message}'")
        # Outside the namespace the device does not exist.
        status, _, err = run([nimbus, "run", "--kernel", kernel, "--net", "tap:nimbus0"])
        check(status == 125 and "not found in this network namespace" in err, "tap outside its namespace: 125")
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    args = p.parse_args()
    dry_run_checks(args.nimbus, args.kernel)
    error_checks(args.nimbus, args.kernel)
    forward_checks(args.nimbus, args.kernel)
    tap_checks(args.nimbus, args.kernel)
    if failures:
        print(f"{len(failures)} check(s) failed", flush=True)
        return 1
    print("net_runner: ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
