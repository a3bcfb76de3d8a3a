// What happens when a program goes wrong. The first argument picks the case:
//   null    dereference NULL: the kernel reports SIGSEGV and the VM exits 139
//   enosys  call a syscall number Linux does not have: ENOSYS, and the program carries on
//   efault  pass bad pointers to write and clock_gettime: EFAULT, no crash
//   oom     touch more anonymous memory than the VM has: killed by SIGKILL, "out of memory"
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv)
{
    const char* what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "null") == 0) {
        printf("faults: reading NULL\n");
        fflush(stdout);
        volatile int* p = NULL;
        return *p;
    }
    if (strcmp(what, "enosys") == 0) {
        long r = syscall(1000, 1, 2, 3);
        printf("faults: syscall 1000 = %ld errno %s\n", r, errno == ENOSYS ? "ENOSYS" : strerror(errno));
        // Logged once per number, and only the first few distinct numbers: no flood.
        for (int round = 0; round < 3; ++round)
            for (long n = 2000; n < 2040; ++n)
                syscall(n);
        printf("faults: still running, pid %d\n", (int)getpid());
        return r == -1 && errno == ENOSYS ? 0 : 1;
    }
    if (strcmp(what, "efault") == 0) {
        long w = syscall(SYS_write, 1, (void*)16, 10);
        int write_errno = errno;
        long c = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void*)0xffff800000000000ull);
        int clock_errno = errno;
        printf("faults: write %ld %s, clock_gettime %ld %s\n", w, write_errno == EFAULT ? "EFAULT" : "?", c,
               clock_errno == EFAULT ? "EFAULT" : "?");
        return w == -1 && write_errno == EFAULT && c == -1 && clock_errno == EFAULT ? 0 : 1;
    }
    if (strcmp(what, "oom") == 0) {
        // 1 GiB of address space is fine; touching it all cannot be.
        size_t size = (size_t)1 << 30;
        char* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 3;
        printf("faults: touching 1 GiB\n");
        fflush(stdout);
        for (size_t i = 0; i < size; i += 4096)
            p[i] = 1;
        printf("faults: survived?\n");
        return 1;
    }
    fprintf(stderr, "usage: faults null|enosys|efault|oom\n");
    return 2;
}
