// The initial process stack of a new program: argc, argv, envp, the auxiliary vector and
// the strings they point to, laid out as Linux's execve does on x86-64.
//
// Layout, from the top of the stack (highest address) down [x86-64 psABI §3.4.1 "Initial
// Stack and Register State", Figure 3.9; the order within the areas is Linux's]:
//
//   stack_top  - 8            8 zero bytes (an end marker)
//              - ...          execfn string (AT_EXECFN points here)
//                             envp strings, envp[0]'s lowest ... envp[envc-1]'s highest
//                             argv strings, argv[0]'s lowest ... argv[argc-1]'s highest
//                             zero padding down to a 16-byte boundary
//                             platform string "x86_64" (AT_PLATFORM), if any
//                             16 random bytes (AT_RANDOM; not aligned, as in Linux)
//                             zero padding, so that sp below is 16-byte aligned
//                             auxv: (type, value) pairs, ending with (AT_NULL, 0)
//                             envp[0..envc-1], 0
//                             argv[0..argc-1], 0
//   sp ->                     argc
//
// The tables are contiguous from sp upwards; all padding sits between the auxv and the
// random bytes. Unlike Linux, no random offset lowers sp (the caller can lower stack_top).
//
// Concurrency: no shared state; reentrant. Nothing blocks or allocates.
#pragma once

#include <lib/result.h>
#include <lib/string.h>
#include <stddef.h>
#include <stdint.h>

namespace elf {

// Auxiliary vector entry types [x86-64 psABI §3.4.3; Linux include/uapi/linux/auxvec.h and
// arch/x86/include/uapi/asm/auxvec.h for the Linux-specific ones].
inline constexpr uint64_t kAtNull = 0;          // end of the vector
inline constexpr uint64_t kAtIgnore = 1;
inline constexpr uint64_t kAtExecFd = 2;
inline constexpr uint64_t kAtPhdr = 3;          // program headers of the program
inline constexpr uint64_t kAtPhent = 4;         // size of one program header
inline constexpr uint64_t kAtPhnum = 5;         // number of program headers
inline constexpr uint64_t kAtPagesz = 6;        // page size
inline constexpr uint64_t kAtBase = 7;          // interpreter's load address
inline constexpr uint64_t kAtFlags = 8;
inline constexpr uint64_t kAtEntry = 9;         // program's entry point
inline constexpr uint64_t kAtNotElf = 10;
inline constexpr uint64_t kAtUid = 11;
inline constexpr uint64_t kAtEuid = 12;
inline constexpr uint64_t kAtGid = 13;
inline constexpr uint64_t kAtEgid = 14;
inline constexpr uint64_t kAtPlatform = 15;     // address of the platform string
inline constexpr uint64_t kAtHwcap = 16;        // CPUID.1:EDX
inline constexpr uint64_t kAtClktck = 17;       // times() tick rate
inline constexpr uint64_t kAtSecure = 23;       // setuid-like: 0 for us
inline constexpr uint64_t kAtBasePlatform = 24;
inline constexpr uint64_t kAtRandom = 25;       // address of 16 random bytes
inline constexpr uint64_t kAtHwcap2 = 26;
inline constexpr uint64_t kAtRseqFeatureSize = 27;
inline constexpr uint64_t kAtRseqAlign = 28;
inline constexpr uint64_t kAtExecFn = 31;       // address of the executable's path string
inline constexpr uint64_t kAtSysinfoEhdr = 33;  // vDSO address
inline constexpr uint64_t kAtMinSigStkSz = 51;  // minimal signal stack size

// Elf64_auxv_t.
struct AuxEntry {
    uint64_t type = 0;
    uint64_t value = 0;
};
static_assert(sizeof(AuxEntry) == 16);

// What goes on the stack. Views and arrays are borrowed for the call only.
struct StackSpec {
    const lib::StringView* argv = nullptr;
    size_t argc = 0;
    const lib::StringView* envp = nullptr;
    size_t envc = 0;
    uint8_t random[16] = {};         // AT_RANDOM's bytes (the C library seeds its canaries)
    lib::StringView execfn;          // the path given to execve
    lib::StringView platform = "x86_64"; // empty: no string and no AT_PLATFORM
    // The caller's auxv, in order, without AT_NULL. The builder supplies the values of
    // AT_RANDOM, AT_PLATFORM and AT_EXECFN (addresses inside the stack): entries of those
    // types keep their position and get the right value; missing ones are appended in that
    // order. AT_PLATFORM is left out when `platform` is empty.
    const AuxEntry* auxv = nullptr;
    size_t auxc = 0;
};

// The stack being built: `buffer` holds the top `size` bytes of the stack, which end at
// the guest address `top` (buffer[size - 1] is the byte at top - 1). Builders write through
// the buffer; every address they store is a guest address.
struct StackImage {
    uint8_t* buffer = nullptr;
    size_t size = 0;
    uint64_t top = 0; // 16-byte aligned
};

// Writes the initial stack for `spec` into `image` and returns the initial stack pointer (the
// guest address of argc, 16-byte aligned). Every byte from that address to image.top is
// written (padding is zero); bytes below it are untouched.
// Errors: INVAL if top is not 16-byte aligned, if top < size (the buffer would start below
// address 0), if a string contains a NUL byte or if auxv contains AT_NULL; TOO_BIG (E2BIG)
// if everything does not fit in the buffer.
lib::Result<uint64_t> build_initial_stack(StackImage& image, const StackSpec& spec);

// Reads the auxv back from a stack built by build_initial_stack() (or any stack in the same
// format) whose stack pointer is `sp`: copies the entries, the closing AT_NULL included,
// into out[0..capacity) and returns how many there are. These are the bytes of
// /proc/self/auxv. Errors: INVAL if top < size or argv[argc] is not 0, FAULT if the tables
// run outside the image, RANGE if `capacity` is too small.
lib::Result<size_t> read_auxv(const StackImage& image, uint64_t sp, AuxEntry* out, size_t capacity);

} // namespace elf
