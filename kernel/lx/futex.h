// Futexes: waiting on and waking threads by the address of a 32-bit word in application
// memory (futex(2)). One address space, so private and shared futexes are the same thing.
#pragma once

#include <cstdint>
#include <lib/result.h>

namespace lx {

// Wakes up to `count` waiters on `address` whose bitset intersects `bitset`; how many woke.
int futex_wake(uint64_t address, int count, uint32_t bitset = ~uint32_t(0));

// At the exit of thread `tid` (exit, not exit_group): walks its robust futex list at
// `head_address` (set_robust_list; 0: none) and releases every futex it still owns with
// FUTEX_OWNER_DIED, waking a waiter. A bad list ends the walk quietly. May block.
void exit_robust_list(uint64_t head_address, int32_t tid);

} // namespace lx
