// Bytecode: encode/decode round trips, assemble -> disassemble -> assemble
// gives identical bytes, and malformed bytecode (truncated, wrong header,
// mutated bytes) is refused with a message or, when it decodes and verifies,
// runs without crashing.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "vm_test_util.h"

namespace netcpu::test {
namespace {

// ---- a corpus of programs using every feature ---------------------------------------

const char* const kFirewall =
    R"(# Uses tables, timers, .init, buffers, arrays, constants, every memory space.
.name "corpus_fw"
.onfault drop
.data:
num counter 0
num limit 0x10000
num neg -5
const MAXP 100
const BIG 0x123456789
buf scratch 32
bytes greeting "hi\n", 0x41, 0
bytes key6 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
array hist 16
table flows hash key 13 value 8 max 1024
table ports array value 8 max 64
table routes lpm4 value 4 max 128
table routes6 lpm6 max 64
table wide hash key 4 value 16 max 8
.init:
  update ports, 80, 1
  update routes, 10.0.0.0, 7
  update routes6, fe80::1, 3
  mov counter, 1
  end
.timer tick 100ms:
  print "tick %d", counter
  mov counter, 0
  tclear flows
  end
.timer slow 2s:
  log "slow %x", limit
  end
.text:
  add counter, 1
  bne has.ip4, 1, notip
  print "src %ip dst %ip", ip.src, ip.dst
  mov gpr1, pkt.u16[12]
  mov gpr2, 3
  mov gpr3, pkt.u32[gpr2*4 + 14]
  mov gpr4, pkt.h16[l4 + 2]
  mov gpr10, pkt.u64[gpr2 * 8 - 10]
  lookup gpr5, routes, ip.dst
  jne noroute
  tadd flows, pkt[26], 1
  lookup gpr6, ports, l4.dport
  je known
  delete flows, pkt[26]
known:
  mov gpr7, l4.dport
  and gpr7, 15
  add hist[gpr7], 1
  add hist[3], BIG
  mov scratch[2], gpr7
  mov heap.u32[scratch + 4], 0xdeadbeef
  mov [limit], 5
  mov heap.h16[gpr7 + 8], neg
  lookup scratch[16], wide, ip.src
  update wide, ip.src, scratch
  find gpr8, "GET ", payload
  blt gpr8, 0, nohttp
  print "http at %d", gpr8
nohttp:
  switch ip.proto
  case PROTO_TCP:
    rewrite l4.dport, 8080
    rewrite ip.ttl, 9
    csum l4
    break
  case PROTO_UDP:
    csum ip
    csum
    break
  default:
    dump 32
  endswitch
  bgtu counter, MAXP, over
  pass
over:
  drop
noroute:
  redirect 2
notip:
  cmp16 ip6.src, fe80::1
  jne other6
  lookup gpr9, routes6, ip6.dst
  cmp16 ip6.dst, key6
  cmp16 2001:db8::42, ip6.src
  mirror 3
other6:
  call build
  emit INPORT
  resize 60
  end
func build:
  outlen 64
  copy out[0], pkt[6], 6
  copy out[6], pkt[0], 6
  mov out.u16[12], ETH_IP
  copy out[gpr1], greeting, 3
  copy out[14], pkt[14], mlen
  copy scratch, pkt[gpr2 + 14], gpr2
  copy pkt.h32[l3 + 1], out[2], 4
  csum all, out
  csum l4, out
  csum ip, pkt
  push gpr1
  push 7
  pop gpr2
  pop gpr1
  ret
)";

const char* const kSwitches = R"(.onfault pass
.data:
const PORT_SSH 22
num seen 0
.text:
  switch l4.dport
  case PORT_SSH:
    switch tcp.flags
    case TCP_SYN:
      add seen, 1
      break
    default:
    endswitch
    break
  case 'A':
  case 0x10000:
  case -1:
    log "odd"
    break
  endswitch
  beq seen, 3, three
  jmp fin
three:
  print "three", seen, mlen
  print seen, mlen
  print "only text"
fin:
  end
)";

const char* const kAlu = R"(.timer t1 5ms:
  end
.text:
start:
begin:
  mov gpr0, -2
  mov gpr1, 0xffffffffffff
  mov gpr2, 02:00:00:00:00:01
  mov gpr3, 192.168.0.1
  mov gpr4, 'z'
  mov gpr5, 0b1010
  add gpr0, gpr1
  sub gpr0, 1
  mul gpr0, 3
  div gpr0, 0
  sdiv gpr0, -3
  mod gpr0, 7
  and gpr0, gpr2
  or gpr0, 0x100
  xor gpr0, gpr3
  shl gpr0, 70
  shr gpr0, 1
  sar gpr0, 65
  not gpr0
  neg gpr0
  bswap16 gpr1
  bswap32 gpr2
  bswap64 gpr3
  cmp gpr0, gpr1
  jl a1
  test gpr0, 1
  jnz a1
  jle a1
  jg a1
  jge a1
  jb a1
  jbe a1
  ja a1
  jae a1
