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
//   net_echo udp-server PORT COUNT        echo COUNT datagrams
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
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
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
    if (argc >= 4 && !strcmp(argv[1], "udp-server"))
        return udp_server(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 6 && !strcmp(argv[1], "udp-client"))
        return udp_client(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: see the comment at the top of tests/apps/net_echo.c\n");
    return 2;
}
