// One test per instruction, with its edge cases: overflow, shifts by the
// width or more, division and modulo by zero, accesses past the end.
#include <cstring>

#include "vm_test_util.h"

namespace netcpu::test {
namespace {

TEST(Interpreter, SlidesProgramPrintsLengthThen666AndCounts) {
  const char* src = kSlidesProgram;
  std::vector<std::string> lines;
  Diagnostic d;
  auto vm = Instance::create(
      assemble_ok(src), HostCaps{}, Limits{},
      [&](OutputKind, std::string_view l) { lines.emplace_back(l); }, &d);
  ASSERT_TRUE(vm) << d.str();
  for (uint32_t size : {60u, 1514u, 60u}) {
    std::vector<uint8_t> pkt(size, 0);
    uint32_t len = size;
    RunResult r = vm->run(pkt.data(), len, size, {});
    EXPECT_EQ(r.verdict, Verdict::Pass);
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"60", "666", "1514", "666", "60", "666"}));
  uint64_t cnt;
  std::memcpy(&cnt, vm->heap().data(), 8);
  EXPECT_EQ(cnt, 3u);
  EXPECT_EQ(vm->stats().packets, 3u);
}

TEST(Interpreter, Nop) { EXPECT_EQ(eval("mov gpr0, 3\nnop\nprint gpr0"), "3"); }

TEST(Interpreter, Mov) {
  EXPECT_EQ(eval("mov gpr1, -5\nmov gpr2, gpr1\nprint gpr2"), "-5");
  EXPECT_EQ(eval("mov gpr0, 0xffffffffffffffff\nprint \"%u\", gpr0"), "18446744073709551615");
  EXPECT_EQ(eval(".data:\nnum v 7\n.text:\nmov gpr0, v\nmov v, 9\nprint gpr0, v"), "7 9");
}

TEST(Interpreter, AddSubWrap) {
  EXPECT_EQ(eval("mov gpr0, 0xffffffffffffffff\nadd gpr0, 1\nprint gpr0"), "0");
  EXPECT_EQ(eval("mov gpr0, 0\nsub gpr0, 1\nprint \"%x\", gpr0"), "ffffffffffffffff");
  EXPECT_EQ(eval("mov gpr0, 40\nmov gpr1, 2\nadd gpr0, gpr1\nprint gpr0"), "42");
}

TEST(Interpreter, MulWraps) {
  EXPECT_EQ(eval("mov gpr0, 6\nmul gpr0, 7\nprint gpr0"), "42");
  EXPECT_EQ(eval("mov gpr0, 0x100000000\nmul gpr0, 0x100000000\nprint gpr0"), "0");
}

TEST(Interpreter, DivByZeroGivesZero) {
  EXPECT_EQ(eval("mov gpr0, 42\ndiv gpr0, 5\nprint gpr0"), "8");
  EXPECT_EQ(eval("mov gpr0, 42\ndiv gpr0, 0\nprint gpr0"), "0");
  EXPECT_EQ(eval("mov gpr0, -8\ndiv gpr0, 2\nprint \"%u\", gpr0"),
            "9223372036854775804");  // unsigned
}

TEST(Interpreter, SdivSigned) {
  EXPECT_EQ(eval("mov gpr0, -8\nsdiv gpr0, 2\nprint gpr0"), "-4");
  EXPECT_EQ(eval("mov gpr0, -8\nsdiv gpr0, 0\nprint gpr0"), "0");
  EXPECT_EQ(eval("mov gpr0, 0x8000000000000000\nsdiv gpr0, -1\nprint \"%x\", gpr0"),
            "8000000000000000");
}

TEST(Interpreter, ModByZeroLeavesDividend) {
  EXPECT_EQ(eval("mov gpr0, 42\nmod gpr0, 5\nprint gpr0"), "2");
  EXPECT_EQ(eval("mov gpr0, 42\nmod gpr0, 0\nprint gpr0"), "42");
}

TEST(Interpreter, Bitwise) {
  EXPECT_EQ(eval("mov gpr0, 0b1100\nand gpr0, 0b1010\nprint gpr0"), "8");
  EXPECT_EQ(eval("mov gpr0, 0b1100\nor gpr0, 0b1010\nprint gpr0"), "14");
  EXPECT_EQ(eval("mov gpr0, 0b1100\nxor gpr0, 0b1010\nprint gpr0"), "6");
  EXPECT_EQ(eval("mov gpr0, 0\nnot gpr0\nprint gpr0"), "-1");
  EXPECT_EQ(eval("mov gpr0, 5\nneg gpr0\nprint gpr0"), "-5");
}

TEST(Interpreter, ShiftsByWidthOrMore) {
  EXPECT_EQ(eval("mov gpr0, 1\nshl gpr0, 63\nprint \"%x\", gpr0"), "8000000000000000");
  EXPECT_EQ(eval("mov gpr0, 1\nshl gpr0, 64\nprint gpr0"), "0");
  EXPECT_EQ(eval("mov gpr0, 1\nmov gpr1, 200\nshl gpr0, gpr1\nprint gpr0"), "0");
  EXPECT_EQ(eval("mov gpr0, -1\nshr gpr0, 63\nprint gpr0"), "1");
  EXPECT_EQ(eval("mov gpr0, -1\nshr gpr0, 64\nprint gpr0"), "0");
  EXPECT_EQ(eval("mov gpr0, -16\nsar gpr0, 2\nprint gpr0"), "-4");
  EXPECT_EQ(eval("mov gpr0, -16\nsar gpr0, 100\nprint gpr0"), "-1");
  EXPECT_EQ(eval("mov gpr0, 16\nsar gpr0, 100\nprint gpr0"), "0");
}

TEST(Interpreter, ByteSwaps) {
  EXPECT_EQ(eval("mov gpr0, 0x11223344\nbswap16 gpr0\nprint \"%x\", gpr0"), "4433");
  EXPECT_EQ(eval("mov gpr0, 0x11223344\nbswap32 gpr0\nprint \"%x\", gpr0"), "44332211");
  EXPECT_EQ(eval("mov gpr0, 0x0102030405060708\nbswap64 gpr0\nprint \"%x\", gpr0"),
            "807060504030201");
}

