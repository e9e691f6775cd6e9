// The interpreter's filter loop (interpreter_filter.cpp) against its whole
// loop: a filter program runs in the filter loop unless profiling is on,
// and must give the same verdicts, fault pcs, instruction counts and
// counters either way, including where the filter loop hands a run over
// (a fault, the budget).
#include "vm_test_util.h"

namespace netcpu::test {
namespace {

std::unique_ptr<Instance> interpreted(const std::string& src, uint64_t budget, bool profiling) {
  Limits limits;
  limits.jit = false;
  limits.budget = budget;
  Diagnostic d;
  auto vm = Instance::create(assemble_ok(src), HostCaps{}, limits, nullptr, &d);
  EXPECT_TRUE(vm) << d.str();
  if (vm) vm->set_profiling(profiling);
  return vm;
}

std::string outcome(const RunResult& r) {
  return std::string(verdict_name(r.verdict)) + (r.aborted ? " aborted " : " ") +
         abort_reason_name(r.reason) + " pc " + std::to_string(r.abort_pc) + " count " +
         std::to_string(r.instructions) + " length " + std::to_string(r.length);
}

std::string counters(const Stats& s) {
  return std::to_string(s.packets) + " packets " + std::to_string(s.passed) + " passed " +
         std::to_string(s.dropped) + " dropped " + std::to_string(s.instructions) +
         " instructions " + std::to_string(s.aborted) + " aborted " + std::to_string(s.errors) +
         " errors";
}

// Frames of every length that matters to these programs: empty, cut inside
// the Ethernet header, IPv4 and IPv6 headers, whole.
std::vector<std::vector<uint8_t>> frames() {
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> ip4(74, 0);
  ip4[12] = 0x08, ip4[14] = 0x45, ip4[23] = 6, ip4[26] = 10, ip4[36] = 0, ip4[37] = 80;
  std::vector<uint8_t> ip6(94, 0);
  ip6[12] = 0x86, ip6[13] = 0xdd, ip6[20] = 17;
  for (const auto& f : {ip4, ip6})
    for (size_t cut : {size_t{0}, size_t{13}, size_t{24}, size_t{38}, f.size()})
      out.emplace_back(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(cut));
  return out;
}

TEST(InterpreterFilter, GivesTheWholeInterpretersResults) {
  const std::string programs[] = {
      // A translated tcpdump expression: loads at constant offsets and at
      // X + k, fused with their branches.
      ".onfault drop\n.text:\n    mov gpr0, pkt.u16[12]\n    bne gpr0, 0x800, no\n"
      "    mov gpr1, pkt.u8[14]\n    and gpr1, 15\n    shl gpr1, 2\n"
      "    mov gpr0, pkt.u16[gpr1 + 16]\n    beq gpr0, 80, yes\nno:\n    drop\nyes:\n    pass\n",
      // Every width, a gpr/gpr branch, arithmetic that never faults.
      ".text:\n    mov gpr2, pkt.u64[0]\n    mov gpr3, pkt.u32[8]\n    div gpr2, gpr4\n"
      "    mod gpr3, gpr4\n    sar gpr2, 70\n    mov gpr4, pkt.u8[gpr3 + 0]\n"
      "    bltu gpr2, gpr3, no\n    bset gpr4, 1, no\n    end\nno:\n    drop\n",
      // A loop over the frame's bytes (a backward jump): its count grows with
      // the frame, and a small budget stops it.
      ".onfault pass\n.text:\n    mov gpr1, 0\nloop:\n    mov gpr2, pkt.u8[gpr1 + 0]\n"
      "    add gpr0, gpr2\n    add gpr1, 1\n    bltu gpr1, 40, loop\n"
      "    bgtu gpr0, 100, big\n    drop\nbig:\n    pass\n",
      // gprs read before any write start at zero on every run.
      ".text:\n    bne gpr7, 0, no\n    mov gpr7, 9\n    jmp yes\nno:\n    drop\nyes:\n    nop\n"
      "    pass\n",
  };
  for (const std::string& src : programs) {
    for (uint64_t budget : {Limits{}.budget, uint64_t{5}, uint64_t{30}}) {
      auto filter = interpreted(src, budget, false);
      auto whole = interpreted(src, budget, true);
      ASSERT_TRUE(filter && whole);
      for (const auto& frame : frames()) {
        std::vector<uint8_t> a = frame, b = frame;
        uint32_t a_len = static_cast<uint32_t>(a.size()), b_len = a_len;
        const RunResult ra = filter->run(a.data(), a_len, a_len, {});
        const RunResult rb = whole->run(b.data(), b_len, b_len, {});
        EXPECT_EQ(outcome(ra), outcome(rb))
            << src << "budget " << budget << ", frame of " << frame.size() << " bytes";
      }
      EXPECT_EQ(counters(filter->stats()), counters(whole->stats())) << src;
    }
  }
}

TEST(InterpreterFilter, RunsAsSaysWhichLoopRuns) {
  const std::string filter =
      ".text:\n    mov gpr0, pkt.u16[12]\n    beq gpr0, 0x806, no\n"
      "    pass\nno:\n    drop\n";
  auto vm = interpreted(filter, Limits{}.budget, false);
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm->runs_as(), "interpreter (native code turned off), in its filter loop");
  vm->set_profiling(true);  // counts each instruction: the whole loop
  EXPECT_EQ(vm->runs_as(), "interpreter (native code turned off)");
  // A mapped register (the parser's memo) is state: not a filter form.
  auto mapped = interpreted(".text:\n    beq eth.type, 0x806, no\n    pass\nno:\n    drop\n",
                            Limits{}.budget, false);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(mapped->runs_as(), "interpreter (native code turned off)");
}

TEST(InterpreterFilter, AFaultHandedOverCountsOnce) {
  // The short frame faults in the filter loop and runs again in the whole
  // interpreter: one packet, one abort, the load's pc.
  auto vm = interpreted(
      ".onfault drop\n.text:\n    mov gpr0, pkt.u16[12]\n    beq gpr0, 0x800, no\n    pass\n"
      "no:\n    drop\n",
      Limits{}.budget, false);
  ASSERT_TRUE(vm);
  std::vector<uint8_t> short_frame(10, 0);
  uint32_t len = 10;
  const RunResult r = vm->run(short_frame.data(), len, len, {});
  EXPECT_TRUE(r.aborted);
  EXPECT_EQ(r.verdict, Verdict::Drop);
  EXPECT_EQ(r.reason, AbortReason::Fault);
  EXPECT_EQ(r.abort_pc, 0u);
  EXPECT_EQ(r.instructions, 1u);
  EXPECT_EQ(counters(vm->stats()),
            "1 packets 0 passed 1 dropped 1 instructions 1 aborted 1 errors");
}

}  // namespace
}  // namespace netcpu::test
