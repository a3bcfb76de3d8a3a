#!/usr/bin/env python3
"""iperf3 over a tap device: Nimbus (its virtio-net offloads on and off) and a Linux guest (issue 6).

A network namespace of its own holds a tap device (multi_queue when --cpus > 1) with
198.18.0.1/24. Each guest boots Debian's `iperf3 -s` on it at 198.18.0.2/24 through the same
runner command (`nimbus run --machine q35 --cpus N --memory M --net tap:TAP --net-offload O`,
so the same QEMU, virtio-net device and tap back-end):

- Nimbus, once per `--net-offload` setting (all: checksums, TSO and coalesced receive; csum:
  checksums only; none: no vnet header at all), with net.ip=198.18.0.2/24;
- Linux (Debian's kernel, bench/boot/linux-guest.sh, with bench/net/build.sh's initramfs), with
  `--net-offload all` only (what Linux negotiates by default), its /init taking the static
  address from `netbench_ip=` on the kernel command line.

iperf3 in the namespace measures a stream each way for --seconds (the receiver's rate, the
sender's retransmissions; host -> guest also the frames the tap dropped for want of a receive
buffer in the guest); `--repeat R` boots every configuration R times, interleaved, and the
summary gives medians and Nimbus / Linux per direction. Every run is bounded in time; the
namespace and everything started in it are removed at the end. Root, /dev/net/tun, ip(8) and
iperf3 on the host.

To see why a sender retransmitted: `--nstat` prints the namespace's TCP counters per test (fast
retransmits and SACK recoveries — holes the receiver reported —, tail loss probes, timeouts,
the host's out-of-order queue for guest -> host), `--guest-log FILE` keeps each guest's console
(Nimbus logs its drop and net-channel counters when it exits normally).

usage: tapbench.py [--target linux|nimbus|both] [--build DIR] [--nimbus NIMBUS] [--kernel KERNEL]
                   [--cpus N] [--memory M] [--seconds S] [--streams P] [--offload all,csum,none]
                   [--repeat R] [--guest-log FILE] [--nstat]
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "boot"))
import boot_bench  # noqa: E402  (linux_boot_options)

HOST, GUEST, PORT = "198.18.0.1", "198.18.0.2", 5201
LINUX_READY = "netbench-init: ready"
BOOT_TIMEOUT = 180  # s: Linux under TCG on a busy host takes up to a minute


def run(cmd, timeout=30, check=True):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: status {p.returncode}: {p.stdout.strip()}")
    return p.stdout


def iperf3(ns, seconds, reverse, streams):
    argv = ["ip", "netns", "exec", ns, "iperf3", "-c", GUEST, "-p", str(PORT), "-t", str(seconds), "-J",
            "-P", str(streams), "--connect-timeout", "10000"] + (["-R"] if reverse else [])
    for _ in range(20):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=seconds + 60)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            out = {"error": p.stderr.strip()[-200:]}
        if "error" not in out:
            end = out["end"]
            return end["sum_received"]["bits_per_second"] / 1e6, end.get("sum_sent", {}).get("retransmits", 0)
        time.sleep(1)  # "the server is busy" while it winds the last test up
    raise RuntimeError(f"iperf3: {out['error']}")


def tap_tx_dropped(ns, tap):
    """Frames the host dropped on their way into the tap towards the guest: the tap's own ring
    (tx_dropped) or its queueing discipline overflowed, which is what happens when QEMU, with
    no receive buffer left in the guest's ring, stops reading the tap."""
    out = run(["ip", "netns", "exec", ns, "cat", f"/sys/class/net/{tap}/statistics/tx_dropped"], check=False)
    qdisc = re.search(r"dropped (\d+)", run(["ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", tap],
                                            check=False))  # the root's line comes first: it sums its children
    try:
        return int(out.strip()) + (int(qdisc.group(1)) if qdisc else 0)
    except ValueError:
        return 0


# The namespace's TCP counters that tell why the host retransmitted (nstat's names).
NSTAT_KEYS = ("TcpRetransSegs", "TcpExtTCPFastRetrans", "TcpExtTCPSackRecovery", "TcpExtTCPSACKReorder",
              "TcpExtTCPTSReorder", "TcpExtTCPLossProbes", "TcpExtTCPTimeouts", "TcpExtTCPLostRetransmit",
              "TcpExtTCPSlowStartRetrans", "TcpExtTCPDSACKRecv", "TcpExtTCPOFOQueue")


