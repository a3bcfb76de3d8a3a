// The built vDSO (kernel/vdso) on the host: its ELF shape (one read-execute segment, file
// image == memory image, no relocations, nothing writable, both hash tables, LINUX_2.6
// versions), a symbol lookup the way the Go runtime does it (DT_HASH + versym/verdef), and
// the functions called for real — mapped below a hand-made vvar page that points at a fake
// clock page, with the CPU's real TSC. Calls the vDSO cannot answer fall back to the
// `syscall` instruction, which here reaches the host's Linux. (__vdso_getcpu reads the
// kernel's per-CPU area through %gs and is exercised in the guest: tests/apps/vdso.c.)
#include <time/clock_page.h>
#include <vdso/vvar.h>

#include <cerrno>
#include <cstring>
#include <elf.h>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <string>
#include <sys/mman.h>
#include <time.h>
#include <vector>
#include <x86intrin.h>

#ifndef NIMBUS_VDSO_SO
#error "the build passes the path of the built vDSO"
#endif

namespace {

std::vector<uint8_t> read_vdso()
{
    std::ifstream in(NIMBUS_VDSO_SO, std::ios::binary);
    return { std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>() };
}

template<typename T> const T* at(const std::vector<uint8_t>& image, uint64_t offset)
{
    if (offset > image.size() || image.size() - offset < sizeof(T))
        return nullptr;
    return reinterpret_cast<const T*>(image.data() + offset);
}

struct Dynamic {
    uint64_t hash = 0, gnu_hash = 0, symtab = 0, strtab = 0, versym = 0, verdef = 0;
    bool relocations = false;
};

Dynamic dynamic_of(const std::vector<uint8_t>& image, const Elf64_Phdr& dyn)
{
    Dynamic d;
    for (uint64_t off = dyn.p_offset; off + sizeof(Elf64_Dyn) <= dyn.p_offset + dyn.p_filesz; off += sizeof(Elf64_Dyn)) {
        const auto* e = at<Elf64_Dyn>(image, off);
        switch (e->d_tag) {
        case DT_HASH: d.hash = e->d_un.d_ptr; break;
        case DT_GNU_HASH: d.gnu_hash = e->d_un.d_ptr; break;
        case DT_SYMTAB: d.symtab = e->d_un.d_ptr; break;
        case DT_STRTAB: d.strtab = e->d_un.d_ptr; break;
        case DT_VERSYM: d.versym = e->d_un.d_ptr; break;
        case DT_VERDEF: d.verdef = e->d_un.d_ptr; break;
        case DT_REL: case DT_RELA: case DT_JMPREL: case DT_TEXTREL: case DT_RELR: d.relocations = true; break;
        default: break;
        }
        if (e->d_tag == DT_NULL)
            break;
    }
    return d;
}

TEST(Vdso, OneReadExecuteSegmentWithoutRelocations)
{
    auto image = read_vdso();
    ASSERT_GT(image.size(), sizeof(Elf64_Ehdr));
    const auto* eh = at<Elf64_Ehdr>(image, 0);
    ASSERT_EQ(std::memcmp(eh->e_ident, ELFMAG, SELFMAG), 0);
    EXPECT_EQ(eh->e_type, ET_DYN);
    EXPECT_EQ(eh->e_machine, EM_X86_64);
    int loads = 0;
    const Elf64_Phdr* dyn = nullptr;
    for (int i = 0; i < eh->e_phnum; ++i) {
        const auto* ph = at<Elf64_Phdr>(image, eh->e_phoff + uint64_t(i) * eh->e_phentsize);
        ASSERT_NE(ph, nullptr);
        if (ph->p_type == PT_LOAD) {
            ++loads;
            EXPECT_EQ(ph->p_offset, 0u);
            EXPECT_EQ(ph->p_vaddr, 0u);
            EXPECT_EQ(ph->p_filesz, ph->p_memsz); // no .bss
            EXPECT_EQ(ph->p_flags, uint32_t(PF_R | PF_X));
            EXPECT_LE(ph->p_filesz, image.size());
        }
        if (ph->p_type == PT_DYNAMIC)
            dyn = ph;
    }
    EXPECT_EQ(loads, 1);
    ASSERT_NE(dyn, nullptr);
    Dynamic d = dynamic_of(image, *dyn);
    EXPECT_FALSE(d.relocations);
    EXPECT_NE(d.hash, 0u);
    EXPECT_NE(d.gnu_hash, 0u);
    EXPECT_NE(d.versym, 0u);
    EXPECT_NE(d.verdef, 0u);
    for (int i = 0; i < eh->e_shnum; ++i) {
        const auto* sh = at<Elf64_Shdr>(image, eh->e_shoff + uint64_t(i) * eh->e_shentsize);
        ASSERT_NE(sh, nullptr);
        // .dynamic carries the W flag by convention (as in Linux's vDSO); the segment holding
        // it is read-only, and glibc leaves a read-only dynamic section alone.
        if (sh->sh_type != SHT_DYNAMIC)
            EXPECT_FALSE(sh->sh_flags & SHF_WRITE) << "writable section " << i;
    }
}

// The lookup the Go runtime makes (runtime/vdso_linux.go): the SysV hash table, then the
// symbol's version name through versym and verdef.
struct Lookup {
    const std::vector<uint8_t>& image;
    Dynamic d;

