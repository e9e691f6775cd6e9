// The verifier: every rejection names the right instruction (file:line:col),
// hand-built Programs with bad fields are rejected without crashing, and
// whatever it accepts runs without crashing.

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "vm_test_util.h"

namespace netcpu::test {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Passes when e starts with `want`. (`buggy` and `why` name the wrong answer
// the core once gave, kept to document the regression.)
#define EXPECT_PREFIX_OR_KNOWN_BUG(e, want, buggy, why)                           \
  do {                                                                            \
    const std::string e_ = (e);                                                   \
    EXPECT_TRUE(starts_with(e_, want))                                            \
        << "got    '" << e_ << "'\nwanted '" << (want) << "...' (" << why << ")"; \
  } while (0)

// The verifier's diagnostic for an assembled source ("" when accepted). Fails
// the test when the assembler already rejects it.
std::string verify_error(std::string_view src, const HostCaps* caps = nullptr) {
  Diagnostic d;
  auto p = assemble(src, "bad.ncpu", &d);
  EXPECT_TRUE(p.has_value()) << "assembler rejected it: " << d.str() << "\n--- source:\n" << src;
  if (!p) return "(assembler: " + d.str() + ")";
  if (!verify(*p, caps, &d)) return d.str();
  return "";
}

::testing::AssertionResult rejected(std::string_view src, const std::string& prefix,
                                    const std::string& fragment, const HostCaps* caps = nullptr) {
  return diagnostic_is(verify_error(src, caps), src, prefix, fragment);
}

std::string repeat(const std::string& line, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += line;
  return s;
}

// ---- control flow ------------------------------------------------------------

TEST(Verifier, ControlFallsOffTheEnd) {
  EXPECT_TRUE(rejected(".text:\n  mov gpr0, 1\n", "bad.ncpu:2:3: error: ",
                       "control falls off the end of the code after 'mov'"));
  EXPECT_TRUE(rejected(".text:\n  nop\n  beq gpr0, 1, x\nx:\n  add gpr0, 1\n",
                       "bad.ncpu:5:3: error: ", "falls off the end"));
  EXPECT_TRUE(
      rejected(".text:\n  jmp x\nx:\n  beq gpr0, 1, x\n", "bad.ncpu:4:3: error: ", "after 'beq'"));
  EXPECT_TRUE(rejected(".text:\n  call f\n  end\nfunc f:\n  call g\nfunc g:\n  ret\n",
                       "bad.ncpu:5:3: error: ", "after 'call'"));
  EXPECT_TRUE(
      rejected(".text:\n  end\n.init:\n  mov gpr0, 1\n", "bad.ncpu:4:3: error: ", "falls off"));
  EXPECT_TRUE(rejected(".text:\n  end\n.timer t 10ms:\n  mirror 1\n",
                       "bad.ncpu:4:3: error: ", "after 'mirror'"));
  // Control running from .text into a function or the next section.
  EXPECT_TRUE(rejected(".text:\n  nop\nfunc f:\n  ret\n", "bad.ncpu:2:3: error: ", "falls off"));
  EXPECT_TRUE(rejected(".text:\n  print \"x\"\n.timer t 5ms:\n  end\n",
                       "bad.ncpu:2:3: error: ", "after 'print'"));
  // Every terminator is fine.
  for (const char* t : {"end", "pass", "drop", "redirect 1", "jmp l"}) {
    SCOPED_TRACE(t);
    EXPECT_EQ(verify_error(std::string(".text:\nl:\n  nop\n  ") + t + "\n"), "");
  }
}

TEST(Verifier, JumpIntoAnotherFunction) {
  EXPECT_TRUE(rejected(".text:\n  jmp inner\n  end\nfunc f:\n  nop\ninner:\n  ret\n",
                       "bad.ncpu:2:3: error: ", "jump leaves its function"));
  EXPECT_TRUE(rejected(".text:\nback:\n  call f\n  end\nfunc f:\n  beq gpr0, 1, back\n  ret\n",
                       "bad.ncpu:6:3: error: ", "jump leaves its function"));
  EXPECT_TRUE(rejected(".text:\nmain:\n  end\n.timer t 1s:\n  jmp main\n",
                       "bad.ncpu:5:3: error: ", "leaves"));
  EXPECT_TRUE(
      rejected(".init:\n  jne l\n  end\n.text:\nl:\n  end\n", "bad.ncpu:2:3: error: ", "leaves"));
  EXPECT_TRUE(
      rejected(".text:\n  call f\n  end\nfunc f:\n  jmp g2\n  ret\nfunc g:\n  nop\ng2:\n  ret\n",
               "bad.ncpu:5:3: error: ", "leaves its function"));
}

TEST(Verifier, CallToLabelThatIsNotAFunction) {
  // The assembler already refuses it by name.
  Diagnostic d;
  EXPECT_FALSE(assemble(".text:\n  call lab\n  end\nlab:\n  end\n", "bad.ncpu", &d));
  EXPECT_EQ(d.str(),
            "bad.ncpu:2:8: error: 'lab' is a label, not a function (declare it with 'func lab:')");
  // In bytecode it can only be the verifier.
  Program p = assemble_ok(".text:\n  call f\n  end\nlab:\n  end\nfunc f:\n  ret\n", "bad.ncpu");
  ASSERT_EQ(p.code.size(), 4u);
  p.code[0].target = 2;  // "lab"
  EXPECT_FALSE(verify(p, nullptr, &d));
  EXPECT_EQ(d.str(), "bad.ncpu:2:3: error: call target is not a function entry");
}

TEST(Verifier, RetOutsideAFunction) {
  EXPECT_TRUE(rejected(".text:\n  ret\n", "bad.ncpu:2:3: error: ",
                       "ret outside a function (use end to finish the program)"));
  EXPECT_TRUE(rejected(".text:\n  beq gpr0, 0, x\n  end\nx:\n  ret\n",
                       "bad.ncpu:5:3: error: ", "ret outside a function"));
  EXPECT_TRUE(rejected(".text:\n  end\n.init:\n  ret\n",
                       "bad.ncpu:4:3: error: ", "ret outside a function"));
  EXPECT_TRUE(rejected(".text:\n  end\n.timer t 10ms:\n  ret\n",
                       "bad.ncpu:4:3: error: ", "ret outside a function"));
}

// ---- recursion -----------------------------------------------------------------

const char* const kDirectRecursion = R"(.text:
  call f
  end
func f:
  nop
  call f
  ret
)";

const char* const kMutualRecursion = R"(.text:
  call f
  end
func f:
  nop
  call g
  ret
func g:
  nop
  call f
  ret
)";

TEST(Verifier, DirectRecursionIsRejected) {
  std::string e = verify_error(kDirectRecursion);
  EXPECT_NE(e.find("recursion"), std::string::npos) << e;
  // The diagnostic names the call that recurses (line 6), not the function's first instruction.
  EXPECT_PREFIX_OR_KNOWN_BUG(
      e, "bad.ncpu:6:3: error: ", "bad.ncpu:5:3: error: ",
      "recursion is reported at the first instruction of the function, not at the call");
}