a1:
  beq gpr0, 1, a2
  bne gpr0, 1, a2
  blt gpr0, 1, a2
  ble gpr0, 1, a2
  bgt gpr0, 1, a2
  bge gpr0, 1, a2
  bltu gpr0, 1, a2
  bleu gpr0, 1, a2
  bgtu gpr0, 1, a2
  bgeu gpr0, 1, a2
  bset gpr0, 1, a2
  bclr gpr0, 1, a2
a2:
  call f1
  nop
  dump
  end
func f1:
  call f2
  ret
func f2:
helper2:
  mov gpr15, rand
  add gpr15, now
  add gpr15, port
  ret
.init:
  mov gpr0, hook
  end
)";

const char* const kCorpus[] = {kFirewall, kSwitches, kAlu};

std::vector<std::string> example_files() {
  std::vector<std::string> out;
  std::filesystem::path dir = std::filesystem::path(NETCPU_SOURCE_DIR) / "examples";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".ncpu") out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const std::vector<std::vector<uint8_t>>& sample_packets() {
  static const std::vector<std::vector<uint8_t>> packets = [] {
    std::vector<std::vector<uint8_t>> v;
    v.push_back(ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80, "GET / HTTP/1.0\r\n"));
    v.push_back(ipv4_frame(17, 0xc0a80001, 0x08080808, 5353, 53, "query"));
    v.push_back(std::vector<uint8_t>(60, 0));
    v.push_back({});
    std::vector<uint8_t> v6(14 + 40 + 8, 0);
    v6[12] = 0x86, v6[13] = 0xdd, v6[14] = 0x60, v6[19] = 8, v6[20] = 17, v6[21] = 64;
    v6[22] = 0xfe, v6[23] = 0x80, v6[37] = 1;
    v.push_back(v6);
    return v;
  }();
  return packets;
}

// Runs a verified program on (the first `npackets` of) the sample packets and its timers.
void exercise(const Program& p, uint64_t budget, size_t npackets = 5) {
  HostCaps caps;
  Limits lim;
  lim.budget = budget;
  lim.output_burst = 4;
  Diagnostic d;
  auto vm = Instance::create(
      p, caps, lim, [](OutputKind, std::string_view) {}, &d);
  if (!vm) return;
  for (size_t i = 0; i < npackets && i < sample_packets().size(); ++i) {
    const auto& pk = sample_packets()[i];
    std::vector<uint8_t> buf(pk);
    buf.resize(caps.max_packet);
    uint32_t len = static_cast<uint32_t>(pk.size());
    PacketMeta m;
    m.now_ms = 1234;
    RunResult r = vm->run(buf.data(), len, static_cast<uint32_t>(buf.size()), m);
    EXPECT_LE(len, caps.max_packet);
    EXPECT_EQ(r.length, len);
  }
  for (size_t t = 0; t < vm->program().timers.size(); ++t) vm->run_timer(t, PacketMeta{});
}

// assemble -> disassemble -> assemble: identical bytecode. Returns the disassembly.
std::string expect_disasm_round_trip(const Program& p) {
  std::string dis = disassemble(p);
  Diagnostic d;
  auto q = assemble(dis, "roundtrip.ncpu", &d);
  EXPECT_TRUE(q.has_value()) << "disassembly does not assemble: " << d.str()
                             << "\n--- disassembly:\n"
                             << dis;
  if (!q) return dis;
  EXPECT_EQ(encode_bytecode(*q), encode_bytecode(p)) << "--- disassembly:\n"
                                                     << dis << "\n--- again:\n"
                                                     << disassemble(*q);
  EXPECT_EQ(*q, p);
  EXPECT_EQ(disassemble(*q), dis);
  return dis;
}

// ---- round trips ------------------------------------------------------------------

TEST(Bytecode, EncodeDecodeRoundTrip) {
  for (const char* src : kCorpus) {
    Program p = assemble_ok(src, "corpus.ncpu");
    auto bytes = encode_bytecode(p);
    EXPECT_TRUE(is_bytecode(bytes));
    std::string why;
    auto q = decode_bytecode(bytes, &why);
    ASSERT_TRUE(q) << why;
    EXPECT_EQ(*q, p);
    EXPECT_EQ(encode_bytecode(*q), bytes);
    EXPECT_EQ(program_hash(*q), program_hash(p));
  }
}

