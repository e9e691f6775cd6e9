// When a program's timer handlers run: each one period after the first look
// at the clock that follows its load, then once a period. Every host and
// `netcpu run` schedule timers through this, by their own clock: the hosts'
// attach points by the steady clock (AttachPoint::run_due_timers), `netcpu
// run` by the timestamps of a capture.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "netcpu/vm.h"

namespace netcpu {

class TimerSchedule {
 public:
  // What a look at the clock does with the periods it missed.
  enum class Missed {
    // One run, at the time of the look: a host that ticked late (a busy
    // switch, a cable without traffic) does not burst old runs.
    RunOnce,
    // A run per missed period, each stamped with its own deadline: a
    // capture's time jumps between packets, and a replay must run every
    // period the capture spans.
    RunEach,
  };
  using Ran = std::function<void(const RunResult&)>;

  explicit TimerSchedule(Missed missed) : missed_(missed) {}

  // A program with `timers` handlers replaced the one scheduled: none of
  // its handlers is started until the next run_due().
  void restart(size_t timers) { next_due_.assign(timers, 0); }

  // Runs the handlers of `vm` (the program restart() was told about) that
  // are due at `now_ms`, in declaration order, with `meta` (its now_ms set
  // to the run's time). `ran` sees each run's result, for a host that sends
  // what a timer emitted.
  void run_due(Instance& vm, uint64_t now_ms, const PacketMeta& meta, const Ran& ran = nullptr);

 private:
  Missed missed_;
  std::vector<uint64_t> next_due_;  // by handler; 0: not started
};

}  // namespace netcpu