TEST(Verifier, MutualRecursionIsRejected) {
  std::string e = verify_error(kMutualRecursion);
  EXPECT_NE(e.find("recursion"), std::string::npos) << e;
  EXPECT_PREFIX_OR_KNOWN_BUG(
      e, "bad.ncpu:10:3: error: ", "bad.ncpu:9:3: error: ",
      "recursion is reported at the first instruction of g, not at 'call f'");
}

TEST(Verifier, SelfCallFromTheFirstInstruction) {
  EXPECT_TRUE(rejected(".text:\n  call f\n  end\nfunc f:\n  call f\n  ret\n",
                       "bad.ncpu:5:3: error: ", "recursion"));
  // A diamond (f -> g, f -> h, g -> h) is not recursion.
  EXPECT_EQ(verify_error(".text:\n  call f\n  call h\n  end\nfunc f:\n  call g\n  call h\n  "
                         "ret\nfunc g:\n  call h\n"
                         "  ret\nfunc h:\n  ret\n"),
            "");
}

// ---- data stack ------------------------------------------------------------------

TEST(Verifier, PopFromEmptyStack) {
  EXPECT_TRUE(rejected(".text:\n  mov gpr0, 1\n  pop gpr1\n  end\n",
                       "bad.ncpu:3:3: error: ", "pop from an empty stack"));
  EXPECT_TRUE(rejected(".text:\n  push 1\n  pop gpr1\n  pop gpr2\n  end\n",
                       "bad.ncpu:4:3: error: ", "pop from an empty"));
  // A function cannot pop what its caller pushed.
  EXPECT_TRUE(rejected(
      ".text:\n  push 1\n  call f\n  pop gpr0\n  end\nfunc f:\n  pop gpr1\n  push gpr1\n  ret\n",
      "bad.ncpu:7:3: error: ", "pop from an empty stack"));
  EXPECT_EQ(verify_error(".text:\n  push 1\n  push mlen\n  pop gpr1\n  pop gpr2\n  end\n"), "");
}

TEST(Verifier, UnbalancedStackAtAJoin) {
  EXPECT_TRUE(rejected(".text:\n  beq gpr0, 1, l\n  push 1\nl:\n  end\n", "bad.ncpu:5:3: error: ",
                       "stack height differs between paths reaching this instruction"));
  // A push in a loop.
  EXPECT_TRUE(rejected(".text:\nloop:\n  push 1\n  bne gpr0, 1, loop\n  end\n",
                       "bad.ncpu:3:3: error: ", "stack height differs"));
  // Switch cases that leave different heights at endswitch.
  EXPECT_TRUE(rejected(
      ".text:\n  switch gpr0\n  case 1:\n    push 1\n    break\n  case 2:\n  endswitch\n  end\n",
      "bad.ncpu:7:3: error: ", "stack height differs"));
  // Balanced on both paths is fine.
  EXPECT_EQ(
      verify_error(
          ".text:\n  push 7\n  beq gpr0, 1, l\n  push 1\n  pop gpr1\nl:\n  pop gpr2\n  end\n"),
      "");
}

TEST(Verifier, ForeachBodiesKeepTheirCursorAndLeaveOnlyThroughEndforOrBreak) {
  const std::string t = ".data:\ntable t hash key 4 max 8\n.text:\n";
  // The cursor is below what the body pushed; the body may not pop it.
  EXPECT_TRUE(rejected(t + "  foreach t, gpr0, gpr1\n  pop gpr2\n  endfor\n  end\n",
                       "bad.ncpu:5:3: error: ", "pop would take the foreach's cursor"));
  EXPECT_TRUE(rejected(t + "  foreach t, gpr0, gpr1\n  push 1\n  endfor\n  end\n",
                       "bad.ncpu:6:3: error: ",
                       "endfor with 1 value(s) the foreach body pushed still on the stack"));
  EXPECT_TRUE(rejected(t + "  foreach t, gpr0, gpr1\n  push 1\n  break\n  endfor\n  end\n",
                       "bad.ncpu:6:3: error: ", "break with 1 value(s)"));
  // Into a body from outside, with something pushed to stand for the cursor.
  EXPECT_TRUE(rejected(t + "  push 0\n  beq gpr0, 1, in\n  pop gpr0\n  foreach t, gpr0, gpr1\n"
                           "in:\n  nop\n  endfor\n  end\n",
                       "bad.ncpu:", "paths from inside and outside a foreach body meet here"));
  EXPECT_TRUE(
      rejected(".data:\ntable t hash key 4 max 8\n.text:\n  call f\n  end\nfunc f:\n"
               "  foreach t, gpr0, gpr1\n  ret\n  endfor\n  ret\n",
               "bad.ncpu:8:3: error: ", "ret inside a foreach body"));
  // Leaving a body by a jump leaves the cursor: the heights differ where it lands.
  EXPECT_TRUE(
      rejected(t + "  foreach t, gpr0, gpr1\n  beq gpr0, 1, after\n  endfor\nafter:\n  end\n",
               "bad.ncpu:", "stack height differs"));
  // Ending the run inside a body is fine, and so is a function called from one.
  EXPECT_EQ(verify_error(".data:\ntable t hash key 4 max 8\n.text:\n  foreach t, gpr0, gpr1\n"
                         "  call f\n  beq gpr0, 1, stop\n  endfor\n  end\nstop:\n  drop\n"
                         "func f:\n  push 1\n  pop gpr3\n  ret\n"),
            "");
}

TEST(Verifier, HandMadeForeachLinksMustNameEachOther) {
  Program p = assemble_ok(
      ".data:\ntable t hash key 4 max 8\n.text:\n  foreach t, gpr0, gpr1\n"
      "  nop\n  endfor\n  end\n");
  Diagnostic d;
  Program bad = p;
  bad.code[0].target = 1;  // foreach to a nop
  EXPECT_FALSE(verify(bad, nullptr, &d));
  EXPECT_NE(d.message.find("foreach must lead forward to its endfor"), std::string::npos)
      << d.str();
  bad = p;
  bad.code[2].op = Op::NOP;  // no endfor: the foreach's link leads nowhere
  bad.code[2].target = kNoTarget;
  EXPECT_FALSE(verify(bad, nullptr, &d));
  EXPECT_NE(d.message.find("foreach must lead forward to its endfor"), std::string::npos)
      << d.str();
  bad = p;
  bad.code[1] = bad.code[2];  // an endfor whose foreach names another endfor
  EXPECT_FALSE(verify(bad, nullptr, &d));
  EXPECT_NE(d.message.find("must lead"), std::string::npos) << d.str();
  bad = p;
  bad.code[2].target = 7;  // outside the code
  EXPECT_FALSE(verify(bad, nullptr, &d));
}

TEST(Verifier, FunctionReturningWithValuesPushed) {
  EXPECT_TRUE(rejected(".text:\n  call f\n  end\nfunc f:\n  push 1\n  ret\n",
                       "bad.ncpu:6:3: error: ", "function returns with 1 value(s) still pushed"));
  EXPECT_TRUE(
      rejected(".text:\n  call f\n  end\nfunc f:\n  push 1\n  push 2\n  pop gpr0\n  beq gpr0, 0, "
               "r\n  pop gpr1\n"
               "r:\n  ret\n",
               "bad.ncpu:11:3: error: ", "stack height differs"));
}

