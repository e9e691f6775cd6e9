// The JIT's architecture-neutral analyses of a program, for any back end:
// what .text reaches (with the functions it calls), the edges between
// instructions, where blocks start, where the budget must be checked and how
// far a run can go from there, and a forward dataflow solved to a fixpoint.
#pragma once

#include <cstdint>
#include <vector>

#include "netcpu/program.h"

namespace netcpu {

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

 private:
  const Program& p_;
  uint32_t entry_;
  std::vector<bool> reach_, leader_, checkpoint_, function_entry_;
  std::vector<uint64_t> dist_;
  bool has_calls_ = false;
};

}  // namespace netcpu
