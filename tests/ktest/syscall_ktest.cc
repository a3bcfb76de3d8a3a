// The ring-0 `syscall` path: entry and return on the thread's kernel stack, the red zone and
// every register but rax/rcx/r11 preserved, checked user-memory access (EFAULT, never a
// kernel fault), ENOSYS for what is missing, and the basic calls. The "application" is a
// kernel function run on an application thread with a stack in the application half.
#include <atomic>
#include <core/ktest.h>
#include <core/memory.h>
#include <core/thread.h>
#include <core/timer.h>
#include <lx/files.h>
#include <lx/process.h>

namespace {

int64_t raw_syscall(uint64_t nr, uint64_t a0 = 0, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                    uint64_t a4 = 0, uint64_t a5 = 0)
{
    register uint64_t r10 asm("r10") = a3;
    register uint64_t r8 asm("r8") = a4;
    register uint64_t r9 asm("r9") = a5;
    uint64_t rax = nr;
    asm volatile("syscall"
                 : "+a"(rax)
                 : "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                 : "rcx", "r11", "memory");
    return int64_t(rax);
}

constexpr uint64_t kWrite = 1, kMmap = 9, kMprotect = 10, kMunmap = 11, kGetpid = 39, kExit = 60,
                   kArchPrctl = 158, kGettid = 186, kClockGettime = 228, kNanosleep = 35, kUselib = 134;

struct Outcome {
    std::atomic<bool> done { false };
    std::atomic<int> exit_status { -1 };
    int failures = 0;
    int first_failed_line = 0;
    int32_t expected_tid = 0;
};
Outcome* g_outcome;

#define APP_CHECK(cond)                                          \
    do {                                                         \
        if (!(cond)) {                                           \
            if (!g_outcome->failures)                            \
                g_outcome->first_failed_line = __LINE__;         \
            ++g_outcome->failures;                               \
        }                                                        \
    } while (0)

// Red zone and register preservation across one getpid, in one asm block so the compiler
// cannot move anything between the writes and the checks. Returns a bitmask of what broke.
// rbp (the frame pointer) is left alone: the entry saves it like the other callee-saved
// registers, which are checked.
uint64_t check_preservation()
{
    uint64_t broken;
    asm volatile(
        "pushq %%rbx; pushq %%r12; pushq %%r13; pushq %%r14; pushq %%r15\n"
        "movq $0x1111, %%rbx\n"
        "movq $0x3333, %%r12\n"
        "movq $0x4444, %%r13\n"
        "movq $0x5555, %%r14\n"
        "movq $0x6666, %%r15\n"
        "movq $0x7777, %%rdi\n"
        "movq $0x8888, %%rsi\n"
        "movq $0x9999, %%rdx\n"
        "movq $0xaaaa, %%r10\n"
        "movq $0xbbbb, %%r8\n"
        "movq $0xcccc, %%r9\n"
        "movq $0x0123456789abcdef, %%rax\n"
        "movq %%rax, -8(%%rsp)\n"
        "movq %%rax, -64(%%rsp)\n"
        "movq %%rax, -128(%%rsp)\n"
        "movq %%rax, %%xmm0\n"
        "movq %%rax, %%xmm15\n"
        "movl $39, %%eax\n"
        "syscall\n"
        "xorl %%r11d, %%r11d\n"
        "movq $0x0123456789abcdef, %%rcx\n"
        "xorl %%eax, %%eax; cmpq $0x1111, %%rbx; setne %%al; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x3333, %%r12; setne %%al; shlq $2, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x4444, %%r13; setne %%al; shlq $3, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x5555, %%r14; setne %%al; shlq $4, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x6666, %%r15; setne %%al; shlq $5, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x7777, %%rdi; setne %%al; shlq $6, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x8888, %%rsi; setne %%al; shlq $7, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0x9999, %%rdx; setne %%al; shlq $8, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0xaaaa, %%r10; setne %%al; shlq $9, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0xbbbb, %%r8; setne %%al; shlq $10, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq $0xcccc, %%r9; setne %%al; shlq $11, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq %%rcx, -8(%%rsp); setne %%al; shlq $12, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq %%rcx, -64(%%rsp); setne %%al; shlq $13, %%rax; orq %%rax, %%r11\n"
        "xorl %%eax, %%eax; cmpq %%rcx, -128(%%rsp); setne %%al; shlq $14, %%rax; orq %%rax, %%r11\n"
        "movq %%xmm0, %%rdx; xorl %%eax, %%eax; cmpq %%rcx, %%rdx; setne %%al; shlq $15, %%rax; orq %%rax, %%r11\n"
        "movq %%xmm15, %%rdx; xorl %%eax, %%eax; cmpq %%rcx, %%rdx; setne %%al; shlq $16, %%rax; orq %%rax, %%r11\n"
        "popq %%r15; popq %%r14; popq %%r13; popq %%r12; popq %%rbx\n"
        "movq %%r11, %%rax\n"
        : "=a"(broken)
        :
        : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0", "xmm15", "memory");
    return broken;
}

[[noreturn]] void app_main()
{
    APP_CHECK(raw_syscall(kGetpid) == lx::kPid);
    APP_CHECK(raw_syscall(kGettid) == g_outcome->expected_tid);
    // Application data lives in the application half: copy the text onto the stack.
    static const char kText[] = "syscall ktest: hello from an application thread\n";
    char hello[sizeof(kText)];
    for (size_t i = 0; i < sizeof(kText); ++i)
        hello[i] = ((volatile const char*)kText)[i];
    APP_CHECK(raw_syscall(kWrite, 1, uint64_t(hello), sizeof(hello) - 1) == int64_t(sizeof(hello) - 1));
    static const char* const kHello = kText;
    // Bad pointers: an unmapped application page, a kernel address, a range that wraps.
    APP_CHECK(raw_syscall(kWrite, 1, 0x1000, 16) == -14);
    APP_CHECK(raw_syscall(kWrite, 1, uint64_t(kHello) /* kernel half */, 4) == -14);
    APP_CHECK(raw_syscall(kWrite, 1, 0x00007ffffffff000ull, 0x2000) == -14);
    APP_CHECK(raw_syscall(kWrite, 77, uint64_t(kHello), 4) == -9);  // EBADF
    APP_CHECK(raw_syscall(kUselib, 0) == -38);                       // ENOSYS, known name
    APP_CHECK(raw_syscall(1000) == -38);                             // ENOSYS, unknown number
    APP_CHECK(raw_syscall(~uint64_t(0)) == -38);
    APP_CHECK(check_preservation() == 0);

    // Anonymous memory: map, touch (demand paging from an application thread), protect,
    // and the EFAULT of a copy into a read-only page.
    int64_t p = raw_syscall(kMmap, 0, 3 * 4096, 3 /* RW */, 0x22 /* PRIVATE|ANON */, uint64_t(-1), 0);
    APP_CHECK(p > 0 && p < (int64_t(1) << 47));
    if (p > 0) {
        auto* bytes = reinterpret_cast<volatile uint8_t*>(p);
        bytes[0] = 1;
        bytes[2 * 4096 + 5] = 7;
        APP_CHECK(bytes[4096] == 0);
        APP_CHECK(raw_syscall(kMprotect, uint64_t(p), 4096, 1 /* R */) == 0);
        // clock_gettime writing into the read-only page: EFAULT, no kernel fault.
        APP_CHECK(raw_syscall(kClockGettime, 1, uint64_t(p)) == -14);
        APP_CHECK(raw_syscall(kClockGettime, 1, uint64_t(p) + 4096) == 0);
        APP_CHECK(raw_syscall(kMunmap, uint64_t(p), 3 * 4096) == 0);
        APP_CHECK(raw_syscall(kClockGettime, 1, uint64_t(p) + 4096) == -14);
    }
    APP_CHECK(raw_syscall(kMmap, 0, 0, 3, 0x22, uint64_t(-1), 0) == -22);     // length 0
    APP_CHECK(raw_syscall(kMmap, 0, 4096, 3, 0x20, uint64_t(-1), 0) == -22);  // no type
    APP_CHECK(raw_syscall(kMmap, 0, 4096, 8, 0x22, uint64_t(-1), 0) == -22);  // bad prot

    // FS base round trip.
    uint64_t fs = 0;
    APP_CHECK(raw_syscall(kArchPrctl, 0x1002, 0x12345000) == 0);
    APP_CHECK(raw_syscall(kArchPrctl, 0x1003, uint64_t(&fs)) == 0); // fs is on the app stack
    APP_CHECK(fs == 0x12345000);
    APP_CHECK(raw_syscall(kArchPrctl, 0x1003, uint64_t(kHello)) == -14); // a kernel-half pointer
    APP_CHECK(raw_syscall(kArchPrctl, 0x1002, 0) == 0);

    // Time moves forward across a 1 ms sleep.
    struct {
        int64_t sec, nsec;
    } before {}, after {}, req { 0, 1000000 };
    // These structures are on the application stack (application half): valid pointers.
    APP_CHECK(raw_syscall(kClockGettime, 1, uint64_t(&before)) == 0);
    APP_CHECK(raw_syscall(kNanosleep, uint64_t(&req), 0) == 0);
    APP_CHECK(raw_syscall(kClockGettime, 1, uint64_t(&after)) == 0);
    APP_CHECK((after.sec - before.sec) * 1000000000 + (after.nsec - before.nsec) >= 1000000);

    raw_syscall(kExit, 42);
    __builtin_unreachable();
}

void record_exit(int status)
{
    g_outcome->exit_status.store(status, std::memory_order_relaxed);
    g_outcome->done.store(true, std::memory_order_release);
}

KTEST(syscall, entry_return_and_basic_calls)
{
    if (!lx::files_ready()) {
        char why[128];
        KT_ASSERT(!lx::init_files(nullptr, 0, 0, why, sizeof(why)).is_error());
    }
    Outcome outcome;
    g_outcome = &outcome;
    lx::set_exit_hook(&record_exit);
    constexpr uint64_t kStackSize = 64 * 1024;
    auto stack = core::map_anonymous(0, kStackSize, mm::Protection::ReadWrite, mm::MapFlags::None);
    KT_ASSERT(!stack.is_error());
    // As if app_main had been called: rsp = 8 mod 16, a (never used) return address slot.
    uint64_t rsp = stack.value() + kStackSize - 8;
    outcome.expected_tid = 4242;
    auto t = lx::spawn_app_thread("sysktest", uint64_t(&app_main), rsp, 0, 4242);
    KT_ASSERT(!t.is_error());
    for (int i = 0; i < 5000 && !outcome.done.load(std::memory_order_acquire); ++i)
        core::sleep_ns(1000000);
    KT_ASSERT(outcome.done.load(std::memory_order_acquire));
    KT_EXPECT_EQ(outcome.exit_status.load(), 42);
    KT_EXPECT_EQ(outcome.failures, 0);
    KT_EXPECT_EQ(outcome.first_failed_line, 0);
    lx::set_exit_hook(nullptr);
    KT_EXPECT(!core::unmap(stack.value(), kStackSize).is_error());
}

} // namespace
