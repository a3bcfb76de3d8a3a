#!/bin/bash
# Builds the Linux side of the scheduler benchmarks: an initramfs whose /init is pingpong.c +
# smp.c (static), next to the Linux baseline's vmlinux. See bench/sched/README.md.
#
# usage: bench/sched/linux-pingpong.sh [LINUX_GUEST_DIR]     (default <repo>/build/linux-guest)
# Writes LINUX_GUEST_DIR/pingpong-initramfs.cpio. Needs the vmlinux from
# bench/boot/linux-guest.sh (run first), gcc with static glibc (libc6-dev), python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/build/linux-guest}
if [ ! -f "$out/vmlinux" ]; then
    echo "linux-pingpong: $out/vmlinux missing: run bench/boot/linux-guest.sh first" >&2
    exit 1
fi
out=$(cd "$out" && pwd)

gcc -static -O2 -Wall -Wextra -pthread -o "$out/pingpong" "$here/pingpong.c" "$here/smp.c"
python3 "$repo/bench/boot/mkcpio.py" "$out/pingpong-initramfs.cpio" "init=$out/pingpong:0755"
echo "linux-pingpong: ready: $out/vmlinux $out/pingpong-initramfs.cpio"
