// AF_UNIX sockets as Linux programs use them: stream, datagram and seqpacket socketpairs,
// path, abstract and automatic names, listen/accept/connect (blocking and not, the backlog),
// EOF, EPIPE and SIGPIPE, shutdown, MSG_PEEK/DONTWAIT/WAITALL/TRUNC/NOSIGNAL, bounded
// buffers, the socket options, SCM_RIGHTS and SCM_CREDENTIALS, sendmmsg/recvmmsg, poll,
// select and epoll readiness, threads blocked in accept/recv/send/connect woken by another
// thread, signals (EINTR, SA_RESTART) and SO_RCVTIMEO, and the error cases. Runs unchanged
// on Linux (the reference) and on Nimbus. Prints "unix_sockets: ok" and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("unix_sockets: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

static char dir[64];
// An address nothing is mapped at (volatile: the compiler must not reason about it).
static volatile uintptr_t bad_address = 8;
#define BAD ((void*)bad_address)

static socklen_t path_address(struct sockaddr_un* a, const char* name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static socklen_t abstract_address(struct sockaddr_un* a, const char* name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static long elapsed_ms(const struct timespec* since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static void sleep_ms(int ms) { usleep(ms * 1000); }

// ---- threads that wake each other ------------------------------------------------------------

struct peer_job {
    int fd;
    int delay_ms;
    const char* data;
    size_t size;
    struct sockaddr_un address;
    socklen_t address_length;
    long result;
    int error;
};

static void* send_later(void* arg)
{
    struct peer_job* j = arg;
    sleep_ms(j->delay_ms);
    j->result = send(j->fd, j->data, j->size, 0);
    j->error = errno;
    return NULL;
}

static void* connect_later(void* arg)
{
    struct peer_job* j = arg;
    sleep_ms(j->delay_ms);
    j->result = connect(j->fd, (struct sockaddr*)&j->address, j->address_length);
    j->error = errno;
    return NULL;
}

static void* accept_now(void* arg)
{
    struct peer_job* j = arg;
    j->result = accept(j->fd, NULL, NULL);
    j->error = errno;
    return NULL;
}

static void* recv_now(void* arg)
{
    struct peer_job* j = arg;
    char buf[64];
    j->result = recv(j->fd, buf, sizeof buf, 0);
    j->error = errno;
    return NULL;
}

static void* drain_later(void* arg)
{
    struct peer_job* j = arg;
    sleep_ms(j->delay_ms);
    char buf[65536];
    long total = 0;
    while (total < (long)j->size) {
        long n = recv(j->fd, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        total += n;
    }
    j->result = total;
    return NULL;
}

static void* close_later(void* arg)
{
    struct peer_job* j = arg;
    sleep_ms(j->delay_ms);
    close(j->fd);
    return NULL;
}

static volatile sig_atomic_t sigpipes, sigusr1s;
static void on_sigpipe(int sig) { (void)sig; ++sigpipes; }
static void on_sigusr1(int sig) { (void)sig; ++sigusr1s; }

// Sends SIGUSR1 to `target` every delay_ms until told to stop: the target is then sure to be
// hit while it waits, however late it gets there.
struct signal_job {
    pthread_t target;
    int delay_ms;
    volatile int stop;
};

static void* signal_later(void* arg)
{
    struct signal_job* j = arg;
    while (!j->stop) {
        sleep_ms(j->delay_ms);
        if (!j->stop)
            pthread_kill(j->target, SIGUSR1);
    }
    return NULL;
}

static void start_signals(struct signal_job* j, pthread_t* t)
{
    j->stop = 0;
    CHECK(pthread_create(t, NULL, signal_later, j) == 0);
}

static void stop_signals(struct signal_job* j, pthread_t t)
{
    j->stop = 1;
    pthread_join(t, NULL);
}

// ---- the parts ----------------------------------------------------------------------------------

static void stream_pair(void)
{
    int sv[2];
    char buf[256];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct stat st;
    CHECK(fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode));

    // read/write, send/recv, readv/writev: bytes in order, no boundaries.
    CHECK(write(sv[0], "hello", 5) == 5);
    CHECK(send(sv[0], " world", 6, 0) == 6);
    int avail = -1;
    CHECK(ioctl(sv[1], FIONREAD, &avail) == 0 && avail == 11);
    CHECK(recv(sv[1], buf, 3, MSG_PEEK) == 3 && memcmp(buf, "hel", 3) == 0);
    CHECK(read(sv[1], buf, sizeof buf) == 11 && memcmp(buf, "hello world", 11) == 0);
    struct iovec out[2] = { { "ab", 2 }, { "cde", 3 } };
    CHECK(writev(sv[1], out, 2) == 5);
    char a[2], b[8];
    struct iovec in[2] = { { a, 2 }, { b, sizeof b } };
    CHECK(readv(sv[0], in, 2) == 5 && memcmp(a, "ab", 2) == 0 && memcmp(b, "cde", 3) == 0);
    // Many segments (more than the kernel keeps on its stack), the IOV_MAX limit, and a
    // segment outside the process: readv/writev and sendmsg/recvmsg alike.
    {
        enum { kMany = 40 };
        static struct iovec many[1025];
        static char bytes[kMany];
        for (int i = 0; i < kMany; i++) {
            bytes[i] = (char)('A' + i % 26);
            many[i].iov_base = &bytes[i];
            many[i].iov_len = 1;
        }
        CHECK(writev(sv[1], many, kMany) == kMany);
        char back[kMany];
        for (int i = 0; i < kMany; i++)
            many[i].iov_base = &back[kMany - 1 - i]; // reversed
        CHECK(readv(sv[0], many, kMany) == kMany);
        for (int i = 0; i < kMany; i++)
            CHECK(back[kMany - 1 - i] == bytes[i]);
        for (int i = 0; i < 1025; i++) {
            many[i].iov_base = bytes;
            many[i].iov_len = 1;
        }
        CHECK(writev(sv[1], many, 1025) == -1 && errno == EINVAL);
        volatile int negative = -1; // (a constant -1 is a compile-time error)
        CHECK(writev(sv[1], many, negative) == -1 && errno == EINVAL);
        CHECK(writev(sv[1], many, 0) == 0);
        struct msghdr mh = { 0 };
        mh.msg_iov = many;
        mh.msg_iovlen = 1025;
        CHECK(sendmsg(sv[1], &mh, 0) == -1 && errno == EMSGSIZE);
        mh.msg_iovlen = 20;
        CHECK(sendmsg(sv[1], &mh, 0) == 20);
        CHECK(recv(sv[0], back, sizeof back, 0) == 20 && memcmp(back, "AAAAAAAAAAAAAAAAAAAA", 20) == 0);
        many[kMany / 2].iov_base = (void*)0xffffffff80000000ul; // the kernel's half
        CHECK(writev(sv[1], many, kMany) == -1 && errno == EFAULT);
        CHECK(recv(sv[0], back, sizeof back, MSG_DONTWAIT) == -1 && errno == EAGAIN); // nothing came through
    }

    // Non-blocking: MSG_DONTWAIT, FIONBIO, SOCK_NONBLOCK.
    CHECK(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT) == -1 && errno == EAGAIN);
    int on = 1;
    CHECK(ioctl(sv[0], FIONBIO, &on) == 0);
    CHECK(read(sv[0], buf, sizeof buf) == -1 && errno == EAGAIN);
    CHECK((fcntl(sv[0], F_GETFL) & O_NONBLOCK) != 0);

    // MSG_WAITALL: the whole count, sent in two pieces by another thread.
    on = 0;
    CHECK(ioctl(sv[0], FIONBIO, &on) == 0);
    CHECK(send(sv[1], "12345", 5, 0) == 5);
    struct peer_job j = { .fd = sv[1], .delay_ms = 30, .data = "67890", .size = 5 };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, send_later, &j) == 0);
    CHECK(recv(sv[0], buf, 10, MSG_WAITALL) == 10 && memcmp(buf, "1234567890", 10) == 0);
    pthread_join(t, NULL);

    // A thread blocked in recv is woken by a send.
    struct peer_job r = { .fd = sv[0] };
    CHECK(pthread_create(&t, NULL, recv_now, &r) == 0);
    sleep_ms(30);
    CHECK(send(sv[1], "wake", 4, 0) == 4);
    pthread_join(t, NULL);
    CHECK(r.result == 4);

    // Shutdown: SHUT_WR is end of file for the peer and EPIPE for us; it is mirrored.
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 0);
    CHECK(send(sv[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
    CHECK(send(sv[1], "back", 4, 0) == 4); // the other direction still works
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 4);
    CHECK(shutdown(sv[0], SHUT_RD) == 0);
    CHECK(send(sv[1], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
    CHECK(shutdown(sv[0], 7) == -1 && errno == EINVAL);
    close(sv[0]);
    close(sv[1]);

    // The peer closes: data first, then end of file; writing is EPIPE and SIGPIPE.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK((fcntl(sv[0], F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(send(sv[1], "last", 4, 0) == 4);
    close(sv[1]);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 4);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 0);
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    CHECK(send(sv[0], "x", 1, 0) == -1 && errno == EPIPE);
    CHECK(sigpipes == 1);
    CHECK(write(sv[0], "x", 1) == -1 && errno == EPIPE);
    CHECK(sigpipes == 2);
    CHECK(send(sv[0], "x", 1, MSG_NOSIGNAL) == -1 && errno == EPIPE);
    CHECK(sigpipes == 2);
    signal(SIGPIPE, SIG_DFL);
    close(sv[0]);

    // Closing with unread data resets the peer's connection.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(send(sv[0], "unread", 6, 0) == 6);
    close(sv[1]);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == -1 && errno == ECONNRESET);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 0);
    close(sv[0]);
}

