#!/usr/bin/env python3
"""The guest on a link of its own (issue 6): a tap device in a network namespace that the test
creates, no outside network needed. The namespace is the guest's whole world: 198.18.0.1/24 on
the tap (RFC 2544's benchmarking range), the runner's QEMU started inside it with
`--net tap:TAP`, and whatever talks to the guest runs there too (`ip netns exec`).

Cases (--case, repeatable; all by default):
  * dhcp:     a real DHCP server (dnsmasq, Debian's dnsmasq-base) on the tap hands out
              198.18.0.50-60; the kernel must take a lease in that range (its log line), answer
              `ping` from the namespace, and dnsmasq's lease file must name the guest's MAC. The
              guest program, `net_echo udp-server`, is ended by one datagram from the namespace.
  * static:   net.ip=198.18.0.2/24, net.gw=198.18.0.1; `net_echo tcp-server` in the guest, the
              host-built `net_echo tcp-client` in the namespace (several connections, echo
              checked byte for byte).
  * synflood: the same server while ~20,000 SYNs from spoofed sources in 203.0.113.0/24 arrive
              (a raw socket in the namespace, headers and checksums built here, bounded rate and
              time); the guest's SYN-ACKs go to the gateway, which does not forward them. A
              legitimate client started one second into the flood must complete its exchange
              (the kernel answers with SYN cookies once its SYN queue is full), the guest must
              survive, and a connection after the flood must work too.

  * tso:      guest -> host, --bytes (1 GiB) over one connection: `net_echo tcp-source` in the
              guest, `net_echo tcp-sink` in the namespace; the byte counts and FNV-1a hashes
              must agree, the driver's feature line must say `tso4` (QEMU's tap back-end with
              a vnet header offers HOST_TSO4) and its exit line must show frames the device cut.
  * lro:      host -> guest, the same the other way round: the feature line must say `lro4`
              (GUEST_TSO4) and the exit line must show coalesced frames received.
  * flows:    (--cpus 2, multi_queue tap) 4 connections at once from one process (as iperf3 -P 4),
              8 MiB echoed on each: the guest transmits each flow on its connection's queue pair, so
              both receive and both transmit queues must carry at least a third of the frames, and
              almost no segment of a channelled flow may come through a second receive queue (the
              exit line of the net channels).
  * mq:       (--cpus 2 or more on q35/pc: the tap is created multi_queue) the driver must
              use one queue pair per vCPU; `net_echo tcp-server` in the guest echoes
              --conns connections that several `net_echo tcp-client` processes in the
              namespace open at once (the host's tap spreads their flows over its queues), every
              echo checked byte for byte; the guest's exit lines must show every receive and
              transmit queue carrying frames.

Needs root, /dev/net/tun, ip(8), ping(8) and dnsmasq(8): without them every case FAILS with the
reason (never skipped silently). Names carry the test's pid, so parallel runs do not collide;
the namespace, dnsmasq and QEMU are removed in `finally` whatever happened. Every wait is bounded.

usage: net_tap_test.py --nimbus NIMBUS --kernel KERNEL --app NET_ECHO [--machine M] [--cpus N]
                       [--case dhcp|static|synflood|tso|lro|mq|flows]... [--bytes N]
"""
import argparse
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HOST_ADDR = "198.18.0.1"
GUEST_STATIC = "198.18.0.2"
DHCP_FIRST, DHCP_LAST = "198.18.0.50", "198.18.0.60"
PORT = 7777
CASES = ("dhcp", "static", "synflood", "tso", "lro", "mq", "flows")


class Failure(Exception):
    pass


def ip_int(text):
    return struct.unpack("!I", socket.inet_aton(text))[0]


def run(cmd, timeout=30, check=True):
    """Runs a short command; its combined output. Raises Failure on a bad status if `check`."""
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure(f"{' '.join(cmd)}: no answer within {timeout} s")
    out = p.stdout.decode(errors="replace")
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(cmd)}: status {p.returncode}: {out.strip()}")
    return p.returncode, out


