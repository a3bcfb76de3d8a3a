#!/usr/bin/env python3
"""Raw-disk integration test (issue 5): tests/apps/disk_check against a virtio-blk disk.

Makes a disk image with known contents, boots `nimbus run --disk IMAGE[,ro] disk_check ...`,
and checks both sides: the guest's own checks ("disk_check: ok") and, from the host, that the
image file afterwards holds exactly what the guest says it wrote (the FNV-1a 64 hash it
prints) — or, for a read-only disk, that the guest read the image's bytes and changed nothing.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def fnv1a_file(path):
    # The image is a few MiB: hash it in chunks without holding Python ints per byte.
    h = 0xcbf29ce484222325
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return h
            for b in chunk:
                h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nimbus", required=True)
    p.add_argument("--kernel", required=True)
    p.add_argument("--program", required=True)
    p.add_argument("--machine", default="microvm")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--size-mib", type=int, default=4)
    p.add_argument("--read-only", action="store_true")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="nimbus-disk-") as work:
        image = os.path.join(work, "disk.img")
        rng = random.Random(args.cpus * 1000 + args.threads)
        data = bytes(rng.getrandbits(8) for _ in range(args.size_mib << 20))
        with open(image, "wb") as f:
            f.write(data)
        before = fnv1a(data)
        disk = image + (",ro" if args.read_only else "")
        program = [args.program, "/dev/vda"] + (["ro"] if args.read_only else ["rw", str(args.threads), "7"])
        cmd = [args.nimbus, "run", "--machine", args.machine, "--cpus", str(args.cpus), "--disk", disk,
               "--kernel", args.kernel, "--timeout", str(args.timeout)] + program
        print("+", " ".join(cmd), flush=True)
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=args.timeout + 60)
        out = run.stdout.decode(errors="replace")
        sys.stdout.write(out)
        failures = []
        if run.returncode != 0:
            failures.append(f"exit status {run.returncode}, expected 0")
        if "disk_check: ok" not in out:
            failures.append("no 'disk_check: ok'")
        m = re.search(r"disk_check: hash=([0-9a-f]{16})", out)
        after = fnv1a_file(image)
        if not m:
            failures.append("no hash line")
        elif int(m.group(1), 16) != after:
            failures.append(f"the image's hash {after:016x} is not the guest's {m.group(1)}: data lost on the way")
        if args.read_only and after != before:
            failures.append("the read-only image changed")
        if not args.read_only and after == before:
            failures.append("nothing reached the image")
        for f in failures:
            print("disk_test: FAIL", f)
        if not failures:
            print("disk_test: ok (image hash %016x)" % after)
        return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