static void buffers_and_options(void)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    int v = 0;
    socklen_t len = sizeof v;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && len == sizeof v && v == 212992);
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, &len) == 0 && v == SOCK_STREAM);
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_DOMAIN, &v, &len) == 0 && v == AF_UNIX);
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_ERROR, &v, &len) == 0 && v == 0);
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v == 0);
    struct ucred cred;
    len = sizeof cred;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred);
    CHECK(cred.pid == getpid() && cred.uid == geteuid() && cred.gid == getegid());
    v = 1;
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof v) == 0);
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, sizeof v) == 0);
    len = sizeof v;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &v, &len) == 0 && v == 1);
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, 2) == -1 && errno == EINVAL);
    CHECK(setsockopt(sv[0], SOL_SOCKET, 9999, &v, sizeof v) == -1 && errno == ENOPROTOOPT);
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &v, (socklen_t*)BAD) == -1 && errno == EFAULT);
    v = 1;
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &v, sizeof v) == 0);

    // A bounded buffer: a non-blocking writer fills it, then EAGAIN; no POLLOUT until the
    // reader drains it.
    v = 16384;
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0);
    len = sizeof v;
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v == 32768);
    v = -1; // as unsigned: the largest allowed, doubled
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &v, sizeof v) == 0);
    len = sizeof v;
    long wmem_max = 212992; // net.core.wmem_max, unless the host tuned it
    FILE* f = fopen("/proc/sys/net/core/wmem_max", "r");
    if (f) {
        if (fscanf(f, "%ld", &wmem_max) != 1)
            wmem_max = 212992;
        fclose(f);
    }
    CHECK(getsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &v, &len) == 0 && v == 2 * wmem_max);
    v = 1;
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &v, sizeof v) == 0);
    CHECK(getsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &v, &len) == 0 && v == 2304);
    static char block[100000];
    long total = 0;
    for (int i = 0; i < 1000; ++i) {
        long n = send(sv[0], block, 1000, 0);
        if (n < 0) {
            CHECK(errno == EAGAIN);
            break;
        }
        total += n;
    }
    CHECK(total >= 8000 && total <= 65536);
    if (total < 8000 || total > 65536)
        printf("unix_sockets: filled %ld bytes\n", total);
    struct pollfd p = { .fd = sv[0], .events = POLLOUT };
    CHECK(poll(&p, 1, 0) == 0);
    char sink[65536];
    long drained = 0;
    while (drained < total) {
        long n = recv(sv[1], sink, sizeof sink, 0);
        if (n <= 0)
            break;
        drained += n;
    }
    CHECK(drained == total);
    CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLOUT));

    // A blocking writer of 1 MiB waits for the reader (another thread) to make room.
    int flags = fcntl(sv[0], F_GETFL);
    CHECK(fcntl(sv[0], F_SETFL, flags & ~O_NONBLOCK) == 0);
    CHECK(fcntl(sv[1], F_SETFL, flags & ~O_NONBLOCK) == 0);
    static char big[1 << 20];
    for (size_t i = 0; i < sizeof big; ++i)
        big[i] = (char)(i * 7);
    struct peer_job j = { .fd = sv[1], .delay_ms = 20, .size = sizeof big };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, drain_later, &j) == 0);
    CHECK(send(sv[0], big, sizeof big, 0) == (long)sizeof big);
    pthread_join(t, NULL);
    CHECK(j.result == (long)sizeof big);
    close(sv[0]);
    close(sv[1]);

    // SO_RCVTIMEO: a receive gives up with EAGAIN.
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    struct timeval tv = { 0, 50000 };
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    struct timeval got;
    len = sizeof got;
    // (Linux keeps it in jiffies: a little more may come back.)
    CHECK(getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &got, &len) == 0 && got.tv_sec == 0);
    CHECK(got.tv_usec >= 50000 && got.tv_usec < 60000);
    tv.tv_usec = 2000000;
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 && errno == EDOM);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    char c;
    CHECK(recv(sv[0], &c, 1, 0) == -1 && errno == EAGAIN);
    CHECK(elapsed_ms(&start) >= 40);
    // SO_SNDTIMEO: a writer facing a full buffer gives up with EAGAIN (after a partial count).
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ 0, 50000 }, sizeof(struct timeval)) == 0);
    clock_gettime(CLOCK_MONOTONIC, &start);
    long sent = 0, n;
    while ((n = send(sv[0], big, sizeof big, 0)) > 0)
        sent += n;
    CHECK(n == -1 && errno == EAGAIN && sent > 0 && sent < (long)sizeof big);
    CHECK(elapsed_ms(&start) >= 40);
    // Draining it makes the writer's epoll report EPOLLOUT again.
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = 5 }, out;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    CHECK(epoll_wait(ep, &out, 1, 0) == 0);
    drained = 0;
    while (drained < sent) {
        n = recv(sv[1], big, sizeof big, 0);
        if (n <= 0)
            break;
        drained += n;
    }
    CHECK(drained == sent);
    CHECK(epoll_wait(ep, &out, 1, 1000) == 1 && out.events == EPOLLOUT && out.data.u32 == 5);
    close(ep);
    close(sv[0]);
    close(sv[1]);
}

