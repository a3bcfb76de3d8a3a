// In-kernel tests of the local APIC and interrupt dispatch.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <core/irq.h>
#include <core/ktest.h>

namespace {

KTEST(irq, apic_timer_interrupt_arrives)
{
    if (core::apic_info().mode == arch::ApicMode::None)
        return;
    static volatile int fired;
    fired = 0;
    KT_ASSERT(!core::set_irq_handler(arch::kVectorTimer, [](void*) { fired = fired + 1; }, nullptr).is_error());
    uint64_t before = core::irq_count(arch::kVectorTimer);
    arch::apic_timer_oneshot(100000);
    // Wait with interrupts enabled; hlt returns on any interrupt. Bounded.
    for (int i = 0; i < 100000 && !fired; ++i)
        asm volatile("sti; hlt; cli" ::: "memory");
    arch::apic_timer_oneshot(0);
    core::clear_irq_handler(arch::kVectorTimer);
    KT_EXPECT_EQ(fired, 1);
    KT_EXPECT_EQ(core::irq_count(arch::kVectorTimer), before + 1);
}

KTEST(irq, vector_registration_rules)
{
    auto h = [](void*) {};
    KT_EXPECT(core::set_irq_handler(14, h, nullptr).error() == Errno::INVAL);   // an exception
    KT_EXPECT(core::set_irq_handler(arch::kVectorSpurious, h, nullptr).error() == Errno::INVAL);
    KT_EXPECT(!core::set_irq_handler(0x40, h, nullptr).is_error());
    KT_EXPECT(core::set_irq_handler(0x40, h, nullptr).error() == Errno::EXIST);
    core::clear_irq_handler(0x40);
    KT_EXPECT(!core::set_irq_handler(0x40, h, nullptr).is_error());
    core::clear_irq_handler(0x40);
}

} // namespace
