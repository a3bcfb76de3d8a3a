// Unit tests of the runner's exit-status decisions.
#include "runner/exit_status.h"

#include <gtest/gtest.h>

#include <csignal>

namespace runner {
namespace {

QemuOutcome exited(int code, bool printed_error = false) {
    QemuOutcome q;
    q.exited = true;
    q.exit_code = code;
    q.qemu_printed_error = printed_error;
    return q;
}

TEST(RunnerStatus, ParsesRecords) {
    EXPECT_EQ(parse_status_record("").kind, StatusRecord::Kind::None);
    auto r = parse_status_record("exit 0\n");
    EXPECT_EQ(r.kind, StatusRecord::Kind::Exit);
    EXPECT_EQ(r.code, 0);
    r = parse_status_record("exit 255\r\n");
    EXPECT_EQ(r.kind, StatusRecord::Kind::Exit);
    EXPECT_EQ(r.code, 255);
    EXPECT_EQ(parse_status_record("panic\n").kind, StatusRecord::Kind::Panic);
    for (const char* bad : {"exit 256\n", "exit -1\n", "exit\n", "exit x\n", "exit 3 4\n",
                            "exit  3\n", "PANIC\n", "garbage", "exit 0003\n", "exit 03\n", "exit +3\n"}) {
        EXPECT_EQ(parse_status_record(bad).kind, StatusRecord::Kind::Malformed) << bad;
    }
}

TEST(RunnerStatus, DebugExitDecoding) {
    EXPECT_EQ(decode_debug_exit_code(1), 0);
    EXPECT_EQ(decode_debug_exit_code(7), 3);
    EXPECT_EQ(decode_debug_exit_code(255), 127);
    EXPECT_EQ(decode_debug_exit_code(0), std::nullopt);
    EXPECT_EQ(decode_debug_exit_code(2), std::nullopt);
}

TEST(RunnerStatus, RecordWins) {
    // status 200 reaches QEMU's exit code as (401 & 0xff) = 145; the record has all 8 bits.
    EXPECT_EQ(decide_exit_status(parse_status_record("exit 200\n"), exited(145)).status, 200);
    EXPECT_EQ(decide_exit_status(parse_status_record("exit 0\n"), exited(1)).status, 0);
    EXPECT_EQ(decide_exit_status(parse_status_record("panic\n"), exited(3)).status, kStatusPanic);
}

TEST(RunnerStatus, FallbackToQemuCode) {
    StatusRecord none;
    auto v = decide_exit_status(none, exited(7));
    EXPECT_EQ(v.status, 3);
    EXPECT_TRUE(v.explanation.empty());
    v = decide_exit_status(parse_status_record("junk\n"), exited(7));
    EXPECT_EQ(v.status, 3);
    EXPECT_NE(v.explanation.find("malformed"), std::string::npos);
}

TEST(RunnerStatus, GuestEndedWithoutStatus) {
    StatusRecord none;
    EXPECT_EQ(decide_exit_status(none, exited(0)).status, kStatusNoReport);  // e.g. triple fault
    QemuOutcome killed;
    killed.term_signal = SIGSEGV;
    EXPECT_EQ(decide_exit_status(none, killed).status, kStatusNoReport);
    EXPECT_EQ(decide_exit_status(none, exited(2)).status, kStatusNoReport);
}

TEST(RunnerStatus, QemuStartupFailureIsNotStatusZero) {
    EXPECT_EQ(decide_exit_status(StatusRecord{}, exited(1, true)).status, kStatusRunnerError);
    EXPECT_EQ(decide_exit_status(StatusRecord{}, exited(1, false)).status, 0);
}

TEST(RunnerStatus, TimeoutAndSignals) {
    QemuOutcome q;
    q.timed_out = true;
    q.term_signal = SIGKILL;
    EXPECT_EQ(decide_exit_status(StatusRecord{}, q).status, kStatusTimeout);
    QemuOutcome i = exited(0);
    i.forwarded_signal = SIGINT;
    EXPECT_EQ(decide_exit_status(StatusRecord{}, i).status, 128 + SIGINT);
}

TEST(RunnerStatus, QemuErrorLines) {
    EXPECT_TRUE(is_qemu_error_line("qemu-system-x86_64: -kernel x: No such file"));
    EXPECT_TRUE(is_qemu_error_line("qemu: invalid kernel header"));
    EXPECT_FALSE(is_qemu_error_line("qemu-system-x86_64: warning: host doesn't support feature"));
    EXPECT_FALSE(is_qemu_error_line("qemu-system-x86_64: terminating on signal 2 from pid 1"));
    EXPECT_FALSE(is_qemu_error_line("   "));
}

} // namespace
} // namespace runner
