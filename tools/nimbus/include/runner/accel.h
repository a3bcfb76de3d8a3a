// Choice of QEMU accelerator (KVM or TCG) from what the host offers; pure, unit-tested.
#pragma once

#include <string>
#include <string_view>

#include "runner/options.h"

namespace runner {

enum class Accel { Kvm, Tcg };

// What the host offers for hardware virtualisation, gathered by probe_host_virt().
struct HostVirt {
    std::string cpu_flag;     // "vmx", "svm", or empty when the CPU shows neither
    bool kvm_usable = false;  // /dev/kvm opened read-write
    std::string kvm_problem;  // why not, e.g. "/dev/kvm: Permission denied"
};

struct AccelChoice {
    Accel accel = Accel::Tcg;
    std::string reason;  // for the one-line "nimbus: accel tcg (reason)" notice
};

// Returns "vmx" or "svm" if a "flags" line of /proc/cpuinfo text lists it, else "".
std::string find_virt_flag(std::string_view cpuinfo);

// Reads /proc/cpuinfo and tries to open /dev/kvm read-write.
HostVirt probe_host_virt();

// KVM needs the CPU flag AND a usable /dev/kvm; --icount forces TCG (QEMU has no icount under
// KVM). An explicit --accel kvm that cannot be honoured is an error.
Parsed<AccelChoice> choose_accel(AccelRequest, const HostVirt&, bool icount);

std::string_view accel_name(Accel);

} // namespace runner
