// Loading a program into a runnable Instance, and the bookkeeping around each
// run (counters, timing). The interpreter itself is in interpreter.cpp.
#include <cstdio>
#include <cstring>
#include <random>

#include "instance_impl.h"
#include "interpreter_state.h"
#include "jit.h"
#include "jit_calls.h"
#include "netcpu/bytecode.h"
#include "netcpu/verifier.h"
#include "netcpu/vm.h"

namespace netcpu {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Pass:
      return "pass";
    case Verdict::Drop:
      return "drop";
    case Verdict::Redirect:
      return "redirect";
  }
  return "?";
}

const char* abort_reason_name(AbortReason r) {
  switch (r) {
    case AbortReason::None:
      return "none";
    case AbortReason::Budget:
      return "instruction budget exhausted";
    case AbortReason::Fault:
      return "packet access out of bounds";
    case AbortReason::HeapFault:
      return "heap access out of bounds";
    case AbortReason::StackFault:
      return "stack exhausted";
    case AbortReason::NoPacket:
      return "packet access without a packet";
  }
  return "?";
}

void Stats::reset() {
  for (auto* c :
       {&packets, &passed, &dropped, &instructions, &modified, &redirected, &mirrored, &emitted,
        &aborted, &errors, &timer_runs, &output_lines, &output_suppressed, &ns_total})
    c->store(0, std::memory_order_relaxed);
}

InstanceImpl::InstanceImpl(Program p, const HostCaps& caps, const Limits& limits, OutputSink sink)
    : program_(std::move(p)), caps_(caps), limits_(limits), sink_(std::move(sink)) {}

InstanceImpl::~InstanceImpl() = default;

namespace {

// The native code adds to the counters with plain 64-bit stores, as add_to_counter() does.
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
              sizeof(std::atomic<uint64_t>) == sizeof(uint64_t));

JitLayout layout_of(const RunState& st, const Stats& stats, size_t heap_size, LinkType link,
                    std::vector<Table*> tables, uint32_t* emitted_count, uint32_t* out_len) {
  auto offset = [&](const void* member) {
    return static_cast<int32_t>(static_cast<const char*>(member) -
                                reinterpret_cast<const char*>(&st));
  };
  JitLayout layout;
  layout.regs = offset(&st.r);
  layout.field_known = offset(&st.field_known);
  layout.field = offset(&st.field);
  layout.heap = offset(&st.heap);
  layout.heap_size = heap_size;
  layout.parsed = offset(&st.parsed);
  layout.headers = offset(&st.h);
  layout.parse = interpreter_parse;
  layout.ethernet = link == LinkType::Ethernet;
  layout.run_pkt = offset(&st.pkt);
  layout.run_len = offset(&st.len);
  layout.run_capacity = offset(&st.capacity);
  layout.run_meta = offset(&st.meta);
  layout.cmp_a = offset(&st.cmp_a);
  layout.cmp_b = offset(&st.cmp_b);
  layout.fault = offset(&st.fault);
  layout.stack = offset(&st.stack);
  layout.sp = offset(&st.sp);
  layout.csp = offset(&st.csp);
  layout.calls = offset(&st.calls);
  layout.budget = offset(&st.budget);
  layout.mirror_port = offset(&st.mirror_port);
  layout.modified = offset(&st.modified);
  layout.native_sp = offset(&st.native_sp);
  layout.scratch = offset(&st.scratch);
  layout.tables = std::move(tables);
  layout.emitted_count = emitted_count;
  layout.out_len = out_len;
  layout.step = interpreter_step;
  layout.branch = interpreter_branch;
  layout.resume = interpreter_resume;
  layout.operand = interpreter_operand;
  layout.find = find_in_packet;
  layout.output = jit_output;
  layout.dump = jit_dump;
  layout.rewrite = jit_rewrite;
  layout.run = interpreter_run;
  layout.stats = &stats;
  auto counter = [&](const std::atomic<uint64_t>& c) {
    return static_cast<int32_t>(reinterpret_cast<const char*>(&c) -
                                reinterpret_cast<const char*>(&stats));
  };
  layout.packets = counter(stats.packets);
  layout.instructions = counter(stats.instructions);
  layout.passed = counter(stats.passed);
  layout.dropped = counter(stats.dropped);
  layout.modified_packets = counter(stats.modified);
  layout.mapped = interpreter_mapped;
  return layout;
}

std::string mebibytes(uint64_t bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return b;
}

