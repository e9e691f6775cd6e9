// Several "machines" on one virtual LAN, made without root, for tests that
// cross hosts the way vxvde users do:
//
//   backbone vde_switch (private, plain: it carries only the machines' traffic)
//     │ vde0 10.99.0.1                       │ vde0 10.99.0.2
//   machine a (user + net namespace)       machine b
//     vde_switch + netcpu.so                 vde_switch + netcpu.so
//     vde_plug vxvde://G/port=P ═══ multicast UDP over the backbone ═══ vde_plug
//     │ vdens hosts, lwIPv6 nodes            │ ...
//
// A machine is a vdens namespace on the backbone whose socket helper
// (socket_helper.h) gives vde0 its address and routes multicast out of it.
// Its switch and its vde_plug run inside its namespaces (nsenter, as root
// or not: the user namespace is ours), so their vxvde traffic leaves from
// that machine; their sockets are ordinary paths, reachable from the test.
// netcpu.so is loaded into each switch through its management socket.
//
//   MultihostNetwork net({"a", "b"});
//   Machine& b = net.machine(1);
//   b.console().cmd_ok("netcpu/load " + std::to_string(b.uplink_port()) + " in FILE");
//   auto h1 = net.machine(0).linux_host("10.0.0.1");              // on a's switch
//   auto h2 = b.linux_host("10.0.0.2", "netcpu://[...]{" + net.vxvde_url() + "}");  // inside b
//   auto n = b.lwip_node({"--addr", "10.0.0.4/24", "--echo", "80"}, "server");  // on b's switch
//   h1->send("connect web 10.0.0.4 80");   // the socket helper's commands (socket_helper.h)
//
// Every network gets its own multicast group and port (from the process id
// and a counter), its own temporary directories, and a backbone no other
// test shares. Everything is bounded by timeouts and throws
// std::runtime_error with what it saw; destruction stops every process (the
// machines' vdens process groups included).
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "child_process.h"
#include "lwip_node_process.h"
#include "switch_harness.h"
#include "vdens_host.h"

namespace netcpu::test {

// Why machines cannot be made here (vdens's requirements, nsenter, vde_plug),
// or nothing.
std::optional<std::string> why_machines_cannot_run();

// "02:00:0a:00:00:01" for 10.0.0.1: a locally administered MAC per address.
std::string mac_for(const std::string& ipv4);

class Machine {
 public:
  // Starts machine `name` on the backbone with address `address`/24, its
  // switch with netcpu.so and vde_plug to `vxvde_url`. Nodes started inside
  // it (lwip_node with --vde) write their files in the backbone's directory.
  Machine(const std::string& name, const std::string& address, const VdeSwitch& backbone,
          const std::string& vxvde_url);
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  const std::string& name() const { return name_; }
  const std::string& address() const { return address_; }  // on the backbone
  pid_t pid() const { return pid_; }                       // a process in its namespaces
  // The command that runs what follows it inside this machine:
  // nsenter --target PID --user --net --preserve-credentials --
  std::vector<std::string> enter() const;

  VdeSwitch& vswitch() { return *switch_; }
  const std::string& mgmt_path() const { return mgmt_path_; }
  std::string switch_url() const { return "vde://" + switch_->data_path(); }
  Console& console() { return *console_; }
  int uplink_port() const { return uplink_port_; }  // vde_plug's port, to vxvde

  // A Linux host (a vdens namespace running the socket helper, answering
  // "ready" before this returns) with IPv4 address `ip`/24 and mac_for(ip):
  // on this machine's switch, or, given a URL, inside this machine with that
  // cable (netcpu://[...]{vxvde://...}: the module's environment is added).
  std::unique_ptr<VdensHost> linux_host(const std::string& ip, const std::string& url = "");
  // A netcpu-lwip-node process: on this machine's switch, or, when args
  // start with --vde URL, inside this machine on that cable.
  std::unique_ptr<LwipNode> lwip_node(std::vector<std::string> args, const std::string& name);

  // The machine's helper, switch and vde_plug output, for failure messages.
  std::string describe();

 private:
  std::string name_, address_;
  const VdeSwitch& backbone_;
  std::unique_ptr<VdensHost> namespace_;
  pid_t pid_ = -1;
  std::unique_ptr<VdeSwitch> switch_;
  std::string mgmt_path_;
  std::unique_ptr<Console> console_;
  std::unique_ptr<Child> uplink_;
  int uplink_port_ = -1;
};

class MultihostNetwork {
 public:
  // One machine per name, with backbone addresses 10.99.0.1, .2, ...
  explicit MultihostNetwork(const std::vector<std::string>& names);
  ~MultihostNetwork();
  MultihostNetwork(const MultihostNetwork&) = delete;
  MultihostNetwork& operator=(const MultihostNetwork&) = delete;

  Machine& machine(size_t i) { return *machines_.at(i); }
  size_t size() const { return machines_.size(); }
  // vxvde://239.X.Y.Z/port=P, this network's group and port.
  const std::string& vxvde_url() const { return vxvde_url_; }
  // A private directory for the test's files (programs, captures, consoles).
  const std::string& dir() const { return backbone_.dir(); }
  std::string describe();  // every machine's describe()

 private:
  VdeSwitch backbone_;
  std::string vxvde_url_;
  std::vector<std::unique_ptr<Machine>> machines_;
};

}  // namespace netcpu::test
