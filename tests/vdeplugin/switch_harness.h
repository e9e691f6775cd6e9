// Integration-test harness around the real Debian vde_switch:
//
//   VdeSwitch  starts `vde_switch -s DIR/sock -M DIR/mgmt` in a fresh temp directory and
//              stops it (and removes the directory) when destroyed;
//   Console    speaks the management protocol (commands, replies, async debug lines);
//   Endpoint   is a libvdeplug data connection (what qemu or vde_plug would be);
//   numbered_frame / SequenceCounter / blast send numbered frames and count arrivals.
//
//   VdeSwitch sw;
//   Console console(sw.mgmt_path());
//   Endpoint a(sw.data_path(), console), b(sw.data_path(), console);
//   SequenceCounter got = blast(a, b, kMacA, kMacB, 1000);
//   EXPECT_TRUE(got.complete()) << got.summary();
//
// Everything is bounded by timeouts and throws std::runtime_error with what it saw,
// so a test never hangs. The switch's stdin is a pipe held by this process: if the
// test process dies, the switch reads EOF and exits, so no switch outlives its test.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "packet_builder.h"

struct vdeconn;

namespace netcpu::test {

using packets::Bytes;
using packets::Mac;
using namespace std::chrono_literals;

struct VdeSwitchOptions {
  int ports = 0;                           // -n N; 0 keeps the switch default (32)
  bool hub = false;                        // --hub
  std::vector<std::string> rc_commands{};  // run at startup (an rc file given with -f)
  std::vector<std::string> env{};          // extra NAME=VALUE, e.g. LD_PRELOAD for ASan plugins
  std::vector<std::string> extra_args{};   // appended to the command line
  // Run the switch through this command, e.g. nsenter into another network
  // namespace (tests/multihost/machines.h): PREFIX... vde_switch ARGS...
  std::vector<std::string> command_prefix{};
  std::chrono::milliseconds start_timeout = 5s;
};

// Options for a switch that will load netcpu.so: a sanitizer build of the
// plugin needs its runtimes preloaded into the (uninstrumented) switch. The
// test target defines NETCPU_SWITCH_PRELOAD in sanitizer builds.
inline VdeSwitchOptions plugin_switch_options() {
  VdeSwitchOptions o;
#ifdef NETCPU_SWITCH_PRELOAD
  o.env = {"LD_PRELOAD=" NETCPU_SWITCH_PRELOAD, "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1",
           "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1"};
#endif
  return o;
}

// libvdeplug's own modules (vde://, ...), in the directory beside libvdeplug.so.
std::string system_vdeplug_module_dir();

#ifdef NETCPU_VDEPLUG_MODULE_DIR
// VDEPLUGIN_PATH for netcpu:// URLs. It replaces libvdeplug's whole module
// search, so the system directory is listed too, for the nested vde://.
inline std::string netcpu_module_search_path() {
  return std::string(NETCPU_VDEPLUG_MODULE_DIR) + ":" + system_vdeplug_module_dir();
}

// The environment of an uninstrumented program (vde_plug, vdens) that opens
// netcpu:// URLs. In sanitizer builds the module needs the sanitizer runtimes
// preloaded, and libvdeplug's RTLD_DEEPBIND (which ASan refuses) stripped by
// NETCPU_NO_DEEPBIND: that shim goes first, so that its dlopen is the one
// libvdeplug calls; ASan is then not first in the list, which it accepts when told.
inline std::vector<std::string> netcpu_module_env() {
  std::vector<std::string> env = {"VDEPLUGIN_PATH=" + netcpu_module_search_path()};
#if defined(NETCPU_SWITCH_PRELOAD) && defined(NETCPU_NO_DEEPBIND)
  env.push_back("LD_PRELOAD=" NETCPU_NO_DEEPBIND " " NETCPU_SWITCH_PRELOAD);
  env.push_back("ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0:halt_on_error=1");
  env.push_back("UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1");
#endif
  return env;
}
#endif

// A whole file as bytes ("" if it cannot be read).
std::string read_file(const std::string& path);
// utime + stime of a process, in clock ticks, from /proc/PID/stat.
long process_cpu_ticks(pid_t pid);

class VdeSwitch {
 public:
  explicit VdeSwitch(VdeSwitchOptions options = {});
  ~VdeSwitch();
  VdeSwitch(const VdeSwitch&) = delete;
  VdeSwitch& operator=(const VdeSwitch&) = delete;

