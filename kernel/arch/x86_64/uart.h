// 16550 UART on an I/O port: the kernel console (COM1) and the runner's status channel (COM2).
#pragma once

#include <cstddef>
#include <cstdint>

namespace arch {

class Uart16550 {
public:
    static constexpr uint16_t kCom1 = 0x3f8;
    static constexpr uint16_t kCom2 = 0x2f8;

    explicit constexpr Uart16550(uint16_t base) : m_base(base) {}

    // 8N1, FIFOs on, interrupts off. Harmless when no UART is present.
    void init();
    // Writes bytes, waiting (boundedly) for the transmitter; bytes are dropped rather than
    // blocking forever if the device never becomes ready.
    void write(const char* data, size_t size);
    // A received byte, if one is waiting (never blocks). One caller at a time.
    bool try_read(char& c);

    // The received-data interrupt [ns16550a: IER bit 0, gated to the IRQ line by MCR OUT2]:
    // on, the UART raises its interrupt line while a byte waits (FIFO trigger level 1); off,
    // the line drops. Any context (two port writes, no lock).
    void set_receive_interrupt(bool on);
    // Whether the UART has an interrupt pending (IIR bit 0 clear). Any context.
    bool interrupt_pending();

private:
    void put(char c);
    uint16_t m_base;
    int16_t m_early = -1; // a byte received before init(), not yet read

};

} // namespace arch
