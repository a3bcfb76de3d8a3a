// The vDSO in the application's address space (the object itself: kernel/vdso).
#pragma once

#include <cstdint>
#include <lib/result.h>

namespace lx {

// Maps the vvar page (read-only) with the vDSO image right above it (read-execute) and
// returns the image's address for AT_SYSINFO_EHDR. NOMEM if there is no room.
lib::Result<uint64_t> map_vdso();

// Where map_vdso() put the vvar page and the image ([vvar, image) and [image, end)), for
// /proc/self/maps; zeros before.
struct VdsoRange {
    uint64_t vvar = 0;
    uint64_t image = 0;
    uint64_t end = 0;
};
VdsoRange vdso_range();

} // namespace lx
