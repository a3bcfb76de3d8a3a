#!/usr/bin/env python3
"""TCP through the whole path (issue 6): an unmodified program's AF_INET stream sockets in the
guest, the kernel's TCP layer, virtio-net, QEMU's user network, the host's Linux stack.

  * guest server: `net_echo tcp-server` in the guest behind `-p HOST:7777`; the host's
    `net_echo tcp-client` makes several connections (one of 1 MiB) and checks every echoed byte;
  * guest client: the host runs `net_echo tcp-server` on 127.0.0.1; the guest's client
    connects to 10.0.2.2 (QEMU's alias for the host's loopback) and checks the echoes;
  * bulk: 64 MiB from the host into a guest `tcp-sink` and 64 MiB from a guest `tcp-source`
    into a host sink; both ends print the FNV-1a hash of the stream, which must agree;
  * many connections: `net_echo hold` in the guest accepts HOLD connections the host opens at
    once and keeps them open until the host closes them all;
  * Debian's unmodified python3 in the guest as a client of a host echo server;
  * loopback: `net_echo tcp-loopback` connects to 127.0.0.1 inside the guest (one thread,
    non-blocking sockets) and checks Linux's answers to the socket calls on the way.
Every wait is bounded: the guest's own waits are 60 s without progress, QEMU is killed after
--guest-timeout seconds, and every wait here has its own limit.

usage: net_tcp_test.py --nimbus NIMBUS --kernel KERNEL --app NET_ECHO [--machine M] [--cpus N]
                       [--bulk BYTES] [--hold N] [--only NAME]
"""
import argparse
import queue
import resource
import socket
import subprocess
import sys
import threading
import time

MIB = 1 << 20


def free_tcp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Process:
    """A child whose output lines are collected by a thread, so every wait can be bounded."""

    def __init__(self, cmd):
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.lines = []
        self.queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.queue.put(raw.decode(errors="replace").rstrip())
        self.queue.put(None)

    def wait_line(self, text, timeout):
        """True once a line containing `text` came; False at the end of output or the timeout."""
        for line in self.lines:
            if text in line:
                return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                return False
            if line is None:
                self.queue.put(None)
                return False
            self.lines.append(line)
            if text in line:
                return True

    def finish(self, timeout):
        """Waits for the exit (killing it after `timeout`); returns the status and all output."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.wait_line("\0", 5)  # drain what is left
        return self.proc.returncode, "\n".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def guest(args, extra, app_args):
    return Process([args.nimbus, "run", "--timeout", str(args.guest_timeout), "--machine", args.machine,
                    "--cpus", str(args.cpus), "--memory", args.memory, "--kernel", args.kernel] + extra
                   + [args.app] + app_args)


def host(args, app_args):
    return Process([args.app] + app_args)


def tail(text, n=2000):
    return text[-n:]


def hash_of(output, prefix):
    """The "<prefix> N bytes fnv1a H" line's (N, H)."""
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == prefix and parts[3] == "fnv1a":
            return int(parts[1]), parts[4]
    return None


def guest_server(args):
    """Host clients → guest echo server: 3 connections of 64 KiB, then one of 1 MiB."""
    port = free_tcp_port()
    g = guest(args, ["-p", f"{port}:7777"], ["tcp-server", "7777", "4"])
    try:
        if not g.wait_line("listening 7777", 60):
            print(tail(g.finish(5)[1]))
            return "the guest server never listened"
        for size, conns in [(64 * 1024, 3), (MIB, 1)]:
            c = host(args, ["tcp-client", "127.0.0.1", str(port), str(size), str(conns)])
            status, out = c.finish(90)
            print("host client:", out.strip())
            if status != 0:
                print(tail(g.finish(5)[1]))
                return f"the host client ({conns} x {size} bytes) failed"
        status, out = g.finish(60)
        print(tail(out))
        if status != 0 or "served 4 connections" not in out:
            return f"the guest server did not finish cleanly (status {status})"
        return None
    finally:
        g.kill()


def guest_client(args):
    """Guest client → host echo server through 10.0.2.2: 3 connections of 256 KiB."""
    port = free_tcp_port()
    server = host(args, ["tcp-server", str(port), "3"])
    try:
        if not server.wait_line(f"listening {port}", 10):
            return "the host server never listened"
        g = guest(args, [], ["tcp-client", "10.0.2.2", str(port), str(256 * 1024), "3"])
        status, out = g.finish(args.guest_timeout + 10)
        print(tail(out))
        if status != 0 or "tcp-client ok: 3 connections" not in out:
            return f"the guest client failed (status {status})"
        status, out = server.finish(30)
        if status != 0 or "served 3 connections" not in out:
            return "the host server did not serve every connection"
        return None
    finally:
        server.kill()


def bulk_in(args):
    """Host tcp-source → guest tcp-sink, hashes compared."""
    port = free_tcp_port()
    g = guest(args, ["-p", f"{port}:7777"], ["tcp-sink", "7777"])
    try:
        if not g.wait_line("listening 7777", 60):
            print(tail(g.finish(5)[1]))
            return "the guest sink never listened"
        start = time.monotonic()
        source = host(args, ["tcp-source", "127.0.0.1", str(port), str(args.bulk)])
        s_status, s_out = source.finish(args.guest_timeout)
        g_status, g_out = g.finish(90)
        took = time.monotonic() - start
        print("host source:", s_out.strip())
        print(tail(g_out))
        sent, received = hash_of(s_out, "tcp-source"), hash_of(g_out, "tcp-sink")
        if s_status != 0 or sent is None:
            return "the host source failed"
        if g_status != 0 or received is None:
            return f"the guest sink failed (status {g_status})"
        if sent != received:
            return f"the streams differ: sent {sent}, received {received}"
        print(f"{args.bulk} bytes into the guest in {took:.1f} s")
        return None
    finally:
        g.kill()


