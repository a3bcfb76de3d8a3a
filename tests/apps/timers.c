// Timers: timerfd (periodic reads, epoll and poll woken by the expiry, non-blocking reads,
// absolute times, disarming, gettime, reads interrupted by a signal), setitimer/getitimer
// and alarm, POSIX timers (SIGEV_SIGNAL, the default event, SIGEV_THREAD_ID, glibc's
// SIGEV_THREAD, SIGEV_NONE, overruns, absolute times, delete, the per-process limit), timers
// closed and deleted while they fire, and bad arguments. Timing checks are loose — a loaded
// TCG host is slow — except that no timer may fire early and no count may exceed the periods
// that have passed. Prints "timers: ok" and exits 0.
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
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            printf("timers: FAIL: line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                                      \
        }                                                                                    \
    } while (0)

#define MS (1000000ULL)

static uint64_t now_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static struct timespec ts_of(uint64_t ns) { return (struct timespec) { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) }; }
static uint64_t ns_of(struct timespec ts) { return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec; }

static struct itimerspec itimerspec_of(uint64_t value, uint64_t interval)
{
    return (struct itimerspec) { .it_interval = ts_of(interval), .it_value = ts_of(value) };
}

// Waits (up to timeout_ms of sleeping) until *counter reaches target.
static int wait_for(volatile sig_atomic_t* counter, int target, int timeout_ms)
{
    for (int i = 0; i < timeout_ms && *counter < target; ++i)
        usleep(1000);
    return *counter >= target;
}

static void set_handler(int signo, void (*handler)(int, siginfo_t*, void*), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(signo, &sa, NULL) == 0);
}

// What the last signal of each test handler carried.
static volatile sig_atomic_t alarms, alarm_code, alarm_timerid, alarm_value;
static void on_alarm(int signo, siginfo_t* si, void* uc)
{
    (void)signo;
    (void)uc;
    alarm_code = si->si_code;
    alarm_timerid = si->si_timerid;
    alarm_value = si->si_value.sival_int;
    ++alarms;
}

static volatile sig_atomic_t rt_signals, rt_code, rt_value, rt_tid;
static void on_rt(int signo, siginfo_t* si, void* uc)
{
    (void)signo;
    (void)uc;
    rt_code = si->si_code;
    rt_value = si->si_value.sival_int;
    rt_tid = (sig_atomic_t)syscall(SYS_gettid);
    ++rt_signals;
}

// ---- timerfd ------------------------------------------------------------------------------

static void timerfd_periodic(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) == FD_CLOEXEC);
    uint64_t start = now_ns(CLOCK_MONOTONIC);
    struct itimerspec its = itimerspec_of(20 * MS, 20 * MS);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    uint64_t total = 0, n = 0;
    for (int i = 0; i < 5; ++i) {
        CHECK(read(fd, &n, sizeof n) == 8 && n >= 1);
        total += n;
    }
    uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - start;
    // Five reads of at least one expiration each: five periods have passed; and there are
    // never more expirations than periods.
    CHECK(total >= 5 && elapsed >= 100 * MS);
    CHECK(total <= elapsed / (20 * MS));
    char small[4];
    CHECK(read(fd, small, sizeof small) == -1 && errno == EINVAL);
    CHECK(close(fd) == 0);
}

