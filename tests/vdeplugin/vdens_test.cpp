// NAT-rewritten TCP and UDP through the real vde_switch, checked by a real
// Linux stack that is cabled to the switch with Debian's vdens.
//
//   outside Endpoint ──(port P in: examples/nat.ncpu)── vde_switch ── vdens ── vde0 (Linux)
//   203.0.113.10                                                               10.0.0.5
//
// The outside host (a libvdeplug Endpoint) sends to 198.51.100.5; netcpu.so,
// on the outside port's ingress, rewrites the destination to 10.0.0.5 with
// `rewrite ip.dst`, which updates the IPv4 and the TCP/UDP checksums
// incrementally. The frame then crosses vdens into a private user + network
// namespace, where the kernel drops anything whose checksums are wrong. So
// "the UDP socket got the payload" and "the listener answered the SYN with a
// SYN-ACK (and accepted the connection after our ACK)" prove the checksums.
//
// vdens is started as `vdens -c vde://SWITCHDIR/sock TEST_BINARY` with
// NETCPU_VDENS_HELPER=1 in the environment (VdensHost, vdens_host.h): the
// test binary, re-executed inside the namespace, runs helper_main() instead
// of the tests. The helper configures vde0 (vdens's interface) with
// iproute2, opens the sockets and reports on its stdout.
//
// The negative control loads a NAT that stores the new address with a plain
// `mov` (no checksum update): the frames must not be delivered, and the
// namespace's /proc/net/snmp counters must show why (IPv4 header checksum
// errors; with `csum ip` after the store, TCP and UDP checksum errors).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "switch_harness.h"
#include "vdens_host.h"

