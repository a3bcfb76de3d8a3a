// Unit tests for the ramfs page radix tree: growth, holes, far indices, partial frees,
// allocation failures.
#include "fs_test_support.h"

#include <fs/ramfs/page_tree.h>

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace {

using fs::ramfs::PageTree;
using fs_test::HostPages;

TEST(PageTree, HolesAreNullAndPagesAreCreatedOnce)
{
    HostPages pages;
    PageTree tree(pages);
    EXPECT_EQ(tree.find(0), nullptr);
    bool created = false;
    void* p = MUST(tree.find_or_create(5, created));
    EXPECT_TRUE(created);
    EXPECT_EQ(tree.find(5), p);
    EXPECT_EQ(tree.find(4), nullptr);
    EXPECT_EQ(MUST(tree.find_or_create(5, created)), p);
    EXPECT_FALSE(created);
    EXPECT_EQ(tree.data_pages(), 1u);
    EXPECT_EQ(tree.node_pages(), 1u); // height 1: one node
}

TEST(PageTree, GrowsInHeightKeepingOldPages)
{
    HostPages pages;
    PageTree tree(pages);
    bool created;
    void* low = MUST(tree.find_or_create(1, created));
    void* mid = MUST(tree.find_or_create(PageTree::kFanout + 7, created)); // height 2
    uint64_t tib = (uint64_t(1) << 40) / fs::kPageSize;
    void* far = MUST(tree.find_or_create(tib, created)); // 2^28: height 4
    EXPECT_EQ(tree.find(1), low);
    EXPECT_EQ(tree.find(PageTree::kFanout + 7), mid);
    EXPECT_EQ(tree.find(tib), far);
    EXPECT_EQ(tree.find(tib - 1), nullptr);
    EXPECT_EQ(tree.data_pages(), 3u);
    EXPECT_LE(tree.node_pages(), 8u); // a handful of nodes, not gigabytes
    EXPECT_ERRNO(tree.find_or_create(PageTree::kMaxPages, created), Errno::INVAL);
    EXPECT_OK(tree.find_or_create(PageTree::kMaxPages - 1, created));
}

TEST(PageTree, FreeFromKeepsTheLowerPart)
{
    HostPages pages;
    PageTree tree(pages);
    bool created;
    std::map<uint64_t, void*> model;
    std::mt19937_64 rng(42);
    for (int i = 0; i < 300; i++) {
        uint64_t index = rng() % (uint64_t(1) << (rng() % 30));
        model[index] = MUST(tree.find_or_create(index, created));
    }
    for (uint64_t cut : {uint64_t(1) << 20, uint64_t(4096), uint64_t(513), uint64_t(512), uint64_t(3)}) {
        uint64_t expected = 0;
        for (auto it = model.lower_bound(cut); it != model.end();) {
            expected++;
            it = model.erase(it);
        }
        EXPECT_EQ(tree.free_from(cut), expected) << cut;
        for (auto& [index, page] : model)
            EXPECT_EQ(tree.find(index), page);
        EXPECT_EQ(tree.data_pages(), model.size());
    }
    tree.free_from(0);
    EXPECT_EQ(tree.node_pages(), 0u);
    EXPECT_EQ(pages.outstanding(), 0);
}

TEST(PageTree, AllocationFailureLeavesContentsIntact)
{
    HostPages pages;
    PageTree tree(pages);
    bool created;
    void* p = MUST(tree.find_or_create(0, created));
    for (int budget = 0; budget < 5; budget++) {
        pages.fail_after(budget);
        auto r = tree.find_or_create(uint64_t(1) << 27, created); // needs several nodes
        pages.fail_after(-1);
        if (r.is_error()) {
            EXPECT_EQ(r.error(), Errno::NOMEM);
            EXPECT_EQ(tree.find(uint64_t(1) << 27), nullptr);
        }
        EXPECT_EQ(tree.find(0), p);
    }
    EXPECT_NE(tree.find(uint64_t(1) << 27), nullptr);
}

} // namespace
