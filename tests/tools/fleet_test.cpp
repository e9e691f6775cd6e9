// netcpu fleet on real nodes: vde_switches running netcpu.so (reached by
// their sockets and through `exec:unixterm SOCKET`), an lwIPv6 process's
// console and a netcpu:// cable's console, as a user runs the command;
// and consoles that are not there, never answer or answer junk, which must
// end the command within its timeout with nothing swapped anywhere.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cli_util.h"
#include "fleet_test_util.h"
#include "local_sshd.h"
#include "lwip_node_process.h"
#include "switch_harness.h"
#include "vde_plug_cable.h"

extern char** environ;

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

// A Unix socket server of the test's, for the nodes no real console makes:
// each connection gets `greeting` when accepted, then answer(line) for each
// line it sends (nothing without `answer`). A slow node greets with nothing
// and never answers; a garbage node greets with junk.
class FakeConsole {
 public:
  using Answer = std::function<std::string(const std::string& line)>;
  FakeConsole(const std::string& path, std::string greeting, Answer answer = nullptr)
      : greeting_(std::move(greeting)), answer_(std::move(answer)) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0)
      throw std::runtime_error("cannot listen on " + path);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeConsole() {
    stop_ = true;
    thread_.join();
    for (auto& c : clients_) close(c.fd);
    close(fd_);
  }

 private:
  struct Client {
    int fd;
    std::string buf;
  };
  void serve() {
    while (!stop_) {
      std::vector<pollfd> p = {{fd_, POLLIN, 0}};
      for (const auto& c : clients_) p.push_back({c.fd, POLLIN, 0});
      if (poll(p.data(), p.size(), 20) <= 0) continue;
      for (size_t i = 1; i < p.size(); ++i) {
        if (!p[i].revents) continue;
        Client& c = clients_[i - 1];
        char chunk[4096];
        ssize_t n = read(c.fd, chunk, sizeof chunk);
        if (n <= 0) continue;
        c.buf.append(chunk, static_cast<size_t>(n));
        for (size_t nl; (nl = c.buf.find('\n')) != std::string::npos;) {
          const std::string line = c.buf.substr(0, nl);
          c.buf.erase(0, nl + 1);
          const std::string reply = answer_ ? answer_(line) : "";
          if (!reply.empty()) (void)!::write(c.fd, reply.data(), reply.size());
        }
      }
      if (p[0].revents) {
        int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        if (!greeting_.empty()) (void)!::write(c, greeting_.data(), greeting_.size());
        clients_.push_back({c, ""});
      }
    }
  }

  std::string greeting_;
  Answer answer_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::vector<Client> clients_;
  std::thread thread_;
};

class Fleet : public ::testing::Test {
 protected:
  // A switch running netcpu.so, and a console of the test's on it.
  Console& add_switch() {
    switches_.push_back(std::make_unique<VdeSwitch>(plugin_switch_options()));
    consoles_.push_back(std::make_unique<Console>(switches_.back()->mgmt_path()));
    consoles_.back()->cmd_ok("plugin/add " NETCPU_PLUGIN);
    return *consoles_.back();
  }
  VdeSwitch& sw(size_t i) { return *switches_.at(i); }
  Console& con(size_t i) { return *consoles_.at(i); }

  std::string nodes(const std::string& text, const std::string& file = "nodes.txt") {
    return write(file, text);
  }

  // Two switches, sw1 and sw2, running `program` on "* in" (loaded by
  // netcpu fleet): their lines of a node list.
  std::string two_switches_running(const std::string& program) {
    add_switch();
    add_switch();
    const std::string list = "sw1 " + sw(0).mgmt_path() + " point='* in'\n" + "sw2 " +
                             sw(1).mgmt_path() + " point='* in'\n";
    Result r = fleet(nodes(list), "load " + program);
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return list;
  }

