// Pipes, eventfd, poll and epoll: data through a pipe, non-blocking EAGAIN, end of file,
// EPIPE, poll timeouts and readiness, an eventfd counter, and epoll_wait woken by another
// thread's write. Prints "io: ok" and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            printf("io: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                              \
        }                                                                            \
    } while (0)

static int late_fd;
static void* write_later(void* arg)
{
    (void)arg;
    usleep(20 * 1000);
    CHECK(write(late_fd, "late", 4) == 4);
    return NULL;
}

int main(void)
{
    int p[2];
    char buf[256];
    CHECK(pipe2(p, O_CLOEXEC) == 0);
    CHECK(write(p[1], "hello", 5) == 5);
    CHECK(read(p[0], buf, sizeof buf) == 5 && memcmp(buf, "hello", 5) == 0);

    // Non-blocking: EAGAIN on an empty pipe; poll times out, then sees data.
    CHECK(fcntl(p[0], F_SETFL, O_NONBLOCK) == 0);
    CHECK(read(p[0], buf, sizeof buf) == -1 && errno == EAGAIN);
    struct pollfd pfd = { .fd = p[0], .events = POLLIN };
    CHECK(poll(&pfd, 1, 10) == 0);
    CHECK(write(p[1], "x", 1) == 1);
    CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN));
    CHECK(read(p[0], buf, 1) == 1);

    // select: readable once there is data; times out otherwise.
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = { 0, 10000 };
    CHECK(select(p[0] + 1, &rs, NULL, NULL, &tv) == 0 && !FD_ISSET(p[0], &rs));
    CHECK(write(p[1], "y", 1) == 1);
    FD_SET(p[0], &rs);
    fd_set ws;
    FD_ZERO(&ws);
    FD_SET(p[1], &ws);
    tv.tv_sec = 1;
    CHECK(select(p[1] + 1, &rs, &ws, NULL, &tv) == 2 && FD_ISSET(p[0], &rs) && FD_ISSET(p[1], &ws));
    CHECK(read(p[0], buf, 1) == 1);

    // eventfd: counts, and reads reset it.
    int efd = eventfd(0, EFD_NONBLOCK);
    CHECK(efd >= 0);
    uint64_t v = 3;
    CHECK(write(efd, &v, 8) == 8 && write(efd, &v, 8) == 8);
    CHECK(read(efd, &v, 8) == 8 && v == 6);
    CHECK(read(efd, &v, 8) == -1 && errno == EAGAIN);

    // epoll: nothing ready, then a write from another thread wakes epoll_wait.
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
    ev.data.u64 = 7;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0);
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == -1 && errno == EEXIST);
    struct epoll_event out[4];
    CHECK(epoll_wait(ep, out, 4, 0) == 0);
    late_fd = p[1];
    pthread_t t;
    CHECK(pthread_create(&t, NULL, write_later, NULL) == 0);
    int n = epoll_wait(ep, out, 4, 5000);
    CHECK(n == 1 && out[0].data.u64 == 42 && (out[0].events & EPOLLIN));
    pthread_join(t, NULL);
    CHECK(read(p[0], buf, sizeof buf) == 4);
    v = 1;
    CHECK(write(efd, &v, 8) == 8);
    CHECK(epoll_wait(ep, out, 4, 1000) == 1 && out[0].data.u64 == 7);
    CHECK(epoll_ctl(ep, EPOLL_CTL_DEL, efd, NULL) == 0);
    CHECK(epoll_wait(ep, out, 4, 0) == 0);

    // Level- and edge-triggered interests on one pipe; one-shot; a small maxevents.
    int q[2];
    CHECK(pipe(q) == 0);
    int lt = epoll_create1(0), et = epoll_create1(0);
    CHECK(lt >= 0 && et >= 0);
    struct epoll_event e1 = { .events = EPOLLIN, .data.u64 = 1 };
    struct epoll_event e2 = { .events = EPOLLIN | EPOLLET, .data.u64 = 2 };
    CHECK(epoll_ctl(lt, EPOLL_CTL_ADD, q[0], &e1) == 0);
    CHECK(epoll_ctl(et, EPOLL_CTL_ADD, q[0], &e2) == 0);
    CHECK(epoll_wait(et, out, 4, 0) == 0);
    CHECK(write(q[1], "ab", 2) == 2);
    CHECK(epoll_wait(lt, out, 4, 0) == 1 && out[0].data.u64 == 1);
    CHECK(epoll_wait(lt, out, 4, 0) == 1); // level: still readable, so reported again
    CHECK(epoll_wait(et, out, 4, 0) == 1 && out[0].data.u64 == 2);
    CHECK(epoll_wait(et, out, 4, 0) == 0); // edge: once per change
    CHECK(write(q[1], "c", 1) == 1);       // more data is a new edge
    CHECK(epoll_wait(et, out, 4, 100) == 1);
    CHECK(epoll_wait(et, out, 4, 0) == 0);
    CHECK(read(q[0], buf, sizeof buf) == 3);
    CHECK(epoll_wait(lt, out, 4, 0) == 0);
    CHECK(epoll_wait(et, out, 4, 0) == 0);
    // EPOLLOUT|EPOLLET on a writable end (how nginx registers sockets): once, not every time.
    struct epoll_event e3 = { .events = EPOLLOUT | EPOLLET, .data.u64 = 3 };
    CHECK(epoll_ctl(et, EPOLL_CTL_ADD, q[1], &e3) == 0);
    CHECK(epoll_wait(et, out, 4, 0) == 1 && out[0].data.u64 == 3 && (out[0].events & EPOLLOUT));
    CHECK(epoll_wait(et, out, 4, 0) == 0);
    CHECK(epoll_ctl(et, EPOLL_CTL_DEL, q[1], NULL) == 0);
    // One-shot: one report, then silence until EPOLL_CTL_MOD re-arms it.
    struct epoll_event e4 = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 4 };
    CHECK(epoll_ctl(lt, EPOLL_CTL_MOD, q[0], &e4) == 0);
    CHECK(write(q[1], "d", 1) == 1);
    CHECK(epoll_wait(lt, out, 4, 0) == 1 && out[0].data.u64 == 4);
    CHECK(epoll_wait(lt, out, 4, 0) == 0);
    CHECK(epoll_ctl(lt, EPOLL_CTL_MOD, q[0], &e4) == 0);
    CHECK(epoll_wait(lt, out, 4, 0) == 1);
    // Three ready eventfds, maxevents 2: two now, the third next time, none lost.
    CHECK(epoll_ctl(et, EPOLL_CTL_DEL, q[0], NULL) == 0);
    int ev3[3];
    for (int i = 0; i < 3; i++) {
        ev3[i] = eventfd(1, EFD_NONBLOCK);
        struct epoll_event e = { .events = EPOLLIN | EPOLLET, .data.u64 = 10 + i };
        CHECK(ev3[i] >= 0 && epoll_ctl(et, EPOLL_CTL_ADD, ev3[i], &e) == 0);
    }
    uint64_t seen = 0;
    n = epoll_wait(et, out, 2, 0);
    CHECK(n == 2);
    for (int i = 0; i < n; i++)
        seen |= 1ull << out[i].data.u64;
    n = epoll_wait(et, out, 2, 0);
    CHECK(n == 1);
    seen |= 1ull << out[0].data.u64;
    CHECK(seen == (7ull << 10));
    CHECK(epoll_wait(et, out, 4, 0) == 0);
    for (int i = 0; i < 3; i++)
        close(ev3[i]);
    close(lt);
    close(et);
    close(q[0]);
    close(q[1]);

    // End of file once the writer is gone; EPIPE once the reader is.
    CHECK(close(p[1]) == 0);
    CHECK(read(p[0], buf, sizeof buf) == 0);
    CHECK(pipe(p) == 0);
    signal(SIGPIPE, SIG_IGN);
    CHECK(close(p[0]) == 0);
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE);

    if (failures)
        return 1;
    printf("io: ok\n");
    return 0;
}
