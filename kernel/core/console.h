// The kernel console (COM1) and the kernel log on top of it.
#pragma once

#include <cstddef>
#include <cstdarg>

namespace core {

enum class LogLevel { Error = 0, Warn = 1, Info = 2, Debug = 3 };

void console_init();
void console_write(const char* data, size_t size);
// A byte of console input, if one is waiting (never blocks).
bool console_try_read(char& c);
// COM1's received-data interrupt on or off, and whether it is signalling (for the input
// driver in lx/files.cc, which routes ISA IRQ 4). Any context, interrupt handlers included.
void console_set_receive_interrupt(bool on);
bool console_interrupt_pending();

// printf-style output straight to the console, whatever the log level.
void kprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void vkprintf(const char* fmt, va_list args);

// Leveled log: messages above the configured level (boot option `log`) are dropped;
// warnings and errors get a prefix.
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

} // namespace core

#define log_error(...) ::core::log(::core::LogLevel::Error, __VA_ARGS__)
#define log_warn(...) ::core::log(::core::LogLevel::Warn, __VA_ARGS__)
#define log_info(...) ::core::log(::core::LogLevel::Info, __VA_ARGS__)
#define log_debug(...) ::core::log(::core::LogLevel::Debug, __VA_ARGS__)
