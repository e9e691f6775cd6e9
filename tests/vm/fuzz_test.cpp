// Random valid programs (seeded): straight-line code, forward and backward
// jumps, loops bounded by a counter or by the budget, calls, balanced
// push/pop, memory accesses into pkt/heap/out, table operations, switch
// blocks and rate-limited output. Nearly all must verify, and every run on
// random and well-formed packets must end without a crash or sanitizer report.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "vm_test_util.h"

namespace netcpu::test {
namespace {

class ProgramGenerator {
 public:
  explicit ProgramGenerator(uint64_t seed) : rng_(seed) {}

  std::string generate() {
    out_.clear();
    block_id_ = 0;
    func_ = -1;
    nfuncs_ = static_cast<int>(pick(5));
    out_ += ".data:\n";
    out_ += "num v0 " + std::to_string(static_cast<int64_t>(rng_() % 1000) - 500) + "\n";
    out_ += "num v1 " + hex(rng_()) + "\n";
    out_ += "num v2 0\n";
    out_ += "buf b0 64\n";
    out_ += "bytes s0 \"GET \", 1, 2\n";
    out_ += "array a0 8\n";
    out_ += "const C0 " + std::to_string(pick(100)) + "\n";
    out_ += "table h hash key 4 value 8 max 64\n";
    out_ += "table k13 hash key 13 value 8 max 32\n";
    out_ += "table ar array value 8 max 16\n";
    out_ += "table lp lpm4 value 8 max 32\n";
    out_ += "table l6 lpm6 max 16\n";
    out_ += "table wide hash key 4 value 16 max 8\n";
    if (pick(2)) {
      out_ += ".init:\n";
      ctx_ = Ctx::Init;
      out_ += block(4);
      out_ += "  end\n";
    }
    int ntimers = static_cast<int>(pick(3));
    for (int t = 0; t < ntimers; ++t) {
      out_ += ".timer t" + std::to_string(t) + " " + std::to_string(1 + pick(1000)) + "ms:\n";
      ctx_ = Ctx::Timer;
      out_ += block(6);
      out_ += "  end\n";
    }
    out_ += ".text:\n";
    ctx_ = Ctx::Text;
    func_ = -1;
    out_ += block(10 + pick(20));
    static const char* const kEnds[] = {"end", "pass", "drop", "redirect 3"};
    out_ += std::string("  ") + kEnds[pick(4)] + "\n";
    for (int f = 0; f < nfuncs_; ++f) {
      out_ += "func f" + std::to_string(f) + ":\n";
      func_ = f;
      out_ += block(3 + pick(8));
      out_ += "  ret\n";
    }
    return out_;
  }

 private:
  enum class Ctx { Init, Timer, Text };

  uint64_t pick(uint64_t n) { return n ? rng_() % n : 0; }
  bool chance(int percent) { return static_cast<int>(pick(100)) < percent; }
  static std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
  }

