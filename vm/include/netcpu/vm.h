// A loaded program: verified code plus its state (heap, tables, counters),
// run by the interpreter on packets and timer ticks. This is the core API the
// hosts (vde_switch plugin, lwIPv6 glue, netcpu CLI) adapt to.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "netcpu/diagnostic.h"
#include "netcpu/jit_abi.h"
#include "netcpu/packet_view.h"
#include "netcpu/program.h"
#include "netcpu/table.h"

namespace netcpu {

// What a host can do with a program's verdicts. A program that needs more is
// refused at load with a message naming the instruction.
struct HostCaps {
  LinkType link = LinkType::Ethernet;
  bool redirect = true;
  bool mirror = true;
  bool emit = true;
  bool resize = true;
  uint32_t max_packet = 1518;  // largest packet a rewrite may produce
  std::string host_name = "this host";
};

enum class Verdict : uint8_t { Pass = 0, Drop = 1, Redirect = 2 };
const char* verdict_name(Verdict v);

enum class AbortReason : uint8_t {
  None = 0,
  Budget,      // the instruction budget ran out
  Fault,       // packet or out buffer access outside its length
  HeapFault,   // heap access outside the heap
  StackFault,  // data stack or call stack exhausted (runtime backstop)
  NoPacket,    // packet instruction in a timer or .init
};
const char* abort_reason_name(AbortReason r);

struct PacketMeta {
  uint32_t port = 0;
  uint8_t dir = 0;  // 0 in, 1 out
  Hook hook = Hook::Test;
  uint64_t now_ms = 0;  // 0: the interpreter reads the steady clock
  // The packet's length on the wire (`wlen`) when it differs from the bytes
  // given, as in a capture cut short by its snaplen (the pcap header's len);
  // 0: the packet is whole and wlen is its length, mlen. Switch, cable and
  // lwIPv6 hosts always see whole packets and leave it 0.
  uint32_t wire_len = 0;
};

struct RunResult {
  Verdict verdict = Verdict::Pass;
  bool modified = false;  // packet bytes or length changed
  bool aborted = false;
  AbortReason reason = AbortReason::None;
  uint32_t length = 0;         // packet length after the run
  int32_t redirect_port = -1;  // Verdict::Redirect
  int32_t mirror_port = -1;    // a copy goes there too (-1: none)
  uint8_t emitted = 0;         // packets in Instance::emitted()
  uint32_t instructions = 0;
  uint32_t abort_pc = 0;
};

// Counters, readable from other threads while packets run. The thread that
// runs the program is their only writer; a reset from another thread may race
// with a packet being counted.
struct Stats {
  // Every run adds to the first four: they share a cache line.
  std::atomic<uint64_t> packets{0}, passed{0}, dropped{0}, instructions{0}, modified{0},
      redirected{0}, mirrored{0}, emitted{0}, aborted{0}, errors{0}, timer_runs{0}, output_lines{0},
      output_suppressed{0}, ns_total{0};
  void reset();
  // For a host, on the thread that runs the program: a send it could not
  // make, a packet it could not hand over. A plain add, no locked
  // read-modify-write, as that thread is the only writer.
  void count_error() {
    errors.store(errors.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

enum class OutputKind : uint8_t { Print, Log, Dump };
using OutputSink = std::function<void(OutputKind, std::string_view line)>;

struct EmittedPacket {
  int32_t port = -1;  // -1: back where the packet came from
  uint32_t length = 0;
  std::span<const uint8_t> bytes() const { return {data.data(), length}; }
  std::vector<uint8_t> data;  // capacity max_packet, allocated at load
};

struct Limits {
  uint64_t budget = 100000;  // instructions per packet or timer run
  Verdict on_abort = Verdict::Pass;
  uint32_t output_burst = 200;       // lines that may be printed at once
  uint32_t output_per_second = 100;  // sustained lines per second
  bool jit = true;  // run the native code when the program was compiled (jit_status())
  // What one program may make its host hold, checked at load: its heap and
  // the tables it preallocates, in bytes, and its length in instructions.
  // The verifier's own bounds allow 64 tables of 2^20 entries: gigabytes.
  uint64_t max_memory = uint64_t{256} << 20;
  uint32_t max_instructions = kMaxCode;
  // The hash function of the program's hash and LPM tables: 0, a new random
  // one for every load (keys picked to collide in one load spread out in the
  // next); another value, that one (two loads compared slot by slot).
  uint64_t table_seed = 0;
};

constexpr uint32_t kMaxEmitted = 8;  // emit instructions per run

// A loaded program and its state. Opaque: hosts see what they may do with
// it; its state, the JIT's calling convention and the interpreter's scratch
// space are the core's own (vm/src/instance_impl.h).
class Instance {
 public:
  // Verifies the program against the host and runs its .init section. Returns
  // nullptr with *err filled (file:line:col and reason) on rejection.
  static std::unique_ptr<Instance> create(Program program, const HostCaps& caps,
                                          const Limits& limits, OutputSink sink, Diagnostic* err);
  virtual ~Instance() = default;
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  // Runs the program on pkt[0..len), which it may rewrite in place and
  // resize up to min(capacity, max_packet). len is updated. No allocation.
  // Inline: where the run ends in a plain pass or drop, counted by the
  // native code or the interpreter's entry that stands in for it, the whole
  // run is that call and this RunResult; everything else goes out of line.
  RunResult run(uint8_t* pkt, uint32_t& len, uint32_t capacity, const PacketMeta& meta) {
    if (!direct_ || !pkt) [[unlikely]]
      return run_other(pkt, len, capacity, meta);
    const JitResult j = direct_(direct_state_, pkt, len, &len, capacity, &meta);
    return native_result(j, len);  // the length after the run, which may have resized the packet
  }
  // Runs timer handler i (no packet).
  RunResult run_timer(size_t i, const PacketMeta& meta);

  const Program& program() const;
  const HostCaps& caps() const;
  Stats& stats();
  const Stats& stats() const;
  const Limits& limits() const;
  void set_limits(const Limits& limits);
  uint64_t hash() const;  // of the bytecode: names a program version
  size_t max_stack() const;
  // The verifier's warnings (file:line:col: warning: ...): the program
  // loaded, but a host shows these to whoever loaded it.
  const std::vector<Diagnostic>& warnings() const;

  std::span<const EmittedPacket> emitted() const;

  // A host's way to the program's tables, between runs: from here to the
  // next run, tables that age their entries (lru, idle) read the host's
  // clock (TableClock::host_access).
  size_t table_count() const;
  Table& table(size_t i);
  Table* find_table(std::string_view name);

  // Removes entries of the tables with an idle timeout that have been idle
  // for it at now_ms (the clock the host gives its runs and timers), the
  // oldest first and a bounded number per table and call, so a call never
  // holds packets up for long (what is left goes at the next call).
  // Returns how many it removed. AttachPoint calls it on each host tick.
  uint32_t expire_tables(uint64_t now_ms);
  bool has_idle_tables() const;

  std::span<uint8_t> heap();

  // Per-instruction hit counts, kept while profiling is on.
  void set_profiling(bool on);
  bool profiling() const;
  std::span<const uint64_t> profile() const;

  void set_output(OutputSink sink);

  // Whether .text was compiled to native code, and if not, why (no JIT for
  // this CPU, or the code could not be installed). Packets, timers and
  // .init run the native code while limits().jit is on and profiling is
  // off; otherwise the interpreter, with the same results. A budget too
  // small for a run hands it from the native code to the interpreter where
  // it could run out, which stops it where the interpreter alone would.
  bool jit_compiled() const;
  const std::string& jit_status() const;
  // What packets run now, and why: "native code (compiled, N bytes)" or
  // "interpreter (...)" with what keeps the native code from running, and
  // ", in its filter loop" for a program made of classic BPF's operations
  // only (the interpreter's quicker loop for such programs).
  std::string runs_as() const;

 protected:
  Instance() = default;  // the core's InstanceImpl is the only kind

  // The RunResult of a native run, len the packet's length after it: a
  // pass or drop the code counted (a packet rewritten in place, say) built
  // here, the rest out of line.
  RunResult native_result(JitResult j, uint32_t len) {
    if (!j.counted()) [[unlikely]]
      return after_native(j, len);
    emitted_count_ = 0;  // a timer handler may have emitted; this run did not
    RunResult r = plain_result(j, len);
    r.modified = j.modified();
    return r;
  }
  static RunResult plain_result(JitResult j, uint32_t len) {
    RunResult r;
    r.verdict = static_cast<Verdict>(j.exit >> 32 & 1);  // JitExit's Pass and Drop are Verdict's
    r.length = len;
    r.instructions = static_cast<uint32_t>(j.count);
    return r;
  }

  // What run()'s inline path reads, on the instance's first cache line: the
  // entry packets may call with nothing set up first (the native code, else
  // the interpreter's, with the same convention), null where a run must set
  // the timed tables' clock first; its scratch state; how many packets the
  // last run emitted.
  NativeEntry direct_ = nullptr;
  void* direct_state_ = nullptr;
  uint32_t emitted_count_ = 0;

 private:
  // The rest of run(), out of line: the interpreter, a clock for timed
  // tables first, and native runs that end other than in a plain pass or drop.
  RunResult run_other(uint8_t* pkt, uint32_t& len, uint32_t capacity, const PacketMeta& meta);
  RunResult after_native(JitResult j, uint32_t len);
};

}  // namespace netcpu
