// A place a program runs (a switch port and direction, a stack hook): its
// program, the hot path that runs it with cost sampling, byte counters and
// capture, and its timers. Hosts own their attach points; Control's console
// commands act on them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "netcpu/capture.h"
#include "netcpu/timer_schedule.h"
#include "netcpu/vm.h"

namespace netcpu {

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
  // run() for a frame path that acts only on what is not a plain pass:
  // nullptr when the program passed the frame as it came (no rewrite, copy
  // or emit to act on), else the run's result, valid until the next run.
  // The same sampling and capture. A compiled program's plain pass costs no
  // RunResult: its native code counted it.
  const RunResult* run_filter(uint8_t* pkt, uint32_t& len, uint32_t capacity,
                              const PacketMeta& meta);
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
  // the host at load (Control::load does; netcpu/rollback puts back the
  // time a program it restores was loaded at).
  void set_origin(std::string from,
                  std::chrono::system_clock::time_point when = std::chrono::system_clock::now()) {
    origin_ = std::move(from);
    loaded_at_ = when;
  }
  const std::string& origin() const { return origin_; }
  std::chrono::system_clock::time_point loaded_at() const { return loaded_at_; }
  static constexpr uint64_t kMinTimedRuns = 10;
  static constexpr uint32_t kSampleEvery = 64;

  // Timers of the program, due by the host clock in milliseconds
  // (steady_ms()); a late host runs each due timer once (TimerSchedule).
  // `ran` sees each run's result, for a host that sends what a timer emitted.
  // First, the entries of tables with an idle timeout that expired by then
  // go (Instance::expire_tables).
  void run_due_timers(uint64_t now_ms, const PacketMeta& meta,
                      const TimerSchedule::Ran& ran = nullptr);
  // Whether the program in place needs the host's ticks (run_due_timers):
  // it has timer handlers or tables with an idle timeout. A host ticks only then.
  bool has_timers() const { return ticked_; }

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
  bool ticked_ = false;  // has_timers(), worked out by replace()
  std::unique_ptr<Capture> capture_state_;
  RunResult acted_;  // run_filter()'s last result that was not a plain pass
};

}  // namespace netcpu
