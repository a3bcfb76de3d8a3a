// Pipes, eventfd, poll and epoll: data through a pipe, non-blocking EAGAIN, end of file,
// EPIPE, poll timeouts and readiness, an eventfd counter, and epoll_wait woken by another
// thread's write. Then epoll over AF_UNIX sockets (stream and datagram pairs, a datagram
// sender whose receiver's queue drains, a listener, peer close, reset and shutdown), timerfds
// and signalfds: level-triggered, edge-triggered and one-shot interests, waits that only the
// file's own change can end (another thread's write, connect or close, a timer's expiry, a
// signal), and edge-triggered interests that fire once per change of their own file and not
// when some other file changes (what a file that does not notify its watchers would do), nor
// for a change of another kind (room to write for an interest in input alone).
// Runs unchanged on Linux (host_app_io). Prints "io: ok" and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
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

// ---- epoll over files that notify their watchers ------------------------------------------

static socklen_t abstract_address_of(struct sockaddr_un* a, const char* name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

// A change somewhere else: a pipe nobody watches is written and drained. An edge-triggered
// interest must not report again for it (a kernel that re-checks every interest on any change
// would).
static int unrelated[2];
static void change_elsewhere(void)
{
    char c;
    CHECK(write(unrelated[1], "u", 1) == 1);
    CHECK(read(unrelated[0], &c, 1) == 1);
}

// epoll_wait for at most `ms` with room for 4 events; the first event into *first.
static int wait_ep(int ep, int ms, struct epoll_event* first)
{
    struct epoll_event out[4];
    memset(out, 0, sizeof out);
    int n = epoll_wait(ep, out, 4, ms);
    if (first)
        *first = out[0];
    return n;
}

static int add(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = { .events = events, .data.u64 = data };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

static int mod(int ep, int fd, uint32_t events, uint64_t data)
{
    struct epoll_event e = { .events = events, .data.u64 = data };
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e);
}

// What another thread does after 30 ms.
enum { kDelayMs = 30 };
enum Action { kWrite, kClose, kConnect, kRecv, kDrain, kKill };
struct Later {
    enum Action action;
    int fd;
    const struct sockaddr_un* address;
    socklen_t length;
    int result;
};
static void* act_later(void* arg)
{
    struct Later* l = arg;
    usleep(kDelayMs * 1000);
    char buf[64];
    switch (l->action) {
    case kWrite: l->result = (int)write(l->fd, "late", 4); break;
    case kClose: l->result = close(l->fd); break;
    case kConnect: l->result = connect(l->fd, (const struct sockaddr*)l->address, l->length); break;
    case kRecv: l->result = (int)recv(l->fd, buf, sizeof buf, 0); break;
    case kDrain: // a non-blocking socket, to the last byte
        l->result = 0;
        for (ssize_t n; (n = read(l->fd, buf, sizeof buf)) > 0;)
            l->result += (int)n;
        break;
    case kKill: l->result = kill(getpid(), l->fd); break;
    }
    return NULL;
}

// Starts `l` on a thread, then waits on `ep` (up to 5 s): the wait must end with one event
// (into *ev) after the delay — only the other thread's action can end it.
static void wait_for_later(int ep, struct Later* l, struct epoll_event* ev, int line)
{
    pthread_t t;
    uint64_t start = now_ms();
    if (pthread_create(&t, NULL, act_later, l) != 0) {
        printf("io: FAIL line %d: pthread_create\n", line);
        ++failures;
        return;
    }
    int n = wait_ep(ep, 5000, ev);
    uint64_t elapsed = now_ms() - start;
    pthread_join(t, NULL);
    if (n != 1 || elapsed < kDelayMs - 5 || elapsed >= 4000 || l->result < 0) {
        printf("io: FAIL line %d: woken wait: %d events after %llu ms, action %d\n", line, n,
               (unsigned long long)elapsed, l->result);
        ++failures;
    }
}

// A connected pair (stream or datagram), watched by three instances: level-triggered,
// edge-triggered and one-shot.
static void unix_pair_epoll(int type)
{
    int s[2];
    char buf[256];
    struct epoll_event ev;
    CHECK(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, s) == 0);
    int lt = epoll_create1(0), et = epoll_create1(0), os = epoll_create1(0);
    CHECK(lt >= 0 && et >= 0 && os >= 0);
    CHECK(add(lt, s[0], EPOLLIN, 1) == 0);
    CHECK(add(et, s[0], EPOLLIN | EPOLLET, 2) == 0);
    CHECK(add(os, s[0], EPOLLIN | EPOLLONESHOT, 3) == 0);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0 && wait_ep(os, 0, NULL) == 0);

    // Only the other thread's write can end this wait.
    struct Later l = { .action = kWrite, .fd = s[1] };
    wait_for_later(et, &l, &ev, __LINE__);
    CHECK(ev.data.u64 == 2 && ev.events == EPOLLIN);
    CHECK(wait_ep(et, 0, NULL) == 0); // once per change
    change_elsewhere();
    CHECK(wait_ep(et, 0, NULL) == 0); // another file's change is not this one's
    CHECK(wait_ep(lt, 0, &ev) == 1 && ev.data.u64 == 1);
    CHECK(wait_ep(lt, 0, NULL) == 1); // level: reported while readable
    CHECK(wait_ep(os, 0, &ev) == 1 && ev.data.u64 == 3);
    CHECK(wait_ep(os, 0, NULL) == 0); // one-shot: silent until re-armed
    CHECK(write(s[1], "more", 4) == 4);
    CHECK(wait_ep(et, 0, &ev) == 1 && ev.data.u64 == 2); // more data: a new edge
    CHECK(wait_ep(et, 0, NULL) == 0);
    CHECK(wait_ep(os, 0, NULL) == 0);
    CHECK(mod(os, s[0], EPOLLIN | EPOLLONESHOT, 4) == 0);
    CHECK(wait_ep(os, 0, &ev) == 1 && ev.data.u64 == 4);
    CHECK(wait_ep(os, 0, NULL) == 0);
    if (type == SOCK_STREAM) {
        CHECK(read(s[0], buf, sizeof buf) == 8);
    } else {
        CHECK(read(s[0], buf, sizeof buf) == 4 && read(s[0], buf, sizeof buf) == 4);
    }
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0);

    // Writability, edge-triggered (how nginx watches sockets): reported once when added; for
    // a stream, again when the reader makes room after the writer filled the buffer.
    int wet = epoll_create1(0);
    CHECK(wet >= 0 && add(wet, s[1], EPOLLOUT | EPOLLET, 5) == 0);
    CHECK(wait_ep(wet, 0, &ev) == 1 && ev.events == EPOLLOUT);
    CHECK(wait_ep(wet, 0, NULL) == 0);
    if (type == SOCK_STREAM) {
        static char chunk[4096];
        size_t queued = 0;
        while (write(s[1], chunk, sizeof chunk) > 0)
            queued += sizeof chunk;
        CHECK(errno == EAGAIN && queued > 0);
        CHECK(wait_ep(wet, 0, NULL) == 0);
        CHECK(wait_ep(et, 0, &ev) == 1 && ev.data.u64 == 2);
        // Only the other thread's reads can end this wait.
        struct Later drain = { .action = kDrain, .fd = s[0] };
        wait_for_later(wet, &drain, &ev, __LINE__);
        CHECK(ev.data.u64 == 5 && ev.events == EPOLLOUT && drain.result == (int)queued);
        CHECK(read(s[0], chunk, sizeof chunk) == -1 && errno == EAGAIN);
    }
    CHECK(close(wet) == 0);

    // The peer shuts down its writing side: EPOLLRDHUP and EPOLLIN (end of file), no EPOLLHUP;
    // then this side's own shutdown of writing makes it EPOLLHUP too (a stream; a datagram
    // socket's shutdown is its own).
    int hup = epoll_create1(0);
    CHECK(hup >= 0 && add(hup, s[0], EPOLLIN | EPOLLRDHUP | EPOLLET, 6) == 0);
    CHECK(wait_ep(hup, 0, NULL) == 0);
    if (type == SOCK_STREAM) {
        CHECK(shutdown(s[1], SHUT_WR) == 0);
        CHECK(wait_ep(hup, 0, &ev) == 1 && ev.events == (EPOLLIN | EPOLLRDHUP));
        CHECK(wait_ep(hup, 0, NULL) == 0);
        CHECK(shutdown(s[0], SHUT_WR) == 0);
        CHECK(wait_ep(hup, 0, &ev) == 1 && ev.events == (EPOLLIN | EPOLLRDHUP | EPOLLHUP));
        CHECK(wait_ep(hup, 0, NULL) == 0);
        CHECK(read(s[0], buf, sizeof buf) == 0);
    } else {
        CHECK(shutdown(s[0], SHUT_RD) == 0);
        CHECK(wait_ep(hup, 0, &ev) == 1 && ev.events == (EPOLLIN | EPOLLRDHUP));
        CHECK(wait_ep(hup, 0, NULL) == 0);
    }
    CHECK(close(hup) == 0);
    CHECK(close(lt) == 0 && close(et) == 0 && close(os) == 0);
    CHECK(close(s[0]) == 0 && close(s[1]) == 0);

    if (type != SOCK_STREAM)
        return;
    // The peer closes (from another thread, during the wait): EPOLLIN | EPOLLRDHUP | EPOLLHUP.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
    int ep = epoll_create1(0);
    CHECK(ep >= 0 && add(ep, s[0], EPOLLIN | EPOLLRDHUP | EPOLLET, 7) == 0);
    CHECK(wait_ep(ep, 0, NULL) == 0);
    struct Later c = { .action = kClose, .fd = s[1] };
    wait_for_later(ep, &c, &ev, __LINE__);
    CHECK(ev.data.u64 == 7 && ev.events == (EPOLLIN | EPOLLRDHUP | EPOLLHUP));
    CHECK(wait_ep(ep, 0, NULL) == 0);
    CHECK(close(ep) == 0 && close(s[0]) == 0);
    // Closed with data unread: the peer's connection is reset (EPOLLERR, then ECONNRESET).
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
    ep = epoll_create1(0);
    CHECK(ep >= 0 && add(ep, s[0], EPOLLIN | EPOLLET, 8) == 0);
    CHECK(wait_ep(ep, 0, NULL) == 0);
    CHECK(write(s[0], "unread", 6) == 6);
    CHECK(wait_ep(ep, 0, NULL) == 0); // writing is not a change of readability
    CHECK(close(s[1]) == 0);
    CHECK(wait_ep(ep, 0, &ev) == 1 && ev.events == (EPOLLIN | EPOLLERR | EPOLLHUP));
    CHECK(read(s[0], buf, sizeof buf) == -1 && errno == ECONNRESET);
    CHECK(close(ep) == 0 && close(s[0]) == 0);
}