namespace netcpu::test {
namespace {

using Clock = VdensClock;
using std::chrono::milliseconds;

// The scenario (the same as tests/tools/linux_stack_test.cpp).
constexpr const char* kOutsideIp = "203.0.113.10";
constexpr const char* kOutsideMac = "02:00:cb:00:71:0a";
constexpr const char* kPublicIp = "198.51.100.5";
constexpr const char* kInsideIp = "10.0.0.5";
constexpr const char* kInsideMac = "02:00:0a:00:00:05";
constexpr const char* kInterface = "vde0";  // vdens names its interfaces vde0, vde1, ...

constexpr uint16_t kUdpPort = 5000;
constexpr uint16_t kTcpPort = 8080;
constexpr uint16_t kClientUdpPort = 40000;
constexpr uint16_t kClientTcpPort = 40001;
constexpr uint32_t kClientIsn = 0x4e435055;  // "NCPU"

constexpr const char* kHelperEnv = "NETCPU_VDENS_HELPER";

// Time limits: nothing here may hang.
constexpr milliseconds kReadyTimeout{10000};    // vdens up, vde0 configured, sockets open
constexpr milliseconds kDeliveryTimeout{3000};  // for things that must happen
constexpr milliseconds kSilenceTimeout{1000};   // for things that must not
constexpr int kHelperLifetimeSeconds = 60;      // the helper gives up by itself after this

std::string ip_text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

// ---------------------------------------------------------------------------
// Inside the namespace: the helper. It must not touch gtest (it runs before
// main); it reports one line per event on stdout:
//   "ready" | "fail <why>" | "udp IP:PORT PAYLOAD" | "accept IP:PORT" | "snmp NAME=N ..."

// vde0 gets the inside MAC and 10.0.0.5/24; the outside host is reachable
// on vde0 through a permanent neighbour entry (no ARP needed, and
// reverse-path filtering finds a route back). IPv6 is switched off on vde0
// (best effort) so that router solicitations and MLD reports do not add
// noise on the switch.
bool configure_inside(std::string& why) {
  const std::string dev = kInterface;
  if (std::FILE* f =
          std::fopen(("/proc/sys/net/ipv6/conf/" + dev + "/disable_ipv6").c_str(), "w")) {
    std::fputs("1", f);
    std::fclose(f);
  }
  return helper_run_ip("link set dev " + dev + " address " + kInsideMac, why) &&
         helper_run_ip("link set dev lo up", why) &&
         helper_run_ip("link set dev " + dev + " up", why) &&
         helper_run_ip("addr add " + std::string(kInsideIp) + "/24 dev " + dev, why) &&
         helper_run_ip("route add 203.0.113.0/24 dev " + dev, why) &&
         helper_run_ip("neigh replace " + std::string(kOutsideIp) + " lladdr " + kOutsideMac +
                           " dev " + dev + " nud permanent",
                       why);
}

int bound_socket(int type, uint16_t port, std::string& why) {
  int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(packets::ip4_addr(kInsideIp));
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 ||
      (type == SOCK_STREAM && listen(fd, 4) < 0)) {
    why =
        errno_text("socket/bind/listen on " + std::string(kInsideIp) + ":" + std::to_string(port));
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

std::string peer_text(const sockaddr_in& a) {
  return ip_text(ntohl(a.sin_addr.s_addr)) + ":" + std::to_string(ntohs(a.sin_port));
}

int helper_main() {
  helper_unblock_sigchld();  // blocked for vdens's sake (vdens_host.h), not needed here
  std::string why;
  if (!configure_inside(why)) {
    helper_say("fail setup: " + why);
    return 1;
  }
  const int udp = bound_socket(SOCK_DGRAM, kUdpPort, why);
  const int listener = udp < 0 ? -1 : bound_socket(SOCK_STREAM, kTcpPort, why);
  if (listener < 0) {
    helper_say("fail setup: " + why);
    return 1;
  }
  helper_say("ready");
  const auto deadline = Clock::now() + std::chrono::seconds(kHelperLifetimeSeconds);
  std::vector<int> accepted;  // kept open until the end
  std::string input;
  for (;;) {
    pollfd p[3] = {{STDIN_FILENO, POLLIN, 0}, {udp, POLLIN, 0}, {listener, POLLIN, 0}};
    int r = poll(p, 3, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      helper_say(errno_text("fail poll"));
      return 1;
    }
    if (r == 0) {
      helper_say("fail helper: stdin not closed within " + std::to_string(kHelperLifetimeSeconds) +
                 " s");
      return 1;
    }
    if (p[1].revents != 0) {
      // The checksum is verified here, in recvfrom (the socket is non-blocking,
      // so udp_poll does not check it): a bad datagram is dropped and counted
      // in Udp InCsumErrors, and recvfrom fails with EAGAIN.
      char buf[2048];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(udp, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n >= 0) {
        std::string payload(buf, static_cast<size_t>(n));
        for (char& c : payload)
          if (c < 0x20 || c > 0x7e) c = '?';
        helper_say("udp " + peer_text(from) + " " + payload);
      }
    }
    if (p[2].revents != 0) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      int fd =
          accept4(listener, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        accepted.push_back(fd);
        helper_say("accept " + peer_text(from));
      }
    }
    if (p[0].revents != 0) {
      char buf[256];
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;  // EOF: the test is done (or gone)
      input.append(buf, static_cast<size_t>(n));
      for (size_t nl; (nl = input.find('\n')) != std::string::npos;) {
        std::string cmd = input.substr(0, nl);
        input.erase(0, nl + 1);
        if (cmd == "snmp") helper_say(helper_snmp_line());
      }
    }
  }
}

// Runs before main() in the re-executed test binary, and never returns there.
[[maybe_unused]] const bool kHelper = [] {
  if (std::getenv(kHelperEnv) == nullptr) return false;
  std::fflush(nullptr);
  _exit(helper_main());
}();

// ---------------------------------------------------------------------------
// Frames.

const Mac kOutsideMacBytes = packets::mac_addr(kOutsideMac);
const Mac kInsideMacBytes = packets::mac_addr(kInsideMac);

// From the outside host to `to`: the public address (NAT'ed on the switch) by default.
Bytes udp_frame(const std::string& payload, const char* to = kPublicIp) {
  return packets::PacketBuilder()
      .eth(kInsideMacBytes, kOutsideMacBytes)
      .ipv4({.src = packets::ip4_addr(kOutsideIp), .dst = packets::ip4_addr(to)})
      .udp({.sport = kClientUdpPort, .dport = kUdpPort, .payload = packets::bytes(payload)})
      .build();
}

Bytes tcp_frame(uint32_t seq, uint32_t ack, uint8_t flags, const char* to = kPublicIp) {
  return packets::PacketBuilder()
      .eth(kInsideMacBytes, kOutsideMacBytes)
      .ipv4({.src = packets::ip4_addr(kOutsideIp), .dst = packets::ip4_addr(to)})
      .tcp({.sport = kClientTcpPort, .dport = kTcpPort, .seq = seq, .ack = ack, .flags = flags})
      .build();
}

uint16_t rd16(const Bytes& b, size_t off) {
  return static_cast<uint16_t>(b[off] << 8 | b[off + 1]);
}
uint32_t rd32(const Bytes& b, size_t off) {
  return uint32_t{rd16(b, off)} << 16 | rd16(b, off + 2);
}

struct Segment {
  uint32_t src = 0, dst = 0;
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  std::string text() const {
    char f[8];
    std::snprintf(f, sizeof f, "0x%02x", flags);
    return "TCP " + ip_text(src) + ":" + std::to_string(sport) + " -> " + ip_text(dst) + ":" +
           std::to_string(dport) + " flags " + f + " seq " + std::to_string(seq) + " ack " +
           std::to_string(ack);
  }
};

// An untagged Ethernet IPv4 TCP segment, or nothing.
std::optional<Segment> parse_tcp4(const Bytes& f) {
  constexpr size_t kIp = 14;
  if (f.size() < kIp + 20 || rd16(f, 12) != 0x0800 || f[kIp + 9] != IPPROTO_TCP)
    return std::nullopt;
  const size_t tcp = kIp + (f[kIp] & 0x0fu) * 4u;
  if (f.size() < tcp + 20) return std::nullopt;
  return Segment{.src = rd32(f, kIp + 12),
                 .dst = rd32(f, kIp + 16),
                 .sport = rd16(f, tcp),
                 .dport = rd16(f, tcp + 2),
                 .seq = rd32(f, tcp + 4),
                 .ack = rd32(f, tcp + 8),
                 .flags = f[tcp + 13]};
}

// The kernel's SYN-ACK to our SYN, as the outside endpoint receives it
// (unchanged: no program on the way out): from 10.0.0.5:8080 to the client,
// SYN|ACK, acknowledging the client's ISN. Other frames are noted in `seen`.
std::optional<Segment> wait_for_synack(Endpoint& outside, milliseconds timeout, std::string& seen) {
  const auto deadline = Clock::now() + timeout;
  while (auto frame = outside.recv(remaining_ms(deadline))) {
    auto s = parse_tcp4(*frame);
    if (!s) {
      seen += "\n  a " + std::to_string(frame->size()) + "-byte frame of type " +
              std::to_string(frame->size() >= 14 ? rd16(*frame, 12) : 0);
      continue;
    }
    if (s->src == packets::ip4_addr(kInsideIp) && s->dst == packets::ip4_addr(kOutsideIp) &&
        s->sport == kTcpPort && s->dport == kClientTcpPort &&
        (s->flags &
         (packets::tcp_flags::kSyn | packets::tcp_flags::kAck | packets::tcp_flags::kRst)) ==
            (packets::tcp_flags::kSyn | packets::tcp_flags::kAck) &&
        s->ack == kClientIsn + 1)
      return s;
    seen += "\n  " + s->text();
  }
  return std::nullopt;
}

// The literal NAT of the negative control: examples/nat.ncpu's inbound half,
// with the address stored by a plain `mov` (no checksum update), optionally
// followed by `csum ip` so that only the TCP/UDP checksum is stale.
std::string raw_store_nat(bool fix_ip_header) {
  return std::string(
             ".data:\n"
             "const INSIDE 10.0.0.0\n"
             "const OUTSIDE 198.51.100.0\n"
             ".text:\n"
             "    beq has.ip4, 0, done\n"
             "    mov gpr0, ip.dst\n"
             "    and gpr0, 0xffffff00\n"
             "    bne gpr0, OUTSIDE, done\n"
             "    mov gpr1, ip.dst\n"
             "    and gpr1, 0xff\n"
             "    or gpr1, INSIDE\n"
             "    mov pkt.u32[l3 + 16], gpr1\n") +
         (fix_ip_header ? "    csum ip\n" : "") +
         "done:\n"
         "    pass\n";
}

// A switch with netcpu.so, the outside Endpoint, and a Linux stack behind
// vdens, configured and listening.
class Vdens : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = why_vdens_cannot_run()) GTEST_SKIP() << *why;
    sw = std::make_unique<VdeSwitch>(plugin_switch_options());
    con = std::make_unique<Console>(sw->mgmt_path());
    Reply r = con->cmd("plugin/add " NETCPU_PLUGIN);
    ASSERT_TRUE(r.ok()) << r.text() << "\n" << sw->log();
    outside = std::make_unique<Endpoint>(sw->data_path(), *con, "netcpu-vdens-outside");
    ns = std::make_unique<VdensHost>(cable_url(), cable_env(), std::string(kHelperEnv) + "=1");
    auto ready = ns->wait_line({"ready", "fail"}, kReadyTimeout);
    ASSERT_TRUE(ready) << "the namespace did not report ready within " << kReadyTimeout.count()
                       << " ms\n"
                       << ns->transcript();
    ASSERT_EQ(*ready, "ready") << ns->transcript();
    inside_port = con->port_of("vdens");
    ASSERT_GE(inside_port, 0) << "vdens is not on the switch:\n"
                              << con->cmd("port/allprint").text();
    outside->drain(100);  // whatever the kernel said when vde0 came up
  }

  void TearDown() override {
    if (ns) {
      const pid_t pgid = ns->pgid();
      ns->stop();
      EXPECT_EQ(ns->remaining(), "") << "processes of vdens's group " << pgid << " left behind";
      if (!ns->killed().empty()) {
        // Not a NetCPU failure, but worth knowing: the cleanup had to kill.
        std::cerr << "warning: " << ns->killed() << "\n";
        RecordProperty("vdens_killed", ns->killed());
      }
      ns.reset();
    }
    if (sw) {
      EXPECT_TRUE(sw->alive()) << sw->exit_description() << "\n" << sw->log();
    }
  }

  // vdens's cable to the switch, and what vdens needs in its environment to open it.
  virtual std::string cable_url() { return "vde://" + sw->data_path(); }
  virtual std::vector<std::string> cable_env() { return {}; }

  Reply load_outside_in(const std::string& path) {
    return con->cmd("netcpu/load " + std::to_string(outside->port()) + " in " + path);
  }
  std::string write_program(const std::string& name, const std::string& text) {
    std::string path = sw->dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // The namespace's counters, for failure messages.
  std::string counters() {
    std::string text = "kernel counters:";
    for (const auto& [name, value] : ns->snmp()) text += " " + name + "=" + std::to_string(value);
    return text;
  }
  // Sends through the switch; the frame must be taken.
  void send(const Bytes& frame) {
    ASSERT_TRUE(outside->send(frame)) << "the switch did not take a frame";
  }

  // Destroyed bottom-up: vdens before the switch.
  std::unique_ptr<VdeSwitch> sw;
  std::unique_ptr<Console> con;
  std::unique_ptr<Endpoint> outside;
  std::unique_ptr<VdensHost> ns;
  int inside_port = -1;
};

