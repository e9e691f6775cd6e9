// The attach point's own work: installing programs, timing a sample of
// runs, handing frames to its capture, running its timers.
#include "netcpu/attach_point.h"

#include <bit>

#include "instance_impl.h"
#include "netcpu/clock.h"

namespace netcpu {

std::unique_ptr<Instance> AttachPoint::replace(std::unique_ptr<Instance> p) {
  sample_ = 0;
  sampled_ns_ = sampled_runs_ = 0;
  reset_bytes();
  if (!p) origin_.clear(), loaded_at_ = {};
  timer_schedule_.restart(p ? p->program().timers.size() : 0);
  ticked_ = p && (!p->program().timers.empty() || p->has_idle_tables());
  std::swap(program_, p);
  return p;
}

static_assert(std::has_single_bit(AttachPoint::kSampleEvery));

template <typename Run>
auto AttachPoint::timed(Run run) {
  const uint64_t t0 = steady_ns();
  auto r = run();
  sampled_ns_ += steady_ns() - t0;
  ++sampled_runs_;
  return r;
}

RunResult AttachPoint::timed_run(uint8_t* pkt, uint32_t& len, uint32_t capacity,
                                 const PacketMeta& meta) {
  return timed([&] { return program_->run(pkt, len, capacity, meta); });
}

[[gnu::hot]] const RunResult* AttachPoint::run_filter(uint8_t* pkt, uint32_t& len,
                                                      uint32_t capacity, const PacketMeta& meta) {
  InstanceImpl& vm = impl(*program_);
  if (vm.native_ && pkt) [[likely]] {
    vm.start_clock(meta);
    // A sampled run times the native code alone, as an unsampled one runs it.
    auto native = [&] { return vm.native_(vm.state_.get(), pkt, len, &len, capacity, &meta); };
    const JitResult j = sample_due() ? timed(native) : native();
    if (j.passed()) [[likely]] {
      ran(Verdict::Pass, pkt, len);
      return nullptr;
    }
    acted_ = vm.native_result(j, len);
  } else {
    acted_ = sample_due() ? timed_run(pkt, len, capacity, meta)
                          : program_->run(pkt, len, capacity, meta);
  }
  ran(acted_.verdict, pkt, len);
  const bool plain = acted_.verdict == Verdict::Pass && !acted_.modified &&
                     acted_.mirror_port < 0 && !acted_.emitted;
  return plain ? nullptr : &acted_;
}

void AttachPoint::capture_frame(Verdict v, const uint8_t* pkt, uint32_t len) {
  Capture& c = *capture_;
  if (!(c.verdicts >> static_cast<unsigned>(v) & 1u)) return;
  if (c.sink->file_bytes() + c.sink->record_bytes(len) > c.max_bytes)
    return end_capture(
        "done: the next frame would take the file past " + std::to_string(c.max_bytes) + " bytes",
        false);
  if (!c.sink->write(pkt, len)) return end_capture("write error: " + c.sink->error(), true);
  if (++c.frames == c.max_frames)
    end_capture("done: " + std::to_string(c.max_frames) + " frames captured", false);
}

// Closing flushes: a write error there is the capture's too.
void AttachPoint::end_capture(std::string why, bool failed) {
  Capture& c = *capture_;
  capture_ = nullptr;
  if (!c.sink->close() && !failed) {
    why = "write error: " + c.sink->error();
    failed = true;
  }
  c.file_bytes = c.sink->file_bytes();
  c.sink.reset();
  c.stopped = std::move(why);
  c.failed = failed;
}

void AttachPoint::start_capture(std::unique_ptr<Capture> c) {
  if (capture_) end_capture("stopped: another capture replaced it", false);
  capture_state_ = std::move(c);
  capture_ = capture_state_.get();
}

std::unique_ptr<Capture> AttachPoint::stop_capture(const std::string& why) {
  if (capture_) end_capture(why, false);
  return std::move(capture_state_);
}

void AttachPoint::flush_capture() {
  if (capture_ && !capture_->sink->flush())
    end_capture("write error: " + capture_->sink->error(), true);
}

double AttachPoint::average_ns() const {
  return sampled_runs_ ? static_cast<double>(sampled_ns_) / static_cast<double>(sampled_runs_)
                       : 0.0;
}

void AttachPoint::run_due_timers(uint64_t now_ms, const PacketMeta& meta,
                                 const TimerSchedule::Ran& ran) {
  if (!program_) return;
  // Idle entries go first: timer handlers walking a table see live ones.
  program_->expire_tables(now_ms);
  timer_schedule_.run_due(*program_, now_ms, meta, ran);
}

}  // namespace netcpu
