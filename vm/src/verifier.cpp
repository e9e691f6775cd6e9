// The verifier proves what can be proven before a program runs: operands and
// targets are valid, control stays inside its function and never falls off
// the end, the data stack is balanced and bounded, there is no recursion, and
// heap variables are in bounds. Packet, out buffer and indexed heap accesses
// depend on values known only at run time: the interpreter checks those.
#include "netcpu/verifier.h"

#include <algorithm>
#include <map>
#include <set>

#include "netcpu/checksum.h"
#include "netcpu/vm.h"

namespace netcpu {
namespace {

struct Reject {
  uint32_t pc;
  std::string msg;
};

constexpr int kUnvisited = -1;

class Verifier {
 public:
  Verifier(const Program& p, const HostCaps* caps) : p_(p), caps_(caps) {}

  VerifyInfo run() {
    check_layout();
    for (uint32_t pc = 0; pc < p_.code.size(); ++pc) check_insn(pc);
    find_regions();
    for (uint32_t pc = 0; pc < p_.code.size(); ++pc) check_control(pc);
    VerifyInfo info;
    info.instructions = static_cast<uint32_t>(p_.code.size());
    info.writes_packet = writes_packet_;
    std::vector<uint32_t> entries{p_.text_pc};
    if (p_.init_pc != kNoTarget) entries.push_back(p_.init_pc);
    for (const auto& t : p_.timers) entries.push_back(t.pc);
    // Functions nothing calls are checked too: they are part of the program.
    for (uint32_t f : funcs_) entries.push_back(f);
    for (uint32_t e : entries) {
      const auto& r = analyse(e, {});
      info.max_stack = std::max(info.max_stack, r.stack);
      info.max_call_depth = std::max(info.max_call_depth, r.depth);
    }
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
    for (uint32_t e : entries)
      for (uint32_t head : endless_loops(e)) {
        SourcePos pos = p_.pos(head);
        info.warnings.push_back(Diagnostic{p_.source_file, pos.line, pos.col,
                                           "this loop has no way out: a run that enters it ends "
                                           "only when the instruction budget (or a fault) stops it",
                                           true});
      }
    if (info.max_stack > kStackSlots)
      throw Reject{p_.text_pc, "data stack may need " + std::to_string(info.max_stack) +
                                   " slots; the limit is " + std::to_string(kStackSlots)};
    if (info.max_call_depth > kMaxCallDepth)
      throw Reject{p_.text_pc, "calls nest " + std::to_string(info.max_call_depth) +
                                   " deep; the limit is " + std::to_string(kMaxCallDepth)};
    return info;
  }

 private:
  [[noreturn]] void reject(uint32_t pc, std::string m) const { throw Reject{pc, std::move(m)}; }

  std::string mn(uint32_t pc) const { return std::string(op_info(p_.code[pc].op).mnemonic); }

  void check_layout() {
    if (p_.code.empty()) reject(0, "program has no instructions");
    if (p_.code.size() > kMaxCode)
      reject(0, "program longer than " + std::to_string(kMaxCode) + " instructions");
    uint32_t n = static_cast<uint32_t>(p_.code.size());
    if (p_.text_pc >= n) reject(0, "text entry outside the code");
    if (p_.init_pc != kNoTarget && p_.init_pc >= n) reject(0, ".init entry outside the code");
    for (const auto& t : p_.timers) {
      if (t.pc >= n) reject(0, "timer '" + t.name + "' entry outside the code");
      if (t.period_ms == 0) reject(t.pc, "timer '" + t.name + "' has a zero period");
    }
    if (p_.data.size() > kMaxHeap)
      reject(0, "heap larger than " + std::to_string(kMaxHeap) + " bytes");
    if (p_.tables.size() > kMaxTables) reject(0, "too many tables");
    for (const auto& t : p_.tables) {
      if (static_cast<uint8_t>(t.kind) > static_cast<uint8_t>(TableKind::Lru))
        reject(0, "table '" + t.name + "' has an unknown kind");
      if (t.idle_ms && t.kind != TableKind::Hash && t.kind != TableKind::Lru)
        reject(0, "table '" + t.name + "' has an idle timeout: only hash and lru tables take one");
      if (t.idle_ms > kMaxPeriodMs)
        reject(0, "table '" + t.name + "' has an idle timeout longer than a day");
      uint32_t want_key = t.kind == TableKind::Array || t.kind == TableKind::Lpm4 ? 4
                          : t.kind == TableKind::Lpm6                             ? 16
                                                                                  : 0;
      if ((want_key && t.key_size != want_key) || t.key_size == 0 || t.key_size > kMaxKeySize)
        reject(0, "table '" + t.name + "' has a bad key size");
      if (t.value_size == 0 || t.value_size > kMaxValueSize)
        reject(0, "table '" + t.name + "' has a bad value size");
      if (t.max_entries == 0 || t.max_entries > kMaxTableEntries)
        reject(0, "table '" + t.name + "' has a bad maximum size");
    }
    for (const auto& s : p_.symbols)
      if (s.kind == SymbolKind::Func && s.value >= n)
        reject(0, "function '" + s.name + "' outside the code");
  }

