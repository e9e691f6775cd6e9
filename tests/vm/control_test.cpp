// The shared console commands' table: what help lists on each host, how
// execute() finds a command, continues a line and refuses what it does not
// know. Then, on a Control with one attach point: netcpu/netmask and the
// netmask every later netcpu/filter compiles with (the core compiles filters
// itself with libpcap), seen in what the loaded filter passes.
#include "netcpu/control.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control_host.h"
#include "netcpu/file.h"
#include "netcpu/load.h"

namespace netcpu {
namespace {

using testing::ControlHost;

const std::vector<std::string> kEveryCommand = {
    "load",       "put",        "filter",    "unload",    "list",      "show",    "profile",
    "table/list", "table/dump", "table/get", "table/set", "table/del", "budget",  "onabort",
    "reset",      "stage",      "commit",    "rollback",  "discard",   "netmask", "capture"};

std::vector<std::string> names(const Control& c) {
  std::vector<std::string> n;
  for (const auto& cmd : c.commands()) n.push_back(cmd.name);
  return n;
}

TEST(ControlCommands, HelpListsEachCommandOfTheTableOnceInItsOrder) {
  ControlHost host;
  EXPECT_EQ(names(host.control), kEveryCommand);
  EXPECT_EQ(host.control.commands().size(), Control::kCommandCount);
  for (const auto& cmd : host.control.commands()) {
    SCOPED_TRACE(cmd.name);
    EXPECT_FALSE(cmd.help.empty());
    // The syntax names the host's points, never the table's placeholders.
    EXPECT_EQ(cmd.syntax.find('{'), std::string::npos) << cmd.syntax;
  }
}

// filter and netmask are the core's own when it has libpcap, and so is
// capture's pcap writer for a host that gives none.
TEST(ControlCommands, FiltersAndCapturesComeWithTheCoresLibpcap) {
  ControlHost plain({.captures = false});
  std::vector<std::string> expected;
  for (const auto& n : kEveryCommand)
    if (kCoreCompilesFilters || (n != "filter" && n != "netmask" && n != "capture"))
      expected.push_back(n);
  EXPECT_EQ(names(plain.control), expected);
  if (kCoreCompilesFilters) return;
  for (const char* absent : {"filter", "netmask", "capture"}) {
    const ControlReply r = plain.run(absent, "0 in udp");
    EXPECT_EQ(r.error, ENOSYS) << absent;
    EXPECT_EQ(r.text, "unknown command netcpu/" + std::string(absent));
  }
}

// The plugin's man page lists the commands by hand: every command of the
// table is there.
TEST(ControlCommands, TheManPageDocumentsEveryCommand) {
  FileError why;
  const auto page =
      read_whole_file(std::string(NETCPU_SOURCE_DIR) + "/docs/man/netcpu-plugin.1.md", &why);
  ASSERT_TRUE(page) << std::strerror(why.error);
  const std::string text(page->begin(), page->end());
  ControlHost host;
  for (const auto& cmd : host.control.commands())
    EXPECT_NE(text.find("**netcpu/" + cmd.name + "**"), std::string::npos)
        << "docs/man/netcpu-plugin.1.md does not document netcpu/" << cmd.name;
}

TEST(ControlCommands, SyntaxIsTheHostsPointSyntax) {
  ControlHost host;
  std::map<std::string, std::string> syntax;
  for (const auto& cmd : host.control.commands()) syntax[cmd.name] = cmd.syntax;
  EXPECT_EQ(syntax["load"], "PORT in|out FILE");
  EXPECT_EQ(syntax["unload"], "PORT in|out");
  EXPECT_EQ(syntax["list"], "[-j] [PORT in|out]");
  EXPECT_EQ(syntax["reset"], "[PORT in|out]");
  EXPECT_EQ(syntax["table/get"], "[-j] PORT in|out TABLE KEY");
  EXPECT_EQ(syntax["capture"], "[PORT in|out [pass|drop|all FILE [COUNT] [SIZE]|off]]");
  EXPECT_EQ(syntax["budget"], "[N]");
}

TEST(ControlCommands, UnknownCommandsAreRefusedWithoutContinuing) {
  ControlHost host;
  ControlReply r = host.run("frobnicate", "0 in \\");
  EXPECT_EQ(r.error, ENOSYS);
  EXPECT_EQ(r.text, "unknown command netcpu/frobnicate");
}

TEST(ControlCommands, ALineEndingWithABackslashGoesOnWithTheNextOfTheSameCommand) {
  ControlHost host;
  const std::string path = host.file("p.ncpu", ".text:\n    pass\n");
  const std::string first = "0 in " + path.substr(0, 5) + "\\";
  ControlReply r = host.run("load", first);
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text, "netcpu/load continues: " + std::to_string(first.size() - 1) +
                        " characters pending; they run with the next netcpu/load line that does "
                        "not end with \\");
  EXPECT_EQ(host.at("0 in").program(), nullptr);
  // Another session's line is its own.
  EXPECT_EQ(host.control.execute("load", "0 in", 7).error, EINVAL);
  r = host.run("load", path.substr(5));
  EXPECT_EQ(r.error, 0) << r.text;
  ASSERT_NE(host.at("0 in").program(), nullptr);
}

TEST(ControlCommands, JsonIsTakenOnlyByTheCommandsThatHaveIt) {
  ControlHost host;
  ASSERT_EQ(host.load("0 in", ".text:\n    pass\n").error, 0);
  EXPECT_EQ(host.run("list", "-j").text.front(), '[');
  EXPECT_EQ(host.run("list", "--json 0 in").text.front(), '[');
  EXPECT_EQ(host.run("show", "-j 0 in").text.front(), '{');
  // unload has no -j: the word is a port name there.
  const ControlReply r = host.run("unload", "-j 0 in");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_NE(host.at("0 in").program(), nullptr);
}

struct Console {
  AttachPoint point{"0 in"};
  Control control;