// A datagram sender connected to a receiver that is not connected back: its writability
// follows the receiver's queue, and a receive from a full queue makes it writable again.
static void unix_dgram_sender_epoll(void)
{
    struct sockaddr_un a;
    char name[64];
    snprintf(name, sizeof name, "nimbus-io-%d", (int)getpid());
    socklen_t len = abstract_address_of(&a, name);
    int r = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    CHECK(r >= 0 && s >= 0);
    CHECK(bind(r, (struct sockaddr*)&a, len) == 0);
    CHECK(connect(s, (struct sockaddr*)&a, len) == 0);
    int ep = epoll_create1(0), rep = epoll_create1(0);
    struct epoll_event ev;
    CHECK(ep >= 0 && add(ep, s, EPOLLOUT | EPOLLET, 1) == 0);
    CHECK(rep >= 0 && add(rep, r, EPOLLIN | EPOLLET, 2) == 0);
    CHECK(wait_ep(ep, 0, &ev) == 1 && ev.events == EPOLLOUT);
    CHECK(wait_ep(rep, 0, NULL) == 0);
    int sent = 0;
    while (send(s, "d", 1, 0) == 1)
        ++sent;
    CHECK(errno == EAGAIN && sent > 0);
    CHECK(wait_ep(rep, 0, &ev) == 1 && ev.data.u64 == 2);
    CHECK(wait_ep(rep, 0, NULL) == 0);
    CHECK(wait_ep(ep, 0, NULL) == 0);
    struct pollfd p = { .fd = s, .events = POLLOUT };
    CHECK(poll(&p, 1, 0) == 0); // the receiver's queue is full
    // Only the other thread's receive can end this wait.
    struct Later l = { .action = kRecv, .fd = r };
    wait_for_later(ep, &l, &ev, __LINE__);
    CHECK(ev.data.u64 == 1 && ev.events == EPOLLOUT);
    CHECK(send(s, "d", 1, 0) == 1);
    CHECK(close(ep) == 0 && close(rep) == 0 && close(s) == 0 && close(r) == 0);
}

