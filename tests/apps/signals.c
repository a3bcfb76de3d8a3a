// Signals under Nimbus: handlers with siginfo, masks and sigpending, the alternate stack,
// fault signals caught and recovered (NULL read, write to a read-only page fixed by the
// handler, integer division by zero), tgkill to a busy thread (delivered on that thread),
// the FP state kept across a handler, sigsuspend and sigtimedwait; interrupted calls
// restarted after SA_RESTART handlers (pipe read, futex wait) or failing with EINTR; the
// temporary masks of ppoll, pselect and epoll_pwait; signalfd; robust mutexes whose owner
// exited. Prints "signals: ok".
// With an argument, the default actions: "abort" (134), "term" (143).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static int failures;
#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            printf("signals: FAIL line %d: %s\n", __LINE__, #cond);      \
            ++failures;                                                  \
        }                                                                \
    } while (0)

static volatile sig_atomic_t usr1_count;
static volatile int usr1_code, usr1_signo;
static void on_usr1(int sig, siginfo_t* info, void* uc)
{
    (void)uc;
    ++usr1_count;
    usr1_signo = sig;
    usr1_code = info->si_code;
}

static char altstack[64 * 1024];
static volatile int on_altstack;
static void on_usr2_alt(int sig)
{
    (void)sig;
    char here;
    on_altstack = &here >= altstack && &here < altstack + sizeof(altstack);
}

static sigjmp_buf recover;
static volatile void* fault_addr;
static volatile int fault_code;
static void on_fault(int sig, siginfo_t* info, void* uc)
{
    (void)uc;
    fault_addr = info->si_addr;
    fault_code = info->si_code;
    siglongjmp(recover, sig);
}

static char* ro_page;
static void on_segv_fix(int sig, siginfo_t* info, void* uc)
{
    (void)sig, (void)uc;
    fault_addr = info->si_addr;
    mprotect(ro_page, 4096, PROT_READ | PROT_WRITE); // returning retries the write
}

static atomic_int busy_running, busy_stop;
static atomic_int busy_tid, handler_tid;
static void on_usr2_busy(int sig)
{
    (void)sig;
    atomic_store(&handler_tid, (int)syscall(SYS_gettid));
    atomic_store(&busy_stop, 1);
}
static void* busy_loop(void* arg)
{
    (void)arg;
    atomic_store(&busy_tid, (int)syscall(SYS_gettid));
    atomic_store(&busy_running, 1);
    while (!atomic_load(&busy_stop)) {
    }
    return NULL;
}

static void on_fp(int sig)
{
    (void)sig;
    volatile double x = 3.0;
    for (int i = 0; i < 10; ++i)
        x = x * 1.5 + 0.25;
}

static void on_alrm(int sig) { (void)sig; }

static int main_tid;
static void* wake_main(void* arg)
{
    (void)arg;
    usleep(50 * 1000);
    syscall(SYS_tgkill, getpid(), main_tid, SIGALRM);
    return NULL;
}

// ---- interrupted calls and SA_RESTART ----------------------------------------------------

static atomic_int interrupt_handled;
static void on_interrupt(int sig)
{
    (void)sig;
    atomic_fetch_add(&interrupt_handled, 1);
}

enum blocking_op { OP_PIPE_READ, OP_FUTEX_WAIT };
static int restart_pipe[2];
static atomic_uint restart_futex;
static char restart_buf[16];
static atomic_int blocked_tid, blocked_started, blocked_done;
static long blocked_result;
static int blocked_errno;