// Every conditional jump after cmp, on signed and unsigned orderings.
TEST(Interpreter, FlagJumps) {
  struct Case {
    const char* jump;
    int64_t a, b;
    bool taken;
  } cases[] = {
      {"je", 3, 3, true},   {"je", 3, 4, false},  {"jne", 3, 4, true},  {"jne", 3, 3, false},
      {"jl", -1, 1, true},  {"jl", 1, -1, false}, {"jle", 2, 2, true},  {"jg", 1, -1, true},
      {"jg", -1, 1, false}, {"jge", 2, 2, true},  {"jb", 1, -1, true},  {"jb", -1, 1, false},
      {"jbe", 2, 2, true},  {"ja", -1, 1, true},  {"ja", 1, -1, false}, {"jae", 2, 2, true},
      {"jz", 0, 0, true},   {"jnz", 0, 0, false},
  };
  for (const auto& c : cases) {
    std::string body = "mov gpr0, " + std::to_string(c.a) + "\ncmp gpr0, " + std::to_string(c.b) +
                       "\n" + c.jump + " yes\nprint 0\nend\nyes:\nprint 1";
    EXPECT_EQ(eval(body), c.taken ? "1" : "0") << c.jump << " " << c.a << " " << c.b;
  }
  EXPECT_EQ(eval("mov gpr0, 6\ntest gpr0, 1\nje even\nprint 1\nend\neven:\nprint 0"), "0");
  EXPECT_EQ(eval("jmp over\nprint 1\nover:\nprint 2"), "2");
}

TEST(Interpreter, CompareAndBranch) {
  struct Case {
    const char* op;
    int64_t a, b;
    bool taken;
  } cases[] = {
      {"beq", 5, 5, true},   {"bne", 5, 5, false},   {"blt", -1, 0, true},  {"ble", 0, 0, true},
      {"bgt", 0, -1, true},  {"bge", -1, 0, false},  {"bltu", 0, -1, true}, {"bleu", -1, -1, true},
      {"bgtu", -1, 0, true}, {"bgeu", 0, -1, false}, {"bset", 6, 2, true},  {"bset", 6, 1, false},
      {"bclr", 6, 1, true},  {"bclr", 6, 2, false},
  };
  for (const auto& c : cases) {
    // Register/immediate (specialised handlers) and variable/variable (generic ones) must agree.
    std::string fast = "mov gpr0, " + std::to_string(c.a) + "\n" + c.op + " gpr0, " +
                       std::to_string(c.b) + ", yes\nprint 0\nend\nyes:\nprint 1";
    std::string slow = ".data:\nnum x " + std::to_string(c.a) + "\nnum y " + std::to_string(c.b) +
                       "\n.text:\n" + c.op + " x, y, yes\nprint 0\nend\nyes:\nprint 1";
    EXPECT_EQ(eval(fast), c.taken ? "1" : "0") << c.op << " " << c.a << " " << c.b;
    EXPECT_EQ(eval(slow), c.taken ? "1" : "0") << c.op << " " << c.a << " " << c.b;
  }
}

TEST(Interpreter, PushPop) {
  EXPECT_EQ(eval("push 1\npush 2\npop gpr0\npop gpr1\nprint gpr0, gpr1"), "2 1");
}

TEST(Interpreter, CallRet) {
  auto out = run_program(
      ".text:\ncall f\nprint gpr0\nend\nfunc f:\ncall g\nadd gpr0, 1\nret\nfunc g:\nmov gpr0, 40\n"
      "add gpr0, 1\nret\n",
      std::vector<uint8_t>(60));
  EXPECT_EQ(out.lines, std::vector<std::string>{"42"});
}

TEST(Interpreter, SwitchCaseDefaultBreakFallthrough) {
  auto sw = [](int v) {
    return eval("mov gpr0, " + std::to_string(v) +
                "\nswitch gpr0\ncase 1:\nprint 10\nbreak\ncase 2:\nprint 20\ncase 3:\nprint "
                "30\nbreak\ndefault:\n"
                "print 99\nendswitch\nprint 0");
  };
  EXPECT_EQ(sw(1), "10\n0");
  EXPECT_EQ(sw(2), "20\n30\n0");  // falls through like C
  EXPECT_EQ(sw(3), "30\n0");
  EXPECT_EQ(sw(7), "99\n0");
  EXPECT_EQ(eval("switch 5\ncase 1:\nprint 1\nendswitch\nprint 0"), "0");  // no default
}

TEST(Interpreter, Verdicts) {
  auto frame = ipv4_frame(6, 0x0a000001, 0x0a000002, 1234, 80);
  EXPECT_EQ(run_program(".text:\nend\n", frame).result.verdict, Verdict::Pass);
  EXPECT_EQ(run_program(".text:\npass\n", frame).result.verdict, Verdict::Pass);
  EXPECT_EQ(run_program(".text:\ndrop\n", frame).result.verdict, Verdict::Drop);
  auto r = run_program(".text:\nredirect 3\n", frame).result;
  EXPECT_EQ(r.verdict, Verdict::Redirect);
  EXPECT_EQ(r.redirect_port, 3);
  r = run_program(".text:\nmirror 5\nend\n", frame).result;
  EXPECT_EQ(r.verdict, Verdict::Pass);
  EXPECT_EQ(r.mirror_port, 5);
  EXPECT_FALSE(r.modified);
}

TEST(Interpreter, EmitBuildsPacketsFromTheOutBuffer) {
  auto frame = ipv4_frame(17, 0x0a000001, 0x0a000002, 1000, 53, "hello");
  auto out = run_program(
      ".text:\noutlen mlen\ncopy out[0], pkt[0], mlen\nmov out.u8[0], 0xff\nemit -1\nemit 4\n"
      "drop\n",
      frame);
  ASSERT_EQ(out.result.emitted, 2);
  auto em = out.vm->emitted();
  EXPECT_EQ(em[0].port, -1);
  EXPECT_EQ(em[1].port, 4);
  ASSERT_EQ(em[0].length, frame.size());
  EXPECT_EQ(em[0].data[0], 0xff);
  EXPECT_TRUE(std::equal(frame.begin() + 1, frame.end(), em[0].data.begin() + 1));
  EXPECT_EQ(out.result.verdict, Verdict::Drop);
  EXPECT_EQ(out.vm->stats().emitted, 2u);
}

