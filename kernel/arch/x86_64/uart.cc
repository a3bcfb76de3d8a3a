// 16550 UART driver, polled. [ns16550a datasheet: registers THR/IER/FCR/LCR/MCR/LSR]
#include <arch/x86_64/cpu.h>
#include <arch/x86_64/uart.h>

namespace arch {
namespace {
constexpr uint16_t kThr = 0, kIer = 1, kFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5;
constexpr uint16_t kDll = 0, kDlm = 1;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr int kMaxPolls = 100000;
} // namespace

void Uart16550::init()
{
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
    constexpr uint8_t kLsrDataReady = 0x01;
    if (!(inb(m_base + kLsr) & kLsrDataReady))
        return false;
    c = char(inb(m_base + kThr)); // the receive buffer shares the transmit register's port
    return true;
}

} // namespace arch