  // gpr14 counts backward jumps and is never written otherwise; gpr15 is scratch.
  std::string gpr() { return "gpr" + std::to_string(pick(14)); }
  std::string imm() {
    switch (pick(6)) {
      case 0:
        return std::to_string(pick(16));
      case 1:
        return std::to_string(static_cast<int64_t>(pick(2000)) - 1000);
      case 2:
        return hex(rng_());
      case 3:
        return "10.0.0." + std::to_string(pick(256));
      case 4:
        return "C0";
      default:
        return std::to_string(pick(1u << 16));
    }
  }
  std::string mapped8() {
    static const char* const kFields[] = {
        "mlen",     "port",     "dir",      "hook",      "now",      "rand",       "l3",
        "l4",       "payload",  "has.eth",  "has.vlan",  "has.arp",  "has.ip",     "has.ip4",
        "has.ip6",  "has.l4",   "has.tcp",  "has.udp",   "has.icmp", "eth.dst",    "eth.src",
        "eth.type", "vlan.id",  "vlan.pcp", "arp.op",    "arp.spa",  "arp.tpa",    "ip.ver",
        "ip.hlen",  "ip.tos",   "ip.len",   "ip.id",     "ip.frag",  "ip.fragoff", "ip.mf",
        "ip.ttl",   "ip.proto", "ip.src",   "ip.dst",    "l4.sport", "l4.dport",   "tcp.flags",
        "tcp.seq",  "tcp.ack",  "tcp.win",  "icmp.type", "icmp.code"};
    return kFields[pick(std::size(kFields))];
  }
  bool packet_ok() const { return ctx_ != Ctx::Init; }
  // A readable value; packet reads only outside .init (no packet there).
  std::string src() {
    switch (pick(packet_ok() ? 8 : 6)) {
      case 0:
      case 1:
        return gpr();
      case 2:
        return imm();
      case 3:
        return mapped8();
      case 4:
        return "v" + std::to_string(pick(3));
      case 5:
        return pick(2) ? "a0[" + std::to_string(pick(8)) + "]"
                       : "b0[" + std::to_string(pick(64)) + "]";
      case 6:
        return "pkt.u16[" + std::to_string(pick(60)) + "]";
      default:
        return "pkt.u32[l3 + " + std::to_string(pick(20)) + "]";
    }
  }
  // A writable place (never gpr14).
  std::string dst() {
    switch (pick(packet_ok() ? 7 : 5)) {
      case 0:
      case 1:
      case 2:
        return gpr();
      case 3:
        return "v" + std::to_string(pick(3));
      case 4:
        return pick(2) ? "[b0 + " + std::to_string(pick(57)) + "]"
                       : "heap.u32[b0 + " + std::to_string(pick(60)) + "]";
      case 5:
        return "pkt.u16[" + std::to_string(pick(64)) + "]";
      default:
        return "pkt[l4 + " + std::to_string(pick(8)) + "]";
    }
  }
  std::string label(int block, size_t at) {
    return "L" + std::to_string(block) + "_" + std::to_string(at);
  }

