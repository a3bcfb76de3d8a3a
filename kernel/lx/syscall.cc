// System-call dispatch: the table from syscalls.def, ENOSYS (logged once per call by name)
// for what is not implemented, and the strace boot option.
#include <atomic>
#include <core/console.h>
#include <core/thread.h>
#include <lib/format.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>

namespace lx {
using core::kprintf;
namespace {

using Handler = int64_t (*)(const Args&);

constexpr uint64_t kTableSize = 512;

struct Entry {
    Handler handler;
    const char* name;
    const char* args; // strace format, nullptr when not implemented
};

constexpr auto build_table()
{
    struct Table {
        Entry e[kTableSize];
    } t {};
#define SYSCALL(nr, name, args) t.e[nr] = Entry { &sys_##name, #name, args };
#define NOSYS(nr, name) t.e[nr] = Entry { nullptr, #name, nullptr };
#include <lx/syscalls.def>
    return t;
}

constexpr auto g_table = build_table();

std::atomic<uint64_t> g_enosys_logged[kTableSize / 64];
bool g_strace = false;

// Numbers past the table, logged once each too: the first kOutsideSlots distinct ones are
// remembered (slot = number + 1, 0 = free), then one last message says that further ones
// go unlogged — a program probing with syscall(random) must not flood the console.
constexpr size_t kOutsideSlots = 16;
std::atomic<uint64_t> g_outside_logged[kOutsideSlots];
std::atomic<bool> g_outside_full;

// Whether `nr` (past the table) is logged for the first time now.
bool first_outside(uint64_t nr)
{
    uint64_t key = nr + 1; // 0 marks a free slot: ~0 is kept as itself (sharing ~0 - 1's slot)
    if (key == 0)
        key = nr;
    for (auto& slot : g_outside_logged) {
        uint64_t seen = slot.load(std::memory_order_relaxed);
        if (seen == key)
            return false;
        if (seen == 0 && slot.compare_exchange_strong(seen, key, std::memory_order_relaxed))
            return true;
        if (seen == key) // another CPU claimed it for the same number
            return false;
    }
    if (!g_outside_full.exchange(true, std::memory_order_relaxed))
        log_warn("application called more unknown syscall numbers: no longer logged");
    return false;
}

int64_t unimplemented(uint64_t nr)
{
    bool known = nr < kTableSize && g_table.e[nr].name;
    uint64_t bit = uint64_t(1) << (nr % 64);
    bool first = nr < kTableSize ? !(g_enosys_logged[nr / 64].fetch_or(bit, std::memory_order_relaxed) & bit)
                                 : first_outside(nr);
    if (first) {
        if (known)
            log_warn("application called unimplemented syscall %s (%lu): ENOSYS", g_table.e[nr].name, nr);
        else
            log_warn("application called unknown syscall %lu: ENOSYS", nr);
    }
    return err(Errno::NOSYS);
}

// One argument as strace prints it, into buf.
void format_arg(char* buf, size_t size, char kind, uint64_t value)
{
    switch (kind) {
    case 'd':
        lib::format_to(buf, size, "%d", int32_t(value));
        return;
    case 'u':
        lib::format_to(buf, size, "%lu", value);
        return;
    case 'o':
        lib::format_to(buf, size, "0%lo", value);
        return;
    case 's': {
        char text[64];
        auto n = copy_string_from_app(text, value, sizeof(text));
        if (!n.is_error())
            lib::format_to(buf, size, "\"%s\"", text);
        else if (n.error() == Errno::NAMETOOLONG)
            lib::format_to(buf, size, "\"%.*s\"...", int(sizeof(text) - 1), text);
        else
            lib::format_to(buf, size, "%#lx", value);
        return;
    }
    case 'p':
        if (value == 0) {
            lib::format_to(buf, size, "NULL");
            return;
        }
        [[fallthrough]];
    default:
        lib::format_to(buf, size, "%#lx", value);
        return;
    }
}

void trace(uint64_t nr, const Args& a, int64_t result, bool returns = true)
{
    char line[512];
    size_t used = 0;
    auto append = [&](const char* text) {
        while (*text && used + 1 < sizeof(line))
            line[used++] = *text++;
        line[used] = '\0';
    };
    char piece[96];
    int32_t tid = core::current_thread()->app_data() ? current_app_thread().tid : 0;
    lib::format_to(piece, sizeof(piece), "strace: [%d] ", tid);
    append(piece);
    if (nr < kTableSize && g_table.e[nr].name)
        append(g_table.e[nr].name);
    else {
        lib::format_to(piece, sizeof(piece), "syscall_%lu", nr);
        append(piece);
    }
    append("(");
    const char* kinds = nr < kTableSize && g_table.e[nr].args ? g_table.e[nr].args : "xxxxxx";
    for (int i = 0; kinds[i] && i < 6; ++i) {
        if (i)
            append(", ");
        format_arg(piece, sizeof(piece), kinds[i], a.u(i));
        append(piece);
    }
    if (!returns)
        lib::format_to(piece, sizeof(piece), ") = ?");
    else if (is_restart_code(result)) // as strace shows them: the return path resolves these
        lib::format_to(piece, sizeof(piece), ") = ? %s",
                       result == -int64_t(kRestartSys)      ? "ERESTARTSYS (To be restarted if SA_RESTART is set)"
                       : result == -int64_t(kRestartNoHand) ? "ERESTARTNOHAND (To be restarted if no handler)"
                                                            : "ERESTART_RESTARTBLOCK (Interrupted by signal)");
    else if (result < 0 && result >= -4095)
        lib::format_to(piece, sizeof(piece), ") = -1 %s", lib::errno_name(Errno(-result)));
    else
        lib::format_to(piece, sizeof(piece), ") = %ld (%#lx)", result, uint64_t(result));
    append(piece);
    kprintf("%s\n", line);
}

} // namespace

const char* syscall_name(uint64_t nr) { return nr < kTableSize ? g_table.e[nr].name : nullptr; }

void set_strace(bool on) { g_strace = on; }

} // namespace lx

