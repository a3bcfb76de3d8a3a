// The ramfs page radix tree (see page_tree.h).
#include <fs/ramfs/page_tree.h>

namespace fs::ramfs {

void* PageTree::find(uint64_t index) const
{
    if (!m_root || index >= span(m_height))
        return nullptr;
    void** node = m_root;
    for (unsigned level = m_height; level > 1; level--) {
        node = static_cast<void**>(node[(index >> (kFanoutShift * (level - 1))) & (kFanout - 1)]);
        if (!node)
            return nullptr;
    }
    return node[index & (kFanout - 1)];
}

Result<void*> PageTree::find_or_create(uint64_t index, bool& created)
{
    created = false;
    if (index >= kMaxPages)
        return Errno::INVAL;
    unsigned needed = 1;
    while (index >= span(needed))
        needed++;
    if (!m_root) {
        void* root = TRY(m_pages.alloc_page());
        m_root = static_cast<void**>(root);
        m_node_pages++;
        m_height = needed;
    }
    while (m_height < needed) {
        void* page = TRY(m_pages.alloc_page());
        auto* root = static_cast<void**>(page);
        root[0] = m_root;
        m_root = root;
        m_node_pages++;
        m_height++;
    }
    void** node = m_root;
    for (unsigned level = m_height; level > 1; level--) {
        void*& slot = node[(index >> (kFanoutShift * (level - 1))) & (kFanout - 1)];
        if (!slot) {
            slot = TRY(m_pages.alloc_page());
            m_node_pages++;
        }
        node = static_cast<void**>(slot);
    }
    void*& leaf = node[index & (kFanout - 1)];
    if (!leaf) {
        leaf = TRY(m_pages.alloc_page());
        m_data_pages++;
        created = true;
    }
    return leaf;
}

uint64_t PageTree::free_subtree(void** node, unsigned height, uint64_t base, uint64_t first)
{
    uint64_t freed = 0;
    uint64_t child_span = span(height - 1);
    for (uint64_t i = 0; i < kFanout; i++) {
        uint64_t child_base = base + i * child_span;
        if (child_base + child_span <= first || !node[i])
            continue;
        if (height == 1) {
            m_pages.free_page(node[i]);
            m_data_pages--;
            freed++;
            node[i] = nullptr;
            continue;
        }
        freed += free_subtree(static_cast<void**>(node[i]), height - 1, child_base, first);
        if (child_base >= first) {
            m_pages.free_page(node[i]);
            m_node_pages--;
            node[i] = nullptr;
        }
    }
    return freed;
}

uint64_t PageTree::free_from(uint64_t first)
{
    if (!m_root || first >= span(m_height))
        return 0;
    uint64_t freed = free_subtree(m_root, m_height, 0, first);
    if (first == 0) {
        m_pages.free_page(m_root);
        m_node_pages--;
        m_root = nullptr;
        m_height = 0;
    }
    return freed;
}

} // namespace fs::ramfs
