/* /init of the Linux baseline's initramfs: report status 0 the Nimbus way and leave at once.
 *
 * Prints "linux-init: tsc=N" on COM1 (under --icount the TSC counts virtual nanoseconds since
 * reset, so N is a deterministic "reset to user space" figure), writes "exit 0\n" to the
 * status UART (COM2) and 0 to QEMU's isa-debug-exit port, which ends QEMU at once. Ports are
 * driven with outb (ioperm, CONFIG_X86_IOPL_IOPERM): the initramfs has no /dev/console.
 * Built with gcc -static. */
#include <stdio.h>
#include <sys/io.h>
#include <sys/reboot.h>
#include <unistd.h>
#include <x86intrin.h>

static void uart_puts(unsigned short port, const char* s) {
    for (; *s; ++s) {
        outb((unsigned char)*s, port);
    }
}

int main(void) {
    unsigned long long tsc = __rdtsc();
    char line[64];
    snprintf(line, sizeof line, "linux-init: tsc=%llu\n", tsc);
    if (ioperm(0x3f8, 8, 1) == 0) {
        uart_puts(0x3f8, line);
    }
    if (ioperm(0x2f8, 8, 1) == 0) {
        uart_puts(0x2f8, "exit 0\n");
    }
    if (ioperm(0xf4, 4, 1) == 0) {
        outb(0, 0xf4);
    }
    reboot(RB_POWER_OFF); /* not reached under QEMU with isa-debug-exit */
    for (;;) {
        pause();
    }
}
