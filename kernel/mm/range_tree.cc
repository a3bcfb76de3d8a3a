// RangeTree: intrusive AVL tree (see range_tree.h for the invariants).
#include <mm/range_tree.h>

#include <lib/assert.h>

namespace mm {

void RangeTree::update_height(RangeTreeNode* n)
{
    int32_t l = height(n->left);
    int32_t r = height(n->right);
    n->height = 1 + (l > r ? l : r);
}

void RangeTree::relink(RangeTreeNode* parent, const RangeTreeNode* old_child, RangeTreeNode* new_child)
{
    if (!parent)
        m_root = new_child;
    else if (parent->left == old_child)
        parent->left = new_child;
    else
        parent->right = new_child;
}

// Left rotation about x: x's right child y becomes the subtree root, x becomes y's left child
// and y's former left subtree becomes x's right subtree. In-order sequence is unchanged.
RangeTreeNode* RangeTree::rotate_left(RangeTreeNode* x)
{
    RangeTreeNode* y = x->right;
    x->right = y->left;
    if (y->left)
        y->left->parent = x;
    y->parent = x->parent;
    relink(x->parent, x, y);
    y->left = x;
    x->parent = y;
    update_height(x);
    update_height(y);
    return y;
}

RangeTreeNode* RangeTree::rotate_right(RangeTreeNode* x)
{
    RangeTreeNode* y = x->left;
    x->left = y->right;
    if (y->right)
        y->right->parent = x;
    y->parent = x->parent;
    relink(x->parent, x, y);
    y->right = x;
    x->parent = y;
    update_height(x);
    update_height(y);
    return y;
}

void RangeTree::rebalance_upwards(RangeTreeNode* n)
{
    // Walk all the way up rather than stopping early once a height is unchanged: the path is
    // O(log n) long anyway and the simpler loop is easier to trust.
    while (n) {
        update_height(n);
        int32_t balance = height(n->left) - height(n->right);
        if (balance > 1) {
            if (height(n->left->left) < height(n->left->right))
                rotate_left(n->left);
            n = rotate_right(n);
        } else if (balance < -1) {
            if (height(n->right->right) < height(n->right->left))
                rotate_right(n->right);
            n = rotate_left(n);
        }
        n = n->parent;
    }
}

void RangeTree::insert(RangeTreeNode* node)
{
    node->left = node->right = nullptr;
    node->height = 1;
    RangeTreeNode* parent = nullptr;
    RangeTreeNode** link = &m_root;
    while (*link) {
        parent = *link;
        NIMBUS_ASSERT(node->key != parent->key);
        link = node->key < parent->key ? &parent->left : &parent->right;
    }
    node->parent = parent;
    *link = node;
    m_size++;
    rebalance_upwards(parent);
}

void RangeTree::erase(RangeTreeNode* node)
{
    NIMBUS_ASSERT(m_size > 0);
    m_size--;
    if (node->left && node->right) {
        // Two children: the in-order successor s (leftmost of the right subtree, so it has no
        // left child) takes node's place in the tree.
        RangeTreeNode* s = node->right;
        while (s->left)
            s = s->left;
        RangeTreeNode* fix_from;
        if (s->parent == node) {
            fix_from = s;
        } else {
            fix_from = s->parent;
            s->parent->left = s->right;
            if (s->right)
                s->right->parent = s->parent;
            s->right = node->right;
            node->right->parent = s;
        }
        s->left = node->left;
        node->left->parent = s;
        s->parent = node->parent;
        relink(node->parent, node, s);
        s->height = node->height;
        rebalance_upwards(fix_from);
    } else {
        RangeTreeNode* child = node->left ? node->left : node->right;
        RangeTreeNode* parent = node->parent;
        if (child)
            child->parent = parent;
        relink(parent, node, child);
        rebalance_upwards(parent);
    }
    node->left = node->right = node->parent = nullptr;
}

void RangeTree::replace(RangeTreeNode* old, RangeTreeNode* replacement)
{
    replacement->left = old->left;
    replacement->right = old->right;
    replacement->parent = old->parent;
    replacement->height = old->height;
    if (old->left)
        old->left->parent = replacement;
    if (old->right)
        old->right->parent = replacement;
    relink(old->parent, old, replacement);
    old->left = old->right = old->parent = nullptr;
}

RangeTreeNode* RangeTree::find_le(uint64_t key) const
{
    RangeTreeNode* best = nullptr;
    RangeTreeNode* n = m_root;
    while (n) {
        if (n->key <= key) {
            best = n;
            n = n->right;
        } else {
            n = n->left;
        }
    }
    return best;
}

RangeTreeNode* RangeTree::find_gt(uint64_t key) const
{
    RangeTreeNode* best = nullptr;
    RangeTreeNode* n = m_root;
    while (n) {
        if (n->key > key) {
            best = n;
            n = n->left;
        } else {
            n = n->right;
        }
    }
    return best;
}

RangeTreeNode* RangeTree::first() const
{
    RangeTreeNode* n = m_root;
    if (!n)
        return nullptr;
    while (n->left)
        n = n->left;
    return n;
}

RangeTreeNode* RangeTree::next(const RangeTreeNode* node)
{
    if (node->right) {
        RangeTreeNode* n = node->right;
        while (n->left)
            n = n->left;
        return n;
    }
    const RangeTreeNode* n = node;
    while (n->parent && n->parent->right == n)
        n = n->parent;
    return n->parent;
}

RangeTreeNode* RangeTree::prev(const RangeTreeNode* node)
{
    if (node->left) {
        RangeTreeNode* n = node->left;
        while (n->right)
            n = n->right;
        return n;
    }
    const RangeTreeNode* n = node;
    while (n->parent && n->parent->left == n)
        n = n->parent;
    return n->parent;
}

// Returns the subtree height, or -1 if an invariant is broken.
int32_t RangeTree::verify_subtree(const RangeTreeNode* n, const RangeTreeNode* parent, bool has_lo,
                                  uint64_t lo, bool has_hi, uint64_t hi, size_t& count)
{
    if (!n)
        return 0;
    if (n->parent != parent)
        return -1;
    if ((has_lo && n->key <= lo) || (has_hi && n->key >= hi))
        return -1;
    count++;
    int32_t l = verify_subtree(n->left, n, has_lo, lo, true, n->key, count);
    int32_t r = verify_subtree(n->right, n, true, n->key, has_hi, hi, count);
    if (l < 0 || r < 0 || l - r > 1 || r - l > 1)
        return -1;
    int32_t h = 1 + (l > r ? l : r);
    return h == n->height ? h : -1;
}

bool RangeTree::verify() const
{
    size_t count = 0;
    if (verify_subtree(m_root, nullptr, false, 0, false, 0, count) < 0)
        return false;
    return count == m_size;
}

} // namespace mm
