// AddressSpace implementation: VMA placement, carving, splitting and merging (with object
// offsets and references), and the fault decision.
#include <mm/vma.h>

#include <new>

namespace mm {

namespace {

constexpr uint64_t round_down_to(uint64_t x, uint64_t align) { return x & ~(align - 1); }

// Two adjacent VMAs that may become one: a single VMA describes both ranges. For objects that
// needs b's offset to continue a's (a.offset + a.size() cannot wrap: see map_object).
bool can_merge(const Vma& a, const Vma& b)
{
    if (a.end != b.start || a.kind != b.kind || a.prot != b.prot || a.max_prot != b.max_prot)
        return false;
    if (a.kind != VmaKind::Object)
        return true;
    return a.object == b.object && a.shared == b.shared && a.offset + a.size() == b.offset;
}

// Copies everything but the range and the tree links.
void copy_attributes(Vma& to, const Vma& from)
{
    to.prot = from.prot;
    to.max_prot = from.max_prot;
    to.kind = from.kind;
    to.shared = from.shared;
    to.object = from.object;
    to.offset = from.offset;
}

} // namespace

// VMA nodes an operation may need, allocated up front so that the operation itself cannot
// fail half-way. Unused nodes go back to the allocator when the reserve goes out of scope.
class AddressSpace::NodeReserve {
public:
    explicit NodeReserve(VmaAllocator& allocator) : m_allocator(allocator) {}
    NodeReserve(const NodeReserve&) = delete;
    NodeReserve& operator=(const NodeReserve&) = delete;
    ~NodeReserve()
    {
        while (m_count > 0)
            m_allocator.deallocate(m_nodes[--m_count]);
    }

    Result<void> fill(unsigned n)
    {
        NIMBUS_ASSERT(n <= kMax);
        while (m_count < n) {
            void* p = m_allocator.allocate(sizeof(Vma), alignof(Vma));
            if (!p)
                return Errno::NOMEM;
            m_nodes[m_count++] = p;
        }
        return {};
    }

