// netcpu-lwip-node processes for the tests: one lwIPv6 stack per process
// (two stacks in one process crash lwIPv6 1.5a under load).
//
//   VdeSwitch sw;
//   LwipNode server(sw, {"--addr", "10.0.0.1/24", "--echo", "7"}, "server");  // waits for "ready"
//   Console console(server.console_path());
//   NodeRun r = run_node(sw, {"--addr", "10.0.0.2/24", "--connect", "10.0.0.1,7"});
//   EXPECT_EQ(r.status, 0) << r.describe();
//
// Servers live until destroyed (their stdin is a pipe this process holds);
// clients are bounded by a timeout. Output goes to files in the switch's
// temporary directory, returned in error messages.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "switch_harness.h"

namespace netcpu::test {

class LwipNode {
 public:
  // Starts `netcpu-lwip-node --vde vde://SWITCH --name NAME --console DIR/NAME.mgmt ARGS...`
  // and waits until it prints "ready". Throws with its output if it does not. ARGS that
  // start with their own --vde URL (a netcpu:// cable, say) replace the first --vde.
  // command_prefix runs the node through another command that execs it (nsenter
  // into another network namespace, tests/multihost/machines.h).
  LwipNode(const VdeSwitch& sw, std::vector<std::string> args, const std::string& name,
           std::chrono::milliseconds timeout = 10s,
           const std::vector<std::string>& command_prefix = {});
  ~LwipNode();
  LwipNode(const LwipNode&) = delete;
  LwipNode& operator=(const LwipNode&) = delete;

  const std::string& console_path() const { return console_; }
  pid_t pid() const { return pid_; }
  bool alive();
  // Waits for a node that runs clients to exit: its exit status, or -1 if
  // it had to be killed at the timeout or died of a signal.
  int wait(std::chrono::milliseconds timeout);
  // Closes a server's stdin, which ends it, and waits() for it.
  int finish(std::chrono::milliseconds timeout);
  std::string output() const;  // stdout and stderr so far (program output lines included)

 private:
  std::string console_, out_path_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
};

struct NodeRun {
  int status = -1;  // exit status; -1 killed at the timeout or by a signal
  std::string out, err;
  std::string describe() const;
};

// Runs a client node (`--vde vde://SWITCH ARGS...`) to completion.
NodeRun run_node(const VdeSwitch& sw, std::vector<std::string> args,
                 std::chrono::milliseconds timeout = 30s);

// The environment a node needs in this build (sanitizer options, and
// VDEPLUGIN_PATH for netcpu:// cables where the module is built).
std::vector<std::string> node_environment();

}  // namespace netcpu::test
