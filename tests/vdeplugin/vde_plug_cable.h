// Debian's vde_plug joining two switches with a netcpu:// cable that has a
// console (mgmt=PATH), for the fleet test and benchmark:
//
//   VdePlugCable cable(sw1, sw2, dir + "/cable.mgmt");   // waits for the console
//
// The module comes from this build (netcpu_module_env()); vde_plug is
// stopped when the object goes (child_process.h), and exits by itself when
// the switches do. Its output: PATH.log.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "switch_harness.h"

namespace netcpu::test {

#ifdef NETCPU_VDEPLUG_MODULE_DIR
constexpr bool kHaveNetcpuModule = true;
#else
constexpr bool kHaveNetcpuModule = false;  // the build made no libvdeplug_netcpu.so
#endif

class VdePlugCable {
 public:
  VdePlugCable(const VdeSwitch& a, const VdeSwitch& b, const std::string& mgmt)
      : plug_("/usr/bin/vde_plug",
              {"netcpu://[mgmt=\"" + mgmt + "\"]{vde://" + a.data_path() + "}",
               "vde://" + b.data_path()},
              environment(), mgmt + ".log") {
    for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
         std::chrono::steady_clock::now() < deadline && !std::filesystem::is_socket(mgmt);)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::string output() const { return plug_.output(); }

 private:
  static std::vector<std::string> environment() {
#ifdef NETCPU_VDEPLUG_MODULE_DIR
    return netcpu_module_env();
#else
    return {};
#endif
  }
  Child plug_;
};

}  // namespace netcpu::test
