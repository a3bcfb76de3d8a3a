// IP_MTU_DISCOVER and IP_MTU on AF_INET sockets, as Linux has them: the default (WANT, with
// net.ipv4.ip_no_pmtu_disc 0) for TCP and UDP, the values accepted (DONT 0 … OMIT 5, EINVAL
// otherwise; an int or a single byte), read back as an int or a byte, inherited by accepted
// sockets; IP_MTU read-only, NOTCONN unless connected, 65535 at most (127.0.0.1: lo's 65536).
// Runs unchanged on Linux (host_app_ip_mtu).
//
// With an argument (an IPv4 address reached through an interface of MTU 1500 — in Nimbus the
// user network's gateway 10.0.2.2), also: IP_MTU toward it is 1500, and a UDP datagram one
// byte over it is sent (fragmented here) with DONT, WANT and OMIT and refused with EMSGSIZE
// with DO, PROBE and INTERFACE; one that fits goes out with every mode. (Unconnected sends
// to the discard port: no error from the far side can reach the socket.)
// Prints "ip_mtu: ok" and exits 0.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("ip_mtu: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                      \
        }                                                                                    \
    } while (0)

// getsockopt(IPPROTO_IP, name) as an int: the value, or -errno.
static int get_int(int fd, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    if (getsockopt(fd, IPPROTO_IP, name, &v, &len) != 0)
        return -errno;
    return len == sizeof v ? v : -1000;
}

static int set_int(int fd, int name, int v)
{
    return setsockopt(fd, IPPROTO_IP, name, &v, sizeof v) == 0 ? 0 : -errno;
}

static void options(int fd)
{
    CHECK(get_int(fd, IP_MTU_DISCOVER) == IP_PMTUDISC_WANT);
    CHECK(set_int(fd, IP_MTU_DISCOVER, -1) == -EINVAL);
    CHECK(set_int(fd, IP_MTU_DISCOVER, 6) == -EINVAL);
    CHECK(get_int(fd, IP_MTU_DISCOVER) == IP_PMTUDISC_WANT); // unchanged by the failures
    int modes[] = { IP_PMTUDISC_DONT, IP_PMTUDISC_WANT, IP_PMTUDISC_DO, IP_PMTUDISC_PROBE,
                    IP_PMTUDISC_INTERFACE, IP_PMTUDISC_OMIT };
    for (unsigned i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        CHECK(set_int(fd, IP_MTU_DISCOVER, modes[i]) == 0);
        CHECK(get_int(fd, IP_MTU_DISCOVER) == modes[i]);
    }
    // A single byte in, a single byte out.
    unsigned char b = IP_PMTUDISC_DO;
    CHECK(setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &b, 1) == 0);
    b = 0xee;
    socklen_t len = 1;
    CHECK(getsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &b, &len) == 0 && len == 1 && b == IP_PMTUDISC_DO);
    CHECK(set_int(fd, IP_MTU_DISCOVER, IP_PMTUDISC_WANT) == 0);
    // IP_MTU: read-only, and only once connected.
    CHECK(set_int(fd, IP_MTU, 1000) == -ENOPROTOOPT);
    CHECK(get_int(fd, IP_MTU) == -ENOTCONN);
}

static struct sockaddr_in address_of(const char* text, int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    CHECK(inet_pton(AF_INET, text, &a.sin_addr) == 1);
    return a;
}

static void loopback(void)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0);
    struct sockaddr_in a = address_of("127.0.0.1", 9);
    CHECK(connect(u, (struct sockaddr*)&a, sizeof a) == 0);
    CHECK(get_int(u, IP_MTU) == 65535);
    unsigned char b = 0;
    socklen_t len = 1;
    CHECK(getsockopt(u, IPPROTO_IP, IP_MTU, &b, &len) == 0 && len == 1 && b == 0xff); // the int's first byte
    a.sin_family = AF_UNSPEC;
    CHECK(connect(u, (struct sockaddr*)&a, sizeof a) == 0);
    CHECK(get_int(u, IP_MTU) == -ENOTCONN);
    CHECK(close(u) == 0);

    // TCP: a listener is not connected; the connection and the accepted socket are, and the
    // accepted one takes the listener's IP_MTU_DISCOVER.
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0 && c >= 0);
    struct sockaddr_in la = address_of("127.0.0.1", 0);
    socklen_t al = sizeof la;
    CHECK(bind(l, (struct sockaddr*)&la, al) == 0 && listen(l, 2) == 0);
    CHECK(getsockname(l, (struct sockaddr*)&la, &al) == 0);
    CHECK(get_int(l, IP_MTU) == -ENOTCONN);
    CHECK(set_int(l, IP_MTU_DISCOVER, IP_PMTUDISC_DONT) == 0);
    CHECK(connect(c, (struct sockaddr*)&la, al) == 0);
    int p = accept(l, NULL, NULL);
    CHECK(p >= 0);
    CHECK(get_int(c, IP_MTU) == 65535 && get_int(p, IP_MTU) == 65535);
    CHECK(get_int(c, IP_MTU_DISCOVER) == IP_PMTUDISC_WANT);
    CHECK(get_int(p, IP_MTU_DISCOVER) == IP_PMTUDISC_DONT);
    CHECK(close(p) == 0 && close(c) == 0 && close(l) == 0);
}

static void through_interface(const char* peer)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0), s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(u >= 0 && s >= 0);
    struct sockaddr_in a = address_of(peer, 9);
    CHECK(connect(u, (struct sockaddr*)&a, sizeof a) == 0);
    int mtu = get_int(u, IP_MTU);
    CHECK(mtu == 1500);
    CHECK(close(u) == 0);
    static char data[1500];
    size_t fits = 1500 - 20 - 8;
    struct {
        int mode;
        int over; // what a datagram one byte over the MTU gets: 0 sent, else -errno
    } cases[] = {
        { IP_PMTUDISC_DONT, 0 },           { IP_PMTUDISC_WANT, 0 },   { IP_PMTUDISC_DO, -EMSGSIZE },
        { IP_PMTUDISC_PROBE, -EMSGSIZE }, { IP_PMTUDISC_INTERFACE, -EMSGSIZE }, { IP_PMTUDISC_OMIT, 0 },
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(set_int(s, IP_MTU_DISCOVER, cases[i].mode) == 0);
        ssize_t n = sendto(s, data, fits, 0, (struct sockaddr*)&a, sizeof a);
        if (n != (ssize_t)fits) {
            printf("ip_mtu: FAIL mode %d: %zu bytes: %zd (%s)\n", cases[i].mode, fits, n, strerror(errno));
            ++failures;
        }
        n = sendto(s, data, fits + 1, 0, (struct sockaddr*)&a, sizeof a);
        int got = n == (ssize_t)(fits + 1) ? 0 : n < 0 ? -errno : -1000;
        if (got != cases[i].over) {
            printf("ip_mtu: FAIL mode %d: %zu bytes: %d, want %d\n", cases[i].mode, fits + 1, got, cases[i].over);
            ++failures;
        }
    }
    CHECK(close(s) == 0);
}

int main(int argc, char** argv)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(u >= 0 && t >= 0);
    options(u);
    options(t);
    CHECK(close(u) == 0 && close(t) == 0);
    loopback();
    if (argc > 1)
        through_interface(argv[1]);
    if (failures)
        return 1;
    printf("ip_mtu: ok\n");
    return 0;
}