class Output:
    """A child process's merged stdout/stderr, read by a thread so that every wait is bounded."""

    def __init__(self, proc, label):
        self.proc = proc
        self.label = label
        self.lines = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip())
                self.cond.notify_all()
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wait_for(self, pattern, timeout):
        """The first match of regex `pattern` in a line, waiting up to `timeout` s; None if the
        output ended or time ran out first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            seen = 0
            while True:
                for line in self.lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return None
                self.cond.wait(min(left, 1.0))

    def wait_exit(self, timeout):
        """The exit status, or None if still running after `timeout` s."""
        try:
            status = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.thread.join(timeout=5)
        return status

    def text(self, last=60):
        with self.cond:
            return "\n".join(f"  [{self.label}] {line}" for line in self.lines[-last:])


class Namespace:
    """A network namespace holding one tap device with 198.18.0.1/24; processes started through
    it (`start`) are killed — their whole process group — by `close`, then the namespace is deleted
    (which deletes the tap)."""

    def __init__(self, tag, multi_queue=False):
        self.multi_queue = multi_queue  # the runner gives QEMU one queue per vCPU on q35/pc
        self.name = f"nimbus-tap-{os.getpid()}-{tag}"
        self.tap = f"ntap{os.getpid() % 10**7}"  # IFNAMSIZ: at most 15 characters
        self.procs = []
        self.created = False
        self.tmp = None  # a directory for files of the case (dnsmasq's), removed by close()

    def open(self):
        self.tmp = tempfile.mkdtemp(prefix=f"{self.name}-")
        run(["ip", "netns", "add", self.name])
        self.created = True
        run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        run(["ip", "-n", self.name, "tuntap", "add", "dev", self.tap, "mode", "tap"] +
            (["multi_queue"] if self.multi_queue else []))
        run(["ip", "-n", self.name, "addr", "add", f"{HOST_ADDR}/24", "dev", self.tap])
        run(["ip", "-n", self.name, "link", "set", self.tap, "up"])
        return self

    def exec_cmd(self, cmd):
        return ["ip", "netns", "exec", self.name] + cmd

    def start(self, cmd, label):
        proc = subprocess.Popen(self.exec_cmd(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return Output(proc, label)

    def run(self, cmd, timeout=30, check=True):
        return run(self.exec_cmd(cmd), timeout=timeout, check=check)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its QEMU, or dnsmasq
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"warning: process {proc.pid} did not exit after SIGKILL", flush=True)
        if self.created:
            # Anything still inside was started by this test (through `start`).
            _, pids = run(["ip", "netns", "pids", self.name], check=False)
            for pid in pids.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ValueError, ProcessLookupError):
                    pass
            status, out = run(["ip", "netns", "del", self.name], check=False)
            if status != 0:
                print(f"warning: ip netns del {self.name}: {out.strip()}", flush=True)
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def guest(args, ns, boot, program_args, mac, timeout=240):
    cmd = [args.nimbus, "run", "--timeout", str(timeout), "--machine", args.machine, "--cpus", str(args.cpus),
           "--kernel", args.kernel, "--net", f"tap:{ns.tap}", "--mac", mac]
    for option in boot:
        cmd += ["--boot", option]
    return ns.start(cmd + [args.app] + program_args, "guest")


def unique_mac(tag):
    """A locally administered unicast MAC derived from the pid, so dnsmasq's lease is ours."""
    pid = os.getpid()
    return "52:54:%02x:%02x:%02x:%02x" % (tag & 0xff, (pid >> 16) & 0xff, (pid >> 8) & 0xff, pid & 0xff)


def expect_listening(out, timeout=120):
    if not out.wait_for(rf"listening {PORT}\b", timeout):
        raise Failure(f"the guest never listened on {PORT}\n{out.text()}")


def finish_guest(out, expect, timeout=60):
    status = out.wait_exit(timeout)
    if status is None:
        raise Failure(f"the guest did not exit within {timeout} s\n{out.text()}")
    if status != 0 or not out.wait_for(re.escape(expect), 0):
        raise Failure(f"the guest ended with status {status}, expected 0 and '{expect}'\n{out.text()}")