TEST(Interpreter, OutlenBeyondMaxFaults) {
  auto r = run_program(".text:\noutlen 1519\nend\n", std::vector<uint8_t>(60)).result;
  EXPECT_TRUE(r.aborted);
  EXPECT_EQ(r.reason, AbortReason::Fault);
}

TEST(Interpreter, ResizeGrowsWithZerosAndShrinks) {
  std::vector<uint8_t> pkt(60, 0xab);
  auto out = run_program(".text:\nresize 100\nend\n", pkt);
  ASSERT_EQ(out.packet.size(), 100u);
  EXPECT_EQ(out.packet[59], 0xab);
  EXPECT_EQ(out.packet[60], 0);
  EXPECT_TRUE(out.result.modified);
  EXPECT_EQ(run_program(".text:\nresize 20\nend\n", pkt).packet.size(), 20u);
  auto r = run_program(".text:\nresize 1519\nend\n", pkt).result;  // host maximum is 1518
  EXPECT_TRUE(r.aborted);
}

TEST(Interpreter, PacketLoadsNetworkAndHostOrder) {
  std::vector<uint8_t> pkt(60, 0);
  for (int i = 0; i < 8; ++i) pkt[20 + i] = static_cast<uint8_t>(0x11 * (i + 1));
  EXPECT_EQ(eval("mov gpr0, pkt[20]\nprint \"%x\", gpr0", pkt), "11");
  EXPECT_EQ(eval("mov gpr0, pkt.u16[20]\nprint \"%x\", gpr0", pkt), "1122");
  EXPECT_EQ(eval("mov gpr0, pkt.u32[20]\nprint \"%x\", gpr0", pkt), "11223344");
  EXPECT_EQ(eval("mov gpr0, pkt.u64[20]\nprint \"%x\", gpr0", pkt), "1122334455667788");
  EXPECT_EQ(eval("mov gpr0, pkt.h16[20]\nprint \"%x\", gpr0", pkt), "2211");
  EXPECT_EQ(eval("mov gpr0, pkt.h32[20]\nprint \"%x\", gpr0", pkt), "44332211");
  EXPECT_EQ(eval("mov gpr0, pkt.h64[20]\nprint \"%x\", gpr0", pkt), "8877665544332211");
  EXPECT_EQ(eval("mov gpr1, 10\nmov gpr0, pkt.u16[gpr1*2]\nprint \"%x\", gpr0", pkt), "1122");
  EXPECT_EQ(eval("mov gpr1, 22\nmov gpr0, pkt.u16[gpr1 - 2]\nprint \"%x\", gpr0", pkt), "1122");
}

TEST(Interpreter, PacketStoresBothOrders) {
  auto out = run_program(
      ".text:\nmov pkt.u32[0], 0x01020304\nmov pkt.h16[4], 0x0506\nmov pkt.u64[8], 0x0a0b\nend\n",
      std::vector<uint8_t>(60));
  EXPECT_EQ((std::vector<uint8_t>(out.packet.begin(), out.packet.begin() + 6)),
            (std::vector<uint8_t>{1, 2, 3, 4, 6, 5}));
  EXPECT_EQ(out.packet[14], 0x0a);
  EXPECT_EQ(out.packet[15], 0x0b);
  EXPECT_TRUE(out.result.modified);
}

TEST(Interpreter, LoadsPastTheEndFault) {
  for (const char* load : {"pkt[60]", "pkt.u16[59]", "pkt.u32[57]", "pkt.u64[53]", "pkt[-1]"}) {
    auto r = run_program(std::string(".text:\nmov gpr0, ") + load + "\nprint 1\nend\n",
                         std::vector<uint8_t>(60));
    EXPECT_TRUE(r.result.aborted) << load;
    EXPECT_EQ(r.result.reason, AbortReason::Fault) << load;
    EXPECT_TRUE(r.lines.empty()) << load;
    EXPECT_EQ(r.result.verdict, Verdict::Pass) << load;  // the host's on_abort default
  }
  EXPECT_EQ(eval("mov gpr0, pkt.u32[56]\nprint 1"), "1");  // the last 4 bytes are fine
  auto r = run_program(".onfault drop\n.text:\nmov gpr0, pkt[60]\nend\n", std::vector<uint8_t>(60));
  EXPECT_EQ(r.result.verdict, Verdict::Drop);
  Limits strict;
  strict.on_abort = Verdict::Drop;
  EXPECT_EQ(run_program(".text:\nmov gpr0, pkt[99]\nend\n", std::vector<uint8_t>(60), {}, strict)
                .result.verdict,
            Verdict::Drop);
}

TEST(Interpreter, HeapIndexedAccessIsChecked) {
  EXPECT_EQ(
      eval(".data:\narray a 4\n.text:\nmov gpr1, 3\nmov a[gpr1], 7\nmov gpr0, a[3]\nprint gpr0"),
      "7");
  EXPECT_EQ(eval(".data:\nbuf b 4\n.text:\nmov b[1], 0x1ff\nmov gpr0, b[1]\nprint gpr0"), "255");
  auto r = run_program(".data:\narray a 4\n.text:\nmov gpr1, 4\nmov a[gpr1], 7\nend\n",
                       std::vector<uint8_t>(60));
  EXPECT_TRUE(r.result.aborted);
  EXPECT_EQ(r.result.reason, AbortReason::HeapFault);
}

TEST(Interpreter, CopyBetweenSpaces) {
  std::vector<uint8_t> pkt(60, 0);
  pkt[6] = 0xaa, pkt[11] = 0xbb;
  auto out = run_program(
      ".data:\nbuf mac 6\n.text:\ncopy [mac], pkt[6], 6\ncopy pkt[0], mac, 6\nend\n", pkt);
  EXPECT_EQ(out.packet[0], 0xaa);
  EXPECT_EQ(out.packet[5], 0xbb);
  EXPECT_TRUE(out.result.modified);
  auto r = run_program(".text:\ncopy pkt[0], pkt[50], 20\nend\n", pkt).result;
  EXPECT_TRUE(r.aborted);
}