// Why the host's limits refuse the program ("" when they do not): checked
// before anything is allocated.
std::string over_limits(const Program& p, const Limits& limits) {
  if (p.code.size() > limits.max_instructions)
    return "program has " + std::to_string(p.code.size()) + " instructions; this host allows " +
           std::to_string(limits.max_instructions);
  uint64_t tables = 0, largest = 0;
  const TableDecl* biggest = nullptr;
  for (const auto& d : p.tables) {
    const uint64_t b = Table::memory_bytes(d);
    tables += b;
    if (b > largest) largest = b, biggest = &d;
  }
  const uint64_t total = p.data.size() + tables;
  if (total <= limits.max_memory) return "";
  return "program needs " + mebibytes(total) + " (heap " + mebibytes(p.data.size()) + ", tables " +
         mebibytes(tables) +
         (biggest ? ", of which table '" + biggest->name + "' " + mebibytes(largest)
                  : std::string()) +
         "); this host allows " + mebibytes(limits.max_memory) + " per program";
}

}  // namespace

std::unique_ptr<Instance> Instance::create(Program program, const HostCaps& caps,
                                           const Limits& limits, OutputSink sink, Diagnostic* err) {
  auto info = verify(program, &caps, err);
  if (!info) return nullptr;
  if (std::string why = over_limits(program, limits); !why.empty()) {
    if (err) *err = Diagnostic{program.source_file, 0, 0, why};
    return nullptr;
  }
  auto vm = std::make_unique<InstanceImpl>(std::move(program), caps, limits, std::move(sink));
  // A new hash function for every load, unless the host chose one.
  const uint64_t seed = limits.table_seed
                            ? limits.table_seed
                            : (uint64_t{std::random_device{}()} << 32) | std::random_device{}() | 1;
  for (const auto& decl : vm->program_.tables) {
    std::string why;
    auto t = Table::create(decl, &why, seed);
    if (!t) {
      if (err) *err = Diagnostic{vm->program_.source_file, 0, 0, why};
      return nullptr;
    }
    if (t->timed()) {
      t->use_clock(&vm->table_clock_);
      vm->timed_tables_ = true;
    }
    if (decl.idle_ms) vm->idle_tables_ = true;
    vm->tables_.push_back(std::move(t));
  }
  vm->hash_ = program_hash(vm->program_);
  vm->max_stack_ = info->max_stack;
  vm->warnings_ = std::move(info->warnings);
  vm->heap_ = vm->program_.data;
  vm->out_.assign(caps.max_packet, 0);
  vm->emitted_.resize(caps.emit ? kMaxEmitted : 0);
  for (auto& e : vm->emitted_) e.data.assign(caps.max_packet, 0);
  std::vector<Table*> tables;
  for (auto& t : vm->tables_) tables.push_back(t.get());
  vm->state_ = std::make_unique<RunState>();
  prepare_handlers(*vm->state_, vm->program_, tables);
  vm->state_->vm = vm.get();
  vm->state_->heap = vm->heap_.data();
  const JitLayout layout = layout_of(*vm->state_, vm->stats_, vm->heap_.size(), vm->caps_.link,
                                     std::move(tables), &vm->emitted_count_, &vm->out_len_);
  vm->jit_ = jit_compile(vm->program_, layout, &vm->jit_status_);
  if (vm->jit_) vm->jit_status_ = "compiled, " + std::to_string(vm->jit_->code_bytes()) + " bytes";
  // .init and the timer handlers too, when .text compiled (each as it can).
  std::unique_ptr<JitCode> init;
  if (vm->jit_) {
    std::string why;
    if (vm->program_.init_pc != kNoTarget)
      init = jit_compile(vm->program_, layout, &why, vm->program_.init_pc);
    for (const auto& t : vm->program_.timers)
      vm->timer_jit_.push_back(jit_compile(vm->program_, layout, &why, t.pc));
  }
  vm->choose_native();
  if (vm->program_.init_pc != kNoTarget) {
    PacketMeta meta;
    meta.hook = Hook::Init;
    RunResult r = vm->run_without_packet(init.get(), vm->program_.init_pc, meta);
    if (r.aborted) {
      if (err) {
        SourcePos pos = vm->program_.pos(r.abort_pc);
        *err = Diagnostic{vm->program_.source_file, pos.line, pos.col,
                          std::string(".init stopped: ") + abort_reason_name(r.reason)};
      }
      return nullptr;
    }
  }
  return vm;
}

Verdict InstanceImpl::fault_verdict() const {
  switch (program_.on_fault) {
    case FaultAction::Pass:
      return Verdict::Pass;
    case FaultAction::Drop:
      return Verdict::Drop;
    default:
      return limits_.on_abort;
  }
}

