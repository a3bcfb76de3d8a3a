#!/usr/bin/env python3
"""Host-only check of the network benchmark's own parts, without a VM or the Debian servers:
netload's echo server and clients over 127.0.0.1 (the memcached client against a small fake
memcached in this file, including the failures it must detect), netbench.py's parsers on
recorded client output, and the QEMU command it builds around `nimbus run --dry-run`.
Every wait is bounded. Exit status 0 when all pass. Run by CTest (bench_net_selftest).

usage: selftest.py [CC]     (default: cc)
"""
import os
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import netbench  # noqa: E402

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


class FakeMemcached(socketserver.ThreadingTCPServer):
    """memcached's text protocol, `set`/`get`/`version` only. `corrupt` changes every value
    it returns (the client must notice)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, corrupt=False):
        self.store, self.corrupt = {}, corrupt
        super().__init__(("127.0.0.1", 0), FakeMemcachedHandler)


class FakeMemcachedHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.connection.settimeout(10)
        while True:
            line = self.rfile.readline()
            if not line:
                return
            words = line.split()
            if words[:1] == [b"set"]:
                data = self.rfile.read(int(words[4]) + 2)[:-2]
                self.server.store[words[1]] = data
                self.wfile.write(b"STORED\r\n")
            elif words[:1] == [b"get"]:
                value = self.server.store.get(words[1])
                if value is not None:
                    if self.server.corrupt:
                        value = value[::-1]
                    self.wfile.write(b"VALUE %s 0 %d\r\n%s\r\n" % (words[1], len(value), value))
                self.wfile.write(b"END\r\n")
            elif words[:1] == [b"version"]:
                self.wfile.write(b"VERSION fake\r\n")
            else:
                self.wfile.write(b"ERROR\r\n")


def run(argv, timeout=60):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)


def test_rr(netload):
    port = netbench.free_port()
    server = subprocess.Popen([netload, "rr-server", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        check(server.stdout.readline().startswith(f"netload: rr-server listening {port}"), "rr-server says it listens")
        check(netbench.probe_echo(port), "probe_echo answered by rr-server")
        r = run([netload, "rr", "127.0.0.1", str(port), "-n", "300"])
        f = netbench.parse_netload(r.stdout, "tcp_rr") if r.returncode == 0 else {}
        check(r.returncode == 0 and f["ops"] == 300 and 0 < f["p50_us"] <= f["p99_us"], "rr: 300 round trips, p50 <= p99")
        r = run([netload, "rr", "127.0.0.1", str(port), "-n", "20", "-s", "100000"])
        check(r.returncode == 0 and "bench tcp_rr_100000 ops=20 " in r.stdout, "rr: 100,000-byte messages echoed intact")
        r = run([netload, "rr", "127.0.0.1", str(port), "-n", "1000000", "-t", "200"])
        f = netbench.parse_netload(r.stdout, "tcp_rr") if r.returncode == 0 else {}
        check(r.returncode == 0 and 0 < f["ops"] < 1000000, "rr: stops at its time limit")
    finally:
        server.kill()
        server.wait()
    r = run([netload, "rr", "127.0.0.1", str(port), "-n", "10"])
    check(r.returncode == 1 and "connect" in r.stderr, "rr: a refused connection fails")


def test_memcache(netload):
    fake = FakeMemcached()
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    port = fake.server_address[1]
    try:
        check(netbench.probe_memcached(port), "probe_memcached answered")
        r = run([netload, "memcache", "127.0.0.1", str(port), "-o", "get", "-n", "10", "-k", "5"])
        check(r.returncode == 1 and "miss" in r.stderr, "memcache: a get of a key never set fails")
        r = run([netload, "memcache", "127.0.0.1", str(port), "-o", "set", "-n", "100", "-P", "16"])
        f = netbench.parse_netload(r.stdout, "mc_set_p16") if r.returncode == 0 else {}
        check(r.returncode == 0 and f["ops"] == 112, "memcache: 100 sets at depth 16 -> 7 batches of 16")
        check(len(fake.store) == 2 * 16 + 112, "memcache: 2 warm-up batches + 7 batches stored 144 keys")
        r = run([netload, "memcache", "127.0.0.1", str(port), "-o", "get", "-n", "200", "-k", "100", "-P", "4"])
        check(r.returncode == 0 and "bench mc_get_p4 ops=200 " in r.stdout, "memcache: 200 gets of the keys set, values checked")
        r = run([netload, "memcache", "127.0.0.1", str(port), "-n", "50", "-d", "1000", "-k", "20"])
        check(r.returncode == 0 and "bench mc_set_p1 ops=50 " in r.stdout and "bench mc_get_p1 ops=50 " in r.stdout,
              "memcache: sets then gets in one run, 1000-byte values")
    finally:
        fake.shutdown()
        fake.server_close()
    bad = FakeMemcached(corrupt=True)
    threading.Thread(target=bad.serve_forever, daemon=True).start()
    try:
        r = run([netload, "memcache", "127.0.0.1", str(bad.server_address[1]), "-n", "20"])
        check(r.returncode == 1 and "differs" in r.stderr, "memcache: a wrong value fails")
    finally:
        bad.shutdown()
        bad.server_close()


WRK_OUT = """Running 5s test @ http://127.0.0.1:40000/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    18.26ms   40.11ms 401.00ms   93.20%
    Req/Sec   590.12    120.00     0.90k    70.00%
  Latency Distribution
     50%   11.41ms
     75%   14.00ms
     90%   30.00ms
     99%  244.01ms
  2917 requests in 5.00s, 2.11MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:    583.30
