// Unit tests for elf::build_initial_stack and elf::read_auxv: the built stack decoded back
// and compared with the spec, Linux's layout rules (checked against this very process's
// own initial stack where the host shows them), alignment for every small argc/envc/auxc,
// and the errors.
#include <elf/stack.h>

#include <cstring>
#include <elf.h>
#include <gtest/gtest.h>
#include <string>
#include <sys/auxv.h>
#include <vector>

namespace {

// The AT_* numbers are Linux's (the host's <elf.h> is the reference).
static_assert(elf::kAtNull == AT_NULL && elf::kAtIgnore == AT_IGNORE && elf::kAtExecFd == AT_EXECFD);
static_assert(elf::kAtPhdr == AT_PHDR && elf::kAtPhent == AT_PHENT && elf::kAtPhnum == AT_PHNUM);
static_assert(elf::kAtPagesz == AT_PAGESZ && elf::kAtBase == AT_BASE && elf::kAtFlags == AT_FLAGS);
static_assert(elf::kAtEntry == AT_ENTRY && elf::kAtNotElf == AT_NOTELF && elf::kAtUid == AT_UID);
static_assert(elf::kAtEuid == AT_EUID && elf::kAtGid == AT_GID && elf::kAtEgid == AT_EGID);
static_assert(elf::kAtPlatform == AT_PLATFORM && elf::kAtHwcap == AT_HWCAP && elf::kAtClktck == AT_CLKTCK);
static_assert(elf::kAtSecure == AT_SECURE && elf::kAtBasePlatform == AT_BASE_PLATFORM);
static_assert(elf::kAtRandom == AT_RANDOM && elf::kAtHwcap2 == AT_HWCAP2 && elf::kAtExecFn == AT_EXECFN);
static_assert(elf::kAtSysinfoEhdr == AT_SYSINFO_EHDR);
#ifdef AT_MINSIGSTKSZ
static_assert(elf::kAtMinSigStkSz == AT_MINSIGSTKSZ);
#endif
#ifdef AT_RSEQ_FEATURE_SIZE
static_assert(elf::kAtRseqFeatureSize == AT_RSEQ_FEATURE_SIZE && elf::kAtRseqAlign == AT_RSEQ_ALIGN);
#endif
static_assert(sizeof(elf::AuxEntry) == sizeof(Elf64_auxv_t));

constexpr uint64_t kTop = 0x7fff'ffff'f000;

// A stack buffer pre-filled with a marker, so untouched bytes can be told apart.
struct Stack {
    std::vector<uint8_t> bytes;
    elf::StackImage image;
    explicit Stack(size_t size, uint64_t top = kTop) : bytes(size, 0xa5)
    {
        image.buffer = bytes.data();
        image.size = size;
        image.top = top;
    }
    uint64_t bottom() const { return image.top - image.size; }
    uint8_t byte(uint64_t addr) const { return bytes.at(addr - bottom()); }
    uint64_t word(uint64_t addr) const
    {
        uint64_t v;
        std::memcpy(&v, &bytes.at(addr - bottom()), 8);
        return v;
    }
    std::string string(uint64_t addr) const
    {
        std::string s;
        while (byte(addr) != 0)
            s += char(byte(addr++));
        return s;
    }
};

// The spec plus storage for what its views point at.
struct Spec {
    std::vector<std::string> argv_s, envp_s;
    std::vector<lib::StringView> argv, envp;
    std::vector<elf::AuxEntry> auxv;
    std::string execfn = "/bin/prog";
    std::string platform = "x86_64";
    elf::StackSpec spec;

