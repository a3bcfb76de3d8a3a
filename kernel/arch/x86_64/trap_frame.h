// The register image traps.S saves on every exception and interrupt.
#pragma once

#include <cstdint>

namespace arch {

// Field order mirrors the pushes in traps.S (lowest address first) followed by what the CPU
// pushes itself [intel-sdm-3a §6.14.1].
struct TrapFrame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector;
    uint64_t error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};
static_assert(sizeof(TrapFrame) == 22 * 8);

// Exception vectors [intel-sdm-3a §6.3.1].
enum Vector : uint8_t {
    kDivideError = 0,
    kDebug = 1,
    kNmi = 2,
    kBreakpoint = 3,
    kOverflow = 4,
    kBoundRange = 5,
    kInvalidOpcode = 6,
    kDeviceNotAvailable = 7,
    kDoubleFault = 8,
    kInvalidTss = 10,
    kSegmentNotPresent = 11,
    kStackFault = 12,
    kGeneralProtection = 13,
    kPageFault = 14,
    kX87Fault = 16,
    kAlignmentCheck = 17,
    kMachineCheck = 18,
    kSimdFault = 19,
    kVirtualization = 20,
    kControlProtection = 21,
    kFirstIrqVector = 32,
};

// Page-fault error-code bits [intel-sdm-3a §4.7].
inline constexpr uint64_t kPfPresent = 1u << 0;
inline constexpr uint64_t kPfWrite = 1u << 1;
inline constexpr uint64_t kPfUser = 1u << 2;
inline constexpr uint64_t kPfReservedBit = 1u << 3;
inline constexpr uint64_t kPfInstructionFetch = 1u << 4;
// Not the CPU's: set by the kernel's page-fault handler when the address lies in a file
// mapping whose file has no page there (past its end). The fault is then SIGBUS, not SIGSEGV.
inline constexpr uint64_t kPfSoftBusError = uint64_t(1) << 40;
// Also the kernel's: demand paging ran out of memory for the page. The program is killed
// (SIGKILL, as Linux's out-of-memory killer would), not told it touched unmapped memory.
inline constexpr uint64_t kPfSoftOutOfMemory = uint64_t(1) << 41;

// The error code traps.S substitutes when `int $n` raises a vector that normally carries
// one: the CPU then pushed none. No hardware error code has all bits set.
inline constexpr uint64_t kSoftwareTrapErrorCode = ~uint64_t(0);

// Bytes between the trap stubs in traps.S (g_trap_stubs + vector * kTrapStubSize).
inline constexpr uint64_t kTrapStubSize = 32;

const char* vector_name(uint64_t vector);

} // namespace arch
