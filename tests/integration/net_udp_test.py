#!/usr/bin/env python3
"""UDP through the whole path (issue 6): an unmodified program's AF_INET datagram socket in the
guest, the kernel's stack, virtio-net, QEMU's user network, the host's Linux stack.

  * guest server: `net_echo udp-server` in the guest behind `-p HOST:7777/udp`; the host's
    `net_echo udp-client` sends COUNT datagrams of SIZE bytes to 127.0.0.1:HOST and checks
    every echo byte for byte;
  * guest client: the host runs `net_echo udp-server` on 127.0.0.1; the guest's client sends
    to 10.0.2.2 (QEMU's alias for the host's loopback) and checks the echoes;
  * the same with Debian's unmodified python3 and its socket module as the guest client.
Every wait is bounded (the guest's own waits are 60 s; the test gives up after 120 s).

usage: net_udp_test.py --nimbus NIMBUS --kernel KERNEL --app NET_ECHO [--machine M] [--cpus N]
"""
import argparse
import socket
import subprocess
import sys
import time


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def guest(args, extra, app_args, program=None):
    cmd = [args.nimbus, "run", "--timeout", "120", "--machine", args.machine, "--cpus", str(args.cpus),
           "--kernel", args.kernel] + extra + [program or args.app] + app_args
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_line(proc, text, timeout):
    """Reads the guest's output until a line contains `text`; returns all lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.decode(errors="replace").rstrip())
        if text in lines[-1]:
            return True, lines
    return False, lines


def guest_server(args, count, size):
    port = free_udp_port()
    proc = guest(args, ["-p", f"{port}:7777/udp"], ["udp-server", "7777", str(count)])
    try:
        ok, lines = wait_line(proc, "listening 7777", 60)
        if not ok:
            print("\n".join(lines))
            return "the guest server never listened"
        client = subprocess.run([args.app, "udp-client", "127.0.0.1", str(port), str(count), str(size)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = client.stdout.decode(errors="replace")
        print("host client:", out.strip())
        rest = proc.communicate(timeout=60)[0].decode(errors="replace")
        print(rest[-2000:])
        if client.returncode != 0:
            return "the host client failed"
        if proc.returncode != 0 or f"udp-server echoed {count} datagrams" not in rest:
            return f"the guest server did not finish cleanly (status {proc.returncode})"
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def guest_client(args, count, size):
    port = free_udp_port()
    server = subprocess.Popen([args.app, "udp-server", str(port), str(count)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        time.sleep(0.2)
        proc = guest(args, [], ["udp-client", "10.0.2.2", str(port), str(count), str(size)])
        out = proc.communicate(timeout=120)[0].decode(errors="replace")
        print(out[-2000:])
        if proc.returncode != 0 or f"udp-client ok: {count} datagrams of {size} bytes" not in out:
            return f"the guest client failed (status {proc.returncode})"
        server_out = server.communicate(timeout=30)[0].decode(errors="replace")
        if f"udp-server echoed {count} datagrams" not in server_out:
            return "the host server did not see every datagram"
        return None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


PYTHON_CLIENT = """
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.connect(("10.0.2.2", port))
for i in range(count):
    payload = ("python %d " % i).encode() * 20
    s.send(payload)
    if s.recv(4096) != payload:
        sys.exit("echo differs")
print("python udp ok", count, s.getsockname()[0])
"""


def python_client(args, count, _size):
    """Debian's unmodified python3 in the guest, its socket module against a host server."""
    port = free_udp_port()
    server = subprocess.Popen([args.app, "udp-server", str(port), str(count)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    try:
        time.sleep(0.2)
        proc = guest(args, [], ["-c", PYTHON_CLIENT, str(port), str(count)], program="/usr/bin/python3")
        out = proc.communicate(timeout=120)[0].decode(errors="replace")
        print(out[-2000:])
        if proc.returncode != 0 or f"python udp ok {count} 10.0.2.15" not in out:
            return f"the guest's python client failed (status {proc.returncode})"
        return None
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--machine", default="microvm")
    p.add_argument("--cpus", type=int, default=1)
    args = p.parse_args()
    failures = []
    for name, fn, count, size in [("guest server, 200 x 1400 B", guest_server, 200, 1400),
                                  ("guest server, 50 x 8000 B (fragmented)", guest_server, 50, 8000),
                                  ("guest client, 200 x 512 B", guest_client, 200, 512),
                                  ("python3 in the guest, 50 datagrams", python_client, 50, 0)]:
        problem = fn(args, count, size)
        print(("ok   " if problem is None else "FAIL ") + name + ("" if problem is None else ": " + problem), flush=True)
        if problem:
            failures.append(name)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