TEST(Verifier, SixtyFourStackSlotsAreFine) {
  Program p =
      assemble_ok(".text:\n" + repeat("  push 1\n", 64) + repeat("  pop gpr0\n", 64) + "  end\n");
  Diagnostic d;
  auto info = verify(p, nullptr, &d);
  ASSERT_TRUE(info) << d.str();
  EXPECT_EQ(info->max_stack, 64u);
  auto out = run_program(
      ".text:\n" + repeat("  push 3\n", 64) + repeat("  pop gpr0\n", 64) + "  print gpr0\n  end\n",
      {});
  EXPECT_FALSE(out.result.aborted);
  EXPECT_EQ(out.lines, std::vector<std::string>{"3"});
}

TEST(Verifier, StackDeeperThan64Slots) {
  // 65 pushes on lines 2..66, then the pops.
  std::string e =
      verify_error(".text:\n" + repeat("  push 1\n", 65) + repeat("  pop gpr0\n", 65) + "  end\n");
  EXPECT_NE(e.find("data stack may need 65 slots; the limit is 64"), std::string::npos) << e;
  EXPECT_PREFIX_OR_KNOWN_BUG(
      e, "bad.ncpu:66:3: error: ", "bad.ncpu:2:3: error: ",
      "the stack limit is reported at the first instruction of .text, not at the 65th push");
}

TEST(Verifier, StackDeeperThan64SlotsInATimer) {
  std::string e = verify_error(".text:\n  end\n.timer t 10ms:\n" + repeat("  push 1\n", 65) +
                               repeat("  pop gpr0\n", 65) + "  end\n");
  EXPECT_NE(e.find("65 slots"), std::string::npos) << e;
  // Anywhere in the timer (lines 4..134) would do; .text (line 2) is wrong.
  EXPECT_PREFIX_OR_KNOWN_BUG(e, "bad.ncpu:68:3: error: ", "bad.ncpu:2:3: error: ",
                             "a timer's stack overflow is reported at .text's first instruction");
}

TEST(Verifier, StackDeeperThan64SlotsAcrossCalls) {
  std::string src = ".text:\n" + repeat("  push 1\n", 40) + "  call f\n" +
                    repeat("  pop gpr0\n", 40) + "  end\nfunc f:\n" + repeat("  push 2\n", 30) +
                    repeat("  pop gpr1\n", 30) + "  ret\n";
  std::string e = verify_error(src);
  EXPECT_NE(e.find("data stack may need 70 slots"), std::string::npos) << e;
}

// ---- call depth ------------------------------------------------------------------

std::string nested_functions(int n) {
  std::string s = ".text:\n  call f1\n  end\n";
  for (int i = 1; i <= n; ++i) {
    s += "func f" + std::to_string(i) + ":\n";
    s += i < n ? "  call f" + std::to_string(i + 1) + "\n" : "  nop\n";
    s += "  ret\n";
  }
  return s;
}

TEST(Verifier, CallDepth32IsFine) {
  Program p = assemble_ok(nested_functions(32));
  Diagnostic d;
  auto info = verify(p, nullptr, &d);
  ASSERT_TRUE(info) << d.str();
  EXPECT_EQ(info->max_call_depth, 32u);
  auto vm = Instance::create(p, HostCaps{}, Limits{}, nullptr, &d);
  ASSERT_TRUE(vm) << d.str();
  std::vector<uint8_t> pkt(60, 0);
  uint32_t len = 60;
  RunResult r = vm->run(pkt.data(), len, 60, PacketMeta{});
  EXPECT_FALSE(r.aborted) << abort_reason_name(r.reason);
}

TEST(Verifier, CallDepthBeyond32) {
  // f32 calls f33 at line 3 + 31*3 + 2 = 98.
  std::string e = verify_error(nested_functions(33));
  EXPECT_NE(e.find("calls nest"), std::string::npos) << e;
  EXPECT_NE(e.find("32"), std::string::npos) << e;
  EXPECT_PREFIX_OR_KNOWN_BUG(
      e, "bad.ncpu:98:3: error: ", "bad.ncpu:2:3: error: ",
      "the call depth limit is reported at .text's first instruction, not at the call that "
      "exceeds it");
}

// The too-deep chain is only reached from a timer, through functions .text
// already called (and the verifier already analysed) at a shallower depth.
TEST(Verifier, CallDepthBeyond32ThroughSharedFunctions) {
  std::string s = ".text:\n  call f1\n  end\n.timer t 10ms:\n  call g1\n  end\n";
  int line = 7;
  int first_g = line;
  for (int i = 1; i <= 13; ++i, line += 3)
    s += "func g" + std::to_string(i) + ":\n  call " +
         (i < 13 ? "g" + std::to_string(i + 1) : std::string("f1")) + "\n  ret\n";
  int last_g = line - 1;
  for (int i = 1; i <= 20; ++i)
    s += "func f" + std::to_string(i) + ":\n  " +
         (i < 20 ? "call f" + std::to_string(i + 1) : std::string("nop")) + "\n  ret\n";
  std::string e = verify_error(s);
  ASSERT_NE(e.find("calls nest"), std::string::npos) << e;
  // The timer's call (line 5) or one of the g functions' calls: not .text's.
  unsigned l = 0, c = 0;
  ASSERT_EQ(std::sscanf(e.c_str(), "bad.ncpu:%u:%u:", &l, &c), 2) << e;
  if (l == 2)
    FAIL() << "regression: a call chain too deep only from a timer (through functions .text also "
              "calls) is "
              "reported at .text's first instruction (got '"
           << e << "'): the depth of memoised callees is only checked at the end of run()";
  EXPECT_TRUE(l == 5 || (static_cast<int>(l) >= first_g && static_cast<int>(l) <= last_g)) << e;
}

// A bytecode file can chain thousands of functions; the verifier must refuse
// it (depth > 32) without recursing once per function on the C++ stack or
// allocating a code-sized vector per level.
TEST(Verifier, VeryDeepCallChainIsRejectedWithoutCrashing) {
  Program p;
  p.source_file = "deep.ncpu";
  const uint32_t n = 6000;
  p.code.push_back({Op::CALL, 0, 2, {}, {}});
  p.code.push_back({Op::END, 0, kNoTarget, {}, {}});
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t pc = static_cast<uint32_t>(p.code.size());
    p.symbols.push_back({"f" + std::to_string(i), SymbolKind::Func, pc, 0});
    if (i + 1 < n)
      p.code.push_back({Op::CALL, 0, pc + 2, {}, {}});
    else
      p.code.push_back({Op::NOP, 0, kNoTarget, {}, {}});
    p.code.push_back({Op::RET, 0, kNoTarget, {}, {}});
  }
  if (!runs_cleanly([&] {
        Diagnostic d;
        (void)verify(p, nullptr, &d);
      }))
    FAIL() << "regression: verify() crashes (stack overflow in Verifier::analyse, one C++ frame "
              "plus a code-sized "
              "height vector and a copied path per nested call) on a chain of "
           << n << " nested functions";
  Diagnostic d;
  EXPECT_FALSE(verify(p, nullptr, &d));
  EXPECT_NE(d.message.find("calls nest"), std::string::npos) << d.str();
}

