// RangeTree: a small intrusive AVL tree of nodes ordered by a 64-bit key, used by kernel/mm to
// keep free page runs in address order.
//
// Intrusive: the caller embeds RangeTreeNode in its own struct (for the physical allocator the
// node lives inside the free memory it describes), so the tree never allocates and every
// operation is O(log n) pointer work. Keys are unique; the tree does not own its nodes.
//
// Invariants (checked by verify()):
//  - in-order traversal yields strictly increasing keys;
//  - every node's parent pointer matches the link that reaches it;
//  - every node's height is 1 + max(child heights), and the two child heights differ by <= 1,
//    which bounds the depth by ~1.44 log2(n).
//
// Not thread-safe: the owner serialises access.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace mm {

struct RangeTreeNode {
    RangeTreeNode* left = nullptr;
    RangeTreeNode* right = nullptr;
    RangeTreeNode* parent = nullptr;
    uint64_t key = 0;
    int32_t height = 1; // of the subtree rooted here, a leaf is 1
};

class RangeTree {
public:
    constexpr RangeTree() = default;
    RangeTree(const RangeTree&) = delete;
    RangeTree& operator=(const RangeTree&) = delete;

    bool is_empty() const { return m_root == nullptr; }
    size_t size() const { return m_size; }

    // Link `node` (whose key is set and which is in no tree) into the tree. Its key must not
    // already be present (asserted).
    void insert(RangeTreeNode* node);
    // Unlink `node`, which must be in this tree.
    void erase(RangeTreeNode* node);
    // Put `replacement` (in no tree, key set) exactly where `old` is and unlink `old`. O(1).
    // The caller guarantees that replacement->key sorts between old's neighbours.
    void replace(RangeTreeNode* old, RangeTreeNode* replacement);

    // The node with the largest key <= key, or nullptr.
    RangeTreeNode* find_le(uint64_t key) const;
    // The node with the smallest key > key, or nullptr.
    RangeTreeNode* find_gt(uint64_t key) const;

    RangeTreeNode* first() const;
    static RangeTreeNode* next(const RangeTreeNode* node);
    static RangeTreeNode* prev(const RangeTreeNode* node);

    // Check every invariant listed in the header comment; for tests and debug builds. O(n).
    bool verify() const;

private:
    static int32_t height(const RangeTreeNode* n) { return n ? n->height : 0; }
    static void update_height(RangeTreeNode* n);
    // Make `parent` (or the root, if parent is null) point at `new_child` instead of `old_child`.
    void relink(RangeTreeNode* parent, const RangeTreeNode* old_child, RangeTreeNode* new_child);
    RangeTreeNode* rotate_left(RangeTreeNode* x);
    RangeTreeNode* rotate_right(RangeTreeNode* x);
    // Restore heights and balance from `n` up to the root.
    void rebalance_upwards(RangeTreeNode* n);
    static int32_t verify_subtree(const RangeTreeNode* n, const RangeTreeNode* parent, bool has_lo,
                                  uint64_t lo, bool has_hi, uint64_t hi, size_t& count);

    RangeTreeNode* m_root = nullptr;
    size_t m_size = 0;
};

} // namespace mm
