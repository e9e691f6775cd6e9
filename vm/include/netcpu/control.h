// The control plane every host shares: attach points holding programs, and
// the console commands that load, replace, inspect and tune them (the
// vde_switch plugin's `netcpu/...` commands, the lwIPv6 consoles' too). Hosts
// own their attach points and translate their own console into execute().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netcpu/timer_schedule.h"
#include "netcpu/vm.h"

namespace netcpu {

// Where a capture's frames go (`netcpu/capture`). The core writes no file
// format of its own and depends on no capture library: the host opens sinks
// (Control::Options::open_capture), in every host the shared pcap dumper
// over libpcap (tools/pcap_dump.h). A sink is called on the thread that runs
// the point's program and must not allocate per frame.
class CaptureSink {
 public:
  virtual ~CaptureSink() = default;
  // One frame as it left the program, stamped with the host's clock. False
  // once a write failed (error() says why): the capture stops.
  virtual bool write(const uint8_t* frame, uint32_t len) = 0;
  // What is buffered goes to the file; false on a write error.
  virtual bool flush() = 0;
  // Flushes and closes the file; false on a write error. Once only.
  virtual bool close() = 0;
  // Bytes the file holds once flushed, its header included; and what a
  // frame of len bytes adds to it.
  virtual uint64_t file_bytes() const = 0;
  virtual uint64_t record_bytes(uint32_t len) const = 0;
  virtual std::string error() const = 0;
};

// A capture on an attach point: which verdicts it keeps, where they go, its
// bounds and how far it got. It stays on the point when it stops (bound
// reached, write error) so that consoles can say why, until the next one.
struct Capture {
  uint8_t verdicts = 0;               // bit 1 << Verdict of each verdict kept
  std::string what;                   // "pass", "drop" or "all", as given
  std::string file;                   // absolute path
  uint64_t max_frames = 0;            // 0: no bound
  uint64_t max_bytes = 0;             // the file's size bound: it never grows past it
  uint64_t frames = 0;                // written so far
  uint64_t file_bytes = 0;            // the file's size (when stopped: final)
  std::unique_ptr<CaptureSink> sink;  // null once stopped; closes its file when destroyed
  std::string stopped;                // why it stopped; empty while on
  bool failed = false;                // stopped by an error, not a bound
  // "drop to /tmp/d.pcap: 3 frames, 302 bytes, on" and the like.
  std::string status() const;
};

// A capture of `what` (pass, drop or all) within `bounds` (COUNT, a number
// of frames; SIZE, bytes with k, M or G; 64 MiB when none is given), its
// file and sink still to be set; nullptr with *why set on a bad argument.
std::unique_ptr<Capture> make_capture(const std::string& what,
                                      const std::vector<std::string>& bounds, std::string* why);
bool is_capture_bound(const std::string& word);

// A place a program runs: a switch port and direction, or a stack hook.
class AttachPoint {
 public:
  explicit AttachPoint(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  Instance* program() const { return program_.get(); }

  // Installs p (may be null) and returns the program it replaces. The host
  // calls it between two packets, so no packet sees a half-loaded program.
  std::unique_ptr<Instance> replace(std::unique_ptr<Instance> p);

  // Runs the program (which must be there) and samples its cost: one packet
  // in kSampleEvery is timed, from the second after a load on (so a quiet
  // point has a figure; the first finds every cache cold), and the average
  // costs two clock reads per kSampleEvery packets (a clock read is 20-30 ns
  // in a VM).
  // Then hands the frame, as it left the program, to the point's capture:
  // with none on, that costs one predictable branch.
  RunResult run(uint8_t* pkt, uint32_t& len, uint32_t capacity, const PacketMeta& meta) {
    const RunResult r = sample_due() ? timed_run(pkt, len, capacity, meta)
                                     : program_->run(pkt, len, capacity, meta);
    ran(r.verdict, pkt, len);
    return r;
  }
  // run() for a host that calls the compiled code itself: `code` is the
  // program's Instance::native_code(), with its entry set. The same
  // sampling and capture; true when the run passed. `result` is the code's
  // own: the host makes a RunResult of one that did not pass with
  // native_result() below. Each branch tests its own result: a JitResult
  // merged from both costs the common one a store-forwarding stall.
  bool run_native(const Instance::NativeCode& code, uint8_t* pkt, uint32_t& len, uint32_t capacity,
                  const PacketMeta& meta, JitResult& result) {
    if (!sample_due()) [[likely]] {
      result = code.entry(code.state, pkt, len, &len, capacity, &meta);
      if (!result.passed()) return false;
    } else if (!timed_native(code, pkt, len, capacity, meta, result)) {
      return false;
    }
    ran(Verdict::Pass, pkt, len);
    return true;
  }
  // The RunResult of a run_native() that did not pass (Instance::native_result),
  // its frame captured.
  RunResult native_result(const JitResult& j, const uint8_t* pkt, uint32_t len) {
    const RunResult r = program_->native_result(j, len);
    ran(r.verdict, pkt, len);
    return r;
  }
  double average_ns() const;
  // Runs timed so far (of the program in place), and how many it takes for
  // average_ns() to mean something: the first timed runs find cold caches,
  // and at low rates every run does, so a figure from a handful of them is
  // one cold frame's time, not the program's.
  uint64_t timed_runs() const { return sampled_runs_; }
  // Starts the timing over (netcpu/reset): between two packets, as replace().
  void reset_timing() { sample_ = 0, sampled_ns_ = sampled_runs_ = 0; }

  // Bytes of the frames the program passed, dropped or redirected, as they
  // left it (iptables -v's bytes beside the packets of Stats). Counted here,
  // the one place every run goes through, compiled or not; zero after a
  // replace() and reset_bytes(). Readable from other threads.
  uint64_t bytes(Verdict v) const {
    return bytes_[static_cast<size_t>(v)].load(std::memory_order_relaxed);
  }
  void reset_bytes() {
    for (auto& b : bytes_) b.store(0, std::memory_order_relaxed);
  }

  // Where the program came from (a file as opened, "<filter 'EXPR'>",
  // "<put>", a name given through an API) and when it was loaded: set by
  // the host at load (Control::load does).
  void set_origin(std::string from) {
    origin_ = std::move(from);
    loaded_at_ = std::chrono::system_clock::now();
  }
  const std::string& origin() const { return origin_; }
  std::chrono::system_clock::time_point loaded_at() const { return loaded_at_; }
  static constexpr uint64_t kMinTimedRuns = 10;
  static constexpr uint32_t kSampleEvery = 64;

  // Timers of the program, due by the host clock in milliseconds
  // (steady_ms()); a late host runs each due timer once (TimerSchedule).
  // `ran` sees each run's result, for a host that sends what a timer emitted.
  void run_due_timers(uint64_t now_ms, const PacketMeta& meta,
                      const TimerSchedule::Ran& ran = nullptr);
  // Whether the program in place has timer handlers: a host ticks only then.
  bool has_timers() const { return program_ && !program_->program().timers.empty(); }

  // Starts a capture (after the one before it is stopped), from the next
  // frame on; the host calls it between two packets, as replace().
  void start_capture(std::unique_ptr<Capture> c);
  // Stops the capture, flushing and closing its file, and returns it (null
  // when there was none): `why` says why it stopped.
  std::unique_ptr<Capture> stop_capture(const std::string& why);
  // The capture on, or the last one and why it stopped; null when none.
  const Capture* capture() const { return capture_state_.get(); }
  bool capturing() const { return capture_ != nullptr; }
  // Puts what the capture buffered into its file (a console looking at it
  // sees every frame so far); stops it on a write error.
  void flush_capture();

 private:
  bool sample_due() { return (sample_++ & (kSampleEvery - 1)) == 1; }
  void ran(Verdict v, const uint8_t* pkt, uint32_t len) {
    // One thread runs a point's program: a plain add, as Stats' counters.
    auto& b = bytes_[static_cast<size_t>(v)];
    b.store(b.load(std::memory_order_relaxed) + len, std::memory_order_relaxed);
    if (capture_) [[unlikely]]
      capture_frame(v, pkt, len);
  }
  [[gnu::cold]] void capture_frame(Verdict v, const uint8_t* pkt, uint32_t len);
  void end_capture(std::string why, bool failed);
  template <typename Run>
  auto timed(Run run);
  RunResult timed_run(uint8_t* pkt, uint32_t& len, uint32_t capacity, const PacketMeta& meta);
  bool timed_native(const Instance::NativeCode& code, uint8_t* pkt, uint32_t& len,
                    uint32_t capacity, const PacketMeta& meta, JitResult& result);

  // What run() touches first: a host that keeps its attach points together
  // reads them from one cache line.
  std::unique_ptr<Instance> program_;
  uint32_t sample_ = 0;
  Capture* capture_ = nullptr;                    // capture_state_ while it is on, else null
  std::array<std::atomic<uint64_t>, 3> bytes_{};  // by Verdict
  std::string name_;
  std::string origin_;
  std::chrono::system_clock::time_point loaded_at_{};
  uint64_t sampled_ns_ = 0, sampled_runs_ = 0;
  TimerSchedule timer_schedule_{TimerSchedule::Missed::RunOnce};
  std::unique_ptr<Capture> capture_state_;
};

struct ControlReply {
  int error = 0;     // 0 or an errno value
  std::string text;  // lines for the console, '\n'-separated
};

class Control {
 public:
  struct Options {
    HostCaps caps;
    Limits limits;
    // How consoles name attach points: "PORT|* in|out" (two words) on the
    // switch, "HOOK" (one word) on lwIPv6.
    std::string point_syntax;
    int point_words = 2;
    // Finds or creates the attach point named by `words` (point_words of
    // them); nullptr with *why set when they name none.
    std::function<AttachPoint*(const std::vector<std::string>& words, std::string* why)> resolve;
    // What list, reset and table/list take to narrow them: the syntax for
    // help ("[PORT|* [in|out]]"), and the points (existing ones only, no
    // program needed) that `words` name, false with *why set when they name
    // none. Unset: a point, as resolve() takes it.
    std::string select_syntax;
    std::function<bool(const std::vector<std::string>& words, std::vector<AttachPoint*>& points,
                       std::string* why)>
        select;
    // Who reads the files `load` names, for relative paths in errors:
    // "vde_switch" gives "(relative to vde_switch's working directory /x)".
    std::string process_name = "this process";
    // Every attach point the host has, for list, reset and tables.
    std::function<void(const std::function<void(AttachPoint&)>&)> for_each;
    // Where a program's PRINT/LOG/DUMP lines go.
    std::function<void(const AttachPoint&, OutputKind, std::string_view)> output;
    // Compiles a tcpdump expression into NetCPU assembly (the host has
    // libpcap; the core does not), with pcap_compile's IPv4 netmask (host
    // byte order; `netmask` below at first, then what `netcpu/netmask`
    // sets). When set, the `filter` and `netmask` commands exist.
    std::function<std::optional<std::string>(const std::string& expr, uint32_t netmask,
                                             std::string* error)>
        compile_filter;
    // The netmask filters compile with before any `netcpu/netmask`: 0, as
    // `tcpdump -r` (ip broadcast: 255.255.255.255 or 0.0.0.0), or the
    // host's own interface's when it has one.
    uint32_t netmask = 0;
    // Warnings about what the host cannot do for this program at this point
    // (shown on load; empty when none).
    std::function<std::vector<std::string>(const AttachPoint&, const Program&)> warnings;
    // Opens a capture file (absolute path) for frames of the host's link
    // type: the host's pcap dumper. nullptr with *error (an errno value) and
    // *why set when it cannot.
    // When set, the `capture` command exists.
    std::function<std::unique_ptr<CaptureSink>(const std::string& path, int* error,
                                               std::string* why)>
        open_capture;
  };

