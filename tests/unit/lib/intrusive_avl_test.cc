// Unit tests for lib::IntrusiveAvlTree: random operations against std::set / std::map with the
// AVL invariants checked as they run, bounds queries, in-place replace(), iteration and two
// trees per object.
#include <lib/intrusive_avl.h>

#include <gtest/gtest.h>

#include <cmath>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

namespace {

struct ByValueTag {};
struct Item : lib::AvlLink<>, lib::AvlLink<ByValueTag> {
    int key = 0;
    int value = 0;
};
struct KeyOfItem {
    int operator()(const Item& i) const { return i.key; }
};
struct ValueOfItem {
    int operator()(const Item& i) const { return i.value; }
};
using Tree = lib::IntrusiveAvlTree<Item, KeyOfItem>;

std::vector<int> keys(const Tree& t)
{
    std::vector<int> out;
    for (const Item& i : t)
        out.push_back(i.key);
    return out;
}

TEST(IntrusiveAvl, BasicsAndBounds)
{
    Tree t;
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.first(), nullptr);
    EXPECT_EQ(t.lower_bound(3), nullptr);
    std::vector<Item> items(10);
    for (int i = 0; i < 10; i++) {
        items[i].key = i * 10;
        EXPECT_TRUE(t.insert(items[i]));
    }
    Item dup;
    dup.key = 30;
    EXPECT_FALSE(t.insert(dup));
    EXPECT_FALSE(dup.lib::AvlLink<>::is_linked());
    EXPECT_EQ(t.size(), 10u);
    EXPECT_TRUE(t.check_invariants());

    EXPECT_EQ(t.find(30), &items[3]);
    EXPECT_EQ(t.find(31), nullptr);
    EXPECT_EQ(t.lower_bound(30), &items[3]);
    EXPECT_EQ(t.lower_bound(31), &items[4]);
    EXPECT_EQ(t.lower_bound(91), nullptr);
    EXPECT_EQ(t.upper_bound(30), &items[4]);
    EXPECT_EQ(t.upper_bound(-5), &items[0]);
    EXPECT_EQ(t.upper_bound(90), nullptr);
    EXPECT_EQ(t.floor(30), &items[3]);
    EXPECT_EQ(t.floor(39), &items[3]);
    EXPECT_EQ(t.floor(-1), nullptr);
    EXPECT_EQ(t.first(), &items[0]);
    EXPECT_EQ(t.last(), &items[9]);
    EXPECT_EQ(Tree::next(items[3]), &items[4]);
    EXPECT_EQ(Tree::prev(items[3]), &items[2]);
    EXPECT_EQ(Tree::next(items[9]), nullptr);
    EXPECT_EQ(Tree::prev(items[0]), nullptr);

    auto it = t.end();
    --it;
    EXPECT_EQ(&*it, &items[9]);
    std::vector<int> backwards;
    for (auto i = t.end(); i != t.begin();) {
        --i;
        backwards.push_back(i->key);
    }
    EXPECT_EQ(backwards, (std::vector<int>{90, 80, 70, 60, 50, 40, 30, 20, 10, 0}));

    t.erase(items[3]);
    EXPECT_FALSE(items[3].lib::AvlLink<>::is_linked());
    EXPECT_EQ(t.find(30), nullptr);
    EXPECT_EQ(keys(t), (std::vector<int>{0, 10, 20, 40, 50, 60, 70, 80, 90}));
    EXPECT_TRUE(t.check_invariants());

    int disposed = 0;
    t.clear([&](Item& i) {
        EXPECT_FALSE(i.lib::AvlLink<>::is_linked());
        disposed++;
    });
    EXPECT_EQ(disposed, 9);
    EXPECT_TRUE(t.empty());
    EXPECT_TRUE(t.check_invariants());
}