static void datagrams(void)
{
    int sv[2];
    char buf[256];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    // Boundaries are kept; a short buffer truncates (MSG_TRUNC says so, and as a recv flag
    // returns the real length); empty datagrams exist.
    CHECK(send(sv[0], "one", 3, 0) == 3);
    CHECK(send(sv[0], "three", 5, 0) == 5);
    CHECK(send(sv[0], "", 0, 0) == 0);
    CHECK(send(sv[0], "truncated", 9, 0) == 9);
    CHECK(send(sv[0], "longer", 6, 0) == 6);
    int avail = -1;
    CHECK(ioctl(sv[1], FIONREAD, &avail) == 0 && avail == 3);
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 3);
    CHECK(recv(sv[1], buf, sizeof buf, MSG_PEEK) == 5);
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 5 && memcmp(buf, "three", 5) == 0);
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 0);
    struct iovec iov = { buf, 4 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    CHECK(recvmsg(sv[1], &m, 0) == 4 && (m.msg_flags & MSG_TRUNC) && memcmp(buf, "trun", 4) == 0);
    CHECK(recv(sv[1], buf, 2, MSG_TRUNC) == 6);
    CHECK(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) == -1 && errno == EAGAIN);

    // sendmmsg / recvmmsg.
    struct mmsghdr mm[3];
    struct iovec iovs[3] = { { "a", 1 }, { "bb", 2 }, { "ccc", 3 } };
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 3; ++i) {
        mm[i].msg_hdr.msg_iov = &iovs[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    CHECK(sendmmsg(sv[0], mm, 3, 0) == 3 && mm[2].msg_len == 3);
    char r[3][8];
    struct iovec riov[3] = { { r[0], 8 }, { r[1], 8 }, { r[2], 8 } };
    memset(mm, 0, sizeof mm);
    for (int i = 0; i < 3; ++i) {
        mm[i].msg_hdr.msg_iov = &riov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
    }
    CHECK(recvmmsg(sv[1], mm, 3, MSG_WAITFORONE, NULL) == 3);
    CHECK(mm[0].msg_len == 1 && mm[1].msg_len == 2 && mm[2].msg_len == 3 && memcmp(r[2], "ccc", 3) == 0);
    CHECK(recvmmsg(sv[1], mm, 3, MSG_DONTWAIT, NULL) == -1 && errno == EAGAIN);

    // The peer closes: sending is ECONNREFUSED, then ENOTCONN; receiving just finds nothing.
    close(sv[1]);
    CHECK(send(sv[0], "x", 1, 0) == -1 && errno == ECONNREFUSED);
    CHECK(send(sv[0], "x", 1, 0) == -1 && errno == ENOTCONN);
    CHECK(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT) == -1 && errno == EAGAIN);
    close(sv[0]);
    // Shut down: EPIPE (datagram sockets never raise SIGPIPE).
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    CHECK(shutdown(sv[1], SHUT_RD) == 0);
    CHECK(send(sv[0], "x", 1, 0) == -1 && errno == EPIPE);
    CHECK(shutdown(sv[0], SHUT_WR) == 0);
    CHECK(send(sv[0], "x", 1, 0) == -1 && errno == EPIPE);
    CHECK(sigpipes == 0);
    signal(SIGPIPE, SIG_DFL);
    close(sv[0]);
    close(sv[1]);

    // Unconnected sockets with names: sendto a path, recvfrom tells who sent (nothing for
    // an unnamed sender).
    int server = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(server >= 0);
    struct sockaddr_un sa, from;
    socklen_t sl = path_address(&sa, "dgram"), fl;
    CHECK(bind(server, (struct sockaddr*)&sa, sl) == 0);
    int client = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(send(client, "x", 1, 0) == -1 && errno == ENOTCONN);
    CHECK(sendto(client, "anon", 4, 0, (struct sockaddr*)&sa, sl) == 4);
    fl = sizeof from;
    CHECK(recvfrom(server, buf, sizeof buf, 0, (struct sockaddr*)&from, &fl) == 4 && fl == 0);
    struct sockaddr_un ca;
    socklen_t cl = path_address(&ca, "dgram-client");
    CHECK(bind(client, (struct sockaddr*)&ca, cl) == 0);
    CHECK(sendto(client, "named", 5, 0, (struct sockaddr*)&sa, sl) == 5);
    fl = sizeof from;
    CHECK(recvfrom(server, buf, sizeof buf, 0, (struct sockaddr*)&from, &fl) == 5);
    CHECK(fl == cl && strcmp(from.sun_path, ca.sun_path) == 0);
    // Connected: a default destination; the server replies to the address it saw.
    CHECK(connect(client, (struct sockaddr*)&sa, sl) == 0);
    CHECK(send(client, "conn", 4, 0) == 4);
    fl = sizeof from;
    CHECK(recvfrom(server, buf, sizeof buf, 0, (struct sockaddr*)&from, &fl) == 4);
    CHECK(sendto(server, "reply", 5, 0, (struct sockaddr*)&from, fl) == 5);
    CHECK(recv(client, buf, sizeof buf, 0) == 5 && memcmp(buf, "reply", 5) == 0);
    struct sockaddr_un missing;
    socklen_t ml = path_address(&missing, "no-such-socket");
    CHECK(sendto(server, "x", 1, 0, (struct sockaddr*)&missing, ml) == -1 && errno == ENOENT);
    // A datagram socket connected to another only takes datagrams from that one.
    int third = socket(AF_UNIX, SOCK_RAW, 0); // SOCK_RAW is SOCK_DGRAM for AF_UNIX
    int v = 0;
    socklen_t vl = sizeof v;
    CHECK(getsockopt(third, SOL_SOCKET, SO_TYPE, &v, &vl) == 0 && v == SOCK_DGRAM);
    struct sockaddr_un ta;
    socklen_t tl = path_address(&ta, "dgram-third");
    CHECK(bind(third, (struct sockaddr*)&ta, tl) == 0);
    CHECK(connect(third, (struct sockaddr*)&ca, cl) == -1 && errno == EPERM); // client talks to server
    CHECK(connect(third, (struct sockaddr*)&sa, sl) == 0);
    CHECK(sendto(client, "x", 1, 0, (struct sockaddr*)&ta, tl) == -1 && errno == EPERM);
    CHECK(sendto(server, "y", 1, 0, (struct sockaddr*)&ta, tl) == 1);
    CHECK(recv(third, buf, sizeof buf, 0) == 1 && buf[0] == 'y');
    close(third);
    unlink(ta.sun_path);
    // A stream socket cannot talk to a datagram one.
    int stream = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(stream, (struct sockaddr*)&sa, sl) == -1 && (errno == EPROTOTYPE || errno == ECONNREFUSED));
    close(stream);
    close(client);
    close(server);
    unlink(sa.sun_path);
    unlink(ca.sun_path);
}