    Spec(std::vector<std::string> a, std::vector<std::string> e, std::vector<elf::AuxEntry> aux = {})
        : argv_s(std::move(a)), envp_s(std::move(e)), auxv(std::move(aux))
    {
        for (int i = 0; i < 16; i++)
            spec.random[i] = uint8_t(0xf0 + i);
    }
    const elf::StackSpec& get()
    {
        argv.clear();
        envp.clear();
        for (auto& s : argv_s)
            argv.push_back({ s.data(), s.size() });
        for (auto& s : envp_s)
            envp.push_back({ s.data(), s.size() });
        spec.argv = argv.data();
        spec.argc = argv.size();
        spec.envp = envp.data();
        spec.envc = envp.size();
        spec.auxv = auxv.data();
        spec.auxc = auxv.size();
        spec.execfn = { execfn.data(), execfn.size() };
        spec.platform = { platform.data(), platform.size() };
        return spec;
    }
};

std::vector<elf::AuxEntry> typical_auxv()
{
    return {
        { elf::kAtSysinfoEhdr, 0x7fff'f7fc'1000 }, { elf::kAtMinSigStkSz, 3632 }, { elf::kAtHwcap, 0x178bfbff },
        { elf::kAtPagesz, 4096 }, { elf::kAtClktck, 100 }, { elf::kAtPhdr, 0x5555'5555'4040 },
        { elf::kAtPhent, 56 }, { elf::kAtPhnum, 13 }, { elf::kAtBase, 0x7fff'f7fc'3000 }, { elf::kAtFlags, 0 },
        { elf::kAtEntry, 0x5555'5555'63d0 }, { elf::kAtUid, 0 }, { elf::kAtEuid, 0 }, { elf::kAtGid, 0 },
        { elf::kAtEgid, 0 }, { elf::kAtSecure, 0 }, { elf::kAtRandom, 0 }, { elf::kAtHwcap2, 2 },
        { elf::kAtExecFn, 0 }, { elf::kAtPlatform, 0 },
    };
}

struct Decoded {
    uint64_t argc = 0;
    std::vector<uint64_t> argv_ptrs, envp_ptrs;
    std::vector<std::string> argv, envp;
    uint64_t auxv_addr = 0;
    std::vector<elf::AuxEntry> auxv; // AT_NULL included
};

Decoded decode(const Stack& st, uint64_t sp)
{
    Decoded d;
    d.argc = st.word(sp);
    uint64_t a = sp + 8;
    for (uint64_t i = 0; i < d.argc; i++, a += 8) {
        d.argv_ptrs.push_back(st.word(a));
        d.argv.push_back(st.string(st.word(a)));
    }
    EXPECT_EQ(st.word(a), 0u) << "argv[argc]";
    for (a += 8; st.word(a) != 0; a += 8) {
        d.envp_ptrs.push_back(st.word(a));
        d.envp.push_back(st.string(st.word(a)));
    }
    d.auxv_addr = a + 8;
    d.auxv.resize(64);
    auto n = elf::read_auxv(st.image, sp, d.auxv.data(), d.auxv.size());
    EXPECT_FALSE(n.is_error());
    d.auxv.resize(n.is_error() ? 0 : n.value());
    return d;
}

uint64_t aux_value(const Decoded& d, uint64_t type)
{
    for (auto& e : d.auxv) {
        if (e.type == type)
            return e.value;
    }
    ADD_FAILURE() << "no auxv entry " << type;
    return 0;
}

// Checks the whole layout of a built stack against the spec and Linux's rules.
void check_layout(const Stack& st, uint64_t sp, Spec& s)
{
    const elf::StackSpec& spec = s.spec;
    ASSERT_EQ(sp % 16, 0u);
    Decoded d = decode(st, sp);
    ASSERT_EQ(d.argc, spec.argc);
    EXPECT_EQ(d.argv, s.argv_s);
    EXPECT_EQ(d.envp, s.envp_s);

    // The tables are contiguous from sp: argc, argv, NULL, envp, NULL, auxv.
    EXPECT_EQ(d.auxv_addr, sp + 8 * (1 + spec.argc + 1 + spec.envc + 1));
    ASSERT_FALSE(d.auxv.empty());
    EXPECT_EQ(d.auxv.back().type, elf::kAtNull);
    EXPECT_EQ(d.auxv.back().value, 0u);

    // The caller's entries in order with the builder's three filled in, or appended.
    std::vector<elf::AuxEntry> want;
    bool random = false, execfn = false, platform = false;
    for (auto& e : s.auxv) {
        random |= e.type == elf::kAtRandom;
        execfn |= e.type == elf::kAtExecFn;
        platform |= e.type == elf::kAtPlatform;
        if (e.type != elf::kAtPlatform || !s.platform.empty())
            want.push_back(e);
    }
    if (!random)
        want.push_back({ elf::kAtRandom, 0 });
    if (!execfn)
        want.push_back({ elf::kAtExecFn, 0 });
    if (!platform && !s.platform.empty())
        want.push_back({ elf::kAtPlatform, 0 });
    ASSERT_EQ(d.auxv.size(), want.size() + 1);
    for (size_t i = 0; i < want.size(); i++) {
        EXPECT_EQ(d.auxv[i].type, want[i].type) << i;
        if (want[i].type != elf::kAtRandom && want[i].type != elf::kAtExecFn && want[i].type != elf::kAtPlatform)
            EXPECT_EQ(d.auxv[i].value, want[i].value) << i;
    }

    // From the top down: 8 zero bytes, execfn, envp strings, argv strings (contiguous).
    for (uint64_t a = st.image.top - 8; a < st.image.top; a++)
        EXPECT_EQ(st.byte(a), 0);
    uint64_t execfn_addr = aux_value(d, elf::kAtExecFn);
    EXPECT_EQ(st.string(execfn_addr), s.execfn);
    EXPECT_EQ(execfn_addr + s.execfn.size() + 1, st.image.top - 8);
    uint64_t next = execfn_addr;
    for (size_t i = spec.envc; i-- > 0;) {
        EXPECT_EQ(d.envp_ptrs[i] + s.envp_s[i].size() + 1, next) << "envp " << i;
        next = d.envp_ptrs[i];
    }
    for (size_t i = spec.argc; i-- > 0;) {
        EXPECT_EQ(d.argv_ptrs[i] + s.argv_s[i].size() + 1, next) << "argv " << i;
        next = d.argv_ptrs[i];
    }
    const uint64_t strings_start = next;

    // Below the strings' 16-byte boundary: the platform string, then the random bytes.
    uint64_t platform_addr = strings_start & ~uint64_t(15);
    if (!s.platform.empty()) {
        platform_addr -= s.platform.size() + 1;
        EXPECT_EQ(aux_value(d, elf::kAtPlatform), platform_addr);
        EXPECT_EQ(st.string(platform_addr), s.platform);
    }
    uint64_t random_addr = aux_value(d, elf::kAtRandom);
    EXPECT_EQ(random_addr, platform_addr - 16);
    for (int i = 0; i < 16; i++)
        EXPECT_EQ(st.byte(random_addr + i), spec.random[i]);

    // Padding is zero and minimal; nothing below sp is touched.
    uint64_t aux_end = d.auxv_addr + 16 * d.auxv.size();
    EXPECT_LT(random_addr - aux_end, 16u);
    for (uint64_t a = aux_end; a < random_addr; a++)
        EXPECT_EQ(st.byte(a), 0);
    for (uint64_t a = platform_addr + s.platform.size() + (s.platform.empty() ? 0 : 1); a < strings_start; a++)
        EXPECT_EQ(st.byte(a), 0);
    for (uint64_t a = st.bottom(); a < sp; a++)
        ASSERT_EQ(st.byte(a), 0xa5);
}

TEST(ElfStack, TypicalProgram)
{
    Spec s({ "prog", "-x", "hello world" }, { "HOME=/", "PATH=/bin:/usr/bin", "TERM=dumb" }, typical_auxv());
    Stack st(16384);
    auto sp = elf::build_initial_stack(st.image, s.get());
    ASSERT_FALSE(sp.is_error());
    check_layout(st, sp.value(), s);
    // This layout is the one Linux produces: 3 args + 3 envs + 21 auxv pairs, 16 ahead of
    // a 16-aligned string area; sp is where the arithmetic says.
    Decoded d = decode(st, sp.value());
    EXPECT_EQ(d.auxv.size(), 21u);
    EXPECT_EQ(aux_value(d, elf::kAtPhnum), 13u);
    EXPECT_EQ(aux_value(d, elf::kAtEntry), 0x5555'5555'63d0u);
}

TEST(ElfStack, AlignmentForEveryShape)
{
    for (size_t argc = 0; argc <= 4; argc++) {
        for (size_t envc = 0; envc <= 4; envc++) {
            for (size_t auxc = 0; auxc <= 3; auxc++) {
                for (size_t len : { 0, 1, 7, 8, 15, 16, 17 }) {
                    for (bool platform : { true, false }) {
                        SCOPED_TRACE(std::to_string(argc) + "/" + std::to_string(envc) + "/" +
                                     std::to_string(auxc) + "/" + std::to_string(len) + "/" +
                                     std::to_string(platform));
                        std::vector<std::string> argv, envp;
                        for (size_t i = 0; i < argc; i++)
                            argv.push_back(std::string(len + i, 'a' + char(i)));
                        for (size_t i = 0; i < envc; i++)
                            envp.push_back("V" + std::to_string(i) + "=" + std::string(len, 'x'));
                        std::vector<elf::AuxEntry> aux;
                        for (size_t i = 0; i < auxc; i++)
                            aux.push_back({ elf::kAtUid + i, 1000 + i });
                        Spec s(argv, envp, aux);
                        s.execfn = std::string(len, '/');
                        if (!platform)
                            s.platform.clear();
                        Stack st(4096);
                        auto sp = elf::build_initial_stack(st.image, s.get());
                        ASSERT_FALSE(sp.is_error());
                        check_layout(st, sp.value(), s);
                    }
                }
            }
        }
    }
}

TEST(ElfStack, BuilderOwnedAuxEntries)
{
    // Given values are replaced, positions kept.
    Spec s({ "a" }, {}, { { elf::kAtPlatform, 111 }, { elf::kAtPagesz, 4096 }, { elf::kAtRandom, 222 } });
    Stack st(4096);
    auto sp = elf::build_initial_stack(st.image, s.get());
    ASSERT_FALSE(sp.is_error());
    check_layout(st, sp.value(), s);
    Decoded d = decode(st, sp.value());
    ASSERT_EQ(d.auxv.size(), 5u); // PLATFORM, PAGESZ, RANDOM, EXECFN (appended), NULL
    EXPECT_EQ(d.auxv[0].type, elf::kAtPlatform);
    EXPECT_NE(d.auxv[0].value, 111u);
    EXPECT_EQ(d.auxv[2].type, elf::kAtRandom);
    EXPECT_NE(d.auxv[2].value, 222u);
    EXPECT_EQ(d.auxv[3].type, elf::kAtExecFn);

    // Without a platform string, AT_PLATFORM disappears even if the caller listed it.
    s.platform.clear();
    Stack st2(4096);
    sp = elf::build_initial_stack(st2.image, s.get());
    ASSERT_FALSE(sp.is_error());
    check_layout(st2, sp.value(), s);
    d = decode(st2, sp.value());
    ASSERT_EQ(d.auxv.size(), 4u);
    EXPECT_EQ(d.auxv[0].type, elf::kAtPagesz);

    // Nothing given: RANDOM, EXECFN, PLATFORM are appended in that order.
    Spec bare({}, {});
    Stack st3(4096);
    sp = elf::build_initial_stack(st3.image, bare.get());
    ASSERT_FALSE(sp.is_error());
    check_layout(st3, sp.value(), bare);
    d = decode(st3, sp.value());
    ASSERT_EQ(d.auxv.size(), 4u);
    EXPECT_EQ(d.auxv[0].type, elf::kAtRandom);
    EXPECT_EQ(d.auxv[1].type, elf::kAtExecFn);
    EXPECT_EQ(d.auxv[2].type, elf::kAtPlatform);
    EXPECT_EQ(d.argc, 0u);
}

TEST(ElfStack, TooBigIsExact)
{
    Spec s({ "prog", "--flag=value" }, { "A=1", "LONGER_VARIABLE=some value" }, typical_auxv());
    Stack big(65536);
    auto sp = elf::build_initial_stack(big.image, s.get());
    ASSERT_FALSE(sp.is_error());
    uint64_t needed = kTop - sp.value();
    // Exactly enough: the same stack. One byte less: E2BIG.
    Stack exact(needed);
    auto sp2 = elf::build_initial_stack(exact.image, s.get());
    ASSERT_FALSE(sp2.is_error());
    EXPECT_EQ(sp2.value(), sp.value());
    EXPECT_EQ(0, std::memcmp(exact.bytes.data(), big.bytes.data() + big.bytes.size() - needed, needed));
    for (uint64_t size = 0; size < needed; size += (size < 64 || needed - size < 64) ? 1 : 37) {
        Stack small(size);
        auto r = elf::build_initial_stack(small.image, s.get());
        ASSERT_TRUE(r.is_error()) << size;
        EXPECT_EQ(r.error(), Errno::TOO_BIG) << size;
        for (uint8_t b : small.bytes)
            ASSERT_EQ(b, 0xa5); // nothing written on failure
    }

    // One string larger than the whole buffer; counts beyond anything that could fit.
    Spec huge({ std::string(100000, 'x') }, {});
    Stack st(65536);
    EXPECT_EQ(elf::build_initial_stack(st.image, huge.get()).error(), Errno::TOO_BIG);
    elf::StackSpec lying = Spec({}, {}).spec;
    lying.argc = size_t(1) << 40; // never read: the count alone is too big
    EXPECT_EQ(elf::build_initial_stack(st.image, lying).error(), Errno::TOO_BIG);
    lying.argc = 0;
    lying.envc = size_t(1) << 62;
    EXPECT_EQ(elf::build_initial_stack(st.image, lying).error(), Errno::TOO_BIG);
    lying.envc = 0;
    lying.auxc = ~size_t(0);
    EXPECT_EQ(elf::build_initial_stack(st.image, lying).error(), Errno::TOO_BIG);
}

TEST(ElfStack, InvalidInput)
{
    auto build = [](Spec& s, uint64_t top = kTop, size_t size = 4096) {
        Stack st(size, top);
        auto r = elf::build_initial_stack(st.image, s.get());
        return r.is_error() ? r.error() : Errno(0);
    };
    Spec ok({ "a" }, { "B=c" });
    EXPECT_EQ(build(ok), Errno(0));
    EXPECT_EQ(build(ok, kTop + 8), Errno::INVAL); // top not 16-aligned
    EXPECT_EQ(build(ok, 0x800, 4096), Errno::INVAL); // would start below address 0
    EXPECT_EQ(build(ok, 0x1000, 4096), Errno(0));    // starts exactly at 0

    Spec nul_arg({ std::string("a\0b", 3) }, {});
    EXPECT_EQ(build(nul_arg), Errno::INVAL);
    Spec nul_env({ "a" }, { std::string("X=\0", 3) });
    EXPECT_EQ(build(nul_env), Errno::INVAL);
    Spec nul_execfn({ "a" }, {});
    nul_execfn.execfn = std::string("/bin\0x", 6);
    EXPECT_EQ(build(nul_execfn), Errno::INVAL);
    Spec nul_platform({ "a" }, {});
    nul_platform.platform = std::string("x86\0", 4);
    EXPECT_EQ(build(nul_platform), Errno::INVAL);
    Spec null_aux({ "a" }, {}, { { elf::kAtPagesz, 4096 }, { elf::kAtNull, 0 } });
    EXPECT_EQ(build(null_aux), Errno::INVAL);
    // A NUL is INVAL even when the string would not fit either.
    Spec nul_big({ std::string(100000, 'x') + '\0' }, {});
    EXPECT_EQ(build(nul_big, kTop, 200000), Errno::INVAL);
}

TEST(ElfStack, ReadAuxvErrors)
{
    Spec s({ "prog" }, { "A=1" }, typical_auxv());
    Stack st(4096);
    auto sp = elf::build_initial_stack(st.image, s.get());
    ASSERT_FALSE(sp.is_error());
    std::vector<elf::AuxEntry> out(64);
    auto n = elf::read_auxv(st.image, sp.value(), out.data(), out.size());
    ASSERT_FALSE(n.is_error());
    EXPECT_EQ(n.value(), 21u);
    // Exactly enough room, then one too few.
    EXPECT_EQ(elf::read_auxv(st.image, sp.value(), out.data(), 21).value(), 21u);
    EXPECT_EQ(elf::read_auxv(st.image, sp.value(), out.data(), 20).error(), Errno::RANGE);
    EXPECT_EQ(elf::read_auxv(st.image, sp.value(), nullptr, 0).error(), Errno::RANGE);
    // sp outside the image.
    EXPECT_EQ(elf::read_auxv(st.image, kTop, out.data(), 64).error(), Errno::FAULT);
    EXPECT_EQ(elf::read_auxv(st.image, kTop - 4, out.data(), 64).error(), Errno::FAULT);
    EXPECT_EQ(elf::read_auxv(st.image, st.bottom() - 8, out.data(), 64).error(), Errno::FAULT);
    EXPECT_EQ(elf::read_auxv(st.image, ~uint64_t(0) - 3, out.data(), 64).error(), Errno::FAULT);

    // Corruptions: argv[argc] not NULL; argc too large; no AT_NULL before the top.
    Stack bad = st;
    bad.image.buffer = bad.bytes.data();
    uint64_t argv_end = sp.value() + 16;
    std::memset(&bad.bytes[argv_end - bad.bottom()], 0x11, 8);
    EXPECT_EQ(elf::read_auxv(bad.image, sp.value(), out.data(), 64).error(), Errno::INVAL);
    bad = st;
    bad.image.buffer = bad.bytes.data();
    uint64_t big = 1000;
    std::memcpy(&bad.bytes[sp.value() - bad.bottom()], &big, 8);
    EXPECT_EQ(elf::read_auxv(bad.image, sp.value(), out.data(), 64).error(), Errno::FAULT);
    bad = st;
    bad.image.buffer = bad.bytes.data();
    for (uint64_t a = sp.value() + 8 * 5; a < kTop; a += 16) // every auxv type: nonzero
        std::memset(&bad.bytes[a - bad.bottom()], 0x22, 8);
    EXPECT_EQ(elf::read_auxv(bad.image, sp.value(), out.data(), 1024).error(), Errno::FAULT);
}

// Linux's own initial stack, as this test process got it, follows the same rules: the
// random bytes sit right below the platform string, and the execfn string ends 8 bytes
// below the top of the stack mapping (a page boundary).
TEST(ElfStack, LinuxAgrees)
{
    uint64_t random = getauxval(AT_RANDOM);
    uint64_t platform = getauxval(AT_PLATFORM);
    uint64_t execfn = getauxval(AT_EXECFN);
    if (random == 0 || platform == 0 || execfn == 0)
        GTEST_SKIP() << "the host kernel does not provide these auxv entries";
    EXPECT_STREQ(reinterpret_cast<const char*>(platform), "x86_64");
    EXPECT_EQ(random + 16, platform);
    uint64_t end = execfn + std::strlen(reinterpret_cast<const char*>(execfn)) + 1;
    EXPECT_EQ((end + 8) % 4096, 0u);
    for (uint64_t a = end; a < end + 8; a++)
        EXPECT_EQ(*reinterpret_cast<const uint8_t*>(a), 0);
}

} // namespace
