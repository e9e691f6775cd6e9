// The assembler: the 2004 slides program, literal forms, data layout, tables,
// sections, switch chains, memory operands, and the diagnostics (exact
// file:line:col of the offending token plus a helpful message).

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "vm_test_util.h"

namespace netcpu::test {
namespace {

// Assembles without verifying; fails the test on a diagnostic.
Program must_assemble(std::string_view src, const std::string& file = "test.ncpu") {
  Diagnostic d;
  auto p = assemble(src, file, &d);
  EXPECT_TRUE(p.has_value()) << d.str() << "\n--- source:\n" << src;
  return p ? *p : Program{};
}

// The assembler's diagnostic for src as "bad.ncpu", or "" when it assembles.
std::string asm_error(std::string_view src) {
  Diagnostic d;
  auto p = assemble(src, "bad.ncpu", &d);
  return p ? std::string() : d.str();
}

// The error starts with `prefix` ("bad.ncpu:LINE:COL: error: ") and mentions `fragment`.
::testing::AssertionResult error_is(std::string_view src, const std::string& prefix,
                                    const std::string& fragment) {
  return diagnostic_is(asm_error(src), src, prefix, fragment);
}

// The b operand of the first instruction of ".text:\n  mov gpr0, <text>\n  end".
Operand mov_source(const std::string& text, const std::string& data = "") {
  Program p = must_assemble((data.empty() ? "" : ".data:\n" + data + "\n") +
                            ".text:\n  mov gpr0, " + text + "\n  end\n");
  return p.code.empty() ? Operand{} : p.code[0].b;
}

int64_t le64(const std::vector<uint8_t>& d, size_t off) {
  int64_t v = 0;
  if (off + 8 <= d.size()) std::memcpy(&v, d.data() + off, 8);
  return v;
}

// ---- the 2004 program ---------------------------------------------------------

TEST(Assembler, SlidesProgram2004Assembles) {
  Program p = assemble_ok(kSlidesProgram, "slides.ncpu");
  EXPECT_EQ(p.name, "slides");
  EXPECT_EQ(p.source_file, "slides.ncpu");
  ASSERT_EQ(p.code.size(), 7u);
  const Op ops[] = {Op::MOV, Op::PRINT, Op::CALL, Op::PRINT, Op::END, Op::ADD, Op::RET};
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(p.code[i].op, ops[i]) << "pc " << i;
  EXPECT_EQ(p.code[0].a, (Operand{Kind::Reg, 0, 0, 0}));
  EXPECT_EQ(p.code[0].b, (Operand{Kind::Mapped, 0, static_cast<uint8_t>(MappedReg::Mlen), 0}));
  EXPECT_EQ(p.code[1].a, (Operand{Kind::Reg, 0, 0, 0}));
  EXPECT_EQ(p.code[1].target, kNoTarget);
  EXPECT_EQ(p.code[2].target, 5u);
  EXPECT_EQ(p.code[3].a, (Operand{Kind::Imm, 0, 0, 666}));
  EXPECT_EQ(p.code[5].a, (Operand{Kind::Var, 0, 0, 0}));
  EXPECT_EQ(p.code[5].b, (Operand{Kind::Imm, 0, 0, 1}));
  EXPECT_EQ(p.data, std::vector<uint8_t>(8, 0));
  EXPECT_EQ(p.text_pc, 0u);
  EXPECT_EQ(p.init_pc, kNoTarget);
  const Symbol* cnt = p.find_symbol("cnt");
  ASSERT_NE(cnt, nullptr);
  EXPECT_EQ(cnt->kind, SymbolKind::Num);
  EXPECT_EQ(cnt->value, 0u);
  const Symbol* f = p.find_symbol("mycnt");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->kind, SymbolKind::Func);
  EXPECT_EQ(f->value, 5u);
  // Positions: line and column of each mnemonic.
  ASSERT_EQ(p.lines.size(), 7u);
  EXPECT_EQ(p.lines[0], (SourcePos{6, 1}));
  EXPECT_EQ(p.lines[5], (SourcePos{13, 1}));
  EXPECT_EQ(p.lines[6], (SourcePos{14, 1}));
}

TEST(Assembler, SlidesProgram2004Runs) {
  auto out = run_program(kSlidesProgram, std::vector<uint8_t>(60, 0));
  ASSERT_TRUE(out.vm);
  EXPECT_FALSE(out.result.aborted);
  EXPECT_EQ(out.result.verdict, Verdict::Pass);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"60", "666"}));
  EXPECT_EQ(le64({out.vm->heap().begin(), out.vm->heap().end()}, 0), 1);
  std::vector<uint8_t> pkt(100, 0);
  uint32_t len = 100;
  out.vm->run(pkt.data(), len, static_cast<uint32_t>(pkt.size()), PacketMeta{});
  EXPECT_EQ(le64({out.vm->heap().begin(), out.vm->heap().end()}, 0), 2);
}

TEST(Assembler, SigilIsOptional) {
  Program a = must_assemble(".text:\n  mov gpr0, mlen\n  end\n", "same.ncpu");
  Program b = must_assemble(".text:\n  mov $gpr0, $mlen\n  end\n", "same.ncpu");
  ASSERT_EQ(a.code.size(), 2u);
  EXPECT_EQ(a.code, b.code);
  EXPECT_EQ(encode_bytecode(a), encode_bytecode(b));
  // The slides program without any sigil is the same program.
  std::string plain = kSlidesProgram;
  for (size_t i; (i = plain.find('$')) != std::string::npos;) plain.erase(i, 1);
  EXPECT_EQ(must_assemble(kSlidesProgram, "s.ncpu").code, must_assemble(plain, "s.ncpu").code);
}

TEST(Assembler, MnemonicsRegistersAndFieldsAreCaseInsensitive) {
  Program a = must_assemble(".text:\n  MOV GPR3, MLEN\n  Add R3, IP.TTL\n  END\n");
  Program b = must_assemble(".text:\n  mov gpr3, mlen\n  add gpr3, ip.ttl\n  end\n");
  EXPECT_EQ(a.code, b.code);
}

TEST(Assembler, RegisterSpellings) {
  EXPECT_EQ(mov_source("gpr15"), (Operand{Kind::Reg, 0, 15, 0}));
  EXPECT_EQ(mov_source("r7"), (Operand{Kind::Reg, 0, 7, 0}));
  EXPECT_EQ(mov_source("$r0"), (Operand{Kind::Reg, 0, 0, 0}));
  for (size_t i = 0; i < kMappedCount; ++i) {
    if (kMappedInfo[i].bytes != 8) continue;
    SCOPED_TRACE(std::string(kMappedInfo[i].name));
    EXPECT_EQ(mov_source(std::string(kMappedInfo[i].name)),
              (Operand{Kind::Mapped, 0, static_cast<uint8_t>(i), 0}));
  }
}

// ---- literals --------------------------------------------------------------------