// A listener: readable while a connection waits to be accepted.
static void unix_listener_epoll(void)
{
    struct sockaddr_un a;
    char name[64];
    snprintf(name, sizeof name, "nimbus-io-listen-%d", (int)getpid());
    socklen_t len = abstract_address_of(&a, name);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(l >= 0 && bind(l, (struct sockaddr*)&a, len) == 0 && listen(l, 8) == 0);
    int lt = epoll_create1(0), et = epoll_create1(0), os = epoll_create1(0);
    struct epoll_event ev;
    CHECK(lt >= 0 && et >= 0 && os >= 0);
    CHECK(add(lt, l, EPOLLIN | EPOLLOUT, 1) == 0);
    CHECK(add(et, l, EPOLLIN | EPOLLET, 2) == 0);
    CHECK(add(os, l, EPOLLIN | EPOLLONESHOT, 3) == 0);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0 && wait_ep(os, 0, NULL) == 0);
    int c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(c1 >= 0 && c2 >= 0);
    // The client: EPOLLHUP while it is not connected (as Linux says for an unconnected stream).
    int cep = epoll_create1(0);
    CHECK(cep >= 0 && add(cep, c1, EPOLLIN | EPOLLET, 4) == 0);
    CHECK(wait_ep(cep, 0, &ev) == 1 && ev.events == EPOLLHUP);
    struct Later later = { .action = kConnect, .fd = c1, .address = &a, .length = len };
    wait_for_later(et, &later, &ev, __LINE__);
    CHECK(ev.data.u64 == 2 && ev.events == EPOLLIN);
    CHECK(wait_ep(et, 0, NULL) == 0);
    change_elsewhere();
    CHECK(wait_ep(et, 0, NULL) == 0);
    CHECK(wait_ep(lt, 0, &ev) == 1 && ev.events == EPOLLIN && wait_ep(lt, 0, NULL) == 1);
    CHECK(wait_ep(os, 0, NULL) == 1 && wait_ep(os, 0, NULL) == 0);
    CHECK(connect(c2, (struct sockaddr*)&a, len) == 0);
    CHECK(wait_ep(et, 0, &ev) == 1 && ev.data.u64 == 2); // a second connection: a new edge
    CHECK(wait_ep(os, 0, NULL) == 0);
    int a1 = accept4(l, NULL, NULL, SOCK_NONBLOCK), a2 = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    CHECK(a1 >= 0 && a2 >= 0);
    CHECK(accept(l, NULL, NULL) == -1 && errno == EAGAIN);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0);
    // The accepted socket tells the client: data, then its close.
    CHECK(wait_ep(cep, 0, NULL) == 0);
    CHECK(write(a1, "hi", 2) == 2);
    CHECK(wait_ep(cep, 1000, &ev) == 1 && ev.data.u64 == 4 && ev.events == EPOLLIN);
    CHECK(close(a1) == 0);
    CHECK(wait_ep(cep, 1000, &ev) == 1 && (ev.events & EPOLLHUP));
    CHECK(close(cep) == 0 && close(a2) == 0 && close(c1) == 0 && close(c2) == 0);
    CHECK(close(lt) == 0 && close(et) == 0 && close(os) == 0 && close(l) == 0);
}

