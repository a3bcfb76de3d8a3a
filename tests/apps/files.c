// A file-system exerciser: the root image (read-only), /tmp (ramfs) and /dev through the
// usual calls — open/read/write/lseek/pread, stat, directories and getdents, rename, links,
// symlinks, unlink, truncate, a large sparse file, getcwd/chdir, dup — each checked.
// Prints "files: ok" and exits 0, or names the first check that failed and exits 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

static int failures;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            printf("files: FAIL line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
            ++failures;                                                             \
        }                                                                           \
    } while (0)

static int count_entries(const char* dir)
{
    DIR* d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent* e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            ++n;
    closedir(d);
    return n;
}

int main(int argc, char** argv)
{
    (void)argc;
    struct stat st;
    // The program itself, in the read-only root image.
    CHECK(stat(argv[0], &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0);
    CHECK(open("/etc/passwd", O_RDONLY) >= 0);
    CHECK(open("/new-file", O_CREAT | O_WRONLY, 0644) == -1 && errno == EROFS);
    CHECK(open("/no/such/file", O_RDONLY) == -1 && errno == ENOENT);

    // Write, read back, seek, pread.
    int fd = open("/tmp/a.txt", O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, "hello, world\n", 13) == 13);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    char buf[64] = { 0 };
    CHECK(read(fd, buf, sizeof(buf)) == 13 && memcmp(buf, "hello, world\n", 13) == 0);
    CHECK(pread(fd, buf, 5, 7) == 5 && memcmp(buf, "world", 5) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 13 && (st.st_mode & 0777) == 0600);
    int fd2 = dup(fd);
    CHECK(fd2 > fd && lseek(fd2, 0, SEEK_CUR) == 13);
    close(fd2);
    close(fd);

    // Directories, rename, links, symlinks.
    CHECK(mkdir("/tmp/d", 0755) == 0);
    CHECK(mkdir("/tmp/d", 0755) == -1 && errno == EEXIST);
    CHECK(rename("/tmp/a.txt", "/tmp/d/b.txt") == 0);
    CHECK(access("/tmp/a.txt", F_OK) == -1 && errno == ENOENT);
    CHECK(link("/tmp/d/b.txt", "/tmp/d/c.txt") == 0);
    CHECK(stat("/tmp/d/c.txt", &st) == 0 && st.st_nlink == 2);
    CHECK(symlink("d/b.txt", "/tmp/s") == 0);
    char target[64] = { 0 };
    CHECK(readlink("/tmp/s", target, sizeof(target)) == 7 && strcmp(target, "d/b.txt") == 0);
    CHECK(stat("/tmp/s", &st) == 0 && st.st_size == 13);
    CHECK(lstat("/tmp/s", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(count_entries("/tmp/d") == 2);
    CHECK(rmdir("/tmp/d") == -1 && errno == ENOTEMPTY);
    CHECK(unlink("/tmp/d/c.txt") == 0 && unlink("/tmp/d/b.txt") == 0 && rmdir("/tmp/d") == 0);

    // Many files in one directory, listed back.
    CHECK(mkdir("/tmp/many", 0755) == 0);
    for (int i = 0; i < 300; ++i) {
        char name[64];
        snprintf(name, sizeof(name), "/tmp/many/file-%03d", i);
        int f = open(name, O_CREAT | O_WRONLY, 0644);
        CHECK(f >= 0);
        close(f);
    }
    CHECK(count_entries("/tmp/many") == 300);

    // A large sparse file: a byte at 1 GiB; the hole reads as zeros.
    fd = open("/tmp/sparse", O_CREAT | O_RDWR, 0644);
    CHECK(fd >= 0 && pwrite(fd, "x", 1, 1 << 30) == 1);
    CHECK(fstat(fd, &st) == 0 && st.st_size == (1 << 30) + 1 && st.st_blocks <= 64);
    memset(buf, 1, sizeof(buf));
    CHECK(pread(fd, buf, 16, 12345678) == 16 && buf[0] == 0 && buf[15] == 0);
    CHECK(ftruncate(fd, 100) == 0 && fstat(fd, &st) == 0 && st.st_size == 100);
    close(fd);

    // The working directory.
    char cwd[256];
    CHECK(chdir("/tmp/many") == 0 && getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/tmp/many") == 0);
    CHECK(access("file-007", F_OK) == 0);
    CHECK(chdir("..") == 0 && getcwd(cwd, sizeof(cwd)) && strcmp(cwd, "/tmp") == 0);

    // File-system information; no extended attributes anywhere.
    struct statfs sf;
    CHECK(statfs("/", &sf) == 0 && (sf.f_flags & ST_RDONLY) && sf.f_bsize == 4096);
    CHECK(statfs("/tmp", &sf) == 0 && !(sf.f_flags & ST_RDONLY) && sf.f_bfree > 0);
    char value[16];
    CHECK(getxattr("/tmp", "user.x", value, sizeof(value)) == -1 && errno == ENOTSUP);

    // Devices.
    fd = open("/dev/zero", O_RDONLY);
    CHECK(fd >= 0 && read(fd, buf, 8) == 8 && buf[0] == 0);
    close(fd);
    fd = open("/dev/null", O_WRONLY);
    CHECK(fd >= 0 && write(fd, buf, 8) == 8);
    close(fd);
    fd = open("/dev/urandom", O_RDONLY);
    CHECK(fd >= 0 && read(fd, buf, 32) == 32);
    close(fd);
    CHECK(isatty(1));

    if (failures)
        return 1;
    printf("files: ok\n");
    return 0;
}
