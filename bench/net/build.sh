#!/bin/bash
# Builds the network benchmark's guests (bench/net/README.md): netload.c (static: the echo
# server in the guests, the request/response and memcached clients on the host), the files the
# servers need (configuration, the static page, /etc/passwd) with a manifest that `nimbus run
# --manifest` takes, and the Linux guest's initramfs: busybox, /init (linux_net_init.sh), the
# virtio modules, Debian's iperf3, redis-server, nginx and memcached with every shared library
# they load, netload and the same files.
#
# usage: bench/net/build.sh [BUILD_DIR]     (default <repo>/build; the Linux guest is
# BUILD_DIR/linux-guest, made by bench/boot/linux-guest.sh, modules/ included)
# Needs: gcc with static glibc, busybox-static, iperf3, redis-server, nginx, memcached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
out=$build/linux-guest
if [ ! -f "$out/vmlinux" ] || ! grep -qx virtio_net.ko "$out/modules/order" 2>/dev/null; then
    echo "bench/net: $out/vmlinux or modules/virtio_net.ko missing: run bench/boot/linux-guest.sh${1:+ $out} first" >&2
    exit 1
fi
servers=(/usr/bin/iperf3 /usr/bin/redis-server /usr/sbin/nginx /usr/bin/memcached)
for f in "${servers[@]}" /bin/busybox; do
    if [ ! -x "$f" ]; then
        echo "bench/net: $f missing: apt-get install iperf3 redis-server nginx memcached busybox-static" >&2
        exit 1
    fi
done
if ldd /bin/busybox >/dev/null 2>&1; then
    echo "bench/net: /bin/busybox is not static: apt-get install busybox-static" >&2
    exit 1
fi

gcc -static -O2 -Wall -Wextra -o "$out/netload" "$here/netload.c"

# The files the servers read, in both guests: guest path = host file. nginx and memcached
# look their user up (nginx's default "nobody" when run as root; memcached's -u).
files=$out/net-files
rm -rf "$files"
mkdir -p "$files"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$files/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$files/group"
cat > "$out/net-manifest.txt" <<MANIFEST
$files/passwd:/etc/passwd
$files/group:/etc/group
$here/nginx.conf:/etc/nimbus-bench/nginx.conf
$here/redis.conf:/etc/nimbus-bench/redis.conf
$here/index.html:/var/www/index.html
MANIFEST

specs=("init=$here/linux_net_init.sh:0755" "bin/busybox=/bin/busybox:0755"
       "modules/order=$out/modules/order:0644" "$out/netload=$out/netload:0755")
while read -r ko; do
    specs+=("modules/$ko=$out/modules/$ko:0644")
done < "$out/modules/order"
while IFS=: read -r host guest; do
    specs+=("$guest=$host:0644")
done < "$out/net-manifest.txt"
# Each server at its own path (redis-server is a symlink to redis-check-rdb on the host: the
# file goes in under the name it is run by, which is how redis chooses its mode), then every
# library ldd names, at the path the dynamic linker asks for, with its content (not links).
libs=()
for s in "${servers[@]}"; do
    specs+=("$s=$s:0755")
    while read -r lib; do
        libs+=("$lib")
    done < <(ldd "$s" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
done
# libgcc_s is dlopen'ed by glibc when a thread is cancelled or unwinds; not in every ldd list.
libs+=(/lib/x86_64-linux-gnu/libgcc_s.so.1)
while read -r lib; do
    specs+=("$lib=$lib:0755")
done < <(printf '%s\n' "${libs[@]}" | sort -u)
python3 "$repo/bench/boot/mkcpio.py" "$out/net-initramfs.cpio" "${specs[@]}"
echo "bench/net: ready: $out/net-initramfs.cpio ($(du -m "$out/net-initramfs.cpio" | cut -f1) MiB)," \
     "$out/net-manifest.txt, $out/netload"
