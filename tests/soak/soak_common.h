// What the two soaks (switch_soak.cpp, lwip_soak.cpp) share: how a process
// is measured (RSS, open descriptors), a console that takes garbage, the
// garbage itself, random valid commands, and the verdict they print.
#pragma once

#include <sys/types.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "switch_harness.h"

namespace netcpu::soak {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Exit codes of netcpu-soak (77: ctest's SKIP_RETURN_CODE).
constexpr int kPass = 0, kFail = 1, kUsage = 2, kSkip = 77;

struct SoakOptions {
  double seconds = 20;
  uint64_t seed = 0;     // 0: from the clock (printed, so a run can be repeated)
  int swap_ms = -1;      // pause between two program swaps (-1: each soak's default)
  std::string sabotage;  // a deliberately broken program in the rotation (see --help)
  bool expect_failure = false;
  size_t window = 0;  // switch: frames in flight per flow; 0: from the measured capacity
  bool verbose = false;
};

// Nanoseconds on the steady clock, the one timeline of every record.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// What a soak watches of a process: resident memory and open descriptors.
struct ProcessSample {
  long rss_kib = -1;  // VmRSS from /proc/PID/status
  long fds = -1;      // entries of /proc/PID/fd
};
ProcessSample sample_process(pid_t pid);
std::string kib_text(long kib);  // "5.2 MiB"

// A SIGINT, SIGTERM or SIGHUP (soak_main's handler) asks the soak to stop
// before its time: every Verdict then counts as failed, so the soak's loops
// end, its threads, switch and lwIPv6 processes go as at its end (none is
// left running), and its report says why. Async-signal-safe.
void request_stop(int signal);
int stop_requested();  // the signal, or 0

// Failures collect here (the first few with their details); the soak goes on
// to its summary and exits non-zero. A stop request counts as one.
class Verdict {
 public:
  void fail(const std::string& what);
  bool failed() const;
  size_t count() const;
  std::vector<std::string> first() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> first_;
  size_t count_ = 0;
};

// A raw management connection for garbage: writes anything, reads and
// discards whatever comes back (a console that is never read would block a
// vde_switch, whose console writes are blocking). Reconnects when the other
// side closed it (a garbage "logout", or a refused line).
class RawConsole {
 public:
  explicit RawConsole(std::string path) : path_(std::move(path)) {}
  ~RawConsole() { disconnect(); }
  RawConsole(const RawConsole&) = delete;
  RawConsole& operator=(const RawConsole&) = delete;

  // Writes bytes (connecting first if needed), then reads replies for up to
  // wait_ms. False if the console could not be reached at all.
  bool write(std::string_view bytes, int wait_ms);
  void disconnect();
  size_t reconnects() const { return reconnects_; }

 private:
  void drain(int wait_ms);
  std::string path_;
  int fd_ = -1;
  size_t reconnects_ = 0;
};

// Garbage for a console that takes lines of at most line_limit characters.
// Each piece is one of: random bytes; a read-only command cut short (no
// newline: the rest comes with the next piece, or never); a line longer than
// line_limit whose first line_limit characters are a command that would
// load a program dropping every frame (refused whole by the console, or the
// soak sees the loss); a read-only command with a trailing "\" (continued on a
// command the soak's own consoles do not use); blank and control lines;
// shuffled command words. Never a command that changes what runs.
class Garbage {
 public:
  enum Kind { kRandomBytes, kCutLine, kOverlong, kContinued, kBlank, kShuffled, kKinds };
  struct Source {
    std::vector<std::string> readonly_commands;  // whole lines, without newline
    std::string overlong_prefix;  // e.g. "netcpu/filter * in host 10.9.9.9": padded past the limit
    std::string overlong_repeat;  // e.g. " or host 10.9.9.9"
    std::string continued;        // a read-only command no soak console sends
    size_t line_limit = 128;
  };
  Garbage(Source source, uint64_t seed) : source_(std::move(source)), rng_(seed) {}
  std::string next(Kind* kind = nullptr);

 private:
  Source source_;
  std::mt19937_64 rng_;
};

// Runs garbage on a console in a thread until stopped: pieces of garbage,
// each answered (or not) before the next, a new connection every few dozen
// pieces, some of them cut mid-line. pause() closes the connection and
// waits until the thread is idle, so that a measurement of the host's open
// descriptors does not see it.
class GarbageFeeder {
 public:
  GarbageFeeder(std::string console_path, Garbage::Source source, uint64_t seed, Verdict& verdict);
  ~GarbageFeeder();
  void pause();
  void resume();
  std::string summary() const;  // "4021 pieces (812 random bytes, ...), 101 connections"
  size_t pieces() const { return pieces_; }
  // While this says false (the host has exited on its own), a console that
  // does not answer is not a failure.
  void set_host_alive(std::function<bool()> alive) { alive_ = std::move(alive); }

 private:
  void loop();
  std::function<bool()> alive_;
  RawConsole console_;
  Garbage garbage_;
  uint64_t seed_;
  Verdict& verdict_;
  std::atomic<bool> stop_{false}, pause_{false}, idle_{false};
  std::atomic<size_t> pieces_{0};
  std::array<std::atomic<size_t>, Garbage::kKinds> by_kind_{};
  std::thread thread_;
};

// Runs random valid commands on a console in a thread until stopped. Each
// must get a reply (failures such as "no table" are replies). `before` runs
// ahead of each command with it, under a lock the caller can take too (to
// keep its bookkeeping of what a command such as netcpu/reset changes exact).
class CommandFeeder {
 public:
  using Hook = std::function<void(const std::string& command, const test::Reply& reply)>;
  CommandFeeder(std::string console_path, std::vector<std::string> commands, uint64_t seed,
                Verdict& verdict, std::mutex& lock, Hook after = {});
  ~CommandFeeder();
  void pause();
  void resume();
  size_t commands() const { return commands_; }
  size_t failed() const { return failed_; }  // replies with an error code
  void set_host_alive(std::function<bool()> alive) { alive_ = std::move(alive); }

 private:
  void loop();
  std::string path_;
  std::vector<std::string> list_;
  std::mt19937_64 rng_;
  Verdict& verdict_;
  std::mutex& lock_;
  Hook after_;
  std::function<bool()> alive_;
  std::atomic<bool> stop_{false}, pause_{false}, idle_{false};
  std::atomic<size_t> commands_{0}, failed_{0};
  std::thread thread_;
};

// RSS may grow by at most this much from the baseline. Chosen from long
// runs, where it moved by less than 1 MiB after the warm-up (docs/soak.md); a
// leak of 100 bytes per swap breaks it within about 8 minutes, one of 1 KiB
// within one, one of 64 KiB per plugin cycle within 16 cycles.
constexpr long kRssBoundKib = 4096;
// What a report adds to the bound in a sanitizer build, which does not hold it.
inline constexpr char kRssNotHeldInSanitizerBuilds[] =
    ", not held in a sanitizer build: ASan's quarantine keeps freed memory";

// Memory and descriptors of the soaked process, sampled at checkpoints: the
// first sample after the warm-up is the baseline, and the RSS must stay within
// kRssBoundKib of it; descriptors are compared by the caller, which knows
// which of them its state explains.
struct ProcessWatch {
  ProcessSample start, baseline, last;
  long rss_max_kib = 0;
  bool have_baseline = false;
  void add(const ProcessSample& s);
};

// Prints the lines of the summary and the verdict; returns the exit code.
int finish(const std::string& title, const std::vector<std::string>& lines, const Verdict& verdict,
           const SoakOptions& options);

// Whether a program is on PATH (for the skips).
bool on_path(const std::string& program);

}  // namespace netcpu::soak
