// Thin wrappers over x86-64 instructions and registers: the only place (with the .S files
// beside it) where the kernel uses inline assembly.
#pragma once

#include <cstdint>

namespace arch {

inline void outb(uint16_t port, uint8_t value) { asm volatile("outb %0, %1" ::"a"(value), "Nd"(port)); }
inline void outw(uint16_t port, uint16_t value) { asm volatile("outw %0, %1" ::"a"(value), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t value) { asm volatile("outl %0, %1" ::"a"(value), "Nd"(port)); }
inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    asm volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

// RDSEED and RDRAND: true (and `value`) when the CPU had a valid word, CF set
// [intel-sdm-2 "RDSEED", "RDRAND"]. Callers check CPUID first.
inline bool rdseed(uint64_t& value)
{
    unsigned char ok;
    asm volatile("rdseed %0; setc %1" : "=r"(value), "=qm"(ok));
    return ok;
}
inline bool rdrand(uint64_t& value)
{
    unsigned char ok;
    asm volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
    return ok;
}

// Orders rdtsc with the loads around it [intel-sdm-2a RDTSC]. An instruction, not the
// __builtin_ia32_lfence() intrinsic: the kernel is built without SSE2, which the intrinsic
// requires.
inline void lfence() { asm volatile("lfence" ::: "memory"); }

inline uint64_t rdtsc()
{
    uint32_t lo, hi;
    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t(hi) << 32) | lo;
}

inline uint64_t rdmsr(uint32_t msr)
{
    uint32_t lo, hi;
    asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
    return (uint64_t(hi) << 32) | lo;
}
inline void wrmsr(uint32_t msr, uint64_t value)
{
    asm volatile("wrmsr" ::"c"(msr), "a"(uint32_t(value)), "d"(uint32_t(value >> 32)));
}

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};
inline CpuidResult cpuid(uint32_t leaf, uint32_t subleaf = 0)
{
    CpuidResult r;
    asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}

inline uint64_t read_cr0()
{
    uint64_t v;
    asm volatile("mov %%cr0, %0" : "=r"(v));
    return v;
}
inline void write_cr0(uint64_t v) { asm volatile("mov %0, %%cr0" ::"r"(v) : "memory"); }
inline uint64_t read_cr2()
{
    uint64_t v;
    asm volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr3()
{
    uint64_t v;
    asm volatile("mov %%cr3, %0" : "=r"(v));
    return v;
}
inline void write_cr3(uint64_t v) { asm volatile("mov %0, %%cr3" ::"r"(v) : "memory"); }
inline uint64_t read_cr4()
{
    uint64_t v;
    asm volatile("mov %%cr4, %0" : "=r"(v));
    return v;
}
inline void write_cr4(uint64_t v) { asm volatile("mov %0, %%cr4" ::"r"(v) : "memory"); }

inline void xsetbv(uint32_t index, uint64_t value)
{
    asm volatile("xsetbv" ::"c"(index), "a"(uint32_t(value)), "d"(uint32_t(value >> 32)));
}

inline void invlpg(uint64_t va) { asm volatile("invlpg (%0)" ::"r"(va) : "memory"); }
// Flushes non-global TLB entries (a CR3 reload keeps global ones).
inline void flush_tlb() { write_cr3(read_cr3()); }

inline void irq_disable() { asm volatile("cli" ::: "memory"); }
inline void irq_enable() { asm volatile("sti" ::: "memory"); }
inline void halt() { asm volatile("hlt" ::: "memory"); }
[[noreturn]] inline void halt_forever()
{
    for (;;)
        asm volatile("cli; hlt" ::: "memory");
}

inline uint64_t read_rflags()
{
    uint64_t v;
    asm volatile("pushfq; popq %0" : "=r"(v));
    return v;
}

// RFLAGS.IF [intel-sdm-1 §3.4.3].
inline constexpr uint64_t kRflagsIf = 1u << 9;

// Model-specific registers used by the kernel [intel-sdm-4 §2.1].
inline constexpr uint32_t kMsrEfer = 0xC0000080;
inline constexpr uint32_t kMsrFsBase = 0xC0000100;
inline constexpr uint32_t kMsrGsBase = 0xC0000101;
inline constexpr uint64_t kEferNxe = 1u << 11;

// Control-register bits [intel-sdm-3a §2.5].
inline constexpr uint64_t kCr0Mp = 1u << 1;
inline constexpr uint64_t kCr0Em = 1u << 2;
inline constexpr uint64_t kCr0Ts = 1u << 3;
inline constexpr uint64_t kCr0Ne = 1u << 5;
inline constexpr uint64_t kCr0Wp = 1u << 16;
inline constexpr uint64_t kCr4Pge = 1u << 7;
inline constexpr uint64_t kCr4Osfxsr = 1u << 9;
inline constexpr uint64_t kCr4Osxmmexcpt = 1u << 10;
inline constexpr uint64_t kCr4Fsgsbase = 1u << 16;
inline constexpr uint64_t kCr4Osxsave = 1u << 18;

// The FS base (thread-local storage of the running thread). WRFSBASE where CR4.FSGSBASE is
// on (arch::init_fpu sets it when CPUID offers it; g_fsgsbase says so), else the MSR.
extern bool g_fsgsbase;
inline void write_fs_base(uint64_t base)
{
    if (g_fsgsbase)
        asm volatile("wrfsbase %0" ::"r"(base) : "memory");
    else
        wrmsr(kMsrFsBase, base);
}
inline uint64_t read_fs_base()
{
    if (!g_fsgsbase)
        return rdmsr(kMsrFsBase);
    uint64_t base;
    asm volatile("rdfsbase %0" : "=r"(base));
    return base;
}

// Flushes the whole TLB, global entries included: toggling CR4.PGE does that
// [intel-sdm-3a §4.10.4.1].
inline void flush_tlb_global()
{
    uint64_t cr4 = read_cr4();
    if (cr4 & kCr4Pge) {
        write_cr4(cr4 & ~kCr4Pge);
        write_cr4(cr4);
    } else {
        flush_tlb();
    }
}

} // namespace arch
