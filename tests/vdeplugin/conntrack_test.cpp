// examples/stateful_firewall.ncpu between two real Linux network stacks:
//
//   A (10.0.0.1, protected) ══ [firewall] ══ vde_switch ══ B (10.0.0.2, "the Internet")
//
// A and B are each a vdens namespace (vdens_host.h) running this test binary
// again as a helper that opens real sockets on command. The firewall is one
// program instance on both directions of A's link:
//   - SwitchPort: `netcpu/load 1 inout stateful_firewall.ncpu` on the switch
//     with netcpu.so, A on port 1 (`vdens -c vde://SW[1]`), B on port 2;
//   - Cable: A's own cable, `vdens -c netcpu://[inout=FW/mgmt=M]{vde://SW}`,
//     through a switch without the plugin; its tables are read on the
//     cable's console M.
// What A opens (TCP connections, UDP flows, pings) gets its replies; what B
// starts towards A is dropped and counted in the program's `dropped` table
// (0 TCP, 1 UDP, 2 ICMP). Variants of the program with a 2-second UDP idle
// timeout and a 2-entry UDP table show an idle flow forgotten and an LRU
// table full of older flows admitting a new one.
//
// Why two vdens rather than a libvdeplug endpoint for B: both ends are then
// real TCP/UDP/ICMP stacks (SYN retransmits, the kernel's own echo replies),
// so "A's connection works and B's does not" is what a user would see.
//
// The helper, socket_helper.h's, configures vde0 with the host's address
// and MAC and a permanent neighbour entry for the other host, then opens
// sockets on command.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "socket_helper.h"
#include "switch_harness.h"
#include "vdens_host.h"

namespace netcpu::test {
namespace {

using std::chrono::milliseconds;
using Clock = VdensClock;

constexpr const char* kIpA = "10.0.0.1";
constexpr const char* kMacA = "02:00:0a:00:00:01";
constexpr const char* kIpB = "10.0.0.2";
constexpr const char* kMacB = "02:00:0a:00:00:02";
constexpr const char* kIp6A = "fd00::1";  // with IPv6 on (start(..., true))
constexpr const char* kIp6B = "fd00::2";

// The `dropped` table's indexes (the program's DROP_* constants).
constexpr int kDropTcp = 0;
constexpr int kDropUdp = 1;
constexpr int kDropIcmp = 2;
constexpr int kDropLate = 4;  // TCP after the close

// Time limits: nothing here may hang.
constexpr milliseconds kReadyTimeout{15000};    // vdens up, vde0 configured
constexpr milliseconds kDeliveryTimeout{5000};  // for things that must happen
constexpr milliseconds kSilenceTimeout{2500};   // for things that must not (a SYN retransmit fits)

const std::string kFirewall = NETCPU_SOURCE_DIR "/examples/stateful_firewall.ncpu";
constexpr const char* kUdpTable = "table udp lru key 36 value 8 max 65536 idle 60s";

// ---------------------------------------------------------------------------
// The test side.

enum class Where { SwitchPort, Cable };

std::string where_text(Where where) { return where == Where::SwitchPort ? "SwitchPort" : "Cable"; }
std::string where_name(const ::testing::TestParamInfo<Where>& info) {
  return where_text(info.param);
}
// For gtest's and ctest's listings.
[[maybe_unused]] void PrintTo(Where where, std::ostream* out) { *out << where_text(where); }

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  return text.str();
}

// The switch (with netcpu.so when the firewall goes on its port); start()
// adds the hosts, A behind the firewall (or a variant() of it), B plain.
class Conntrack : public ::testing::TestWithParam<Where> {
 protected:
  void SetUp() override {
    if (auto why = why_vdens_cannot_run()) GTEST_SKIP() << *why;
#ifndef NETCPU_VDEPLUG_MODULE_DIR
    if (GetParam() == Where::Cable) GTEST_SKIP() << "the netcpu:// module is not built";
#endif
    sw = std::make_unique<VdeSwitch>(plugin_switch_options());
    con = std::make_unique<Console>(sw->mgmt_path());
    if (GetParam() == Where::SwitchPort) {
      Reply r = con->cmd("plugin/add " NETCPU_PLUGIN);
      ASSERT_TRUE(r.ok()) << r.text() << "\n" << sw->log();
    }
  }

