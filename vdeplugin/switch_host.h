// NetCPU on vde_switch: attach points for every port and direction (in,
// out, and inout: one program for both) plus "*", the frame path that runs their programs from the
// switch's packet/in and packet/out events, and the verdicts the switch can honour.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netcpu/control.h"
#include "vde_abi.h"

namespace netcpu::vde {

// A frame's direction (its `dir`), and the points' kinds: kInOut is an
// attach point's, not a frame's: its one program runs on the frames of both.
enum Dir : int { kIn = 0, kOut = 1, kInOut = 2 };
constexpr int kPointKinds = 3;

// Aligned so that the frame path's state (the first members) is one cache line.
class alignas(64) SwitchHost {
 public:
  // Where lines go (a debug category); `listening` says whether anyone reads
  // them, so that nothing is formatted for nobody on the frame path.
  struct Channel {
    std::function<bool()> listening;
    std::function<void(std::string_view)> write;
  };
  // log: programs' output; drop: a line per dropped frame.
  SwitchHost(Channel log, Channel drop);

  Control& control() { return *control_; }

  // The switch's packet events. Return what vde_switch expects of a filter:
  // 0 unchanged, a negative value to drop, a positive value: the new length.
  int on_packet_in(int port, uint8_t* frame, int len) {
    if (direct_) [[likely]]
      return direct(port, frame, len);
    // A new frame: whatever an out program rewrote before is gone with the old one.
    if (active_[kOut]) pending_[depth_].ptr = nullptr;
    if (depth_ == 0) source_port_ = port;
    if (!active_[kIn]) return 0;
    return filter(port, kIn, frame, len);
  }
  int on_packet_out(int port, uint8_t* frame, int len);

  // Runs the timer handlers that are due (host clock, milliseconds).
  void tick(uint64_t now_ms);

  // After a command may have loaded or unloaded programs.
  void refresh();

  // What the loaded programs need from the switch: its packet events (in:
  // any program, which also marks where a new frame starts for the `out`
  // side; out: an `out` or `inout` program) and a timer (a program with timer
  // handlers). The plugin subscribes to no more than that, so a switch with
  // the plugin and no program does no work per frame for it.
  struct Needs {
    bool packet_in = false, packet_out = false, timer = false;
  };
  Needs needs() const { return {active_[kIn] || active_[kOut], active_[kOut], timers_}; }

  static constexpr int kMaxPort = 65535;
  // vde_switch's own default for -n.
  static constexpr int kDefaultPorts = 32;

  // The number of ports the switch was started with (vde_switch -n N,
  // --numports N), read from `args` (its command line, argv[0] first) the
  // way its getopt_long reads them. The switch exports nothing that tells
  // it (its numports is static).
  static int ports_from_command_line(const std::vector<std::string>& args);

 private:
  AttachPoint* point(int port, Dir d, bool create);
  AttachPoint* resolve(const std::vector<std::string>& words, std::string* why);
  bool select(const std::vector<std::string>& words, std::vector<AttachPoint*>& points,
              std::string* why);
  // A port number the switch has (or "*": -1); nullopt with *why set.
  std::optional<int> parse_port(const std::string& word, std::string* why) const;
  void for_each(const std::function<void(AttachPoint&)>& fn);
  // The same with each point's port (-1: "*") and direction.
  void for_each_point(const std::function<void(AttachPoint&, int port, Dir d)>& fn);
  // Whether some program runs on the frames of direction d at this port.
  bool runs_on(int port, Dir d);
  std::vector<std::string> warnings(const AttachPoint& at, const Program& p);
  int filter(int port, Dir d, uint8_t* frame, int len);
  int direct(int port, uint8_t* frame, int len);
  // True when the frame goes no further after this run: act() on anything
  // but a plain pass.
  bool stops(const RunResult& r, Instance& vm, int port, Dir d, uint32_t len, uint8_t* frame) {
    return (r.verdict != Verdict::Pass || r.mirror_port >= 0 || r.emitted) &&
           act(r, vm, port, d, len, frame);
  }
  [[gnu::cold]] bool act(const RunResult& r, Instance& vm, int port, Dir d, uint32_t len,
                         uint8_t* frame);
  void run_timers(AttachPoint& at, int port, Dir d, uint64_t now_ms);
  void send_emitted(Instance& vm, int source);
  bool send_copy(int port, const uint8_t* data, uint32_t len);

  // A frame an `out` program rewrote in place: its original bytes, put back
  // before the next port of the same flood sees the buffer.
  struct Pending {
    const uint8_t* ptr = nullptr;
    uint32_t len = 0;
    uint8_t bytes[kSwitchFrameMax];
  };
  int restore(Pending& p, uint8_t* frame);

  // The frame path's state first, the buffers last: each frame finds the
  // switch's caches cold.
  // The common case, a program on "* in" and nothing else: the frames go
  // straight to it (direct()). Taken again by refresh(), after every
  // command that may load or unload.
  bool direct_ = false;
  // By direction (kIn, kOut): some program runs on its frames (inout ones
  // included); some on a port's own point of it, not only on "*".
  std::array<bool, 2> active_{};
  std::array<bool, 2> port_programs_{};
  bool port_inout_ = false;  // some port has an inout program: else a frame looks for none
  // Sends from inside the frame path re-enter it: each depth keeps its own
  // restore state and copy buffer; deeper sends are refused (emit loops).
  static constexpr int kMaxDepth = 3;
  int depth_ = 0;
  int source_port_ = -1;   // where the frame being forwarded came in
  int current_port_ = -1;  // the frame's port while a program runs, for its output
  Dir current_dir_ = kIn;
  std::array<AttachPoint, kPointKinds> star_{AttachPoint("* in"), AttachPoint("* out"),
                                             AttachPoint("* inout")};
  std::array<std::vector<std::unique_ptr<AttachPoint>>, kPointKinds> ports_;
  bool timers_ = false;  // some program has timer handlers
  int switch_ports_ = kDefaultPorts;
  Channel log_, drop_;
  std::unique_ptr<Control> control_;
  std::array<Pending, kMaxDepth + 1> pending_;
  std::array<std::array<uint8_t, kSwitchFrameMax>, kMaxDepth> copies_;
};

}  // namespace netcpu::vde