// A timerfd: its expiry ends the wait; edge-triggered once per expiry that was read.
static void timerfd_epoll(void)
{
    int t = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    int lt = epoll_create1(0), et = epoll_create1(0), os = epoll_create1(0);
    struct epoll_event ev;
    uint64_t n;
    CHECK(t >= 0 && lt >= 0 && et >= 0 && os >= 0);
    CHECK(add(lt, t, EPOLLIN, 1) == 0 && add(et, t, EPOLLIN | EPOLLET, 2) == 0 &&
          add(os, t, EPOLLIN | EPOLLONESHOT, 3) == 0);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0 && wait_ep(os, 0, NULL) == 0);
    struct itimerspec its = { .it_value = { 0, kDelayMs * 1000000L } };
    uint64_t start = now_ms();
    CHECK(timerfd_settime(t, 0, &its, NULL) == 0);
    // Only the expiry can end this wait.
    CHECK(wait_ep(et, 5000, &ev) == 1 && ev.data.u64 == 2 && ev.events == EPOLLIN);
    uint64_t elapsed = now_ms() - start;
    CHECK(elapsed >= kDelayMs - 1 && elapsed < 4000);
    CHECK(wait_ep(et, 0, NULL) == 0);
    change_elsewhere();
    CHECK(wait_ep(et, 0, NULL) == 0);
    CHECK(wait_ep(lt, 0, &ev) == 1 && ev.data.u64 == 1 && wait_ep(lt, 0, NULL) == 1);
    CHECK(wait_ep(os, 0, &ev) == 1 && ev.data.u64 == 3 && wait_ep(os, 0, NULL) == 0);
    CHECK(read(t, &n, sizeof n) == 8 && n == 1);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0);

    // Periodic, 20 ms: each expiry after a read is a new edge (the one-shot interest stays
    // silent until re-armed).
    its.it_value.tv_nsec = its.it_interval.tv_nsec = 20 * 1000000L;
    CHECK(timerfd_settime(t, 0, &its, NULL) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(wait_ep(et, 5000, &ev) == 1 && ev.data.u64 == 2);
        CHECK(wait_ep(et, 0, NULL) == 0);
        CHECK(read(t, &n, sizeof n) == 8 && n >= 1);
    }
    CHECK(wait_ep(os, 0, NULL) == 0);
    CHECK(mod(os, t, EPOLLIN | EPOLLONESHOT, 4) == 0);
    CHECK(wait_ep(os, 5000, &ev) == 1 && ev.data.u64 == 4);
    CHECK(wait_ep(os, 100, NULL) == 0);
    struct itimerspec off = { { 0, 0 }, { 0, 0 } };
    CHECK(timerfd_settime(t, 0, &off, NULL) == 0);
    CHECK(wait_ep(lt, 0, NULL) == 0); // settime reset the count
    CHECK(close(lt) == 0 && close(et) == 0 && close(os) == 0 && close(t) == 0);
}

