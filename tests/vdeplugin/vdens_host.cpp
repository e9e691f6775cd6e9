#include "vdens_host.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace netcpu::test {

using std::chrono::milliseconds;
using Clock = VdensClock;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

namespace {

// iproute2's ip, where distributions put it (/usr/sbin is not always on PATH).
std::optional<std::string> ip_tool() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (access(p, X_OK) == 0) return p;
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------
// Inside the namespace.

void helper_say(std::string line) {
  line += '\n';
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(STDOUT_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

bool helper_run_ip(const std::string& args, std::string& why) {
  auto tool = ip_tool();
  if (!tool) {
    why = "iproute2's ip not found";
    return false;
  }
  const std::string cmd = *tool + " " + args;
  FILE* out = popen((cmd + " 2>&1").c_str(), "r");
  if (out == nullptr) {
    why = errno_text("popen " + cmd);
    return false;
  }
  std::string text;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, out)) text.append(buf, n);
  int status = pclose(out);
  if (status == 0) return true;
  why = "`" + cmd + "` failed (status " + std::to_string(status) + "): " + text;
  while (!why.empty() && why.back() == '\n') why.pop_back();
  return false;
}

bool helper_write_sysctl(const std::string& path, const std::string& value, std::string& why) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    why = errno_text("open " + path);
    return false;
  }
  const bool written = std::fputs(value.c_str(), f) >= 0;
  if (std::fclose(f) != 0 || !written) {
    why = errno_text("write " + value + " to " + path);
    return false;
  }
  return true;
}

void helper_unblock_sigchld() {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_UNBLOCK, &chld, nullptr);
}

void helper_each_line(const std::function<void(const std::string&)>& each) {
  std::string input;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    input.append(buf, static_cast<size_t>(n));
    for (size_t nl; (nl = input.find('\n')) != std::string::npos;) {
      const std::string line = input.substr(0, nl);
      input.erase(0, nl + 1);
      each(line);
    }
  }
}

// The namespace's drop and delivery counters from /proc/net/snmp (which
// follows the reader's network namespace): "Proto: names" then "Proto: values".
std::string helper_snmp_line() {
  std::ifstream f("/proc/net/snmp");
  std::string header, values, out = "snmp";
  while (std::getline(f, header) && std::getline(f, values)) {
    std::istringstream names(header), nums(values);
    std::string proto, name, num;
    names >> proto;
    nums >> num;
    proto.pop_back();  // the ':'
    while (names >> name && nums >> num) {
      if (name == "InReceives" || name == "InHdrErrors" || name == "InCsumErrors" ||
          name == "InDatagrams" || name == "InSegs" || name == "InErrors")
        out += " " + proto + "." + name + "=" + num;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Test side: vdens and its helper.

// Why vdens cannot run here, or nothing: the requirements are vdens itself, a
// TUN/TAP device and unprivileged user + network namespaces (what vdens's
// unshare or clone asks for), and iproute2 for the helper.
std::optional<std::string> why_vdens_cannot_run() {
  if (access(kVdens, X_OK) != 0) return errno_text(std::string(kVdens) + " (Debian package vdens)");
  int tun = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (tun < 0) return errno_text("open /dev/net/tun (vdens needs a tap device)");
  close(tun);
  if (!ip_tool())
    return std::string("iproute2's ip not found (the helper configures vde0 with it)");
  // unshare(CLONE_NEWUSER) refuses multithreaded callers: probe in a fork.
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return errno_text("fork");
  if (pid == 0) _exit(unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : (errno & 0x7f));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status))
    return "the user namespace probe died (status " + std::to_string(status) + ")";
  if (int e = WEXITSTATUS(status); e != 0)
    return "user namespaces unavailable: unshare(CLONE_NEWUSER | CLONE_NEWNET): " +
           std::string(std::strerror(e));
  return std::nullopt;
}

namespace {

struct ProcessInfo {
  pid_t pid;
  bool zombie;
  std::string text;  // "PID STATE (COMM) ppid P wchan W SigPnd ..."
};

std::string first_line_of(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

// The processes whose process group is pgid, from /proc (zombies included).
std::vector<ProcessInfo> group_members(pid_t pgid) {
  std::vector<ProcessInfo> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = first_line_of("/proc/" + name + "/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    long ppid = 0, pgrp = 0;
    if (!(rest >> state >> ppid >> pgrp) || pgrp != pgid) continue;
    std::string blocked;
    std::ifstream status("/proc/" + name + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.starts_with("SigPnd:") || line.starts_with("ShdPnd:") || line.starts_with("SigBlk:"))
        blocked += " " + line;
    out.push_back({static_cast<pid_t>(std::stol(name)), state == "Z",
                   name + " " + state + " " +
                       stat.substr(stat.find('('), paren + 1 - stat.find('(')) + " ppid " +
                       std::to_string(ppid) + " wchan " +
                       first_line_of("/proc/" + name + "/wchan") + blocked});
  }
  return out;
}

// The live (not zombie) members of a process group, one per line; "" if none.
std::string live_members(pid_t pgid, pid_t except = -1) {
  std::string text;
  for (const auto& m : group_members(pgid))
    if (!m.zombie && m.pid != except) text += "\n  " + m.text;
  return text;
}

}  // namespace

VdensHost::VdensHost(const std::string& url, const std::vector<std::string>& env,
                     const std::string& helper_setting,
                     const std::vector<std::string>& command_prefix)
    : url_(url) {
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::vector<std::string> args = command_prefix;
  args.insert(args.end(), {kVdens, "-c", url_, self});
  for (const auto& a : args) command_line_ += (command_line_.empty() ? "" : " ") + a;
  // The helper's stdin is a socket, so that writing to a helper that died
  // fails with EPIPE (MSG_NOSIGNAL) instead of killing the test with SIGPIPE.
  int in[2], out[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0)
    throw std::runtime_error(errno_text("socketpair"));
  if (pipe2(out, O_CLOEXEC) != 0) {
    close(in[0]);
    close(in[1]);
    throw std::runtime_error(errno_text("pipe2"));
  }
  const std::string helper_variable = helper_setting.substr(0, helper_setting.find('=') + 1);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    // VDE_RESOLVCONF / VDE_RESOLVADDR would make vdens bind-mount a resolv.conf.
    bool replaced = v.starts_with("VDE_RESOLV") || v.starts_with(helper_variable);
    for (const auto& o : env) replaced |= v.starts_with(o.substr(0, o.find('=') + 1));
    if (!replaced) env_strings.emplace_back(v);
  }
  env_strings.insert(env_strings.end(), env.begin(), env.end());
  env_strings.push_back(helper_setting);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // SIGCHLD blocked, and -c above: see vdens_host.h.
  sigset_t mask, defaults;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigemptyset(&defaults);
  for (int s : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&defaults, s);
  posix_spawnattr_setsigmask(&attr, &mask);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);  // a new process group, pgid == pid
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  // vdens does not reap its command: while this is set, the orphaned helper
  // becomes our child rather than init's, and stop() reaps it.
  if (prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper_) != 0) was_subreaper_ = 0;
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  int err = posix_spawn(&pid_, args[0].c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  if (err != 0) {
    prctl(PR_SET_CHILD_SUBREAPER, was_subreaper_);
    close(in[1]);
    close(out[0]);
    pid_ = -1;
    throw std::runtime_error("posix_spawn " + command_line_ + ": " + std::strerror(err));
  }
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  fcntl(stdout_fd_, F_SETFL, fcntl(stdout_fd_, F_GETFL) | O_NONBLOCK);
}

