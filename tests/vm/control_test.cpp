// The shared console commands, on a Control with one attach point: here,
// netcpu/netmask and the netmask every later netcpu/filter compiles with
// (the core compiles filters itself with libpcap), seen in what the loaded
// filter passes.
#include "netcpu/control.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "netcpu/load.h"

namespace netcpu {
namespace {

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
