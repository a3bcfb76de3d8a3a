// IntrusiveAvlTree: an ordered set of caller-owned objects kept in an AVL tree whose links live
// inside the objects, so inserting never allocates and therefore never fails.
//
// Usage: derive the element type from lib::AvlLink<Tag> (one base per tree the object can be
// in; Tag tells them apart) and name a key extractor:
//
//     struct Vma : lib::AvlLink<> { uint64_t start; ... };
//     struct VmaStart { uint64_t operator()(const Vma& v) const { return v.start; } };
//     lib::IntrusiveAvlTree<Vma, VmaStart> tree;
//
// Keys are compared with `<` only and must be unique within a tree (insert() refuses a
// duplicate). A key must not change while its object is linked.
//
// Invariants (checked by check_invariants()): in-order traversal is strictly increasing by
// key; every node's height is 1 + the larger of its children's heights (an empty subtree has
// height 0); the heights of a node's two subtrees differ by at most 1, which bounds the tree's
// height by ~1.44·log2(n+2), so every operation below is O(log n) (iteration steps are
// amortised O(1)). Parent pointers let erase(), replace() and next()/prev() work from a node
// alone.
//
// Not synchronised: the owner serialises access. Objects must be erased (or the tree
// cleared) before they are destroyed.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <utility>

namespace lib {

template<typename Tag = void>
struct AvlLink {
    AvlLink* avl_parent = nullptr;
    AvlLink* avl_left = nullptr;
    AvlLink* avl_right = nullptr;
    uint8_t avl_height = 0; // 0 ⇔ not in a tree

    bool is_linked() const { return avl_height != 0; }
};

template<typename T, typename KeyOf, typename Tag = void>
class IntrusiveAvlTree {
    using Link = AvlLink<Tag>;

public:
    using Key = decltype(KeyOf{}(std::declval<const T&>()));

    IntrusiveAvlTree() = default;
    IntrusiveAvlTree(const IntrusiveAvlTree&) = delete;
    IntrusiveAvlTree& operator=(const IntrusiveAvlTree&) = delete;

    bool empty() const { return m_root == nullptr; }
    size_t size() const { return m_size; }
    // Height of the tree (0 when empty).
    unsigned height() const { return h(m_root); }

    // Links `node` (which must not be in a tree). Returns false, leaving everything unchanged,
    // if an element with the same key is already present.
    bool insert(T& node)
    {
        Link* n = &node;
        const Key key = key_of(n);
        Link* parent = nullptr;
        Link** slot = &m_root;
        while (*slot) {
            parent = *slot;
            Key k = key_of(parent);
            if (key < k)
                slot = &parent->avl_left;
            else if (k < key)
                slot = &parent->avl_right;
            else
                return false;
        }
        n->avl_parent = parent;
        n->avl_left = n->avl_right = nullptr;
        n->avl_height = 1;
        *slot = n;
        m_size++;
        rebalance_upwards(parent);
        return true;
    }

    // Unlinks `node`, which must be in this tree.
    void erase(T& node)
    {
        Link* n = &node;
        Link* fix_from;
        if (!n->avl_left || !n->avl_right) {
            Link* child = n->avl_left ? n->avl_left : n->avl_right;
            fix_from = n->avl_parent;
            replace_child(n->avl_parent, n, child);
            if (child)
                child->avl_parent = n->avl_parent;
        } else {
            // Two children: the in-order successor s (leftmost of the right subtree, so it
            // has no left child) takes n's place.
            Link* s = n->avl_right;
            while (s->avl_left)
                s = s->avl_left;
            if (s->avl_parent != n) {
                fix_from = s->avl_parent;
                fix_from->avl_left = s->avl_right;
                if (s->avl_right)
                    s->avl_right->avl_parent = fix_from;
                s->avl_right = n->avl_right;
                n->avl_right->avl_parent = s;
            } else {
                fix_from = s;
            }
            s->avl_left = n->avl_left;
            n->avl_left->avl_parent = s;
            s->avl_parent = n->avl_parent;
            s->avl_height = n->avl_height;
            replace_child(n->avl_parent, n, s);
        }
        n->avl_parent = n->avl_left = n->avl_right = nullptr;
        n->avl_height = 0;
        m_size--;
        rebalance_upwards(fix_from);
    }