TEST(Bytecode, HandBuiltProgramRoundTrip) {
  Program p;
  p.name = "hand \"made\"";
  p.source_file = "/tmp/x y.ncpu";
  for (size_t i = 0; i < kOpCount; ++i) {
    Insn in;
    in.op = static_cast<Op>(i);
    in.aux = static_cast<uint8_t>(i * 7);
    in.target = static_cast<uint32_t>(i * 1000003u);
    in.a = {static_cast<Kind>(i % static_cast<size_t>(Kind::Count)), static_cast<uint8_t>(i),
            static_cast<uint8_t>(255 - i),
            static_cast<int64_t>(0x8000000000000000ull >> (i % 64)) * (i % 2 ? -1 : 1)};
    in.b = {Kind::Bytes, 0xff, 0, INT64_MIN + static_cast<int64_t>(i)};
    p.code.push_back(in);
    p.lines.push_back({static_cast<uint32_t>(i + 1), static_cast<uint32_t>(4000000000u - i)});
  }
  p.data = {0, 1, 2, 255, 0, 0};
  p.tables = {{"h", TableKind::Hash, 13, 256, 1u << 20},
              {"a", TableKind::Array, 4, 8, 1},
              {"l4", TableKind::Lpm4, 4, 4, 7},
              {"l6", TableKind::Lpm6, 16, 1, 9}};
  p.strings = {"", std::string("\0\x01\xff", 3), "plain", std::string(16, '\xee')};
  p.symbols = {{"n", SymbolKind::Num, 0, 8},    {"b", SymbolKind::Buf, 8, 3},
               {"a", SymbolKind::Array, 16, 8}, {"l", SymbolKind::Label, 5, 0},
               {"f", SymbolKind::Func, 6, 0},   {"c", SymbolKind::Const, 0xffffffff, 7}};
  p.text_pc = 3;
  p.init_pc = 1;
  p.timers = {{"t", 2, 100}, {"u", 4, 86400000}};
  p.on_fault = FaultAction::Drop;
  auto bytes = encode_bytecode(p);
  std::string why;
  auto q = decode_bytecode(bytes, &why);
  ASSERT_TRUE(q) << why;
  EXPECT_EQ(*q, p);
  // No line map, no init, no timers.
  Program e;
  e.code = {Insn{}};
  q = decode_bytecode(encode_bytecode(e), &why);
  ASSERT_TRUE(q) << why;
  EXPECT_EQ(*q, e);
}

TEST(Bytecode, DisassembleAssembleGivesIdenticalBytes) {
  for (const char* src : kCorpus) {
    SCOPED_TRACE(std::string(src).substr(0, 60));
    Program p = assemble_ok(src, "corpus.ncpu");
    std::string dis = expect_disasm_round_trip(p);
    // Without .loc the code is the same; only the line map differs.
    DisasmOptions no_loc;
    no_loc.loc = false;
    Diagnostic d;
    auto q = assemble(disassemble(p, no_loc), "corpus.ncpu", &d);
    ASSERT_TRUE(q) << d.str();
    EXPECT_EQ(q->code, p.code);
    EXPECT_EQ(q->data, p.data);
    EXPECT_EQ(q->tables, p.tables);
    EXPECT_EQ(q->symbols, p.symbols);
    // The other options do not break it either.
    uint64_t hits[3] = {1, 2, 3};
    DisasmOptions decorated;
    decorated.pcs = true;
    decorated.hits = hits;
    q = assemble(disassemble(p, decorated), "x.ncpu", &d);
    ASSERT_TRUE(q) << d.str();
    EXPECT_EQ(encode_bytecode(*q), encode_bytecode(p));
  }
}

TEST(Bytecode, CorpusProgramsRun) {
  for (const char* src : kCorpus) exercise(assemble_ok(src, "corpus.ncpu"), 100000);
}

TEST(Bytecode, ExamplesRoundTrip) {
  auto files = example_files();
  ASSERT_FALSE(files.empty()) << "no .ncpu files under " << NETCPU_SOURCE_DIR << "/examples";
  for (const auto& f : files) {
    SCOPED_TRACE(f);
    std::string src = read_text(f);
    Diagnostic d;
    auto p = assemble(src, f, &d);
    ASSERT_TRUE(p) << d.str();
    EXPECT_TRUE(verify(*p, nullptr, &d)) << d.str();
    std::string why;
    auto q = decode_bytecode(encode_bytecode(*p), &why);
    ASSERT_TRUE(q) << why;
    EXPECT_EQ(*q, *p);
    expect_disasm_round_trip(*p);
    exercise(*p, 100000);
  }
}