TEST(Assembler, EveryLiteralForm) {
  struct Case {
    const char* text;
    int64_t value;
  } cases[] = {
      {"0", 0},
      {"42", 42},
      {"-42", -42},
      {"+7", 7},
      {"0x2a", 42},
      {"0X2A", 42},
      {"0xdeadBEEF", 0xdeadbeef},
      {"-0x10", -16},
      {"0xffffffffffffffff", -1},
      {"0x8000000000000000", INT64_MIN},
      {"18446744073709551615", -1},
      {"9223372036854775807", INT64_MAX},
      {"0b101010", 42},
      {"0B1", 1},
      {"'c'", 'c'},
      {"'A'", 65},
      {"' '", 32},
      {"10.0.0.1", 0x0a000001},
      {"192.168.1.254", 0xc0a801fe},
      {"255.255.255.255", 0xffffffff},
      {"0.0.0.0", 0},
      {"02:00:00:00:00:01", 0x020000000001},
      {"aa:BB:cc:DD:ee:FF", 0xaabbccddeeff},
      {"ff:ff:ff:ff:ff:ff", 0xffffffffffff},
      {"PROTO_TCP", 6},
      {"PROTO_UDP", 17},
      {"ETH_IP6", 0x86dd},
      {"TCP_SYN", 2},
      {"INPORT", -1},
      {"$PROTO_ICMP", 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(mov_source(c.text), (Operand{Kind::Imm, 0, 0, c.value}));
  }
  // Named constants, also defined after their use.
  Program p = must_assemble(
      ".text:\n  mov gpr0, LIMIT\n  mov gpr1, NEG\n  end\n.data:\nconst LIMIT 1500\nconst NEG "
      "-3\n");
  ASSERT_EQ(p.code.size(), 3u);
  EXPECT_EQ(p.code[0].b, (Operand{Kind::Imm, 0, 0, 1500}));
  EXPECT_EQ(p.code[1].b, (Operand{Kind::Imm, 0, 0, -3}));
  // The address of a heap object is a number.
  EXPECT_EQ(mov_source("&b", "num x 1\nbuf b 4"), (Operand{Kind::Imm, 0, 0, 8}));
  EXPECT_EQ(mov_source("&$x", "num x 1\nbuf b 4"), (Operand{Kind::Imm, 0, 0, 0}));
}

TEST(Assembler, LiteralsInDeclarationsAndCases) {
  Program p = must_assemble(
      ".data:\nnum a 0x10\nnum b 'z'\nnum c 1.2.3.4\nnum d 02:00:00:00:00:01\nnum e -1\nnum f "
      "0b11\n"
      ".text:\n  switch gpr0\n  case 'a':\n  case 0x10:\n  case 10.0.0.1:\n  case PROTO_UDP:\n  "
      "endswitch\n  end\n");
  EXPECT_EQ(le64(p.data, 0), 0x10);
  EXPECT_EQ(le64(p.data, 8), 'z');
  EXPECT_EQ(le64(p.data, 16), 0x01020304);
  EXPECT_EQ(le64(p.data, 24), 0x020000000001);
  EXPECT_EQ(le64(p.data, 32), -1);
  EXPECT_EQ(le64(p.data, 40), 3);
  ASSERT_EQ(p.code.size(), 7u);
  EXPECT_EQ(p.code[1].a.imm, 'a');
  EXPECT_EQ(p.code[2].a.imm, 0x10);
  EXPECT_EQ(p.code[3].a.imm, 0x0a000001);
  EXPECT_EQ(p.code[4].a.imm, 17);
}

TEST(Assembler, Ipv6Literals) {
  auto bytes = [](std::initializer_list<int> v) {
    std::string s;
    for (int b : v) s += static_cast<char>(b);
    return s;
  };
  struct Case {
    const char* text;
    std::string bytes;
  } cases[] = {
      {"fe80::1", bytes({0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})},
      {"::", std::string(16, '\0')},
      {"::1", bytes({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})},
      {"2001:db8::", bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})},
      {"2001:DB8:0:0:1:0:0:ffff",
       bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff})},
      {"1:2:3:4:5:6:7:8", bytes({0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8})},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    Program p = assemble_ok(std::string(".text:\n  cmp16 ip6.src, ") + c.text + "\n  end\n");
    ASSERT_EQ(p.code.size(), 2u);
    EXPECT_EQ(p.code[0].a, (Operand{Kind::Mapped, 0, static_cast<uint8_t>(MappedReg::Ip6Src), 0}));
    ASSERT_EQ(p.code[0].b.kind, Kind::Bytes);
    ASSERT_LT(static_cast<size_t>(p.code[0].b.imm), p.strings.size());
    EXPECT_EQ(p.strings[p.code[0].b.imm], c.bytes);
  }
  // The same constant twice is stored once.
  Program p = assemble_ok(".text:\n  cmp16 ip6.src, fe80::1\n  cmp16 ip6.dst, fe80::1\n  end\n");
  EXPECT_EQ(p.strings.size(), 1u);
  // A 16-byte constant is not a number.
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0, fe80::1\n  end\n", "bad.ncpu:2:13: error: ", "16-byte"));
  // Malformed addresses are not accepted.
  for (const char* bad :
       {"1:::2", "1::2::3", "12345::1", "1:2:3:4:5:6:7:8:9", "g::1", "1:2:3:4:5:6:7:"}) {
    SCOPED_TRACE(bad);
    EXPECT_NE(asm_error(std::string(".text:\n  cmp16 ip6.src, ") + bad + "\n  end\n"), "");
  }
}

TEST(Assembler, StringLiteralsAndEscapes) {
  Program p = must_assemble(".text:\n  print \"a\\tb\\n\\x41\\\\\\\"#;,\\0z\"\n  end\n");
  ASSERT_EQ(p.strings.size(), 1u);
  EXPECT_EQ(p.strings[0], std::string("a\tb\nA\\\"#;,\0z", 12));
  EXPECT_EQ(p.code[0].target, 0u);
  EXPECT_TRUE(error_is(".text:\n  print \"a\\q\"\n  end\n",
                       "bad.ncpu:2:12: error: ", "unknown escape \\q"));
  EXPECT_TRUE(error_is(".text:\n  print \"\\x4\"\n  end\n",
                       "bad.ncpu:2:11: error: ", "\\x needs two hex digits"));
}

TEST(Assembler, BadLiteralsAreRejected) {
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, 99999999999999999999\n  end\n",
                       "bad.ncpu:2:13: error: ", "cannot parse operand '99999999999999999999'"));
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0, 256.0.0.1\n  end\n", "bad.ncpu:2:13: error: ", "256.0.0.1"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, 0x\n  end\n", "bad.ncpu:2:13: error: ", "0x"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, 'ab'\n  end\n", "bad.ncpu:2:13: error: ", "'ab'"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, 0b102\n  end\n", "bad.ncpu:2:13: error: ", "0b102"));
  EXPECT_TRUE(error_is(".data:\nnum x 1.2.3\n.text:\n  end\n",
                       "bad.ncpu:2:7: error: ", "expected a number"));
}

// '#' and ';' start comments and ',' separates operands, but not inside a
// character literal (the lexer's own comment says so).
TEST(Assembler, CharLiteralsOfCommentAndSeparatorCharacters) {
  struct Case {
    const char* text;
    int64_t value;
  } cases[] = {{"'#'", '#'}, {"';'", ';'}, {"','", ','}, {"'\"'", '"'}};
  std::vector<std::string> broken;
  for (const auto& c : cases) {
    Diagnostic d;
    auto p = assemble(std::string(".text:\n  mov gpr0, ") + c.text + "  # comment\n  end\n",
                      "t.ncpu", &d);
    if (!p || p->code.empty() || !(p->code[0].b == Operand{Kind::Imm, 0, 0, c.value}))
      broken.push_back(std::string(c.text) + " -> " + (p ? "wrong value" : d.str()));
  }
  if (!broken.empty()) {
    std::string all;
    for (const auto& b : broken) all += "\n  " + b;
    FAIL() << "regression: character literals '#', ';', ',' and '\"' are cut by the "
              "comment/operand lexer:"
           << all;
  }
}

// The most negative number is a valid decimal literal; parsing it must not
// negate INT64_MIN (signed overflow).
TEST(Assembler, MostNegativeDecimalLiteral) {
  const std::string src =
      ".data:\nnum x -9223372036854775808\n.text:\n  mov gpr0, -9223372036854775808\n  end\n";
  if (!runs_cleanly([&] {
        Diagnostic d;
        (void)assemble(src, "t.ncpu", &d);
      }))
    FAIL()
        << "regression: parse_int negates INT64_MIN (UBSan: negation of -9223372036854775808) for "
           "'mov gpr0, -9223372036854775808'";
  Program p = must_assemble(src);
  ASSERT_EQ(p.code.size(), 2u);
  EXPECT_EQ(p.code[0].b, (Operand{Kind::Imm, 0, 0, INT64_MIN}));
  EXPECT_EQ(le64(p.data, 0), INT64_MIN);
}

// ---- data ------------------------------------------------------------------------

