#include "netcpu/timer_schedule.h"

namespace netcpu {

void TimerSchedule::run_due(Instance& vm, uint64_t now_ms, const PacketMeta& meta, const Ran& ran) {
  const auto& timers = vm.program().timers;
  for (size_t i = 0; i < timers.size(); ++i) {
    const uint64_t period = timers[i].period_ms;
    uint64_t& due = next_due_[i];
    if (!due) due = now_ms + period;
    auto run_at = [&](uint64_t t) {
      PacketMeta m = meta;
      m.now_ms = t;
      const RunResult r = vm.run_timer(i, m);
      if (ran) ran(r);
    };
    if (missed_ == Missed::RunEach) {
      for (; due <= now_ms; due += period) run_at(due);
    } else if (due <= now_ms) {
      run_at(now_ms);
      while (due <= now_ms) due += period;
    }
  }
}

}  // namespace netcpu
