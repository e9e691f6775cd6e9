// netcpu/netmask on the real vde_switch: the netmask `ip broadcast` (and
// anything else that needs one) compiles with. 0.0.0.0 at first, as
// `tcpdump -r` compiles (so 255.255.255.255 and 0.0.0.0 are broadcasts);
// after `netcpu/netmask 255.255.255.0`, the filters loaded from then on also
// take 10.0.0.255. Checked by the frames that pass the switch.
#include <gtest/gtest.h>

#include <string>

#include "packet_builder.h"
#include "switch_harness.h"

namespace netcpu::test {
namespace {

using packets::ip4_addr;
using packets::PacketBuilder;

Bytes udp_to(const char* dst) {
  return PacketBuilder()
      .eth(packets::kBroadcastMac, packets::mac_addr("02:00:00:00:00:0a"))
      .ipv4({.src = ip4_addr("10.0.0.1"), .dst = ip4_addr(dst)})
      .udp({.sport = 40000, .dport = 9})
      .build();
}

TEST(SwitchNetmask, IpBroadcastFollowsTheNetmaskTheConsoleSet) {
  VdeSwitch sw(plugin_switch_options());
  Console con(sw.mgmt_path());
  ASSERT_TRUE(con.cmd("plugin/add " NETCPU_PLUGIN).ok()) << sw.log();
  Endpoint a(sw.data_path(), con), b(sw.data_path(), con);
  // Of frames to 255.255.255.255, 10.0.0.255 and 10.0.0.7 from A, how many reach B.
  auto passing = [&] {
    for (const char* dst : {"255.255.255.255", "10.0.0.255", "10.0.0.7"}) a.send(udp_to(dst));
    return b.drain(200);
  };

  Reply shown = con.cmd_ok("netcpu/netmask");
  EXPECT_NE(shown.text().find("netmask 0.0.0.0"), std::string::npos) << shown.text();
  Reply loaded = con.cmd("netcpu/filter * in ip broadcast");
  ASSERT_TRUE(loaded.ok()) << loaded.text();  // refused before: no netmask
  EXPECT_EQ(passing(), 1u);                   // 255.255.255.255 only

  Reply set = con.cmd("netcpu/netmask 255.255.255.0");
  ASSERT_TRUE(set.ok()) << set.text();
  EXPECT_NE(set.text().find("netmask 255.255.255.0 for the filters loaded from now on"),
            std::string::npos)
      << set.text();
  EXPECT_NE(con.cmd_ok("netcpu/netmask").text().find("netmask 255.255.255.0"), std::string::npos);
  EXPECT_EQ(passing(), 1u) << "the filter already loaded changed";
  ASSERT_TRUE(con.cmd("netcpu/filter * in ip broadcast").ok());
  EXPECT_EQ(passing(), 2u);  // and 10.0.0.255

  Reply bad = con.cmd("netcpu/netmask 255.0.255.0");
  EXPECT_EQ(bad.code, EINVAL);
  EXPECT_NE(bad.text().find("expected netmask [A.B.C.D]"), std::string::npos) << bad.text();
  EXPECT_NE(con.cmd_ok("netcpu/netmask").text().find("netmask 255.255.255.0"), std::string::npos);
  EXPECT_TRUE(sw.alive()) << sw.exit_description() << "\n" << sw.log();
}

}  // namespace
}  // namespace netcpu::test