  // A statement that neither jumps nor defines labels; stack balanced.
  std::string simple() {
    static const char* const kAlu[] = {"mov", "add", "sub", "mul", "div", "sdiv", "mod",
                                       "and", "or",  "xor", "shl", "shr", "sar"};
    static const char* const kUnary[] = {"not", "neg", "bswap16", "bswap32", "bswap64"};
    const bool pk = packet_ok();
    switch (pick(24)) {
      case 0:
      case 1:
      case 2:
        return "  " + std::string(kAlu[pick(std::size(kAlu))]) + " " + dst() + ", " + src() + "\n";
      case 3:
        return "  " + std::string(kUnary[pick(std::size(kUnary))]) + " " + gpr() + "\n";
      case 4: {
        std::string a = gpr(), b = gpr();
        return "  push " + src() + "\n  push " + a + "\n  pop " + b + "\n  pop " + dst() + "\n";
      }
      case 5: {
        std::string r = gpr();
        if (!pk) return "  and " + r + ", 7\n  add a0[" + r + "], " + src() + "\n";
        return "  and " + r + ", 63\n  mov " + gpr() + ", pkt.u16[" + r + (pick(2) ? "*2" : "") +
               " + 2]\n";
      }
      case 6: {
        if (!pk) return "  mov heap.u32[b0 + " + std::to_string(pick(61)) + "], " + src() + "\n";
        std::string r = gpr();
        return "  and " + r + ", 31\n  mov pkt[" + r + " + " + std::to_string(pick(40)) + "], " +
               src() + "\n";
      }
      case 7: {
        uint64_t n = 8 + pick(192);
        std::string s = "  outlen " + std::to_string(n) + "\n";
        s += "  mov out.u32[" + std::to_string(pick(n - 3)) + "], " + src() + "\n";
        if (pk && chance(50))
          s += "  copy out[" + std::to_string(pick(60)) + "], pkt[" + std::to_string(pick(40)) +
               "], " + std::to_string(pick(30)) + "\n";
        if (chance(30)) s += "  csum " + std::string(pick(2) ? "all" : "l4") + ", out\n";
        if (chance(30))
          s += std::string("  emit ") + (pick(2) ? "INPORT" : std::to_string(pick(8))) + "\n";
        return s;
      }
      case 8: {
        std::string r = gpr();
        return "  and " + r + ", 7\n  add a0[" + r + "], " + src() + "\n";
      }
      case 9: {
        static const char* const kKeys[] = {"gpr1", "ip.src", "77", "v0"};
        std::string key = kKeys[pick(std::size(kKeys))];
        switch (pick(5)) {
          case 0:
            return "  lookup " + dst() + ", h, " + key + "\n";
          case 1:
            return "  update h, " + key + ", " + src() + "\n";
          case 2:
            return "  delete h, " + key + "\n";
          case 3:
            return "  tadd h, " + key + ", " + src() + "\n";
          default:
            return "  lookup " + gpr() + ", ar, " + std::to_string(pick(20)) + "\n";
        }
      }
      case 10: {
        std::string key = pk && pick(2) ? "pkt[" + std::to_string(pick(40)) + "]" : "b0";
        switch (pick(3)) {
          case 0:
            return "  tadd k13, " + key + ", 1\n";
          case 1:
            return "  lookup " + gpr() + ", k13, " + key + "\n";
          default:
            return "  delete k13, " + key + "\n";
        }
      }
      case 11:
        switch (pick(6)) {
          case 0:
            return "  update lp, " + std::string(pick(2) ? "ip.dst" : "10.1.2.3") + ", " + src() +
                   "\n";
          case 1:
            return "  lookup " + gpr() + ", lp, " + std::string(pick(2) ? "ip.dst" : "10.1.2.200") +
                   "\n";
          case 2:
            return "  update l6, " + std::string(pick(2) ? "ip6.src" : "fe80::1") + ", " + src() +
                   "\n";
          case 3:
            return "  lookup " + gpr() + ", l6, " +
                   std::string(pick(2) ? "ip6.dst" : "2001:db8::7") + "\n";
          case 4:
            return "  update ar, " + std::to_string(pick(20)) + ", " + src() + "\n";
          default:
            return "  tadd ar, " + gpr() + ", 1\n";
        }
      case 12:
        switch (pick(3)) {
          // b0[0] would print as the bare buffer name, which lookup's destination does not take
          // (reported; see Bytecode.DisassemblyOfWideLookupIntoBuffer).
          case 0:
            return "  lookup b0[" + std::to_string(1 + pick(48)) + "], wide, " + src() + "\n";
          case 1:
            return "  update wide, " + gpr() + ", b0\n";
          default: {
            static const char* const kTables[] = {"h", "k13", "ar", "lp", "l6", "wide"};
            return chance(20) ? "  tclear " + std::string(kTables[pick(6)]) + "\n" : "  nop\n";
          }
        }
      case 13: {
        static const char* const kFormats[] = {"\"v=%d\"",     "\"%ip -> %ip\"", "\"%x %u\"",
                                               "\"mac %mac\"", "\"100%%\"",      "\"plain\"",
                                               "\"tab\\tx\""};
        std::string s = std::string("  ") + (pick(4) ? "print " : "log ");
        int nvals = static_cast<int>(pick(3));
        bool text = nvals == 0 || pick(2);
        if (text) s += kFormats[pick(std::size(kFormats))];
        for (int i = 0; i < nvals; ++i) s += std::string(text || i ? ", " : "") + src();
        return s + "\n";
      }
      case 14:
        return "  dump " + std::to_string(pick(3) * 20) + "\n";
      case 15:
        if (!pk) return "  nop\n";
        return "  find " + gpr() + ", \"" + (pick(2) ? "GET" : "\\x01\\x02") + "\", " +
               (pick(2) ? std::to_string(pick(50)) : "payload") + "\n";
      case 16: {
        if (!pk)
          return "  copy b0[" + std::to_string(pick(32)) + "], s0, " + std::to_string(pick(7)) +
                 "\n";
        std::string len = pick(3) == 0 ? "mlen" : std::to_string(pick(40));
        if (pick(2)) {
          std::string r = gpr();
          return "  and " + r + ", 15\n  copy b0[" + std::to_string(pick(24)) + "], pkt[" + r +
                 " + 14], " + (pick(2) ? r : std::to_string(pick(24))) + "\n";
        }
        return pick(2) ? "  copy b0, pkt[" + std::to_string(pick(30)) + "], " +
                             std::to_string(pick(65)) + "\n"
                       : "  copy pkt[" + std::to_string(pick(30)) + "], b0[8], " + len + "\n";
      }
      case 17: {
        static const char* const kCsum[] = {"csum", "csum ip", "csum l4", "csum all",
                                            "csum ip, pkt"};
        return std::string("  ") + kCsum[pick(std::size(kCsum))] + "\n";
      }
      case 18: {
        if (!pk) return "  nop\n";
        static const char* const kFields[] = {"ip.src",   "ip.dst",   "ip.ttl",  "ip.tos",
                                              "l4.sport", "l4.dport", "eth.src", "eth.dst"};
        return "  rewrite " + std::string(kFields[pick(std::size(kFields))]) + ", " + src() + "\n";
      }
      case 19: {
        if (!pk) return "  nop\n";
        if (pick(2)) return "  resize mlen\n";
        std::string r = gpr();
        return "  and " + r + ", 127\n  add " + r + ", 14\n  resize " + r + "\n";
      }
      case 20:
        return "  mirror " + std::to_string(pick(4)) + "\n";
      case 21:
        if (!pk) return "  nop\n";
        return "  cmp16 " + std::string(pick(2) ? "ip6.src" : "ip6.dst") + ", " +
               (pick(2)   ? "fe80::1"
                : pick(2) ? "b0"
                          : "pkt[22]") +
               "\n";
      case 22: {
        std::string r = gpr();
        return "  mov " + r + ", " + src() + "\n  " + (pick(2) ? "cmp " : "test ") + r + ", " +
               src() + "\n";
      }
      default:
        return "  nop\n";
    }
  }

