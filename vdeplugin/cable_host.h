// NetCPU on a VDE cable: the host behind libvdeplug_netcpu.so, which wraps
// another libvdeplug connection ("the wire") and runs one program on the
// frames it delivers to this process (`in`) and one on the frames this
// process sends (`out`). Kept apart from the vdeplug4 ABI glue
// (vdeplug_netcpu.cpp) so that it can be read, and reasoned about, as a host.
//
// Threads: libvdeplug users may call recv and send from different threads
// (qemu, lwIPv6). Everything on the `in` side (its program, tables, heap,
// timers, counters) is touched only from recv, everything on the `out` side
// only from send, so the two never share mutable state and need no lock.
// With a console (mgmt=PATH) its thread runs commands on both sides: then
// each side has a mutex, taken by its frames and by every command.
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
  std::string in_file, out_file;
  std::string in_filter, out_filter;
  std::optional<uint64_t> budget;
  std::optional<Verdict> on_abort;
  std::string log_file;  // program output; empty: stderr
  bool stats = false;    // counters on the log when the cable closes
  // Captures by verdict: "pass|drop|all[:COUNT][:SIZE]:FILE" (netcpu/capture's
  // arguments, ':'-separated), at most one per direction with a program.
  std::string in_capture, out_capture;
  // A console on this Unix socket (vde_switch's protocol: unixterm,
  // vdeterm, netcpu ctl) with the switch's netcpu/ commands on `in` and `out`.
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
  // Returns its length after the `in` program, or -1 when it is dropped
  // (also when it is too short to be Ethernet and there is a program).
  ssize_t on_recv(uint8_t* buf, size_t len, size_t cap);

  // A frame this process sends. Returns the bytes to put on the wire (the
  // frame itself, or a rewritten copy in a buffer of this host, valid until
  // the next call), or nullptr when the `out` program dropped it. *len is
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
  struct Side {
    const char* name;  // "in" or "out"
    uint8_t dir;       // 0 in, 1 out
    Hook hook;
    int32_t source;  // the port the side's frames come from
    AttachPoint at;  // its program, timers, capture
    bool abort_logged = false;
    std::mutex mu;  // with a console: its frames against its commands
    // Where the side's frames, and its timers, are for its programs.
    PacketMeta meta() const {
      PacketMeta m;
      m.port = static_cast<uint32_t>(source);
      m.dir = dir;
      m.hook = hook;
      return m;
    }
  };
  // The side's lock when the cable has a console, else none.
  std::unique_lock<std::mutex> lock(Side& s) {
    return console_ ? std::unique_lock(s.mu) : std::unique_lock<std::mutex>();
  }

  CableHost(WireSend wire, int log_fd, bool own_log_fd, bool stats);
  bool open_console(const CableOptions& o, CableError* err);
  ControlReply command(std::string_view name, std::string_view args, int session);
  void output_line(const AttachPoint& at, std::string_view line) const;
  bool load(Side& s, const std::string& file, const std::string& filter, const CableOptions& o,
            CableError* err);
  bool capture(Side& s, const std::string& spec, CableError* err);
  void run_timers(Side& s);
  void after_run(Side& s, const RunResult& r, bool timer);
  void note_drop(const Side& s, const RunResult& r, const uint8_t* frame, uint32_t len);
  void note_abort(Side& s, const RunResult& r);

  WireSend wire_;
  int log_fd_;
  bool own_log_fd_;
  bool stats_;
  Side in_{"in", 0, Hook::PortIn, kWirePort, AttachPoint("in"), false, {}};
  Side out_{"out", 1, Hook::PortOut, kLocalPort, AttachPoint("out"), false, {}};
  // The `out` program rewrites a copy: the sender's buffer is const.
  std::unique_ptr<std::array<uint8_t, kCableFrameMax>> send_buf_;
  std::unique_ptr<Control> control_;  // with a console: its commands
  std::unique_ptr<console::ConsoleThread> console_;
};

}  // namespace netcpu::vde