// A signalfd: a signal in its mask, sent by another thread to the process, ends the wait.
static void signalfd_epoll(void)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0); // before the thread starts: it blocks them too
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    int sfd = signalfd(-1, &usr1, SFD_NONBLOCK);
    int lt = epoll_create1(0), et = epoll_create1(0), os = epoll_create1(0);
    struct epoll_event ev;
    struct signalfd_siginfo si;
    CHECK(sfd >= 0 && lt >= 0 && et >= 0 && os >= 0);
    CHECK(add(lt, sfd, EPOLLIN, 1) == 0 && add(et, sfd, EPOLLIN | EPOLLET, 2) == 0 &&
          add(os, sfd, EPOLLIN | EPOLLONESHOT, 3) == 0);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0 && wait_ep(os, 0, NULL) == 0);
    struct Later l = { .action = kKill, .fd = SIGUSR1 };
    wait_for_later(et, &l, &ev, __LINE__);
    CHECK(ev.data.u64 == 2 && ev.events == EPOLLIN);
    CHECK(wait_ep(et, 0, NULL) == 0);
    change_elsewhere();
    CHECK(wait_ep(et, 0, NULL) == 0);
    CHECK(wait_ep(lt, 0, &ev) == 1 && ev.data.u64 == 1 && wait_ep(lt, 0, NULL) == 1);
    CHECK(wait_ep(os, 0, &ev) == 1 && ev.data.u64 == 3 && wait_ep(os, 0, NULL) == 0);
    CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1);
    CHECK(wait_ep(lt, 0, NULL) == 0 && wait_ep(et, 0, NULL) == 0);
    // Each signal sent is a new edge; the one-shot interest waits for EPOLL_CTL_MOD.
    CHECK(raise(SIGUSR1) == 0);
    CHECK(wait_ep(et, 0, &ev) == 1 && ev.data.u64 == 2 && wait_ep(et, 0, NULL) == 0);
    CHECK(wait_ep(os, 0, NULL) == 0);
    CHECK(mod(os, sfd, EPOLLIN | EPOLLONESHOT, 4) == 0);
    CHECK(wait_ep(os, 0, &ev) == 1 && ev.data.u64 == 4);
    CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR1);
    // A new mask on the same descriptor: a signal already pending in it makes it readable.
    CHECK(raise(SIGUSR2) == 0);
    CHECK(wait_ep(lt, 0, NULL) == 0);
    CHECK(signalfd(sfd, &set, 0) == sfd);
    CHECK(wait_ep(et, 0, &ev) == 1 && ev.data.u64 == 2);
    CHECK(read(sfd, &si, sizeof si) == sizeof si && si.ssi_signo == SIGUSR2);
    CHECK(wait_ep(lt, 0, NULL) == 0);
    CHECK(close(lt) == 0 && close(et) == 0 && close(os) == 0 && close(sfd) == 0);
    CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
}