def ping(ns, addr):
    _, out = ns.run(["ping", "-c", "3", "-W", "2", addr], timeout=30, check=False)
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    received = int(m.group(2)) if m else 0
    if received != 3:
        raise Failure(f"ping {addr} from the namespace: {received} of 3 replies\n{out.strip()}")
    rtt = re.search(r"= [\d.]+/([\d.]+)/", out)
    return f"3/3 replies, avg {rtt.group(1) if rtt else '?'} ms"


def tcp_client(args, ns, addr, size, conns, timeout=120):
    t0 = time.monotonic()
    status, out = ns.run([args.app, "tcp-client", addr, str(PORT), str(size), str(conns)], timeout=timeout,
                         check=False)
    took = time.monotonic() - t0
    if status != 0 or f"tcp-client ok: {conns} connections x {size} bytes" not in out:
        raise Failure(f"net_echo tcp-client {addr} {PORT} {size} {conns} (namespace): status {status}: "
                      f"{out.strip()}")
    return took


def case_dhcp(args, ns):
    dnsmasq = shutil.which("dnsmasq") or ("/usr/sbin/dnsmasq" if os.access("/usr/sbin/dnsmasq", os.X_OK) else None)
    if not dnsmasq:
        raise Failure("dnsmasq not found: install Debian's dnsmasq-base (scripts/bootstrap.sh does)")
    mac = unique_mac(0xd0)
    leases = os.path.join(ns.tmp, "leases")
    server = ns.start([dnsmasq, "--no-daemon", "--conf-file=/dev/null", "--log-facility=-", "--log-dhcp",
                       f"--interface={ns.tap}", "--bind-interfaces", "--except-interface=lo",
                       f"--dhcp-range={DHCP_FIRST},{DHCP_LAST},255.255.255.0,1h",
                       f"--dhcp-option=option:router,{HOST_ADDR}", f"--dhcp-option=option:dns-server,{HOST_ADDR}",
                       "--no-resolv", "--no-hosts", "--port=0", f"--dhcp-leasefile={leases}",
                       f"--pid-file={os.path.join(ns.tmp, 'dnsmasq.pid')}", "--user=root", "--group=root"], "dnsmasq")
    if not server.wait_for(r"DHCP, IP range", 10):
        raise Failure(f"dnsmasq did not start\n{server.text()}")
    t0 = time.monotonic()
    out = guest(args, ns, [], ["udp-server", str(PORT), "1", "/etc/resolv.conf"], mac)
    lease = out.wait_for(r"eth0: ([\d.]+)/(\d+) via ([\d.]+) \(DHCP from ([\d.]+), lease (\d+) s\)", 120)
    if not lease:
        raise Failure(f"no DHCP lease in the guest's log\n{out.text()}\n{server.text()}")
    addr, prefix, gw, from_, seconds = lease.groups()
    print(f"  lease after {time.monotonic() - t0:.1f} s: {lease.group(0)}", flush=True)
    if not ip_int(DHCP_FIRST) <= ip_int(addr) <= ip_int(DHCP_LAST):
        raise Failure(f"the guest's address {addr} is outside {DHCP_FIRST}-{DHCP_LAST}")
    if (prefix, gw, from_, seconds) != ("24", HOST_ADDR, HOST_ADDR, "3600"):
        raise Failure(f"lease: /{prefix} via {gw} from {from_} for {seconds} s; expected /24 via {HOST_ADDR} "
                      f"from {HOST_ADDR} for 3600 s")
    expect_listening(out)
    # The lease's DNS server reached /etc/resolv.conf (the image's says QEMU's 10.0.2.3).
    if not out.wait_for(rf"file: nameserver {re.escape(HOST_ADDR)}\b", 0):
        raise Failure(f"/etc/resolv.conf does not name the lease's DNS server {HOST_ADDR}\n{out.text()}")
    print(f"  ping {addr}: {ping(ns, addr)}", flush=True)
    # dnsmasq writes its lease file when it acknowledges; it logs the ACK as well.
    if not server.wait_for(rf"DHCPACK\({re.escape(ns.tap)}\) {re.escape(addr)} {re.escape(mac)}", 5):
        raise Failure(f"dnsmasq's log has no DHCPACK of {addr} to {mac}\n{server.text()}")
    with open(leases) as f:
        table = f.read()
    if not any(line.split()[1:3] == [mac, addr] for line in table.splitlines() if len(line.split()) >= 3):
        raise Failure(f"dnsmasq's lease file does not give {addr} to {mac}:\n{table}")
    print(f"  dnsmasq's lease file: {table.strip()}", flush=True)
    # UDP over the link, which also ends the guest program.
    status, client = ns.run([args.app, "udp-client", addr, str(PORT), "1", "512"], timeout=60, check=False)
    if status != 0:
        raise Failure(f"net_echo udp-client {addr} (namespace): status {status}: {client.strip()}\n{out.text()}")
    finish_guest(out, "udp-server echoed 1 datagrams")


