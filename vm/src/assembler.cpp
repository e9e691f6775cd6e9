// Two passes over the source lines: the first lays out the heap, tables,
// constants and label addresses (so code may name things declared later), the
// second encodes instructions. Errors carry the line and column of the token.
#include "netcpu/assembler.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>
#include <stdexcept>

#include "literals.h"
#include "netcpu/program.h"
#include "text_util.h"

namespace netcpu {
namespace {

struct AsmError {
  unsigned line, col;
  std::string msg;
};

struct OperandText {
  std::string_view text;
  unsigned col;  // 1-based column of its first character
};

struct ParsedLine {
  unsigned lineno = 0;
  std::string_view label;  // "name" of "name:" (sigil stripped)
  unsigned label_col = 0;
  bool label_is_func = false;
  std::string_view word;  // mnemonic, directive or declaration keyword
  unsigned word_col = 0;
  std::vector<OperandText> ops;
};

enum class Section { None, Data, Text, Init, Timer };

struct Builtin {
  const char* name;
  int64_t value;
};

// HOOK_* are the `hook` register's values: Hook's, named once in isa.h.
constexpr int64_t hook_value(Hook h) { return static_cast<int64_t>(h); }

constexpr Builtin kBuiltins[] = {
    {"PROTO_ICMP", 1},
    {"PROTO_IGMP", 2},
    {"PROTO_TCP", 6},
    {"PROTO_UDP", 17},
    {"PROTO_IPV6", 41},
    {"PROTO_GRE", 47},
    {"PROTO_ESP", 50},
    {"PROTO_AH", 51},
    {"PROTO_ICMP6", 58},
    {"PROTO_SCTP", 132},
    {"ETH_IP", 0x0800},
    {"ETH_ARP", 0x0806},
    {"ETH_IP6", 0x86dd},
    {"ETH_VLAN", 0x8100},
    {"ETH_QINQ", 0x88a8},
    {"ETH_MPLS", 0x8847},
    {"DIR_IN", 0},
    {"DIR_OUT", 1},
    {"HOOK_PRE_ROUTING", hook_value(Hook::PreRouting)},
    {"HOOK_LOCAL_IN", hook_value(Hook::LocalIn)},
    {"HOOK_FORWARD", hook_value(Hook::Forward)},
    {"HOOK_LOCAL_OUT", hook_value(Hook::LocalOut)},
    {"HOOK_POST_ROUTING", hook_value(Hook::PostRouting)},
    {"HOOK_PORT_IN", hook_value(Hook::PortIn)},
    {"HOOK_PORT_OUT", hook_value(Hook::PortOut)},
    {"HOOK_TIMER", hook_value(Hook::Timer)},
    {"HOOK_INIT", hook_value(Hook::Init)},
    {"HOOK_TEST", hook_value(Hook::Test)},
    {"HOOK_CABLE_IN", hook_value(Hook::CableIn)},
    {"HOOK_CABLE_OUT", hook_value(Hook::CableOut)},
    {"TCP_FIN", 1},
    {"TCP_SYN", 2},
    {"TCP_RST", 4},
    {"TCP_PSH", 8},
    {"TCP_ACK", 16},
    {"TCP_URG", 32},
    {"TCP_ECE", 64},
    {"TCP_CWR", 128},
    {"ICMP_ECHOREPLY", 0},
    {"ICMP_UNREACH", 3},
    {"ICMP_ECHO", 8},
    {"ICMP_TIMXCEED", 11},
    {"ICMP6_ECHO", 128},
    {"ICMP6_ECHOREPLY", 129},
    {"ICMP6_NS", 135},
    {"ICMP6_NA", 136},
    {"INPORT", -1},
};

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view strip_sigil(std::string_view s) {
  return (!s.empty() && s[0] == '$') ? s.substr(1) : s;
}

bool is_ident_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}
bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$';
}

class Assembler {
 public:
  Assembler(std::string_view src, const std::string& file) : src_(src), file_(file) {
    prog_.source_file = file;
    prog_.name = base_name(file);
  }

  std::optional<Program> run(Diagnostic* err) {
    try {
      split_lines();
      first_pass();
      second_pass();
      finish();
      return std::move(prog_);
    } catch (const AsmError& e) {
      if (err) *err = Diagnostic{file_, e.line, e.col, e.msg};
      return std::nullopt;
    }
  }

 private:
  [[noreturn]] void fail(unsigned col, std::string msg) const {
    throw AsmError{cur_line_, col, std::move(msg)};
  }

  static std::string base_name(const std::string& f) {
    auto slash = f.find_last_of('/');
    std::string b = slash == std::string::npos ? f : f.substr(slash + 1);
    auto dot = b.find_last_of('.');
    if (dot != std::string::npos && dot > 0) b.resize(dot);
    return b.empty() ? "program" : b;
  }

  // ---- lexing -------------------------------------------------------------

  void split_lines() {
    size_t start = 0;
    unsigned n = 0;
    while (start <= src_.size()) {
      size_t end = src_.find('\n', start);
      if (end == std::string_view::npos) end = src_.size();
      ++n;
      cur_line_ = n;
      std::string_view raw = src_.substr(start, end - start);
      if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
      if (auto pl = parse_line(raw, n)) lines_.push_back(*pl);
      if (end == src_.size()) break;
      start = end + 1;
    }
  }

