// Default Device operations.
#include <fs/device.h>

namespace fs {

Result<void> Device::open(unsigned) { return {}; }
Result<long> Device::ioctl(unsigned, uint64_t) { return Errno::NOTTY; }
uint32_t Device::poll_events() { return kPollIn | kPollOut | kPollRdNorm | kPollWrNorm; }

} // namespace fs