  void TearDown() override {
    fw.reset();
    for (auto* host : {&a, &b}) {
      if (!*host) continue;
      const pid_t pgid = (*host)->pgid();
      (*host)->stop();
      EXPECT_EQ((*host)->remaining(), "")
          << "processes of vdens's group " << pgid << " left behind";
      if (!(*host)->killed().empty()) std::cerr << "warning: " << (*host)->killed() << "\n";
      host->reset();
    }
    if (sw) {
      EXPECT_TRUE(sw->alive()) << sw->exit_description() << "\n" << sw->log();
    }
  }

  // A copy of the firewall with one line replaced, in the switch's directory.
  std::string variant(const std::string& name, const std::string& from, const std::string& to) {
    std::string text = read_text(kFirewall);
    const size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << "no `" << from << "` in " << kFirewall;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    const std::string path = sw->dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  // Starts B, then A behind `program`; with ipv6, the hosts also have
  // kIp6A and kIp6B.
  void start(const std::string& program = kFirewall, bool ipv6 = false) {
    const std::string vde = "vde://" + sw->data_path();
    std::vector<std::string> env_a;
    std::string url_a;
    if (GetParam() == Where::SwitchPort) {
      // A port's point can be programmed before anything is plugged in: the
      // firewall sees A's first frame.
      Reply r = con->cmd("netcpu/load 1 inout " + program);
      ASSERT_TRUE(r.ok()) << r.text();
      url_a = vde + "[1]";
      point_ = "1 inout";
    } else {
#ifdef NETCPU_VDEPLUG_MODULE_DIR
      cable_mgmt_ = sw->dir() + "/a.mgmt";
      url_a = "netcpu://[inout=\"" + program + "\"/mgmt=\"" + cable_mgmt_ + "\"]{" + vde + "}";
      env_a = netcpu_module_env();
      point_ = "inout";
#endif
    }
    b = std::make_unique<VdensHost>(
        vde + (GetParam() == Where::SwitchPort ? "[2]" : ""), std::vector<std::string>{},
        socket_helper_setting(std::string(kIpB) + " " + kMacB + " " + kIpA + " " + kMacA +
                              (ipv6 ? std::string(" ") + kIp6B : "")));
    a = std::make_unique<VdensHost>(
        url_a, env_a,
        socket_helper_setting(std::string(kIpA) + " " + kMacA + " " + kIpB + " " + kMacB +
                              (ipv6 ? std::string(" ") + kIp6A : "")));
    for (auto* host : {a.get(), b.get()}) {
      auto ready = host->wait_line({"ready", "fail"}, kReadyTimeout);
      ASSERT_TRUE(ready) << "a namespace did not report ready within " << kReadyTimeout.count()
                         << " ms\n"
                         << host->transcript();
      ASSERT_EQ(*ready, "ready") << host->transcript();
    }
    if (GetParam() == Where::SwitchPort) {
      fw_console_ = con.get();
    } else {
      fw = std::make_unique<Console>(cable_mgmt_);
      fw_console_ = fw.get();
    }
  }

  // The firewall's console command on its point ("1 inout" or "inout").
  Reply fw_cmd(const std::string& verb, const std::string& rest = "") {
    return fw_console_->cmd("netcpu/" + verb + " " + point_ + (rest.empty() ? "" : " " + rest));
  }

  // The `dropped` table's counter at index (-1 if it cannot be read).
  long dropped(int index) {
    Reply r = fw_cmd("table/get", "dropped " + std::to_string(index));
    EXPECT_TRUE(r.ok() && !r.data.empty()) << r.text();
    if (!r.ok() || r.data.empty()) return -1;
    std::istringstream words(r.data[0]);
    long key = -1, value = -1;
    words >> key >> value;
    EXPECT_EQ(key, index) << r.text();
    return value;
  }

  // A table's row in netcpu/table/list, by the header's column names (the
  // point, one word on the cable and two on the switch, left out); empty if
  // the table is not listed.
  std::map<std::string, std::string> table_row(const std::string& table) {
    Reply list = fw_cmd("table/list");
    EXPECT_TRUE(list.ok()) << list.text();
    auto words_of = [](const std::string& text) {
      std::istringstream in(text);
      std::vector<std::string> words;
      for (std::string w; in >> w;) words.push_back(w);
      return words;
    };
    std::vector<std::string> header, row;
    for (const auto& line : list.data) {
      if (line.starts_with("POINT ")) header = words_of(line.substr(6));
      if (line.starts_with(point_ + " ")) {
        auto words = words_of(line.substr(point_.size()));
        if (!words.empty() && words[0] == table) row = words;
      }
    }
    std::map<std::string, std::string> columns;
    EXPECT_EQ(row.size(), header.size()) << list.text();
    for (size_t i = 0; i < row.size() && i < header.size(); ++i) columns[header[i]] = row[i];
    return columns;
  }

  // The values of the tcp table's flows, in key order.
  std::vector<std::string> tcp_flows() {
    Reply r = fw_cmd("table/dump", "tcp");
    EXPECT_TRUE(r.ok()) << r.text();
    std::vector<std::string> values;
    for (const auto& line : r.data) {
      if (!line.starts_with("0x")) continue;  // "N entries"
      std::istringstream words(line);
      std::string key, value;
      words >> key >> value;
      values.push_back(value);
    }
    return values;
  }

  // For failure messages: the firewall's counters and tables.
  std::string firewall_state() {
    std::string text = "netcpu/list:\n" + fw_console_->cmd("netcpu/list").text() +
                       "\nnetcpu/table/list:\n" + fw_console_->cmd("netcpu/table/list").text();
    for (const char* t : {"dropped", "tcp", "udp", "icmp"})
      text += "\n" + std::string(t) + ":\n" + fw_cmd("table/dump", t).text();
    return text;
  }

  std::string transcripts() {
    return "A: " + a->transcript() + "\nB: " + b->transcript() + "\n" + firewall_state();
  }

  // Sends a command to a host and waits for the line that acknowledges it.
  void order(VdensHost& host, const std::string& command, const std::string& ack) {
    host.send(command);
    auto line = host.wait_line({ack, "error "}, kDeliveryTimeout);
    ASSERT_TRUE(line) << "no `" << ack << "` after `" << command << "`\n" << transcripts();
    ASSERT_EQ(*line, ack) << transcripts();
  }

  // The line starting with `prefix` must come within kDeliveryTimeout.
  void expect_line(VdensHost& host, const std::string& prefix, const std::string& why) {
    auto line = host.wait_line({prefix}, kDeliveryTimeout);
    EXPECT_TRUE(line) << why << ": no `" << prefix << "` within " << kDeliveryTimeout.count()
                      << " ms\n"
                      << transcripts();
  }
  // No line starting with `prefix` may come within `silence`.
  void expect_no_line(VdensHost& host, const std::string& prefix, const std::string& why,
                      milliseconds silence = kSilenceTimeout) {
    auto line = host.wait_line({prefix}, silence);
    EXPECT_FALSE(line) << why << ": got `" << line.value_or("") << "`\n" << transcripts();
  }

  // B sends a datagram to A's port and it is delivered (or must not be).
  void udp_b_to_a(int a_port, int b_port, const std::string& text) {
    order(*b,
          "udp " + std::to_string(b_port) + " " + kIpA + " " + std::to_string(a_port) + " " + text,
          "udp-sent " + std::to_string(b_port));
  }
  std::string udp_got_a(int a_port, int b_port, const std::string& text) {
    return "udp-got " + std::to_string(a_port) + " " + kIpB + ":" + std::to_string(b_port) + " " +
           text;
  }

  // Destroyed in reverse: hosts before the switch.
  std::unique_ptr<VdeSwitch> sw;
  std::unique_ptr<Console> con;
  std::unique_ptr<VdensHost> a, b;
  std::unique_ptr<Console> fw;  // the cable's console
  Console* fw_console_ = nullptr;
  std::string point_, cable_mgmt_;
};

// TCP: A's connection to B is established and carries data both ways; B's
// connection to A's listener is never accepted (its SYNs, the first and the
// kernel's retransmit, are dropped and counted), and A's own connection
// still works afterwards.
TEST_P(Conntrack, TcpFromTheProtectedSideWorksAndUnsolicitedSynsAreDropped) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(order(*b, "listen 7000", "listening 7000"));
  ASSERT_NO_FATAL_FAILURE(order(*a, "listen 8000", "listening 8000"));
  const long tcp_before = dropped(kDropTcp);

