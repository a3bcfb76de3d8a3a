#!/bin/bash
# Sets up the Linux baseline of the boot benchmark in build/linux-guest/ from Debian packages
# only: Debian's current 6.1 kernel (decompressed to a PVH-bootable vmlinux) and a one-file
# initramfs whose /init ends the VM at once. See bench/boot/README.md. Also copies the kernel's
# virtio modules to modules/ for the disk and network benchmarks (bench/disk/README.md,
# bench/net/README.md).
#
# usage: bench/boot/linux-guest.sh [OUTPUT_DIR]     (default <repo>/build/linux-guest)
# Needs: apt-get (run `apt-get update` first), dpkg-deb, gcc (static glibc: libc6-dev),
# python3; zstd only if Debian's kernel is zstd-compressed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/build/linux-guest}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The metapackage linux-image-amd64 depends on the current versioned image package.
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }')
if [ -z "$pkg" ]; then
    echo "linux-guest: cannot resolve linux-image-amd64 (run apt-get update)" >&2
    exit 1
fi
case $pkg in
    linux-image-6.1.*) ;;
    *) echo "linux-guest: note: current Debian kernel is $pkg, not 6.1.x" >&2 ;;
esac
echo "linux-guest: kernel package $pkg"

cd "$out"
if ! ls "$pkg"_*.deb >/dev/null 2>&1; then
    apt-get download "$pkg"
fi
deb=$(ls "$pkg"_*.deb | head -n 1)
rm -rf extract
dpkg-deb -x "$deb" extract
vmlinuz=$(ls extract/boot/vmlinuz-* | head -n 1)
python3 "$here/extract_vmlinux.py" "$vmlinuz" vmlinux
# The virtio modules the disk and network benchmarks' guests load (bench/disk, bench/net):
# Debian builds virtio, virtio-mmio, virtio-pci, virtio-blk and virtio-net as modules, and
# virtio_net needs net_failover, which needs failover. Named in load order in modules/order
# (a guest without a disk or a network card loads them all the same: they find no device).
rm -rf modules
mkdir modules
: > modules/order
for m in virtio_ring virtio virtio_mmio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk \
         failover net_failover virtio_net; do
    ko=$(find extract/lib/modules \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \) -print -quit)
    if [ -z "$ko" ]; then
        echo "linux-guest: note: module $m not in $deb" >&2
        continue
    fi
    case $ko in
        *.xz) xz -dc "$ko" > "modules/$m.ko" ;;
        *.zst) zstd -q -dc "$ko" > "modules/$m.ko" ;;
        *) cp "$ko" "modules/$m.ko" ;;
    esac
    echo "$m.ko" >> modules/order
done
rm -rf extract

gcc -static -O2 -Wall -Wextra -o init "$here/linux_init.c"
python3 "$here/mkcpio.py" initramfs.cpio init=init:0755
# The kernel version, for the benchmark's report.
echo "$deb" > kernel-package.txt
echo "linux-guest: ready: $out/vmlinux $out/initramfs.cpio"
