// Per-instance scratch space the interpreter reuses for every run, so that a
// run allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "netcpu/packet_view.h"
#include "netcpu/vm.h"

namespace netcpu {

static_assert(kMappedCount <= 64, "field_known has one bit per mapped register");

struct alignas(64) Instance::State {
  // What a compiled run touches first, together (a switch runs each frame's
  // program with cold caches): the run, the parsed headers, the pointers.
  Headers h;
  bool parsed = false;
  bool modified = false;
  AbortReason fault = AbortReason::None;
  // Header fields already read in this run (bit per MappedReg): most
  // programs test the same few fields over and over.
  uint64_t field_known = 0;
  // The run in progress, for the parser the JIT's code calls (interpreter_mapped).
  uint8_t* pkt = nullptr;
  uint32_t* len = nullptr;
  const PacketMeta* meta = nullptr;
  uint32_t capacity = 0;
  Instance* vm = nullptr;
  uint8_t* heap = nullptr;  // the instance's heap, for the JIT's code
  uint64_t r[kGprCount] = {};
  uint64_t cmp_a = 0, cmp_b = 0;  // operands of the last compare
  uint64_t field[kMappedCount] = {};
  uint64_t stack[kStackSlots] = {};
  uint32_t calls[kMaxCallDepth] = {};
  std::vector<uint16_t> hid;  // handler per instruction, chosen at load
};

void prepare_handlers(Instance::State& st, const Program& p);

// The interpreter's lazy header parser, for the JIT's code to call with the
// State of the run in progress: parse the headers (st.h, st.parsed), or read
// one mapped register through the memo.
void interpreter_parse(void* state);
uint64_t interpreter_mapped(void* state, uint32_t id);

}  // namespace netcpu
