// libvdeplug_netcpu.so, the netcpu:// vdeplug4 module, as its users meet it:
//
//   - Debian's /usr/bin/vde_plug, started with VDEPLUGIN_PATH pointing at the
//     build, joins two real vde_switches with a filtered cable:
//
//       A ── switch 1 ══ vde_plug 'netcpu://[in=F/out=G]{vde://SW1}' vde://SW2 ══ switch 2 ── B
//
//     Frames A sends cross the `in` program (they arrive from the network the
//     netcpu URL wraps); frames B sends cross the `out` program (vde_plug
//     sends them into that network). Both ends count what arrives.
//   - the test process itself opening netcpu://... with vde_open, as qemu or
//     lwIPv6 would, to see vde_recv's and vde_send's return values.
//
// Sanitizer builds: libvdeplug dlopens modules with RTLD_DEEPBIND, which
// AddressSanitizer refuses ("incompatible with sanitizer runtime"). vde_plug
// then gets the sanitizer runtimes preloaded behind a shim that strips the
// flag (no_deepbind.c). This process was started without the shim, so the
// in-process tests skip themselves here and ModuleSanitized runs them in a
// child of this binary that has it.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "count_ways.h"
#include "switch_harness.h"
#include "tcpdump_lines.h"

extern "C" {
#include <libvdeplug.h>
}

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const Mac kMacA = packets::mac_addr("02:00:00:00:00:0a");
const Mac kMacB = packets::mac_addr("02:00:00:00:00:0b");
const Mac kMacCable = packets::mac_addr("02:00:00:00:00:0c");

constexpr const char* kVdePlug = "/usr/bin/vde_plug";
// Set in the child that runs ModuleInProcess.* in sanitizer builds.
constexpr const char* kInProcessChild = "NETCPU_IN_PROCESS_CHILD";
constexpr uint16_t kDiscard = 9;  // what the programs let through
constexpr uint16_t kEcho = 7;     // what they drop

#if defined(__SANITIZE_ADDRESS__) || defined(NETCPU_SWITCH_PRELOAD)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// Programs, written into each test's switch directory.
constexpr const char* kDropEcho = R"(# frames to UDP port 7 are dropped
.text:
    beq has.udp, 0, ok
    beq l4.dport, 7, no
ok:
    pass
no:
    drop
)";

constexpr const char* kRewriteTtl =
    R"(# TTL 7 on what passes (checksum kept right), UDP port 7 dropped
.text:
    beq has.ip4, 0, ok
    beq l4.dport, 7, no
    rewrite ip.ttl, 7
ok:
    pass
no:
    drop
)";

constexpr const char* kSyntaxError = R"(.text:
    beq has.udp, 0, ok
    frobnicate gpr0
ok:
    pass
)";

constexpr const char* kRunaway = R"(.text:
spin:
    jmp spin
)";

// 3000 rounds, then a drop: under a budget of 1000 it never gets there.
constexpr const char* kCounting = R"(.text:
    mov gpr0, 0
again:
    add gpr0, 1
    bltu gpr0, 3000, again
    drop
)";

constexpr const char* kRedirect = R"(.text:
    redirect 2
)";

// Drops frames until its timer has run once.
constexpr const char* kTimerGate = R"(.data:
num ticks 0
.timer tick 100ms:
    add ticks, 1
    end
.text:
    beq ticks, 0, closed
    pass
closed:
    drop
)";

// A UDP frame to `dport` carrying the harness's sequence number (so
// sequence_of finds it).
Bytes service_frame(Mac dst, Mac src, uint32_t seq, uint16_t dport) {
  Bytes payload = {'N', 'C', 'S', 'Q'};
  for (uint32_t v : {seq, ~seq})
    for (int shift = 24; shift >= 0; shift -= 8)
      payload.push_back(static_cast<uint8_t>(v >> shift));
  return packets::PacketBuilder()
      .eth(dst, src)
      .ipv4({.src = packets::ip4_addr("10.0.0.1"), .dst = packets::ip4_addr("10.0.0.2")})
      .udp({.sport = 40000, .dport = dport, .payload = payload})
      .build();
}

