#!/usr/bin/env python3
"""Raw-disk integration test (issue 5): tests/apps/disk_check against a virtio-blk disk.

Makes a disk image with known contents, boots `nimbus run --disk IMAGE[,ro] disk_check ...`,
and checks both sides: the guest's own checks ("disk_check: ok") and, from the host, that the
image file afterwards holds exactly what the guest says it wrote (the FNV-1a 64 hash it
prints) — or, for a read-only disk, that the guest read the image's bytes and changed nothing.

Variants that the runner has no option for run the QEMU command of `nimbus run --dry-run`,
edited: --block-size gives the disk larger blocks; --intx takes MSI-X away from virtio-pci devices (vectors=0); --legacy asks QEMU for the legacy transports (virtio 0.9.5 PCI: disable-modern=on;
virtio-mmio version 1: force-legacy=true); --eio puts QEMU's blkdebug under the disk so that
every request touching one sector fails, and runs `disk_check DEV eio OFFSET`.
"""
import argparse
import os
import random
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edited_run  # noqa: E402  (run_edited: the runner's QEMU command, edited)


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


def edits(args, work, image, bad_offset):
    """The (old, new) replacements of the QEMU command for --legacy, --intx, --block-size, --eio."""
    out = []
    if args.legacy:
        out += [("virtio-mmio.force-legacy=false", "virtio-mmio.force-legacy=true"),
                ("virtio-blk-pci,", "virtio-blk-pci,disable-modern=on,")]
    if args.intx:
        out.append(("virtio-blk-pci,", "virtio-blk-pci,vectors=0,"))
    if args.block_size:
        sizes = f"logical_block_size={args.block_size},physical_block_size={args.block_size},"
        out += [("virtio-blk-pci,", "virtio-blk-pci," + sizes), ("virtio-blk-device,", "virtio-blk-device," + sizes)]
    if args.eio:
        sector = bad_offset // 512
        config = os.path.join(work, "blkdebug.conf")
        with open(config, "w") as f:
            for event in ("read_aio", "write_aio"):
                f.write(f'[inject-error]\nevent = "{event}"\nerrno = "5"\nsector = "{sector}"\nonce = "off"\n\n')
        out.append(("file=" + image + ",", f"file=blkdebug:{config}:{image},"))
    return out


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
    p.add_argument("--legacy", action="store_true")
    p.add_argument("--eio", action="store_true")
    p.add_argument("--intx", action="store_true", help="virtio-pci without MSI-X (vectors=0): legacy INTx")
    p.add_argument("--block-size", type=int, default=0, help="the disk's logical and physical block size")
    p.add_argument("--expect", action="append", default=[], help="text the console must show")
    p.add_argument("--format", choices=["raw", "qcow2"], default="raw")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="nimbus-disk-") as work:
        image = os.path.join(work, "disk.img")
        rng = random.Random(args.cpus * 1000 + args.threads)
        data = bytes(rng.getrandbits(8) for _ in range(args.size_mib << 20))
        with open(image, "wb") as f:
            f.write(data)
        before = fnv1a(data)
        attached = image
        if args.format == "qcow2":
            attached = os.path.join(work, "disk.qcow2")
            subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", image, attached], check=True)
        disk = attached + (",ro" if args.read_only else "")
        bad_offset = (args.size_mib << 20) // 2 + 4096 * 3 + 100
        if args.eio:
            program = [args.program, "/dev/vda", "eio", str(bad_offset)]
        else:
            program = [args.program, "/dev/vda"] + (["ro"] if args.read_only else ["rw", str(args.threads), "7"])
        cmd = [args.nimbus, "run", "--machine", args.machine, "--cpus", str(args.cpus), "--disk", disk,
               "--kernel", args.kernel, "--timeout", str(args.timeout)] + program
        if args.legacy or args.eio or args.intx or args.block_size:
            out, status = edited_run.run_edited(args.nimbus, cmd[2:], edits(args, work, attached, bad_offset),
                                                args.timeout + 60, required=False)
        else:
            print("+", " ".join(cmd), flush=True)
            run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=args.timeout + 60)
            out = run.stdout.decode(errors="replace")
            status = run.returncode
        sys.stdout.write(out)
        failures = []
        if status != 0:
            failures.append(f"exit status {status}, expected 0")
        if "disk_check: ok" not in out:
            failures.append("no 'disk_check: ok'")
        failures += [f"missing {e!r}" for e in args.expect if e not in out]
        if args.block_size and f"{args.block_size}-byte blocks" not in out:
            failures.append(f"the disk does not have {args.block_size}-byte blocks")
        if args.legacy and not re.search(r"vda: virtio-(pci|mmio) legacy ", out):
            failures.append("the disk was not driven through a legacy transport")
        if args.eio:
            for f in failures:
                print("disk_test: FAIL", f)
            if not failures:
                print("disk_test: ok (EIO reached the program)")
            return 1 if failures else 0
        if args.format == "qcow2":
            subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", attached, image], check=True)
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