  bool mapped16(const Operand& o) const {
    return o.kind == Kind::Mapped && o.reg < kMappedCount &&
           mapped_info(static_cast<MappedReg>(o.reg)).bytes == 16;
  }
  static bool is_mem(Kind k) {
    return k == Kind::HeapMem || k == Kind::PktMem || k == Kind::OutMem;
  }

  void check_operand_fields(uint32_t pc, const Operand& o, char which) const {
    std::string where = mn(pc) + " operand " + which;
    switch (o.kind) {
      case Kind::Reg:
        if (o.reg >= kGprCount) reject(pc, where + ": no register gpr" + std::to_string(o.reg));
        break;
      case Kind::Mapped:
        if (o.reg >= kMappedCount)
          reject(pc, where + ": unknown mapped register " + std::to_string(o.reg));
        break;
      case Kind::Var:
        if (o.imm < 0 || static_cast<uint64_t>(o.imm) + 8 > p_.data.size())
          reject(pc, where + ": heap variable at offset " + std::to_string(o.imm) +
                         " is outside the heap");
        break;
      case Kind::HeapMem:
      case Kind::PktMem:
      case Kind::OutMem:
        if (o.attr & ~(attr::kWidthMask | attr::kHostOrder | attr::kScaleMask | attr::kBaseMapped |
                       attr::kNoBase))
          reject(pc, where + ": unknown address attributes");
        if (o.imm < INT32_MIN || o.imm > INT32_MAX)
          reject(pc, where + ": address offset out of range");
        if (!(o.attr & attr::kNoBase)) {
          if (o.attr & attr::kBaseMapped) {
            if (o.reg >= kMappedCount || mapped16(o))
              reject(pc, where + ": bad mapped base register");
            if (mapped_info(static_cast<MappedReg>(o.reg)).bytes != 8)
              reject(pc, where + ": bad mapped base register");
          } else if (o.reg >= kGprCount) {
            reject(pc, where + ": no register gpr" + std::to_string(o.reg));
          }
        }
        break;
      case Kind::Bytes:
        if (o.imm < 0 || static_cast<uint64_t>(o.imm) >= p_.strings.size())
          reject(pc, where + ": no such constant");
        break;
      default:
        break;
    }
  }

