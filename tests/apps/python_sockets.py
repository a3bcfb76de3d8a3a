# Debian's python3 with AF_UNIX sockets, as programs use them without a network: socketpair
# with select, a large transfer, datagrams, descriptor passing (socket.send_fds/recv_fds), a
# named server in /tmp served by a thread, and the selectors module (epoll). Runs the same on
# Linux. Prints "python sockets: ok" and exits 0.
import os
import select
import selectors
import socket
import tempfile
import threading

a, b = socket.socketpair()
a.sendall(b"ping")
r, _, _ = select.select([b], [], [], 5)
assert r == [b]
assert b.recv(16) == b"ping"

payload = bytes(range(256)) * 2000  # 512000 bytes: more than the buffer holds
sender = threading.Thread(target=b.sendall, args=(payload,))
sender.start()
got = bytearray()
while len(got) < len(payload):
    chunk = a.recv(65536)
    assert chunk
    got += chunk
sender.join()
assert bytes(got) == payload
b.shutdown(socket.SHUT_WR)
assert a.recv(10) == b""
a.close()
b.close()

d1, d2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.send(b"one")
d1.send(b"two")
assert d2.recv(10) == b"one" and d2.recv(10) == b"two"
rfd, wfd = os.pipe()
socket.send_fds(d1, [b"fd"], [rfd])
msg, fds, _, _ = socket.recv_fds(d2, 10, 4)
os.write(wfd, b"via pipe")
assert msg == b"fd" and len(fds) == 1 and os.read(fds[0], 20) == b"via pipe"

with tempfile.TemporaryDirectory(dir="/tmp") as d:
    path = os.path.join(d, "server.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(4)

    def serve():
        for _ in range(3):
            conn, _ = srv.accept()
            with conn:
                data = conn.recv(100)
                conn.sendall(data.upper())

    server = threading.Thread(target=serve)
    server.start()
    for word in (b"alpha", b"beta", b"gamma"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(path)
            assert c.getpeername() == path
            c.sendall(word)
            assert c.recv(100) == word.upper()
    server.join()
    srv.close()

    sel = selectors.DefaultSelector()
    x, y = socket.socketpair()
    x.setblocking(False)
    sel.register(x, selectors.EVENT_READ, "x")
    assert sel.select(timeout=0) == []
    y.send(b"!")
    events = sel.select(timeout=5)
    assert len(events) == 1 and events[0][0].data == "x"
    sel.close()

print("python sockets: ok")