  a->send(std::string("connect out ") + kIpB + " 7000");
  auto connected = a->wait_line({"connected out", "connect-failed out"}, kDeliveryTimeout);
  ASSERT_EQ(connected.value_or("(nothing)"), "connected out") << transcripts();
  expect_line(*b, std::string("accept 7000 ") + kIpA + ":", "B accepts A's connection");
  ASSERT_NO_FATAL_FAILURE(order(*a, "send out hello-from-A", "sent out"));
  expect_line(*b, "server 7000 hello-from-A", "A's data reaches B");
  expect_line(*a, "recv out echo hello-from-A", "B's answer reaches A");

  b->send(std::string("connect in ") + kIpA + " 8000");
  expect_no_line(*a, "accept 8000", "B's connection to A was accepted");
  expect_no_line(*b, "connected in", "B's connect completed", milliseconds(0));
  const long tcp_after = dropped(kDropTcp);
  EXPECT_GE(tcp_after - tcp_before, 1) << "B's SYNs are not counted\n" << firewall_state();

  // The established connection is unaffected by the strangers' SYNs.
  ASSERT_NO_FATAL_FAILURE(order(*a, "send out again", "sent out"));
  expect_line(*a, "recv out echo again", "the established connection still carries data");
}

// The TCP table follows a connection's end: after A's FIN and B's FIN the
// flow is kept, marked closed (OPENED | ANSWERED | FIN_OUT | FIN_IN = 15),
// so that late packets can be told; A's RST forgets its flow at once.
TEST_P(Conntrack, TheTcpTableFollowsFinsAndResets) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(order(*b, "listen 7000", "listening 7000"));
  for (const char* name : {"fin", "rst"}) {
    a->send(std::string("connect ") + name + " " + kIpB + " 7000");
    auto connected = a->wait_line({"connected ", "connect-failed "}, kDeliveryTimeout);
    ASSERT_EQ(connected.value_or("(nothing)"), std::string("connected ") + name) << transcripts();
    expect_line(*b, "accept 7000 ", "B accepts A's connection");
    ASSERT_NO_FATAL_FAILURE(
        order(*a, std::string("send ") + name + " data", std::string("sent ") + name));
    expect_line(*a, std::string("recv ") + name + " echo data", "B's answer reaches A");
  }
  ASSERT_EQ(tcp_flows().size(), 2u) << firewall_state();

