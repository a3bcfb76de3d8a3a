// Boot options: the kernel command line parsed into boot::Options, one typed field per row of
// options.def, plus the generated documentation of that table.
//
// Syntax: whitespace-separated `key=value` tokens; a value may be double-quoted to contain
// whitespace (no escapes); a bool may be given as a bare `key`; the token `--` ends the kernel
// options and the rest of the line is the application's argument string. When a key repeats,
// the last occurrence wins.
//
// The command line comes from whoever boots the kernel, so the parser accepts any bytes: an
// unknown key or a malformed value becomes an error record (the kernel prints them and carries
// on), and the option keeps its default.
#pragma once

#include <lib/format.h>
#include <lib/result.h>
#include <lib/string.h>
#include <stddef.h>
#include <stdint.h>

namespace boot {

using lib::StringView;

// One enum class per BOOT_ENUM row. The enumerators are spelled exactly as on the command line
// (hence lower case): the parser and the documentation take their names from the same list.
#define BOOT_ENUM(key, field, Type, def, doc, ...) enum class Type : uint8_t { __VA_ARGS__ };
#include <boot/options.def>

// Every boot option's value; a default-constructed Options holds the defaults.
struct Options {
#define BOOT_BOOL(key, field, def, doc) bool field = def;
#define BOOT_UINT(key, field, def, min, max, doc) uint64_t field = def;
#define BOOT_SIZE(key, field, def, min, max, doc) uint64_t field = def;
#define BOOT_STRING(key, field, doc) StringView field; // points into the command line
#define BOOT_ENUM(key, field, Type, def, doc, ...) Type field = Type::def;
#include <boot/options.def>
};

constexpr size_t kMaxOptionErrors = 8;
constexpr size_t kOptionErrorSize = 120;

// One problem found on the command line.
struct OptionError {
    StringView option;               // the key as written (points into the command line)
    char message[kOptionErrorSize]; // e.g. "unknown boot option 'foo'", NUL-terminated
};

// The first kMaxOptionErrors problems, and how many more there were.
struct OptionErrors {
    OptionError entries[kMaxOptionErrors];
    size_t count = 0;
    size_t dropped = 0;
};

// A virtio-mmio device announced on the command line as `virtio_mmio.device=SIZE@BASE:IRQ[:ID]`
// (the form QEMU's microvm and Firecracker use; SIZE takes a K/M/G suffix, BASE is usually
// 0x-hex, IRQ a GSI; ID is accepted and ignored). The key may repeat, one device each. QEMU's
// microvm appends these to the very end of the command line, after the application's
// arguments; they are taken from there too and removed from app_args.
struct VirtioMmioDevice {
    uint64_t base = 0;
    uint64_t size = 0;
    uint32_t irq = 0;
};
constexpr size_t kMaxVirtioMmioDevices = 32;
constexpr StringView kVirtioMmioKey = "virtio_mmio.device";

// The parsed command line. Views point into the parsed text, which must outlive this.
struct CommandLine {
    Options options;
    StringView app_args; // everything after "--", surrounding whitespace trimmed; empty if none
    VirtioMmioDevice mmio_devices[kMaxVirtioMmioDevices];
    size_t mmio_device_count = 0;
    OptionErrors errors;
};

// Parses `text` against the table in options.def. Never fails and never asserts: problems are
// recorded in out.errors and parsing goes on. Does not allocate; safe before memory setup.
void parse_command_line(StringView text, CommandLine& out);

// Writes docs/boot-options.md: the syntax and a table of every option (name, type, default,
// allowed values, description).
void write_options_markdown(lib::FormatSink& sink);

// --- The table-driven machinery behind the two functions above. Public so that tests can run
// the parser over their own tables (options.def has no row of some types yet). ---

enum class OptionType : uint8_t { Bool, Uint, Size, String, Enum };

// One row of an option table. The store functions receive the options struct the table was
// made for; numbers are range-checked before they are stored.
struct OptionDesc {
    const char* key;
    OptionType type;
    const char* doc;
    const char* enum_names;  // Enum: the names, comma-separated ("error, warn, ..."); else null
    uint64_t min;            // Uint, Size: the accepted range
    uint64_t max;
    uint64_t default_value;  // Bool (0/1), Uint, Size, Enum (index into enum_names)
    void (*store_number)(void* options, uint64_t value);   // all types but String
    void (*store_string)(void* options, StringView value); // String
};

struct OptionTable {
    const OptionDesc* rows;
    size_t count;
};

// The kernel's table (generated from options.def), for tools and tests.
OptionTable kernel_option_table();

// Keys outside the table that a caller handles itself (`key=value` only): handle() returns
// true when it took the token.
struct ExtraKeys {
    bool (*handle)(void* context, StringView key, StringView value, OptionErrors& errors);
    void* context;
};

// Parses `text` against `table` into *options (an object of the type the table's store
// functions expect); returns the application's argument string.
StringView parse_options(StringView text, OptionTable table, void* options, OptionErrors& errors,
                         const ExtraKeys* extra = nullptr);

// Parses one `virtio_mmio.device` value. Errors: INVAL (malformed), RANGE (size 0, an IRQ
// above 255, or a range that wraps around).
Result<VirtioMmioDevice> parse_virtio_mmio_device(StringView value);

void write_options_markdown(lib::FormatSink& sink, OptionTable table);

// Rows of an OptionDesc table for the options struct Struct, one macro per type (as in
// options.def, which documents the arguments).
#define BOOT_BOOL_ROW(Struct, key, field, def, doc)                                                \
    {key, ::boot::OptionType::Bool, doc, nullptr, 0, 1, (def) ? 1u : 0u,                           \
     [](void* o, uint64_t v) { static_cast<Struct*>(o)->field = v != 0; }, nullptr},
#define BOOT_UINT_ROW(Struct, key, field, def, min, max, doc)                                      \
    {key, ::boot::OptionType::Uint, doc, nullptr, min, max, def,                                   \
     [](void* o, uint64_t v) { static_cast<Struct*>(o)->field = v; }, nullptr},
#define BOOT_SIZE_ROW(Struct, key, field, def, min, max, doc)                                      \
    {key, ::boot::OptionType::Size, doc, nullptr, min, max, def,                                   \
     [](void* o, uint64_t v) { static_cast<Struct*>(o)->field = v; }, nullptr},
#define BOOT_STRING_ROW(Struct, key, field, doc)                                                   \
    {key, ::boot::OptionType::String, doc, nullptr, 0, 0, 0, nullptr,                              \
     [](void* o, ::lib::StringView v) { static_cast<Struct*>(o)->field = v; }},
#define BOOT_ENUM_ROW(Struct, key, field, Type, def, doc, ...)                                     \
    {key, ::boot::OptionType::Enum, doc, #__VA_ARGS__, 0, 0, static_cast<uint64_t>(Type::def),   \
     [](void* o, uint64_t v) { static_cast<Struct*>(o)->field = static_cast<Type>(v); }, nullptr},

} // namespace boot