  const std::string& dir() const { return dir_; }
  std::string data_path() const { return dir_ + "/sock"; }  // give this to vde_open / vde_plug
  std::string mgmt_path() const { return dir_ + "/mgmt"; }
  pid_t pid() const { return pid_; }

  bool alive();                    // waitpid(WNOHANG); false once it has exited
  std::string exit_description();  // "running", "exited with status 1", "killed by signal 11"
  long cpu_ticks() const;          // utime + stime from /proc/PID/stat, in clock ticks
  std::string log() const;         // the switch's stdout and stderr so far

 private:
  void stop();

  std::string dir_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;  // write end of the switch's stdin; closing it makes the switch exit
  std::optional<int> wait_status_;
};

// A reply to one console command. The switch ends each reply with "1NNN text", where
// NNN is the errno the command returned (1000 Success, 1022 Invalid argument, ...).
struct Reply {
  int code = -1;                  // 0 success, else the errno; -1: no status line (empty command)
  std::vector<std::string> data;  // lines of the "0000 DATA END WITH '.'" block, if any
  std::string status;             // the status line, e.g. "1000 Success"

  bool ok() const { return code == 0; }
  std::string text() const;  // data lines joined with '\n', then the status line
};

// One management connection. A reader thread splits what the switch writes into replies
// and debug lines ("3NNN category text"), which may arrive at any time.
//
// Protocol facts (vde2 consmgmt.c): the switch treats each read() of up to 128 bytes as
// one command, so cmd() sends one short line at a time and waits for its prompt
// ("\nvde$ "), which closes every reply.
class Console {
 public:
  explicit Console(const std::string& mgmt_path, std::chrono::milliseconds timeout = 5s);
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  // Sends one command (at most 127 characters, no newline) and returns its reply.
  // Throws std::runtime_error on timeout or disconnection, with the bytes read so far.
  Reply cmd(const std::string& line);
  // cmd(), throwing unless the reply is a success.
  Reply cmd_ok(const std::string& line);
  // Sends a line of any length, as a user pasting it would: the switch takes
  // 128 bytes at a time and answers each piece. Returns the first `replies`
  // replies (fewer if no more came within the timeout).
  std::vector<Reply> cmd_any_length(const std::string& line, size_t replies);
  // Writes the pieces `gap` apart, as a client that writes a line as it
  // gets it: the switch takes each read as a line. Returns the first
  // `replies` replies (fewer if no more came within the timeout).
  std::vector<Reply> cmd_in_pieces(const std::vector<std::string>& pieces,
                                   std::chrono::milliseconds gap, size_t replies);

  // The port whose endpoint description starts with descr (from port/allprint), or -1.
  int port_of(const std::string& descr);

  // Debug lines received and not yet taken, oldest first; debug_lines() takes them all.
  std::vector<std::string> debug_lines();
  // Waits for a debug line matching pred, takes it out of the queue and returns it.
  std::optional<std::string> wait_debug(const std::function<bool(const std::string&)>& pred,
                                        std::chrono::milliseconds timeout = 5s);

  // Writes arbitrary bytes (fuzzing). The switch answers each chunk it reads with a
  // prompt; this waits until the output has been quiet for a moment and drops those
  // replies, so that the next cmd() gets its own reply.
  void send_raw(std::string_view bytes);

  bool connected() const;
  const std::vector<std::string>& banner() const { return banner_; }

 private:
  void disconnect();  // stops the reader thread and closes the connection
  void reader_loop();
  void consume_locked();  // splits buf_ into lines and prompts
  void handle_line_locked(std::string line);
  void write_all(std::string_view bytes);
  std::string describe_locked() const;  // for error messages

  int fd_ = -1;
  int wake_fd_ = -1;  // eventfd that stops the reader thread
  std::chrono::milliseconds timeout_;
  std::vector<std::string> banner_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string buf_;         // bytes not yet split into lines
  std::string transcript_;  // raw bytes since the last command, for error messages
  Reply pending_;           // the reply being read
  bool in_data_ = false;
  std::deque<Reply> replies_;  // complete replies (closed by a prompt), not yet taken
  size_t bytes_seen_ = 0;
  std::deque<std::string> debug_;
  bool closed_ = false;
  std::string close_reason_;

