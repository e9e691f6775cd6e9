// Bytecode layout (docs/bytecode.md). Every read is bounds-checked: a
// malformed file yields an error, never a crash.
#include "netcpu/bytecode.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace netcpu {
namespace {

constexpr uint8_t kMagic[4] = {'N', 'C', 'P', 'U'};
constexpr size_t kInsnBytes = 32;

enum Tag : uint32_t {
  kTagName = 0x454d414e,  // "NAME"
  kTagFile = 0x454c4946,  // "FILE"
  kTagCode = 0x45444f43,  // "CODE"
  kTagLine = 0x454e494c,  // "LINE"
  kTagData = 0x41544144,  // "DATA"
  kTagTabl = 0x4c424154,  // "TABL"
  kTagStrs = 0x53525453,  // "STRS"
  kTagSyms = 0x534d5953,  // "SYMS"
  kTagEntr = 0x52544e45,  // "ENTR"
};

class Writer {
 public:
  void u8(uint8_t v) { b_.push_back(v); }
  void u16(uint16_t v) { u8(v & 0xff), u8(v >> 8); }
  void u32(uint32_t v) { u16(v & 0xffff), u16(v >> 16); }
  void u64(uint64_t v) { u32(v & 0xffffffff), u32(v >> 32); }
  void bytes(const void* p, size_t n) {
    b_.insert(b_.end(), (const uint8_t*)p, (const uint8_t*)p + n);
  }
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size())), bytes(s.data(), s.size());
  }
  std::vector<uint8_t>& out() { return b_; }

 private:
  std::vector<uint8_t> b_;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> b) : b_(b) {}
  bool ok() const { return ok_; }
  size_t left() const { return b_.size() - pos_; }
  uint8_t u8() { return need(1) ? b_[pos_++] : 0; }
  uint16_t u16() {
    uint16_t lo = u8();
    return static_cast<uint16_t>(lo | (u8() << 8));
  }
  uint32_t u32() {
    uint32_t lo = u16();
    return lo | (static_cast<uint32_t>(u16()) << 16);
  }
  uint64_t u64() {
    uint64_t lo = u32();
    return lo | (static_cast<uint64_t>(u32()) << 32);
  }
  std::string str(size_t max) {
    uint32_t n = u32();
    if (n > max || !need(n)) return ok_ = false, std::string();
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> take(size_t n) {
    if (!need(n)) return {};
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  // A count of records of at least min_bytes each that the rest can hold.
  uint32_t count(size_t min_bytes) {
    uint32_t n = u32();
    if (min_bytes && n > left() / min_bytes) ok_ = false;
    return ok_ ? n : 0;
  }

 private:
  bool need(size_t n) {
    if (!ok_ || n > left()) return ok_ = false;
    return true;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  bool ok_ = true;
};

void put_operand_head(Writer& w, const Operand& o) {
  w.u8(static_cast<uint8_t>(o.kind));
  w.u8(o.attr);
  w.u8(o.reg);
}

void section(Writer& w, uint32_t tag, const std::vector<uint8_t>& payload) {
  w.u32(tag);
  w.u32(static_cast<uint32_t>(payload.size()));
  w.bytes(payload.data(), payload.size());
}

}  // namespace

bool is_bytecode(std::span<const uint8_t> b) {
  return b.size() >= 4 && std::memcmp(b.data(), kMagic, 4) == 0;
}

std::vector<uint8_t> encode_bytecode(const Program& p) {
  Writer w;
  w.bytes(kMagic, 4);
  w.u16(kBytecodeVersion);
  w.u16(0);  // flags
  w.u32(9);  // sections
  auto sec = [&](uint32_t tag, auto&& fill) {
    Writer s;
    fill(s);
    section(w, tag, s.out());
  };
  sec(kTagName, [&](Writer& s) { s.str(p.name); });
  sec(kTagFile, [&](Writer& s) { s.str(p.source_file); });
  sec(kTagCode, [&](Writer& s) {
    s.u32(static_cast<uint32_t>(p.code.size()));
    for (const Insn& in : p.code) {
      s.u8(static_cast<uint8_t>(in.op));
      s.u8(in.aux);
      put_operand_head(s, in.a);
      put_operand_head(s, in.b);
      s.u32(in.target);
      s.u32(0);
      s.u64(static_cast<uint64_t>(in.a.imm));
      s.u64(static_cast<uint64_t>(in.b.imm));
    }
  });
  sec(kTagLine, [&](Writer& s) {
    s.u32(static_cast<uint32_t>(p.lines.size()));
    for (const auto& l : p.lines) s.u32(l.line), s.u32(l.col);
  });
  sec(kTagData, [&](Writer& s) { s.bytes(p.data.data(), p.data.size()); });
  sec(kTagTabl, [&](Writer& s) {
    s.u32(static_cast<uint32_t>(p.tables.size()));
    for (const auto& t : p.tables) {
      s.u8(static_cast<uint8_t>(t.kind));
      s.u32(t.key_size), s.u32(t.value_size), s.u32(t.max_entries);
      s.str(t.name);
    }
    // The idle timeouts, after the declarations that version-1 readers know:
    // written only when a table has one, so programs without them keep
    // their bytes (and hash).
    if (std::any_of(p.tables.begin(), p.tables.end(), [](const TableDecl& t) { return t.idle_ms; }))
      for (const auto& t : p.tables) s.u32(t.idle_ms);
  });
  sec(kTagStrs, [&](Writer& s) {
    s.u32(static_cast<uint32_t>(p.strings.size()));
    for (const auto& str : p.strings) s.str(str);
  });
  sec(kTagSyms, [&](Writer& s) {
    s.u32(static_cast<uint32_t>(p.symbols.size()));
    for (const auto& sym : p.symbols) {
      s.u8(static_cast<uint8_t>(sym.kind));
      s.u32(sym.value), s.u32(sym.size);
      s.str(sym.name);
    }
  });
  sec(kTagEntr, [&](Writer& s) {
    s.u32(p.text_pc);
    s.u32(p.init_pc);
    s.u8(static_cast<uint8_t>(p.on_fault));
    s.u32(static_cast<uint32_t>(p.timers.size()));
    for (const auto& t : p.timers) s.u32(t.pc), s.u32(t.period_ms), s.str(t.name);
  });
  return std::move(w.out());
}

std::optional<Program> decode_bytecode(std::span<const uint8_t> bytes, std::string* why) {
  auto bad = [&](std::string m) -> std::optional<Program> {
    if (why) *why = std::move(m);
    return std::nullopt;
  };
  if (!is_bytecode(bytes)) return bad("not NetCPU bytecode (bad magic)");
  Reader r(bytes.subspan(4));
  uint16_t version = r.u16();
  r.u16();
  uint32_t nsec = r.u32();
  if (!r.ok()) return bad("truncated header");
  if (version != kBytecodeVersion)
    return bad("bytecode version " + std::to_string(version) +
               " is not supported (this build reads version " + std::to_string(kBytecodeVersion) +
               ")");
  Program p;
  bool seen_code = false, seen_entr = false;
  constexpr size_t kMaxName = 4096;
  for (uint32_t i = 0; i < nsec; ++i) {
    uint32_t tag = r.u32();
    uint32_t len = r.u32();
    auto payload = r.take(len);
    if (!r.ok()) return bad("truncated section " + std::to_string(i));
    Reader s(payload);
    switch (tag) {
      case kTagName:
        p.name = s.str(kMaxName);
        break;
      case kTagFile:
        p.source_file = s.str(kMaxName);
        break;
      case kTagCode: {
        uint32_t n = s.count(kInsnBytes);
        if (n > kMaxCode) return bad("too many instructions");
        p.code.resize(n);
        for (auto& in : p.code) {
          uint8_t op = s.u8();
          if (op >= kOpCount) return bad("unknown opcode " + std::to_string(op));
          in.op = static_cast<Op>(op);
          in.aux = s.u8();
          for (Operand* o : {&in.a, &in.b}) {
            uint8_t k = s.u8();
            if (k >= static_cast<uint8_t>(Kind::Count))
              return bad("unknown operand kind " + std::to_string(k));
            o->kind = static_cast<Kind>(k);
            o->attr = s.u8();
            o->reg = s.u8();
          }
          in.target = s.u32();
          s.u32();
          in.a.imm = static_cast<int64_t>(s.u64());
          in.b.imm = static_cast<int64_t>(s.u64());
        }
        seen_code = true;
        break;
      }
      case kTagLine: {
        uint32_t n = s.count(8);
        p.lines.resize(n);
        for (auto& l : p.lines) l.line = s.u32(), l.col = s.u32();
        break;
      }
      case kTagData:
        if (len > kMaxHeap)
          return bad("heap image larger than " + std::to_string(kMaxHeap) + " bytes");
        p.data.assign(payload.begin(), payload.end());
        break;
      case kTagTabl: {
        uint32_t n = s.count(17);
        if (n > kMaxTables) return bad("too many tables");
        p.tables.resize(n);
        for (auto& t : p.tables) {
          uint8_t k = s.u8();
          if (k > static_cast<uint8_t>(TableKind::Lru)) return bad("unknown table kind");
          t.kind = static_cast<TableKind>(k);
          t.key_size = s.u32(), t.value_size = s.u32(), t.max_entries = s.u32();
          t.name = s.str(kMaxName);
        }
        // The idle timeouts' trailer, when the section has one.
        if (s.ok() && s.left() >= size_t{4} * n)
          for (auto& t : p.tables) t.idle_ms = s.u32();
        break;
      }
      case kTagStrs: {
        uint32_t n = s.count(4);
        p.strings.resize(n);
        for (auto& str : p.strings) str = s.str(1 << 16);
        break;
      }
      case kTagSyms: {
        uint32_t n = s.count(13);
        p.symbols.resize(n);
        for (auto& sym : p.symbols) {
          uint8_t k = s.u8();
          if (k > static_cast<uint8_t>(SymbolKind::Const)) return bad("unknown symbol kind");
          sym.kind = static_cast<SymbolKind>(k);
          sym.value = s.u32(), sym.size = s.u32();
          sym.name = s.str(kMaxName);
        }
        break;
      }
      case kTagEntr: {
        p.text_pc = s.u32();
        p.init_pc = s.u32();
        uint8_t f = s.u8();
        if (f > static_cast<uint8_t>(FaultAction::Drop)) return bad("unknown fault action");
        p.on_fault = static_cast<FaultAction>(f);
        uint32_t n = s.count(12);
        p.timers.resize(n);
        for (auto& t : p.timers) t.pc = s.u32(), t.period_ms = s.u32(), t.name = s.str(kMaxName);
        seen_entr = true;
        break;
      }
      default:
        break;  // unknown sections are skipped: newer minor additions
    }
    if (!s.ok()) return bad("malformed section " + std::to_string(i));
  }
  if (!seen_code) return bad("no code section");
  if (!seen_entr) return bad("no entry section");
  if (!p.lines.empty() && p.lines.size() != p.code.size())
    return bad("line map does not match the code");
  return p;
}

uint64_t program_hash(const Program& p) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint8_t b : encode_bytecode(p)) h = (h ^ b) * 0x100000001b3ull;
  return h;
}

std::string hash_hex(uint64_t hash) {
  char b[20];
  std::snprintf(b, sizeof b, "%016" PRIx64, hash);
  return b;
}

}  // namespace netcpu
