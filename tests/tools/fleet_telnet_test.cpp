// netcpu fleet with a node reached through vdetelweb's telnet, run from a
// host on the virtual network, beside a node reached by its socket:
//
//   vdetelweb 192.168.250.6 ──┐ switch 1 + netcpu.so
//   vdens host 192.168.250.7 ─┘ (this binary again, as a helper: runs netcpu)
//   switch 2 + netcpu.so: its management socket
//
// The helper, inside a vdens namespace whose only network is switch 1, runs
// the netcpu commands the test gives it ("run SHELL COMMAND" -> "exit N";
// the command's output goes to files the test reads): the telnet session
// crosses switch 1, the socket is the filesystem's.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "fleet_test_util.h"
#include "switch_harness.h"
#include "vdens_host.h"
#include "vdetelweb_process.h"

namespace netcpu::test {
namespace {

using std::chrono::milliseconds;

constexpr const char* kHelperEnv = "NETCPU_FLEET_TELNET_HELPER";
constexpr const char* kTelwebAddress = "192.168.250.6";
constexpr const char* kPassword = "netcpu-fleet";

// Inside the namespace: the helper. No gtest here (it runs before main).
int helper_main() {
  helper_unblock_sigchld();  // it runs ip and netcpu
  std::string why;
  if (!helper_run_ip("link set dev lo up", why) || !helper_run_ip("link set dev vde0 up", why) ||
      !helper_run_ip("addr add 192.168.250.7/24 dev vde0", why)) {
    helper_say("fail setup: " + why);
    return 1;
  }
  helper_say("ready");
  helper_each_line([](const std::string& line) {
    if (!line.starts_with("run ")) return;
    const int st = std::system(line.substr(4).c_str());
    helper_say("exit " + std::to_string(WIFEXITED(st) ? WEXITSTATUS(st) : 128));
  });
  return 0;  // the test is done
}

// Runs before main() in the re-executed test binary, and never returns there.
[[maybe_unused]] const bool kHelper = [] {
  if (std::getenv(kHelperEnv) == nullptr) return false;
  std::fflush(nullptr);
  _exit(helper_main());
}();

// The test side.
class FleetTelnet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = Vdetelweb::why_unavailable()) GTEST_SKIP() << *why;
    if (auto why = why_vdens_cannot_run()) GTEST_SKIP() << *why;
    for (int i = 0; i < 2; ++i) {
      sw[i] = std::make_unique<VdeSwitch>(plugin_switch_options());
      con[i] = std::make_unique<Console>(sw[i]->mgmt_path());
      con[i]->cmd_ok("plugin/add " NETCPU_PLUGIN);
    }
    telweb = std::make_unique<Vdetelweb>(*sw[0], *con[0], std::string(kTelwebAddress) + "/24",
                                         kPassword);
    ns = std::make_unique<VdensHost>("vde://" + sw[0]->data_path(), std::vector<std::string>{},
                                     std::string(kHelperEnv) + "=1");
    auto ready = ns->wait_line({"ready", "fail"}, milliseconds(10000));
    ASSERT_TRUE(ready) << "the namespace did not report ready\n" << ns->transcript();
    ASSERT_EQ(*ready, "ready") << ns->transcript();
  }
  void TearDown() override {
    if (ns) ns->stop();
    if (telweb) {
      EXPECT_TRUE(telweb->alive()) << "vdetelweb died:\n" << telweb->log();
    }
  }

  // `netcpu ARGS` in the namespace, its output in files of the test's.
  Result netcpu_there(const std::string& args, const std::string& environment = "") {
    static int n = 0;
    const std::string out = (scratch() / ("there" + std::to_string(n) + ".out")).string(),
                      err = (scratch() / ("there" + std::to_string(n++) + ".err")).string();
    ns->send("run " + environment + NETCPU_CLI + " " + args + " >" + out + " 2>" + err);
    Result r;
    auto line = ns->wait_line({"exit "}, milliseconds(30000));
    if (!line) {
      r.err = "no answer from the helper\n" + ns->transcript();
      return r;
    }
    r.code = std::stoi(line->substr(5));
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }

  std::unique_ptr<VdeSwitch> sw[2];
  std::unique_ptr<Console> con[2];
  std::unique_ptr<Vdetelweb> telweb;
  std::unique_ptr<VdensHost> ns;
};

TEST_F(FleetTelnet, ALoadReachesOneSwitchThroughVdetelwebAndAnotherByItsSocket) {
  // vdetelweb's telnet port listens a moment after its stack is on the
  // switch: netcpu ctl (the password from the environment) until it answers.
  Result r;
  for (int i = 0; i < 60; ++i) {
    r = netcpu_there("ctl telnet://" + std::string(kTelwebAddress) + " netcpu/budget",
                     std::string("NETCPU_CONSOLE_PASSWORD=") + kPassword + " ");
    if (r.code == 0 || r.err.find("refused") == std::string::npos) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("budget "), std::string::npos) << r.out;
  const std::string program = write("telnet-fleet.ncpu", kWithTable);
  const std::string nodes =
      write("telnet-nodes.txt", "tel telnet://" + std::string(kTelwebAddress) +
                                    " point='* in' password=" + kPassword + "\nsw2 " +
                                    sw[1]->mgmt_path() + " point='* in'\n");
  r = netcpu_there("fleet " + nodes + " load " + program);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("tel: committed 1: telnet-fleet on * in"), std::string::npos) << r.out;
  const std::string want = hash_of(program);
  EXPECT_EQ(hash_at(*con[0], "* in"), want);
  EXPECT_EQ(hash_at(*con[1], "* in"), want);
  // More points than one line of netcpu/list -j holds for vdetelweb (1024
  // bytes): the plugin cuts it between elements, fleet joins it.
  for (const char* point : {"1 out", "2 out", "3 out"})
    con[0]->cmd_ok(std::string("netcpu/filter ") + point + " ip or not ip");  // passes all
  r = netcpu_there("fleet " + nodes + " list");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\ntel  * in       " + want), std::string::npos) << r.out;
  for (const char* point : {"1 out", "2 out", "3 out"})
    EXPECT_NE(r.out.find(std::string("\ntel  ") + point + "    "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\nsw2  * in       " + want), std::string::npos) << r.out;
}

}  // namespace
}  // namespace netcpu::test