static void* blocked_call(void* arg)
{
    enum blocking_op op = (enum blocking_op)(intptr_t)arg;
    atomic_store(&blocked_tid, (int)syscall(SYS_gettid));
    atomic_store(&blocked_started, 1);
    if (op == OP_PIPE_READ)
        blocked_result = read(restart_pipe[0], restart_buf, sizeof(restart_buf));
    else
        blocked_result = syscall(SYS_futex, &restart_futex, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    blocked_errno = errno;
    atomic_store(&blocked_done, 1);
    return NULL;
}

static int wait_for(atomic_int* flag, int ms)
{
    for (int i = 0; i < ms && !atomic_load(flag); ++i)
        usleep(1000);
    return atomic_load(flag);
}

// A thread blocked in `op` gets a signal whose handler has SA_RESTART (`restart`) or not.
// With it, the handler runs and the call carries on until it completes normally; without it,
// the call fails with EINTR.
static void check_interrupted_call(enum blocking_op op, int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sa.sa_flags = restart ? SA_RESTART : 0;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    CHECK(pipe(restart_pipe) == 0);
    atomic_store(&restart_futex, 0);
    atomic_store(&interrupt_handled, 0);
    atomic_store(&blocked_started, 0);
    atomic_store(&blocked_done, 0);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, blocked_call, (void*)(intptr_t)op) == 0);
    CHECK(wait_for(&blocked_started, 5000));
    usleep(50 * 1000); // into the blocking call
    CHECK(syscall(SYS_tgkill, getpid(), atomic_load(&blocked_tid), SIGUSR1) == 0);
    CHECK(wait_for(&interrupt_handled, 5000));
    if (restart) {
        usleep(50 * 1000);
        CHECK(!atomic_load(&blocked_done)); // restarted: still waiting
    } else {
        // In case the first signal came before the call blocked: until the call ends.
        for (int i = 0; i < 50 && !wait_for(&blocked_done, 100); ++i)
            syscall(SYS_tgkill, getpid(), atomic_load(&blocked_tid), SIGUSR1);
        CHECK(atomic_load(&blocked_done));
    }
    if (!atomic_load(&blocked_done)) { // let the call complete
        if (op == OP_PIPE_READ) {
            CHECK(write(restart_pipe[1], "hello", 5) == 5);
        } else {
            atomic_store(&restart_futex, 1);
            syscall(SYS_futex, &restart_futex, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        }
    }
    pthread_join(thread, NULL);
    CHECK(atomic_load(&interrupt_handled) >= 1);
    if (restart && op == OP_PIPE_READ)
        CHECK(blocked_result == 5 && memcmp(restart_buf, "hello", 5) == 0);
    else if (restart)
        CHECK(blocked_result == 0);
    else
        CHECK(blocked_result == -1 && blocked_errno == EINTR);
    close(restart_pipe[0]);
    close(restart_pipe[1]);
}

// ---- the temporary masks of ppoll, pselect6, epoll_pwait -------------------------------------

static atomic_int mask_handled;
static volatile int frame_mask_blocks_usr1, handler_mask_blocks_usr2;
static void on_masked(int sig, siginfo_t* info, void* ucv)
{
    (void)sig, (void)info;
    ucontext_t* uc = ucv;
    // The frame holds the caller's mask (SIGUSR1 blocked); the handler runs with the call's.
    frame_mask_blocks_usr1 = sigismember(&uc->uc_sigmask, SIGUSR1);
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    handler_mask_blocks_usr2 = sigismember(&now, SIGUSR2);
    atomic_fetch_add(&mask_handled, 1);
}

static void* kill_later(void* arg)
{
    usleep(50 * 1000);
    kill(getpid(), (int)(intptr_t)arg); // process-directed: goes to the thread that takes it
    return NULL;
}

static int usr1_blocked(void)
{
    sigset_t now;
    sigprocmask(SIG_SETMASK, NULL, &now);
    return sigismember(&now, SIGUSR1);
}