    const char* str(uint64_t off) const { return reinterpret_cast<const char*>(image.data() + d.strtab + off); }

    const char* version_of(uint16_t index) const
    {
        uint64_t off = d.verdef;
        while (const auto* vd = at<Elf64_Verdef>(image, off)) {
            if ((vd->vd_ndx & 0x7fff) == (index & 0x7fff))
                return str(at<Elf64_Verdaux>(image, off + vd->vd_aux)->vda_name);
            if (!vd->vd_next)
                break;
            off += vd->vd_next;
        }
        return nullptr;
    }

    uint64_t find(const char* name, const char* version) const
    {
        const auto* words = at<uint32_t>(image, d.hash);
        uint32_t nbucket = words[0];
        const uint32_t* bucket = words + 2;
        const uint32_t* chain = bucket + nbucket;
        uint32_t h = 0;
        for (const unsigned char* p = reinterpret_cast<const unsigned char*>(name); *p; ++p) {
            h = (h << 4) + *p;
            uint32_t g = h & 0xf0000000;
            if (g)
                h ^= g >> 24;
            h &= ~g;
        }
        for (uint32_t i = bucket[h % nbucket]; i != 0; i = chain[i]) {
            const auto* sym = at<Elf64_Sym>(image, d.symtab + uint64_t(i) * sizeof(Elf64_Sym));
            if (std::strcmp(str(sym->st_name), name) != 0)
                continue;
            uint16_t index = *at<uint16_t>(image, d.versym + uint64_t(i) * 2);
            const char* v = version_of(index);
            if (v && std::strcmp(v, version) == 0)
                return sym->st_value;
        }
        return 0;
    }
};

Lookup lookup_of(const std::vector<uint8_t>& image)
{
    const auto* eh = at<Elf64_Ehdr>(image, 0);
    for (int i = 0; i < eh->e_phnum; ++i) {
        const auto* ph = at<Elf64_Phdr>(image, eh->e_phoff + uint64_t(i) * eh->e_phentsize);
        if (ph->p_type == PT_DYNAMIC)
            return { image, dynamic_of(image, *ph) };
    }
    return { image, {} };
}

TEST(Vdso, ExportsTheLinuxNamesUnderLinux26)
{
    auto image = read_vdso();
    Lookup l = lookup_of(image);
    for (const char* name : { "__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres",
                              "__vdso_getcpu", "clock_gettime", "gettimeofday", "time", "clock_getres", "getcpu" })
        EXPECT_NE(l.find(name, "LINUX_2.6"), 0u) << name;
    EXPECT_EQ(l.find("__vdso_clock_gettime", "LINUX_2.5"), 0u);
    EXPECT_EQ(l.find("__vdso_nothing", "LINUX_2.6"), 0u);
}

struct Timeval {
    int64_t sec, usec;
};

// The vDSO mapped as the kernel maps it (kernel/lx/vdso.cc), with a fake clock page.
class MappedVdso : public ::testing::Test {
protected:
    void SetUp() override
    {
        image_ = read_vdso();
        size_ = (image_.size() + 4095) & ~size_t(4095);
        void* p = mmap(nullptr, 4096 + size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ASSERT_NE(p, MAP_FAILED);
        base_ = static_cast<uint8_t*>(p);
        auto* vvar = reinterpret_cast<vdso::Vvar*>(base_);
        vvar->clock = &page_;
            std::memcpy(base_ + 4096, image_.data(), image_.size());
        ASSERT_EQ(mprotect(base_, 4096, PROT_READ), 0);
        ASSERT_EQ(mprotect(base_ + 4096, size_, PROT_READ | PROT_EXEC), 0);
        Lookup l = lookup_of(image_);
        gettime_ = reinterpret_cast<int (*)(int, timespec*)>(base_ + 4096 + l.find("__vdso_clock_gettime", "LINUX_2.6"));
        gettimeofday_ =
            reinterpret_cast<int (*)(Timeval*, void*)>(base_ + 4096 + l.find("__vdso_gettimeofday", "LINUX_2.6"));
        time_ = reinterpret_cast<int64_t (*)(int64_t*)>(base_ + 4096 + l.find("__vdso_time", "LINUX_2.6"));
        getres_ = reinterpret_cast<int (*)(int, timespec*)>(base_ + 4096 + l.find("__vdso_clock_getres", "LINUX_2.6"));

        // 1 ns per TSC tick from "now", 1e18 ns of wall-clock offset.
        page_.source = clk::ClockSource::Tsc;
        page_.wall_offset_ns = 1'000'000'000'000'000'000ull;
        page_.segments[0] = { tsc(), kBase, clk::make_scale(1'000'000'000, 1'000'000'000).value(), 1'000'000'000 };
        page_.newest = 0;
    }
    void TearDown() override
    {
        if (base_)
            munmap(base_, 4096 + size_);
    }

    static uint64_t tsc()
    {
        _mm_lfence();
        uint64_t t = __rdtsc();
        _mm_lfence();
        return t;
    }
    uint64_t expected(uint64_t t) const { return page_.segments[0].ns_at(t); }
    static uint64_t ns_of(const timespec& t) { return uint64_t(t.tv_sec) * 1'000'000'000 + uint64_t(t.tv_nsec); }

    static constexpr uint64_t kBase = 7'000'000'000;
    std::vector<uint8_t> image_;
    size_t size_ = 0;
    uint8_t* base_ = nullptr;
    clk::ClockPage page_;
    int (*gettime_)(int, timespec*) = nullptr;
    int (*gettimeofday_)(Timeval*, void*) = nullptr;
    int64_t (*time_)(int64_t*) = nullptr;
    int (*getres_)(int, timespec*) = nullptr;
};

TEST_F(MappedVdso, MonotonicAndRealtimeFromThePage)
{
    timespec ts {};
    uint64_t before = tsc();
    ASSERT_EQ(gettime_(CLOCK_MONOTONIC, &ts), 0);
    uint64_t after = tsc();
    EXPECT_GE(ns_of(ts), expected(before));
    EXPECT_LE(ns_of(ts), expected(after));
    EXPECT_GE(ns_of(ts), kBase);

    before = tsc();
    ASSERT_EQ(gettime_(CLOCK_REALTIME, &ts), 0);
    after = tsc();
    EXPECT_GE(ns_of(ts), expected(before) + page_.wall_offset_ns);
    EXPECT_LE(ns_of(ts), expected(after) + page_.wall_offset_ns);

    Timeval tv {};
    struct {
        int32_t minuteswest = 5, dsttime = 5;
    } tz;
    ASSERT_EQ(gettimeofday_(&tv, &tz), 0);
    EXPECT_EQ(uint64_t(tv.sec), (expected(tsc()) + page_.wall_offset_ns) / 1'000'000'000);
    EXPECT_LT(tv.usec, 1'000'000);
    EXPECT_EQ(tz.minuteswest, 0);
    EXPECT_EQ(tz.dsttime, 0);
    EXPECT_EQ(gettimeofday_(nullptr, nullptr), 0);

    int64_t t = 0;
    EXPECT_EQ(time_(&t), t);
    EXPECT_EQ(uint64_t(t), (expected(tsc()) + page_.wall_offset_ns) / 1'000'000'000);

    ASSERT_EQ(getres_(CLOCK_MONOTONIC, &ts), 0);
    EXPECT_EQ(ts.tv_sec, 0);
    EXPECT_EQ(ts.tv_nsec, 1);
}

TEST_F(MappedVdso, WhatThePageCannotAnswerGoesToTheSystemCall)
{
    timespec ts {};
    // CPU-time clocks and unknown clocks: the (host's) kernel answers.
    EXPECT_EQ(gettime_(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
    EXPECT_EQ(gettime_(1234, &ts), -EINVAL);
    EXPECT_EQ(getres_(1234, &ts), -EINVAL);

    // Before the first calibration: the host's monotonic clock, far from this page's 7 s +
    // TSC ticks (the host has been up for longer than the TSC count in ns only by accident).
    page_.newest = -1;
    timespec host {};
    ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &host), 0);
    ASSERT_EQ(gettime_(CLOCK_MONOTONIC, &ts), 0);
    timespec host_after {};
    ASSERT_EQ(clock_gettime(CLOCK_MONOTONIC, &host_after), 0);
    EXPECT_GE(ns_of(ts), ns_of(host));
    EXPECT_LE(ns_of(ts), ns_of(host_after));
}

} // namespace