  void check_slot(uint32_t pc, Slot slot, const Operand& o, char which) {
    const Insn& in = p_.code[pc];
    check_operand_fields(pc, o, which);
    std::string where = mn(pc) + " operand " + which;
    bool optional = (in.op == Op::PRINT || in.op == Op::LOG) && o.kind == Kind::None;
    if (slot == Slot::None) {
      if (o.kind != Kind::None) reject(pc, where + " must be empty");
      return;
    }
    if (optional) return;
    bool numeric = o.kind == Kind::Reg || o.kind == Kind::Imm ||
                   (o.kind == Kind::Mapped && !mapped16(o)) || o.kind == Kind::Var ||
                   is_mem(o.kind);
    switch (slot) {
      case Slot::Read:
        if (!numeric) reject(pc, where + " must be a number");
        break;
      case Slot::Write:
        if (!(o.kind == Kind::Reg || o.kind == Kind::Var || is_mem(o.kind)))
          reject(pc, where + " must be writable");
        if (o.kind == Kind::PktMem) writes_packet_ = true;
        break;
      case Slot::Gpr:
        if (o.kind != Kind::Reg) reject(pc, where + " must be a register");
        break;
      case Slot::Mem:
        if (!is_mem(o.kind)) reject(pc, where + " must be a memory reference");
        if (o.kind == Kind::PktMem && which == 'a') writes_packet_ = true;
        break;
      case Slot::Mapped:
        if (o.kind != Kind::Mapped || !is_rewritable(static_cast<MappedReg>(o.reg)))
          reject(pc, where +
                         " must be a rewritable header field (eth.src, eth.dst, ip.src, ip.dst, "
                         "ip.ttl, ip.tos, "
                         "l4.sport, l4.dport)");
        break;
      case Slot::Key: {
        uint32_t size = 16;
        if (in.op != Op::CMP16) size = p_.tables[in.aux].key_size;
        if (mapped16(o)) {
          if (size != 16)
            reject(pc, where + ": a 16-byte field used as a " + std::to_string(size) + "-byte key");
        } else if (o.kind == Kind::Bytes) {
          if (p_.strings[o.imm].size() != size)
            reject(pc, where + ": constant is " + std::to_string(p_.strings[o.imm].size()) +
                           " bytes, need " + std::to_string(size));
        } else if (is_mem(o.kind)) {
          // size bytes from the address, checked at run time
        } else if (numeric) {
          if (size > 8)
            reject(pc, where + ": a " + std::to_string(size) +
                           "-byte key needs a buffer or 16-byte value");
        } else {
          reject(pc, where + " must be a key");
        }
        break;
      }
      case Slot::None:
        break;
    }
  }

  void check_insn(uint32_t pc) {
    const Insn& in = p_.code[pc];
    if (static_cast<size_t>(in.op) >= kOpCount) reject(pc, "unknown opcode");
    const OpInfo& info = op_info(in.op);
    uint32_t n = static_cast<uint32_t>(p_.code.size());
    // aux first: Key slots need the table.
    switch (info.aux) {
      case Aux::None:
        if (in.aux) reject(pc, mn(pc) + ": unexpected aux field");
        break;
      case Aux::Table:
        if (in.aux >= p_.tables.size()) reject(pc, mn(pc) + ": no table " + std::to_string(in.aux));
        break;
      case Aux::Checksum:
        if (in.aux & ~(csum::kIp | csum::kL4 | csum::kOut) || !(in.aux & (csum::kIp | csum::kL4)))
          reject(pc, "csum: bad selection");
        if (!(in.aux & csum::kOut)) writes_packet_ = true;
        break;
      case Aux::LengthReg:
        if (in.aux == kLengthConst) {
          if (in.target > 65535) reject(pc, "copy: length too large");
        } else if (in.aux & kLengthMapped) {
          uint8_t m = in.aux & kLengthMappedMask;
          if (m >= kMappedCount || mapped_info(static_cast<MappedReg>(m)).bytes != 8)
            reject(pc, "copy: bad length");
        } else if (in.aux >= kGprCount) {
          reject(pc, "copy: bad length register");
        }
        break;
    }
    check_slot(pc, info.a, in.a, 'a');
    check_slot(pc, info.b, in.b, 'b');
    switch (info.target) {
      case Target::None:
        if (info.aux != Aux::LengthReg && in.target != kNoTarget)
          reject(pc, mn(pc) + ": unexpected target");
        break;
      case Target::Label:
      case Target::Function:
      case Target::CaseLink:
      case Target::Break:
      case Target::Loop:
        if (in.target >= n) reject(pc, mn(pc) + ": target outside the code");
        break;
      case Target::String:
        if (in.target >= p_.strings.size()) reject(pc, mn(pc) + ": no such string");
        break;
      case Target::OptString:
        if (in.target != kNoTarget && in.target >= p_.strings.size())
          reject(pc, mn(pc) + ": no such string");
        break;
      case Target::Length:
        break;
    }
    if (in.op == Op::CASE && in.a.kind != Kind::Imm) reject(pc, "case takes a constant");
    if (in.op == Op::FIND && p_.strings[in.target].empty())
      reject(pc, "find needs a non-empty string");
    if (in.op == Op::TADD && p_.tables[in.aux].value_size > 8)
      reject(pc, "tadd needs a table with numeric values (value size 8 or less)");
    if (in.op == Op::LOOKUP && p_.tables[in.aux].value_size > 8 && !is_mem(in.a.kind))
      reject(pc, "lookup of " + std::to_string(p_.tables[in.aux].value_size) +
                     "-byte values needs a buffer to copy into");
    if (in.op == Op::UPDATE && p_.tables[in.aux].value_size > 8 && !is_mem(in.b.kind))
      reject(pc, "update of " + std::to_string(p_.tables[in.aux].value_size) +
                     "-byte values needs a buffer");
    if (in.op == Op::FOREACH) {
      const TableDecl& t = p_.tables[in.aux];
      if (t.key_size > 8 && !is_mem(in.a.kind))
        reject(pc, "foreach over " + std::to_string(t.key_size) +
                       "-byte keys needs a buffer to copy each key into");
      if (t.value_size > 8 && !is_mem(in.b.kind))
        reject(pc, "foreach over " + std::to_string(t.value_size) +
                       "-byte values needs a buffer to copy each value into");
    }
    if (in.op == Op::CMP16 && (in.a.kind == Kind::Bytes && in.b.kind == Kind::Bytes))
      reject(pc, "cmp16 of two constants");
    if (info.flags & flag::kWritesPacket) writes_packet_ = true;
    if (caps_) check_caps(pc, info);
  }