TEST(Interpreter, FindSearchesThePacket) {
  auto frame = ipv4_frame(6, 1, 2, 1000, 80, "GET /freebsd HTTP/1.0");
  auto out = run_program(
      ".text:\nfind gpr0, \"freebsd\", payload\nprint gpr0\nfind gpr1, \"linux\"\nprint gpr1\n"
      "mov gpr2, payload\nadd gpr2, 6\nfind gpr3, \"freebsd\", gpr2\nprint gpr3\nend\n",
      frame);
  ASSERT_EQ(out.lines.size(), 3u);
  EXPECT_EQ(out.lines[0], std::to_string(14 + 20 + 20 + 5));
  EXPECT_EQ(out.lines[1], "-1");
  EXPECT_EQ(out.lines[2], "-1");
}

TEST(Interpreter, Cmp16ComparesIpv6Addresses) {
  std::vector<uint8_t> f(14 + 40 + 8, 0);
  f[12] = 0x86, f[13] = 0xdd, f[14] = 0x60, f[19] = 8, f[20] = 17, f[21] = 64;
  f[22] = 0x20, f[23] = 0x01, f[24] = 0x0d, f[25] = 0xb8, f[37] = 1;  // src 2001:db8::1
  f[38] = 0xfe, f[39] = 0x80, f[53] = 2;                              // dst fe80::2
  EXPECT_EQ(eval("cmp16 ip6.src, 2001:db8::1\nje yes\nprint 0\nend\nyes:\nprint 1", f), "1");
  EXPECT_EQ(eval("cmp16 ip6.dst, 2001:db8::1\nja above\nprint 0\nend\nabove:\nprint 1", f), "1");
  EXPECT_EQ(eval("cmp16 ip6.src, pkt[22]\nje yes\nprint 0\nend\nyes:\nprint 1", f), "1");
  // An IPv4 packet has no ip6.src: equal to nothing.
  EXPECT_EQ(
      eval("cmp16 ip6.src, ::\nje yes\nprint 0\nend\nyes:\nprint 1", ipv4_frame(6, 1, 2, 3, 4)),
      "0");
}

TEST(Interpreter, TableOps) {
  const char* src = R"(.data:
table t hash key 4 value 8 max 2
.text:
update t, 10.0.0.1, 100
jne fail
update t, 10.0.0.2, 200
update t, 10.0.0.3, 300
je fail            # full: the third key does not fit
lookup gpr0, t, 10.0.0.2
jne fail
print gpr0
tadd t, 10.0.0.2, 5
lookup gpr0, t, 10.0.0.2
print gpr0
delete t, 10.0.0.1
jne fail
tclear t
tclear t
update t, 10.0.0.9, 9
update t, 10.0.0.2, 205
jne fail
delete t, 10.0.0.1
je fail
lookup gpr0, t, 10.0.0.1
je fail
print "ok"
end
fail:
print "fail"
end
)";
  auto out = run_program(src, std::vector<uint8_t>(60));
  EXPECT_EQ(out.lines, (std::vector<std::string>{"200", "205", "ok"}));
  Table* t = out.vm->find_table("t");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->size(), 2u);
  const uint8_t key[4] = {10, 0, 0, 2};  // keys are in network order, like the packet
  ASSERT_TRUE(t->lookup(key));
}

// Keys of at most 8 bytes go through the tables' number-keyed functions
// (numbers, packet and heap bytes alike: one entry for the same bytes);
// values narrower than 8 bytes carry into the slot's padding on tadd, and
// update writes only the value's bytes, so what a lookup reads is the
// value modulo 2^(8 x value).
TEST(Interpreter, NarrowValuesAndKeysFromNumbersPacketAndHeapAgree) {
  const char* src = R"(.data:
table c hash key 2 value 1 max 4
table a array value 2 max 2
buf k 2
.text:
tadd c, 0x0102, 200
tadd c, 0x0102, 100
lookup gpr0, c, 0x0102
print gpr0
update c, 0x0102, 0x1ff
lookup gpr0, c, 0x0102
print gpr0
mov heap.u16[k], 0x0102
lookup gpr1, c, k
print gpr1
tadd a, 1, 0x1ffff
lookup gpr2, a, 1
print gpr2
tadd a, 2, 1
je fail
tadd c, pkt.u16[12], 1
lookup gpr3, c, 0x0800
print gpr3
end
fail:
print "fail"
end
)";
  auto out = run_program(src, ipv4_frame(6, 1, 2, 3, 4));
  EXPECT_EQ(out.lines, (std::vector<std::string>{"44", "255", "255", "65535", "1"}));
}

// lookup, update and tadd with a key in a gpr, a constant or a mapped
// register, a value in a gpr or a constant, and lookup into a gpr run in
// their own handlers (interpreter_forms.h); a lookup into a variable runs
// the generic one: both read and write the same entries.
TEST(Interpreter, NumberKeyedFormsTakeKeysFromGprsConstantsAndFields) {
  const char* src = R"(.data:
table h hash key 4 value 8 max 8
table l lru key 2 value 4 max 4
table a array value 8 max 4
num v 0
.text:
mov gpr0, 7
mov gpr1, 1000
update h, gpr0, gpr1
tadd h, gpr0, 5
lookup gpr2, h, 7
print gpr2
lookup v, h, gpr0
print v
tadd l, ip.proto, gpr1
tadd l, 6, 1
lookup gpr3, l, ip.proto
print gpr3
tadd a, gpr0, 1
je fail
tadd a, 3, gpr1
lookup gpr4, a, 3
print gpr4
lookup gpr5, h, gpr1
je fail
print "ok"
end
fail:
print "fail"
end
)";
  for (bool jit : {false, true}) {
    Limits limits;
    limits.jit = jit;
    auto out = run_program(src, ipv4_frame(6, 1, 2, 3, 4), {}, limits);
    EXPECT_EQ(out.lines, (std::vector<std::string>{"1005", "1005", "1001", "1000", "ok"}))
        << (jit ? "native" : "interpreted");
  }
}

