// The JIT's architecture-neutral analyses of a program, for any back end:
// what .text reaches (with the functions it calls), the edges between
// instructions, where blocks start, where the budget must be checked and how
// far a run can go from there, and forward and backward dataflows solved to
// a fixpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "netcpu/program.h"

namespace netcpu {

// What kind of instruction: a compare-and-branch (beq ... bclr), a jump on
// the flags (je ... jae), one compiled as "a = f(a, b)" (or f(a)) on a gpr
// or a variable (mov ... bswap64).
bool is_branch(Op op);
bool is_flag_jump(Op op);
bool is_alu(Op op);

// The gprs an operand reads, as a value or as a memory base.
uint32_t regs_in(const Operand& o, bool as_value);
// The gprs an instruction may read, and those it surely writes unless the
// run stops there.
uint32_t regs_read(const Insn& in);
uint32_t regs_written(const Insn& in);

struct FlowEdge {
  enum Kind : uint8_t {
    Fall,    // to the next instruction
    Jump,    // to a jump, branch, break or case target
    Call,    // into a function
    Return,  // from a call to the instruction after it, once the function returns
  };
  uint32_t to;
  Kind kind;
  // switch: the case labels its walk counts before it arrives (each counts
  // against the budget, as in the interpreter).
  uint32_t walked = 0;
};

class Flow {
 public:
  // From `entry`: .text, .init or a timer handler.
  Flow(const Program& p, uint32_t entry);
  uint32_t entry() const { return entry_; }

  const Program& program() const { return p_; }
  size_t size() const { return p_.code.size(); }
  bool reached(uint32_t pc) const { return reach_[pc]; }
  // A block starts here: the code counts the block's instructions on entry.
  bool leader(uint32_t pc) const { return leader_[pc]; }
  // The last pc of the block starting at leader pc.
  uint32_t block_end(uint32_t pc) const;
  // The edges out of pc, into `out` (cleared first).
  void edges(uint32_t pc, std::vector<FlowEdge>& out) const;

  // Where a run may come back to (loop heads), enter a function or return
  // from one: only there can a run go on for longer than the code between
  // two such points, so only there is the budget checked.
  bool checkpoint(uint32_t pc) const { return checkpoint_[pc]; }
  // From a checkpoint (or the entry): the most instructions a run can
  // count before the next checkpoint or its end.
  uint64_t reach_from(uint32_t pc) const { return dist_[pc]; }

  // The gprs some path reads before writing them (a run starts with every
  // gpr 0: only those need zeroing). Functions and return sites are taken
  // as reached with any gpr unset.
  uint32_t regs_read_unset() const;

  bool has_calls() const { return has_calls_; }
  bool function_entry(uint32_t pc) const { return function_entry_[pc]; }

  // A forward dataflow over the reached code: `entry` holds on entry to
  // the entry point, `unknown` on entry to a function and after a call returns;
  // out(insn, value, taken) is what an edge carries (taken: a jump or case
  // edge, not the fall to the next instruction), meet joins the values of
  // several predecessors. Iterated to a fixpoint (loops have back edges).
  template <class T, class Out, class Meet>
  std::vector<T> forward(T entry, T unknown, Out out, Meet meet) const {
    const size_t n = size();
    std::vector<T> at(n, T{});
    std::vector<bool> seen(n, false);
    auto arrive = [&](uint32_t to, const T& v) {
      if (to >= n) return false;
      if (!seen[to]) return seen[to] = true, at[to] = v, true;
      const T m = meet(T(at[to]), v);
      if (m == at[to]) return false;
      return at[to] = m, true;
    };
    arrive(entry_, entry);
    for (uint32_t pc = 0; pc < n; ++pc)
      if (reach_[pc] && function_entry_[pc]) arrive(pc, unknown);
    std::vector<FlowEdge> out_edges;
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t pc = 0; pc < n; ++pc) {
        if (!reach_[pc] || !seen[pc]) continue;
        const Insn& in = p_.code[pc];
        edges(pc, out_edges);
        for (const FlowEdge& e : out_edges) {
          if (e.kind == FlowEdge::Call) continue;  // function entries hold `unknown`
          const T v =
              e.kind == FlowEdge::Return ? unknown : out(in, T(at[pc]), e.kind == FlowEdge::Jump);
          changed |= arrive(e.to, v);
        }
      }
    }
    return at;
  }

  // A backward dataflow over the reached code: what holds right after each
  // pc, on its way out. through(insn, after) is what holds before insn given
  // what holds after it; an instruction that ends the run has `exit` after
  // it; a call into a function or a return from one carries `unknown`
  // (liveness does not follow the program's functions); meet joins the
  // values of several successors; after a `ret`, `unknown`. Iterated to a
  // fixpoint from `exit`.
  template <class T, class Through, class Meet>
  std::vector<T> backward(T exit, T unknown, Through through, Meet meet) const {
    const size_t n = size();
    std::vector<T> after(n, exit);
    std::vector<FlowEdge> out_edges;
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t pc = static_cast<uint32_t>(n); pc-- > 0;) {
        if (!reach_[pc]) continue;
        edges(pc, out_edges);
        // ret goes back to where each call came from (a call's Return
        // edge, not one of its own): unknown after it, not the run's end.
        T v = p_.code[pc].op == Op::RET ? unknown : exit;
        bool first = true;
        for (const FlowEdge& e : out_edges) {
          const T w = e.kind == FlowEdge::Call || e.kind == FlowEdge::Return || e.to >= n
                          ? unknown
                          : through(p_.code[e.to], T(after[e.to]));
          v = first ? w : meet(T(v), w);
          first = false;
        }
        if (!(v == after[pc])) after[pc] = v, changed = true;
      }
    }
    return after;
  }

 private:
  const Program& p_;
  uint32_t entry_;
  std::vector<bool> reach_, leader_, checkpoint_, function_entry_;
  std::vector<uint64_t> dist_;
  bool has_calls_ = false;
};

// A loop of one block that counts a gpr up by a constant power of two while
// it stays below a bound the block does not change (`add gpr0, 1` ...
// `bltu gpr0, gpr2, loop`), and does nothing else but arithmetic: how many
// times it runs is known on entry, so a back end can check the budget and
// the bounds of the packet reads based on the counter once, for the whole
// loop, instead of in every iteration.
struct CountedLoop {
  uint32_t head = 0, end = 0;  // the block's first pc and its last, the branch back
  uint8_t counter = 0;         // the gpr counted up
  uint8_t step_log = 0;        // by 1 << step_log an iteration
  Operand bound;               // a gpr, a constant or mlen: the loop goes on while counter < bound
  // The packet reads based on the counter (counted_read): the most bytes
  // past the counter's value at the start of an iteration that one may
  // read to its end, 0 for none.
  uint32_t packet_reach = 0;
};
std::optional<CountedLoop> counted_loop(const Flow& flow, uint32_t head);
// Whether o is one of the loop's packet reads based on the counter.
bool counted_read(const CountedLoop& loop, const Operand& o);

}  // namespace netcpu
