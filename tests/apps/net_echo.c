// net_echo: the network test program (issue 6), run as-is on the host and under Nimbus.
//
//   net_echo tcp-server PORT CONNS        echo on TCP PORT (epoll, non-blocking) until CONNS
//                                         connections have come and gone; then report
//   net_echo tcp-client HOST PORT BYTES [CONNS]
//                                         CONNS connections one after another, each sending
//                                         BYTES of a pattern and checking the echo
//   net_echo tcp-sink PORT                accept one connection, read to EOF, print the byte
//                                         count and the FNV-1a 64 hash of the stream
//   net_echo tcp-source HOST PORT BYTES   connect, send BYTES of the pattern, print its hash
//   net_echo hold PORT CONNS              accept CONNS connections and keep them all open
//                                         until every peer has closed (concurrency test)
//   net_echo tcp-loopback BYTES           one thread, both ends over 127.0.0.1: non-blocking
//                                         connect and accept, socket calls' errors and
//                                         options as Linux gives them, BYTES each way
//   net_echo udp-server PORT COUNT [FILE] echo COUNT datagrams; first print FILE's lines,
//                                         each after "file: " (the guest's /etc/resolv.conf)
//   net_echo udp-client HOST PORT COUNT SIZE
//                                         COUNT request/response exchanges (1 s timeout, 5
//                                         retries each), payload checked
//
// Every mode prints one result line and exits 0 on success; anything unexpected prints
// "net_echo: ..." with errno and exits 1. Every wait is bounded (60 s without progress).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STALL_MS 60000

static void die(const char* what)
{
    fprintf(stderr, "net_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char* what)
{
    fprintf(stderr, "net_echo: %s\n", what);
    exit(1);
}

// The byte at stream offset `i` of connection `c`: not periodic within a page, so a lost,
// duplicated or reordered segment shows.
static uint8_t pattern(uint64_t i, unsigned c)
{
    uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)c << 40;
    return (uint8_t)(x >> 29 ^ x >> 51);
}

static uint64_t fnv1a(uint64_t h, const uint8_t* p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int listener(int port, int type)
{
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("SO_REUSEADDR");
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr = { htonl(INADDR_ANY) } };
    if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0)
        die("bind");
    if (type == SOCK_STREAM && listen(fd, 1024) < 0)
        die("listen");
    printf("listening %d\n", port);
    fflush(stdout);
    return fd;
}

static int connect_to(const char* host, int port, int type)
{
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = type };
    struct addrinfo* res;
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    int e = getaddrinfo(host, service, &hints, &res);
    if (e != 0) {
        fprintf(stderr, "net_echo: getaddrinfo %s: %s\n", host, gai_strerror(e));
        exit(1);
    }
    int fd = socket(AF_INET, type, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, res->ai_addr, res->ai_addrlen) < 0)
        die("connect");
    freeaddrinfo(res);
    return fd;
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n = poll(&p, 1, STALL_MS);
    if (n < 0)
        die("poll");
    if (n == 0)
        fail("no progress for 60 s");
}

struct conn {
    int fd;
    uint8_t buf[65536];
    size_t len; // echo bytes waiting to be written
    int eof;
};