TEST(Assembler, DataDeclarationsLayOutTheHeap) {
  Program p = must_assemble(R"(.data:
num a 5
buf b 3
num c -2
array d 4
bytes e "hi", 0x21
const K 7
buf f K
num g 0x1122334455667788
num h
bytes i 1 2 3
.text:
  mov gpr0, a
  end
)");
  struct Want {
    const char* name;
    SymbolKind kind;
    uint32_t off, size;
  } want[] = {{"a", SymbolKind::Num, 0, 8},  {"b", SymbolKind::Buf, 8, 3},
              {"c", SymbolKind::Num, 16, 8}, {"d", SymbolKind::Array, 24, 32},
              {"e", SymbolKind::Buf, 56, 3}, {"f", SymbolKind::Buf, 64, 7},
              {"g", SymbolKind::Num, 72, 8}, {"h", SymbolKind::Num, 80, 8},
              {"i", SymbolKind::Buf, 88, 3}};
  for (const auto& w : want) {
    SCOPED_TRACE(w.name);
    const Symbol* s = p.find_symbol(w.name);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->kind, w.kind);
    EXPECT_EQ(s->value, w.off);
    EXPECT_EQ(s->value % 8, 0u) << "heap objects are 8-byte aligned";
    EXPECT_EQ(s->size, w.size);
  }
  const Symbol* k = p.find_symbol("K");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->kind, SymbolKind::Const);
  EXPECT_EQ(k->value, 7u);
  EXPECT_EQ(k->size, 0u);
  ASSERT_EQ(p.data.size(), 91u);
  EXPECT_EQ(le64(p.data, 0), 5);
  EXPECT_EQ(le64(p.data, 16), -2);
  EXPECT_EQ(le64(p.data, 72), 0x1122334455667788);
  EXPECT_EQ(le64(p.data, 80), 0);
  EXPECT_EQ(std::string(p.data.begin() + 56, p.data.begin() + 59), "hi!");
  EXPECT_EQ(std::vector<uint8_t>(p.data.begin() + 88, p.data.end()),
            (std::vector<uint8_t>{1, 2, 3}));
  for (size_t i : {8, 9, 10, 24, 50, 64, 70}) EXPECT_EQ(p.data[i], 0) << "offset " << i;
  // Data symbols come first, in declaration order.
  ASSERT_GE(p.symbols.size(), 10u);
  EXPECT_EQ(p.symbols[0].name, "a");
  EXPECT_EQ(p.symbols[9].name, "i");
  // A num used as an operand is a variable at its offset.
  EXPECT_EQ(p.code[0].b, (Operand{Kind::Var, 0, 0, 0}));
  // Negative const keeps its high half.
  Program q = must_assemble(".data:\nconst M -2\n.text:\n  end\n");
  ASSERT_NE(q.find_symbol("M"), nullptr);
  EXPECT_EQ(q.find_symbol("M")->value, 0xfffffffeu);
  EXPECT_EQ(q.find_symbol("M")->size, 0xffffffffu);
}

TEST(Assembler, DataSectionMayFollowCode) {
  Program p = must_assemble(".text:\n  add n, 1\n  end\n.data:\nbuf pad 3\nnum n 9\n");
  ASSERT_NE(p.find_symbol("n"), nullptr);
  EXPECT_EQ(p.find_symbol("n")->value, 8u);
  EXPECT_EQ(p.code[0].a, (Operand{Kind::Var, 0, 0, 8}));
  EXPECT_EQ(le64(p.data, 8), 9);
}

// A string with a space needs no comma, like every other declaration operand.
TEST(Assembler, BytesDeclarationWithSpaceInString) {
  Diagnostic d;
  auto p = assemble(".data:\nbytes msg \"hello world\"\n.text:\n  end\n", "t.ncpu", &d);
  if (!p)
    FAIL() << "regression: 'bytes msg \"hello world\"' fails (" << d.str()
           << "): words() splits the string at the space unless a comma follows the name";
  ASSERT_NE(p->find_symbol("msg"), nullptr);
  EXPECT_EQ(std::string(p->data.begin(), p->data.end()), "hello world");
}

TEST(Assembler, DataDeclarationErrors) {
  EXPECT_TRUE(
      error_is(".data:\nnum x 1 2\n.text:\n  end\n", "bad.ncpu:2:9: error: ", "num takes a name"));
  EXPECT_TRUE(error_is(".data:\nbuf b\n.text:\n  end\n",
                       "bad.ncpu:2:1: error: ", "buf takes a name and a size"));
  EXPECT_TRUE(error_is(".data:\nbuf b 0\n.text:\n  end\n", "bad.ncpu:2:7: error: ", "buffer size"));
  EXPECT_TRUE(
      error_is(".data:\narray a 0\n.text:\n  end\n", "bad.ncpu:2:9: error: ", "array length"));
  EXPECT_TRUE(
      error_is(".data:\nbuf b 2000000\n.text:\n  end\n", "bad.ncpu:2:7: error: ", "buffer size"));
  EXPECT_TRUE(error_is(".data:\nbytes b 256\n.text:\n  end\n",
                       "bad.ncpu:2:9: error: ", "byte values are 0..255"));
  EXPECT_TRUE(error_is(".data:\nnum x 1\nbuf x 4\n.text:\n  end\n",
                       "bad.ncpu:3:5: error: ", "'x' is already defined"));
  EXPECT_TRUE(error_is(".data:\nnum gpr3 1\n.text:\n  end\n",
                       "bad.ncpu:2:5: error: ", "register or built-in"));
  EXPECT_TRUE(error_is(".data:\nnum mlen 1\n.text:\n  end\n",
                       "bad.ncpu:2:5: error: ", "register or built-in"));
  EXPECT_TRUE(
      error_is(".data:\nnum 9x 1\n.text:\n  end\n", "bad.ncpu:2:5: error: ", "invalid name '9x'"));
  EXPECT_TRUE(error_is(".data:\nfrob x 1\n.text:\n  end\n",
                       "bad.ncpu:2:1: error: ", "unknown declaration 'frob'"));
  EXPECT_TRUE(error_is(".data:\nlab:\n.text:\n  end\n",
                       "bad.ncpu:2:1: error: ", "labels belong in code sections"));
}

// A table and a heap object cannot share a name, whichever comes first
// (the disassembler prints heap objects before tables, so the program would
// not read back).
TEST(Assembler, TableAndDataNamesClash) {
  EXPECT_TRUE(error_is(".data:\nnum t 1\ntable t array max 3\n.text:\n  end\n",
                       "bad.ncpu:3:7: error: ", "'t'"));
  std::string e = asm_error(".data:\ntable t array max 3\nnum t 1\n.text:\n  end\n");
  if (e.empty())
    FAIL() << "regression: 'table t ...' followed by 'num t 1' assembles (define() does not look "
              "at table "
              "names); its disassembly then fails with \"'t' is already defined or reserved\"";
  EXPECT_EQ(e.rfind("bad.ncpu:3:5: error: ", 0), 0u) << e;
}

// Constants follow the same naming rules as other names.
TEST(Assembler, ConstantNamedLikeARegister) {
  std::vector<std::string> accepted;
  for (const char* n : {"gpr0", "r3", "mlen", "ip.src", "pkt"}) {
    std::string e = asm_error(std::string(".data:\nconst ") + n + " 5\n.text:\n  end\n");
    if (e.empty()) {
      accepted.push_back(n);
      continue;
    }
    EXPECT_EQ(e.rfind("bad.ncpu:2:7: error: ", 0), 0u) << e;
    EXPECT_NE(e.find("register or built-in"), std::string::npos) << e;
  }
  if (!accepted.empty()) {
    std::string all;
    for (const auto& a : accepted) all += " " + a;
    FAIL() << "regression: 'const NAME 5' is accepted for register/field names (" << all
           << " ); the constant can never be used, since the name still means the register";
  }
}

// A label clashing with a user constant is a duplicate, not a built-in.
TEST(Assembler, LabelNamedLikeAConstant) {
  std::string e = asm_error(".data:\nconst K 3\n.text:\nK:\n  end\n");
  ASSERT_EQ(e.rfind("bad.ncpu:4:1: error: ", 0), 0u) << e;
  if (e.find("register or built-in") != std::string::npos)
    FAIL() << "regression: a label named like a user constant is reported as \"" << e
           << "\" instead of \"'K' is already defined\"";
  EXPECT_NE(e.find("'K' is already defined"), std::string::npos) << e;
}

// ---- tables ----------------------------------------------------------------------

TEST(Assembler, TablesParse) {
  Program p = must_assemble(R"(.data:
table flows hash key 13 value 16 max 1024
table ports array value 8 max 64
table routes lpm4 value 4 max 100
table routes6 lpm6 max 10
table tiny hash key 1 max 1
.text:
  lookup gpr0, ports, 3
  tadd tiny, 7, 1
  end
)");
  ASSERT_EQ(p.tables.size(), 5u);
  EXPECT_EQ(p.tables[0], (TableDecl{"flows", TableKind::Hash, 13, 16, 1024}));
  EXPECT_EQ(p.tables[1], (TableDecl{"ports", TableKind::Array, 4, 8, 64}));
  EXPECT_EQ(p.tables[2], (TableDecl{"routes", TableKind::Lpm4, 4, 4, 100}));
  EXPECT_EQ(p.tables[3], (TableDecl{"routes6", TableKind::Lpm6, 16, 8, 10}));
  EXPECT_EQ(p.tables[4], (TableDecl{"tiny", TableKind::Hash, 1, 8, 1}));
  EXPECT_EQ(p.code[0].op, Op::LOOKUP);
  EXPECT_EQ(p.code[0].aux, 1);
  EXPECT_EQ(p.code[1].op, Op::TADD);
  EXPECT_EQ(p.code[1].aux, 4);
  // Attributes in any order, sigils on names, and the limits themselves.
  Program q = must_assemble(
      ".data:\ntable $t hash max 1048576 value 256 key 64\n.text:\n  delete $t, b\n  end\n"
      ".data:\nbuf b 64\n");
  ASSERT_EQ(q.tables.size(), 1u);
  EXPECT_EQ(q.tables[0], (TableDecl{"t", TableKind::Hash, 64, 256, 1u << 20}));
}