// A byte of a buffer used as a number (b[0]) disassembles as the buffer's bare
// name, which only assembles where a whole buffer is allowed (keys, copy).
TEST(Bytecode, DisassemblyOfFirstBufferByte) {
  Program p = assemble_ok(
      ".data:\nbuf b 4\n.text:\n  mov gpr0, b[0]\n  mov b[0], 5\n  add gpr0, b[1]\n  end\n");
  std::string dis = disassemble(p);
  Diagnostic d;
  auto q = assemble(dis, "rt.ncpu", &d);
  if (!q)
    FAIL()
        << "regression: 'mov gpr0, b[0]' disassembles as 'mov gpr0, b', which does not assemble ("
        << d.str() << ")";
  EXPECT_EQ(encode_bytecode(*q), encode_bytecode(p));
}

// A value looked up into the first byte of a buffer: the destination prints
// as the bare buffer name, which must assemble back.
TEST(Bytecode, DisassemblyOfWideLookupIntoBuffer) {
  std::vector<std::string> broken;
  for (const char* value : {"16", "8"}) {
    Program p = assemble_ok(std::string(".data:\nbuf b 32\ntable w hash key 4 value ") + value +
                            " max 4\n.text:\n  lookup b[0], w, 1\n  end\n");
    std::string dis = disassemble(p);
    Diagnostic d;
    auto q = assemble(dis, "rt.ncpu", &d);
    if (!q) {
      broken.push_back(std::string("value ") + value + ": " + d.str());
      continue;
    }
    EXPECT_EQ(encode_bytecode(*q), encode_bytecode(p));
  }
  if (!broken.empty())
    FAIL() << "regression: 'lookup b[0], w, 1' disassembles as 'lookup b, w, 1', which does not "
              "assemble ("
           << broken[0] << (broken.size() > 1 ? "; also " + broken[1] : "") << ")";
}

// The most negative immediate prints as decimal; reading it back must not overflow.
TEST(Bytecode, DisassemblyOfMostNegativeImmediate) {
  Program p = assemble_ok(".text:\n  mov gpr0, 0x8000000000000000\n  end\n");
  std::string dis = disassemble(p);
  if (!runs_cleanly([&] {
        Diagnostic d;
        (void)assemble(dis, "rt.ncpu", &d);
      }))
    FAIL() << "regression: 'mov gpr0, 0x8000000000000000' disassembles as '-9223372036854775808', "
              "whose parsing "
              "negates INT64_MIN (UBSan report)";
  expect_disasm_round_trip(p);
}

// A label after the last instruction is a symbol like any other.
TEST(Bytecode, DisassemblyKeepsTrailingLabel) {
  Program p = assemble_ok(".text:\n  end\nlast:\n");
  ASSERT_NE(p.find_symbol("last"), nullptr);
  Diagnostic d;
  auto q = assemble(disassemble(p), "rt.ncpu", &d);
  ASSERT_TRUE(q) << d.str();
  if (!q->find_symbol("last"))
    FAIL() << "regression: the disassembler drops labels at pc == code.size() ('last:' after the "
              "final instruction), "
              "so the bytecode differs after a round trip";
  EXPECT_EQ(encode_bytecode(*q), encode_bytecode(p));
}

// Bytecode whose entries stand after the last instruction (the verifier
// refuses it; only a hand-made file has it): the disassembly shows them.
TEST(Bytecode, DisassemblyShowsEntriesAfterTheLastInstruction) {
  Program p = assemble_ok(".text:\n  call f\n  end\nfunc f:\n  ret\n.init:\n  end\n");
  p.code.resize(2);  // f starts at pc 2: past the end now
  p.lines.resize(2);
  p.init_pc = 2;
  const std::string dis = disassemble(p);
  EXPECT_NE(dis.find("func f:"), std::string::npos) << dis;
  EXPECT_NE(dis.find(".init:"), std::string::npos) << dis;
  Diagnostic d;
  EXPECT_FALSE(assemble(dis, "rt.ncpu", &d));
  EXPECT_NE(d.str().find("has no instructions"), std::string::npos) << d.str();
}

// ---- malformed bytecode -------------------------------------------------------------

std::vector<uint8_t> corpus_bytes(size_t i) {
  return encode_bytecode(assemble_ok(kCorpus[i], "corpus.ncpu"));
}