static int tcp_server(int port, int conns)
{
    int lfd = listener(port, SOCK_STREAM);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll_create1");
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        die("epoll_ctl listener");
    int done = 0, open_conns = 0;
    uint64_t total = 0;
    while (done < conns) {
        struct epoll_event events[64];
        int n = epoll_wait(ep, events, 64, STALL_MS);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        if (n == 0)
            fail("no progress for 60 s");
        for (int i = 0; i < n; i++) {
            struct conn* c = events[i].data.ptr;
            if (!c) {
                int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                    if (errno == EAGAIN)
                        continue;
                    die("accept4");
                }
                c = calloc(1, sizeof *c);
                if (!c)
                    fail("out of memory");
                c->fd = fd;
                struct epoll_event cev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev) < 0)
                    die("epoll_ctl conn");
                open_conns++;
                continue;
            }
            // Read while there is room, write what we have; EPOLLOUT only while blocked.
            for (;;) {
                if (c->len < sizeof c->buf && !c->eof) {
                    ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
                    if (r > 0) {
                        c->len += (size_t)r;
                        total += (uint64_t)r;
                    } else if (r == 0) {
                        c->eof = 1;
                    } else if (errno != EAGAIN) {
                        die("read");
                    }
                }
                if (c->len == 0)
                    break;
                ssize_t w = write(c->fd, c->buf, c->len);
                if (w < 0 && errno == EAGAIN)
                    break;
                if (w < 0)
                    die("write");
                memmove(c->buf, c->buf + w, c->len - (size_t)w);
                c->len -= (size_t)w;
            }
            if (c->eof && c->len == 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                free(c);
                open_conns--;
                done++;
                continue;
            }
            struct epoll_event cev = { .events = (c->len ? EPOLLOUT : 0) | (c->eof ? 0 : EPOLLIN) | EPOLLRDHUP,
                                       .data.ptr = c };
            if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev) < 0)
                die("epoll_ctl mod");
        }
    }
    printf("served %d connections, %llu bytes\n", done, (unsigned long long)total);
    return 0;
}

static int tcp_client(const char* host, int port, uint64_t bytes, int conns)
{
    static uint8_t out[16384], in[16384];
    for (int c = 0; c < conns; c++) {
        int fd = connect_to(host, port, SOCK_STREAM);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
            die("fcntl");
        uint64_t sent = 0, got = 0;
        int shut = 0;
        while (got < bytes) {
            struct pollfd p = { .fd = fd, .events = POLLIN | (sent < bytes ? POLLOUT : 0) };
            int n = poll(&p, 1, STALL_MS);
            if (n < 0)
                die("poll");
            if (n == 0)
                fail("no progress for 60 s");
            if ((p.revents & POLLOUT) && sent < bytes) {
                size_t k = bytes - sent < sizeof out ? (size_t)(bytes - sent) : sizeof out;
                for (size_t i = 0; i < k; i++)
                    out[i] = pattern(sent + i, (unsigned)c);
                ssize_t w = write(fd, out, k);
                if (w < 0 && errno != EAGAIN)
                    die("write");
                if (w > 0)
                    sent += (uint64_t)w;
            }
            if (sent == bytes && !shut) {
                if (shutdown(fd, SHUT_WR) < 0)
                    die("shutdown");
                shut = 1;
            }
            if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(fd, in, sizeof in);
                if (r < 0 && errno != EAGAIN)
                    die("read");
                if (r == 0)
                    fail("connection closed before the whole echo came back");
                for (ssize_t i = 0; i < r; i++)
                    if (in[i] != pattern(got + (uint64_t)i, (unsigned)c))
                        fail("echo differs from what was sent");
                if (r > 0)
                    got += (uint64_t)r;
            }
        }
        wait_fd(fd, POLLIN);
        if (read(fd, in, 1) != 0)
            fail("data after the echo");
        close(fd);
    }
    printf("tcp-client ok: %d connections x %llu bytes\n", conns, (unsigned long long)bytes);
    return 0;
}

static int tcp_sink(int port)
{
    int lfd = listener(port, SOCK_STREAM);
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    static uint8_t buf[65536];
    uint64_t total = 0, h = 0xcbf29ce484222325ull;
    for (;;) {
        wait_fd(fd, POLLIN);
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0)
            die("read");
        if (r == 0)
            break;
        h = fnv1a(h, buf, (size_t)r);
        total += (uint64_t)r;
    }
    printf("tcp-sink %llu bytes fnv1a %016llx\n", (unsigned long long)total, (unsigned long long)h);
    return 0;
}