static void seqpacket(void)
{
    int sv[2];
    char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0);
    CHECK(send(sv[0], "first", 5, 0) == 5);
    CHECK(send(sv[0], "second", 6, 0) == 6);
    struct iovec iov = { buf, 3 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    CHECK(recvmsg(sv[1], &m, 0) == 3 && (m.msg_flags & MSG_TRUNC)); // the rest is gone
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 6 && memcmp(buf, "second", 6) == 0);
    close(sv[0]);
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 0);
    signal(SIGPIPE, on_sigpipe);
    sigpipes = 0;
    CHECK(send(sv[1], "x", 1, 0) == -1 && errno == EPIPE);
    CHECK(sigpipes == 0); // no SIGPIPE for seqpacket, as on Linux
    signal(SIGPIPE, SIG_DFL);
    close(sv[1]);

    // A listening seqpacket socket and its connections.
    int listener = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    struct sockaddr_un sa;
    socklen_t sl = abstract_address(&sa, "nimbus-seqpacket");
    CHECK(bind(listener, (struct sockaddr*)&sa, sl) == 0 && listen(listener, 4) == 0);
    int client = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    CHECK(connect(client, (struct sockaddr*)&sa, sl) == 0);
    int server = accept(listener, NULL, NULL);
    CHECK(server >= 0);
    CHECK(send(client, "msg", 3, 0) == 3 && recv(server, buf, sizeof buf, 0) == 3);
    close(client);
    close(server);
    close(listener);
}