static void check_temporary_masks(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_masked;
    sa.sa_flags = SA_SIGINFO | SA_RESTART; // none of these calls is restarted after a handler
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sigset_t usr1, during;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&during); // during the call: SIGUSR1 unblocked, SIGUSR2 blocked
    sigaddset(&during, SIGUSR2);
    CHECK(sigprocmask(SIG_BLOCK, &usr1, NULL) == 0);
    int fds[2];
    CHECK(pipe(fds) == 0);

    // ppoll on a silent pipe; another thread (blocking SIGUSR1 too) kills the process.
    atomic_store(&mask_handled, 0);
    frame_mask_blocks_usr1 = handler_mask_blocks_usr2 = 0;
    pthread_t killer;
    CHECK(pthread_create(&killer, NULL, kill_later, (void*)(intptr_t)SIGUSR1) == 0);
    struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
    struct timespec ten = { 10, 0 };
    int r = ppoll(&pfd, 1, &ten, &during);
    CHECK(r == -1 && errno == EINTR);
    CHECK(atomic_load(&mask_handled) == 1 && frame_mask_blocks_usr1 && handler_mask_blocks_usr2);
    CHECK(usr1_blocked());
    pthread_join(killer, NULL);

    // A signal already pending when the call unblocks it: pselect and epoll_pwait, the same.
    atomic_store(&mask_handled, 0);
    raise(SIGUSR1);
    CHECK(atomic_load(&mask_handled) == 0);
    fd_set rset;
    FD_ZERO(&rset);
    FD_SET(fds[0], &rset);
    frame_mask_blocks_usr1 = handler_mask_blocks_usr2 = 0;
    r = pselect(fds[0] + 1, &rset, NULL, NULL, &ten, &during);
    CHECK(r == -1 && errno == EINTR && atomic_load(&mask_handled) == 1 && usr1_blocked());
    CHECK(frame_mask_blocks_usr1 && handler_mask_blocks_usr2);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, fds[0], &ev) == 0);
    raise(SIGUSR1);
    r = epoll_pwait(ep, &ev, 1, 10000, &during);
    CHECK(r == -1 && errno == EINTR && atomic_load(&mask_handled) == 2 && usr1_blocked());

    // Not interrupted: the mask comes back at once and the pending signal stays pending.
    CHECK(write(fds[1], "x", 1) == 1);
    raise(SIGUSR1);
    sigset_t all_but_usr1; // the call blocks everything else: SIGUSR1 would be deliverable
    sigfillset(&all_but_usr1);
    sigdelset(&all_but_usr1, SIGUSR1);
    CHECK(ppoll(&pfd, 1, &ten, &all_but_usr1) == 1 && atomic_load(&mask_handled) == 2);
    CHECK(usr1_blocked());
    sigset_t pending;
    CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1));

    // No handler runs for a signal the call's mask lets through (SIGWINCH, ignored by
    // default, pending because blocked): the call starts again and waits out its timeout,
    // ppoll with the time left, epoll_pwait through restart_syscall.
    sigset_t winch;
    sigemptyset(&winch);
    sigaddset(&winch, SIGWINCH);
    CHECK(sigprocmask(SIG_BLOCK, &winch, NULL) == 0);
    char byte;
    CHECK(read(fds[0], &byte, 1) == 1); // the pipe is silent again
    sigset_t open_mask;
    sigemptyset(&open_mask);
    sigaddset(&open_mask, SIGUSR1);
    for (int call = 0; call < 2; ++call) {
        raise(SIGWINCH);
        CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGWINCH));
        struct timespec start, end, tenth = { 0, 100 * 1000 * 1000 };
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (call == 0)
            r = ppoll(&pfd, 1, &tenth, &open_mask);
        else
            r = epoll_pwait(ep, &ev, 1, 100, &open_mask);
        clock_gettime(CLOCK_MONOTONIC, &end);
        long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
        CHECK(r == 0 && ms >= 90 && ms < 5000);
        CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGWINCH));
    }
    CHECK(sigprocmask(SIG_UNBLOCK, &winch, NULL) == 0);

    // sigsetsize must be 8.
    CHECK(syscall(SYS_ppoll, &pfd, 1, &ten, &during, 16) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_epoll_pwait, ep, &ev, 1, 0, &during, 4) == -1 && errno == EINVAL);

    sigset_t none;
    sigemptyset(&none);
    CHECK(sigprocmask(SIG_SETMASK, &none, NULL) == 0); // takes the pending SIGUSR1
    close(ep);
    close(fds[0]);
    close(fds[1]);
}

// ---- signalfd --------------------------------------------------------------------------------

static int sfd_reader_fd;
static struct signalfd_siginfo sfd_reader_info;
static ssize_t sfd_reader_result;
static void* sfd_reader(void* arg)
{
    (void)arg;
    sfd_reader_result = read(sfd_reader_fd, &sfd_reader_info, sizeof(sfd_reader_info));
    return NULL;
}

