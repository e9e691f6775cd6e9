// Flows between hosts on different machines of a vxvde network
// (machines.h: machines a and b, each a namespace with a vde_switch running
// netcpu.so joined to vxvde), decided by NetCPU where a user would put it:
//
//   - AProgramOnTheRemoteSwitch...: Linux hosts on a's and b's switches
//     connect to ports 80 and 23 with no program; examples/tcp_firewall.ncpu,
//     loaded through b's console on b's uplink port (what arrives from the
//     other machines), then drops telnet while HTTP keeps working;
//   - ANetcpuCableOnVxvde...: a Linux host inside machine b (vdens in b's
//     namespaces) whose cable is
//     netcpu://[in=examples/cable_drop_service.ncpu/mgmt=M]{vxvde://...},
//     straight onto the vxvde network: a host on machine a reaches its port
//     80 but not its port 7;
//   - AnLwipProcessHook...: an lwIPv6 process on machine b's switch with
//     examples/lwip_block_hosts.ncpu at local_in; hosts on machine a connect
//     until the process's console adds one of them to the `blocked` table;
//   - OneFleetCommand...: `netcpu fleet` loads examples/tcp_firewall.ncpu on
//     both machines' uplinks and an lwIPv6 process's hook in two phases;
//     telnet across the machines stops, HTTP goes on; a program one node
//     refuses swaps nowhere; one `fleet table set` opens telnet everywhere.
//
// Each asserts the flows as the hosts see them (connected or not), and the
// counters and `netcpu/drop` lines of the program that decided.
#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "fleet_test_util.h"
#include "machines.h"
#include "switch_harness.h"

namespace netcpu::test {
namespace {

using std::chrono::milliseconds;

// For things that must happen; for things that must not (a SYN and its
// first retransmit, a second later).
constexpr milliseconds kDeliveryTimeout{5000};
constexpr milliseconds kSilenceTimeout{2500};

// netcpu/list's columns after the point.
constexpr int kPassed = 4;
constexpr int kDropped = 5;

const std::string kTcpFirewall = NETCPU_SOURCE_DIR "/examples/tcp_firewall.ncpu";
const std::string kDropService = NETCPU_SOURCE_DIR "/examples/cable_drop_service.ncpu";
const std::string kBlockHosts = NETCPU_SOURCE_DIR "/examples/lwip_block_hosts.ncpu";

class Multihost : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = why_machines_cannot_run()) GTEST_SKIP() << *why;
    net = std::make_unique<MultihostNetwork>(std::vector<std::string>{"a", "b"});
  }

  // The server's socket helper listens on each of `ports`.
  static void listen(VdensHost& server, std::initializer_list<int> ports) {
    for (int port : ports) {
      server.send("listen " + std::to_string(port));
      ASSERT_TRUE(server.wait_line({"listening " + std::to_string(port)}, kDeliveryTimeout))
          << server.transcript();
    }
  }

  // `from` connects to ip:port as connection `name`, and the connection is
  // established (the server's banner or greeting may follow)...
  void expect_connects(VdensHost& from, const std::string& name, const std::string& ip, int port) {
    from.send("connect " + name + " " + ip + " " + std::to_string(port));
    auto line =
        from.wait_line({"connected " + name, "connect-failed " + name, "error "}, kDeliveryTimeout);
    EXPECT_EQ(line.value_or("nothing"), "connected " + name)
        << "connecting to " << ip << ":" << port << "\n"
        << from.transcript() << "\n"
        << net->describe();
  }
  // The line starting with `prefix` comes within kDeliveryTimeout: on the
  // server, "accept PORT" (the client's ACK arrived); on the client, "recv
  // NAME" (a greeting the server sends once it has accepted).
  void expect_line(VdensHost& host, const std::string& prefix) {
    auto line = host.wait_line({prefix}, kDeliveryTimeout);
    EXPECT_TRUE(line) << "no `" << prefix << "` within " << kDeliveryTimeout.count() << " ms\n"
                      << host.transcript();
  }
  // ...or it is not, within kSilenceTimeout (its SYNs are dropped).
  void expect_no_connection(VdensHost& from, const std::string& name, const std::string& ip,
                            int port) {
    from.send("connect " + name + " " + ip + " " + std::to_string(port));
    auto line =
        from.wait_line({"connected " + name, "connect-failed " + name, "error "}, kSilenceTimeout);
    EXPECT_FALSE(line) << "connecting to " << ip << ":" << port << ": " << line.value_or("") << "\n"
                       << from.transcript();
  }

  // Follows what a program drops, as `debug/add netcpu/drop` shows it.
  static void watch_drops(Console& console) {
    Reply r = console.cmd("debug/add netcpu/drop");
    ASSERT_TRUE(r.ok()) << r.text();
  }
  // The program at `point` dropped something, and only frames of the flow
  // `flow` ("> 10.0.0.2.23: tcp", "IP 10.0.0.1.": a part of tcpdump's line).
  static void expect_drops_only(Console& console, const std::string& point,
                                const std::string& flow) {
    std::vector<std::string> lines;
    for (auto& line : console.debug_lines())
      if (line.find("netcpu/drop") != std::string::npos) lines.push_back(line);
    const std::string list = console.cmd("netcpu/list").text();
    EXPECT_FALSE(lines.empty()) << list;
    for (const auto& line : lines)
      EXPECT_NE(line.find(flow), std::string::npos) << line << "\n" << list;
    EXPECT_GE(list_column(console, point, kDropped), static_cast<long>(lines.size())) << list;
    // The other service's connection: its SYN and its ACK (which the test
    // waited for) at least.
    EXPECT_GE(list_column(console, point, kPassed), 2) << list;
  }

  // Destroyed in reverse: hosts and nodes before the machines.
  std::unique_ptr<MultihostNetwork> net;
};