// ---- which kind of change wakes an interest ------------------------------------------------
// Linux wakes an epoll interest only for the kinds of readiness a change may add (its wake-up
// keys): room to write is no change for an interest in EPOLLIN alone, a read none for the
// reader's EPOLLIN, a write none for the writer's EPOLLOUT. The observable: an edge-triggered
// interest whose file stays ready reports again on a change of its kind and not on another —
// a kernel that queues every interest of a file on any change of it reports a second time.
// And none of that may lose a wake-up: each wait at the end ends only by the change it waits for.

// AF_UNIX stream: the peer consuming our bytes is an EPOLLOUT change.
static void change_kinds_unix(void)
{
    int s[2];
    char buf[64];
    struct epoll_event ev;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
    int in = epoll_create1(0), both = epoll_create1(0);
    CHECK(in >= 0 && both >= 0);
    CHECK(add(in, s[0], EPOLLIN | EPOLLET, 1) == 0 && add(both, s[0], EPOLLIN | EPOLLOUT | EPOLLET, 2) == 0);
    CHECK(wait_ep(in, 0, NULL) == 0);
    CHECK(wait_ep(both, 0, &ev) == 1 && ev.events == EPOLLOUT);
    CHECK(write(s[1], "abc", 3) == 3);
    CHECK(wait_ep(in, 0, &ev) == 1 && ev.events == EPOLLIN);
    CHECK(wait_ep(both, 0, &ev) == 1 && ev.events == (EPOLLIN | EPOLLOUT));
    CHECK(write(s[0], "x", 1) == 1); // our own sending: no change for us
    CHECK(wait_ep(in, 0, NULL) == 0 && wait_ep(both, 0, NULL) == 0);
    CHECK(read(s[1], buf, sizeof buf) == 1); // the peer takes it: room for us
    CHECK(wait_ep(in, 0, NULL) == 0);        // not a change for EPOLLIN alone (still unread)
    CHECK(wait_ep(both, 0, &ev) == 1 && ev.events == (EPOLLIN | EPOLLOUT));
    // Data arriving after that EPOLLOUT change still wakes the EPOLLIN-only waiter.
    struct Later l = { .action = kWrite, .fd = s[1] };
    wait_for_later(in, &l, &ev, __LINE__);
    CHECK(ev.data.u64 == 1 && ev.events == EPOLLIN);
    CHECK(close(in) == 0 && close(both) == 0 && close(s[0]) == 0 && close(s[1]) == 0);
}