  // Splits "label: word op, op # comment" into its parts, keeping columns.
  std::optional<ParsedLine> parse_line(std::string_view raw, unsigned lineno) {
    // Cut the comment: '#' outside a string or character literal.
    bool in_str = false;
    size_t cut = raw.size(), str_start = 0;
    for (size_t i = 0; i < raw.size(); ++i) {
      char c = raw[i];
      if (in_str) {
        if (c == '\\')
          ++i;
        else if (c == '"')
          in_str = false;
      } else if (c == '"') {
        in_str = true;
        str_start = i;
      } else if (c == '\'' && i + 2 < raw.size() && raw[i + 2] == '\'') {
        i += 2;  // a character literal such as '#' or ','
      } else if (c == '#' || c == ';') {
        cut = i;
        break;
      }
    }
    if (in_str) fail(static_cast<unsigned>(str_start + 1), "unterminated string");
    std::string_view s = raw.substr(0, cut);
    ParsedLine pl;
    pl.lineno = lineno;
    size_t i = 0;
    auto skip_ws = [&] {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    };
    skip_ws();
    if (i == s.size()) return std::nullopt;
    auto read_word = [&]() -> std::string_view {
      size_t b = i;
      while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])) && s[i] != ',') ++i;
      return s.substr(b, i - b);
    };
    size_t wstart = i;
    std::string_view w = read_word();
    // "func name:" defines a function; "name:" a label, unless name is a mnemonic
    // taking a trailing colon (case 5:, default:).
    if (lower(w) == "func") {
      skip_ws();
      size_t ls = i;
      std::string_view name = read_word();
      if (name.empty() || name.back() != ':')
        fail(static_cast<unsigned>(ls + 1), "expected 'func name:'");
      name.remove_suffix(1);
      pl.label = strip_sigil(name);
      pl.label_col = static_cast<unsigned>(ls + 1);
      pl.label_is_func = true;
      check_ident(pl.label, pl.label_col);
      skip_ws();
      if (i != s.size()) fail(static_cast<unsigned>(i + 1), "unexpected text after function name");
      return pl;
    }
    if (w.size() > 1 && w.back() == ':' && w[0] != '.' && lower(w) != "default:") {
      pl.label = strip_sigil(w.substr(0, w.size() - 1));
      pl.label_col = static_cast<unsigned>(wstart + 1);
      check_ident(pl.label, pl.label_col);
      skip_ws();
      if (i == s.size()) return pl;
      wstart = i;
      w = read_word();
    }
    if (lower(w) == "default:") w.remove_suffix(1);
    pl.word = w;
    pl.word_col = static_cast<unsigned>(wstart + 1);
    // Operands: comma separated, commas inside strings or brackets don't count.
    skip_ws();
    while (i < s.size()) {
      size_t b = i;
      int depth = 0;
      bool str = false;
      for (; i < s.size(); ++i) {
        char c = s[i];
        if (str) {
          if (c == '\\')
            ++i;
          else if (c == '"')
            str = false;
        } else if (c == '"') {
          str = true;
        } else if (c == '\'' && i + 2 < s.size() && s[i + 2] == '\'') {
          i += 2;
        } else if (c == '[') {
          ++depth;
        } else if (c == ']') {
          --depth;
        } else if (c == ',' && depth == 0) {
          break;
        }
      }
      std::string_view op = trim(s.substr(b, i - b));
      size_t lead = b;
      while (lead < s.size() && std::isspace(static_cast<unsigned char>(s[lead]))) ++lead;
      if (op.empty()) fail(static_cast<unsigned>(lead + 1), "empty operand");
      pl.ops.push_back({op, static_cast<unsigned>(lead + 1)});
      if (i < s.size()) {
        ++i;  // the comma
        skip_ws();
        if (i == s.size()) fail(static_cast<unsigned>(i), "operand expected after ','");
      }
    }
    return pl;
  }

  void check_ident(std::string_view name, unsigned col) const {
    if (name.empty() || !is_ident_start(name[0]) || name[0] == '$')
      fail(col, "invalid name '" + std::string(name) + "'");
    for (char c : name)
      if (!is_ident_char(c) || c == '$') fail(col, "invalid name '" + std::string(name) + "'");
  }

  // ---- numbers and literals ------------------------------------------------

  // Decodes a "..." literal with C escapes.
  std::string parse_string(std::string_view t, unsigned col) const {
    if (t.size() < 2 || t.front() != '"' || t.back() != '"') fail(col, "expected a string literal");
    std::string out;
    for (size_t i = 1; i + 1 < t.size(); ++i) {
      char c = t[i];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (++i + 1 >= t.size()) fail(col + static_cast<unsigned>(i), "bad escape at end of string");
      switch (t[i]) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '0':
          out += '\0';
          break;
        case '\\':
          out += '\\';
          break;
        case '"':
          out += '"';
          break;
        case 'x': {
          if (i + 2 >= t.size()) fail(col + static_cast<unsigned>(i), "\\x needs two hex digits");
          auto hv = parse_int(std::string("0x") + std::string(t.substr(i + 1, 2)));
          if (!hv) fail(col + static_cast<unsigned>(i), "\\x needs two hex digits");
          out += static_cast<char>(*hv);
          i += 2;
          break;
        }
        default:
          fail(col + static_cast<unsigned>(i), std::string("unknown escape \\") + t[i]);
      }
    }
    return out;
  }

  // ---- symbols ------------------------------------------------------------

  struct Sym {
    SymbolKind kind;
    uint32_t value, size;
    int64_t cvalue;  // constants
  };

  const Sym* lookup(std::string_view name) const {
    auto it = syms_.find(std::string(name));
    return it == syms_.end() ? nullptr : &it->second;
  }

  std::optional<int64_t> constant(std::string_view name) const {
    if (auto s = lookup(name); s && s->kind == SymbolKind::Const) return s->cvalue;
    for (const auto& b : kBuiltins)
      if (name == b.name) return b.value;
    return std::nullopt;
  }

  static std::optional<int> gpr_index(std::string_view name) {
    std::string l = lower(strip_sigil(name));
    std::string_view v = l;
    if (v.size() > 3 && v.substr(0, 3) == "gpr")
      v.remove_prefix(3);
    else if (v.size() > 1 && v[0] == 'r' && std::isdigit(static_cast<unsigned char>(v[1])))
      v.remove_prefix(1);
    else
      return std::nullopt;
    int n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n < 0 || n >= kGprCount)
      return std::nullopt;
    return n;
  }

  static std::optional<MappedReg> mapped_index(std::string_view name) {
    std::string l = lower(strip_sigil(name));
    for (size_t i = 0; i < kMappedCount; ++i)
      if (kMappedInfo[i].name == l) return static_cast<MappedReg>(i);
    return std::nullopt;
  }

  // Names a declaration may not take: registers, mapped registers, memory
  // spaces, built-in constants, and anything already declared (tables too).
  void check_free(std::string_view name, unsigned col) const {
    std::string l = lower(name);
    if (gpr_index(name) || mapped_index(name) || l == "pkt" || l == "out" || l == "heap")
      fail(col, "'" + std::string(name) + "' is a register or built-in name");
    if (std::any_of(std::begin(kBuiltins), std::end(kBuiltins),
                    [&](const Builtin& x) { return name == x.name; }))
      fail(col, "'" + std::string(name) + "' is a built-in constant");
    if (lookup(name) || table_index(name))
      fail(col, "'" + std::string(name) + "' is already defined");
  }

  void define(std::string_view name, unsigned col, Sym s) {
    check_free(name, col);
    syms_.emplace(std::string(name), s);
    order_.push_back(std::string(name));
  }

  // ---- pass 1: layout -------------------------------------------------------

  uint32_t alloc_heap(uint32_t size, unsigned col) {
    uint32_t off = (static_cast<uint32_t>(prog_.data.size()) + 7u) & ~7u;
    if (static_cast<uint64_t>(off) + size > kMaxHeap)
      fail(col, "heap larger than " + std::to_string(kMaxHeap) + " bytes");
    prog_.data.resize(off + size, 0);
    return off;
  }

  int64_t const_value(const OperandText& o) const {
    if (auto v = parse_int(o.text)) return *v;
    if (auto v = parse_char(o.text)) return *v;
    if (auto v = constant(strip_sigil(o.text))) return *v;
    if (auto v = parse_ipv4(o.text)) return *v;
    if (auto v = parse_mac(o.text)) return *v;
    fail(o.col, "expected a number, got '" + std::string(o.text) + "'");
  }

  uint32_t size_value(const OperandText& o, uint64_t max, const char* what) const {
    int64_t v = const_value(o);
    if (v <= 0 || static_cast<uint64_t>(v) > max)
      fail(o.col, std::string(what) + " must be between 1 and " + std::to_string(max));
    return static_cast<uint32_t>(v);
  }

  // Declarations take "name value" without commas too: split the operand words.
  std::vector<OperandText> words(const ParsedLine& l) const {
    std::vector<OperandText> out;
    for (const auto& o : l.ops) {
      if (o.text.front() == '"') {
        out.push_back(o);
        continue;
      }
      size_t i = 0;
      while (i < o.text.size()) {
        while (i < o.text.size() && std::isspace(static_cast<unsigned char>(o.text[i]))) ++i;
        size_t b = i;
        bool str = false;
        for (; i < o.text.size() && (str || !std::isspace(static_cast<unsigned char>(o.text[i])));
             ++i) {
          if (str && o.text[i] == '\\')
            ++i;
          else if (o.text[i] == '"')
            str = !str;
        }
        if (i > b)
          out.push_back(
              {o.text.substr(b, std::min(i, o.text.size()) - b), o.col + static_cast<unsigned>(b)});
      }
    }
    return out;
  }

  void declare(const ParsedLine& l) {
    std::string kw = lower(l.word);
    auto w = words(l);
    if (w.empty()) fail(l.word_col, "'" + kw + "' needs a name");
    std::string_view name = strip_sigil(w[0].text);
    check_ident(name, w[0].col);
    if (kw == "num") {
      if (w.size() > 2) fail(w[2].col, "num takes a name and an initial value");
      int64_t init = w.size() > 1 ? const_value(w[1]) : 0;
      uint32_t off = alloc_heap(8, w[0].col);
      std::memcpy(&prog_.data[off], &init, 8);
      define(name, w[0].col, {SymbolKind::Num, off, 8, 0});
    } else if (kw == "buf") {
      if (w.size() != 2) fail(l.word_col, "buf takes a name and a size in bytes");
      uint32_t size = size_value(w[1], kMaxHeap, "buffer size");
      define(name, w[0].col, {SymbolKind::Buf, alloc_heap(size, w[1].col), size, 0});
    } else if (kw == "array") {
      if (w.size() != 2) fail(l.word_col, "array takes a name and a number of elements");
      uint32_t n = size_value(w[1], kMaxHeap / 8, "array length");
      define(name, w[0].col, {SymbolKind::Array, alloc_heap(n * 8, w[1].col), n * 8, 0});
    } else if (kw == "bytes") {
      if (w.size() < 2) fail(l.word_col, "bytes takes a name and a string or byte values");
      std::string content;
      for (size_t i = 1; i < w.size(); ++i) {
        if (w[i].text.front() == '"') {
          content += parse_string(w[i].text, w[i].col);
        } else {
          int64_t v = const_value(w[i]);
          if (v < 0 || v > 255) fail(w[i].col, "byte values are 0..255");
          content += static_cast<char>(v);
        }
      }
      if (content.empty()) fail(w[1].col, "bytes needs at least one byte");
      uint32_t off = alloc_heap(static_cast<uint32_t>(content.size()), w[1].col);
      std::memcpy(&prog_.data[off], content.data(), content.size());
      define(name, w[0].col, {SymbolKind::Buf, off, static_cast<uint32_t>(content.size()), 0});
    } else if (kw == "const" || kw == ".equ") {
      if (w.size() != 2) fail(l.word_col, kw + " takes a name and a value");
      int64_t v = const_value(w[1]);
      define(name, w[0].col,
             {SymbolKind::Const, static_cast<uint32_t>(v),
              static_cast<uint32_t>(static_cast<uint64_t>(v) >> 32), v});
    } else if (kw == "table") {
      declare_table(l, w, name);
    } else {
      fail(l.word_col, "unknown declaration '" + std::string(l.word) +
                           "' (num, buf, array, bytes, const, table)");
    }
  }

  void declare_table(const ParsedLine& l, const std::vector<OperandText>& w,
                     std::string_view name) {
    if (w.size() < 2) fail(l.word_col, "table needs a kind: hash, lru, array, lpm4 or lpm6");
    TableDecl t;
    t.name = std::string(name);
    std::string kind = lower(w[1].text);
    if (kind == "hash")
      t.kind = TableKind::Hash;
    else if (kind == "lru")
      t.kind = TableKind::Lru;
    else if (kind == "array")
      t.kind = TableKind::Array, t.key_size = 4;
    else if (kind == "lpm4")
      t.kind = TableKind::Lpm4, t.key_size = 4;
    else if (kind == "lpm6")
      t.kind = TableKind::Lpm6, t.key_size = 16;
    else
      fail(w[1].col,
           "unknown table kind '" + std::string(w[1].text) + "' (hash, lru, array, lpm4, lpm6)");
    const bool hashed = t.kind == TableKind::Hash || t.kind == TableKind::Lru;
    for (size_t i = 2; i < w.size(); i += 2) {
      std::string k = lower(w[i].text);
      if (i + 1 >= w.size()) fail(w[i].col, "'" + k + "' needs a value");
      if (k == "key") {
        if (!hashed) fail(w[i].col, "only hash and lru tables take a key size");
        t.key_size = size_value(w[i + 1], kMaxKeySize, "key size");
      } else if (k == "idle") {
        if (!hashed) fail(w[i].col, "only hash and lru tables take an idle timeout");
        auto ms = period_ms(w[i + 1].text);
        if (!ms)
          fail(w[i + 1].col, "idle timeout must be between 1 ms and 1 day (as 30s or 500ms)");
        t.idle_ms = *ms;
      } else if (k == "value") {
        t.value_size = size_value(w[i + 1], kMaxValueSize, "value size");
      } else if (k == "max") {
        t.max_entries = size_value(w[i + 1], kMaxTableEntries, "max");
      } else {
        fail(w[i].col, "unknown table attribute '" + k + "' (key, value, max, idle)");
      }
    }
    if (!t.key_size) fail(l.word_col, kind + " table '" + t.name + "' needs 'key N'");
    if (!t.value_size) t.value_size = 8;
    if (!t.max_entries) fail(l.word_col, "table '" + t.name + "' needs 'max N'");
    if (prog_.tables.size() >= kMaxTables) fail(l.word_col, "too many tables");
    check_free(name, w[0].col);
    prog_.tables.push_back(t);
  }

  // A timer's period or a table's idle timeout: a number of milliseconds,
  // with or without "ms", or of seconds with "s"; 1 ms to a day.
  static std::optional<uint32_t> period_ms(std::string_view text) {
    uint64_t unit = 1;
    if (text.size() > 2 && text.substr(text.size() - 2) == "ms")
      text.remove_suffix(2);
    else if (text.size() > 1 && text.back() == 's')
      text.remove_suffix(1), unit = 1000;
    auto v = parse_int(text);
    if (!v || *v <= 0 || static_cast<uint64_t>(*v) > kMaxPeriodMs / unit) return std::nullopt;
    return static_cast<uint32_t>(static_cast<uint64_t>(*v) * unit);
  }

  std::optional<uint8_t> table_index(std::string_view name) const {
    for (size_t i = 0; i < prog_.tables.size(); ++i)
      if (prog_.tables[i].name == name) return static_cast<uint8_t>(i);
    return std::nullopt;
  }

  // Sections and directives; returns true if the line was one.
  bool directive(const ParsedLine& l, bool first) {
    std::string w = lower(l.word);
    if (w.empty() || w[0] != '.') return false;
    if (!l.label.empty()) fail(l.label_col, "a label cannot stand before a directive");
    std::string base = w.back() == ':' ? w.substr(0, w.size() - 1) : w;
    if (base == ".data" || base == ".text" || base == ".init") {
      if (!l.ops.empty()) fail(l.ops[0].col, "unexpected text after " + base);
      section_ = base == ".data" ? Section::Data : base == ".text" ? Section::Text : Section::Init;
      if (first) {
        if (section_ == Section::Text) {
          if (seen_text_)
            fail(l.word_col, implicit_text_
                                 ? "code before '.text:' already started the text section"
                                 : "only one .text section");
          seen_text_ = true;
          prog_.text_pc = pc_;
          entries_.push_back({pc_, cur_line_, l.word_col, "the .text section"});
        } else if (section_ == Section::Init) {
          if (prog_.init_pc != kNoTarget) fail(l.word_col, "only one .init section");
          prog_.init_pc = pc_;
          entries_.push_back({pc_, cur_line_, l.word_col, "the .init section"});
        }
      }
      return true;
    }
    if (base == ".timer") {
      // .timer name period[ms|s]:
      auto w2 = words(l);
      if (w2.size() != 2)
        fail(l.word_col, "expected '.timer name period:' (period in ms, or with s/ms)");
      std::string_view name = strip_sigil(w2[0].text);
      std::string_view per = w2[1].text;
      if (!per.empty() && per.back() == ':') per.remove_suffix(1);
      auto period = period_ms(per);
      if (!period) fail(w2[1].col, "timer period must be between 1 ms and 1 day");
      section_ = Section::Timer;
      if (first) {
        check_ident(name, w2[0].col);
        for (const auto& t : prog_.timers)
          if (t.name == name)
            fail(w2[0].col, "timer '" + std::string(name) + "' is already defined");
        prog_.timers.push_back({std::string(name), pc_, *period});
        entries_.push_back({pc_, cur_line_, l.word_col, "timer '" + std::string(name) + "'"});
      }
      return true;
    }
    if (base == ".name" || base == ".file") {
      if (l.ops.size() != 1) fail(l.word_col, base + " takes a string");
      if (first) {
        std::string text = parse_string(l.ops[0].text, l.ops[0].col);
        // (An empty one would be no file: the disassembly, which names
        // none then, would assemble as the file it is read from.)
        if (base == ".file" && text.empty())
          fail(l.ops[0].col, ".file takes a file name, not an empty string");
        (base == ".name" ? prog_.name : prog_.source_file) = std::move(text);
      }
      return true;
    }
    if (base == ".loc") {
      auto w2 = words(l);
      if (w2.size() != 2) fail(l.word_col, ".loc takes a line and a column");
      if (!first)
        loc_ = SourcePos{static_cast<uint32_t>(const_value(w2[0])),
                         static_cast<uint32_t>(const_value(w2[1]))};
      return true;
    }
    if (base == ".onfault") {
      auto w2 = words(l);
      std::string a = w2.size() == 1 ? lower(w2[0].text) : "";
      if (a == "abort")
        prog_.on_fault = FaultAction::Abort;
      else if (a == "pass")
        prog_.on_fault = FaultAction::Pass;
      else if (a == "drop")
        prog_.on_fault = FaultAction::Drop;
      else
        fail(l.word_col, ".onfault takes abort, pass or drop");
      return true;
    }
    if (base == ".equ") {
      if (first) declare(l);
      return true;
    }
    fail(l.word_col, "unknown directive '" + std::string(l.word) + "'");
  }

  void first_pass() {
    for (const auto& l : lines_) {
      cur_line_ = l.lineno;
      if (!l.word.empty() && directive(l, true)) continue;
      if (section_ == Section::Data) {
        if (!l.label.empty()) fail(l.label_col, "labels belong in code sections, not .data");
        declare(l);
        continue;
      }
      if (section_ == Section::None) {
        // No section yet: code (the 2004 programs always name one, but be kind).
        section_ = Section::Text;
        seen_text_ = implicit_text_ = true;
        prog_.text_pc = pc_;
        // A source of labels alone starts a .text with nothing in it.
        entries_.push_back({pc_, cur_line_, l.label.empty() ? l.word_col : l.label_col,
                            "the .text section (started by code before any section)"});
      }
      if (!l.label.empty()) {
        if (l.label_is_func) {
          define(l.label, l.label_col, {SymbolKind::Func, pc_, 0, 0});
          entries_.push_back(
              {pc_, cur_line_, l.label_col, "function '" + std::string(l.label) + "'"});
        } else {
          define(l.label, l.label_col, {SymbolKind::Label, pc_, 0, 0});
        }
      }
      if (!l.word.empty()) ++pc_;
    }
    if (!seen_text_) fail(0, "no .text section: a program needs code to run on packets");
    // Said here, at the section or function, rather than by the verifier at
    // the instruction before it: an entry after the last instruction has
    // nothing to run.
    for (const Entry& e : entries_)
      if (e.pc == pc_)
        throw AsmError{e.line, e.col,
                       e.what + " has no instructions (end it with end, or ret in a function)"};
    if (pc_ > kMaxCode)
      fail(0, "program longer than " + std::to_string(kMaxCode) + " instructions");
  }

  // ---- pass 2: instructions -------------------------------------------------

  struct Literal {
    enum Type { Operand_, String, Ident } type = Operand_;
    Operand op;
    std::string str;  // String: decoded bytes; Ident: the name
  };

  uint32_t intern(const std::string& s) {
    for (size_t i = 0; i < prog_.strings.size(); ++i)
      if (prog_.strings[i] == s) return static_cast<uint32_t>(i);
    prog_.strings.push_back(s);
    return static_cast<uint32_t>(prog_.strings.size() - 1);
  }

  // Memory operand: [SPACE[.TYPE]][expr], or NAME[index] on a buffer/array.
  std::optional<Operand> parse_memory(std::string_view t, unsigned col) {
    size_t open = t.find('[');
    if (open == std::string_view::npos || t.back() != ']') return std::nullopt;
    std::string prefix = lower(strip_sigil(t.substr(0, open)));
    std::string_view inner = t.substr(open + 1, t.size() - open - 2);
    Operand o;
    int width_log = -1;
    bool host = false;
    int64_t elem = 1;
    int64_t base_off = 0;
    std::string space = prefix, type;
    if (auto dot = prefix.find('.'); dot != std::string::npos)
      space = prefix.substr(0, dot), type = prefix.substr(dot + 1);
    if (space.empty() || space == "heap") {
      o.kind = Kind::HeapMem;
      width_log = 3, host = true;
    } else if (space == "pkt") {
      o.kind = Kind::PktMem, width_log = 0;
    } else if (space == "out") {
      o.kind = Kind::OutMem, width_log = 0;
    } else if (const Sym* s = lookup(strip_sigil(t.substr(0, std::min(open, t.find('.')))));
               s && (s->kind == SymbolKind::Buf || s->kind == SymbolKind::Array)) {
      // buf[i]: byte i; buf.u16[i]: 2 bytes at byte offset i; array[i]: element i.
      o.kind = Kind::HeapMem;
      base_off = s->value;
      if (s->kind == SymbolKind::Array) {
        if (!type.empty()) fail(col, "arrays hold 8-byte numbers: index them without a type");
        width_log = 3, host = true, elem = 8;
      } else {
        width_log = 0;
      }
    } else {
      fail(col, "unknown memory space '" + std::string(t.substr(0, open)) +
                    "' (pkt, out, heap, or a buf/array name)");
    }
    if (!type.empty()) {
      static const std::pair<const char*, std::pair<int, bool>> types[] = {
          {"u8", {0, false}}, {"u16", {1, false}}, {"u32", {2, false}}, {"u64", {3, false}},
          {"h8", {0, true}},  {"h16", {1, true}},  {"h32", {2, true}},  {"h64", {3, true}}};
      bool ok = false;
      for (const auto& [n, wh] : types)
        if (type == n) width_log = wh.first, host = wh.second, ok = true;
      if (!ok)
        fail(col, "unknown access type '" + type +
                      "' (u8 u16 u32 u64 network order, h16 h32 h64 host order)");
    }
    // Address: terms joined by + and -: one register (optionally *scale) and constants.
    int64_t disp = 0;
    bool have_base = false;
    std::string_view rest = inner;
    unsigned icol = col + static_cast<unsigned>(open + 1);
    size_t i = 0;
    int sign = 1;
    if (trim(rest).empty()) fail(icol, "empty address");
    while (i < rest.size()) {
      while (i < rest.size() && std::isspace(static_cast<unsigned char>(rest[i]))) ++i;
      size_t b = i;
      while (i < rest.size() && rest[i] != '+' && rest[i] != '-') ++i;
      // A leading '-' belongs to the next term's sign.
      std::string_view term = trim(rest.substr(b, i - b));
      unsigned tcol = icol + static_cast<unsigned>(b);
      if (term.empty()) {
        if (i < rest.size() && b == i) {
          sign = rest[i] == '-' ? -sign : sign;
          ++i;
          continue;
        }
        fail(tcol, "missing term in address");
      }
      std::string_view scale_txt;
      if (auto star = term.find('*'); star != std::string_view::npos) {
        scale_txt = trim(term.substr(star + 1));
        term = trim(term.substr(0, star));
      }
      auto g = gpr_index(term);
      auto m = mapped_index(term);
      if (g || m) {
        if (have_base) fail(tcol, "an address takes one register at most");
        if (sign < 0) fail(tcol, "a register cannot be subtracted in an address");
        if (m && mapped_info(*m).bytes != 8)
          fail(tcol, std::string(term) + " is 16 bytes and cannot be an address");
        have_base = true;
        o.reg = g ? static_cast<uint8_t>(*g) : static_cast<uint8_t>(*m);
        if (m) o.attr |= attr::kBaseMapped;
        int64_t sc = elem;
        if (!scale_txt.empty()) {
          auto s = parse_int(scale_txt);
          if (!s || (*s != 1 && *s != 2 && *s != 4 && *s != 8))
            fail(tcol, "scale must be 1, 2, 4 or 8");
          sc *= *s;
        }
        if (sc != 1 && sc != 2 && sc != 4 && sc != 8) fail(tcol, "scale must be 1, 2, 4 or 8");
        int sl = sc == 1 ? 0 : sc == 2 ? 1 : sc == 4 ? 2 : 3;
        o.attr |= static_cast<uint8_t>(sl << attr::kScaleShift);
      } else {
        int64_t v;
        if (const Sym* s = lookup(strip_sigil(term));
            s && (s->kind == SymbolKind::Num || s->kind == SymbolKind::Buf ||
                  s->kind == SymbolKind::Array)) {
          if (o.kind != Kind::HeapMem)
            fail(tcol, "'" + std::string(term) + "' is a heap address, not a packet offset");
          v = s->value;
        } else {
          v = const_value({term, tcol});
        }
        // Checked: constants of any size multiply and add up here, and
        // only the sum must fit 32 bits.
        if (!scale_txt.empty()) {
          auto s = parse_int(scale_txt);
          if (!s) fail(tcol, "bad scale");
          if (__builtin_mul_overflow(v, *s, &v)) fail(tcol, "address offset out of range");
        }
        if (__builtin_mul_overflow(v, elem * sign, &v) || __builtin_add_overflow(disp, v, &disp))
          fail(tcol, "address offset out of range");
      }
      sign = 1;
      if (i < rest.size()) {
        sign = rest[i] == '-' ? -1 : 1;
        ++i;
        while (i < rest.size() && std::isspace(static_cast<unsigned char>(rest[i]))) ++i;
        if (i == rest.size()) fail(icol + static_cast<unsigned>(i), "missing term in address");
      }
    }
    if (__builtin_add_overflow(disp, base_off, &disp)) fail(icol, "address offset out of range");
    if (!have_base) o.attr |= attr::kNoBase, o.reg = 0;
    if (disp < INT32_MIN || disp > INT32_MAX) fail(icol, "address offset out of range");
    o.imm = disp;
    o.attr |= static_cast<uint8_t>(width_log) | (host ? attr::kHostOrder : 0);
    return o;
  }

  Literal literal(const OperandText& ot) {
    std::string_view t = ot.text;
    Literal lit;
    if (t.front() == '"') {
      lit.type = Literal::String;
      lit.str = parse_string(t, ot.col);
      return lit;
    }
    if (auto mem = parse_memory(t, ot.col)) {
      lit.op = *mem;
      return lit;
    }
    if (t.front() == '&') {
      std::string_view n = strip_sigil(t.substr(1));
      const Sym* s = lookup(n);
      if (!s || s->kind == SymbolKind::Label || s->kind == SymbolKind::Func ||
          s->kind == SymbolKind::Const)
        fail(ot.col, "'&' takes a heap variable, buffer or array name");
      lit.op = {Kind::Imm, 0, 0, s->value};
      return lit;
    }
    if (auto g = gpr_index(t)) {
      lit.op = {Kind::Reg, 0, static_cast<uint8_t>(*g), 0};
      return lit;
    }
    if (auto m = mapped_index(t)) {
      lit.op = {Kind::Mapped, 0, static_cast<uint8_t>(*m), 0};
      return lit;
    }
    if (auto v = parse_int(t)) return lit.op = {Kind::Imm, 0, 0, *v}, lit;
    if (auto v = parse_char(t)) return lit.op = {Kind::Imm, 0, 0, *v}, lit;
    if (auto v = parse_ipv4(t)) return lit.op = {Kind::Imm, 0, 0, *v}, lit;
    if (auto v = parse_mac(t)) return lit.op = {Kind::Imm, 0, 0, *v}, lit;
    if (auto v6 = parse_ipv6(t)) return lit.op = {Kind::Bytes, 0, 0, intern(*v6)}, lit;
    std::string_view name = strip_sigil(t);
    if (auto c = constant(name)) return lit.op = {Kind::Imm, 0, 0, *c}, lit;
    if (const Sym* s = lookup(name)) {
      if (s->kind == SymbolKind::Num) return lit.op = {Kind::Var, 0, 0, s->value}, lit;
      if (s->kind == SymbolKind::Buf || s->kind == SymbolKind::Array) {
        // A buffer used whole: its bytes (for keys and values) as heap memory.
        lit.op = {Kind::HeapMem, static_cast<uint8_t>(attr::kNoBase), 0, s->value};
        lit.type = Literal::Ident;
        lit.str = std::string(name);
        return lit;
      }
    }
    if (!name.empty() && is_ident_start(name[0])) {
      lit.type = Literal::Ident;
      lit.str = std::string(name);
      return lit;
    }
    fail(ot.col, "cannot parse operand '" + std::string(t) + "'");
  }

  Operand value_operand(const OperandText& ot, Slot slot) {
    Literal l = literal(ot);
    if (l.type == Literal::String) fail(ot.col, "a string is not allowed here");
    if (l.type == Literal::Ident && l.op.kind == Kind::None)
      fail(ot.col, "unknown name '" + l.str + "'");
    const Operand& o = l.op;
    if (l.type == Literal::Ident && slot != Slot::Key && slot != Slot::Mem)
      fail(ot.col, "'" + l.str + "' is a buffer: index it (" + l.str +
                       "[i]) or take its address (&" + l.str + ")");
    switch (slot) {
      case Slot::Write:
        if (o.kind == Kind::Imm || o.kind == Kind::Bytes)
          fail(ot.col, "cannot write to a constant");
        if (o.kind == Kind::Mapped)
          fail(ot.col, std::string(mapped_info(static_cast<MappedReg>(o.reg)).name) +
                           " is read-only (use 'rewrite' to change a header field)");
        break;
      case Slot::Gpr:
        if (o.kind != Kind::Reg) fail(ot.col, "expected a register gpr0..gpr15");
        break;
      case Slot::Mem:
        if (o.kind != Kind::HeapMem && o.kind != Kind::PktMem && o.kind != Kind::OutMem)
          fail(ot.col, "expected a memory reference like pkt[14] or [buf]");
        break;
      case Slot::Mapped:
        if (o.kind != Kind::Mapped) fail(ot.col, "expected a header field like ip.src");
        break;
      case Slot::Read:
        if (o.kind == Kind::Bytes)
          fail(ot.col, "a 16-byte value is only allowed in cmp16 and table keys");
        break;
      default:
        break;
    }
    if (o.kind == Kind::Mapped && slot != Slot::Key &&
        mapped_info(static_cast<MappedReg>(o.reg)).bytes != 8)
      fail(ot.col, std::string(mapped_info(static_cast<MappedReg>(o.reg)).name) +
                       " is 16 bytes: use cmp16 or a 16-byte table key");
    return o;
  }

  uint32_t label_target(const OperandText& ot, bool func) {
    std::string_view name = strip_sigil(ot.text);
    const Sym* s = lookup(name);
    if (!s || (s->kind != SymbolKind::Label && s->kind != SymbolKind::Func))
      fail(ot.col,
           std::string(func ? "unknown function '" : "unknown label '") + std::string(name) + "'");
    if (func && s->kind != SymbolKind::Func)
      fail(ot.col, "'" + std::string(name) +
                       "' is a label, not a function (declare it with 'func " + std::string(name) +
                       ":')");
    return s->value;
  }

  uint8_t table_operand(const OperandText& ot) {
    auto t = table_index(strip_sigil(ot.text));
    if (!t) fail(ot.col, "unknown table '" + std::string(ot.text) + "'");
    return *t;
  }

  void expect_ops(const ParsedLine& l, size_t min, size_t max, const char* form) {
    if (l.ops.size() < min || l.ops.size() > max) {
      unsigned col = l.ops.size() > max ? l.ops[max].col : l.word_col;
      fail(col, "expected '" + std::string(form) + "'");
    }
  }

  // A switch or foreach whose end (endswitch, endfor) is still to come:
  // case, default and break belong to the innermost one.
  struct OpenBlock {
    Op op;  // SWITCH or FOREACH
    uint32_t start_pc;
    std::vector<uint32_t> labels;  // a switch's case/default pcs in order
    std::vector<uint32_t> breaks;
    bool has_default = false;
    unsigned line, col;
  };

  // The innermost open block, which must be a `kind` for this line's word.
  OpenBlock& innermost(const ParsedLine& l, Op kind, const char* outside) {
    if (std::none_of(blocks_.begin(), blocks_.end(),
                     [&](const OpenBlock& b) { return b.op == kind; }))
      fail(l.word_col, outside);
    if (blocks_.back().op != kind)
      fail(l.word_col, "'" + lower(l.word) +
                           (blocks_.back().op == Op::SWITCH
                                ? "' inside a switch: close the switch first (endswitch)"
                                : "' inside a foreach body: close the foreach first (endfor)"));
    return blocks_.back();
  }

  Insn encode(const ParsedLine& l) {
    std::string mn = lower(l.word);
    if (mn == "jz") mn = "je";
    if (mn == "jnz") mn = "jne";
    if (mn == "nmov") mn = "mov";  // 2004's network-order move: memory operands already are
    std::optional<Op> op;
    for (size_t i = 0; i < kOpCount; ++i)
      if (kOpInfo[i].mnemonic == mn) op = static_cast<Op>(i);
    if (!op) fail(l.word_col, "unknown instruction '" + std::string(l.word) + "'");
    Insn in;
    in.op = *op;
    const OpInfo& info = op_info(*op);
    switch (*op) {
      case Op::PRINT:
      case Op::LOG: {
        size_t k = 0;
        if (!l.ops.empty() && l.ops[0].text.front() == '"') {
          in.target = intern(parse_string(l.ops[0].text, l.ops[0].col));
          k = 1;
        }
        if (l.ops.size() - k > 2)
          fail(l.ops[k + 2].col, mn + " takes a string and at most two values");
        if (l.ops.empty()) fail(l.word_col, mn + " needs a string or a value");
        for (size_t j = k; j < l.ops.size(); ++j) {
          if (l.ops[j].text.front() == '"') fail(l.ops[j].col, "the string comes first");
          (j == k ? in.a : in.b) = value_operand(l.ops[j], Slot::Read);
        }
        return in;
      }
      case Op::DUMP:
        expect_ops(l, 0, 1, "dump [max bytes]");
        in.a = l.ops.empty() ? Operand{Kind::Imm, 0, 0, 0} : value_operand(l.ops[0], Slot::Read);
        return in;
      case Op::FIND: {
        expect_ops(l, 2, 3, "find gprN, \"string\"[, start offset]");
        in.a = value_operand(l.ops[0], Slot::Gpr);
        if (l.ops[1].text.front() != '"') fail(l.ops[1].col, "find searches for a string literal");
        std::string needle = parse_string(l.ops[1].text, l.ops[1].col);
        if (needle.empty()) fail(l.ops[1].col, "find needs a non-empty string");
        in.target = intern(needle);
        in.b =
            l.ops.size() == 3 ? value_operand(l.ops[2], Slot::Read) : Operand{Kind::Imm, 0, 0, 0};
        return in;
      }
      case Op::CSUM: {
        // csum [ip|l4|all][, out]
        in.aux = csum::kIp | csum::kL4;
        for (size_t j = 0; j < l.ops.size(); ++j) {
          std::string w = lower(l.ops[j].text);
          if (j == 0 && w == "ip")
            in.aux = csum::kIp;
          else if (j == 0 && w == "l4")
            in.aux = csum::kL4;
          else if (j == 0 && w == "all")
            in.aux = csum::kIp | csum::kL4;
          else if (w == "out" && j == l.ops.size() - 1)
            in.aux |= csum::kOut;
          else if (w == "pkt" && j == l.ops.size() - 1) {
          } else
            fail(l.ops[j].col, "expected 'csum [ip|l4|all][, pkt|out]'");
        }
        return in;
      }
      case Op::COPY: {
        expect_ops(l, 3, 3, "copy dst[off], src[off], length");
        in.a = value_operand(l.ops[0], Slot::Mem);
        in.b = value_operand(l.ops[1], Slot::Mem);
        in.a.attr &= static_cast<uint8_t>(~attr::kWidthMask);
        in.b.attr &= static_cast<uint8_t>(~attr::kWidthMask);
        Literal len = literal(l.ops[2]);
        if (len.op.kind == Kind::Imm) {
          if (len.op.imm < 0 || len.op.imm > 65535)
            fail(l.ops[2].col, "copy length must be 0..65535");
          in.aux = kLengthConst;
          in.target = static_cast<uint32_t>(len.op.imm);
        } else if (len.op.kind == Kind::Reg) {
          in.aux = len.op.reg;
        } else if (len.op.kind == Kind::Mapped &&
                   mapped_info(static_cast<MappedReg>(len.op.reg)).bytes == 8) {
          in.aux = static_cast<uint8_t>(kLengthMapped | len.op.reg);
        } else {
          fail(l.ops[2].col, "copy length is a constant, a register or a mapped register");
        }
        return in;
      }
      case Op::LOOKUP:
        expect_ops(l, 3, 3, "lookup dst, table, key");
        in.aux = table_operand(l.ops[1]);
        // Values over 8 bytes are copied whole into memory, a buffer included.
        in.a =
            value_operand(l.ops[0], prog_.tables[in.aux].value_size > 8 ? Slot::Mem : Slot::Write);
        in.b = value_operand(l.ops[2], Slot::Key);
        return in;
      case Op::UPDATE:
      case Op::TADD:
        expect_ops(l, 3, 3,
                   *op == Op::UPDATE ? "update table, key, value" : "tadd table, key, delta");
        in.aux = table_operand(l.ops[0]);
        in.a = value_operand(l.ops[1], Slot::Key);
        in.b = value_operand(l.ops[2], prog_.tables[in.aux].value_size > 8 && *op == Op::UPDATE
                                           ? Slot::Mem
                                           : Slot::Read);
        return in;
      case Op::TCLEAR:
        expect_ops(l, 1, 1, "tclear table");
        in.aux = table_operand(l.ops[0]);
        return in;
      case Op::DELETE:
        expect_ops(l, 2, 2, "delete table, key");
        in.aux = table_operand(l.ops[0]);
        in.a = value_operand(l.ops[1], Slot::Key);
        return in;
      case Op::SWITCH: {
        expect_ops(l, 1, 1, "switch value");
        in.a = value_operand(l.ops[0], Slot::Read);
        blocks_.push_back({Op::SWITCH, pc_, {}, {}, false, l.lineno, l.word_col});
        return in;
      }
      case Op::CASE: {
        OpenBlock& sw = innermost(l, Op::SWITCH, "case outside a switch");
        expect_ops(l, 1, 1, "case constant:");
        OperandText ot = l.ops[0];
        if (!ot.text.empty() && ot.text.back() == ':') ot.text.remove_suffix(1);
        in.a = {Kind::Imm, 0, 0, const_value(ot)};
        for (uint32_t p : sw.labels)
          if (pending_[p].op == Op::CASE && pending_[p].a.imm == in.a.imm)
            fail(ot.col, "duplicate case " + std::to_string(in.a.imm));
        sw.labels.push_back(pc_);
        return in;
      }
      case Op::DEFAULT: {
        OpenBlock& sw = innermost(l, Op::SWITCH, "default outside a switch");
        if (sw.has_default) fail(l.word_col, "a switch has one default");
        if (!l.ops.empty() && l.ops[0].text != ":") fail(l.ops[0].col, "default takes no operand");
        sw.has_default = true;
        sw.labels.push_back(pc_);
        return in;
      }
      case Op::BREAK:
        if (blocks_.empty()) fail(l.word_col, "break outside a switch or foreach");
        expect_ops(l, 0, 0, "break");
        blocks_.back().breaks.push_back(pc_);
        return in;
      case Op::ENDSWITCH: {
        const OpenBlock sw = innermost(l, Op::SWITCH, "endswitch without a switch");
        expect_ops(l, 0, 0, "endswitch");
        blocks_.pop_back();
        std::vector<uint32_t> chain = sw.labels;
        chain.push_back(pc_);
        pending_[sw.start_pc].target = chain[0];
        for (size_t k = 0; k + 1 < chain.size(); ++k) pending_[chain[k]].target = chain[k + 1];
        for (uint32_t b : sw.breaks) pending_[b].target = pc_;
        return in;
      }
      case Op::FOREACH: {
        expect_ops(l, 3, 3, "foreach table, key, value");
        in.aux = table_operand(l.ops[0]);
        const TableDecl& t = prog_.tables[in.aux];
        // Keys and values over 8 bytes are copied whole into memory, as lookup does.
        in.a = value_operand(l.ops[1], t.key_size > 8 ? Slot::Mem : Slot::Write);
        in.b = value_operand(l.ops[2], t.value_size > 8 ? Slot::Mem : Slot::Write);
        blocks_.push_back({Op::FOREACH, pc_, {}, {}, false, l.lineno, l.word_col});
        return in;
      }
      case Op::ENDFOR: {
        const OpenBlock loop = innermost(l, Op::FOREACH, "endfor without a foreach");
        expect_ops(l, 0, 0, "endfor");
        blocks_.pop_back();
        pending_[loop.start_pc].target = pc_;
        in.target = loop.start_pc;
        for (uint32_t b : loop.breaks) pending_[b].target = pc_;
        return in;
      }
      default:
        break;
    }
    // Generic form: [a][, b][, label].
    size_t want = (info.a != Slot::None) + (info.b != Slot::None) +
                  (info.target == Target::Label || info.target == Target::Function);
    std::string form = std::string(info.mnemonic);
    if (info.a != Slot::None) form += " a";
    if (info.b != Slot::None) form += ", b";
    if (info.target == Target::Label) form += info.a != Slot::None ? ", label" : " label";
    if (info.target == Target::Function) form += " function";
    expect_ops(l, want, want, form.c_str());
    size_t k = 0;
    if (info.a != Slot::None) in.a = value_operand(l.ops[k++], info.a);
    if (info.b != Slot::None) in.b = value_operand(l.ops[k++], info.b);
    if (info.target == Target::Label) in.target = label_target(l.ops[k], false);
    if (info.target == Target::Function) in.target = label_target(l.ops[k], true);
    if (*op == Op::REWRITE && mapped_info(static_cast<MappedReg>(in.a.reg)).bytes != 8)
      fail(l.ops[0].col, "rewrite takes a numeric header field");
    return in;
  }

  void second_pass() {
    section_ = Section::None;
    pc_ = 0;
    for (const auto& l : lines_) {
      cur_line_ = l.lineno;
      if (!l.word.empty() && directive(l, false)) continue;
      if (section_ == Section::Data) continue;
      if (section_ == Section::None) section_ = Section::Text;
      if (l.word.empty()) continue;
      Insn in = encode(l);
      pending_.push_back(in);
      prog_.lines.push_back(loc_ ? *loc_ : SourcePos{l.lineno, l.word_col});
      loc_.reset();
      ++pc_;
    }
    if (!blocks_.empty()) {
      cur_line_ = blocks_.back().line;
      fail(blocks_.back().col,
           blocks_.back().op == Op::SWITCH ? "switch without endswitch" : "foreach without endfor");
    }
    prog_.code = std::move(pending_);
  }

  // Symbols in a canonical order so that equal programs encode to equal bytes
  // whatever the order of sections in the source.
  void finish() {
    for (const auto& n : order_) {
      const Sym& s = syms_.at(n);
      prog_.symbols.push_back({n, s.kind, s.value, s.size});
    }
    std::stable_sort(prog_.symbols.begin(), prog_.symbols.end(),
                     [](const Symbol& x, const Symbol& y) {
                       bool xc = x.kind == SymbolKind::Label || x.kind == SymbolKind::Func;
                       bool yc = y.kind == SymbolKind::Label || y.kind == SymbolKind::Func;
                       if (xc != yc) return !xc;
                       if (xc) return x.value < y.value || (x.value == y.value && x.kind > y.kind);
                       return false;
                     });
  }

  std::string_view src_;
  std::string file_;
  Program prog_;
  std::vector<ParsedLine> lines_;
  std::map<std::string, Sym> syms_;
  std::vector<std::string> order_;
  std::vector<Insn> pending_;
  std::vector<OpenBlock> blocks_;
  std::optional<SourcePos> loc_;
  Section section_ = Section::None;
  bool seen_text_ = false;
  bool implicit_text_ = false;  // code came before any section header
  uint32_t pc_ = 0;
  unsigned cur_line_ = 0;
  // Where each entry (.text, .init, a timer, a function) starts, and where
  // the source names it.
  struct Entry {
    uint32_t pc;
    unsigned line, col;
    std::string what;
  };
  std::vector<Entry> entries_;
};

}  // namespace

std::optional<Program> assemble(std::string_view source, const std::string& file, Diagnostic* err) {
  return Assembler(source, file).run(err);
}

}  // namespace netcpu