static void check_signalfd(void)
{
    sigset_t usr2, both;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    CHECK(sigprocmask(SIG_BLOCK, &usr2, NULL) == 0);
    int sfd = signalfd(-1, &usr2, SFD_NONBLOCK | SFD_CLOEXEC);
    CHECK(sfd >= 0 && (fcntl(sfd, F_GETFD) & FD_CLOEXEC) && (fcntl(sfd, F_GETFL) & O_NONBLOCK));
    struct signalfd_siginfo si;
    CHECK(read(sfd, &si, sizeof(si)) == -1 && errno == EAGAIN);
    CHECK(read(sfd, &si, sizeof(si) - 1) == -1 && errno == EINVAL);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 42 };
    CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) == 0);
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0);

    raise(SIGUSR2);
    memset(&ev, 0, sizeof(ev));
    CHECK(epoll_wait(ep, &ev, 1, 1000) == 1 && (ev.events & EPOLLIN) && ev.data.u64 == 42);
    memset(&si, 0, sizeof(si));
    CHECK(read(sfd, &si, sizeof(si)) == sizeof(si));
    CHECK(si.ssi_signo == SIGUSR2 && si.ssi_code == SI_TKILL && si.ssi_pid == (uint32_t)getpid());
    CHECK(read(sfd, &si, sizeof(si)) == -1 && errno == EAGAIN);
    CHECK(epoll_wait(ep, &ev, 1, 0) == 0);
    sigset_t pending;
    CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGUSR2));

    // A new mask for the same descriptor; a blocking read on another thread takes a
    // process-directed signal that the main thread holds.
    sigemptyset(&both);
    sigaddset(&both, SIGUSR1);
    sigaddset(&both, SIGUSR2);
    CHECK(sigprocmask(SIG_BLOCK, &both, NULL) == 0);
    CHECK(signalfd(sfd, &both, 0) == sfd);
    CHECK(fcntl(sfd, F_SETFL, 0) == 0);
    sfd_reader_fd = sfd;
    sfd_reader_result = 0;
    memset(&sfd_reader_info, 0, sizeof(sfd_reader_info));
    pthread_t reader;
    CHECK(pthread_create(&reader, NULL, sfd_reader, NULL) == 0);
    usleep(50 * 1000);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    pthread_join(reader, NULL);
    CHECK(sfd_reader_result == sizeof(sfd_reader_info) && sfd_reader_info.ssi_signo == SIGUSR1 &&
          sfd_reader_info.ssi_code == SI_USER && sfd_reader_info.ssi_pid == (uint32_t)getpid());
    CHECK(sigpending(&pending) == 0 && !sigismember(&pending, SIGUSR1));

    // Not a signalfd: EINVAL; a bad size: EINVAL.
    CHECK(signalfd(ep, &both, 0) == -1 && errno == EINVAL);
    CHECK(syscall(SYS_signalfd4, -1, &both, 4, 0) == -1 && errno == EINVAL);
    close(ep);
    close(sfd);
    CHECK(sigprocmask(SIG_UNBLOCK, &both, NULL) == 0);
}

// ---- robust mutexes ------------------------------------------------------------------------

static pthread_mutex_t robust;
static atomic_int robust_locked;
static void* lock_and_exit(void* arg)
{
    pthread_mutex_lock(&robust);
    atomic_store(&robust_locked, 1);
    if (arg)
        usleep(100 * 1000); // the main thread is waiting by now: the exit must wake it
    return NULL; // exits holding the lock
}

// Robust lists the kernel must walk without faulting at the thread's exit: an unmapped
// entry, a cycle that never returns to the head, futex words in the kernel's half.
struct robust_head {
    void* next;
    long futex_offset;
    void* list_op_pending;
};
static void* exit_with_bad_robust_list(void* arg)
{
    static void* cycle[1] = { cycle };
    static struct robust_head heads[3];
    int which = (int)(intptr_t)arg;
    struct robust_head* h = &heads[which];
    h->next = which == 0 ? (void*)0x10 : (void*)cycle;
    h->futex_offset = which == 2 ? (long)0x7fff000000000000 : 0;
    h->list_op_pending = which == 1 ? (void*)0xffff800000001000 : NULL;
    CHECK(syscall(SYS_set_robust_list, h, sizeof(*h)) == 0);
    return NULL;
}