    // Puts `replacement` (which must not be in a tree) exactly where `old` (which must be in
    // this tree) is, and unlinks `old`. O(1): no comparisons, no rebalancing. Precondition:
    // replacement's key sorts strictly between the keys of old's in-order neighbours, so the
    // order is unchanged (check_invariants() catches a violation). For moving a node whose
    // storage changes along with its key, e.g. a free-run header that moves with the run start.
    void replace(T& old, T& replacement)
    {
        Link* o = &old;
        Link* r = &replacement;
        r->avl_parent = o->avl_parent;
        r->avl_left = o->avl_left;
        r->avl_right = o->avl_right;
        r->avl_height = o->avl_height;
        if (r->avl_left)
            r->avl_left->avl_parent = r;
        if (r->avl_right)
            r->avl_right->avl_parent = r;
        replace_child(o->avl_parent, o, r);
        o->avl_parent = o->avl_left = o->avl_right = nullptr;
        o->avl_height = 0;
    }

    T* find(const Key& key) const
    {
        Link* n = m_root;
        while (n) {
            Key k = key_of(n);
            if (key < k)
                n = n->avl_left;
            else if (k < key)
                n = n->avl_right;
            else
                return to_t(n);
        }
        return nullptr;
    }

    // First element with key ≥ `key`, or nullptr.
    T* lower_bound(const Key& key) const
    {
        Link* best = nullptr;
        for (Link* n = m_root; n;) {
            if (key_of(n) < key) {
                n = n->avl_right;
            } else {
                best = n;
                n = n->avl_left;
            }
        }
        return to_t(best);
    }

    // First element with key > `key`, or nullptr.
    T* upper_bound(const Key& key) const
    {
        Link* best = nullptr;
        for (Link* n = m_root; n;) {
            if (key < key_of(n)) {
                best = n;
                n = n->avl_left;
            } else {
                n = n->avl_right;
            }
        }
        return to_t(best);
    }

    // Last element with key ≤ `key`, or nullptr.
    T* floor(const Key& key) const
    {
        Link* best = nullptr;
        for (Link* n = m_root; n;) {
            if (key < key_of(n)) {
                n = n->avl_left;
            } else {
                best = n;
                n = n->avl_right;
            }
        }
        return to_t(best);
    }

    T* first() const { return m_root ? to_t(leftmost(m_root)) : nullptr; }
    T* last() const { return m_root ? to_t(rightmost(m_root)) : nullptr; }

    // In-order successor / predecessor of a linked node, or nullptr at the ends.
    static T* next(const T& node)
    {
        const Link* n = &node;
        if (n->avl_right)
            return to_t(leftmost(n->avl_right));
        while (n->avl_parent && n->avl_parent->avl_right == n)
            n = n->avl_parent;
        return to_t(n->avl_parent);
    }
    static T* prev(const T& node)
    {
        const Link* n = &node;
        if (n->avl_left)
            return to_t(rightmost(n->avl_left));
        while (n->avl_parent && n->avl_parent->avl_left == n)
            n = n->avl_parent;
        return to_t(n->avl_parent);
    }

    // Bidirectional in-order iterator; end() decrements to the last element.
    class Iterator {
    public:
        Iterator(const IntrusiveAvlTree* tree, T* node) : m_tree(tree), m_node(node) {}
        T& operator*() const { return *m_node; }
        T* operator->() const { return m_node; }
        Iterator& operator++()
        {
            m_node = next(*m_node);
            return *this;
        }
        Iterator& operator--()
        {
            m_node = m_node ? prev(*m_node) : m_tree->last();
            return *this;
        }
        bool operator==(const Iterator& o) const { return m_node == o.m_node; }

    private:
        const IntrusiveAvlTree* m_tree;
        T* m_node;
    };
    Iterator begin() const { return Iterator(this, first()); }
    Iterator end() const { return Iterator(this, nullptr); }

    // Unlinks every element, calling dispose(T&) on each after it is unlinked (post-order, so
    // dispose may free it). O(n), no rebalancing.
    template<typename F>
    void clear(F&& dispose)
    {
        Link* n = m_root;
        while (n) {
            if (n->avl_left) {
                n = n->avl_left;
            } else if (n->avl_right) {
                n = n->avl_right;
            } else {
                Link* parent = n->avl_parent;
                if (parent)
                    (parent->avl_left == n ? parent->avl_left : parent->avl_right) = nullptr;
                n->avl_parent = nullptr;
                n->avl_height = 0;
                dispose(*to_t(n));
                n = parent;
            }
        }
        m_root = nullptr;
        m_size = 0;
    }