  explicit Control(Options o);

  // One console command: `command` is the part after "netcpu/" (load, put,
  // unload, list, show, profile, table/list, table/dump, table/set,
  // table/del, budget, onabort, reset), args the rest of the line.
  // `session` names the console connection a line came on (0: one shared
  // by all): a line continued with '\\' goes on with the next line of the
  // same command on the same connection, never another client's.
  ControlReply execute(std::string_view command, std::string_view args, int session = 0);

  // The commands execute() understands, with syntax and help, for the
  // host's console listing.
  struct Command {
    std::string name, syntax, help;
  };
  std::vector<Command> commands() const;

  // Loads a program (source or bytecode bytes) onto a point, replacing what
  // runs there only if the new program is accepted. `name`, when given,
  // replaces the program's own (a source's is its file's base name).
  ControlReply load(AttachPoint& at, std::vector<uint8_t> bytes, const std::string& file,
                    const std::string& name = {});

  const Limits& limits() const { return opt_.limits; }
  bool profiling() const { return profiling_; }

  // Stops every capture that is on, flushing and closing its file (a host
  // going away: plugin/del, a cable closing), and returns a line for each
  // ("1 in: drop to /tmp/d.pcap: 3 frames, 302 bytes, stopped: ...").
  std::vector<std::string> stop_captures(const std::string& why);
  // The captures of the points there are, on or stopped, one line each.
  std::vector<std::string> capture_lines();