static void names_and_connections(void)
{
    struct sockaddr_un sa, got;
    socklen_t sl = path_address(&sa, "stream"), gl;
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(listener >= 0);

    // Unnamed: only the family.
    gl = sizeof got;
    CHECK(getsockname(listener, (struct sockaddr*)&got, &gl) == 0 && gl == sizeof(sa_family_t));
    CHECK(getpeername(listener, (struct sockaddr*)&got, &gl) == -1 && errno == ENOTCONN);
    CHECK(listen(listener, 1) == -1 && errno == EINVAL); // not bound

    // A path name makes a socket node; the name cannot be bound twice.
    CHECK(bind(listener, (struct sockaddr*)&sa, sl) == 0);
    struct stat st;
    CHECK(stat(sa.sun_path, &st) == 0 && S_ISSOCK(st.st_mode));
    gl = sizeof got;
    CHECK(getsockname(listener, (struct sockaddr*)&got, &gl) == 0 && gl == sl);
    CHECK(strcmp(got.sun_path, sa.sun_path) == 0);
    struct sockaddr_un sa2;
    socklen_t sl2 = path_address(&sa2, "stream2");
    CHECK(bind(listener, (struct sockaddr*)&sa2, sl2) == -1 && errno == EINVAL); // already bound
    CHECK(stat(sa2.sun_path, &st) == -1 && errno == ENOENT);
    int other = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(other, (struct sockaddr*)&sa, sl) == -1 && errno == EADDRINUSE);

    // Connecting: to nothing, to a socket not listening, to a file that is not a socket.
    struct sockaddr_un missing;
    socklen_t ml = path_address(&missing, "missing");
    CHECK(connect(other, (struct sockaddr*)&missing, ml) == -1 && errno == ENOENT);
    CHECK(connect(other, (struct sockaddr*)&sa, sl) == -1 && errno == ECONNREFUSED);
    struct sockaddr_un file;
    socklen_t fl = path_address(&file, "plain-file");
    int fd = open(file.sun_path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    CHECK(connect(other, (struct sockaddr*)&file, fl) == -1 && errno == ECONNREFUSED);
    unlink(file.sun_path);

    // Listening; the client is connected before the server accepts.
    CHECK(listen(listener, 2) == 0);
    int v = 0;
    socklen_t vl = sizeof v;
    CHECK(getsockopt(listener, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl) == 0 && v == 1);
    struct pollfd p = { .fd = listener, .events = POLLIN };
    CHECK(poll(&p, 1, 0) == 0);
    CHECK(connect(other, (struct sockaddr*)&sa, sl) == 0);
    CHECK(connect(other, (struct sockaddr*)&sa, sl) == -1 && errno == EISCONN);
    CHECK(send(other, "early", 5, 0) == 5);
    CHECK(poll(&p, 1, 1000) == 1 && (p.revents & POLLIN));
    struct sockaddr_un peer;
    socklen_t pl = sizeof peer;
    int server = accept4(listener, (struct sockaddr*)&peer, &pl, SOCK_CLOEXEC);
    CHECK(server >= 0 && pl == sizeof(sa_family_t));
    CHECK((fcntl(server, F_GETFD) & FD_CLOEXEC) != 0);
    char buf[64];
    CHECK(recv(server, buf, sizeof buf, 0) == 5 && memcmp(buf, "early", 5) == 0);
    gl = sizeof got;
    CHECK(getsockname(server, (struct sockaddr*)&got, &gl) == 0 && gl == sl && strcmp(got.sun_path, sa.sun_path) == 0);
    gl = sizeof got;
    CHECK(getpeername(other, (struct sockaddr*)&got, &gl) == 0 && gl == sl && strcmp(got.sun_path, sa.sun_path) == 0);
    gl = 4; // a short buffer: truncated, the real length reported
    CHECK(getpeername(other, (struct sockaddr*)&got, &gl) == 0 && gl == sl);
    gl = sizeof got;
    CHECK(getpeername(server, (struct sockaddr*)&got, &gl) == 0 && gl == sizeof(sa_family_t));
    struct ucred cred;
    socklen_t cl = sizeof cred;
    CHECK(getsockopt(server, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid == getpid());
    CHECK(getsockopt(other, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid == getpid());
    close(server);
    close(other);

    // The backlog: non-blocking connects beyond it are EAGAIN.
    int pending[8], accepted_count = 0, refused = 0;
    for (int i = 0; i < 8; ++i) {
        pending[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(pending[i], (struct sockaddr*)&sa, sl) == -1) {
            CHECK(errno == EAGAIN);
            ++refused;
        }
    }
    CHECK(refused > 0 && refused < 8);
    // A blocking connect waits for room, made by an accept in another thread... here: this
    // thread accepts after a delay while a second thread connects.
    int blocked = socket(AF_UNIX, SOCK_STREAM, 0);
    struct peer_job cj = { .fd = blocked, .delay_ms = 0, .address = sa, .address_length = sl };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, connect_later, &cj) == 0);
    sleep_ms(30);
    int listener_flags = fcntl(listener, F_GETFL);
    CHECK(fcntl(listener, F_SETFL, listener_flags | O_NONBLOCK) == 0);
    for (;;) {
        int s = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
        if (s < 0) {
            CHECK(errno == EAGAIN);
            break;
        }
        CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
        ++accepted_count;
        close(s);
        if (accepted_count > 16)
            break;
    }
    CHECK(fcntl(listener, F_SETFL, listener_flags) == 0);
    pthread_join(t, NULL);
    CHECK(cj.result == 0);
    CHECK(accepted_count >= 8 - refused);
    for (int i = 0; i < 8; ++i)
        close(pending[i]);
    close(blocked);

    // Non-blocking accept with nothing pending.
    int flags = fcntl(listener, F_GETFL);
    CHECK(fcntl(listener, F_SETFL, flags | O_NONBLOCK) == 0);
    while (accept(listener, NULL, NULL) >= 0) {
    }
    CHECK(accept(listener, NULL, NULL) == -1 && errno == EAGAIN);
    CHECK(fcntl(listener, F_SETFL, flags) == 0);

    // A thread blocked in accept is woken by a connect.
    struct peer_job aj = { .fd = listener };
    CHECK(pthread_create(&t, NULL, accept_now, &aj) == 0);
    sleep_ms(30);
    int late = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(late, (struct sockaddr*)&sa, sl) == 0);
    pthread_join(t, NULL);
    CHECK(aj.result >= 0);
    close(aj.result);
    close(late);

    // The listener closes with a connection never accepted: the client is reset.
    int orphan = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(orphan, (struct sockaddr*)&sa, sl) == 0);
    close(listener);
    CHECK(recv(orphan, buf, sizeof buf, 0) == -1 && errno == ECONNRESET);
    close(orphan);
    // The node stays until unlinked: a new bind fails, connect is refused.
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(again, (struct sockaddr*)&sa, sl) == -1 && errno == EADDRINUSE);
    CHECK(connect(again, (struct sockaddr*)&sa, sl) == -1 && errno == ECONNREFUSED);
    CHECK(unlink(sa.sun_path) == 0);
    CHECK(bind(again, (struct sockaddr*)&sa, sl) == 0);
    close(again);
    unlink(sa.sun_path);

    // Abstract names: no file, exact lengths, a missing name refused.
    struct sockaddr_un ab;
    socklen_t al = abstract_address(&ab, "nimbus-abstract");
    int alistener = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(alistener, (struct sockaddr*)&ab, al) == 0 && listen(alistener, 8) == 0);
    gl = sizeof got;
    CHECK(getsockname(alistener, (struct sockaddr*)&got, &gl) == 0 && gl == al && got.sun_path[0] == 0);
    CHECK(memcmp(got.sun_path + 1, "nimbus-abstract", 15) == 0);
    int dup_bind = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(dup_bind, (struct sockaddr*)&ab, al) == -1 && errno == EADDRINUSE);
    struct sockaddr_un nab;
    socklen_t nal = abstract_address(&nab, "nimbus-nobody");
    CHECK(connect(dup_bind, (struct sockaddr*)&nab, nal) == -1 && errno == ECONNREFUSED);
    CHECK(connect(dup_bind, (struct sockaddr*)&ab, al) == 0);
    int as = accept(alistener, NULL, NULL);
    CHECK(as >= 0);
    gl = sizeof got;
    CHECK(getpeername(dup_bind, (struct sockaddr*)&got, &gl) == 0 && gl == al);
    close(as);
    close(dup_bind);
    close(alistener);
    // The name is free again once its socket is closed.
    alistener = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(alistener, (struct sockaddr*)&ab, al) == 0);
    close(alistener);

    // Autobind: an address of only the family gives an abstract name of five hex digits.
    int autob = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un fam = { .sun_family = AF_UNIX };
    CHECK(bind(autob, (struct sockaddr*)&fam, sizeof(sa_family_t)) == 0);
    gl = sizeof got;
    CHECK(getsockname(autob, (struct sockaddr*)&got, &gl) == 0 && gl == offsetof(struct sockaddr_un, sun_path) + 6);
    CHECK(got.sun_path[0] == 0);
    close(autob);
}