// ---- host capabilities -------------------------------------------------------------

TEST(Verifier, HostCapabilities) {
  struct Case {
    const char* insn;
    bool HostCaps::*cap;
    const char* what;
  } cases[] = {
      {"redirect 2", &HostCaps::redirect, "redirect packets"},
      {"mirror 3", &HostCaps::mirror, "mirror packets"},
      {"emit INPORT", &HostCaps::emit, "emit packets"},
      {"resize 100", &HostCaps::resize, "change a packet's length"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.insn);
    std::string src = std::string(".text:\n  nop\n  ") + c.insn + "\n  end\n";
    HostCaps all;
    EXPECT_EQ(verify_error(src, &all), "");
    EXPECT_EQ(verify_error(src, nullptr), "");
    HostCaps caps;
    caps.*c.cap = false;
    caps.host_name = "lwipv6";
    std::string mn = std::string(c.insn).substr(0, std::string(c.insn).find(' '));
    std::string want =
        "bad.ncpu:3:3: error: '" + mn + "' is not supported by lwipv6: it cannot " + c.what;
    EXPECT_EQ(verify_error(src, &caps), want);
    // Other missing capabilities do not matter.
    HostCaps others;
    others.redirect = others.mirror = others.emit = others.resize = false;
    others.*c.cap = true;
    EXPECT_EQ(verify_error(src, &others), "");
    // Loading refuses it with the same diagnostic.
    Diagnostic d;
    Program p = assemble_ok(src, "bad.ncpu");
    EXPECT_EQ(Instance::create(p, caps, Limits{}, nullptr, &d), nullptr);
    EXPECT_EQ(d.str(), want);
  }
  // Default host name; the instruction in a timer or function counts too.
  HostCaps caps;
  caps.mirror = false;
  EXPECT_TRUE(rejected(".text:\n  call f\n  end\nfunc f:\n  mirror 1\n  ret\n",
                       "bad.ncpu:5:3: error: ", "'mirror' is not supported by this host", &caps));
  caps = HostCaps{};
  caps.emit = false;
  EXPECT_TRUE(rejected(".text:\n  end\n.timer t 10ms:\n  emit 1\n  end\n",
                       "bad.ncpu:4:3: error: ", "'emit'", &caps));
}

// ---- what the verifier reports -------------------------------------------------------

TEST(Verifier, VerifyInfo) {
  Diagnostic d;
  auto info = verify(
      assemble_ok(
          ".text:\n  push 1\n  call f\n  pop gpr0\n  end\nfunc f:\n  push 2\n  push 3\n  pop gpr1\n"
          "  pop gpr1\n  ret\n"),
      nullptr, &d);
  ASSERT_TRUE(info) << d.str();
  EXPECT_EQ(info->instructions, 9u);
  EXPECT_EQ(info->max_stack, 3u);
  EXPECT_EQ(info->max_call_depth, 1u);
  EXPECT_FALSE(info->writes_packet);
  for (const char* w : {"mov pkt[0], 1", "csum", "csum ip", "copy pkt[0], out[0], 1",
                        "lookup pkt.u32[0], t, 1", "pop pkt.u16[gpr1]"}) {
    SCOPED_TRACE(w);
    std::string pre = std::string(w).rfind("pop", 0) == 0 ? "  push 1\n  " : "  ";
    auto i = verify(assemble_ok(".data:\ntable t array max 4\n.text:\n" + pre + w + "\n  end\n"),
                    nullptr, &d);
    ASSERT_TRUE(i) << d.str();
    EXPECT_TRUE(i->writes_packet);
  }
  for (const char* w :
       {"mov out[0], 1", "mov gpr0, pkt[0]", "csum all, out", "copy out[0], pkt[0], 1"}) {
    SCOPED_TRACE(w);
    auto i = verify(assemble_ok(std::string(".text:\n  ") + w + "\n  end\n"), nullptr, &d);
    ASSERT_TRUE(i) << d.str();
    EXPECT_FALSE(i->writes_packet);
  }
}

// rewrite and resize change the packet (the ISA marks both kWritesPacket), so
// a host relying on writes_packet to skip copy-on-write must be told.
TEST(Verifier, RewriteAndResizeWriteThePacket) {
  std::vector<std::string> missed;
  for (const char* w : {"rewrite ip.ttl, 3", "rewrite l4.dport, 80", "resize 64"}) {
    Diagnostic d;
    auto i = verify(assemble_ok(std::string(".text:\n  ") + w + "\n  end\n"), nullptr, &d);
    ASSERT_TRUE(i) << d.str();
    if (!i->writes_packet) missed.push_back(w);
  }
  if (!missed.empty()) {
    std::string all;
    for (const auto& m : missed) all += " '" + m + "'";
    FAIL()
        << "regression: VerifyInfo::writes_packet is false for" << all
        << " (the verifier ignores flag::kWritesPacket; only stores, pkt copies and csum set it)";
  }
}

// ---- warnings -----------------------------------------------------------------

// The verifier's warnings for an assembled source, one "file:line:col:
// warning: ..." string each; the program must still verify.
std::vector<std::string> warnings(std::string_view src) {
  Diagnostic d;
  auto p = assemble(src, "loop.ncpu", &d);
  EXPECT_TRUE(p.has_value()) << d.str();
  if (!p) return {};
  auto info = verify(*p, nullptr, &d);
  EXPECT_TRUE(info.has_value()) << d.str();
  std::vector<std::string> out;
  if (info)
    for (const Diagnostic& w : info->warnings) out.push_back(w.str());
  return out;
}

constexpr const char* kNoWayOut = "warning: this loop has no way out";

