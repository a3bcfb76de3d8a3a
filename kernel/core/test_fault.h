// Deliberate faults for testing the panic path (boot option `test.fault`).
#pragma once

#include <boot/options.h>

namespace core {

// Triggers the fault; returns only for TestFault::none or when the fault was unexpectedly
// harmless (the caller reports that as a failure).
void trigger_test_fault(boot::TestFault fault);

} // namespace core
