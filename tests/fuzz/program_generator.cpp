#include "program_generator.h"

#include <algorithm>
#include <array>
#include <random>
#include <string>

#include "netcpu/checksum.h"
#include "netcpu/vm.h"

namespace netcpu::fuzz {
namespace {

constexpr uint32_t kHeapSize = 256;
constexpr int kMaxFunctions = 3;

bool has(const OpInfo& info, uint16_t f) { return (info.flags & f) != 0; }

Insn make(Op op, Operand a = {}) {
  Insn in;
  in.op = op;
  in.a = a;
  return in;
}

// Instructions that need a structure around them (a case chain, a matching
// pop, a function to call or to return from) rather than standing alone.
bool structural(Op op) {
  const OpInfo& info = op_info(op);
  return info.target == Target::CaseLink || info.target == Target::Break ||
         info.target == Target::Loop || info.target == Target::Function || op == Op::ENDSWITCH ||
         op == Op::RET || op == Op::PUSH || op == Op::POP;
}

// Ends a region that is not a function: stops the run, needs no structure.
bool terminator(Op op) {
  const OpInfo& info = op_info(op);
  return has(info, flag::kNoFallthrough) && info.target == Target::None && op != Op::RET;
}

// Stands inside a switch body or between push and pop: falls through, no target pc.
bool straight(Op op) {
  const OpInfo& info = op_info(op);
  return !structural(op) && !has(info, flag::kNoFallthrough) && info.target != Target::Label;
}

class Generator {
 public:
  Generator(FuzzedDataProvider& in, const GeneratorOptions& o) : in_(in), opt_(o) {
    for (size_t i = 0; i < kOpCount; ++i) {
      const Op op = static_cast<Op>(i);
      if (structural(op)) continue;
      if (opt_.jit_shapes && !std::count(jit_compiled_ops().begin(), jit_compiled_ops().end(), op))
        continue;
      pool_.push_back(op);
      if (straight(op)) straight_pool_.push_back(op);
      if (terminator(op)) terminators_.push_back(op);
    }
    if (terminators_.empty()) terminators_.push_back(Op::END);
    if (straight_pool_.empty()) straight_pool_.push_back(Op::NOP);
  }

  Program generate() {
    declare();
    const int functions = opt_.jit_shapes ? 0 : in_.ConsumeIntegralInRange(0, kMaxFunctions);
    region(-1, 1 + in_.ConsumeIntegralInRange(0, opt_.jit_shapes ? 40 : 24), functions);
    const uint32_t first_function = pc();
    for (int f = 0; f < functions; ++f) {
      p_.symbols.push_back({"f" + std::to_string(f), SymbolKind::Func, pc(), 0});
      region(f, in_.ConsumeIntegralInRange(0, 8), functions);
    }
    if (!opt_.jit_shapes && in_.ConsumeBool()) {
      p_.init_pc = pc();
      region(-1, in_.ConsumeIntegralInRange(0, 6), functions);
    }
    if (!opt_.jit_shapes && in_.ConsumeBool()) {
      p_.timers.push_back({"t", pc(), in_.ConsumeIntegralInRange<uint32_t>(1, 3000)});
      region(-1, in_.ConsumeIntegralInRange(0, 6), functions);
    }
    for (auto [at, f] : calls_) p_.code[at].target = p_.find_symbol("f" + std::to_string(f))->value;
    if (p_.init_pc != kNoTarget) no_clock_after(first_function);
    return std::move(p_);
  }

  // .init reads the host's clock (it has no packet time), which moves
  // between the two loads the differential target compares: `now` becomes
  // `mlen` in .init and in the functions it may call (from pc on).
  void no_clock_after(uint32_t from) {
    constexpr auto kNow = static_cast<uint8_t>(MappedReg::Now);
    constexpr auto kMlen = static_cast<uint8_t>(MappedReg::Mlen);
    for (uint32_t at = from; at < pc(); ++at) {
      Insn& in = p_.code[at];
      for (Operand* o : {&in.a, &in.b}) {
        const bool mapped_base =
            o->kind != Kind::Mapped && (o->attr & attr::kBaseMapped) && !(o->attr & attr::kNoBase);
        if ((o->kind == Kind::Mapped || mapped_base) && o->reg == kNow) o->reg = kMlen;
      }
      if (op_info(in.op).aux == Aux::LengthReg && in.aux == (0x80 | kNow)) in.aux = 0x80 | kMlen;
    }
  }