static void check_robust_mutex(void)
{
    for (int i = 0; i < 3; ++i) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, exit_with_bad_robust_list, (void*)(intptr_t)i) == 0);
        pthread_join(t, NULL);
    }
    CHECK(syscall(SYS_set_robust_list, NULL, 23) == -1 && errno == EINVAL);

    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    CHECK(pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0);
    CHECK(pthread_mutex_init(&robust, &attr) == 0);
    for (int waiting = 0; waiting < 2; ++waiting) {
        atomic_store(&robust_locked, 0);
        pthread_t owner;
        CHECK(pthread_create(&owner, NULL, lock_and_exit, (void*)(intptr_t)waiting) == 0);
        if (waiting)
            CHECK(wait_for(&robust_locked, 5000)); // then block in the lock
        else
            pthread_join(owner, NULL); // the owner is gone before the lock
        CHECK(pthread_mutex_lock(&robust) == EOWNERDEAD);
        CHECK(pthread_mutex_consistent(&robust) == 0);
        CHECK(pthread_mutex_unlock(&robust) == 0);
        CHECK(pthread_mutex_lock(&robust) == 0);
        CHECK(pthread_mutex_unlock(&robust) == 0);
        if (waiting)
            pthread_join(owner, NULL);
    }
    pthread_mutex_destroy(&robust);
}

// A signal from another thread reaches a thread that makes system calls in a loop at the
// return of its first call that starts after the sender's tgkill, not only at some later
// interrupt (the kernel tests one per-thread word there, which the sender sets: signal.h,
// "Return work"). The sender reads the loop's count after tgkill returns; the handler, which
// runs at that return (or earlier, at an interrupt in application code), sees at most one more.
static atomic_int loop_tid, loop_running, loop_got;
static atomic_long loop_count, loop_count_at_handler;
static void on_usr2_loop(int sig)
{
    (void)sig;
    atomic_store(&loop_count_at_handler, atomic_load(&loop_count));
    atomic_store(&loop_got, 1);
}
static void* syscall_loop(void* arg)
{
    (void)arg;
    atomic_store(&loop_tid, (int)syscall(SYS_gettid));
    atomic_store(&loop_running, 1);
    while (!atomic_load(&loop_got)) {
        syscall(SYS_getppid);
        atomic_fetch_add(&loop_count, 1);
    }
    return NULL;
}
static void check_signal_at_syscall_return(void)
{
    signal(SIGUSR2, on_usr2_loop);
    for (int round = 0; round < 20; ++round) {
        atomic_store(&loop_running, 0);
        atomic_store(&loop_got, 0);
        atomic_store(&loop_count, 0);
        pthread_t looper;
        CHECK(pthread_create(&looper, NULL, syscall_loop, NULL) == 0);
        CHECK(wait_for(&loop_running, 5000));
        usleep(1000 + 500 * round); // let it loop (and be preempted) somewhere else each round
        CHECK(syscall(SYS_tgkill, getpid(), atomic_load(&loop_tid), SIGUSR2) == 0);
        long after = atomic_load(&loop_count);
        CHECK(wait_for(&loop_got, 5000));
        pthread_join(looper, NULL);
        long seen = atomic_load(&loop_count_at_handler);
        if (seen > after + 1)
            printf("signals: round %d: delivered %ld calls late\n", round, seen - after);
        CHECK(seen <= after + 1);
    }
    signal(SIGUSR2, SIG_DFL);
}

