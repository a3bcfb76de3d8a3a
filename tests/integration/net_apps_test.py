#!/usr/bin/env python3
"""Unmodified Debian network servers in the guest, checked from the host through `-p`
(issue 6): redis-server with redis-cli and redis-benchmark, nginx with curl and wrk,
memcached with its text protocol. Each server is the distribution's own binary; the runner
builds the image. Every wait is bounded; the guest is killed at the end of each case.

usage: net_apps_test.py --nimbus NIMBUS --kernel KERNEL --case redis|nginx|memcached
                        [--machine M] [--cpus N]
"""
import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_tcp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Guest:
    """A guest running `argv` with `extra` runner options; its output is collected."""

    def __init__(self, args, extra, argv, timeout=240):
        cmd = [args.nimbus, "run", "--timeout", str(timeout), "--machine", args.machine,
               "--cpus", str(args.cpus), "--memory", "512M", "--kernel", args.kernel] + extra + argv
        # A session of its own: stop() ends the runner and its QEMU together.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.lines = []

    def wait_line(self, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                return False
            self.lines.append(line.decode(errors="replace").rstrip())
            if text in self.lines[-1]:
                return True
        return False

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rest, _ = self.proc.communicate(timeout=30)
        self.lines += rest.decode(errors="replace").splitlines()

    def dump(self):
        print("--- guest output ---")
        print("\n".join(self.lines[-80:]))


def run(cmd, timeout=120, stdin=None):
    r = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return r.returncode, r.stdout.decode(errors="replace")


def case_redis(args):
    port = free_tcp_port()
    g = Guest(args, ["-p", f"{port}:6379"],
              [shutil.which("redis-server"), "--port", "6379", "--protected-mode", "no", "--save", "",
               "--appendonly", "no"])
    try:
        if not g.wait_line("Ready to accept connections", 120):
            return "redis-server did not get ready"
        cli = [shutil.which("redis-cli"), "-h", "127.0.0.1", "-p", str(port)]
        rc, out = run(cli + ["SET", "nimbus", "unikernel"])
        if rc != 0 or "OK" not in out:
            return f"SET: rc={rc} {out!r}"
        rc, out = run(cli + ["GET", "nimbus"])
        if rc != 0 or out.strip() != "unikernel":
            return f"GET: rc={rc} {out!r}"
        rc, out = run(cli + ["-x", "SET", "big"], stdin=b"x" * 300000)  # the value from stdin
        rc, out = run(cli + ["STRLEN", "big"])
        if out.strip() != "300000":
            return f"STRLEN of a 300 kB value: {out!r}"
        rc, out = run([shutil.which("redis-benchmark"), "-h", "127.0.0.1", "-p", str(port), "-n", "2000",
                       "-c", "8", "-t", "set,get", "-q"], timeout=180)
        print(out)
        if rc != 0 or out.count("requests per second") < 2:
            return f"redis-benchmark: rc={rc}"
        rc, out = run(cli + ["DBSIZE"])
        if out.strip() != "3":  # nimbus, big and the benchmark's key:__rand_int__
            return f"DBSIZE after the benchmark: {out!r}"
        run(cli + ["SHUTDOWN", "NOSAVE"], timeout=30)
        try:
            g.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            return "redis-server did not exit after SHUTDOWN"
        return None
    finally:
        g.stop()
        g.dump()


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
error_log stderr info;
pid /tmp/nginx.pid;
events { worker_connections 512; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path /tmp/body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server {
        listen 8080;
        root /srv/www;
        location / { }
    }
}
"""


def case_nginx(args):
    tmp = tempfile.mkdtemp(prefix="nimbus-nginx-")
    try:
        www = os.path.join(tmp, "www")
        os.mkdir(www)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("<h1>served by nginx on nimbus</h1>\n")
        blob = bytes((i * 7 + (i >> 10)) & 0xff for i in range(3 << 20))
        with open(os.path.join(www, "blob.bin"), "wb") as f:
            f.write(blob)
        conf = os.path.join(tmp, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF)
        port = free_tcp_port()
        g = Guest(args, ["-p", f"{port}:8080", "--add", f"{conf}:/etc/nimbus-nginx.conf",
                         "--add", f"{www}:/srv/www"],
                  [shutil.which("nginx") or "/usr/sbin/nginx", "-e", "stderr", "-c", "/etc/nimbus-nginx.conf"])
        try:
            base = f"http://127.0.0.1:{port}"
            ok = False
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not ok:
                rc, out = run(["curl", "-sS", "--max-time", "20", base + "/index.html"], timeout=30)
                ok = rc == 0 and "served by nginx on nimbus" in out
                if not ok:
                    time.sleep(1)
            if not ok:
                return f"curl /index.html: {out!r}"
            r = subprocess.run(["curl", "-sS", "--max-time", "60", base + "/blob.bin"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=90)
            if hashlib.sha256(r.stdout).hexdigest() != hashlib.sha256(blob).hexdigest():
                return f"blob.bin: {len(r.stdout)} bytes, hash differs (rc {r.returncode})"
            rc, out = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", base + "/missing"], timeout=30)
            if out.strip() != "404":
                return f"/missing: {out!r}"
            wrk = shutil.which("wrk")
            if wrk:
                rc, out = run([wrk, "-t1", "-c8", "-d3s", base + "/index.html"], timeout=60)
                print(out)
                if rc != 0 or "Requests/sec" not in out or "Socket errors" in out and "timeout" in out:
                    return f"wrk: rc={rc}"
            else:
                return "wrk is not installed (scripts/bootstrap.sh installs it)"
            return None
        finally:
            g.stop()
            g.dump()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


MEMCACHED_ENDS = (b"END\r\n", b"STORED\r\n", b"ERROR\r\n", b"DELETED\r\n", b"NOT_FOUND\r\n")


def memcached_command(sock, text, ends=MEMCACHED_ENDS):
    """Sends one command; reads until the reply ends with one of `ends`."""
    sock.sendall(text)
    data = b""
    while not data.endswith(ends):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def case_memcached(args):
    port = free_tcp_port()
    g = Guest(args, ["-p", f"{port}:11211"],
              [shutil.which("memcached"), "-u", "root", "-p", "11211", "-U", "0", "-t", "1", "-m", "64", "-v"])
    try:
        deadline = time.monotonic() + 120
        sock = None
        while time.monotonic() < deadline:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                if memcached_command(s, b"version\r\n", (b"\r\n",)).startswith(b"VERSION"):
                    sock = s
                    break
                s.close()
            except OSError:
                pass
            time.sleep(1)
        if sock is None:
            return "memcached never answered"
        sock.settimeout(30)
        value = bytes(range(256)) * 40
        for i in range(200):
            r = memcached_command(sock, b"set key%d 0 0 %d\r\n" % (i, len(value)) + value + b"\r\n")
            if r != b"STORED\r\n":
                return f"set key{i}: {r!r}"
        for i in range(0, 200, 7):
            r = memcached_command(sock, b"get key%d\r\n" % i)
            expect = b"VALUE key%d 0 %d\r\n" % (i, len(value)) + value + b"\r\nEND\r\n"
            if r != expect:
                return f"get key{i}: {len(r)} bytes, differs"
        r = memcached_command(sock, b"delete key3\r\n")
        if r != b"DELETED\r\n":
            return f"delete: {r!r}"
        r = memcached_command(sock, b"get key3\r\n")
        if r != b"END\r\n":
            return f"get after delete: {r!r}"
        r = memcached_command(sock, b"stats\r\n")
        if b"STAT curr_items 199" not in r:
            return f"stats: {r[:200]!r}"
        sock.close()
        return None
    finally:
        g.stop()
        g.dump()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--case", required=True, choices=["redis", "nginx", "memcached"])
    p.add_argument("--machine", default="q35")
    p.add_argument("--cpus", type=int, default=1)
    args = p.parse_args()
    error = {"redis": case_redis, "nginx": case_nginx, "memcached": case_memcached}[args.case](args)
    if error:
        print(f"FAIL {args.case}: {error}")
        return 1
    print(f"PASS {args.case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
