// The shared console commands, on a Control with one attach point and a
// stand-in for the host's compile_filter (the core has no libpcap): here,
// netcpu/netmask and the netmask every later netcpu/filter compiles with.
#include "netcpu/control.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

namespace netcpu {
namespace {

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