void InstanceImpl::account(const RunResult& r) {
  add_to_counter(stats_.packets);
  add_to_counter(stats_.instructions, r.instructions);
  switch (r.verdict) {
    case Verdict::Pass:
      add_to_counter(stats_.passed);
      break;
    case Verdict::Drop:
      add_to_counter(stats_.dropped);
      break;
    case Verdict::Redirect:
      add_to_counter(stats_.redirected);
      break;
  }
  if (r.modified) add_to_counter(stats_.modified);
  if (r.mirror_port >= 0) add_to_counter(stats_.mirrored);
  if (r.emitted) add_to_counter(stats_.emitted, r.emitted);
  if (r.aborted) {
    add_to_counter(stats_.aborted);
    if (r.reason != AbortReason::Budget) add_to_counter(stats_.errors);
  }
}

// Instance::run's inline path runs native code with nothing to set up;
// the rest comes here. No packet at all (a null pointer) is the
// interpreter's NoPacket fault, not an out-of-bounds one.
RunResult Instance::run_other(uint8_t* pkt, uint32_t& len, uint32_t capacity,
                              const PacketMeta& meta) {
  InstanceImpl& vm = impl(*this);
  vm.start_clock(meta);
  if (!vm.native_ || !pkt) return vm.run_interpreted(pkt, len, capacity, meta);
  const JitResult j = vm.native_(direct_state_, pkt, len, &len, capacity, &meta);
  return native_result(j, len);
}

// A native run that faulted, changed more than its verdict, or that the
// interpreter finished: counted here, by account(), with what the state
// says it changed (nothing, for code that cannot change anything).
RunResult Instance::after_native(JitResult j, uint32_t len) {
  InstanceImpl& vm = impl(*this);
  static_assert(static_cast<int>(JitExit::Pass) == 0 && static_cast<int>(JitExit::Drop) == 1 &&
                kModified == 1);  // (JitResult::counted)
  RunResult r = vm.native_outcome(j, len, !vm.native_ || vm.jit_->effects());
  vm.account(r);
  return r;
}

RunResult InstanceImpl::native_outcome(JitResult j, uint32_t len, bool effects) {
  const RunState& st = *state_;
  if (st.walks) close_walks();
  const auto kind = static_cast<JitExit>(static_cast<uint8_t>(j.exit >> 32));
  const auto detail = static_cast<uint8_t>(j.exit >> 40);
  if (!effects) emitted_count_ = 0;
  RunResult r;
  if (kind == JitExit::Ended) {
    r = st.result;
  } else {
    r.modified = st.modified;
    r.mirror_port = st.mirror_port;
    r.emitted = static_cast<uint8_t>(emitted_count_);
    if (kind == JitExit::Fault) {
      r.aborted = true;
      r.reason = detail ? static_cast<AbortReason>(detail) : st.fault;
      r.abort_pc = static_cast<uint32_t>(j.exit);
      r.verdict = fault_verdict();
    } else {
      r.verdict = static_cast<Verdict>(detail);
    }
  }
  if (!effects) r.modified = false, r.mirror_port = -1, r.emitted = 0;
  r.instructions = static_cast<uint32_t>(j.count);
  r.length = len;
  return r;
}

// .init and timer handlers: their native code where packets run native
// code (the same switches), else the interpreter. Nothing is counted here.
RunResult InstanceImpl::run_without_packet(const JitCode* code, uint32_t pc,
                                           const PacketMeta& meta) {
  uint32_t len = 0;
  start_clock(meta);
  if (!code || !native_) return execute(pc, nullptr, len, 0, meta);
  const JitResult j = code->entry()(state_.get(), nullptr, 0, &len, 0, &meta);
  return native_outcome(j, len, true);
}

RunResult Instance::run_timer(size_t i, const PacketMeta& meta) {
  return impl(*this).run_timer(i, meta);
}

RunResult InstanceImpl::run_timer(size_t i, const PacketMeta& meta) {
  PacketMeta m = meta;
  m.hook = Hook::Timer;
  const JitCode* code = i < timer_jit_.size() ? timer_jit_[i].get() : nullptr;
  RunResult r = run_without_packet(code, program_.timers.at(i).pc, m);
  stats_.timer_runs.fetch_add(1, std::memory_order_relaxed);
  if (r.emitted) stats_.emitted.fetch_add(r.emitted, std::memory_order_relaxed);
  if (r.aborted) {
    stats_.aborted.fetch_add(1, std::memory_order_relaxed);
    if (r.reason != AbortReason::Budget) stats_.errors.fetch_add(1, std::memory_order_relaxed);
  }
  return r;
}