static void timerfd_nonblocking_gettime_disarm(void)
{
    int fd = timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK);
    CHECK(fd >= 0);
    uint64_t n;
    CHECK(read(fd, &n, sizeof n) == -1 && errno == EAGAIN);
    struct itimerspec cur;
    CHECK(timerfd_gettime(fd, &cur) == 0 && ns_of(cur.it_value) == 0 && ns_of(cur.it_interval) == 0);

    struct itimerspec its = itimerspec_of(1000 * MS, 500 * MS);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    CHECK(timerfd_gettime(fd, &cur) == 0);
    CHECK(ns_of(cur.it_value) > 0 && ns_of(cur.it_value) <= 1000 * MS && ns_of(cur.it_interval) == 500 * MS);
    CHECK(read(fd, &n, sizeof n) == -1 && errno == EAGAIN);

    // Disarm: the old setting comes back, and nothing fires.
    struct itimerspec zero = itimerspec_of(0, 0), old;
    CHECK(timerfd_settime(fd, 0, &zero, &old) == 0);
    CHECK(ns_of(old.it_value) > 0 && ns_of(old.it_value) <= 1000 * MS && ns_of(old.it_interval) == 500 * MS);
    CHECK(timerfd_gettime(fd, &cur) == 0 && ns_of(cur.it_value) == 0);
    its = itimerspec_of(30 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    CHECK(timerfd_settime(fd, 0, &zero, NULL) == 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    CHECK(poll(&pfd, 1, 60) == 0);
    CHECK(read(fd, &n, sizeof n) == -1 && errno == EAGAIN);

    // settime resets the count: an expiry not yet read is gone.
    its = itimerspec_of(1 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    usleep(10 * 1000);
    CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN));
    its = itimerspec_of(10000 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    CHECK(read(fd, &n, sizeof n) == -1 && errno == EAGAIN);
    CHECK(close(fd) == 0);
}

static void timerfd_epoll_poll(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    CHECK(fd >= 0 && ep >= 0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0);
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
    // Only the expiry can end this wait early: the kernel's timer wakes the epoll_wait.
    uint64_t start = now_ns(CLOCK_MONOTONIC);
    struct itimerspec its = itimerspec_of(30 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    memset(&ev, 0, sizeof ev);
    CHECK(epoll_wait(ep, &ev, 1, 5000) == 1 && ev.data.u64 == 7 && (ev.events & EPOLLIN));
    uint64_t elapsed = now_ns(CLOCK_MONOTONIC) - start;
    CHECK(elapsed >= 30 * MS && elapsed < 4000 * MS);
    uint64_t n = 0;
    CHECK(read(fd, &n, sizeof n) == 8 && n == 1);
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0);

    its = itimerspec_of(10 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    CHECK(poll(&pfd, 1, 5000) == 1 && (pfd.revents & POLLIN));
    CHECK(read(fd, &n, sizeof n) == 8 && n == 1);
    CHECK(close(ep) == 0 && close(fd) == 0);
}

static void timerfd_absolute(void)
{
    int fd = timerfd_create(CLOCK_REALTIME, 0);
    CHECK(fd >= 0);
    uint64_t start = now_ns(CLOCK_MONOTONIC);
    struct itimerspec its = itimerspec_of(now_ns(CLOCK_REALTIME) + 50 * MS, 0);
    CHECK(timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) == 0);
    uint64_t n = 0;
    CHECK(read(fd, &n, sizeof n) == 8 && n == 1);
    CHECK(now_ns(CLOCK_MONOTONIC) - start >= 45 * MS); // never early (a little slack between clocks)
    CHECK(close(fd) == 0);

    // An absolute time in the past with a 10 ms period: the periods since then, at once. (The
    // monotonic clock may have started less than a second ago.)
    fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    CHECK(fd >= 0);
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    uint64_t back = now / 2 < 1000 * MS ? now / 2 : 1000 * MS;
    its = itimerspec_of(now - back, 10 * MS);
    CHECK(timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) == 0);
    uint64_t least = back / (10 * MS) + 1;
    CHECK(read(fd, &n, sizeof n) == 8 && n >= least && n <= least + (now_ns(CLOCK_MONOTONIC) - now) / (10 * MS) + 1);
    struct itimerspec cur;
    CHECK(timerfd_gettime(fd, &cur) == 0 && ns_of(cur.it_value) > 0 && ns_of(cur.it_value) <= 10 * MS);
    CHECK(close(fd) == 0);
}

// A blocking read cut short by a signal: EINTR without SA_RESTART, restarted with it.
static void timerfd_interrupted(void)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, 0);
    CHECK(fd >= 0);
    set_handler(SIGALRM, on_alarm, 0);
    struct itimerval alarm_in = { .it_value = { 0, 20000 } };
    int before = alarms;
    CHECK(setitimer(ITIMER_REAL, &alarm_in, NULL) == 0);
    uint64_t n;
    CHECK(read(fd, &n, sizeof n) == -1 && errno == EINTR);
    CHECK(alarms == before + 1);

    set_handler(SIGALRM, on_alarm, SA_RESTART);
    struct itimerspec its = itimerspec_of(100 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
    CHECK(setitimer(ITIMER_REAL, &alarm_in, NULL) == 0);
    n = 0;
    CHECK(read(fd, &n, sizeof n) == 8 && n == 1);
    CHECK(wait_for(&alarms, before + 2, 3000)); // (on a stalled host the alarm may come last)
    CHECK(close(fd) == 0);
}