  void check_caps(uint32_t pc, const OpInfo& info) {
    auto no = [&](const char* what) {
      reject(pc,
             "'" + mn(pc) + "' is not supported by " + caps_->host_name + ": it cannot " + what);
    };
    if ((info.flags & flag::kRedirect) && !caps_->redirect) no("redirect packets");
    if ((info.flags & flag::kMirror) && !caps_->mirror) no("mirror packets");
    if ((info.flags & flag::kEmit) && !caps_->emit) no("emit packets");
    if ((info.flags & flag::kResize) && !caps_->resize) no("change a packet's length");
  }

  // Functions and entries cut the code into regions; control stays inside one.
  void find_regions() {
    std::set<uint32_t> starts{p_.text_pc};
    if (p_.init_pc != kNoTarget) starts.insert(p_.init_pc);
    for (const auto& t : p_.timers) starts.insert(t.pc);
    for (const auto& s : p_.symbols)
      if (s.kind == SymbolKind::Func) starts.insert(s.value), funcs_.insert(s.value);
    if (*starts.begin() != 0) reject(0, "code before the first entry point or function");
    region_of_.resize(p_.code.size());
    region_end_.resize(p_.code.size());
    auto it = starts.begin();
    while (it != starts.end()) {
      uint32_t b = *it++;
      uint32_t e = it == starts.end() ? static_cast<uint32_t>(p_.code.size()) : *it;
      for (uint32_t pc = b; pc < e; ++pc) region_of_[pc] = b, region_end_[pc] = e;
    }
  }

  void same_region(uint32_t pc, uint32_t target, const char* what) const {
    if (region_of_[target] != region_of_[pc])
      reject(pc,
             std::string(what) + " leaves its function (target pc " + std::to_string(target) + ")");
  }

