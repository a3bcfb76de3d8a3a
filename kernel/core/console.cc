// Console output over COM1 and the leveled kernel log.
//
// A call's output is assembled in a line buffer and written to the UART under the console
// mutex (ksync::Mutex: a sleeping lock, no spinning), so lines from different CPUs do not
// interleave. Where the caller cannot block — before threads exist, with preemption or
// interrupts disabled (interrupt handlers, the panic path) — it writes without the lock
// rather than wait: a rare torn line beats a deadlock or a lost panic message.
#include <arch/x86_64/uart.h>
#include <core/console.h>
#include <arch/x86_64/cpu.h>
#include <core/thread.h>
#include <lib/format.h>
#include <sync/mutex.h>

namespace core {
namespace {

arch::Uart16550 g_console(arch::Uart16550::kCom1);
LogLevel g_log_level = LogLevel::Info;
constinit ksync::Mutex g_console_lock;

bool may_lock()
{
    return threads_started() && can_block() && (arch::read_rflags() & (1u << 9));
}

void write_locked(const char* data, size_t size) TA_NO_ANALYSIS
{
    if (!may_lock()) {
        g_console.write(data, size);
        return;
    }
    ksync::MutexGuard guard(g_console_lock);
    g_console.write(data, size);
}

// Formats into a bounded line buffer, flushing to the UART when it fills.
class ConsoleSink final : public lib::FormatSink {
public:
    void put(const char* data, size_t size) override
    {
        while (size > 0) {
            size_t n = size < sizeof(m_buffer) - m_used ? size : sizeof(m_buffer) - m_used;
            __builtin_memcpy(m_buffer + m_used, data, n);
            m_used += n;
            data += n;
            size -= n;
            if (m_used == sizeof(m_buffer))
                flush();
        }
    }
    void flush()
    {
        write_locked(m_buffer, m_used);
        m_used = 0;
    }

private:
    char m_buffer[512];
    size_t m_used = 0;
};

} // namespace

void console_init() { g_console.init(); }

void console_write(const char* data, size_t size) { g_console.write(data, size); }

bool console_try_read(char& c) { return g_console.try_read(c); }
void console_set_receive_interrupt(bool on) { g_console.set_receive_interrupt(on); }
bool console_interrupt_pending() { return g_console.interrupt_pending(); }

void vkprintf(const char* fmt, va_list args)
{
    ConsoleSink sink;
    lib::vformat(sink, fmt, args);
    sink.flush();
}

void kprintf(const char* fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vkprintf(fmt, args);
    va_end(args);
}

void set_log_level(LogLevel level) { g_log_level = level; }

bool log_enabled(LogLevel level) { return int(level) <= int(g_log_level); }

void log(LogLevel level, const char* fmt, ...)
{
    if (!log_enabled(level))
        return;
    ConsoleSink sink;
    if (level == LogLevel::Error)
        sink.put("error: ", 7);
    else if (level == LogLevel::Warn)
        sink.put("warning: ", 9);
    va_list args;
    va_start(args, fmt);
    lib::vformat(sink, fmt, args);
    va_end(args);
    sink.put("\n", 1);
    sink.flush();
}

} // namespace core