static void timerfd_bad_arguments(void)
{
    CHECK(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0) == -1 && errno == EINVAL);
    CHECK(timerfd_create(12345, 0) == -1 && errno == EINVAL);
    CHECK(timerfd_create(CLOCK_MONOTONIC, 1) == -1 && errno == EINVAL);
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    CHECK(fd >= 0);
    struct itimerspec its = itimerspec_of(10 * MS, 0);
    CHECK(timerfd_settime(fd, 0x10, &its, NULL) == -1 && errno == EINVAL);
    its.it_value.tv_nsec = 1000000000;
    CHECK(timerfd_settime(fd, 0, &its, NULL) == -1 && errno == EINVAL);
    its.it_value.tv_nsec = -1;
    CHECK(timerfd_settime(fd, 0, &its, NULL) == -1 && errno == EINVAL);
    its = itimerspec_of(10 * MS, 0);
    its.it_interval.tv_sec = -1;
    CHECK(timerfd_settime(fd, 0, &its, NULL) == -1 && errno == EINVAL);
    CHECK(timerfd_settime(fd, 0, (struct itimerspec*)1, NULL) == -1 && errno == EFAULT);
    CHECK(timerfd_settime(fd, 0, NULL, NULL) == -1 && errno == EFAULT);
    its = itimerspec_of(10000 * MS, 0);
    CHECK(timerfd_settime(fd, 0, &its, (struct itimerspec*)1) == -1 && errno == EFAULT);
    CHECK(timerfd_gettime(fd, (struct itimerspec*)1) == -1 && errno == EFAULT);
    int efd = eventfd(0, 0);
    CHECK(efd >= 0);
    CHECK(timerfd_settime(efd, 0, &its, NULL) == -1 && errno == EINVAL);
    struct itimerspec cur;
    CHECK(timerfd_gettime(efd, &cur) == -1 && errno == EINVAL);
    CHECK(timerfd_gettime(-1, &cur) == -1 && errno == EBADF);
    CHECK(timerfd_settime(9999, 0, &its, NULL) == -1 && errno == EBADF);
    uint64_t v = 1;
    CHECK(write(fd, &v, sizeof v) == -1 && errno == EINVAL);
    CHECK(close(efd) == 0 && close(fd) == 0);
}

// ---- interval timers and alarm --------------------------------------------------------------

static void itimer_real(void)
{
    set_handler(SIGALRM, on_alarm, SA_RESTART);
    int before = alarms;
    struct itimerval tv = { .it_interval = { 0, 10000 }, .it_value = { 0, 10000 } }, cur, old;
    CHECK(setitimer(ITIMER_REAL, &tv, NULL) == 0);
    CHECK(getitimer(ITIMER_REAL, &cur) == 0);
    CHECK(cur.it_interval.tv_sec == 0 && cur.it_interval.tv_usec == 10000);
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 10000);
    CHECK(wait_for(&alarms, before + 3, 3000));
    CHECK(alarm_code == SI_KERNEL);
    struct itimerval zero = { 0 };
    CHECK(setitimer(ITIMER_REAL, &zero, &old) == 0);
    CHECK(old.it_interval.tv_usec == 10000 && old.it_value.tv_usec <= 10000);
    usleep(30 * 1000);
    int settled = alarms;
    usleep(50 * 1000);
    CHECK(alarms == settled);
    CHECK(getitimer(ITIMER_REAL, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0 &&
          cur.it_interval.tv_usec == 0);

    // Bad arguments; CPU-time timers cannot be armed here (docs/linux-abi.md) but read as
    // disarmed, and disarming them works.
    CHECK(setitimer(99, &tv, NULL) == -1 && errno == EINVAL);
    CHECK(getitimer(99, &cur) == -1 && errno == EINVAL);
    struct itimerval bad = { .it_value = { 0, 1000000 } };
    CHECK(setitimer(ITIMER_REAL, &bad, NULL) == -1 && errno == EINVAL);
    bad.it_value.tv_usec = -1;
    CHECK(setitimer(ITIMER_REAL, &bad, NULL) == -1 && errno == EINVAL);
    CHECK(setitimer(ITIMER_REAL, (struct itimerval*)1, NULL) == -1 && errno == EFAULT);
    CHECK(getitimer(ITIMER_REAL, (struct itimerval*)1) == -1 && errno == EFAULT);
    CHECK(setitimer(ITIMER_VIRTUAL, &tv, NULL) == -1 && errno == EINVAL);
    CHECK(setitimer(ITIMER_PROF, &zero, &old) == 0 && old.it_value.tv_usec == 0);
    CHECK(getitimer(ITIMER_VIRTUAL, &cur) == 0 && cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);
}

