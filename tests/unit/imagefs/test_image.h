// A small in-memory imagefs writer for the reader's tests: builds canonical images from a
// list of directories, files, symlinks and hard links, and gives typed, writable access to
// the result's structures so that a test can break exactly one thing and reseal the
// checksums. Independent of tools/image on purpose: the reader is checked against a second
// writer.
#pragma once

#include <imagefs/crc32c.h>
#include <imagefs/format.h>
#include <imagefs/image.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace imagefs::test {

class TestImage {
public:
    TestImage() { m_nodes.push_back({}), m_nodes.push_back({kModeDirectory | 0755, kRootIno, {}}); }

    Ino dir(Ino parent, std::string name, uint32_t perm = 0755)
    {
        Ino ino = add({kModeDirectory | perm, parent, {}});
        m_entries.push_back({parent, std::move(name), ino});
        return ino;
    }
    Ino file(Ino parent, std::string name, std::string contents, uint32_t perm = 0644)
    {
        Ino ino = add({kModeRegular | perm, 0, std::move(contents)});
        m_entries.push_back({parent, std::move(name), ino});
        return ino;
    }
    Ino symlink(Ino parent, std::string name, std::string target)
    {
        Ino ino = add({kModeSymlink | 0777, 0, std::move(target)});
        m_entries.push_back({parent, std::move(name), ino});
        return ino;
    }
    void link(Ino parent, std::string name, Ino target) { m_entries.push_back({parent, std::move(name), target}); }

    // The canonical bytes: entries grouped by directory in ino order and sorted by name,
    // names then targets in the string table, file data page by page in ino order.
    std::vector<uint8_t> build() const
    {
        std::vector<Entry> entries = m_entries;
        std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
            return a.dir != b.dir ? a.dir < b.dir : a.name < b.name;
        });
        std::vector<DiskInode> inodes(m_nodes.size());
        std::vector<DiskEntry> disk_entries(entries.size());
        std::vector<uint32_t> last(m_nodes.size(), kNoEntry);
        std::string strings;
        for (Ino i = kRootIno; i < m_nodes.size(); i++) {
            inodes[i].mode = m_nodes[i].mode;
            inodes[i].parent = m_nodes[i].parent;
            inodes[i].first_link = kNoEntry;
            if (is_dir(i))
                inodes[i].nlink = 2;
        }
        for (uint32_t k = 0; k < entries.size(); k++) {
            const Entry& e = entries[k];
            disk_entries[k] = {uint32_t(strings.size()), uint16_t(e.name.size()), 0, e.ino, kNoEntry};
            strings += e.name;
            if (last[e.ino] == kNoEntry)
                inodes[e.ino].first_link = k;
            else
                disk_entries[last[e.ino]].next_link = k;
            last[e.ino] = k;
            if (is_dir(e.ino))
                inodes[e.dir].nlink++;
            else
                inodes[e.ino].nlink++;
            inodes[e.dir].size++;
        }
        // Each directory's run starts where the previous directory's ended (even if empty).
        uint64_t cursor = 0;
        for (Ino i = kRootIno; i < m_nodes.size(); i++) {
            if (!is_dir(i))
                continue;
            inodes[i].offset = cursor;
            cursor += inodes[i].size;
        }
        for (Ino i = kRootIno; i < m_nodes.size(); i++) {
            if ((m_nodes[i].mode & kModeTypeMask) == kModeSymlink) {
                inodes[i].offset = strings.size();
                inodes[i].size = m_nodes[i].data.size();
                strings += m_nodes[i].data;
            }
        }

        DiskHeader h{};
        std::memcpy(h.magic, kMagic, sizeof(h.magic));
        h.version = kVersion;
        h.inode_offset = sizeof(DiskHeader);
        h.inode_count = uint32_t(inodes.size());
        h.entry_offset = h.inode_offset + inodes.size() * sizeof(DiskInode);
        h.entry_count = uint32_t(entries.size());
        h.string_offset = h.entry_offset + entries.size() * sizeof(DiskEntry);
        h.string_size = strings.size();
        h.metadata_size = h.string_offset + h.string_size;
        uint64_t data = align(h.metadata_size);
        for (Ino i = kRootIno; i < m_nodes.size(); i++) {
            if ((m_nodes[i].mode & kModeTypeMask) != kModeRegular || m_nodes[i].data.empty())
                continue;
            inodes[i].offset = data;
            inodes[i].size = m_nodes[i].data.size();
            data = align(data + inodes[i].size);
        }
        h.image_size = data;

        std::vector<uint8_t> bytes(h.image_size);
        std::memcpy(bytes.data(), &h, sizeof(h));
        std::memcpy(bytes.data() + h.inode_offset, inodes.data(), inodes.size() * sizeof(DiskInode));
        if (!disk_entries.empty())
            std::memcpy(bytes.data() + h.entry_offset, disk_entries.data(), entries.size() * sizeof(DiskEntry));
        std::memcpy(bytes.data() + h.string_offset, strings.data(), strings.size());
        for (Ino i = kRootIno; i < m_nodes.size(); i++) {
            if ((m_nodes[i].mode & kModeTypeMask) == kModeRegular && !m_nodes[i].data.empty())
                std::memcpy(bytes.data() + inodes[i].offset, m_nodes[i].data.data(), m_nodes[i].data.size());
        }
        reseal(bytes);
        return bytes;
    }

    // Recomputes both checksums after an edit.
    static void reseal(std::vector<uint8_t>& bytes)
    {
        auto* h = reinterpret_cast<DiskHeader*>(bytes.data());
        uint64_t metadata_size = h->metadata_size;
        if (metadata_size >= sizeof(DiskHeader) && metadata_size <= bytes.size())
            h->metadata_crc = crc32c(bytes.data() + sizeof(DiskHeader), metadata_size - sizeof(DiskHeader));
        h->header_crc = crc32c(bytes.data(), offsetof(DiskHeader, header_crc));
    }

private:
    struct Node {
        uint32_t mode = 0;
        Ino parent = 0;
        std::string data; // file contents or link target
    };
    struct Entry {
        Ino dir;
        std::string name;
        Ino ino;
    };

    static uint64_t align(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }
    bool is_dir(Ino i) const { return (m_nodes[i].mode & kModeTypeMask) == kModeDirectory; }
    Ino add(Node n)
    {
        m_nodes.push_back(std::move(n));
        return Ino(m_nodes.size() - 1);
    }

    std::vector<Node> m_nodes;
    std::vector<Entry> m_entries;
};

// Writable, typed views of an image's structures (packed structs: any alignment is fine).
inline DiskHeader& header_of(std::vector<uint8_t>& b) { return *reinterpret_cast<DiskHeader*>(b.data()); }
inline DiskInode& inode_of(std::vector<uint8_t>& b, Ino ino)
{
    return reinterpret_cast<DiskInode*>(b.data() + header_of(b).inode_offset)[ino];
}
inline DiskEntry& entry_of(std::vector<uint8_t>& b, uint32_t index)
{
    return reinterpret_cast<DiskEntry*>(b.data() + header_of(b).entry_offset)[index];
}
inline char* strings_of(std::vector<uint8_t>& b)
{
    return reinterpret_cast<char*>(b.data() + header_of(b).string_offset);
}

} // namespace imagefs::test