  void check_control(uint32_t pc) {
    const Insn& in = p_.code[pc];
    const OpInfo& info = op_info(in.op);
    if (info.target == Target::Label) same_region(pc, in.target, "jump");
    if (info.target == Target::Function && !funcs_.count(in.target))
      reject(pc, "call target is not a function entry");
    if (in.op == Op::SWITCH || in.op == Op::CASE || in.op == Op::DEFAULT) {
      // The chain of case labels runs forward to the switch's endswitch.
      same_region(pc, in.target, "switch");
      Op t = p_.code[in.target].op;
      if (in.target <= pc || (t != Op::CASE && t != Op::DEFAULT && t != Op::ENDSWITCH))
        reject(pc, mn(pc) + ": case chain must lead forward to case, default or endswitch");
    }
    if (in.op == Op::BREAK) {
      same_region(pc, in.target, "break");
      const Op end = p_.code[in.target].op;
      if (in.target <= pc || (end != Op::ENDSWITCH && end != Op::ENDFOR))
        reject(pc, "break must lead to its endswitch or endfor");
    }
    // A foreach and its endfor name each other; the body lies between them.
    if (in.op == Op::FOREACH) {
      same_region(pc, in.target, "foreach");
      if (in.target <= pc || p_.code[in.target].op != Op::ENDFOR || p_.code[in.target].target != pc)
        reject(pc, "foreach must lead forward to its endfor");
    }
    if (in.op == Op::ENDFOR) {
      same_region(pc, in.target, "endfor");
      if (in.target >= pc || p_.code[in.target].op != Op::FOREACH ||
          p_.code[in.target].target != pc)
        reject(pc, "endfor must lead back to its foreach");
    }
    if (!(info.flags & flag::kNoFallthrough) && pc + 1 >= region_end_[pc])
      reject(pc, "control falls off the end of the code after '" + mn(pc) +
                     "' (end it with end, ret or a jump)");
    if (in.op == Op::RET &&
        (region_of_[pc] == p_.text_pc || region_of_[pc] == p_.init_pc || is_timer(region_of_[pc])))
      reject(pc, "ret outside a function (use end to finish the program)");
  }

  // Loops no path leaves, reachable from `entry`: the instructions from
  // which no instruction that ends the run (end, pass, drop, redirect, ret)
  // can be reached are closed under "successor"; the strongly connected
  // parts of them that no edge leaves are the loops themselves (a path into
  // such a loop is not one). Returns the first pc of each.
  std::vector<uint32_t> endless_loops(uint32_t entry) const {
    const uint32_t begin = region_of_[entry], size = region_end_[entry] - begin;
    auto local = [&](uint32_t pc) { return pc - begin; };
    std::vector<std::vector<uint32_t>> succ(size), pred(size);
    std::vector<uint8_t> reached(size, 0), leaves(size, 0);
    std::vector<uint32_t> work{entry}, ends;
    reached[local(entry)] = 1;
    while (!work.empty()) {
      uint32_t pc = work.back();
      work.pop_back();
      succ[local(pc)] = successors(pc);
      if (succ[local(pc)].empty()) ends.push_back(pc);
      for (uint32_t s : succ[local(pc)]) {
        pred[local(s)].push_back(pc);
        if (!reached[local(s)]) reached[local(s)] = 1, work.push_back(s);
      }
    }
    for (uint32_t pc : ends) leaves[local(pc)] = 1;
    while (!ends.empty()) {
      uint32_t pc = ends.back();
      ends.pop_back();
      for (uint32_t p : pred[local(pc)])
        if (!leaves[local(p)]) leaves[local(p)] = 1, ends.push_back(p);
    }
    auto trapped = [&](uint32_t l) { return reached[l] && !leaves[l]; };
    // Tarjan's strongly connected components over the trapped instructions,
    // iteratively: programs may be long.
    constexpr uint32_t kNone = UINT32_MAX;
    std::vector<uint32_t> index(size, kNone), low(size, 0), comp(size, kNone), stack;
    std::vector<uint8_t> on_stack(size, 0);
    uint32_t next_index = 0, comps = 0;
    std::vector<std::pair<uint32_t, size_t>> dfs;  // node, next successor to visit
    for (uint32_t root = 0; root < size; ++root) {
      if (!trapped(root) || index[root] != kNone) continue;
      dfs.push_back({root, 0});
      index[root] = low[root] = next_index++;
      stack.push_back(root), on_stack[root] = 1;
      while (!dfs.empty()) {
        auto& [v, i] = dfs.back();
        if (i < succ[v].size()) {
          uint32_t w = local(succ[v][i++]);
          if (index[w] == kNone) {
            index[w] = low[w] = next_index++;
            stack.push_back(w), on_stack[w] = 1;
            dfs.push_back({w, 0});
          } else if (on_stack[w]) {
            low[v] = std::min(low[v], index[w]);
          }
          continue;
        }
        const uint32_t done = v;
        dfs.pop_back();
        if (!dfs.empty()) low[dfs.back().first] = std::min(low[dfs.back().first], low[done]);
        if (low[done] != index[done]) continue;
        for (uint32_t w = kNone; w != done;) {
          w = stack.back();
          stack.pop_back(), on_stack[w] = 0;
          comp[w] = comps;
        }
        ++comps;
      }
    }
    // A loop no edge leaves: no successor of its instructions in another part.
    std::vector<uint8_t> left(comps, 0);
    std::vector<uint32_t> first(comps, kNone);
    for (uint32_t l = 0; l < size; ++l) {
      if (comp[l] == kNone) continue;
      first[comp[l]] = std::min(first[comp[l]], l);
      for (uint32_t s : succ[l]) left[comp[l]] |= comp[local(s)] != comp[l];
    }
    std::vector<uint32_t> heads;
    for (uint32_t c = 0; c < comps; ++c)
      if (!left[c]) heads.push_back(begin + first[c]);
    return heads;
  }

