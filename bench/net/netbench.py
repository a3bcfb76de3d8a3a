#!/usr/bin/env python3
"""Network benchmark: Debian's iperf3, redis-server, nginx and memcached (and netload's echo
server) served by a guest, loaded from the host through QEMU user networking, Nimbus side by
side with a Linux guest.

Each server runs in its own VM: the QEMU command line of `nimbus run --dry-run` (same
machine, vCPUs, memory, TCG) plus a virtio-net device on a `-netdev user` back-end that
forwards one 127.0.0.1 port of the host to the server's port in the guest. Linux boots
Debian's kernel with bench/net's initramfs (/init = linux_net_init.sh); Nimbus boots the same
program as its application. When the guest is ready (its ready line, then a protocol-level
probe through the forward), the host-side clients run, each bounded in count and time, and the
VM is killed. Guest CPU time is the QEMU vCPU threads' CPU time over each test, read on the
host (/proc/PID/task/*/schedstat), the same way for both guests. Run bench/boot/linux-guest.sh
and bench/net/build.sh first. See README.md.
"""
import argparse
import json
import os
import re
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "bench", "boot"))
import boot_bench  # noqa: E402  (linux_boot_options, STATUS_PLACEHOLDER)

LINUX_READY = "netbench-init: ready"


class Server:
    """A server program of the benchmark: its words in the guest (the same in both guests), the
    guest port it listens on, the console line that says it is ready in Nimbus (None: only the
    probe), the probe (a request it must answer) and the tests run against it."""

    def __init__(self, name, program, port, ready, probe, tests):
        self.name, self.program, self.port = name, program, port
        self.ready, self.probe, self.tests = ready, probe, tests


# ---- probes: True once the server answers through the forward --------------------------------

def exchange(port, request, expect, timeout=5.0):
    """Sends `request` to 127.0.0.1:`port` and reads until the reply starts with `expect`.
    A closed connection (slirp accepts on the host and gives up when nothing listens in the
    guest) or a wrong reply is False."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request)
            reply = b""
            while len(reply) < len(expect):
                chunk = s.recv(4096)
                if not chunk:
                    return False
                reply += chunk
            return reply.startswith(expect)
    except OSError:
        return False


def probe_echo(port):
    return exchange(port, b"x", b"x")


def probe_redis(port):
    return exchange(port, b"PING\r\n", b"+PONG")


def probe_http(port):
    return exchange(port, b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.1 200")


def probe_memcached(port):
    return exchange(port, b"version\r\n", b"VERSION ")


# ---- the host-side clients --------------------------------------------------------------------
# Each returns {figure: number}: "ops" (operations done, the unit of the CPU figures: requests,
# round trips, or MiB for the streams), "per_s" (throughput, the primary figure), and where the
# client reports them "mean_us", "p50_us", "p99_us".

def run_client(args, argv, timeout):
    if args.verbose:
        print("    $ " + shlex.join(argv), flush=True)
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc.stdout


def iperf3(args, port, state, reverse):
    argv = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(args.seconds), "-J",
            "--connect-timeout", "10000"] + (["-R"] if reverse else [])
    # The server takes a moment to wind the previous test up (long in a slow guest) and
    # refuses a new one meanwhile ("the server is busy"): try again, for up to a minute. Other
    # failures (a control connection reset: seen on a heavily loaded host) get 3 attempts.
    failures = 0
    for attempt in range(30):
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=args.seconds + 60)
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            out = {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-300:]}"}
        error = out.get("error")
        if not error:
            break
        failures += "busy" not in error
        if failures >= 3:
            break
        if args.verbose:
            print(f"    iperf3: {error}; again in 2 s", flush=True)
        time.sleep(2)
    return parse_iperf3(out)


def parse_iperf3(out):
    """Figures of iperf3's JSON report (-J), already decoded: the receiver's rate, MiB moved
    (the unit of the CPU figure) and the sender's retransmissions."""
    if "error" in out:
        raise RuntimeError(f"iperf3: {out['error']}")
    end = out["end"]
    received = end["sum_received"]
    mib = received["bytes"] / (1 << 20)
    return {"per_s": received["bits_per_second"] / 1e6, "ops": mib,
            "retransmits": end.get("sum_sent", {}).get("retransmits", 0)}