static int tcp_source(const char* host, int port, uint64_t bytes)
{
    int fd = connect_to(host, port, SOCK_STREAM);
    static uint8_t buf[65536];
    uint64_t sent = 0, h = 0xcbf29ce484222325ull;
    while (sent < bytes) {
        size_t k = bytes - sent < sizeof buf ? (size_t)(bytes - sent) : sizeof buf;
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern(sent + i, 0);
        h = fnv1a(h, buf, k);
        size_t off = 0;
        while (off < k) {
            ssize_t w = write(fd, buf + off, k - off);
            if (w < 0)
                die("write");
            off += (size_t)w;
        }
        sent += k;
    }
    close(fd);
    printf("tcp-source %llu bytes fnv1a %016llx\n", (unsigned long long)sent, (unsigned long long)h);
    return 0;
}

static int hold(int port, int conns)
{
    int lfd = listener(port, SOCK_STREAM);
    int* fds = calloc((size_t)conns, sizeof *fds);
    struct pollfd* p = calloc((size_t)conns, sizeof *p);
    if (!fds || !p)
        fail("out of memory");
    for (int i = 0; i < conns; i++) {
        wait_fd(lfd, POLLIN);
        fds[i] = accept(lfd, NULL, NULL);
        if (fds[i] < 0)
            die("accept");
    }
    printf("holding %d connections\n", conns);
    fflush(stdout);
    int open_conns = conns;
    while (open_conns > 0) {
        for (int i = 0; i < conns; i++)
            p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
        int n = poll(p, (nfds_t)conns, STALL_MS);
        if (n < 0)
            die("poll");
        if (n == 0)
            fail("no progress for 60 s");
        for (int i = 0; i < conns; i++) {
            if (fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char c;
            ssize_t r = read(fds[i], &c, 1);
            if (r == 0 || (r < 0 && errno == ECONNRESET)) {
                close(fds[i]);
                fds[i] = -1;
                open_conns--;
            } else if (r < 0) {
                die("read");
            }
        }
    }
    printf("held and closed %d connections\n", conns);
    return 0;
}

static void expect(int ok, const char* what)
{
    if (!ok) {
        fprintf(stderr, "net_echo: %s (errno %d: %s)\n", what, errno, strerror(errno));
        exit(1);
    }
}

static int int_option(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, level, name, &v, &l) < 0)
        die("getsockopt");
    return v;
}

// Moves `bytes` of the pattern from `a` to `b` and back to `a` through non-blocking sockets
// in one thread; checks every byte.
static void pump(int a, int b, uint64_t bytes)
{
    static uint8_t buf[65536], in[65536];
    static uint8_t echo[1 << 20];
    uint64_t sent = 0, relayed = 0, got = 0;
    size_t echo_len = 0; // bytes read by b and not yet written back
    while (got < bytes) {
        struct pollfd p[2] = { { .fd = a, .events = POLLIN | (sent < bytes ? POLLOUT : 0) },
                               { .fd = b, .events = POLLIN | (echo_len ? POLLOUT : 0) } };
        int n = poll(p, 2, STALL_MS);
        if (n < 0)
            die("poll");
        if (n == 0)
            fail("loopback: no progress for 60 s");
        if ((p[0].revents & POLLOUT) && sent < bytes) {
            size_t k = bytes - sent < sizeof buf ? (size_t)(bytes - sent) : sizeof buf;
            for (size_t i = 0; i < k; i++)
                buf[i] = pattern(sent + i, 7);
            ssize_t w = send(a, buf, k, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN)
                die("loopback send");
            if (w > 0)
                sent += (uint64_t)w;
        }
        if ((p[1].revents & POLLIN) && echo_len < sizeof echo) {
            ssize_t r = recv(b, echo + echo_len, sizeof echo - echo_len, 0);
            if (r < 0 && errno != EAGAIN)
                die("loopback recv (server)");
            if (r == 0)
                fail("loopback: early end of stream at the server");
            if (r > 0) {
                echo_len += (size_t)r;
                relayed += (uint64_t)r;
            }
        }
        if (echo_len) {
            ssize_t w = send(b, echo, echo_len, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN)
                die("loopback send (server)");
            if (w > 0) {
                memmove(echo, echo + w, echo_len - (size_t)w);
                echo_len -= (size_t)w;
            }
        }
        if (p[0].revents & POLLIN) {
            ssize_t r = recv(a, in, sizeof in, 0);
            if (r < 0 && errno != EAGAIN)
                die("loopback recv");
            if (r == 0)
                fail("loopback: early end of stream at the client");
            for (ssize_t i = 0; i < r; i++)
                if (in[i] != pattern(got + (uint64_t)i, 7))
                    fail("loopback: echo differs from what was sent");
            if (r > 0)
                got += (uint64_t)r;
        }
    }
    (void)relayed;
}