TEST(VerifierWarnings, ALoopWithNoWayOutIsNamedAtItsFirstInstruction) {
  auto w = warnings(".text:\nloop:\n  add gpr0, 1\n  jmp loop\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(starts_with(w[0], std::string("loop.ncpu:3:3: ") + kNoWayOut)) << w[0];
  // A one-instruction spin, after a loop that does end (into the spin).
  w = warnings(
      ".text:\nagain:\n  add gpr0, 1\n  bne gpr0, 10, again\n  beq gpr1, 0, ok\n"
      "spin:\n  jmp spin\nok:\n  pass\n");
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(starts_with(w[0], std::string("loop.ncpu:7:3: ") + kNoWayOut)) << w[0];
}

TEST(VerifierWarnings, LoopsWithAWayOutAreNotWarnedAbout) {
  EXPECT_TRUE(warnings(".text:\nagain:\n  add gpr0, 1\n  bne gpr0, 10, again\n  pass\n").empty());
  // The way out may be a return, a drop, a redirect or a switch case.
  EXPECT_TRUE(warnings(".text:\n  call f\n  end\nfunc f:\n  add gpr0, 1\n  beq gpr0, 5, done\n"
                       "  jmp f\ndone:\n  ret\n")
                  .empty());
  EXPECT_TRUE(warnings(".text:\ntop:\n  switch gpr0\n  case 1\n  drop\n  default\n"
                       "  add gpr0, 1\n  break\n  endswitch\n  jmp top\n")
                  .empty());
  // Unreachable code that loops forever is never run.
  EXPECT_TRUE(warnings(".text:\n  pass\nspin:\n  jmp spin\n").empty());
}

TEST(VerifierWarnings, EveryEntryIsChecked) {
  // .init, a timer and a function each get their own warning.
  auto w = warnings(
      ".init:\nini:\n  jmp ini\n.timer t 1000ms:\ntick:\n  jmp tick\n"
      ".text:\n  call f\n  end\nfunc f:\nfl:\n  jmp fl\n");
  ASSERT_EQ(w.size(), 3u);
  for (const auto& s : w) EXPECT_NE(s.find(kNoWayOut), std::string::npos) << s;
}

// ---- hand-built programs -------------------------------------------------------------

Operand R(int n) { return {Kind::Reg, 0, static_cast<uint8_t>(n), 0}; }
Operand Im(int64_t v) { return {Kind::Imm, 0, 0, v}; }
Operand Mp(int id) { return {Kind::Mapped, 0, static_cast<uint8_t>(id), 0}; }
Operand Mp(MappedReg m) { return Mp(static_cast<int>(m)); }
Operand Vr(int64_t off) { return {Kind::Var, 0, 0, off}; }
Operand Pk(int64_t off, uint8_t at = attr::kNoBase, uint8_t reg = 0) {
  return {Kind::PktMem, at, reg, off};
}
Operand Hp(int64_t off, uint8_t at = attr::kNoBase | 3 | attr::kHostOrder, uint8_t reg = 0) {
  return {Kind::HeapMem, at, reg, off};
}
Operand By(int64_t i) { return {Kind::Bytes, 0, 0, i}; }
Operand K(int kind, uint8_t reg = 0, int64_t imm = 0) {
  return {static_cast<Kind>(kind), 0, reg, imm};
}

Insn I(Op op, Operand a = {}, Operand b = {}, uint32_t target = kNoTarget, uint8_t aux = 0) {
  Insn in;
  in.op = op;
  in.a = a;
  in.b = b;
  in.target = target;
  in.aux = aux;
  return in;
}

// code with line pc+1, column 1 for every instruction, so a diagnostic names the pc.
Program hand(std::vector<Insn> code) {
  Program p;
  p.name = "hand";
  p.source_file = "hand.ncpu";
  p.code = std::move(code);
  for (size_t i = 0; i < p.code.size(); ++i) p.lines.push_back({static_cast<uint32_t>(i + 1), 1});
  p.data.assign(16, 0);
  p.strings = {"abc", std::string(16, '\x01')};
  p.tables.push_back({"t", TableKind::Hash, 4, 8, 16});
  return p;
}

// Rejected, pointing at pc, mentioning fragment. Runs the verifier once with
// and once without host caps.
::testing::AssertionResult rejected_at(const Program& p, uint32_t pc, const std::string& fragment) {
  for (bool with_caps : {false, true}) {
    HostCaps caps;
    Diagnostic d;
    if (verify(p, with_caps ? &caps : nullptr, &d))
      return ::testing::AssertionFailure() << "verified";
    std::string want = "hand.ncpu:" + std::to_string(pc + 1) + ":1: error: ";
    std::string e = d.str();
    if (!starts_with(e, want))
      return ::testing::AssertionFailure() << "got '" << e << "', wanted '" << want << "...'";
    if (e.find(fragment) == std::string::npos)
      return ::testing::AssertionFailure()
             << "got '" << e << "', wanted it to mention '" << fragment << "'";
  }
  return ::testing::AssertionSuccess();
}

TEST(VerifierHandBuilt, BaselineIsAccepted) {
  Program p =
      hand({I(Op::MOV, R(15), Vr(8)), I(Op::LOOKUP, R(1), Im(5), kNoTarget, 0),
            I(Op::CMP16, Mp(MappedReg::Ip6Src), By(1)), I(Op::FIND, R(2), Im(0), 0), I(Op::END)});
  Diagnostic d;
  EXPECT_TRUE(verify(p, nullptr, &d)) << d.str();
}

TEST(VerifierHandBuilt, OutOfRangeRegister) {
  EXPECT_TRUE(rejected_at(hand({I(Op::NOP), I(Op::MOV, R(16), Im(1)), I(Op::END)}), 1,
                          "no register gpr16"));
  EXPECT_TRUE(rejected_at(hand({I(Op::ADD, R(0), R(255)), I(Op::END)}), 0, "gpr255"));
  EXPECT_TRUE(rejected_at(hand({I(Op::FIND, R(99), Im(0), 0), I(Op::END)}), 0, "gpr99"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Pk(0, 0, 16)), I(Op::END)}), 0, "gpr16"));
  EXPECT_TRUE(rejected_at(hand({I(Op::COPY, Pk(0), Pk(4), 0, 16), I(Op::END)}), 0,
                          "copy: bad length register"));
}

TEST(VerifierHandBuilt, OutOfRangeMappedId) {
  const int n = static_cast<int>(kMappedCount);
  EXPECT_TRUE(
      rejected_at(hand({I(Op::MOV, R(0), Mp(n)), I(Op::END)}), 0, "unknown mapped register"));
  EXPECT_TRUE(rejected_at(hand({I(Op::NOP), I(Op::BEQ, Mp(255), Im(1), 2), I(Op::END)}), 1,
                          "unknown mapped register"));
  EXPECT_TRUE(rejected_at(hand({I(Op::REWRITE, Mp(200), Im(1)), I(Op::END)}), 0, "mapped"));
  EXPECT_TRUE(rejected_at(
      hand({I(Op::MOV, R(0), Pk(0, attr::kBaseMapped, static_cast<uint8_t>(n))), I(Op::END)}), 0,
      "bad mapped base register"));
  EXPECT_TRUE(rejected_at(
      hand({I(Op::MOV, R(0), Pk(0, attr::kBaseMapped, static_cast<uint8_t>(MappedReg::Ip6Dst))),
            I(Op::END)}),
      0, "bad mapped base register"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::COPY, Pk(0), Pk(4), 0, static_cast<uint8_t>(0x80 | n)), I(Op::END)}),
                  0, "copy: bad length"));
  EXPECT_TRUE(rejected_at(hand({I(Op::COPY, Pk(0), Pk(4), 0,
                                  static_cast<uint8_t>(0x80 | static_cast<int>(MappedReg::Ip6Src))),
                                I(Op::END)}),
                          0, "copy: bad length"));
  // 16-byte fields are no numbers; only rewritable fields may be rewritten.
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Mp(MappedReg::Ip6Src)), I(Op::END)}), 0,
                          "must be a number"));
  EXPECT_TRUE(rejected_at(hand({I(Op::REWRITE, Mp(MappedReg::Mlen), Im(1)), I(Op::END)}), 0,
                          "rewritable header field"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, Mp(MappedReg::IpTtl), Im(1)), I(Op::END)}), 0,
                          "must be writable"));
}

