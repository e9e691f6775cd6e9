// budget, onabort and reset on a test host: every program is tuned, and
// the programs loaded later too.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "control_host.h"

namespace netcpu {
namespace {

using testing::ControlHost;

TEST(ControlLimits, BudgetIsEveryProgramsAndLaterOnesToo) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", ".text:\n    pass\n").error, 0);
  ControlReply r = host.run("budget", "500");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "budget 500 instructions per packet");
  EXPECT_EQ(host.run("budget").text, "budget 500 instructions per packet");
  EXPECT_EQ(host.at("0 in").program()->limits().budget, 500u);
  ASSERT_EQ(host.load("0 out", ".text:\n    pass\n").error, 0);
  EXPECT_EQ(host.at("0 out").program()->limits().budget, 500u);
  EXPECT_EQ(host.control.limits().budget, 500u);
  for (const char* bad : {"0", "100000001", "many", "5 5", "-1"}) {
    r = host.run("budget", bad);
    EXPECT_EQ(r.error, EINVAL) << bad;
    EXPECT_EQ(r.text, "expected budget [N] (1..100000000 instructions per packet)");
  }
  EXPECT_EQ(host.at("0 in").program()->limits().budget, 500u);
}

TEST(ControlLimits, OnabortIsTheVerdictOfStoppedRuns) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", ".text:\n    pass\n").error, 0);
  const std::string before = host.run("onabort").text;
  EXPECT_TRUE(before == "stopped runs pass" || before == "stopped runs drop") << before;
  EXPECT_EQ(host.run("onabort", "drop").text, "stopped runs drop");
  EXPECT_EQ(host.at("0 in").program()->limits().on_abort, Verdict::Drop);
  EXPECT_EQ(host.run("onabort", "pass").text, "stopped runs pass");
  EXPECT_EQ(host.at("0 in").program()->limits().on_abort, Verdict::Pass);
  EXPECT_EQ(host.run("onabort").text, "stopped runs pass");
  const ControlReply r = host.run("onabort", "reject");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_EQ(r.text, "expected onabort [pass|drop]");
  EXPECT_EQ(host.control.limits().on_abort, Verdict::Pass);
}

TEST(ControlLimits, ResetZeroesTheCountersOfThePointsItNames) {
  ControlHost host;
  EXPECT_EQ(host.run("reset").text, "no programs: nothing to reset");
  ASSERT_EQ(host.load("0 in", ".text:\n    drop\n").error, 0);
  ASSERT_EQ(host.load("1 in", ".text:\n    drop\n").error, 0);
  host.send("0 in", std::vector<uint8_t>(60));
  host.send("1 in", std::vector<uint8_t>(60));

  ControlReply r = host.run("reset", "0 in");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "counters reset: 0 in");
  EXPECT_EQ(host.at("0 in").program()->stats().packets.load(), 0u);
  EXPECT_EQ(host.at("0 in").bytes(Verdict::Drop), 0u);
  EXPECT_EQ(host.at("1 in").program()->stats().packets.load(), 1u);

  EXPECT_EQ(host.run("reset").text, "counters reset: 0 in, 1 in");
  EXPECT_EQ(host.at("1 in").program()->stats().packets.load(), 0u);
  r = host.run("reset", "0 out");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, "no program there: nothing reset");
  EXPECT_EQ(host.run("reset", "5 in").error, EINVAL);
}

}  // namespace
}  // namespace netcpu