uint16_t ip4_header_sum(const Bytes& f) {
  uint32_t sum = 0;
  size_t hlen = (f.at(14) & 0x0f) * 4u;
  for (size_t i = 14; i < 14 + hlen; i += 2) sum += (f.at(i) << 8) | f.at(i + 1);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// vde_plug with the module. If this process dies, the switches it is plugged
// into exit and vde_plug follows them (their control sockets hang up).
class VdePlug : public Child {
 public:
  VdePlug(const std::vector<std::string>& args, std::string log_path)
      : Child(kVdePlug, args, netcpu_module_env(), std::move(log_path)) {}
};

// Two switches, an endpoint on each, and a way to cable them with vde_plug.
class ModuleCable : public ::testing::Test {
 protected:
  ModuleCable()
      : sw1(plugin_switch_options()),
        sw2(plugin_switch_options()),
        con1(sw1.mgmt_path()),
        con2(sw2.mgmt_path()),
        a(sw1.data_path(), con1),
        b(sw2.data_path(), con2) {}

  std::string program(const std::string& name, const char* text) {
    std::string path = sw1.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  // netcpu://[OPTIONS]{vde://SW1}: file names hold '/', so they go in quotes.
  std::string url(const std::string& options) {
    return "netcpu://[" + options + "]{vde://" + sw1.data_path() + "}";
  }
  // Starts vde_plug URL vde://SW2 and waits until it has a port on both switches.
  std::unique_ptr<VdePlug> plug(const std::string& netcpu_url) {
    std::string descr = "netcpu-cable-" + std::to_string(++plugs_);
    auto p = std::make_unique<VdePlug>(
        std::vector<std::string>{"-D", descr, netcpu_url, "vde://" + sw2.data_path()},
        sw1.dir() + "/" + descr + ".log");
    auto deadline = Clock::now() + 5s;
    while (con1.port_of(descr) < 0 || con2.port_of(descr) < 0) {
      if (!p->alive() || Clock::now() >= deadline) {
        ADD_FAILURE() << "vde_plug did not connect both switches: " << p->output();
        return p;
      }
      std::this_thread::sleep_for(20ms);
    }
    return p;
  }

  // Sends frames from `from` one by one; waits at `to` for each frame that
  // should arrive (so a leak of a dropped one shows up before the next), then
  // collects stragglers until it has been quiet for a while.
  struct Arrivals {
    std::vector<uint32_t> seqs;  // in arrival order
    std::vector<Bytes> frames;
    size_t foreign = 0;  // frames that are not numbered
  };
  Arrivals exchange(Endpoint& from, Endpoint& to, const std::vector<Bytes>& frames,
                    const std::vector<bool>& expect) {
    Arrivals got;
    auto take = [&](const Bytes& f) {
      if (auto s = sequence_of(f)) {
        got.seqs.push_back(*s);
        got.frames.push_back(f);
      } else {
        ++got.foreign;
      }
    };
    for (uint32_t i = 0; i < frames.size(); ++i) {
      EXPECT_TRUE(from.send(frames[i])) << "frame " << i;
      if (!expect[i]) continue;
      auto deadline = Clock::now() + 3s;
      while (std::find(got.seqs.begin(), got.seqs.end(), i) == got.seqs.end()) {
        int left = static_cast<int>(
            std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count());
        auto f = to.recv(std::max(left, 0));
        if (!f) {
          ADD_FAILURE() << "frame " << i << " did not arrive within 3 s";
          return got;
        }
        take(*f);
      }
    }
    while (auto f = to.recv(300)) take(*f);
    return got;
  }

  // Alternating port 7 and port 9 frames; the port 9 ones are expected.
  void alternating(Mac dst, Mac src, uint32_t n, std::vector<Bytes>& frames,
                   std::vector<bool>& expect, std::vector<uint32_t>& expected) {
    for (uint32_t i = 0; i < n; ++i) {
      bool pass = i % 2 == 1;
      frames.push_back(service_frame(dst, src, i, pass ? kDiscard : kEcho));
      expect.push_back(pass);
      if (pass) expected.push_back(i);
    }
  }

  VdeSwitch sw1, sw2;
  Console con1, con2;
  Endpoint a, b;
  int plugs_ = 0;
};

TEST_F(ModuleCable, VdePlugInProgramDropsOneServiceAndPassesTheRest) {
  std::string prog = program("drop-echo.ncpu", kDropEcho);
  auto p = plug(url("in=\"" + prog + "\"/stats"));
  std::vector<Bytes> frames;
  std::vector<bool> expect;
  std::vector<uint32_t> expected;
  alternating(kMacB, kMacA, 40, frames, expect, expected);

  Arrivals got = exchange(a, b, frames, expect);
  EXPECT_EQ(got.seqs, expected) << "B must get exactly the port 9 frames, in order, once";
  EXPECT_EQ(got.foreign, 0u) << "a dropped frame must not turn into something else";
  for (size_t i = 0; i < got.frames.size(); ++i)
    EXPECT_EQ(got.frames[i], frames[got.seqs[i]]) << "frame " << got.seqs[i] << " changed";
  // The other direction has no program: everything goes through.
  std::vector<bool> all(frames.size(), true);
  std::vector<uint32_t> every(frames.size());
  for (uint32_t i = 0; i < every.size(); ++i) every[i] = i;
  std::vector<Bytes> back;
  for (uint32_t i = 0; i < frames.size(); ++i)
    back.push_back(service_frame(kMacA, kMacB, i, i % 2 ? kDiscard : kEcho));
  EXPECT_EQ(exchange(b, a, back, all).seqs, every);

  ASSERT_TRUE(p->alive()) << "drops must not end the connection: " << p->output();
  auto st = p->terminate();
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << p->output();
  EXPECT_NE(p->output().find("netcpu: in (drop-echo): 40 frames, 20 passed, 20 dropped"),
            std::string::npos)
      << p->output();
}

TEST_F(ModuleCable, VdePlugOutProgramRewritesWhatTheReceiverSees) {
  std::string prog = program("ttl.ncpu", kRewriteTtl);
  auto p = plug(url("out=\"" + prog + "\""));
  std::vector<Bytes> frames;
  std::vector<bool> expect;
  std::vector<uint32_t> expected;
  alternating(kMacA, kMacB, 30, frames, expect, expected);

  Arrivals got = exchange(b, a, frames, expect);
  EXPECT_EQ(got.seqs, expected);
  EXPECT_EQ(got.foreign, 0u);
  for (size_t i = 0; i < got.frames.size(); ++i) {
    const Bytes& f = got.frames[i];
    ASSERT_GT(f.size(), 34u);
    EXPECT_EQ(f[22], 7) << "TTL of frame " << got.seqs[i];
    EXPECT_EQ(frames[got.seqs[i]][22], 64) << "the sender's frame was 64";
    EXPECT_EQ(ip4_header_sum(f), 0xffff) << "IPv4 header checksum of frame " << got.seqs[i];
    Bytes unchanged = frames[got.seqs[i]];
    std::copy(f.begin() + 22, f.begin() + 26, unchanged.begin() + 22);  // TTL, proto, checksum
    EXPECT_EQ(f, unchanged) << "only the TTL and the checksum change";
  }
  EXPECT_TRUE(p->alive()) << p->output();
}

// incapture=/outcapture=: what a direction's program passed or dropped, in
// a pcap file, flushed and closed with the cable; a bad file refuses the
// cable with the reason.
TEST_F(ModuleCable, VdePlugCapturesWhatItsProgramDropsToAPcapTcpdumpReads) {
  std::string prog = program("drop-echo.ncpu", kDropEcho);
  const std::string pcap = sw1.dir() + "/cable-drops.pcap";
  auto p = plug(url("in=\"" + prog + "\"/stats/incapture=\"drop:" + pcap + "\""));
  std::vector<Bytes> frames;
  std::vector<bool> expect;
  std::vector<uint32_t> expected;
  alternating(kMacB, kMacA, 20, frames, expect, expected);
  EXPECT_EQ(exchange(a, b, frames, expect).seqs, expected);
  auto st = p->terminate();
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << p->output();
  EXPECT_NE(p->output().find("netcpu: in capture: drop to " + pcap + ": 10 frames, " +
                             std::to_string(24 + 10 * (16 + frames[0].size())) +
                             " bytes, closed with the cable"),
            std::string::npos)
      << p->output();
  const size_t bytes = 10 * frames[0].size();
  EXPECT_NE(p->output().find(std::to_string(bytes) + " bytes passed, " + std::to_string(bytes) +
                             " bytes dropped"),
            std::string::npos)
      << p->output();
  auto lines = tcpdump_lines(pcap);
  EXPECT_EQ(lines.size(), 10u) << joined(lines);
  EXPECT_EQ(count_with(lines, ".7: UDP"), 10u) << joined(lines);

  for (const auto& [option, error] : std::vector<std::pair<std::string, std::string>>{
           {"in=\"" + prog + "\"/incapture=\"drop:" + sw1.dir() + "\"", "Is a directory"},
           {"in=\"" + prog + "\"/incapture=\"keep:" + pcap + "\"", "pass, drop or all"},
           {"in=\"" + prog + "\"/incapture=drop", "no file"},
           {"out=\"" + prog + "\"/incapture=\"drop:" + pcap + "\"", "there is no in program"},
           {"in=\"" + prog + "\"/incapture=\"drop:" + prog + "\"", "not a capture file"}}) {
    VdePlug bad({"-D", "netcpu-badcapture", url(option), "vde://" + sw2.data_path()},
                sw1.dir() + "/badcapture.log");
    auto exit = bad.wait_exit(5s);
    ASSERT_TRUE(exit) << option << ": vde_plug kept running: " << bad.output();
    EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 1) << option << ": " << bad.output();
    EXPECT_NE(bad.output().find("netcpu: incapture="), std::string::npos)
        << option << ": " << bad.output();
    EXPECT_NE(bad.output().find(error), std::string::npos) << option << ": " << bad.output();
  }
  EXPECT_EQ(tcpdump_lines(pcap).size(), 10u) << "a refused cable leaves the file alone";
}

// mgmt=PATH: the switch's console on the cable's two directions, driven
// while frames cross it.
// A counter of a cable's direction, from the console's netcpu/list -j; -1
// when it has no program.
long cable_counter(Console& console, const std::string& point, const std::string& name) {
  auto list = nlohmann::json::parse(console.cmd_ok("netcpu/list -j").data.at(0));
  for (const auto& p : list)
    if (p.at("point") == point) return p.at(name).get<long>();
  return -1;
}

// Two clients of a cable's console: a line one of them continues with '\'
// goes on only with that client's next line, never the other's.
TEST_F(ModuleCable, ConsoleContinuedLinesGoOnOnlyOnTheirOwnConnection) {
  const std::string mgmt = sw1.dir() + "/cable.mgmt";
  auto p = plug(url("mgmt=\"" + mgmt + "\""));
  ASSERT_TRUE(std::filesystem::is_socket(mgmt)) << p->output();
  Console mine(mgmt), other(mgmt);
  Reply piece = other.cmd("netcpu/filter in host 10.0.0.7 or \\");
  ASSERT_TRUE(piece.ok()) << piece.text();
  Reply whole = mine.cmd("netcpu/filter in udp port 9");
  ASSERT_TRUE(whole.ok()) << whole.text();
  EXPECT_NE(mine.cmd_ok("netcpu/list in").text().find("<filter 'udp port 9'>"), std::string::npos)
      << whole.text();
  Reply rest = other.cmd("netcpu/filter host 10.0.0.8");
  ASSERT_TRUE(rest.ok()) << rest.text();
  EXPECT_NE(mine.cmd_ok("netcpu/list in").text().find("host 10.0.0.7 or host 10.0.0.8"),
            std::string::npos)
      << rest.text();
}

TEST_F(ModuleCable, VdePlugConsoleWatchesAndChangesTheCableWhileFramesFlow) {
  std::string prog = program("drop-echo.ncpu", kDropEcho);
  const std::string mgmt = sw1.dir() + "/cable.mgmt";
  auto p = plug(url("in=\"" + prog + "\"/mgmt=\"" + mgmt + "\""));
  ASSERT_TRUE(std::filesystem::is_socket(mgmt)) << p->output();
  Console cc(mgmt);
  EXPECT_NE(cc.banner().empty() ? std::string::npos : cc.banner()[0].find("on a netcpu:// cable"),
            std::string::npos);
  ASSERT_TRUE(cc.cmd_ok("debug/add netcpu/drop").ok());

  // A to B crosses `in`: port 7 dropped, port 9 passes, and the console counts it.
  std::vector<Bytes> frames;
  std::vector<bool> expect;
  std::vector<uint32_t> expected;
  alternating(kMacB, kMacA, 20, frames, expect, expected);
  EXPECT_EQ(exchange(a, b, frames, expect).seqs, expected);
  EXPECT_EQ(list_field(cc, "in", 0), "drop-echo");
  EXPECT_EQ(cable_counter(cc, "in", "packets"), 20);
  EXPECT_EQ(cable_counter(cc, "in", "dropped"), 10);
  EXPECT_EQ(list_field(cc, "out", 0), "") << "no out program";
  auto drop = cc.wait_debug(
      [](const std::string& l) { return l.find("in: drop-echo dropped") != std::string::npos; });
  EXPECT_TRUE(drop) << "no netcpu/drop line";
  Reply show = cc.cmd_ok("netcpu/show in");
  EXPECT_NE(show.text().find("# loaded "), std::string::npos) << show.text();

  // Replaced from the console: now port 9 drops and port 7 passes, and what
  // `in` drops is captured.
  ASSERT_TRUE(cc.cmd_ok("netcpu/filter in not udp port 9").ok());
  const std::string pcap = sw1.dir() + "/cable-drops.pcap";
  ASSERT_TRUE(cc.cmd_ok("netcpu/capture in drop " + pcap).ok());
  frames.clear(), expect.clear(), expected.clear();
  for (uint32_t i = 0; i < 10; ++i) {
    frames.push_back(service_frame(kMacB, kMacA, i, i % 2 ? kEcho : kDiscard));
    expect.push_back(i % 2 == 1);
    if (i % 2) expected.push_back(i);
  }
  EXPECT_EQ(exchange(a, b, frames, expect).seqs, expected);
  EXPECT_EQ(cable_counter(cc, "in", "dropped"), 5);
  Reply off = cc.cmd_ok("netcpu/capture in off");
  EXPECT_NE(off.text().find("5 frames"), std::string::npos) << off.text();
  EXPECT_GT(std::filesystem::file_size(pcap), 24u + 5 * 16);

  // B to A crosses `out`: a program loaded there from the console.
  ASSERT_TRUE(cc.cmd_ok("netcpu/load out " + prog).ok());
  frames.clear(), expect.clear(), expected.clear();
  alternating(kMacA, kMacB, 10, frames, expect, expected);
  EXPECT_EQ(exchange(b, a, frames, expect).seqs, expected);
  EXPECT_EQ(cable_counter(cc, "out", "dropped"), 5);
  EXPECT_TRUE(cc.cmd_ok("netcpu/reset").ok());
  EXPECT_EQ(cable_counter(cc, "out", "packets"), 0);
  Reply bad = cc.cmd("netcpu/unload 3 in");
  EXPECT_EQ(bad.code, EINVAL) << bad.text();
  EXPECT_NE(bad.text().find("a cable's points are in, out and inout"), std::string::npos)
      << bad.text();
  ASSERT_TRUE(cc.cmd_ok("netcpu/unload in").ok());
  ASSERT_TRUE(cc.cmd_ok("netcpu/unload out").ok());
  frames.clear(), expect.clear(), expected.clear();
  for (uint32_t i = 0; i < 6; ++i) {
    frames.push_back(service_frame(kMacB, kMacA, i, kEcho));
    expect.push_back(true);
    expected.push_back(i);
  }
  EXPECT_EQ(exchange(a, b, frames, expect).seqs, expected) << "nothing filters any more";

  // Programs swapped from the console while frames cross both ways: each
  // passes port 9, so every frame arrives.
  std::vector<Bytes> there, back;
  for (uint32_t i = 0; i < 300; ++i) {
    there.push_back(service_frame(kMacB, kMacA, i, kDiscard));
    back.push_back(service_frame(kMacA, kMacB, i, kDiscard));
  }
  std::vector<bool> all(300, true);
  Arrivals got_there, got_back;
  std::thread sender([&] { got_there = exchange(a, b, there, all); });
  std::thread sender_back([&] { got_back = exchange(b, a, back, all); });
  for (int i = 0; i < 40; ++i) {
    const char* dir = i % 2 ? "in" : "out";
    Reply r = i % 3 == 2 ? cc.cmd("netcpu/unload " + std::string(dir))
                         : cc.cmd("netcpu/filter " + std::string(dir) +
                                  (i % 3 ? " udp port 9" : " not udp port 7"));
    EXPECT_TRUE(r.ok() || r.code == ENOENT) << r.text();
    cc.cmd_ok("netcpu/list");
  }
  sender.join();
  sender_back.join();
  EXPECT_EQ(got_there.seqs.size(), 300u);
  EXPECT_EQ(got_back.seqs.size(), 300u);

  // The socket goes with the cable.
  p->terminate();
  EXPECT_FALSE(std::filesystem::exists(mgmt));
}

TEST_F(ModuleCable, VdePlugRefusesAConsolePathItCannotUse) {
  const std::string file = sw1.dir() + "/not-a-socket";
  std::ofstream(file) << "keep me\n";
  // /sys refuses sockets to root too.
  for (const std::string& path :
       {file, std::string("/sys/netcpu-cable-test.mgmt"), sw1.dir() + "/no/such/dir/m"}) {
    VdePlug p({url("mgmt=\"" + path + "\""), "vde://" + sw2.data_path()},
              sw1.dir() + "/badmgmt.log");
    auto st = p.wait_exit(5s);
    ASSERT_TRUE(st) << "vde_plug kept running: " << p.output();
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << p.output();
    EXPECT_NE(p.output().find("netcpu: mgmt=" + path + ": "), std::string::npos) << p.output();
  }
  EXPECT_EQ(read_file(file), "keep me\n") << "a file that is not a socket is left alone";
  // A console another cable serves is not taken over.
  const std::string mgmt = sw1.dir() + "/taken.mgmt";
  auto first = plug(url("mgmt=\"" + mgmt + "\""));
  VdePlug second({url("mgmt=\"" + mgmt + "\""), "vde://" + sw2.data_path()},
                 sw1.dir() + "/second.log");
  ASSERT_TRUE(second.wait_exit(5s)) << second.output();
  EXPECT_NE(second.output().find("Address already in use (another console serves it)"),
            std::string::npos)
      << second.output();
  EXPECT_TRUE(std::filesystem::is_socket(mgmt));
  EXPECT_TRUE(Console(mgmt).cmd_ok("netcpu/list").ok());
}

TEST_F(ModuleCable, VdePlugRefusesAProgramWithASyntaxErrorAndSaysWhere) {
  std::string prog = program("broken.ncpu", kSyntaxError);
  VdePlug p({"-D", "netcpu-broken", url("in=\"" + prog + "\""), "vde://" + sw2.data_path()},
            sw1.dir() + "/broken.log");
  auto st = p.wait_exit(5s);
  ASSERT_TRUE(st) << "vde_plug kept running with a broken program: " << p.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << p.output();
  std::string out = p.output();
  EXPECT_NE(out.find("netcpu: " + prog + ":3:5: error: unknown instruction 'frobnicate'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Invalid argument"), std::string::npos) << out;
  EXPECT_LT(con1.port_of("netcpu-broken"), 0) << "nothing was plugged into the switch";
}

TEST_F(ModuleCable, VdePlugRefusesRedirectOnACable) {
  std::string prog = program("redirect.ncpu", kRedirect);
  VdePlug p({url("out=\"" + prog + "\""), "vde://" + sw2.data_path()}, sw1.dir() + "/redir.log");
  auto st = p.wait_exit(5s);
  ASSERT_TRUE(st) << p.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 1) << p.output();
  EXPECT_NE(p.output().find(prog + ":2:5: error: 'redirect' is not supported by a netcpu:// "
                                   "cable: it cannot redirect packets"),
            std::string::npos)
      << p.output();
}