static void readiness(void)
{
    int sv[2];
    char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.u32 = 1 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    struct epoll_event out[4];
    CHECK(epoll_wait(ep, out, 4, 0) == 1 && out[0].events == EPOLLOUT);
    CHECK(send(sv[1], "x", 1, 0) == 1);
    CHECK(epoll_wait(ep, out, 4, 0) == 1 && out[0].events == (EPOLLIN | EPOLLOUT));
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 1);
    CHECK(shutdown(sv[1], SHUT_WR) == 0);
    CHECK(epoll_wait(ep, out, 4, 0) == 1 && (out[0].events & (EPOLLIN | EPOLLRDHUP)) == (EPOLLIN | EPOLLRDHUP));
    CHECK(!(out[0].events & EPOLLHUP));
    // The peer closes: EPOLLHUP too.
    struct peer_job cj = { .fd = sv[1], .delay_ms = 30 };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, close_later, &cj) == 0);
    ev.events = EPOLLHUP;
    CHECK(epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev) == 0);
    CHECK(epoll_wait(ep, out, 4, 5000) == 1 && (out[0].events & EPOLLHUP));
    pthread_join(t, NULL);
    struct pollfd p = { .fd = sv[0], .events = POLLIN | POLLRDHUP };
    CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLHUP) && (p.revents & POLLIN) && (p.revents & POLLRDHUP));
    close(sv[0]);
    close(ep);

    // epoll_wait and select woken by another thread's send.
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    ep = epoll_create1(0);
    ev.events = EPOLLIN;
    ev.data.u32 = 9;
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) == 0);
    struct peer_job sj = { .fd = sv[1], .delay_ms = 30, .data = "ping", .size = 4 };
    CHECK(pthread_create(&t, NULL, send_later, &sj) == 0);
    CHECK(epoll_wait(ep, out, 4, 5000) == 1 && out[0].data.u32 == 9 && out[0].events == EPOLLIN);
    pthread_join(t, NULL);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 4);
    CHECK(pthread_create(&t, NULL, send_later, &sj) == 0);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(sv[0], &rs);
    struct timeval tv = { 5, 0 };
    CHECK(select(sv[0] + 1, &rs, NULL, NULL, &tv) == 1 && FD_ISSET(sv[0], &rs));
    pthread_join(t, NULL);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 4);
    close(sv[0]);
    close(sv[1]);
    close(ep);

    // An unconnected stream socket is POLLOUT|POLLHUP; a listener has no POLLOUT.
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    p.fd = s;
    p.events = POLLIN | POLLOUT;
    CHECK(poll(&p, 1, 0) == 1 && p.revents == (POLLOUT | POLLHUP));
    close(s);
}