    Vma* take()
    {
        NIMBUS_ASSERT(m_count > 0); // the caller reserved enough
        return new (m_nodes[--m_count]) Vma();
    }

private:
    static constexpr unsigned kMax = 2;
    VmaAllocator& m_allocator;
    void* m_nodes[kMax];
    unsigned m_count = 0;
};

AddressSpace::AddressSpace(VmaAllocator& allocator, uint64_t base, uint64_t limit)
    : m_allocator(allocator), m_base(base), m_limit(limit)
{
    NIMBUS_ASSERT(base < limit && base % kSize4K == 0 && limit % kSize4K == 0);
}

AddressSpace::~AddressSpace()
{
    m_vmas.clear([this](Vma& v) { free_vma(&v); });
}

void AddressSpace::free_vma(Vma* v)
{
    if (v->object)
        v->object->release();
    v->~Vma();
    m_allocator.deallocate(v);
}

Result<uint64_t> AddressSpace::map_anonymous(uint64_t hint, uint64_t size, Protection prot, MapFlags flags)
{
    if (!is_valid(prot))
        return Errno::INVAL;
    Vma proto;
    proto.prot = prot;
    return place(hint, size, flags, proto);
}

Result<uint64_t> AddressSpace::map_object(uint64_t hint, uint64_t size, Protection prot, MapFlags flags,
                                          MemoryObject& object, uint64_t offset, bool shared, Protection max_prot)
{
    if (!is_valid(prot) || !is_valid(max_prot) || offset % kSize4K != 0)
        return Errno::INVAL;
    // The last page's offset must not wrap: round_up(size) ≤ 2^64 − 1 − offset. As offset is
    // page-aligned, that bound is (a multiple of 4 KiB) + 4095, hence the − (kSize4K − 1).
    if (size > ~uint64_t(0) - offset - (kSize4K - 1))
        return Errno::INVAL;
    if (!has_all(max_prot, prot))
        return Errno::ACCES;
    Vma proto;
    proto.prot = prot;
    proto.max_prot = max_prot;
    proto.kind = VmaKind::Object;
    proto.shared = shared;
    proto.object = &object;
    proto.offset = offset;
    return place(hint, size, flags, proto);
}

Result<uint64_t> AddressSpace::reserve(uint64_t hint, uint64_t size, VmaKind kind, MapFlags flags)
{
    if (kind != VmaKind::Guard && kind != VmaKind::Reserved)
        return Errno::INVAL;
    Vma proto;
    proto.prot = Protection::None;
    proto.max_prot = Protection::None;
    proto.kind = kind;
    return place(hint, size, flags, proto);
}

Result<uint64_t> AddressSpace::place(uint64_t hint, uint64_t size, MapFlags flags, const Vma& proto)
{
    if (size == 0)
        return Errno::INVAL;
    if (size > m_limit - m_base)
        return Errno::NOMEM;
    size = (size + kSize4K - 1) & ~(kSize4K - 1); // cannot overflow: size ≤ limit − base
    bool fixed = has_flag(flags, MapFlags::Fixed) || has_flag(flags, MapFlags::FixedNoReplace);
    uint64_t start;
    if (fixed) {
        if (hint % kSize4K != 0)
            return Errno::INVAL;
        if (hint < m_base || hint > m_limit || size > m_limit - hint)
            return Errno::NOMEM;
        start = hint;
        if (has_flag(flags, MapFlags::FixedNoReplace) && !range_is_free(start, start + size))
            return Errno::EXIST;
    } else {
        uint64_t h = round_down_to(hint, kSize4K);
        if (h >= m_base && h <= m_limit && size <= m_limit - h && range_is_free(h, h + size)) {
            start = h;
        } else {
            start = find_gap(size, size >= kSize2M ? kSize2M : kSize4K);
            if (start == 0 && size >= kSize2M)
                start = find_gap(size, kSize4K);
            if (start == 0)
                return Errno::NOMEM;
        }
    }
    uint64_t end = start + size;

    // A fixed mapping strictly inside an existing VMA splits it: one node for the upper part,
    // one for the new VMA.
    NodeReserve nodes(m_allocator);
    TRY(nodes.fill(fixed ? 2 : 1));
    // Nothing can fail from here on. Take the new node's reference before carving, which may
    // drop the last references other nodes held to the same object.
    if (proto.object)
        proto.object->acquire();
    if (fixed)
        carve(start, end, nodes);
    Vma* v = nodes.take();
    v->start = start;
    v->end = end;
    copy_attributes(*v, proto);
    bool inserted = m_vmas.insert(*v);
    NIMBUS_ASSERT(inserted); // the range was free or carved
    merge_range(start, end);
    return start;
}

Result<void> AddressSpace::check_range(uint64_t addr, uint64_t size, uint64_t& end) const
{
    if (addr % kSize4K != 0 || size == 0 || size > m_limit)
        return Errno::INVAL;
    size = (size + kSize4K - 1) & ~(kSize4K - 1);
    if (addr > m_limit || size > m_limit - addr)
        return Errno::INVAL;
    end = addr + size;
    return {};
}

Result<void> AddressSpace::unmap(uint64_t addr, uint64_t size)
{
    uint64_t end;
    TRY(check_range(addr, size, end));
    const Vma* v = find(addr);
    NodeReserve nodes(m_allocator);
    TRY(nodes.fill(v && v->start < addr && v->end > end ? 1 : 0));
    carve(addr, end, nodes);
    return {};
}

Result<void> AddressSpace::protect(uint64_t addr, uint64_t size, Protection prot)
{
    if (!is_valid(prot))
        return Errno::INVAL;
    uint64_t end;
    auto range = check_range(addr, size, end);
    if (range.is_error())
        return addr % kSize4K != 0 || size == 0 ? Errno::INVAL : Errno::NOMEM;

    // Validate everything before changing anything: no holes, only anonymous and object
    // memory, nothing beyond a VMA's max_prot. The first problem in address order decides the
    // error, as on Linux.
    uint64_t cursor = addr;
    for (const Vma* v = find(addr); cursor < end; v = Tree::next(*v)) {
        if (!v || v->start > cursor)
            return Errno::NOMEM;
        if (v->kind != VmaKind::Anonymous && v->kind != VmaKind::Object)
            return Errno::ACCES;
        if (!has_all(v->max_prot, prot))
            return Errno::ACCES;
        cursor = v->end;
    }

    // Edge VMAs that extend past the range and whose protection changes are split.
    const Vma* first = find(addr);
    const Vma* last = find(end - 1);
    bool split_first = first->start < addr && first->prot != prot;
    bool split_last = last->end > end && last->prot != prot;
    NodeReserve nodes(m_allocator);
    TRY(nodes.fill(unsigned(split_first) + unsigned(split_last)));
    if (split_first)
        split_at(addr, nodes);
    if (split_last)
        split_at(end, nodes);
    for (Vma* v = find_mutable(addr); v && v->start < end; v = Tree::next(*v)) {
        if (v->start >= addr && v->end <= end)
            v->prot = prot; // an unsplit edge VMA already has `prot`
    }
    merge_range(addr, end);
    return {};
}

const Vma* AddressSpace::find(uint64_t addr) const { return find_mutable(addr); }

Protection Vma::pte_protection(bool object_page) const
{
    if (kind != VmaKind::Object || shared || !object_page)
        return prot;
    Protection p = prot & ~Protection::Write;
    return p == Protection::None && prot != Protection::None ? Protection::Read : p;
}

Vma* AddressSpace::find_mutable(uint64_t addr) const
{
    Vma* v = m_vmas.floor(addr);
    return v && addr < v->end ? v : nullptr;
}

FaultResolution AddressSpace::resolve_fault(uint64_t addr, Access access) const
{
    FaultResolution r;
    const Vma* v = find(addr);
    r.vma = v;
    if (!v) {
        r.kind = FaultResolution::Kind::NoVma;
        return r;
    }
    if (v->kind == VmaKind::Guard) {
        r.kind = FaultResolution::Kind::GuardHit;
        return r;
    }
    bool allowed = false;
    if (v->kind == VmaKind::Anonymous || v->kind == VmaKind::Object) {
        switch (access) {
        case Access::Read:
            allowed = v->prot != Protection::None;
            break;
        case Access::Write:
            allowed = has_all(v->prot, Protection::Write);
            break;
        case Access::Exec:
            allowed = has_all(v->prot, Protection::Exec);
            break;
        }
    }
    if (!allowed) {
        r.kind = FaultResolution::Kind::ProtectionViolation;
        return r;
    }
    if (v->kind == VmaKind::Object) {
        // 4 KiB only: the object's pages need not be physically contiguous.
        r.base = round_down_to(addr, kSize4K);
        r.size = kSize4K;
        r.object = v->object;
        r.object_offset = v->object_offset(addr);
        if (v->shared || access != Access::Write) {
            r.kind = FaultResolution::Kind::MapObjectPage;
            r.prot = v->pte_protection(true);
        } else {
            r.kind = FaultResolution::Kind::CopyOnWrite;
            r.prot = v->prot;
        }
        return r;
    }
    r.kind = FaultResolution::Kind::Populate;
    r.prot = v->prot;
    uint64_t huge = round_down_to(addr, kSize2M);
    if (huge >= v->start && v->end - huge >= kSize2M) {
        r.base = huge;
        r.size = kSize2M;
    } else {
        r.base = round_down_to(addr, kSize4K);
        r.size = kSize4K;
    }
    return r;
}

bool AddressSpace::range_is_free(uint64_t start, uint64_t end) const
{
    // The last VMA starting before `end` is the only candidate: VMAs are disjoint and sorted.
    const Vma* v = m_vmas.floor(end - 1);
    return !v || v->end <= start;
}

uint64_t AddressSpace::find_gap(uint64_t size, uint64_t align) const
{
    // Gaps from the top down: [v.end, next.start), the topmost ending at m_limit, the lowest
    // starting at m_base. m_base > 0 is page-aligned, so 0 is free to mean "none" — unless
    // base is 0, in which case a gap at 0 is reported as none (harmless: no application maps
    // page 0).
    uint64_t gap_end = m_limit;
    for (const Vma* v = m_vmas.last();; v = Tree::prev(*v)) {
        uint64_t gap_start = v ? v->end : m_base;
        if (gap_end - gap_start >= size) {
            uint64_t candidate = round_down_to(gap_end - size, align);
            if (candidate >= gap_start)
                return candidate;
        }
        if (!v)
            return 0;
        gap_end = v->start;
    }
}

// Removes [start, end) from every VMA. Needs a node only if one VMA strictly contains the
// range (it becomes two).
void AddressSpace::carve(uint64_t start, uint64_t end, NodeReserve& nodes)
{
    Vma* v = find_mutable(start);
    if (v && v->start < start) {
        if (v->end > end) {
            split_off_upper(*v, end, nodes); // v is now [v.start, end)
            v->end = start;
            return;
        }
        v->end = start;
    }
    for (Vma* w = m_vmas.lower_bound(start); w && w->start < end;) {
        Vma* next = Tree::next(*w);
        if (w->end <= end) {
            m_vmas.erase(*w);
            free_vma(w);
        } else {
            // Moving the key up to `end` keeps the order: end < w->end ≤ next->start. The
            // pages that stay keep their object offsets.
            if (w->kind == VmaKind::Object)
                w->offset += end - w->start;
            w->start = end;
        }
        w = next;
    }
}

// Splits the VMA strictly containing addr (if any) into [start, addr) and [addr, end).
void AddressSpace::split_at(uint64_t addr, NodeReserve& nodes)
{
    Vma* v = find_mutable(addr);
    if (!v || v->start == addr)
        return;
    split_off_upper(*v, addr, nodes);
}

void AddressSpace::split_off_upper(Vma& v, uint64_t at, NodeReserve& nodes)
{
    Vma* upper = nodes.take();
    upper->start = at;
    upper->end = v.end;
    copy_attributes(*upper, v);
    if (v.kind == VmaKind::Object) {
        upper->offset = v.object_offset(at);
        v.object->acquire(); // the upper node's own reference
    }
    v.end = at;
    bool inserted = m_vmas.insert(*upper);
    NIMBUS_ASSERT(inserted);
}

// Merges every mergeable neighbour pair among the VMAs touching [start, end], including the
// ones just outside its edges. Restores the "always merged" invariant after a change there.
void AddressSpace::merge_range(uint64_t start, uint64_t end)
{
    Vma* v = start > 0 ? m_vmas.floor(start - 1) : nullptr;
    if (!v)
        v = m_vmas.first();
    while (v && v->start <= end) {
        Vma* n = Tree::next(*v);
        if (n && can_merge(*v, *n)) {
            v->end = n->end;
            m_vmas.erase(*n);
            free_vma(n);
        } else {
            v = n;
        }
    }
}

bool AddressSpace::check_invariants() const
{
    if (!m_vmas.check_invariants())
        return false;
    const Vma* prev = nullptr;
    for (const Vma& v : m_vmas) {
        if (v.start >= v.end || v.start % kSize4K || v.end % kSize4K || v.start < m_base || v.end > m_limit)
            return false;
        if (!is_valid(v.prot) || !is_valid(v.max_prot) || !has_all(v.max_prot, v.prot))
            return false;
        switch (v.kind) {
        case VmaKind::Anonymous:
            if (v.object || v.offset || v.shared)
                return false;
            break;
        case VmaKind::Object:
            if (!v.object || v.offset % kSize4K || v.size() > ~uint64_t(0) - v.offset)
                return false;
            break;
        case VmaKind::Guard:
        case VmaKind::Reserved:
            if (v.object || v.offset || v.shared || v.prot != Protection::None || v.max_prot != Protection::None)
                return false;
            break;
        default:
            return false;
        }
        if (prev && (prev->end > v.start || can_merge(*prev, v)))
            return false;
        prev = &v;
    }
    return true;
}

} // namespace mm
