// A vde_switch programmed through vdetelweb's telnet from a host on the
// virtual network (issue 21):
//
//   endpoints A, B ──┐
//   vdetelweb ───────┤ vde_switch + netcpu.so
//   192.168.250.6    │
//   vdens host ──────┘ (this binary again, as a helper: open_telnet_console)
//   192.168.250.7
//
// The helper, inside a vdens namespace whose only network is the switch,
// logs in to vdetelweb's telnet with the client netcpu uses
// (open_telnet_console), and runs the commands the test gives it; the test
// checks the replies it gets (in the management protocol's shape) and that
// frames from A to B pass or drop as the program loaded through telnet says.
// The telnet session itself crosses the switch, and the program.
//
// Helper protocol (stdin lines in, stdout lines out):
//   "login PASSWORD" -> "login ok" | "login fail MS TEXT" (MS: how long it took)
//   "cmd LINE"       -> "reply LINE"... then "done", or "error TEXT"
//   "follow MS"      -> "debug LINE"... then "followed"
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_common.h"
#include "console.h"
#include "netcpu/assembler.h"
#include "netcpu/base64.h"
#include "netcpu/bytecode.h"
#include "switch_harness.h"
#include "vdens_host.h"
#include "vdetelweb_process.h"

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kHelperEnv = "NETCPU_TELNET_HELPER";
constexpr const char* kTelwebAddress = "192.168.250.6";
constexpr const char* kHostAddress = "192.168.250.7/24";
constexpr const char* kPassword = "netcpu-over-telnet";
constexpr milliseconds kLoginTimeout{4000};
constexpr milliseconds kCommandTimeout{4000};
constexpr milliseconds kReadyTimeout{10000};
// The helper's answer: a login or a command, within its own timeouts.
constexpr milliseconds kHelperTimeout{8000};

// The program loaded through telnet: UDP to port 9 drops, the rest passes
// (ARP and the telnet session's TCP among them).
constexpr const char* kDropUdp9 =
    "# drops UDP to the discard port; passes everything else\n"
    ".text:\n"
    "    bne ip.proto, PROTO_UDP, pass_it\n"
    "    beq l4.dport, 9, drop_it\n"
    "pass_it:\n"
    "    pass\n"
    "drop_it:\n"
    "    drop\n";

const Mac kMacA = packets::mac_addr("02:00:00:00:21:0a");
const Mac kMacB = packets::mac_addr("02:00:00:00:21:0b");

// ---------------------------------------------------------------------------
// Inside the namespace: the helper. No gtest here (it runs before main).

int helper_main() {
  helper_unblock_sigchld();  // it runs ip
  std::string why;
  if (!helper_run_ip("link set dev lo up", why) || !helper_run_ip("link set dev vde0 up", why) ||
      !helper_run_ip(std::string("addr add ") + kHostAddress + " dev vde0", why)) {
    helper_say("fail setup: " + why);
    return 1;
  }
  helper_say("ready");
  std::unique_ptr<cli::Console> console;
  helper_each_line([&console](const std::string& line) {
    if (line.starts_with("login ")) {
      const auto start = Clock::now();
      cli::ConsoleOptions options{.timeout = kLoginTimeout, .password = line.substr(6)};
      // vdetelweb's telnet port listens a moment after its stack is on
      // the switch: a refused connection is tried again, briefly.
      for (;;) {
        try {
          console = cli::open_telnet_console(kTelwebAddress, 23, options);
          helper_say("login ok");
        } catch (const cli::Failure& f) {
          const std::string text = f.what();
          if (text.find("refused") != std::string::npos &&
              Clock::now() - start < std::chrono::seconds(3)) {
            std::this_thread::sleep_for(milliseconds(50));
            continue;
          }
          const auto ms = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
          helper_say("login fail " + std::to_string(ms) + " " + text);
        }
        break;
      }
    } else if (line.starts_with("follow ") && console) {
      console->follow(milliseconds(std::stoi(line.substr(7))),
                      [](const std::string& l) { helper_say("debug " + l); });
      helper_say("followed");
    } else if (line.starts_with("cmd ") && console) {
      try {
        for (const auto& l : console->command(line.substr(4), kCommandTimeout))
          helper_say("reply " + l);
        helper_say("done");
      } catch (const cli::Failure& f) {
        helper_say(std::string("error ") + f.what());
      }
    } else {
      helper_say("error no session for: " + line);
    }
  });
  return 0;  // the test is done
}