static void passing(void)
{
    int sv[2], pipefd[2];
    char buf[64];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(pipe(pipefd) == 0);
    CHECK(write(pipefd[1], "through", 7) == 7);

    // SCM_RIGHTS: the pipe's read end arrives as a new descriptor.
    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = { "F", 1 };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = CMSG_SPACE(2 * sizeof(int)) };
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(2 * sizeof(int));
    int passed[2] = { pipefd[0], pipefd[1] };
    memcpy(CMSG_DATA(c), passed, sizeof passed);
    CHECK(sendmsg(sv[0], &m, 0) == 1);
    close(pipefd[0]);

    union {
        char buf[CMSG_SPACE(2 * sizeof(int))];
        struct cmsghdr align;
    } rcontrol;
    char data[4];
    struct iovec riov = { data, sizeof data };
    struct msghdr rm = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = rcontrol.buf,
                         .msg_controllen = sizeof rcontrol.buf };
    CHECK(recvmsg(sv[1], &rm, MSG_CMSG_CLOEXEC) == 1 && data[0] == 'F' && !(rm.msg_flags & MSG_CTRUNC));
    struct cmsghdr* rc = CMSG_FIRSTHDR(&rm);
    CHECK(rc && rc->cmsg_level == SOL_SOCKET && rc->cmsg_type == SCM_RIGHTS);
    CHECK(rc && rc->cmsg_len == CMSG_LEN(2 * sizeof(int)));
    int got[2] = { -1, -1 };
    if (rc)
        memcpy(got, CMSG_DATA(rc), sizeof got);
    CHECK(got[0] >= 0 && got[1] >= 0 && got[0] != got[1]);
    CHECK((fcntl(got[0], F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(read(got[0], buf, sizeof buf) == 7 && memcmp(buf, "through", 7) == 0);
    CHECK(write(got[1], "again", 5) == 5 && read(got[0], buf, sizeof buf) == 5);
    close(got[0]);
    close(got[1]);

    // Too little room for the descriptors: MSG_CTRUNC, the rest closed.
    CHECK(pipe(pipefd) == 0);
    passed[0] = pipefd[0];
    passed[1] = pipefd[1];
    memcpy(CMSG_DATA(c), passed, sizeof passed);
    CHECK(sendmsg(sv[0], &m, 0) == 1);
    close(pipefd[0]);
    close(pipefd[1]);
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } small;
    rm.msg_control = small.buf;
    rm.msg_controllen = CMSG_LEN(sizeof(int)); // room for one descriptor
    CHECK(recvmsg(sv[1], &rm, 0) == 1 && (rm.msg_flags & MSG_CTRUNC));
    rc = CMSG_FIRSTHDR(&rm);
    CHECK(rc && rc->cmsg_type == SCM_RIGHTS && rc->cmsg_len == CMSG_LEN(sizeof(int)));
    if (rc) {
        memcpy(got, CMSG_DATA(rc), sizeof(int));
        CHECK(fcntl(got[0], F_GETFD) == 0);
        close(got[0]);
    }

    // A closed descriptor is EBADF; a malformed control message EINVAL.
    passed[0] = 999;
    memcpy(CMSG_DATA(c), passed, sizeof passed);
    CHECK(sendmsg(sv[0], &m, 0) == -1 && errno == EBADF);
    c->cmsg_len = CMSG_SPACE(2 * sizeof(int)) + 64;
    CHECK(sendmsg(sv[0], &m, 0) == -1 && errno == EINVAL);

    // A socket passed over a socket: the receiver talks through it.
    int inner[2];
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, inner) == 0);
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &inner[1], sizeof(int));
    m.msg_controllen = CMSG_SPACE(sizeof(int));
    CHECK(sendmsg(sv[0], &m, 0) == 1);
    close(inner[1]);
    rm.msg_control = rcontrol.buf;
    rm.msg_controllen = sizeof rcontrol.buf;
    CHECK(recvmsg(sv[1], &rm, 0) == 1);
    rc = CMSG_FIRSTHDR(&rm);
    int received = -1;
    if (rc)
        memcpy(&received, CMSG_DATA(rc), sizeof(int));
    CHECK(received >= 0 && send(received, "via", 3, 0) == 3);
    CHECK(recv(inner[0], buf, sizeof buf, 0) == 3);
    close(received);
    close(inner[0]);

    // Descriptors in flight when the receiver closes are released with it.
    int lost[2];
    CHECK(pipe(lost) == 0);
    memcpy(CMSG_DATA(c), &lost[0], sizeof(int));
    CHECK(sendmsg(sv[0], &m, 0) == 1);
    close(lost[0]);
    close(sv[1]);
    signal(SIGPIPE, SIG_IGN);
    CHECK(write(lost[1], "x", 1) == -1 && errno == EPIPE); // no reader left anywhere
    signal(SIGPIPE, SIG_DFL);
    close(lost[1]);
    close(sv[0]);

    // SCM_CREDENTIALS: with SO_PASSCRED the receiver learns the sender's pid and ids.
    CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);
    int on = 1;
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == 0);
    CHECK(send(sv[0], "who", 3, 0) == 3);
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } ccontrol;
    rm.msg_control = ccontrol.buf;
    rm.msg_controllen = sizeof ccontrol.buf;
    CHECK(recvmsg(sv[1], &rm, 0) == 3);
    rc = CMSG_FIRSTHDR(&rm);
    CHECK(rc && rc->cmsg_type == SCM_CREDENTIALS && rc->cmsg_len == CMSG_LEN(sizeof(struct ucred)));
    struct ucred cred = { 0, 0, 0 };
    if (rc)
        memcpy(&cred, CMSG_DATA(rc), sizeof cred);
    CHECK(cred.pid == getpid() && cred.uid == geteuid() && cred.gid == getegid());
    // Sent explicitly.
    memset(&control, 0, sizeof control);
    m.msg_control = ccontrol.buf;
    m.msg_controllen = CMSG_SPACE(sizeof(struct ucred));
    c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_CREDENTIALS;
    c->cmsg_len = CMSG_LEN(sizeof(struct ucred));
    struct ucred mine = { getpid(), geteuid(), getegid() };
    memcpy(CMSG_DATA(c), &mine, sizeof mine);
    CHECK(sendmsg(sv[0], &m, 0) == 1);
    rm.msg_controllen = sizeof ccontrol.buf;
    CHECK(recvmsg(sv[1], &rm, 0) == 1);
    rc = CMSG_FIRSTHDR(&rm);
    CHECK(rc && rc->cmsg_type == SCM_CREDENTIALS);
    close(sv[0]);
    close(sv[1]);
}

