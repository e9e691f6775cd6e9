// Linux network stacks for the tests: Debian's vdens, cabled to a VDE
// network, running this test binary again inside a private user + network
// namespace as a helper that reports on its stdout.
//
//   VdensHost host("vde://" + sw.data_path(), {}, "MY_HELPER=1");
//   host.wait_line({"ready", "fail"}, 10s);
//
// starts `vdens -c URL TEST_BINARY` with MY_HELPER=1 in the environment; the
// test file runs its helper from a static initializer when it sees that
// variable (before gtest's main), and exits when its stdin (a socket from
// the test) reaches EOF, which also ends vdens. vdens runs in its own
// process group, in which anything still alive at the end is killed; the
// test is a child subreaper meanwhile, so that it also reaps the helper,
// which vdens leaves unreaped.
//
// Why `-c` and a blocked SIGCHLD: vdens (0.2, Debian) notices its command's
// exit through a signalfd for SIGCHLD that it polls with ppoll(..., {SIGCHLD}),
// but SIGCHLD is not blocked outside ppoll, and its default action discards
// it. Started normally, vdens often (in about a third of the tests) missed
// the helper's exit and waited forever in ppoll, the helper a zombie and no
// SIGCHLD pending. Started with SIGCHLD blocked, the signal stays pending
// until vdens polls for it. But in its default unshare mode vdens first forks
// and reaps a short-lived child (it writes the uid/gid maps), whose SIGCHLD
// would then be pending from the start and end vdens at once; with -c (clone)
// the process that runs the command has no earlier child. A helper unblocks
// SIGCHLD first (helper_unblock_sigchld) if it starts children of its own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace netcpu::test {

using VdensClock = std::chrono::steady_clock;

inline constexpr const char* kVdens = "/usr/bin/vdens";
// vdens ending after its command's stdin reached EOF.
inline constexpr std::chrono::milliseconds kVdensExitTimeout{3000};
// The helper's answer to a command (snmp).
inline constexpr std::chrono::milliseconds kHelperAnswerTimeout{3000};

std::string errno_text(const std::string& what);
// Milliseconds left until deadline, 0 when it has passed (for poll).
int remaining_ms(VdensClock::time_point deadline);

// Why vdens cannot run here, or nothing: the requirements are vdens itself, a
// TUN/TAP device and unprivileged user + network namespaces (what vdens's
// unshare or clone asks for), and iproute2 for the helpers.
std::optional<std::string> why_vdens_cannot_run();

// ---- For the helpers, inside the namespace (no gtest there) ----

// One line on stdout, which reaches the test through vdens.
void helper_say(std::string line);
// `ip ARGS` (iproute2, wherever the distribution put it); why it failed.
bool helper_run_ip(const std::string& args, std::string& why);
// Writes a /proc/sys file; why it failed.
bool helper_write_sysctl(const std::string& path, const std::string& value, std::string& why);
// The namespace's counters from /proc/net/snmp, as "snmp Proto.Name=N ..."
// (what VdensHost::snmp() parses).
std::string helper_snmp_line();
// vdens starts its command with SIGCHLD blocked (see above).
void helper_unblock_sigchld();
// Each line the test sends (without its newline), until its end of input.
void helper_each_line(const std::function<void(const std::string&)>& each);

// ---- The test side ----

// `vdens -c URL TEST_BINARY` in its own process group, the helper's stdin a
// socket from here, its stdout and vdens's stdout and stderr a pipe to here.
// `env` adds to (or replaces) variables of this process's environment;
// helper_setting ("NAME=VALUE") tells the re-executed binary to be a helper;
// command_prefix runs vdens through another command (nsenter into another
// namespace, tests/multihost/machines.h), which must exec it in its place.
class VdensHost {
 public:
  VdensHost(const std::string& url, const std::vector<std::string>& env,
            const std::string& helper_setting, const std::vector<std::string>& command_prefix = {});
  // Closes the helper's stdin (the helper exits, then vdens), waits for vdens
  // and kills whatever is still alive in its process group.
  ~VdensHost() { stop(); }
  VdensHost(const VdensHost&) = delete;
  VdensHost& operator=(const VdensHost&) = delete;

  const std::string& command_line() const { return command_line_; }
  pid_t pgid() const { return pid_; }

  void stop();
  // What stop() had to kill (processes with state, wait channel and signal
  // masks), or "" when vdens had exited by itself and left nothing alive.
  const std::string& killed() const { return killed_; }
  // The processes (zombies included) of vdens's group that stop() could not
  // make disappear; "" normally.
  const std::string& remaining() const { return remaining_; }
  const std::string& exit_description() const { return exit_; }

  // Sends a command line to the helper (a gtest failure if it is gone).
  void send(const std::string& line);

  // Takes the first line not yet taken that starts with one of the prefixes,
  // waiting up to timeout; nothing on timeout or when the output ended.
  std::optional<std::string> wait_line(const std::vector<std::string>& prefixes,
                                       std::chrono::milliseconds timeout);

  // Counters from the namespace's /proc/net/snmp, e.g. "Udp.InCsumErrors"
  // (the helper answers "snmp" with helper_snmp_line()).
  std::map<std::string, long> snmp();

  // Everything vdens and the helper wrote, for failure messages.
  std::string transcript();

 private:
  static std::string describe(int status);
  void drain_output();
  bool read_some();  // one read; false when nothing was there (or at EOF)

  std::string url_, command_line_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1;
  bool eof_ = false;
  int was_subreaper_ = 0;
  std::string killed_, remaining_, exit_, transcript_, partial_;
  std::deque<std::string> lines_;
};

}  // namespace netcpu::test
