// The stdin relay protocol's encoder (stdin_relay.h).
#include "runner/stdin_relay.h"

namespace runner {

void relay_encode_start(std::string* out) {
    out->append(kRelayPadding, '\0');
    out->push_back(kRelayEscape);
    out->push_back(kRelayStart);
}

void relay_encode(const char* data, size_t size, std::string* out) {
    for (size_t i = 0; i < size; ++i) {
        out->push_back(data[i]);
        if (data[i] == kRelayEscape) {
            out->push_back(kRelayEscape);
        }
    }
}

void relay_encode_end(std::string* out) {
    out->push_back(kRelayEscape);
    out->push_back(kRelayEnd);
}

} // namespace runner
