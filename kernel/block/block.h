// The block layer: what a disk is to the rest of the kernel. A block::Device takes
// asynchronous requests — read, write, flush, discard, write-zeroes — over physical segments
// and completes each with a status; a RequestQueue holds the requests a driver cannot start yet
// and merges sequential ones into one device request. The kernel's glue (drivers/block_dev.h)
// names devices vda, vdb, …, offers a synchronous helper and the /dev nodes.
//
// Units: requests address 512-byte sectors (kSectorSize), whatever the device's logical block
// size; the glue enforces the logical block alignment applications must respect.
//
// Context: submit() is called in thread context and may block briefly (a driver's queue
// mutex). Completions run in the driver's interrupt thread; a completion callback must not
// block (it wakes the waiter).
#pragma once

#include <lib/errno.h>
#include <stddef.h>
#include <stdint.h>

namespace block {

constexpr uint32_t kSectorSize = 512;
constexpr uint32_t kSectorShift = 9;

enum class Op : uint8_t { Read, Write, Flush, Discard, WriteZeroes };
const char* op_name(Op op);

// A physically contiguous piece of a request's data (device-visible address).
struct Segment {
    uint64_t phys = 0;
    uint32_t bytes = 0;
};

// What the device is and what it accepts.
struct Geometry {
    uint64_t sectors = 0;               // capacity in 512-byte sectors
    uint32_t logical_block_size = 512;  // the unit applications must align O_DIRECT I/O to
    uint32_t physical_block_size = 512;
    uint32_t max_segments = 1;          // per request
    uint32_t max_segment_bytes = 4096;  // per segment
    uint64_t max_request_bytes = 4096;  // per read/write request (all segments)
    uint32_t max_discard_sectors = 0;   // per discard / write-zeroes request (0: unlimited)
    bool read_only = false;
    bool flush = false;                 // a volatile write cache that Flush empties
    bool discard = false;
    bool write_zeroes = false;

    uint64_t bytes() const { return sectors << kSectorShift; }
};

// One request. The submitter owns it until `complete` runs (exactly once). Read/Write carry
// segments whose bytes add up to sectors * 512; Discard/WriteZeroes carry sectors and no
// segments; Flush carries neither.
struct Request {
    Op op = Op::Read;
    uint64_t sector = 0;
    uint32_t sectors = 0;
    const Segment* segments = nullptr;
    uint16_t segment_count = 0;
    // Called once with 0 (done) or the error: IO (the device failed it), NOTSUP (the device
    // does not do this operation), INVAL (a request outside the device or malformed), ROFS
    // (a write to a read-only device).
    void (*complete)(Request& request, lib::Errno status) = nullptr;
    void* context = nullptr;

    // Owned by the queue and the driver while the request is in flight.
    Request* next_in_queue = nullptr;
    Request* next_merged = nullptr; // requests carried by the same device request, in order
};

class Device {
public:
    const char* name() const { return m_name; }
    void set_name(const char* name); // truncated to 15 characters
    const Geometry& geometry() const { return m_geometry; }
    // Starts `request`; its completion comes later (possibly before submit returns). Checks it
    // against the geometry first (validate()) and completes a bad one with the error at once.
    virtual void submit(Request& request) = 0;

    // The checks every driver applies before starting a request: 0 or the completion error.
    lib::Errno validate(const Request& request) const;

protected:
    ~Device() = default;
    char m_name[16] = {};
    Geometry m_geometry;
};

// Requests waiting for room in the device, FIFO. Not synchronised: the driver's queue lock
// protects it.
class RequestQueue {
public:
    void push(Request& request);
    bool is_empty() const { return m_head == nullptr; }
    size_t size() const { return m_size; }
    // Takes the oldest request and, behind it, every following one that continues it: the same
    // operation (Read or Write), the next sectors, and the combined segments and bytes within
    // `geometry`'s limits. They come back chained through next_merged (the first is returned);
    // the driver completes each of them. nullptr when empty.
    Request* pop_merged(const Geometry& geometry);

private:
    Request* m_head = nullptr;
    Request* m_tail = nullptr;
    size_t m_size = 0;
};

// Total segments and bytes of a merged chain.
uint32_t chain_segments(const Request& first);
uint64_t chain_bytes(const Request& first);

} // namespace block
