// A child process for the tests (vde_plug, vdens's helpers, a test binary
// run again): stdout and stderr in a file, stdin /dev/null, terminated
// (SIGTERM, then SIGKILL) when destroyed.
//
//   Child plug("/usr/bin/vde_plug", {URL1, URL2}, netcpu_module_env(), dir + "/plug.log");
//   ...
//   plug.terminate();  // vde_plug closes its connections on SIGTERM
//   EXPECT_NE(plug.output().find("..."), std::string::npos);
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "switch_harness.h"  // read_file

extern char** environ;

namespace netcpu::test {

class Child {
 public:
  // Runs `path args...`; `env_override` ("NAME=VALUE") replaces these
  // variables of ours or adds them.
  Child(const std::string& path, const std::vector<std::string>& args,
        const std::vector<std::string>& env_override, std::string log_path)
      : log_path_(std::move(log_path)) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string_view v(*e);
      bool replaced = false;
      for (const auto& o : env_override) replaced |= v.starts_with(o.substr(0, o.find('=') + 1));
      if (!replaced) env.emplace_back(v);
    }
    env.insert(env.end(), env_override.begin(), env_override.end());
    std::vector<std::string> argv = {path};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : env) e.push_back(s.data());
    e.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(&pid_, path.c_str(), &fa, nullptr, a.data(), e.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) throw std::runtime_error("posix_spawn " + path + ": " + strerror(rc));
  }
  ~Child() {
    if (!status_) terminate();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // The wait status once it has exited within timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = st;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return status_;
  }
  bool alive() { return !wait_exit(std::chrono::milliseconds(0)); }
  // SIGTERM (vde_plug closes its connections: the module's stats line), SIGKILL after 3 s.
  std::optional<int> terminate() {
    if (status_) return status_;
    kill(pid_, SIGTERM);
    if (!wait_exit(std::chrono::milliseconds(3000))) {
      kill(pid_, SIGKILL);
      wait_exit(std::chrono::milliseconds(3000));
    }
    return status_;
  }
  std::string output() const { return read_file(log_path_); }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace netcpu::test
