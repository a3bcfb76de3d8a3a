// Linux-ABI gaps: a console read cut short by signals (EINTR without SA_RESTART, restarted
// with it, in the main thread and in another), wait4/waitid with no children (ECHILD, option
// checks, bad pointers untouched), flock between two open()s of one file (EWOULDBLOCK, a
// blocking LOCK_SH that waits for LOCK_UN, interrupted waits, release on the last close) and
// fcntl's record-lock checks; user and group ids dropped by Linux's rules, process group and
// session; sendfile, copy_file_range, fadvise, readahead. Prints "gaps: ok" and exits 0.
//
// The console read needs a stdin with no input: `nimbus run` gives QEMU none (its stdin is
// /dev/null), so read(0) blocks until a signal arrives.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/sendfile.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            printf("gaps: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno));         \
            ++failures;                                                                               \
        }                                                                                             \
    } while (0)

static volatile sig_atomic_t alarms, usr1s;
static void on_alarm(int sig) { (void)sig; ++alarms; }
static void on_usr1(int sig) { (void)sig; ++usr1s; }

static void set_handler(int sig, void (*fn)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(sig, &sa, NULL) == 0);
}

// SIGALRM once, `ms` milliseconds from now.
static void alarm_in_ms(long ms)
{
    struct itimerval it = { { 0, 0 }, { ms / 1000, (ms % 1000) * 1000 } };
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

// ---- console reads and signals ---------------------------------------------------------------

struct Reader {
    pthread_t thread;
    long result;
    int error;
    volatile int started;
};

static void* read_stdin(void* arg)
{
    struct Reader* r = arg;
    char c;
    r->started = 1;
    r->result = read(0, &c, 1);
    r->error = errno;
    return NULL;
}

static void* kill_later(void* arg)
{
    // SIGALRM is process-directed: blocked here, it goes to the reader.
    sigset_t alrm;
    sigemptyset(&alrm);
    sigaddset(&alrm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alrm, NULL);
    sleep_ms(300);
    pthread_kill(*(pthread_t*)arg, SIGUSR1);
    return NULL;
}

static void console_tests(void)
{
    char c;
    // A handler without SA_RESTART: the read fails with EINTR.
    set_handler(SIGALRM, on_alarm, 0);
    alarm_in_ms(50);
    errno = 0;
    long n = read(0, &c, 1);
    CHECK(n == -1 && errno == EINTR);
    CHECK(alarms == 1);

    // With SA_RESTART the read runs again after SIGALRM's handler; SIGUSR1 (no SA_RESTART),
    // sent later by another thread, ends it.
    set_handler(SIGALRM, on_alarm, SA_RESTART);
    set_handler(SIGUSR1, on_usr1, 0);
    pthread_t self = pthread_self(), killer;
    CHECK(pthread_create(&killer, NULL, kill_later, &self) == 0);
    alarm_in_ms(50);
    errno = 0;
    n = read(0, &c, 1);
    CHECK(n == -1 && errno == EINTR);
    CHECK(alarms == 2 && usr1s == 1);
    pthread_join(killer, NULL);

    // Another thread blocked in read(0), interrupted by a signal sent to it.
    struct Reader r = { 0 };
    CHECK(pthread_create(&r.thread, NULL, read_stdin, &r) == 0);
    while (!r.started)
        sleep_ms(5);
    sleep_ms(50); // into the read
    pthread_kill(r.thread, SIGUSR1);
    pthread_join(r.thread, NULL);
    CHECK(r.result == -1 && r.error == EINTR);
    CHECK(usr1s == 2);

    // Non-blocking: EAGAIN at once.
    int flags = fcntl(0, F_GETFL);
    CHECK(fcntl(0, F_SETFL, flags | O_NONBLOCK) == 0);
    CHECK(read(0, &c, 1) == -1 && errno == EAGAIN);
    CHECK(fcntl(0, F_SETFL, flags) == 0);
}

// ---- wait4 and waitid ---------------------------------------------------------------------

static void wait_tests(void)
{
    int status = 12345;
    CHECK(wait4(-1, &status, 0, NULL) == -1 && errno == ECHILD && status == 12345);
    CHECK(waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD);
    CHECK(waitpid(7, &status, 0) == -1 && errno == ECHILD);
    CHECK(wait(&status) == -1 && errno == ECHILD);
    // No child: the pointers are never touched, however bad.
    CHECK(syscall(SYS_wait4, -1, (int*)0xdead0000, 0, (void*)0xffffffff80100000ull) == -1 && errno == ECHILD);
    CHECK(syscall(SYS_wait4, -1, &status, 0x100, NULL) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_wait4, (int)0x80000000, &status, 0, NULL) == -1 && errno == ESRCH);
    CHECK(syscall(SYS_wait4, -1, &status, __WALL | __WCLONE | WUNTRACED | WCONTINUED, NULL) == -1 && errno == ECHILD);

    // waitid writes its siginfo even then (zeros: no child), as Linux does; EFAULT if it cannot.
    siginfo_t info;
    memset(&info, 0x5a, sizeof info);
    CHECK(waitid(P_ALL, 0, &info, WEXITED) == -1 && errno == ECHILD && info.si_signo == 0 && info.si_pid == 0);
    CHECK(waitid(P_PID, 3, &info, WEXITED | WNOHANG) == -1 && errno == ECHILD);
    CHECK(syscall(SYS_waitid, P_ALL, 0, NULL, WEXITED, (void*)0xdead0000) == -1 && errno == ECHILD);
    CHECK(syscall(SYS_waitid, P_ALL, 0, (void*)0xdead0000, WEXITED, NULL) == -1 && errno == EFAULT);
    CHECK(syscall(SYS_waitid, P_ALL, 0, (void*)0xffffffff80100000ull, WEXITED, NULL) == -1 && errno == EFAULT);
    CHECK(waitid(P_ALL, 0, &info, 0) == -1 && errno == EINVAL);               // no event asked for
    CHECK(waitid(P_ALL, 0, &info, WEXITED | 0x100) == -1 && errno == EINVAL); // unknown bit
    CHECK(waitid((idtype_t)9, 0, &info, WEXITED) == -1 && errno == EINVAL);
    CHECK(waitid(P_PID, 0, &info, WEXITED) == -1 && errno == EINVAL);
    CHECK(waitid(P_PGID, -1, &info, WEXITED) == -1 && errno == EINVAL);
    CHECK(waitid(P_PIDFD, 999, &info, WEXITED) == -1 && errno == EBADF);
    CHECK(waitid(P_PIDFD, 1, &info, WEXITED) == -1 && errno == EBADF); // open, but not a pidfd
}