TEST_F(Multihost, AProgramOnTheRemoteSwitchDropsOneServiceAndLetsAnotherThrough) {
  Machine& a = net->machine(0);
  Machine& b = net->machine(1);
  auto client = a.linux_host("10.0.0.1");
  auto server = b.linux_host("10.0.0.2");
  ASSERT_NO_FATAL_FAILURE(listen(*server, {80, 23}));
  // No program anywhere: both services answer across the machines.
  expect_connects(*client, "http-before", "10.0.0.2", 80);
  expect_line(*server, "accept 80 ");
  expect_connects(*client, "telnet-before", "10.0.0.2", 23);
  expect_line(*server, "accept 23 ");

  const std::string uplink = std::to_string(b.uplink_port()) + " in";
  Reply r = b.console().cmd("netcpu/load " + uplink + " " + kTcpFirewall);
  ASSERT_TRUE(r.ok()) << r.text();
  ASSERT_NO_FATAL_FAILURE(watch_drops(b.console()));
  expect_no_connection(*client, "telnet", "10.0.0.2", 23);
  expect_connects(*client, "http", "10.0.0.2", 80);
  expect_line(*server, "accept 80 ");

  // The firewall on b's uplink decided: it dropped the SYNs to port 23 (and
  // what else went to port 23, as the first connection's late frames) and
  // passed the HTTP connection's frames.
  expect_drops_only(b.console(), uplink, "> 10.0.0.2.23: tcp");
  // Nothing on machine a's switch had a say.
  EXPECT_EQ(list_column(a.console(), std::to_string(a.uplink_port()) + " in", kDropped), -1);
}

#ifdef NETCPU_VDEPLUG_MODULE_DIR
TEST_F(Multihost, ANetcpuCableOnVxvdeDropsOneServiceAndLetsAnotherThrough) {
  Machine& a = net->machine(0);
  Machine& b = net->machine(1);
  const std::string cable_console = net->dir() + "/cable.mgmt";
  // A host inside machine b (vdens in b's namespaces), cabled straight onto
  // vxvde through the module: no switch on its side.
  auto server = b.linux_host("10.0.0.3", "netcpu://[in=\"" + kDropService + "\"/mgmt=\"" +
                                             cable_console + "\"]{" + net->vxvde_url() + "}");
  auto client = a.linux_host("10.0.0.1");
  ASSERT_NO_FATAL_FAILURE(listen(*server, {80, 7}));
  Console cable(cable_console);
  ASSERT_NO_FATAL_FAILURE(watch_drops(cable));
  expect_connects(*client, "http", "10.0.0.3", 80);
  expect_line(*server, "accept 80 ");
  expect_no_connection(*client, "echo", "10.0.0.3", 7);
  expect_drops_only(cable, "in", "> 10.0.0.3.7: tcp");
}
#endif