TEST_F(Vdens, LinuxAcceptsTcpAndUdpRewrittenByNatOnTheSwitch) {
  const std::string nat = NETCPU_SOURCE_DIR "/examples/nat.ncpu";
  Reply r = load_outside_in(nat);
  ASSERT_TRUE(r.ok()) << r.text();

  // UDP: delivered to the socket only if the IPv4 and UDP checksums are right.
  const std::string payload = "netcpu nat.ncpu on vde_switch -> linux udp/5000";
  ASSERT_NO_FATAL_FAILURE(send(udp_frame(payload)));
  auto udp = ns->wait_line({"udp "}, kDeliveryTimeout);
  ASSERT_TRUE(udp) << "the Linux stack behind vdens did not deliver the NAT'ed datagram within "
                   << kDeliveryTimeout.count() << " ms; " << counters() << "\n"
                   << ns->transcript();
  EXPECT_EQ(*udp, "udp " + std::string(kOutsideIp) + ":" + std::to_string(kClientUdpPort) + " " +
                      payload);

  // TCP: the kernel answers the SYN with a SYN-ACK, and accepts the
  // connection after our ACK (a second rewritten segment).
  ASSERT_NO_FATAL_FAILURE(send(tcp_frame(kClientIsn, 0, packets::tcp_flags::kSyn)));
  std::string seen;
  auto synack = wait_for_synack(*outside, kDeliveryTimeout, seen);
  ASSERT_TRUE(synack) << "no SYN-ACK from " << kInsideIp << ":" << kTcpPort << " within "
                      << kDeliveryTimeout.count() << " ms; the outside endpoint got:" << seen
                      << "\n"
                      << ns->transcript();
  ASSERT_NO_FATAL_FAILURE(
      send(tcp_frame(kClientIsn + 1, synack->seq + 1, packets::tcp_flags::kAck)));
  auto accepted = ns->wait_line({"accept "}, kDeliveryTimeout);
  ASSERT_TRUE(accepted) << "the listener did not accept the connection after our ACK\n"
                        << ns->transcript();
  EXPECT_EQ(*accepted, "accept " + std::string(kOutsideIp) + ":" + std::to_string(kClientTcpPort));

  // And the kernel counted no checksum error on the way.
  auto c = ns->snmp();
  EXPECT_EQ(c["Ip.InHdrErrors"], 0);
  EXPECT_EQ(c["Udp.InCsumErrors"], 0);
  EXPECT_EQ(c["Tcp.InCsumErrors"], 0);
  EXPECT_GE(c["Udp.InDatagrams"], 1);
}

