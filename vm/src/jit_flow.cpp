#include "jit_flow.h"

#include <algorithm>
#include <bit>

#include "netcpu/isa.h"

namespace netcpu {

bool is_branch(Op op) { return op >= Op::BEQ && op <= Op::BCLR; }
bool is_flag_jump(Op op) { return op >= Op::JE && op <= Op::JAE; }
bool is_alu(Op op) { return op >= Op::MOV && op <= Op::BSWAP64; }

static_assert(static_cast<int>(Op::BGEU) - static_cast<int>(Op::BEQ) ==
                  static_cast<int>(Op::JAE) - static_cast<int>(Op::JE) &&
              Op::BCLR > Op::BEQ && Op::JAE > Op::JE && Op::BSWAP64 > Op::MOV &&
              static_cast<int>(Op::JAE) - static_cast<int>(Op::JE) == 9 &&
              static_cast<int>(Op::BCLR) - static_cast<int>(Op::BEQ) == 11 &&
              static_cast<int>(Op::BSWAP64) - static_cast<int>(Op::MOV) == 17);

uint32_t regs_in(const Operand& o, bool as_value) {
  if (o.kind == Kind::Reg) return as_value ? 1u << o.reg : 0;
  const bool based =
      (o.kind == Kind::PktMem || o.kind == Kind::HeapMem || o.kind == Kind::OutMem) &&
      !(o.attr & attr::kNoBase);
  return based && !(o.attr & attr::kBaseMapped) ? 1u << o.reg : 0;
}

namespace {
// Whether an instruction's a is only written (not read first).
bool writes_only_a(Op op) { return op == Op::MOV || op == Op::POP || op == Op::FIND; }
}  // namespace

uint32_t regs_read(const Insn& in) {
  uint32_t r = regs_in(in.a, !writes_only_a(in.op)) | regs_in(in.b, true);
  if (in.op == Op::COPY && length_in_gpr(in.aux)) r |= 1u << in.aux;
  return r;
}
uint32_t regs_written(const Insn& in) {
  const bool writes = is_alu(in.op) || in.op == Op::POP || in.op == Op::FIND;
  return writes && in.a.kind == Kind::Reg ? 1u << in.a.reg : 0;
}

uint32_t Flow::regs_read_unset() const {
  constexpr uint32_t all = (1u << kGprCount) - 1;
  const std::vector<uint32_t> unset = forward<uint32_t>(
      all, all, [](const Insn& in, uint32_t u, bool) { return u & ~regs_written(in); },
      std::bit_or<>());
  uint32_t needed = 0;
  for (uint32_t pc = 0; pc < p_.code.size(); ++pc)
    if (reach_[pc]) needed |= regs_read(p_.code[pc]) & unset[pc];
  return needed;
}

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

bool counted_read(const CountedLoop& loop, const Operand& o) {
  return o.kind == Kind::PktMem && !(o.attr & (attr::kNoBase | attr::kBaseMapped)) &&
         !(o.attr & attr::kScaleMask) && o.reg == loop.counter;
}

std::optional<CountedLoop> counted_loop(const Flow& flow, uint32_t head) {
  const Program& p = flow.program();
  if (!flow.reached(head) || !flow.leader(head) || !flow.checkpoint(head) || head == flow.entry() ||
      flow.function_entry(head))
    return std::nullopt;
  CountedLoop loop;
  loop.head = head;
  loop.end = flow.block_end(head);
  const Insn& back = p.code[loop.end];
  if (back.target != head || loop.end + 1 >= p.code.size()) return std::nullopt;
  // bltu counter, bound, head (or bgtu bound, counter, head)
  const Operand *counter = &back.a, *bound = &back.b;
  if (back.op == Op::BGTU)
    std::swap(counter, bound);
  else if (back.op != Op::BLTU)
    return std::nullopt;
  // The bound: a gpr, a constant or mlen (arithmetic changes no packet's length).
  const bool mlen =
      bound->kind == Kind::Mapped && bound->reg == static_cast<uint8_t>(MappedReg::Mlen);
  if (counter->kind != Kind::Reg ||
      (bound->kind != Kind::Reg && bound->kind != Kind::Imm && !mlen) ||
      (bound->kind == Kind::Reg && bound->reg == counter->reg))
    return std::nullopt;
  loop.counter = counter->reg;
  loop.bound = *bound;
  const uint32_t bound_reg = bound->kind == Kind::Reg ? 1u << bound->reg : 0;
  // Arithmetic only; the counter written once, by the step; the bound never.
  constexpr int64_t kMostStep = 1 << 16;  // and no read further past the counter
  bool stepped = false;
  uint64_t reach = 0;
  for (uint32_t pc = head; pc < loop.end; ++pc) {
    const Insn& in = p.code[pc];
    if (!is_alu(in.op) || (regs_written(in) & bound_reg)) return std::nullopt;
    for (const Operand* o : {&in.a, &in.b}) {
      if (!counted_read(loop, *o)) continue;
      if (o->imm < 0 || o->imm > kMostStep) return std::nullopt;
      const uint64_t past = (stepped ? 1u << loop.step_log : 0) + static_cast<uint64_t>(o->imm) +
                            (1u << (o->attr & attr::kWidthMask));
      reach = std::max(reach, past);
    }
    if (!(regs_written(in) & (1u << loop.counter))) continue;
    if (stepped || in.op != Op::ADD || in.b.kind != Kind::Imm || in.b.imm <= 0 ||
        in.b.imm > kMostStep || !std::has_single_bit(static_cast<uint64_t>(in.b.imm)))
      return std::nullopt;
    stepped = true;
    loop.step_log = static_cast<uint8_t>(std::countr_zero(static_cast<uint64_t>(in.b.imm)));
  }
  if (!stepped) return std::nullopt;
  loop.packet_reach = static_cast<uint32_t>(reach);
  return loop;
}

}  // namespace netcpu