struct Section {
  uint32_t tag;
  size_t header;  // offset of the tag
  size_t size;    // payload size
};

uint32_t rd32(const std::vector<uint8_t>& b, size_t off) {
  return b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) |
         (static_cast<uint32_t>(b[off + 3]) << 24);
}
void wr32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t tag(const char (&s)[5]) {
  return s[0] | (s[1] << 8) | (s[2] << 16) | (static_cast<uint32_t>(s[3]) << 24);
}

std::vector<Section> sections(const std::vector<uint8_t>& b) {
  std::vector<Section> out;
  size_t off = 12;
  for (uint32_t i = 0; i < rd32(b, 8) && off + 8 <= b.size(); ++i) {
    out.push_back({rd32(b, off), off, rd32(b, off + 4)});
    off += 8 + rd32(b, off + 4);
  }
  return out;
}

std::optional<Program> decode(const std::vector<uint8_t>& b, std::string* why) {
  why->clear();
  auto p = decode_bytecode(b, why);
  if (!p) {
    EXPECT_FALSE(why->empty()) << "decode failed without a message";
  }
  return p;
}

TEST(BytecodeMalformed, HeaderChecks) {
  auto good = corpus_bytes(0);
  std::string why;
  auto bad = good;
  bad[3] = 'X';
  EXPECT_FALSE(is_bytecode(bad));
  EXPECT_FALSE(decode(bad, &why));
  EXPECT_NE(why.find("bad magic"), std::string::npos) << why;
  for (uint16_t v : {0, 2, 0xffff}) {
    bad = good;
    bad[4] = static_cast<uint8_t>(v), bad[5] = static_cast<uint8_t>(v >> 8);
    EXPECT_FALSE(decode(bad, &why));
    EXPECT_NE(why.find("version " + std::to_string(v) + " is not supported"), std::string::npos)
        << why;
  }
  EXPECT_FALSE(decode({}, &why));
  EXPECT_FALSE(decode({'N', 'C', 'P', 'U'}, &why));
  EXPECT_NE(why.find("truncated header"), std::string::npos) << why;
  // More sections announced than present; a section longer than the file.
  bad = good;
  wr32(bad, 8, 0xffffffff);
  EXPECT_FALSE(decode(bad, &why));
  bad = good;
  wr32(bad, 16, 0x7fffffff);
  EXPECT_FALSE(decode(bad, &why));
  EXPECT_NE(why.find("truncated section 0"), std::string::npos) << why;
}

TEST(BytecodeMalformed, TruncationAtEveryLength) {
  for (size_t c = 0; c < std::size(kCorpus); ++c) {
    auto good = corpus_bytes(c);
    std::string why;
    ASSERT_TRUE(decode(good, &why)) << why;
    for (size_t n = 0; n < good.size(); ++n) {
      std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
      EXPECT_FALSE(decode(cut, &why))
          << "a " << n << "-byte prefix of " << good.size() << " bytes decoded";
    }
  }
}

TEST(BytecodeMalformed, SectionStructure) {
  auto good = corpus_bytes(0);
  auto secs = sections(good);
  ASSERT_EQ(secs.size(), 9u);
  std::string why;
  auto without = [&](uint32_t t) {
    std::vector<uint8_t> b(good.begin(), good.begin() + 12);
    wr32(b, 8, 8);
    for (const auto& s : secs)
      if (s.tag != t)
        b.insert(b.end(), good.begin() + static_cast<std::ptrdiff_t>(s.header),
                 good.begin() + static_cast<std::ptrdiff_t>(s.header + 8 + s.size));
    return b;
  };
  EXPECT_FALSE(decode(without(tag("CODE")), &why));
  EXPECT_NE(why.find("no code section"), std::string::npos) << why;
  EXPECT_FALSE(decode(without(tag("ENTR")), &why));
  EXPECT_NE(why.find("no entry section"), std::string::npos) << why;
  // Optional sections may be missing.
  for (const char* t : {"NAME", "FILE", "LINE", "DATA", "TABL", "STRS", "SYMS"}) {
    SCOPED_TRACE(t);
    char tg[5] = {t[0], t[1], t[2], t[3], 0};
    EXPECT_TRUE(decode(without(tag(tg)), &why)) << why;
  }
  // Unknown sections are skipped.
  auto extra = good;
  wr32(extra, 8, 10);
  const uint8_t unknown[] = {'X', 'T', 'R', 'A', 3, 0, 0, 0, 1, 2, 3};
  extra.insert(extra.end(), std::begin(unknown), std::end(unknown));
  auto q = decode(extra, &why);
  ASSERT_TRUE(q) << why;
  EXPECT_EQ(encode_bytecode(*q), good);
  // A line map that does not match the code.
  auto lines = good;
  for (const auto& s : secs)
    if (s.tag == tag("LINE")) wr32(lines, s.header + 8, rd32(lines, s.header + 8) - 1);
  EXPECT_FALSE(decode(lines, &why));
  // Counts larger than the section.
  for (const char* t : {"CODE", "LINE", "TABL", "STRS", "SYMS"}) {
    SCOPED_TRACE(t);
    char tg[5] = {t[0], t[1], t[2], t[3], 0};
    auto b = good;
    for (const auto& s : secs)
      if (s.tag == tag(tg)) wr32(b, s.header + 8, 0xfffffff0);
    EXPECT_FALSE(decode(b, &why));
  }
  // Unknown opcode, operand kind, table kind, symbol kind, fault action.
  auto code = good;
  for (const auto& s : secs)
    if (s.tag == tag("CODE")) code[s.header + 12] = static_cast<uint8_t>(kOpCount);
  EXPECT_FALSE(decode(code, &why));
  EXPECT_NE(why.find("unknown opcode"), std::string::npos) << why;
  code = good;
  for (const auto& s : secs)
    if (s.tag == tag("CODE")) code[s.header + 12 + 2] = static_cast<uint8_t>(Kind::Count);
  EXPECT_FALSE(decode(code, &why));
  EXPECT_NE(why.find("unknown operand kind"), std::string::npos) << why;
}