  // netcpu fleet NODES ARGS, timed.
  Result fleet(const std::string& nodes_file, const std::string& args) {
    auto start = Clock::now();
    Result r = netcpu("fleet " + nodes_file + " " + args);
    took_ = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    return r;
  }
  std::chrono::milliseconds took_{0};

  std::vector<std::unique_ptr<VdeSwitch>> switches_;
  std::vector<std::unique_ptr<Console>> consoles_;
};

TEST_F(Fleet, NodeListErrorsNameTheLineBeforeAnythingIsContacted) {
  Result r = fleet(nodes("a /tmp/a.mgmt point=x\nb\n"), "list");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("nodes.txt:2: expected NAME ADDRESS"), std::string::npos) << r.err;
  r = fleet(nodes("a /tmp/a.mgmt colour=blue\n"), "list");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("nodes.txt:1: 'colour': unknown option"), std::string::npos) << r.err;
  r = fleet(nodes("a /tmp/a.mgmt\na /tmp/b.mgmt\n"), "list");
  EXPECT_NE(r.err.find("nodes.txt:2: a second node named 'a'"), std::string::npos) << r.err;
  r = fleet(nodes("# only a comment\n"), "list");
  EXPECT_NE(r.err.find("no node"), std::string::npos) << r.err;
  // A load needs every node's point.
  r = fleet(nodes("a /tmp/a.mgmt\n"), "load " + write("p.ncpu", kPassAll));
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("node 'a' has no point"), std::string::npos) << r.err;
  // A program that does not assemble fails here, as netcpu check does.
  r = fleet(nodes("a /tmp/a.mgmt point=x\n"),
            "load " + write("bad.ncpu", ".text:\n  jmp nowhere\n"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("bad.ncpu:2:"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "no node was contacted";
}

TEST_F(Fleet, LoadSwapsOnEveryKindOfNodeAndListMergesThemWithANodeColumn) {
  if (!kHaveNetcpuModule) GTEST_SKIP() << "this build has no netcpu:// module for the cable";
  add_switch();
  add_switch();
  add_switch();
  LwipNode web(sw(0), {"--addr", "10.0.0.1/24"}, "web");
  const std::string cable_mgmt = sw(0).dir() + "/cable.mgmt";
  VdePlugCable cable(sw(0), sw(1), cable_mgmt);
  ASSERT_TRUE(std::filesystem::is_socket(cable_mgmt)) << "vde_plug gave no cable console\n"
                                                      << cable.output();
  const std::string list = nodes(
      "# five nodes, three kinds of console\n"
      "sw1   " +
      sw(0).mgmt_path() +
      "  point='* in'\n"
      "sw2   " +
      sw(1).mgmt_path() +
      "  point=\"1 inout\"\n"
      "sw3   \"exec:unixterm " +
      sw(2).mgmt_path() +
      "\" point='* in'\n"
      "web   " +
      web.console_path() +
      "  point=local   # lwIPv6\n"
      "cable " +
      cable_mgmt + "  point=in timeout=3000\n");
  const std::string first = write("first.ncpu", kPassAll),
                    second = write("second.ncpu", kWithTable);
  Result r = fleet(list, "load " + first);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  r = fleet(list, "load " + second);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* name : {"sw1", "sw2", "sw3", "web", "cable"})
    EXPECT_NE(r.out.find(std::string(name) + ": committed"), std::string::npos) << name << r.out;
  EXPECT_NE(r.out.find("fleet: load committed on 5 nodes"), std::string::npos) << r.out;

  const std::string want = hash_of(second);
  EXPECT_EQ(hash_at(con(0), "* in"), want);
  EXPECT_EQ(hash_at(con(1), "1 inout"), want);
  EXPECT_EQ(hash_at(con(2), "* in"), want);
  Console web_console(web.console_path()), cable_console(cable_mgmt);
  EXPECT_EQ(hash_at(web_console, "local"), want);
  EXPECT_EQ(hash_at(cable_console, "in"), want);

  // One table, the node first; and one JSON document.
  r = fleet(list, "list");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.out.starts_with("NODE  POINT")) << r.out;
  for (const std::string row :
       {"sw1   * in", "sw2   1 inout", "sw3   * in", "web   local", "cable in"})
    EXPECT_NE(r.out.find(row + " "), std::string::npos) << row << "\n" << r.out;
  r = fleet(list, "list --json");
  ASSERT_EQ(r.code, 0) << r.err;
  json doc = json::parse(r.out);
  EXPECT_TRUE(doc.at("failed").empty());
  std::set<std::string> seen;
  for (const auto& p : doc.at("points")) {
    EXPECT_EQ(p.at("hash"), want) << p.dump();
    seen.insert(p.at("node").get<std::string>() + " " + p.at("point").get<std::string>());
  }
  EXPECT_EQ(seen, (std::set<std::string>{"sw1 * in", "sw2 1 inout", "sw3 * in", "web local",
                                         "cable in"}));

  // Unload is two-phase too.
  r = fleet(list, "unload");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(hash_at(con(0), "* in"), "");
  EXPECT_EQ(hash_at(web_console, "local"), "");
}