Transfer/sec:    431.45KB
"""

REDIS_OUT = '''"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","2039.21","3.090","0.200","1.599","8.000","12.743","40.000"
'''


def test_parsers():
    f = netbench.parse_wrk(WRK_OUT)
    check((f["per_s"], f["ops"], f["errors"]) == (583.3, 2917, 3) and f["mean_us"] == 18260
          and f["p50_us"] == 11410 and f["p99_us"] == 244010, "parse_wrk: rate, count, errors, latencies in us")
    try:
        netbench.parse_wrk(WRK_OUT.replace("  Socket errors", "  Non-2xx or 3xx responses: 5\n  Socket errors"))
        check(False, "parse_wrk: non-2xx answers fail")
    except RuntimeError:
        check(True, "parse_wrk: non-2xx answers fail")
    f = netbench.parse_redis_csv(REDIS_OUT, "get", 5000)
    check((f["per_s"], f["ops"], f["mean_us"], f["p50_us"], f["p99_us"]) == (2039.21, 5000, 3090, 1599, 12743),
          "parse_redis_csv: rps and latencies in us")
    f = netbench.parse_iperf3({"end": {"sum_received": {"bytes": 3 << 20, "bits_per_second": 5e6},
                                       "sum_sent": {"retransmits": 4}}})
    check(f == {"per_s": 5.0, "ops": 3.0, "retransmits": 4}, "parse_iperf3: Mbit/s, MiB, retransmits")


def test_boot_order():
    check(netbench.boot_order(["linux", "nimbus"], 1) == ["linux", "nimbus"], "boot_order: one round")
    check(netbench.boot_order(["linux", "nimbus"], 4) == ["linux", "nimbus", "nimbus", "linux"] * 2,
          "boot_order: A B B A A B B A")
    check(netbench.boot_order(["nimbus"], 3) == ["nimbus"] * 3, "boot_order: one target")


def test_setup_losses():
    text = ("TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPSynRetrans\n"
            "TcpExt: 0 7 7 5\n"
            "IpExt: InNoRoutes\n"
            "IpExt: 0\n")
    check(netbench.parse_setup_losses(text) == 12, "parse_setup_losses: ListenOverflows + TCPSynRetrans")
    check(netbench.parse_setup_losses("IpExt: InNoRoutes\nIpExt: 0\n") is None, "parse_setup_losses: no TcpExt")
    check(netbench.setup_losses() is None or netbench.setup_losses() >= 0, "setup_losses: this host's count")


def test_guest_command(work):
    """guest_command on a stand-in for the runner that records its arguments and prints a fixed
    QEMU command."""
    fake = os.path.join(work, "nimbus")
    seen = os.path.join(work, "args")
    with open(fake, "w") as f:
        f.write(f"#!/bin/sh\necho \"$@\" > {seen}\necho 'nimbus: image: noise' >&2\n"
                "echo \"qemu -M q35 -append 'a -- b' -chardev file,id=s,path=/tmp/nimbus-status-XXXXXX\"\n")
    os.chmod(fake, 0o755)

    class Args:
        nimbus, machine = fake, "q35"
    argv = netbench.guest_command(Args, ["--machine", "q35"], [(40001, 6379), (40002, 5201)], "/x/status")
    check(argv[:4] == ["qemu", "-M", "q35", "-append"] and argv[4] == "a -- b"
          and "path=/x/status" in argv[6], "guest_command: the dry-run's command, status path replaced")
    check(argv[-2:] == ["-name", "netbench,debug-threads=on"], "guest_command: named QEMU threads")
    with open(seen) as f:
        passed = f.read().split()
    check(passed == ["run", "--dry-run", "--net", "user", "-p", "127.0.0.1:40001:6379", "-p", "127.0.0.1:40002:5201",
                     "--machine", "q35"], f"guest_command: the runner's user networking and forwards {passed}")


def main():
    cc = sys.argv[1] if len(sys.argv) > 1 else "cc"
    with tempfile.TemporaryDirectory(prefix="netbench-selftest-") as work:
        netload = os.path.join(work, "netload")
        r = run([cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", netload, os.path.join(HERE, "netload.c")])
        check(r.returncode == 0, f"netload.c builds with {cc} -Wall -Wextra -Werror {r.stderr.strip()}")
        if r.returncode == 0:
            test_rr(netload)
            test_memcache(netload)
        test_parsers()
        test_boot_order()
        test_setup_losses()
        test_guest_command(work)
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