// Kind 4 is lru; the idle timeouts are a trailer after the declarations,
// written only when a table has one, so older files (and programs without
// timeouts) keep their bytes.
TEST(Bytecode, TimedTablesAndTheIdleTrailer) {
  const char* const src =
      ".data:\ntable flows lru key 13 value 16 max 1024 idle 30s\n"
      "table seen hash key 4 max 8 idle 250ms\ntable counts hash key 2 max 4\n"
      "table recent lru key 4 max 2\n.text:\n    pass\n";
  Program p = assemble_ok(src);
  ASSERT_EQ(p.tables.size(), 4u);
  auto bytes = encode_bytecode(p);
  std::string why;
  auto q = decode_bytecode(bytes, &why);
  ASSERT_TRUE(q) << why;
  EXPECT_EQ(q->tables, p.tables);
  EXPECT_EQ(q->tables[0].kind, TableKind::Lru);
  EXPECT_EQ(q->tables[0].idle_ms, 30000u);
  EXPECT_EQ(q->tables[1].idle_ms, 250u);
  const std::string dis = expect_disasm_round_trip(p);
  EXPECT_NE(dis.find("table flows lru key 13 value 16 max 1024 idle 30s\n"), std::string::npos)
      << dis;
  EXPECT_NE(dis.find("table seen hash key 4 value 8 max 8 idle 250ms\n"), std::string::npos);
  EXPECT_NE(dis.find("table recent lru key 4 value 8 max 2\n"), std::string::npos);

  // The TABL payload: the declarations, then 4 x u32.
  auto tabl_of = [](const std::vector<uint8_t>& b) {
    for (const auto& sec : sections(b))
      if (sec.tag == tag("TABL")) return sec;
    return Section{};
  };
  const Section with = tabl_of(bytes);
  Program untimed = p;
  for (auto& t : untimed.tables) t.idle_ms = 0;
  const auto plain = encode_bytecode(untimed);
  EXPECT_EQ(with.size, tabl_of(plain).size + 16);
  EXPECT_EQ(rd32(bytes, with.header + 8 + with.size - 16), 30000u);
  EXPECT_EQ(rd32(bytes, with.header + 8 + with.size - 12), 250u);
  EXPECT_EQ(rd32(bytes, with.header + 8 + with.size - 8), 0u);
  // A file without the trailer (an older writer's) reads: no timeouts.
  std::vector<uint8_t> old(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(with.header));
  old.insert(old.end(), bytes.begin() + static_cast<std::ptrdiff_t>(with.header),
             bytes.begin() + static_cast<std::ptrdiff_t>(with.header + 8 + with.size - 16));
  wr32(old, with.header + 4, with.size - 16);
  old.insert(old.end(), bytes.begin() + static_cast<std::ptrdiff_t>(with.header + 8 + with.size),
             bytes.end());
  q = decode_bytecode(old, &why);
  ASSERT_TRUE(q) << why;
  EXPECT_EQ(*q, untimed);
  EXPECT_EQ(old, plain);
  // A table kind past lru is refused.
  auto bad = bytes;
  bad[with.header + 8 + 4] = 5;
  EXPECT_FALSE(decode_bytecode(bad, &why));
  EXPECT_NE(why.find("unknown table kind"), std::string::npos) << why;
}