TEST_F(Fleet, OneNodeRefusingMeansNoneSwapsAndTheReplyNamesItAndWhy) {
  add_switch();
  add_switch();
  LwipNode web(sw(0), {"--addr", "10.0.0.1/24"}, "web");
  const std::string first = write("first.ncpu", kPassAll);
  const std::string ok = hash_of(first);
  const std::string list =
      nodes("sw1 " + sw(0).mgmt_path() + " point='* in'\n" + "sw2 " + sw(1).mgmt_path() +
            " point='* in'\n" + "web " + web.console_path() + " point=local_in\n");
  ASSERT_EQ(fleet(list, "load " + first).code, 0);

  // lwIPv6 hooks cannot redirect: the stack refuses what the switches take.
  Result r = fleet(list, "load " + write("redirects.ncpu", kRedirects));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("web: refused: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("redirect"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sw1: discarded"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("nothing swapped: 1 of 3 nodes did not stage it: web (refused)"),
            std::string::npos)
      << r.err;
  Console web_console(web.console_path());
  EXPECT_EQ(hash_at(con(0), "* in"), ok);
  EXPECT_EQ(hash_at(con(1), "* in"), ok);
  EXPECT_EQ(hash_at(web_console, "local_in"), ok);

  // A point the node does not have.
  const std::string wrong = nodes("sw1 " + sw(0).mgmt_path() + " point='* in'\n" + "sw2 " +
                                      sw(1).mgmt_path() + " point='99 sideways'\n",
                                  "wrong.txt");
  r = fleet(wrong, "load " + write("second.ncpu", kWithTable));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("sw2: refused: "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("sw2 (refused)"), std::string::npos) << r.err;
  EXPECT_EQ(hash_at(con(0), "* in"), ok);

  // A filter one node cannot compile for its link (raw IP has no ether).
  r = fleet(list, "filter 'ether host 02:00:00:00:00:01'");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("web: refused: "), std::string::npos) << r.out;
  EXPECT_EQ(hash_at(con(0), "* in"), ok);
}