namespace lx {
namespace {

// Everything but a traced-off call of a table entry: unknown numbers, unimplemented calls and
// the strace option. Out of line, so that the common path stays short.
[[gnu::noinline]] int64_t dispatch_unusual(uint64_t nr, const Args& a)
{
    Handler h = nr < kTableSize ? g_table.e[nr].handler : nullptr;
    if (g_strace && (nr == 60 || nr == 231)) // exit, exit_group: no result to print
        trace(nr, a, 0, false);
    int64_t result = h ? h(a) : unimplemented(nr);
    if (g_strace)
        trace(nr, a, result);
    return result;
}

} // namespace
} // namespace lx

// From arch/x86_64/syscall.S, on the calling thread's kernel stack, interrupts on.
extern "C" void lx_syscall_dispatch(arch::SyscallFrame* frame)
{
    using namespace lx;
    uint64_t nr = frame->rax;
    Args a(frame);
    // One test for the common case: a number in the table, with a handler, and no strace.
    Handler h = nr < kTableSize ? g_table.e[nr].handler : nullptr;
    int64_t result = h && !g_strace ? h(a) : dispatch_unusual(nr, a);
    frame->rax = uint64_t(result);
    // A wake-up held back for a hand-off (core::unpark_thread_for_handoff, from FUTEX_WAKE) is
    // committed by any other system call: only a futex call (the wait it expects) keeps it,
    // unless a preemption is due. Inline: glibc's condvar makes two futex calls while one is
    // held, and each would pay a call here.
    constexpr uint64_t kNrFutex = 202;
    if (core::handoff_pending()) [[unlikely]] {
        if (nr != kNrFutex || core::this_cpu().need_resched)
            core::commit_handoff();
    }
    // The signal state: one load of the thread's return-work word and rax's restart-code
    // range (deliver_signals_needed; signal.h, "Return work").
    if (deliver_signals_needed(*frame)) [[unlikely]] {
        // rt_sigreturn's result is the restored context's rax: never a restart code, whatever
        // it is.
        constexpr uint64_t kNrRtSigreturn = 15;
        deliver_signals_slow(*frame, nr == kNrRtSigreturn ? kNotRestartable : nr);
    }
}