TEST(Interpreter, LpmAndArrayTables) {
  const char* src = R"(.data:
table routes lpm4 value 8 max 16
table counts array value 8 max 4
.text:
lookup gpr0, routes, ip.dst
jne miss
print gpr0
tadd counts, 2, 1
end
miss:
print "miss"
end
)";
  auto lines = std::make_shared<std::vector<std::string>>();
  Diagnostic d;
  auto vm = Instance::create(
      assemble_ok(src), HostCaps{}, Limits{},
      [lines](OutputKind, std::string_view l) { lines->emplace_back(l); }, &d);
  ASSERT_TRUE(vm) << d.str();
  Table* routes = vm->find_table("routes");
  const uint8_t net8[4] = {10, 0, 0, 0}, net24[4] = {10, 1, 2, 0};
  uint64_t v8 = 8, v24 = 24;
  ASSERT_TRUE(routes->update(net8, reinterpret_cast<uint8_t*>(&v8), 8));
  ASSERT_TRUE(routes->update(net24, reinterpret_cast<uint8_t*>(&v24), 24));
  for (uint32_t dst : {0x0a010203u, 0x0a090909u, 0x0b000001u}) {
    auto f = ipv4_frame(17, 1, dst, 1, 2);
    uint32_t len = static_cast<uint32_t>(f.size());
    vm->run(f.data(), len, len, {});
  }
  EXPECT_EQ(*lines, (std::vector<std::string>{"24", "8", "miss"}));
  const uint8_t idx[4] = {0, 0, 0, 2};
  uint64_t c;
  std::memcpy(&c, vm->find_table("counts")->lookup(idx), 8);
  EXPECT_EQ(c, 2u);
}

// 40 keys 0, 7, 14, ... (values 1000 more) in a 64-entry table: 128
// slots, so clusters form and removals have entries to shift.
constexpr const char* kFortyKeys = R"(.data:
table t hash key 2 value 8 max 64
.init:
    mov gpr0, 0
more:
    mov gpr1, gpr0
    add gpr1, 1000
    update t, gpr0, gpr1
    add gpr0, 7
    bltu gpr0, 280, more
    end
)";

TEST(Interpreter, ForeachVisitsEveryEntryOnceWithItsKeyAndValue) {
  // Keys come out as the numbers they were made of; values as stored.
  auto out = run_program(std::string(kFortyKeys) + R"(.text:
    mov gpr5, 0
    mov gpr6, 0
    mov gpr7, 0
    foreach t, gpr1, gpr2
        add gpr5, 1
        add gpr6, gpr1
        sub gpr2, gpr1
        bne gpr2, 1000, bad
    endfor
    print "%u %u", gpr5, gpr6
    end
bad:
    print "bad"
    end
)",
                         std::vector<uint8_t>(60));
  // 40 keys summing to 7 * (0 + ... + 39).
  EXPECT_EQ(out.lines, (std::vector<std::string>{"40 5460"}));
  EXPECT_FALSE(out.result.aborted);
}

TEST(Interpreter, ForeachOverAnEmptyTableSkipsTheBody) {
  EXPECT_EQ(eval(".data:\ntable t hash key 4 max 8\n.text:\nmov gpr0, 5\nforeach t, gpr1, gpr2\n"
                 "mov gpr0, 9\nendfor\nprint gpr0"),
            "5");
}

TEST(Interpreter, ForeachRemovalsNeitherSkipNorRepeatAndLeaveTheTableWhole) {
  // Remove every key whose value is odd, during the walk: the walk still
  // sees all 40 once, and afterwards every even key is found and no odd one.
  auto out = run_program(std::string(kFortyKeys) + R"(.text:
    mov gpr5, 0
    foreach t, gpr1, gpr2
        add gpr5, 1
        bclr gpr2, 1, keep
        delete t, gpr1
        je keep
        print "bad"
        end
keep:
    endfor
    mov gpr0, 0
    mov gpr6, 0
check:
    lookup gpr2, t, gpr0
    jne absent
    add gpr6, 1
    bset gpr2, 1, bad
absent:
    add gpr0, 7
    bltu gpr0, 280, check
    print "%u %u", gpr5, gpr6
    end
bad:
    print "bad"
    end
)",
                         std::vector<uint8_t>(60));
  EXPECT_EQ(out.lines, (std::vector<std::string>{"40 20"}));
  EXPECT_EQ(out.vm->find_table("t")->size(), 20u);
}

TEST(Interpreter, ForeachNestsAndBreakLeavesTheInnermostLoop) {
  // Every entry of 3 with the first two of the inner walk, which breaks at
  // its second (a break in a switch inside leaves only the switch).
  EXPECT_EQ(eval(R"(.data:
table t array max 3
.text:
    mov gpr5, 0
    mov gpr6, 0
    foreach t, gpr1, gpr2
        mov gpr7, 0
        foreach t, gpr3, gpr4
            add gpr5, 1
            add gpr7, 1
            switch gpr7
            case 2:
                break
            endswitch
            bne gpr7, 2, next
            break
next:
        endfor
        add gpr6, 1
    endfor
    print "%u %u", gpr5, gpr6)"),
            "6 3");
}

TEST(Interpreter, ForeachCopiesWideKeysAndValuesIntoBuffers) {
  EXPECT_EQ(eval(R"(.data:
table flows hash key 13 value 16 max 4
buf k 13
buf v 16
.init:
    mov heap.u32[k], 0x0a000001
    mov heap.u8[k + 12], 6
    mov heap.u64[v + 8], 77
    update flows, k, v
    end
.text:
    mov heap.u32[k], 0
    mov heap.u64[v + 8], 0
    foreach flows, k, v
        print "%x %u", heap.u32[k], heap.u8[k + 12]
        print "%u", heap.u64[v + 8]
    endfor)"),
            "a000001 6\n77");
}

TEST(Interpreter, ARunThatEndsInsideAForeachBodyClosesItsWalk) {
  // The first run drops from inside the walk; the second removes a key
  // outside any walk, which must shift its cluster as usual (not leave a
  // mark that would make the table look full or lose keys).
  const std::string src = std::string(kFortyKeys) + R"(.text:
    beq mlen, 61, remove
    foreach t, gpr1, gpr2
        drop
    endfor
    end
remove:
    mov gpr0, 0
again:
    delete t, gpr0
    add gpr0, 7
    bltu gpr0, 140, again
    mov gpr0, 140
found:
    lookup gpr2, t, gpr0
    jne bad
    add gpr0, 7
    bltu gpr0, 280, found
    print "ok"
    end
bad:
    print "lost %u", gpr0
    end
)";
  auto out = run_program(src, std::vector<uint8_t>(60));
  EXPECT_EQ(out.result.verdict, Verdict::Drop);
  std::vector<uint8_t> pkt(61);
  uint32_t len = 61;
  out.vm->run(pkt.data(), len, len, {});
  Table& t = *out.vm->find_table("t");
  EXPECT_EQ(t.size(), 20u);
  EXPECT_EQ(t.walks_open(), 0u);
  for (uint16_t k = 140; k < 280; k += 7) {
    const uint8_t key[2] = {uint8_t(k >> 8), uint8_t(k)};
    EXPECT_TRUE(t.lookup(key)) << k;
  }
}