int main(int argc, char** argv)
{
    if (argc > 1 && strcmp(argv[1], "abort") == 0) {
        printf("signals: calling abort\n");
        fflush(stdout);
        abort();
    }
    if (argc > 1 && strcmp(argv[1], "term") == 0) {
        printf("signals: SIGTERM to myself\n");
        fflush(stdout);
        kill(getpid(), SIGTERM);
        sleep(5);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

    // A handler runs, with siginfo.
    CHECK(raise(SIGUSR1) == 0);
    CHECK(usr1_count == 1 && usr1_signo == SIGUSR1 && usr1_code == SI_TKILL);

    // Blocked: pending until unblocked.
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
    CHECK(kill(getpid(), SIGUSR1) == 0);
    CHECK(usr1_count == 1);
    sigset_t pending;
    CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGUSR1));
    CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
    CHECK(usr1_count == 2 && usr1_code == SI_USER);

    // The alternate stack.
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack), .ss_flags = 0 };
    CHECK(sigaltstack(&ss, NULL) == 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2_alt;
    sa.sa_flags = SA_ONSTACK;
    CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    raise(SIGUSR2);
    CHECK(on_altstack);

    // Fault signals, caught: NULL read (SEGV_MAPERR, address 0), division by zero.
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0 && sigaction(SIGFPE, &sa, NULL) == 0);
    if (sigsetjmp(recover, 1) == 0) {
        volatile int* p = NULL;
        (void)*p;
        CHECK(!"NULL read did not fault");
    } else {
        CHECK(fault_addr == NULL && fault_code == SEGV_MAPERR);
    }
    if (sigsetjmp(recover, 1) == 0) {
        volatile int zero = 0;
        volatile int r = 7 / zero;
        (void)r;
        CHECK(!"division by zero did not trap");
    } else {
        CHECK(fault_code == FPE_INTDIV);
    }

    // A write to a read-only page; the handler makes it writable and the write is retried.
    ro_page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(ro_page != MAP_FAILED);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv_fix;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
    ro_page[100] = 42;
    CHECK(ro_page[100] == 42 && fault_addr == ro_page + 100);

    // The FP state survives a handler that uses the FPU.
    signal(SIGUSR2, on_fp);
    volatile double before = 1.0 / 3.0;
    raise(SIGUSR2);
    CHECK(before == 1.0 / 3.0);

    // tgkill to a thread spinning in application code: the handler runs on that thread.
    signal(SIGUSR2, on_usr2_busy);
    pthread_t busy;
    CHECK(pthread_create(&busy, NULL, busy_loop, NULL) == 0);
    for (int i = 0; i < 5000 && !atomic_load(&busy_running); ++i)
        usleep(1000);
    CHECK(syscall(SYS_tgkill, getpid(), atomic_load(&busy_tid), SIGUSR2) == 0);
    for (int i = 0; i < 5000 && !atomic_load(&busy_stop); ++i)
        usleep(1000);
    CHECK(atomic_load(&busy_stop));
    if (atomic_load(&busy_stop))
        pthread_join(busy, NULL);
    CHECK(atomic_load(&handler_tid) == atomic_load(&busy_tid));

    // sigtimedwait takes a blocked signal without a handler running; times out otherwise.
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGUSR1);
    siginfo_t si;
    struct timespec zero = { 0, 0 };
    CHECK(sigtimedwait(&set, &si, &zero) == SIGUSR1 && si.si_signo == SIGUSR1);
    CHECK(sigtimedwait(&set, &si, &zero) == -1);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    // A sleep cut short by a signal from another thread: EINTR, with the time remaining.
    signal(SIGALRM, on_alrm);
    main_tid = (int)syscall(SYS_gettid);
    pthread_t waker;
    CHECK(pthread_create(&waker, NULL, wake_main, NULL) == 0);
    struct timespec long_sleep = { 10, 0 }, rem = { 0, 0 };
    int slept = nanosleep(&long_sleep, &rem);
    CHECK(slept == -1 && errno == EINTR && rem.tv_sec > 5);
    pthread_join(waker, NULL);

    // Interrupted blocking calls: restarted after an SA_RESTART handler, EINTR otherwise.
    check_interrupted_call(OP_PIPE_READ, 1);
    check_interrupted_call(OP_PIPE_READ, 0);
    check_interrupted_call(OP_FUTEX_WAIT, 1);
    check_interrupted_call(OP_FUTEX_WAIT, 0);

    check_temporary_masks();
    check_signal_at_syscall_return();
    check_signalfd();
    check_robust_mutex();

    if (failures)
        return 1;
    printf("signals: ok\n");
    return 0;
}
