// The JIT: native x86-64 code for a program's .text, run instead of the
// interpreter when the program uses only what the JIT compiles (loads and
// compares on registers, header fields, the packet and heap variables; ALU;
// branches; pass and drop) and its longest path fits in the budget. Anything
// else (tables, output, rewrites, loops, calls) stays with the interpreter,
// so a program never behaves differently because it was compiled: same
// verdicts, same instruction counts, same faults at the same pc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "netcpu/program.h"
#include "netcpu/vm.h"

namespace netcpu {

// What the compiled code needs to know about the interpreter it stands in for.
struct JitLayout {
  int32_t regs = 0;         // byte offset of the gpr array in Instance::State
  int32_t field_known = 0;  // of the bitmask of header fields read this run
  int32_t field = 0;        // of the memoised header field values
  int32_t heap = 0;         // of the pointer to the heap
  size_t heap_size = 0;
  int32_t parsed = 0;   // of the bool: the headers of this run are parsed
  int32_t headers = 0;  // of the parsed Headers
  // Of the run in progress, for the parser (code that calls it sets them).
  int32_t run_pkt = 0, run_len = 0, run_capacity = 0, run_meta = 0;
  // The instance's Stats (code is compiled for one instance), and the
  // counters a pass or a drop adds to (byte offsets in Stats): the code
  // counts those itself, from an address it holds rather than one it loads
  // from the state, which a short program might otherwise touch for nothing.
  const void* stats = nullptr;
  int32_t packets = 0, instructions = 0, passed = 0, dropped = 0;
  // Parses the headers into the state (the fields field_location() places
  // are then read inline).
  void (*parse)(void* state) = nullptr;
  // Packets start with an Ethernet header: the code parses untagged IPv4
  // with TCP, UDP or ICMP itself and calls `parse` for everything else.
  bool ethernet = false;
  // Reads any other mapped register (the memo, then the interpreter's
  // parser and header_field), given the state.
  uint64_t (*mapped)(void* state, uint32_t id) = nullptr;
};

// How a compiled run ended (JitResult, in vm.h): the kind in bits 32..39 of
// its exit; for a fault, the pc of the instruction that faulted in the low 32 bits.
enum class JitExit : uint8_t { Pass = 0, Drop = 1, Fault = 2 };

class JitCode {
 public:
  using Entry = JitResult (*)(void* state, const uint8_t* pkt, uint64_t len, uint32_t* len_ptr,
                              uint64_t capacity, const void* meta);

  JitCode(void* mem, size_t mapped, size_t code_bytes, uint32_t max_path);
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  Entry entry() const { return reinterpret_cast<Entry>(mem_); }
  // The most instructions one run can execute: a budget at least this large
  // never stops a compiled run, so the compiled code does not count against it.
  uint32_t max_path() const { return max_path_; }
  size_t code_bytes() const { return code_bytes_; }

 private:
  void* mem_;
  size_t size_;  // mapped
  size_t code_bytes_;
  uint32_t max_path_;
};

// Native code for the program's .text, or nullptr with the reason (naming the
// first instruction the JIT leaves to the interpreter) in *why.
std::unique_ptr<JitCode> jit_compile(const Program& p, const JitLayout& layout, std::string* why);

}  // namespace netcpu
