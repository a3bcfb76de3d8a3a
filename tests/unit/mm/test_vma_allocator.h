// A VmaAllocator for host tests: plain new/delete, a switch that makes allocation fail (to
// test all-or-nothing behaviour), and a count of live nodes checked at destruction (leaks).
#pragma once

#include <gtest/gtest.h>
#include <mm/vma.h>
#include <new>

namespace mm_test {

class TestAllocator final : public mm::VmaAllocator {
public:
    ~TestAllocator() { EXPECT_EQ(live, 0) << "leaked VMA nodes"; }
    void* allocate(size_t size, size_t align) override
    {
        if (fail)
            return nullptr;
        live++;
        return ::operator new(size, std::align_val_t(align));
    }
    void deallocate(void* p) override
    {
        live--;
        ::operator delete(p, std::align_val_t(alignof(mm::Vma)));
    }
    bool fail = false;
    long live = 0;
};

} // namespace mm_test