TEST(VerifierHandBuilt, OutOfRangeTableId) {
  EXPECT_TRUE(rejected_at(hand({I(Op::LOOKUP, R(0), Im(1), kNoTarget, 1), I(Op::END)}), 0,
                          "lookup: no table 1"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::NOP), I(Op::UPDATE, Im(1), Im(2), kNoTarget, 255), I(Op::END)}), 1,
                  "no table 255"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::DELETE, Im(1), {}, kNoTarget, 7), I(Op::END)}), 0, "no table 7"));
  Program p = hand({I(Op::TADD, Im(1), Im(2), kNoTarget, 0), I(Op::END)});
  p.tables.clear();
  EXPECT_TRUE(rejected_at(p, 0, "tadd: no table 0"));
  // Key sizes must fit the table.
  EXPECT_TRUE(rejected_at(hand({I(Op::LOOKUP, R(0), By(1), kNoTarget, 0), I(Op::END)}), 0,
                          "constant is 16 bytes, need 4"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::LOOKUP, R(0), Mp(MappedReg::Ip6Src), kNoTarget, 0), I(Op::END)}), 0,
                  "16-byte field used as a 4-byte key"));
  EXPECT_TRUE(rejected_at(hand({I(Op::CMP16, Mp(MappedReg::Ip6Src), Im(1)), I(Op::END)}), 0,
                          "16-byte key"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::CMP16, By(1), By(1)), I(Op::END)}), 0, "cmp16 of two constants"));
}

TEST(VerifierHandBuilt, OutOfRangeStringId) {
  EXPECT_TRUE(
      rejected_at(hand({I(Op::PRINT, Im(1), {}, 2), I(Op::END)}), 0, "print: no such string"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::LOG, {}, {}, 0x7fffffff), I(Op::END)}), 0, "log: no such string"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::FIND, R(0), Im(0), 2), I(Op::END)}), 0, "find: no such string"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::FIND, R(0), Im(0), kNoTarget), I(Op::END)}), 0, "no such string"));
  EXPECT_TRUE(rejected_at(hand({I(Op::CMP16, Mp(MappedReg::Ip6Src), By(2)), I(Op::END)}), 0,
                          "no such constant"));
  EXPECT_TRUE(rejected_at(hand({I(Op::CMP16, Mp(MappedReg::Ip6Src), By(-1)), I(Op::END)}), 0,
                          "no such constant"));
  Program p = hand({I(Op::FIND, R(0), Im(0), 2), I(Op::END)});
  p.strings.push_back("");
  EXPECT_TRUE(rejected_at(p, 0, "find needs a non-empty string"));
}

TEST(VerifierHandBuilt, VarOutsideTheHeap) {
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, Vr(9), Im(1)), I(Op::END)}), 0,
                          "heap variable at offset 9 is outside the heap"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Vr(-8)), I(Op::END)}), 0, "outside the heap"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::MOV, R(0), Vr(INT64_MAX)), I(Op::END)}), 0, "outside the heap"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::MOV, R(0), Vr(INT64_MAX - 7)), I(Op::END)}), 0, "outside the heap"));
  Program p = hand({I(Op::MOV, R(0), Vr(0)), I(Op::END)});
  p.data.clear();
  EXPECT_TRUE(rejected_at(p, 0, "outside the heap"));
  // Memory operands with offsets beyond 32 bits or unknown attribute bits.
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Hp(int64_t{1} << 31)), I(Op::END)}), 0,
                          "address offset out of range"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Pk(INT64_MIN)), I(Op::END)}), 0,
                          "address offset out of range"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Pk(0, 0x80 | attr::kNoBase)), I(Op::END)}), 0,
                          "unknown address attributes"));
  // A heap larger than the limit.
  Program big = hand({I(Op::END)});
  big.data.assign(kMaxHeap + 1, 0);
  EXPECT_TRUE(rejected_at(big, 0, "heap larger than"));
}

TEST(VerifierHandBuilt, TargetOutsideTheCode) {
  EXPECT_TRUE(
      rejected_at(hand({I(Op::JMP, {}, {}, 2), I(Op::END)}), 0, "jmp: target outside the code"));
  EXPECT_TRUE(rejected_at(hand({I(Op::NOP), I(Op::JE, {}, {}, kNoTarget), I(Op::END)}), 1,
                          "target outside the code"));
  EXPECT_TRUE(rejected_at(hand({I(Op::BEQ, R(0), Im(0), 1u << 31), I(Op::END)}), 0,
                          "target outside the code"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::CALL, {}, {}, 5), I(Op::END)}), 0, "call: target outside the code"));
  EXPECT_TRUE(rejected_at(hand({I(Op::SWITCH, R(0), {}, 9), I(Op::ENDSWITCH), I(Op::END)}), 0,
                          "target outside"));
  EXPECT_TRUE(rejected_at(hand({I(Op::BREAK, {}, {}, 3), I(Op::END)}), 0, "target outside"));
  // Targets where the instruction takes none; a target in the same region that is not a label of
  // it.
  EXPECT_TRUE(rejected_at(hand({I(Op::NOP, {}, {}, 0), I(Op::END)}), 0, "nop: unexpected target"));
  EXPECT_TRUE(rejected_at(hand({I(Op::END, {}, {}, 0)}), 0, "unexpected target"));
  // Entry points outside the code.
  Program p = hand({I(Op::END)});
  p.text_pc = 1;
  EXPECT_TRUE(rejected_at(p, 0, "text entry outside the code"));
  p = hand({I(Op::END)});
  p.init_pc = 3;
  EXPECT_TRUE(rejected_at(p, 0, ".init entry outside the code"));
  p = hand({I(Op::END)});
  p.timers.push_back({"t", 1, 10});
  EXPECT_TRUE(rejected_at(p, 0, "timer 't' entry outside the code"));
  p = hand({I(Op::END), I(Op::END)});
  p.timers.push_back({"z", 1, 0});
  EXPECT_TRUE(rejected_at(p, 1, "timer 'z' has a zero period"));
  p = hand({I(Op::END)});
  p.symbols.push_back({"f", SymbolKind::Func, 1, 0});
  EXPECT_TRUE(rejected_at(p, 0, "function 'f' outside the code"));
  p = hand({I(Op::NOP), I(Op::END)});
  p.text_pc = 1;
  EXPECT_TRUE(rejected_at(p, 0, "code before the first entry point"));
  p = hand({});
  Diagnostic d;
  EXPECT_FALSE(verify(p, nullptr, &d));
  EXPECT_EQ(d.str(), "hand.ncpu: error: program has no instructions");
}

