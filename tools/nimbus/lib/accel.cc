// Accelerator choice: KVM only where it really works, TCG otherwise.
#include "runner/accel.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace runner {

std::string find_virt_flag(std::string_view cpuinfo) {
    // Lines look like "flags\t\t: fpu vme ... vmx ...". Only the "flags" lines count: "vmx"
    // also appears in "vmx flags" lines on recent kernels, which describe the same CPU.
    size_t pos = 0;
    while (pos < cpuinfo.size()) {
        size_t end = cpuinfo.find('\n', pos);
        if (end == std::string_view::npos) {
            end = cpuinfo.size();
        }
        std::string_view line = cpuinfo.substr(pos, end - pos);
        pos = end + 1;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        std::string_view key = line.substr(0, colon);
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) {
            key.remove_suffix(1);
        }
        if (key != "flags") {
            continue;
        }
        std::istringstream words{std::string(line.substr(colon + 1))};
        std::string word;
        while (words >> word) {
            if (word == "vmx" || word == "svm") {
                return word;
            }
        }
    }
    return {};
}

HostVirt probe_host_virt() {
    HostVirt host;
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::stringstream text;
    text << cpuinfo.rdbuf();
    host.cpu_flag = find_virt_flag(text.str());
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        host.kvm_usable = true;
        ::close(fd);
    } else {
        host.kvm_problem = std::string("/dev/kvm: ") + std::strerror(errno);
    }
    return host;
}

Parsed<AccelChoice> choose_accel(AccelRequest request, const HostVirt& host, bool icount) {
    std::string kvm_missing;
    if (host.cpu_flag.empty()) {
        kvm_missing = "no vmx/svm on this host";
    } else if (!host.kvm_usable) {
        kvm_missing = host.kvm_problem.empty() ? "/dev/kvm not usable" : host.kvm_problem;
    }
    switch (request) {
    case AccelRequest::Tcg:
        return Parsed<AccelChoice>::ok({Accel::Tcg, "requested"});
    case AccelRequest::Kvm:
        if (icount) {
            return Parsed<AccelChoice>::fail("--icount needs TCG; it cannot be combined with --accel kvm");
        }
        if (!kvm_missing.empty()) {
            return Parsed<AccelChoice>::fail("--accel kvm requested but KVM is not usable here (" +
                                             kvm_missing + ")");
        }
        return Parsed<AccelChoice>::ok({Accel::Kvm, "requested"});
    case AccelRequest::Auto:
        break;
    }
    if (icount) {
        return Parsed<AccelChoice>::ok({Accel::Tcg, "--icount needs TCG"});
    }
    if (!kvm_missing.empty()) {
        return Parsed<AccelChoice>::ok({Accel::Tcg, kvm_missing});
    }
    return Parsed<AccelChoice>::ok({Accel::Kvm, host.cpu_flag + " and /dev/kvm available"});
}

std::string_view accel_name(Accel a) { return a == Accel::Kvm ? "kvm" : "tcg"; }

} // namespace runner
