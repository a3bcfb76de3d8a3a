// The kernel's side of the block layer: the registry of disks (vda, vdb, …), synchronous
// transfers for kernel users, and the device files applications open as /dev/vda.
//
// Device files: reads and writes at any offset and length (unaligned pieces are read,
// modified and written back under the device's RMW lock); reads stop at the end of the disk,
// writes past it fail with NOSPC; O_DIRECT requires the offset and length to be multiples of
// the logical block size (INVAL otherwise) — data still goes through a kernel bounce buffer.
// fsync/fdatasync flush the device's write cache. ioctls: BLKGETSIZE64, BLKGETSIZE, BLKSSZGET,
// BLKPBSZGET, BLKROGET, BLKFLSBUF, BLKDISCARD, BLKZEROOUT. A device error reaches the caller as
// IO. Opening a read-only disk for writing fails with ROFS.
#pragma once

#include <block/block.h>
#include <fs/device.h>
#include <fs/mount.h>
#include <lib/result.h>
#include <stddef.h>

namespace drivers {

// Linux's dynamic block major as virtio-blk usually gets it; minors 16 apart per disk.
constexpr uint32_t kVirtioBlockMajor = 254;
constexpr size_t kMaxBlockDevices = 26;

// Adds a disk; it gets the next name (vda, vdb, …) and is logged with its geometry and
// `description` (the transport). BUSY past 26 disks. Boot only (single-threaded).
Result<void> register_block_device(block::Device& device, const char* description);

// Synchronous I/O for kernel users: `bytes` at byte `offset` from/to the physically contiguous
// kernel buffer `buffer` (direct-mapped), split into requests the device accepts and waited
// for. Read/Write need sector-aligned offset and length (INVAL otherwise); Flush ignores
// offset and bytes. Errors as block::Request's completion (IO, NOTSUP, INVAL, ROFS).
Result<void> block_transfer(block::Device& device, block::Op op, uint64_t offset, void* buffer, uint64_t bytes);

// Registers every disk as a block device in `vfs` (device number kVirtioBlockMajor:16*i) and
// creates its node /dev/<name> (0660) through `make_node`. Called once when /dev is set up.
Result<void> publish_block_devices(fs::Vfs& vfs, Result<void> (*make_node)(const char* name, uint64_t rdev));

} // namespace drivers
