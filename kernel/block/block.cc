// The block layer's portable part (block.h): request checks and the merging queue.
#include <block/block.h>

namespace block {

const char* op_name(Op op)
{
    switch (op) {
    case Op::Read: return "read";
    case Op::Write: return "write";
    case Op::Flush: return "flush";
    case Op::Discard: return "discard";
    case Op::WriteZeroes: return "write-zeroes";
    }
    return "?";
}

void Device::set_name(const char* name)
{
    size_t i = 0;
    for (; name[i] && i + 1 < sizeof m_name; ++i)
        m_name[i] = name[i];
    m_name[i] = 0;
}

lib::Errno Device::validate(const Request& r) const
{
    const Geometry& g = m_geometry;
    bool writes = r.op != Op::Read && r.op != Op::Flush;
    if (writes && g.read_only)
        return lib::Errno::ROFS;
    switch (r.op) {
    case Op::Flush:
        if (r.sectors != 0 || r.segment_count != 0)
            return lib::Errno::INVAL;
        return lib::Errno(0); // a device without a volatile cache completes it at once
    case Op::Discard:
    case Op::WriteZeroes:
        if ((r.op == Op::Discard && !g.discard) || (r.op == Op::WriteZeroes && !g.write_zeroes))
            return lib::Errno::NOTSUP;
        if (r.segment_count != 0 || (g.max_discard_sectors && r.sectors > g.max_discard_sectors))
            return lib::Errno::INVAL;
        break;
    case Op::Read:
    case Op::Write: {
        if (r.segment_count == 0 || !r.segments || r.segment_count > g.max_segments)
            return lib::Errno::INVAL;
        uint64_t bytes = 0;
        for (uint16_t i = 0; i < r.segment_count; ++i) {
            if (r.segments[i].bytes == 0 || r.segments[i].bytes > g.max_segment_bytes)
                return lib::Errno::INVAL;
            bytes += r.segments[i].bytes;
        }
        if (bytes != uint64_t(r.sectors) << kSectorShift || bytes > g.max_request_bytes)
            return lib::Errno::INVAL;
        break;
    }
    }
    if (r.sectors == 0 || r.sector >= g.sectors || r.sectors > g.sectors - r.sector)
        return lib::Errno::INVAL;
    uint32_t block_sectors = g.logical_block_size >> kSectorShift;
    if (block_sectors > 1 && ((r.sector % block_sectors) || (r.sectors % block_sectors)))
        return lib::Errno::INVAL;
    return lib::Errno(0);
}

void RequestQueue::push(Request& request)
{
    request.next_in_queue = nullptr;
    request.next_merged = nullptr;
    if (m_tail)
        m_tail->next_in_queue = &request;
    else
        m_head = &request;
    m_tail = &request;
    ++m_size;
}

Request* RequestQueue::pop_merged(const Geometry& g)
{
    Request* first = m_head;
    if (!first)
        return nullptr;
    m_head = first->next_in_queue;
    if (!m_head)
        m_tail = nullptr;
    --m_size;
    first->next_in_queue = nullptr;
    first->next_merged = nullptr;
    if (first->op != Op::Read && first->op != Op::Write)
        return first;

    Request* last = first;
    uint64_t end = first->sector + first->sectors;
    uint32_t segments = first->segment_count;
    uint64_t bytes = uint64_t(first->sectors) << kSectorShift;
    while (Request* next = m_head) {
        uint64_t next_bytes = uint64_t(next->sectors) << kSectorShift;
        if (next->op != first->op || next->sector != end || segments + next->segment_count > g.max_segments ||
            bytes + next_bytes > g.max_request_bytes)
            break;
        m_head = next->next_in_queue;
        if (!m_head)
            m_tail = nullptr;
        --m_size;
        next->next_in_queue = nullptr;
        next->next_merged = nullptr;
        last->next_merged = next;
        last = next;
        end += next->sectors;
        segments += next->segment_count;
        bytes += next_bytes;
    }
    return first;
}

uint32_t chain_segments(const Request& first)
{
    uint32_t n = 0;
    for (const Request* r = &first; r; r = r->next_merged)
        n += r->segment_count;
    return n;
}

uint64_t chain_bytes(const Request& first)
{
    uint64_t n = 0;
    for (const Request* r = &first; r; r = r->next_merged)
        n += uint64_t(r->sectors) << kSectorShift;
    return n;
}

} // namespace block