def nstat(ns):
    """The namespace's absolute SNMP counters (nstat -as: no history file touched)."""
    values = {}
    for line in run(["ip", "netns", "exec", ns, "nstat", "-asz"], check=False).splitlines():
        words = line.split()
        if len(words) >= 2 and words[1].isdigit():
            values[words[0]] = int(words[1])
    return values


def nstat_delta(before, after):
    return " ".join(f"{k.replace('TcpExtTCP', '').replace('Tcp', '')} {after.get(k, 0) - before.get(k, 0)}"
                    for k in NSTAT_KEYS if after.get(k, 0) != before.get(k, 0))


def guest_command(args, ns, tap, target, offload):
    """`nimbus run` of TARGET on the tap: the same runner options (and so the same QEMU command
    but for the kernel, its command line and the initrd) for both guests."""
    cmd = ["ip", "netns", "exec", ns, args.nimbus, "run", "--machine", "q35", "--cpus", str(args.cpus),
           "--memory", args.memory, "--accel", "tcg", "--net", f"tap:{tap}", "--net-offload", offload,
           "--timeout", str(4 * args.seconds + BOOT_TIMEOUT + 60)]
    if target == "linux":
        # Unknown words with '=' and no '.' reach /init as environment: netbench_ip.
        boot = boot_bench.linux_boot_options(args) + ["tsc=reliable", f"netbench_ip={GUEST}/24"]
        cmd += ["--kernel", args.vmlinux, "--initrd", args.initrd] + [w for b in boot for w in ("--boot", b)]
    else:
        cmd += ["--kernel", args.kernel, "--boot", f"net.ip={GUEST}/24", "--boot", "net.dhcp=off"]
    return cmd + ["--", "/usr/bin/iperf3", "-s", "-p", str(PORT)]


