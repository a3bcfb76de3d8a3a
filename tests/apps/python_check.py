# Debian's python3 under Nimbus: threads, json, the file system (in /tmp), and a few stdlib
# modules that need no subprocess. Prints "python: ok" and exits 0.
import hashlib
import json
import os
import sys
import queue
import tempfile
import threading
import time

results = queue.Queue()


def worker(n):
    h = hashlib.sha256()
    for i in range(2000):
        h.update(f"{n}:{i}".encode())
    results.put((n, h.hexdigest()))


threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
digests = dict(results.get() for _ in range(4))
assert len(digests) == 4 and len(set(digests.values())) == 4

with tempfile.TemporaryDirectory(dir="/tmp") as d:
    path = os.path.join(d, "data.json")
    with open(path, "w") as f:
        json.dump({"digests": digests, "time": time.time()}, f)
    os.rename(path, path + ".done")
    with open(path + ".done") as f:
        data = json.load(f)
    assert data["digests"] == {str(k): v for k, v in digests.items()}
    assert sorted(os.listdir(d)) == ["data.json.done"]

start = time.monotonic()
time.sleep(0.05)
assert time.monotonic() - start >= 0.05
# /proc and /sys, as programs read them.
assert os.readlink("/proc/self/exe") == "/usr/bin/python3", os.readlink("/proc/self/exe")
cpus = int(sys.argv[1]) if len(sys.argv) > 1 else 1
assert os.cpu_count() == cpus, os.cpu_count()
assert open("/sys/devices/system/cpu/online").read() == ("0\n" if cpus == 1 else f"0-{cpus - 1}\n")
status = open("/proc/self/status").read()
assert "Name:\tpython3\n" in status and "Pid:\t1\n" in status, status[:200]
maps = open("/proc/self/maps").read()
# Code is mapped from the image in place, and the maps name the files.
assert any("r-xp" in l and " /usr/bin/python3" in l for l in maps.splitlines()), maps
assert "libc.so.6" in maps and "[stack]" in maps and "[heap]" in maps and "[vdso]" in maps, maps
assert open("/proc/self/cmdline", "rb").read().split(b"\0")[:2] == [b"/usr/bin/python3", b"/app/check.py"]
assert "0" in os.listdir("/proc/self/fd") and os.readlink("/proc/self/fd/1") == "/dev/console"
assert float(open("/proc/uptime").read().split()[0]) > 0
assert "MemTotal:" in open("/proc/meminfo").read()

print("python: ok")
