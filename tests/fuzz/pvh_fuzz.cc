// fuzz-links: boot lib
// libFuzzer target: a hostile hypervisor. The input is guest physical memory with a
// start_info at offset 0; the parser and the free-range computation must never crash,
// read out of bounds or hand out overlapping or unaligned ranges.
#include <boot/pvh.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

class FuzzMemory final : public boot::PhysReader {
public:
    FuzzMemory(const uint8_t* data, size_t size) : m_data(data), m_size(size) {}
    bool read(uint64_t paddr, void* out, size_t size) const override
    {
        if (paddr > m_size || size > m_size - paddr)
            return false;
        std::memcpy(out, m_data + paddr, size);
        return true;
    }

private:
    const uint8_t* m_data;
    size_t m_size;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    FuzzMemory mem(data, size);
    auto info = std::make_unique<boot::BootInfo>();
    if (boot::parse_start_info(mem, 0, *info) != boot::PvhError::None)
        return 0;
    if (info->cmdline_length >= boot::BootInfo::kMaxCmdline || info->cmdline[info->cmdline_length] != '\0')
        std::abort();
    boot::PhysRange reserved[] = { { 0, 0x100000 } };
    boot::PhysRange out[32];
    size_t n = boot::compute_free_ranges(*info, reserved, 1, out, 32, nullptr);
    for (size_t i = 0; i < n; ++i) {
        if (out[i].begin >= out[i].end || (out[i].begin | out[i].end) & 0xfff || out[i].begin < 0x100000)
            std::abort();
        if (i > 0 && out[i].begin <= out[i - 1].end)
            std::abort();
    }
    boot::PhysRange mappable[boot::BootInfo::kMaxRegions];
    uint64_t limit = uint64_t(1) << 46;
    size_t m = boot::compute_mappable_ranges(*info, limit, mappable);
    for (size_t i = 0; i < m; ++i) {
        if (mappable[i].begin >= mappable[i].end || (mappable[i].begin | mappable[i].end) & 0xfff ||
            mappable[i].end > limit)
            std::abort();
        if (i > 0 && mappable[i].begin <= mappable[i - 1].end)
            std::abort();
    }
    return 0;
}