// ---- flock ----------------------------------------------------------------------------------

static const char* const kLockFile = "/tmp/gaps.lock";
static volatile int unlocked;

struct Locker {
    int fd;
    int op;
    int result;
    int error;
    int saw_unlocked;
    volatile int started;
};

static void* lock_blocking(void* arg)
{
    struct Locker* l = arg;
    l->started = 1;
    l->result = flock(l->fd, l->op);
    l->error = errno;
    l->saw_unlocked = unlocked;
    return NULL;
}

static void flock_tests(void)
{
    int a = open(kLockFile, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int b = open(kLockFile, O_RDONLY);
    CHECK(a >= 0 && b >= 0);

    // Exclusive in one description: the other's LOCK_NB attempts fail, shared or not.
    CHECK(flock(a, LOCK_EX) == 0);
    CHECK(flock(a, LOCK_EX) == 0); // again: nothing changes
    CHECK(flock(b, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
    CHECK(flock(b, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK);

    // A blocking LOCK_SH in another thread waits until LOCK_UN.
    struct Locker l = { .fd = b, .op = LOCK_SH };
    pthread_t t;
    CHECK(pthread_create(&t, NULL, lock_blocking, &l) == 0);
    while (!l.started)
        sleep_ms(5);
    sleep_ms(100);
    unlocked = 1;
    CHECK(flock(a, LOCK_UN) == 0);
    pthread_join(t, NULL);
    CHECK(l.result == 0 && l.saw_unlocked == 1);

    // Shared locks coexist; an exclusive one waits for them (here: fails with LOCK_NB).
    CHECK(flock(a, LOCK_SH | LOCK_NB) == 0);
    CHECK(flock(a, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK); // b holds a shared lock
    CHECK(flock(b, LOCK_UN) == 0);
    CHECK(flock(a, LOCK_EX | LOCK_NB) == 0); // converted, alone now
    CHECK(flock(a, LOCK_SH) == 0);           // and back
    CHECK(flock(a, LOCK_UN) == 0);
    CHECK(flock(a, LOCK_UN) == 0); // nothing held: still fine

    // A blocking wait is interrupted by a signal whose handler has no SA_RESTART.
    CHECK(flock(a, LOCK_EX) == 0);
    set_handler(SIGALRM, on_alarm, 0);
    alarm_in_ms(50);
    CHECK(flock(b, LOCK_EX) == -1 && errno == EINTR);

    // The lock belongs to the description: it survives closing one of two descriptors and
    // goes with the last.
    int a2 = dup(a);
    CHECK(a2 >= 0);
    CHECK(close(a) == 0);
    CHECK(flock(b, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
    CHECK(close(a2) == 0);
    CHECK(flock(b, LOCK_EX | LOCK_NB) == 0);
    // dup2 over the last descriptor releases too.
    int c = open(kLockFile, O_RDONLY);
    CHECK(c >= 0);
    CHECK(flock(c, LOCK_SH | LOCK_NB) == -1 && errno == EWOULDBLOCK);
    int devnull = open("/dev/null", O_RDONLY);
    CHECK(dup2(devnull, b) == b); // b's description (and its lock) is gone
    CHECK(flock(c, LOCK_SH | LOCK_NB) == 0);

    // A waiter wakes when the holder's last descriptor closes.
    CHECK(flock(c, LOCK_EX) == 0);
    int d = open(kLockFile, O_RDONLY);
    struct Locker l2 = { .fd = d, .op = LOCK_EX };
    unlocked = 0;
    CHECK(pthread_create(&t, NULL, lock_blocking, &l2) == 0);
    while (!l2.started)
        sleep_ms(5);
    sleep_ms(50);
    unlocked = 1;
    CHECK(close(c) == 0);
    pthread_join(t, NULL);
    CHECK(l2.result == 0 && l2.saw_unlocked == 1);

    // Errors.
    CHECK(flock(d, 0) == -1 && errno == EINVAL);
    CHECK(flock(d, LOCK_NB) == -1 && errno == EINVAL);
    CHECK(flock(d, LOCK_SH | LOCK_EX) == -1 && errno == EINVAL);
    CHECK(flock(d, 16) == -1 && errno == EINVAL);
    CHECK(flock(-1, LOCK_SH) == -1 && errno == EBADF);
    CHECK(flock(999, LOCK_SH) == -1 && errno == EBADF);
    int path_only = open(kLockFile, O_PATH);
    CHECK(path_only >= 0 && flock(path_only, LOCK_SH) == -1 && errno == EBADF);
    close(path_only);
    close(d);
    close(devnull);
    close(b);
}

// ---- fcntl record locks (one process: never a conflict) ---------------------------------

static void record_lock_tests(void)
{
    int rw = open(kLockFile, O_RDWR);
    int ro = open(kLockFile, O_RDONLY);
    CHECK(rw >= 0 && ro >= 0);
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10 };
    CHECK(fcntl(rw, F_SETLK, &fl) == 0);
    CHECK(fcntl(ro, F_SETLK, &fl) == -1 && errno == EBADF); // a write lock needs write access
    fl.l_type = F_RDLCK;
    CHECK(fcntl(ro, F_SETLKW, &fl) == 0);
    fl.l_type = F_WRLCK;
    CHECK(fcntl(ro, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK); // our own locks never conflict
    fl.l_type = F_UNLCK;
    CHECK(fcntl(rw, F_SETLK, &fl) == 0);
    CHECK(fcntl(rw, F_GETLK, &fl) == -1 && errno == EINVAL); // F_GETLK asks about RD or WR
    fl.l_type = 7;
    CHECK(fcntl(rw, F_SETLK, &fl) == -1 && errno == EINVAL);
    fl.l_type = F_RDLCK;
    fl.l_whence = 9;
    CHECK(fcntl(rw, F_SETLK, &fl) == -1 && errno == EINVAL);
    fl.l_whence = SEEK_SET;
    fl.l_start = -1;
    CHECK(fcntl(rw, F_SETLK, &fl) == -1 && errno == EINVAL);
    fl.l_start = 5;
    fl.l_len = -5; // [0, 4]
    CHECK(fcntl(rw, F_SETLK, &fl) == 0);
    fl.l_len = -6;
    CHECK(fcntl(rw, F_SETLK, &fl) == -1 && errno == EINVAL);
    fl.l_start = INT64_MAX;
    fl.l_len = 2;
    CHECK(fcntl(rw, F_SETLK, &fl) == -1 && errno == EOVERFLOW);
    CHECK(fcntl(rw, F_SETLK, (void*)0xdead0000) == -1 && errno == EFAULT);
    CHECK(fcntl(999, F_SETLK, &fl) == -1 && errno == EBADF);
    // Open-file-description locks are not implemented: EINVAL, as before Linux 3.15 (Linux
    // itself says EAGAIN here: the OFD lock conflicts with this process's read lock).
    struct flock ofd = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    CHECK(fcntl(rw, F_OFD_SETLK, &ofd) == -1 && errno == EINVAL);
    close(rw);
    close(ro);
}

// Ids: root at the start; dropping to another user follows Linux's rules (no way back once
// the saved id is gone); one process: pid = pgid = sid = 1.
static void identity_tests(void)
{
    CHECK(getuid() == 0 && geteuid() == 0 && getgid() == 0 && getegid() == 0);
    CHECK(getgroups(0, NULL) == 0);
    gid_t groups[2] = { 10, 20 };
    CHECK(setgroups(2, groups) == 0);
    gid_t back[4];
    CHECK(getgroups(0, NULL) == 2 && getgroups(4, back) == 2 && back[0] == 10 && back[1] == 20);
    CHECK(getgroups(1, back) == -1 && errno == EINVAL);
    CHECK(getpgrp() == 1 && getpgid(0) == 1 && getsid(0) == 1 && getpgid(2) == -1 && errno == ESRCH);
    CHECK(setsid() == -1 && errno == EPERM);
    CHECK(setpgid(0, 0) == -1 && errno == EPERM);
    // Drop the effective uid only (saved stays 0): it can come back.
    CHECK(setresuid(-1, 1000, -1) == 0 && geteuid() == 1000 && getuid() == 0);
    CHECK(setgroups(0, NULL) == -1 && errno == EPERM); // not privileged now
    CHECK(seteuid(0) == 0 && geteuid() == 0);
    // Drop the group, then the user for good: every id is 1000, and 0 is out of reach.
    CHECK(setgid(1000) == 0 && getgid() == 1000 && getegid() == 1000);
    CHECK(setuid(1000) == 0 && getuid() == 1000 && geteuid() == 1000);
    uid_t r, e, sv;
    CHECK(getresuid(&r, &e, &sv) == 0 && r == 1000 && e == 1000 && sv == 1000);
    CHECK(setuid(0) == -1 && errno == EPERM);
    CHECK(setreuid(-1, 0) == -1 && errno == EPERM);
    CHECK(setresuid(0, -1, -1) == -1 && errno == EPERM);
    CHECK(setuid(1000) == 0); // to one's own id is fine
}

// sendfile and copy_file_range between ramfs files (and to a pipe), with and without
// offsets; fadvise and readahead are checked and accepted.
static void transfer_tests(void)
{
    char data[10000];
    for (size_t i = 0; i < sizeof data; ++i)
        data[i] = (char)(i * 7 + 3);
    int in = open("/tmp/xfer-in", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(in >= 0 && write(in, data, sizeof data) == (ssize_t)sizeof data);
    int out = open("/tmp/xfer-out", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(out >= 0);
    // copy_file_range at explicit offsets: the file offsets stay, the pointers advance.
    loff_t off_in = 100, off_out = 0;
    CHECK(copy_file_range(in, &off_in, out, &off_out, 5000, 0) == 5000 && off_in == 5100 && off_out == 5000);
    CHECK(lseek(in, 0, SEEK_CUR) == sizeof data && lseek(out, 0, SEEK_CUR) == 0);
    char back[10000];
    CHECK(pread(out, back, 5000, 0) == 5000 && memcmp(back, data + 100, 5000) == 0);
    // At the file offsets, up to the end of the input.
    CHECK(lseek(in, 9000, SEEK_SET) == 9000 && lseek(out, 5000, SEEK_SET) == 5000);
    CHECK(copy_file_range(in, NULL, out, NULL, 5000, 0) == 1000);
    CHECK(lseek(in, 0, SEEK_CUR) == 10000 && lseek(out, 0, SEEK_CUR) == 6000);
    CHECK(copy_file_range(in, NULL, out, NULL, 10, 0) == 0); // at the end: nothing
    CHECK(copy_file_range(in, NULL, out, NULL, 10, 1) == -1 && errno == EINVAL);
    loff_t a = 0, b = 10;
    CHECK(copy_file_range(in, &a, in, &b, 100, 0) == -1 && errno == EINVAL); // overlap
    // sendfile to a pipe, with an offset: in's file offset stays.
    int p[2];
    CHECK(pipe(p) == 0);
    off_t off = 10;
    CHECK(sendfile(p[1], in, &off, 300) == 300 && off == 310 && lseek(in, 0, SEEK_CUR) == 10000);
    CHECK(read(p[0], back, sizeof back) == 300 && memcmp(back, data + 10, 300) == 0);
    CHECK(sendfile(in, p[0], NULL, 10) == -1 && errno == EINVAL); // the input must be a file
    CHECK(sendfile(out, in, (off_t*)1, 10) == -1 && errno == EFAULT);
    // Advice: checked, then nothing to do.
    CHECK(posix_fadvise(in, 0, 0, POSIX_FADV_SEQUENTIAL) == 0);
    CHECK(posix_fadvise(in, 0, 0, 99) == EINVAL && posix_fadvise(p[0], 0, 0, 0) == ESPIPE);
    CHECK(posix_fadvise(-1, 0, 0, 0) == EBADF);
    CHECK(readahead(in, 0, 4096) == 0 && readahead(p[0], 0, 1) == -1 && errno == EINVAL);
    close(p[0]);
    close(p[1]);
    close(in);
    close(out);
}

int main(void)
{
    // Keep the output in order with the kernel's (the console is unbuffered there).
    setvbuf(stdout, NULL, _IONBF, 0);
    console_tests();
    wait_tests();
    flock_tests();
    record_lock_tests();
    identity_tests();
    transfer_tests();
    if (failures) {
        printf("gaps: %d failures\n", failures);
        return 1;
    }
    printf("gaps: ok\n");
    return 0;
}