TEST(Assembler, TableErrors) {
  EXPECT_TRUE(error_is(".data:\ntable t tree max 4\n.text:\n  end\n", "bad.ncpu:2:9: error: ",
                       "unknown table kind 'tree' (hash, lru, array, lpm4, lpm6)"));
  EXPECT_TRUE(
      error_is(".data:\ntable t\n.text:\n  end\n", "bad.ncpu:2:1: error: ", "needs a kind"));
  EXPECT_TRUE(error_is(".data:\ntable t hash max 4\n.text:\n  end\n",
                       "bad.ncpu:2:1: error: ", "needs 'key N'"));
  EXPECT_TRUE(error_is(".data:\ntable t hash key 4\n.text:\n  end\n",
                       "bad.ncpu:2:1: error: ", "needs 'max N'"));
  EXPECT_TRUE(error_is(".data:\ntable t array key 4 max 4\n.text:\n  end\n",
                       "bad.ncpu:2:15: error: ", "only hash and lru tables take a key size"));
  EXPECT_TRUE(error_is(".data:\ntable t hash key 65 max 4\n.text:\n  end\n",
                       "bad.ncpu:2:18: error: ", "key size"));
  EXPECT_TRUE(error_is(".data:\ntable t hash key 4 value 257 max 4\n.text:\n  end\n",
                       "bad.ncpu:2:26: error: ", "value size"));
  EXPECT_TRUE(error_is(".data:\ntable t lpm4 max 2000000\n.text:\n  end\n",
                       "bad.ncpu:2:18: error: ", "max"));
  EXPECT_TRUE(error_is(".data:\ntable t lpm4 max\n.text:\n  end\n",
                       "bad.ncpu:2:14: error: ", "'max' needs a value"));
  EXPECT_TRUE(error_is(".data:\ntable t lpm4 size 3 max 1\n.text:\n  end\n",
                       "bad.ncpu:2:14: error: ", "unknown table attribute"));
  EXPECT_TRUE(error_is(".data:\ntable t hash key 4 max 4\ntable t array max 3\n.text:\n  end\n",
                       "bad.ncpu:3:7: error: ", "'t' is already defined"));
  EXPECT_TRUE(error_is(".data:\nnum t 1\ntable t array max 3\n.text:\n  end\n",
                       "bad.ncpu:3:7: error: ", "'t'"));
  EXPECT_TRUE(error_is(".data:\ntable t array max 3\n.text:\n  lookup gpr0, nosuch, 1\n  end\n",
                       "bad.ncpu:4:16: error: ", "unknown table 'nosuch'"));
  EXPECT_TRUE(error_is(".text:\n  update nosuch, 1, 2\n  end\n",
                       "bad.ncpu:2:10: error: ", "unknown table 'nosuch'"));
  EXPECT_TRUE(error_is(".text:\n  tadd nosuch, 1, 2\n  end\n",
                       "bad.ncpu:2:8: error: ", "unknown table 'nosuch'"));
  EXPECT_TRUE(error_is(".text:\n  delete nosuch, 1\n  end\n",
                       "bad.ncpu:2:10: error: ", "unknown table 'nosuch'"));
  std::string many = ".data:\n";
  for (int i = 0; i <= 64; ++i) many += "table t" + std::to_string(i) + " array max 1\n";
  EXPECT_TRUE(error_is(many + ".text:\n  end\n", "bad.ncpu:66:1: error: ", "too many tables"));
}

TEST(Assembler, LruAndIdleTablesParse) {
  Program p = must_assemble(R"(.data:
table flows lru key 13 value 16 max 1024 idle 30s
table recent lru key 4 max 8
table seen hash key 4 max 64 idle 500ms
table plain hash key 4 max 64 idle 250
table longest hash key 2 max 4 idle 86400s
.text:
  end
)");
  ASSERT_EQ(p.tables.size(), 5u);
  EXPECT_EQ(p.tables[0], (TableDecl{"flows", TableKind::Lru, 13, 16, 1024, 30000}));
  EXPECT_EQ(p.tables[1], (TableDecl{"recent", TableKind::Lru, 4, 8, 8, 0}));
  EXPECT_EQ(p.tables[2], (TableDecl{"seen", TableKind::Hash, 4, 8, 64, 500}));
  EXPECT_EQ(p.tables[3], (TableDecl{"plain", TableKind::Hash, 4, 8, 64, 250}));
  EXPECT_EQ(p.tables[4], (TableDecl{"longest", TableKind::Hash, 2, 8, 4, kMaxPeriodMs}));
}

TEST(Assembler, IdleTimeoutErrors) {
  // Only hash and lru tables age their entries.
  EXPECT_TRUE(error_is(".data:\ntable t array max 4 idle 1s\n.text:\n  end\n",
                       "bad.ncpu:2:21: error: ", "only hash and lru tables take an idle timeout"));
  EXPECT_TRUE(error_is(".data:\ntable t lpm4 max 4 idle 1s\n.text:\n  end\n",
                       "bad.ncpu:2:20: error: ", "only hash and lru tables take an idle timeout"));
  EXPECT_TRUE(error_is(".data:\ntable t lpm6 idle 5s max 4\n.text:\n  end\n",
                       "bad.ncpu:2:14: error: ", "only hash and lru tables take an idle timeout"));
  // Periods as timers take them: 1 ms to a day.
  for (const char* bad : {"0", "0ms", "0s", "-5s", "2d", "86401s", "86400001", "5m", "s", "ms",
                          "99999999999999999s", "idle"}) {
    const std::string src =
        ".data:\ntable t hash key 4 max 4 idle " + std::string(bad) + "\n.text:\n  end\n";
    EXPECT_TRUE(
        error_is(src, "bad.ncpu:2:31: error: ", "idle timeout must be between 1 ms and 1 day"))
        << bad;
  }
  EXPECT_TRUE(error_is(".data:\ntable t lru key 4 max 4 idle\n.text:\n  end\n",
                       "bad.ncpu:2:25: error: ", "'idle' needs a value"));
  EXPECT_TRUE(error_is(".data:\ntable t lru max 4\n.text:\n  end\n",
                       "bad.ncpu:2:1: error: ", "lru table 't' needs 'key N'"));
}

// ---- sections --------------------------------------------------------------------

TEST(Assembler, TimersAndInit) {
  Program p = assemble_ok(R"(.data:
num ticks 0
num started 0
.init:
  mov started, 1
  end
.timer fast 100ms:
  add ticks, 1
  end
.text:
  print "ticks %d", ticks
  end
.timer slow 2s:
  mov ticks, 0
  end
.timer plain 250:
  end
)");
  EXPECT_EQ(p.init_pc, 0u);
  EXPECT_EQ(p.text_pc, 4u);
  ASSERT_EQ(p.timers.size(), 3u);
  EXPECT_EQ(p.timers[0], (TimerDecl{"fast", 2, 100}));
  EXPECT_EQ(p.timers[1], (TimerDecl{"slow", 6, 2000}));
  EXPECT_EQ(p.timers[2], (TimerDecl{"plain", 8, 250}));
  ASSERT_EQ(p.code.size(), 9u);

  // .init runs at load; timers run on demand.
  Diagnostic d;
  auto vm = Instance::create(p, HostCaps{}, Limits{}, nullptr, &d);
  ASSERT_TRUE(vm) << d.str();
  std::vector<uint8_t> heap(vm->heap().begin(), vm->heap().end());
  EXPECT_EQ(le64(heap, 8), 1);
  EXPECT_EQ(le64(heap, 0), 0);
  PacketMeta m;
  m.now_ms = 5;
  vm->run_timer(0, m);
  vm->run_timer(0, m);
  heap.assign(vm->heap().begin(), vm->heap().end());
  EXPECT_EQ(le64(heap, 0), 2);
  vm->run_timer(1, m);
  heap.assign(vm->heap().begin(), vm->heap().end());
  EXPECT_EQ(le64(heap, 0), 0);
}