TEST(Interpreter, MappedRegistersOnATcpFrame) {
  auto f = ipv4_frame(6, 0x80037010, 0x80037023, 4321, 80);
  PacketMeta meta;
  meta.port = 3;
  meta.dir = 1;
  meta.hook = Hook::PortOut;
  auto out = run_program(
      ".text:\nprint \"%ip %ip\", ip.src, ip.dst\nprint ip.proto, l4.dport\nprint port, dir\n"
      "print hook, ip.ttl\nprint eth.type, has.tcp\nprint has.udp, l4\nend\n",
      f, {}, {}, meta);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"128.3.112.16 128.3.112.35", "6 80", "3 1", "6 64",
                                                 "2048 1", "0 34"}));
}

TEST(Interpreter, AbsentFieldsReadZeroOnRawIp) {
  HostCaps raw;
  raw.link = LinkType::RawIp;
  auto f = ipv4_frame(17, 0x01020304, 0x05060708, 53, 1053);
  std::vector<uint8_t> ip(f.begin() + 14, f.end());
  auto out = run_program(
      ".text:\nprint has.eth, eth.type\nprint \"%ip\", ip.src\nprint l4.sport, l3\nend\n", ip, raw);
  EXPECT_EQ(out.lines, (std::vector<std::string>{"0 2048", "1.2.3.4", "53 0"}));
}

// wlen is the length on the wire the host gives (a capture's pcap header
// len) when it is not the packet's own; mlen is always the bytes there are.
TEST(Interpreter, WireLengthIsTheHostsOrTheLength) {
  const std::string src = ".text:\nprint mlen, wlen\nresize 40\nprint mlen, wlen\nend\n";
  const auto f = ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80);
  const std::string n = std::to_string(f.size());
  HostCaps caps;
  caps.max_packet = 65535;
  auto whole = run_program(src, f, caps);
  EXPECT_EQ(whole.lines, (std::vector<std::string>{n + " " + n, "40 40"}));
  PacketMeta cut;
  cut.wire_len = 150000;  // a big-TCP packet captured with a short snaplen
  auto truncated = run_program(src, f, caps, {}, cut);
  EXPECT_EQ(truncated.lines, (std::vector<std::string>{n + " 150000", "40 150000"}));
  // Timers and .init have no packet: 0 like mlen.
  auto init = run_program(".init:\nprint mlen, wlen\nend\n.text:\nend\n", f, caps, {}, cut);
  EXPECT_EQ(init.lines, (std::vector<std::string>{"0 0"}));
}

TEST(Interpreter, ChecksumHelpersKeepPacketsValid) {
  auto f = ipv4_frame(6, 0x0a000001, 0xcb007101, 40000, 80, "data");
  auto out = run_program(".text:\nrewrite ip.src, 192.0.2.7\nrewrite l4.sport, 5555\nend\n", f);
  EXPECT_TRUE(out.result.modified);
  auto fixed = out.packet;
  recompute_checksums(fixed, LinkType::Ethernet, csum::kIp | csum::kL4);
  EXPECT_EQ(fixed, out.packet) << "incremental update differs from a full recomputation";
  // Direct stores plus csum give the same packet.
  auto out2 =
      run_program(".text:\nmov pkt.u32[26], 192.0.2.7\nmov pkt.u16[34], 5555\ncsum\nend\n", f);
  EXPECT_EQ(out2.packet, out.packet);
}

TEST(Interpreter, PrintLogDumpFormats) {
  EXPECT_EQ(eval("print \"len\", mlen"), "len 60");
  EXPECT_EQ(eval("print \"%d%%\", 50"), "50%");
  EXPECT_EQ(eval("print \"%mac\", 0x0200000000ab"), "02:00:00:00:00:ab");
  EXPECT_EQ(eval("log \"x=%x\", 255"), "x=ff");
  std::vector<uint8_t> pkt(20, 0);
  pkt[0] = 0xde, pkt[17] = 0xad;
  EXPECT_EQ(eval("dump", pkt),
            "0000  de 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00\n0010  00 ad 00 00");
  EXPECT_EQ(eval("dump 2", pkt), "0000  de 00");
}

TEST(Interpreter, OutputIsRateLimited) {
  Limits limits;
  limits.output_burst = 5;
  limits.output_per_second = 1;
  auto out =
      run_program(".text:\nmov gpr0, 0\nloop:\nprint gpr0\nadd gpr0, 1\nblt gpr0, 100, loop\nend\n",
                  std::vector<uint8_t>(60), {}, limits);
  EXPECT_EQ(out.lines.size(), 5u);
  EXPECT_EQ(out.vm->stats().output_suppressed, 95u);
}

TEST(Interpreter, BudgetStopsRunawayPrograms) {
  Limits limits;
  limits.budget = 1000;
  auto out = run_program(".text:\nloop:\njmp loop\n", std::vector<uint8_t>(60), {}, limits);
  EXPECT_TRUE(out.result.aborted);
  EXPECT_EQ(out.result.reason, AbortReason::Budget);
  EXPECT_EQ(out.result.instructions, 1000u);
  EXPECT_EQ(out.result.verdict, Verdict::Pass);
  EXPECT_EQ(out.vm->stats().aborted, 1u);
  limits.on_abort = Verdict::Drop;
  EXPECT_EQ(
      run_program(".text:\nloop:\njmp loop\n", std::vector<uint8_t>(60), {}, limits).result.verdict,
      Verdict::Drop);
  // A switch walk counts too.
  limits.budget = 3;
  EXPECT_TRUE(run_program(".text:\nswitch 9\ncase 1:\ncase 2:\ncase 3:\ncase 4:\nendswitch\nend\n",
                          std::vector<uint8_t>(60), {}, limits)
                  .result.aborted);
}

