// Checks the vde_switch test harness against stock components only: Debian's
// vde_switch, libvdeplug and the switch's own dump.so plugin.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "switch_harness.h"

namespace netcpu::test {
namespace {

using packets::mac_addr;

const Mac kMacA = mac_addr("02:00:00:00:00:0a");
const Mac kMacB = mac_addr("02:00:00:00:00:0b");
const Mac kMacC = mac_addr("02:00:00:00:00:0c");

constexpr const char* kDumpPlugin = "/usr/lib/vde2/plugins/dump.so";

bool contains(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

bool process_exists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

TEST(VdeSwitchHarness, StartsAndStopsCleanly) {
  pid_t pid;
  std::string dir;
  {
    VdeSwitch sw;
    pid = sw.pid();
    dir = sw.dir();
    EXPECT_GT(pid, 0);
    EXPECT_TRUE(sw.alive());
    EXPECT_EQ(sw.exit_description(), "running");
    EXPECT_TRUE(std::filesystem::exists(sw.mgmt_path()));
    EXPECT_TRUE(std::filesystem::exists(sw.data_path() + "/ctl"));
    EXPECT_GE(sw.cpu_ticks(), 0);
  }
  EXPECT_FALSE(process_exists(pid));
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(VdeSwitchHarness, NoticesADeadSwitch) {
  VdeSwitch sw;
  Console console(sw.mgmt_path(), 1s);
  kill(sw.pid(), SIGKILL);
  for (int i = 0; i < 200 && sw.alive(); ++i) std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(sw.alive());
  EXPECT_EQ(sw.exit_description(), "killed by signal 9 (Killed)");
  EXPECT_THROW(console.cmd("help"), std::runtime_error);  // fails, does not hang
  EXPECT_FALSE(console.connected());
}

TEST(VdeSwitchHarness, ReportsAFailedStart) {
  try {
    VdeSwitch sw({.extra_args = {"-n", "0"}});  // the last -n wins
    FAIL() << "started with 0 ports";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("vde_switch exited with status 1"), std::string::npos) << what;
    EXPECT_NE(what.find("at least 1 port"), std::string::npos) << what;  // its stderr
  }
}

TEST(VdeSwitchHarness, RunsRcCommandsAndOptions) {
  VdeSwitch sw({.ports = 4, .rc_commands = {"plugin/add " + std::string(kDumpPlugin)}});
  Console console(sw.mgmt_path());
  EXPECT_TRUE(contains(console.cmd_ok("plugin/list").data, "dump"));
  EXPECT_TRUE(contains(console.cmd_ok("port/showinfo").data, "Numports=4"))
      << console.cmd("port/showinfo").text();
}

TEST(ConsoleHarness, ParsesRepliesAndErrors) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  ASSERT_FALSE(console.banner().empty());
  EXPECT_TRUE(console.banner()[0].starts_with("VDE switch V.")) << console.banner()[0];

  Reply help = console.cmd("help");
  EXPECT_TRUE(help.ok());
  EXPECT_EQ(help.status, "1000 Success");
  EXPECT_TRUE(contains(help.data, "debug/add"));
  EXPECT_TRUE(contains(help.data, "plugin/add"));
  EXPECT_TRUE(contains(help.data, "port/allprint"));

  Reply unknown = console.cmd("no/such/command");
  EXPECT_EQ(unknown.code, ENOSYS) << unknown.text();
  EXPECT_EQ(unknown.status, "1038 Function not implemented");

  EXPECT_EQ(console.cmd("port/setnumports").code, EINVAL);
  EXPECT_EQ(console.cmd("port/print 7").code, ENXIO);  // no such port (yet)
  EXPECT_EQ(console.cmd("").code, -1);                 // just a prompt
  EXPECT_THROW(console.cmd_ok("no/such/command"), std::runtime_error);
  EXPECT_THROW(console.cmd(std::string(200, 'x')), std::invalid_argument);

  Reply info = console.cmd_ok("showinfo");
  EXPECT_TRUE(contains(info.data, "pid " + std::to_string(sw.pid())));
}

TEST(ConsoleHarness, CollectsAsynchronousDebugLines) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  console.cmd_ok("debug/add port/+");
  console.cmd_ok("debug/add port/ep/-");
  std::string descr;
  {
    Endpoint a(sw.data_path(), console);  // port_of() runs commands while lines arrive
    descr = a.descr();
    auto plus =
        console.wait_debug([](const std::string& l) { return l.starts_with("3021 port/+"); });
    ASSERT_TRUE(plus.has_value());
    EXPECT_EQ(std::stoi(plus->substr(plus->rfind(' ') + 1)), a.port());
  }
  auto minus = console.wait_debug([](const std::string& l) { return l.starts_with("3032 "); });
  EXPECT_TRUE(minus.has_value());
  EXPECT_FALSE(console.wait_debug([](const std::string&) { return false; }, 50ms).has_value());
  EXPECT_TRUE(console.cmd("help").ok());  // replies still parse after debug output
}

TEST(EndpointHarness, LearnsDistinctPorts) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  Endpoint a(sw.data_path(), console);
  Endpoint b(sw.data_path(), console);
  EXPECT_GE(a.port(), 1);
  EXPECT_LE(a.port(), 32);
  EXPECT_GE(b.port(), 1);
  EXPECT_NE(a.port(), b.port());
  EXPECT_EQ(console.port_of("nobody-has-this-description"), -1);
  EXPECT_EQ(console.port_of(a.descr()), a.port());
}

