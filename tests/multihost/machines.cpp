#include "machines.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include "socket_helper.h"

namespace netcpu::test {
namespace {

constexpr const char* kNsenter = "/usr/bin/nsenter";
constexpr const char* kVdePlug = "/usr/bin/vde_plug";

// vdens up and its helper's answers; vde_plug on the switch.
constexpr std::chrono::milliseconds kReadyTimeout{15000};
constexpr std::chrono::milliseconds kUplinkTimeout{5000};

// Sends `command` to a namespace's helper (none if empty) and returns its
// answer, the first line starting with `answer`; throws with the transcript
// on an error, a failure or silence.
std::string ask(VdensHost& host, const std::string& command, const std::string& answer) {
  if (!command.empty()) host.send(command);
  auto line = host.wait_line({answer, "error ", "fail"}, kReadyTimeout);
  if (!line || !line->starts_with(answer))
    throw std::runtime_error((command.empty() ? "" : "`" + command + "`: ") + "no `" + answer +
                             "` within " + std::to_string(kReadyTimeout.count()) +
                             " ms, but: " + line.value_or("nothing") + "\n" + host.transcript());
  return *line;
}

// This process's networks each get their own port; the group is the process's.
std::string fresh_vxvde_url() {
  static std::atomic<unsigned> networks{0};
  const unsigned pid = static_cast<unsigned>(getpid());
  const unsigned port = 20000 + (pid * 7 + networks++ * 7919) % 40000;
  return "vxvde://239." + std::to_string((pid >> 16) & 0xff) + "." +
         std::to_string((pid >> 8) & 0xff) + "." + std::to_string(pid & 0xff) +
         "/port=" + std::to_string(port);
}

}  // namespace

std::optional<std::string> why_machines_cannot_run() {
  if (auto why = why_vdens_cannot_run()) return why;
  if (access(kNsenter, X_OK) != 0)
    return errno_text(std::string(kNsenter) + " (Debian package util-linux)");
  if (access(kVdePlug, X_OK) != 0)
    return errno_text(std::string(kVdePlug) + " (Debian package vdeplug)");
  return std::nullopt;
}

std::string mac_for(const std::string& ipv4) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (std::sscanf(ipv4.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a > 255 || b > 255 ||
      c > 255 || d > 255)
    throw std::runtime_error("not an IPv4 address: " + ipv4);
  char mac[18];
  std::snprintf(mac, sizeof mac, "02:00:%02x:%02x:%02x:%02x", a, b, c, d);
  return mac;
}

// ---------------------------------------------------------------------------
// Machine

Machine::Machine(const std::string& name, const std::string& address, const VdeSwitch& backbone,
                 const std::string& vxvde_url)
    : name_(name), address_(address), backbone_(backbone) {
  // The machine's namespaces, on the backbone; multicast leaves through vde0.
  namespace_ =
      std::make_unique<VdensHost>("vde://" + backbone.data_path(), std::vector<std::string>{},
                                  socket_helper_setting(address + " " + mac_for(address) + " - -"));
  ask(*namespace_, "", "ready");
  ask(*namespace_, "route 224.0.0.0/4", "routed ");
  pid_ = static_cast<pid_t>(std::stol(ask(*namespace_, "pid", "pid ").substr(4)));

  VdeSwitchOptions options = plugin_switch_options();
  options.command_prefix = enter();
  switch_ = std::make_unique<VdeSwitch>(options);
  mgmt_path_ = switch_->mgmt_path();
  console_ = std::make_unique<Console>(mgmt_path_);
  if (Reply r = console_->cmd("plugin/add " NETCPU_PLUGIN); !r.ok())
    throw std::runtime_error("machine " + name + ": plugin/add " NETCPU_PLUGIN + ": " + r.text() +
                             "\n" + switch_->log());

  // vxvde first: once vde_plug has its port on the switch, it has joined the group.
  const std::string descr = "uplink-" + name;
  std::vector<std::string> args = enter();
  args.erase(args.begin());
  args.insert(args.end(), {kVdePlug, "-D", descr, vxvde_url, switch_url()});
  uplink_ = std::make_unique<Child>(kNsenter, args, std::vector<std::string>{},
                                    switch_->dir() + "/uplink.log");
  const auto deadline = VdensClock::now() + kUplinkTimeout;
  while ((uplink_port_ = console_->port_of(descr)) < 0) {
    if (!uplink_->alive() || VdensClock::now() >= deadline)
      throw std::runtime_error("machine " + name + ": vde_plug " + vxvde_url + " " + switch_url() +
                               " did not get a port on the switch: " + uplink_->output());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Its vde_plug, its switch, then its namespace's process group; what could
// not be made to disappear is said on stderr (a test's own output).
Machine::~Machine() {
  uplink_.reset();
  console_.reset();
  switch_.reset();
  namespace_->stop();
  if (!namespace_->remaining().empty())
    std::fprintf(stderr, "machine %s: left behind in its process group:%s\n", name_.c_str(),
                 namespace_->remaining().c_str());
}

std::vector<std::string> Machine::enter() const {
  return {kNsenter, "--target", std::to_string(pid_), "--user", "--net", "--preserve-credentials",
          "--"};
}

std::unique_ptr<VdensHost> Machine::linux_host(const std::string& ip, const std::string& url) {
  std::vector<std::string> env;
  if (url.starts_with("netcpu://")) {
#ifdef NETCPU_VDEPLUG_MODULE_DIR
    env = netcpu_module_env();
#else
    throw std::runtime_error("a netcpu:// cable, but the module is not built: " + url);
#endif
  }
  auto host = std::make_unique<VdensHost>(url.empty() ? switch_url() : url, env,
                                          socket_helper_setting(ip + " " + mac_for(ip) + " - -"),
                                          url.empty() ? std::vector<std::string>{} : enter());
  ask(*host, "", "ready");
  return host;
}

std::unique_ptr<LwipNode> Machine::lwip_node(std::vector<std::string> args,
                                             const std::string& name) {
  if (args.size() >= 2 && args[0] == "--vde")
    return std::make_unique<LwipNode>(backbone_, std::move(args), name, kReadyTimeout, enter());
  return std::make_unique<LwipNode>(*switch_, std::move(args), name, kReadyTimeout);
}

std::string Machine::describe() {
  std::string text = "machine " + name_ + " (" + address_ + ", pid " + std::to_string(pid_) + ")\n";
  if (namespace_) text += namespace_->transcript();
  if (switch_) text += "its switch (" + switch_->exit_description() + "):\n" + switch_->log();
  if (uplink_) text += "its vde_plug:\n" + uplink_->output();
  return text;
}

// ---------------------------------------------------------------------------
// MultihostNetwork

MultihostNetwork::MultihostNetwork(const std::vector<std::string>& names)
    : vxvde_url_(fresh_vxvde_url()) {
  for (size_t i = 0; i < names.size(); ++i)
    machines_.push_back(std::make_unique<Machine>(names[i], "10.99.0." + std::to_string(i + 1),
                                                  backbone_, vxvde_url_));
}

// The machines first (each stops its vde_plug, its switch, then its
// namespace), the backbone last.
MultihostNetwork::~MultihostNetwork() {
  while (!machines_.empty()) machines_.pop_back();
}

std::string MultihostNetwork::describe() {
  std::string text = "network " + vxvde_url_ + "\n";
  for (auto& m : machines_) text += m->describe();
  return text;
}

}  // namespace netcpu::test
