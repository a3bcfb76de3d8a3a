#!/bin/busybox sh
# /init of the network benchmark's Linux guest (bench/net/README.md): loads the virtio
# modules, brings eth0 up with QEMU user networking's static address (or netbench_ip= from the
# kernel command line), starts the server named by its arguments and says "netbench-init:
# ready" once the server listens.
#
# The kernel passes the words after " -- " of its command line as arguments; words with a '='
# are left out (`nimbus run --dry-run` puts the program's environment, PATH=... HOME=/
# TERM=dumb, before the program). The server runs in the foreground of this script with its
# output on the console; when it ends, the VM powers off. Usually the benchmark kills QEMU.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /tmp /run
/bin/busybox --install -s
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
# The initramfs has no /dev/console, so the kernel started us without standard streams.
exec </dev/console >/dev/console 2>&1

finish() {
    echo "netbench-init: $*"
    poweroff -f
}

while read -r m; do
    insmod "/modules/$m" || echo "netbench-init: insmod $m failed"
done < /modules/order

# virtio-net's probe runs when the module loads; give eth0 up to 10 s to appear.
i=0
while [ ! -e /sys/class/net/eth0 ]; do
    i=$((i + 1))
    [ $i -le 200 ] || finish "no eth0"
    sleep 0.05
done
ip link set lo up
if [ -n "${netbench_ip:-}" ]; then
    # A static address from the kernel command line (netbench_ip=ADDR/PREFIX, which the kernel
    # hands us as environment): a tap device's network (bench/net/tapbench.py), no gateway.
    ip addr add "$netbench_ip" dev eth0 || finish "ip addr $netbench_ip"
    ip link set eth0 up || finish "ip link"
else
    # QEMU's user networking (slirp): guest 10.0.2.15, gateway and DNS 10.0.2.2/10.0.2.3.
    ip addr add 10.0.2.15/24 dev eth0 || finish "ip addr"
    ip link set eth0 up || finish "ip link"
    ip route add default via 10.0.2.2 || finish "ip route"
    echo "nameserver 10.0.2.3" > /etc/resolv.conf
fi

server=
for w in "$@"; do
    case $w in
        *=*) ;;
        *) server="$server $w" ;;
    esac
done
[ -n "$server" ] || finish "no server: boot with '-- PROGRAM [ARGS]'"
echo "netbench-init: linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) cpu," \
     "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)," \
     "eth0 $(cat /sys/class/net/eth0/address) ${netbench_ip:-10.0.2.15/24}," \
     "$(ls -d /sys/class/net/eth0/queues/rx-* | wc -l) rx queue(s)"
echo "netbench-init: starting$server"
# Word splitting of $server is intended: the arguments hold no spaces.
$server &
pid=$!

# Ready when a TCP socket listens (state 0A in /proc/net/tcp or tcp6): only the server's can.
listening() {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == "0A" { found = 1 } END { exit !found }'
}
i=0
until listening; do
    kill -0 $pid 2>/dev/null || break
    i=$((i + 1))
    [ $i -le 600 ] || finish "the server is not listening after 30 s"
    sleep 0.05
done
kill -0 $pid 2>/dev/null && echo "netbench-init: ready"
wait $pid
finish "server exited with status $?"
