// In-kernel tests of the local APIC and interrupt dispatch.
#include <arch/x86_64/apic.h>
#include <arch/x86_64/cpu.h>
#include <core/clock.h>
#include <core/cpu.h>
#include <core/ioapic.h>
#include <core/irq.h>
#include <core/irq_thread.h>
#include <core/thread.h>
#include <core/timer.h>
#include <core/console.h>
#include <atomic>
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

namespace {

// The CMOS RTC's periodic interrupt (ISA IRQ 8) as a device: reading status register C
// acknowledges it; without that it never fires again [mc146818 data sheet].
uint8_t cmos_read(uint8_t reg)
{
    arch::outb(0x70, reg);
    return arch::inb(0x71);
}

void cmos_write(uint8_t reg, uint8_t value)
{
    arch::outb(0x70, reg);
    arch::outb(0x71, value);
}

constexpr uint8_t kRtcA = 0x0a, kRtcB = 0x0b, kRtcC = 0x0c;
constexpr uint8_t kRtcBPeriodic = 0x40;  // PIE
constexpr uint8_t kRtcCPeriodic = 0x40;  // PF
constexpr uint8_t kRtcRate64Hz = 10;     // 32768 Hz >> (10 - 1)

KTEST(irq, device_interrupts_run_in_their_thread)
{
    // Only this test touches the CMOS ports while it runs (the clock reads the RTC at boot).
    struct Device {
        unsigned cpu;
        std::atomic<uint64_t> ticks{0};
        std::atomic<uint32_t> wrong_context{0};
    };
    static Device dev;
    dev.cpu = core::cpu_count() - 1;
    dev.ticks = 0;
    dev.wrong_context = 0;
    core::InterruptThread::Ops ops;
    ops.acknowledge = [](void*) { return (cmos_read(kRtcC) & kRtcCPeriodic) != 0; };
    ops.work = [](void* p) {
        auto* d = static_cast<Device*>(p);
        // Thread context on the interrupt's CPU, free to block.
        if (core::this_cpu().id != d->cpu || !core::can_block() || !(arch::read_rflags() & (1u << 9)))
            d->wrong_context.fetch_add(1);
        d->ticks.fetch_add(1);
        core::sleep_ns(100'000);
    };
    auto irq = core::InterruptThread::create_for_gsi("rtc", core::isa_irq_route(8), ops, &dev, dev.cpu);
    KT_ASSERT(!irq.is_error());
    core::InterruptThread* t = irq.value();
    KT_EXPECT(t->vector() >= 0x30 && t->vector() <= 0xef);
    uint8_t a = cmos_read(kRtcA), b = cmos_read(kRtcB);
    cmos_read(kRtcC);
    cmos_write(kRtcA, uint8_t((a & 0xf0) | kRtcRate64Hz));
    cmos_write(kRtcB, uint8_t(b | kRtcBPeriodic));
    core::sleep_ns(300'000'000);
    cmos_write(kRtcB, uint8_t(b & ~kRtcBPeriodic));
    cmos_write(kRtcA, a);
    cmos_read(kRtcC);
    core::sleep_ns(20'000'000); // the last work call finishes
    uint64_t interrupts = t->interrupts(), calls = t->work_calls();
    core::kprintf("    rtc at 64 Hz for 300 ms: %lu interrupts, %lu work calls on cpu %u\n", interrupts, calls, dev.cpu);
    // About 19; a loaded host may lose ticks (QEMU drops late periodic ticks) or stretch time.
    KT_EXPECT(interrupts >= 5 && interrupts <= 40);
    KT_EXPECT(calls >= 1 && calls <= interrupts);
    KT_EXPECT_EQ(dev.ticks.load(), calls);
    KT_EXPECT_EQ(dev.wrong_context.load(), 0);
    uint8_t vector = t->vector();
    t->destroy();
    // The vector is free again.
    KT_EXPECT(!core::set_irq_handler(vector, [](void*) {}, nullptr).is_error());
    core::clear_irq_handler(vector);
}

KTEST(irq, isa_routes_follow_the_overrides)
{
    // ISA IRQ 0 (the PIT) arrives on GSI 2 on every QEMU machine with an I/O APIC override;
    // IRQ 8 keeps its number; an unknown GSI has no chip.
    core::GsiRoute timer = core::isa_irq_route(0);
    core::GsiRoute rtc = core::isa_irq_route(8);
    KT_EXPECT_EQ(rtc.gsi, 8);
    KT_EXPECT(timer.gsi == 0 || timer.gsi == 2);
    core::GsiRoute nowhere;
    nowhere.gsi = 100000;
    KT_EXPECT(core::ioapic_route(nowhere, 0x40, 0).error() == Errno::NOENT);
    KT_EXPECT(core::ioapic_route(rtc, 0x10, 0).error() == Errno::INVAL);
    KT_EXPECT(core::ioapic_route(rtc, 0x40, core::cpu_count()).error() == Errno::INVAL);
}

} // namespace
