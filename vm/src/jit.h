// The JIT: native x86-64 code for everything a program's .text reaches.
// The common instructions compile inline; output and rewrites call
// jit_calls.h's functions with their operands read; the rest (checksums,
// emits and the rarer operand shapes) call the interpreter's own handler
// for that one instruction and go on natively, so
// a program never behaves differently because it was compiled: same
// verdicts, same instruction counts, same faults at the same pc. The budget
// is checked where a run can loop or call; a run that would cross it is
// handed to the interpreter there, which stops it exactly where it would
// have stopped it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "netcpu/jit_abi.h"
#include "netcpu/program.h"
#include "netcpu/vm.h"

namespace netcpu {

// What the compiled code needs to know about the interpreter it stands in for.
struct JitLayout {
  int32_t regs = 0;         // byte offset of the gpr array in RunState
  int32_t field_known = 0;  // of the bitmask of header fields read this run
  int32_t field = 0;        // of the memoised header field values
  int32_t heap = 0;         // of the pointer to the heap
  size_t heap_size = 0;
  int32_t parsed = 0;   // of the bool: the headers of this run are parsed
  int32_t headers = 0;  // of the parsed Headers
  // Of the run in progress, for the parser (code that calls it sets them).
  int32_t run_pkt = 0, run_len = 0, run_capacity = 0, run_meta = 0;
  // Of what the native code and the interpreter hand to each other: the
  // compare flags, the fault, the stacks and their heights, the budget, the
  // mirror port, whether the packet changed, and the stack pointer on entry.
  int32_t cmp_a = 0, cmp_b = 0, fault = 0, stack = 0, sp = 0, csp = 0, calls = 0, budget = 0,
          mirror_port = 0, modified = 0, native_sp = 0;
  // Where the code keeps a value across a call.
  int32_t scratch = 0;
  // The instance's tables: lookups, updates and adds with numeric keys call
  // their number_lookup() and number_find_or_insert() directly.
  std::vector<Table*> tables;
  // The instance's emit and out buffer counts, which a run starts at 0.
  uint32_t* emitted_count = nullptr;
  uint32_t* out_len = nullptr;
  // The instance's Stats (code is compiled for one instance), and the
  // counters a pass or a drop adds to (byte offsets in Stats): the code
  // counts those itself, from an address it holds rather than one it loads
  // from the state, which a short program might otherwise touch for nothing.
  // A run that changed only the packet counts it as modified too
  // (modified_packets), and says so in its exit (JitExit's kModified).
  const void* stats = nullptr;
  int32_t packets = 0, instructions = 0, passed = 0, dropped = 0, modified_packets = 0;
  // Parses the headers into the state (the fields field_location() places
  // are then read inline).
  void (*parse)(void* state) = nullptr;
  // Packets start with an Ethernet header: the code parses untagged IPv4
  // with TCP, UDP or ICMP itself and calls `parse` for everything else.
  bool ethernet = false;
  // Reads any other mapped register (the memo, then the interpreter's
  // parser and header_field), given the state.
  uint64_t (*mapped)(void* state, uint32_t id) = nullptr;
  // The interpreter's entries for what the code does not do inline
  // (interpreter_state.h).
  uint64_t (*step)(void* state, uint32_t pc) = nullptr;
  uint64_t (*branch)(void* state, uint32_t pc) = nullptr;
  uint64_t (*resume)(void* state, uint32_t pc, uint64_t count) = nullptr;
  uint64_t (*operand)(void* state, uint32_t pc, uint32_t which) = nullptr;
  uint64_t (*find)(const uint8_t* pkt, uint64_t len, uint64_t start, const char* needle,
                   uint64_t size) = nullptr;
  // print and log, dump, and rewrite of a header field, with their operands
  // read by the code (jit_calls.h).
  void (*output)(void* state, const Insn* in, uint64_t a, uint64_t b) = nullptr;
  void (*dump)(void* state, uint64_t max) = nullptr;
  uint64_t (*rewrite)(void* state, uint32_t field, uint64_t value) = nullptr;
  NativeEntry run = nullptr;
};

// How a compiled run ended (JitResult, in jit_abi.h): the kind in bits 32..39 of
// its exit. Pass and Drop: the code counted the run, nothing else changed
// (but the packet, with kModified below).
// Fault: the abort reason in bits 40..47 (0: the one in the state), the pc
// in the low 32 bits. Done: the verdict in bits 40..47; the state holds
// what else the run changed (packet, mirror, emits). Ended: the interpreter
// finished the run (the state's result). A Pass or Drop with kModified in
// bits 40..47: the code counted the run, and it changed the packet (and
// nothing else: no mirror, no emits).
enum class JitExit : uint8_t { Pass = 0, Drop = 1, Fault = 2, Done = 3, Ended = 4 };
constexpr uint8_t kModified = 1;

class JitCode {
 public:
  using Entry = NativeEntry;

  // The code in pages of its own, never writable and executable at once
  // (written, then made read-and-execute), or nullptr with the reason.
  static std::unique_ptr<JitCode> install(const std::vector<uint8_t>& code, bool effects,
                                          std::string* why);
  JitCode(void* mem, size_t mapped, size_t code_bytes, bool effects);
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  Entry entry() const { return reinterpret_cast<Entry>(mem_); }
  size_t code_bytes() const { return code_bytes_; }
  // Whether a run may change more than its verdict (the packet, a mirror
  // port, emitted packets): its results other than Pass and Drop then come
  // from the state.
  bool effects() const { return effects_; }

 private:
  void* mem_;
  size_t size_;  // mapped
  size_t code_bytes_;
  bool effects_;
};

// Native code for the program's .text, or nullptr with the reason in *why.
// With `entry` another entry point (.init, a timer handler), code for runs
// without a packet: entered with a null packet of length 0, its packet
// accesses the interpreter's NoPacket faults, its verdicts not counted.
std::unique_ptr<JitCode> jit_compile(const Program& p, const JitLayout& layout, std::string* why,
                                     uint32_t entry = kNoTarget);

}  // namespace netcpu
