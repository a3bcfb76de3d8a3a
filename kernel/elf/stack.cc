// The initial process stack builder and its auxv reader (see stack.h for the layout).
#include <elf/stack.h>

namespace elf {

namespace {

constexpr uint64_t kWord = 8;

bool has_nul(lib::StringView s) { return s.find('\0') != lib::StringView::npos; }

// Guest-address access to the image, for addresses the caller has bounds-checked.
class Writer {
public:
    explicit Writer(StackImage& image) : m_image(image), m_bottom(image.top - image.size) {}

    void put_word(uint64_t addr, uint64_t value) { lib::mem_copy(at(addr), &value, sizeof(value)); }
    void put_bytes(uint64_t addr, const void* data, size_t size)
    {
        if (size > 0)
            lib::mem_copy(at(addr), data, size);
    }
    void zero(uint64_t addr, uint64_t size) { lib::mem_set(at(addr), 0, size); }

private:
    uint8_t* at(uint64_t addr) { return m_image.buffer + (addr - m_bottom); }

    StackImage& m_image;
    uint64_t m_bottom;
};

} // namespace

Result<uint64_t> build_initial_stack(StackImage& image, const StackSpec& spec)
{
    if (image.top % 16 != 0 || image.top < image.size || (image.size > 0 && image.buffer == nullptr))
        return Errno::INVAL;
    const uint64_t size = image.size;
    const uint64_t bottom = image.top - size;
    // Each table's count is bounded by the buffer before anything is read or multiplied, so
    // no quantity below overflows: each stays below a few times `size`.
    if (spec.argc > size / kWord || spec.envc > size / kWord || spec.auxc > size / (2 * kWord))
        return Errno::TOO_BIG;

    // Validate before sizing, so a NUL is INVAL even in a string too large to fit.
    for (size_t i = 0; i < spec.argc; i++) {
        if (has_nul(spec.argv[i]))
            return Errno::INVAL;
    }
    for (size_t i = 0; i < spec.envc; i++) {
        if (has_nul(spec.envp[i]))
            return Errno::INVAL;
    }
    if (has_nul(spec.execfn) || has_nul(spec.platform))
        return Errno::INVAL;
    bool with_platform = !spec.platform.is_empty();
    bool seen_random = false, seen_execfn = false, seen_platform = false;
    size_t aux_count = 0; // without AT_NULL
    for (size_t i = 0; i < spec.auxc; i++) {
        uint64_t type = spec.auxv[i].type;
        if (type == kAtNull)
            return Errno::INVAL;
        seen_random |= type == kAtRandom;
        seen_execfn |= type == kAtExecFn;
        seen_platform |= type == kAtPlatform;
        if (type != kAtPlatform || with_platform)
            aux_count++;
    }
    aux_count += !seen_random + !seen_execfn + (with_platform && !seen_platform);

    uint64_t strings = 0; // argv, envp and execfn with their NULs
    auto add = [&](lib::StringView s) {
        if (strings <= size)
            strings += s.size() < size ? s.size() + 1 : size + 1;
    };
    for (size_t i = 0; i < spec.argc; i++)
        add(spec.argv[i]);
    for (size_t i = 0; i < spec.envc; i++)
        add(spec.envp[i]);
    add(spec.execfn);
    if (strings > size || kWord > size - strings)
        return Errno::TOO_BIG;
    const uint64_t strings_start = image.top - kWord - strings;

    // The bottom of the buffer need not be aligned, so every step down is checked against it.
    const uint64_t strings_aligned = strings_start & ~uint64_t(15);
    if (strings_aligned < bottom)
        return Errno::TOO_BIG;
    uint64_t room = strings_aligned - bottom;
    uint64_t platform_size = with_platform ? spec.platform.size() + 1 : 0;
    if (platform_size > room || sizeof(spec.random) > room - platform_size)
        return Errno::TOO_BIG;
    const uint64_t platform_addr = strings_aligned - platform_size;
    const uint64_t random_addr = platform_addr - sizeof(spec.random);

    uint64_t words = 1 + (spec.argc + 1) + (spec.envc + 1) + 2 * (aux_count + 1);
    if (words > (random_addr - bottom) / kWord)
        return Errno::TOO_BIG;
    const uint64_t sp = (random_addr - words * kWord) & ~uint64_t(15);
    if (sp < bottom)
        return Errno::TOO_BIG;

    Writer out(image);
    out.zero(sp, image.top - sp);

    // Strings, in address order: argv, envp, execfn; the pointer tables alongside.
    uint64_t cursor = strings_start;
    uint64_t argv_table = sp + kWord;
    uint64_t envp_table = argv_table + (spec.argc + 1) * kWord;
    for (size_t i = 0; i < spec.argc; i++) {
        out.put_word(argv_table + i * kWord, cursor);
        out.put_bytes(cursor, spec.argv[i].data(), spec.argv[i].size());
        cursor += spec.argv[i].size() + 1;
    }
    for (size_t i = 0; i < spec.envc; i++) {
        out.put_word(envp_table + i * kWord, cursor);
        out.put_bytes(cursor, spec.envp[i].data(), spec.envp[i].size());
        cursor += spec.envp[i].size() + 1;
    }
    const uint64_t execfn_addr = cursor;
    out.put_bytes(execfn_addr, spec.execfn.data(), spec.execfn.size());
    if (with_platform)
        out.put_bytes(platform_addr, spec.platform.data(), spec.platform.size());
    out.put_bytes(random_addr, spec.random, sizeof(spec.random));
    out.put_word(sp, spec.argc);

    uint64_t aux = envp_table + (spec.envc + 1) * kWord;
    auto put_aux = [&](uint64_t type, uint64_t value) {
        out.put_word(aux, type);
        out.put_word(aux + kWord, value);
        aux += 2 * kWord;
    };
    for (size_t i = 0; i < spec.auxc; i++) {
        uint64_t type = spec.auxv[i].type;
        if (type == kAtRandom)
            put_aux(type, random_addr);
        else if (type == kAtExecFn)
            put_aux(type, execfn_addr);
        else if (type == kAtPlatform) {
            if (with_platform)
                put_aux(type, platform_addr);
        } else
            put_aux(type, spec.auxv[i].value);
    }
    if (!seen_random)
        put_aux(kAtRandom, random_addr);
    if (!seen_execfn)
        put_aux(kAtExecFn, execfn_addr);
    if (with_platform && !seen_platform)
        put_aux(kAtPlatform, platform_addr);
    // (AT_NULL, 0) is already there: the area was zeroed.
    return sp;
}

Result<size_t> read_auxv(const StackImage& image, uint64_t sp, AuxEntry* out, size_t capacity)
{
    if (image.top < image.size || (image.size > 0 && image.buffer == nullptr))
        return Errno::INVAL;
    const uint64_t bottom = image.top - image.size;
    // Reads the word at addr if all of it lies inside the image.
    auto read = [&](uint64_t addr, uint64_t& value) {
        if (image.size < kWord || addr < bottom || addr > image.top - kWord)
            return false;
        lib::mem_copy(&value, image.buffer + (addr - bottom), sizeof(value));
        return true;
    };
    uint64_t argc = 0;
    if (!read(sp, argc))
        return Errno::FAULT;
    if (argc > image.size / kWord)
        return Errno::FAULT;
    uint64_t addr = sp + kWord + argc * kWord;
    uint64_t word = 0;
    if (!read(addr, word))
        return Errno::FAULT;
    if (word != 0)
        return Errno::INVAL;
    do {
        addr += kWord;
        if (!read(addr, word))
            return Errno::FAULT;
    } while (word != 0); // envp up to its NULL
    addr += kWord;
    for (size_t n = 0;; n++) {
        AuxEntry entry;
        if (!read(addr, entry.type) || !read(addr + kWord, entry.value))
            return Errno::FAULT;
        if (n == capacity)
            return Errno::RANGE;
        out[n] = entry;
        if (entry.type == kAtNull)
            return n + 1;
        addr += 2 * kWord;
    }
}

} // namespace elf
