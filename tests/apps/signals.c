// Signals under Nimbus: handlers with siginfo, masks and sigpending, the alternate stack,
// fault signals caught and recovered (NULL read, write to a read-only page fixed by the
// handler, integer division by zero), tgkill to a busy thread (delivered on that thread),
// the FP state kept across a handler, sigsuspend and sigtimedwait. Prints "signals: ok".
// With an argument, the default actions: "abort" (134), "term" (143).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
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

    if (failures)
        return 1;
    printf("signals: ok\n");
    return 0;
}
