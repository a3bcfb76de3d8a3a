// stdin_check: reads standard input to its end and prints its length and FNV-1a hash, for the
// console input tests (tests/integration: stdin relayed by the runner must arrive byte-exact).
//   stdin_check         just the length and hash
//   stdin_check pipe    first checks that descriptor 0 is a FIFO and not a terminal while
//                       descriptor 1 is one, and that a read into a bad buffer fails with
//                       EFAULT without losing input (needs non-empty input); then reads
//                       non-blocking and waits with edge-triggered epoll (a lost
//                       notification hangs it)
//   stdin_check tty     on a terminal: poll, epoll and O_NONBLOCK with no input, raw mode
//                       (VMIN=1, with edge- and level-triggered epoll, then VMIN=0 with and
//                       without VTIME), then a canonical line; prints "raw: ready" and
//                       "canonical: ready" when it wants a byte and a line
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("FAIL line %d: %s (%s)\n", __LINE__, #cond, strerror(errno));                  \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int add_interest(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = { .events = events, .data.u64 = data };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

// One event from `ep` within `ms` (-1: no limit) into *got; how many there were.
static int wait_one(int ep, int ms, struct epoll_event* got)
{
    int n;
    do
        n = epoll_wait(ep, got, 1, ms);
    while (n < 0 && errno == EINTR);
    return n;
}

// A change of some other file: an edge-triggered interest in the terminal must not report
// again because of it (it would if the terminal were only re-checked on every change).
static void change_elsewhere(void)
{
    int p[2];
    if (pipe(p) == 0) {
        (void)!write(p[1], "x", 1);
        close(p[0]);
        close(p[1]);
    }
}

static int terminal_checks(void)
{
    int failures = 0;
    struct termios cooked, raw;
    char buf[64];
    CHECK(tcgetattr(0, &cooked) == 0);
    CHECK((cooked.c_lflag & ICANON) && (cooked.c_lflag & ECHO) && (cooked.c_iflag & ICRNL));
    struct pollfd p = { 0, POLLIN, 0 };
    CHECK(poll(&p, 1, 0) == 0); // nothing typed: not readable
    int flags = fcntl(0, F_GETFL);
    CHECK(fcntl(0, F_SETFL, flags | O_NONBLOCK) == 0);
    errno = 0;
    CHECK(read(0, buf, sizeof(buf)) == -1 && errno == EAGAIN);
    CHECK(fcntl(0, F_SETFL, flags) == 0);

    raw = cooked;
    raw.c_lflag &= ~(ICANON | ECHO | ISIG);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    CHECK(tcsetattr(0, TCSAFLUSH, &raw) == 0);
    // epoll on the terminal: input edge- and level-triggered, output (the same terminal on
    // descriptor 1) always writable.
    int et = epoll_create1(0), lt = epoll_create1(0), out = epoll_create1(0);
    struct epoll_event got;
    CHECK(et >= 0 && lt >= 0 && out >= 0);
    CHECK(add_interest(et, 0, EPOLLIN | EPOLLET, 1) == 0 && add_interest(lt, 0, EPOLLIN, 2) == 0);
    CHECK(add_interest(out, 1, EPOLLOUT | EPOLLET, 3) == 0);
    CHECK(wait_one(et, 0, &got) == 0 && wait_one(lt, 0, &got) == 0); // nothing typed
    CHECK(wait_one(out, 0, &got) == 1 && got.data.u64 == 3 && got.events == EPOLLOUT);
    CHECK(wait_one(out, 0, &got) == 0); // edge-triggered: reported once
    printf("raw: ready\n");
    fflush(stdout);
    CHECK(wait_one(et, -1, &got) == 1 && got.data.u64 == 1 && (got.events & EPOLLIN));
    change_elsewhere();
    CHECK(wait_one(et, 0, &got) == 0); // one report per arrival
    CHECK(wait_one(lt, 0, &got) == 1 && got.data.u64 == 2 && (got.events & EPOLLIN));
    CHECK(wait_one(lt, 0, &got) == 1); // level-triggered: while readable
    ssize_t n = read(0, buf, sizeof(buf)); // Ctrl-C arrives as a byte: ISIG is off
    CHECK(n >= 1);
    printf("raw: got %02x\n", n >= 1 ? (unsigned char)buf[0] : 0u);
    CHECK(wait_one(lt, 0, &got) == 0 && wait_one(et, 0, &got) == 0); // read: not readable
    raw.c_cc[VMIN] = 0;
    CHECK(tcsetattr(0, TCSANOW, &raw) == 0);
    CHECK(read(0, buf, sizeof(buf)) == 0); // VMIN 0, VTIME 0: at once, nothing
    raw.c_cc[VTIME] = 2;
    CHECK(tcsetattr(0, TCSANOW, &raw) == 0);
    double start = now_ms();
    CHECK(read(0, buf, sizeof(buf)) == 0); // VTIME 2: 0.2 s, then nothing
    double waited = now_ms() - start;
    CHECK(waited >= 150 && waited < 5000);

    CHECK(tcsetattr(0, TCSANOW, &cooked) == 0);
    printf("canonical: ready\n");
    fflush(stdout);
    CHECK(poll(&p, 1, -1) == 1 && (p.revents & POLLIN)); // a whole line
    // The line's arrival was an edge (a byte that did not end the line was none).
    CHECK(wait_one(et, 0, &got) == 1 && got.data.u64 == 1 && (got.events & EPOLLIN));
    change_elsewhere();
    CHECK(wait_one(et, 0, &got) == 0);
    n = read(0, buf, sizeof(buf) - 1);
    CHECK(n == 3 && memcmp(buf, "hi\n", 3) == 0);
    CHECK(wait_one(lt, 0, &got) == 0);
    close(et);
    close(lt);
    close(out);
    printf("tty: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}

int main(int argc, char** argv)
{
    int failures = 0;
    if (argc > 1 && strcmp(argv[1], "tty") == 0)
        return terminal_checks();
    int ep = -1; // pipe mode: edge-triggered epoll on descriptor 0, read non-blocking
    if (argc > 1 && strcmp(argv[1], "pipe") == 0) {
        struct termios t;
        struct stat st;
        errno = 0;
        int tty0 = tcgetattr(0, &t);
        int tty_errno = errno;
        if (fstat(0, &st) != 0 || !S_ISFIFO(st.st_mode)) {
            printf("FAIL: fd 0 is not a FIFO\n");
            failures++;
        }
        if (tty0 == 0 || tty_errno != ENOTTY) {
            printf("FAIL: fd 0 is a terminal (tcgetattr %d, %s)\n", tty0, strerror(tty_errno));
            failures++;
        }
        if (!isatty(1)) {
            printf("FAIL: fd 1 is not a terminal\n");
            failures++;
        }
        void* volatile bad_buffer = (void*)16; // (volatile: the compiler must not see it)
        ssize_t bad = read(0, bad_buffer, 64);
        if (bad != -1 || errno != EFAULT) {
            printf("FAIL: read into a bad buffer gave %zd (%s)\n", bad, strerror(errno));
            failures++;
        }
        printf("fd0: fifo, not a tty; fd1: tty; bad buffer: EFAULT\n");
        ep = epoll_create1(0);
        if (ep < 0 || add_interest(ep, 0, EPOLLIN | EPOLLET, 0) != 0 ||
            fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK) != 0) {
            printf("FAIL: epoll on fd 0: %s\n", strerror(errno));
            failures++;
            ep = -1;
        }
    }
    uint32_t hash = 2166136261u;
    size_t total = 0;
    static unsigned char buf[65536];
    for (;;) {
        if (ep < 0) {
            struct pollfd p = { 0, POLLIN, 0 };
            if (poll(&p, 1, -1) != 1 || !(p.revents & (POLLIN | POLLHUP))) {
                printf("FAIL: poll gave revents %#x\n", p.revents);
                failures++;
            }
        }
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && ep >= 0) {
                // Drained: the next arrival (or the end) is an edge.
                struct epoll_event e;
                if (wait_one(ep, -1, &e) != 1 || !(e.events & (EPOLLIN | EPOLLHUP))) {
                    printf("FAIL: epoll_wait gave events %#x\n", e.events);
                    failures++;
                }
                continue;
            }
            printf("FAIL: read: %s\n", strerror(errno));
            return 1;
        }
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; ++i) {
            hash ^= buf[i];
            hash *= 16777619u;
        }
        total += (size_t)n;
    }
    if (read(0, buf, sizeof(buf)) != 0) {
        printf("FAIL: a read after end of file did not return 0\n");
        failures++;
    }
    printf("stdin: %zu bytes fnv1a %08x\n", total, hash);
    return failures ? 1 : 0;
}
