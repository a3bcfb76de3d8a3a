// In-kernel tests of the local APIC and interrupt dispatch.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/irq.h>
#include <core/ktest.h>

namespace {

KTEST(irq, self_ipi_is_delivered)
{
    if (core::apic_info().mode == arch::ApicMode::None)
        return;
    static volatile int fired;
    fired = 0;
    constexpr uint8_t kVector = 0x41;
    KT_ASSERT(!core::set_irq_handler(kVector, [](void*) { fired = fired + 1; }, nullptr).is_error());
    uint64_t before = core::irq_count(kVector);
    arch::apic_send_ipi(core::apic_info().id, kVector);
    // Interrupts are enabled in threads: the IPI arrives within a few instructions. Bounded.
    uint64_t start = core::monotonic_ns();
    while (!fired && core::monotonic_ns() - start < 1'000'000'000)
        asm volatile("pause" ::: "memory");
    core::clear_irq_handler(kVector);
    KT_EXPECT_EQ(fired, 1);
    KT_EXPECT_EQ(core::irq_count(kVector), before + 1);
}

KTEST(irq, vector_registration_rules)
{
    auto h = [](void*) {};
    KT_EXPECT(core::set_irq_handler(14, h, nullptr).error() == Errno::INVAL);   // an exception
    KT_EXPECT(core::set_irq_handler(arch::kVectorSpurious, h, nullptr).error() == Errno::INVAL);
    KT_EXPECT(core::set_irq_handler(arch::kVectorTimer, h, nullptr).error() == Errno::EXIST); // the timer's
    KT_EXPECT(!core::set_irq_handler(0x40, h, nullptr).is_error());
    KT_EXPECT(core::set_irq_handler(0x40, h, nullptr).error() == Errno::EXIST);
    core::clear_irq_handler(0x40);
    KT_EXPECT(!core::set_irq_handler(0x40, h, nullptr).is_error());
    core::clear_irq_handler(0x40);
}

} // namespace