STATIC_BOOT = [f"net.ip={GUEST_STATIC}/24", f"net.gw={HOST_ADDR}", "net.dhcp=off"]


def start_static_server(args, ns, conns):
    t0 = time.monotonic()
    out = guest(args, ns, STATIC_BOOT, ["tcp-server", str(PORT), str(conns)], unique_mac(0x5a))
    if not out.wait_for(re.escape(f"eth0: {GUEST_STATIC}/24 (static) via {HOST_ADDR}"), 120):
        raise Failure(f"the guest did not configure eth0 statically\n{out.text()}")
    expect_listening(out)
    print(f"  guest listening after {time.monotonic() - t0:.1f} s", flush=True)
    return out


def case_static(args, ns):
    size, conns = 1024 * 1024, 8
    out = start_static_server(args, ns, conns)
    print(f"  ping {GUEST_STATIC}: {ping(ns, GUEST_STATIC)}", flush=True)
    took = tcp_client(args, ns, GUEST_STATIC, size, conns)
    print(f"  {conns} connections x {size} bytes echoed in {took:.1f} s", flush=True)
    finish_guest(out, f"served {conns} connections, {conns * size} bytes")


# --- offloads: TSO (guest -> host) and LRO (host -> guest) -------------------------------------

STREAM_RE = r"tcp-(?:sink|source) (\d+) bytes fnv1a ([0-9a-f]{16})"
OFFLOAD_RE = r"eth0: tx (\d+) frames \((\d+) cut by the device\), rx (\d+) frames \((\d+) coalesced\), (\d+) bad"


def expect_feature(out, word):
    line = out.wait_for(r"eth0: [0-9a-f:]{17} mtu \d+ link up, .*", 120)
    if not line:
        raise Failure(f"no eth0 feature line in the guest's log\n{out.text()}")
    if not re.search(rf", {word}\b", line.group(0)):
        raise Failure(f"the driver did not negotiate {word}: {line.group(0)}")
    print(f"  {line.group(0)}", flush=True)


def stream_result(out, who, timeout):
    m = out.wait_for(STREAM_RE, timeout)
    if not m:
        raise Failure(f"{who} printed no result\n{out.text()}")
    return int(m.group(1)), m.group(2)


def check_offloaded_stream(args, out, sent, got, t0, direction, counter, what):
    """The end of an offload case: the stream arrived whole, the guest exited 0, and its exit
    line (OFFLOAD_RE) shows the offload at work — group `counter` non-zero — and no bad frame."""
    took = time.monotonic() - t0
    if sent != got or sent[0] != args.bytes:
        raise Failure(f"{direction}: sent {sent}, received {got} (expected {args.bytes} bytes)")
    status = out.wait_exit(60)
    if status != 0:
        raise Failure(f"the guest ended with status {status}\n{out.text()}")
    stats = out.wait_for(OFFLOAD_RE, 0)
    if not stats or int(stats.group(counter)) == 0 or int(stats.group(5)) != 0:
        raise Failure(f"no {what} (or bad ones) in the guest's exit line\n{out.text()}")
    print(f"  {args.bytes} bytes {direction} intact (fnv1a {sent[1]}) in {took:.1f} s with the boot; "
          f"{stats.group(0)}", flush=True)


