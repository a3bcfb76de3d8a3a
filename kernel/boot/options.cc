// The boot option parser and documentation writer, both driven by the table generated from
// options.def.
//
// The parser works on a StringView (the text need not be NUL-terminated and may contain any
// byte) and only ever looks at indices below its size; every value it stores is either a
// checked number or a view into the text. That is what the fuzz target
// (tests/fuzz/boot_options_fuzz.cc) holds it to.
#include <boot/options.h>

namespace boot {

namespace {

const OptionDesc kKernelRows[] = {
#define BOOT_BOOL(...) BOOT_BOOL_ROW(Options, __VA_ARGS__)
#define BOOT_UINT(...) BOOT_UINT_ROW(Options, __VA_ARGS__)
#define BOOT_SIZE(...) BOOT_SIZE_ROW(Options, __VA_ARGS__)
#define BOOT_STRING(...) BOOT_STRING_ROW(Options, __VA_ARGS__)
#define BOOT_ENUM(...) BOOT_ENUM_ROW(Options, __VA_ARGS__)
#include <boot/options.def>
};

// Longest stretch of a user-supplied value quoted in an error message, so that the message
// (which has a fixed size) keeps its end, which says what was wrong.
constexpr int kMaxQuotedValue = 32;

constexpr StringView kBoolValues = "on|off|1|0|yes|no|true|false";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

StringView trim(StringView s)
{
    size_t begin = 0;
    size_t end = s.size();
    while (begin < end && is_space(s[begin]))
        begin++;
    while (end > begin && is_space(s[end - 1]))
        end--;
    return s.substr(begin, end - begin);
}

// The precision argument for printing at most kMaxQuotedValue characters of s with "%.*s",
// and the ellipsis to follow it.
int quoted_length(StringView s) { return s.size() > kMaxQuotedValue ? kMaxQuotedValue : static_cast<int>(s.size()); }
const char* ellipsis(StringView s) { return s.size() > kMaxQuotedValue ? "..." : ""; }

__attribute__((format(printf, 3, 4))) void add_error(OptionErrors& errors, StringView option, const char* fmt, ...)
{
    if (errors.count == kMaxOptionErrors) {
        errors.dropped++;
        return;
    }
    OptionError& e = errors.entries[errors.count++];
    e.option = option;
    va_list args;
    va_start(args, fmt);
    lib::vformat_to(e.message, sizeof(e.message), fmt, args);
    va_end(args);
}

// Calls fn(name, index) for each name of a comma-separated enum_names list; stops early and
// returns true when fn does.
template<typename Fn>
bool for_each_enum_name(const char* names, Fn fn)
{
    StringView rest(names);
    for (uint64_t index = 0; !rest.is_empty(); index++) {
        size_t comma = rest.find(',');
        if (fn(trim(rest.substr(0, comma)), index))
            return true;
        rest = comma == StringView::npos ? StringView() : rest.substr(comma + 1);
    }
    return false;
}

// Writes an enum's names separated by `separator`, each wrapped in `quote`.
void write_enum_names(lib::FormatSink& sink, const char* names, const char* separator, const char* quote)
{
    for_each_enum_name(names, [&](StringView name, uint64_t index) {
        lib::format(sink, "%s%s%.*s%s", index ? separator : "", quote, static_cast<int>(name.size()), name.data(), quote);
        return false;
    });
}

// Formats a size the way the command line would spell it: the largest exact suffix.
void format_size(char* buf, size_t size, uint64_t bytes)
{
    static constexpr char kSuffixes[] = "KMGT";
    int suffix = -1;
    while (suffix < 3 && bytes != 0 && bytes % 1024 == 0) {
        bytes /= 1024;
        suffix++;
    }
    if (suffix < 0)
        lib::format_to(buf, size, "%llu", static_cast<unsigned long long>(bytes));
    else
        lib::format_to(buf, size, "%llu%c", static_cast<unsigned long long>(bytes), kSuffixes[suffix]);
}

enum class NumberError { None, NotANumber, TooLarge };

// Parses decimal or 0x-hex digits at the start of s into *value; *used is set to the number of
// characters consumed. At least one digit is required.
NumberError parse_number(StringView s, uint64_t* value, size_t* used)
{
    uint64_t base = 10;
    size_t i = 0;
    if (s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    size_t first_digit = i;
    uint64_t v = 0;
    bool overflow = false;
    for (; i < s.size(); i++) {
        char c = s[i];
        uint64_t digit;
        if (c >= '0' && c <= '9')
            digit = static_cast<uint64_t>(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            digit = static_cast<uint64_t>(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            digit = static_cast<uint64_t>(c - 'A' + 10);
        else
            break;
        if (v > (UINT64_MAX - digit) / base)
            overflow = true; // keep scanning so the caller sees where the digits end
        else
            v = v * base + digit;
    }
    *used = i;
    if (i == first_digit)
        return NumberError::NotANumber;
    if (overflow)
        return NumberError::TooLarge;
    *value = v;
    return NumberError::None;
}

const char* type_name(OptionType type)
{
    switch (type) {
    case OptionType::Bool: return "bool";
    case OptionType::Uint: return "integer";
    case OptionType::Size: return "size";
    case OptionType::String: return "string";
    case OptionType::Enum: return "enum";
    }
    return "?";
}

// Formats a number of the row's type (for range messages and the documentation).
void format_number(char* buf, size_t size, OptionType type, uint64_t value)
{
    if (type == OptionType::Size)
        format_size(buf, size, value);
    else
        lib::format_to(buf, size, "%llu", static_cast<unsigned long long>(value));
}

// Parses a Uint or Size value; on success stores it through the row and returns true.
bool parse_numeric_value(const OptionDesc& row, StringView value, uint64_t* out, OptionErrors& errors, StringView key)
{
    int klen = static_cast<int>(key.size());
    uint64_t v = 0;
    size_t used = 0;
    NumberError error = parse_number(value, &v, &used);
    if (error == NumberError::None && row.type == OptionType::Size && used + 1 == value.size()) {
        // One suffix letter multiplies by a power of 1024.
        unsigned shift = 0;
        switch (value[used]) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: break;
        }
        if (shift) {
            used++;
            if (v > (UINT64_MAX >> shift))
                error = NumberError::TooLarge;
            else
                v <<= shift;
        }
    }
    if (error == NumberError::None && used != value.size())
        error = NumberError::NotANumber;

    switch (error) {
    case NumberError::NotANumber:
        if (row.type == OptionType::Size)
            add_error(errors, key, "boot option '%.*s': '%.*s%s' is not a size (a number with an optional K, M, G or T suffix)",
                      klen, key.data(), quoted_length(value), value.data(), ellipsis(value));
        else
            add_error(errors, key, "boot option '%.*s': '%.*s%s' is not a number", klen, key.data(), quoted_length(value),
                      value.data(), ellipsis(value));
        return false;
    case NumberError::TooLarge:
        add_error(errors, key, "boot option '%.*s': '%.*s%s' is too large", klen, key.data(), quoted_length(value),
                  value.data(), ellipsis(value));
        return false;
    case NumberError::None:
        break;
    }
    if (v < row.min || v > row.max) {
        char min[24];
        char max[24];
        format_number(min, sizeof(min), row.type, row.min);
        format_number(max, sizeof(max), row.type, row.max);
        add_error(errors, key, "boot option '%.*s': '%.*s%s' is out of range (%s to %s)", klen, key.data(),
                  quoted_length(value), value.data(), ellipsis(value), min, max);
        return false;
    }
    *out = v;
    return true;
}

// Applies one `key[=value]` token.
void apply(OptionTable table, void* options, StringView key, bool has_value, StringView value, OptionErrors& errors)
{
    int klen = static_cast<int>(key.size() > kMaxQuotedValue ? kMaxQuotedValue : key.size());
    const OptionDesc* row = nullptr;
    for (size_t i = 0; i < table.count; i++) {
        if (key == StringView(table.rows[i].key)) {
            row = &table.rows[i];
            break;
        }
    }
    if (!row) {
        add_error(errors, key, "unknown boot option '%.*s%s'", klen, key.data(), ellipsis(key));
        return;
    }
    if (!has_value && row->type != OptionType::Bool) {
        add_error(errors, key, "boot option '%.*s' needs a value", klen, key.data());
        return;
    }

    switch (row->type) {
    case OptionType::Bool: {
        if (!has_value) {
            row->store_number(options, 1);
            return;
        }
        // kBoolValues alternates true and false spellings: on|off|1|0|yes|no|true|false.
        StringView rest = kBoolValues;
        for (uint64_t truth = 1;; truth ^= 1) {
            size_t bar = rest.find('|');
            if (value == rest.substr(0, bar)) {
                row->store_number(options, truth);
                return;
            }
            if (bar == StringView::npos)
                break;
            rest = rest.substr(bar + 1);
        }
        add_error(errors, key, "boot option '%.*s': '%.*s%s' is not one of %.*s", klen, key.data(), quoted_length(value),
                  value.data(), ellipsis(value), static_cast<int>(kBoolValues.size()), kBoolValues.data());
        return;
    }
    case OptionType::Uint:
    case OptionType::Size: {
        uint64_t v;
        if (parse_numeric_value(*row, value, &v, errors, key))
            row->store_number(options, v);
        return;
    }
    case OptionType::String:
        row->store_string(options, value);
        return;
    case OptionType::Enum: {
        uint64_t found = 0;
        if (for_each_enum_name(row->enum_names, [&](StringView name, uint64_t index) {
                found = index;
                return name == value;
            })) {
            row->store_number(options, found);
            return;
        }
        // The message lists the names; build that part in a buffer first.
        char names[kOptionErrorSize];
        lib::BufferSink sink(names, sizeof(names));
        write_enum_names(sink, row->enum_names, "|", "");
        add_error(errors, key, "boot option '%.*s': '%.*s%s' is not one of %s", klen, key.data(), quoted_length(value),
                  value.data(), ellipsis(value), names);
        return;
    }
    }
}

} // namespace

OptionTable kernel_option_table() { return {kKernelRows, sizeof(kKernelRows) / sizeof(kKernelRows[0])}; }

StringView parse_options(StringView text, OptionTable table, void* options, OptionErrors& errors,
                         const ExtraKeys* extra)
{
    size_t n = text.size();
    size_t i = 0;
    for (;;) {
        while (i < n && is_space(text[i]))
            i++;
        if (i == n)
            return {};

        // The key runs to '=' or whitespace.
        size_t key_start = i;
        while (i < n && !is_space(text[i]) && text[i] != '=')
            i++;
        StringView key = text.substr(key_start, i - key_start);
        bool has_value = i < n && text[i] == '=';
        if (key == "--" && !has_value)
            return trim(text.substr(i));
        if (!has_value) {
            apply(table, options, key, false, {}, errors);
            continue;
        }
        i++; // '='

        StringView value;
        if (i < n && text[i] == '"') {
            // Quoted: everything up to the next '"', which must end the token.
            size_t close = text.find('"', i + 1);
            int klen = static_cast<int>(key.size() > kMaxQuotedValue ? kMaxQuotedValue : key.size());
            if (close == StringView::npos) {
                add_error(errors, key, "boot option '%.*s': missing closing quote", klen, key.data());
                return {};
            }
            value = text.substr(i + 1, close - i - 1);
            i = close + 1;
            if (i < n && !is_space(text[i])) {
                add_error(errors, key, "boot option '%.*s': text after the closing quote", klen, key.data());
                while (i < n && !is_space(text[i]))
                    i++;
                continue;
            }
        } else {
            size_t value_start = i;
            while (i < n && !is_space(text[i]))
                i++;
            value = text.substr(value_start, i - value_start);
        }
        if (extra && extra->handle(extra->context, key, value, errors))
            continue;
        apply(table, options, key, true, value, errors);
    }
}

Result<VirtioMmioDevice> parse_virtio_mmio_device(StringView value)
{
    VirtioMmioDevice device;
    size_t used = 0;
    // SIZE with an optional K/M/G suffix.
    if (parse_number(value, &device.size, &used) != NumberError::None)
        return Errno::INVAL;
    value = value.substr(used);
    if (!value.is_empty() && value[0] != '@') {
        unsigned shift = value[0] == 'K' || value[0] == 'k' ? 10 : value[0] == 'M' || value[0] == 'm' ? 20
                       : value[0] == 'G' || value[0] == 'g' ? 30 : 0;
        if (shift == 0)
            return Errno::INVAL;
        if (device.size > (UINT64_MAX >> shift))
            return Errno::RANGE;
        device.size <<= shift;
        value = value.substr(1);
    }
    if (value.is_empty() || value[0] != '@')
        return Errno::INVAL;
    value = value.substr(1);
    if (parse_number(value, &device.base, &used) != NumberError::None)
        return Errno::INVAL;
    value = value.substr(used);
    if (value.is_empty() || value[0] != ':')
        return Errno::INVAL;
    value = value.substr(1);
    uint64_t irq = 0;
    if (parse_number(value, &irq, &used) != NumberError::None)
        return Errno::INVAL;
    value = value.substr(used);
    if (!value.is_empty()) { // an optional platform-device id: digits only
        uint64_t id = 0;
        if (value[0] != ':' || parse_number(value.substr(1), &id, &used) != NumberError::None || used + 1 != value.size())
            return Errno::INVAL;
    }
    if (device.size == 0 || irq > 255 || device.base + device.size < device.base)
        return Errno::RANGE;
    device.irq = uint32_t(irq);
    return device;
}

namespace {

bool take_virtio_mmio_device(void* context, StringView key, StringView value, OptionErrors& errors)
{
    if (key != kVirtioMmioKey)
        return false;
    CommandLine& out = *static_cast<CommandLine*>(context);
    auto device = parse_virtio_mmio_device(value);
    if (device.is_error()) {
        add_error(errors, key, "boot option '%.*s': '%.*s%s' is not SIZE@BASE:IRQ (%s)", int(key.size()), key.data(),
                  quoted_length(value), value.data(), ellipsis(value),
                  device.error() == Errno::RANGE ? "out of range" : "malformed");
    } else if (out.mmio_device_count == kMaxVirtioMmioDevices) {
        add_error(errors, key, "boot option '%.*s': more than %zu devices", int(key.size()), key.data(),
                  kMaxVirtioMmioDevices);
    } else {
        out.mmio_devices[out.mmio_device_count++] = device.value();
    }
    return true;
}

} // namespace

void parse_command_line(StringView text, CommandLine& out)
{
    out.options = Options();
    out.errors.count = 0;
    out.errors.dropped = 0;
    out.mmio_device_count = 0;
    ExtraKeys extra{ take_virtio_mmio_device, &out };
    out.app_args = parse_options(text, kernel_option_table(), &out.options, out.errors, &extra);

    // Announcements appended after the application's arguments (QEMU microvm, acpi=off): take
    // them from the end, then put them in command-line order.
    size_t first_trailing = out.mmio_device_count;
    StringView args = out.app_args;
    while (!args.is_empty()) {
        size_t start = args.size();
        while (start > 0 && !is_space(args[start - 1]))
            start--;
        StringView token = args.substr(start);
        StringView prefix = kVirtioMmioKey;
        if (token.size() <= prefix.size() || token.substr(0, prefix.size()) != prefix || token[prefix.size()] != '=')
            break;
        take_virtio_mmio_device(&out, prefix, token.substr(prefix.size() + 1), out.errors);
        args = trim(args.substr(0, start));
    }
    out.app_args = args;
    for (size_t i = first_trailing, j = out.mmio_device_count; i + 1 < j; ++i, --j) {
        VirtioMmioDevice t = out.mmio_devices[i];
        out.mmio_devices[i] = out.mmio_devices[j - 1];
        out.mmio_devices[j - 1] = t;
    }
}

void write_options_markdown(lib::FormatSink& sink, OptionTable table)
{
    lib::format(sink,
                "# Boot options\n"
                "\n"
                "<!-- Generated from kernel/boot/options.def by tools/gen_boot_options_doc; do not edit. -->\n"
                "\n"
                "The kernel command line is a list of `key=value` tokens separated by whitespace.\n"
                "\n"
                "- A value may be double-quoted to contain whitespace: `key=\"a b\"` (there are no escapes).\n"
                "- A bool option given without a value is switched on: `key` means `key=on`.\n"
                "  Bools accept `on`, `off`, `1`, `0`, `yes`, `no`, `true` and `false`.\n"
                "- Integers are decimal or hexadecimal with `0x`. Sizes are integers with an optional\n"
                "  suffix `K`, `M`, `G` or `T` (powers of 1024): `64M`, `0x1000`, `2G`.\n"
                "- When an option is given more than once, the last one counts.\n"
                "- `--` ends the kernel options: the rest of the line is the application's arguments.\n"
                "- Unknown options and malformed values are reported on the console and otherwise\n"
                "  ignored: the option keeps its default.\n"
                "- `virtio_mmio.device=SIZE@BASE:IRQ[:ID]` announces a virtio-mmio device (QEMU microvm,\n"
                "  Firecracker): it may repeat, one device each, and is also taken from the end of the\n"
                "  line after the application's arguments, where QEMU's microvm appends it.\n"
                "  `nimbus run --disk`/`--rng` add it on microvm.\n"
                "\n"
                "| Option | Type | Default | Values | Description |\n"
                "|---|---|---|---|---|\n");
    for (size_t i = 0; i < table.count; i++) {
        const OptionDesc& row = table.rows[i];
        lib::format(sink, "| `%s` | %s | ", row.key, type_name(row.type));
        char min[24];
        char max[24];
        switch (row.type) {
        case OptionType::Bool:
            lib::format(sink, "`%s` | `on`, `off` | ", row.default_value ? "on" : "off");
            break;
        case OptionType::Uint:
        case OptionType::Size:
            format_number(min, sizeof(min), row.type, row.default_value);
            lib::format(sink, "`%s` | ", min);
            format_number(min, sizeof(min), row.type, row.min);
            format_number(max, sizeof(max), row.type, row.max);
            lib::format(sink, "`%s` to `%s` | ", min, max);
            break;
        case OptionType::String:
            lib::format(sink, "(empty) | any text | ");
            break;
        case OptionType::Enum:
            for_each_enum_name(row.enum_names, [&](StringView name, uint64_t index) {
                if (index != row.default_value)
                    return false;
                lib::format(sink, "`%.*s` | ", static_cast<int>(name.size()), name.data());
                return true;
            });
            write_enum_names(sink, row.enum_names, ", ", "`");
            lib::format(sink, " | ");
            break;
        }
        lib::format(sink, "%s |\n", row.doc);
    }
}

void write_options_markdown(lib::FormatSink& sink) { write_options_markdown(sink, kernel_option_table()); }

} // namespace boot
