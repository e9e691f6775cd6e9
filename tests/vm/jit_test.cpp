// The JIT against the interpreter: each program runs over the same packets
// natively and interpreted, and every observable result must be equal
// (verdict, fault and its pc, instructions executed, heap afterwards, counters).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "guarded_packet.h"
#include "netcpu/assembler.h"
#include "netcpu/vm.h"
#include "vm_test_util.h"

namespace netcpu {
namespace {

std::vector<std::vector<uint8_t>> packets() {
  std::vector<std::vector<uint8_t>> p;
  p.push_back(test::ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80));
  p.push_back(test::ipv4_frame(17, 0xc0a80101, 0x0a000002, 53, 9, "payload bytes"));
  p.push_back(test::ipv4_frame(17, 0x7f000001, 0xe0000001, 123, 123));
  p.push_back(test::ipv4_frame(6, 0x0a000003, 0x0a000002, 22, 443));
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08, arp[13] = 0x06;
  p.push_back(arp);  // too odd to be ARP: hardware and protocol lengths 0
  arp[15] = 1, arp[16] = 0x08, arp[18] = 6, arp[19] = 4, arp[21] = 1;
  p.push_back(arp);  // a request
  auto truncated = test::ipv4_frame(6, 0x0a000001, 0x0a000002, 1, 2);
  truncated.resize(30);
  p.push_back(truncated);
  // TCP cut inside its header, in buffers of exactly that size: nothing may
  // read past the end (the data offset is byte 46).
  for (size_t cut : {42, 46, 53}) {
    auto tcp = test::ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80);
    tcp.resize(cut);
    p.push_back(tcp);
  }
  auto fragment = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 123, 123);
  fragment[14 + 6] = 0x00, fragment[14 + 7] = 0x10;  // a later fragment: no ports
  p.push_back(fragment);
  auto icmp = test::ipv4_frame(1, 0x0a000001, 0x0a000002, 0x0800, 0);
  p.push_back(icmp);
  std::vector<uint8_t> ip6(14 + 40 + 8, 0);  // IPv6/UDP 53 -> 9
  ip6[12] = 0x86, ip6[13] = 0xdd, ip6[14] = 0x60, ip6[14 + 5] = 8, ip6[14 + 6] = 17;
  ip6[54 + 1] = 53, ip6[54 + 3] = 9, ip6[54 + 5] = 8;
  p.push_back(ip6);
  p.push_back({0x01, 0x02, 0x03});
  p.push_back({});
  return p;
}

std::unique_ptr<Instance> load(const std::string& src, const Limits& limits = {}) {
  Program prog = test::assemble_ok(src);
  Diagnostic d;
  auto vm = Instance::create(std::move(prog), HostCaps{}, limits, nullptr, &d);
  EXPECT_TRUE(vm) << d.str();
  return vm;
}

// Runs src natively and interpreted over every packet; both must agree.
void expect_same(const std::string& src, const Limits& limits = {}) {
  SCOPED_TRACE(src);
  Limits interpreted = limits;
  interpreted.jit = false;
  auto jit = load(src, limits), interp = load(src, interpreted);
  ASSERT_TRUE(jit && interp);
  ASSERT_TRUE(jit->jit_compiled()) << jit->jit_status();
  size_t i = 0;
  test::GuardedBuffer guard(2048);
  for (auto bytes : packets()) {
    SCOPED_TRACE("packet " + std::to_string(i++));
    auto copy = bytes;
    uint8_t* guarded = guard.put(bytes);
    uint32_t lj = static_cast<uint32_t>(bytes.size()), li = lj;
    // An empty packet stays a null pointer: the interpreter's NoPacket case.
    const RunResult a = jit->run(bytes.empty() ? nullptr : guarded, lj, lj, PacketMeta{});
    const RunResult b = interp->run(copy.data(), li, li, PacketMeta{});
    bytes.assign(guarded, guarded + bytes.size());
    EXPECT_STREQ(verdict_name(a.verdict), verdict_name(b.verdict));
    EXPECT_EQ(a.aborted, b.aborted);
    EXPECT_STREQ(abort_reason_name(a.reason), abort_reason_name(b.reason));
    EXPECT_EQ(a.abort_pc, b.abort_pc);
    EXPECT_EQ(a.instructions, b.instructions);
    EXPECT_EQ(a.length, b.length);
    EXPECT_EQ(bytes, copy);
  }
  EXPECT_EQ(std::vector<uint8_t>(jit->heap().begin(), jit->heap().end()),
            std::vector<uint8_t>(interp->heap().begin(), interp->heap().end()));
  for (auto c : {&Stats::packets, &Stats::passed, &Stats::dropped, &Stats::aborted, &Stats::errors,
                 &Stats::instructions})
    EXPECT_EQ((jit->stats().*c).load(), (interp->stats().*c).load());
}

