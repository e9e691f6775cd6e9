// Prints a program as assembly. With .loc directives the output assembles
// back to the same bytecode, so a stored program can always be read and edited.
#include "netcpu/disassembler.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>

namespace netcpu {
namespace {

std::string quote(std::string_view s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\t':
        o += "\\t";
        break;
      case '\r':
        o += "\\r";
        break;
      default:
        if (c < 32 || c > 126) {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", c);
          o += b;
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o + "\"";
}

std::string number(int64_t v) {
  char b[32];
  if (v > 0xffff)
    std::snprintf(b, sizeof b, "0x%" PRIx64, static_cast<uint64_t>(v));
  else
    std::snprintf(b, sizeof b, "%" PRId64, v);
  return b;
}

// An idle timeout as the assembler reads it: whole seconds as "30s".
std::string period(uint32_t ms) {
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

std::string ipv6(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < 16; i += 2) {
    char b[8];
    std::snprintf(b, sizeof b, "%s%x", i ? ":" : "",
                  (static_cast<unsigned char>(s[i]) << 8) | static_cast<unsigned char>(s[i + 1]));
    o += b;
  }
  return o;
}

class Printer {
 public:
  explicit Printer(const Program& p) : p_(p) {
    for (const auto& s : p.symbols) {
      if (s.kind == SymbolKind::Label || s.kind == SymbolKind::Func)
        code_names_.emplace(s.value, s.name);
      if (s.kind == SymbolKind::Num || s.kind == SymbolKind::Buf || s.kind == SymbolKind::Array)
        data_names_.emplace(s.value, &s);
    }
  }

  std::string target(uint32_t pc) const {
    auto it = code_names_.find(pc);
    return it != code_names_.end() ? it->second : "L" + std::to_string(pc);
  }

  std::string memory(const Operand& o, bool typed) const {
    std::string s;
    unsigned w = o.attr & attr::kWidthMask;
    bool host = o.attr & attr::kHostOrder;
    static const char* const net[] = {"u8", "u16", "u32", "u64"};
    static const char* const hst[] = {"h8", "h16", "h32", "h64"};
    const char* space = o.kind == Kind::PktMem ? "pkt" : o.kind == Kind::OutMem ? "out" : "heap";
    bool dflt = o.kind == Kind::HeapMem ? (w == 3 && host) : (w == 0 && !host);
    if (!typed) dflt = o.kind == Kind::HeapMem ? host : !host;
    if (dflt)
      s = o.kind == Kind::HeapMem ? "" : space;
    else
      s = std::string(space) + "." + (host ? hst[w] : net[w]);
    s += "[";
    bool any = false;
    int64_t disp = o.imm;
    if (o.kind == Kind::HeapMem) {
      auto it = data_names_.find(static_cast<uint32_t>(disp));
      if (disp >= 0 && it != data_names_.end()) {
        s += it->second->name;
        disp = 0;
        any = true;
      }
    }
    if (!(o.attr & attr::kNoBase)) {
      if (any) s += " + ";
      s += !(o.attr & attr::kBaseMapped) ? "gpr" + std::to_string(o.reg)
           : o.reg < kMappedCount ? std::string(mapped_info(static_cast<MappedReg>(o.reg)).name)
                                  : "?";
      unsigned sc = (o.attr & attr::kScaleMask) >> attr::kScaleShift;
      if (sc) s += "*" + std::to_string(1u << sc);
      any = true;
    }
    if (disp || !any) {
      if (any) s += disp < 0 ? " - " : " + ";
      s += number(any && disp < 0 ? -disp : disp);
    }
    return s + "]";
  }

  // whole: a buffer operand of a Key or Mem slot, printed as the buffer's name.
  std::string operand(const Operand& o, bool typed = true, bool whole = false) const {
    switch (o.kind) {
      case Kind::None:
        return "";
      case Kind::Reg:
        return "gpr" + std::to_string(o.reg);
      case Kind::Imm:
        return number(o.imm);
      case Kind::Mapped:
        return o.reg < kMappedCount ? std::string(mapped_info(static_cast<MappedReg>(o.reg)).name)
                                    : "?";
      case Kind::Var: {
        auto it = data_names_.find(static_cast<uint32_t>(o.imm));
        return it != data_names_.end() ? it->second->name : "heap.h64[" + number(o.imm) + "]";
      }
      case Kind::HeapMem: {
        // A whole buffer used as a key or value prints as its name.
        auto it = data_names_.find(static_cast<uint32_t>(o.imm));
        if (whole && o.attr == attr::kNoBase && it != data_names_.end() &&
            it->second->kind != SymbolKind::Num)
          return it->second->name;
        return memory(o, typed);
      }
      case Kind::PktMem:
      case Kind::OutMem:
        return memory(o, typed);
      case Kind::Bytes: {
        if (o.imm < 0 || static_cast<size_t>(o.imm) >= p_.strings.size()) return "?";
        const std::string& s = p_.strings[o.imm];
        return s.size() == 16 ? ipv6(s) : quote(s);
      }
      default:
        return "?";
    }
  }

  std::string string_at(uint32_t i) const {
    return i < p_.strings.size() ? quote(p_.strings[i]) : "\"?\"";
  }
  bool wide_values(uint8_t i) const { return i < p_.tables.size() && p_.tables[i].value_size > 8; }
  std::string table(uint8_t i) const { return i < p_.tables.size() ? p_.tables[i].name : "?"; }

  std::string insn(const Insn& in) const {
    const OpInfo& info = op_info(in.op);
    std::string m(info.mnemonic);
    std::vector<std::string> ops;
    switch (in.op) {
      case Op::PRINT:
      case Op::LOG:
        if (in.target != kNoTarget) ops.push_back(string_at(in.target));
        if (in.a.kind != Kind::None) ops.push_back(operand(in.a));
        if (in.b.kind != Kind::None) ops.push_back(operand(in.b));
        break;
      case Op::DUMP:
        if (!(in.a.kind == Kind::Imm && in.a.imm == 0)) ops.push_back(operand(in.a));
        break;
      case Op::FIND:
        ops = {operand(in.a), string_at(in.target), operand(in.b)};
        break;
      case Op::CSUM: {
        uint8_t sel = in.aux & (csum::kIp | csum::kL4);
        if (sel == csum::kIp)
          ops.push_back("ip");
        else if (sel == csum::kL4)
          ops.push_back("l4");
        else if (in.aux & csum::kOut)
          ops.push_back("all");
        if (in.aux & csum::kOut) ops.push_back("out");
        break;
      }
      case Op::COPY: {
        std::string len =
            in.aux == kLengthConst ? std::to_string(in.target)
            : (in.aux & kLengthMapped) && (in.aux & kLengthMappedMask) < kMappedCount
                ? std::string(mapped_info(static_cast<MappedReg>(in.aux & kLengthMappedMask)).name)
                : "gpr" + std::to_string(in.aux);
        ops = {operand(in.a, false, true), operand(in.b, false, true), len};
        break;
      }
      case Op::LOOKUP:  // values over 8 bytes are copied whole into a buffer
        ops = {operand(in.a, true, wide_values(in.aux)), table(in.aux), operand(in.b, true, true)};
        break;
      case Op::UPDATE:
        ops = {table(in.aux), operand(in.a, true, true), operand(in.b, true, wide_values(in.aux))};
        break;
      case Op::TADD:
        ops = {table(in.aux), operand(in.a, true, true), operand(in.b)};
        break;
      case Op::DELETE:
        ops = {table(in.aux), operand(in.a, true, true)};
        break;
      case Op::TCLEAR:
        ops = {table(in.aux)};
        break;
      case Op::FOREACH: {  // keys and values over 8 bytes are copied whole into memory
        const bool wide_keys = in.aux < p_.tables.size() && p_.tables[in.aux].key_size > 8;
        ops = {table(in.aux), operand(in.a, true, wide_keys),
               operand(in.b, true, wide_values(in.aux))};
        break;
      }
      case Op::ENDFOR:
        break;
      case Op::CASE:
        return "case " + operand(in.a) + ":";
      case Op::DEFAULT:
        return "default:";
      case Op::SWITCH:
        ops = {operand(in.a)};
        break;
      case Op::BREAK:
        break;
      default:
        if (info.a != Slot::None) ops.push_back(operand(in.a, true, info.a == Slot::Key));
        if (info.b != Slot::None) ops.push_back(operand(in.b, true, info.b == Slot::Key));
        if (info.target == Target::Label || info.target == Target::Function)
          ops.push_back(target(in.target));
    }
    for (size_t i = 0; i < ops.size(); ++i) m += (i ? ", " : " ") + ops[i];
    return m;
  }

  std::string data_section() const {
    std::string o;
    for (const auto& s : p_.symbols) {
      switch (s.kind) {
        case SymbolKind::Num: {
          int64_t v = 0;
          if (static_cast<size_t>(s.value) + 8 <= p_.data.size())
            std::memcpy(&v, &p_.data[s.value], 8);
          o += "num " + s.name + " " + number(v) + "\n";
          break;
        }
        case SymbolKind::Buf: {
          bool zero = true;
          for (uint32_t i = 0; i < s.size && s.value + i < p_.data.size(); ++i)
            zero &= p_.data[s.value + i] == 0;
          if (zero) {
            o += "buf " + s.name + " " + std::to_string(s.size) + "\n";
          } else {
            o += "bytes " + s.name;
            for (uint32_t i = 0; i < s.size && s.value + i < p_.data.size(); ++i)
              o += " " + std::to_string(p_.data[s.value + i]);
            o += "\n";
          }
          break;
        }
        case SymbolKind::Array:
          o += "array " + s.name + " " + std::to_string(s.size / 8) + "\n";
          break;
        case SymbolKind::Const:
          o += "const " + s.name + " " +
               number(static_cast<int64_t>((static_cast<uint64_t>(s.size) << 32) | s.value)) + "\n";
          break;
        default:
          break;
      }
    }
    static const char* const kinds[] = {"hash", "array", "lpm4", "lpm6", "lru"};
    for (const auto& t : p_.tables) {
      const auto kind = static_cast<size_t>(t.kind);
      o += "table " + t.name + " " + (kind < std::size(kinds) ? kinds[kind] : "?");
      if (t.kind == TableKind::Hash || t.kind == TableKind::Lru)
        o += " key " + std::to_string(t.key_size);
      o += " value " + std::to_string(t.value_size) + " max " + std::to_string(t.max_entries);
      if (t.idle_ms) o += " idle " + period(t.idle_ms);
      o += "\n";
    }
    return o;
  }

 private:
  const Program& p_;
  std::multimap<uint32_t, std::string> code_names_;
  std::map<uint32_t, const Symbol*> data_names_;
};

}  // namespace

std::string format_insn(const Program& p, const Insn& insn) { return Printer(p).insn(insn); }

std::string disassemble(const Program& p, const DisasmOptions& opt) {
  Printer pr(p);
  std::string o;
  o += ".name " + quote(p.name) + "\n";
  if (!p.source_file.empty()) o += ".file " + quote(p.source_file) + "\n";
  if (p.on_fault == FaultAction::Pass) o += ".onfault pass\n";
  if (p.on_fault == FaultAction::Drop) o += ".onfault drop\n";
  std::string data = pr.data_section();
  if (!data.empty()) o += ".data:\n" + data;
  std::multimap<uint32_t, const Symbol*> funcs, labels;
  for (const auto& s : p.symbols) {
    if (s.kind == SymbolKind::Func) funcs.emplace(s.value, &s);
    if (s.kind == SymbolKind::Label) labels.emplace(s.value, &s);
  }
  // What starts at pc: sections, timers, functions, labels.
  auto markers = [&](uint32_t pc) {
    if (pc == p.text_pc) o += ".text:\n";
    if (pc == p.init_pc) o += ".init:\n";
    for (const auto& t : p.timers)
      if (t.pc == pc) o += ".timer " + t.name + " " + std::to_string(t.period_ms) + "ms:\n";
    for (auto [it, end] = funcs.equal_range(pc); it != end; ++it)
      o += "func " + it->second->name + ":\n";
    for (auto [it, end] = labels.equal_range(pc); it != end; ++it) o += it->second->name + ":\n";
  };
  for (uint32_t pc = 0; pc < p.code.size(); ++pc) {
    markers(pc);
    if (opt.loc && pc < p.lines.size())
      o += "    .loc " + std::to_string(p.lines[pc].line) + " " + std::to_string(p.lines[pc].col) +
           "\n";
    std::string line = "    " + pr.insn(p.code[pc]);
    std::string comment;
    if (opt.pcs) comment += "pc " + std::to_string(pc);
    if (!opt.loc && pc < p.lines.size() && p.lines[pc].line)
      comment +=
          (comment.empty() ? "" : ", ") + std::string("line ") + std::to_string(p.lines[pc].line);
    if (pc < opt.hits.size())
      comment += (comment.empty() ? "" : ", ") + std::to_string(opt.hits[pc]) + " hits";
    if (!comment.empty()) {
      if (line.size() < 40) line.resize(40, ' ');
      line += "  # " + comment;
    }
    o += line + "\n";
  }
  // Whatever stands after the last instruction (bytecode the verifier
  // refuses, and the assembler too for all but a label): shown, not lost.
  markers(static_cast<uint32_t>(p.code.size()));
  return o;
}

}  // namespace netcpu