TEST(IntrusiveAvl, SequentialInsertsStayBalanced)
{
    Tree t;
    const int n = 100000;
    std::vector<Item> items(n);
    for (int i = 0; i < n; i++) {
        items[i].key = i;
        ASSERT_TRUE(t.insert(items[i]));
    }
    ASSERT_TRUE(t.check_invariants());
    // AVL bound: height < 1.4405 log2(n + 2) - 0.3277.
    EXPECT_LE(t.height(), unsigned(1.4405 * std::log2(n + 2.0)));
    for (int i = 0; i < n; i += 2)
        t.erase(items[i]);
    ASSERT_TRUE(t.check_invariants());
    EXPECT_EQ(t.size(), size_t(n / 2));
    EXPECT_LE(t.height(), unsigned(1.4405 * std::log2(n / 2 + 2.0)));
    t.clear([](Item&) {});
}

TEST(IntrusiveAvl, RandomAgainstStdSet)
{
    std::mt19937 rng(7);
    const int kKeys = 2000;
    std::vector<Item> items(kKeys);
    for (int i = 0; i < kKeys; i++)
        items[i].key = i;
    Tree t;
    std::set<int> model;
    for (int step = 0; step < 40000; step++) {
        int k = int(rng() % kKeys);
        switch (rng() % 4) {
        case 0:
        case 1:
            EXPECT_EQ(t.insert(items[k]), model.insert(k).second);
            break;
        case 2:
            if (model.erase(k))
                t.erase(items[k]);
            break;
        case 3: {
            int q = int(rng() % (kKeys + 20)) - 10;
            auto lb = model.lower_bound(q);
            Item* got = t.lower_bound(q);
            ASSERT_EQ(got ? got->key : -1, lb == model.end() ? -1 : *lb);
            auto ub = model.upper_bound(q);
            got = t.upper_bound(q);
            ASSERT_EQ(got ? got->key : -1, ub == model.end() ? -1 : *ub);
            got = t.floor(q);
            ASSERT_EQ(got ? got->key : -1, ub == model.begin() ? -1 : *std::prev(ub));
            got = t.find(q);
            ASSERT_EQ(got != nullptr, model.count(q) > 0);
            break;
        }
        }
        ASSERT_EQ(t.size(), model.size());
        if (step % 97 == 0) {
            ASSERT_TRUE(t.check_invariants()) << "step " << step;
            ASSERT_EQ(keys(t), std::vector<int>(model.begin(), model.end()));
        }
    }
    ASSERT_TRUE(t.check_invariants());
    t.clear([](Item&) {});
}

TEST(IntrusiveAvl, ReplaceKeepsPositionAndUnlinksOld)
{
    Tree t;
    std::vector<Item> items(7);
    for (int i = 0; i < 7; i++) {
        items[i].key = i * 10;
        ASSERT_TRUE(t.insert(items[i]));
    }
    // With 7 sequential inserts the tree is perfect: 30 is the root, 10/50 inner, the rest leaves.
    for (int old_key : {30, 10, 60}) {
        Item& old = *t.find(old_key);
        Item repl;
        repl.key = old_key + 1; // still between the neighbours
        t.replace(old, repl);
        EXPECT_FALSE(old.lib::AvlLink<>::is_linked());
        EXPECT_TRUE(repl.lib::AvlLink<>::is_linked());
        EXPECT_EQ(t.find(old_key), nullptr);
        EXPECT_EQ(t.find(old_key + 1), &repl);
        EXPECT_EQ(t.size(), 7u);
        EXPECT_TRUE(t.check_invariants());
        Item* before = Tree::prev(repl);
        Item* after = Tree::next(repl);
        EXPECT_EQ(before ? before->key : -1, old_key == 10 ? 0 : old_key - 10);
        EXPECT_EQ(after ? after->key : -1, old_key == 60 ? -1 : old_key + 10);
        // Put the original back so the next round starts from the same shape.
        t.replace(repl, old);
        EXPECT_FALSE(repl.lib::AvlLink<>::is_linked());
        EXPECT_TRUE(t.check_invariants());
    }
    EXPECT_EQ(keys(t), (std::vector<int>{0, 10, 20, 30, 40, 50, 60}));
    // A one-element tree: replace the root with no children.
    Tree single;
    Item a, b;
    a.key = 5;
    b.key = 6;
    ASSERT_TRUE(single.insert(a));
    single.replace(a, b);
    EXPECT_EQ(single.first(), &b);
    EXPECT_TRUE(single.check_invariants());
    single.clear([](Item&) {});
    t.clear([](Item&) {});
}

