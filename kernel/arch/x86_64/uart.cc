// 16550 UART driver: polled output; input polled or by the received-data interrupt.
// [ns16550a datasheet: registers THR/IER/IIR/FCR/LCR/MCR/LSR]
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/uart.h>

namespace arch {
namespace {
constexpr uint16_t kThr = 0, kIer = 1, kIir = 2, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5;
constexpr uint16_t kDll = 0, kDlm = 1;
constexpr uint8_t kLsrThrEmpty = 0x20, kLsrDataReady = 0x01;
constexpr int kMaxPolls = 100000;
} // namespace

void Uart16550::init()
{
    // Turning the FIFOs on empties the receiver, and the host may have sent a byte already
    // (without FIFOs the UART holds one): keep it for try_read. A byte arriving in the few
    // instructions between this read and the FCR write is still lost (the runner's stdin
    // relay pads its start for this: docs/runner.md, "Standard input").
    if (inb(m_base + kLsr) & kLsrDataReady)
        m_early = int16_t(inb(m_base + kThr));
    outb(m_base + kIer, 0x00);
    outb(m_base + kLcr, 0x80); // DLAB: divisor 1 = 115200 baud
    outb(m_base + kDll, 0x01);
    outb(m_base + kDlm, 0x00);
    outb(m_base + kLcr, 0x03); // 8N1
    outb(m_base + kFcr, 0xC7);
    outb(m_base + kMcr, 0x03);
}

void Uart16550::put(char c)
{
    // Polling the line-status register is waiting on a device, not on a lock; it is bounded
    // so that a missing or wedged UART cannot hang the kernel.
    for (int i = 0; i < kMaxPolls; ++i) {
        if (inb(m_base + kLsr) & kLsrThrEmpty)
            break;
    }
    outb(m_base + kThr, uint8_t(c));
}

void Uart16550::write(const char* data, size_t size)
{
    for (size_t i = 0; i < size; ++i)
        put(data[i]);
}

bool Uart16550::try_read(char& c)
{
    if (m_early >= 0) {
        c = char(m_early);
        m_early = -1;
        return true;
    }
    if (!(inb(m_base + kLsr) & kLsrDataReady))
        return false;
    c = char(inb(m_base + kThr)); // the receive buffer shares the transmit register's port
    return true;
}

void Uart16550::set_receive_interrupt(bool on)
{
    constexpr uint8_t kIerReceivedData = 0x01;
    constexpr uint8_t kMcrDtrRtsOut2 = 0x0b;
    if (on) {
        outb(m_base + kFcr, 0x01);           // FIFOs on, receive trigger level 1 byte
        outb(m_base + kMcr, kMcrDtrRtsOut2); // OUT2 connects the UART to its IRQ line
    }
    outb(m_base + kIer, on ? kIerReceivedData : 0x00);
}

bool Uart16550::interrupt_pending() { return !(inb(m_base + kIir) & 0x01); }

} // namespace arch