// The control: the same frames with the address stored by a plain `mov` are
// dropped by the kernel, for the reason the counters name; the real NAT on the
// same switch and namespace then gets through.
TEST_F(Vdens, RawStoreWithoutChecksumUpdateIsDropped) {
  auto before = ns->snmp();

  // 1. No checksum update at all: the IPv4 header checksum is wrong.
  Reply r = load_outside_in(write_program("raw.ncpu", raw_store_nat(false)));
  ASSERT_TRUE(r.ok()) << r.text();
  ASSERT_NO_FATAL_FAILURE(send(udp_frame("raw store, stale checksums")));
  ASSERT_NO_FATAL_FAILURE(send(tcp_frame(kClientIsn, 0, packets::tcp_flags::kSyn)));
  std::string seen;
  // The SYN went out with the datagram: it has had the whole silence too.
  EXPECT_FALSE(ns->wait_line({"udp "}, kSilenceTimeout)) << ns->transcript();
  EXPECT_FALSE(wait_for_synack(*outside, milliseconds(200), seen)) << seen;
  auto after_raw = ns->snmp();
  EXPECT_EQ(after_raw["Ip.InHdrErrors"] - before["Ip.InHdrErrors"], 2)
      << "both frames should have reached the kernel and failed the IPv4 header checksum";

  // 2. `csum ip` after the store: the IPv4 header is right, TCP and UDP are
  // not (the pseudo-header still has 198.51.100.5).
  r = load_outside_in(write_program("raw_ip.ncpu", raw_store_nat(true)));
  ASSERT_TRUE(r.ok()) << r.text();
  ASSERT_NO_FATAL_FAILURE(send(udp_frame("raw store, stale l4 checksum")));
  ASSERT_NO_FATAL_FAILURE(send(tcp_frame(kClientIsn, 0, packets::tcp_flags::kSyn)));
  EXPECT_FALSE(ns->wait_line({"udp "}, kSilenceTimeout)) << ns->transcript();
  EXPECT_FALSE(wait_for_synack(*outside, milliseconds(200), seen)) << seen;
  auto after_l4 = ns->snmp();
  EXPECT_EQ(after_l4["Ip.InHdrErrors"], after_raw["Ip.InHdrErrors"]);
  EXPECT_EQ(after_l4["Udp.InCsumErrors"] - after_raw["Udp.InCsumErrors"], 1)
      << "the UDP datagram should have failed its checksum";
  EXPECT_EQ(after_l4["Tcp.InCsumErrors"] - after_raw["Tcp.InCsumErrors"], 1)
      << "the SYN should have failed its checksum";

  // 3. The real NAT, same path: delivered.
  r = load_outside_in(NETCPU_SOURCE_DIR "/examples/nat.ncpu");
  ASSERT_TRUE(r.ok()) << r.text();
  ASSERT_NO_FATAL_FAILURE(send(udp_frame("rewrite")));
  auto udp = ns->wait_line({"udp "}, kDeliveryTimeout);
  ASSERT_TRUE(udp) << ns->transcript();
  EXPECT_EQ(*udp,
            "udp " + std::string(kOutsideIp) + ":" + std::to_string(kClientUdpPort) + " rewrite");
}