TEST(Assembler, SectionErrors) {
  EXPECT_TRUE(
      error_is(".timer t 0ms:\n  end\n.text:\n  end\n", "bad.ncpu:1:10: error: ", "timer period"));
  EXPECT_TRUE(
      error_is(".timer t 2d:\n  end\n.text:\n  end\n", "bad.ncpu:1:10: error: ", "timer period"));
  EXPECT_TRUE(error_is(".timer t 90000s:\n  end\n.text:\n  end\n",
                       "bad.ncpu:1:10: error: ", "timer period"));
  EXPECT_TRUE(
      error_is(".timer t:\n  end\n.text:\n  end\n", "bad.ncpu:1:1: error: ", ".timer name period"));
  EXPECT_TRUE(error_is(".timer t 10ms:\n  end\n.timer t 20ms:\n  end\n.text:\n  end\n",
                       "bad.ncpu:3:8: error: ", "timer 't' is already defined"));
  EXPECT_TRUE(error_is(".text:\n  end\n.text:\n  end\n",
                       "bad.ncpu:3:1: error: ", "only one .text section"));
  EXPECT_TRUE(error_is(".init:\n  end\n.init:\n  end\n.text:\n  end\n",
                       "bad.ncpu:3:1: error: ", "only one .init"));
  EXPECT_TRUE(
      error_is(".text: x\n  end\n", "bad.ncpu:1:8: error: ", "unexpected text after .text"));
  EXPECT_TRUE(
      error_is(".text:\n  .frob 1\n  end\n", "bad.ncpu:2:3: error: ", "unknown directive '.frob'"));
  EXPECT_TRUE(error_is(".onfault maybe\n.text:\n  end\n",
                       "bad.ncpu:1:1: error: ", ".onfault takes abort, pass or drop"));
}

TEST(Assembler, OnFaultNameAndFileDirectives) {
  Program p = must_assemble(".name \"fw\"\n.file \"orig/fw.ncpu\"\n.onfault drop\n.text:\n  end\n",
                            "x.ncpu");
  EXPECT_EQ(p.name, "fw");
  EXPECT_EQ(p.source_file, "orig/fw.ncpu");
  EXPECT_EQ(p.on_fault, FaultAction::Drop);
  EXPECT_EQ(must_assemble(".onfault pass\n.text:\n  end\n").on_fault, FaultAction::Pass);
  EXPECT_EQ(must_assemble(".onfault abort\n.text:\n  end\n").on_fault, FaultAction::Abort);
  EXPECT_EQ(must_assemble(".text:\n  end\n", "dir/prog.v2.ncpu").name, "prog.v2");
  // .loc sets the position of the next instruction only.
  Program q = must_assemble(".text:\n  .loc 40 7\n  nop\n  end\n");
  ASSERT_EQ(q.lines.size(), 2u);
  EXPECT_EQ(q.lines[0], (SourcePos{40, 7}));
  EXPECT_EQ(q.lines[1], (SourcePos{4, 3}));
}

TEST(Assembler, CodeWithoutSectionIsText) {
  Program p = assemble_ok("  mov gpr0, 1\n  end\n");
  EXPECT_EQ(p.text_pc, 0u);
  EXPECT_EQ(p.code.size(), 2u);
}

// ---- labels, functions, switch -----------------------------------------------------

TEST(Assembler, LabelsAndFunctions) {
  Program p = assemble_ok(R"(.text:
start: mov gpr0, 0
loop:
  add gpr0, 1
  blt gpr0, 10, loop
  jz $done
  call helper
done:  end
func helper:
  ret
)");
  ASSERT_EQ(p.code.size(), 7u);
  EXPECT_EQ(p.find_symbol("start")->value, 0u);
  EXPECT_EQ(p.find_symbol("loop")->value, 1u);
  EXPECT_EQ(p.find_symbol("done")->value, 5u);
  EXPECT_EQ(p.find_symbol("helper")->kind, SymbolKind::Func);
  EXPECT_EQ(p.find_symbol("helper")->value, 6u);
  EXPECT_EQ(p.code[2].op, Op::BLT);
  EXPECT_EQ(p.code[2].target, 1u);
  EXPECT_EQ(p.code[3].op, Op::JE);  // jz is je
  EXPECT_EQ(p.code[3].target, 5u);
  EXPECT_EQ(p.code[4].target, 6u);
  EXPECT_EQ(p.lines[0], (SourcePos{2, 8}));
  // Code symbols follow the data symbols, ordered by pc.
  EXPECT_EQ(p.symbols.front().name, "start");
  EXPECT_EQ(p.symbols.back().name, "helper");
  EXPECT_EQ(must_assemble(".text:\n  jnz x\nx: end\n").code[0].op, Op::JNE);
  EXPECT_EQ(must_assemble(".text:\n  nmov gpr1, pkt.u16[12]\n  end\n").code[0].op, Op::MOV);
}

TEST(Assembler, SwitchChains) {
  Program p = assemble_ok(R"(.text:
  switch l4.dport
  case 22:
    print "ssh"
    break
  case 80:
  case 443:
    print "web"
    break
  default:
    print "other"
  endswitch
  end
)");
  ASSERT_EQ(p.code.size(), 12u);
  EXPECT_EQ(p.code[0].op, Op::SWITCH);
  EXPECT_EQ(p.code[0].a, (Operand{Kind::Mapped, 0, static_cast<uint8_t>(MappedReg::L4Dport), 0}));
  EXPECT_EQ(p.code[0].target, 1u);  // first case
  EXPECT_EQ(p.code[1].op, Op::CASE);
  EXPECT_EQ(p.code[1].a, (Operand{Kind::Imm, 0, 0, 22}));
  EXPECT_EQ(p.code[1].target, 4u);  // next case
  EXPECT_EQ(p.code[3].op, Op::BREAK);
  EXPECT_EQ(p.code[3].target, 10u);  // endswitch
  EXPECT_EQ(p.code[4].target, 5u);
  EXPECT_EQ(p.code[5].a.imm, 443);
  EXPECT_EQ(p.code[5].target, 8u);  // default
  EXPECT_EQ(p.code[7].target, 10u);
  EXPECT_EQ(p.code[8].op, Op::DEFAULT);
  EXPECT_EQ(p.code[8].target, 10u);
  EXPECT_EQ(p.code[10].op, Op::ENDSWITCH);
  EXPECT_EQ(p.code[10].target, kNoTarget);

  EXPECT_EQ(eval("mov gpr0, 22\nswitch gpr0\ncase 22:\nprint \"ssh\"\nbreak\ncase 80:\ncase "
                 "443:\nprint \"web\"\n"
                 "break\ndefault:\nprint \"other\"\nendswitch"),
            "ssh");
  EXPECT_EQ(eval("mov gpr0, 80\nswitch gpr0\ncase 22:\nprint \"ssh\"\nbreak\ncase 80:\ncase "
                 "443:\nprint \"web\"\n"
                 "break\ndefault:\nprint \"other\"\nendswitch"),
            "web");
  EXPECT_EQ(eval("mov gpr0, 7\nswitch gpr0\ncase 22:\nprint \"ssh\"\nbreak\ncase 80:\ncase "
                 "443:\nprint \"web\"\n"
                 "break\ndefault:\nprint \"other\"\nendswitch"),
            "other");
  // Default first, then a case after it; no default at all.
  EXPECT_EQ(eval("mov gpr0, 5\nswitch gpr0\ndefault:\nprint \"d\"\nbreak\ncase 5:\nprint "
                 "\"five\"\nendswitch"),
            "five");
  EXPECT_EQ(eval("mov gpr0, 6\nswitch gpr0\ncase 5:\nprint \"five\"\nendswitch\nprint \"after\""),
            "after");
}

TEST(Assembler, NestedSwitches) {
  Program p = assemble_ok(R"(.text:
  switch gpr0
  case 1:
    switch gpr1
    case 1:
      break
    endswitch
    break
  case 2:
  endswitch
  end
)");
  ASSERT_EQ(p.code.size(), 10u);
  EXPECT_EQ(p.code[0].target, 1u);
  EXPECT_EQ(p.code[1].target, 7u);  // outer case 1 -> outer case 2
  EXPECT_EQ(p.code[2].target, 3u);  // inner switch -> inner case
  EXPECT_EQ(p.code[3].target, 5u);  // inner case -> inner endswitch
  EXPECT_EQ(p.code[4].target, 5u);  // inner break
  EXPECT_EQ(p.code[6].target, 8u);  // outer break
  EXPECT_EQ(p.code[7].target, 8u);
  EXPECT_EQ(eval("mov gpr0, 1\nmov gpr1, 1\nswitch gpr0\ncase 1:\nswitch gpr1\ncase 1:\nprint "
                 "\"in\"\nbreak\n"
                 "endswitch\nprint \"out\"\nbreak\ncase 2:\nprint \"two\"\nendswitch"),
            "in\nout");
}