def parse_netload(out, name):
    """Figures of netload's `bench NAME key=value...` line."""
    m = re.search(rf"^bench {name} (.*)$", out, re.M)
    if not m:
        raise RuntimeError(f"netload: no '{name}' line in {out.strip()[-300:]!r}")
    f = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    return {"per_s": f["ops_per_s"], "ops": f["ops"], "mean_us": f["mean_ns"] / 1e3,
            "p50_us": f["p50_ns"] / 1e3, "p99_us": f["p99_ns"] / 1e3}


def netload(args, argv, name):
    return parse_netload(run_client(args, argv, args.seconds * 4 + 60), name)


def tcp_rr(args, port, state):
    return netload(args, [args.netload, "rr", "127.0.0.1", str(port), "-n", str(args.rr_count),
                          "-t", str(args.seconds * 1000)], "tcp_rr")


def memcache(args, port, state, op, depth):
    """netload's memcached client, `op` "set" or "get"; the gets ask for the keys the sets of
    the same depth stored (state["mc_keys"], at most 1,000)."""
    n = args.requests * (5 if depth > 1 else 1)
    argv = [args.netload, "memcache", "127.0.0.1", str(port), "-o", op, "-n", str(n), "-P", str(depth),
            "-t", str(args.seconds * 1000)]
    if op == "get":
        argv += ["-k", str(state["mc_keys"])]
    f = netload(args, argv, f"mc_{op}_p{depth}")
    if op == "set":
        state["mc_keys"] = min(1000, f["ops"])
    return f


def redis_benchmark(args, port, state, op, depth):
    n = args.requests * (5 if depth > 1 else 1)
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-n", str(n), "-c", str(args.clients),
            "-P", str(depth), "-t", op, "--csv"]
    return parse_redis_csv(run_client(args, argv, args.seconds * 12 + 120), op, n)


def parse_redis_csv(out, op, n):
    """Figures of `redis-benchmark --csv` for test `op` (its `n` requests): the columns are
    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
    "p99_latency_ms","max_latency_ms"."""
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split('","')]
        if len(cells) >= 7 and cells[0] == op.upper():
            return {"per_s": float(cells[1]), "ops": n, "mean_us": float(cells[2]) * 1e3,
                    "p50_us": float(cells[4]) * 1e3, "p99_us": float(cells[6]) * 1e3}
    raise RuntimeError(f"redis-benchmark: no {op.upper()} figures in {out.strip()[-300:]!r}")


WRK_UNITS = {"us": 1, "ms": 1e3, "s": 1e6}


def wrk(args, port, state):
    # wrk's default 2 s timeout is too short for a TCG guest on a busy host: 10 s.
    argv = ["wrk", "-t1", "-c", str(args.connections), "-d", f"{args.seconds}s", "--timeout", "10s",
            "--latency", f"http://127.0.0.1:{port}/"]
    return parse_wrk(run_client(args, argv, args.seconds + 60))


def parse_wrk(out):
    """Figures of `wrk --latency`'s report; answers other than 2xx/3xx fail the test, socket
    errors (timeouts, resets) are counted."""
    if "Non-2xx" in out:
        raise RuntimeError("wrk: " + " ".join(l.strip() for l in out.splitlines() if "Non-2xx" in l))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    total = re.search(r"^\s*(\d+) requests in", out, re.M)
    lat = {p: re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M) for p in ("50", "99")}
    mean = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s)\s", out, re.M)
    if not rate or not total or not all(lat.values()) or not mean:
        raise RuntimeError(f"wrk: unexpected output {out.strip()[-300:]!r}")
    us = lambda m: float(m.group(1)) * WRK_UNITS[m.group(2)]
    return {"per_s": float(rate.group(1)), "ops": int(total.group(1)), "mean_us": us(mean),
            "p50_us": us(lat["50"]), "p99_us": us(lat["99"]),
            "errors": sum(int(g) for g in errors.groups()) if errors else 0}


