// Debian's vde_plug joining two switches with a netcpu:// cable that has a
// console (mgmt=PATH), for the fleet test and benchmark:
//
//   VdePlugCable cable(sw1, sw2, dir + "/cable.mgmt");   // waits for the console
//
// The module comes from this build (netcpu_module_env()); vde_plug is
// stopped (SIGTERM) when the object goes, and exits by itself when the
// switches do.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "switch_harness.h"

extern char** environ;

namespace netcpu::test {

#ifdef NETCPU_VDEPLUG_MODULE_DIR
constexpr bool kHaveNetcpuModule = true;
#else
constexpr bool kHaveNetcpuModule = false;  // the build made no libvdeplug_netcpu.so
#endif

class VdePlugCable {
 public:
  VdePlugCable(const VdeSwitch& a, const VdeSwitch& b, const std::string& mgmt) {
    std::vector<std::string> argv = {
        "/usr/bin/vde_plug", "netcpu://[mgmt=\"" + mgmt + "\"]{vde://" + a.data_path() + "}",
        "vde://" + b.data_path()};
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) env.emplace_back(*e);
#ifdef NETCPU_VDEPLUG_MODULE_DIR
    for (const auto& v : netcpu_module_env()) env.push_back(v);
#endif
    std::vector<char*> args, envp;
    for (auto& s : argv) args.push_back(s.data());
    args.push_back(nullptr);
    for (auto& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < deadline && !std::filesystem::is_socket(mgmt);)
      std::this_thread::sleep_for(20ms);
  }
  ~VdePlugCable() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
  }
  VdePlugCable(const VdePlugCable&) = delete;
  VdePlugCable& operator=(const VdePlugCable&) = delete;

 private:
  pid_t pid_ = -1;
};

}  // namespace netcpu::test