#ifdef NETCPU_VDEPLUG_MODULE_DIR
// vdens's own cable through the netcpu:// vdeplug4 module, the switch
// without programs: `vdens -c netcpu://[in=PROG/stats]{vde://SWITCH}`, where
// PROG drops TCP to port 8080. Counted on both sides: of the frames the
// outside host sends, the kernel behind the cable gets the UDP datagrams and
// no TCP segment, and the cable's stats (written when vdens closes it) count
// the SYNs as its drops.
class VdensNetcpuCable : public Vdens {
 protected:
  std::string cable_url() override {
    std::string prog = write_program("drop8080.ncpu",
                                     "# TCP to port 8080 stops at this cable\n"
                                     ".text:\n"
                                     "    beq has.tcp, 0, ok\n"
                                     "    beq l4.dport, 8080, no\n"
                                     "ok:\n"
                                     "    pass\n"
                                     "no:\n"
                                     "    drop\n");
    return "netcpu://[in=\"" + prog + "\"/stats]{vde://" + sw->data_path() + "}";
  }
  std::vector<std::string> cable_env() override { return netcpu_module_env(); }
};

TEST_F(VdensNetcpuCable, TheCableDropsOneServiceAndCountsWhatItDid) {
  constexpr int kDatagrams = 5, kSyns = 3;
  auto before = ns->snmp();
  for (int i = 0; i < kSyns; ++i)
    ASSERT_NO_FATAL_FAILURE(
        send(tcp_frame(kClientIsn + 1000u * i, 0, packets::tcp_flags::kSyn, kInsideIp)));
  for (int i = 0; i < kDatagrams; ++i) {
    ASSERT_NO_FATAL_FAILURE(send(udp_frame("datagram " + std::to_string(i), kInsideIp)));
    auto udp = ns->wait_line({"udp "}, kDeliveryTimeout);
    ASSERT_TRUE(udp) << "datagram " << i << " was not delivered through the cable\n"
                     << ns->transcript();
    EXPECT_EQ(*udp, "udp " + std::string(kOutsideIp) + ":" + std::to_string(kClientUdpPort) +
                        " datagram " + std::to_string(i));
  }
  std::string seen;
  EXPECT_FALSE(wait_for_synack(*outside, kSilenceTimeout, seen)) << seen;
  EXPECT_FALSE(ns->wait_line({"accept "}, milliseconds(100))) << ns->transcript();
  auto after = ns->snmp();
  EXPECT_EQ(after["Tcp.InSegs"] - before["Tcp.InSegs"], 0) << "a SYN crossed the cable";
  EXPECT_EQ(after["Udp.InDatagrams"] - before["Udp.InDatagrams"], kDatagrams);

  ns->stop();
  const std::string transcript = ns->transcript();
  const std::string counts = "in (drop8080): " + std::to_string(kSyns + kDatagrams) + " frames, " +
                             std::to_string(kDatagrams) + " passed, " + std::to_string(kSyns) +
                             " dropped, 0 modified";
  EXPECT_NE(transcript.find(counts), std::string::npos)
      << "expected the cable's stats, written when vdens closed it: " << counts << "\n"
      << transcript;
}
#endif

}  // namespace
}  // namespace netcpu::test