static volatile sig_atomic_t sigpipes;
static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static int tcp_loopback(uint64_t bytes)
{
    signal(SIGPIPE, on_sigpipe);
    struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
    char c = 0;

    // A socket that never connected.
    int u = socket(AF_INET, SOCK_STREAM, 0);
    expect(u >= 0, "socket");
    expect(recv(u, &c, 1, MSG_DONTWAIT) < 0 && errno == ENOTCONN, "recv before connect: ENOTCONN");
    expect(send(u, &c, 1, MSG_NOSIGNAL) < 0 && errno == EPIPE, "send before connect: EPIPE");
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    expect(getpeername(u, (struct sockaddr*)&peer, &pl) < 0 && errno == ENOTCONN, "getpeername: ENOTCONN");
    expect(shutdown(u, SHUT_WR) < 0 && errno == ENOTCONN, "shutdown before connect: ENOTCONN");
    expect(int_option(u, SOL_SOCKET, SO_TYPE) == SOCK_STREAM, "SO_TYPE");
    expect(int_option(u, SOL_SOCKET, SO_PROTOCOL) == IPPROTO_TCP, "SO_PROTOCOL");
    expect(int_option(u, IPPROTO_TCP, TCP_MAXSEG) == 536, "TCP_MAXSEG before connect: 536");
    int v = 1;
    expect(setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v) == 0, "TCP_NODELAY");
    expect(int_option(u, IPPROTO_TCP, TCP_NODELAY) == 1, "TCP_NODELAY reads back");
    v = 30;
    expect(setsockopt(u, IPPROTO_TCP, TCP_KEEPIDLE, &v, sizeof v) == 0, "TCP_KEEPIDLE");
    expect(int_option(u, IPPROTO_TCP, TCP_KEEPIDLE) == 30, "TCP_KEEPIDLE reads back");
    v = 0;
    expect(setsockopt(u, IPPROTO_TCP, TCP_KEEPCNT, &v, sizeof v) < 0 && errno == EINVAL, "TCP_KEEPCNT 0: EINVAL");
    v = 0x10;
    expect(setsockopt(u, IPPROTO_IP, IP_TOS, &v, sizeof v) == 0 && int_option(u, IPPROTO_IP, IP_TOS) == 0x10,
           "IP_TOS");
    expect(int_option(u, IPPROTO_IP, IP_TTL) == 64, "IP_TTL default 64");
    char cc[16] = { 0 };
    socklen_t ccl = sizeof cc;
    expect(getsockopt(u, IPPROTO_TCP, TCP_CONGESTION, cc, &ccl) == 0 && cc[0], "TCP_CONGESTION");
    expect(setsockopt(u, IPPROTO_TCP, 9999, &v, sizeof v) < 0 && errno == ENOPROTOOPT, "unknown option: ENOPROTOOPT");
    struct pollfd up = { .fd = u, .events = POLLIN | POLLOUT };
    expect(poll(&up, 1, 0) == 1 && (up.revents & (POLLOUT | POLLHUP)) == (POLLOUT | POLLHUP),
           "poll of a fresh socket: POLLOUT|POLLHUP");

    // A refused connection: a port nobody listens on.
    int l = socket(AF_INET, SOCK_STREAM, 0);
    expect(l >= 0, "socket");
    expect(bind(l, (struct sockaddr*)&any, sizeof any) == 0, "bind 127.0.0.1:0");
    struct sockaddr_in la;
    socklen_t lal = sizeof la;
    expect(getsockname(l, (struct sockaddr*)&la, &lal) == 0 && la.sin_port != 0, "getsockname: ephemeral port");
    expect(connect(u, (struct sockaddr*)&la, sizeof la) < 0 && errno == ECONNREFUSED, "connect to no listener: ECONNREFUSED");
    expect(listen(l, 16) == 0, "listen");
    expect(int_option(l, SOL_SOCKET, SO_ACCEPTCONN) == 1, "SO_ACCEPTCONN");
    int lfl = fcntl(l, F_GETFL);
    expect(fcntl(l, F_SETFL, lfl | O_NONBLOCK) == 0, "fcntl");
    expect(accept(l, NULL, NULL) < 0 && errno == EAGAIN, "accept on an empty non-blocking listener: EAGAIN");

    // A non-blocking connect: EINPROGRESS, then EALREADY or done; POLLOUT and SO_ERROR 0.
    int a = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    expect(a >= 0, "socket");
    expect(connect(a, (struct sockaddr*)&la, sizeof la) < 0 && errno == EINPROGRESS, "non-blocking connect: EINPROGRESS");
    struct pollfd lp = { .fd = l, .events = POLLIN };
    expect(poll(&lp, 1, STALL_MS) == 1 && (lp.revents & POLLIN), "listener: POLLIN");
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    int b = accept4(l, (struct sockaddr*)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    expect(b >= 0, "accept4");
    expect(fl == sizeof from && from.sin_addr.s_addr == htonl(INADDR_LOOPBACK), "accept4: the peer's address");
    expect((fcntl(b, F_GETFL) & O_NONBLOCK) && (fcntl(b, F_GETFD) & FD_CLOEXEC), "accept4: the new socket's flags");
    struct pollfd ap = { .fd = a, .events = POLLOUT };
    expect(poll(&ap, 1, STALL_MS) == 1 && (ap.revents & POLLOUT), "connected: POLLOUT");
    expect(int_option(a, SOL_SOCKET, SO_ERROR) == 0, "SO_ERROR after connecting: 0");
    int r = connect(a, (struct sockaddr*)&la, sizeof la);
    expect(r == 0 || errno == EISCONN, "connect again: 0 or EISCONN");
    expect(connect(a, (struct sockaddr*)&la, sizeof la) < 0 && errno == EISCONN, "connect once more: EISCONN");
    struct sockaddr_in an, bp;
    socklen_t anl = sizeof an, bpl = sizeof bp;
    expect(getsockname(a, (struct sockaddr*)&an, &anl) == 0 && getpeername(b, (struct sockaddr*)&bp, &bpl) == 0,
           "getsockname/getpeername");
    expect(an.sin_port == bp.sin_port && an.sin_addr.s_addr == bp.sin_addr.s_addr && bp.sin_port == from.sin_port,
           "the two ends agree on the client's address");
    expect(int_option(a, IPPROTO_TCP, TCP_MAXSEG) > 0, "TCP_MAXSEG");

    // Peek, FIONREAD, MSG_WAITALL on a blocking read.
    expect(send(a, "hello", 5, 0) == 5, "send");
    struct pollfd bpoll = { .fd = b, .events = POLLIN };
    expect(poll(&bpoll, 1, STALL_MS) == 1, "data: POLLIN");
    int avail = 0;
    for (int i = 0; i < 1000 && avail < 5; i++) {
        expect(ioctl(b, FIONREAD, &avail) == 0, "FIONREAD");
        if (avail < 5)
            usleep(1000);
    }
    expect(avail == 5, "FIONREAD: 5");
    char got[8] = { 0 };
    expect(recv(b, got, sizeof got, MSG_PEEK) == 5 && !memcmp(got, "hello", 5), "MSG_PEEK");
    int bfl = fcntl(b, F_GETFL);
    expect(fcntl(b, F_SETFL, bfl & ~O_NONBLOCK) == 0, "fcntl");
    expect(recv(b, got, 5, MSG_WAITALL) == 5 && !memcmp(got, "hello", 5), "recv after peek");
    expect(recv(b, got, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN, "MSG_DONTWAIT: EAGAIN");
    struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
    expect(setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    expect(recv(b, got, 1, 0) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "SO_RCVTIMEO: EAGAIN");
    expect(fcntl(b, F_SETFL, bfl) == 0, "fcntl");

    pump(a, b, bytes);

    // Half close: the server reads end of stream, still writes; then the client sees it.
    expect(shutdown(a, SHUT_WR) == 0, "shutdown(SHUT_WR)");
    bpoll.events = POLLIN | POLLRDHUP;
    expect(poll(&bpoll, 1, STALL_MS) == 1 && (bpoll.revents & POLLRDHUP), "the peer's FIN: POLLRDHUP");
    expect(recv(b, got, 1, 0) == 0, "end of stream after the peer's shutdown");
    expect(send(a, "x", 1, MSG_NOSIGNAL) < 0 && errno == EPIPE && sigpipes == 0, "send after shutdown(SHUT_WR): EPIPE");
    expect(write(a, "x", 1) < 0 && errno == EPIPE && sigpipes == 1, "write after shutdown(SHUT_WR): EPIPE and SIGPIPE");
    expect(send(b, "bye", 3, 0) == 3, "send to a half-closed peer");
    ap.events = POLLIN;
    expect(poll(&ap, 1, STALL_MS) == 1, "POLLIN for the last bytes");
    expect(recv(a, got, sizeof got, 0) == 3, "the last bytes");
    close(b);
    expect(poll(&ap, 1, STALL_MS) == 1, "POLLIN for the end");
    expect(recv(a, got, sizeof got, 0) == 0, "end of stream");
    close(a);

    // SO_LINGER {1, 0}: close resets the connection; the peer reads ECONNRESET.
    int k = socket(AF_INET, SOCK_STREAM, 0);
    expect(k >= 0 && connect(k, (struct sockaddr*)&la, sizeof la) == 0, "blocking connect");
    expect(poll(&lp, 1, STALL_MS) == 1, "listener: POLLIN");
    int d = accept(l, NULL, NULL);
    expect(d >= 0, "accept");
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    expect(setsockopt(d, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0, "SO_LINGER");
    close(d);
    struct pollfd kp = { .fd = k, .events = POLLIN };
    expect(poll(&kp, 1, STALL_MS) == 1 && (kp.revents & (POLLHUP | POLLERR)), "reset: POLLHUP|POLLERR");
    expect(recv(k, got, 1, 0) < 0 && errno == ECONNRESET, "reset: ECONNRESET");
    close(k);

    // SO_LINGER {1, 1} on a blocking socket whose peer does not read (a small receive
    // buffer, full): the last close waits the second out for acknowledgements that cannot
    // come — then the connection finishes on its own and the peer still gets every byte.
    int m = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    expect(m >= 0 && setsockopt(m, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0, "SO_RCVBUF");
    expect(connect(m, (struct sockaddr*)&la, sizeof la) == 0, "blocking connect");
    expect(poll(&lp, 1, STALL_MS) == 1, "listener: POLLIN");
    int n = accept(l, NULL, NULL);
    expect(n >= 0, "accept");
    expect(fcntl(n, F_SETFL, fcntl(n, F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
    static char fill[4096];
    memset(fill, 'L', sizeof fill);
    size_t queued = 0;
    for (int i = 0; i < 4096; i++) {
        ssize_t w = send(n, fill, sizeof fill, MSG_NOSIGNAL);
        if (w < 0) {
            expect(errno == EAGAIN, "filling: EAGAIN");
            break;
        }
        queued += (size_t)w;
    }
    expect(fcntl(n, F_SETFL, fcntl(n, F_GETFL) & ~O_NONBLOCK) == 0, "blocking again");
    struct linger lw = { .l_onoff = 1, .l_linger = 1 };
    expect(setsockopt(n, SOL_SOCKET, SO_LINGER, &lw, sizeof lw) == 0, "SO_LINGER {1, 1}");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    close(n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    expect(waited >= 0.9 && waited < 5.0, "SO_LINGER with a timeout: close waits it out");
    size_t got_back = 0;
    for (;;) {
        static char sink[65536];
        ssize_t r = recv(m, sink, sizeof sink, 0);
        expect(r >= 0, "reading what the lingering socket sent");
        if (r == 0)
            break;
        got_back += (size_t)r;
    }
    expect(got_back == queued, "every byte after the lingering close, then end of stream");
    close(m);

    // A connection nobody accepted is reset when the listener closes.
    int e = socket(AF_INET, SOCK_STREAM, 0);
    expect(e >= 0 && connect(e, (struct sockaddr*)&la, sizeof la) == 0, "blocking connect");
    close(l);
    struct pollfd ep = { .fd = e, .events = POLLIN };
    expect(poll(&ep, 1, STALL_MS) == 1, "closed listener: the client hears");
    expect(recv(e, got, 1, 0) < 0 && errno == ECONNRESET, "closed listener: ECONNRESET");
    close(e);
    close(u);
    printf("tcp-loopback ok: %llu bytes each way\n", (unsigned long long)bytes);
    return 0;
}

static int udp_server(int port, int count)
{
    int fd = listener(port, SOCK_DGRAM);
    static uint8_t buf[65536];
    for (int i = 0; i < count; i++) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        wait_fd(fd, POLLIN);
        ssize_t r = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr*)&from, &fl);
        if (r < 0)
            die("recvfrom");
        if (sendto(fd, buf, (size_t)r, 0, (struct sockaddr*)&from, fl) != r)
            die("sendto");
    }
    printf("udp-server echoed %d datagrams\n", count);
    return 0;
}

static int udp_client(const char* host, int port, int count, int size)
{
    int fd = connect_to(host, port, SOCK_DGRAM);
    static uint8_t out[65536], in[65536];
    if (size < 4 || size > (int)sizeof out)
        fail("size must be 4..65536");
    int retries = 0;
    for (int i = 0; i < count; i++) {
        for (int k = 0; k < size; k++)
            out[k] = pattern((uint64_t)k, (unsigned)i);
        memcpy(out, &i, 4);
        for (int attempt = 0;; attempt++) {
            if (attempt == 6)
                fail("no answer after 6 tries");
            if (send(fd, out, (size_t)size, 0) != size)
                die("send");
            struct pollfd p = { .fd = fd, .events = POLLIN };
            if (poll(&p, 1, 1000) == 1) {
                ssize_t r = recv(fd, in, sizeof in, 0);
                if (r < 0)
                    die("recv");
                int seq;
                memcpy(&seq, in, 4);
                if (seq != i)
                    continue; // a late answer to an earlier try
                if (r != size || memcmp(in, out, (size_t)size) != 0)
                    fail("udp echo differs");
                break;
            }
            retries++;
        }
    }
    printf("udp-client ok: %d datagrams of %d bytes, %d retries\n", count, size, retries);
    return 0;
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "tcp-server"))
        return tcp_server(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 5 && !strcmp(argv[1], "tcp-client"))
        return tcp_client(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0), argc >= 6 ? atoi(argv[5]) : 1);
    if (argc >= 3 && !strcmp(argv[1], "tcp-sink"))
        return tcp_sink(atoi(argv[2]));
    if (argc >= 5 && !strcmp(argv[1], "tcp-source"))
        return tcp_source(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 0));
    if (argc >= 4 && !strcmp(argv[1], "hold"))
        return hold(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "tcp-loopback"))
        return tcp_loopback(strtoull(argv[2], NULL, 0));
    if (argc >= 4 && !strcmp(argv[1], "udp-server")) {
        if (argc >= 5) {
            FILE* f = fopen(argv[4], "r");
            if (!f)
                die(argv[4]);
            char line[256];
            while (fgets(line, sizeof line, f))
                printf("file: %s", line);
            fclose(f);
            fflush(stdout);
        }
        return udp_server(atoi(argv[2]), atoi(argv[3]));
    }
    if (argc >= 6 && !strcmp(argv[1], "udp-client"))
        return udp_client(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: see the comment at the top of tests/apps/net_echo.c\n");
    return 2;
}