  std::string switch_stmt() {
    std::string s = "  switch " + src() + "\n";
    std::set<int64_t> used;
    int ncases = 1 + static_cast<int>(pick(4));
    bool has_default = false;
    for (int c = 0; c < ncases; ++c) {
      if (!has_default && chance(25)) {
        s += "  default:\n";
        has_default = true;
      } else {
        int64_t v = static_cast<int64_t>(pick(8));
        if (!used.insert(v).second) continue;
        s += "  case " + std::to_string(v) + ":\n";
      }
      for (int k = static_cast<int>(pick(3)); k > 0; --k) s += simple();
      if (chance(70)) s += "  break\n";
    }
    return s + "  endswitch\n";
  }

  // A walk over one of the tables, whose body may change it (removals,
  // inserts, clears) and may break out.
  std::string foreach_stmt() {
    static const char* const kWalks[] = {"h, gpr1, gpr2",  "k13, b0, gpr2", "ar, gpr1, v2",
                                         "lp, gpr3, gpr2", "l6, b0, gpr2",  "wide, gpr1, b0"};
    static const char* const kTables[] = {"h", "k13", "ar", "lp", "l6", "wide"};
    const size_t t = pick(std::size(kWalks));
    std::string s = std::string("  foreach ") + kWalks[t] + "\n";
    for (int k = static_cast<int>(pick(3)); k > 0; --k) s += simple();
    if (t == 0 && chance(50)) s += "  delete h, gpr1\n";
    if (t == 0 && chance(30)) s += "  tadd h, gpr2, 1\n";
    if (chance(10)) s += std::string("  tclear ") + kTables[t] + "\n";
    if (chance(30)) {
      const std::string stay = "W" + std::to_string(walk_id_++);
      s += "  bne gpr2, " + imm() + ", " + stay + "\n  break\n" + stay + ":\n";
    }
    return s + "  endfor\n";
  }