  // `op` alone, then pass: what the JIT makes of one instruction.
  Program single(Op op) {
    declare();
    item_starts_ = {0, 1};
    p_.code.push_back(insn(op, 0, 1));
    resolve_labels(0);
    p_.code.push_back(make(Op::PASS));
    return std::move(p_);
  }

 private:
  uint32_t pc() const { return static_cast<uint32_t>(p_.code.size()); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[in_.ConsumeIntegralInRange<size_t>(0, v.size() - 1)];
  }

  void declare() {
    p_.name = "generated";
    p_.source_file = "generated.ncpu";
    p_.data.resize(kHeapSize);
    for (size_t i = 0; i < 4 && in_.remaining_bytes(); ++i)
      p_.data[in_.ConsumeIntegralInRange<size_t>(0, kHeapSize - 1)] =
          in_.ConsumeIntegral<uint8_t>();
    p_.tables = {{"h", TableKind::Hash, 4, 8, 64},     {"a", TableKind::Array, 4, 8, 16},
                 {"l4", TableKind::Lpm4, 4, 8, 32},    {"l6", TableKind::Lpm6, 16, 8, 16},
                 {"wide", TableKind::Hash, 13, 16, 8}, {"recent", TableKind::Lru, 4, 8, 4}};
    p_.strings = {"GET ", "x=", std::string("\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16),
                  std::string(13, 'k'), std::string("\x0a\0\0\x01", 4)};
    p_.on_fault = static_cast<FaultAction>(in_.ConsumeIntegralInRange(0, 2));
  }

  // A region of `items` items then its end; `function` is its index, -1
  // for .text, .init and timers. Labels target item starts, where the data
  // stack is always empty (push and pop come in one item).
  void region(int function, int items, int functions) {
    const uint32_t base = pc();
    item_starts_.clear();
    for (int i = 0; i < items; ++i) {
      item_starts_.push_back(pc());
      item(i, items, function, functions);
    }
    item_starts_.push_back(pc());
    if (function >= 0) {
      p_.code.push_back(make(Op::RET));
    } else {
      p_.code.push_back(insn(pick(terminators_), items, items));
    }
    resolve_labels(base);
  }

  void item(int index, int items, int function, int functions) {
    const int kind = in_.ConsumeIntegralInRange(0, opt_.jit_shapes ? 0 : 12);
    if (kind == 1) return switch_block();
    if (kind == 5) return foreach_block();
    if (kind == 6) return counted_loop_block();
    if (kind == 2) {  // push, a few instructions, pop
      p_.code.push_back(make(Op::PUSH, read()));
      body();
      p_.code.push_back(make(Op::POP, write()));
      return;
    }
    if (kind == 3 && function + 1 < functions) {
      calls_.push_back({pc(), in_.ConsumeIntegralInRange(function + 1, functions - 1)});
      p_.code.push_back(make(Op::CALL));
      return;
    }
    if (kind == 4 && function >= 0) {
      p_.code.push_back(make(Op::RET));
      return;
    }
    p_.code.push_back(insn(pick(pool_), index, items));
    // Now and then a lookup of the key a tadd or update just used, in the
    // same table: the JIT takes the slot the tadd left instead of probing.
    const Insn stored = p_.code.back();
    if ((stored.op == Op::TADD || stored.op == Op::UPDATE) &&
        in_.ConsumeIntegralInRange(0, 3) == 0) {
      const TableDecl& t = p_.tables[stored.aux];
      Insn look = make(Op::LOOKUP);
      look.aux = stored.aux;
      look.a = operand(op_info(Op::LOOKUP).a, t.key_size, t.value_size > 8);
      look.b = stored.a;
      p_.code.push_back(look);
    }
  }

  void body() {
    for (int n = in_.ConsumeIntegralInRange(0, 2); n > 0; --n)
      p_.code.push_back(insn(pick(straight_pool_), 0, 0));
  }

  // switch a -> case K -> ... -> [default] -> endswitch, each label with a
  // body and maybe a break.
  void switch_block() {
    std::vector<uint32_t> links{pc()}, breaks;
    p_.code.push_back(make(Op::SWITCH, read()));
    const int labels = in_.ConsumeIntegralInRange(1, 4);
    for (int l = 0; l < labels; ++l) {
      const bool dflt = l == labels - 1 && in_.ConsumeBool();
      p_.code[links.back()].target = pc();
      links.push_back(pc());
      Insn label = make(dflt ? Op::DEFAULT : Op::CASE);
      if (!dflt) label.a = Operand{Kind::Imm, 0, 0, in_.ConsumeIntegralInRange<int64_t>(-1, 20)};
      p_.code.push_back(label);
      body();
      if (in_.ConsumeBool()) breaks.push_back(pc()), p_.code.push_back(make(Op::BREAK));
    }
    p_.code[links.back()].target = pc();
    for (uint32_t b : breaks) p_.code[b].target = pc();
    p_.code.push_back(make(Op::ENDSWITCH));
  }

  // foreach T, k, v -> a body that may change the table, maybe break ->
  // endfor.
  void foreach_block() {
    const uint32_t start = pc();
    Insn loop = make(Op::FOREACH);
    loop.aux = in_.ConsumeIntegralInRange<uint8_t>(0, static_cast<uint8_t>(p_.tables.size() - 1));
    const TableDecl& t = p_.tables[loop.aux];
    loop.a = t.key_size > 8 ? memory() : write();
    loop.b = t.value_size > 8 ? memory() : write();
    p_.code.push_back(loop);
    body();
    std::vector<uint32_t> breaks;
    if (in_.ConsumeBool()) breaks.push_back(pc()), p_.code.push_back(make(Op::BREAK));
    body();
    p_.code[start].target = pc();
    for (uint32_t b : breaks) p_.code[b].target = pc();
    Insn end = make(Op::ENDFOR);
    end.target = start;
    p_.code.push_back(end);
  }

  // A gpr counted up by a power of two to a bound, around reads of the
  // packet based on it (`add gpr0, 1` ... `bltu gpr0, gpr2, loop`), which
  // the JIT checks once on entry (CountedLoop); now and then with an
  // instruction in it that makes it another kind of loop.
  void counted_loop_block() {
    const uint8_t counter = gpr().reg;
    Insn start = make(Op::MOV, Operand{Kind::Reg, 0, counter, 0});
    start.b =
        in_.ConsumeBool() ? Operand{Kind::Imm, 0, 0, in_.ConsumeIntegralInRange(0, 80)} : read();
    p_.code.push_back(start);
    Operand bound = gpr();
    switch (in_.ConsumeIntegralInRange(0, 3)) {
      case 0:
        bound = Operand{Kind::Imm, 0, 0,
                        in_.ConsumeBool() ? in_.ConsumeIntegralInRange(0, 120) : immediate()};
        break;
      case 1: {
        Insn to_mlen = make(Op::MOV, bound);
        to_mlen.b = Operand{Kind::Mapped, 0, static_cast<uint8_t>(MappedReg::Mlen), 0};
        p_.code.push_back(to_mlen);
        break;
      }
      case 2:
        bound = Operand{Kind::Mapped, 0, static_cast<uint8_t>(MappedReg::Mlen), 0};
        break;
      default:
        break;
    }
    const uint32_t head = pc();
    for (int n = in_.ConsumeIntegralInRange(0, 2); n > 0; --n) loop_insn(counter);
    Insn step = make(Op::ADD, Operand{Kind::Reg, 0, counter, 0});
    step.b = Operand{Kind::Imm, 0, 0, int64_t{1} << in_.ConsumeIntegralInRange(0, 3)};
    p_.code.push_back(step);
    for (int n = in_.ConsumeIntegralInRange(0, 2); n > 0; --n) loop_insn(counter);
    Insn back = make(Op::BLTU, Operand{Kind::Reg, 0, counter, 0});
    back.b = bound;
    if (in_.ConsumeBool()) back.op = Op::BGTU, std::swap(back.a, back.b);
    back.target = head;
    back_branches_.push_back(pc());
    p_.code.push_back(back);
  }

  // In a counted loop: mostly arithmetic with the packet at the counter.
  void loop_insn(uint8_t counter) {
    static constexpr Op kArithmetic[] = {Op::ADD, Op::XOR, Op::MOV, Op::SUB, Op::MUL};
    if (in_.ConsumeIntegralInRange(0, 3) == 0)
      return p_.code.push_back(insn(pick(straight_pool_), 0, 0));
    Insn in = make(kArithmetic[in_.ConsumeIntegralInRange<size_t>(0, std::size(kArithmetic) - 1)],
                   in_.ConsumeBool() ? gpr() : write());
    Operand at{Kind::PktMem, in_.ConsumeIntegralInRange<uint8_t>(0, 3), counter,
               in_.ConsumeIntegralInRange(0, 3) == 0 ? in_.ConsumeIntegral<int32_t>()
                                                     : in_.ConsumeIntegralInRange(0, 8)};
    if (in_.ConsumeIntegralInRange(0, 3) == 0) at.attr |= attr::kHostOrder;
    in.b = in_.ConsumeIntegralInRange(0, 4) == 0 ? read() : at;
    p_.code.push_back(in);
  }

  // Branch targets were item numbers while the region grew; now pcs (but
  // for the branches back of loops, made with their pcs).
  void resolve_labels(uint32_t base) {
    for (uint32_t at = base; at < pc(); ++at) {
      Insn& in = p_.code[at];
      if (op_info(in.op).target == Target::Label &&
          !std::count(back_branches_.begin(), back_branches_.end(), at))
        in.target = item_starts_.at(in.target);
    }
  }

  Insn insn(Op op, int index, int items) {
    const OpInfo& info = op_info(op);
    Insn in = make(op);
    switch (info.aux) {
      case Aux::None:
        break;
      case Aux::Table:
        in.aux = in_.ConsumeIntegralInRange<uint8_t>(0, static_cast<uint8_t>(p_.tables.size() - 1));
        if (op == Op::TADD && p_.tables[in.aux].value_size > 8) in.aux = 0;
        break;
      case Aux::Checksum:
        in.aux = in_.ConsumeIntegralInRange<uint8_t>(1, 3) | (in_.ConsumeBool() ? csum::kOut : 0);
        break;
      case Aux::LengthReg:
        switch (in_.ConsumeIntegralInRange(0, 2)) {
          case 0:
            in.aux = kLengthConst, in.target = in_.ConsumeIntegralInRange<uint32_t>(0, 64);
            break;
          case 1:
            in.aux = in_.ConsumeIntegralInRange<uint8_t>(0, kGprCount - 1);
            break;
          default:
            in.aux = 0x80 | static_cast<uint8_t>(mapped8());
        }
        break;
    }
    const uint32_t key = op == Op::CMP16          ? 16
                         : info.aux == Aux::Table ? p_.tables[in.aux].key_size
                                                  : 8;
    const bool wide = info.aux == Aux::Table && p_.tables[in.aux].value_size > 8;
    in.a = operand(info.a, key, op == Op::LOOKUP && wide);
    in.b = operand(info.b, key, op == Op::UPDATE && wide);
    if (op == Op::CMP16 && in.a.kind == Kind::Bytes && in.b.kind == Kind::Bytes) in.b = memory();
    if ((op == Op::PRINT || op == Op::LOG) && in_.ConsumeIntegralInRange(0, 3) == 0) in.b = {};
    switch (info.target) {
      case Target::Label: {
        const int first = opt_.jit_shapes ? index + 1 : 0;
        in.target =
            static_cast<uint32_t>(in_.ConsumeIntegralInRange(std::min(first, items), items));
        break;
      }
      case Target::String:
        in.target = in_.ConsumeIntegralInRange<uint32_t>(0, 1);  // non-empty
        break;
      case Target::OptString:
        in.target = in_.ConsumeBool() ? kNoTarget : in_.ConsumeIntegralInRange<uint32_t>(0, 1);
        break;
      default:
        break;
    }
    return in;
  }

  Operand operand(Slot slot, uint32_t key_size, bool must_be_memory) {
    if (must_be_memory) return memory();
    switch (slot) {
      case Slot::None:
        return {};
      case Slot::Read:
        return read();
      case Slot::Write:
        return write();
      case Slot::Gpr:
        return gpr();
      case Slot::Mem:
        return memory();
      case Slot::Mapped: {
        std::vector<uint8_t> rewritable;
        for (size_t r = 0; r < kMappedCount; ++r)
          if (is_rewritable(static_cast<MappedReg>(r)))
            rewritable.push_back(static_cast<uint8_t>(r));
        return Operand{Kind::Mapped, 0, pick(rewritable), 0};
      }
      case Slot::Key:
        return key(key_size);
    }
    return {};
  }

  Operand key(uint32_t size) {
    const int choice = in_.ConsumeIntegralInRange(0, 3);
    if (choice == 0) return memory();
    if (choice == 1) {
      for (size_t s = 0; s < p_.strings.size(); ++s)
        if (p_.strings[s].size() == size)
          return Operand{Kind::Bytes, 0, 0, static_cast<int64_t>(s)};
    }
    if (size == 16) {
      return Operand{
          Kind::Mapped, 0,
          static_cast<uint8_t>(in_.ConsumeBool() ? MappedReg::Ip6Src : MappedReg::Ip6Dst), 0};
    }
    if (size > 8) return memory();
    return read();
  }

  Operand gpr() {
    return Operand{Kind::Reg, 0, in_.ConsumeIntegralInRange<uint8_t>(0, kGprCount - 1), 0};
  }

  // An 8-byte mapped register; one pick in three is metadata (is_metadata:
  // mlen, port, rand...), which the JIT reads its own way, unlike the many
  // header fields, and which includes rand, whose every read changes state.
  uint8_t mapped8() {
    if (in_.ConsumeIntegralInRange(0, 2) == 0) {
      std::vector<uint8_t> metadata;
      for (size_t r = 0; r < kMappedCount; ++r)
        if (is_metadata(static_cast<MappedReg>(r))) metadata.push_back(static_cast<uint8_t>(r));
      return pick(metadata);
    }
    for (;;) {
      const auto r = in_.ConsumeIntegralInRange<uint8_t>(0, kMappedCount - 1);
      if (kMappedInfo[r].bytes == 8 || !in_.remaining_bytes())
        return kMappedInfo[r].bytes == 8 ? r : 0;
    }
  }

  Operand read() {
    switch (in_.ConsumeIntegralInRange(0, 5)) {
      case 0:
        return Operand{Kind::Imm, 0, 0, immediate()};
      case 1:
        return Operand{Kind::Mapped, 0, mapped8(), 0};
      case 2:
        return memory();
      default:
        return write();
    }
  }

  Operand write() {
    switch (in_.ConsumeIntegralInRange(0, 4)) {
      case 0:
        return Operand{Kind::Var, 0, 0,
                       8 * in_.ConsumeIntegralInRange<int64_t>(0, kHeapSize / 8 - 1)};
      case 1: {
        const Operand m = memory();
        // The JIT writes gprs and variables only: the same input bytes
        // name a variable instead.
        if (opt_.jit_shapes)
          return Operand{Kind::Var, 0, 0,
                         8 * static_cast<int64_t>(static_cast<uint64_t>(m.imm) % (kHeapSize / 8))};
        return m;
      }
      default:
        return gpr();
    }
  }

  int64_t immediate() {
    static constexpr int64_t kInteresting[] = {
        0, 1, -1, 2, 6, 17, 63, 64, 65, 80, 255, 1500, 0x800, 0x7fffffff, INT64_MIN, INT64_MAX};
    if (in_.ConsumeBool())
      return kInteresting[in_.ConsumeIntegralInRange<size_t>(0, std::size(kInteresting) - 1)];
    return in_.ConsumeBool() ? in_.ConsumeIntegralInRange<int64_t>(-16, 300)
                             : in_.ConsumeIntegral<int64_t>();
  }

  // pkt, heap or out memory at a constant, a gpr (scaled) or a mapped
  // register such as l4, plus a displacement mostly near the data.
  Operand memory() {
    Operand o;
    const int space = in_.ConsumeIntegralInRange(0, 5);
    o.kind = space < 3 ? Kind::PktMem : space < 5 ? Kind::HeapMem : Kind::OutMem;
    o.attr = in_.ConsumeIntegralInRange<uint8_t>(0, 3);
    if (in_.ConsumeIntegralInRange(0, 3) == 0) o.attr |= attr::kHostOrder;
    switch (in_.ConsumeIntegralInRange(0, 2)) {
      case 0:
        o.attr |= attr::kNoBase;
        break;
      case 1:
        o.reg = gpr().reg;
        o.attr |= static_cast<uint8_t>(in_.ConsumeIntegralInRange(0, 3) << attr::kScaleShift);
        break;
      default:
        o.attr |= attr::kBaseMapped;
        o.reg = mapped8();
    }
    const int64_t near = o.kind == Kind::HeapMem ? kHeapSize : 96;
    o.imm = in_.ConsumeIntegralInRange(0, 7) == 0 ? in_.ConsumeIntegral<int32_t>()
                                                  : in_.ConsumeIntegralInRange<int64_t>(-4, near);
    // The JIT reads the packet at any address and the heap at constant
    // ones: the same input bytes make those (so inputs keep their meaning).
    if (opt_.jit_shapes && o.kind == Kind::OutMem) o.kind = Kind::PktMem;
    if (opt_.jit_shapes && o.kind == Kind::HeapMem)
      o.attr = (o.attr & ~attr::kScaleMask & ~attr::kBaseMapped) | attr::kNoBase, o.reg = 0;
    return o;
  }

  FuzzedDataProvider& in_;
  GeneratorOptions opt_;
  Program p_;
  std::vector<Op> pool_, straight_pool_, terminators_;
  std::vector<uint32_t> item_starts_;
  std::vector<uint32_t> back_branches_;          // their targets are pcs already
  std::vector<std::pair<uint32_t, int>> calls_;  // call pc, function index
};

}  // namespace

Program generate_program(FuzzedDataProvider& in, const GeneratorOptions& options) {
  return Generator(in, options).generate();
}

const std::vector<Op>& jit_compiled_ops() {
  static const std::vector<Op> ops = [] {
    std::vector<Op> found;
    std::mt19937_64 rng(19);
    for (size_t i = 0; i < kOpCount; ++i) {
      const Op op = static_cast<Op>(i);
      if (structural(op)) continue;
      for (int attempt = 0; attempt < 64; ++attempt) {
        std::array<uint8_t, 256> bytes;
        for (auto& b : bytes) b = static_cast<uint8_t>(rng());
        FuzzedDataProvider in(bytes.data(), bytes.size());
        Program p = Generator(in, GeneratorOptions{}).single(op);
        auto vm = Instance::create(std::move(p), HostCaps{}, Limits{}, nullptr, nullptr);
        if (vm && vm->jit_compiled()) {
          found.push_back(op);
          break;
        }
      }
    }
    return found;
  }();
  return ops;
}

}  // namespace netcpu::fuzz