TEST(Bytecode, VerifierRefusesIdleTimeoutsWhereTheyDoNotBelong) {
  Program p =
      assemble_ok(".data:\ntable a array max 4\ntable h hash key 4 max 4\n.text:\n  pass\n");
  Diagnostic d;
  p.tables[0].idle_ms = 1000;
  EXPECT_FALSE(verify(p, nullptr, &d));
  EXPECT_NE(d.str().find("table 'a' has an idle timeout: only hash and lru tables take one"),
            std::string::npos)
      << d.str();
  p.tables[0].idle_ms = 0;
  p.tables[1].idle_ms = kMaxPeriodMs + 1;
  EXPECT_FALSE(verify(p, nullptr, &d));
  EXPECT_NE(d.str().find("longer than a day"), std::string::npos) << d.str();
  p.tables[1].idle_ms = kMaxPeriodMs;
  EXPECT_TRUE(verify(p, nullptr, &d)) << d.str();
}

// Decodes, verifies and (if accepted) runs mutated bytecode. Programs whose
// tables would take more than a few MB are not instantiated (time, not safety).
struct MutationStats {
  size_t decoded = 0, verified = 0, ran = 0;
};

void check_mutant(const std::vector<uint8_t>& b, MutationStats& st, bool disasm, size_t npackets) {
  std::string why;
  auto p = decode_bytecode(b, &why);
  if (!p) {
    ASSERT_FALSE(why.empty());
    return;
  }
  ++st.decoded;
  Diagnostic d;
  HostCaps caps;
  if (!verify(*p, &caps, &d)) {
    ASSERT_FALSE(d.message.empty());
    return;
  }
  ++st.verified;
  if (disasm) (void)disassemble(*p);
  uint64_t table_bytes = 0;
  for (const auto& t : p->tables)
    table_bytes += uint64_t{t.max_entries} * 2 * (t.key_size + 1 + ((t.value_size + 7) & ~7u) + 8);
  if (table_bytes > (8u << 20)) return;
  ++st.ran;
  exercise(*p, 1000, npackets);
}

// A small program with a bit of everything, for the byte-by-byte mutations.
const char* const kSmall = R"(.data:
num n 3
buf b 8
table t hash key 4 max 8
table l lpm6 max 4
.init:
  update t, 1, 2
  end
.timer tick 10ms:
  tadd t, 1, n
  end
.text:
  lookup gpr1, t, ip.src
  switch gpr1
  case 2:
    print "x %ip", ip.dst
    break
  default:
    copy b, pkt[gpr1 + 12], 4
  endswitch
  lookup gpr2, l, ip6.src
  mov gpr3, pkt.u16[l4 + 2]
  find gpr4, "ab", 0
  call f
  drop
func f:
  push gpr3
  pop b[1]
  rewrite ip.ttl, 3
  ret
)";

TEST(BytecodeMalformed, EverySingleByteMutated) {
  MutationStats st;
  std::mt19937 rng(7);
  for (const char* src : {kSmall, kSwitches}) {
    auto good = encode_bytecode(assemble_ok(src, "small.ncpu"));
    for (size_t i = 0; i < good.size(); ++i) {
      auto b = good;
      b[i] = rng() % 2 ? static_cast<uint8_t>(b[i] ^ 0xff)
                       : static_cast<uint8_t>(b[i] ^ (1 + rng() % 255));
      check_mutant(b, st, false, 2);
      if (HasFatalFailure()) return;
    }
  }
  RecordProperty("decoded", static_cast<int>(st.decoded));
  RecordProperty("verified", static_cast<int>(st.verified));
  EXPECT_GT(st.verified, 100u) << "mutations rarely reach the interpreter";
}