TEST_F(Multihost, AnLwipProcessHookDecidesAFlowFromAnotherMachine) {
  Machine& a = net->machine(0);
  Machine& b = net->machine(1);
  auto node = b.lwip_node(
      {"--addr", "10.0.0.4/24", "--echo", "80", "--load", "local_in=" + kBlockHosts}, "server");
  auto first = a.linux_host("10.0.0.1");
  auto second = a.linux_host("10.0.0.2");
  expect_connects(*first, "before", "10.0.0.4", 80);
  expect_line(*first, "recv before server ready");

  Console process(node->console_path());
  ASSERT_NO_FATAL_FAILURE(watch_drops(process));
  Reply r = process.cmd("netcpu/table/set local_in blocked 10.0.0.1 1");
  ASSERT_TRUE(r.ok()) << r.text();
  expect_no_connection(*first, "blocked", "10.0.0.4", 80);
  expect_connects(*second, "other", "10.0.0.4", 80);
  expect_line(*second, "recv other server ready");
  // The hook's program dropped what came from 10.0.0.1 (its SYNs, and late
  // frames of its first connection) and passed 10.0.0.2's connection.
  expect_drops_only(process, "local_in", "IP 10.0.0.1.");
}

// One command for every node of the vxvde network: both machines' switches
// (each on its uplink: what comes from the other machines) and an lwIPv6
// process's hook, each reached by its console.
TEST_F(Multihost, OneFleetCommandProgramsEveryMachineInTwoPhases) {
  Machine& a = net->machine(0);
  Machine& b = net->machine(1);
  auto node = b.lwip_node({"--addr", "10.0.0.4/24", "--echo", "23"}, "server");
  auto client = a.linux_host("10.0.0.1");
  auto server = b.linux_host("10.0.0.2");
  ASSERT_NO_FATAL_FAILURE(listen(*server, {80, 23}));
  const std::string nodes =
      write("machines.txt", "a " + a.mgmt_path() + " point='" + std::to_string(a.uplink_port()) +
                                " in'\nb " + b.mgmt_path() + " point='" +
                                std::to_string(b.uplink_port()) + " in'\nweb " +
                                node->console_path() + " point=local_in\n");
  Result r = netcpu("fleet " + nodes + " load " + kTcpFirewall);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string firewall = hash_of(kTcpFirewall);
  EXPECT_EQ(hash_at(a.console(), std::to_string(a.uplink_port()) + " in"), firewall);
  EXPECT_EQ(hash_at(b.console(), std::to_string(b.uplink_port()) + " in"), firewall);
  Console process(node->console_path());
  EXPECT_EQ(hash_at(process, "local_in"), firewall);
  // Telnet to b's Linux host and to the lwIPv6 process stops; HTTP goes on.
  expect_no_connection(*client, "telnet", "10.0.0.2", 23);
  expect_no_connection(*client, "telnet-lwip", "10.0.0.4", 23);
  expect_connects(*client, "http", "10.0.0.2", 80);
  expect_line(*server, "accept 80 ");

  // A program the lwIPv6 hook refuses (it cannot redirect): no node swaps.
  r = netcpu("fleet " + nodes + " load " + write("redirects.ncpu", kRedirects));
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find("web"), std::string::npos) << r.err;
  EXPECT_EQ(hash_at(a.console(), std::to_string(a.uplink_port()) + " in"), firewall);
  EXPECT_EQ(hash_at(b.console(), std::to_string(b.uplink_port()) + " in"), firewall);

  // One command opens telnet on every node, and one list shows them all.
  r = netcpu("fleet " + nodes + " table set allowed 23 1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  expect_connects(*client, "telnet-after", "10.0.0.2", 23);
  expect_line(*server, "accept 23 ");
  expect_connects(*client, "telnet-lwip-after", "10.0.0.4", 23);
  r = netcpu("fleet " + nodes + " list");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const std::string node_name : {"a ", "b ", "web "})
    EXPECT_NE(r.out.find("\n" + node_name), std::string::npos) << r.out;
  EXPECT_GE(list_column(b.console(), std::to_string(b.uplink_port()) + " in", kDropped), 1)
      << "b's firewall dropped the first telnet SYNs";
}

}  // namespace
}  // namespace netcpu::test
