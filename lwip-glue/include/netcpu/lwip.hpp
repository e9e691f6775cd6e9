// NetCPU programs at the userfilter hooks of an lwIPv6 stack: the C++ API.
//
//   struct stack* s = lwip_add_stack(LWIP_STACK_FLAG_USERFILTER);
//   std::string why;
//   auto filter = netcpu::lwip::StackFilter::attach(s, &why);   // nullptr + why on error
//   auto r = filter->load(netcpu::lwip::HookPoint::LocalIn, "firewall.ncpu");
//   if (!r.ok()) std::cerr << r.text << "\n";                     // file:line:col reason
//   filter->open_console("/tmp/app.mgmt");                        // vdeterm /tmp/app.mgmt
//
// Programs see the IP packet (IPv4 or IPv6, no Ethernet header: eth.* fields
// are absent) and `hook` says which hook runs them. Besides the five hooks,
// two points run one program (one instance, one set of tables) at two
// hooks: `local` at local_in and local_out (the process's own traffic both
// ways), `edge` at pre_routing and post_routing (all that enters and leaves
// the stack). Verdicts: pass, drop and
// same-length rewrite; redirect, mirror, emit and length changes are refused
// at load, naming the instruction (lwIPv6 holds its hook lock while a hook
// runs, so a hook cannot send). Replacing a program is safe while the
// stack's threads run packets: a packet runs the old program or the new one,
// and none is lost.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "netcpu_lwip.h"  // NCPU_LWIP_API

struct stack;  // lwIPv6's

namespace netcpu::lwip {

// Where programs go: lwIPv6's hook numbers, then the points that run one
// program at two hooks. A packet at a hook runs the hook's own program,
// then (unless it dropped the packet) the two-hook point's that covers it.
// Local and Edge are no `hook` value: their programs see the hook each
// packet is at (HOOK_LOCAL_IN or HOOK_LOCAL_OUT, ...).
enum class HookPoint : int {
  PreRouting = 0,
  LocalIn = 1,
  Forward = 2,
  LocalOut = 3,
  PostRouting = 4,
  Local = 5,  // local_in and local_out
  Edge = 6    // pre_routing and post_routing
};
constexpr int kHookCount = 5;   // lwIPv6's hooks
constexpr int kPointCount = 7;  // every HookPoint

NCPU_LWIP_API const char* hook_name(
    HookPoint h);  // "pre_routing", "local_in", ..., "local", "edge"
NCPU_LWIP_API std::optional<HookPoint> parse_hook(std::string_view name);

struct Reply {
  int error = 0;     // 0 or an errno value
  std::string text;  // what a console would print (errors: file:line:col reason)
  bool ok() const { return error == 0; }
};

class NCPU_LWIP_API StackFilter {
 public:
  // Registers NetCPU's handler at the five hooks of `stack`. Returns nullptr
  // with *why set when the stack was created without
  // LWIP_STACK_FLAG_USERFILTER, or already has a StackFilter.
  static std::unique_ptr<StackFilter> attach(struct stack* stack, std::string* why);
  // Closes the console and unregisters the handlers (waiting for a packet in
  // a hook to finish). Destroy it before the stack.
  ~StackFilter();
  StackFilter(const StackFilter&) = delete;
  StackFilter& operator=(const StackFilter&) = delete;

  // Loads a program (source or bytecode) onto a hook, replacing the one
  // there only if the new one is accepted.
  Reply load(HookPoint h, const std::string& path);
  Reply load_source(HookPoint h, std::string_view source, const std::string& name);
  Reply unload(HookPoint h);
  // One console command, as typed on the console: "netcpu/list",
  // "netcpu/table/set local_in blocked 10.0.0.9 1", ...
  Reply command(std::string_view line);

  // Serves the vde_switch management protocol on a Unix socket at `path`
  // (vdeterm PATH, unixterm PATH): help, debug/add netcpu/log, the
  // netcpu/... commands with hooks in place of ports. One console per
  // StackFilter; opening another replaces it.
  Reply open_console(const std::string& path);
  void close_console();

  // Where programs' print/log/dump lines go besides a console's netcpu/log
  // (called on the thread that runs the packet; keep it short).
  using Output = std::function<void(HookPoint, std::string_view line)>;
  void set_output(Output out);

  // Packets that went through a hook's program since it was loaded, and
  // those it dropped.
  uint64_t packets(HookPoint h) const;
  uint64_t dropped(HookPoint h) const;

  struct Impl;

 private:
  explicit StackFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace netcpu::lwip
