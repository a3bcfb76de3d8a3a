/* netload: the network benchmark's own load programs (bench/net/README.md), one static binary
 * for the host and for both guests.
 *
 *   netload rr-server PORT
 *       Echo server for the request/response test, run in the guest: accepts one connection
 *       at a time and sends back every byte it reads (TCP_NODELAY), until killed.
 *   netload rr HOST PORT [-n COUNT] [-t MS] [-s BYTES]
 *       Request/response latency, run on the host: one connection, COUNT round trips of a
 *       BYTES-byte message (default 1: the 1-byte ping-pong), each waiting for the whole echo.
 *   netload memcache HOST PORT [-o set|get] [-n COUNT] [-t MS] [-P DEPTH] [-d BYTES] [-k KEYS]
 *       memcached's text protocol, run on the host: COUNT `set`s of BYTES-byte values to keys
 *       k0, k1, ... modulo KEYS (defaults 32 and 1,000), then COUNT `get`s of them (each must
 *       hit, with the value set), on one connection in batches of DEPTH pipelined requests
 *       (one write, then every reply read). `-o set` does the sets only, `-o get` the gets
 *       only, over keys 0..KEYS-1: a run of the sets must have stored them.
 *
 * Each test stops after COUNT operations or MS milliseconds (defaults 10,000 and 10,000),
 * whichever comes first; a few untimed operations come first. Results are one line per test
 * of integers, the `bench NAME key=value` format of the other benchmarks:
 *
 *   bench tcp_rr ops=N ops_per_s=N mean_ns=N p50_ns=N p99_ns=N min_ns=N total_ns=N
 *   bench mc_set_p16 ops=N ops_per_s=N mean_ns=N p50_ns=N p99_ns=N min_ns=N total_ns=N
 *
 * where the latencies are those of one round trip (rr) or of one batch (memcache: DEPTH
 * requests sent, DEPTH replies read). Every wait is bounded (10 s without progress): a stalled
 * peer makes the program fail with "netload: ..." and exit 1, as does any protocol error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    kStallMs = 10000,
    kWarmup = 16,
    kMaxDepth = 1024,
    kMaxMessage = 1 << 20,
};

struct options {
    const char* only; /* memcache: "set", "get" or NULL (both) */
    long count;
    long time_ms;
    long bytes;
    long depth;
    long keys;
};

static void die(const char* what)
{
    fprintf(stderr, "netload: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char* what)
{
    fprintf(stderr, "netload: %s\n", what);
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        die("TCP_NODELAY");
}

/* Waits until `fd` is ready for `events`; a peer silent for kStallMs is an error. */
static void wait_ready(int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    int n;
    do
        n = poll(&p, 1, kStallMs);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        die("poll");
    if (n == 0)
        fail("peer stalled (10 s without progress)");
}

static void send_all(int fd, const void* data, size_t len)
{
    const char* p = data;
    while (len > 0) {
        wait_ready(fd, POLLOUT);
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("send");
        p += n;
        len -= (size_t)n;
    }
}

/* Reads up to `len` bytes (at least one); fails on end of stream. */
static size_t recv_some(int fd, void* data, size_t len)
{
    for (;;) {
        wait_ready(fd, POLLIN);
        ssize_t n = recv(fd, data, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("recv");
        if (n == 0)
            fail("connection closed by the peer");
        return (size_t)n;
    }
}

static int connect_to(const char* host, const char* port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        fail("HOST must be an IPv4 address");
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr*)&a, sizeof a) < 0)
        die("connect");
    set_nodelay(fd);
    return fd;
}

static int cmp_u64(const void* a, const void* b)
{
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

/* Prints the result line of `name`: `n` samples (ns each, sorted here), `ops` operations in
 * `total_ns`. */
static void report(const char* name, uint64_t* samples, long n, long ops, uint64_t total_ns)
{
    if (n == 0)
        fail("no operation finished in time");
    qsort(samples, (size_t)n, sizeof *samples, cmp_u64);
    uint64_t sum = 0;
    for (long i = 0; i < n; i++)
        sum += samples[i];
    /* Nearest-rank percentiles: the smallest sample with at least p% at or below it. */
    long p50 = (n * 50 + 99) / 100 - 1, p99 = (n * 99 + 99) / 100 - 1;
    printf("bench %s ops=%ld ops_per_s=%llu mean_ns=%llu p50_ns=%llu p99_ns=%llu min_ns=%llu total_ns=%llu\n",
           name, ops, (unsigned long long)(total_ns ? (uint64_t)ops * 1000000000u / total_ns : 0),
           (unsigned long long)(sum / (uint64_t)n), (unsigned long long)samples[p50],
           (unsigned long long)samples[p99], (unsigned long long)samples[0], (unsigned long long)total_ns);
    fflush(stdout);
}

static void rr_server(const char* port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("SO_REUSEADDR");
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)),
                             .sin_addr = { htonl(INADDR_ANY) } };
    if (bind(fd, (struct sockaddr*)&a, sizeof a) < 0)
        die("bind");
    if (listen(fd, 16) < 0)
        die("listen");
    printf("netload: rr-server listening %s\n", port);
    fflush(stdout);
    static char buf[1 << 16];
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        set_nodelay(c);
        /* Blocking echo: a client that goes away ends the connection, not the server. */
        for (;;) {
            ssize_t n = recv(c, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            ssize_t off = 0;
            while (off < n) {
                ssize_t w = send(c, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
                if (w < 0 && errno == EINTR)
                    continue;
                if (w < 0)
                    break;
                off += w;
            }
            if (off < n)
                break;
        }
        close(c);
    }
}