  // A closes: its FIN out, B's FIN (the helper closes on EOF) in, A's last ACK out.
  ASSERT_NO_FATAL_FAILURE(order(*a, "close fin", "closed fin"));
  expect_line(*b, "server-closed 7000", "B sees A's FIN");
  // A reset: the RST out forgets the flow.
  ASSERT_NO_FATAL_FAILURE(order(*a, "reset rst", "reset rst"));
  expect_line(*b, "server-closed 7000", "B sees A's RST");
  // B's FIN and A's last ACK may still be on their way.
  std::vector<std::string> flows;
  for (const auto deadline = Clock::now() + kDeliveryTimeout; Clock::now() < deadline;) {
    flows = tcp_flows();
    if (flows.size() == 1 && flows[0] == "15") break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(flows, std::vector<std::string>{"15"}) << firewall_state();
  EXPECT_EQ(dropped(kDropLate), 0) << "a packet of the closed connection was dropped as late\n"
                                   << firewall_state();
}

// Errors about A's own flows come in: B's RST to A's SYN for a closed port
// (the connect is refused) and B's ICMP port unreachable quoting A's
// datagram (the connected UDP socket reports it); nothing is counted.
TEST_P(Conntrack, ResetsAndIcmpErrorsAboutTheProtectedSidesFlowsComeIn) {
  ASSERT_NO_FATAL_FAILURE(start());
  const long tcp_before = dropped(kDropTcp), icmp_before = dropped(kDropIcmp);
  a->send(std::string("connect refused ") + kIpB + " 7999");
  auto refused = a->wait_line({"connected refused", "connect-failed refused"}, kDeliveryTimeout);
  EXPECT_EQ(refused.value_or("(nothing)"),
            "connect-failed refused " + std::string(std::strerror(ECONNREFUSED)))
      << "B's RST did not reach A\n"
      << transcripts();
  ASSERT_NO_FATAL_FAILURE(
      order(*a, std::string("udp-connect 40002 ") + kIpB + " 5999", "udp-connected 40002"));
  ASSERT_NO_FATAL_FAILURE(
      order(*a, std::string("udp 40002 ") + kIpB + " 5999 anyone", "udp-sent 40002"));
  auto error = a->wait_line({"udp-error 40002", "udp-got 40002"}, kDeliveryTimeout);
  EXPECT_EQ(error.value_or("(nothing)"),
            "udp-error 40002 " + std::string(std::strerror(ECONNREFUSED)))
      << "B's port unreachable did not reach A\n"
      << transcripts();
  EXPECT_EQ(dropped(kDropTcp), tcp_before) << firewall_state();
  EXPECT_EQ(dropped(kDropIcmp), icmp_before) << firewall_state();
}

// UDP: A's datagram to B opens the flow, B's reply comes in; B's datagrams
// to A's flow port from another of B's ports, and to another of A's open
// ports, are dropped and counted.
TEST_P(Conntrack, UdpRepliesComeInAndUnsolicitedDatagramsAreDropped) {
  ASSERT_NO_FATAL_FAILURE(start());
  ASSERT_NO_FATAL_FAILURE(order(*b, "udp-bind 5353", "udp-bound 5353"));
  ASSERT_NO_FATAL_FAILURE(order(*a, "udp-bind 40001", "udp-bound 40001"));
  const long udp_before = dropped(kDropUdp);
  ASSERT_NO_FATAL_FAILURE(
      order(*a, std::string("udp 40000 ") + kIpB + " 5353 query", "udp-sent 40000"));
  expect_line(*b, std::string("udp-got 5353 ") + kIpA + ":40000 query", "A's datagram reaches B");
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(40000, 5353, "answer"));
  expect_line(*a, udp_got_a(40000, 5353, "answer"), "B's reply reaches A");

  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(40000, 5354, "from-another-port"));
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(40001, 5353, "to-another-port"));
  expect_no_line(*a, "udp-got", "an unsolicited datagram was delivered");
  EXPECT_EQ(dropped(kDropUdp) - udp_before, 2) << firewall_state();
}

