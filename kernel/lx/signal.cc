// Signals (signal.h): actions, masks, sending, the Linux x86-64 signal frame, delivery at
// the two ways back into application code, rt_sigreturn, and the signal syscalls.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/fpu.h>
#include <arch/x86_64/trap_frame.h>
#include <core/clock.h>
#include <core/console.h>
#include <core/memory.h>
#include <core/thread.h>
#include <core/traps.h>
#include <lib/string.h>
#include <lx/poll.h>
#include <lx/process.h>
#include <lx/signal.h>
#include <lx/syscall.h>
#include <lx/uaccess.h>
#include <sync/mutex.h>
#include <time/linux_time.h>

namespace lx {
namespace {

using core::kprintf;

constexpr int kSigIll = 4, kSigTrap = 5, kSigBus = 7, kSigFpe = 8, kSigKill = 9, kSigSegv = 11, kSigChld = 17,
              kSigCont = 18, kSigStop = 19, kSigTstp = 20, kSigTtin = 21, kSigTtou = 22, kSigUrg = 23,
              kSigWinch = 28;
constexpr int kMaxSignal = 64;
constexpr int kSigRtMin = 32; // the first real-time signal (the kernel's SIGRTMIN)

constexpr uint64_t kSigDfl = 0, kSigIgn = 1;
constexpr uint64_t kSaSiginfo = 4, kSaRestorer = 0x04000000, kSaOnstack = 0x08000000, kSaRestart = 0x10000000,
                   kSaNodefer = 0x40000000, kSaResethand = 0x80000000, kSaNocldstop = 1, kSaNocldwait = 2;
constexpr uint64_t kSaKnown = kSaSiginfo | kSaRestorer | kSaOnstack | kSaRestart | kSaNodefer | kSaResethand |
                              kSaNocldstop | kSaNocldwait | 0x01000000 /* SA_UNSUPPORTED */ | 0x02000000 /* SA_EXPOSE_TAGBITS */;

constexpr int32_t kSiUser = 0, kSiTimer = -2, kSiTkill = -6, kSiKernel = 0x80;
constexpr uint64_t kNrRestartSyscall = 219;
constexpr int kSsOnstack = 1, kSsDisable = 2;
constexpr uint64_t kMinSigStkSz = 2048;

constexpr uint64_t bit(int signo) { return uint64_t(1) << (signo - 1); }
constexpr uint64_t kUnblockable = bit(kSigKill) | bit(kSigStop);
// Signals a fault raises: delivered before anything else pending.
constexpr uint64_t kSynchronous = bit(kSigSegv) | bit(kSigBus) | bit(kSigIll) | bit(kSigFpe) | bit(kSigTrap);

struct KSigaction {
    uint64_t handler = kSigDfl;
    uint64_t flags = 0;
    uint64_t restorer = 0;
    uint64_t mask = 0;
};

constinit ksync::Mutex g_action_lock;
KSigaction g_actions[kMaxSignal + 1] TA_GUARDED(g_action_lock);

KSigaction action_of(int signo)
{
    ksync::MutexGuard guard(g_action_lock);
    return g_actions[signo];
}

enum class Default : uint8_t { Terminate, Ignore };

Default default_action(int signo)
{
    switch (signo) {
    case kSigChld:
    case kSigCont:
    case kSigUrg:
    case kSigWinch:
    case kSigStop: // no job control: stopping the only process would only hang the VM
    case kSigTstp:
    case kSigTtin:
    case kSigTtou:
        return Default::Ignore;
    default:
        return Default::Terminate;
    }
}

const char* signal_name(int signo)
{
    static const char* const kNames[] = { "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS",
                                          "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM",
                                          "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN",
                                          "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",
                                          "SIGIO", "SIGPWR", "SIGSYS" };
    if (signo > 0 && signo < int(sizeof(kNames) / sizeof(kNames[0])))
        return kNames[signo];
    return "a real-time signal";
}

bool ignored(int signo, const KSigaction& a)
{
    return a.handler == kSigIgn || (a.handler == kSigDfl && default_action(signo) == Default::Ignore);
}

AppThread* current_or_null() { return static_cast<AppThread*>(core::current_thread()->app_data()); }

// ---- the frame -------------------------------------------------------------------------------

struct Regs {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, rflags;
    uint64_t err = 0, trapno = 0, cr2 = 0;
};

// Linux's x86-64 ucontext and siginfo, as the C library reads them.
struct Sigcontext {
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
    uint16_t cs, gs, fs, ss;
    uint64_t err, trapno, oldmask, cr2;
    uint64_t fpstate;
    uint64_t reserved[8];
};
static_assert(sizeof(Sigcontext) == 256);

struct StackT {
    uint64_t sp;
    int32_t flags;
    int32_t pad;
    uint64_t size;
};

struct Ucontext {
    uint64_t flags;
    uint64_t link;
    StackT stack;
    Sigcontext mcontext;
    uint64_t sigmask;
};
static_assert(sizeof(Ucontext) == 304);

struct Siginfo {
    int32_t signo, errno_value, code, pad;
    union {
        struct {
            int32_t pid;
            uint32_t uid;
        } kill;
        struct {
            int32_t id;
            int32_t overrun;
            uint64_t value;
        } timer;
        uint64_t addr;
        uint8_t bytes[112];
    } u;
};
static_assert(sizeof(Siginfo) == 128);

struct RtSigframe {
    uint64_t pretcode; // the handler returns here: sa_restorer, which calls rt_sigreturn
    Ucontext uc;
    Siginfo info;
};

constexpr uint64_t kUcFpXstate = 1, kUcSigcontextSs = 2, kUcStrictRestoreSs = 4;
constexpr uint32_t kFpXstateMagic1 = 0x46505853, kFpXstateMagic2 = 0x46505845;
// Offsets in an FXSAVE/XSAVE image [intel-sdm-1 §10.5.1, §13.4].
constexpr size_t kFxMxcsr = 24, kFxSwReserved = 464, kXsaveHeader = 512;
constexpr uint32_t kMxcsrDefault = 0x1f80;

// The XSAVE image as it goes on the signal stack: the standard-format bytes plus Linux's
// trailing magic word.
size_t xstate_size() { return size_t(arch::xsave_area_size() - 64); }
size_t fpstate_size() { return xstate_size() + 4; }
bool use_xsave() { return arch::xsave_mask() != 0; }

// A 64-byte-aligned kernel buffer for one XSAVE image.
class XstateBuffer {
public:
    XstateBuffer() : m_raw(static_cast<uint8_t*>(core::kmalloc(arch::xsave_area_size(), 64))) {}
    ~XstateBuffer() { core::kfree(m_raw); }
    XstateBuffer(const XstateBuffer&) = delete;
    XstateBuffer& operator=(const XstateBuffer&) = delete;
    uint8_t* data() const { return m_raw; }
    bool ok() const { return m_raw != nullptr; }

private:
    uint8_t* m_raw;
};

void put32(uint8_t* p, uint32_t v) { lib::mem_copy(p, &v, 4); }
uint32_t get32(const uint8_t* p)
{
    uint32_t v;
    lib::mem_copy(&v, p, 4);
    return v;
}
uint64_t get64(const uint8_t* p)
{
    uint64_t v;
    lib::mem_copy(&v, p, 8);
    return v;
}

// Makes an image safe to XRSTOR: nothing a CPU would fault on, whatever the application
// wrote into its signal frame. False: refuse it (the thread gets SIGSEGV, as on Linux).
bool sanitize_xstate(uint8_t* image, bool has_xsave_header)
{
    uint32_t mxcsr = get32(image + kFxMxcsr);
    if (mxcsr & 0xffff0000u)
        return false;
    if (!use_xsave())
        return true;
    if (!has_xsave_header) { // an FXSAVE-only frame: x87 and SSE from the legacy region
        uint64_t bv = 3;
        lib::mem_set(image + kXsaveHeader, 0, 64);
        lib::mem_copy(image + kXsaveHeader, &bv, 8);
        return true;
    }
    uint64_t bv = get64(image + kXsaveHeader), comp = get64(image + kXsaveHeader + 8);
    if ((bv & ~arch::xsave_mask()) || comp)
        return false;
    for (size_t i = 16; i < 64; ++i)
        if (image[kXsaveHeader + i])
            return false;
    return true;
}

// What the handler starts with: the initial FP/SSE state (Linux clears it for handlers).
void reset_for_handler(uint8_t* image)
{
    put32(image + kFxMxcsr, kMxcsrDefault);
    uint16_t fcw = 0x37f;
    lib::mem_copy(image, &fcw, 2);
    if (use_xsave()) {
        uint64_t bv = get64(image + kXsaveHeader) & ~uint64_t(0x4 | 0xe0); // AVX and AVX-512 to init
        lib::mem_copy(image + kXsaveHeader, &bv, 8);
    }
}

[[noreturn]] void die(int signo, const Regs& r, AppThread& t, const char* what, uint64_t address, bool fault)
{
    kprintf("nimbus: application killed by %s", signal_name(signo));
    if (what)
        kprintf(" (%s)", what);
    kprintf(" at rip %#lx", r.rip);
    if (fault)
        kprintf(", address %#lx", address);
    kprintf(", thread %d '%s'\n", t.tid, t.comm);
    kprintf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", r.rax, r.rbx, r.rcx, r.rdx);
    kprintf("  rsi %016lx rdi %016lx rbp %016lx rsp %016lx\n", r.rsi, r.rdi, r.rbp, r.rsp);
    kprintf("  r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n", r.r8, r.r9, r.r10, r.r11);
    kprintf("  r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n", r.r12, r.r13, r.r14, r.r15);
    kprintf("  rflags %016lx\n", r.rflags);
    exit_application(128 + signo);
}

// Takes the next pending signal in `mask` off `t` (faults first, then lowest number); 0 if
// none. Whoever clears the pending bit owns the signal.
int take_from(AppThread& t, uint64_t mask, AppThread::PendingInfo& info)
{
    for (;;) {
        uint64_t ready = t.pending.load(std::memory_order_acquire) & mask;
        if (!ready)
            return 0;
        uint64_t pick = (ready & kSynchronous) ? (ready & kSynchronous) : ready;
        int signo = __builtin_ctzll(pick) + 1;
        info = t.pending_info[signo - 1];
        if (t.pending.fetch_and(~bit(signo), std::memory_order_acq_rel) & bit(signo)) {
            t.pending_shared.fetch_and(~bit(signo), std::memory_order_relaxed);
            return signo;
        }
    }
}

// Takes the next deliverable (unblocked) signal off `t`.
int take_signal(AppThread& t, AppThread::PendingInfo& info) { return take_from(t, ~(t.blocked & ~kUnblockable), info); }

// What a siginfo says about a signal, for a frame or rt_sigtimedwait.
void fill_siginfo(Siginfo& si, int signo, const AppThread::PendingInfo& info)
{
    si.signo = signo;
    si.errno_value = info.errno_value;
    si.code = info.code;
    if ((bit(signo) & kSynchronous) && info.code > 0)
        si.u.addr = info.address;
    else if (info.code == kSiTimer) {
        si.u.timer.id = info.timer_id;
        si.u.timer.overrun = info.overrun;
        si.u.timer.value = info.value;
    } else {
        si.u.kill.pid = info.sender_pid;
        si.u.kill.uid = 0;
    }
}

// What the return path of a system call knows about it: its number and whether its result
// (in rax) is a restart code still to be resolved.
struct SyscallRestart {
    uint64_t nr;
    bool pending;
};

// A handler is about to run for the signal that interrupted the call: its result becomes
// EINTR, or for kRestartSys with SA_RESTART the context the frame saves is the `syscall`
// instruction again, which runs once the handler returns.
void resolve_for_handler(Regs& regs, uint64_t sa_flags, SyscallRestart* restart, AppThread& t)
{
    if (!restart || !restart->pending)
        return;
    restart->pending = false;
    t.restart.fn = nullptr; // a restart block is not used once a handler runs
    if (int64_t(regs.rax) == -int64_t(kRestartSys) && (sa_flags & kSaRestart)) {
        regs.rax = restart->nr;
        regs.rip -= 2; // `syscall` is two bytes (0f 05)
        return;
    }
    regs.rax = uint64_t(err(Errno::INTR));
}

// Delivers one signal into `regs` + `image` (the XSAVE image the return will load).
// Returns false if nothing changed (ignored).
bool deliver_one(AppThread& t, int signo, const AppThread::PendingInfo& info, Regs& regs, uint8_t* image,
                 uint64_t saved_mask, SyscallRestart* restart)
{
    KSigaction a = action_of(signo);
    if (signo == kSigKill || a.handler == kSigDfl) {
        if (signo != kSigKill && default_action(signo) == Default::Ignore)
            return false;
        bool fault = (bit(signo) & kSynchronous) && info.code > 0;
        die(signo, regs, t, nullptr, info.address, fault);
    }
    if (a.handler == kSigIgn)
        return false;
    resolve_for_handler(regs, a.flags, restart, t);

    uint64_t sp = regs.rsp - 128; // the interrupted code's red zone
    bool on_altstack = t.altstack_flags != kSsDisable && regs.rsp > t.altstack_sp &&
                       regs.rsp <= t.altstack_sp + t.altstack_size;
    if ((a.flags & kSaOnstack) && t.altstack_flags != kSsDisable && !on_altstack)
        sp = t.altstack_sp + t.altstack_size;
    uint64_t fpstate = (sp - fpstate_size()) & ~uint64_t(63);
    uint64_t frame_at = ((fpstate - sizeof(RtSigframe)) & ~uint64_t(15)) - 8;

    RtSigframe f {};
    f.pretcode = a.restorer;
    f.uc.flags = kUcFpXstate | kUcSigcontextSs | kUcStrictRestoreSs;
    f.uc.stack = { t.altstack_sp, t.altstack_flags == kSsDisable ? kSsDisable : (on_altstack ? kSsOnstack : 0), 0,
                   t.altstack_size };
    Sigcontext& c = f.uc.mcontext;
    c.r8 = regs.r8, c.r9 = regs.r9, c.r10 = regs.r10, c.r11 = regs.r11, c.r12 = regs.r12, c.r13 = regs.r13;
    c.r14 = regs.r14, c.r15 = regs.r15, c.rdi = regs.rdi, c.rsi = regs.rsi, c.rbp = regs.rbp, c.rbx = regs.rbx;
    c.rdx = regs.rdx, c.rax = regs.rax, c.rcx = regs.rcx, c.rsp = regs.rsp, c.rip = regs.rip;
    c.eflags = regs.rflags;
    c.cs = 0x33; // what a Linux user context shows
    c.ss = 0x2b;
    c.err = regs.err;
    c.trapno = regs.trapno;
    c.oldmask = saved_mask;
    c.cr2 = regs.cr2;
    c.fpstate = fpstate;
    f.uc.sigmask = saved_mask;
    fill_siginfo(f.info, signo, info);

    // The FP image with Linux's software-reserved bytes, then the frame.
    if (use_xsave()) {
        put32(image + kFxSwReserved + 0, kFpXstateMagic1);
        put32(image + kFxSwReserved + 4, uint32_t(fpstate_size()));
        uint64_t features = arch::xsave_mask();
        lib::mem_copy(image + kFxSwReserved + 8, &features, 8);
        put32(image + kFxSwReserved + 16, uint32_t(xstate_size()));
    }
    uint32_t magic2 = kFpXstateMagic2;
    bool ok = !copy_to_app(fpstate, image, xstate_size()).is_error() &&
              !copy_to_app(fpstate + xstate_size(), &magic2, 4).is_error() &&
              !copy_to_app(frame_at, &f, sizeof(f)).is_error();
    if (!ok || !(a.flags & kSaRestorer) || !a.restorer) {
        // No room on the stack, or no way back: Linux forces SIGSEGV; we end the program.
        die(kSigSegv, regs, t, !ok ? "cannot write the signal frame" : "handler has no sa_restorer", frame_at, false);
    }

    regs.rsp = frame_at;
    regs.rip = a.handler;
    regs.rdi = uint64_t(signo);
    regs.rsi = frame_at + __builtin_offsetof(RtSigframe, info);
    regs.rdx = frame_at + __builtin_offsetof(RtSigframe, uc);
    regs.rax = 0;
    regs.rflags &= ~uint64_t((1u << 8) | (1u << 10) | (1u << 16)); // TF, DF, RF
    reset_for_handler(image);

    // The handler runs with the mask in effect (a temporary one of sigsuspend or ppoll
    // included) plus its own; the frame keeps the one its return restores.
    uint64_t add = a.mask | ((a.flags & kSaNodefer) ? 0 : bit(signo));
    t.blocked = (t.blocked | add) & ~kUnblockable;
    if (a.flags & kSaResethand) {
        ksync::MutexGuard guard(g_action_lock);
        if (signo != kSigIll && signo != kSigTrap)
            g_actions[signo].handler = kSigDfl;
        g_actions[signo].flags &= ~kSaSiginfo;
    }
    return true;
}

// The mask a frame records: sigsuspend's caller's, while sigsuspend's temporary mask is on.
uint64_t mask_to_save(AppThread& t) { return t.suspend_active ? t.suspend_saved_mask : t.blocked; }

// Delivers the next deliverable signal into regs + image; whether anything changed. One frame
// per return: further signals come when the handler's sigreturn (or next call) returns.
// `restart`: the system call being returned from (nullptr on the interrupt path).
bool deliver_all(AppThread& t, Regs& regs, uint8_t* image, SyscallRestart* restart)
{
    bool changed = false;
    AppThread::PendingInfo info;
    while (int signo = take_signal(t, info)) {
        if (deliver_one(t, signo, info, regs, image, mask_to_save(t), restart)) {
            changed = true;
            t.suspend_active = false;
            break;
        }
    }
    if (t.suspend_active) { // sigsuspend returned with nothing delivered: its mask ends
        t.blocked = t.suspend_saved_mask;
        t.suspend_active = false;
    }
    return changed;
}

bool has_deliverable(const AppThread& t)
{
    return (t.pending.load(std::memory_order_acquire) & ~(t.blocked & ~kUnblockable)) != 0;
}

// ---- the syscall path ---------------------------------------------------------------------

Regs regs_of(const arch::SyscallFrame& f)
{
    // After a syscall Linux leaves rcx = rip and r11 = rflags; a frame records that.
    return Regs { f.r8, f.r9, f.r10, f.rflags, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx, f.rdx,
                  f.rax, f.rip, f.rsp, f.rip, f.rflags };
}

void apply(const Regs& r, arch::SyscallFrame& f)
{
    f.r8 = r.r8, f.r9 = r.r9, f.r10 = r.r10, f.r12 = r.r12, f.r13 = r.r13, f.r14 = r.r14, f.r15 = r.r15;
    f.rdi = r.rdi, f.rsi = r.rsi, f.rbp = r.rbp, f.rbx = r.rbx, f.rdx = r.rdx, f.rax = r.rax;
    f.rsp = r.rsp, f.rip = r.rip, f.rflags = r.rflags;
    // rcx and r11: the ordinary return leaves rip and rflags in them (Linux's syscall
    // contract); rt_sigreturn's exact return loads the context's own (exact_return).
}

// The extended state as the application sees it: the live registers. The kernel never
// touches them (it is built without SSE and floating point), and a switch away and back
// restores them (thread.cc).
void capture_xstate(arch::SyscallFrame&, uint8_t* image) { arch::save_extended_state(image); }

// Makes `image` the state the syscall return leaves the application in: the live registers,
// which the return does not touch.
void install_xstate(arch::SyscallFrame&, const uint8_t* image) { arch::restore_extended_state(image); }

// ---- the trap path --------------------------------------------------------------------------

Regs regs_of(const arch::TrapFrame& f, uint64_t cr2)
{
    return Regs { f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx, f.rdx,
                  f.rax, f.rcx, f.rsp, f.rip, f.rflags, f.error_code, f.vector, cr2 };
}

void apply(const Regs& r, arch::TrapFrame& f)
{
    f.r8 = r.r8, f.r9 = r.r9, f.r10 = r.r10, f.r11 = r.r11, f.r12 = r.r12, f.r13 = r.r13, f.r14 = r.r14;
    f.r15 = r.r15, f.rdi = r.rdi, f.rsi = r.rsi, f.rbp = r.rbp, f.rbx = r.rbx, f.rdx = r.rdx, f.rax = r.rax;
    f.rcx = r.rcx, f.rsp = r.rsp, f.rip = r.rip, f.rflags = r.rflags;
}

// traps.S saved the extended state at `extended_state` (XSAVE or FXSAVE, 64-byte aligned):
// the frame carries it, and the handler starts from a reset copy.
void on_app_return(arch::TrapFrame& frame, void* extended_state)
{
    AppThread* t = current_or_null();
    if (!t || !has_deliverable(*t))
        return;
    asm volatile("sti" ::: "memory");
    AppThread::PendingInfo fault = t->pending_info[kSigSegv - 1];
    Regs regs = regs_of(frame, frame.vector == arch::kPageFault ? fault.address : 0);
    if (deliver_all(*t, regs, static_cast<uint8_t*>(extended_state), nullptr))
        apply(regs, frame);
    asm volatile("cli" ::: "memory");
}

struct FaultKind {
    int signo;
    int32_t code;
    const char* what;
};

FaultKind classify(const arch::TrapFrame& f)
{
    using namespace arch;
    constexpr int32_t kSegvMaperr = 1, kSegvAccerr = 2, kIllIllopn = 2, kFpeIntdiv = 1, kFpeFltinv = 7,
                      kBusAdraln = 1, kBusAdrerr = 2, kTrapBrkpt = 1;
    switch (f.vector) {
    case kDivideError:
        return { kSigFpe, kFpeIntdiv, "integer divide by zero" };
    case kX87Fault:
    case kSimdFault:
        return { kSigFpe, kFpeFltinv, "floating-point exception" };
    case kInvalidOpcode:
        return { kSigIll, kIllIllopn, "illegal instruction" };
    case kDebug:
    case kBreakpoint:
        return { kSigTrap, kTrapBrkpt, "trace/breakpoint trap" };
    case kAlignmentCheck:
        return { kSigBus, kBusAdraln, "alignment check" };
    case kPageFault:
        if (f.error_code & kPfSoftOutOfMemory)
            return { kSigKill, kSiKernel, "out of memory" };
        if (f.error_code & kPfSoftBusError)
            return { kSigBus, kBusAdrerr, "access to a file mapping past the end of its file" };
        if (!(f.error_code & kPfPresent))
            return { kSigSegv, kSegvMaperr, "access to unmapped memory" };
        return { kSigSegv, kSegvAccerr, "access not allowed by the page's protection" };
    default:
        return { kSigSegv, kSiKernel, "general protection fault" };
    }
}

// An exception in application code: the faulting thread gets the signal. With a handler
// that can run, it is queued and on_app_return (next, in trap_dispatch) builds the frame;
// blocked or ignored fault signals kill, as Linux's forced signals do.
void app_fault(arch::TrapFrame& frame, void*, uint64_t address)
{
    AppThread* t = current_or_null();
    FaultKind k = classify(frame);
    bool page_fault = frame.vector == arch::kPageFault;
    uint64_t fault_address = page_fault ? address : frame.rip;
    asm volatile("sti" ::: "memory");
    if (!t)
        exit_application(128 + k.signo);
    KSigaction a = action_of(k.signo);
    bool can_handle = a.handler != kSigDfl && a.handler != kSigIgn && !(t->blocked & bit(k.signo));
    if (!can_handle)
        die(k.signo, regs_of(frame, address), *t, k.what, fault_address, page_fault);
    t->pending_info[k.signo - 1] = { k.code, 0, fault_address, 0, int32_t(frame.vector) };
    t->pending.fetch_or(bit(k.signo), std::memory_order_release);
    note_signal_work(t->thread); // for a return that on_app_return cannot complete (no memory)
    asm volatile("cli" ::: "memory");
}

// A process-directed signal goes to the first thread that does not block it, else to the
// main thread (where it stays pending until unblocked).
struct Chooser {
    int signo;
    AppThread* chosen;
};

bool choose_thread(AppThread& t, void* ctx)
{
    auto* c = static_cast<Chooser*>(ctx);
    if (!c->chosen || t.tid == kPid)
        c->chosen = &t;
    if (!(t.blocked & bit(c->signo))) {
        c->chosen = &t;
        return true;
    }
    return false;
}

struct TidSend {
    int32_t tid;
    int signo;
    bool found;
};

bool send_to_tid(AppThread& t, void* ctx)
{
    auto* s = static_cast<TidSend*>(ctx);
    if (t.tid != s->tid)
        return false;
    s->found = true;
    if (s->signo)
        send_signal(t, s->signo, kSiTkill, 0, kPid);
    return true;
}

bool discard_pending(AppThread& t, void* ctx)
{
    t.pending.fetch_and(~bit(*static_cast<int*>(ctx)), std::memory_order_relaxed);
    return false;
}

int64_t do_kill_process(int signo)
{
    if (signo < 0 || signo > kMaxSignal)
        return err(Errno::INVAL);
    if (signo != 0)
        send_process_signal(signo, { kSiUser, kPid });
    return 0;
}

int64_t do_tkill(int32_t tid, int signo)
{
    if (tid <= 0 || signo < 0 || signo > kMaxSignal)
        return err(Errno::INVAL);
    TidSend s { tid, signo, false };
    for_each_app_thread(&send_to_tid, &s);
    return s.found ? 0 : err(Errno::SRCH);
}

using clk::Timespec;

// signalfd/sigtimedwait: a process-directed signal in `mask` that another thread holds.
struct SharedTake {
    uint64_t mask;
    AppThread* self;
    AppThread::PendingInfo* info;
    int signo;
};

bool take_shared(AppThread& t, void* ctx)
{
    auto* c = static_cast<SharedTake*>(ctx);
    if (&t == c->self)
        return false;
    c->signo = take_from(t, c->mask & t.pending_shared.load(std::memory_order_acquire), *c->info);
    return c->signo != 0;
}

bool collect_shared(AppThread& t, void* ctx)
{
    *static_cast<uint64_t*>(ctx) |=
        t.pending.load(std::memory_order_acquire) & t.pending_shared.load(std::memory_order_acquire);
    return false;
}

bool holds_shared(AppThread& t, void* ctx)
{
    uint64_t mask = *static_cast<uint64_t*>(ctx);
    return (t.pending.load(std::memory_order_acquire) & t.pending_shared.load(std::memory_order_acquire) & mask) != 0;
}

} // namespace

void send_signal(AppThread& thread, int signo, const AppThread::PendingInfo& info)
{
    // An ignored signal is discarded at once, as Linux does — unless the thread blocks it (or
    // waits for it in sigtimedwait): the action may change before it is unblocked, and a
    // signalfd may read it.
    if (signo != kSigKill && !((thread.blocked | thread.sigwait_set) & bit(signo)) && ignored(signo, action_of(signo)))
        return;
    thread.pending_info[signo - 1] = info;
    bool was_pending = thread.pending.fetch_or(bit(signo), std::memory_order_release) & bit(signo);
    core::Thread* target = thread.thread;
    note_signal_work(target); // after the pending bit, before the kick (signal.h, "Return work")
    if (target)
        core::kick_thread(target);
    // A signalfd (polled, watched, or read by a blocked thread) may be ready now — unless a
    // standard signal was already pending, which Linux drops without a wake-up.
    if (!was_pending || signo >= kSigRtMin)
        notify_signalfds(signo);
}

void send_signal(AppThread& thread, int signo, int32_t code, uint64_t address, int32_t sender_pid)
{
    send_signal(thread, signo, { code, sender_pid, address });
}

void send_process_signal(int signo, const AppThread::PendingInfo& info)
{
    AppThread* self = current_or_null();
    if (self && !(self->blocked & bit(signo))) {
        self->pending_shared.fetch_or(bit(signo), std::memory_order_release);
        send_signal(*self, signo, info);
        return;
    }
    Chooser c { signo, nullptr };
    for_each_app_thread(&choose_thread, &c);
    if (c.chosen) {
        // Marked before the pending bit is set (pairs with the acquire loads of take_shared).
        c.chosen->pending_shared.fetch_or(bit(signo), std::memory_order_release);
        send_signal(*c.chosen, signo, info);
    }
}

bool signal_pending()
{
    AppThread* t = current_or_null();
    return t && has_deliverable(*t);
}

bool is_restart_code(int64_t result)
{
    return result == -int64_t(kRestartSys) || result == -int64_t(kRestartNoHand) || result == -int64_t(kRestartBlock);
}

int64_t restart_later(AppThread::RestartBlock::Fn fn, uint64_t deadline, uint64_t a0, uint64_t a1, uint64_t a2,
                      uint64_t a3, uint64_t a4)
{
    AppThread& t = current_app_thread();
    t.restart = AppThread::RestartBlock { fn, deadline, { a0, a1, a2, a3, a4 } };
    return err(kRestartBlock);
}

void begin_temporary_mask_value(uint64_t mask)
{
    AppThread& t = current_app_thread();
    t.suspend_saved_mask = t.blocked;
    t.suspend_active = true;
    t.blocked = mask & ~kUnblockable;
    note_signal_work(t.thread); // the return must end the temporary mask
}

lib::Result<void> begin_temporary_mask(uint64_t address, uint64_t size)
{
    if (!address)
        return {};
    if (size != 8)
        return Errno::INVAL;
    begin_temporary_mask_value(TRY(read_app<uint64_t>(address)));
    return {};
}

int64_t end_temporary_mask(int64_t result)
{
    AppThread& t = current_app_thread();
    if (!t.suspend_active || result == err(Errno::INTR) || is_restart_code(result))
        return result; // interrupted: deliver_signals ends the mask
    t.blocked = t.suspend_saved_mask;
    t.suspend_active = false;
    note_signal_work(t.thread); // the caller's mask may unblock a pending signal
    return result;
}

int take_signal_in(uint64_t mask, AppThread::PendingInfo& info)
{
    AppThread& self = current_app_thread();
    if (int signo = take_from(self, mask, info))
        return signo;
    SharedTake c { mask, &self, &info, 0 };
    for_each_app_thread(&take_shared, &c);
    return c.signo;
}

bool has_signal_in(uint64_t mask)
{
    AppThread* self = current_or_null();
    if (self && (self->pending.load(std::memory_order_acquire) & mask))
        return true;
    return for_each_app_thread(&holds_shared, &mask);
}

static_assert(kUnblockable == kUnblockableSignals);
static_assert(-int64_t(kRestartBlock) == -516 && -int64_t(kRestartSys) == -512, "deliver_signals' range test");

void deliver_signals_slow(arch::SyscallFrame& frame, uint64_t nr)
{
    AppThread* t = current_or_null();
    SyscallRestart restart { nr, nr != kNotRestartable && is_restart_code(int64_t(frame.rax)) };
    if (!t) {
        if (restart.pending) // no application thread, no signals: just the error
            frame.rax = uint64_t(err(Errno::INTR));
        return;
    }
    // Cleared before anything is looked at; set again below if work is left (signal.h,
    // "Return work").
    core::current_thread()->return_work().exchange(0, std::memory_order_acq_rel);
    if (has_deliverable(*t)) {
        XstateBuffer image;
        if (image.ok()) { // out of memory: try again at the next return
            capture_xstate(frame, image.data());
            Regs regs = regs_of(frame);
            if (t->exact_return) { // the frame records the sigreturn'ed context's own values
                regs.rcx = t->exact_rcx;
                regs.r11 = t->exact_r11;
            }
            if (deliver_all(*t, regs, image.data(), &restart)) {
                apply(regs, frame);
                install_xstate(frame, image.data());
                t->exact_return = false; // the handler starts fresh: rcx/r11 do not matter
            }
        }
    }
    if (t->suspend_active) { // a temporary mask, and no frame took the caller's mask: it ends
        t->blocked = t->suspend_saved_mask;
        t->suspend_active = false;
    }
    if (restart.pending) {
        // No handler ran (the signal was ignored, taken elsewhere, or is still blocked): the
        // call runs again at once — the same call with its own registers, or restart_syscall.
        frame.rax = int64_t(frame.rax) == -int64_t(kRestartBlock) ? kNrRestartSyscall : nr;
        frame.rip -= 2;
    }
    // One signal per return: another one still deliverable (or one the lack of memory held
    // back) is for the next return.
    if (has_deliverable(*t))
        note_signal_work(t->thread);
    if (t->exact_return) {
        t->exact_return = false;
        arch_syscall_return_exact(&frame, t->exact_rcx, t->exact_r11);
    }
}

void init_signals()
{
    core::set_app_fault_handler(&app_fault);
    core::set_app_return_hook(&on_app_return);
}

// ---- system calls ---------------------------------------------------------------------------

int64_t sys_rt_sigaction(const Args& a)
{
    int signo = a.i(0);
    if (a.u(3) != 8 || signo < 1 || signo > kMaxSignal)
        return err(Errno::INVAL);
    KSigaction fresh {};
    if (a.u(1)) {
        if (signo == kSigKill || signo == kSigStop)
            return err(Errno::INVAL);
        auto act = read_app<KSigaction>(a.u(1));
        if (act.is_error())
            return err(act.error());
        fresh = act.value();
        fresh.flags &= kSaKnown; // unknown bits are dropped (SA_UNSUPPORTED probing sees it)
        fresh.mask &= ~kUnblockable;
    }
    KSigaction old;
    {
        ksync::MutexGuard guard(g_action_lock);
        old = g_actions[signo];
        if (a.u(1))
            g_actions[signo] = fresh;
    }
    if (a.u(1) && ignored(signo, fresh)) // ignoring a signal discards it where it is pending
        for_each_app_thread(&discard_pending, &signo);
    if (a.u(2))
        return ret(write_app(a.u(2), old));
    return 0;
}

int64_t sys_rt_sigprocmask(const Args& a)
{
    constexpr int kBlock = 0, kUnblock = 1, kSetmask = 2;
    if (a.u(3) != 8)
        return err(Errno::INVAL);
    AppThread& t = current_app_thread();
    uint64_t old = t.blocked;
    if (a.u(1)) {
        auto set = read_app<uint64_t>(a.u(1));
        if (set.is_error())
            return err(set.error());
        switch (a.i(0)) {
        case kBlock:
            t.blocked |= set.value();
            break;
        case kUnblock:
            t.blocked &= ~set.value();
            break;
        case kSetmask:
            t.blocked = set.value();
            break;
        default:
            return err(Errno::INVAL);
        }
        t.blocked &= ~kUnblockable;
        note_signal_work(t.thread); // a pending signal may be unblocked now
    }
    if (a.u(2))
        return ret(write_app(a.u(2), old));
    return 0;
}

int64_t sys_rt_sigpending(const Args& a)
{
    if (a.u(1) > 8)
        return err(Errno::INVAL);
    AppThread& t = current_app_thread();
    // The thread's own, and the process-directed ones whichever thread holds them (Linux's
    // shared pending set).
    uint64_t set = t.pending.load(std::memory_order_acquire);
    for_each_app_thread(&collect_shared, &set);
    set &= t.blocked;
    return ret(copy_to_app(a.u(0), &set, a.u(1)));
}

int64_t sys_rt_sigsuspend(const Args& a)
{
    if (a.u(1) != 8)
        return err(Errno::INVAL);
    auto mask = read_app<uint64_t>(a.u(0));
    if (mask.is_error())
        return err(mask.error());
    begin_temporary_mask_value(mask.value());
    AppThread& t = current_app_thread();
    while (!has_deliverable(t))
        core::park_current_thread();
    // The handler runs on the way out (EINTR) and its return brings the old mask back; if no
    // handler runs after all, the call starts again.
    return err(kRestartNoHand);
}

int64_t sys_pause(const Args&)
{
    AppThread& t = current_app_thread();
    while (!has_deliverable(t))
        core::park_current_thread();
    return err(kRestartNoHand);
}

int64_t sys_restart_syscall(const Args&)
{
    AppThread& t = current_app_thread();
    AppThread::RestartBlock block = t.restart;
    t.restart.fn = nullptr; // used once; fn arms it again if interrupted again
    return block.fn ? block.fn(block) : err(Errno::INTR);
}

int64_t sys_rt_sigtimedwait(const Args& a)
{
    if (a.u(3) != 8)
        return err(Errno::INVAL);
    auto set = read_app<uint64_t>(a.u(0));
    if (set.is_error())
        return err(set.error());
    uint64_t wanted = set.value() & ~kUnblockable;
    uint64_t deadline = ~uint64_t(0);
    if (a.u(2)) {
        auto ts = read_app<Timespec>(a.u(2));
        if (ts.is_error())
            return err(ts.error());
        if (ts.value().sec < 0 || ts.value().nsec < 0 || ts.value().nsec >= 1000000000)
            return err(Errno::INVAL);
        deadline = core::monotonic_ns() + uint64_t(ts.value().sec) * 1000000000 + uint64_t(ts.value().nsec);
    }
    AppThread& t = current_app_thread();
    // As on Linux, the awaited signals are unblocked while the thread waits, so that kill
    // picks this thread for them; the caller's mask is back before anything returns, so no
    // handler runs for them. Never restarted (Linux returns EINTR too).
    uint64_t caller_mask = t.blocked;
    t.sigwait_set = wanted;
    t.blocked &= ~wanted;
    int64_t result;
    for (;;) {
        AppThread::PendingInfo info;
        if (int signo = take_signal_in(wanted, info)) {
            result = signo;
            if (a.u(1)) {
                Siginfo si {};
                fill_siginfo(si, signo, info);
                if (auto r = write_app(a.u(1), si); r.is_error())
                    result = err(r.error());
            }
            break;
        }
        if (t.pending.load(std::memory_order_acquire) & ~wanted & ~(caller_mask & ~kUnblockable)) {
            result = err(Errno::INTR); // another signal, one to handle, arrived
            break;
        }
        if (deadline == ~uint64_t(0)) {
            core::park_current_thread();
        } else if (!core::park_current_thread_until(deadline) || core::monotonic_ns() >= deadline) {
            result = err(Errno::AGAIN);
            break;
        }
    }
    t.blocked = caller_mask;
    t.sigwait_set = 0;
    return result;
}

int64_t sys_sigaltstack(const Args& a)
{
    AppThread& t = current_app_thread();
    StackT old { t.altstack_sp, t.altstack_flags, 0, t.altstack_size };
    uint64_t sp = a.frame->rsp;
    bool on = t.altstack_flags != kSsDisable && sp > t.altstack_sp && sp <= t.altstack_sp + t.altstack_size;
    if (on)
        old.flags = kSsOnstack;
    if (a.u(0)) {
        auto ss = read_app<StackT>(a.u(0));
        if (ss.is_error())
            return err(ss.error());
        if (on)
            return err(Errno::PERM);
        int flags = ss.value().flags & ~int(0x80000000u); // SS_AUTODISARM: accepted
        if (flags != 0 && flags != kSsDisable && flags != kSsOnstack)
            return err(Errno::INVAL);
        if (flags == kSsDisable) {
            t.altstack_flags = kSsDisable;
            t.altstack_sp = t.altstack_size = 0;
        } else {
            if (ss.value().size < kMinSigStkSz)
                return err(Errno::NOMEM);
            t.altstack_sp = ss.value().sp;
            t.altstack_size = ss.value().size;
            t.altstack_flags = 0;
        }
    }
    if (a.u(1))
        return ret(write_app(a.u(1), old));
    return 0;
}

int64_t sys_rt_sigreturn(const Args& a)
{
    arch::SyscallFrame& f = *a.frame;
    AppThread& t = current_app_thread();
    // The handler's `ret` popped pretcode: the ucontext is at the stack pointer.
    uint64_t uc_at = f.rsp;
    Regs regs = regs_of(f);
    auto uc = read_app<Ucontext>(uc_at);
    if (uc.is_error())
        die(kSigSegv, regs, t, "rt_sigreturn: unreadable signal frame", uc_at, true);
    const Sigcontext& c = uc.value().mcontext;
    XstateBuffer image;
    if (!image.ok())
        die(kSigSegv, regs, t, "rt_sigreturn: out of memory", uc_at, false);
    if (c.fpstate) {
        if (copy_from_app(image.data(), c.fpstate, xstate_size()).is_error())
            die(kSigSegv, regs, t, "rt_sigreturn: unreadable FP state", c.fpstate, true);
        bool xstate = (uc.value().flags & kUcFpXstate) && get32(image.data() + kFxSwReserved) == kFpXstateMagic1;
        if (!sanitize_xstate(image.data(), xstate))
            die(kSigSegv, regs, t, "rt_sigreturn: invalid FP state", c.fpstate, true);
    } else {
        arch::init_extended_state(image.data());
    }
    // Flags the application may set: CF PF AF ZF SF TF DF OF AC (and bit 1); IF stays on.
    constexpr uint64_t kUserFlags = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x40000;
    Regs r { c.r8, c.r9, c.r10, c.r11, c.r12, c.r13, c.r14, c.r15, c.rdi, c.rsi, c.rbp, c.rbx, c.rdx, c.rax,
             c.rcx, c.rsp, c.rip, (c.eflags & kUserFlags) | 0x202 };
    if (r.rip >= kAppLimit || r.rsp >= kAppLimit)
        die(kSigSegv, regs, t, "rt_sigreturn: a kernel address in the frame", r.rip, false);
    t.blocked = uc.value().sigmask & ~kUnblockable;
    t.restart.fn = nullptr; // as on Linux: a restart block does not survive a sigreturn
    apply(r, f);
    install_xstate(f, image.data());
    t.exact_return = true; // rcx and r11 too: deliver_signals returns through IRETQ
    t.exact_rcx = c.rcx;
    t.exact_r11 = c.r11;
    note_signal_work(t.thread); // the exact return, and the restored mask
    return int64_t(r.rax); // the dispatcher stores it in rax
}

int64_t sys_kill(const Args& a)
{
    int32_t pid = a.i(0);
    if (pid != kPid && pid != 0 && pid != -1)
        return err(Errno::SRCH);
    return do_kill_process(a.i(1));
}

int64_t sys_tgkill(const Args& a)
{
    if (a.i(0) != kPid)
        return err(a.i(0) <= 0 ? Errno::INVAL : Errno::SRCH);
    return do_tkill(a.i(1), a.i(2));
}

int64_t sys_tkill(const Args& a) { return do_tkill(a.i(0), a.i(1)); }

} // namespace lx