TEST(VerifierHandBuilt, BadCaseChain) {
  // switch -> case -> back to the switch.
  EXPECT_TRUE(rejected_at(
      hand({I(Op::SWITCH, R(0), {}, 1), I(Op::CASE, Im(1), {}, 0), I(Op::ENDSWITCH), I(Op::END)}),
      1, "case chain must lead forward"));
  // A case pointing at itself.
  EXPECT_TRUE(rejected_at(
      hand({I(Op::SWITCH, R(0), {}, 1), I(Op::CASE, Im(1), {}, 1), I(Op::ENDSWITCH), I(Op::END)}),
      1, "case chain must lead forward"));
  // A switch pointing backwards.
  EXPECT_TRUE(rejected_at(hand({I(Op::ENDSWITCH), I(Op::SWITCH, R(0), {}, 0), I(Op::END)}), 1,
                          "case chain"));
  // A chain leading to something that is not a case label.
  EXPECT_TRUE(
      rejected_at(hand({I(Op::SWITCH, R(0), {}, 1), I(Op::NOP), I(Op::END)}), 0, "case chain"));
  EXPECT_TRUE(rejected_at(hand({I(Op::SWITCH, R(0), {}, 1), I(Op::DEFAULT, {}, {}, 2), I(Op::END)}),
                          1, "case chain"));
  // break must reach an endswitch after it.
  EXPECT_TRUE(rejected_at(hand({I(Op::ENDSWITCH), I(Op::BREAK, {}, {}, 0), I(Op::END)}), 1,
                          "break must lead"));
  EXPECT_TRUE(rejected_at(hand({I(Op::BREAK, {}, {}, 1), I(Op::END)}), 0,
                          "break must lead to its endswitch"));
  // case takes a constant.
  EXPECT_TRUE(rejected_at(
      hand({I(Op::SWITCH, R(0), {}, 1), I(Op::CASE, R(1), {}, 2), I(Op::ENDSWITCH), I(Op::END)}), 1,
      "case takes a constant"));
  // A chain that leaves the function.
  Program p = hand({I(Op::SWITCH, R(0), {}, 2), I(Op::END), I(Op::ENDSWITCH), I(Op::RET)});
  p.symbols.push_back({"f", SymbolKind::Func, 2, 0});
  EXPECT_TRUE(rejected_at(p, 0, "switch leaves its function"));
  // A well-formed chain is accepted and runs.
  Program ok = hand({I(Op::SWITCH, R(0), {}, 1), I(Op::CASE, Im(1), {}, 3), I(Op::BREAK, {}, {}, 4),
                     I(Op::DEFAULT, {}, {}, 4), I(Op::ENDSWITCH), I(Op::END)});
  Diagnostic d;
  EXPECT_TRUE(verify(ok, nullptr, &d)) << d.str();
}

TEST(VerifierHandBuilt, UnknownOperandKind) {
  for (int kind : {static_cast<int>(Kind::Count), static_cast<int>(Kind::Count) + 1, 200, 255}) {
    SCOPED_TRACE(kind);
    EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), K(kind)), I(Op::END)}), 0,
                            "mov operand b must be a number"));
    EXPECT_TRUE(rejected_at(hand({I(Op::MOV, K(kind), Im(1)), I(Op::END)}), 0,
                            "mov operand a must be writable"));
    EXPECT_TRUE(
        rejected_at(hand({I(Op::FIND, K(kind), Im(0), 0), I(Op::END)}), 0, "must be a register"));
    EXPECT_TRUE(rejected_at(hand({I(Op::COPY, K(kind), Pk(0), 0, kLengthConst), I(Op::END)}), 0,
                            "memory reference"));
    EXPECT_TRUE(rejected_at(hand({I(Op::REWRITE, K(kind), Im(1)), I(Op::END)}), 0,
                            "rewritable header field"));
    EXPECT_TRUE(rejected_at(hand({I(Op::LOOKUP, R(0), K(kind), kNoTarget, 0), I(Op::END)}), 0,
                            "must be a key"));
    EXPECT_TRUE(rejected_at(hand({I(Op::CMP16, K(kind), By(1)), I(Op::END)}), 0, "must be a key"));
    EXPECT_TRUE(
        rejected_at(hand({I(Op::NOP, K(kind)), I(Op::END)}), 0, "nop operand a must be empty"));
    EXPECT_TRUE(rejected_at(hand({I(Op::PRINT, Im(1), K(kind)), I(Op::END)}), 0,
                            "print operand b must be a number"));
  }
  // Known kinds in the wrong slot.
  EXPECT_TRUE(rejected_at(hand({I(Op::NOT, Im(3)), I(Op::END)}), 0, "must be writable"));
  EXPECT_TRUE(rejected_at(hand({I(Op::END, R(1))}), 0, "end operand a must be empty"));
  EXPECT_TRUE(rejected_at(hand({I(Op::JMP, {}, R(1), 1), I(Op::END)}), 0, "must be empty"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::PUSH, By(1)), I(Op::POP, R(0)), I(Op::END)}), 0, "must be a number"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), {}), I(Op::END)}), 0, "must be a number"));
}

TEST(VerifierHandBuilt, UnknownOpcodeAndAux) {
  EXPECT_TRUE(rejected_at(hand({I(Op::NOP), I(static_cast<Op>(kOpCount)), I(Op::END)}), 1,
                          "unknown opcode"));
  EXPECT_TRUE(rejected_at(hand({I(static_cast<Op>(255)), I(Op::END)}), 0, "unknown opcode"));
  EXPECT_TRUE(rejected_at(hand({I(Op::MOV, R(0), Im(1), kNoTarget, 1), I(Op::END)}), 0,
                          "mov: unexpected aux field"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::CSUM, {}, {}, kNoTarget, 0), I(Op::END)}), 0, "csum: bad selection"));
  EXPECT_TRUE(rejected_at(hand({I(Op::CSUM, {}, {}, kNoTarget, csum::kOut), I(Op::END)}), 0,
                          "csum: bad selection"));
  EXPECT_TRUE(rejected_at(hand({I(Op::CSUM, {}, {}, kNoTarget, 0x7), I(Op::END)}), 0,
                          "csum: bad selection"));
  EXPECT_TRUE(rejected_at(hand({I(Op::COPY, Pk(0), Pk(4), 70000, kLengthConst), I(Op::END)}), 0,
                          "copy: length too large"));
  EXPECT_TRUE(
      rejected_at(hand({I(Op::TADD, Im(1), Im(2), kNoTarget, 1), I(Op::END)}), 0, "no table 1"));
}

TEST(VerifierHandBuilt, BadTableDeclarations) {
  auto with_table = [](TableDecl t) {
    Program p = hand({I(Op::END)});
    p.tables = {t};
    return p;
  };
  EXPECT_TRUE(
      rejected_at(with_table({"a", TableKind::Array, 8, 8, 4}), 0, "table 'a' has a bad key size"));
  EXPECT_TRUE(rejected_at(with_table({"l", TableKind::Lpm6, 4, 8, 4}), 0, "bad key size"));
  EXPECT_TRUE(rejected_at(with_table({"h", TableKind::Hash, 0, 8, 4}), 0, "bad key size"));
  EXPECT_TRUE(rejected_at(with_table({"h", TableKind::Hash, 65, 8, 4}), 0, "bad key size"));
  EXPECT_TRUE(rejected_at(with_table({"h", TableKind::Hash, 4, 0, 4}), 0, "bad value size"));
  EXPECT_TRUE(rejected_at(with_table({"h", TableKind::Hash, 4, 257, 4}), 0, "bad value size"));
  EXPECT_TRUE(rejected_at(with_table({"h", TableKind::Hash, 4, 8, 0}), 0, "bad maximum size"));
  EXPECT_TRUE(rejected_at(with_table({"h", TableKind::Hash, 4, 8, kMaxTableEntries + 1}), 0,
                          "bad maximum size"));
  Program many = hand({I(Op::END)});
  many.tables.assign(kMaxTables + 1, TableDecl{"x", TableKind::Array, 4, 8, 1});
  EXPECT_TRUE(rejected_at(many, 0, "too many tables"));
  // Wide values need memory operands; tadd needs numeric values.
  Program wide = hand({I(Op::LOOKUP, R(0), Im(1), kNoTarget, 0), I(Op::END)});
  wide.tables[0].value_size = 16;
  EXPECT_TRUE(rejected_at(wide, 0, "lookup of 16-byte values needs a buffer"));
  wide.code[0] = I(Op::UPDATE, Im(1), Im(2), kNoTarget, 0);
  EXPECT_TRUE(rejected_at(wide, 0, "update of 16-byte values needs a buffer"));
  wide.code[0] = I(Op::TADD, Im(1), Im(2), kNoTarget, 0);
  EXPECT_TRUE(rejected_at(wide, 0, "tadd needs a table with numeric values"));
}

