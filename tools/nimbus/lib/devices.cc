// The virtio devices of a Nimbus VM: disks, the entropy source and the NIC, as QEMU options.
#include "runner/devices.h"

#include <cstdio>

namespace runner {

namespace {

constexpr std::string_view kQcow2Magic{"QFI\xfb", 4};
constexpr std::string_view kRngId = "nimbus-rng";

// Free slots of PCI bus 0 on q35 and pc with -nodefaults: 32 minus the host bridge and the
// ISA bridge (measured on QEMU 7.2: the 31st virtio-blk-pci gets "no slot/function available").
constexpr unsigned kPciDeviceLimit = 30;
constexpr unsigned kMicrovmSlots = 24;        // one per pin of the second I/O APIC
// QEMU's I/O APIC model delivers its pin 0 on pin 2 (meant for the first chip's ISA IRQ 0, it
// applies to every chip, QEMU 7.2 hw/intc/ioapic.c): on microvm with ACPI the transport in
// slot 0 (GSI 24) would interrupt on GSI 26. Nimbus leaves slot 0 empty there, as QEMU's own
// placement (highest slot first) effectively does.
constexpr unsigned kMicrovmFirstSlot = 1;
constexpr unsigned kMicrovmNoAcpiSlots = 8;
constexpr unsigned kMicrovmIrqBase = 24;      // the second I/O APIC's first GSI
constexpr unsigned kMicrovmNoAcpiIrqBase = 5;

bool is_microvm(Machine m) { return m == Machine::Microvm || m == Machine::MicrovmNoAcpi; }

// QEMU reads "name:rest" in a file name as protocol "name" (nbd:, http:, ...) unless a '/'
// comes first; "./" keeps a relative path a path.
std::string qemu_file_name(const std::string& path) {
    size_t colon = path.find(':');
    if (colon != std::string::npos && path.find('/') > colon) {
        return "./" + path;
    }
    return path;
}

} // namespace

std::string_view disk_format_name(DiskFormat f) {
    return f == DiskFormat::Qcow2 ? "qcow2" : "raw";
}

DiskFormat detect_disk_format(std::string_view head) {
    return head.substr(0, kQcow2Magic.size()) == kQcow2Magic ? DiskFormat::Qcow2 : DiskFormat::Raw;
}

VirtioMmioSlot virtio_mmio_slot(Machine m, unsigned slot) {
    unsigned irq_base = m == Machine::MicrovmNoAcpi ? kMicrovmNoAcpiIrqBase : kMicrovmIrqBase;
    return {slot, kVirtioMmioBase + slot * kVirtioMmioSize, irq_base + slot};
}

std::string virtio_mmio_boot_option(const VirtioMmioSlot& s) {
    char text[80];
    std::snprintf(text, sizeof text, "virtio_mmio.device=%llu@0x%llx:%u",
                  static_cast<unsigned long long>(kVirtioMmioSize),
                  static_cast<unsigned long long>(s.base), s.irq);
    return text;
}

unsigned virtio_device_limit(Machine m) {
    switch (m) {
    case Machine::Q35:
    case Machine::Pc:
        return kPciDeviceLimit;
    case Machine::Microvm:
        return kMicrovmSlots - kMicrovmFirstSlot;
    case Machine::MicrovmNoAcpi:
        return kMicrovmNoAcpiSlots;
    }
    return 0;
}

size_t virtio_device_count(const RunOptions& opts) {
    return opts.disks.size() + (opts.rng ? 1 : 0) + (opts.net.has_nic() ? 1 : 0);
}

Status check_virtio_device_count(Machine m, size_t count, bool with_nic) {
    unsigned limit = virtio_device_limit(m);
    if (count <= limit) {
        return Status::ok();
    }
    std::string message = "too many devices: " + std::to_string(count) +
                          " virtio devices (--disk, --rng, --net) but " + std::string(machine_name(m)) +
                          " takes at most " + std::to_string(limit);
    if (with_nic) {
        message += " (the network card counts; --net none leaves it out)";
    }
    return Status::fail(message);
}

unsigned nic_queue_pairs(const RunOptions& opts) {
    return opts.net.mode == NetMode::Tap && !is_microvm(opts.machine) && opts.cpus > 1 ? opts.cpus : 1;
}

std::string escape_qemu_option_value(std::string_view value) {
    std::string out;
    for (char c : value) {
        out += c;
        if (c == ',') {
            out += ',';
        }
    }
    return out;
}

Parsed<DeviceArgs> build_device_args(const RunOptions& opts, const std::vector<Disk>& disks, bool vhost) {
    Machine m = opts.machine;
    bool rng = opts.rng;
    bool nic = opts.net.has_nic();
    if (Status s = check_virtio_device_count(m, disks.size() + (rng ? 1 : 0) + (nic ? 1 : 0), nic); !s) {
        return Parsed<DeviceArgs>::fail(s.error);
    }
    DeviceArgs out;
    unsigned next_slot = m == Machine::Microvm ? kMicrovmFirstSlot : 0;
    // The device's -device value: the PCI model on q35/pc, else the MMIO model pinned to the
    // next transport, which is then announced to the kernel.
    auto device = [&](std::string_view kind, const std::string& backend) {
        std::string value = "virtio-" + std::string(kind);
        if (!is_microvm(m)) {
            return value + "-pci," + backend;
        }
        VirtioMmioSlot slot = virtio_mmio_slot(m, next_slot++);
        out.boot_options.push_back(virtio_mmio_boot_option(slot));
        return value + "-device," + backend + ",bus=virtio-mmio-bus." + std::to_string(slot.slot);
    };
    if (rng) {
        out.qemu_args.insert(out.qemu_args.end(),
                             {"-object", "rng-random,id=" + std::string(kRngId) + ",filename=/dev/urandom"});
        out.qemu_args.insert(out.qemu_args.end(), {"-device", device("rng", "rng=" + std::string(kRngId))});
    }
    for (size_t i = 0; i < disks.size(); ++i) {
        const Disk& disk = disks[i];
        std::string id = "nimbus-disk" + std::to_string(i);
        // QEMU's default cache mode (writeback, flushes reach the host file on the guest's
        // flush); discard=unmap passes the guest's discards on to the image.
        std::string drive = "file=" + escape_qemu_option_value(qemu_file_name(disk.path)) +
                            ",if=none,id=" + id + ",format=" + std::string(disk_format_name(disk.format)) +
                            ",discard=unmap";
        if (disk.read_only) {
            drive += ",readonly=on";
        }
        out.qemu_args.insert(out.qemu_args.end(), {"-drive", drive});
        out.qemu_args.insert(out.qemu_args.end(), {"-device", device("blk", "drive=" + id)});
    }
    if (nic) {
        unsigned queues = nic_queue_pairs(opts);
        out.qemu_args.insert(out.qemu_args.end(), {"-netdev", netdev_value(opts.net, queues, vhost)});
        // romfile= (empty): no iPXE option ROM; SeaBIOS would otherwise load and run it on
        // every boot of q35/pc, and Nimbus never boots from the network.
        std::string backend = "netdev=" + std::string(kNetdevId) + ",mac=" + std::string(opts.net.mac_address());
        // The largest receive queue QEMU offers (256 by default; a power of two up to 1024, on
        // every back-end): a full receive queue makes the back-end drop, and a tap's sender
        // retransmit. The driver takes what is offered, within its memory budget.
        backend += ",rx_queue_size=" + std::to_string(kNicRxQueueSize);
        if (!is_microvm(m)) {
            backend += ",romfile=";
        }
        if (opts.net.mode == NetMode::Tap && opts.net.offload == NetOffload::Csum) {
            backend += ",host_tso4=off,guest_tso4=off"; // checksums only
        }
        if (queues > 1) {
            // An MSI-X vector for every queue (a receive and a transmit queue per pair, then
            // the control queue [virtio-v1.2 §5.1.2]) and one for configuration changes.
            backend += ",mq=on,vectors=" + std::to_string(2 * queues + 2);
        }
        out.qemu_args.insert(out.qemu_args.end(), {"-device", device("net", backend)});
    }
    return Parsed<DeviceArgs>::ok(std::move(out));
}

} // namespace runner