// ---- memory operands ---------------------------------------------------------------

TEST(Assembler, MemoryOperands) {
  const uint8_t nb = attr::kNoBase;
  const uint8_t host = attr::kHostOrder;
  const uint8_t bm = attr::kBaseMapped;
  auto sc = [](int log) { return static_cast<uint8_t>(log << attr::kScaleShift); };
  const std::string data = "num x 1\nbuf b 16\narray a 4";
  struct Case {
    const char* text;
    Operand want;
  } cases[] = {
      {"pkt[14]", {Kind::PktMem, nb, 0, 14}},
      {"pkt.u8[14]", {Kind::PktMem, nb, 0, 14}},
      {"pkt.u16[12]", {Kind::PktMem, static_cast<uint8_t>(nb | 1), 0, 12}},
      {"pkt.u32[26]", {Kind::PktMem, static_cast<uint8_t>(nb | 2), 0, 26}},
      {"pkt.u64[0]", {Kind::PktMem, static_cast<uint8_t>(nb | 3), 0, 0}},
      {"pkt.h16[0]", {Kind::PktMem, static_cast<uint8_t>(nb | 1 | host), 0, 0}},
      {"pkt.h32[gpr2]", {Kind::PktMem, static_cast<uint8_t>(2 | host), 2, 0}},
      {"pkt[gpr1]", {Kind::PktMem, 0, 1, 0}},
      {"pkt[gpr1 + 2]", {Kind::PktMem, 0, 1, 2}},
      {"pkt[2 + gpr1]", {Kind::PktMem, 0, 1, 2}},
      {"pkt[gpr1 - 2]", {Kind::PktMem, 0, 1, -2}},
      {"pkt[-2]", {Kind::PktMem, nb, 0, -2}},
      {"pkt.u32[gpr3*4 + 2]", {Kind::PktMem, static_cast<uint8_t>(2 | sc(2)), 3, 2}},
      {"pkt.u16[gpr3 * 2]", {Kind::PktMem, static_cast<uint8_t>(1 | sc(1)), 3, 0}},
      {"pkt[gpr3*8]", {Kind::PktMem, sc(3), 3, 0}},
      {"pkt.u16[l4 + 2]",
       {Kind::PktMem, static_cast<uint8_t>(1 | bm), static_cast<uint8_t>(MappedReg::L4), 2}},
      {"pkt[$l3 + 9]", {Kind::PktMem, bm, static_cast<uint8_t>(MappedReg::L3), 9}},
      {"pkt[14 + 4*2 - 1]", {Kind::PktMem, nb, 0, 21}},
      {"pkt[PROTO_TCP]", {Kind::PktMem, nb, 0, 6}},
      {"out[0]", {Kind::OutMem, nb, 0, 0}},
      {"out.u16[gpr2 + 12]", {Kind::OutMem, 1, 2, 12}},
      {"[x]", {Kind::HeapMem, static_cast<uint8_t>(nb | 3 | host), 0, 0}},
      {"heap[8]", {Kind::HeapMem, static_cast<uint8_t>(nb | 3 | host), 0, 8}},
      {"heap.u32[b + 4]", {Kind::HeapMem, static_cast<uint8_t>(nb | 2), 0, 12}},
      {"heap.h16[gpr5]", {Kind::HeapMem, static_cast<uint8_t>(1 | host), 5, 0}},
      {"[b + gpr1]", {Kind::HeapMem, static_cast<uint8_t>(3 | host), 1, 8}},
      {"b[3]", {Kind::HeapMem, nb, 0, 11}},
      {"b[gpr4]", {Kind::HeapMem, 0, 4, 8}},
      {"$b[gpr4 + 1]", {Kind::HeapMem, 0, 4, 9}},
      {"a[2]", {Kind::HeapMem, static_cast<uint8_t>(nb | 3 | host), 0, 24 + 16}},
      {"a[gpr6]", {Kind::HeapMem, static_cast<uint8_t>(3 | host | sc(3)), 6, 24}},
      {"a[gpr6 + 1]", {Kind::HeapMem, static_cast<uint8_t>(3 | host | sc(3)), 6, 32}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(mov_source(c.text, data), c.want);
  }
  // Memory is writable.
  Program p = assemble_ok(
      ".data:\nbuf b 4\n.text:\n  mov pkt.u16[12], 0x86dd\n  mov out[1], 2\n  mov b[1], 3\n  "
      "end\n");
  EXPECT_EQ(p.code[0].a, (Operand{Kind::PktMem, static_cast<uint8_t>(nb | 1), 0, 12}));
  EXPECT_EQ(p.code[1].a, (Operand{Kind::OutMem, nb, 0, 1}));
  EXPECT_EQ(p.code[2].a, (Operand{Kind::HeapMem, nb, 0, 1}));
}

TEST(Assembler, MemoryOperandsRun) {
  auto frame = ipv4_frame(17, 0x0a000001, 0x0a000002, 1234, 53, "abcd");
  EXPECT_EQ(eval("mov gpr0, pkt.u16[12]\nprint gpr0\nmov gpr1, 6\nmov gpr2, pkt.u32[gpr1*4 + "
                 "2]\nprint \"%x\", gpr2\n"
                 "mov gpr3, pkt.u16[l4 + 2]\nprint gpr3",
                 frame),
            "2048\na000001\n53");
  EXPECT_EQ(eval("mov pkt.h16[0], 0x1234\nmov gpr0, pkt.u16[0]\nprint \"%x\", gpr0"), "3412");
}

// ---- diagnostics --------------------------------------------------------------------

TEST(AssemblerErrors, UnknownInstruction) {
  EXPECT_TRUE(error_is(".text:\n  frob gpr1, 1\n  end\n",
                       "bad.ncpu:2:3: error: ", "unknown instruction 'frob'"));
  EXPECT_TRUE(error_is(".text:\nl:  movv gpr1, 1\n  end\n",
                       "bad.ncpu:2:5: error: ", "unknown instruction 'movv'"));
}

TEST(AssemblerErrors, UnknownLabel) {
  EXPECT_TRUE(error_is(".text:\n  jmp nowhere\n  end\n",
                       "bad.ncpu:2:7: error: ", "unknown label 'nowhere'"));
  EXPECT_TRUE(error_is(".text:\n  beq gpr0, 1, $nowhere\n  end\n",
                       "bad.ncpu:2:16: error: ", "unknown label 'nowhere'"));
  EXPECT_TRUE(error_is(".text:\n  call nothing\n  end\n",
                       "bad.ncpu:2:8: error: ", "unknown function 'nothing'"));
}

TEST(AssemblerErrors, UnknownRegisterLikeName) {
  EXPECT_TRUE(error_is(".text:\n  mov gpr16, 1\n  end\n", "bad.ncpu:2:7: error: ", "gpr16"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, r99\n  end\n", "bad.ncpu:2:13: error: ", "r99"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, ip.sorc\n  end\n",
                       "bad.ncpu:2:13: error: ", "unknown name 'ip.sorc'"));
  EXPECT_TRUE(
      error_is(".text:\n  add $gprx, 1\n  end\n", "bad.ncpu:2:7: error: ", "unknown name 'gprx'"));
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0, pkt[gpr16]\n  end\n", "bad.ncpu:2:17: error: ", "gpr16"));
}

TEST(AssemblerErrors, DuplicateLabel) {
  EXPECT_TRUE(error_is(".text:\nx:\n  nop\nx:\n  end\n",
                       "bad.ncpu:4:1: error: ", "'x' is already defined"));
  EXPECT_TRUE(error_is(".text:\n  nop\n  end\nfunc f:\n  ret\nfunc f:\n  ret\n",
                       "bad.ncpu:6:6: error: ", "'f' is already defined"));
  EXPECT_TRUE(error_is(".data:\nnum v 1\n.text:\nv: end\n",
                       "bad.ncpu:4:1: error: ", "'v' is already defined"));
  EXPECT_TRUE(error_is(".text:\nmlen: end\n", "bad.ncpu:2:1: error: ", "register or built-in"));
  EXPECT_TRUE(error_is(".text:\nPROTO_TCP: end\n", "bad.ncpu:2:1: error: ", "built-in"));
}

TEST(AssemblerErrors, WrongOperandCount) {
  EXPECT_TRUE(
      error_is(".text:\n  add gpr0\n  end\n", "bad.ncpu:2:3: error: ", "expected 'add a, b'"));
  EXPECT_TRUE(error_is(".text:\n  add gpr0, 1, 2\n  end\n",
                       "bad.ncpu:2:16: error: ", "expected 'add a, b'"));
  EXPECT_TRUE(error_is(".text:\n  not\n  end\n", "bad.ncpu:2:3: error: ", "expected 'not a'"));
  EXPECT_TRUE(error_is(".text:\n  end 1\n", "bad.ncpu:2:7: error: ", "expected 'end'"));
  EXPECT_TRUE(error_is(".text:\n  jmp\n  end\n", "bad.ncpu:2:3: error: ", "expected 'jmp label'"));
  EXPECT_TRUE(error_is(".text:\n  beq gpr0, 1\n  end\n",
                       "bad.ncpu:2:3: error: ", "expected 'beq a, b, label'"));
  EXPECT_TRUE(
      error_is(".text:\n  call\n  end\n", "bad.ncpu:2:3: error: ", "expected 'call function'"));
  EXPECT_TRUE(error_is(".text:\n  print\n  end\n",
                       "bad.ncpu:2:3: error: ", "print needs a string or a value"));
  EXPECT_TRUE(error_is(".text:\n  print \"x\", 1, 2, 3\n  end\n",
                       "bad.ncpu:2:20: error: ", "at most two values"));
  EXPECT_TRUE(error_is(".text:\n  copy pkt[0], out[0]\n  end\n",
                       "bad.ncpu:2:3: error: ", "copy dst[off], src[off], length"));
  EXPECT_TRUE(error_is(".text:\n  lookup gpr0, t\n  end\n",
                       "bad.ncpu:2:3: error: ", "lookup dst, table, key"));
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0,, 1\n  end\n", "bad.ncpu:2:12: error: ", "empty operand"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0,\n  end\n",
                       "bad.ncpu:2:11: error: ", "operand expected after ','"));
}