TEST(Interpreter, InitRunsOnceAndTimersRunWithoutPacket) {
  const char* src = R"(.data:
num ticks 0
num base 0
.init:
mov base, 100
end
.timer tick 1000ms:
add ticks, 1
mov gpr0, mlen
print "tick", ticks
end
.text:
mov gpr0, base
add gpr0, ticks
print gpr0
end
)";
  std::vector<std::string> lines;
  Diagnostic d;
  auto vm = Instance::create(
      assemble_ok(src), HostCaps{}, Limits{},
      [&](OutputKind, std::string_view l) { lines.emplace_back(l); }, &d);
  ASSERT_TRUE(vm) << d.str();
  ASSERT_EQ(vm->program().timers.size(), 1u);
  EXPECT_EQ(vm->program().timers[0].period_ms, 1000u);
  vm->run_timer(0, {});
  vm->run_timer(0, {});
  std::vector<uint8_t> pkt(60);
  uint32_t len = 60;
  vm->run(pkt.data(), len, 60, {});
  EXPECT_EQ(lines, (std::vector<std::string>{"tick 1", "tick 2", "102"}));
  EXPECT_EQ(vm->stats().timer_runs, 2u);
}

TEST(Interpreter, TimerTouchingThePacketAborts) {
  auto out =
      run_program(".timer t 5s:\nmov gpr0, pkt[0]\nend\n.text:\nend\n", std::vector<uint8_t>(60));
  RunResult r = out.vm->run_timer(0, {});
  EXPECT_TRUE(r.aborted);
  EXPECT_EQ(r.reason, AbortReason::NoPacket);
}

TEST(Interpreter, RunAllocatesNothingAndKeepsStatePerRun) {
  // Registers start at zero on every packet; heap variables persist.
  auto out = run_program(".data:\nnum n 0\n.text:\nadd gpr0, 1\nadd n, 1\nprint gpr0, n\nend\n",
                         std::vector<uint8_t>(60));
  std::vector<uint8_t> pkt(60);
  uint32_t len = 60;
  out.vm->run(pkt.data(), len, 60, {});
  EXPECT_EQ(out.vm->stats().packets, 2u);
}

// The interpreter alone (no native code), on `packet`, with `budget`.
RunOutput interpret(const std::string& src, std::vector<uint8_t> packet,
                    uint64_t budget = Limits{}.budget) {
  Limits limits;
  limits.jit = false;
  limits.budget = budget;
  return run_program(src, std::move(packet), {}, limits);
}

std::string printed(const RunOutput& out) {
  std::string s;
  for (size_t i = 0; i < out.lines.size(); ++i) s += (i ? "\n" : "") + out.lines[i];
  return s;
}

// Eight bytes holding v big-endian, then zeros to 60.
std::vector<uint8_t> packet_holding(uint64_t v) {
  std::vector<uint8_t> pkt(60, 0);
  for (int i = 0; i < 8; ++i) pkt[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
  return pkt;
}

TEST(Interpreter, EveryFormOfEveryConditionAgrees) {
  // Each condition's generic handler (variables), gpr/immediate, gpr/gpr,
  // mapped/immediate and packet load fused with the branch (constant and
  // gpr-based address) take the same way.
  struct Case {
    const char* op;
    int64_t a, b;
  } cases[] = {
      {"beq", 5, 5},  {"beq", 5, 6},   {"bne", 5, 5},   {"bne", 5, 6},   {"blt", -1, 0},
      {"blt", 0, -1}, {"ble", 0, 0},   {"ble", 1, 0},   {"bgt", 0, -1},  {"bgt", -1, 0},
      {"bge", -1, 0}, {"bge", 0, 0},   {"bltu", 0, -1}, {"bltu", -1, 0}, {"bleu", -1, -1},
      {"bleu", 1, 0}, {"bgtu", -1, 0}, {"bgtu", 0, -1}, {"bgeu", 0, -1}, {"bgeu", 3, 3},
      {"bset", 6, 2}, {"bset", 6, 1},  {"bclr", 6, 1},  {"bclr", 6, 2},
  };
  for (const auto& c : cases) {
    const std::string a = std::to_string(c.a), b = std::to_string(c.b), op = c.op;
    const std::string tail = ", yes\nprint 0\nend\nyes:\nprint 1\nend\n";
    const std::string generic =
        ".data:\nnum x " + a + "\nnum y " + b + "\n.text:\n" + op + " x, y" + tail;
    const std::string expected = printed(interpret(generic, packet_holding(c.a)));
    ASSERT_TRUE(expected == "0" || expected == "1") << expected;
    const std::string forms[] = {
        ".text:\nmov gpr0, " + a + "\n" + op + " gpr0, " + b + tail,
        ".text:\nmov gpr0, " + a + "\nmov gpr1, " + b + "\n" + op + " gpr0, gpr1" + tail,
        ".text:\nmov gpr0, pkt.u64[0]\n" + op + " gpr0, " + b + tail,
        ".text:\nmov gpr2, 0\nmov gpr0, pkt.u64[gpr2]\n" + op + " gpr0, " + b + tail,
    };
    for (const auto& form : forms)
      EXPECT_EQ(printed(interpret(form, packet_holding(c.a))), expected) << form;
    // mlen (60) against b + 60 - a: the same comparison of lengths.
    if (c.a >= 0 && c.b >= 0 && c.a <= 60 && c.b <= 60 && op != "bset" && op != "bclr") {
      EXPECT_EQ(
          printed(interpret(".text:\n" + op + " mlen, " + std::to_string(c.b + 60 - c.a) + tail,
                            packet_holding(0))),
          expected)
          << op << " mlen";
    }
  }
}

TEST(Interpreter, EveryFormOfEveryArithmeticOpAgrees) {
  const char* ops[] = {"add", "sub", "mul", "div", "sdiv", "mod",
                       "and", "or",  "xor", "shl", "shr",  "sar"};
  const char* values[][2] = {{"42", "5"}, {"-8", "2"},  {"7", "0"},
                             {"1", "64"}, {"-1", "63"}, {"0x8000000000000000", "-1"}};
  for (const char* op : ops) {
    for (const auto& v : values) {
      const std::string a = v[0], b = v[1];
      const std::string generic = ".data:\nnum x " + a + "\nnum y " + b + "\n.text:\n" + op +
                                  " x, y\nprint \"%x\", x\nend\n";
      const std::string expected = printed(interpret(generic, packet_holding(0)));
      EXPECT_EQ(printed(interpret(".text:\nmov gpr3, " + a + "\n" + op + " gpr3, " + b +
                                      "\nprint \"%x\", gpr3\nend\n",
                                  packet_holding(0))),
                expected)
          << op << " " << a << " " << b;
      EXPECT_EQ(printed(interpret(".text:\nmov gpr3, " + a + "\nmov gpr4, " + b + "\n" + op +
                                      " gpr3, gpr4\nprint \"%x\", gpr3\nend\n",
                                  packet_holding(0))),
                expected)
          << op << " " << a << " " << b;
    }
  }
}

// lookup, update and tadd on a plain hash table with the key in a gpr run in
// their own handlers (NETCPU_WORD_TABLE_FORMS: the value a gpr or a
// constant): two-byte values read back as their bytes after an update of a
// wider number and a tadd that carries past them, a missing key inserted,
// a full table refused, a missing key not found, and the flags, as the
// generic handlers (operands in variables) give them.
TEST(Interpreter, TheHashTableFormsGiveTheGenericHandlersEntriesAndFlags) {
  const std::string program = R"(update h, K1, V
print "%u", Found
update h, K1, 0x1fff0
tadd h, K1, 0x20
lookup R, h, K1
print "%x", R
tadd h, K2, V
tadd h, K2, V
lookup R, h, K2
print "%x", R
tadd h, K3, 1
jne full
print "inserted"
full:
update h, K3, V
jne full2
print "inserted"
full2:
lookup R, h, K3
je found
print "absent %x", R
found:
end
)";
  auto spelled = [&](bool gprs) {
    std::string src = ".data:\ntable h hash key 2 value 2 max 2\n";
    if (!gprs) src += "num k1 1\nnum k2 2\nnum k3 3\nnum v 0xfff0\nnum r 0\n";
    src += ".text:\n";
    if (gprs) src += "mov gpr0, 1\nmov gpr1, 2\nmov gpr2, 3\nmov gpr3, 0xfff0\n";
    std::string body = program;
    const std::pair<std::string, std::string> names[] = {
        {"K1", gprs ? "gpr0" : "k1"}, {"K2", gprs ? "gpr1" : "k2"}, {"K3", gprs ? "gpr2" : "k3"},
        {"V", gprs ? "gpr3" : "v"},   {"R", gprs ? "gpr4" : "r"},   {"Found", "1"}};
    for (const auto& [from, to] : names)
      for (size_t at; (at = body.find(from)) != std::string::npos;)
        body.replace(at, from.size(), to);
    return src + body;
  };
  const std::string forms = printed(interpret(spelled(true), packet_holding(0)));
  EXPECT_EQ(forms, "1\n10\nffe0\nabsent ffe0") << spelled(true);
  EXPECT_EQ(forms, printed(interpret(spelled(false), packet_holding(0))));
}