// ICMP: A's pings to B are answered (B's kernel replies); B's pings to A
// get nothing back (the requests are dropped before A's kernel sees them).
TEST_P(Conntrack, PingsFromTheProtectedSideAreAnsweredAndStrangersPingsAreDropped) {
  ASSERT_NO_FATAL_FAILURE(start());
  const long icmp_before = dropped(kDropIcmp);
  for (int seq = 1; seq <= 3; ++seq) {
    ASSERT_NO_FATAL_FAILURE(order(*a, std::string("ping p ") + kIpB + " " + std::to_string(seq),
                                  "ping-sent p " + std::to_string(seq)));
    expect_line(*a, "pong p " + std::to_string(seq), "B's echo reply reaches A");
  }
  const auto before = a->snmp();
  for (int seq = 1; seq <= 3; ++seq)
    ASSERT_NO_FATAL_FAILURE(order(*b, std::string("ping q ") + kIpA + " " + std::to_string(seq),
                                  "ping-sent q " + std::to_string(seq)));
  expect_no_line(*b, "pong q", "A answered a stranger's ping");
  EXPECT_EQ(dropped(kDropIcmp) - icmp_before, 3) << firewall_state();
  EXPECT_EQ(a->snmp()["Ip.InReceives"], before.at("Ip.InReceives"))
      << "B's echo requests reached A's kernel";
}

