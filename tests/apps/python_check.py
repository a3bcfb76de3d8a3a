# Debian's python3 under Nimbus: threads, json, the file system (in /tmp), and a few stdlib
# modules that need no subprocess. Prints "python: ok" and exits 0.
import hashlib
import json
import os
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
print("python: ok")
