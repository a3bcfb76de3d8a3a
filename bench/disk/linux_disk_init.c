/* /init of the disk benchmark's Linux guest: loads the virtio modules, waits for the disk,
 * runs /diskbench on it and ends the VM the Nimbus way.
 *
 * Debian's kernel builds virtio, virtio-mmio, virtio-pci and virtio-blk as modules; they are
 * in the initramfs under /modules, loaded in the order /modules/order names them (made by
 * bench/boot/linux-guest.sh) with finit_module. devtmpfs is mounted on /dev (for /dev/vda
 * and /dev/console), proc on /proc (diskbench reads /proc/stat) and sysfs on /sys (for the
 * "linux clocksource=NAME" line, as bench/sched's guest prints it). Then /diskbench runs
 * with this program's arguments, its output on /dev/console (console=ttyS0), and its exit
 * status goes to the status UART (COM2, "exit N") and to QEMU's isa-debug-exit port.
 *
 * The kernel passes the words after " -- " of its command line as arguments. Words with a
 * '=' are left out: `nimbus run --dry-run` puts the application's environment there
 * (PATH=... HOME=/ TERM=dumb) before its arguments. The first remaining word is the device.
 * Built with gcc -static. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { kMaxArgs = 64 };

static void say(const char* fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (write(1, line, strlen(line)) >= 0)
        return;
    /* No console descriptor (devtmpfs failed): drive COM1 directly. */
    if (ioperm(0x3f8, 8, 1) != 0)
        return;
    for (const char* s = line; *s; ++s) {
        while (!(inb(0x3f8 + 5) & 0x20)) {
        }
        outb((unsigned char)*s, 0x3f8);
    }
}

static void finish(int status)
{
    char line[32];
    snprintf(line, sizeof line, "exit %d\n", status);
    if (ioperm(0x2f8, 8, 1) == 0)
        for (const char* s = line; *s; ++s)
            outb((unsigned char)*s, 0x2f8);
    if (ioperm(0xf4, 4, 1) == 0)
        outb((unsigned char)status, 0xf4);
    reboot(RB_POWER_OFF); /* not reached under QEMU with isa-debug-exit */
    for (;;)
        pause();
}

static void setup_console(void)
{
    mkdir("/dev", 0755);
    mkdir("/proc", 0555);
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0)
        say("linux-disk-init: mount devtmpfs: %s\n", strerror(errno));
    if (mount("proc", "/proc", "proc", 0, NULL) != 0)
        say("linux-disk-init: mount proc: %s\n", strerror(errno));
    mkdir("/sys", 0555);
    if (mount("sysfs", "/sys", "sysfs", 0, NULL) != 0)
        say("linux-disk-init: mount sysfs: %s\n", strerror(errno));
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
}

/* Says which clocksource CLOCK_MONOTONIC runs on: the figures are only as fine as it is (a
 * TSC, or jiffies, 4 ms, when Linux distrusts the TSC under TCG). */
static void report_clocksource(void)
{
    char name[64] = "unknown";
    FILE* f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
    if (f) {
        if (fscanf(f, "%63s", name) != 1)
            strcpy(name, "unknown");
        fclose(f);
    }
    say("linux clocksource=%s\n", name);
}

/* Says which I/O scheduler the disk's queue has ("none [mq-deadline]": the bracketed one). */
static void report_scheduler(const char* dev)
{
    const char* base = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
    char path[128], line[128] = "unknown";
    snprintf(path, sizeof path, "/sys/block/%s/queue/scheduler", base);
    FILE* f = fopen(path, "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            strcpy(line, "unknown");
        fclose(f);
    }
    line[strcspn(line, "\n")] = 0;
    say("linux scheduler=%s\n", line);
}

/* Loads every module /modules/order names; 0 if all loaded (or were there already). */
static int load_modules(void)
{
    FILE* order = fopen("/modules/order", "r");
    if (!order) {
        say("linux-disk-init: /modules/order: %s\n", strerror(errno));
        return -1;
    }
    char name[128], path[160];
    int status = 0;
    while (fscanf(order, "%127s", name) == 1) {
        snprintf(path, sizeof path, "/modules/%s", name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) {
            say("linux-disk-init: load %s: %s\n", path, strerror(errno));
            status = -1;
        }
        if (fd >= 0)
            close(fd);
    }
    fclose(order);
    return status;
}

/* The disk appears when virtio-blk's probe has run; give it up to 10 s. */
static int wait_for(const char* path)
{
    struct timespec tick = { 0, 10 * 1000 * 1000 };
    for (int i = 0; i < 1000; i++) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISBLK(st.st_mode))
            return 0;
        nanosleep(&tick, NULL);
    }
    say("linux-disk-init: %s did not appear\n", path);
    return -1;
}

int main(int argc, char** argv)
{
    setup_console();
    char* args[kMaxArgs + 2] = { "/diskbench" };
    int nargs = 1;
    for (int i = 1; i < argc && nargs <= kMaxArgs; i++)
        if (!strchr(argv[i], '='))
            args[nargs++] = argv[i];
    args[nargs] = NULL;
    if (nargs < 2) {
        say("linux-disk-init: no device: boot with '-- DEV [ARGS]'\n");
        finish(2);
    }
    if (load_modules() != 0 || wait_for(args[1]) != 0)
        finish(3);
    report_clocksource();
    report_scheduler(args[1]);
    pid_t pid = fork();
    if (pid == 0) {
        char* env[] = { "PATH=/", NULL };
        execve(args[0], args, env);
        say("linux-disk-init: exec %s: %s\n", args[0], strerror(errno));
        _exit(127);
    }
    int wstatus = 0;
    if (pid < 0 || waitpid(pid, &wstatus, 0) != pid) {
        say("linux-disk-init: fork/wait: %s\n", strerror(errno));
        finish(4);
    }
    sync();
    finish(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus));
}