// Idle expiry: with a 2 s UDP idle timeout, B's reply within it comes in; a
// reply after the flow was idle for longer is dropped; A's next datagram
// opens the flow again.
TEST_P(Conntrack, AnIdleUdpFlowIsForgottenAndItsLateReplyDropped) {
  const std::string program =
      variant("idle2s.ncpu", kUdpTable, "table udp lru key 36 value 8 max 64 idle 2s");
  ASSERT_NO_FATAL_FAILURE(start(program));
  ASSERT_NO_FATAL_FAILURE(order(*b, "udp-bind 5353", "udp-bound 5353"));
  ASSERT_NO_FATAL_FAILURE(
      order(*a, std::string("udp 40000 ") + kIpB + " 5353 q1", "udp-sent 40000"));
  expect_line(*b, std::string("udp-got 5353 ") + kIpA + ":40000 q1", "A's query reaches B");
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(40000, 5353, "r1"));
  expect_line(*a, udp_got_a(40000, 5353, "r1"), "B's prompt reply reaches A");

  const long udp_before = dropped(kDropUdp);
  std::this_thread::sleep_for(milliseconds(3000));
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(40000, 5353, "late"));
  expect_no_line(*a, "udp-got", "a reply after 3 s of idleness was delivered", milliseconds(1500));
  EXPECT_EQ(dropped(kDropUdp) - udp_before, 1) << firewall_state();
  // The host's ticks remove it (the switch's once a second, the cable's at
  // each frame) and count it.
  std::map<std::string, std::string> udp;
  for (const auto deadline = Clock::now() + kDeliveryTimeout; Clock::now() < deadline;) {
    udp = table_row("udp");
    if (udp["EXPIRED"] == "1" && udp["ENTRIES"] == "0") break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(udp["EXPIRED"], "1") << firewall_state();
  EXPECT_EQ(udp["ENTRIES"], "0") << firewall_state();

  ASSERT_NO_FATAL_FAILURE(
      order(*a, std::string("udp 40000 ") + kIpB + " 5353 q2", "udp-sent 40000"));
  expect_line(*b, std::string("udp-got 5353 ") + kIpA + ":40000 q2", "A's new query reaches B");
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(40000, 5353, "r2"));
  expect_line(*a, udp_got_a(40000, 5353, "r2"), "the reopened flow's reply reaches A");
}

// LRU: with room for 2 UDP flows, A opens 3 (ports 41001, 41002, 41003 to
// B's port 5353). The newest one's reply comes in although the table was full;
// the oldest was pushed out (its reply is dropped), the middle one is still
// known; the table list counts the eviction.
TEST_P(Conntrack, AFullLruTableAdmitsTheNewestFlowAndForgetsTheOldest) {
  const std::string program =
      variant("lru2.ncpu", kUdpTable, "table udp lru key 36 value 8 max 2 idle 60s");
  ASSERT_NO_FATAL_FAILURE(start(program));
  ASSERT_NO_FATAL_FAILURE(order(*b, "udp-bind 5353", "udp-bound 5353"));
  for (int port = 41001; port <= 41003; ++port) {
    const std::string p = std::to_string(port);
    ASSERT_NO_FATAL_FAILURE(order(*a, "udp " + p + " " + kIpB + " 5353 q" + p, "udp-sent " + p));
    expect_line(*b, std::string("udp-got 5353 ") + kIpA + ":" + p + " q" + p,
                "A's query reaches B");
  }
  const long udp_before = dropped(kDropUdp);
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(41003, 5353, "r3"));
  expect_line(*a, udp_got_a(41003, 5353, "r3"), "the newest flow's reply reaches A");
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(41002, 5353, "r2"));
  expect_line(*a, udp_got_a(41002, 5353, "r2"), "the second flow's reply reaches A");
  ASSERT_NO_FATAL_FAILURE(udp_b_to_a(41001, 5353, "r1"));
  expect_no_line(*a, "udp-got", "the evicted flow's reply was delivered", milliseconds(1500));
  EXPECT_EQ(dropped(kDropUdp) - udp_before, 1) << firewall_state();

  auto udp = table_row("udp");
  EXPECT_EQ(udp["KIND"], "lru") << firewall_state();
  EXPECT_EQ(udp["EVICTED"], "1") << firewall_state();
  EXPECT_EQ(udp["ENTRIES"], "2") << firewall_state();
}

