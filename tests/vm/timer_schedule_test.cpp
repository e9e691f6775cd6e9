// TimerSchedule: when timer handlers run and what they see, under both
// policies for missed periods (the hosts' and `netcpu run`'s).
#include "netcpu/timer_schedule.h"

#include <gtest/gtest.h>

#include "vm_test_util.h"

namespace netcpu::test {
namespace {

// Two timers that print the time and port they were run with.
constexpr const char* kTimers = R"(.timer fast 10ms:
print "fast", now, port
end
.timer slow 25ms:
print "slow", now, port
end
.text:
end
)";

// kTimers, printing into `lines` (without the console's rate limit).
std::unique_ptr<Instance> timers_vm(std::vector<std::string>& lines) {
  Diagnostic d;
  Limits limits;
  limits.output_burst = limits.output_per_second = 1u << 20;
  auto vm = Instance::create(
      assemble_ok(kTimers), HostCaps{}, limits,
      [&lines](OutputKind, std::string_view l) { lines.emplace_back(l); }, &d);
  EXPECT_TRUE(vm) << d.str();
  return vm;
}

struct Scheduled {
  std::vector<std::string> lines;
  std::unique_ptr<Instance> vm = timers_vm(lines);
  TimerSchedule schedule;

  explicit Scheduled(TimerSchedule::Missed missed) : schedule(missed) {
    schedule.restart(vm->program().timers.size());
  }
  std::vector<std::string> run_at(uint64_t now_ms, uint32_t port = 3) {
    lines.clear();
    PacketMeta meta;
    meta.port = port;
    schedule.run_due(*vm, now_ms, meta);
    return lines;
  }
};

using Lines = std::vector<std::string>;

TEST(TimerSchedule, FirstRunIsOnePeriodAfterTheFirstLook) {
  Scheduled s(TimerSchedule::Missed::RunOnce);
  EXPECT_EQ(s.run_at(1000), Lines{});
  EXPECT_EQ(s.run_at(1009), Lines{});
  EXPECT_EQ(s.run_at(1010), (Lines{"fast 1010 3"}));
  EXPECT_EQ(s.run_at(1025, 4), (Lines{"fast 1025 4", "slow 1025 4"}));
  EXPECT_EQ(s.vm->stats().timer_runs, 3u);
}

TEST(TimerSchedule, ALateHostRunsEachDueTimerOnceAtItsTime) {
  Scheduled s(TimerSchedule::Missed::RunOnce);
  s.run_at(1000);
  EXPECT_EQ(s.run_at(1100), (Lines{"fast 1100 3", "slow 1100 3"}));
  // The missed periods are skipped: the next deadlines are 1110 and 1125.
  EXPECT_EQ(s.run_at(1109), Lines{});
  EXPECT_EQ(s.run_at(1110), (Lines{"fast 1110 3"}));
  EXPECT_EQ(s.run_at(1125), (Lines{"fast 1125 3", "slow 1125 3"}));
}

TEST(TimerSchedule, AReplayRunsEveryMissedPeriodAtItsDeadline) {
  Scheduled s(TimerSchedule::Missed::RunEach);
  s.run_at(1000);
  EXPECT_EQ(s.run_at(1050), (Lines{"fast 1010 3", "fast 1020 3", "fast 1030 3", "fast 1040 3",
                                   "fast 1050 3", "slow 1025 3", "slow 1050 3"}));
  EXPECT_EQ(s.run_at(1059), Lines{});
  EXPECT_EQ(s.run_at(1060), (Lines{"fast 1060 3"}));
}

TEST(TimerSchedule, RestartStartsTheHandlersOver) {
  Scheduled s(TimerSchedule::Missed::RunOnce);
  s.run_at(1000);
  s.schedule.restart(s.vm->program().timers.size());
  EXPECT_EQ(s.run_at(1010), Lines{});  // started again at 1010
  EXPECT_EQ(s.run_at(1019), Lines{});
  EXPECT_EQ(s.run_at(1020), (Lines{"fast 1020 3"}));
}

TEST(TimerSchedule, RanSeesEachRun) {
  Scheduled s(TimerSchedule::Missed::RunEach);
  s.run_at(0);
  size_t runs = 0;
  s.schedule.run_due(*s.vm, 30, PacketMeta{}, [&](const RunResult& r) {
    EXPECT_EQ(r.verdict, Verdict::Pass);
    ++runs;
  });
  EXPECT_EQ(runs, 4u);  // fast at 10, 20, 30; slow at 25
}

TEST(AttachPoint, RunsDueTimersOncePerLateTick) {
  std::vector<std::string> lines;
  auto vm = timers_vm(lines);
  ASSERT_TRUE(vm);
  AttachPoint at("p");
  EXPECT_FALSE(at.has_timers());
  at.replace(std::move(vm));
  EXPECT_TRUE(at.has_timers());
  PacketMeta meta;
  meta.port = 7;
  at.run_due_timers(500, meta);
  at.run_due_timers(600, meta);
  EXPECT_EQ(lines, (Lines{"fast 600 7", "slow 600 7"}));
  at.replace(nullptr);
  EXPECT_FALSE(at.has_timers());
  at.run_due_timers(700, meta);  // no program: nothing runs
}

TEST(AttachPoint, TicksExpireIdleTableEntries) {
  Diagnostic d;
  auto vm =
      Instance::create(assemble_ok(".data:\ntable t hash key 4 max 8 idle 1s\n.text:\n    pass\n"),
                       HostCaps{}, Limits{}, nullptr, &d);
  ASSERT_TRUE(vm) << d.str();
  Table& t = vm->table(0);
  t.clock().now_ms = 1000;
  const uint8_t key[4] = {1, 2, 3, 4}, value[8] = {1};
  ASSERT_TRUE(t.update(key, value));
  AttachPoint at("p");
  at.replace(std::move(vm));
  EXPECT_TRUE(at.has_timers());  // no handlers, but a host must tick it
  at.run_due_timers(1999, PacketMeta{});
  EXPECT_EQ(at.program()->table(0).size(), 1u);
  at.run_due_timers(2000, PacketMeta{});
  EXPECT_EQ(at.program()->table(0).size(), 0u);
  EXPECT_EQ(at.program()->table(0).expired(), 1u);
}

}  // namespace
}  // namespace netcpu::test