  std::string function_name(uint32_t pc) const {
    for (const auto& s : p_.symbols)
      if (s.kind == SymbolKind::Func && s.value == pc) return s.name;
    return "pc " + std::to_string(pc);
  }

  bool is_timer(uint32_t pc) const {
    return std::any_of(p_.timers.begin(), p_.timers.end(),
                       [&](const TimerDecl& t) { return t.pc == pc; });
  }

  std::vector<uint32_t> successors(uint32_t pc) const {
    const Insn& in = p_.code[pc];
    const OpInfo& info = op_info(in.op);
    std::vector<uint32_t> s;
    if (in.op == Op::SWITCH) {
      for (uint32_t c = in.target;; c = p_.code[c].target) {
        s.push_back(c);
        if (p_.code[c].op == Op::ENDSWITCH) break;
      }
      return s;
    }
    // The way out of a loop is past its endfor: foreach on an empty walk,
    // endfor after the last entry (it falls through), break.
    if (in.op == Op::FOREACH) return {pc + 1, in.target + 1};
    if (in.op == Op::ENDFOR) return {in.target + 1, pc + 1};
    if (in.op == Op::BREAK && p_.code[in.target].op == Op::ENDFOR) return {in.target + 1};
    if (info.target == Target::Label || in.op == Op::BREAK) s.push_back(in.target);
    if (!(info.flags & flag::kNoFallthrough)) s.push_back(pc + 1);
    return s;
  }

  struct FuncResult {
    uint32_t stack = 0;  // slots needed by this function and everything it calls
    uint32_t depth = 0;  // call depth below it
  };