def case_tso(args, ns):
    sink = ns.start([args.app, "tcp-sink", str(PORT)], "sink")
    if not sink.wait_for(rf"listening {PORT}\b", 15):
        raise Failure(f"the namespace's tcp-sink did not listen\n{sink.text()}")
    t0 = time.monotonic()
    out = guest(args, ns, STATIC_BOOT, ["tcp-source", HOST_ADDR, str(PORT), str(args.bytes)], unique_mac(0x75))
    expect_feature(out, "tso4")
    sent = stream_result(out, "the guest's tcp-source", 600)
    got = stream_result(sink, "the namespace's tcp-sink", 60)
    check_offloaded_stream(args, out, sent, got, t0, "guest -> host", 2, "frames cut by the device")


def case_lro(args, ns):
    t0 = time.monotonic()
    out = guest(args, ns, STATIC_BOOT, ["tcp-sink", str(PORT)], unique_mac(0x7c))
    expect_feature(out, "lro4")
    expect_listening(out)
    status, client = ns.run([args.app, "tcp-source", GUEST_STATIC, str(PORT), str(args.bytes)], timeout=600,
                            check=False)
    m = re.search(STREAM_RE, client)
    if status != 0 or not m:
        raise Failure(f"net_echo tcp-source (namespace): status {status}: {client.strip()}\n{out.text()}")
    sent = (int(m.group(1)), m.group(2))
    got = stream_result(out, "the guest's tcp-sink", 120)
    check_offloaded_stream(args, out, sent, got, t0, "host -> guest", 4, "coalesced frames")


QUEUE_RE = r"eth0: queue (\d+): rx (\d+) frames, tx (\d+) frames"


def case_mq(args, ns):
    if args.cpus < 2:
        raise Failure("the mq case needs --cpus 2 or more")
    clients, per_client, size = 8, 2, 4 << 20
    conns = clients * per_client
    t0 = time.monotonic()
    out = guest(args, ns, STATIC_BOOT, ["tcp-server", str(PORT), str(conns)], unique_mac(0x3a))
    line = out.wait_for(r"eth0: [0-9a-f:]{17} mtu \d+ link up, .*", 120)
    if not line or not re.search(rf", {args.cpus} queue pairs of ", line.group(0)):
        raise Failure(f"the driver did not take {args.cpus} queue pairs: {line.group(0) if line else None}\n"
                      f"{out.text()}")
    print(f"  {line.group(0)}", flush=True)
    expect_listening(out)
    procs = [ns.start([args.app, "tcp-client", GUEST_STATIC, str(PORT), str(size), str(per_client)], f"client{i}")
             for i in range(clients)]
    for i, p in enumerate(procs):
        status = p.wait_exit(400)
        if status != 0 or not p.wait_for(re.escape(f"tcp-client ok: {per_client} connections x {size} bytes"), 0):
            raise Failure(f"client {i}: status {status}\n{p.text()}\n{out.text()}")
    took = time.monotonic() - t0
    finish_guest(out, f"served {conns} connections, {conns * size} bytes")
    queues = queue_counts(args, out)
    print(f"  {conns} parallel connections x {size} bytes echoed in {took:.1f} s with the boot; per queue "
          f"(rx, tx): {queues}", flush=True)
    for q, (rx, tx) in queues.items():
        if rx < 100 or tx < 100:
            raise Failure(f"queue {q} carried little traffic (rx {rx}, tx {tx}): {queues}")


