// Mapping the vDSO: a copy of the embedded image (kernel/vdso/vdso_blob.S.in) placed right
// above its vvar page, which points the vDSO at the kernel's clock state.
#include <core/clock.h>
#include <core/cpu.h>
#include <core/memory.h>
#include <cstddef>
#include <lib/string.h>
#include <lx/vdso.h>
#include <vdso/vvar.h>

extern "C" const uint8_t vdso_image_start[], vdso_image_end[];

namespace lx {
namespace {

static_assert(offsetof(core::PerCpu, id) == vdso::kPerCpuIdOffset, "the vDSO's getcpu reads %gs:kPerCpuIdOffset");

VdsoRange g_range;

} // namespace

lib::Result<uint64_t> map_vdso()
{
    constexpr uint64_t kPage = vdso::kPageSize;
    uint64_t image_size = (uint64_t(vdso_image_end - vdso_image_start) + kPage - 1) & ~(kPage - 1);
    uint64_t base = TRY(core::map_anonymous(0, kPage + image_size, mm::Protection::ReadWrite, mm::MapFlags::None));
    auto* vvar = reinterpret_cast<vdso::Vvar*>(base);
    vvar->clock = &core::clock_page();
    lib::mem_copy(reinterpret_cast<void*>(base + kPage), vdso_image_start, size_t(vdso_image_end - vdso_image_start));
    if (auto r = core::protect(base, kPage, mm::Protection::Read); r.is_error()) {
        (void)core::unmap(base, kPage + image_size);
        return r.error();
    }
    if (auto r = core::protect(base + kPage, image_size, mm::Protection::ReadExec); r.is_error()) {
        (void)core::unmap(base, kPage + image_size);
        return r.error();
    }
    g_range = { base, base + kPage, base + kPage + image_size };
    return base + kPage;
}

VdsoRange vdso_range() { return g_range; }

} // namespace lx