Table* InstanceImpl::find_table(std::string_view name) {
  for (auto& t : tables_)
    if (t->decl().name == name) return host_table(*t);
  return nullptr;
}

// A host reaches a table between runs: its timed tables read the host's
// clock from here to the next run (TableClock::host_access).
Table* InstanceImpl::host_table(Table& t) {
  if (timed_tables_) table_clock_.host_access();
  return &t;
}

// At most this many removals per table per call: a host ticks between two
// packets, so a tick that found a million expired entries would stop its
// packets for tens of milliseconds. Each removal is a backward shift over a
// short cluster (tens of ns), so 4096 cost a tick some 0.1 ms per table; the
// rest go at the next ticks, and until then readers skip them and a full
// table replaces its oldest expired entry on insertion.
constexpr uint32_t kMaxExpiredPerTick = 4096;

uint32_t Instance::expire_tables(uint64_t now_ms) {
  InstanceImpl& vm = impl(*this);
  if (!vm.idle_tables_) return 0;
  vm.table_clock_.tick_ms = now_ms;
  uint32_t removed = 0;
  for (auto& t : vm.tables_)
    if (t->decl().idle_ms) removed += t->expire(now_ms, kMaxExpiredPerTick);
  return removed;
}

bool Instance::has_idle_tables() const { return impl(*this).idle_tables_; }

void InstanceImpl::set_profiling(bool on) {
  profiling_ = on;
  if (on && profile_.size() != program_.code.size()) profile_.assign(program_.code.size(), 0);
  choose_native();
}

void InstanceImpl::set_limits(const Limits& limits) {
  limits_ = limits;
  choose_native();
}

static_assert(static_cast<int>(JitExit::Pass) == static_cast<int>(Verdict::Pass) &&
              static_cast<int>(JitExit::Drop) == static_cast<int>(Verdict::Drop));

std::string InstanceImpl::runs_as() const {
  if (native_) return "native code (" + jit_status_ + ")";
  const std::string loop = direct_ == interpreter_filter_run ? ", in its filter loop" : "";
  if (!jit_) return "interpreter (" + jit_status_ + ")" + loop;
  if (!limits_.jit) return "interpreter (native code turned off)" + loop;
  return "interpreter (profiling is on)";
}

void InstanceImpl::choose_native() {
  state_->budget = limits_.budget;
  const bool usable = jit_ && limits_.jit && !profiling_;
  native_ = usable ? jit_->entry() : nullptr;
  // Packets without native code run in the interpreter through the same
  // entry, a filter in its own loop (never while profiling, which counts
  // each instruction).
  const NativeEntry interpreted =
      state_->filter_program && !profiling_ ? interpreter_filter_run : interpreter_run;
  direct_ = timed_tables_ ? nullptr : native_ ? native_ : interpreted;
  direct_state_ = state_.get();
}

// The opaque Instance's members, each the implementation's.
const Program& Instance::program() const { return impl(*this).program_; }
const HostCaps& Instance::caps() const { return impl(*this).caps_; }
Stats& Instance::stats() { return impl(*this).stats_; }
const Stats& Instance::stats() const { return impl(*this).stats_; }
const Limits& Instance::limits() const { return impl(*this).limits_; }
void Instance::set_limits(const Limits& limits) { impl(*this).set_limits(limits); }
uint64_t Instance::hash() const { return impl(*this).hash_; }
size_t Instance::max_stack() const { return impl(*this).max_stack_; }
const std::vector<Diagnostic>& Instance::warnings() const { return impl(*this).warnings_; }
std::span<const EmittedPacket> Instance::emitted() const {
  const InstanceImpl& vm = impl(*this);
  return {vm.emitted_.data(), vm.emitted_count_};
}
size_t Instance::table_count() const { return impl(*this).tables_.size(); }
Table& Instance::table(size_t i) {
  InstanceImpl& vm = impl(*this);
  return *vm.host_table(*vm.tables_[i]);
}
Table* Instance::find_table(std::string_view name) { return impl(*this).find_table(name); }
std::span<uint8_t> Instance::heap() { return impl(*this).heap_; }
void Instance::set_profiling(bool on) { impl(*this).set_profiling(on); }
bool Instance::profiling() const { return impl(*this).profiling_; }
std::span<const uint64_t> Instance::profile() const { return impl(*this).profile_; }
void Instance::set_output(OutputSink sink) { impl(*this).sink_ = std::move(sink); }
bool Instance::jit_compiled() const { return impl(*this).jit_ != nullptr; }
const std::string& Instance::jit_status() const { return impl(*this).jit_status_; }
std::string Instance::runs_as() const { return impl(*this).runs_as(); }

}  // namespace netcpu