TEST(AssemblerErrors, WriteToImmediate) {
  EXPECT_TRUE(error_is(".text:\n  mov 5, gpr0\n  end\n",
                       "bad.ncpu:2:7: error: ", "cannot write to a constant"));
  EXPECT_TRUE(error_is(".text:\n  add PROTO_TCP, 1\n  end\n",
                       "bad.ncpu:2:7: error: ", "cannot write to a constant"));
  EXPECT_TRUE(error_is(".text:\n  pop 10.0.0.1\n  end\n",
                       "bad.ncpu:2:7: error: ", "cannot write to a constant"));
  EXPECT_TRUE(error_is(".data:\nbuf b 4\n.text:\n  mov &b, 1\n  end\n",
                       "bad.ncpu:4:7: error: ", "cannot write"));
}

TEST(AssemblerErrors, WriteToMappedRegister) {
  EXPECT_TRUE(
      error_is(".text:\n  mov ip.ttl, 5\n  end\n", "bad.ncpu:2:7: error: ", "ip.ttl is read-only"));
  EXPECT_TRUE(
      error_is(".text:\n  add $mlen, 1\n  end\n", "bad.ncpu:2:7: error: ", "mlen is read-only"));
  EXPECT_TRUE(error_is(".text:\n  pop l4.dport\n  end\n", "bad.ncpu:2:7: error: ", "rewrite"));
}

TEST(AssemblerErrors, SixteenByteFieldAsNumber) {
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, ip6.src\n  end\n", "bad.ncpu:2:13: error: ",
                       "ip6.src is 16 bytes: use cmp16 or a 16-byte table key"));
  EXPECT_TRUE(error_is(".text:\n  beq ip6.dst, 1, x\nx: end\n",
                       "bad.ncpu:2:7: error: ", "ip6.dst is 16 bytes"));
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0, pkt[ip6.src]\n  end\n", "bad.ncpu:2:17: error: ", "16 bytes"));
  EXPECT_TRUE(
      error_is(".text:\n  rewrite ip6.src, 1\n  end\n", "bad.ncpu:2:11: error: ", "ip6.src"));
  EXPECT_TRUE(
      error_is(".text:\n  print \"%d\", ip6.src\n  end\n", "bad.ncpu:2:15: error: ", "16 bytes"));
}

TEST(AssemblerErrors, BadMemorySpace) {
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, foo[3]\n  end\n", "bad.ncpu:2:13: error: ",
                       "unknown memory space 'foo' (pkt, out, heap, or a buf/array name)"));
  EXPECT_TRUE(error_is(".data:\nnum x 1\n.text:\n  mov gpr0, x[1]\n  end\n",
                       "bad.ncpu:4:13: error: ", "unknown memory space 'x'"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, pkt.u24[0]\n  end\n",
                       "bad.ncpu:2:13: error: ", "unknown access type 'u24'"));
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0, pkt[]\n  end\n", "bad.ncpu:2:17: error: ", "empty address"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, pkt[gpr1*3]\n  end\n",
                       "bad.ncpu:2:17: error: ", "scale must be 1, 2, 4 or 8"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, pkt[gpr1 + gpr2]\n  end\n",
                       "bad.ncpu:2:24: error: ", "an address takes one register at most"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, pkt[4 - gpr2]\n  end\n",
                       "bad.ncpu:2:21: error: ", "cannot be subtracted"));
  EXPECT_TRUE(error_is(".data:\nnum x 1\n.text:\n  mov gpr0, pkt[x]\n  end\n",
                       "bad.ncpu:4:17: error: ", "'x' is a heap address, not a packet offset"));
  EXPECT_TRUE(
      error_is(".text:\n  mov gpr0, pkt[1 +]\n  end\n", "bad.ncpu:2:20: error: ", "missing term"));
  EXPECT_TRUE(error_is(".data:\nbuf b 4\n.text:\n  mov gpr0, b\n  end\n", "bad.ncpu:4:13: error: ",
                       "'b' is a buffer: index it (b[i]) or take its address (&b)"));
  EXPECT_TRUE(error_is(".text:\n  copy gpr0, pkt[0], 4\n  end\n",
                       "bad.ncpu:2:8: error: ", "expected a memory reference"));
}

// An empty .file named no file: the disassembly left it out, and
// assembled back it named the file it was read from (the assembler fuzz
// target, 2026-12-05).
TEST(AssemblerErrors, FileTakesAFileName) {
  EXPECT_TRUE(error_is(".file \"\"\n.text:\n  end\n",
                       "bad.ncpu:1:7: error: ", ".file takes a file name, not an empty string"));
  EXPECT_EQ(must_assemble(".file \"a.ncpu\"\n.text:\n  end\n", "b.ncpu").source_file, "a.ncpu");
}

// Constants in an address multiply and add up in 64 bits, checked: one
// whose product or sum overflows on the way is out of range, as a sum
// past 32 bits is (UBSan found the unchecked product with the assembler
// fuzz target, 2026-12-05).
TEST(AssemblerErrors, AddressConstantsThatOverflowAreOutOfRange) {
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, out[3709551615*7000000000000000000]\n  end\n",
                       "bad.ncpu:2:17: error: ", "address offset out of range"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, pkt[9223372036854775807 + 1]\n  end\n",
                       "bad.ncpu:2:39: error: ", "address offset out of range"));
  EXPECT_EQ(asm_error(".text:\n  mov gpr0, pkt[4000000000 - 3999999990]\n  end\n"), "");
}

TEST(AssemblerErrors, UnterminatedString) {
  EXPECT_TRUE(
      error_is(".text:\n  print \"abc\n  end\n", "bad.ncpu:2:9: error: ", "unterminated string"));
  EXPECT_TRUE(error_is(".data:\nbytes s \"abc\\\"\n.text:\n  end\n",
                       "bad.ncpu:2:9: error: ", "unterminated string"));
}

// The column is the one of the string that is not terminated, not of the first
// string on the line.
TEST(AssemblerErrors, UnterminatedSecondString) {
  std::string e = asm_error(".text:\n  print \"x\", gpr0, \"oops\n  end\n");
  ASSERT_NE(e.find("unterminated string"), std::string::npos) << e;
  if (e.rfind("bad.ncpu:2:9: error: ", 0) == 0)
    FAIL() << "regression: unterminated string reported at the first '\"' of the line (" << e
           << "), not at the unterminated one (column 20)";
  EXPECT_EQ(e.rfind("bad.ncpu:2:20: error: ", 0), 0u) << e;
}

