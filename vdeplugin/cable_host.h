// NetCPU on a VDE cable: the host behind libvdeplug_netcpu.so, which wraps
// another libvdeplug connection ("the wire") and runs one program on the
// frames it delivers to this process (`in`), one on the frames this
// process sends (`out`), and one on both (`inout`: one instance, one set of
// tables, for a program that follows connections both ways). Kept apart from the vdeplug4 ABI glue
// (vdeplug_netcpu.cpp) so that it can be read, and reasoned about, as a host.
//
// Threads: libvdeplug users may call recv and send from different threads
// (qemu, lwIPv6). Everything on the `in` side (its program, tables, heap,
// timers, counters) is touched only from recv, everything on the `out` side
// only from send, so the two never share mutable state and need no lock.
// The `inout` point is touched from both: its mutex is always taken while
// it has a program. With a console (mgmt=PATH) its thread runs commands on
// every point: then each has a mutex, taken by its frames and by every
// command.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "netcpu/control.h"

namespace netcpu::console {
class ConsoleThread;
}

namespace netcpu::vde {

// libvdeplug's own largest frame (VDE_ETHBUFSIZE: 9216-byte MTU, Ethernet
// header and one 802.1Q tag): what any nested connection may carry.
constexpr uint32_t kCableFrameMax = 9216 + 14 + 4;

// Ports as programs see them: the packet's `port`, and the targets of `emit`.
constexpr int32_t kWirePort = 0;   // the nested connection (the network)
constexpr int32_t kLocalPort = 1;  // this process
constexpr int32_t kInport = -1;    // INPORT: where the packet came from

struct CableOptions {
  // Programs: a file (source or bytecode), or a tcpdump expression (frames it
  // matches pass). At most one of each pair.
  std::string in_file, out_file, inout_file;
  std::string in_filter, out_filter, inout_filter;
  std::optional<uint64_t> budget;
  std::optional<Verdict> on_abort;
  std::string log_file;  // program output; empty: stderr
  bool stats = false;    // counters on the log when the cable closes
  // Captures by verdict: "pass|drop|all[:COUNT][:SIZE]:FILE" (netcpu/capture's
  // arguments, ':'-separated), at most one per point with a program.
  std::string in_capture, out_capture, inout_capture;
  // A console on this Unix socket (vde_switch's protocol: unixterm,
  // vdeterm, netcpu ctl) with the switch's netcpu/ commands on `in`, `out`
  // and `inout`.
  std::string mgmt;
};

struct CableError {
  int error = 0;        // errno for the opener
  std::string message;  // one or more lines, without the "netcpu: " prefix
};

class CableHost {
 public:
  // Sends a frame on the wire; emitted packets go through it.
  using WireSend = std::function<void(const uint8_t* frame, uint32_t len)>;

  // Loads the programs (verified against what a cable can do). nullptr with
  // *err filled when one is rejected or a file cannot be read.
  static std::unique_ptr<CableHost> create(const CableOptions& o, WireSend wire, CableError* err);
  ~CableHost();
  CableHost(const CableHost&) = delete;
  CableHost& operator=(const CableHost&) = delete;

  // A frame from the wire in buf[0..len), buffer capacity cap (the caller's).
  // Returns its length after the `in` and `inout` programs, or -1 when one
  // drops it (also when it is too short to be Ethernet and there is a
  // program).
  ssize_t on_recv(uint8_t* buf, size_t len, size_t cap);

  // A frame this process sends. Returns the bytes to put on the wire (the
  // frame itself, or a rewritten copy in a buffer of this host, valid until
  // the next call), or nullptr when the `out` or `inout` program dropped it. *len is
  // updated. nullptr with *too_long set for a frame larger than any wire can
  // carry, which is not let through unfiltered.
  const uint8_t* on_send(const uint8_t* frame, size_t* len, bool* too_long);

  // The counters as one line per program ("in (name): 10 frames, ...").
  std::string stats_text() const;
  // Stops the captures, flushing their files; a line for each ("in
  // capture: drop to FILE: 3 frames, 302 bytes, ...").
  std::vector<std::string> stop_captures();
  bool want_stats() const { return stats_; }
  // Writes a line to the log (the "netcpu: " prefix added), in one write.
  void log_line(std::string_view line) const;

  HostCaps caps() const;  // what a program on a cable may do

  // Closes the console, if there is one (its socket file goes too); the
  // sides then run without their locks' other user.
  void close_console();

 private:
  // A direction of the frames: what its programs see of them.
  struct Way {
    uint8_t dir;     // 0 arriving, 1 sent
    Hook hook;       // HOOK_CABLE_IN, HOOK_CABLE_OUT
    int32_t source;  // the port its frames come from
    PacketMeta meta() const {
      PacketMeta m;
      m.port = static_cast<uint32_t>(source);
      m.dir = dir;
      m.hook = hook;
      return m;
    }
  };
  static constexpr Way kArriving{0, Hook::CableIn, kWirePort};
  static constexpr Way kSent{1, Hook::CableOut, kLocalPort};
  // An attach point of the cable: `in` and `out` run on one way's frames,
  // `inout` on both.
  struct Side {
    const char* name;  // "in", "out" or "inout"
    bool both_ways;    // inout: run from recv and from send, on two threads
    AttachPoint at;    // its program, timers, capture
    bool abort_logged = false;
    std::mutex mu;  // with a console, or both ways: its frames against the others
  };
  // The side's lock when two threads may use it: the cable has a console,
  // or it is `inout` with a program; else none.
  std::unique_lock<std::mutex> lock(Side& s) {
    return console_ || (s.both_ways && s.at.program()) ? std::unique_lock(s.mu)
                                                       : std::unique_lock<std::mutex>();
  }
  // Runs the side's timers, then its program on the frame (which must be
  // there); the frame as it left the program is in frame[0..len).
  RunResult run(Side& s, const Way& w, uint8_t* frame, uint32_t& len, uint32_t cap);

  CableHost(WireSend wire, int log_fd, bool own_log_fd, bool stats);
  bool open_console(const CableOptions& o, CableError* err);
  ControlReply command(std::string_view name, std::string_view args, int session);
  void output_line(const AttachPoint& at, std::string_view line) const;
  bool load(Side& s, const std::string& file, const std::string& filter, const CableOptions& o,
            CableError* err);
  bool capture(Side& s, const std::string& spec, CableError* err);
  void run_timers(Side& s, const Way& w);
  void after_run(Side& s, const Way& w, const RunResult& r, bool timer);
  void note_drop(const Side& s, const RunResult& r, const uint8_t* frame, uint32_t len);
  void note_abort(Side& s, const RunResult& r);

  WireSend wire_;
  int log_fd_;
  bool own_log_fd_;
  bool stats_;
  Side in_{"in", false, AttachPoint("in"), false, {}};
  Side out_{"out", false, AttachPoint("out"), false, {}};
  Side inout_{"inout", true, AttachPoint("inout"), false, {}};
  // The `out` and `inout` programs rewrite a copy: the sender's buffer is const.
  std::unique_ptr<std::array<uint8_t, kCableFrameMax>> send_buf_;
  std::unique_ptr<Control> control_;  // with a console: its commands
  std::unique_ptr<console::ConsoleThread> console_;
};

}  // namespace netcpu::vde