def queue_counts(args, out):
    """{queue: (rx frames, tx frames)} from the guest's exit lines, one per queue pair."""
    queues = {}
    for q in range(args.cpus):
        m = out.wait_for(rf"eth0: queue {q}: rx (\d+) frames, tx (\d+) frames", 0)
        if not m:
            raise Failure(f"no exit line for queue {q}\n{out.text()}")
        queues[q] = (int(m.group(1)), int(m.group(2)))
    return queues


def case_flows(args, ns):
    """Four connections at once from one process, as `iperf3 -P 4` opens them: the guest sends
    each flow's segments on one queue pair (its TCP connection's key), the tap steers each
    flow's receive to the queue the guest sends it on, so both receive queues carry about half
    of the traffic and no segment of a channelled flow comes through a second queue."""
    if args.cpus != 2:
        raise Failure("the flows case needs --cpus 2")
    conns, size = 4, 8 << 20
    out = guest(args, ns, STATIC_BOOT, ["tcp-server", str(PORT), str(conns)], unique_mac(0x4f))
    expect_listening(out)
    status, text = ns.run([sys.executable, os.path.abspath(__file__), "--echo-flows", GUEST_STATIC, str(PORT),
                           str(conns), str(size)], timeout=400, check=False)
    if status != 0 or f"echo-flows ok: {conns} x {size}" not in text:
        raise Failure(f"the echo flows (namespace): status {status}: {text.strip()}\n{out.text()}")
    finish_guest(out, f"served {conns} connections, {conns * size} bytes")
    queues = queue_counts(args, out)
    channels = out.wait_for(r"tcp: (\d+) segments through net channels, (\d+) past a full one, (\d+) diverted "
                            r"\((\d+) from a second receive queue\)", 0)
    if not channels:
        raise Failure(f"no net channel line at exit\n{out.text()}")
    queued, second = int(channels.group(1)), int(channels.group(4))
    print(f"  {conns} connections at once x {size} bytes; per queue (rx, tx): {queues}; {channels.group(0)}",
          flush=True)
    for way, index in (("rx", 0), ("tx", 1)):
        total = sum(q[index] for q in queues.values())
        for q, counts in queues.items():
            if counts[index] < total // 3:
                raise Failure(f"queue {q} carried {counts[index]} of {total} {way} frames: the flows did not "
                              f"spread over the queues {queues}")
    if second > max(50, queued // 50):
        raise Failure(f"{second} segments of channelled flows came through a second receive queue "
                      f"({queued} through channels): the flows moved between queues")


def echo_flows(addr, port, conns, size):
    """`conns` connections to the guest's echo server at once, each sending `size` bytes of its
    own pattern and checking the echo byte for byte (runs in the namespace)."""
    errors = []

    def flow(index):
        try:
            pattern = bytes((i * 7 + index * 13) & 0xff for i in range(65536))
            with socket.create_connection((addr, port), timeout=60) as s:
                s.settimeout(60)
                received = bytearray()

                def reader():
                    while len(received) < size:
                        chunk = s.recv(1 << 16)
                        if not chunk:
                            break
                        received.extend(chunk)
                t = threading.Thread(target=reader)
                t.start()
                sent = 0
                while sent < size:
                    n = min(len(pattern), size - sent)
                    s.sendall(pattern[:n])
                    sent += n
                s.shutdown(socket.SHUT_WR)
                t.join(300)
                expected = (pattern * (size // len(pattern) + 1))[:size]
                if bytes(received) != expected:
                    errors.append(f"connection {index}: {len(received)} bytes back, echo differs")
        except OSError as e:
            errors.append(f"connection {index}: {e}")

    threads = [threading.Thread(target=flow, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(360)
    if errors:
        print("; ".join(errors))
        return 1
    print(f"echo-flows ok: {conns} x {size}")
    return 0


# --- the SYN flood (runs inside the namespace: `net_tap_test.py --flood ...`) -------------------

def checksum(data):
    """The Internet checksum [rfc1071]."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def syn_packet(src, dst, sport, dport, seq, ident):
    """IPv4 [rfc791 §3.1] + TCP [rfc9293 §3.1] SYN with an MSS option, checksums filled in."""
    options = struct.pack("!BBH", 2, 4, 1460)  # MSS
    tcp_len = 20 + len(options)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, (tcp_len // 4) << 4, 0x02, 64240, 0, 0) + options
    pseudo = src + dst + struct.pack("!BBH", 0, socket.IPPROTO_TCP, tcp_len)
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, ident, 0, 64, socket.IPPROTO_TCP, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + tcp


def flood(target, port, count, rate, limit, tap):
    """Sends `count` spoofed SYNs at about `rate` per second, for at most `limit` seconds, and
    counts the guest's SYN-ACKs to the spoofed sources seen on `tap` meanwhile."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    rx.bind((tap, 0))
    rx.settimeout(0.2)
    synacks = [0]        # SYN-ACK frames to the spoofed sources, retransmissions included
    answered = set()     # the distinct SYNs they answer (source address and port)
    stop = threading.Event()

    def count_synacks():
        while not stop.is_set():
            try:
                frame = rx.recv(2048)
            except socket.timeout:
                continue
            ip = frame[14:]
            if len(ip) < 40 or ip[9] != socket.IPPROTO_TCP or ip[16:19] != bytes([203, 0, 113]):
                continue
            tcp = ip[(ip[0] & 0xf) * 4:]
            if len(tcp) >= 14 and tcp[13] & 0x12 == 0x12:
                synacks[0] += 1
                answered.add((ip[19], tcp[2:4]))

    counter = threading.Thread(target=count_synacks, daemon=True)
    counter.start()
    dst = socket.inet_aton(target)
    rng = random.Random(os.getpid())
    print(f"flood: started, {count} SYNs at {rate}/s to {target}:{port}", flush=True)
    t0 = time.monotonic()
    sent = errors = 0
    batch = max(1, rate // 100)
    while sent < count and time.monotonic() - t0 < limit:
        for _ in range(min(batch, count - sent)):
            src = bytes([203, 0, 113, rng.randrange(1, 255)])
            pkt = syn_packet(src, dst, rng.randrange(1024, 65536), port, rng.getrandbits(32), rng.getrandbits(16))
            try:
                tx.sendto(pkt, (target, 0))
                sent += 1
            except OSError:  # ENOBUFS when the tap's queue is full: counted, not fatal
                errors += 1
                sent += 1
        ahead = t0 + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    took = time.monotonic() - t0
    time.sleep(1.0)  # SYN-ACKs still in flight
    stop.set()
    counter.join(timeout=2)
    print(f"flood: sent {sent - errors} SYNs ({errors} refused by the host) in {took:.1f} s; "
          f"the guest answered {len(answered)} of them ({synacks[0]} SYN-ACKs with retransmissions; its SYN "
          f"queue holds 256, the rest were SYN cookies or dropped)", flush=True)
    return 0


def case_synflood(args, ns):
    out = start_static_server(args, ns, 2)
    count, rate, limit = 20000, 1000, 28
    flooder = ns.start([sys.executable, os.path.abspath(__file__), "--flood", GUEST_STATIC, str(PORT), str(count),
                        str(rate), str(limit), ns.tap], "flood")
    if not flooder.wait_for(r"^flood: started", 15):
        raise Failure(f"the flood did not start\n{flooder.text()}")
    time.sleep(1.0)
    if out.proc.poll() is not None:
        raise Failure(f"the guest ended during the flood's first second\n{out.text()}")
    size = 64 * 1024
    took = tcp_client(args, ns, GUEST_STATIC, size, 1, timeout=150)
    flood_running = flooder.proc.poll() is None
    print(f"  legitimate connection during the flood ({'still running' if flood_running else 'already over'}): "
          f"{size} bytes echoed in {took:.3f} s", flush=True)
    status = flooder.wait_exit(limit + 15)
    if status is None or status != 0:
        raise Failure(f"the flood did not end cleanly (status {status})\n{flooder.text()}")
    print(flooder.text(5), flush=True)
    if out.proc.poll() is not None:
        raise Failure(f"the guest ended during the flood (status {out.proc.returncode})\n{out.text()}")
    after = tcp_client(args, ns, GUEST_STATIC, size, 1, timeout=150)
    print(f"  connection after the flood: {after:.3f} s", flush=True)
    finish_guest(out, f"served 2 connections, {2 * size} bytes")
    if out.wait_for(r"panic|assert", 0):
        raise Failure(f"the guest's log shows a panic or assertion\n{out.text()}")


def remove_stale_namespaces():
    """Namespaces this test left behind when it was killed (SIGKILL skips `finally`): named after
    a pid that no longer runs. Deleting one drops its name; whatever still ran inside (a QEMU
    until its --timeout) keeps it alive until it ends."""
    _, listing = run(["ip", "netns", "list"], check=False)
    for line in listing.splitlines():
        m = re.match(r"(nimbus-tap-(\d+)-\d+)\b", line)
        if m and int(m.group(2)) != os.getpid() and not os.path.exists(f"/proc/{m.group(2)}"):
            run(["ip", "netns", "del", m.group(1)], check=False)


def on_signal(signum, _frame):
    # SIGALRM: the case's own deadline, below ctest's TIMEOUT so that `finally` still cleans up;
    # SIGTERM/SIGINT: the same clean-up when we are stopped.
    raise Failure(f"stopped by {signal.Signals(signum).name}" +
                  (" (the case's deadline)" if signum == signal.SIGALRM else ""))


def preflight():
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (network namespaces and tap devices need root; CI runs as root)")
    if not os.path.exists("/dev/net/tun"):
        problems.append("/dev/net/tun is missing (tap devices need the tun driver)")
    for tool, package in (("ip", "iproute2"), ("ping", "iputils-ping")):
        if not shutil.which(tool):
            problems.append(f"{tool} not found (Debian package {package}; scripts/bootstrap.sh installs it)")
    return problems


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--flood":
        target, port, count, rate, limit, tap = sys.argv[2:8]
        return flood(target, int(port), int(count), int(rate), float(limit), tap)
    if len(sys.argv) > 1 and sys.argv[1] == "--echo-flows":
        addr, port, conns, size = sys.argv[2:6]
        return echo_flows(addr, int(port), int(conns), int(size))
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--machine", default="q35")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--case", action="append", choices=CASES)
    p.add_argument("--bytes", type=int, default=1 << 30, help="bytes each way for tso/lro (1 GiB)")
    p.add_argument("--case-timeout", type=int, default=270, help="seconds per case (ctest's TIMEOUT is 300)")
    args = p.parse_args()
    args.nimbus, args.kernel, args.app = (os.path.abspath(x) for x in (args.nimbus, args.kernel, args.app))
    problems = preflight()
    if not problems:
        remove_stale_namespaces()
    for signum in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    failures = []
    for index, name in enumerate(args.case or CASES):
        t0 = time.monotonic()
        problem = "; ".join(problems) or None
        if not problem:
            print(f"---- {name}", flush=True)
            ns = Namespace(index, multi_queue=args.cpus > 1 and args.machine in ("q35", "pc"))
            try:
                signal.alarm(args.case_timeout)
                ns.open()
                {"dhcp": case_dhcp, "static": case_static, "synflood": case_synflood, "tso": case_tso,
                 "lro": case_lro, "mq": case_mq, "flows": case_flows}[name](args, ns)
            except Failure as e:
                problem = str(e)
            except Exception as e:  # a bug here or a host problem: still a failure with its reason
                problem = f"{type(e).__name__}: {e}"
            finally:
                signal.alarm(0)
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
                ns.close()  # not interrupted: a second SIGTERM waits until the namespace is gone
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        print(("ok   " if problem is None else "FAIL ") + f"{name} ({time.monotonic() - t0:.1f} s)" +
              ("" if problem is None else ": " + problem), flush=True)
        if problem:
            failures.append(name)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
