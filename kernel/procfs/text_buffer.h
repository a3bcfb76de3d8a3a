// TextBuffer: a growable byte buffer that is a lib::FormatSink, into which procfs generates a
// file's contents. Growth can fail: the buffer then remembers it and status() says NOMEM.
//
// Not synchronised: one buffer belongs to one call.
#pragma once

#include <lib/format.h>
#include <lib/result.h>
#include <lib/string.h>

#include <stddef.h>

namespace procfs {

class TextBuffer final : public lib::FormatSink {
public:
    // The largest file generated; more is NOMEM (a runaway source must not eat the heap).
    static constexpr size_t kMaxSize = size_t(16) << 20;

    TextBuffer() = default;
    TextBuffer(const TextBuffer&) = delete;
    TextBuffer& operator=(const TextBuffer&) = delete;
    ~TextBuffer();

    void put(const char* data, size_t size) override;
    void put(lib::StringView text) { put(text.data(), text.size()); }
    void put_char(char c) { put(&c, 1); }
    // printf-style (lib/format.h).
    void print(const char* fmt, ...) __attribute__((format(printf, 2, 3)));

    // NOMEM if an append failed (the contents are then incomplete).
    Result<void> status() const;
    const char* data() const { return m_data; }
    size_t size() const { return m_size; }
    lib::StringView view() const { return {m_data, m_size}; }
    void clear() { m_size = 0; }

private:
    char* m_data = nullptr;
    size_t m_size = 0;
    size_t m_capacity = 0;
    bool m_failed = false;
};

} // namespace procfs
