// What an Instance is inside the core: the program, its heap, tables,
// counters and scratch state, its native code, and the steps of a run.
// Hosts see only netcpu/vm.h's opaque Instance; the interpreter, the JIT's
// glue, the output sink and AttachPoint see this.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "netcpu/jit_abi.h"
#include "netcpu/vm.h"

namespace netcpu {

// One thread runs an instance at a time, so it is its counters' only
// writer: a relaxed load and store keep them readable from other threads
// without the cost of a locked read-modify-write on every packet.
inline void add_to_counter(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class JitCode;
struct RunState;

// Aligned so that what every compiled run touches (see the members) is one
// cache line.
class alignas(64) InstanceImpl final : public Instance {
 public:
  InstanceImpl(Program p, const HostCaps& caps, const Limits& limits, OutputSink sink);
  ~InstanceImpl() override;

  RunResult run_timer(size_t i, const PacketMeta& meta);
  Table* find_table(std::string_view name);
  Table* host_table(Table& t);
  void set_profiling(bool on);
  void set_limits(const Limits& limits);
  std::string runs_as() const;
  // A whole run from pc by the interpreter (interpreter.cpp).
  RunResult execute(uint32_t pc, uint8_t* pkt, uint32_t& len, uint32_t capacity,
                    const PacketMeta& meta);
  // AttachPoint's frame path calls native_ itself.
  using Instance::native_result;
  using Instance::plain_result;
  // The interpreter's emit counts packets here.
  using Instance::emitted_count_;
  RunResult native_outcome(JitResult j, uint32_t len, bool effects);
  RunResult run_without_packet(const JitCode* code, uint32_t pc, const PacketMeta& meta);
  RunResult run_interpreted(uint8_t* pkt, uint32_t& len, uint32_t capacity, const PacketMeta& meta);
  void account(const RunResult& r);
  // A plain pass or drop (JitResult::plain), counted as native code counts it.
  void count_plain(JitResult j) {
    add_to_counter(stats_.packets);
    add_to_counter(stats_.instructions, j.count);
    add_to_counter(j.passed() ? stats_.passed : stats_.dropped);
  }
  void close_walks();
  Verdict fault_verdict() const;  // .onfault, else the host's abort verdict
  void choose_native();

  // What every compiled run touches comes first (after Instance's direct_),
  // on as few cache lines as possible: a switch runs each frame's program
  // with cold caches.
  // jit_'s entry while packets may run it (limits_.jit on, no profiling),
  // else null; direct_ is it, or the interpreter's entry where it is null,
  // unless a run must set the tables' clock.
  NativeEntry native_ = nullptr;
  std::unique_ptr<RunState> state_;
  // The program has timed tables (lru, idle): each run sets table_clock_.
  bool timed_tables_ = false;
  Stats stats_;
  Program program_;
  HostCaps caps_;
  Limits limits_;
  OutputSink sink_;
  uint64_t hash_ = 0;
  size_t max_stack_ = 0;
  std::vector<Diagnostic> warnings_;
  std::vector<uint8_t> heap_;
  std::vector<std::unique_ptr<Table>> tables_;
  TableClock table_clock_;    // the timed tables' clock
  bool idle_tables_ = false;  // some table has an idle timeout
  // Before a run (packet, timer, .init), whatever runs it: the time the
  // program's `now` reads, for its timed tables. Two stores, and only for a
  // program that has them.
  void start_clock(const PacketMeta& meta) {
    if (timed_tables_) [[unlikely]]
      table_clock_.start_run(meta.now_ms);
  }
  std::vector<EmittedPacket> emitted_;
  std::vector<uint8_t> out_;  // the emit buffer programs build in
  uint32_t out_len_ = 0;
  bool profiling_ = false;
  std::vector<uint64_t> profile_;
  std::unique_ptr<JitCode> jit_;
  std::vector<std::unique_ptr<JitCode>> timer_jit_;  // one per timer handler (null: interpreted)
  std::string jit_status_;
  // Output rate limiting (token bucket).
  double tokens_ = 0;
  std::chrono::steady_clock::time_point last_refill_{};
  uint32_t rand_state_ = 0x2545f491u;
};

inline InstanceImpl& impl(Instance& vm) { return static_cast<InstanceImpl&>(vm); }
inline const InstanceImpl& impl(const Instance& vm) { return static_cast<const InstanceImpl&>(vm); }

}  // namespace netcpu
