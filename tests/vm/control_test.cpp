// The shared console commands' table: what help lists on each host, how
// execute() finds a command, continues a line and refuses what it does not
// know. Then, on a Control with one attach point and a stand-in for the
// host's compile_filter (the core has no libpcap): netcpu/netmask and the
// netmask every later netcpu/filter compiles with.
#include "netcpu/control.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control_host.h"

namespace netcpu {
namespace {

using testing::ControlHost;

const std::vector<std::string> kEveryCommand = {
    "load",    "put",        "filter",     "unload",    "list",      "show",
    "profile", "table/list", "table/dump", "table/get", "table/set", "table/del",
    "budget",  "onabort",    "reset",      "netmask",   "capture"};

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

TEST(ControlCommands, HelpOmitsWhatTheHostDoesNotOffer) {
  ControlHost plain({.filters = false, .captures = false});
  std::vector<std::string> expected;
  for (const auto& n : kEveryCommand)
    if (n != "filter" && n != "netmask" && n != "capture") expected.push_back(n);
  EXPECT_EQ(names(plain.control), expected);
  for (const char* absent : {"filter", "netmask", "capture"}) {
    const ControlReply r = plain.run(absent, "0 in udp");
    EXPECT_EQ(r.error, ENOSYS) << absent;
    EXPECT_EQ(r.text, "unknown command netcpu/" + std::string(absent));
  }
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
  std::vector<uint32_t> compiled_with;  // the netmask of each compile_filter call
  Control control;

  explicit Console(std::optional<uint32_t> host_netmask = std::nullopt, bool filters = true)
      : control(options(host_netmask, filters)) {}

  Control::Options options(std::optional<uint32_t> host_netmask, bool filters) {
    Control::Options o;
    o.point_syntax = "PORT in";
    o.resolve = [this](const std::vector<std::string>&, std::string*) { return &point; };
    o.for_each = [this](const std::function<void(AttachPoint&)>& fn) { fn(point); };
    if (filters)
      o.compile_filter = [this](const std::string&, uint32_t netmask, std::string*) {
        compiled_with.push_back(netmask);
        return std::optional<std::string>(".text:\n    pass\n");
      };
    if (host_netmask) o.netmask = *host_netmask;
    return o;
  }

  ControlReply run(std::string_view command, std::string_view args = "") {
    return control.execute(command, args);
  }
};

TEST(Control, NetmaskIsTcpdumpsZeroUntilSetAndThenGoesToEveryFilter) {
  Console c;
  ControlReply r = c.run("netmask");
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.text.rfind("netmask 0.0.0.0", 0), 0u) << r.text;
  ASSERT_EQ(c.run("filter", "0 in ip broadcast").error, 0);

  r = c.run("netmask", "255.255.255.0");
  EXPECT_EQ(r.error, 0) << r.text;
  EXPECT_EQ(r.text, "netmask 255.255.255.0 for the filters loaded from now on");
  EXPECT_EQ(c.run("netmask").text, "netmask 255.255.255.0");
  ASSERT_EQ(c.run("filter", "0 in ip broadcast").error, 0);
  EXPECT_EQ(c.compiled_with, (std::vector<uint32_t>{0, 0xffffff00u}));

  EXPECT_EQ(c.run("netmask", "255.255.255.255").error, 0);
  EXPECT_EQ(c.run("netmask", "0.0.0.0").error, 0);
  EXPECT_EQ(c.run("netmask").text.rfind("netmask 0.0.0.0", 0), 0u);
}

TEST(Control, NetmaskRefusesWhatIsNoNetmaskAndKeepsTheOldOne) {
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
  EXPECT_EQ(host.run("netmask").text, "netmask 255.255.252.0");
  ASSERT_EQ(host.run("filter", "0 in ip broadcast").error, 0);
  EXPECT_EQ(host.compiled_with, (std::vector<uint32_t>{0xfffffc00u}));

  Console no_filters(std::nullopt, false);
  EXPECT_EQ(no_filters.run("netmask").error, ENOSYS);
  bool listed = false;
  for (const auto& cmd : host.control.commands()) listed |= cmd.name == "netmask";
  EXPECT_TRUE(listed);
  for (const auto& cmd : no_filters.control.commands()) EXPECT_NE(cmd.name, "netmask");
}

}  // namespace
}  // namespace netcpu
