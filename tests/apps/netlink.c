// AF_NETLINK (NETLINK_ROUTE) and the interface ioctls as programs use them: getifaddrs,
// if_nameindex, if_nametoindex/if_indextoname, getaddrinfo with AI_ADDRCONFIG (IPv4 only when
// the host has IPv4 beyond loopback and no IPv6), a link and an address dump by hand (bind,
// getsockname, MSG_PEEK|MSG_TRUNC to size the buffer, multipart answers ending in
// NLMSG_DONE), a single link with an ACK, errors for bad requests, SOCK_DGRAM with
// MSG_DONTWAIT right after the send (musl's way), truncation, poll, and SIOCGIF* ioctls.
// Runs unchanged on Linux (the reference) and on Nimbus. Arguments: "nic" (an interface with
// an IPv4 address besides lo must exist) or "no-nic" (it must not). Prints "netlink: ok".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            printf("netlink: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                        \
        }                                                                                      \
    } while (0)

static int have_ipv4_nic; // an AF_INET address outside 127/8
static int have_ipv6;     // an AF_INET6 address other than ::1

static void check_getifaddrs(void)
{
    struct ifaddrs* list = NULL;
    CHECK(getifaddrs(&list) == 0);
    int lo_inet = 0, lo_packet = 0;
    for (struct ifaddrs* a = list; a; a = a->ifa_next) {
        if (!a->ifa_addr)
            continue;
        int family = a->ifa_addr->sa_family;
        if (family == AF_INET) {
            char address[INET_ADDRSTRLEN] = "", mask[INET_ADDRSTRLEN] = "";
            struct sockaddr_in* in = (struct sockaddr_in*)a->ifa_addr;
            inet_ntop(AF_INET, &in->sin_addr, address, sizeof address);
            if (a->ifa_netmask)
                inet_ntop(AF_INET, &((struct sockaddr_in*)a->ifa_netmask)->sin_addr, mask, sizeof mask);
            printf("netlink: ifaddr %s inet %s mask %s flags 0x%x\n", a->ifa_name, address, mask, a->ifa_flags);
            if (strcmp(a->ifa_name, "lo") == 0 && strcmp(address, "127.0.0.1") == 0) {
                lo_inet = 1;
                CHECK(strcmp(mask, "255.0.0.0") == 0);
                CHECK((a->ifa_flags & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING)) == (IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
            } else if ((ntohl(in->sin_addr.s_addr) >> 24) != 127) {
                have_ipv4_nic = 1;
                CHECK(a->ifa_flags & IFF_UP);
                CHECK(!(a->ifa_flags & IFF_LOOPBACK));
                CHECK(a->ifa_netmask != NULL);
                if (a->ifa_flags & IFF_BROADCAST)
                    CHECK(a->ifa_broadaddr && a->ifa_broadaddr->sa_family == AF_INET);
            }
        } else if (family == AF_INET6) {
            struct sockaddr_in6* in6 = (struct sockaddr_in6*)a->ifa_addr;
            if (!IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
                have_ipv6 = 1;
        } else if (family == AF_PACKET && strcmp(a->ifa_name, "lo") == 0) {
            lo_packet = 1;
        }
    }
    CHECK(lo_inet);
    CHECK(lo_packet);
    freeifaddrs(list);
}

static void check_names(void)
{
    unsigned lo = if_nametoindex("lo");
    CHECK(lo > 0);
    char name[IF_NAMESIZE];
    CHECK(if_indextoname(lo, name) && strcmp(name, "lo") == 0);
    errno = 0;
    CHECK(if_nametoindex("nosuch0") == 0 && errno == ENODEV);
    CHECK(if_indextoname(0x7fffffff, name) == NULL && errno == ENXIO);

    struct if_nameindex* names = if_nameindex();
    CHECK(names != NULL);
    int saw_lo = 0;
    for (struct if_nameindex* n = names; n && n->if_index; n++) {
        printf("netlink: if_nameindex %u %s\n", n->if_index, n->if_name);
        if (strcmp(n->if_name, "lo") == 0)
            saw_lo = n->if_index == lo;
        CHECK(if_nametoindex(n->if_name) == n->if_index);
    }
    CHECK(saw_lo);
    if_freenameindex(names);
}

static void check_getaddrinfo(void)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_flags = AI_ADDRCONFIG;
    hints.ai_socktype = SOCK_STREAM;
    CHECK(getaddrinfo("localhost", "80", &hints, &res) == 0);
    int v4 = 0, v6 = 0;
    for (struct addrinfo* r = res; r; r = r->ai_next) {
        if (r->ai_family == AF_INET) {
            struct sockaddr_in* in = (struct sockaddr_in*)r->ai_addr;
            CHECK(ntohs(in->sin_port) == 80);
            v4 |= in->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
        } else if (r->ai_family == AF_INET6) {
            v6 = 1;
        }
    }
    printf("netlink: getaddrinfo(localhost, AI_ADDRCONFIG): ipv4 %d ipv6 %d\n", v4, v6);
    CHECK(v4);
    // glibc narrows to IPv4 when it saw IPv4 beyond loopback and no IPv6 (check_pf).
    if (have_ipv4_nic && !have_ipv6)
        CHECK(!v6);
    if (res)
        freeaddrinfo(res);
}

// --- by hand ---

static uint32_t my_port;

static int send_request(int fd, uint16_t type, uint16_t flags, uint32_t seq, const void* body, size_t length)
{
    char buffer[256] __attribute__((aligned(4)));
    struct nlmsghdr* h = (struct nlmsghdr*)buffer;
    memset(buffer, 0, sizeof buffer);
    h->nlmsg_len = NLMSG_LENGTH(length);
    h->nlmsg_type = type;
    h->nlmsg_flags = flags;
    h->nlmsg_seq = seq;
    memcpy(NLMSG_DATA(h), body, length);
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    return (int)sendto(fd, buffer, h->nlmsg_len, 0, (struct sockaddr*)&kernel, sizeof kernel);
}

// Receives one datagram as glibc does: peek with MSG_TRUNC for its size, then read it.
// Returns its length (the buffer is malloc'ed into *out), or -1.
static ssize_t receive_datagram(int fd, char** out)
{
    char probe[1];
    struct iovec iov = { probe, sizeof probe };
    struct sockaddr_nl from;
    struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n = recvmsg(fd, &m, MSG_PEEK | MSG_TRUNC);
    if (n <= 0)
        return -1;
    CHECK(m.msg_flags & MSG_TRUNC);
    char* buffer = malloc((size_t)n);
    iov.iov_base = buffer;
    iov.iov_len = (size_t)n;
    m.msg_namelen = sizeof from;
    m.msg_flags = 0;
    ssize_t got = recvmsg(fd, &m, 0);
    CHECK(got == n);
    CHECK(!(m.msg_flags & MSG_TRUNC));
    CHECK(m.msg_namelen == sizeof from && from.nl_family == AF_NETLINK && from.nl_pid == 0);
    *out = buffer;
    return got;
}

// Reads a dump's answers until NLMSG_DONE: the count of messages of `type`; `seen_lo` set if
// one names lo (a link) or carries 127.0.0.1 (an address).
static int read_dump(int fd, uint32_t seq, uint16_t type, int* seen_lo)
{
    int count = 0;
    for (int datagrams = 0; datagrams < 100; datagrams++) {
        char* buffer = NULL;
        ssize_t n = receive_datagram(fd, &buffer);
        CHECK(n > 0);
        if (n <= 0)
            return -1;
        for (struct nlmsghdr* h = (struct nlmsghdr*)buffer; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            CHECK(h->nlmsg_seq == seq);
            CHECK(h->nlmsg_pid == my_port);
            CHECK(h->nlmsg_flags & NLM_F_MULTI);
            if (h->nlmsg_type == NLMSG_DONE) {
                free(buffer);
                return count;
            }
            CHECK(h->nlmsg_type == type);
            if (h->nlmsg_type != type)
                continue;
            count++;
            size_t header = type == RTM_NEWLINK ? sizeof(struct ifinfomsg) : sizeof(struct ifaddrmsg);
            struct rtattr* a = (struct rtattr*)((char*)NLMSG_DATA(h) + NLMSG_ALIGN(header));
            int left = (int)h->nlmsg_len - (int)NLMSG_LENGTH(header);
            for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
                if (type == RTM_NEWLINK && a->rta_type == IFLA_IFNAME && strcmp(RTA_DATA(a), "lo") == 0)
                    *seen_lo = 1;
                if (type == RTM_NEWADDR && a->rta_type == IFA_LOCAL && RTA_PAYLOAD(a) == 4 &&
                    *(uint32_t*)RTA_DATA(a) == htonl(INADDR_LOOPBACK))
                    *seen_lo = 1;
            }
        }
        free(buffer);
    }
    return -1;
}

