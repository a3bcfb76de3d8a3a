// PageTree: the pages of one ramfs file, as a radix tree from page index to data page, so
// sparse files cost only what they store (a byte at 1 TiB: one data page and four nodes).
//
// Shape. Every node is one page from the PageProvider holding kFanout (512) pointers; a tree
// of height h indexes 512^h pages, the leaf level pointing at data pages. The height grows on
// demand (a new root whose slot 0 is the old root), up to kMaxHeight (4 levels: 2^36 pages,
// 2^48 bytes); it never shrinks except to 0 when everything is freed. Empty slots are holes.
//
// It does no accounting and takes no locks: the owning RamFile counts pages against the
// filesystem's limit and serialises calls with its lock. Recursion (freeing) is bounded by
// kMaxHeight.
#pragma once

#include <fs/page_provider.h>
#include <lib/result.h>

#include <stddef.h>
#include <stdint.h>

namespace fs::ramfs {

class PageTree {
public:
    static constexpr unsigned kFanoutShift = 9;
    static constexpr uint64_t kFanout = uint64_t(1) << kFanoutShift; // 512 = kPageSize / 8
    static constexpr unsigned kMaxHeight = 4;
    // One past the largest page index the tree can hold.
    static constexpr uint64_t kMaxPages = uint64_t(1) << (kFanoutShift * kMaxHeight);

    explicit PageTree(PageProvider& pages) : m_pages(pages) {}
    PageTree(const PageTree&) = delete;
    PageTree& operator=(const PageTree&) = delete;
    // Frees every page and node.
    ~PageTree() { free_from(0); }

    // The data page at `index`, or nullptr for a hole.
    void* find(uint64_t index) const;
    // The data page at `index`, allocating it (zero-filled) and any missing nodes. `created`
    // tells whether it was a hole. NOMEM leaves the contents unchanged (nodes allocated on
    // the way may stay, empty). INVAL for index ≥ kMaxPages.
    Result<void*> find_or_create(uint64_t index, bool& created);
    // Frees the data pages at indices ≥ first (and the nodes under them); returns how many
    // data pages were freed.
    uint64_t free_from(uint64_t first);

    uint64_t data_pages() const { return m_data_pages; }
    // Nodes (not data) currently allocated, for tests.
    uint64_t node_pages() const { return m_node_pages; }

private:
    // Capacity of a subtree `height` levels tall, in pages.
    static uint64_t span(unsigned height) { return uint64_t(1) << (kFanoutShift * height); }
    uint64_t free_subtree(void** node, unsigned height, uint64_t base, uint64_t first);

    PageProvider& m_pages;
    void** m_root = nullptr;
    unsigned m_height = 0;
    uint64_t m_data_pages = 0;
    uint64_t m_node_pages = 0;
};

} // namespace fs::ramfs