// Runs before main() in the re-executed test binary, and never returns there.
[[maybe_unused]] const bool kHelper = [] {
  if (std::getenv(kHelperEnv) == nullptr) return false;
  std::fflush(nullptr);
  _exit(helper_main());
}();

// ---------------------------------------------------------------------------
// The test side.

// What a command gave through telnet: its lines (management protocol's
// shape), or the client's error.
struct TelnetReply {
  std::vector<std::string> lines;
  std::string error;

  std::string status() const { return lines.empty() ? "" : lines.back(); }
  bool ok() const { return error.empty() && status() == "1000 Success"; }
  // The lines of its DATA block.
  std::vector<std::string> data() const {
    std::vector<std::string> out;
    bool in = false;
    for (const auto& l : lines) {
      if (l == "0000 DATA END WITH '.'")
        in = true;
      else if (in && l == ".")
        in = false;
      else if (in)
        out.push_back(l);
    }
    return out;
  }
  std::string text() const {
    std::string t = error.empty() ? "" : "error: " + error + "\n";
    for (const auto& l : lines) t += l + "\n";
    return t;
  }
};

// The console lines of a netcpu/put of `program`: its bytecode in base64,
// continued over lines that fit a console line (126 characters).
std::vector<std::string> put_lines(const std::string& point, const std::string& program) {
  Diagnostic d;
  auto p = assemble(program, "drop_udp9.ncpu", &d);
  if (!p) throw std::runtime_error(d.str());
  const std::string b64 = encode_base64(encode_bytecode(*p));
  std::vector<std::string> lines;
  std::string head = "netcpu/put " + point + " ";
  for (size_t at = 0; at < b64.size();) {
    const size_t room = 126 - head.size() - 1;
    const size_t take = std::min(room, b64.size() - at);
    lines.push_back(head + b64.substr(at, take) + (at + take < b64.size() ? "\\" : ""));
    at += take;
    head = "netcpu/put ";
  }
  return lines;
}

class VdetelwebTelnet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = Vdetelweb::why_unavailable()) GTEST_SKIP() << *why;
    if (auto why = why_vdens_cannot_run()) GTEST_SKIP() << *why;
    sw = std::make_unique<VdeSwitch>(plugin_switch_options());
    con = std::make_unique<Console>(sw->mgmt_path());
    Reply r = con->cmd("plugin/add " NETCPU_PLUGIN);
    ASSERT_TRUE(r.ok()) << r.text() << "\n" << sw->log();
    telweb = std::make_unique<Vdetelweb>(*sw, *con, std::string(kTelwebAddress) + "/24", kPassword);
    ns = std::make_unique<VdensHost>("vde://" + sw->data_path(), std::vector<std::string>{},
                                     std::string(kHelperEnv) + "=1");
    auto ready = ns->wait_line({"ready", "fail"}, kReadyTimeout);
    ASSERT_TRUE(ready) << "the namespace did not report ready\n" << ns->transcript();
    ASSERT_EQ(*ready, "ready") << ns->transcript();
  }

  void TearDown() override {
    if (ns) {
      ns->stop();
      EXPECT_EQ(ns->remaining(), "") << "processes of vdens's group left behind";
    }
    if (telweb) {
      EXPECT_TRUE(telweb->alive()) << "vdetelweb died:\n" << telweb->log();
    }
    if (sw) {
      EXPECT_TRUE(sw->alive()) << sw->exit_description() << "\n" << sw->log();
    }
  }

  // "ok", or "fail MS TEXT".
  std::string login(const std::string& password) {
    ns->send("login " + password);
    auto line = ns->wait_line({"login "}, kHelperTimeout);
    return line ? line->substr(6) : "no answer from the helper\n" + ns->transcript();
  }

  TelnetReply telnet(const std::string& command) {
    ns->send("cmd " + command);
    TelnetReply r;
    for (;;) {
      auto line = ns->wait_line({"reply ", "done", "error "}, kHelperTimeout);
      if (!line) {
        r.error = "no answer from the helper\n" + ns->transcript();
        return r;
      }
      if (*line == "done") return r;
      if (line->starts_with("error ")) {
        r.error = line->substr(6);
        return r;
      }
      r.lines.push_back(line->substr(6));
    }
  }

  // The frames of `n` sent from A that reach B.
  size_t a_to_b(uint32_t n) { return blast(*a, *b, kMacA, kMacB, n, {.window = n}).received(); }

  std::unique_ptr<VdeSwitch> sw;
  std::unique_ptr<Console> con;
  std::unique_ptr<Vdetelweb> telweb;
  std::unique_ptr<VdensHost> ns;
  std::unique_ptr<Endpoint> a, b;
};