def bulk_out(args):
    """Guest tcp-source → host tcp-sink through 10.0.2.2, hashes compared."""
    port = free_tcp_port()
    sink = host(args, ["tcp-sink", str(port)])
    try:
        if not sink.wait_line(f"listening {port}", 10):
            return "the host sink never listened"
        start = time.monotonic()
        g = guest(args, [], ["tcp-source", "10.0.2.2", str(port), str(args.bulk)])
        g_status, g_out = g.finish(args.guest_timeout + 10)
        s_status, s_out = sink.finish(30)
        took = time.monotonic() - start
        print(tail(g_out))
        print("host sink:", s_out.strip())
        sent, received = hash_of(g_out, "tcp-source"), hash_of(s_out, "tcp-sink")
        if g_status != 0 or sent is None:
            return f"the guest source failed (status {g_status})"
        if s_status != 0 or received is None:
            return "the host sink failed"
        if sent != received:
            return f"the streams differ: sent {sent}, received {received}"
        print(f"{args.bulk} bytes out of the guest in {took:.1f} s")
        return None
    finally:
        sink.kill()


def hold(args):
    """HOLD host connections held open at once by the guest, then closed by the host."""
    count = args.hold
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 256), hard))
    port = free_tcp_port()
    g = guest(args, ["-p", f"{port}:7777"], ["hold", "7777", str(count)])
    conns = []
    try:
        if not g.wait_line("listening 7777", 60):
            print(tail(g.finish(5)[1]))
            return "the guest never listened"
        start = time.monotonic()
        for _ in range(count):
            conns.append(socket.create_connection(("127.0.0.1", port), timeout=30))
            # QEMU's user network listens for a forwarded port with a backlog of 1: SYNs
            # beyond it are dropped and the host's TCP tries again only after 1 s. A short
            # pause lets QEMU accept each one (1,000 connections: ~6 s instead of minutes).
            time.sleep(0.005)
        if not g.wait_line(f"holding {count} connections", 90):
            print(tail(g.finish(5)[1]))
            return f"the guest did not accept {count} connections"
        print(f"{count} connections accepted in {time.monotonic() - start:.1f} s")
        for s in conns:
            s.close()
        conns = []
        status, out = g.finish(90)
        print(tail(out))
        if status != 0 or f"held and closed {count} connections" not in out:
            return f"the guest did not see every connection close (status {status})"
        print(f"opened, held and closed in {time.monotonic() - start:.1f} s")
        return None
    finally:
        for s in conns:
            s.close()
        g.kill()


def loopback(args):
    """Both ends inside the guest over 127.0.0.1, with Linux's error and option semantics."""
    g = guest(args, [], ["tcp-loopback", str(4 * MIB)])
    try:
        status, out = g.finish(args.guest_timeout + 10)
        print(tail(out))
        if status != 0 or "tcp-loopback ok" not in out:
            return f"the guest's loopback check failed (status {status})"
        return None
    finally:
        g.kill()


PYTHON_CLIENT = """
import socket, sys
s = socket.create_connection(("10.0.2.2", int(sys.argv[1])), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
data = bytes(range(256)) * 400
s.sendall(data)
s.shutdown(socket.SHUT_WR)
got = bytearray()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("python tcp", "ok" if got == data else "differs", len(got), s.getsockname()[0])
"""


def python_client(args):
    """Debian's unmodified python3 in the guest (its socket module: a connect with a timeout is
    non-blocking + poll + SO_ERROR) against a host echo server."""
    port = free_tcp_port()
    server = host(args, ["tcp-server", str(port), "1"])
    try:
        if not server.wait_line(f"listening {port}", 10):
            return "the host server never listened"
        g = Process([args.nimbus, "run", "--timeout", str(args.guest_timeout), "--machine", args.machine,
                     "--cpus", str(args.cpus), "--memory", args.memory, "--kernel", args.kernel,
                     "/usr/bin/python3", "-c", PYTHON_CLIENT, str(port)])
        status, out = g.finish(args.guest_timeout + 10)
        print(tail(out))
        if status != 0 or "python tcp ok 102400 10.0.2.15" not in out:
            return f"the guest's python client failed (status {status})"
        return None
    finally:
        server.kill()


CASES = [
    ("loopback", "in-guest loopback, 4 MiB each way + socket semantics", loopback),
    ("guest-server", "guest server, host clients (3 x 64 KiB, 1 x 1 MiB)", guest_server),
    ("guest-client", "guest client to a host server (3 x 256 KiB)", guest_client),
    ("python", "python3 in the guest as a client (100 KiB echoed)", python_client),
    ("bulk-in", "bulk host -> guest, hashes compared", bulk_in),
    ("bulk-out", "bulk guest -> host, hashes compared", bulk_out),
    ("hold", "concurrent connections held by the guest", hold),
]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--machine", default="microvm")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--memory", default="256M")
    p.add_argument("--bulk", type=int, default=64 * MIB, help="bytes each way in the bulk cases")
    p.add_argument("--hold", type=int, default=1000, help="connections in the hold case")
    p.add_argument("--guest-timeout", type=int, default=150)
    p.add_argument("--only", action="append", help="run only this case (repeatable)")
    args = p.parse_args()
    failures = []
    for key, name, fn in CASES:
        if args.only and key not in args.only:
            continue
        start = time.monotonic()
        problem = fn(args)
        took = time.monotonic() - start
        print(("ok   " if problem is None else "FAIL ") + f"{name} ({took:.0f} s)"
              + ("" if problem is None else ": " + problem), flush=True)
        if problem:
            failures.append(name)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