TEST(Interpreter, ALoadAndItsBranchCountAsTwoInstructions) {
  // A packet load followed by a branch runs as one handler; the budget, a
  // fault and a jump onto the branch see two instructions all the same.
  const std::string src =
      ".text:\nmov gpr1, 1\nbeq gpr1, 1, load\nbranch:\nbne gpr0, 0x800, no\npass\n"
      "load:\nmov gpr0, pkt.u16[12]\nbne gpr0, 0x800, no\njmp branch\nno:\ndrop\n";
  std::vector<uint8_t> ip4(60, 0);
  ip4[12] = 0x08;
  auto whole = interpret(src, ip4);
  EXPECT_FALSE(whole.result.aborted);
  EXPECT_EQ(whole.result.verdict, Verdict::Pass);
  EXPECT_EQ(whole.result.instructions, 7u);  // mov beq mov(load) bne jmp bne pass
  // A budget of 3 ends the run after the load, before its branch.
  auto stopped = interpret(src, ip4, 3);
  EXPECT_TRUE(stopped.result.aborted);
  EXPECT_EQ(stopped.result.reason, AbortReason::Budget);
  EXPECT_EQ(stopped.result.instructions, 3u);
  EXPECT_EQ(stopped.result.abort_pc, 5u);
  // A packet too short for the load faults at the load, counted once.
  auto faulted = interpret(src, std::vector<uint8_t>(12, 0));
  EXPECT_TRUE(faulted.result.aborted);
  EXPECT_EQ(faulted.result.reason, AbortReason::Fault);
  EXPECT_EQ(faulted.result.abort_pc, 4u);
  EXPECT_EQ(faulted.result.instructions, 3u);
}

TEST(Interpreter, AMirrorToANegativePortIsReportedAsItIs) {
  // A port from a heap word above 2^31 is negative: no copy is made (and
  // none counted), but the RunResult says what the program asked for, as
  // the native code's does (jit_diff found the interpreter saying -1).
  const std::string src = ".data:\nnum to 0xc2000000\n.text:\nmirror to\nend\n";
  const RunResult interpreted = interpret(src, std::vector<uint8_t>(60)).result;
  EXPECT_EQ(interpreted.mirror_port, static_cast<int32_t>(0xc2000000u));
  const auto native = run_program(src, std::vector<uint8_t>(60));
  EXPECT_EQ(native.result.mirror_port, interpreted.mirror_port);
  EXPECT_EQ(native.vm->stats().mirrored, 0u);
}

TEST(Interpreter, GprsStartAtZeroOnEveryRun) {
  std::vector<std::string> lines;
  Limits limits;
  limits.jit = false;
  Diagnostic d;
  auto vm = Instance::create(
      assemble_ok(".text:\nprint gpr3, gpr15\nmov gpr3, 7\nmov gpr15, 9\nend\n"), HostCaps{},
      limits, [&](OutputKind, std::string_view l) { lines.emplace_back(l); }, &d);
  ASSERT_TRUE(vm) << d.str();
  for (int i = 0; i < 2; ++i) {
    std::vector<uint8_t> pkt(60);
    uint32_t len = 60;
    vm->run(pkt.data(), len, 60, {});
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"0 0", "0 0"}));
}

}  // namespace
}  // namespace netcpu::test