def measure(args, ns, tap, target, offload):
    """Boots TARGET, waits for iperf3 to listen, runs both directions; kills the VM."""
    ready = LINUX_READY if target == "linux" else "Server listening"
    vm = subprocess.Popen(guest_command(args, ns, tap, target, offload), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    reader = None
    try:
        # readline blocks: a timer kills the VM (ending its output) if it never gets ready.
        deadline = time.monotonic() + BOOT_TIMEOUT
        watchdog = signal.signal(signal.SIGALRM, lambda *_: os.killpg(vm.pid, signal.SIGKILL))
        signal.alarm(BOOT_TIMEOUT)
        try:
            while time.monotonic() < deadline:
                line = vm.stdout.readline()
                if not line:
                    raise RuntimeError(f"{target}: the guest ended before iperf3 listened:\n" + "".join(lines[-20:]))
                lines.append(line)
                if ready in line:
                    break
            else:
                raise RuntimeError(f"{target}: iperf3 not listening after {BOOT_TIMEOUT} s")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, watchdog)
        if target == "linux":
            features = next((l.strip().split(": ", 1)[-1] for l in lines if "netbench-init: linux" in l), "?")
        else:
            features = next((l.strip() for l in lines if re.search(r"eth0: .* link up", l)), "?")
            features = features.split(", ", 1)[-1]
        # The guest's console from here on, read by a thread so that it never blocks the guest.
        reader = threading.Thread(target=lambda: lines.extend(iter(vm.stdout.readline, "")), daemon=True)
        reader.start()
        dropped = tap_tx_dropped(ns, tap)
        counters = nstat(ns) if args.nstat else None
        down = iperf3(ns, args.seconds, False, args.streams)
        dropped = tap_tx_dropped(ns, tap) - dropped
        if args.nstat:
            between = nstat(ns)
            print(f"    host nstat, host->guest: {nstat_delta(counters, between)}", flush=True)
        up = iperf3(ns, args.seconds, True, args.streams)
        if args.nstat:
            print(f"    host nstat, guest->host: {nstat_delta(between, nstat(ns))}", flush=True)
        return features, down + (dropped,), up
    finally:
        try:
            os.killpg(vm.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        vm.wait(timeout=10)
        if reader:
            reader.join(timeout=5)
        if args.guest_log:
            with open(args.guest_log, "a") as log:
                log.write(f"=== {target} {offload}\n" + "".join(lines))


def summary(results, targets):
    """Medians per configuration and Nimbus (all) / Linux per direction."""
    print("\nmedians, Mbit/s at the receiver (sender's retransmits, tap drops):")
    medians = {}
    for key, runs in results.items():  # only configurations with at least one run
        down = statistics.median(r[0][0] for r in runs)
        up = statistics.median(r[1][0] for r in runs)
        down_rt = statistics.median(r[0][1] for r in runs)
        drops = statistics.median(r[0][2] for r in runs)
        up_rt = statistics.median(r[1][1] for r in runs)
        medians[key] = (down, up)
        print(f"  {key[0]:6} {key[1]:5}  host->guest {down:7.0f} ({down_rt:.0f}, tap drops {drops:.0f})  "
              f"guest->host {up:7.0f} ({up_rt:.0f})   [{len(runs)} run(s)]")
    linux, nimbus = medians.get(("linux", "all")), medians.get(("nimbus", "all"))
    if linux and nimbus and "linux" in targets:
        ratio = [n / l if l else float("nan") for n, l in zip(nimbus, linux)]
        print(f"  Nimbus / Linux (offloads all): host->guest {ratio[0]:.2f}  guest->host {ratio[1]:.2f}  "
              f"(issue 6: >= 1.3)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=["linux", "nimbus", "both"], default="both")
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--nimbus", help="the runner (default BUILD/bin/nimbus)")
    p.add_argument("--kernel", help="Nimbus's kernel (default BUILD/kernel/kernel.elf)")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--memory", default="512M")
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--offload", default="all,csum,none", help="Nimbus's --net-offload settings (Linux: all)")
    p.add_argument("--repeat", type=int, default=1, help="boots of every configuration (medians)")
    p.add_argument("--guest-log", help="append every guest's console output to this file")
    p.add_argument("--nstat", action="store_true", help="print the host's TCP retransmission counters per test")
    args = p.parse_args()
    args.icount = False  # boot_bench.linux_boot_options: the host's TSC frequency
    args.build = os.path.abspath(args.build)
    args.nimbus = args.nimbus or os.path.join(args.build, "bin", "nimbus")
    args.kernel = args.kernel or os.path.join(args.build, "kernel", "kernel.elf")
    args.vmlinux = os.path.join(args.build, "linux-guest", "vmlinux")
    args.initrd = os.path.join(args.build, "linux-guest", "net-initramfs.cpio")
    targets = ["linux", "nimbus"] if args.target == "both" else [args.target]
    need = [args.nimbus] + ([args.vmlinux, args.initrd] if "linux" in targets else [])
    need += [args.kernel] if "nimbus" in targets else []
    missing = [f for f in need if not os.path.exists(f)]
    if missing:
        sys.exit(f"tapbench: missing {', '.join(missing)}: build the runner and the kernel, run "
                 f"bench/boot/linux-guest.sh, then bench/net/build.sh")
    configs = [(t, o) for t in targets for o in (["all"] if t == "linux" else args.offload.split(","))]

    ns, tap = f"tapbench-{os.getpid()}", f"tb{os.getpid() % 10**7}"
    run(["ip", "netns", "add", ns])
    results = {}
    try:
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"] + (["multi_queue"] if args.cpus > 1 else []))
        run(["ip", "-n", ns, "addr", "add", f"{HOST}/24", "dev", tap])
        run(["ip", "-n", ns, "link", "set", tap, "up"])
        print(f"iperf3 over a tap, q35, {args.cpus} vCPU(s), {args.memory}, TCG, {args.seconds} s, "
              f"{args.streams} stream(s); Mbit/s at the receiver (sender's retransmits); "
              f"host load {os.getloadavg()[0]:.1f}", flush=True)
        for r in range(args.repeat):
            for target, offload in configs:
                try:
                    features, down, up = measure(args, ns, tap, target, offload)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"  {target:6} {offload:5}  failed: {e}", flush=True)
                    continue
                results.setdefault((target, offload), []).append((down, up))
                print(f"  {target:6} {offload:5}  host->guest {down[0]:7.0f} ({down[1]}, tap drops {down[2]})  "
                      f"guest->host {up[0]:7.0f} ({up[1]})   load {os.getloadavg()[0]:4.1f}  [{features}]", flush=True)
        summary(results, targets)
        print(f"host load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    finally:
        for pid in run(["ip", "netns", "pids", ns], check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ValueError, ProcessLookupError):
                pass
        run(["ip", "netns", "del", ns], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