TEST(AssemblerErrors, SwitchStructure) {
  EXPECT_TRUE(
      error_is(".text:\n  case 5:\n  end\n", "bad.ncpu:2:3: error: ", "case outside a switch"));
  EXPECT_TRUE(
      error_is(".text:\n  default:\n  end\n", "bad.ncpu:2:3: error: ", "default outside a switch"));
  EXPECT_TRUE(error_is(".text:\n  break\n  end\n",
                       "bad.ncpu:2:3: error: ", "break outside a switch or foreach"));
  EXPECT_TRUE(error_is(".text:\n  endswitch\n  end\n",
                       "bad.ncpu:2:3: error: ", "endswitch without a switch"));
  EXPECT_TRUE(error_is(".text:\n  nop\n  switch gpr0\n  case 1:\n  end\n",
                       "bad.ncpu:3:3: error: ", "switch without endswitch"));
  EXPECT_TRUE(error_is(".text:\n  switch gpr0\n  switch gpr1\n  endswitch\n  end\n",
                       "bad.ncpu:2:3: error: ", "switch without endswitch"));
  EXPECT_TRUE(error_is(".text:\n  switch gpr0\n  case 1:\n  case 1:\n  endswitch\n  end\n",
                       "bad.ncpu:4:8: error: ", "duplicate case 1"));
  EXPECT_TRUE(error_is(".text:\n  switch gpr0\n  default:\n  default:\n  endswitch\n  end\n",
                       "bad.ncpu:4:3: error: ", "a switch has one default"));
  EXPECT_TRUE(error_is(".text:\n  switch gpr0\n  case gpr1:\n  endswitch\n  end\n",
                       "bad.ncpu:3:8: error: ", "expected a number, got 'gpr1'"));
}

TEST(AssemblerErrors, ForeachStructure) {
  const std::string t = ".data:\ntable t hash key 4 max 8\ntable w hash key 13 value 16 max 8\n";
  EXPECT_TRUE(error_is(t + ".text:\n  endfor\n  end\n",
                       "bad.ncpu:5:3: error: ", "endfor without a foreach"));
  EXPECT_TRUE(error_is(t + ".text:\n  foreach t, gpr0, gpr1\n  end\n",
                       "bad.ncpu:5:3: error: ", "foreach without endfor"));
  EXPECT_TRUE(error_is(t + ".text:\n  foreach t, gpr0\n  endfor\n  end\n",
                       "bad.ncpu:5:3: error: ", "expected 'foreach table, key, value'"));
  EXPECT_TRUE(error_is(t + ".text:\n  foreach u, gpr0, gpr1\n  endfor\n  end\n",
                       "bad.ncpu:5:11: error: ", "unknown table 'u'"));
  // Blocks nest; one cannot close across the other.
  EXPECT_TRUE(error_is(t + ".text:\n  switch gpr0\n  case 1:\n  foreach t, gpr1, gpr2\n"
                           "  endswitch\n  endfor\n  end\n",
                       "bad.ncpu:8:3: error: ",
                       "'endswitch' inside a foreach body: close the foreach first (endfor)"));
  EXPECT_TRUE(error_is(
      t + ".text:\n  foreach t, gpr1, gpr2\n  switch gpr0\n  endfor\n  end\n",
      "bad.ncpu:7:3: error: ", "'endfor' inside a switch: close the switch first (endswitch)"));
  EXPECT_TRUE(error_is(t + ".text:\n  switch gpr0\n  foreach t, gpr1, gpr2\n  case 1:\n"
                           "  endfor\n  endswitch\n  end\n",
                       "bad.ncpu:7:3: error: ", "'case' inside a foreach body"));
  // A number cannot hold a 13-byte key: it goes to memory.
  EXPECT_TRUE(error_is(t + ".text:\n  foreach w, gpr1, gpr2\n  endfor\n  end\n",
                       "bad.ncpu:5:14: error: ", ""));
}

TEST(AssemblerErrors, UnknownTable) {
  EXPECT_TRUE(error_is(".text:\n  lookup gpr0, nosuch, 1\n  end\n",
                       "bad.ncpu:2:16: error: ", "unknown table 'nosuch'"));
}

TEST(AssemblerErrors, BadTableKind) {
  EXPECT_TRUE(error_is(".data:\n  table t tree max 4\n.text:\n  end\n", "bad.ncpu:2:11: error: ",
                       "unknown table kind 'tree' (hash, lru, array, lpm4, lpm6)"));
}

TEST(AssemblerErrors, MissingText) {
  EXPECT_TRUE(error_is(".data:\nnum x 1\n", "bad.ncpu:2:1: error: ", "no .text section"));
  EXPECT_TRUE(
      error_is(".data:\nnum x 1\n.init:\n  mov x, 2\n  end\n", "bad.ncpu:", "no .text section"));
  EXPECT_TRUE(error_is("", "bad.ncpu:", "no .text section"));
  EXPECT_TRUE(error_is("# only a comment\n", "bad.ncpu:", "no .text section"));
}

// A section, timer or function after the last instruction has nothing to
// run: refused where it stands, not at the instruction before it.
TEST(AssemblerErrors, EntriesWithNoInstructionsAreRefusedWhereTheyStand) {
  EXPECT_TRUE(error_is(".text:\n  call f\n  end\nfunc f:\n",
                       "bad.ncpu:4:6: error: ", "function 'f' has no instructions"));
  EXPECT_TRUE(error_is(".text:\n  end\n.init:\n",
                       "bad.ncpu:3:1: error: ", "the .init section has no instructions"));
  EXPECT_TRUE(error_is(".text:\n  end\n.timer tick 1s:\n",
                       "bad.ncpu:3:1: error: ", "timer 'tick' has no instructions"));
  EXPECT_TRUE(error_is(".data:\nnum x 1\n.text:\n",
                       "bad.ncpu:3:1: error: ", "the .text section has no instructions"));
  // Labels alone, before any section, start a .text with nothing in it
  // (found by the assembler fuzzer: tests/fuzz/corpus/assembler).
  EXPECT_TRUE(
      error_is("x:\n", "bad.ncpu:1:1: error: ",
               "the .text section (started by code before any section) has no instructions"));
}

TEST(AssemblerErrors, CallToLabel) {
  EXPECT_TRUE(error_is(".text:\n  call lab\n  end\nlab:\n  end\n", "bad.ncpu:2:8: error: ",
                       "'lab' is a label, not a function (declare it with 'func lab:')"));
}

TEST(AssemblerErrors, OtherOperandErrors) {
  EXPECT_TRUE(
      error_is(".text:\n  find gpr0, \"\"\n  end\n", "bad.ncpu:2:14: error: ", "non-empty string"));
  EXPECT_TRUE(error_is(".text:\n  find pkt[0], \"a\"\n  end\n",
                       "bad.ncpu:2:8: error: ", "expected a register"));
  EXPECT_TRUE(
      error_is(".text:\n  find gpr0, 5\n  end\n", "bad.ncpu:2:14: error: ", "string literal"));
  EXPECT_TRUE(error_is(".text:\n  copy pkt[0], out[0], 70000\n  end\n",
                       "bad.ncpu:2:24: error: ", "copy length"));
  EXPECT_TRUE(error_is(".text:\n  copy pkt[0], out[0], ip6.src\n  end\n",
                       "bad.ncpu:2:24: error: ", "copy length"));
  EXPECT_TRUE(
      error_is(".text:\n  rewrite gpr0, 1\n  end\n", "bad.ncpu:2:11: error: ", "header field"));
  EXPECT_TRUE(error_is(".text:\n  csum ipv4\n  end\n",
                       "bad.ncpu:2:8: error: ", "csum [ip|l4|all][, pkt|out]"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, \"s\"\n  end\n",
                       "bad.ncpu:2:13: error: ", "a string is not allowed here"));
  EXPECT_TRUE(error_is(".text:\n  print gpr0, \"s\"\n  end\n",
                       "bad.ncpu:2:15: error: ", "the string comes first"));
  EXPECT_TRUE(error_is(".text:\n  mov gpr0, &lab\nlab: end\n",
                       "bad.ncpu:2:13: error: ", "'&' takes a heap"));
  EXPECT_TRUE(
      error_is(".text:\n  dump 1, 2\n  end\n", "bad.ncpu:2:11: error: ", "dump [max bytes]"));
  EXPECT_TRUE(
      error_is(".text:\n  end\nfunc f\n  ret\n", "bad.ncpu:3:6: error: ", "expected 'func name:'"));
  EXPECT_TRUE(error_is(".text:\n  end\nfunc f: ret\n",
                       "bad.ncpu:3:9: error: ", "unexpected text after function name"));
}

}  // namespace
}  // namespace netcpu::test
