// What happens when a program goes wrong. The first argument picks the case:
//   null    dereference NULL: the kernel reports SIGSEGV and the VM exits 139
//   enosys  call a syscall number Linux does not have: ENOSYS, and the program carries on
//   efault  pass bad pointers to write and clock_gettime: EFAULT, no crash
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
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
    fprintf(stderr, "usage: faults null|enosys|efault\n");
    return 2;
}
