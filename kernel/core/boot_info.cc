// Access to the parsed boot hand-off.
#include <core/boot_info.h>
#include <lib/assert.h>

namespace core {
namespace {

const boot::BootInfo* g_info = nullptr; // written once by kernel_main, before other CPUs run
const boot::Options* g_options = nullptr; // likewise

} // namespace

void set_boot_info(const boot::BootInfo& info) { g_info = &info; }

const boot::BootInfo& boot_info()
{
    NIMBUS_ASSERT(g_info);
    return *g_info;
}

void set_boot_options(const boot::Options& options) { g_options = &options; }

const boot::Options& boot_options()
{
    NIMBUS_ASSERT(g_options);
    return *g_options;
}

} // namespace core