static void alarms_left(void)
{
    CHECK(alarm(5) == 0);
    CHECK(alarm(3) == 5); // 4.99... seconds left: rounded
    CHECK(alarm(0) == 3);
    CHECK(alarm(0) == 0);
    struct itimerval tv = { .it_value = { 2, 700000 } };
    CHECK(setitimer(ITIMER_REAL, &tv, NULL) == 0);
    CHECK(alarm(0) == 3);
    tv.it_value = (struct timeval) { 2, 200000 };
    CHECK(setitimer(ITIMER_REAL, &tv, NULL) == 0);
    CHECK(alarm(0) == 2);
    tv.it_value = (struct timeval) { 0, 300000 };
    CHECK(setitimer(ITIMER_REAL, &tv, NULL) == 0);
    CHECK(alarm(0) == 1); // never 0 while an alarm is pending
}

// ---- POSIX timers -------------------------------------------------------------------------

static void posix_signal(void)
{
    int signo = SIGRTMIN + 1;
    set_handler(signo, on_rt, SA_RESTART);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = signo;
    sev.sigev_value.sival_int = 77;
    timer_t t;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0);
    struct itimerspec cur;
    CHECK(timer_gettime(t, &cur) == 0 && ns_of(cur.it_value) == 0);

    int before = rt_signals;
    uint64_t start = now_ns(CLOCK_MONOTONIC);
    struct itimerspec its = itimerspec_of(20 * MS, 0);
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
    CHECK(wait_for(&rt_signals, before + 1, 3000));
    CHECK(now_ns(CLOCK_MONOTONIC) - start >= 20 * MS);
    CHECK(rt_code == SI_TIMER && rt_value == 77);
    CHECK(timer_gettime(t, &cur) == 0 && ns_of(cur.it_value) == 0);
    CHECK(timer_getoverrun(t) == 0);

    // Periodic, then disarmed with the old setting returned.
    its = itimerspec_of(10 * MS, 10 * MS);
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
    CHECK(wait_for(&rt_signals, before + 4, 3000));
    struct itimerspec zero = itimerspec_of(0, 0), old;
    CHECK(timer_settime(t, 0, &zero, &old) == 0);
    CHECK(ns_of(old.it_interval) == 10 * MS && ns_of(old.it_value) <= 10 * MS);
    CHECK(timer_delete(t) == 0);
    CHECK(timer_delete(t) == -1 && errno == EINVAL);
    CHECK(timer_gettime(t, &cur) == -1 && errno == EINVAL);
}

// A null sigevent: SIGALRM whose value is the timer's id (raw calls: the kernel's id).
static void posix_default_event(void)
{
    set_handler(SIGALRM, on_alarm, SA_RESTART);
    int id = -1;
    CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, NULL, &id) == 0 && id >= 0);
    int before = alarms;
    struct itimerspec its = itimerspec_of(20 * MS, 0);
    CHECK(syscall(SYS_timer_settime, id, 0, &its, NULL) == 0);
    CHECK(wait_for(&alarms, before + 1, 3000));
    CHECK(alarm_code == SI_TIMER && alarm_timerid == id && alarm_value == id);
    CHECK(syscall(SYS_timer_delete, id) == 0);
}

// SIGEV_NONE: nothing is sent, timer_gettime follows the clock; absolute realtime settings.
static void posix_none_absolute(void)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    timer_t t;
    CHECK(timer_create(CLOCK_REALTIME, &sev, &t) == 0);
    struct itimerspec its = itimerspec_of(now_ns(CLOCK_REALTIME) + 30 * MS, 0), cur;
    CHECK(timer_settime(t, TIMER_ABSTIME, &its, NULL) == 0);
    CHECK(timer_gettime(t, &cur) == 0 && ns_of(cur.it_value) > 0 && ns_of(cur.it_value) <= 30 * MS);
    usleep(50 * 1000);
    CHECK(timer_gettime(t, &cur) == 0 && ns_of(cur.it_value) == 0);
    its = itimerspec_of(20 * MS, 20 * MS);
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
    usleep(30 * 1000);
    CHECK(timer_gettime(t, &cur) == 0 && ns_of(cur.it_value) > 0 && ns_of(cur.it_value) <= 20 * MS &&
          ns_of(cur.it_interval) == 20 * MS);
    CHECK(timer_delete(t) == 0);
}