  // The reply to a console line the host could not take whole (longer than
  // its line buffer: `max_chars`): nothing is done, and the text says how
  // to give a long command. `what_happened` is the host's own note about the
  // line (e.g. where the rest of it went). `command` is the part after
  // "netcpu/".
  ControlReply refuse_long_line(std::string_view command, size_t max_chars,
                                std::string_view what_happened, int session = 0) const;
  // The reply to a console line the host received cut (a client wrote it
  // in pieces, or left in the middle of it): nothing is done, and the text
  // says why (`what_happened`, the host's note) and how to send a line.
  ControlReply refuse_cut_line(std::string_view command, std::string_view what_happened,
                               int session = 0) const;
  // A line whose arguments end with '\' continues on the next line of the
  // same command: the backslash is removed and the pieces are joined as
  // they are. Most continued characters one command may hold.
  static constexpr size_t kMaxContinued = 4u << 20;
  // The size a capture's file may reach when `capture` is given no SIZE.
  static constexpr uint64_t kDefaultCaptureBytes = uint64_t{64} << 20;

 private:
  ControlReply cmd_load(std::string_view args, bool inline_bytes);
  ControlReply load_file(AttachPoint& at, const std::string& file);
  ControlReply put_chunk(AttachPoint& at, const std::string& chunk);
  ControlReply cmd_filter(std::string_view args);
  ControlReply cmd_unload(const std::vector<std::string>& w);
  ControlReply cmd_list(const std::vector<std::string>& w, bool json);
  ControlReply cmd_show(const std::vector<std::string>& w, bool json);
  ControlReply cmd_profile(const std::vector<std::string>& w);
  ControlReply cmd_table_list(const std::vector<std::string>& w, bool json);
  ControlReply cmd_table_dump(const std::vector<std::string>& w, bool json);
  ControlReply cmd_table_get(const std::vector<std::string>& w, bool json);
  // The table the words after the point name, or nullptr with `err` set.
  Table* table_of(const std::vector<std::string>& w, size_t extra, const std::string& syntax,
                  AttachPoint*& at, ControlReply& err);
  ControlReply cmd_table_set(const std::vector<std::string>& w, bool del);
  ControlReply cmd_budget(const std::vector<std::string>& w);
  ControlReply cmd_onabort(const std::vector<std::string>& w);
  ControlReply cmd_reset(const std::vector<std::string>& w);
  ControlReply cmd_netmask(const std::vector<std::string>& w);
  ControlReply cmd_capture(std::string_view args);
  // A file name as the host process opens it: relative names from its
  // working directory. `note` says so, for errors: " (relative to ...)".
  std::string host_path(const std::string& file, std::string* note) const;
  AttachPoint* point(const std::vector<std::string>& w, size_t& used, ControlReply& err);
  // The points list, reset and table/list act on: all of them without
  // words, else those `w` selects; nullopt with `err` set when it selects none.
  std::optional<std::vector<AttachPoint*>> selection(const std::vector<std::string>& w,
                                                     ControlReply& err);
  // The rest of a continued line: nullopt when `args` does not continue
  // (`whole` then holds the command's arguments, joined with what earlier
  // lines left), else the reply to the piece.
  std::optional<ControlReply> continue_line(std::string_view command, std::string_view args,
                                            int session, std::string& whole);
  bool known(std::string_view command) const;
  // "\nN characters of netcpu/COMMAND ... are still pending", or nothing.
  std::string pending_note(std::string_view command, int session) const;

  Options opt_;
  bool profiling_ = false;
  uint32_t netmask_ = 0;  // pcap_compile's, for the filters loaded from now on
  std::map<const AttachPoint*, std::string> staging_;  // base64 of a program arriving in chunks
  // (session, command) -> its pending line
  std::map<std::pair<int, std::string>, std::string> continued_;
};

// The line a host writes on its netcpu/drop channel for a dropped frame:
// "WHERE: PROGRAM dropped 70 bytes (why it stopped, if it did): " and the
// frame as tcpdump -q -nn prints it (packet_summary).
std::string drop_line(std::string_view where, const Instance& vm, const RunResult& r,
                      std::span<const uint8_t> frame);

// Standard base64 (RFC 4648), padding optional; nullopt on a bad character.
std::optional<std::vector<uint8_t>> decode_base64(std::string_view text);
std::string encode_base64(const std::vector<uint8_t>& bytes);

}  // namespace netcpu