static void rr_client(const char* host, const char* port, const struct options* o)
{
    if (o->bytes < 1 || o->bytes > kMaxMessage)
        fail("-s must be 1..1048576");
    int fd = connect_to(host, port);
    char* out = malloc((size_t)o->bytes);
    char* in = malloc((size_t)o->bytes);
    uint64_t* samples = malloc(sizeof *samples * (size_t)o->count);
    if (!out || !in || !samples)
        fail("out of memory");
    for (long i = 0; i < o->bytes; i++)
        out[i] = (char)('a' + i % 26);
    long done = 0;
    uint64_t deadline = 0, start = 0;
    for (long i = -kWarmup; i < o->count; i++) {
        if (i == 0) {
            start = now_ns();
            deadline = start + (uint64_t)o->time_ms * 1000000u;
        }
        uint64_t t0 = now_ns();
        if (i >= 0 && t0 >= deadline)
            break;
        send_all(fd, out, (size_t)o->bytes);
        for (long got = 0; got < o->bytes;)
            got += (long)recv_some(fd, in + got, (size_t)(o->bytes - got));
        if (memcmp(in, out, (size_t)o->bytes) != 0)
            fail("echo differs from the request");
        if (i >= 0)
            samples[done++] = now_ns() - t0;
    }
    uint64_t total = now_ns() - start;
    char name[32];
    snprintf(name, sizeof name, o->bytes == 1 ? "tcp_rr" : "tcp_rr_%ld", o->bytes);
    report(name, samples, done, done, total);
    close(fd);
}

/* A buffered reader of memcached's replies. */
struct reader {
    int fd;
    char buf[1 << 16];
    size_t start, end;
};

/* The next reply line without its "\r\n", in `line` (NUL-terminated, at most `cap`-1 bytes). */
static void read_line(struct reader* r, char* line, size_t cap)
{
    for (;;) {
        char* nl = memchr(r->buf + r->start, '\n', r->end - r->start);
        if (nl) {
            size_t len = (size_t)(nl - (r->buf + r->start));
            if (len == 0 || nl[-1] != '\r' || len - 1 >= cap)
                fail("malformed or overlong reply line");
            memcpy(line, r->buf + r->start, len - 1);
            line[len - 1] = 0;
            r->start += len + 1;
            return;
        }
        if (r->start > 0) {
            memmove(r->buf, r->buf + r->start, r->end - r->start);
            r->end -= r->start;
            r->start = 0;
        }
        if (r->end == sizeof r->buf)
            fail("reply line longer than the buffer");
        r->end += recv_some(r->fd, r->buf + r->end, sizeof r->buf - r->end);
    }
}

/* Reads exactly `len` bytes of a value (and its "\r\n") into `out`. */
static void read_block(struct reader* r, char* out, size_t len)
{
    size_t want = len + 2, got = 0;
    while (got < want) {
        if (r->start == r->end) {
            r->start = r->end = 0;
            r->end = recv_some(r->fd, r->buf, sizeof r->buf);
        }
        size_t n = r->end - r->start < want - got ? r->end - r->start : want - got;
        for (size_t i = 0; i < n; i++, got++)
            if (got < len)
                out[got] = r->buf[r->start + i];
            else if (r->buf[r->start + i] != (got == len ? '\r' : '\n'))
                fail("value not followed by \\r\\n");
        r->start += n;
    }
}

/* The value stored under key number `k` (checked by the gets). */
static void fill_value(char* v, long bytes, long k)
{
    for (long i = 0; i < bytes; i++)
        v[i] = (char)('A' + (i + k) % 26);
}

/* One test (the sets or the gets) in batches of o->depth requests for keys next_key,
 * next_key+1, ... modulo o->keys; returns how many requests it sent, warm-up included. */