// SIGEV_THREAD_ID: the signal goes to the named thread although the main thread would take
// it too.
static volatile sig_atomic_t worker_tid;
static void* worker(void* arg)
{
    (void)arg;
    worker_tid = (sig_atomic_t)syscall(SYS_gettid);
    for (int i = 0; i < 3000 && rt_tid != worker_tid; ++i)
        usleep(1000);
    return NULL;
}

static void posix_thread_id(void)
{
    int signo = SIGRTMIN + 3;
    set_handler(signo, on_rt, SA_RESTART);
    rt_tid = 0;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, worker, NULL) == 0);
    for (int i = 0; i < 3000 && !worker_tid; ++i)
        usleep(1000);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = signo;
    sev._sigev_un._tid = worker_tid;
    timer_t t;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0);
    struct itimerspec its = itimerspec_of(20 * MS, 0);
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK(rt_tid == worker_tid && rt_code == SI_TIMER);
    CHECK(timer_delete(t) == 0);

    sev._sigev_un._tid = 999999;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == -1 && errno == EINVAL);
}

// Overruns: the signal is blocked while a 5 ms timer runs for 100 ms; the one pending signal
// counts the expirations it stands for.
static void posix_overrun(void)
{
    int signo = SIGRTMIN + 4;
    sigset_t set, saved;
    sigemptyset(&set);
    sigaddset(&set, signo);
    CHECK(sigprocmask(SIG_BLOCK, &set, &saved) == 0);
    static int cookie;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = signo;
    sev.sigev_value.sival_ptr = &cookie;
    timer_t t;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0);
    uint64_t start = now_ns(CLOCK_MONOTONIC);
    struct itimerspec its = itimerspec_of(5 * MS, 5 * MS);
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
    usleep(100 * 1000);
    siginfo_t si;
    struct timespec timeout = { 2, 0 };
    CHECK(sigtimedwait(&set, &si, &timeout) == signo);
    uint64_t periods = (now_ns(CLOCK_MONOTONIC) - start) / (5 * MS);
    CHECK(si.si_code == SI_TIMER && si.si_value.sival_ptr == &cookie);
    CHECK(si.si_overrun >= 3 && (uint64_t)si.si_overrun < periods);
    int overrun = timer_getoverrun(t);
    CHECK(overrun >= si.si_overrun && (uint64_t)overrun < periods);
    CHECK(timer_delete(t) == 0);
    struct timespec no_wait = { 0, 0 };
    (void)sigtimedwait(&set, &si, &no_wait); // one may have been sent meanwhile
    CHECK(sigprocmask(SIG_SETMASK, &saved, NULL) == 0);
}

static void posix_bad_arguments(void)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN + 1;
    int id;
    CHECK(syscall(SYS_timer_create, 12345, &sev, &id) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, (void*)1, &id) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, (void*)1) == -1 && errno == EFAULT);
    sev.sigev_signo = 0;
    CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) == -1 && errno == EINVAL);
    sev.sigev_signo = 65;
    CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) == -1 && errno == EINVAL);
    sev.sigev_signo = SIGRTMIN + 1;
    sev.sigev_notify = 99;
    CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) == -1 && errno == EINVAL);

    sev.sigev_notify = SIGEV_NONE;
    CHECK(syscall(SYS_timer_create, CLOCK_BOOTTIME, &sev, &id) == 0);
    struct itimerspec its = itimerspec_of(10 * MS, 0), cur;
    its.it_value.tv_nsec = 1000000000;
    CHECK(syscall(SYS_timer_settime, id, 0, &its, NULL) == -1 && errno == EINVAL);
    its = itimerspec_of(10 * MS, 0);
    its.it_interval.tv_nsec = -1;
    CHECK(syscall(SYS_timer_settime, id, 0, &its, NULL) == -1 && errno == EINVAL);
    its = itimerspec_of(10 * MS, 0);
    its.it_value.tv_sec = -1;
    CHECK(syscall(SYS_timer_settime, id, 0, &its, NULL) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_settime, id, 0, NULL, NULL) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_settime, id, 0, (void*)1, NULL) == -1 && errno == EFAULT);
    its = itimerspec_of(10000 * MS, 0);
    CHECK(syscall(SYS_timer_settime, id, 0, &its, (void*)1) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_timer_gettime, id, (void*)1) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_timer_settime, 5000, 0, &its, NULL) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_gettime, -1, &cur) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_getoverrun, 5000) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_delete, -1) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_timer_delete, id) == 0);
}