static void signals(void)
{
    int sv[2];
    char buf[16];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    // A handler without SA_RESTART: the blocked recv fails with EINTR.
    struct sigaction sa = { .sa_handler = on_sigusr1 };
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    struct signal_job sj = { .target = pthread_self(), .delay_ms = 20 };
    pthread_t t;
    start_signals(&sj, &t);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == -1 && errno == EINTR);
    stop_signals(&sj, t);
    CHECK(sigusr1s >= 1);
    // With SA_RESTART the recv carries on through the signals and gets the data sent later.
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sigusr1s = 0;
    start_signals(&sj, &t);
    struct peer_job j = { .fd = sv[1], .delay_ms = 100, .data = "late", .size = 4 };
    pthread_t t2;
    CHECK(pthread_create(&t2, NULL, send_later, &j) == 0);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == 4);
    stop_signals(&sj, t);
    pthread_join(t2, NULL);
    CHECK(sigusr1s >= 1);
    // Under SO_RCVTIMEO a signal gives EINTR even with SA_RESTART, as on Linux.
    struct timeval tv = { 20, 0 };
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    start_signals(&sj, &t);
    CHECK(recv(sv[0], buf, sizeof buf, 0) == -1 && errno == EINTR);
    stop_signals(&sj, t);
    // The same for accept.
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    socklen_t al = abstract_address(&a, "nimbus-signals");
    CHECK(bind(listener, (struct sockaddr*)&a, al) == 0 && listen(listener, 1) == 0);
    sa.sa_flags = 0;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    start_signals(&sj, &t);
    CHECK(accept(listener, NULL, NULL) == -1 && errno == EINTR);
    stop_signals(&sj, t);
    close(listener);
    signal(SIGUSR1, SIG_DFL);
    close(sv[0]);
    close(sv[1]);
}

static void errors(void)
{
    int sv[2];
    char buf[8];
    CHECK(socket(12345, SOCK_STREAM, 0) == -1 && errno == EAFNOSUPPORT);
    CHECK(socket(AF_UNIX, 9, 0) == -1 && errno == ESOCKTNOSUPPORT);
    CHECK(socket(AF_UNIX, 15, 0) == -1 && errno == EINVAL);
    CHECK(socket(AF_UNIX, SOCK_STREAM | 0x100, 0) == -1 && errno == EINVAL);
    CHECK(socket(AF_UNIX, SOCK_STREAM, 7) == -1 && errno == EPROTONOSUPPORT);
    // AF_INET datagram sockets exist everywhere; stream sockets are ESOCKTNOSUPPORT on Nimbus
    // until its TCP sockets land (issue 6); Linux has them.
    int inet = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(inet >= 0);
    if (inet >= 0)
        close(inet);
    inet = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(inet >= 0 || errno == ESOCKTNOSUPPORT);
    if (inet >= 0)
        close(inet);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, (int*)BAD) == -1 && errno == EFAULT);

    int p[2];
    CHECK(pipe(p) == 0);
    struct sockaddr_un a;
    socklen_t al = abstract_address(&a, "nimbus-errors");
    CHECK(bind(p[0], (struct sockaddr*)&a, al) == -1 && errno == ENOTSOCK);
    CHECK(listen(p[0], 1) == -1 && errno == ENOTSOCK);
    CHECK(send(p[1], "x", 1, 0) == -1 && errno == ENOTSOCK);
    CHECK(getsockname(-1, (struct sockaddr*)&a, &al) == -1 && errno == EBADF);
    close(p[0]);
    close(p[1]);

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(bind(s, (struct sockaddr*)&a, 200) == -1 && errno == EINVAL);
    CHECK(bind(s, (struct sockaddr*)BAD, al) == -1 && errno == EFAULT);
    struct sockaddr_un wrong = { .sun_family = AF_INET };
    CHECK(bind(s, (struct sockaddr*)&wrong, sizeof wrong) == -1 && errno == EINVAL);
    CHECK(connect(s, (struct sockaddr*)&a, 1) == -1 && errno == EINVAL);
    CHECK(accept(s, NULL, NULL) == -1 && errno == EINVAL);
    CHECK(accept4(s, NULL, NULL, 0x1234) == -1 && errno == EINVAL);
    CHECK(recv(s, buf, sizeof buf, 0) == -1 && errno == EINVAL);
    CHECK(send(s, "x", 1, 0) == -1 && errno == ENOTCONN);
    CHECK(recv(s, (void*)BAD, 8, MSG_DONTWAIT) == -1);
    socklen_t bad = (socklen_t)-1;
    CHECK(getsockname(s, (struct sockaddr*)&a, &bad) == -1 && errno == EINVAL);
    CHECK(getsockname(s, (struct sockaddr*)&a, (socklen_t*)BAD) == -1 && errno == EFAULT);
    close(s);

    s = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(listen(s, 1) == -1 && errno == EOPNOTSUPP);
    CHECK(accept(s, NULL, NULL) == -1 && errno == EOPNOTSUPP);
    close(s);

    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(send(sv[0], (void*)BAD, 8, 0) == -1 && errno == EFAULT);
    CHECK(sendto(sv[0], "x", 1, 0, (struct sockaddr*)&a, al) == -1 && errno == EISCONN);
    struct msghdr m = { .msg_iov = (struct iovec*)BAD, .msg_iovlen = 1 };
    CHECK(sendmsg(sv[0], &m, 0) == -1 && errno == EFAULT);
    CHECK(sendmsg(sv[0], (struct msghdr*)BAD, 0) == -1 && errno == EFAULT);
    struct iovec iov = { buf, 1 };
    m.msg_iov = &iov;
    m.msg_iovlen = 5000;
    CHECK(sendmsg(sv[0], &m, 0) == -1 && errno == EMSGSIZE);
    CHECK(send(sv[0], "ok", 2, 0) == 2);
    CHECK(recv(sv[1], (void*)BAD, 8, 0) == -1 && errno == EFAULT);
    CHECK(recv(sv[1], buf, sizeof buf, 0) == 2); // nothing lost by the fault
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/unix_sockets.%d", (int)getpid());
    mkdir(dir, 0700);
    stream_pair();
    buffers_and_options();
    datagrams();
    seqpacket();
    names_and_connections();
    readiness();
    passing();
    signals();
    errors();
    rmdir(dir);
    if (failures)
        return 1;
    printf("unix_sockets: ok\n");
    return 0;
}