SERVERS = [
    Server("iperf3", ["/usr/bin/iperf3", "-s", "-p", "5201"], 5201, r"Server listening on 5201", None,
           [("stream host->guest", "Mbit/s", lambda a, p, s: iperf3(a, p, s, reverse=False)),
            ("stream guest->host", "Mbit/s", lambda a, p, s: iperf3(a, p, s, reverse=True))]),
    Server("rr", None, 7777, r"rr-server listening 7777", probe_echo,
           [("tcp_rr 1 byte", "rt/s", tcp_rr)]),
    Server("redis", ["/usr/bin/redis-server", "/etc/nimbus-bench/redis.conf"], 6379,
           r"Ready to accept connections", probe_redis,
           [(f"redis P{d} {op}", "req/s", lambda a, p, s, op=op, d=d: redis_benchmark(a, p, s, op, d))
            for d in (1, 16) for op in ("set", "get")]),
    Server("nginx", ["/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/nimbus-bench/nginx.conf"], 8080, None,
           probe_http, [("nginx wrk", "req/s", wrk)]),
    Server("memcached", ["/usr/bin/memcached", "-u", "nobody", "-p", "11211", "-U", "0"], 11211, None,
           probe_memcached,
           [(f"memcached P{d} {op}", "req/s", lambda a, p, s, op=op, d=d: memcache(a, p, s, op, d))
            for d in (1, 16) for op in ("set", "get")]),
]


# ---- the guests ---------------------------------------------------------------------------------