// The per-process limit: EAGAIN beyond it, and every timer can be deleted again.
static void posix_limit(void)
{
    static int ids[1200];
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    int n = 0;
    while (n < 1200 && syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &ids[n]) == 0)
        ++n;
    CHECK(n >= 1000 && n < 1200 && errno == EAGAIN);
    int deleted = 0;
    for (int i = 0; i < n; ++i)
        deleted += syscall(SYS_timer_delete, ids[i]) == 0;
    CHECK(deleted == n);
}

// Timers closed and deleted while they fire (on whichever CPU the timer thread runs).
static void* churn(void* arg)
{
    (void)arg;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGWINCH; // ignored: discarded on arrival
    for (int i = 0; i < 200; ++i) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
        CHECK(fd >= 0);
        struct itimerspec its = itimerspec_of(50000, 50000);
        CHECK(timerfd_settime(fd, 0, &its, NULL) == 0);
        uint64_t until = now_ns(CLOCK_MONOTONIC) + 100000, n;
        while (now_ns(CLOCK_MONOTONIC) < until)
            (void)read(fd, &n, sizeof n);
        CHECK(close(fd) == 0);

        int id;
        CHECK(syscall(SYS_timer_create, CLOCK_MONOTONIC, &sev, &id) == 0);
        CHECK(syscall(SYS_timer_settime, id, 0, &its, NULL) == 0);
        until = now_ns(CLOCK_MONOTONIC) + 150000;
        while (now_ns(CLOCK_MONOTONIC) < until) {
        }
        CHECK(syscall(SYS_timer_delete, id) == 0);
    }
    return NULL;
}

static void close_while_firing(void)
{
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, churn, NULL) == 0);
    CHECK(pthread_create(&b, NULL, churn, NULL) == 0);
    CHECK(pthread_join(a, NULL) == 0 && pthread_join(b, NULL) == 0);
}

// glibc's SIGEV_THREAD: a helper thread takes SIGEV_THREAD_ID signals and runs the function.
static volatile sig_atomic_t thread_calls;
static void on_timer_thread(union sigval v)
{
    if (v.sival_int == 5)
        ++thread_calls;
}

static void posix_sigev_thread(void)
{
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD;
    sev.sigev_notify_function = on_timer_thread;
    sev.sigev_value.sival_int = 5;
    timer_t t;
    CHECK(timer_create(CLOCK_MONOTONIC, &sev, &t) == 0);
    struct itimerspec its = itimerspec_of(20 * MS, 0);
    CHECK(timer_settime(t, 0, &its, NULL) == 0);
    CHECK(wait_for(&thread_calls, 1, 3000));
    CHECK(timer_delete(t) == 0);
}

// getrusage and times see the CPU time a busy loop used; the process clock agrees.
static void cpu_usage(void)
{
    struct timespec t0, t1;
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0) == 0);
    volatile uint64_t x = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        for (int i = 0; i < 100000; i++)
            x += i;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000000000L + (now.tv_nsec - start.tv_nsec) < 50000000L);
    CHECK(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1) == 0);
    long used_ns = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec);
    CHECK(used_ns >= 20000000L);
    struct rusage ru;
    CHECK(getrusage(RUSAGE_SELF, &ru) == 0);
    long ru_us = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
    CHECK(ru_us >= 20000L);
    CHECK(getrusage(RUSAGE_THREAD, &ru) == 0);
    CHECK(getrusage(RUSAGE_CHILDREN, &ru) == 0);
    CHECK(getrusage(7, &ru) == -1 && errno == EINVAL);
    struct tms tm;
    clock_t ticks = times(&tm);
    CHECK(ticks != (clock_t)-1 && tm.tms_utime + tm.tms_stime >= 2);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    cpu_usage();
    timerfd_periodic();
    timerfd_nonblocking_gettime_disarm();
    timerfd_epoll_poll();
    timerfd_absolute();
    timerfd_interrupted();
    timerfd_bad_arguments();
    itimer_real();
    alarms_left();
    posix_signal();
    posix_default_event();
    posix_none_absolute();
    posix_thread_id();
    posix_overrun();
    posix_bad_arguments();
    posix_limit();
    close_while_firing();
    posix_sigev_thread(); // last: glibc's helper thread stays
    if (failures) {
        printf("timers: %d failures\n", failures);
        return 1;
    }
    printf("timers: ok\n");
    return 0;
}