// Down (nothing listens), slow (accepts, never answers), garbage (answers
// junk): each ends the command within its timeout, nothing swaps.
TEST_F(Fleet, DeadSlowAndGarbageNodesEndTheCommandInTimeWithNothingSwapped) {
  const std::string first = write("first.ncpu", kPassAll),
                    second = write("second.ncpu", kWithTable);
  const std::string ok = hash_of(first);
  const std::string good = two_switches_running(first);
  ASSERT_FALSE(HasFailure());

  const std::string dead = sw(0).dir() + "/dead.mgmt", slow = sw(0).dir() + "/slow.mgmt",
                    junk = sw(0).dir() + "/junk.mgmt";
  FakeConsole slow_console(slow, ""), junk_console(junk, "HTTP/1.1 400 Bad Request\r\n\r\n");
  struct Case {
    std::string line, why;
  };
  for (const Case& c :
       {Case{"bad " + dead + " point='* in'", "No such file or directory"},
        Case{"bad " + slow + " point='* in'", "no answer in 500 ms"},
        Case{"bad " + junk + " point='* in'", "HTTP/1.1 400"},
        Case{"bad 'exec:unixterm " + slow + "' point='* in'", "no answer in 500 ms"}}) {
    Result r = fleet(nodes(good + c.line + "\n"), "--timeout 500 load " + second);
    EXPECT_EQ(r.code, 1) << c.line << "\n" << r.out << r.err;
    EXPECT_LT(took_.count(), 3000) << c.line << ": the timeout is 500 ms";
    EXPECT_NE(r.out.find("bad: failed: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(c.why), std::string::npos) << c.line << "\n" << r.out;
    EXPECT_NE(r.out.find("sw1: discarded"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find("nothing swapped: 1 of 3 nodes did not stage it: bad (failed)"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(hash_at(con(0), "* in"), ok) << c.line;
    EXPECT_EQ(hash_at(con(1), "* in"), ok) << c.line;
  }
  // The list and the tables report such a node and go on with the others.
  Result r = fleet(nodes(good + "bad " + slow + "\n"), "--timeout 500 list");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("\nsw2  * in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bad: failed: " + slow + ": no answer in 500 ms"), std::string::npos)
      << r.out;
}

// A node that stages the program and then refuses to commit it (no real
// host does that on purpose: a console of the test's stands in for one that
// ran out of memory at the swap): the switches that had committed go back.
TEST_F(Fleet, ACommitRefusedAfterOthersCommittedRollsThemBack) {
  const std::string first = write("first.ncpu", kPassAll),
                    second = write("second.ncpu", kWithTable);
  const std::string ok = hash_of(first);
  const std::string good = two_switches_running(first);
  ASSERT_FALSE(HasFailure());
  const std::string path = sw(0).dir() + "/refuses-commit.mgmt";
  FakeConsole refuses(path, "a console\n\nvde$ ", [](const std::string& line) -> std::string {
    if (line.starts_with("netcpu/commit"))
      return "0000 DATA END WITH '.'\nno memory for it now\n.\n1012 Cannot allocate "
             "memory\n\nvde$ ";
    if (line.starts_with("netcpu/stage"))
      return "0000 DATA END WITH '.'\nstaged it\n.\n1000 Success\n\nvde$ ";
    return "1000 Success\n\nvde$ ";
  });
  Result r = fleet(nodes(good + "odd " + path + " point='* in'\n"), "load " + second);
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("odd: refused: netcpu/commit: no memory for it now"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("sw1: netcpu/rollback: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sw2: netcpu/rollback: "), std::string::npos) << r.out;
  EXPECT_NE(
      r.err.find("1 of 3 nodes failed to commit (odd (refused)); the others were rolled back"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(hash_at(con(0), "* in"), ok);
  EXPECT_EQ(hash_at(con(1), "* in"), ok);
}

TEST_F(Fleet, TablesAreSetDumpedAndDeletedOnEveryNode) {
  add_switch();
  add_switch();
  LwipNode web(sw(0), {"--addr", "10.0.0.1/24"}, "web");
  const std::string list =
      nodes("sw1 " + sw(0).mgmt_path() + " point='* in'\n" + "sw2 " + sw(1).mgmt_path() +
            " point='* in'\n" + "web " + web.console_path() + " point=local_in\n");
  const std::string program = write("t.ncpu", kWithTable);
  Console web_console(web.console_path());
  con(0).cmd_ok("netcpu/load * in " + program);
  con(1).cmd_ok("netcpu/load * in " + program);
  web_console.cmd_ok("netcpu/load local_in " + program);
  Result r = fleet(list, "table set allowed 8080 1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("web: set 8080 1"), std::string::npos) << r.out;
  EXPECT_TRUE(con(0).cmd("netcpu/table/get * in allowed 8080").ok());
  EXPECT_TRUE(con(1).cmd("netcpu/table/get * in allowed 8080").ok());
  EXPECT_TRUE(web_console.cmd("netcpu/table/get local_in allowed 8080").ok());
  r = fleet(list, "table dump allowed");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* name : {"sw1", "sw2", "web"}) {
    EXPECT_NE(r.out.find(std::string(name) + ": 8080 1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(std::string(name) + ": 1 entry"), std::string::npos) << r.out;
  }
  r = fleet(list, "table del allowed 8080");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(con(0).cmd("netcpu/table/get * in allowed 8080").ok());
  EXPECT_FALSE(web_console.cmd("netcpu/table/get local_in allowed 8080").ok());
  // Deleting again: every node says there is no such entry.
  r = fleet(list, "table del allowed 8080");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("sw2: refused: netcpu/table/del * in allowed 8080: no entry 8080"),
            std::string::npos)
      << r.out;
  // Raw commands, {point} the node's own, options after the action too.
  r = fleet(list, "ctl 'netcpu/table/list {point}' netcpu/budget --timeout 2000");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("web: local_in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sw2: * in "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sw1: budget "), std::string::npos) << r.out;
  r = fleet(list, "table put allowed");
  EXPECT_EQ(r.code, 2) << r.err;
}

// The transports ctl, top and fleet share beside sockets: exec:COMMAND, and
// ssh://HOST/path through a real sshd (on 127.0.0.1, its port and key in
// the ssh client's settings, as a user's ~/.ssh/config gives them).
TEST_F(Fleet, ConsolesAreReachedThroughExecAndARealSshd) {
  Console& c = add_switch();
  add_switch();
  c.cmd_ok("netcpu/load * in " + write("p.ncpu", kPassAll));
  Result r = netcpu("ctl " + quoted("exec:unixterm " + sw(0).mgmt_path()) + " 'netcpu/list * in'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(hash_of(scratch() / "p.ncpu")), std::string::npos) << r.out;
  r = netcpu("ctl gopher://x netcpu/list");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("not a console address"), std::string::npos) << r.err;

  if (auto why = LocalSshd::why_unavailable()) GTEST_SKIP() << "ssh:// not tried: " << *why;
  LocalSshd sshd;
  const std::string path = "PATH=" + sshd.ssh_path() + ":$PATH ";
  r = sh(path + NETCPU_CLI + " ctl ssh://127.0.0.1" + sw(0).mgmt_path() + " 'netcpu/list * in'");
  EXPECT_EQ(r.code, 0) << r.err << sshd.log();
  EXPECT_NE(r.out.find(hash_of(scratch() / "p.ncpu")), std::string::npos) << r.out;
  // A fleet of a node through ssh and one by its socket: both swap.
  const std::string nodes =
      write("ssh-nodes.txt", "far ssh://127.0.0.1" + sw(0).mgmt_path() + " point='* in'\nnear " +
                                 sw(1).mgmt_path() + " point='* in'\n");
  const std::string program = write("through-ssh.ncpu", kWithTable);
  r = sh(path + NETCPU_CLI + " fleet " + nodes + " load " + program);
  ASSERT_EQ(r.code, 0) << r.out << r.err << sshd.log();
  EXPECT_EQ(hash_at(con(0), "* in"), hash_of(program));
  EXPECT_EQ(hash_at(con(1), "* in"), hash_of(program));
  // What unixterm says on the far side's stderr is in the error.
  r = sh(path + NETCPU_CLI + " ctl ssh://127.0.0.1" + sw(0).dir() + "/nothing.mgmt netcpu/list");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("Socket connecting error: No such file or directory"), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace netcpu::test