TEST(EndpointHarness, UnicastLosesNothing) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  Endpoint a(sw.data_path(), console);
  Endpoint b(sw.data_path(), console);
  SequenceCounter got = blast(a, b, kMacA, kMacB, 1000);
  EXPECT_TRUE(got.complete()) << got.summary();
  EXPECT_EQ(got.received(), 1000u);
  EXPECT_EQ(got.duplicates(), 0u);
  EXPECT_EQ(got.foreign(), 0u);
  EXPECT_TRUE(got.missing().empty());
}

TEST(EndpointHarness, LargeFramesKeepTheirBytes) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  Endpoint a(sw.data_path(), console);
  Endpoint b(sw.data_path(), console);
  Bytes frame = numbered_frame(kMacB, kMacA, 7, 1514);
  ASSERT_EQ(frame.size(), 1514u);
  ASSERT_TRUE(a.send(frame));
  auto got = b.recv(2000);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, frame);
  EXPECT_EQ(sequence_of(*got), 7u);
}

TEST(EndpointHarness, SwitchLearnsAndStopsFlooding) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  Endpoint a(sw.data_path(), console), b(sw.data_path(), console), c(sw.data_path(), console);

  // B's MAC is unknown: A's frame is flooded to B and C.
  ASSERT_TRUE(a.send(numbered_frame(kMacB, kMacA, 0)));
  EXPECT_TRUE(b.recv(2000).has_value());
  EXPECT_TRUE(c.recv(2000).has_value());

  // Once B has sent a frame, frames to B go to B alone.
  ASSERT_TRUE(b.send(numbered_frame(kMacA, kMacB, 0)));
  EXPECT_TRUE(a.recv(2000).has_value());
  SequenceCounter got = blast(a, b, kMacA, kMacB, 200);
  EXPECT_TRUE(got.complete()) << got.summary();
  EXPECT_EQ(c.drain(), 0u);
  EXPECT_TRUE(contains(console.cmd_ok("hash/print").data, "02:00:00:00:00:0b"))
      << console.cmd("hash/print").text();
}

TEST(EndpointHarness, HubFloodsEverything) {
  VdeSwitch sw({.hub = true});
  Console console(sw.mgmt_path());
  Endpoint a(sw.data_path(), console), b(sw.data_path(), console), c(sw.data_path(), console);
  ASSERT_TRUE(b.send(numbered_frame(kMacA, kMacB, 0)));
  a.drain();
  c.drain();
  SequenceCounter got = blast(a, b, kMacA, kMacB, 100);
  EXPECT_TRUE(got.complete()) << got.summary();
  EXPECT_EQ(c.drain(), 100u);
}

TEST(EndpointHarness, BroadcastReachesAllOthers) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  Endpoint a(sw.data_path(), console), b(sw.data_path(), console), c(sw.data_path(), console);
  Bytes frame = numbered_frame(packets::kBroadcastMac, kMacA, 42);
  ASSERT_TRUE(a.send(frame));
  for (Endpoint* e : {&b, &c}) {
    auto got = e->recv(2000);
    ASSERT_TRUE(got.has_value()) << "port " << e->port();
    EXPECT_EQ(*got, frame);
  }
  EXPECT_FALSE(a.recv(100).has_value());  // not sent back to its sender
}

TEST(PluginHarness, LoadsAndUnloadsTheStockDumpPlugin) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  EXPECT_EQ(console.cmd("plugin/list").code, ENOENT);  // an empty list is ENOENT
  console.cmd_ok(std::string("plugin/add ") + kDumpPlugin);
  Reply list = console.cmd_ok("plugin/list");
  EXPECT_TRUE(contains(list.data, "dump")) << list.text();
  EXPECT_TRUE(contains(console.cmd_ok("help dump").data, "dump/active"));
  EXPECT_EQ(console.cmd(std::string("plugin/add ") + kDumpPlugin).code, EEXIST);

  // Traffic still flows with the plugin loaded (and dumping).
  console.cmd_ok("dump/active 1");
  Endpoint a(sw.data_path(), console), b(sw.data_path(), console);
  SequenceCounter got = blast(a, b, kMacA, kMacB, 50);
  EXPECT_TRUE(got.complete()) << got.summary();
  console.cmd_ok("dump/active 0");

  console.cmd_ok("plugin/del dump");
  EXPECT_FALSE(contains(console.cmd("plugin/list").data, "dump"));
  EXPECT_EQ(console.cmd("dump/active 1").code, ENOSYS);
  EXPECT_TRUE(sw.alive()) << sw.log();
}