  std::thread reader_;
};

// A counter of an attach point ("* in", "3 out") from netcpu/list: column 0
// is the program name, then hash, instructions, packets, passed, dropped, ...
// (see the list's header line); -1 if the point is not listed.
long list_column(Console& console, const std::string& point, int column);
// The same column as netcpu/list prints it ("-": NS/PKT not timed enough
// yet); "" if the point is not listed.
std::string list_field(Console& console, const std::string& point, int column);
// The same for a column that is not a whole number (9: NS/PKT).
double list_number(Console& console, const std::string& point, int column);

// Debian's vdeterm on a management socket, its terminal a socketpair:
// vdeterm sends each line typed, without its newline, in one write.
class Vdeterm {
 public:
  explicit Vdeterm(const std::string& mgmt_path, std::chrono::milliseconds timeout = 5s);
  ~Vdeterm();
  Vdeterm(const Vdeterm&) = delete;
  Vdeterm& operator=(const Vdeterm&) = delete;
  static bool available();
  // Types a line (a newline is added) and returns what the terminal shows
  // up to and including `until`; "<TIMEOUT>" at the end when it never came.
  std::string type(const std::string& line, std::string_view until);

 private:
  std::string read_until(std::string_view marker);
  int term_ = -1;
  pid_t pid_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buf_;
};

// A libvdeplug connection to the switch's data socket: vde_send, vde_recv, vde_datafd and
// vde_close on a connection opened like vde_open(data_path, descr, NULL) would (the
// opening bypasses libvdeplug's RTLD_DEEPBIND dlopen, which AddressSanitizer refuses).
class Endpoint {
 public:
  // descr is the endpoint description the switch shows in port/print, exactly as given
  // (vde_open would append " user=UID pid=PID"); by default a unique
  // "netcpu-test-PID-N". With a console, the endpoint's port is learned at once.
  explicit Endpoint(const std::string& data_path, std::string descr = {});
  Endpoint(const std::string& data_path, Console& console, std::string descr = {});
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  // Sends one frame; false if the switch did not take it within timeout.
  bool send(std::span<const uint8_t> frame, std::chrono::milliseconds timeout = 1s);
  std::optional<Bytes> recv(int timeout_ms);
  size_t drain(int quiet_ms = 50);  // discards frames until none arrives for quiet_ms

  int port() const { return port_; }  // -1 unless learned
  int learn_port(Console& console);   // asks the console (retrying briefly) and remembers
  const std::string& descr() const { return descr_; }
  int datafd() const;

 private:
  std::string descr_;
  vdeconn* conn_ = nullptr;
  int port_ = -1;
};

// Numbered frames: IPv4/UDP (10.0.0.1:40000 -> 10.0.0.2:9) whose payload starts with
// "NCSQ", the sequence number and its complement (big-endian), padded to frame_size.
Bytes numbered_frame(Mac dst, Mac src, uint32_t seq, size_t frame_size = packets::kMinFrame);
// The sequence number of a numbered frame (found anywhere in it, so VLAN tags or
// rewritten headers do not matter), or nullopt.
std::optional<uint32_t> sequence_of(std::span<const uint8_t> frame);

// Counts which of the numbers 0..n-1 arrived.
class SequenceCounter {
 public:
  explicit SequenceCounter(uint32_t n) : seen_(n, false) {}
  void add(std::span<const uint8_t> frame);

  size_t received() const { return received_; }      // distinct numbers seen
  size_t duplicates() const { return duplicates_; }  // numbers seen more than once
  size_t foreign() const { return foreign_; }        // frames that were not numbered 0..n-1
  std::optional<uint32_t> highest() const { return highest_; }
  bool complete() const { return received_ == seen_.size(); }
  std::vector<uint32_t> missing() const;
  std::string summary() const;  // "received 998/1000, 0 duplicates, 0 foreign, missing 5 17"

 private:
  std::vector<bool> seen_;
  size_t received_ = 0;
  size_t duplicates_ = 0;
  size_t foreign_ = 0;
  std::optional<uint32_t> highest_;
};

struct BlastOptions {
  size_t frame_size = packets::kMinFrame;
  // At most this many frames in flight (sent after the highest number received), so
  // the receiver's socket queue never overflows; 0: no limit.
  size_t window = 8;
  // When nothing arrives for this long, the frames in flight count as lost.
  std::chrono::milliseconds idle_timeout = 300ms;
};

// Sends frames 0..n-1 from `from` and counts the numbered frames `to` receives.
SequenceCounter blast(Endpoint& from, Endpoint& to, Mac src, Mac dst, uint32_t n,
                      const BlastOptions& options = {});

}  // namespace netcpu::test