static long memcache_test(struct reader* r, int is_get, const struct options* o, long* next_key)
{
    size_t req_cap = (size_t)o->depth * (size_t)(64 + o->bytes);
    char* req = malloc(req_cap);
    char* value = malloc((size_t)o->bytes);
    char* got = malloc((size_t)o->bytes);
    long batches = (o->count + o->depth - 1) / o->depth;
    uint64_t* samples = malloc(sizeof *samples * (size_t)batches);
    if (!req || !value || !got || !samples)
        fail("out of memory");
    long warmup = kWarmup / o->depth + 1, done = 0, ops = 0, sent = 0;
    uint64_t start = 0, deadline = 0;
    for (long b = -warmup; b < batches; b++) {
        if (b == 0) {
            start = now_ns();
            deadline = start + (uint64_t)o->time_ms * 1000000u;
        }
        uint64_t t0 = now_ns();
        if (b >= 0 && t0 >= deadline)
            break;
        size_t len = 0;
        long first = *next_key;
        for (long i = 0; i < o->depth; i++) {
            long k = (first + i) % o->keys;
            if (is_get) {
                len += (size_t)snprintf(req + len, req_cap - len, "get k%ld\r\n", k);
            } else {
                len += (size_t)snprintf(req + len, req_cap - len, "set k%ld 0 0 %ld\r\n", k, o->bytes);
                fill_value(req + len, o->bytes, k);
                len += (size_t)o->bytes;
                memcpy(req + len, "\r\n", 2);
                len += 2;
            }
        }
        *next_key = (first + o->depth) % o->keys;
        sent += o->depth;
        send_all(r->fd, req, len);
        char line[256];
        for (long i = 0; i < o->depth; i++) {
            long k = (first + i) % o->keys;
            read_line(r, line, sizeof line);
            if (!is_get) {
                if (strcmp(line, "STORED") != 0)
                    fail("set: reply is not STORED");
                continue;
            }
            char key[64];
            long flags, bytes;
            if (sscanf(line, "VALUE %63s %ld %ld", key, &flags, &bytes) != 3)
                fail("get: a miss or an unexpected reply (the sets must come first)");
            if (bytes != o->bytes)
                fail("get: value of the wrong size");
            read_block(r, got, (size_t)bytes);
            fill_value(value, o->bytes, k);
            if (memcmp(got, value, (size_t)bytes) != 0)
                fail("get: value differs from the one set");
            read_line(r, line, sizeof line);
            if (strcmp(line, "END") != 0)
                fail("get: reply does not end with END");
        }
        if (b >= 0) {
            samples[done++] = now_ns() - t0;
            ops += o->depth;
        }
    }
    uint64_t total = now_ns() - start;
    char name[32];
    snprintf(name, sizeof name, "mc_%s_p%ld", is_get ? "get" : "set", o->depth);
    report(name, samples, done, ops, total);
    free(req);
    free(value);
    free(got);
    free(samples);
    return sent;
}

static void memcache_client(const char* host, const char* port, const struct options* o)
{
    if (o->depth < 1 || o->depth > kMaxDepth)
        fail("-P must be 1..1024");
    if (o->bytes < 1 || o->bytes > 100000)
        fail("-d must be 1..100000");
    if (o->keys < 1)
        fail("-k must be positive");
    static struct reader r;
    r.fd = connect_to(host, port);
    long next_key = 0;
    if (o->only && strcmp(o->only, "get") == 0) {
        memcache_test(&r, 1, o, &next_key);
        close(r.fd);
        return;
    }
    long sets = memcache_test(&r, 0, o, &next_key);
    if (o->only) {
        close(r.fd);
        return;
    }
    /* The gets ask only for keys that have been set: 0 .. min(sets, KEYS)-1 (the sets started
     * at 0 and may have been stopped by the time limit before covering KEYS). */
    struct options get = *o;
    get.keys = sets < o->keys ? sets : o->keys;
    next_key = 0;
    memcache_test(&r, 1, &get, &next_key);
    close(r.fd);
}

static long number(const char* s)
{
    char* end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0)
        fail("option values must be non-negative integers");
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: netload rr-server PORT\n"
                    "       netload rr HOST PORT [-n COUNT] [-t MS] [-s BYTES]\n"
                    "       netload memcache HOST PORT [-o set|get] [-n COUNT] [-t MS] [-P DEPTH] [-d BYTES]\n"
                    "                        [-k KEYS]\n");
    exit(2);
}

int main(int argc, char** argv)
{
    if (argc < 3)
        usage();
    if (strcmp(argv[1], "rr-server") == 0) {
        if (argc != 3)
            usage();
        rr_server(argv[2]);
    }
    if (argc < 4)
        usage();
    /* Message size: 1 byte for rr (the ping-pong), 32-byte values for memcache. */
    struct options o = { .count = 10000, .time_ms = 10000, .bytes = strcmp(argv[1], "rr") == 0 ? 1 : 32,
                         .depth = 1, .keys = 1000 };
    for (int i = 4; i < argc; i += 2) {
        if (i + 1 >= argc || argv[i][0] != '-' || strlen(argv[i]) != 2)
            usage();
        if (argv[i][1] == 'o') {
            if (strcmp(argv[i + 1], "set") != 0 && strcmp(argv[i + 1], "get") != 0)
                usage();
            o.only = argv[i + 1];
            continue;
        }
        long v = number(argv[i + 1]);
        switch (argv[i][1]) {
        case 'n': o.count = v; break;
        case 't': o.time_ms = v; break;
        case 's': o.bytes = v; break;
        case 'P': o.depth = v; break;
        case 'd': o.bytes = v; break;
        case 'k': o.keys = v; break;
        default: usage();
        }
    }
    if (o.count < 1)
        fail("-n must be positive");
    if (strcmp(argv[1], "rr") == 0)
        rr_client(argv[2], argv[3], &o);
    else if (strcmp(argv[1], "memcache") == 0)
        memcache_client(argv[2], argv[3], &o);
    else
        usage();
    return 0;
}