// The error (≤ 0) of the next datagram, which must be one NLMSG_ERROR for `seq`.
static int read_error(int fd, uint32_t seq)
{
    char* buffer = NULL;
    ssize_t n = receive_datagram(fd, &buffer);
    CHECK(n >= (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)));
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
        free(buffer);
        return 1;
    }
    struct nlmsghdr* h = (struct nlmsghdr*)buffer;
    CHECK(h->nlmsg_type == NLMSG_ERROR);
    CHECK(h->nlmsg_seq == seq);
    CHECK(h->nlmsg_pid == my_port);
    struct nlmsgerr* e = NLMSG_DATA(h);
    CHECK(e->msg.nlmsg_seq == seq);
    int error = e->error;
    free(buffer);
    return error;
}

static void check_raw(void)
{
    errno = 0;
    CHECK(socket(AF_NETLINK, SOCK_RAW, 31) == -1 && errno == EPROTONOSUPPORT);
    CHECK(socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE) == -1 && errno == ESOCKTNOSUPPORT);

    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    CHECK(fd >= 0);
    struct sockaddr_nl a = { .nl_family = AF_NETLINK };
    socklen_t length = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr*)&a, &length) == 0 && a.nl_pid == 0); // not bound yet
    CHECK(bind(fd, (struct sockaddr*)&a, sizeof a) == 0);
    length = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr*)&a, &length) == 0);
    CHECK(length == sizeof a && a.nl_family == AF_NETLINK && a.nl_pid != 0);
    my_port = a.nl_pid;
    int other = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    struct sockaddr_nl taken = { .nl_family = AF_NETLINK, .nl_pid = my_port };
    CHECK(bind(other, (struct sockaddr*)&taken, sizeof taken) == -1 && errno == EADDRINUSE);
    close(other);

    // Dumps: links, then IPv4 addresses.
    struct rtgenmsg gen = { .rtgen_family = AF_UNSPEC };
    CHECK(send_request(fd, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 11, &gen, sizeof gen) > 0);
    struct pollfd p = { fd, POLLIN, 0 };
    CHECK(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN));
    int seen_lo = 0;
    int links = read_dump(fd, 11, RTM_NEWLINK, &seen_lo);
    printf("netlink: link dump: %d links\n", links);
    CHECK(links >= 1 && seen_lo);
    struct ifaddrmsg inet = { .ifa_family = AF_INET };
    CHECK(send_request(fd, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, 12, &inet, sizeof inet) > 0);
    seen_lo = 0;
    int addresses = read_dump(fd, 12, RTM_NEWADDR, &seen_lo);
    printf("netlink: address dump: %d addresses\n", addresses);
    CHECK(addresses >= 1 && seen_lo);

    // One link by name, acknowledged.
    struct {
        struct ifinfomsg ifi;
        struct rtattr name;
        char text[4];
    } by_name = { .ifi = { .ifi_family = AF_UNSPEC }, .name = { RTA_LENGTH(3), IFLA_IFNAME }, .text = "lo" };
    CHECK(send_request(fd, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 13, &by_name, sizeof by_name) > 0);
    char* buffer = NULL;
    ssize_t n = receive_datagram(fd, &buffer);
    CHECK(n > 0 && ((struct nlmsghdr*)buffer)->nlmsg_type == RTM_NEWLINK);
    CHECK(n > 0 && ((struct ifinfomsg*)NLMSG_DATA((struct nlmsghdr*)buffer))->ifi_index == (int)if_nametoindex("lo"));
    free(buffer);
    CHECK(read_error(fd, 13) == 0);

    // Bad requests.
    struct ifinfomsg missing = { .ifi_family = AF_UNSPEC, .ifi_index = 0x7ffffff0 };
    CHECK(send_request(fd, RTM_GETLINK, NLM_F_REQUEST, 14, &missing, sizeof missing) > 0);
    CHECK(read_error(fd, 14) == -ENODEV);
    CHECK(send_request(fd, RTM_GETLINK, NLM_F_REQUEST, 15, &gen, sizeof gen) > 0); // no ifinfomsg
    CHECK(read_error(fd, 15) == -EINVAL);
    CHECK(send_request(fd, 0x7fff, NLM_F_REQUEST, 16, &missing, sizeof missing) > 0);
    CHECK(read_error(fd, 16) == -EOPNOTSUPP);

    // A truncated read loses the rest of the datagram; nothing else is queued.
    CHECK(send_request(fd, RTM_GETLINK, NLM_F_REQUEST, 17, &by_name, sizeof by_name) > 0);
    char small[8];
    struct iovec iov = { small, sizeof small };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
    CHECK(recvmsg(fd, &m, 0) == (ssize_t)sizeof small && (m.msg_flags & MSG_TRUNC));
    CHECK(recv(fd, small, sizeof small, MSG_DONTWAIT) == -1 && errno == EAGAIN);
    close(fd);

    // SOCK_DGRAM, never bound, send() without an address and an immediate MSG_DONTWAIT read.
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
    CHECK(fd >= 0);
    struct {
        struct nlmsghdr h;
        struct rtgenmsg g;
    } req = { { sizeof req, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, 21, 0 }, { AF_UNSPEC } };
    CHECK(send(fd, &req, sizeof req, 0) == (ssize_t)sizeof req);
    static char big[8192] __attribute__((aligned(4)));
    ssize_t got = recv(fd, big, sizeof big, MSG_DONTWAIT);
    CHECK(got > 0);
    length = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr*)&a, &length) == 0 && a.nl_pid != 0); // bound by the send
    CHECK(got > 0 && ((struct nlmsghdr*)big)->nlmsg_pid == a.nl_pid);
    close(fd);
}

