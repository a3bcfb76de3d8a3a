#include <net/addr.h>

namespace net {

size_t format_ipv4(Ipv4Address address, char* out)
{
    size_t n = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        unsigned octet = (address.value >> shift) & 0xff;
        char digits[3];
        int count = 0;
        do {
            digits[count++] = static_cast<char>('0' + octet % 10);
            octet /= 10;
        } while (octet != 0);
        while (count > 0)
            out[n++] = digits[--count];
        if (shift != 0)
            out[n++] = '.';
    }
    out[n] = '\0';
    return n;
}

bool parse_ipv4(const char* text, size_t length, Ipv4Address& out)
{
    uint32_t value = 0;
    size_t i = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (octet != 0) {
            if (i >= length || text[i] != '.')
                return false;
            i++;
        }
        unsigned part = 0;
        size_t digits = 0;
        while (i < length && text[i] >= '0' && text[i] <= '9' && digits < 3) {
            part = part * 10 + unsigned(text[i] - '0');
            i++;
            digits++;
        }
        if (digits == 0 || part > 255)
            return false;
        value = value << 8 | part;
    }
    if (i != length)
        return false;
    out = Ipv4Address{value};
    return true;
}

} // namespace net
