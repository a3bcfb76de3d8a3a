// struct termios as Linux's TCGETS/TCSETS ioctls carry it, and the flag and control-character
// names the line discipline uses [termios(3); Linux include/uapi/asm-generic/termbits.h].
#pragma once

#include <cstdint>

namespace tty {

// The kernel's struct termios (not glibc's, which adds speed fields): 36 bytes.
struct Termios {
    uint32_t iflag;
    uint32_t oflag;
    uint32_t cflag;
    uint32_t lflag;
    uint8_t line;
    uint8_t cc[19];

    // A fresh Linux console's modes: canonical input with echo, ICRNL, ONLCR output
    // processing, 38400 baud, 8 bits, the usual control characters.
    static constexpr Termios console_default()
    {
        return { 0x0500 /* ICRNL | IXON */,
                 0x0005 /* OPOST | ONLCR */,
                 0x00bf /* B38400 | CS8 | CREAD */,
                 0x8a3b /* ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN */,
                 0,
                 { 3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0 } };
    }
};
static_assert(sizeof(Termios) == 36);

// c_iflag
inline constexpr uint32_t kIstrip = 0x0020;
inline constexpr uint32_t kInlcr = 0x0040;
inline constexpr uint32_t kIgncr = 0x0080;
inline constexpr uint32_t kIcrnl = 0x0100;
inline constexpr uint32_t kIutf8 = 0x4000;

// c_lflag
inline constexpr uint32_t kIsig = 0x0001;
inline constexpr uint32_t kIcanon = 0x0002;
inline constexpr uint32_t kEcho = 0x0008;
inline constexpr uint32_t kEchoe = 0x0010;
inline constexpr uint32_t kEchok = 0x0020;
inline constexpr uint32_t kEchonl = 0x0040;
inline constexpr uint32_t kNoflsh = 0x0080;
inline constexpr uint32_t kEchoctl = 0x0200;
inline constexpr uint32_t kEchoke = 0x0800;
inline constexpr uint32_t kIexten = 0x8000;

// c_cc indices. A control character set to 0 is disabled (_POSIX_VDISABLE).
inline constexpr unsigned kVintr = 0;
inline constexpr unsigned kVquit = 1;
inline constexpr unsigned kVerase = 2;
inline constexpr unsigned kVkill = 3;
inline constexpr unsigned kVeof = 4;
inline constexpr unsigned kVtime = 5;
inline constexpr unsigned kVmin = 6;
inline constexpr unsigned kVeol = 11;
inline constexpr unsigned kVwerase = 14;
inline constexpr unsigned kVeol2 = 16;

// The signals the line discipline raises (Linux numbers).
inline constexpr int kSigInt = 2;
inline constexpr int kSigQuit = 3;

} // namespace tty
