// lwip-glue with real lwIPv6 stacks: the API in this process (no network),
// and netcpu-lwip-node processes exchanging TCP, UDP and ICMP over a real
// vde_switch, programmed through their consoles.
#include <gtest/gtest.h>
extern "C" {
#include <lwipv6.h>  // declares C functions without extern "C"
}
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "count_ways.h"
#include "lwip_node_process.h"
#include "netcpu/lwip.hpp"
#include "netcpu_lwip.h"
#include "tcpdump_lines.h"

// liblwipv6 never frees some of what a stack allocates (its semaphores,
// routes): LeakSanitizer is told those leaks are not ours.
extern "C" const char* __lsan_default_suppressions() { return "leak:liblwipv6.so\n"; }

namespace netcpu::test {
namespace {

using lwip::HookPoint;
using lwip::StackFilter;

constexpr const char* kAllowAll = R"(.text:
    pass
)";

// ---- the API, in this process ----

struct StackDeleter {
  void operator()(struct stack* s) const { lwip_del_stack(s); }
};
using StackPtr = std::unique_ptr<struct stack, StackDeleter>;

TEST(StackFilterApi, StackWithoutUserfilterIsRefusedWithTheReason) {
  StackPtr s(lwip_add_stack(0));
  ASSERT_TRUE(s);
  std::string why;
  EXPECT_EQ(StackFilter::attach(s.get(), &why), nullptr);
  EXPECT_NE(why.find("LWIP_STACK_FLAG_USERFILTER"), std::string::npos) << why;

  char buf[256] = "";
  EXPECT_EQ(ncpu_lwip_attach(s.get(), buf, sizeof buf), nullptr);
  EXPECT_NE(std::string(buf).find("LWIP_STACK_FLAG_USERFILTER"), std::string::npos) << buf;
}

TEST(StackFilterApi, OneFilterPerStack) {
  StackPtr s(lwip_add_stack(LWIP_STACK_FLAG_USERFILTER));
  std::string why;
  auto first = StackFilter::attach(s.get(), &why);
  ASSERT_TRUE(first) << why;
  EXPECT_EQ(StackFilter::attach(s.get(), &why), nullptr);
  EXPECT_NE(why.find("already"), std::string::npos) << why;
  first.reset();
  EXPECT_TRUE(StackFilter::attach(s.get(), &why)) << "detached stacks can be attached again";
}

TEST(StackFilterApi, RejectedProgramsLeaveTheRunningOneInPlace) {
  StackPtr s(lwip_add_stack(LWIP_STACK_FLAG_USERFILTER));
  std::string why;
  auto f = StackFilter::attach(s.get(), &why);
  ASSERT_TRUE(f) << why;
  auto r =
      f->load_source(HookPoint::LocalIn, ".name \"keeper\"\n.text:\n    pass\n", "keeper.ncpu");
  ASSERT_TRUE(r.ok()) << r.text;

  r = f->load_source(HookPoint::LocalIn, ".text:\n    pass\n    bogus gpr0\n", "bad.ncpu");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_NE(r.text.find("bad.ncpu:3:5"), std::string::npos) << r.text;

  // What a hook cannot do is refused at load, naming the instruction.
  for (const char* insn : {"emit 1", "redirect 2", "mirror 2", "resize 20"}) {
    std::string src = std::string(".text:\n    outlen 20\n    ") + insn + "\n    pass\n";
    r = f->load_source(HookPoint::LocalIn, src, "cap.ncpu");
    EXPECT_EQ(r.error, EINVAL) << insn;
    EXPECT_NE(r.text.find("cap.ncpu:3:5"), std::string::npos) << insn << ": " << r.text;
    EXPECT_NE(r.text.find("lwIPv6"), std::string::npos) << insn << ": " << r.text;
  }
  r = f->load(HookPoint::LocalIn, "/nonexistent/prog.ncpu");
  EXPECT_EQ(r.error, ENOENT) << r.text;

  r = f->command("netcpu/list");
  ASSERT_TRUE(r.ok()) << r.text;
  EXPECT_NE(r.text.find("keeper"), std::string::npos) << r.text;

  r = f->command("netcpu/load sideways keeper.ncpu");
  EXPECT_EQ(r.error, EINVAL);
  EXPECT_NE(r.text.find("pre_routing, local_in"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("local (local_in and local_out)"), std::string::npos) << r.text;
  EXPECT_EQ(f->command("port/print").error, ENOSYS);
}

TEST(StackFilterApi, CApiReportsErrorsThroughTheMessage) {
  StackPtr s(lwip_add_stack(LWIP_STACK_FLAG_USERFILTER));
  char why[256];
  ncpu_lwip* f = ncpu_lwip_attach(s.get(), why, sizeof why);
  ASSERT_NE(f, nullptr) << why;
  EXPECT_EQ(ncpu_lwip_load_source(f, NCPU_LWIP_PRE_ROUTING, ".text:\n    jmp nowhere\n", "c.ncpu"),
            EINVAL);
  EXPECT_NE(std::string(ncpu_lwip_message(f)).find("c.ncpu:2:"), std::string::npos)
      << ncpu_lwip_message(f);
  EXPECT_EQ(ncpu_lwip_load_source(f, 7, kAllowAll, "x"), EINVAL);
  EXPECT_EQ(ncpu_lwip_load_source(f, NCPU_LWIP_POST_ROUTING, kAllowAll, "ok.ncpu"), 0)
      << ncpu_lwip_message(f);
  EXPECT_EQ(ncpu_lwip_command(f, "netcpu/list"), 0);
  EXPECT_NE(std::string(ncpu_lwip_message(f)).find("post_routing"), std::string::npos);
  EXPECT_EQ(ncpu_lwip_unload(f, NCPU_LWIP_POST_ROUTING), 0) << ncpu_lwip_message(f);
  // The two-hook points are points of the API too.
  EXPECT_EQ(ncpu_lwip_load_source(f, NCPU_LWIP_LOCAL, kAllowAll, "both.ncpu"), 0)
      << ncpu_lwip_message(f);
  EXPECT_EQ(ncpu_lwip_command(f, "netcpu/list local"), 0);
  EXPECT_NE(std::string(ncpu_lwip_message(f)).find("\nlocal "), std::string::npos)
      << ncpu_lwip_message(f);
  EXPECT_EQ(ncpu_lwip_unload(f, NCPU_LWIP_LOCAL), 0) << ncpu_lwip_message(f);
  EXPECT_EQ(ncpu_lwip_load_source(f, NCPU_LWIP_EDGE, kAllowAll, "edge.ncpu"), 0)
      << ncpu_lwip_message(f);
  EXPECT_EQ(lwip::hook_name(HookPoint::Edge), std::string("edge"));
  EXPECT_EQ(lwip::parse_hook("local"), HookPoint::Local);
  ncpu_lwip_detach(f);
}

// The console commands a user types, on hooks: each acts on the hook it is
// given, settings read back, quotes come off, long commands continue on
// the next line, relative file names are the process's.
TEST(StackFilterApi, ConsoleCommandsActOnTheHookTheyAreGiven) {
  StackPtr s(lwip_add_stack(LWIP_STACK_FLAG_USERFILTER));
  std::string why;
  auto f = StackFilter::attach(s.get(), &why);
  ASSERT_TRUE(f) << why;
  ASSERT_TRUE(f->load_source(HookPoint::LocalIn, kAllowAll, "in.ncpu").ok());
  ASSERT_TRUE(f->load_source(HookPoint::LocalOut, kAllowAll, "out.ncpu").ok());

  auto r = f->command("netcpu/list local_in");
  ASSERT_TRUE(r.ok()) << r.text;
  EXPECT_NE(r.text.find("\nlocal_in "), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("local_out"), std::string::npos) << r.text;
  r = f->command("netcpu/reset local_out");
  EXPECT_EQ(r.text, "counters reset: local_out");
  EXPECT_EQ(f->command("netcpu/reset forward").error, ENOENT);
  for (const char* extra : {"netcpu/list local_in local_out", "netcpu/unload local_in now",
                            "netcpu/show local_in x", "netcpu/budget 1 2", "netcpu/stack x"})
    EXPECT_EQ(f->command(extra).error, EINVAL) << extra;

  EXPECT_EQ(f->command("netcpu/budget").text, "budget 100000 instructions per packet");
  EXPECT_EQ(f->command("netcpu/onabort").text, "stopped runs pass");
  EXPECT_EQ(f->command("netcpu/profile").text, "profiling off");

  r = f->command("netcpu/filter local_in 'tcp port 80'");
  ASSERT_TRUE(r.ok()) << r.text;
  EXPECT_NE(r.text.find("loaded <filter 'tcp port 80'> ("), std::string::npos) << r.text;
  r = f->command("netcpu/filter local_in host 10.0.0.1 or \\");
  ASSERT_TRUE(r.ok()) << r.text;
  EXPECT_NE(r.text.find("netcpu/filter continues: 26 characters pending"), std::string::npos)
      << r.text;
  r = f->command("netcpu/filter host 10.0.0.2");
  EXPECT_NE(r.text.find("loaded <filter 'host 10.0.0.1 or host 10.0.0.2'>"), std::string::npos)
      << r.text;

  const std::string cwd = std::filesystem::current_path().string();
  r = f->command("netcpu/load local_out no/such.ncpu");
  EXPECT_EQ(r.error, ENOENT);
  EXPECT_EQ(r.text, cwd +
                        "/no/such.ncpu: No such file or directory (relative to the lwIPv6 "
                        "process's working directory " +
                        cwd + ")\nlocal_out keeps its program out");
}

// A client of a stack's console on a Unix socket, as vdeterm is.
class ConsoleClient {
 public:
  explicit ConsoleClient(const std::string& path) : fd_(socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~ConsoleClient() { close(fd_); }
  bool connected() const { return connected_; }
  // Everything up to the next prompt.
  std::string read_prompt() {
    std::string got;
    char buf[4096];
    while (got.find("vde$ ") == std::string::npos) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  bool send(const std::string& line) {
    return write(fd_, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  }

 private:
  int fd_;
  bool connected_ = false;
};

// A stack with a program at local_in and its console open in a fresh directory.
struct StackWithConsole {
  StackPtr stack{lwip_add_stack(LWIP_STACK_FLAG_USERFILTER)};
  std::unique_ptr<StackFilter> filter;
  std::string dir, path;
  StackWithConsole() {
    std::string why;
    filter = StackFilter::attach(stack.get(), &why);
    EXPECT_TRUE(filter) << why;
    if (!filter) return;
    EXPECT_TRUE(filter->load_source(HookPoint::LocalIn, kAllowAll, "keeper.ncpu").ok());
    char d[] = "/tmp/netcpu-lwip-console-XXXXXX";
    EXPECT_NE(mkdtemp(d), nullptr);
    dir = d;
    path = dir + "/mgmt";
    EXPECT_TRUE(filter->open_console(path).ok());
  }
  ~StackWithConsole() {
    if (filter) filter->close_console();
    std::filesystem::remove_all(dir);
  }
};

// The banner says which NetCPU and which bytecode version answer.
TEST(StackFilterApi, ConsoleBannerNamesTheVersion) {
  StackWithConsole s;
  ASSERT_TRUE(s.filter);
  ConsoleClient c(s.path);
  ASSERT_TRUE(c.connected());
  const std::string banner = c.read_prompt();
  EXPECT_TRUE(std::regex_search(
      banner,
      std::regex(
          R"(^NetCPU [0-9]+\.[0-9]+\.[0-9]+ \(bytecode version [0-9]+\) on an lwIPv6 stack)")))
      << banner;
}

// A line longer than the console's 4096 bytes: refused whole, with the way
// to give it.
TEST(StackFilterApi, OverlongConsoleLinesAreRefusedWithTheWayToGiveThem) {
  StackWithConsole s;
  ASSERT_TRUE(s.filter);
  ConsoleClient c(s.path);
  ASSERT_TRUE(c.connected());
  c.read_prompt();  // the banner
  std::string expr = "host 10.0.0.1";
  while (expr.size() < 5000) expr += " or host 10.0.0.1";
  ASSERT_TRUE(c.send("netcpu/filter local_in " + expr + "\n"));
  std::string reply = c.read_prompt();
  EXPECT_NE(reply.find("netcpu/filter: line too long: this console takes at most 4096 characters"),
            std::string::npos)
      << reply;
  EXPECT_NE(reply.find("end a line with \\ and go on"), std::string::npos) << reply;
  EXPECT_NE(reply.find("1090 Message too long"), std::string::npos) << reply;
  EXPECT_NE(s.filter->command("netcpu/list").text.find("keeper"), std::string::npos);
}

// ---- stacks on a switch ----

std::string write_program(const VdeSwitch& sw, const std::string& name, const std::string& text) {
  std::string path = sw.dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// Drops TCP to or from port 7, only when the program runs at `hook`: a wrong
// `hook` value shows as a connection that gets through.
std::string drop_echo_at(const std::string& hook) {
  return ".text:\n"
         "    bne hook, HOOK_" +
         hook +
         ", accept\n"
         "    bne ip.proto, PROTO_TCP, accept\n"
         "    beq l4.dport, 7, block\n"
         "    beq l4.sport, 7, block\n"
         "accept:\n"
         "    pass\n"
         "block:\n"
         "    drop\n";
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class LwipNet : public ::testing::Test {
 protected:
  VdeSwitch sw;
};

TEST_F(LwipNet, TcpUdpAndIcmpFlowWithoutPrograms) {
  LwipNode server(
      sw, {"--addr", "10.0.0.1/24", "--addr", "fd00::1/64", "--echo", "7", "--udp-echo", "9"},
      "server");
  NodeRun r =
      run_node(sw, {"--addr", "10.0.0.2/24", "--addr", "fd00::2/64", "--connect", "10.0.0.1,7",
                    "--connect", "fd00::1,7", "--udp", "10.0.0.1,9,hello", "--udp",
                    "fd00::1,9,hello6", "--ping", "10.0.0.1", "--ping", "fd00::1"});
  EXPECT_EQ(r.status, 0) << r.describe();
  EXPECT_NE(r.out.find("connect 10.0.0.1,7: server ready"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("connect fd00::1,7: server ready"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("udp fd00::1,9,hello6: hello6"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("ping 10.0.0.1: reply"), std::string::npos) << r.describe();
  EXPECT_NE(r.out.find("ping fd00::1: reply"), std::string::npos) << r.describe();
}

// Each local hook of the server, in turn: TCP to the echo port is dropped
// there (IPv4 and IPv6) while UDP and ICMP go on, and unloading restores it.
TEST_F(LwipNet, DropAtEachLocalHook) {
  LwipNode server(
      sw, {"--addr", "10.0.0.1/24", "--addr", "fd00::1/64", "--echo", "7", "--udp-echo", "9"},
      "server");
  Console console(server.console_path());
  // Each client process has an IPv6 address of its own. Seen once in CI:
  // the UDP echo over IPv6 had no answer in 5 tries, most likely because
  // the server still had the link address of the process that had the
  // address before (the same address reused 3 s apart).
  int client = 10;
  for (std::string hook : {"pre_routing", "local_in", "local_out", "post_routing"}) {
    SCOPED_TRACE(hook);
    std::string prog = write_program(sw, hook + ".ncpu", drop_echo_at(upper(hook)));
    console.cmd_ok("netcpu/load " + hook + " " + prog);
    NodeRun blocked =
        run_node(sw, {"--addr", "10.0.0.2/24", "--timeout", "3", "--connect", "10.0.0.1,7"});
    EXPECT_EQ(blocked.status, 1) << blocked.describe();
    EXPECT_EQ(blocked.out.find("server ready"), std::string::npos) << blocked.describe();
    NodeRun blocked6 = run_node(sw, {"--addr", "fd00::" + std::to_string(++client) + "/64",
                                     "--timeout", "3", "--connect", "fd00::1,7"});
    EXPECT_EQ(blocked6.status, 1) << blocked6.describe();
    NodeRun others = run_node(
        sw, {"--addr", "10.0.0.2/24", "--addr", "fd00::" + std::to_string(++client) + "/64",
             "--udp", "10.0.0.1,9,x", "--udp", "fd00::1,9,y", "--ping", "10.0.0.1"});
    EXPECT_EQ(others.status, 0) << others.describe();
    Reply list = console.cmd_ok("netcpu/list");
    EXPECT_NE(list.text().find(hook), std::string::npos) << list.text();
    console.cmd_ok("netcpu/unload " + hook);
    NodeRun open = run_node(sw, {"--addr", "10.0.0.2/24", "--connect", "10.0.0.1,7"});
    EXPECT_EQ(open.status, 0) << open.describe();
  }
}

// FORWARD runs on a router between two switches.
TEST(LwipForward, DropAtForwardOnARouter) {
  VdeSwitch left, right;
  LwipNode server(left,
                  {"--addr", "10.0.0.1/24", "--route", "10.0.1.0/24,10.0.0.254", "--echo", "7",
                   "--udp-echo", "9"},
                  "server");
  LwipNode router(left,
                  {"--addr", "10.0.0.254/24", "--vde", "vde://" + right.data_path(), "--addr",
                   "10.0.1.254/24", "--forward"},
                  "router");
  std::vector<std::string> client = {
      "--addr", "10.0.1.2/24", "--route", "10.0.0.0/24,10.0.1.254", "--timeout", "4"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = client;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  NodeRun before = run_node(right, with({"--connect", "10.0.0.1,7"}));
  ASSERT_EQ(before.status, 0) << "routing without a program: " << before.describe();

  Console console(router.console_path());
  console.cmd_ok("netcpu/load forward " + write_program(left, "fwd.ncpu", drop_echo_at("FORWARD")));
  NodeRun blocked = run_node(right, with({"--connect", "10.0.0.1,7"}));
  EXPECT_EQ(blocked.status, 1) << blocked.describe();
  NodeRun udp = run_node(right, with({"--udp", "10.0.0.1,9,through"}));
  EXPECT_EQ(udp.status, 0) << udp.describe();
  console.cmd_ok("netcpu/unload forward");
  NodeRun after = run_node(right, with({"--connect", "10.0.0.1,7"}));
  EXPECT_EQ(after.status, 0) << after.describe();
}

// Clears bit 7 of every payload byte of TCP segments to port 9 (the
// sender's --mark sets it on every data byte) and recomputes the TCP
// checksum. At the sender's post_routing, segments are whole (lwIPv6
// fragments after it) and span pbuf chains; the peer's stack checks the
// checksum, so a wrong one shows as a stalled transfer and a byte the
// program missed as "bad". Clearing twice is harmless: a retransmitted
// segment, already cleared in the stack's queue, runs it again.
std::string unmark_program(const std::string& name) {
  return ".name \"" + name + "\"" +
         "\n"
         ".text:\n"
         "    bne ip.proto, PROTO_TCP, done\n"
         "    bne l4.dport, 9, done\n"
         "    mov gpr1, payload\n"
         "loop:\n"
         "    bgeu gpr1, mlen, cleared\n"
         "    mov gpr0, pkt.u8[gpr1]\n"
         "    and gpr0, 0x7f\n"
         "    mov pkt.u8[gpr1], gpr0\n"
         "    add gpr1, 1\n"
         "    jmp loop\n"
         "cleared:\n"
         "    csum l4\n"
         "done:\n"
         "    pass\n";
}

uint64_t stack_count(const std::string& out, const std::string& key) {
  size_t at = out.find("stack: ");
  if (at == std::string::npos) return 0;
  at = out.find(key + " ", at);
  return at == std::string::npos ? 0 : std::stoull(out.substr(at + key.size() + 1));
}

// At local_out a segment is TCP's own pbuf chain: the program's rewrite is
// gathered from it and scattered back. At post_routing a segment larger than
// the MTU (every full one) is the copy lwIPv6's fragmentation is given, and
// the program rewrites that.
TEST_F(LwipNet, RewriteOfLargeSegmentsOnPbufChainsKeepsChecksumsRight) {
  LwipNode sink(sw, {"--addr", "10.0.0.1/24", "--addr", "fd00::1/64", "--sink", "9"}, "sink");
  std::string prog = write_program(sw, "unmark.ncpu", unmark_program("unmark"));
  for (const char* hook : {"local_out", "post_routing"}) {
    for (const char* to : {"10.0.0.1,9,3000000", "fd00::1,9,3000000"}) {
      SCOPED_TRACE(std::string(hook) + " " + to);
      NodeRun r = run_node(sw, {"--addr", "10.0.0.2/24", "--addr", "fd00::2/64", "--load",
                                std::string(hook) + "=" + prog, "--mark", "--stats", "--send", to});
      EXPECT_EQ(r.status, 0) << r.describe();
      EXPECT_NE(r.out.find("got 3000000 ok"), std::string::npos) << r.describe();
      if (hook == std::string("local_out"))
        EXPECT_GT(stack_count(r.out, "chained"), 0u)
            << "no packet spanned a pbuf chain: the test did not exercise chains\n"
            << r.describe();
      else
        EXPECT_GT(stack_count(r.out, "fragment-copies"), 0u) << r.describe();
      EXPECT_EQ(stack_count(r.out, "malformed"), 0u) << r.describe();
    }
  }
}

// lwIPv6 1.5a's fragmentation consumes the pbuf it cuts, which TCP keeps to
// send again: without the copy the glue hands it, the sender died in
// copy_from_pbuf on the first segment it had to resend.
TEST_F(LwipNet, LostSegmentsLargerThanTheMtuAreSentAgainIntact) {
  // Every 32nd segment to port 9 is lost: its first fragment and the rest
  // of its fragments (which would otherwise hold a reassembly slot).
  const std::string lose = write_program(sw, "lose.ncpu", R"(.name "lose_every_32nd"
.data:
    num segments 0
    num lost_id 0x100000000
.text:
    beq ip.frag, 0, done
    bne ip.proto, PROTO_TCP, done
    beq has.l4, 0, later
    bne l4.dport, 9, done
    add segments, 1
    mov gpr0, segments
    and gpr0, 31
    bne gpr0, 0, done
    mov lost_id, ip.id
    drop
later:
    beq ip.id, lost_id, lost
    pass
lost:
    drop
done:
    pass
)");
  LwipNode sink(sw,
                {"--addr", "10.0.0.1/24", "--addr", "fd00::1/64", "--sink", "9", "--load",
                 "local_in=" + lose},
                "sink");
  for (const char* to : {"10.0.0.1,9,300000", "fd00::1,9,300000"}) {
    SCOPED_TRACE(to);
    NodeRun r = run_node(
        sw, {"--addr", "10.0.0.2/24", "--addr", "fd00::2/64", "--stats", "--send", to}, 60s);
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_NE(r.out.find("got 300000 ok"), std::string::npos) << r.describe();
    EXPECT_GT(stack_count(r.out, "fragment-copies"), 0u) << r.describe();
  }
  Console console(sink.console_path());
  Reply list = console.cmd_ok("netcpu/list -j local_in");
  ASSERT_EQ(list.data.size(), 1u) << list.text();
  const nlohmann::json rows = nlohmann::json::parse(list.data[0]);
  ASSERT_EQ(rows.size(), 1u) << rows.dump();
  EXPECT_GT(rows[0]["dropped"].get<uint64_t>(), 0u)
      << "the sink lost no segment: nothing was sent again";
}

// The sender's own hook rewrites a header field of every segment it sends
// (IPv4 TTL, with the header checksum updated); the receiver counts what
// arrives with that TTL.
TEST_F(LwipNet, SenderSideRewriteIsAcceptedByThePeer) {
  LwipNode sink(sw, {"--addr", "10.0.0.1/24", "--sink", "9"}, "sink");
  Console rx(sink.console_path());
  rx.cmd_ok("netcpu/load local_in " +
            write_program(sw, "count.ncpu",
                          ".data:\ntable ttl hash key 1 value 8 max 256\n.text:\n"
                          "    bne ip.proto, PROTO_TCP, done\n    tadd ttl, ip.ttl, 1\n"
                          "done:\n    pass\n"));
  std::string rewrite = write_program(sw, "ttl.ncpu",
                                      ".text:\n    bne ip.proto, PROTO_TCP, done\n"
                                      "    rewrite ip.ttl, 33\ndone:\n    pass\n");
  NodeRun r = run_node(sw, {"--addr", "10.0.0.3/24", "--load", "local_out=" + rewrite, "--send",
                            "10.0.0.1,9,2000000"});
  EXPECT_EQ(r.status, 0) << r.describe();
  Reply dump = rx.cmd_ok("netcpu/table/dump local_in ttl");
  std::string text = dump.text();
  EXPECT_NE(text.find("33"), std::string::npos) << text;
}

// The netcpu:// vdeplug4 module on a stack's own cable: the server opens
// netcpu://[in=drop9.ncpu/stats]{vde://SWITCH}, so UDP to port 9 is dropped
// on the link before its stack sees it. Counted on both sides: the client's
// post_routing hook logs each datagram it sends to port 9 (after a ping has
// resolved the server's address, so none waits on ARP), and the cable's drop
// count is that number; the server's own pre_routing program, behind the
// cable, counts UDP datagrams by port and saw the one to port 10, none to 9.
// DISABLED: in the sanitizer build, replies from the server through its
// netcpu:// cable were lost in 2 of 5 runs (a UDP echo for 5 s, a TCP banner
// for 10 s); the release build passed every run. Not understood yet, see
// issue 4's note; run it with --gtest_also_run_disabled_tests.
TEST_F(LwipNet, NetcpuCableModuleFiltersTheStacksLink) {
#if defined(__SANITIZE_ADDRESS__)
  // Measured with two busy loops beside the test: the ASan-instrumented
  // node lost UDP replies or crashed in 3 of 26 runs through netcpu://, and
  // in 6 of 25 on a plain vde:// cable, against 0 of 25 in the release build.
  GTEST_SKIP() << "lwIPv6 1.5a in an AddressSanitizer-instrumented process loses UDP replies "
                  "and crashes under load, also without netcpu:// (a plain vde:// cable): this "
                  "test runs in the release build; the module runs under the sanitizers in "
                  "VdensNetcpuCable";
#endif
  std::string drop9 = write_program(sw, "drop9.ncpu",
                                    ".text:\n    beq has.udp, 0, ok\n    beq l4.dport, 9, no\n"
                                    "ok:\n    pass\nno:\n    drop\n");
  std::string count = write_program(sw, "count.ncpu",
                                    ".data:\ntable udp_ports hash key 2 value 8 max 64\n.text:\n"
                                    "    beq has.udp, 0, done\n    tadd udp_ports, l4.dport, 1\n"
                                    "done:\n    pass\n");
  std::string log9 = write_program(sw, "log9.ncpu",
                                   ".text:\n    beq has.udp, 0, done\n    bne l4.dport, 9, done\n"
                                   "    log \"sent to port 9\"\ndone:\n    pass\n");
  LwipNode server(sw,
                  {"--vde", "netcpu://[in=\"" + drop9 + "\"/stats]{vde://" + sw.data_path() + "}",
                   "--addr", "10.0.0.1/24", "--udp-echo", "9", "--udp-echo", "10", "--echo", "7",
                   "--load", "pre_routing=" + count, "--teardown"},
                  "server");
  NodeRun blocked = run_node(sw, {"--addr", "10.0.0.2/24", "--load", "post_routing=" + log9,
                                  "--ping", "10.0.0.1", "--udp", "10.0.0.1,9,a"});
  EXPECT_EQ(blocked.status, 1) << blocked.describe();
  EXPECT_NE(blocked.out.find("ping 10.0.0.1: reply"), std::string::npos) << blocked.describe();
  EXPECT_EQ(blocked.out.find("udp 10.0.0.1,9"), std::string::npos) << blocked.describe();
  size_t sent = 0;
  for (size_t at = 0;
       (at = blocked.err.find("post_routing: sent to port 9", at)) != std::string::npos; ++at)
    ++sent;
  EXPECT_GE(sent, 1u) << blocked.describe();
  // Another address: the server's ARP entry for 10.0.0.2 names the first
  // client's MAC, and replies sent there before it learns the new one are lost.
  NodeRun open =
      run_node(sw, {"--addr", "10.0.0.3/24", "--udp", "10.0.0.1,10,d", "--connect", "10.0.0.1,7"});
  EXPECT_EQ(open.status, 0) << open.describe();
  EXPECT_NE(open.out.find("udp 10.0.0.1,10,d: d"), std::string::npos) << open.describe();

  {
    Console console(server.console_path());
    Reply dump = console.cmd_ok("netcpu/table/dump pre_routing udp_ports");
    std::map<std::string, std::string> by_port;  // "KEY VALUE" lines
    for (const std::string& line : dump.data)
      by_port[line.substr(0, line.find(' '))] = line.substr(line.find(' ') + 1);
    EXPECT_EQ(by_port["10"], "1") << dump.text();
    EXPECT_EQ(by_port.count("9"), 0u) << dump.text();
  }
  EXPECT_EQ(server.finish(5s), 0) << server.output();
  // Written when the stack closed the cable.
  std::string out = server.output();
  unsigned long frames = 0, passed = 0, dropped = 0;
  size_t at = out.find("in (drop9): ");
  ASSERT_NE(at, std::string::npos) << out;
  ASSERT_EQ(std::sscanf(out.c_str() + at, "in (drop9): %lu frames, %lu passed, %lu dropped",
                        &frames, &passed, &dropped),
            3)
      << out;
  EXPECT_EQ(dropped, sent) << out << blocked.describe();
  EXPECT_EQ(frames, passed + dropped) << out;
  EXPECT_GE(passed, 4u) << "ICMP, UDP and the TCP handshake passed the cable\n" << out;
}

// The table of a kCountWays program: packets by "hook dir".
std::map<std::string, long> ways(Console& console, const std::string& point) {
  std::map<std::string, long> by_way;
  Reply dump = console.cmd_ok("netcpu/table/dump " + point + " ways");
  for (const std::string& line : dump.data) {
    long key = 0, count = 0;
    if (std::sscanf(line.c_str(), "%ld %ld", &key, &count) == 2 &&
        line.find("entr") == std::string::npos)
      by_way[std::to_string(key >> 8) + " " + std::to_string(key & 0xff)] = count;
  }
  return by_way;
}

// `local` is one program at local_in and local_out (the process's own
// traffic both ways, one table), `edge` one at pre_routing and
// post_routing; each runs after the hook's own program.
TEST_F(LwipNet, LocalAndEdgePointsSeeBothWaysInOneInstance) {
  LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7", "--udp-echo", "9"}, "server");
  Console console(server.console_path());
  std::string count = write_program(sw, "ways.ncpu", kCountWays);
  console.cmd_ok("netcpu/load local " + count);
  console.cmd_ok("netcpu/load edge " + count);
  NodeRun r = run_node(sw, {"--addr", "10.0.0.2/24", "--connect", "10.0.0.1,7", "--udp",
                            "10.0.0.1,9,hello", "--ping", "10.0.0.1"});
  EXPECT_EQ(r.status, 0) << r.describe();
  auto local = ways(console, "local");
  EXPECT_GE(local["1 0"], 5) << "local_in: SYN, ACK, data, UDP, ping";
  EXPECT_GE(local["3 1"], 4) << "local_out: SYN-ACK, echoed data, UDP reply, ping reply";
  EXPECT_EQ(local.size(), 2u);
  auto edge = ways(console, "edge");
  EXPECT_GE(edge["0 0"], local["1 0"]) << "pre_routing sees what local_in sees";
  EXPECT_GE(edge["4 1"], local["3 1"]) << "post_routing sees what local_out sees";
  EXPECT_EQ(edge.size(), 2u);
  Reply list = console.cmd_ok("netcpu/list");
  ASSERT_EQ(list.data.size(), 3u) << list.text();
  EXPECT_TRUE(list.data[1].starts_with("local ")) << list.text();
  EXPECT_TRUE(list.data[2].starts_with("edge ")) << list.text();

  // A drop at local_in's own program ends the chain: `local` never sees it.
  console.cmd_ok("netcpu/load local " +
                 write_program(sw, "echo_ways.ncpu",
                               ".data:\ntable ways hash key 2 value 8 max 16\n.text:\n"
                               "    bne ip.proto, PROTO_TCP, done\n    bne l4.dport, 7, done\n"
                               "    mov gpr0, hook\n    shl gpr0, 8\n    or gpr0, dir\n"
                               "    tadd ways, gpr0, 1\ndone:\n    pass\n"));
  console.cmd_ok("netcpu/load local_in " + write_program(sw, "in.ncpu", drop_echo_at("LOCAL_IN")));
  NodeRun blocked =
      run_node(sw, {"--addr", "10.0.0.2/24", "--timeout", "2", "--connect", "10.0.0.1,7"});
  EXPECT_EQ(blocked.status, 1) << blocked.describe();
  EXPECT_TRUE(ways(console, "local").empty());

  // Replaced like any point: a rejected program leaves it; the new one drops
  // what the server sends, so nothing it answers gets out.
  console.cmd_ok("netcpu/unload local_in");
  Reply bad =
      console.cmd("netcpu/load local " + write_program(sw, "bad.ncpu", ".text:\n    frob\n"));
  EXPECT_EQ(bad.code, EINVAL);
  EXPECT_NE(bad.text().find("local keeps its program echo_ways"), std::string::npos) << bad.text();
  console.cmd_ok("netcpu/load local " +
                 write_program(sw, "mute.ncpu",
                               ".text:\n    beq dir, DIR_OUT, no\n    pass\nno:\n    drop\n"));
  NodeRun muted = run_node(sw, {"--addr", "10.0.0.2/24", "--timeout", "2", "--ping", "10.0.0.1"});
  EXPECT_EQ(muted.status, 1) << muted.describe();
  console.cmd_ok("netcpu/unload local");
  NodeRun open = run_node(sw, {"--addr", "10.0.0.2/24", "--ping", "10.0.0.1"});
  EXPECT_EQ(open.status, 0) << open.describe();
}

// examples/stateful_firewall.ncpu on a process's own traffic (its `local`
// point: local_in and local_out, one flow table): what the process opens
// gets its replies; nobody else gets in, and what it drops is counted.
TEST_F(LwipNet, StatefulFirewallLetsRepliesInAndKeepsStrangersOut) {
  const std::string firewall = std::string(NETCPU_SOURCE_DIR) + "/examples/stateful_firewall.ncpu";
  LwipNode outside(sw, {"--addr", "10.0.0.1/24", "--echo", "7", "--udp-echo", "9"}, "outside");
  NodeRun client =
      run_node(sw, {"--addr", "10.0.0.2/24", "--load", "local=" + firewall, "--connect",
                    "10.0.0.1,7", "--udp", "10.0.0.1,9,hello", "--ping", "10.0.0.1"});
  EXPECT_EQ(client.status, 0) << "TCP, UDP and ping out, with their replies\n" << client.describe();

  LwipNode inside(
      sw,
      {"--addr", "10.0.0.3/24", "--echo", "7", "--udp-echo", "9", "--load", "local=" + firewall},
      "inside");
  Console console(inside.console_path());
  const std::vector<std::vector<std::string>> strangers = {
      {"--connect", "10.0.0.3,7"}, {"--udp", "10.0.0.3,9,hello"}, {"--ping", "10.0.0.3"}};
  for (const auto& what : strangers) {
    std::vector<std::string> args = {"--addr", "10.0.0.4/24", "--timeout", "2"};
    args.insert(args.end(), what.begin(), what.end());
    NodeRun r = run_node(sw, args);
    EXPECT_EQ(r.status, 1) << what[0] << " from outside must not get an answer\n" << r.describe();
  }
  // The firewall's `dropped` array: 0 TCP, 1 UDP, 2 ICMP.
  std::map<long, long> dropped;
  for (const std::string& line : console.cmd_ok("netcpu/table/dump local dropped").data) {
    long index = 0, count = 0;
    if (std::sscanf(line.c_str(), "%ld %ld", &index, &count) == 2) dropped[index] = count;
  }
  EXPECT_GE(dropped[0], 1) << "TCP";
  EXPECT_GE(dropped[1], 1) << "UDP";
  EXPECT_GE(dropped[2], 1) << "ICMP";
  // Without the firewall the same strangers get their answers.
  console.cmd_ok("netcpu/unload local");
  NodeRun open =
      run_node(sw, {"--addr", "10.0.0.4/24", "--connect", "10.0.0.3,7", "--ping", "10.0.0.3"});
  EXPECT_EQ(open.status, 0) << open.describe();
}

TEST_F(LwipNet, HotSwapDuringATransferLosesNoByte) {
  LwipNode sink(sw, {"--addr", "10.0.0.1/24", "--sink", "9"}, "sink");
  std::string a = write_program(sw, "a.ncpu", unmark_program("swap_a"));
  std::string b = write_program(sw, "b.ncpu", unmark_program("swap_b"));
  // Every segment must run exactly one of the programs: one that ran none
  // arrives marked (with a right checksum), and the sink answers "bad".
  LwipNode sender(sw,
                  {"--addr", "10.0.0.2/24", "--load", "post_routing=" + a, "--mark", "--send",
                   "10.0.0.1,9,8000000"},
                  "sender");
  std::atomic<bool> done{false};
  std::atomic<int> swaps{0};
  std::string swap_error;
  std::thread swapper([&] {
    try {
      Console c(sender.console_path());
      while (!done) {
        c.cmd_ok("netcpu/load post_routing " + ((swaps % 2) ? a : b));
        ++swaps;
        std::this_thread::sleep_for(2ms);
      }
    } catch (const std::exception& e) {
      if (!done) swap_error = e.what();
    }
  });
  int status = sender.wait(60s);
  done = true;
  swapper.join();
  std::string out = sender.output();
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("got 8000000 ok"), std::string::npos) << out;
  EXPECT_GE(swaps.load(), 5) << "too few swaps during the transfer to test anything\n"
                             << swap_error;
}

// lwIPv6 1.5a has no persist timer: a sender whose peer stops reading
// would wait in lwip_write for ever. netcpu-lwip-node ends such a transfer
// after its --timeout with the reason. The echo server writes back what it
// reads; the sender never reads the echo, so the server's writes block, it
// stops reading, and the sender's window closes.
TEST_F(LwipNet, ASendWhosePeerStopsReadingEndsAfterTheTimeout) {
  LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7"}, "server");
  NodeRun r =
      run_node(sw, {"--addr", "10.0.0.2/24", "--timeout", "2", "--send", "10.0.0.1,7,100000000"});
  EXPECT_EQ(r.status, 1) << r.describe();
  EXPECT_NE(r.err.find("send 10.0.0.1,7,100000000: nothing written for 2 s after "),
            std::string::npos)
      << r.describe();
  EXPECT_NE(r.err.find("of 100000000 bytes (the peer stopped reading)"), std::string::npos)
      << r.describe();
}

TEST_F(LwipNet, ProgramOutputReachesTheConsoleLog) {
  LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7"}, "server");
  Console console(server.console_path());
  console.cmd_ok("debug/add netcpu/log");
  console.cmd_ok("netcpu/load local_in " +
                 write_program(sw, "log.ncpu",
                               ".text:\n    bne ip.proto, PROTO_TCP, done\n"
                               "    bne tcp.flags, 2, done\n"
                               "    log \"syn from %ip to port %d\", ip.src, l4.dport\n"
                               "done:\n    pass\n"));
  NodeRun r = run_node(sw, {"--addr", "10.0.0.2/24", "--connect", "10.0.0.1,7"});
  EXPECT_EQ(r.status, 0) << r.describe();
  auto line = console.wait_debug([](const std::string& l) {
    return l.find("local_in: syn from 10.0.0.2 to port 7") != std::string::npos;
  });
  EXPECT_TRUE(line.has_value()) << server.output();
}

// Garbage and abrupt disconnects on the console leave the stack and the
// console working.
TEST_F(LwipNet, ConsoleSurvivesGarbageAndDisconnects) {
  LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7"}, "server");
  for (int i = 0; i < 20; ++i) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", server.console_path().c_str());
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::string junk;
    for (int k = 0; k < 3000; ++k) junk += static_cast<char>((k * 7919 + i * 31) & 0xff);
    if (i % 3 == 0) junk = "netcpu/load local_in /tmp/half";  // cut mid-command
    if (i % 3 == 1) junk += "\nnetcpu/table/set local_in x y z\n";
    [[maybe_unused]] ssize_t n = write(fd, junk.data(), junk.size());
    close(fd);
  }
  Console console(server.console_path());
  Reply r = console.cmd("netcpu/list");
  EXPECT_TRUE(r.ok()) << r.text();
  EXPECT_TRUE(server.alive()) << server.output();
  NodeRun c = run_node(sw, {"--addr", "10.0.0.2/24", "--connect", "10.0.0.1,7"});
  EXPECT_EQ(c.status, 0) << c.describe();
}

// Debian's unixterm, fed from a pipe like a script would.
TEST_F(LwipNet, UnixtermDrivesTheConsole) {
  LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7"}, "server");
  std::string prog = write_program(sw, "allow.ncpu", ".name \"allow_all\"\n.text:\n    pass\n");
  std::string script = sw.dir() + "/unixterm.sh";
  std::ofstream(script) << "(sleep 0.3; echo 'netcpu/load local_in " << prog
                        << "'; sleep 0.3; echo 'netcpu/list'; sleep 0.3; echo 'help'; sleep 0.3; "
                           "echo logout; sleep 0.3) | timeout 10 unixterm "
                        << server.console_path() << " > " << sw.dir() << "/unixterm.out 2>&1\n";
  ASSERT_EQ(std::system(("sh " + script).c_str()), 0) << "unixterm failed or hung";
  std::ifstream in(sw.dir() + "/unixterm.out");
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(out.find("loaded allow_all"), std::string::npos) << out;
  EXPECT_NE(out.find("local_in"), std::string::npos) << out;
  EXPECT_NE(out.find("netcpu/table/dump"), std::string::npos) << "help lists the commands\n" << out;
  EXPECT_NE(out.find("1000 Success"), std::string::npos) << out;
}

// ---- netcpu/capture and netcpu/drop on a stack's console ----
//
// Packets a hook's program drops, in a raw IP pcap tcpdump reads, the drop
// lines saying what they were; a capture left on when the process ends is
// closed with every packet in it.

TEST_F(LwipNet, CapturedDropsGoToARawIpPcapAndTheDropLinesSayWhatTheyWere) {
  const std::string prog = write_program(sw, "drop7.ncpu", drop_echo_at("LOCAL_IN"));
  const std::string pcap = sw.dir() + "/drops.pcap";
  std::vector<std::string> dumped;
  {
    LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7", "--teardown"}, "server");
    Console console(server.console_path());
    console.cmd_ok("netcpu/load local_in " + prog);
    console.cmd_ok("debug/add netcpu/drop");
    // Bad files first: refused with the reason, nothing captured.
    std::filesystem::create_directory(sw.dir() + "/dir");
    Reply bad = console.cmd("netcpu/capture local_in drop " + sw.dir() + "/dir");
    EXPECT_EQ(bad.code, EISDIR) << bad.text();
    EXPECT_NE(bad.text().find("Is a directory; nothing captured"), std::string::npos) << bad.text();
    EXPECT_EQ(console.cmd("netcpu/capture local_in drop " + prog).code, EEXIST);
    EXPECT_EQ(console.cmd("netcpu/capture sideways drop " + pcap).code, EINVAL);

    Reply r = console.cmd("netcpu/capture local_in drop " + pcap);
    ASSERT_TRUE(r.ok()) << r.text();
    NodeRun blocked =
        run_node(sw, {"--addr", "10.0.0.2/24", "--timeout", "3", "--connect", "10.0.0.1,7"});
    EXPECT_EQ(blocked.status, 1) << blocked.describe();
    auto line = console.wait_debug(
        [](const std::string& l) { return l.find("netcpu/drop") != std::string::npos; });
    ASSERT_TRUE(line);
    r = console.cmd_ok("netcpu/capture local_in");
    EXPECT_NE(r.text().find("local_in: drop to " + pcap + ": "), std::string::npos) << r.text();
    dumped = tcpdump_lines(pcap);
    ASSERT_FALSE(dumped.empty());
    EXPECT_EQ(count_with(dumped, " > 10.0.0.1.7: tcp "), dumped.size()) << joined(dumped);
    EXPECT_NE(line->find("local_in: drop7 dropped "), std::string::npos) << *line;
    EXPECT_NE(line->find(" bytes: " + dumped[0]), std::string::npos)
        << *line << "\ntcpdump: " << dumped[0];
    // The counters say the same: bytes dropped beside the packets, and the
    // program's file.
    const std::string list = console.cmd_ok("netcpu/list -j local_in").data.at(0);
    EXPECT_NE(list.find("\"from\":\"" + prog + "\""), std::string::npos) << list;
    EXPECT_EQ(list.find("\"dropped_bytes\":0,"), std::string::npos) << list;
    // The file is raw IP (LINKTYPE_RAW, 101), what the hooks see.
    std::ifstream in(pcap, std::ios::binary);
    uint32_t header[6] = {};
    in.read(reinterpret_cast<char*>(header), sizeof header);
    EXPECT_EQ(header[5], 101u);

    // Left on: the process ends and the file holds every packet.
    console.cmd_ok("netcpu/capture local_in off");
    console.cmd_ok("netcpu/capture local_in all " + sw.dir() + "/left.pcap");
    NodeRun more =
        run_node(sw, {"--addr", "10.0.0.3/24", "--timeout", "2", "--connect", "10.0.0.1,7"});
    EXPECT_EQ(more.status, 1) << more.describe();
    r = console.cmd_ok("netcpu/capture local_in");
    unsigned long frames = 0;
    const std::string& status = r.data.at(0);
    ASSERT_EQ(std::sscanf(status.c_str() + status.find(": ", status.find(".pcap")), ": %lu frames",
                          &frames),
              1)
        << status;
    EXPECT_GE(frames, 1u);
    // More, then the process ends with the capture on.
    more = run_node(sw, {"--addr", "10.0.0.4/24", "--timeout", "2", "--connect", "10.0.0.1,7"});
    EXPECT_EQ(more.status, 1) << more.describe();
    EXPECT_EQ(server.finish(5s), 0) << server.output();
    EXPECT_GT(tcpdump_lines(sw.dir() + "/left.pcap").size(), frames);
  }
}

}  // namespace
}  // namespace netcpu::test
