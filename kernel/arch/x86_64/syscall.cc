// `syscall` MSR set-up [intel-sdm-3a §5.8.8]: EFER.SCE enables the instruction; STAR[47:32]
// is the selector it loads into CS (SS gets that + 8: our GDT has kernel data right after
// kernel code); LSTAR is the entry; FMASK the RFLAGS bits it clears.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/syscall_entry.h>

namespace arch {
namespace {

constexpr uint32_t kMsrStar = 0xC0000081;
constexpr uint32_t kMsrLstar = 0xC0000082;
constexpr uint32_t kMsrFmask = 0xC0000084;
constexpr uint64_t kEferSce = 1u << 0;
// TF (8), IF (9), DF (10), NT (14), AC (18).
constexpr uint64_t kSyscallClearedFlags = (1u << 8) | (1u << 9) | (1u << 10) | (1u << 14) | (1u << 18);
static_assert(NIMBUS_SEL_KDATA == NIMBUS_SEL_KCODE + 8);

} // namespace

void init_syscall()
{
    wrmsr(kMsrEfer, rdmsr(kMsrEfer) | kEferSce);
    wrmsr(kMsrStar, uint64_t(NIMBUS_SEL_KCODE) << 32);
    wrmsr(kMsrLstar, reinterpret_cast<uint64_t>(&arch_syscall_entry));
    wrmsr(kMsrFmask, kSyscallClearedFlags);
}

} // namespace arch