// A table kind the VM does not know must not pass the verifier (it fails
// later at load, and `netcpu check` would call the program fine).
TEST(VerifierHandBuilt, UnknownTableKind) {
  Program p = hand({I(Op::END)});
  p.tables = {{"weird", static_cast<TableKind>(7), 4, 8, 4}};
  Diagnostic d;
  bool accepted = verify(p, nullptr, &d).has_value();
  // Whatever verify says, loading must fail cleanly.
  EXPECT_EQ(Instance::create(p, HostCaps{}, Limits{}, nullptr, &d), nullptr);
  if (accepted)
    FAIL() << "regression: verify() accepts a table of unknown kind 7 (Instance::create then "
              "refuses it)";
}

// ---- whatever is accepted runs ------------------------------------------------------

// Random instructions with mostly-plausible fields: the verifier either rejects
// them (with a message) or the program runs without crashing.
TEST(VerifierHandBuilt, RandomInstructionsNeverCrash) {
  std::mt19937_64 rng(20240611);
  auto pick = [&](uint64_t n) { return static_cast<uint64_t>(rng() % n); };
  const int64_t imms[] = {0,  1,  2,  4,          8,         14,        16,
                          60, -1, -8, 0x7fffffff, INT64_MIN, INT64_MAX, 1 << 20};
  auto operand = [&](size_t code_size) {
    Operand o;
    uint64_t k = pick(20);
    o.kind = k < 17 ? static_cast<Kind>(k % static_cast<uint64_t>(Kind::Count))
                    : static_cast<Kind>(Kind::Count);
    o.reg = static_cast<uint8_t>(pick(10) == 0 ? pick(256) : pick(kMappedCount));
    if (o.kind == Kind::Reg) o.reg %= pick(8) == 0 ? 20 : 16;
    o.attr = static_cast<uint8_t>(pick(4) == 0 ? pick(256) : pick(0x80));
    o.imm = pick(3) == 0 ? imms[pick(std::size(imms))] : static_cast<int64_t>(pick(code_size + 24));
    if (o.kind == Kind::Bytes) o.imm = static_cast<int64_t>(pick(4));
    return o;
  };
  size_t accepted = 0, total = 0;
  std::vector<std::vector<uint8_t>> packets = {
      std::vector<uint8_t>(60, 0), ipv4_frame(6, 0x0a000001, 0x0a000002, 1000, 80, "GET /"),
      ipv4_frame(17, 0xc0a80001, 0x08080808, 53, 53, "q")};
  for (int iter = 0; iter < 30000; ++iter) {
    Program p;
    p.source_file = "rand.ncpu";
    size_t n = 1 + pick(6);
    for (size_t i = 0; i < n; ++i) {
      Insn in;
      in.op = static_cast<Op>(pick(50) == 0 ? pick(256) : pick(kOpCount));
      const OpInfo* info = static_cast<size_t>(in.op) < kOpCount ? &op_info(in.op) : nullptr;
      if (info && info->a != Slot::None && pick(8)) in.a = operand(n);
      if (info && info->b != Slot::None && pick(8)) in.b = operand(n);
      if (!info || pick(10) == 0) in.a = operand(n), in.b = operand(n);
      bool wants_target = info && info->target != Target::None;
      if (wants_target)
        in.target = static_cast<uint32_t>(pick(4) == 0 ? pick(UINT32_MAX) : pick(n + 2));
      else if (pick(20) == 0)
        in.target = static_cast<uint32_t>(pick(n));
      if (info && info->aux == Aux::Checksum)
        in.aux = static_cast<uint8_t>(pick(0x100));
      else if (info && info->aux == Aux::LengthReg)
        in.aux = pick(2) ? kLengthConst : static_cast<uint8_t>(pick(0x100));
      else if (info && info->aux == Aux::Table)
        in.aux = static_cast<uint8_t>(pick(4));
      else if (pick(30) == 0)
        in.aux = static_cast<uint8_t>(pick(256));
      p.code.push_back(in);
    }
    p.code.push_back(I(pick(2) ? Op::END : Op::DROP));
    if (pick(3) == 0) {
      // A function at the end.
      p.symbols.push_back({"f", SymbolKind::Func, static_cast<uint32_t>(p.code.size()), 0});
      p.code.push_back(I(Op::NOP));
      p.code.push_back(I(Op::RET));
    }
    p.data.assign(pick(3) * 16, 0);
    p.strings = {"abc", std::string(16, '\x20'), std::string(4, '\x0a'), ""};
    p.tables = {{"h", TableKind::Hash, 4, 8, 8},
                {"a", TableKind::Array, 4, 8, 4},
                {"big", TableKind::Hash, 16, 16, 4}};
    if (pick(2)) p.tables.push_back({"l6", TableKind::Lpm6, 16, 8, 4});
    if (pick(4) == 0) p.timers.push_back({"t", static_cast<uint32_t>(pick(p.code.size())), 10});
    if (pick(4) == 0) p.init_pc = static_cast<uint32_t>(pick(p.code.size()));
    ++total;
    Diagnostic d;
    HostCaps caps;
    caps.max_packet = 256;
    if (!verify(p, &caps, &d)) {
      ASSERT_FALSE(d.message.empty());
      continue;
    }
    ++accepted;
    Limits lim;
    lim.budget = 200;
    lim.output_burst = 2;
    auto vm = Instance::create(
        p, caps, lim, [](OutputKind, std::string_view) {}, &d);
    if (!vm) continue;  // .init may abort
    for (const auto& pk : packets) {
      std::vector<uint8_t> buf(pk);
      buf.resize(256);
      uint32_t len = static_cast<uint32_t>(pk.size());
      RunResult r = vm->run(buf.data(), len, static_cast<uint32_t>(buf.size()), PacketMeta{});
      EXPECT_LE(len, 256u);
      EXPECT_EQ(r.length, len);
    }
    for (size_t t = 0; t < vm->program().timers.size(); ++t) vm->run_timer(t, PacketMeta{});
  }
  EXPECT_GT(accepted, total / 100)
      << "too few random programs verified to exercise the interpreter";
  RecordProperty("accepted", static_cast<int>(accepted));
}

}  // namespace
}  // namespace netcpu::test