def free_port():
    """A host port free right now (the kernel's choice), for the forward."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guest_command(args, run_args, forwards, status_path):
    """The QEMU command of `nimbus run --dry-run` for RUN_ARGS, with the runner's virtio-net card
    on QEMU's user networking forwarding each (host port, guest port) of `forwards` from
    127.0.0.1 (`--net user -p HOST:GUEST`): the same card and back-end for both targets."""
    publish = [w for h, g in forwards for w in ("-p", f"127.0.0.1:{h}:{g}")]
    dry = subprocess.run([args.nimbus, "run", "--dry-run", "--net", "user"] + publish + run_args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if dry.returncode != 0:
        raise RuntimeError(f"nimbus run --dry-run failed: {dry.stderr.strip()[-400:]}")
    argv = shlex.split(dry.stdout.strip().splitlines()[-1])
    argv = [a.replace(boot_bench.STATUS_PLACEHOLDER, status_path) for a in argv]
    # debug-threads: QEMU names its threads, so that thread_cpu_ns can tell the vCPUs apart.
    return argv + ["-name", "netbench,debug-threads=on"]


def run_args(args, target, server):
    common = ["--machine", args.machine, "--memory", args.memory, "--cpus", str(args.cpus), "--accel", "tcg"]
    if target == "linux":
        boot = boot_bench.linux_boot_options(args) + ["tsc=reliable"]
        return (common + ["--kernel", args.vmlinux, "--initrd", args.initrd]
                + [w for b in boot for w in ("--boot", b)] + ["--"] + server.program)
    return common + ["--kernel", args.kernel, "--manifest", args.manifest, "--"] + server.program


def thread_cpu_ns(pid):
    """{"vcpu": ns, "vcpu_wait": ns, "other": ns} of QEMU process `pid`: the vCPU threads' run
    time, the time they were runnable but waited for a host CPU (the run queue delay: a busy
    host), and the run time of the other threads (QEMU's main loop with slirp, the user network
    back-end; its RCU thread; ...), from /proc/PID/task/TID/schedstat. The vCPU threads are
    "CPU N/TCG" ("ALL CPUs/TCG" if TCG runs single-threaded), named only with
    `-name ...,debug-threads=on`, which guest_command adds."""
    t = {"vcpu": 0, "vcpu_wait": 0, "other": 0}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait = (int(x) for x in f.read().split()[:2])
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
        if "/TCG" in comm or comm.startswith("CPU "):
            t["vcpu"] += run
            t["vcpu_wait"] += wait
        else:
            t["other"] += run
    return t


class Guest:
    """One VM running one server, its console in a log file; a context manager that kills it."""

    def __init__(self, args, target, server):
        self.args, self.target, self.server = args, target, server
        self.host_port = free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="nimbus-netbench-")
        status = os.path.join(self.tmp.name, "status")
        self.argv = guest_command(args, run_args(args, target, server), [(self.host_port, server.port)], status)
        os.makedirs(args.logs, exist_ok=True)
        self.log_path = os.path.join(args.logs, f"{target}-{server.name}-{args.cpus}cpu.log")
        self.proc = None
        self.state = {}  # what one test leaves for the next (memcached: the keys set)

    def __enter__(self):
        if self.args.verbose:
            print("    $ " + shlex.join(self.argv), flush=True)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.tmp.cleanup()

    def console(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def wait_ready(self):
        """Waits for the ready line (Linux's /init; Nimbus: the server's own, if it prints one),
        then for the probe to be answered through the forward. Raises on timeout or exit."""
        deadline = time.monotonic() + self.args.boot_timeout
        ready = LINUX_READY if self.target == "linux" else self.server.ready
        while ready and not re.search(ready, self.console()):
            self.check_alive(deadline, f"ready line {ready!r}")
            time.sleep(0.2)
        while self.server.probe and not self.server.probe(self.host_port):
            self.check_alive(deadline, "an answer to the probe")
            time.sleep(0.5)
        self.ready_s = self.args.boot_timeout - (deadline - time.monotonic())

    def check_alive(self, deadline, what):
        if self.proc.poll() is not None:
            raise RuntimeError(f"guest exited ({self.proc.returncode}) before {what}; console: {self.log_path}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} after {self.args.boot_timeout:.0f} s; console: {self.log_path}")

    def measure(self, client):
        """Runs `client(args, host_port, state)`; returns its figures with the guest's CPU time
        over the run."""
        t0 = thread_cpu_ns(self.proc.pid)
        w0 = time.monotonic_ns()
        f = client(self.args, self.host_port, self.state)
        wall = time.monotonic_ns() - w0
        t1 = thread_cpu_ns(self.proc.pid)
        if self.proc.poll() is not None:
            raise RuntimeError(f"guest exited during the test; console: {self.log_path}")
        d = {k: t1[k] - t0[k] for k in t0}
        f["vcpu_us_per_op"] = d["vcpu"] / 1e3 / f["ops"] if f["ops"] else None
        f["vcpu_pct"] = 100 * d["vcpu"] / wall
        f["vcpu_wait_pct"] = 100 * d["vcpu_wait"] / wall
        f["qemu_other_pct"] = 100 * d["other"] / wall
        return f


# ---- connection set-up lost on the host ----------------------------------------------------------
#
# QEMU's user network (slirp) listens for a hostfwd port with a backlog of one and accepts one
# connection per main-loop pass. A client that opens several connections at once (redis-benchmark
# and wrk open 8) can overflow that queue: the host drops the SYN and the client's kernel sends it
# again after a second — a stall of up to a second in a run of one or two, which has nothing to
# do with the guest (seen as runs at half speed for either guest, a straggler connection's SYN
# reaching the guest a second late). The host counts such drops; a run during which the count
# moved is measured again.
SETUP_ATTEMPTS = 3


def parse_setup_losses(netstat_text):
    """ListenOverflows + TCPSynRetrans from /proc/net/netstat's TcpExt lines, or None."""
    lines = netstat_text.splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:") and values.startswith("TcpExt:"):
            d = dict(zip(names.split()[1:], values.split()[1:]))
            if "ListenOverflows" in d and "TCPSynRetrans" in d:
                return int(d["ListenOverflows"]) + int(d["TCPSynRetrans"])
    return None


def setup_losses():
    try:
        with open("/proc/net/netstat") as f:
            return parse_setup_losses(f.read())
    except OSError:
        return None


def measure_clean(guest, client, test):
    """guest.measure(client), again (up to SETUP_ATTEMPTS runs) while the host lost a connection
    attempt during it; the figures say how many runs were set aside (setup_reruns) and what the
    one that stands lost (setup_lost)."""
    for attempt in range(SETUP_ATTEMPTS):
        before = setup_losses()
        f = guest.measure(client)
        after = setup_losses()
        lost = None if before is None or after is None else after - before
        if not lost or attempt == SETUP_ATTEMPTS - 1:
            f["setup_reruns"] = attempt
            f["setup_lost"] = lost  # in the run that stands
            return f
        print(f"    {test}: the host dropped {lost} connection attempt(s) (slirp's listen backlog): "
              f"measured again", flush=True)


# ---- the run ------------------------------------------------------------------------------------

