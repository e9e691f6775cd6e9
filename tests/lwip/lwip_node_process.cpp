#include "lwip_node_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace netcpu::test {
namespace {

using Clock = std::chrono::steady_clock;

// Runs args (args[0] a path), through command_prefix when there is one.
pid_t spawn(std::vector<std::string> args, const std::string& out_path, int stdin_fd,
            const std::vector<std::string>& command_prefix = {}) {
  args.insert(args.begin(), command_prefix.begin(), command_prefix.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = node_environment();
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdin_fd, STDIN_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  return pid;
}

std::string join(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

std::atomic<int> g_counter{0};

}  // namespace

std::vector<std::string> node_environment() {
  std::vector<std::string> env;
#ifdef NETCPU_SANITIZE_BUILD
  env = {"ASAN_OPTIONS=detect_leaks=0:halt_on_error=1",
         "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"};
#endif
#ifdef NETCPU_VDEPLUG_MODULE_DIR
  // The node is instrumented like this test, and opens modules without
  // RTLD_DEEPBIND itself: the module search path is all it needs.
  env.push_back("VDEPLUGIN_PATH=" + netcpu_module_search_path());
#endif
  return env;
}

LwipNode::LwipNode(const VdeSwitch& sw, std::vector<std::string> args, const std::string& name,
                   std::chrono::milliseconds timeout,
                   const std::vector<std::string>& command_prefix)
    : console_(sw.dir() + "/" + name + ".mgmt"), out_path_(sw.dir() + "/" + name + ".out") {
  std::vector<std::string> full = {NETCPU_LWIP_NODE, "--vde", "vde://" + sw.data_path()};
  if (args.size() >= 2 && args[0] == "--vde") {
    full[2] = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  full.insert(full.end(), {"--name", name, "--console", console_});
  full.insert(full.end(), args.begin(), args.end());
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  stdin_fd_ = pipefd[1];
  try {
    pid_ = spawn(full, out_path_, pipefd[0], command_prefix);
  } catch (...) {
    close(pipefd[0]);
    close(stdin_fd_);
    throw;
  }
  close(pipefd[0]);
  auto deadline = Clock::now() + timeout;
  while (output().find("ready\n") == std::string::npos) {
    if (!alive() || Clock::now() > deadline) {
      std::string out = output();
      this->~LwipNode();
      throw std::runtime_error("node " + name + " did not get ready (" + join(command_prefix) +
                               (command_prefix.empty() ? "" : " ") + join(full) + "):\n" + out);
    }
    std::this_thread::sleep_for(20ms);
  }
}

LwipNode::~LwipNode() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  if (pid_ <= 0) return;
  auto deadline = Clock::now() + 3s;
  while (Clock::now() < deadline) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

bool LwipNode::alive() {
  if (pid_ <= 0) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int LwipNode::wait(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  int status = 0;
  while (pid_ > 0) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    if (Clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

int LwipNode::finish(std::chrono::milliseconds timeout) {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
  return wait(timeout);
}

std::string LwipNode::output() const { return read_file(out_path_); }

std::string NodeRun::describe() const {
  return "exit status " + std::to_string(status) + "\nstdout:\n" + out + "stderr:\n" + err;
}

NodeRun run_node(const VdeSwitch& sw, std::vector<std::string> args,
                 std::chrono::milliseconds timeout) {
  int n = g_counter++;
  std::string base = sw.dir() + "/client" + std::to_string(n);
  std::vector<std::string> full = {NETCPU_LWIP_NODE, "--vde", "vde://" + sw.data_path(), "--name",
                                   "client" + std::to_string(n)};
  full.insert(full.end(), args.begin(), args.end());
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = spawn(full, base + ".out", devnull);
  close(devnull);
  NodeRun r;
  auto deadline = Clock::now() + timeout;
  int status = 0;
  for (;;) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      r.err = "(killed after " + std::to_string(timeout.count()) + " ms)\n";
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  // stdout and stderr share one file: the lines of a report start with what
  // printed them ("connect ...", "udp ...", "send ...", "ping ...", "stack: ...").
  std::string all = read_file(base + ".out");
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) {
    bool report = line.rfind("connect ", 0) == 0 || line.rfind("udp ", 0) == 0 ||
                  line.rfind("send ", 0) == 0 || line.rfind("ping ", 0) == 0 ||
                  line.rfind("stack: ", 0) == 0;
    (report ? r.out : r.err) += line + "\n";
  }
  return r;
}

}  // namespace netcpu::test
