/* An application's SSE/AVX registers and MXCSR survive everything the kernel does between two
 * of its instructions: system calls (plain ones, futex waits that block and wakes that make
 * another thread runnable, yields, sleeps), timer preemption, page faults, and signals whose
 * handlers use those registers themselves (delivered on the syscall return and on an interrupt
 * return). Each of several threads keeps its own values in xmm0-15 (all of ymm0-15 when the
 * CPU has AVX) and its own MXCSR rounding mode across each of those events inside one asm
 * block, then checks every byte. Prints "fpu_state: ok (N cpus)" and exits 0, or FAIL lines
 * and exits 1. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { kThreads = 4, kRounds = 1200, kRegs = 16, kWidth = 32 };

static int g_avx;
static volatile int g_failed;
static volatile uint32_t g_futex_word; /* stays 0: waits on it time out or are woken */

struct Block {
    uint8_t regs[kRegs][kWidth];
    uint32_t mxcsr;
};

/* Loads `in` into the registers (ymm with AVX, else xmm), then makes system call `nr` (none if
 * negative) with up to four arguments, optionally writes `touch` (a page fault) and spins
 * `spin` times (preemption, timer signals), and stores the registers to `out`. */
static long run_block(const struct Block* in, struct Block* out, long nr, long a0, long a1, long a2, long a3,
                      volatile char* touch, long spin)
{
    register long rax __asm__("rax") = nr;
    register long rdi __asm__("rdi") = a0;
    register long rsi __asm__("rsi") = a1;
    register long rdx __asm__("rdx") = a2;
    register long r10 __asm__("r10") = a3;
    long tmp;
    if (g_avx) {
        __asm__ volatile(
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
            "vmovdqu (\\n * 32)(%[in]), %%ymm\\n\n"
            ".endr\n"
            "ldmxcsr 512(%[in])\n"
            "testq %[touch], %[touch]\n"
            "jz 1f\n"
            "movb $1, (%[touch])\n"
            "1: testq %%rax, %%rax\n"
            "js 2f\n"
            "syscall\n"
            "2: movq %[spin], %[tmp]\n"
            "3: subq $1, %[tmp]\n"
            "jg 3b\n"
            "stmxcsr 512(%[out])\n"
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
            "vmovdqu %%ymm\\n, (\\n * 32)(%[out])\n"
            ".endr\n"
            "vzeroupper\n"
            : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), [tmp] "=&r"(tmp)
            : [in] "r"(in), [out] "r"(out), [touch] "r"(touch), [spin] "r"(spin)
            : "rcx", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
              "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    } else {
        __asm__ volatile(
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
            "movdqu (\\n * 32)(%[in]), %%xmm\\n\n"
            ".endr\n"
            "ldmxcsr 512(%[in])\n"
            "testq %[touch], %[touch]\n"
            "jz 1f\n"
            "movb $1, (%[touch])\n"
            "1: testq %%rax, %%rax\n"
            "js 2f\n"
            "syscall\n"
            "2: movq %[spin], %[tmp]\n"
            "3: subq $1, %[tmp]\n"
            "jg 3b\n"
            "stmxcsr 512(%[out])\n"
            ".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
            "movdqu %%xmm\\n, (\\n * 32)(%[out])\n"
            ".endr\n"
            : "+r"(rax), "+r"(rdi), "+r"(rsi), "+r"(rdx), "+r"(r10), [tmp] "=&r"(tmp)
            : [in] "r"(in), [out] "r"(out), [touch] "r"(touch), [spin] "r"(spin)
            : "rcx", "r11", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
              "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    }
    return rax;
}

/* Signal handlers use the registers too, with other values and another rounding mode. */
static void clobber(int sig)
{
    (void)sig;
    static const uint8_t junk[kWidth] = { 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe,
                                          0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad,
                                          0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef };
    uint32_t mxcsr = 0x1f80 | (3u << 13);
    __asm__ volatile("ldmxcsr %0" ::"m"(mxcsr));
    if (g_avx)
        __asm__ volatile(".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
                         "vmovdqu %0, %%ymm\\n\n"
                         ".endr\n"
                         "vzeroupper\n" ::"m"(junk)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                           "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    else
        __asm__ volatile(".irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15\n"
                         "movdqu %0, %%xmm\\n\n"
                         ".endr\n" ::"m"(junk)
                         : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
                           "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static const char* const kOpNames[] = { "getpid", "sched_yield", "futex_wake", "futex_wait_eagain",
                                        "futex_wait_blocking", "tgkill_self", "spin", "page_fault",
                                        "nanosleep" };
enum { kOps = sizeof(kOpNames) / sizeof(kOpNames[0]) };

static void* worker(void* arg)
{
    long id = (long)arg;
    pid_t pid = getpid();
    pid_t tid = (pid_t)syscall(SYS_gettid);
    size_t page = 4096;
    char* pages = mmap(NULL, page * kRounds, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED) {
        printf("FAIL: mmap\n");
        g_failed = 1;
        return NULL;
    }
    struct timespec short_wait = { 0, 50000 };
    struct timespec nap = { 0, 10000 };
    for (int round = 0; round < kRounds && !g_failed; ++round) {
        struct Block in, out;
        for (int r = 0; r < kRegs; ++r)
            for (int b = 0; b < kWidth; ++b)
                in.regs[r][b] = (uint8_t)(id * 89 + r * 17 + b * 3 + round * 7 + 1);
        /* Each thread its own rounding mode; thread 1 also flushes to zero. */
        in.mxcsr = 0x1f80 | ((uint32_t)(id & 3) << 13) | (id == 1 ? 0x8000u : 0);
        memset(&out, 0, sizeof(out));
        int op = (int)((round + id) % kOps);
        long nr = -1, a0 = 0, a1 = 0, a2 = 0, a3 = 0, spin = 0;
        volatile char* touch = NULL;
        switch (op) {
        case 0:
            nr = SYS_getpid;
            break;
        case 1:
            nr = SYS_sched_yield;
            break;
        case 2: /* wakes whoever waits in case 4: another thread becomes runnable */
            nr = SYS_futex, a0 = (long)&g_futex_word, a1 = FUTEX_WAKE, a2 = 1;
            break;
        case 3: /* the word is 0, not 1: EAGAIN at once */
            nr = SYS_futex, a0 = (long)&g_futex_word, a1 = FUTEX_WAIT, a2 = 1;
            break;
        case 4: /* blocks until woken or 50 us pass: a switch either way */
            nr = SYS_futex, a0 = (long)&g_futex_word, a1 = FUTEX_WAIT, a2 = 0, a3 = (long)&short_wait;
            break;
        case 5: /* the handler runs as this system call returns */
            nr = SYS_tgkill, a0 = pid, a1 = tid, a2 = SIGUSR1;
            break;
        case 6: /* long enough for timer interrupts, preemption and SIGALRM */
            spin = 200000;
            break;
        case 7:
            nr = SYS_getpid, touch = pages + (size_t)round * page;
            break;
        case 8:
            nr = SYS_nanosleep, a0 = (long)&nap;
            break;
        }
        run_block(&in, &out, nr, a0, a1, a2, a3, touch, spin);
        int width = g_avx ? kWidth : 16;
        for (int r = 0; r < kRegs; ++r) {
            if (memcmp(in.regs[r], out.regs[r], (size_t)width) != 0) {
                printf("FAIL: thread %ld round %d after %s: %smm%d changed (byte 0: %#x, expected %#x; byte %d: %#x, "
                       "expected %#x)\n",
                       id, round, kOpNames[op], g_avx ? "y" : "x", r, out.regs[r][0], in.regs[r][0], width - 1,
                       out.regs[r][width - 1], in.regs[r][width - 1]);
                g_failed = 1;
                break;
            }
        }
        if (out.mxcsr != in.mxcsr) {
            printf("FAIL: thread %ld round %d after %s: MXCSR %#x, expected %#x\n", id, round, kOpNames[op],
                   out.mxcsr, in.mxcsr);
            g_failed = 1;
        }
    }
    munmap(pages, page * kRounds);
    return NULL;
}

int main(void)
{
    unsigned a, b, c, d;
    /* AVX: CPUID.1:ECX.AVX and OSXSAVE, and the OS enabled the YMM state (XCR0 bits 1-2). */
    if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_AVX) && (c & bit_OSXSAVE)) {
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        g_avx = (lo & 6) == 6;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = clobber;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } };
    setitimer(ITIMER_REAL, &every_ms, NULL);
    pthread_t threads[kThreads];
    for (long i = 0; i < kThreads; ++i)
        pthread_create(&threads[i], NULL, worker, (void*)i);
    for (int i = 0; i < kThreads; ++i)
        pthread_join(threads[i], NULL);
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    if (g_failed)
        return 1;
    printf("fpu_state: ok (%ld cpus, %s)\n", sysconf(_SC_NPROCESSORS_ONLN), g_avx ? "ymm" : "xmm");
    return 0;
}