TEST(Jit, PacketLoadsAtConstantAndComputedOffsets) {
  expect_same(
      ".text:\n    mov gpr0, pkt.u16[12]\n    bne gpr0, 0x800, other\n"
      "    mov gpr1, pkt.u8[14]\n    and gpr1, 15\n    shl gpr1, 2\n"
      "    mov gpr2, pkt.u16[gpr1 + 14]\n    mov gpr3, pkt.u32[gpr1 + 18]\n"
      "    mov gpr4, pkt.u64[26]\n    mov gpr5, pkt.h32[26]\n"
      "    beq gpr2, 80, no\n    bgtu gpr3, gpr4, no\n    beq gpr5, 0, no\nother:\n"
      "    pass\nno:\n    drop\n");
}

// wlen comes from the run's PacketMeta (wire_len, or the length when 0):
// native code reads it exactly as the interpreter does, in a leaf and in
// code that calls the parser, with every kind of wire length.
TEST(Jit, WireLengthReadsAsTheInterpreterReadsIt) {
  const std::vector<std::string> programs = {
      // A leaf, as translated tcpdump `len`/`greater`/`ether[len - 1]` are.
      ".data:\nnum seen 0\n.text:\n    mov seen, wlen\n    mov gpr0, wlen\n    sub gpr0, 1\n"
      "    mov gpr1, pkt.u8[gpr0]\n    bgtu wlen, 100, big\n    beq gpr1, 0, big\n    drop\n"
      "big:\n    pass\n",
      // Code that calls the parser, wlen read before and after it.
      ".data:\nnum seen 0\nnum both 0\n.text:\n    mov gpr2, wlen\n    beq has.ip4, 0, done\n"
      "    mov seen, ip.src\n    add seen, wlen\n    mov both, mlen\n    add both, gpr2\n"
      "    bltu wlen, mlen, done\n    drop\ndone:\n    pass\n",
  };
  for (const std::string& src : programs) {
    SCOPED_TRACE(src);
    Limits interpreted;
    interpreted.jit = false;
    auto jit = load(src), interp = load(src, interpreted);
    ASSERT_TRUE(jit && interp);
    ASSERT_TRUE(jit->jit_compiled()) << jit->jit_status();
    test::GuardedBuffer guard(2048);
    for (auto bytes : packets()) {
      if (bytes.empty()) continue;
      const auto len = static_cast<uint32_t>(bytes.size());
      for (uint32_t wire : {0u, len, len + 1, 99u, 101u, 262144u, 0xffffffffu, len / 2}) {
        SCOPED_TRACE(std::to_string(len) + " bytes, wire_len " + std::to_string(wire));
        PacketMeta meta;
        meta.wire_len = wire;
        auto copy = bytes;
        uint32_t lj = len, li = len;
        const RunResult a = jit->run(guard.put(bytes), lj, lj, meta);
        const RunResult b = interp->run(copy.data(), li, li, meta);
        EXPECT_STREQ(verdict_name(a.verdict), verdict_name(b.verdict));
        EXPECT_EQ(a.aborted, b.aborted);
        EXPECT_EQ(a.abort_pc, b.abort_pc);
        EXPECT_EQ(a.instructions, b.instructions);
        EXPECT_EQ(std::vector<uint8_t>(jit->heap().begin(), jit->heap().end()),
                  std::vector<uint8_t>(interp->heap().begin(), interp->heap().end()));
        if (src.find("mov seen, wlen") != std::string::npos) {  // what wlen read
          uint64_t seen;
          std::memcpy(&seen, jit->heap().data(), 8);
          EXPECT_EQ(seen, wire ? wire : len);
        }
      }
    }
  }
}

TEST(Jit, FaultsStopAtTheSameInstructionWithTheSameVerdict) {
  for (const char* onfault : {"", ".onfault pass\n", ".onfault drop\n"}) {
    expect_same(std::string(onfault) +
                ".text:\n    mov gpr0, 1\n    mov gpr1, pkt.u8[40]\n    add gpr0, gpr1\n"
                "    mov gpr2, pkt.u32[gpr0 + 50]\n    beq gpr2, 7, no\n    pass\nno:\n    drop\n");
  }
}