  // A block of statements with a label at every boundary a jump targets.
  // The stack is empty at every boundary, so every jump between them verifies.
  std::string block(size_t n) {
    int id = block_id_++;
    std::vector<std::string> stmts;
    std::set<size_t> targets;
    for (size_t i = 0; i < n; ++i) {
      uint64_t kind = pick(100);
      if (kind < 55) {
        stmts.push_back(simple());
      } else if (kind < 62) {
        stmts.push_back(switch_stmt());
      } else if (kind < 65) {
        stmts.push_back(foreach_stmt());
      } else if (kind < 80) {
        // Forward jump: conditional or not.
        size_t to = i + 1 + pick(n - i);
        targets.insert(to);
        static const char* const kCond[] = {"je", "jne", "jl", "jle", "jg", "jge",
                                            "jb", "jbe", "ja", "jae", "jz", "jnz"};
        static const char* const kBr[] = {"beq",  "bne",  "blt",  "ble",  "bgt",  "bge",
                                          "bltu", "bleu", "bgtu", "bgeu", "bset", "bclr"};
        std::string l = label(id, to);
        switch (pick(3)) {
          case 0:
            stmts.push_back("  cmp " + src() + ", " + src() + "\n  " +
                            kCond[pick(std::size(kCond))] + " " + l + "\n");
            break;
          case 1:
            stmts.push_back("  " + std::string(kBr[pick(std::size(kBr))]) + " " + src() + ", " +
                            src() + ", " + l + "\n");
            break;
          default:
            stmts.push_back(chance(30) ? "  jmp " + l + "\n"
                                       : "  bset " + gpr() + ", 1, " + l + "\n");
        }
      } else if (kind < 88) {
        // Backward jump, bounded by gpr14 (never written elsewhere) or, rarely, by the budget
        // alone.
        size_t to = pick(i + 1);
        targets.insert(to);
        if (ctx_ != Ctx::Init && chance(3))
          stmts.push_back("  bne gpr15, 12345, " + label(id, to) + "\n");
        else
          stmts.push_back("  add gpr14, 1\n  bltu gpr14, " + std::to_string(1 + pick(12)) + ", " +
                          label(id, to) + "\n");
      } else if (kind < 94 && ctx_ != Ctx::Init) {
        // Call a function with a higher number (no recursion).
        int lo = func_ + 1;
        if (lo < nfuncs_)
          stmts.push_back("  call f" + std::to_string(lo + static_cast<int>(pick(nfuncs_ - lo))) +
                          "\n");
        else
          stmts.push_back(simple());
      } else if (kind < 97 && ctx_ != Ctx::Init) {
        // A conditional early exit.
        static const char* const kStops[] = {"drop", "pass", "end", "redirect 1"};
        std::string skip = "S" + std::to_string(id) + "_" + std::to_string(i);
        stmts.push_back("  bne " + gpr() + ", " + imm() + ", " + skip + "\n  " + kStops[pick(4)] +
                        "\n" + skip + ":\n");
      } else {
        stmts.push_back(simple());
      }
    }
    std::string s;
    for (size_t i = 0; i <= n; ++i) {
      if (targets.count(i)) s += label(id, i) + ":\n";
      if (i < n) s += stmts[i];
    }
    if (targets.count(n))
      s += "  nop\n";  // the label needs an instruction before the block's terminator
    return s;
  }