def run_target(args, target, servers, results):
    for server in servers:
        label = f"{target} {server.name} ({args.cpus} cpu)"
        try:
            with Guest(args, target, server) as guest:
                guest.wait_ready()
                print(f"  {label}: ready after {guest.ready_s:.1f} s", flush=True)
                for rep in range(args.repeat):
                    for test, unit, client in server.tests:
                        f = measure_clean(guest, client, test)
                        f["unit"] = unit
                        results.setdefault((args.cpus, test), {}).setdefault(target, []).append(f)
                        if args.verbose or args.repeat > 1 or args.rounds > 1:
                            print(f"    {test}: {f['per_s']:.0f} {unit}"
                                  + (f", mean {f['mean_us']:.0f} us" if "mean_us" in f else "")
                                  + f", vCPU {f['vcpu_pct']:.0f} % (+{f['vcpu_wait_pct']:.0f} % waiting)",
                                  flush=True)
        except (RuntimeError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
            print(f"  {label}: FAILED: {e}", file=sys.stderr, flush=True)
            for test, unit, _ in server.tests:
                results.setdefault((args.cpus, test), {}).setdefault(target + " failed", []).append(str(e))


def boot_order(targets, rounds):
    """The targets' boots for `rounds` rounds, every other round reversed (A B B A A B …), so
    that a host getting slower or faster during the run favours neither."""
    order = []
    for r in range(rounds):
        order += targets if r % 2 == 0 else targets[::-1]
    return order


def median(values, key):
    v = [x[key] for x in values if x.get(key) is not None]
    return statistics.median(v) if v else None


# The targets of issue 6 as Nimbus / Linux: throughput >= 1.3x, request/response latency
# <= 0.7x (the ping-pong's mean), and guest CPU per request lower (for when the back-end caps
# both guests' throughput).
def verdict(name, key, ratio):
    if key == "per_s":
        return f">= 1.3: {'met' if ratio >= 1.3 else 'not met'}"
    if key == "mean_us" and name.startswith("tcp_rr"):
        return f"<= 0.7: {'met' if ratio <= 0.7 else 'not met'}"
    if key == "vcpu_us_per_op":
        return f"< 1: {'met' if ratio < 1 else 'not met'}"
    return ""


def print_table(args, results, targets):
    rows = [("per_s", None), ("mean_us", "mean us"), ("p50_us", "p50 us"), ("p99_us", "p99 us"),
            ("vcpu_us_per_op", "vCPU us/op"), ("vcpu_pct", "vCPU %"), ("vcpu_wait_pct", "vCPU wait %"),
            ("qemu_other_pct", "QEMU io %"), ("retransmits", "retransmits"), ("errors", "errors")]
    head = f"{'test':26} {'figure':11}" + "".join(f" {t:>10}" for t in targets)
    if len(targets) == 2:
        head += f" {'nim/lin':>8}  target"
    for cpus in args.cpu_list:
        print(f"\n{cpus} vCPU, {args.memory}, {args.machine}, TCG")
        print(head)
        for (c, name), by_target in results.items():
            if c != cpus:
                continue
            any_figures = next((v for t, v in by_target.items() if not t.endswith("failed")), None)
            unit = any_figures[0]["unit"] if any_figures else ""
            for key, label in rows:
                cells, values = [], []
                for t in targets:
                    v = median(by_target[t], key) if t in by_target else None
                    values.append(v)
                    cells.append(f"{v:10.1f}" if v is not None else f"{'failed' if t + ' failed' in by_target else '-':>10}")
                if all(v is None for v in values):
                    continue
                line = f"{name:26} {label or unit:11}" + "".join(f" {c}" for c in cells)
                if len(values) == 2 and values[0] and values[1] is not None:
                    ratio = values[1] / values[0]  # nimbus / linux
                    line += f" {ratio:8.2f}  {verdict(name, key, ratio)}"
                print(line)
            if not any_figures:
                print(f"{name:26} {'':11}" + "".join(f" {'failed' if t + ' failed' in by_target else '-':>10}"
                                                    for t in targets))
    print("\nper_s: throughput (Mbit/s received for the streams, requests or round trips per second);"
          "\nmean/p50/p99 us: one request (redis, wrk: per request; memcached P16: per batch of 16);"
          "\nvCPU us/op: the QEMU vCPU threads' CPU time per request (per MiB for the streams);"
          "\nvCPU %: that CPU time over the test's wall time (100 = one vCPU busy); vCPU wait %: time"
          "\nthe vCPU threads were runnable but had no host CPU (a busy host); QEMU io %: the other"
          "\nQEMU threads (main loop with slirp, the user network back-end)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=["linux", "nimbus", "both"], default="both")
    p.add_argument("--machine", default="q35", choices=["q35", "pc", "microvm"])
    p.add_argument("--cpus", default="1", help="vCPU counts, comma-separated: 1,2 runs everything twice")
    p.add_argument("--memory", default="512M")
    p.add_argument("--servers", default=",".join(s.name for s in SERVERS))
    p.add_argument("--seconds", type=int, default=5, help="iperf3 and wrk duration; time limit of the others")
    p.add_argument("--requests", type=int, default=20000,
                   help="redis-benchmark and memcached requests at pipeline 1 (x5 at pipeline 16)")
    p.add_argument("--clients", type=int, default=8, help="redis-benchmark connections")
    p.add_argument("--connections", type=int, default=8, help="wrk connections")
    p.add_argument("--rr-count", type=int, default=20000, help="round trips of the ping-pong")
    p.add_argument("--repeat", type=int, default=1, help="runs of each client per boot (median)")
    p.add_argument("--rounds", type=int, default=1,
                   help="boots of each server per target, the targets' order reversed every other "
                        "round (A B B A …) so that a host getting slower or faster favours neither; "
                        "the median is over rounds x repeats")
    p.add_argument("--boot-timeout", type=float, default=180)
    p.add_argument("--build", default=os.path.join(REPO, "build"))
    p.add_argument("--json", help="also write every figure to this file")
    p.add_argument("--dry-run", action="store_true", help="print the QEMU commands only")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    args.icount = False  # boot_bench.linux_boot_options: the host's TSC frequency
    args.build = os.path.abspath(args.build)
    args.nimbus = os.path.join(args.build, "bin", "nimbus")
    guest_dir = os.path.join(args.build, "linux-guest")
    args.vmlinux = os.path.join(guest_dir, "vmlinux")
    args.initrd = os.path.join(guest_dir, "net-initramfs.cpio")
    args.manifest = os.path.join(guest_dir, "net-manifest.txt")
    args.netload = os.path.join(guest_dir, "netload")
    args.kernel = os.path.join(args.build, "kernel", "kernel.elf")
    args.logs = os.path.join(args.build, "netbench-logs")
    args.cpu_list = [int(c) for c in args.cpus.split(",")]
    targets = ["linux", "nimbus"] if args.target == "both" else [args.target]
    need = [args.nimbus, args.netload, args.manifest]
    need += [args.vmlinux, args.initrd] if "linux" in targets else []
    need += [args.kernel] if "nimbus" in targets else []
    missing = [f for f in need if not os.path.exists(f)]
    if missing:
        sys.exit(f"netbench: missing {', '.join(missing)}: build the runner (and the kernel), run "
                 f"bench/boot/linux-guest.sh, then bench/net/build.sh")
    for s in SERVERS:
        if s.program is None:  # netload's echo server: the same static binary in both guests
            s.program = [args.netload, "rr-server", str(s.port)]
    names = args.servers.split(",")
    unknown = [n for n in names if n not in [s.name for s in SERVERS]]
    if unknown:
        sys.exit(f"netbench: unknown server {', '.join(unknown)}")
    servers = [s for s in SERVERS if s.name in names]

    if args.dry_run:
        for cpus in args.cpu_list:
            args.cpus = cpus
            for t in targets:
                for s in servers:
                    print(f"{t} {s.name}: " + shlex.join(guest_command(args, run_args(args, t, s),
                                                                       [(s.port, s.port)], "STATUS")))
        return

    results = {}
    print(f"machine {args.machine}, vCPUs {args.cpus}, {args.memory}, TCG; tests <= {args.seconds} s; "
          f"host load {os.getloadavg()[0]:.1f}", flush=True)
    for cpus in args.cpu_list:
        args.cpus = cpus
        for server in servers:
            for t in boot_order(targets, args.rounds):
                run_target(args, t, [server], results)
    print_table(args, results, targets)
    print(f"host load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"cpus": c, "test": n, **by} for (c, n), by in results.items()], f, indent=1)


if __name__ == "__main__":
    main()
