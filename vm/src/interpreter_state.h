// Per-instance scratch space the interpreter reuses for every run, so that a
// run allocates nothing.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "netcpu/jit_abi.h"
#include "netcpu/packet_view.h"
#include "netcpu/table.h"
#include "netcpu/vm.h"

namespace netcpu {

class InstanceImpl;

static_assert(kMappedCount <= 64, "field_known has one bit per mapped register");
static_assert(kGprCount <= 16, "RunState::gprs_used has one bit per gpr");

// One instruction as the interpreter dispatches it, decoded at load: its
// handler (chosen for the instruction's opcode and operand kinds) and what
// that handler reads, so that the common forms decode nothing per run.
struct DecodedInsn {
  const void* handler = nullptr;  // the handler's label (filled by the first run)
  union {
    // Its label in the filter loop, where the program is a filter (is_filter_form).
    const void* filter_handler = nullptr;
    // A table op's table, in the forms that name it (table_form): no filter
    // form touches a table, so a program with one never runs in the filter loop.
    Table* table;
  };
  uint64_t imm = 0;  // operand b's immediate, displacement or offset
  uint32_t target = kNoTarget;
  uint8_t a = 0, b = 0;  // operand a's and b's register (gpr, mapped id or memory base)
  uint16_t id = 0;       // which handler
};

struct alignas(64) RunState {
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
  InstanceImpl* vm = nullptr;
  uint8_t* heap = nullptr;  // the instance's heap, for the JIT's code
  uint64_t r[kGprCount] = {};
  uint64_t cmp_a = 0, cmp_b = 0;  // operands of the last compare
  // The instruction budget in force (Limits::budget), for the native code's
  // checks; the stacks' heights and the mirror port of the run in progress,
  // which the native code and the interpreter hand to each other.
  uint64_t budget = 0;
  uint32_t sp = 0, csp = 0;
  uint32_t walks = 0;  // foreach walks open (InstanceImpl::close_walks)
  int32_t mirror_port = -1;
  // The native code's stack pointer on entry, to leave nested native frames
  // from when it hands a run over to the interpreter.
  uint64_t native_sp = 0;
  uint64_t scratch[2] = {};  // the native code's, across a call
  // How a run the interpreter finished for the native code ended
  // (interpreter_step, interpreter_resume).
  RunResult result;
  uint64_t field[kMappedCount] = {};
  uint64_t stack[kStackSlots] = {};
  uint32_t calls[kMaxCallDepth] = {};
  std::vector<DecodedInsn> decoded;  // per instruction, chosen at load
  bool handlers_ready = false;       // decoded[].handler filled
  // Every instruction of the program is a filter form, so that packets may
  // run in the filter loop (interpreter_filter_run); filter_handler filled.
  bool filter_program = false;
  bool filter_handlers_ready = false;
  // The gprs the program names: the only ones a run must clear, since no
  // run ever writes the others.
  uint16_t gprs_used = 0;
  // Of those, the ones the filter loop clears: the ones a path from .text
  // may read before writing (Flow::regs_read_unset; any other is written
  // before it is read).
  uint16_t filter_gprs_to_clear = 0;
};

// Chooses each instruction's handler; tables: the instance's, the
// program's declarations made (a table op's form depends on how its table
// probes a key).
void prepare_handlers(RunState& st, const Program& p, std::span<Table* const> tables);

// The interpreter's lazy header parser, for the JIT's code to call with the
// State of the run in progress: parse the headers (st.h, st.parsed), or read
// one mapped register through the memo.
void interpreter_parse(void* state);
uint64_t interpreter_mapped(void* state, uint32_t id);

// For the JIT's code, on the run in progress, with the gprs, flags and
// stacks in the state. interpreter_step runs the one instruction at pc with
// the interpreter's own handler: 0 when the run goes on at the next
// instruction, else the run ended there (st.result). interpreter_resume
// runs the rest of the run from pc, count instructions in, to its end
// (st.result) and returns its instruction count. interpreter_operand reads
// operand a (which 0) or b of the instruction at pc; a fault sets st.fault.
uint64_t interpreter_step(void* state, uint32_t pc);
// The same for an instruction that may jump: the pc the run goes on at, or
// kNoTarget when it ended there (st.result).
uint64_t interpreter_branch(void* state, uint32_t pc);
// `find`: the offset of the needle in pkt at or after start, or ~0.
uint64_t find_in_packet(const uint8_t* pkt, uint64_t len, uint64_t start, const char* needle,
                        uint64_t size);
uint64_t interpreter_resume(void* state, uint32_t pc, uint64_t count);
uint64_t interpreter_operand(void* state, uint32_t pc, uint32_t which);
// The whole run from .text, with native code's entry's own signature: for
// the native code to hand over when the budget is below its longest path,
// and for packets where no native code runs. A plain pass or drop is
// counted, as the native code counts it.
JitResult interpreter_run(void* state, uint8_t* pkt, uint64_t len, uint32_t* len_ptr,
                          uint64_t capacity, const void* meta);
// The same for a program whose instructions are all filter forms
// (RunState::filter_program), in a loop that needs nothing reset or saved.
JitResult interpreter_filter_run(void* state, uint8_t* pkt, uint64_t len, uint32_t* len_ptr,
                                 uint64_t capacity, const void* meta);

}  // namespace netcpu