// A pipe: a write is a change for the reader only, a read one for the writer only, and only
// when the pipe had been full (Linux); a full pipe's EPOLLOUT waiter and blocked writer go on
// when the reader drains it.
static void change_kinds_pipe(void)
{
    int p[2];
    char buf[4096];
    struct epoll_event ev;
    memset(buf, 'p', sizeof buf);
    CHECK(pipe2(p, O_NONBLOCK) == 0);
    int in = epoll_create1(0), out = epoll_create1(0);
    CHECK(in >= 0 && out >= 0);
    CHECK(add(in, p[0], EPOLLIN | EPOLLET, 1) == 0 && add(out, p[1], EPOLLOUT | EPOLLET, 2) == 0);
    CHECK(wait_ep(in, 0, NULL) == 0);
    CHECK(wait_ep(out, 0, &ev) == 1 && ev.events == EPOLLOUT);
    CHECK(write(p[1], "ab", 2) == 2);
    CHECK(wait_ep(in, 0, &ev) == 1 && ev.events == EPOLLIN);
    CHECK(wait_ep(out, 0, NULL) == 0); // writing adds nothing for the writer
    CHECK(read(p[0], buf, 1) == 1);
    CHECK(wait_ep(in, 0, NULL) == 0);  // reading adds nothing for the reader (one byte left)
    CHECK(wait_ep(out, 0, NULL) == 0); // nor room for a writer that had it
    CHECK(read(p[0], buf, 1) == 1);
    size_t queued = 0;
    for (ssize_t n; (n = write(p[1], buf, sizeof buf)) > 0;)
        queued += (size_t)n;
    CHECK(errno == EAGAIN && queued > 0);
    CHECK(wait_ep(in, 0, &ev) == 1 && ev.events == EPOLLIN);
    CHECK(wait_ep(out, 0, NULL) == 0);
    struct Later l = { .action = kDrain, .fd = p[0] };
    wait_for_later(out, &l, &ev, __LINE__);
    CHECK(ev.data.u64 == 2 && ev.events == EPOLLOUT);
    for (ssize_t n; (n = read(p[0], buf, sizeof buf)) > 0;)
        l.result += (int)n;
    CHECK(l.result == (int)queued);
    // A writer blocked on the full pipe finishes when another thread drains it.
    queued = 0;
    for (ssize_t n; (n = write(p[1], buf, sizeof buf)) > 0;)
        queued += (size_t)n;
    CHECK(fcntl(p[1], F_SETFL, 0) == 0);
    pthread_t t;
    struct Later d = { .action = kDrain, .fd = p[0] };
    CHECK(pthread_create(&t, NULL, act_later, &d) == 0);
    uint64_t start = now_ms();
    CHECK(write(p[1], "late", 4) == 4);
    CHECK(now_ms() - start >= kDelayMs - 5);
    pthread_join(t, NULL);
    CHECK(close(in) == 0 && close(out) == 0 && close(p[0]) == 0 && close(p[1]) == 0);
}

// An eventfd (semaphore mode, so a read leaves it readable): a write is an EPOLLIN change, a
// read an EPOLLOUT one.
static void change_kinds_eventfd(void)
{
    struct epoll_event ev;
    int e = eventfd(0, EFD_SEMAPHORE | EFD_NONBLOCK);
    int in = epoll_create1(0), out = epoll_create1(0);
    CHECK(e >= 0 && in >= 0 && out >= 0);
    CHECK(add(in, e, EPOLLIN | EPOLLET, 1) == 0 && add(out, e, EPOLLOUT | EPOLLET, 2) == 0);
    CHECK(wait_ep(in, 0, NULL) == 0);
    CHECK(wait_ep(out, 0, &ev) == 1 && ev.events == EPOLLOUT);
    uint64_t v = 2;
    CHECK(write(e, &v, 8) == 8);
    CHECK(wait_ep(in, 0, &ev) == 1 && ev.events == EPOLLIN);
    CHECK(wait_ep(out, 0, NULL) == 0);
    CHECK(read(e, &v, 8) == 8 && v == 1);
    CHECK(wait_ep(in, 0, NULL) == 0); // still readable, but a read is no EPOLLIN change
    CHECK(wait_ep(out, 0, &ev) == 1 && ev.events == EPOLLOUT);
    CHECK(close(in) == 0 && close(out) == 0 && close(e) == 0);
}

