// Unit tests of the accelerator choice.
#include "runner/accel.h"

#include <gtest/gtest.h>

namespace runner {
namespace {

TEST(RunnerAccel, FindsVirtFlagOnlyInFlagsLines) {
    EXPECT_EQ(find_virt_flag("processor\t: 0\nflags\t\t: fpu vme vmx sse\n"), "vmx");
    EXPECT_EQ(find_virt_flag("flags\t\t: fpu svm\n"), "svm");
    EXPECT_EQ(find_virt_flag("flags\t\t: fpu hypervisor sse4_2\n"), "");
    EXPECT_EQ(find_virt_flag("model name\t: vmx svm inside a name\nflags\t: fpu\n"), "");
    EXPECT_EQ(find_virt_flag("flags\t\t: fpu vmxx svmm\n"), "");
    EXPECT_EQ(find_virt_flag(""), "");
}

TEST(RunnerAccel, AutoPicksKvmOnlyWhenFlagAndDeviceAreThere) {
    HostVirt good{"vmx", true, {}};
    auto c = choose_accel(AccelRequest::Auto, good, false);
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value->accel, Accel::Kvm);

    HostVirt no_flag{"", true, {}};
    c = choose_accel(AccelRequest::Auto, no_flag, false);
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value->accel, Accel::Tcg);
    EXPECT_EQ(c.value->reason, "no vmx/svm on this host");

    HostVirt no_dev{"svm", false, "/dev/kvm: Permission denied"};
    c = choose_accel(AccelRequest::Auto, no_dev, false);
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value->accel, Accel::Tcg);
    EXPECT_EQ(c.value->reason, "/dev/kvm: Permission denied");
}

TEST(RunnerAccel, IcountForcesTcg) {
    auto c = choose_accel(AccelRequest::Auto, HostVirt{"vmx", true, {}}, true);
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value->accel, Accel::Tcg);
    EXPECT_FALSE(choose_accel(AccelRequest::Kvm, HostVirt{"vmx", true, {}}, true));
}

TEST(RunnerAccel, ExplicitRequests) {
    auto tcg = choose_accel(AccelRequest::Tcg, HostVirt{"vmx", true, {}}, false);
    ASSERT_TRUE(tcg);
    EXPECT_EQ(tcg.value->accel, Accel::Tcg);
    auto kvm = choose_accel(AccelRequest::Kvm, HostVirt{"vmx", true, {}}, false);
    ASSERT_TRUE(kvm);
    EXPECT_EQ(kvm.value->accel, Accel::Kvm);
    auto refused = choose_accel(AccelRequest::Kvm, HostVirt{"", false, "x"}, false);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error.find("no vmx/svm"), std::string::npos) << refused.error;
}

} // namespace
} // namespace runner