TEST(ConsoleHarness, GarbageNeverKillsTheSwitch) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  std::mt19937 rng(12345);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& ch : s) ch = static_cast<char>(rng());
    return s;
  };
  // Plausible-looking garbage first, then random bytes of many sizes. (Anything that
  // starts with "shutdown" or "logout" would end the switch or the session: avoided.)
  const std::vector<std::string> junk = {
      "\n",
      "\n\n\n",
      std::string(1, '\0'),
      std::string(127, 'x') + "\n",
      std::string(128, 'y'),
      std::string(5000, 'z') + "\n",
      "help " + std::string(300, 'h') + "\n",
      "port/print -1\n",
      "port/print 99999999999999999999\n",
      "port/allprint 0\n",
      "hash/find zz:zz\n",
      "plugin/add /nonexistent/plugin.so\n",
      "plugin/del\n",
      "plugin/del nothing\n",
      "debug/add\n",
      "debug/add no/such/category\n",
      "debug/del port\n",
      "vlan/print 70000\n",
      "port/epclose 1 1\n",
      "#comment\n",
      "\t \t\n",
      "\xff\xfe\xfd\r\n",
      "help\r\n",
  };
  auto send_junk = [&](const std::string& bytes) {
    console.send_raw(bytes);
    ASSERT_TRUE(sw.alive() && console.connected())
        << "after " << testing::PrintToString(bytes) << ": switch " << sw.exit_description()
        << ", console " << (console.connected() ? "connected" : "closed") << "; switch output:\n"
        << sw.log();
  };
  for (const auto& bytes : junk) ASSERT_NO_FATAL_FAILURE(send_junk(bytes));
  for (size_t size : {1, 2, 7, 64, 127, 128, 129, 1000, 20000}) {
    for (int i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(send_junk(random_bytes(size)));
  }
  EXPECT_TRUE(console.connected());
  EXPECT_TRUE(console.cmd("help").ok());

  // A fresh console and the data path still work.
  Console again(sw.mgmt_path());
  EXPECT_TRUE(again.cmd("showinfo").ok());
  Endpoint a(sw.data_path(), again), b(sw.data_path(), again);
  SequenceCounter got = blast(a, b, kMacA, kMacB, 100);
  EXPECT_TRUE(got.complete()) << got.summary();
  EXPECT_TRUE(sw.alive()) << sw.log();
}

TEST(ConsoleHarness, LogoutClosesTheSession) {
  VdeSwitch sw;
  Console console(sw.mgmt_path());
  console.send_raw("logout\n");
  EXPECT_FALSE(console.connected());
  EXPECT_THROW(console.cmd("help"), std::runtime_error);
  EXPECT_TRUE(sw.alive());
  EXPECT_TRUE(Console(sw.mgmt_path()).cmd("help").ok());
}

TEST(SwitchHarness, SeveralSwitchesAtOnce) {
  VdeSwitch one, two;
  EXPECT_NE(one.dir(), two.dir());
  Console c1(one.mgmt_path()), c2(two.mgmt_path());
  Endpoint a(one.data_path(), c1), b(two.data_path(), c2);
  ASSERT_TRUE(a.send(numbered_frame(packets::kBroadcastMac, kMacA, 1)));
  EXPECT_FALSE(b.recv(100).has_value());  // separate switches
}

TEST(SequenceHarness, CountsMissingDuplicateAndForeignFrames) {
  SequenceCounter counter(5);
  for (uint32_t seq : {0u, 1u, 1u, 3u, 9u}) counter.add(numbered_frame(kMacB, kMacA, seq));
  counter.add(Bytes(60, 0));
  EXPECT_EQ(counter.received(), 3u);
  EXPECT_EQ(counter.duplicates(), 1u);
  EXPECT_EQ(counter.foreign(), 2u);  // 9 is out of range, the zero frame is not numbered
  EXPECT_EQ(counter.missing(), (std::vector<uint32_t>{2, 4}));
  EXPECT_FALSE(counter.complete());
  EXPECT_EQ(counter.summary(), "received 3/5, 1 duplicates, 2 foreign, missing 2 4");

  Bytes frame = numbered_frame(kMacB, kMacA, 0xdeadbeef, 200);
  EXPECT_EQ(frame.size(), 200u);
  EXPECT_EQ(sequence_of(frame), 0xdeadbeefu);
  frame.insert(frame.begin() + 12, {0x81, 0x00, 0x00, 0x05});  // a VLAN tag
  EXPECT_EQ(sequence_of(frame), 0xdeadbeefu);
}

}  // namespace
}  // namespace netcpu::test