  // Stack heights by abstract interpretation over the region's flow graph;
  // recursion shows up as a function already on the analysis path.
  // call_pc: the call that got here (errors about the call point at it).
  const FuncResult& analyse(uint32_t entry, std::vector<uint32_t> path, uint32_t call_pc = 0) {
    if (auto it = done_.find(entry); it != done_.end()) return it->second;
    if (std::find(path.begin(), path.end(), entry) != path.end())
      reject(call_pc,
             "recursion: '" + function_name(entry) + "' calls itself" +
                 (path.back() == entry ? "" : " through '" + function_name(path.back()) + "'"));
    // Stop before the analysis itself nests deeper than programs may.
    if (path.size() > kMaxCallDepth)
      reject(call_pc, "calls nest " + std::to_string(path.size()) + " deep; the limit is " +
                          std::to_string(kMaxCallDepth));
    path.push_back(entry);
    // Per instruction: the stack's height, and its floor: the height at
    // the start of the innermost foreach body around it, below which lies
    // that walk's cursor (a foreach pushes it, endfor and break pop it).
    // Code may not pop below the floor, and leaves a body only through
    // endfor or break, with the stack back at the floor.
    std::vector<int> height(p_.code.size(), kUnvisited), floor(p_.code.size(), 0);
    std::vector<uint32_t> work{entry};
    height[entry] = 0;
    FuncResult r;
    while (!work.empty()) {
      uint32_t pc = work.back();
      work.pop_back();
      const Insn& in = p_.code[pc];
      const int h = height[pc], f = floor[pc];
      int next = h;
      if (in.op == Op::PUSH) next = h + 1;
      if (in.op == Op::POP) {
        if (h == 0) reject(pc, "pop from an empty stack");
        if (h == f)
          reject(pc, "pop would take the foreach's cursor (pop only what the body pushed)");
        next = h - 1;
      }
      if (in.op == Op::RET && f != 0)
        reject(pc, "ret inside a foreach body (leave the loop with break first)");
      if (in.op == Op::RET && h != 0)
        reject(pc, "function returns with " + std::to_string(h) + " value(s) still pushed");
      const bool leaves_body =
          in.op == Op::ENDFOR || (in.op == Op::BREAK && p_.code[in.target].op == Op::ENDFOR);
      if (leaves_body && h != f)
        reject(pc, mn(pc) + " with " + std::to_string(h - f) +
                       " value(s) the foreach body pushed still on the stack");
      uint32_t need = static_cast<uint32_t>(std::max(h, in.op == Op::FOREACH ? h + 1 : next));
      if (in.op == Op::CALL) {
        const FuncResult& c = analyse(in.target, path, pc);
        // A callee analysed before from a shallower caller may be too deep from here.
        if (path.size() + c.depth > kMaxCallDepth)
          reject(pc, "calls nest " + std::to_string(path.size() + c.depth) +
                         " deep; the limit is " + std::to_string(kMaxCallDepth));
        need = static_cast<uint32_t>(h) + c.stack;
        r.depth = std::max(r.depth, c.depth + 1);
      }
      // Heights count from the function's entry: a caller that adds its own
      // height reports the overflow at its call.
      if (need > kStackSlots)
        reject(pc, "data stack may need " + std::to_string(need) + " slots; the limit is " +
                       std::to_string(kStackSlots));
      r.stack = std::max(r.stack, need);
      for (uint32_t s : successors(pc)) {
        // Into a body: the cursor is pushed and is the new floor; out of
        // one: the stack is as its foreach found it.
        int sh = next, sf = f;
        if (in.op == Op::FOREACH && s == pc + 1) sh = sf = h + 1;
        if (in.op == Op::ENDFOR && s == in.target + 1) sh = sf = h;
        if ((in.op == Op::ENDFOR && s == pc + 1) || (leaves_body && in.op == Op::BREAK)) {
          const uint32_t loop = in.op == Op::ENDFOR ? in.target : p_.code[in.target].target;
          if (height[loop] == kUnvisited)
            reject(pc, mn(pc) + " reached without going through its foreach");
          sh = height[loop], sf = floor[loop];
        }
        if (height[s] == kUnvisited) {
          height[s] = sh, floor[s] = sf;
          work.push_back(s);
        } else if (height[s] != sh) {
          reject(s, "stack height differs between paths reaching this instruction (" +
                        std::to_string(height[s]) + " vs " + std::to_string(sh) + ")");
        } else if (floor[s] != sf) {
          reject(s,
                 "paths from inside and outside a foreach body meet here (enter a body only "
                 "through its foreach)");
        }
      }
    }
    return done_[entry] = r;
  }

  const Program& p_;
  const HostCaps* caps_;
  std::vector<uint32_t> region_of_, region_end_;
  std::set<uint32_t> funcs_;
  std::map<uint32_t, FuncResult> done_;
  bool writes_packet_ = false;
};

}  // namespace

std::optional<VerifyInfo> verify(const Program& p, const HostCaps* caps, Diagnostic* err) {
  try {
    return Verifier(p, caps).run();
  } catch (const Reject& r) {
    if (err) {
      SourcePos pos = p.pos(r.pc);
      *err = Diagnostic{p.source_file, pos.line, pos.col, r.msg};
    }
    return std::nullopt;
  }
}

}  // namespace netcpu