TEST_F(ModuleCable, VdePlugBudgetStopsARunawayLoop) {
  std::string prog = program("spin.ncpu", kRunaway);
  auto p = plug(url("in=\"" + prog + "\"/budget=2000/onabort=drop/stats"));
  std::vector<Bytes> frames;
  for (uint32_t i = 0; i < 10; ++i) frames.push_back(service_frame(kMacB, kMacA, i, kDiscard));
  Arrivals got = exchange(a, b, frames, std::vector<bool>(frames.size(), false));
  EXPECT_TRUE(got.seqs.empty()) << "stopped runs take the abort verdict, drop";
  // The process is not stuck in the program: the other direction still works.
  std::vector<Bytes> back;
  for (uint32_t i = 0; i < 10; ++i) back.push_back(service_frame(kMacA, kMacB, i, kDiscard));
  EXPECT_EQ(exchange(b, a, back, std::vector<bool>(back.size(), true)).seqs.size(), 10u);
  ASSERT_TRUE(p->alive()) << p->output();
  p->terminate();
  std::string out = p->output();
  EXPECT_NE(out.find(prog + ":3:5: run stopped: instruction budget exhausted (2000 instructions)"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("in (spin): 10 frames, 0 passed, 10 dropped, 0 modified, 0 emitted, 10 "
                     "aborted"),
            std::string::npos)
      << out;
}

TEST_F(ModuleCable, VdePlugBudgetOptionSetsTheLimit) {
  // 3000 rounds then drop: the default budget lets it drop everything; a
  // budget of 1000 stops it first and the abort verdict (pass) applies.
  std::string prog = program("count.ncpu", kCounting);
  std::vector<Bytes> frames;
  for (uint32_t i = 0; i < 6; ++i) frames.push_back(service_frame(kMacB, kMacA, i, kDiscard));
  {
    auto p = plug(url("in=\"" + prog + "\""));
    EXPECT_TRUE(exchange(a, b, frames, std::vector<bool>(6, false)).seqs.empty());
  }
  auto p = plug(url("in=\"" + prog + "\"/budget=1000"));
  EXPECT_EQ(exchange(a, b, frames, std::vector<bool>(6, true)).seqs.size(), 6u) << p->output();
}

// ---------------------------------------------------------------------------
// In this process: vde_open("netcpu://...") as qemu or lwIPv6 would.

class ModuleInProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kSanitized && !std::getenv(kInProcessChild))
      GTEST_SKIP() << "sanitizer build: libvdeplug dlopens modules with RTLD_DEEPBIND, which "
                      "AddressSanitizer refuses; "
                      "ModuleSanitized.InProcessTestsInAChildWithoutDeepBind runs this test in a "
                      "child process that strips the flag";
    const char* old = std::getenv("VDEPLUGIN_PATH");
    if (old) saved_ = old;
    setenv("VDEPLUGIN_PATH", netcpu_module_search_path().c_str(), 1);
  }
  void TearDown() override {
    if (conn_) vde_close(conn_);
    if (IsSkipped()) return;
    if (saved_)
      setenv("VDEPLUGIN_PATH", saved_->c_str(), 1);
    else
      unsetenv("VDEPLUGIN_PATH");
  }

  std::string program(const std::string& name, const char* text) {
    std::string path = sw.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  VDECONN* open_cable(const std::string& options) {
    std::string u = "netcpu://[" + options + "]{vde://" + sw.data_path() + "}";
    std::string descr = "netcpu-inprocess";
    return vde_open(u.data(), descr.data(), nullptr);
  }
  // One vde_recv once the data socket is readable: its result and errno.
  struct Recv {
    ssize_t n = -2;  // -2: nothing readable within the timeout
    int error = 0;
    Bytes frame;
  };
  Recv recv(VDECONN* c, int timeout_ms = 2000) {
    Recv r;
    pollfd p{vde_datafd(c), POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return r;
    Bytes buf(VDE_ETHBUFSIZE, 0xee);
    errno = 0;
    r.n = vde_recv(c, buf.data(), buf.size(), 0);
    r.error = errno;
    if (r.n > 0) r.frame.assign(buf.begin(), buf.begin() + r.n);
    return r;
  }

  VdeSwitch sw{plugin_switch_options()};
  Console con{sw.mgmt_path()};
  std::optional<std::string> saved_;
  VDECONN* conn_ = nullptr;
};

TEST_F(ModuleInProcess, RecvSaysNothingForADroppedFrameAndSendSwallowsOne) {
  Endpoint b(sw.data_path(), con);
  std::string in = program("drop-echo.ncpu", kDropEcho);
  std::string out = program("ttl.ncpu", kRewriteTtl);
  conn_ = open_cable("in=\"" + in + "\"/out=\"" + out + "\"");
  ASSERT_NE(conn_, nullptr) << strerror(errno);

  // From the network: port 7 dropped, port 9 delivered as it was.
  Bytes echo = service_frame(kMacCable, kMacB, 1, kEcho);
  Bytes discard = service_frame(kMacCable, kMacB, 2, kDiscard);
  ASSERT_TRUE(b.send(echo));
  Recv r = recv(conn_);
  EXPECT_EQ(r.n, 1) << "vdeplug4's 'nothing for you': one byte";
  EXPECT_EQ(r.error, EAGAIN);
  ASSERT_TRUE(b.send(discard));
  r = recv(conn_);
  EXPECT_EQ(r.n, static_cast<ssize_t>(discard.size()));
  EXPECT_EQ(r.frame, discard);

  // To the network: port 7 swallowed (the sender sees success), port 9
  // rewritten.
  EXPECT_EQ(vde_send(conn_, echo.data(), echo.size(), 0), static_cast<ssize_t>(echo.size()));
  EXPECT_FALSE(b.recv(300)) << "the out program dropped it";
  Bytes to_b = service_frame(kMacB, kMacCable, 3, kDiscard);
  EXPECT_EQ(vde_send(conn_, to_b.data(), to_b.size(), 0), static_cast<ssize_t>(to_b.size()));
  auto got = b.recv(2000);
  ASSERT_TRUE(got);
  EXPECT_EQ(sequence_of(*got), 3u);
  EXPECT_EQ((*got)[22], 7);
  EXPECT_EQ(ip4_header_sum(*got), 0xffff);

  EXPECT_EQ(vde_close(conn_), 0);
  conn_ = nullptr;
}

TEST_F(ModuleInProcess, AnInProgramAnswersPingsOnTheWire) {
  Endpoint b(sw.data_path(), con);
  conn_ = open_cable("in=\"" NETCPU_SOURCE_DIR "/examples/icmp_responder.ncpu\"");
  ASSERT_NE(conn_, nullptr) << strerror(errno);
  Bytes ping =
      packets::PacketBuilder()
          .eth(kMacCable, kMacB)
          .ipv4({.src = packets::ip4_addr("192.168.1.7"), .dst = packets::ip4_addr("192.168.1.1")})
          .icmp_echo({.id = 0x4e43, .seq = 5, .payload = packets::bytes("netcpu cable")})
          .build();
  ASSERT_TRUE(b.send(ping));
  Recv r = recv(conn_);
  EXPECT_EQ(r.n, 1) << "the request is answered on the wire, not delivered";
  auto reply = b.recv(2000);
  ASSERT_TRUE(reply) << "no echo reply came back on the wire";
  ASSERT_GE(reply->size(), 42u);
  EXPECT_TRUE(std::equal(kMacB.begin(), kMacB.end(), reply->begin())) << "to the requester";
  EXPECT_EQ((*reply)[34], 0) << "ICMP echo reply";
  EXPECT_EQ(ip4_header_sum(*reply), 0xffff);
}

TEST_F(ModuleInProcess, DueTimersRunOnTheNextFrame) {
  Endpoint b(sw.data_path(), con);
  conn_ = open_cable("in=\"" + program("gate.ncpu", kTimerGate) + "\"");
  ASSERT_NE(conn_, nullptr) << strerror(errno);
  Bytes f = service_frame(kMacCable, kMacB, 1, kDiscard);
  ASSERT_TRUE(b.send(f));
  EXPECT_EQ(recv(conn_).n, 1) << "no timer has run yet: dropped";
  std::this_thread::sleep_for(250ms);  // the 100 ms timer is due, but only a frame runs it
  ASSERT_TRUE(b.send(f));
  EXPECT_EQ(recv(conn_).n, static_cast<ssize_t>(f.size())) << "the timer ran before the frame";
}

TEST_F(ModuleInProcess, OpenFailsWithTheReasonOnStderr) {
  struct Case {
    std::string options;
    int error;
    std::string message;
  };
  std::string broken = program("broken.ncpu", kSyntaxError);
  std::string redirect = program("redirect.ncpu", kRedirect);
  const std::vector<Case> cases = {
      {"in=\"" + broken + "\"", EINVAL,
       "netcpu: " + broken + ":3:5: error: unknown instruction 'frobnicate'"},
      {"in=\"" + redirect + "\"", EINVAL,
       redirect + ":2:5: error: 'redirect' is not supported by a netcpu:// cable"},
      {"in=\"" + sw.dir() + "/missing.ncpu\"", ENOENT, "missing.ncpu: No such file or directory"},
      {"budget=lots", EINVAL, "budget=lots: expected a positive number"},
      {"onabort=maybe", EINVAL, "onabort=maybe: expected pass or drop"},
      {"infilter=tcp port 99999", EINVAL, "infilter 'tcp port 99999': "},
  };
  for (const Case& c : cases) {
    testing::internal::CaptureStderr();
    errno = 0;
    VDECONN* conn = open_cable(c.options);
    int e = errno;
    std::string err = testing::internal::GetCapturedStderr();
    if (conn) vde_close(conn);
    EXPECT_EQ(conn, nullptr) << c.options;
    EXPECT_EQ(e, c.error) << c.options << ": " << strerror(e);
    EXPECT_NE(err.find(c.message), std::string::npos) << c.options << " printed:\n" << err;
  }
  // Without the braces there is nothing to filter.
  testing::internal::CaptureStderr();
  std::string u = "netcpu://[stats]";
  std::string descr = "x";
  EXPECT_EQ(vde_open(u.data(), descr.data(), nullptr), nullptr);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_NE(testing::internal::GetCapturedStderr().find("netcpu: no URL to filter"),
            std::string::npos);
}

TEST_F(ModuleInProcess, TheCableExampleDropsTcpPort7BothWaysAndLogsIt) {
  Endpoint b(sw.data_path(), con);
  const std::string example = NETCPU_SOURCE_DIR "/examples/cable_drop_service.ncpu";
  const std::string log = sw.dir() + "/cable.log";
  conn_ = open_cable("in=\"" + example + "\"/out=\"" + example + "\"/log=\"" + log + "\"/stats");
  ASSERT_NE(conn_, nullptr) << strerror(errno);
  auto syn = [](Mac dst, Mac src, const char* to, uint16_t dport) {
    return packets::PacketBuilder()
        .eth(dst, src)
        .ipv4({.src = packets::ip4_addr("10.0.0.9"), .dst = packets::ip4_addr(to)})
        .tcp({.sport = 40000, .dport = dport, .seq = 1, .flags = packets::tcp_flags::kSyn})
        .build();
  };
  ASSERT_TRUE(b.send(syn(kMacCable, kMacB, "10.0.0.1", 7)));
  EXPECT_EQ(recv(conn_).n, 1);
  Bytes web = syn(kMacCable, kMacB, "10.0.0.1", 80);
  ASSERT_TRUE(b.send(web));
  EXPECT_EQ(recv(conn_).frame, web);

  Bytes echo = syn(kMacB, kMacCable, "10.0.0.2", 7);
  EXPECT_EQ(vde_send(conn_, echo.data(), echo.size(), 0), static_cast<ssize_t>(echo.size()));
  EXPECT_FALSE(b.recv(300));
  web = syn(kMacB, kMacCable, "10.0.0.2", 80);
  EXPECT_EQ(vde_send(conn_, web.data(), web.size(), 0), static_cast<ssize_t>(web.size()));
  EXPECT_EQ(b.recv(2000), web);

  EXPECT_EQ(vde_close(conn_), 0);
  conn_ = nullptr;
  std::string text = read_file(log);
  EXPECT_NE(text.find("netcpu in: dropped tcp to 10.0.0.1 port 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("netcpu out: dropped tcp to 10.0.0.2 port 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("netcpu: in (cable_drop_service): 2 frames, 1 passed, 1 dropped"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("netcpu: out (cable_drop_service): 2 frames, 1 passed, 1 dropped"),
            std::string::npos)
      << text;
}

TEST_F(ModuleInProcess, TcpdumpExpressionsFilterToo) {
  Endpoint b(sw.data_path(), con);
  conn_ = open_cable("infilter=udp port 9");
  ASSERT_NE(conn_, nullptr) << strerror(errno);
  Bytes echo = service_frame(kMacCable, kMacB, 1, kEcho);
  Bytes discard = service_frame(kMacCable, kMacB, 2, kDiscard);
  ASSERT_TRUE(b.send(echo));
  EXPECT_EQ(recv(conn_).n, 1);
  ASSERT_TRUE(b.send(discard));
  EXPECT_EQ(recv(conn_).frame, discard);
}

// HOOK_CABLE_IN (10) with dir 0, HOOK_CABLE_OUT (11) with dir 1, as table keys.
const std::string kArriving = std::to_string(10 << 8 | 0), kSent = std::to_string(11 << 8 | 1);

// inout=: one program, one table, on the frames the process receives
// (HOOK_CABLE_IN, dir 0) and those it sends (HOOK_CABLE_OUT, dir 1), after
// the direction's own program (in= stays in=: libvdeplug takes keys by
// prefix); the console lists it as one point and replaces it as any other.
TEST_F(ModuleInProcess, AnInoutProgramSeesBothWaysInOneTable) {
  Endpoint b(sw.data_path(), con);
  const std::string mgmt = sw.dir() + "/cable.mgmt";
  conn_ = open_cable("in=\"" + program("drop-echo.ncpu", kDropEcho) + "\"/inout=\"" +
                     program("ways.ncpu", kCountWays) + "\"/mgmt=\"" + mgmt + "\"");
  ASSERT_NE(conn_, nullptr) << strerror(errno);
  for (uint32_t i = 0; i < 4; ++i) {
    Bytes f = service_frame(kMacCable, kMacB, i, i == 0 ? kEcho : kDiscard);
    ASSERT_TRUE(b.send(f));
    EXPECT_EQ(recv(conn_).n, i == 0 ? 1 : static_cast<ssize_t>(f.size())) << "frame " << i;
  }
  for (uint32_t i = 0; i < 2; ++i) {
    Bytes f = service_frame(kMacB, kMacCable, i, kEcho);
    EXPECT_EQ(vde_send(conn_, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
    EXPECT_EQ(b.recv(2000), f);
  }
  Console cc(mgmt);
  Reply dump = cc.cmd_ok("netcpu/table/dump inout ways");
  EXPECT_EQ(dump.data, (std::vector<std::string>{kArriving + " 3", kSent + " 2", "2 entries"}))
      << "the echo frame `in` dropped never reached inout\n"
      << dump.text();
  Reply list = cc.cmd_ok("netcpu/list");
  ASSERT_EQ(list.data.size(), 3u) << list.text();
  EXPECT_TRUE(list.data[1].starts_with("in ")) << list.text();
  EXPECT_TRUE(list.data[2].starts_with("inout ")) << list.text();

  // Replaced from the console: a rejected program leaves it running; a new
  // one drops what the process sends.
  Reply bad = cc.cmd("netcpu/load inout " + program("bad.ncpu", kSyntaxError));
  EXPECT_EQ(bad.code, EINVAL);
  EXPECT_NE(bad.text().find("inout keeps its program ways"), std::string::npos) << bad.text();
  ASSERT_TRUE(cc.cmd_ok("netcpu/load inout " +
                        program("nosend.ncpu",
                                ".text:\n    beq dir, DIR_OUT, no\n    pass\nno:\n    drop\n"))
                  .ok());
  Bytes f = service_frame(kMacB, kMacCable, 9, kDiscard);
  EXPECT_EQ(vde_send(conn_, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  EXPECT_FALSE(b.recv(300)) << "inout's new program drops what the process sends";
  ASSERT_TRUE(cc.cmd_ok("netcpu/unload inout").ok());
  EXPECT_EQ(vde_send(conn_, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
  EXPECT_EQ(b.recv(2000), f);
}

// Without a console: inoutfilter= and the counters at close; the hooks are
// the cable's own.
TEST_F(ModuleInProcess, InoutRunsOnBothThreadsOfTheProcessWithTheCablesHooks) {
  Endpoint b(sw.data_path(), con);
  const std::string log = sw.dir() + "/cable.log";
  // Drops any frame whose hook and dir are not the cable's.
  constexpr const char* kCableHooksOnly = R"(.text:
    beq hook, HOOK_CABLE_IN, arriving
    bne hook, HOOK_CABLE_OUT, no
    beq dir, DIR_OUT, yes
    drop
arriving:
    beq dir, DIR_IN, yes
no:
    drop
yes:
    pass
)";
  conn_ = open_cable("inout=\"" + program("hooks.ncpu", kCableHooksOnly) + "\"/log=\"" + log +
                     "\"/stats");
  ASSERT_NE(conn_, nullptr) << strerror(errno);
  std::vector<Bytes> sent;
  std::thread sender([&] {
    for (uint32_t i = 0; i < 50; ++i) {
      sent.push_back(service_frame(kMacB, kMacCable, i, kDiscard));
      vde_send(conn_, sent.back().data(), sent.back().size(), 0);
    }
  });
  size_t arrived = 0;
  for (uint32_t i = 0; i < 50; ++i) {
    ASSERT_TRUE(b.send(service_frame(kMacCable, kMacB, i, kDiscard)));
    arrived += recv(conn_).n > 1;
  }
  sender.join();
  EXPECT_EQ(arrived, 50u);
  EXPECT_EQ(b.drain(300), 50u);
  EXPECT_EQ(vde_close(conn_), 0);
  conn_ = nullptr;
  std::string text = read_file(log);
  EXPECT_NE(text.find("netcpu: inout (hooks): 100 frames, 100 passed, 0 dropped"),
            std::string::npos)
      << text;
}

// Sanitizer builds: this test binary again, with the RTLD_DEEPBIND shim
// preloaded, runs the InProcess tests that this process has to skip.
TEST(ModuleSanitized, InProcessTestsInAChildWithoutDeepBind) {
#ifndef NETCPU_NO_DEEPBIND
  GTEST_SKIP() << "not a sanitizer build: ModuleInProcess.* run directly";
#else
  char dir[] = "/tmp/netcpu-inprocess-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string log = std::string(dir) + "/child.log";
  std::string filter = "--gtest_filter=ModuleInProcess.*";
  std::string output;
  {
    Child child(std::filesystem::read_symlink("/proc/self/exe").string(), {filter},
                {"LD_PRELOAD=" NETCPU_NO_DEEPBIND, std::string(kInProcessChild) + "=1",
                 // (intercept_tls_get_addr=0: tests/run.sh says why)
                 "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:halt_on_error=1:"
                 "intercept_tls_get_addr=0",
                 "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"},
                log);
    auto st = child.wait_exit(120s);
    output = child.output();
    ASSERT_TRUE(st) << "the child did not finish in 120 s:\n" << output;
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << output;
  }
  EXPECT_NE(output.find("[  PASSED  ]"), std::string::npos) << output;
  EXPECT_EQ(output.find("[  PASSED  ] 0 tests"), std::string::npos) << output;
  EXPECT_EQ(output.find("SKIPPED"), std::string::npos) << output;
  EXPECT_EQ(output.find("FAILED"), std::string::npos) << output;
  std::filesystem::remove_all(dir);
#endif
}

}  // namespace
}  // namespace netcpu::test
