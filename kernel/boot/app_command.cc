// The splitter for the application's command line (app_command.h).
#include <boot/app_command.h>

namespace boot {

bool is_env_word(const char* word)
{
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (!alpha(word[0]))
        return false;
    size_t i = 1;
    while (alpha(word[i]) || digit(word[i]))
        ++i;
    return word[i] == '=';
}

const char* split_app_command(lib::StringView text, char* storage, size_t storage_size, AppCommand& out)
{
    out.env_count = 0;
    out.argc = 0;
    if (storage_size < text.size() + 1)
        return "no room to split the application's command line";
    // Each word's unquoted bytes are never more than its quoted bytes, and words are
    // separated by at least one byte, so every word and its NUL fit in text.size() + 1.
    size_t in = 0, used = 0;
    const size_t n = text.size();
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (true) {
        while (in < n && blank(text[in]))
            ++in;
        if (in == n)
            break;
        char* word = storage + used;
        bool in_quotes = false;
        while (in < n && (in_quotes || !blank(text[in]))) {
            char c = text[in++];
            if (in_quotes) {
                if (c == '\'')
                    in_quotes = false;
                else
                    storage[used++] = c;
            } else if (c == '\'') {
                in_quotes = true;
            } else if (c == '\\') {
                if (in == n)
                    return "a backslash ends the application's command line";
                storage[used++] = text[in++];
            } else {
                storage[used++] = c;
            }
        }
        if (in_quotes)
            return "unterminated quote in the application's command line";
        storage[used++] = '\0';
        if (out.argc == 0 && is_env_word(word)) {
            if (out.env_count == AppCommand::kMaxWords)
                return "too many environment words on the command line";
            out.env[out.env_count++] = word;
        } else {
            if (out.argc == AppCommand::kMaxWords)
                return "too many application arguments on the command line";
            out.argv[out.argc++] = word;
        }
    }
    if (out.argc == 0)
        return "no program on the application's command line";
    return nullptr;
}

} // namespace boot
