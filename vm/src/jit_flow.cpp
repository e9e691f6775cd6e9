#include "jit_flow.h"

#include <algorithm>

#include "netcpu/isa.h"

namespace netcpu {

void Flow::edges(uint32_t pc, std::vector<FlowEdge>& out) const {
  out.clear();
  const Insn& in = p_.code[pc];
  const OpInfo& info = op_info(in.op);
  switch (in.op) {
    case Op::BREAK:
      // Out of a foreach body: past its endfor.
      out.push_back({in.target + (p_.code[in.target].op == Op::ENDFOR), FlowEdge::Jump});
      return;
    case Op::JMP:
      out.push_back({in.target, FlowEdge::Jump});
      return;
    case Op::FOREACH:  // into the body, or past endfor when the walk is empty
      out.push_back({pc + 1, FlowEdge::Fall});
      out.push_back({in.target + 1, FlowEdge::Jump});
      return;
    case Op::ENDFOR:  // back into the body, or on when the walk is done
      out.push_back({in.target + 1, FlowEdge::Jump});
      out.push_back({pc + 1, FlowEdge::Fall});
      return;
    case Op::CALL:
      out.push_back({in.target, FlowEdge::Call});
      out.push_back({pc + 1, FlowEdge::Return});
      return;
    case Op::SWITCH: {
      // The interpreter walks the case chain, counting each label it
      // passes, to the first case equal to the value; past the end, to the
      // default, or to endswitch when there is none.
      uint32_t walked = 0, dflt = kNoTarget, c = in.target;
      for (; c < p_.code.size() && p_.code[c].op != Op::ENDSWITCH; c = p_.code[c].target) {
        ++walked;
        if (p_.code[c].op == Op::DEFAULT)
          dflt = c;
        else
          out.push_back({c, FlowEdge::Jump, walked});
      }
      out.push_back({dflt != kNoTarget ? dflt : c, FlowEdge::Jump, walked});
      return;
    }
    default:
      break;
  }
  if (info.target == Target::Label) out.push_back({in.target, FlowEdge::Jump});
  if (!(info.flags & flag::kNoFallthrough)) out.push_back({pc + 1, FlowEdge::Fall});
}

Flow::Flow(const Program& p, uint32_t entry) : p_(p), entry_(entry) {
  const size_t n = p.code.size();
  reach_.assign(n, false), leader_.assign(n, false), checkpoint_.assign(n, false);
  function_entry_.assign(n, false), dist_.assign(n, 0);
  if (entry >= n) return;
  std::vector<uint32_t> todo = {entry};
  leader_[entry] = checkpoint_[entry] = true;
  std::vector<FlowEdge> out;
  while (!todo.empty()) {
    const uint32_t pc = todo.back();
    todo.pop_back();
    if (pc >= n || reach_[pc]) continue;
    reach_[pc] = true;
    edges(pc, out);
    const bool falls_only = out.size() == 1 && out[0].kind == FlowEdge::Fall;
    for (const FlowEdge& e : out) {
      if (e.to >= n) continue;
      todo.push_back(e.to);
      if (!falls_only) leader_[e.to] = true;
      // Back edges close loops; functions and return sites are entered
      // from elsewhere: the points where a run's length is not bounded by
      // the code between them.
      if (e.to <= pc || e.kind == FlowEdge::Call || e.kind == FlowEdge::Return)
        checkpoint_[e.to] = true;
      if (e.kind == FlowEdge::Call) function_entry_[e.to] = has_calls_ = true;
    }
  }
  // Longest counts to the next checkpoint, from the end backwards: every
  // edge into a non-checkpoint goes forward.
  for (uint32_t pc = static_cast<uint32_t>(n); pc-- > 0;) {
    if (!reach_[pc]) continue;
    edges(pc, out);
    uint64_t most = 0;
    for (const FlowEdge& e : out) {
      if (e.kind == FlowEdge::Call || e.to >= n) continue;
      most = std::max(most, e.walked + (checkpoint_[e.to] ? 0 : dist_[e.to]));
    }
    dist_[pc] = 1 + most;
  }
}

uint32_t Flow::block_end(uint32_t pc) const {
  for (;; ++pc) {
    const Insn& in = p_.code[pc];
    const OpInfo& info = op_info(in.op);
    if ((info.flags & (flag::kNoFallthrough | flag::kConditional)) || in.op == Op::CALL ||
        pc + 1 >= p_.code.size() || leader_[pc + 1])
      return pc;
  }
}

}  // namespace netcpu