  std::mt19937_64 rng_;
  std::string out_;
  int block_id_ = 0;
  int walk_id_ = 0;
  int nfuncs_ = 0;
  int func_ = -1;
  Ctx ctx_ = Ctx::Text;
};

// Packets: random bytes, well-formed frames, truncated and odd ones.
std::vector<std::vector<uint8_t>> make_packets(std::mt19937_64& rng) {
  auto pick = [&](uint64_t n) { return rng() % n; };
  std::vector<std::vector<uint8_t>> v;
  for (int i = 0; i < 2; ++i) {
    std::vector<uint8_t> r(pick(200));
    for (auto& b : r) b = static_cast<uint8_t>(rng());
    v.push_back(r);
  }
  std::string payload(pick(40), 'x');
  if (pick(2)) payload.replace(0, std::min<size_t>(4, payload.size()), "GET ");
  uint32_t a = static_cast<uint32_t>(rng()),
           b = pick(2) ? 0x0a010203 : static_cast<uint32_t>(rng());
  v.push_back(ipv4_frame(6, a, b, static_cast<uint16_t>(rng()), 80, payload));
  v.push_back(ipv4_frame(17, b, a, 53, static_cast<uint16_t>(rng()), payload));
  // Truncated IPv4 frame.
  auto t = ipv4_frame(6, a, b, 1, 2, payload);
  t.resize(14 + pick(40));
  v.push_back(t);
  // IPv6 UDP.
  std::vector<uint8_t> v6(14 + 40 + 8 + pick(20), 0);
  v6[12] = 0x86, v6[13] = 0xdd, v6[14] = 0x60, v6[19] = static_cast<uint8_t>(v6.size() - 54),
  v6[20] = 17, v6[21] = 64;
  v6[22] = 0xfe, v6[23] = 0x80, v6[37] = 1;
  for (int i = 38; i < 54; ++i) v6[i] = static_cast<uint8_t>(rng());
  v.push_back(v6);
  // VLAN-tagged IPv4 and ARP.
  auto vl = ipv4_frame(17, a, b, 1000, 2000);
  vl.insert(vl.begin() + 12, {0x81, 0x00, 0x00, 0x05});
  v.push_back(vl);
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08, arp[13] = 0x06, arp[15] = 1, arp[16] = 0x08, arp[18] = 6, arp[19] = 4,
  arp[21] = 1;
  v.push_back(arp);
  // IPv4 fragment with options.
  auto fr = ipv4_frame(17, a, b, 7, 9, payload);
  fr[14] = 0x46;
  fr[20] = 0x20;
  v.push_back(fr);
  return v;
}

struct FuzzStats {
  size_t programs = 0, verified = 0, loaded = 0, runs = 0, aborted = 0, lines = 0;
};

TEST(Fuzz, GeneratedProgramsVerifyAndRunWithoutCrashing) {
  constexpr int kPrograms = 500;
  ProgramGenerator gen(0xc0ffee);
  std::mt19937_64 rng(42);
  FuzzStats st;
  std::string first_rejection;
  Limits lim;
  lim.budget = 10000;
  lim.output_burst = 3;
  lim.output_per_second = 1;
  for (int i = 0; i < kPrograms; ++i) {
    // Every other program runs on bare IP packets (lwIPv6), some with a small maximum packet.
    HostCaps caps;
    caps.link = i % 2 ? LinkType::RawIp : LinkType::Ethernet;
    if (i % 3 == 0) caps.max_packet = 256;
    std::string src = gen.generate();
    ++st.programs;
    Diagnostic d;
    auto p = assemble(src, "gen.ncpu", &d);
    ASSERT_TRUE(p) << "the generator wrote something the assembler refuses: " << d.str()
                   << "\n--- source:\n"
                   << src;
    if (!verify(*p, &caps, &d)) {
      if (first_rejection.empty()) first_rejection = d.str() + "\n--- source:\n" + src;
      continue;
    }
    ++st.verified;
    size_t lines = 0;
    auto vm = Instance::create(
        *p, caps, lim, [&lines](OutputKind, std::string_view) { ++lines; }, &d);
    ASSERT_TRUE(vm) << d.str() << "\n--- source:\n" << src;
    ++st.loaded;
    for (auto pk : make_packets(rng)) {
      if (caps.link == LinkType::RawIp && pk.size() >= 14 && rng() % 8)
        pk.erase(pk.begin(), pk.begin() + 14);
      std::vector<uint8_t> buf(pk);
      buf.resize(std::max<size_t>(pk.size(), caps.max_packet));
      uint32_t len = static_cast<uint32_t>(pk.size());
      PacketMeta m;
      m.now_ms = 1000 + static_cast<uint64_t>(i);
      m.port = static_cast<uint32_t>(rng() % 8);
      m.hook = rng() % 2 ? Hook::PortIn : Hook::Forward;
      RunResult r = vm->run(buf.data(), len, static_cast<uint32_t>(buf.size()), m);
      ++st.runs;
      st.aborted += r.aborted;
      ASSERT_LE(len, buf.size());
      if (len != pk.size()) {
        ASSERT_LE(len, caps.max_packet);
      }
      ASSERT_EQ(r.length, len);
      ASSERT_LE(r.instructions, lim.budget);
      ASSERT_LE(r.emitted, kMaxEmitted);
      if (r.aborted) {
        ASSERT_NE(r.reason, AbortReason::None);
        ASSERT_LT(r.abort_pc, vm->program().code.size());
        ASSERT_NE(r.reason, AbortReason::StackFault) << "a verified program exhausted a stack\n"
                                                     << src;
      }
      if (r.verdict != Verdict::Redirect) {
        ASSERT_EQ(r.redirect_port, -1);
      }
      for (const auto& e : vm->emitted()) ASSERT_LE(e.length, caps.max_packet);
    }
    for (size_t t = 0; t < vm->program().timers.size(); ++t) {
      RunResult r = vm->run_timer(t, PacketMeta{});
      ASSERT_NE(r.reason, AbortReason::StackFault);
    }
    st.lines += lines;
    EXPECT_EQ(vm->stats().packets.load(), 9u);
  }
  RecordProperty("programs", static_cast<int>(st.programs));
  RecordProperty("verified", static_cast<int>(st.verified));
  RecordProperty("runs", static_cast<int>(st.runs));
  RecordProperty("aborted", static_cast<int>(st.aborted));
  EXPECT_GE(st.verified * 100, st.programs * 90) << "only " << st.verified << " of " << st.programs
                                                 << " generated programs verify; first rejection:\n"
                                                 << first_rejection;
  EXPECT_GE(st.runs, 4000u);
  // Most runs should get somewhere: not everything may abort.
  EXPECT_LT(st.aborted * 100, st.runs * 90);
}

// The same program on the same packet in two fresh instances gives the same
// result and the same packet.
TEST(Fuzz, RunsAreDeterministic) {
  ProgramGenerator gen(0xfeed);
  std::mt19937_64 rng(7);
  HostCaps caps;
  Limits lim;
  lim.budget = 10000;
  for (int i = 0; i < 60; ++i) {
    std::string src = gen.generate();
    Diagnostic d;
    auto p = assemble(src, "gen.ncpu", &d);
    ASSERT_TRUE(p) << d.str();
    if (!verify(*p, &caps, &d)) continue;
    auto a = Instance::create(*p, caps, lim, nullptr, &d);
    auto b = Instance::create(*p, caps, lim, nullptr, &d);
    ASSERT_TRUE(a && b) << d.str();
    for (const auto& pk : make_packets(rng)) {
      std::vector<uint8_t> ba(pk), bb(pk);
      ba.resize(caps.max_packet), bb.resize(caps.max_packet);
      uint32_t la = static_cast<uint32_t>(pk.size()), lb = la;
      PacketMeta m;
      m.now_ms = 5000;
      RunResult ra = a->run(ba.data(), la, static_cast<uint32_t>(ba.size()), m);
      RunResult rb = b->run(bb.data(), lb, static_cast<uint32_t>(bb.size()), m);
      ASSERT_EQ(la, lb);
      expect_same_result(*a, ra, *b, rb);
      EXPECT_TRUE(std::equal(ba.begin(), ba.begin() + la, bb.begin())) << src;
    }
    EXPECT_TRUE(std::equal(a->heap().begin(), a->heap().end(), b->heap().begin(), b->heap().end()));
  }
}

// Generated programs survive assemble -> disassemble -> assemble byte for byte
// and through the bytecode.
TEST(Fuzz, GeneratedProgramsRoundTrip) {
  ProgramGenerator gen(0xabcdef);
  for (int i = 0; i < 150; ++i) {
    std::string src = gen.generate();
    Diagnostic d;
    auto p = assemble(src, "gen.ncpu", &d);
    ASSERT_TRUE(p) << d.str();
    auto bytes = encode_bytecode(*p);
    std::string why;
    auto q = decode_bytecode(bytes, &why);
    ASSERT_TRUE(q) << why;
    ASSERT_EQ(*q, *p);
    std::string dis = disassemble(*p);
    auto r = assemble(dis, "again.ncpu", &d);
    ASSERT_TRUE(r) << d.str() << "\n--- disassembly:\n" << dis << "\n--- source:\n" << src;
    ASSERT_EQ(encode_bytecode(*r), bytes) << "--- disassembly:\n"
                                          << dis << "\n--- source:\n"
                                          << src;
  }
}

}  // namespace
}  // namespace netcpu::test