void VdensHost::stop() {
  if (pid_ < 0) return;
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  const auto deadline = Clock::now() + kVdensExitTimeout;
  siginfo_t info{};
  bool exited = false;
  for (;;) {
    // WNOWAIT: the zombie keeps the process group's id reserved until the kill below.
    info.si_pid = 0;
    if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == pid_) {
      exited = true;
      break;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  // The helper is a zombie by now (vdens does not reap it); anything alive is killed.
  const std::string live = live_members(pid_, exited ? pid_ : -1);
  if (!live.empty()) {
    killed_ = (exited ? "after vdens exited, still alive:"
                      : "vdens did not exit within " + std::to_string(kVdensExitTimeout.count()) +
                            " ms of its command's stdin closing; alive:") +
              live;
  }
  kill(-pid_, SIGKILL);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_ = (exited ? "" : "killed, ") + describe(status);
  // Reap the rest of the group, our children now (see the constructor),
  // giving killed processes a moment to die.
  const pid_t pgid = pid_;
  for (const auto end = Clock::now() + milliseconds(2000);;) {
    siginfo_t child{};
    while (waitid(P_PGID, static_cast<id_t>(pgid), &child, WEXITED | WNOHANG) == 0 &&
           child.si_pid != 0)
      child.si_pid = 0;
    if (group_members(pgid).empty() || Clock::now() >= end) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  for (const auto& m : group_members(pgid)) remaining_ += "\n  " + m.text;
  prctl(PR_SET_CHILD_SUBREAPER, was_subreaper_);
  drain_output();
  close(stdout_fd_);
  stdout_fd_ = -1;
  pid_ = -1;
}

void VdensHost::send(const std::string& line) {
  std::string text = line + "\n";
  ASSERT_EQ(::send(stdin_fd_, text.data(), text.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(text.size()))
      << errno_text("write to the helper's stdin");
}

std::optional<std::string> VdensHost::wait_line(const std::vector<std::string>& prefixes,
                                                milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    for (auto it = lines_.begin(); it != lines_.end(); ++it) {
      for (const auto& p : prefixes) {
        if (it->starts_with(p)) {
          std::string line = *it;
          lines_.erase(it);
          return line;
        }
      }
    }
    if (eof_ || stdout_fd_ < 0) return std::nullopt;
    pollfd p{stdout_fd_, POLLIN, 0};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    read_some();
  }
}

std::map<std::string, long> VdensHost::snmp() {
  std::map<std::string, long> counters;
  send("snmp");
  auto line = wait_line({"snmp"}, kHelperAnswerTimeout);
  EXPECT_TRUE(line) << "no answer to snmp\n" << transcript();
  if (!line) return counters;
  std::istringstream words(line->substr(4));
  for (std::string w; words >> w;) {
    size_t eq = w.find('=');
    if (eq != std::string::npos) counters[w.substr(0, eq)] = std::stol(w.substr(eq + 1));
  }
  return counters;
}

std::string VdensHost::transcript() {
  drain_output();
  return "vdens command: " + command_line_ + "\nits output:\n" + transcript_ +
         (exit_.empty() ? "" : "vdens " + exit_ + "\n");
}

std::string VdensHost::describe(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

void VdensHost::drain_output() {
  while (stdout_fd_ >= 0 && !eof_ && read_some()) {
  }
}

bool VdensHost::read_some() {
  char buf[1024];
  ssize_t n = read(stdout_fd_, buf, sizeof buf);
  if (n == 0) eof_ = true;
  if (n <= 0) return false;
  transcript_.append(buf, static_cast<size_t>(n));
  partial_.append(buf, static_cast<size_t>(n));
  for (size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
    lines_.push_back(partial_.substr(0, nl));
    partial_.erase(0, nl + 1);
  }
  return true;
}

}  // namespace netcpu::test