// TCP over 127.0.0.1: data arriving is no EPOLLOUT change; the peer reading (and
// acknowledging) our bytes is no EPOLLIN change, and data arriving after it still wakes an
// EPOLLIN-only waiter; a full send buffer drained by the peer wakes the EPOLLOUT waiter.
static void change_kinds_tcp(void)
{
    char buf[64];
    struct epoll_event ev;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0 && c >= 0);
    CHECK(bind(l, (struct sockaddr*)&a, len) == 0 && listen(l, 1) == 0);
    CHECK(getsockname(l, (struct sockaddr*)&a, &len) == 0);
    CHECK(connect(c, (struct sockaddr*)&a, len) == 0);
    int p = accept(l, NULL, NULL);
    CHECK(p >= 0);
    CHECK(fcntl(c, F_SETFL, O_NONBLOCK) == 0 && fcntl(p, F_SETFL, O_NONBLOCK) == 0);
    int in = epoll_create1(0), out = epoll_create1(0);
    CHECK(in >= 0 && add(in, c, EPOLLIN | EPOLLET, 1) == 0);
    CHECK(out >= 0 && add(out, c, EPOLLOUT | EPOLLET, 2) == 0);
    CHECK(wait_ep(in, 0, NULL) == 0);
    CHECK(wait_ep(out, 0, &ev) == 1 && ev.events == EPOLLOUT);
    CHECK(write(p, "abc", 3) == 3);
    CHECK(wait_ep(in, 1000, &ev) == 1 && ev.events == EPOLLIN);
    CHECK(wait_ep(out, 0, NULL) == 0); // data arriving: not an EPOLLOUT change
    CHECK(write(c, "x", 1) == 1);
    struct pollfd pp = { .fd = p, .events = POLLIN };
    CHECK(poll(&pp, 1, 1000) == 1 && read(p, buf, sizeof buf) == 1);
    CHECK(wait_ep(in, 100, NULL) == 0); // the acknowledgement and the room: no EPOLLIN change
    struct Later later = { .action = kWrite, .fd = p };
    wait_for_later(in, &later, &ev, __LINE__);
    CHECK(ev.data.u64 == 1 && ev.events == EPOLLIN);
    CHECK(wait_ep(out, 0, NULL) == 0);
    // A full send buffer that the peer drains: the EPOLLOUT waiter wakes, the EPOLLIN-only
    // one (its 7 bytes still unread) does not.
    static char chunk[65536];
    size_t queued = 0;
    for (ssize_t n; (n = write(c, chunk, sizeof chunk)) > 0;)
        queued += (size_t)n;
    CHECK(errno == EAGAIN && queued > 0);
    CHECK(wait_ep(out, 0, NULL) == 0);
    struct Later drain = { .action = kDrain, .fd = p };
    wait_for_later(out, &drain, &ev, __LINE__);
    CHECK(ev.data.u64 == 2 && (ev.events & EPOLLOUT));
    CHECK(wait_ep(in, 0, NULL) == 0);
    CHECK(read(c, buf, sizeof buf) == 7);
    CHECK(close(out) == 0 && close(in) == 0 && close(p) == 0 && close(c) == 0 && close(l) == 0);
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

    CHECK(pipe(unrelated) == 0);
    unix_pair_epoll(SOCK_STREAM);
    unix_pair_epoll(SOCK_DGRAM);
    unix_dgram_sender_epoll();
    unix_listener_epoll();
    timerfd_epoll();
    signalfd_epoll();
    change_kinds_unix();
    change_kinds_pipe();
    change_kinds_eventfd();
    change_kinds_tcp();

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