TEST_F(VdetelwebTelnet, AHostOnTheVirtualNetworkProgramsTheSwitchThroughTelnet) {
  a = std::make_unique<Endpoint>(sw->data_path(), *con, "netcpu-telnet-a");
  b = std::make_unique<Endpoint>(sw->data_path(), *con, "netcpu-telnet-b");
  ASSERT_EQ(login(kPassword), "ok");

  // A reply with output comes in the management protocol's shape.
  TelnetReply info = telnet("ds/showinfo");
  ASSERT_TRUE(info.ok()) << info.text();
  EXPECT_EQ(info.lines.front(), "0000 DATA END WITH '.'") << info.text();
  EXPECT_EQ(info.data().at(0), "ctl dir " + sw->data_path()) << info.text();

  // The program's bytecode, in continued lines.
  const auto lines = put_lines("* in", kDropUdp9);
  ASSERT_GE(lines.size(), 2u) << "the program should need continued lines";
  for (const auto& line : lines) {
    TelnetReply r = telnet(line);
    ASSERT_TRUE(r.ok()) << line << "\n" << r.text();
  }
  ASSERT_EQ(a_to_b(12), 0u) << "the program loaded through telnet drops UDP to port 9";

  // Drops reported on netcpu/drop: followed as they happen, or given with
  // the next reply when nobody was following.
  TelnetReply debug = telnet("debug/add netcpu/drop");
  ASSERT_TRUE(debug.ok()) << debug.text();
  ns->send("follow 1000");
  ASSERT_EQ(a_to_b(4), 0u);
  auto followed = ns->wait_line({"debug ", "followed"}, kHelperTimeout);
  ASSERT_TRUE(followed) << ns->transcript();
  EXPECT_TRUE(followed->starts_with("debug 3000 netcpu/drop port ")) << *followed;
  ASSERT_TRUE(ns->wait_line({"followed"}, kHelperTimeout)) << ns->transcript();
  ASSERT_EQ(a_to_b(4), 0u);
  TelnetReply list = telnet("netcpu/list -j * in");
  ASSERT_TRUE(list.ok()) << list.text();
  EXPECT_TRUE(list.lines.front().starts_with("3000 netcpu/drop port ")) << list.text();
  ASSERT_EQ(list.data().size(), 1u) << list.text();
  auto json = nlohmann::json::parse(list.data()[0]);
  ASSERT_EQ(json.size(), 1u) << list.text();
  EXPECT_EQ(json[0]["point"], "* in");
  EXPECT_EQ(json[0]["from"], "<put>");
  EXPECT_EQ(json[0]["dropped"], 20);
  EXPECT_GT(json[0]["passed"].get<int>(), 0) << "the telnet session's own frames pass";

  // A reply line longer than libvdehist's 1024-byte buffer would kill
  // vdetelweb: the plugin gives it such lines in pieces, cut between JSON
  // elements, which join into the JSON again.
  std::string counting = ".text:\n";
  for (int i = 0; i < 40; ++i) counting += "    add gpr0, " + std::to_string(i) + "\n";
  std::ofstream(sw->dir() + "/counting.ncpu") << counting << "    pass\n";
  ASSERT_TRUE(con->cmd_ok("netcpu/load 1 out " + sw->dir() + "/counting.ncpu").ok());
  TelnetReply show = telnet("netcpu/show -j 1 out");
  ASSERT_TRUE(show.ok()) << show.text();
  ASSERT_TRUE(con->cmd_ok("netcpu/unload 1 out").ok());
  std::string joined;
  for (const auto& l : show.data()) {
    EXPECT_LE(l.size(), 1000u);
    joined += l + "\n";
  }
  EXPECT_GT(joined.size(), 1100u) << "one line of this size killed vdetelweb";
  EXPECT_GT(show.data().size(), 1u) << show.text();
  auto shown = nlohmann::json::parse(joined, nullptr, false);
  ASSERT_FALSE(shown.is_discarded()) << joined;
  EXPECT_EQ(shown["program"], "counting") << joined;

  // An error comes as "10NN text", with the explanation in the DATA block.
  TelnetReply bad = telnet("netcpu/unload 99 in");
  ASSERT_EQ(bad.error, "");
  EXPECT_EQ(bad.status(), "1022 Invalid argument") << bad.text();
  EXPECT_FALSE(bad.data().empty()) << bad.text();
  // A line longer than a console line is refused before it is sent, and the
  // session goes on.
  TelnetReply long_line = telnet("netcpu/filter 1 in " + std::string(120, 'x'));
  EXPECT_NE(long_line.error.find("more than the 126"), std::string::npos) << long_line.text();

  TelnetReply unload = telnet("netcpu/unload * in");
  ASSERT_TRUE(unload.ok()) << unload.text();
  EXPECT_EQ(a_to_b(12), 12u) << "nothing drops once the program is unloaded through telnet";
  EXPECT_EQ(con->cmd_ok("netcpu/list").data.size(), 1u) << "only the header: nothing loaded";

  // The plugin taken out and put back through telnet (after each, vdetelweb
  // reads the switch's help behind the session's back): the replies still
  // belong to their commands.
  EXPECT_TRUE(telnet("plugin/del netcpu").ok());
  EXPECT_EQ(telnet("netcpu/list").status(), "1038 Function not implemented");
  EXPECT_TRUE(telnet("plugin/add " NETCPU_PLUGIN).ok());
  TelnetReply again = telnet("netcpu/list");
  ASSERT_TRUE(again.ok()) << again.text();
  EXPECT_TRUE(again.data().at(0).starts_with("POINT ")) << again.text();
}

TEST_F(VdetelwebTelnet, AWrongPasswordIsRefusedClearlyAndLoadsNothing) {
  const std::string answer = login("not-the-password");
  ASSERT_TRUE(answer.starts_with("fail ")) << answer;
  EXPECT_NE(answer.find("login incorrect: wrong password"), std::string::npos) << answer;
  EXPECT_NE(answer.find("telnet://192.168.250.6:23"), std::string::npos) << answer;
  const long ms = std::stol(answer.substr(5));
  EXPECT_LT(ms, kLoginTimeout.count()) << "refused at once, not at the timeout";
  // No session: a command goes nowhere.
  TelnetReply r = telnet("netcpu/filter * in udp");
  EXPECT_EQ(r.error, "no session for: cmd netcpu/filter * in udp");
  EXPECT_EQ(con->cmd_ok("netcpu/list").data.size(), 1u) << "only the header: nothing loaded";
  // And the right password still works after it.
  EXPECT_EQ(login(kPassword), "ok");
}

}  // namespace
}  // namespace netcpu::test