  explicit Console(std::optional<uint32_t> host_netmask = std::nullopt)
      : control(options(host_netmask)) {}

  Control::Options options(std::optional<uint32_t> host_netmask) {
    Control::Options o;
    o.point_syntax = "PORT in";
    o.resolve = [this](const std::vector<std::string>&, std::string*) { return &point; };
    o.for_each = [this](const std::function<void(AttachPoint&)>& fn) { fn(point); };
    if (host_netmask) o.netmask = *host_netmask;
    return o;
  }

  ControlReply run(std::string_view command, std::string_view args = "") {
    return control.execute(command, args);
  }

  // Whether the point's program passes a UDP packet from 10.0.0.1 to `dst`
  // (host byte order) in an Ethernet frame.
  bool passes_ipv4_to(uint32_t dst) {
    std::vector<uint8_t> frame(1518);
    frame[12] = 0x08;  // IPv4
    const uint8_t ip[20] = {0x45,
                            0,
                            0,
                            28,
                            0,
                            0,
                            0,
                            0,
                            64,
                            17,
                            0,
                            0,
                            10,
                            0,
                            0,
                            1,
                            static_cast<uint8_t>(dst >> 24),
                            static_cast<uint8_t>(dst >> 16),
                            static_cast<uint8_t>(dst >> 8),
                            static_cast<uint8_t>(dst)};
    std::copy(std::begin(ip), std::end(ip), frame.begin() + 14);
    uint32_t len = 64;
    return point.run(frame.data(), len, static_cast<uint32_t>(frame.size()), PacketMeta{})
               .verdict == Verdict::Pass;
  }
};

constexpr uint32_t k10_0_0_255 = 0x0a0000ffu, k10_0_3_255 = 0x0a0003ffu;

TEST(Control, NetmaskIsTcpdumpsZeroUntilSetAndThenGoesToEveryFilter) {
  if (!kCoreCompilesFilters) GTEST_SKIP() << "a core without libpcap has no netmask";
  Console c;
  ControlReply r = c.run("netmask");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text.rfind("netmask 0.0.0.0", 0), 0u) << r.text;
  ASSERT_EQ(c.run("filter", "0 in ip broadcast").error, 0);
  EXPECT_FALSE(c.passes_ipv4_to(k10_0_0_255));  // netmask 0: only 255.255.255.255 and 0.0.0.0
  EXPECT_TRUE(c.passes_ipv4_to(0xffffffffu));

  r = c.run("netmask", "255.255.255.0");
  EXPECT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(r.text, "netmask 255.255.255.0 for the filters loaded from now on");
  EXPECT_EQ(c.run("netmask").text, "netmask 255.255.255.0");
  EXPECT_FALSE(c.passes_ipv4_to(k10_0_0_255));  // the filter loaded before keeps its netmask
  ASSERT_EQ(c.run("filter", "0 in ip broadcast").error, 0);
  EXPECT_TRUE(c.passes_ipv4_to(k10_0_0_255));

  EXPECT_EQ(c.run("netmask", "255.255.255.255").error, 0);
  EXPECT_EQ(c.run("netmask", "0.0.0.0").error, 0);
  EXPECT_EQ(c.run("netmask").text.rfind("netmask 0.0.0.0", 0), 0u);
}

TEST(Control, NetmaskRefusesWhatIsNoNetmaskAndKeepsTheOldOne) {
  if (!kCoreCompilesFilters) GTEST_SKIP() << "a core without libpcap has no netmask";
  Console c;
  ASSERT_EQ(c.run("netmask", "255.255.0.0").error, 0);
  for (const char* bad : {"255.0.255.0", "0.255.255.255", "255.255.255", "255.255.255.0.0",
                          "256.0.0.0", "mask", "255.255.0.0 255.0.0.0", "/24"}) {
    SCOPED_TRACE(bad);
    const ControlReply r = c.run("netmask", bad);
    EXPECT_EQ(r.error, EINVAL);
    EXPECT_NE(r.text.find("expected netmask [A.B.C.D]"), std::string::npos) << r.text;
  }
  EXPECT_EQ(c.run("netmask").text, "netmask 255.255.0.0");
}

TEST(Control, NetmaskStartsAtTheHostsAndExistsOnlyWithFilters) {
  Console host(0xfffffc00u);  // a host that knows its interface's /22
  // A core built without libpcap has neither filter nor netmask.
  bool listed = false;
  for (const auto& cmd : host.control.commands()) listed |= cmd.name == "netmask";
  EXPECT_EQ(listed, kCoreCompilesFilters);
  if (!kCoreCompilesFilters) {
    EXPECT_EQ(host.run("netmask").error, ENOSYS);
    return;
  }
  EXPECT_EQ(host.run("netmask").text, "netmask 255.255.252.0");
  ASSERT_EQ(host.run("filter", "0 in ip broadcast").error, 0);
  EXPECT_TRUE(host.passes_ipv4_to(k10_0_3_255));
  EXPECT_FALSE(host.passes_ipv4_to(k10_0_0_255));
}

}  // namespace
}  // namespace netcpu
