#!/usr/bin/env python3
"""iperf3 over a tap device: Nimbus's virtio-net offloads on and off (issue 6).

A network namespace of its own holds a tap device (multi_queue when --cpus > 1) with
198.18.0.1/24; Nimbus boots Debian's `iperf3 -s` on it with net.ip=198.18.0.2/24, once per
`--net-offload` setting (all: checksums, TSO and coalesced receive; csum: checksums only;
none: no vnet header at all), and iperf3 in the namespace measures a stream each way for
--seconds (the receiver's rate, the sender's retransmissions). Every run is bounded in time;
the namespace and everything started in it are removed at the end. Root, /dev/net/tun, ip(8)
and iperf3 on the host.

usage: tapbench.py --nimbus NIMBUS --kernel KERNEL [--cpus N] [--seconds S] [--offload all,csum,none]
                   [--streams P]
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

HOST, GUEST, PORT = "198.18.0.1", "198.18.0.2", 5201


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


def measure(args, ns, tap, offload):
    cmd = ["ip", "netns", "exec", ns, args.nimbus, "run", "--machine", "q35", "--cpus", str(args.cpus),
           "--kernel", args.kernel, "--net", f"tap:{tap}", "--net-offload", offload, "--timeout",
           str(4 * args.seconds + 120), "--boot", f"net.ip={GUEST}/24", "--boot", "net.dhcp=off",
           "/usr/bin/iperf3", "-s", "-p", str(PORT)]
    vm = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, start_new_session=True)
    lines = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = vm.stdout.readline()
            if not line:
                raise RuntimeError("the guest ended before iperf3 listened:\n" + "".join(lines[-20:]))
            lines.append(line)
            if "Server listening" in line:
                break
        features = next((l.strip() for l in lines if re.search(r"eth0: .* link up", l)), "?")
        down = iperf3(ns, args.seconds, False, args.streams)
        up = iperf3(ns, args.seconds, True, args.streams)
        return features, down, up
    finally:
        try:
            os.killpg(vm.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        vm.wait(timeout=10)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--streams", type=int, default=1)
    p.add_argument("--offload", default="all,csum,none")
    args = p.parse_args()
    ns, tap = f"tapbench-{os.getpid()}", f"tb{os.getpid() % 10**7}"
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "tuntap", "add", "dev", tap, "mode", "tap"] + (["multi_queue"] if args.cpus > 1 else []))
        run(["ip", "-n", ns, "addr", "add", f"{HOST}/24", "dev", tap])
        run(["ip", "-n", ns, "link", "set", tap, "up"])
        print(f"iperf3 over a tap, q35, {args.cpus} vCPU(s), TCG, {args.seconds} s, {args.streams} stream(s); "
              f"Mbit/s at the receiver (sender's retransmits)", flush=True)
        for offload in args.offload.split(","):
            features, down, up = measure(args, ns, tap, offload)
            print(f"  --net-offload {offload:5}  host->guest {down[0]:7.0f} ({down[1]})  guest->host {up[0]:7.0f} "
                  f"({up[1]})   [{features.split(', ', 1)[-1]}]", flush=True)
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
