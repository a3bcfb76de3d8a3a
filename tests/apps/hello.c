// The first application test: start-up of a C runtime under Nimbus (arguments, environment,
// auxiliary vector, thread-local storage, the heap, stdio), then exit with the status given
// as the first argument. Built once per way of linking (tests/apps/CMakeLists.txt).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

static __thread int tls_counter = 40;

int main(int argc, char** argv)
{
    printf("hello: argc=%d", argc);
    for (int i = 0; i < argc; ++i)
        printf(" [%s]", argv[i]);
    printf("\n");
    const char* greeting = getenv("GREETING");
    printf("hello: GREETING=%s\n", greeting ? greeting : "(unset)");

    // The auxiliary vector: page size, the 16 random bytes, the entry point.
    const unsigned char* random = (const unsigned char*)getauxval(AT_RANDOM);
    printf("hello: pagesz=%lu random=%s entry=%s\n", getauxval(AT_PAGESZ), random ? "yes" : "no",
           getauxval(AT_ENTRY) ? "yes" : "no");

    tls_counter += 2;
    printf("hello: tls=%d\n", tls_counter);

    // Small and large allocations (brk and mmap in glibc's malloc).
    char* small = malloc(100);
    char* large = malloc(4 << 20);
    if (!small || !large) {
        printf("hello: malloc failed\n");
        return 3;
    }
    memset(large, 0x5a, 4 << 20);
    strcpy(small, "heap ok");
    printf("hello: %s, large[4M-1]=%#x\n", small, (unsigned char)large[(4 << 20) - 1]);
    free(large);
    free(small);
    printf("hello: pid=%d\n", (int)getpid());
    fflush(stdout);
    return argc > 1 ? atoi(argv[1]) : 0;
}