// rand is the one operand whose read changes state: both engines read an
// instruction's operands in order, a then b, and stop at the first fault, so
// every run draws the same numbers (the heap keeps them across packets).
TEST(Jit, RandReadsInTheInterpretersOrderAroundFaults) {
  expect_same(".text:\n    bge rand, rand, a\n    drop\na:\n    pass\n");
  expect_same(
      ".onfault pass\n.data:\n    num v0 0\n.text:\n    mov v0, rand\n"
      "    bltu rand, pkt.u32[5000], a\na:\n    pass\n");
  expect_same(
      ".onfault pass\n.data:\n    num v0 0\n.text:\n    mov v0, rand\n"
      "    bltu pkt.u32[5000], rand, a\na:\n    pass\n");
  expect_same(
      ".onfault drop\n.data:\n    num v0 0\n    num v1 0\n.text:\n    add v1, rand\n"
      "    bgtu pkt.u8[rand], v1, a\n    mov v0, rand\na:\n    add v0, rand\n    pass\n");
}

TEST(Jit, HeaderFieldsThroughTheParser) {
  expect_same(
      ".text:\n    beq has.ip4, 0, allow\n    mov gpr0, ip.src\n    and gpr0, 0xff000000\n"
      "    beq gpr0, 0x7f000000, deny\n    bne ip.proto, PROTO_TCP, udp\n"
      "    beq l4.dport, 80, allow\n    mov gpr1, pkt.u16[l4 + 2]\n"
      "    beq gpr1, 443, allow\n    jmp deny\nudp:\n    blt l4.sport, l4.dport, deny\n"
      "    bgeu mlen, 60, allow\ndeny:\n    drop\nallow:\n    pass\n");
}

// The native code parses once per run: where one path to an instruction has
// read a header field and another has not, that instruction must still parse.
TEST(Jit, APathThatHasNotParsedYetStillParses) {
  expect_same(
      ".text:\n    bgtu mlen, 59, long\n    beq ip.proto, PROTO_TCP, tcp\n    jmp merge\n"
      "long:\n    mov gpr0, port\nmerge:\n    bne l4.dport, 80, no\ntcp:\n"
      "    beq has.tcp, 0, no\n    pass\nno:\n    drop\n");
}

TEST(Jit, BranchesOnHasFieldsAgainstZeroAndOne) {
  expect_same(
      ".text:\n    beq has.arp, 1, yes\n    bne has.ip4, 1, no\n    bne has.tcp, 0, yes\n"
      "    beq has.udp, 0, no\n    mov gpr0, has.l4\n    beq gpr0, 1, yes\nno:\n    drop\n"
      "yes:\n    pass\n");
}

// After a has.* test the native code reads the fields that bit vouches for
// without testing it again, but only where every path made the test.
TEST(Jit, FieldsAHasTestVouchesForAreReadUntestedOnlyWhereEveryPathTested) {
  expect_same(
      ".text:\n    beq has.ip6, 1, six\n    beq has.ip4, 0, no\n    mov gpr0, ip.src\n"
      "    beq has.udp, 0, notudp\n    mov gpr1, l4.dport\n    mov gpr2, has.l4\n"
      "    add gpr1, gpr2\n    jmp merge\nnotudp:\n    mov gpr1, l4.sport\n"
      "    bne has.ip4, 0, merge\nsix:\n    mov gpr3, ip.proto\n    mov gpr1, l4.dport\n"
      "merge:\n    add gpr1, l4.dport\n    add gpr1, icmp.type\n    beq has.l4, 1, transport\n"
      "    beq has.ip4, 0, no\n    beq gpr0, 0x0a000001, yes\n    drop\ntransport:\n"
      "    beq gpr1, 18, yes\n    beq gpr1, 118, yes\n    bne has.tcp, 0, yes\nno:\n"
      "    drop\nyes:\n    pass\n");
}

// Jumps take the short form where they reach: branches over every distance
// around the 127 bytes a short jump spans must land where the interpreter goes.
TEST(Jit, JumpsOverShortAndLongDistancesLandWhereTheInterpreterGoes) {
  for (int n : {0, 1, 8, 16, 24, 28, 30, 31, 32, 33, 34, 36, 40, 48, 64}) {
    std::string filler;
    for (int i = 0; i < n; ++i) filler += "    add gpr1, " + std::to_string(i % 3 + 1) + "\n";
    expect_same(".text:\n    mov gpr1, 0\n    bgtu mlen, 59, long\n    beq ip.proto, 6, tcp\n" +
                filler + "long:\n" + filler + "    bgtu gpr1, 50, no\ntcp:\n" + filler +
                "    beq has.tcp, 1, yes\n    bltu gpr1, 20, yes\nno:\n    drop\nyes:\n    pass\n");
  }
}

// Every run starts with its gprs at 0, also those the code keeps in host
// registers: a gpr read before any write is 0 on each packet, not what the
// previous run left.
TEST(Jit, GprsReadBeforeAWriteAreZeroOnEveryRun) {
  expect_same(
      ".text:\n    add gpr0, 1\n    add gpr1, gpr0\n    add gpr2, pkt.u8[0]\n"
      "    add gpr3, gpr2\n    bne gpr1, 1, no\n    bgtu gpr3, 255, no\n    pass\nno:\n"
      "    drop\n");
}

