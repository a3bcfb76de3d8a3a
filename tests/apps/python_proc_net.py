# /proc/net/snmp and /proc/net/dev as Linux tools read them (nstat and psutil pair each group's
# header line with its value line; /proc/net/dev is "name: 16 counters"), checked after real
# traffic: a TCP connection and a UDP datagram over the loopback inside the guest, and the
# DHCP exchange on eth0. Runs the same on Linux (it needs a loopback and any other interface
# that carried packets). Prints "python proc net: ok" and exits 0.
import socket


def snmp():
    groups = {}
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    assert len(lines) % 2 == 0, lines
    for names, values in zip(lines[0::2], lines[1::2]):
        names, values = names.split(), values.split()
        assert names[0] == values[0] and len(names) == len(values), (names, values)
        groups[names[0].rstrip(":")] = dict(zip(names[1:], (int(v) for v in values[1:])))
    return groups


def dev():
    with open("/proc/net/dev") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("Inter-|") and lines[1].startswith(" face |"), lines[:2]
    out = {}
    for line in lines[2:]:
        name, counters = line.split(":", 1)
        values = [int(v) for v in counters.split()]
        assert len(values) == 16, line
        out[name.strip()] = values
    return out


before = snmp()
for group in ("Ip", "Icmp", "Tcp", "Udp", "UdpLite"):
    assert group in before, before.keys()
assert before["Ip"]["DefaultTTL"] == 64

server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
server.bind(("127.0.0.1", 0))
server.listen(1)
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
during = snmp()
assert during["Tcp"]["CurrEstab"] >= before["Tcp"]["CurrEstab"] + 2, during["Tcp"]
client.sendall(b"x" * 5000)
got = b""
while len(got) < 5000:
    got += conn.recv(65536)
udp_in = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp_in.bind(("127.0.0.1", 0))
udp_out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp_out.sendto(b"datagram", udp_in.getsockname())
assert udp_in.recv(100) == b"datagram"
for s in (client, conn, server, udp_in, udp_out):
    s.close()

after = snmp()
assert after["Tcp"]["ActiveOpens"] >= before["Tcp"]["ActiveOpens"] + 1, after["Tcp"]
assert after["Tcp"]["PassiveOpens"] >= before["Tcp"]["PassiveOpens"] + 1, after["Tcp"]
assert after["Tcp"]["OutSegs"] >= before["Tcp"]["OutSegs"] + 4, after["Tcp"]
assert after["Tcp"]["InSegs"] >= before["Tcp"]["InSegs"] + 4, after["Tcp"]
assert after["Udp"]["InDatagrams"] >= before["Udp"]["InDatagrams"] + 1, after["Udp"]
assert after["Udp"]["OutDatagrams"] >= before["Udp"]["OutDatagrams"] + 1, after["Udp"]
assert after["Ip"]["InReceives"] > before["Ip"]["InReceives"], after["Ip"]
assert after["Ip"]["OutRequests"] > before["Ip"]["OutRequests"], after["Ip"]

interfaces = dev()
assert "lo" in interfaces, interfaces
lo = interfaces["lo"]
assert lo[1] > 0 and lo[0] >= 5000 and lo[9] == lo[1], lo  # rx packets, rx bytes, tx = rx
others = [v for name, v in interfaces.items() if name != "lo"]
assert any(v[1] > 0 and v[9] > 0 for v in others), interfaces  # DHCP went both ways
print("python proc net: ok")