std::vector<uint8_t> mutate(std::vector<uint8_t> b, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n ? static_cast<size_t>(rng() % n) : 0; };
  const uint32_t interesting[] = {
      0,   1,   2,      7,      8,       15,         16,          31,          32,         64,
      255, 256, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000u, 0xfffffffeu, 0xffffffffu};
  int n = 1 + static_cast<int>(pick(4));
  for (int k = 0; k < n && !b.empty(); ++k) {
    // Half of the mutations land in the code section, where most reach the verifier.
    size_t lo = 0, hi = b.size();
    if (rng() % 2) {
      for (const auto& s : sections(b))
        if (s.tag == tag("CODE") && s.header + 8 + s.size <= b.size())
          lo = s.header + 12, hi = s.header + 8 + s.size;
      if (lo >= hi) lo = 0, hi = b.size();
    }
    size_t at = lo + pick(hi - lo);
    switch (pick(7)) {
      case 0:
        b[at] ^= static_cast<uint8_t>(1u << pick(8));
        break;
      case 1:
        b[at] = static_cast<uint8_t>(rng());
        break;
      case 2:
        b[at] = static_cast<uint8_t>(pick(2) ? 0 : 0xff);
        break;
      case 3:
        if (at + 4 <= b.size()) wr32(b, at, interesting[pick(std::size(interesting))]);
        break;
      case 4:
        b.resize(at);
        break;
      case 5:
        b.erase(b.begin() + static_cast<std::ptrdiff_t>(at),
                b.begin() + static_cast<std::ptrdiff_t>(std::min(b.size(), at + 1 + pick(8))));
        break;
      case 6: {
        size_t len = std::min(b.size() - at, 1 + pick(32));
        std::vector<uint8_t> chunk(b.begin() + static_cast<std::ptrdiff_t>(at),
                                   b.begin() + static_cast<std::ptrdiff_t>(at + len));
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size())), chunk.begin(),
                 chunk.end());
        break;
      }
    }
  }
  return b;
}

TEST(BytecodeMalformed, RandomMutations) {
  std::mt19937_64 rng(0x5eed);
  std::vector<std::vector<uint8_t>> bases;
  for (size_t c = 0; c < std::size(kCorpus); ++c) bases.push_back(corpus_bytes(c));
  for (const auto& f : example_files()) {
    Diagnostic d;
    if (auto p = assemble(read_text(f), f, &d)) bases.push_back(encode_bytecode(*p));
  }
  MutationStats st;
  for (int i = 0; i < 8000; ++i) {
    check_mutant(mutate(bases[rng() % bases.size()], rng), st, true, 3);
    if (HasFatalFailure()) return;
  }
  RecordProperty("decoded", static_cast<int>(st.decoded));
  RecordProperty("verified", static_cast<int>(st.verified));
  RecordProperty("ran", static_cast<int>(st.ran));
  EXPECT_GT(st.decoded, 800u);
  EXPECT_GT(st.verified, 100u);
}

// `netcpu dis` prints bytecode that has not been verified: the disassembler
// must cope with any Program that decodes.
TEST(BytecodeMalformed, DisassemblingUnverifiedProgramsNeverCrashes) {
  auto run = [] {
    std::mt19937_64 rng(0xd15a);
    std::vector<std::vector<uint8_t>> bases;
    for (size_t c = 0; c < std::size(kCorpus); ++c) bases.push_back(corpus_bytes(c));
    for (int i = 0; i < 4000; ++i) {
      std::string why;
      if (auto p = decode_bytecode(mutate(bases[rng() % bases.size()], rng), &why))
        (void)disassemble(*p);
    }
    // Fields only the verifier would refuse.
    Program p;
    p.code = {Insn{Op::MOV,
                   0,
                   kNoTarget,
                   {Kind::Reg, 0, 200, 0},
                   {Kind::PktMem, attr::kBaseMapped, 250, 0}},
              Insn{Op::COPY,
                   0x80 | 0x7f,
                   0,
                   {Kind::OutMem, 0, 0, 0},
                   {Kind::HeapMem, attr::kBaseMapped, 99, 0}},
              Insn{Op::LOOKUP, 9, kNoTarget, {Kind::Mapped, 0, 200, 0}, {Kind::Bytes, 0, 0, 99}},
              Insn{Op::PRINT, 0, 77, {Kind::Var, 0, 0, 1 << 20}, {}},
              Insn{Op::JMP, 0, 12345, {}, {}}};
    p.text_pc = 99;
    (void)disassemble(p);
  };
  if (!runs_cleanly(run)) {
    // Pin down the hand-built case to report it precisely.
    bool mapped_base = runs_cleanly([] {
      Program p;
      p.code = {Insn{
          Op::MOV, 0, kNoTarget, {Kind::Reg, 0, 0, 0}, {Kind::PktMem, attr::kBaseMapped, 250, 0}}};
      (void)disassemble(p);
    });
    FAIL() << "regression: disassemble() crashes on a decoded but unverified Program"
           << (mapped_base ? ""
                           : " (memory operand with kBaseMapped and mapped id 250: mapped_info() "
                             "indexes kMappedInfo without a bounds check)");
  }
  SUCCEED();
}

}  // namespace
}  // namespace netcpu::test