TEST(Jit, ArithmeticEdgeCases) {
  expect_same(
      ".text:\n    mov gpr0, pkt.u8[14]\n    mov gpr1, 0\n    mov gpr2, 100\n"
      "    div gpr2, gpr1\n    mov gpr3, 100\n    mod gpr3, gpr1\n    mov gpr4, gpr0\n"
      "    shl gpr4, gpr2\n    mov gpr5, -8\n    sar gpr5, 70\n    mov gpr6, -8\n"
      "    mov gpr7, 64\n    shr gpr6, gpr7\n    mov gpr8, 0x123456789\n    mul gpr8, gpr0\n"
      "    not gpr8\n    neg gpr0\n    xor gpr0, 0xff\n    sub gpr0, 3\n"
      "    mov gpr9, 17\n    div gpr9, 5\n    mod gpr2, 7\n"
      "    blt gpr5, 0, neg\n    drop\nneg:\n    bne gpr2, 0, no\n    bne gpr3, 100, no\n"
      "    bne gpr4, 0, no\n    bne gpr6, 0, no\n    bne gpr9, 3, no\n    pass\nno:\n    drop\n");
}

TEST(Jit, HeapVariablesKeepTheirValuesAcrossRuns) {
  expect_same(
      ".data:\nnum seen 0\nnum tcp 5\n.text:\n    add seen, 1\n"
      "    bne ip.proto, PROTO_TCP, done\n    mov gpr0, tcp\n    add gpr0, mlen\n"
      "    mov tcp, gpr0\ndone:\n    pass\n");
}

TEST(Jit, SignedAndUnsignedBranches) {
  expect_same(
      ".text:\n    mov gpr0, -1\n    bltu gpr0, 5, no\n    bge gpr0, 0, no\n"
      "    ble gpr0, -2, no\n    bgt gpr0, 0x7fffffff, no\n    bset gpr0, 0x100, ok1\n"
      "    drop\nok1:\n    bclr gpr0, 0, no\n    bleu mlen, 0x100000000, ok2\n    drop\n"
      "ok2:\n    beq mlen, 0, no\n    pass\nno:\n    drop\n");
}

TEST(Jit, ASmallBudgetRunsTheInterpreterWithTheSameResults) {
  Limits tight;
  tight.budget = 3;  // below the longest path: the interpreter enforces it
  const char* src =
      ".text:\n    mov gpr0, 1\n    add gpr0, 1\n    add gpr0, 1\n    add gpr0, 1\n"
      "    pass\n";
  auto vm = load(src, tight);
  ASSERT_TRUE(vm && vm->jit_compiled());
  std::vector<uint8_t> pkt(60, 0);
  uint32_t len = 60;
  RunResult r = vm->run(pkt.data(), len, len, PacketMeta{});
  EXPECT_TRUE(r.aborted);
  EXPECT_EQ(r.reason, AbortReason::Budget);
  Limits enough = vm->limits();
  enough.budget = 5;
  vm->set_limits(enough);
  r = vm->run(pkt.data(), len, len, PacketMeta{});
  EXPECT_FALSE(r.aborted);
  EXPECT_EQ(r.instructions, 5u);
}

TEST(Jit, WhatTheJitLeavesToTheInterpreterIsNamed) {
  auto loop = load(
      ".text:\n    mov gpr0, 3\nagain:\n    sub gpr0, 1\n    bne gpr0, 0, again\n"
      "    pass\n");
  ASSERT_TRUE(loop);
  EXPECT_FALSE(loop->jit_compiled());
  EXPECT_NE(loop->jit_status().find("loop"), std::string::npos) << loop->jit_status();
  auto table = load(
      ".data:\ntable t hash key 4 value 8 max 16\n.text:\n    tadd t, ip.src, 1\n"
      "    pass\n");
  ASSERT_TRUE(table);
  EXPECT_FALSE(table->jit_compiled());
  EXPECT_NE(table->jit_status().find("line 4: tadd"), std::string::npos) << table->jit_status();
}

TEST(Jit, ProfilingCountsEveryInstructionThroughTheInterpreter) {
  auto vm = load(".text:\n    mov gpr0, pkt.u8[0]\n    beq gpr0, 1, no\n    pass\nno:\n    drop\n");
  ASSERT_TRUE(vm && vm->jit_compiled());
  vm->set_profiling(true);
  std::vector<uint8_t> pkt(60, 0);
  uint32_t len = 60;
  vm->run(pkt.data(), len, len, PacketMeta{});
  EXPECT_EQ(vm->profile()[0], 1u);
  EXPECT_EQ(vm->profile()[2], 1u);
}

}  // namespace
}  // namespace netcpu
