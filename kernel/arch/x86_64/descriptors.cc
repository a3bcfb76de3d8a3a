// GDT, TSS and IDT: every exception and interrupt gets an IST stack of its own class, so no
// vector ever pushes onto the interrupted (ring-0, red-zone-using) stack.
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/descriptors.h>
#include <arch/x86_64/syscall_entry.h>
#include <arch/x86_64/layout.h>
#include <arch/x86_64/trap_frame.h>
#include <new>

extern "C" char g_stacks[];
extern "C" char g_trap_stubs[];

namespace arch {
namespace {

// 64-bit TSS [intel-sdm-3a §8.7].
struct [[gnu::packed]] Tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
static_assert(sizeof(Tss) == 104);

// 64-bit interrupt gate [intel-sdm-3a §6.14.1].
struct [[gnu::packed]] IdtGate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(IdtGate) == 16);

struct [[gnu::packed]] DescriptorPointer {
    uint16_t limit;
    uint64_t base;
};

// One CPU's GDT (with its TSS descriptor) and TSS. The boot CPU's is static; other CPUs'
// come from load_cpu_descriptors' caller.
struct CpuDescriptors {
    alignas(16) uint64_t gdt[5];
    alignas(16) Tss tss;
};

CpuDescriptors g_boot_descriptors;
alignas(16) IdtGate g_idt[256];

constexpr uint8_t kGateInterrupt = 0x8E; // present, DPL 0, 64-bit interrupt gate

uint8_t ist_for_vector(unsigned vector)
{
    switch (vector) {
    case kDoubleFault:
        return kIstDoubleFault;
    case kNmi:
        return kIstNmi;
    case kMachineCheck:
        return kIstMachineCheck;
    default:
        return vector < kFirstIrqVector ? kIstException : kIstInterrupt;
    }
}

} // namespace

uint64_t stack_bottom(int slot) { return uint64_t(g_stacks) + uint64_t(slot) * kStackSlot + 0x1000; }
uint64_t stack_top(int slot) { return uint64_t(g_stacks) + uint64_t(slot + 1) * kStackSlot; }
uint64_t stack_guard_page(int slot) { return uint64_t(g_stacks) + uint64_t(slot) * kStackSlot; }

size_t cpu_descriptors_size() { return sizeof(CpuDescriptors); }

void load_cpu_descriptors(void* storage, const uint64_t ist_tops[5])
{
    auto* d = new (storage) CpuDescriptors{};
    for (int ist = 1; ist <= 5; ++ist)
        d->tss.ist[ist - 1] = ist_tops[ist - 1];
    d->tss.iomap_base = sizeof(Tss);

    // Flat 64-bit code and data, then the 16-byte TSS descriptor [intel-sdm-3a §8.2.3].
    uint64_t tss = uint64_t(&d->tss);
    uint64_t limit = sizeof(Tss) - 1;
    d->gdt[0] = 0;
    d->gdt[1] = 0x00af9a000000ffff;
    d->gdt[2] = 0x00cf92000000ffff;
    d->gdt[3] = (limit & 0xffff) | ((tss & 0xffffff) << 16) | (uint64_t(0x89) << 40) |
                (((limit >> 16) & 0xf) << 48) | (((tss >> 24) & 0xff) << 56);
    d->gdt[4] = tss >> 32;
    DescriptorPointer gdtr { sizeof(d->gdt) - 1, uint64_t(d->gdt) };
    asm volatile("lgdt %0" ::"m"(gdtr));
    asm volatile("ltr %w0" ::"r"(uint16_t(NIMBUS_SEL_TSS)));
    DescriptorPointer idtr { sizeof(g_idt) - 1, uint64_t(g_idt) };
    asm volatile("lidt %0" ::"m"(idtr));
    init_syscall(); // every CPU passes here once
}

void init_descriptors()
{
    for (unsigned v = 0; v < 256; ++v)
        set_gate(v, true);
    uint64_t ist_tops[5];
    for (int ist = 1; ist <= 5; ++ist)
        ist_tops[ist - 1] = stack_top(ist); // slot n serves IST n; slot 0 is the boot stack
    load_cpu_descriptors(&g_boot_descriptors, ist_tops);
}

void set_gate(unsigned vector, bool present)
{
    uint64_t handler = uint64_t(g_trap_stubs) + vector * kTrapStubSize;
    IdtGate& g = g_idt[vector];
    g.offset_low = uint16_t(handler);
    g.selector = NIMBUS_SEL_KCODE;
    g.ist = ist_for_vector(vector);
    g.type_attr = present ? kGateInterrupt : uint8_t(kGateInterrupt & 0x7f);
    g.offset_mid = uint16_t(handler >> 16);
    g.offset_high = uint32_t(handler >> 32);
    g.reserved = 0;
}

} // namespace arch
