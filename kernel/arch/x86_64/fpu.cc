// FPU/SSE/AVX enablement: XSAVE with every user-visible state component the CPU offers, so
// that an interrupt can save and restore whatever the interrupted code was using.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/fpu.h>

// Read by traps.S.
extern "C" {
uint64_t g_xsave_area_size = 512 + 64;
uint64_t g_xsave_mask = 0;
bool g_use_xsave = false;
}

namespace arch {

bool g_fsgsbase = false;

void init_fpu()
{
    // CPUID.1:ECX bit 26 = XSAVE [intel-sdm-2a CPUID].
    CpuidResult leaf1 = cpuid(1);
    bool has_xsave = leaf1.ecx & (1u << 26);
    if (cpuid(0).eax >= 7 && (cpuid(7).ebx & 1)) {
        write_cr4(read_cr4() | kCr4Fsgsbase);
        g_fsgsbase = true;
    }
    if (!has_xsave) {
        g_xsave_area_size = 512 + 64; // FXSAVE image, padded for alignment
        return;
    }
    write_cr4(read_cr4() | kCr4Osxsave);
    // State components: x87 (0), SSE (1), AVX (2), AVX-512 opmask/ZMM (5-7) when offered
    // [intel-sdm-1 §13.1]. MPX, PT and friends are not application state we need.
    uint64_t supported = cpuid(0xD, 0).eax | (uint64_t(cpuid(0xD, 0).edx) << 32);
    uint64_t mask = supported & (0x1 | 0x2 | 0x4 | 0x20 | 0x40 | 0x80);
    if ((mask & 0xE0) != 0xE0)
        mask &= ~uint64_t(0xE0); // AVX-512 components go together
    xsetbv(0, mask);
    g_xsave_mask = mask;
    g_xsave_area_size = cpuid(0xD, 0).ebx + 64; // size for the enabled set, plus alignment slack
    g_use_xsave = true;
}

void init_fpu_secondary()
{
    // The same features and state components as the boot CPU: traps.S uses one mask.
    if (cpuid(0).eax >= 7 && (cpuid(7).ebx & 1))
        write_cr4(read_cr4() | kCr4Fsgsbase);
    if (!g_use_xsave)
        return;
    write_cr4(read_cr4() | kCr4Osxsave);
    xsetbv(0, g_xsave_mask);
}

void init_extended_state(void* area)
{
    auto* bytes = static_cast<uint8_t*>(area);
    __builtin_memset(bytes, 0, g_xsave_area_size - 64);
    // Legacy region: x87 control word 0x37f (all exceptions masked, 64-bit precision) and
    // MXCSR 0x1f80 (all SIMD exceptions masked), the values after FNINIT / at process start.
    // An all-zero XSAVE header (XSTATE_BV = 0) puts every other component in its initial
    // state on XRSTOR; MXCSR is loaded from the legacy region regardless [intel-sdm-1 §13.8].
    uint16_t fcw = 0x37f;
    uint32_t mxcsr = 0x1f80;
    __builtin_memcpy(bytes + 0, &fcw, sizeof(fcw));
    __builtin_memcpy(bytes + 24, &mxcsr, sizeof(mxcsr));
}

void save_extended_state(void* area)
{
    if (g_use_xsave)
        asm volatile("xsave64 (%0)" ::"r"(area), "a"(uint32_t(g_xsave_mask)), "d"(uint32_t(g_xsave_mask >> 32))
                     : "memory");
    else
        asm volatile("fxsave64 (%0)" ::"r"(area) : "memory");
}

void restore_extended_state(const void* area)
{
    if (g_use_xsave)
        asm volatile("xrstor64 (%0)" ::"r"(area), "a"(uint32_t(g_xsave_mask)), "d"(uint32_t(g_xsave_mask >> 32))
                     : "memory");
    else
        asm volatile("fxrstor64 (%0)" ::"r"(area) : "memory");
}

uint64_t xsave_mask() { return g_xsave_mask; }
uint64_t xsave_area_size() { return g_xsave_area_size; }

} // namespace arch