static void check_ioctls(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    CHECK(ioctl(fd, SIOCGIFFLAGS, &r) == 0 && (r.ifr_flags & (IFF_UP | IFF_LOOPBACK)) == (IFF_UP | IFF_LOOPBACK));
    CHECK(ioctl(fd, SIOCGIFMTU, &r) == 0 && r.ifr_mtu >= 1500);
    CHECK(ioctl(fd, SIOCGIFADDR, &r) == 0 && r.ifr_addr.sa_family == AF_INET &&
          ((struct sockaddr_in*)&r.ifr_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK));
    strcpy(r.ifr_name, "lo");
    CHECK(ioctl(fd, SIOCGIFNETMASK, &r) == 0 &&
          ((struct sockaddr_in*)&r.ifr_netmask)->sin_addr.s_addr == htonl(0xff000000));
    strcpy(r.ifr_name, "lo");
    CHECK(ioctl(fd, SIOCGIFINDEX, &r) == 0 && r.ifr_ifindex == (int)if_nametoindex("lo"));
    memset(r.ifr_name, 0, sizeof r.ifr_name);
    CHECK(ioctl(fd, SIOCGIFNAME, &r) == 0 && strcmp(r.ifr_name, "lo") == 0);
    strcpy(r.ifr_name, "nosuch0");
    CHECK(ioctl(fd, SIOCGIFFLAGS, &r) == -1 && errno == ENODEV);

    struct ifreq list[16];
    struct ifconf conf = { .ifc_len = sizeof list, .ifc_req = list };
    CHECK(ioctl(fd, SIOCGIFCONF, &conf) == 0);
    int saw_lo = 0;
    for (size_t i = 0; i < conf.ifc_len / sizeof(struct ifreq); i++)
        saw_lo |= strcmp(list[i].ifr_name, "lo") == 0;
    CHECK(saw_lo);
    close(fd);
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    check_getifaddrs();
    check_names();
    check_getaddrinfo();
    check_raw();
    check_ioctls();
    if (argc > 1 && strcmp(argv[1], "nic") == 0)
        CHECK(have_ipv4_nic);
    if (argc > 1 && strcmp(argv[1], "no-nic") == 0)
        CHECK(!have_ipv4_nic);
    if (failures) {
        printf("netlink: %d failures\n", failures);
        return 1;
    }
    printf("netlink: ok\n");
    return 0;
}
