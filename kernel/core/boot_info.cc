// Access to the parsed boot hand-off.
#include <core/boot_info.h>
#include <lib/assert.h>

namespace core {
namespace {

const boot::BootInfo* g_info = nullptr; // written once by kernel_main, before other CPUs run

} // namespace

void set_boot_info(const boot::BootInfo& info) { g_info = &info; }

const boot::BootInfo& boot_info()
{
    NIMBUS_ASSERT(g_info);
    return *g_info;
}

} // namespace core