// IPv6, the same key format: with IPv6 on (and no neighbour entries: the
// hosts find each other by neighbour discovery, which the firewall lets
// through both ways), A's TCP connection, UDP flow and pings to B work;
// B's connection to A is never accepted and its pings get no answer. (MLD
// reports from B also count as dropped ICMP here: ICMP is counted at least.)
TEST_P(Conntrack, Ipv6FlowsFromTheProtectedSideWorkAndUnsolicitedOnesAreDropped) {
  ASSERT_NO_FATAL_FAILURE(start(kFirewall, true));
  ASSERT_NO_FATAL_FAILURE(order(*b, "listen 7000 6", "listening 7000"));
  ASSERT_NO_FATAL_FAILURE(order(*a, "listen 8000 6", "listening 8000"));
  ASSERT_NO_FATAL_FAILURE(order(*b, "udp-bind 5353 6", "udp-bound 5353"));
  const long tcp_before = dropped(kDropTcp);
  const long icmp_before = dropped(kDropIcmp);

  a->send(std::string("connect out ") + kIp6B + " 7000");
  auto connected = a->wait_line({"connected out", "connect-failed out"}, kDeliveryTimeout);
  ASSERT_EQ(connected.value_or("(nothing)"), "connected out") << transcripts();
  expect_line(*b, std::string("accept 7000 [") + kIp6A + "]:", "B accepts A's connection");
  ASSERT_NO_FATAL_FAILURE(order(*a, "send out hello6", "sent out"));
  expect_line(*b, "server 7000 hello6", "A's data reaches B");
  expect_line(*a, "recv out echo hello6", "B's answer reaches A");

  ASSERT_NO_FATAL_FAILURE(
      order(*a, std::string("udp 40000 ") + kIp6B + " 5353 query6", "udp-sent 40000"));
  expect_line(*b, std::string("udp-got 5353 [") + kIp6A + "]:40000 query6",
              "A's datagram reaches B");
  ASSERT_NO_FATAL_FAILURE(
      order(*b, std::string("udp 5353 ") + kIp6A + " 40000 answer6", "udp-sent 5353"));
  expect_line(*a, std::string("udp-got 40000 [") + kIp6B + "]:5353 answer6", "B's reply reaches A");

  ASSERT_NO_FATAL_FAILURE(order(*a, std::string("ping p ") + kIp6B + " 1", "ping-sent p 1"));
  expect_line(*a, "pong p 1", "B's echo reply reaches A");
  for (int seq = 1; seq <= 3; ++seq)
    ASSERT_NO_FATAL_FAILURE(order(*b, std::string("ping q ") + kIp6A + " " + std::to_string(seq),
                                  "ping-sent q " + std::to_string(seq)));
  b->send(std::string("connect in ") + kIp6A + " 8000");
  expect_no_line(*a, "accept 8000", "B's connection to A was accepted");
  expect_no_line(*b, "connected in", "B's connect completed", milliseconds(0));
  expect_no_line(*b, "pong q", "A answered a stranger's ping", milliseconds(0));
  EXPECT_GE(dropped(kDropTcp) - tcp_before, 1) << "B's SYNs are not counted\n" << firewall_state();
  EXPECT_GE(dropped(kDropIcmp) - icmp_before, 3) << "B's pings are not counted\n"
                                                 << firewall_state();
}

INSTANTIATE_TEST_SUITE_P(, Conntrack, ::testing::Values(Where::SwitchPort, Where::Cable),
                         where_name);

}  // namespace
}  // namespace netcpu::test
