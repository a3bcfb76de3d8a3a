// The virtio devices `nimbus run` attaches (--disk, --rng, the NIC of --net): their QEMU
// options per machine, the microvm transport slots and the kernel's virtio_mmio.device
// announcements. Pure; the file checks and format detection I/O are main.cc's
// (docs/runner.md, "Devices"; docs/networking.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "runner/options.h"
#include "runner/parsed.h"

namespace runner {

// A disk image's format, always passed to QEMU explicitly so that it never probes (a raw
// image whose guest wrote a qcow2 header must not turn into a qcow2 image on the next run).
enum class DiskFormat { Raw, Qcow2 };

std::string_view disk_format_name(DiskFormat);  // "raw", "qcow2"

// How many leading bytes of a file detect_disk_format() looks at.
inline constexpr size_t kDiskMagicSize = 4;

// Qcow2 when `head` (the file's first bytes, fewer for a short file) starts with the qcow2
// magic "QFI\xfb" [qcow2 spec, header bytes 0-3]; raw otherwise.
DiskFormat detect_disk_format(std::string_view head);

// A --disk after the runner has looked at the file.
struct Disk {
    std::string path;  // as QEMU should open it (main.cc makes it absolute)
    bool read_only = false;
    DiskFormat format = DiskFormat::Raw;
};

// QEMU microvm's virtio-mmio transports (QEMU 7.2, hw/i386/microvm.c, checked against its
// DSDT and its own auto-kernel-cmdline announcements): transport K at 0xfeb00000 + K * 0x200,
// 512 bytes each. With ACPI the second I/O APIC is present and serves them: 24 transports,
// GSI 24 + K. Without ACPI: 8 transports, GSI 5 + K.
inline constexpr uint64_t kVirtioMmioBase = 0xfeb00000;
inline constexpr uint64_t kVirtioMmioSize = 0x200;

// One virtio-mmio transport: QEMU's bus "virtio-mmio-bus.{slot}", where the guest finds it.
struct VirtioMmioSlot {
    unsigned slot = 0;
    uint64_t base = 0;
    unsigned irq = 0;  // GSI
};

// The transport `slot` of a microvm machine (Microvm or MicrovmNoAcpi only); slot must be
// below virtio_device_limit(machine).
VirtioMmioSlot virtio_mmio_slot(Machine, unsigned slot);

// The kernel boot option announcing a transport: "virtio_mmio.device=512@0xfeb00000:24".
std::string virtio_mmio_boot_option(const VirtioMmioSlot&);

// How many virtio devices the machine can take: microvm 24, microvm-noacpi 8 (transports);
// q35 and pc 30 (free slots of PCI bus 0 with -nodefaults).
unsigned virtio_device_limit(Machine);

// How many virtio devices the options attach: the rng, the disks and the NIC.
size_t virtio_device_count(const RunOptions&);

// Fails with a one-line message when `count` devices do not fit the machine; `with_nic`
// (a NIC is among them) adds that --net none would free a place.
Status check_virtio_device_count(Machine, size_t count, bool with_nic);

// The NIC's queue pairs: one per vCPU for a tap NIC on q35/pc (MSI-X gives each queue its
// own interrupt), else 1 (user networking is one thread in QEMU; a virtio-mmio transport has
// one interrupt line).
unsigned nic_queue_pairs(const RunOptions&);

// A value for QEMU's "key=value,..." option syntax: each ',' doubled.
std::string escape_qemu_option_value(std::string_view);

// What the devices add to a VM.
struct DeviceArgs {
    std::vector<std::string> qemu_args;     // "-object"/"-drive"/"-device" pairs, in order
    std::vector<std::string> boot_options;  // microvm: one virtio_mmio.device=... per device
};

// The QEMU options and boot options of the rng (opts.rng), the `disks` and the NIC
// (opts.net.has_nic()), in that order: the NIC comes last so that the other devices keep the
// places they have without it. On microvm the devices take the transport slots in that order
// from the first usable one; on q35/pc they are PCI devices whose addresses QEMU assigns in
// the same order. A tap NIC on q35/pc with opts.cpus > 1 gets one queue pair per vCPU;
// `vhost` puts a tap's data path in the host kernel (vhost-net; for KVM). Fails when the
// devices do not fit (check_virtio_device_count).
Parsed<DeviceArgs> build_device_args(const RunOptions& opts, const std::vector<Disk>& disks, bool vhost);

} // namespace runner