    // Verifies ordering, parent links, heights, balance and the element count. For tests and
    // debug self-checks; O(n).
    bool check_invariants() const
    {
        size_t count = 0;
        if (m_root && m_root->avl_parent)
            return false;
        if (check_subtree(m_root, count) < 0 || count != m_size)
            return false;
        for (T* a = first(); a; a = next(*a)) {
            T* b = next(*a);
            if (b && !(KeyOf{}(*a) < KeyOf{}(*b)))
                return false;
        }
        return true;
    }

private:
    static T* to_t(const Link* n) { return n ? static_cast<T*>(const_cast<Link*>(n)) : nullptr; }
    static Key key_of(const Link* n) { return KeyOf{}(*to_t(n)); }
    static unsigned h(const Link* n) { return n ? n->avl_height : 0; }
    static const Link* leftmost(const Link* n)
    {
        while (n->avl_left)
            n = n->avl_left;
        return n;
    }
    static const Link* rightmost(const Link* n)
    {
        while (n->avl_right)
            n = n->avl_right;
        return n;
    }
    static void update_height(Link* n)
    {
        unsigned l = h(n->avl_left), r = h(n->avl_right);
        n->avl_height = uint8_t(1 + (l > r ? l : r));
    }

    void replace_child(Link* parent, Link* old_child, Link* new_child)
    {
        if (!parent)
            m_root = new_child;
        else if (parent->avl_left == old_child)
            parent->avl_left = new_child;
        else
            parent->avl_right = new_child;
    }

    // Rotations return the subtree's new root; they fix parent links and heights.
    Link* rotate_left(Link* x)
    {
        Link* y = x->avl_right;
        x->avl_right = y->avl_left;
        if (y->avl_left)
            y->avl_left->avl_parent = x;
        y->avl_parent = x->avl_parent;
        replace_child(x->avl_parent, x, y);
        y->avl_left = x;
        x->avl_parent = y;
        update_height(x);
        update_height(y);
        return y;
    }
    Link* rotate_right(Link* x)
    {
        Link* y = x->avl_left;
        x->avl_left = y->avl_right;
        if (y->avl_right)
            y->avl_right->avl_parent = x;
        y->avl_parent = x->avl_parent;
        replace_child(x->avl_parent, x, y);
        y->avl_right = x;
        x->avl_parent = y;
        update_height(x);
        update_height(y);
        return y;
    }

    // Restores heights and balance from `n` up to the root. A single pass is enough: after an
    // insert or erase every subtree on the path is off by at most 2, which one single or
    // double rotation repairs. (Walking all the way up instead of stopping early keeps the
    // code simple; the path is O(log n) long.)
    void rebalance_upwards(Link* n)
    {
        while (n) {
            int balance = int(h(n->avl_left)) - int(h(n->avl_right));
            if (balance > 1) {
                if (h(n->avl_left->avl_left) < h(n->avl_left->avl_right))
                    rotate_left(n->avl_left);
                n = rotate_right(n);
            } else if (balance < -1) {
                if (h(n->avl_right->avl_right) < h(n->avl_right->avl_left))
                    rotate_right(n->avl_right);
                n = rotate_left(n);
            } else {
                update_height(n);
            }
            n = n->avl_parent;
        }
    }

    // Height of the subtree if it is valid, else -1.
    static int check_subtree(const Link* n, size_t& count)
    {
        if (!n)
            return 0;
        count++;
        if ((n->avl_left && n->avl_left->avl_parent != n) || (n->avl_right && n->avl_right->avl_parent != n))
            return -1;
        int l = check_subtree(n->avl_left, count);
        int r = check_subtree(n->avl_right, count);
        if (l < 0 || r < 0 || l - r > 1 || r - l > 1)
            return -1;
        int height = 1 + (l > r ? l : r);
        return height == n->avl_height ? height : -1;
    }

    Link* m_root = nullptr;
    size_t m_size = 0;
};

} // namespace lib