// Insert, erase and replace (with a key between the old node's neighbours, as
// mm::PhysAllocator does when a free run's start moves) against a std::map of node pointers.
TEST(IntrusiveAvl, RandomWithReplaceAgainstStdMap)
{
    std::mt19937_64 rng(1);
    std::vector<Item> items(512);
    std::map<int, Item*> model;
    Tree t;
    std::vector<Item*> unused;
    for (Item& i : items)
        unused.push_back(&i);

    for (int step = 0; step < 30000; step++) {
        int op = int(rng() % 3);
        if (op == 0 && !unused.empty()) {
            int key = int(rng() % 4096) * 8;
            if (model.count(key))
                continue;
            Item* n = unused.back();
            unused.pop_back();
            n->key = key;
            ASSERT_TRUE(t.insert(*n));
            model[key] = n;
        } else if (op == 1 && !model.empty()) {
            auto it = model.lower_bound(int(rng() % 4096) * 8);
            if (it == model.end())
                it = model.begin();
            t.erase(*it->second);
            ASSERT_FALSE(it->second->lib::AvlLink<>::is_linked());
            unused.push_back(it->second);
            model.erase(it);
        } else if (op == 2 && !model.empty() && !unused.empty()) {
            auto it = model.lower_bound(int(rng() % 4096) * 8);
            if (it == model.end())
                it = model.begin();
            int lo = it == model.begin() ? 0 : std::prev(it)->first + 1;
            int key = lo + (it->first - lo) / 2; // in (prev, it] — may equal the old key
            Item* n = unused.back();
            unused.pop_back();
            n->key = key;
            Item* old = it->second;
            t.replace(*old, *n);
            ASSERT_FALSE(old->lib::AvlLink<>::is_linked());
            unused.push_back(old);
            model.erase(it);
            model[key] = n;
        }
        ASSERT_EQ(t.size(), model.size());
        if (step % 64 == 0)
            ASSERT_TRUE(t.check_invariants()) << "step " << step;
        int probe = int(rng() % (4096 * 8 + 16));
        auto ub = model.upper_bound(probe);
        ASSERT_EQ(t.floor(probe), ub == model.begin() ? nullptr : std::prev(ub)->second);
        ASSERT_EQ(t.upper_bound(probe), ub == model.end() ? nullptr : ub->second);
    }
    ASSERT_TRUE(t.check_invariants());
    std::vector<int> expected;
    for (auto& [k, n] : model)
        expected.push_back(k);
    EXPECT_EQ(keys(t), expected);
    std::vector<int> backward;
    for (Item* n = t.last(); n; n = Tree::prev(*n))
        backward.insert(backward.begin(), n->key);
    EXPECT_EQ(backward, expected);
    t.clear([](Item&) {});
}

TEST(IntrusiveAvl, ObjectInTwoTrees)
{
    lib::IntrusiveAvlTree<Item, KeyOfItem> by_key;
    lib::IntrusiveAvlTree<Item, ValueOfItem, ByValueTag> by_value;
    std::vector<Item> items(50);
    for (int i = 0; i < 50; i++) {
        items[i].key = i;
        items[i].value = (i * 37) % 50;
        ASSERT_TRUE(by_key.insert(items[i]));
        ASSERT_TRUE(by_value.insert(items[i]));
    }
    for (int i = 0; i < 50; i += 3) {
        by_key.erase(items[i]);
        EXPECT_TRUE(items[i].lib::AvlLink<ByValueTag>::is_linked());
    }
    EXPECT_TRUE(by_key.check_invariants());
    EXPECT_TRUE(by_value.check_invariants());
    EXPECT_EQ(by_value.size(), 50u);
    EXPECT_EQ(by_value.find(37), &items[1]);
    by_key.clear([](Item&) {});
    by_value.clear([](Item&) {});
}

} // namespace
