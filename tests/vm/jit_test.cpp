// The JIT against the interpreter: each program runs over the same packets
// natively and interpreted, and every observable result must be equal
// (verdict, fault and its pc, instructions executed, heap afterwards, counters).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
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
  p.back()[18] = 0x12, p.back()[19] = 0x34;  // an IPv4 id
  p[1][19] = 0x56;
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
  // TCP data offsets: 6 words (4 bytes of options), 4 (too short: no TCP
  // header), 15 (past the frame's end).
  for (uint8_t offset : {0x60, 0x40, 0xf0}) {
    auto tcp = test::ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80, "some data");
    tcp[14 + 20 + 12] = offset;
    if (offset == 0x60) tcp.insert(tcp.begin() + 54, {1, 1, 1, 1});
    p.push_back(tcp);
  }
  auto fragment = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 123, 123);
  fragment[14 + 6] = 0x00, fragment[14 + 7] = 0x10;  // a later fragment: no ports
  p.push_back(fragment);
  fragment[14 + 6] = 0x20, fragment[14 + 7] = 0x00;  // the first of several: MF
  p.push_back(fragment);
  auto icmp = test::ipv4_frame(1, 0x0a000001, 0x0a000002, 0x0800, 0);
  p.push_back(icmp);
  // IPv4 headers other than 20 bytes: with 4 bytes of options, a header
  // length below 20, version 5; and the header cut one byte short.
  auto options = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 53, 9);
  options.insert(options.begin() + 34, {1, 1, 1, 0});
  options[14] = 0x46;
  p.push_back(options);
  for (uint8_t ver_ihl : {0x44, 0x55}) {
    auto odd = test::ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80);
    odd[14] = ver_ihl;
    p.push_back(odd);
  }
  auto header_cut = test::ipv4_frame(6, 0x0a000001, 0x0a000002, 1, 2);
  header_cut.resize(33);
  p.push_back(header_cut);
  // The whole IPv4 header, half of the UDP one.
  auto transport_cut = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 53, 9);
  transport_cut.resize(38);
  p.push_back(transport_cut);
  // UDP without a checksum (0, which a rewrite leaves 0), and with 0xffff,
  // which rewriting an address to itself would turn into 0 (written 0xffff).
  for (uint8_t sum : {0x00, 0xff}) {
    auto udp = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 53, 9);
    udp[14 + 20 + 6] = sum, udp[14 + 20 + 7] = sum;
    p.push_back(udp);
  }
  std::vector<uint8_t> ip6(14 + 40 + 8, 0);  // IPv6/UDP 53 -> 9
  ip6[12] = 0x86, ip6[13] = 0xdd, ip6[14] = 0x60, ip6[14 + 5] = 8, ip6[14 + 6] = 17;
  ip6[54 + 1] = 53, ip6[54 + 3] = 9, ip6[54 + 5] = 8;
  p.push_back(ip6);
  // Tagged frames: each TPID the parser steps over, QinQ, and a tag cut
  // short (eth.type 0).
  for (uint16_t tpid : {0x8100, 0x88a8, 0x9100}) {
    auto tagged = test::ipv4_frame(17, 0x0a000001, 0x0a000002, 53, 9);
    const uint8_t tag[4] = {static_cast<uint8_t>(tpid >> 8), static_cast<uint8_t>(tpid), 0x20,
                            0x0a};
    tagged.insert(tagged.begin() + 12, tag, tag + 4);
    p.push_back(tagged);
    if (tpid == 0x88a8) {
      tagged.insert(tagged.begin() + 16, {0x81, 0x00, 0x00, 0x05});
      p.push_back(tagged);
    }
  }
  // What the code parses itself in one 802.1Q tag, and its edges: TCP (and
  // cut inside its header), ICMP, IPv6, options, a fragment, ARP (which
  // only an untagged frame parses inline).
  auto tag = [](std::vector<uint8_t> f) {
    f.insert(f.begin() + 12, {0x81, 0x00, 0xe0, 0x2a});
    return f;
  };
  p.push_back(tag(test::ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80, "data")));
  for (size_t cut : {45, 46, 57}) {
    auto tcp = tag(test::ipv4_frame(6, 0x0a000001, 0x0a000002, 40000, 80));
    tcp.resize(cut);
    p.push_back(tcp);
  }
  p.push_back(tag(icmp));
  p.push_back(tag(options));
  p.push_back(tag(fragment));
  p.push_back(tag(ip6));
  p.push_back(tag(arp));
  auto arp_ip6 = arp;  // protocol addresses of 16 bytes: no has.arp
  arp_ip6[19] = 16;
  p.push_back(arp_ip6);
  p.push_back({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x81, 0x00, 0x00});
  // A tag whose EtherType ends the frame, and the same one byte short.
  std::vector<uint8_t> tag_at_end(18, 0);
  tag_at_end[12] = 0x81, tag_at_end[16] = 0x08, tag_at_end[17] = 0x06;
  p.push_back(tag_at_end);
  tag_at_end.pop_back();
  p.push_back(tag_at_end);
  p.push_back(std::vector<uint8_t>(13, 0x08));
  p.push_back(std::vector<uint8_t>(100, 0xff));  // the largest bytes, for sums
  p.push_back({0x01, 0x02, 0x03});
  p.push_back({});
  return p;
}

struct Loaded {
  std::unique_ptr<Instance> vm;
  std::shared_ptr<std::string> output = std::make_shared<std::string>();
};

Loaded load_with_output(const std::string& src, const Limits& limits = {}) {
  Program prog = test::assemble_ok(src);
  Diagnostic d;
  Loaded l;
  auto out = l.output;
  l.vm = Instance::create(
      std::move(prog), HostCaps{}, limits,
      [out](OutputKind k, std::string_view line) {
        *out += std::to_string(static_cast<int>(k)) + " " + std::string(line) + "\n";
      },
      &d);
  EXPECT_TRUE(l.vm) << d.str();
  return l;
}

std::unique_ptr<Instance> load(const std::string& src, const Limits& limits = {}) {
  return load_with_output(src, limits).vm;
}

std::string tables_of(Instance& vm) {
  std::string s;
  for (size_t t = 0; t < vm.table_count(); ++t) {
    std::vector<std::string> entries;
    vm.table(t).for_each(
        [&](std::span<const uint8_t> k, uint32_t prefix, std::span<const uint8_t> v) {
          std::string e = std::to_string(prefix) + ":";
          for (uint8_t b : k) e += std::to_string(b) + ".";
          e += "=";
          for (uint8_t b : v) e += std::to_string(b) + ".";
          entries.push_back(e);
        });
    std::sort(entries.begin(), entries.end());
    s += vm.table(t).decl().name + ":";
    for (const auto& e : entries) s += " " + e;
    s += "\n";
  }
  return s;
}

// Runs src natively and interpreted over every packet (and its timers after
// each); both must agree on everything a run leaves behind.
void expect_same(const std::string& src, Limits limits = {}) {
  SCOPED_TRACE(src);
  limits.table_seed = 7;  // one hash function for both: tables compare slot by slot
  // No refill of the output's token bucket: which lines pass past the
  // burst must not depend on how long each engine's runs took (a program
  // printing five lines a packet crossed the default 200 under a loaded
  // sanitizer build, and the native side got one more line).
  limits.output_per_second = 0;
  Limits interpreted = limits;
  interpreted.jit = false;
  Loaded jit = load_with_output(src, limits), interp = load_with_output(src, interpreted);
  ASSERT_TRUE(jit.vm && interp.vm);
  ASSERT_TRUE(jit.vm->jit_compiled()) << jit.vm->jit_status();
  ASSERT_EQ(jit.vm->runs_as().find("native code"), 0u) << jit.vm->runs_as();
  size_t i = 0;
  test::GuardedBuffer guard(2048);
  for (auto bytes : packets()) {
    SCOPED_TRACE("packet " + std::to_string(i++));
    // Room to grow (resize) for some packets; others end at the guard page.
    const uint32_t room = i % 2 ? 0 : 64;
    std::vector<uint8_t> copy(bytes.size() + room);
    std::copy(bytes.begin(), bytes.end(), copy.begin());
    bytes.resize(bytes.size() + room);
    uint8_t* guarded = guard.put(bytes);
    uint32_t lj = static_cast<uint32_t>(bytes.size() - room), li = lj;
    const uint32_t capacity = lj + room;
    // An empty packet stays a null pointer: the interpreter's NoPacket case.
    const RunResult a =
        jit.vm->run(bytes.size() == room ? nullptr : guarded, lj, capacity, PacketMeta{});
    const RunResult b =
        interp.vm->run(bytes.size() == room ? nullptr : copy.data(), li, capacity, PacketMeta{});
    bytes.assign(guarded, guarded + bytes.size());
    test::expect_same_result(*jit.vm, a, *interp.vm, b);
    // The timers after each packet, and the .init once: without a packet.
    for (size_t t = 0; t < jit.vm->program().timers.size(); ++t) {
      SCOPED_TRACE("timer " + std::to_string(t));
      PacketMeta m;
      m.now_ms = 1000 + i;
      test::expect_same_result(*jit.vm, jit.vm->run_timer(t, m), *interp.vm,
                               interp.vm->run_timer(t, m));
    }
    EXPECT_EQ(bytes, copy);
    EXPECT_EQ(tables_of(*jit.vm), tables_of(*interp.vm));
    EXPECT_EQ(*jit.output, *interp.output);
  }
  EXPECT_EQ(std::vector<uint8_t>(jit.vm->heap().begin(), jit.vm->heap().end()),
            std::vector<uint8_t>(interp.vm->heap().begin(), interp.vm->heap().end()));
  for (auto c : {&Stats::packets, &Stats::passed, &Stats::dropped, &Stats::aborted, &Stats::errors,
                 &Stats::instructions, &Stats::modified, &Stats::redirected, &Stats::mirrored,
                 &Stats::emitted, &Stats::output_lines, &Stats::output_suppressed})
    EXPECT_EQ((jit.vm->stats().*c).load(), (interp.vm->stats().*c).load());
}

// expect_same under every budget from 1 to past the longest run: a run the
// budget stops stops at the same pc with the same count either way.
void expect_same_under_every_budget(const std::string& src, uint64_t most) {
  for (uint64_t budget = 1; budget <= most; ++budget) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    Limits l;
    l.budget = budget;
    expect_same(src, l);
    if (testing::Test::HasFailure()) return;
  }
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

// The code parses the common frames itself (untagged or in one 802.1Q
// tag; ARP untagged) and calls the parser for the rest: every field the
// parse gives reads the same either way.
TEST(Jit, EveryParsedFieldReadsAsTheParserGivesIt) {
  std::string src = ".text:\n    mov gpr0, payload\n";
  const char* fields[] = {
      "gpr0",    "has.eth", "has.vlan", "has.arp",  "has.ip4",    "has.ip6",   "has.l4",
      "has.tcp", "has.udp", "has.icmp", "eth.type", "vlan.id",    "vlan.pcp",  "l3",
      "l4",      "ip.hlen", "ip.proto", "ip.id",    "ip.fragoff", "ip.mf",     "arp.op",
      "arp.spa", "ip.src",  "l4.sport", "l4.dport", "tcp.flags",  "icmp.type", "ip.ttl"};
  for (size_t i = 0; i + 1 < std::size(fields); i += 2)
    src += std::string("    print \"%x %x\", ") + fields[i] + ", " + fields[i + 1] + "\n";
  Limits limits;
  limits.output_burst = 100000;
  expect_same(src + "    pass\n", limits);
}

// The native code parses once per run: where one path to an instruction has
// read a header field and another has not, that instruction must still parse.
TEST(Jit, APathThatHasNotParsedYetStillParses) {
  expect_same(
      ".text:\n    bgtu mlen, 59, long\n    beq ip.proto, PROTO_TCP, tcp\n    jmp merge\n"
      "long:\n    mov gpr0, port\nmerge:\n    bne l4.dport, 80, no\ntcp:\n"
      "    beq has.tcp, 0, no\n    pass\nno:\n    drop\n");
}

// A foreach whose destination reads a header field has not parsed the
// headers on the way out of an empty walk (found by jit_diff: the rewrite
// after it changed nothing natively).
TEST(Jit, AnEmptyWalkHasNotParsedWhatItsOperandsRead) {
  expect_same(
      ".data:\n    buf pad 256\n    table w hash key 4 value 8 max 8\n.text:\n"
      "    foreach w, gpr2, heap.u64[ip.hlen + 130]\n    endfor\n    rewrite ip.ttl, 0\n"
      "    pass\n");
}

// eth.type is read from the frame where nothing has parsed yet (untagged,
// whole Ethernet header), else through the parser: the same value either
// way, before and after other fields parse, on tagged and short frames.
TEST(Jit, EthTypeReadsAsTheParserGivesIt) {
  expect_same(".text:\n    beq eth.type, ETH_ARP, accept\n    drop\naccept:\n    pass\n");
  expect_same(".text:\n    print \"%x\", eth.type\n    pass\n");
  // The other operand, read first, waits in a register while the tags are
  // walked (jit_diff found it clobbered).
  expect_same(
      ".data:\n    num v 0x800\n.text:\n    print \"%x %x\", eth.type, v\n"
      "    bne eth.type, v, other\n    pass\nother:\n    drop\n");
  expect_same(
      ".text:\n    mov gpr0, eth.type\n    mov gpr1, ip.proto\n    mov gpr2, eth.type\n"
      "    add gpr0, gpr2\n    add gpr0, gpr1\n    bgeu gpr0, 0x1000, big\n    drop\nbig:\n"
      "    pass\n");
  expect_same(
      ".text:\n    bgtu mlen, 59, long\n    mov gpr1, l4.dport\nlong:\n    switch eth.type\n"
      "    case ETH_IP:\n        pass\n    case ETH_ARP:\n        drop\n    default:\n"
      "        mov gpr2, eth.type\n        beq gpr2, 0, short\n        pass\n    endswitch\n"
      "short:\n    drop\n");
}

// Where the code reads eth.type from the frame, it walks the tags as the
// parser does, within the parser's first 65,535 bytes: an EtherType that
// ends there is read, a tag that would end past it leaves 0.
TEST(Jit, EthTypeAfterTagsUpToTheParsersLimit) {
  const std::string src = ".text:\n    print \"%x\", eth.type\n    pass\n";
  Limits interpreted;
  interpreted.jit = false;
  Loaded jit = load_with_output(src), interp = load_with_output(src, interpreted);
  ASSERT_TRUE(jit.vm && interp.vm);
  ASSERT_EQ(jit.vm->runs_as().find("native code"), 0u) << jit.vm->runs_as();
  std::vector<uint8_t> frame(70000, 0);
  for (size_t at = 12; at < 65532; at += 4) frame[at] = 0x81;
  frame[65536] = 0x08;  // IPv4 after the tag that does not fit: not read
  std::string expected;
  for (const uint8_t last : {0x08, 0x81}) {  // ARP at 65532, or one more tag there
    frame[65532] = last, frame[65533] = last == 0x81 ? 0x00 : 0x06;
    for (Loaded* l : {&jit, &interp}) {
      std::vector<uint8_t> copy = frame;
      uint32_t len = static_cast<uint32_t>(copy.size());
      EXPECT_EQ(l->vm->run(copy.data(), len, len, PacketMeta{}).verdict, Verdict::Pass);
    }
  }
  EXPECT_EQ(*interp.output, "0 806\n0 0\n");
  EXPECT_EQ(*jit.output, *interp.output);
}

// ip.src, ip.dst, ip.proto and the network layer's has.* flags are read
// from the frame where nothing has parsed yet (untagged IPv4 with a 20-byte
// header), else through the parser: the same values either way, on every
// frame, whether or not another read parsed before or after, with two read
// by one instruction, as branches on a flag, and after a rewrite.
TEST(Jit, FieldsReadFromTheFrameAsTheParserGivesThem) {
  // Programs that read no other header field: frames are read where they can be.
  expect_same(
      ".text:\n    bne eth.type, ETH_IP, reject\n    bne ip.src, 10.0.0.1, reject\n"
      "    bne ip.dst, 10.0.0.2, reject\n    pass\nreject:\n    drop\n");
  expect_same(
      ".text:\n    bltu ip.src, ip.dst, low\n    mov gpr0, ip.proto\n    mov gpr1, ip.dst\n"
      "    beq gpr0, gpr1, low\n    pass\nlow:\n    mov gpr2, has.ip4\n    beq gpr2, 1, yes\n"
      "    drop\nyes:\n    pass\n");
  expect_same(
      ".text:\n    bgtu mlen, 60, long\n    mov gpr1, ip.proto\nlong:\n    mov gpr0, ip.src\n"
      "    add gpr0, ip.dst\n    add gpr0, gpr1\n    bltu gpr0, 0x14000004, no\n    pass\nno:\n"
      "    drop\n");
  expect_same(
      ".text:\n    print \"%x\", ip.src\n    rewrite ip.src, 10.9.9.9\n"
      "    print \"%x %x\", ip.src, ip.dst\n    pass\n");
  expect_same(
      ".text:\n    print \"%d %d\", has.eth, has.vlan\n    print \"%d %d\", has.arp, has.ip4\n"
      "    print \"%d %d\", has.ip6, has.ip\n    print \"%d\", ip.proto\n    pass\n");
  expect_same(
      ".data:\n    table seen hash key 4 value 8 max 64\n.text:\n    beq has.ip4, 0, accept\n"
      "    tadd seen, ip.src, 1\n    lookup gpr0, seen, ip.src\n    bgtu gpr0, 3, over\n"
      "accept:\n    pass\nover:\n    drop\n");
  const std::string flags =
      "other:\n    beq has.ip6, 1, accept\n    bne has.arp, 0, accept\n    beq has.vlan, 1, "
      "accept\n    bne has.eth, 1, accept\n    beq has.ip, 0, accept\n    mov gpr1, ip.proto\n"
      "    beq gpr1, PROTO_UDP, accept\n    drop\naccept:\n    pass\n";
  expect_same(".text:\n    bne ip.proto, PROTO_TCP, other\n    bne ip.dst, 10.0.0.2, accept\n" +
              flags);
  // And where another read parses: the frame is not read, the same values.
  expect_same(
      ".text:\n    print \"%x %x\", ip.src, ip.dst\n    print \"%d %d\", has.tcp, l4.dport\n"
      "    pass\n");
  expect_same(
      ".data:\n    table ports hash key 2 value 1 max 8\n.init:\n    update ports, 80, 1\n    end\n"
      ".text:\n    bne ip.proto, PROTO_TCP, other\n    lookup gpr0, ports, l4.dport\n"
      "    je accept\n    drop\n" +
      flags);
}

// A frame that is no IPv4 (IPv6, ARP, odd EtherTypes; not one in a VLAN
// tag, a short or an empty one) leaves at the verdict the entry's branches
// on has.ip4, has.vlan or eth.type against IPv4 give it, before any setup:
// the same verdict, count and stats as interpreted, under every budget
// (one too small stops it where the interpreter does), in a leaf, in code
// that calls out and in code that rewrites.
TEST(Jit, AFrameThatIsNoIpv4LeavesAtTheVerdictItsEntryGives) {
  expect_same_under_every_budget(
      ".text:\n    beq has.ip4, 0, done\n    bne ip.src, 0x0a000001, done\n    drop\n"
      "done:\n    pass\n",
      5);
  expect_same_under_every_budget(
      ".text:\n    bne has.vlan, 0, other\n    bne eth.type, ETH_IP, no\n    mov gpr0, l4.dport\n"
      "    beq gpr0, 80, other\nno:\n    jmp deny\nother:\n    pass\ndeny:\n    drop\n",
      8);
  expect_same_under_every_budget(
      ".text:\n    beq 1, has.ip4, v4\n    drop\nv4:\n    rewrite ip.ttl, 9\n    pass\n", 5);
}

// A program that reads no header field beyond the network layer's and
// never changes the packet runs a copy of its code for untagged IPv4 frames
// with a 20-byte header (checked for once, on entry), where those fields
// are loads from the frame and eth.type and the has bits constants (a
// branch on them decided when compiling): the same results as the parser's
// values, on every frame and under every budget (a loop hands over to the
// interpreter from inside the copy).
TEST(Jit, TheCopyForCommonFramesGivesTheParsersValuesUnderEveryBudget) {
  const char* src =
      ".text:\n    mov gpr1, 0\nagain:\n    switch eth.type\n    case ETH_IP:\n"
      "        add gpr1, ip.proto\n        break\n    case ETH_ARP:\n        add gpr1, 1000\n"
      "        break\n    default:\n        add gpr1, 7\n    endswitch\n"
      "    bne has.ip4, 1, notv4\n    beq eth.type, ETH_IP6, never\n    beq has.vlan, 1, never\n"
      "    bset ip.src, 0x01000000, odd\nnotv4:\n    add gpr2, 1\n    bltu gpr2, 3, again\n"
      "    bne eth.type, ETH_IP, other\n    print \"%u %x\", gpr1, ip.dst\n    pass\n"
      "other:\n    print \"other %u\", gpr1\n    pass\nodd:\n    print \"odd %x\", ip.src\n"
      "    drop\nnever:\n    print \"never\"\n    end\n";
  expect_same(src);
  expect_same_under_every_budget(src, 40);
}

// A copy for common frames goes on in the general code after an
// instruction that changes the packet: fields read after it are what the
// changed frame has (a rewrite of an address, the protocol byte changed
// from TCP to UDP, the EtherType to ARP), as the interpreter reads them.
TEST(Jit, ACopyThatChangesThePacketGoesOnInTheGeneralCode) {
  expect_same(
      ".text:\n    beq has.ip4, 0, done\n    mov gpr0, ip.src\n    and gpr0, 0xffffff00\n"
      "    bne gpr0, 0x0a000000, done\n    rewrite ip.src, 0xc6336401\n"
      "    print \"%x %x\", ip.src, ip.dst\ndone:\n    pass\n");
  for (const char* change : {"mov pkt.u8[23], 17", "mov pkt.u16[12], 0x0806"}) {
    expect_same(std::string(".text:\n    bne ip.proto, PROTO_TCP, other\n    print \"%u %u\", "
                            "l4.dport, has.udp\n    ") +
                change +
                "\n    print \"%u %u\", has.tcp, has.udp\n    print \"%u %u\", l4.dport, has.arp\n"
                "    print \"%x\", eth.type\nother:\n    pass\n");
  }
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

// div and mod by a constant: a shift or a mask for a power of two, a
// multiply for any other (divide_by_constant), the interpreter's quotient
// and remainder for every 64-bit value (the packet's bytes, the largest
// ones, mlen) and divisors up to 2^64 - 1.
TEST(Jit, DivisionsByConstantsGiveTheInterpretersQuotientsAndRemainders) {
  std::string src = ".data:\nnum q 0\nnum r 0\n.text:\n";
  const char* sources[] = {"pkt.u64[0]", "pkt.u64[6]", "mlen", "-1"};
  const char* divisors[] = {"1",
                            "2",
                            "3",
                            "7",
                            "10",
                            "64",
                            "12345",
                            "0x100000001",
                            "0x7fffffffffffffff",
                            "0x8000000000000000",
                            "0x8000000000000001",
                            "-2",
                            "-1"};
  for (const char* x : sources) {
    for (const char* d : divisors) {
      for (const char* op : {"div", "mod"}) {
        src += std::string("    mov gpr0, ") + x + "\n    " + op + " gpr0, " + d + "\n";
        src += std::string("    add ") + (op[0] == 'd' ? "q" : "r") + ", gpr0\n    mul q, 3\n";
      }
    }
  }
  expect_same(src + "    pass\n");
}

// add ... xor into a variable or an array element at a computed index is
// one op into its memory (the address checked once): with constants of 8
// and 32 bits, gprs and mlen, on heaps that carry over from packet to
// packet, and an index the packet takes out of bounds half the time (a
// heap fault at the same pc, nothing written).
TEST(Jit, OpsIntoHeapWordsGiveTheInterpretersHeapsAndFaults) {
  expect_same(
      ".data:\nnum v 5\narray h 4\n.text:\n    mov gpr0, pkt.u8[14]\n    and gpr0, 3\n"
      "    add h[gpr0], 1\n    add h[gpr0], mlen\n    mov gpr1, pkt.u32[0]\n"
      "    sub h[gpr0], gpr1\n    or h[gpr0], 0x40000000\n    and h[gpr0], -2\n"
      "    xor h[gpr0], 0x7fffffff\n    add v, 1\n    sub v, gpr1\n    xor v, -1\n"
      "    or v, mlen\n    mov gpr2, pkt.u8[15]\n    and gpr2, 7\n    add h[gpr2], 3\n"
      "    sub h[gpr2], gpr1\n    pass\n");
}

// Shifts by a constant below 64 are one shift by an immediate, in place
// where the gpr lives in a host register: by 0, 1 and 63, of negative
// values and of the packet's bytes, on gprs in registers and in the state,
// variables and heap memory, and 64 (0, or the sign for sar).
TEST(Jit, ShiftsByConstantsGiveTheInterpretersValues) {
  expect_same(
      ".data:\nnum v -5\narray h 2\n.text:\n    mov gpr0, pkt.u8[14]\n    and gpr0, 15\n"
      "    shl gpr0, 2\n    mov gpr1, -8\n    sar gpr1, 1\n    mov gpr2, -8\n    shr gpr2, 63\n"
      "    mov gpr3, -1\n    sar gpr3, 63\n    mov gpr4, mlen\n    shl gpr4, 0\n"
      "    mov gpr5, -3\n    sar gpr5, 64\n    mov gpr6, 7\n    shl gpr6, 63\n"
      "    sar v, 2\n    mov heap.u16[h + 2], mlen\n    shl heap.u16[h + 2], 9\n"
      "    mov gpr7, mlen\n    and gpr7, 7\n    shr heap.u64[gpr7 + h], 3\n"
      "    add gpr0, gpr1\n    add gpr0, gpr2\n    add gpr0, gpr3\n    add gpr0, gpr4\n"
      "    add gpr0, gpr5\n    add gpr0, gpr6\n    add gpr0, v\n    mov v, gpr0\n"
      "    bgt gpr0, 40, big\n    pass\nbig:\n    drop\n");
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

TEST(Jit, LoopsRunNativeAndTheBudgetStopsThemWhereTheInterpreterWould) {
  // The sum of the first 64 payload bytes (fewer when the packet is shorter).
  const char* sum =
      ".text:\n    mov gpr0, payload\n    mov gpr2, 0\n    mov gpr3, 0\n"
      "again:\n    bgeu gpr3, 64, done\n    mov gpr1, gpr0\n"
      "    add gpr1, gpr3\n    bgeu gpr1, mlen, done\n    add gpr2, pkt.u8[gpr1]\n"
      "    add gpr3, 1\n    jmp again\ndone:\n    bltu gpr2, 100, small\n    drop\n"
      "small:\n    pass\n";
  expect_same(sum);
  expect_same_under_every_budget(sum, 40);
  expect_same_under_every_budget(".text:\nspin:\n    add gpr0, 1\n    jmp spin\n", 6);
}

// Code with loops counts the budget down in a register, and keeps more gprs
// in host registers, one of them caller-saved (kept in the state across each
// call out): a loop whose gprs stay live across the parser (ARP and tagged
// frames), a table's functions and output, with a switch, faults at
// computed offsets inside it, and register-to-register arithmetic and
// branches, must give the interpreter's results under every budget.
TEST(Jit, LoopsWithGprsLiveAcrossCallsUnderEveryBudget) {
  const char* src =
      ".data:\ntable t hash key 4 value 8 max 8\nnum total 0\n.text:\n    mov gpr0, 0\n"
      "    mov gpr1, 0\n    mov gpr2, 3\n    mov gpr3, mlen\n    mov gpr4, 7\nloop:\n"
      "    add gpr1, pkt.u8[gpr0]\n    tadd t, gpr0, gpr3\n    print \"%u %u\", gpr0, gpr1\n"
      "    add gpr1, ip.proto\n    mul gpr4, gpr2\n    switch gpr0\n    case 1:\n"
      "        add gpr4, gpr1\n    case 2:\n        break\n    default:\n"
      "        sub gpr4, gpr3\n    endswitch\n    bset gpr4, gpr2, odd\n"
      "    add gpr1, pkt.u16[gpr0 + 40]\nodd:\n    xor gpr3, gpr0\n    add gpr0, 1\n"
      "    bltu gpr0, gpr2, loop\n    bgtu gpr3, mlen, heavy\n    add total, gpr1\n"
      "    add total, gpr4\n    bgeu gpr1, 300, heavy\n    pass\nheavy:\n    drop\n";
  expect_same(src);
  expect_same_under_every_budget(src, 60);
  // Nested loops: the inner one's gprs weigh most.
  const char* nested =
      ".text:\n    mov gpr5, 0\nouter:\n    mov gpr6, 0\ninner:\n    add gpr7, gpr6\n"
      "    add gpr6, 1\n    bltu gpr6, 4, inner\n    add gpr8, gpr7\n    mov gpr9, l4.dport\n"
      "    add gpr5, 1\n    bltu gpr5, 3, outer\n    bgtu gpr8, gpr9, high\n    pass\n"
      "high:\n    drop\n";
  expect_same(nested);
  expect_same_under_every_budget(nested, 50);
}

// A loop of one block that counts a gpr up to a bound (`add gpr0, 1` ...
// `bltu gpr0, gpr2, loop`) checks the budget and its reads based on the
// counter once on entry, for the whole loop, and runs without checks when
// they hold: it must stop, fault and count where the interpreter does when
// they do not, by a byte or an instruction.
TEST(Jit, CountedLoopsCheckTheirBudgetAndReadsOnceWithTheInterpretersResults) {
  // Every byte of the packet summed, to its last (the end of a guarded page),
  // and one past it (the last iteration faults); to mlen in a gpr or mlen.
  for (const char* last : {"", " + 1"}) {
    for (const char* end : {"gpr2", "mlen"}) {
      const std::string whole =
          std::string(".text:\n    mov gpr2, mlen\n    mov gpr0, 0\nloop:\n") +
          "    add gpr1, pkt.u8[gpr0" + last + "]\n    add gpr0, 1\n    bltu gpr0, " + end +
          ", loop\n"
          "    bgeu gpr1, 2000, heavy\n    pass\nheavy:\n    drop\n";
      expect_same(whole);
      expect_same_under_every_budget(whole, 40);
      Limits l;
      for (uint64_t budget : {60, 61, 62, 63, 64, 100, 200, 213, 214, 215, 216, 300}) {
        l.budget = budget;
        expect_same(whole, l);
      }
    }
  }
  // 32-bit reads by a step of 4, before and after the step, to a constant
  // bound; reads at an offset; the bound first (bgtu); a counter at or past
  // the bound (one iteration); a counter or bound at 2^32 and past it.
  for (const char* start : {"0", "2", "14", "60", "200", "0xfffffffc", "0x100000000"}) {
    for (const char* bound : {"40", "gpr2", "0x100000004"}) {
      const std::string src = std::string(".text:\n    mov gpr2, mlen\n    mov gpr0, ") + start +
                              "\nloop:\n    add gpr1, pkt.u32[gpr0]\n    add gpr0, 4\n"
                              "    xor gpr1, pkt.u16[gpr0 + 2]\n    bgtu " +
                              bound +
                              ", gpr0, loop\n    bgeu gpr1, 0x10000, heavy\n    pass\n"
                              "heavy:\n    drop\n";
      expect_same(src);
      expect_same_under_every_budget(src, 20);
    }
  }
  // A loop with reads the entry check does not cover (the heap at a
  // computed address, a constant offset): it counts each iteration as it
  // starts, so one that faults part way counts what ran.
  const char* faulting =
      ".data:\nbytes b 16\n.text:\n    mov gpr0, 0\nloop:\n    add gpr1, b[gpr0]\n"
      "    add gpr1, pkt.u8[gpr0 + 10]\n    add gpr1, pkt.u8[40]\n    add gpr0, 1\n"
      "    bltu gpr0, 20, loop\n    pass\n";
  expect_same(faulting);
  expect_same_under_every_budget(faulting, 120);
}

// A counted loop that only sums reads at its counter runs 8 iterations a
// round into four partial sums while 8 are due, then one at a time: the
// same sum and counter as the interpreter's for every width, step, start
// and bound, rounds and remainders of every length, sums that wrap, and
// (reads past the packet) the loop as it is.
TEST(Jit, SummingLoopsGiveTheInterpretersSumsInRoundsOfEight) {
  for (const char* width : {"u8", "u16", "u32", "h64"}) {
    for (const char* step : {"1", "2", "4"}) {
      for (const char* start : {"0", "3", "14"}) {
        for (const char* bound : {"mlen", "gpr2", "37"}) {
          const std::string src = std::string(".text:\n    mov gpr2, mlen\n    sub gpr2, 8\n") +
                                  "    mov gpr1, 0xfffffffffffff000\n    mov gpr0, " + start +
                                  "\nloop:\n    add gpr1, pkt." + width + "[gpr0]\n    add gpr0, " +
                                  step + "\n    bltu gpr0, " + bound +
                                  ", loop\n    print \"%x %u\", gpr1, gpr0\n    pass\n";
          expect_same(src);
          if (testing::Test::HasFailure()) return;
        }
      }
    }
  }
  expect_same_under_every_budget(
      ".text:\n    mov gpr0, 2\nloop:\n    add gpr1, pkt.u8[gpr0 + 1]\n    add gpr0, 1\n"
      "    bltu gpr0, 30, loop\n    print \"%u\", gpr1\n    pass\n",
      40);
}

TEST(Jit, FunctionsCallNativelyWithTheDataStack) {
  const char* src =
      ".data:\nnum depth 0\n.text:\n    push mlen\n    call outer\n    pop gpr5\n"
      "    beq gpr5, 0, none\n    bgtu depth, 2, deep\n    pass\ndeep:\n    drop\n"
      "none:\n    end\nfunc outer:\n    add depth, 1\n    call inner\n    call inner\n"
      "    ret\nfunc inner:\n    push gpr1\n    add gpr1, 3\n    pop gpr2\n"
      "    add depth, gpr2\n    ret\n";
  expect_same(src);
  expect_same_under_every_budget(src, 30);
  // A verdict from inside a function leaves its native frames.
  expect_same(
      ".text:\n    call f\n    pass\nfunc f:\n    call g\n    ret\n"
      "func g:\n    beq mlen, 0, back\n    drop\nback:\n    ret\n");
}

TEST(Jit, SwitchesCountTheCaseLabelsTheirWalkPasses) {
  const char* src =
      ".text:\n    switch ip.proto\n    case 6:\n        mov gpr0, 1\n        break\n"
      "    default:\n        mov gpr0, 9\n    case 17:\n        add gpr0, 2\n        break\n"
      "    case 0x100000000:\n        drop\n    endswitch\n    bne gpr0, 9, fin\n"
      "    switch mlen\n    case 42:\n        drop\n    endswitch\nfin:\n    pass\n";
  expect_same(src);
  expect_same_under_every_budget(src, 14);
}

TEST(Jit, HeapMemoryAtComputedAddressesIsCheckedAsTheInterpreterChecksIt) {
  // counter.ncpu's `add family[gpr0], 1`, every width and byte order, and
  // indexes that run off the heap's end (a heap fault, where the interpreter's).
  expect_same(
      ".data:\narray family 4\narray raw 2\n.text:\n    mov gpr0, mlen\n    and gpr0, 3\n"
      "    add family[gpr0], 1\n    mov heap.u16[gpr0*2 + raw + 8], mlen\n"
      "    mov heap.h32[gpr0 + raw], 0x01020304\n    xor heap.u64[raw], heap.u32[gpr0 + raw]\n"
      "    not heap.u8[gpr0 + raw]\n    mov gpr1, heap.h16[gpr0 + raw]\n"
      "    mov gpr2, mlen\n    shr gpr2, 2\n    add heap.u64[gpr2*8], gpr1\n    pass\n");
  expect_same(
      ".data:\narray raw 1\n.text:\n    mov gpr0, -1\n    beq heap.u8[gpr0], 0, z\n"
      "    pass\nz:\n    drop\n");
}

TEST(Jit, FlagJumpsReadTheFlagsOfTheLastCompare) {
  for (const char* jump : {"je", "jne", "jl", "jle", "jg", "jge", "jb", "jbe", "ja", "jae"}) {
    expect_same(std::string(".text:\n    mov gpr0, -1\n    cmp mlen, 42\n    ") + jump +
                " yes\n    test gpr0, mlen\n    " + jump + " yes\n    cmp gpr0, 1\n    " + jump +
                " yes\n    drop\nyes:\n    pass\n");
  }
  expect_same(".text:\n    je never\n    pass\nnever:\n    drop\n");  // flags start at 0
}

// The code keeps the flags in the state only where a flag jump may read
// them there (past the one right after), and a lookup's value only where
// its gpr is read later (live_after): flags read again after a branch, by
// the interpreter where the budget hands a run over, after consecutive
// setters; a lookup's gpr dead on one path and read on another.
TEST(Jit, FlagsAndLookupValuesAreKeptWhereALaterReadNeedsThem) {
  const char* src =
      ".data:\ntable h hash key 2 value 8 max 8\nnum seen 0\n"
      ".text:\n    update h, 60, 6\n    update h, 42, 4\n    lookup gpr0, h, mlen\n"
      "    jne missing\n    cmp mlen, 14\n    cmp mlen, 60\n    jb short\n"
      "    lookup gpr1, h, 42\n    tadd h, 60, 1\n    jne never\n    print \"%u\", gpr0\n"
      "    pass\nmissing:\n    mov gpr2, 0\nloop:\n    add gpr2, 1\n    bltu gpr2, 3, loop\n"
      "    je equal\n    add seen, 1\nequal:\n    jae high\n    print \"low\"\n    pass\n"
      "high:\n    lookup gpr0, h, 60\n    jne never\n    drop\n"
      "short:\n    lookup gpr3, h, 42\n    cmp gpr3, 4\n    je four\n    pass\nfour:\n"
      "    print \"%u\", gpr3\n    drop\nnever:\n    print \"never\"\n    end\n";
  expect_same(src);
  expect_same_under_every_budget(src, 40);
}

// What a function leaves behind is live after its ret: flags its lookup or
// cmp set, read by a flag jump in the caller or at the function's next
// call, and a gpr its lookup wrote (found by jit_diff: the flags were taken
// as dead after ret, as after the run's end).
TEST(Jit, FlagsAndGprsAFunctionSetsAreReadAfterItReturns) {
  const char* src =
      ".data:\ntable h hash key 2 value 8 max 8\n"
      ".text:\n    update h, 60, 6\n    call f\n    jne missing\n    call f\n"
      "    print \"%u\", gpr3\n    pass\nmissing:\n    call f\n    print \"missing %u\", gpr3\n"
      "    drop\nfunc f:\n    ja above\n    add gpr3, 1\nabove:\n    lookup gpr3, h, mlen\n"
      "    cmp mlen, 60\n    ret\n";
  expect_same(src);
  expect_same_under_every_budget(src, 30);
}

TEST(Jit, TablesWithNumberKeysAndEveryOtherKind) {
  const char* src =
      ".data:\ntable h hash key 4 value 8 max 4\ntable n hash key 3 value 4 max 8\n"
      "table a array value 2 max 4\ntable p lpm4 value 8 max 8\n"
      "table w hash key 16 value 16 max 4\n"
      ".init:\n    update p, 10.0.0.2, 7\n    update n, 0x0a0000, 0xfffffffe\n    end\n"
      ".text:\n    tadd h, ip.src, mlen\n    jne full\n    tadd n, ip.dst, 1\n"
      "    tadd a, 1, 0xffff\n    update a, 2, mlen\n    update a, 9, 1\n"
      "    lookup gpr1, a, 1\n    lookup gpr2, n, 0x0a0000\n"
      "    lookup gpr3, p, ip.dst\n    jne nomatch\n    add gpr3, gpr2\n"
      "nomatch:\n    update w, ip6.src, heap.u64[0]\n    lookup gpr4, h, pkt.u32[26]\n"
      "    delete h, 0x0a000003\n    bne gpr4, 0, keep\n    tclear n\nkeep:\n"
      "    print \"%u %u\", gpr1, gpr3\n    bgtu gpr1, 100, big\n    pass\nbig:\n    drop\nfull:\n "
      "   drop\n";
  expect_same(src);
  // A fuller table: 40 keys in 128 slots, so lookups walk collision chains,
  // and misses end at an empty slot.
  expect_same(
      ".data:\ntable h hash key 2 value 8 max 64\n.init:\n    mov gpr0, 0\nmore:\n"
      "    update h, gpr0, gpr0\n    add gpr0, 7\n    bltu gpr0, 280, more\n    end\n"
      ".text:\n    mov gpr5, 0\n    mov gpr1, 0\nscan:\n    lookup gpr2, h, gpr1\n"
      "    jne skip\n    add gpr5, gpr2\nskip:\n    add gpr1, mlen\n    bltu gpr1, 600, scan\n"
      "    print \"%u\", gpr5\n    pass\n");
}

// tadd and update find their key inline and call the table only to insert
// it; a lookup right after one of the same table and key takes the slot
// it left. The packets' lengths are the keys: 2-entry tables fill, and a
// tadd or update that fails leaves the lookup after it absent too. After
// a tadd of another key, or of `rand` (another number each read), the
// lookup probes: absent where the slot in hand would say found.
TEST(Jit, TaddThenLookupOfTheSameKeyAgreesWithTheInterpreterWhenTablesFill) {
  expect_same(
      ".data:\ntable h hash key 4 value 8 max 2\ntable c hash key 2 value 1 max 2\n"
      "table a array value 2 max 3\ntable r lru key 4 value 8 max 2\n"
      "table g hash key 4 value 8 max 64\ntable e hash key 8 value 8 max 8\n"
      "table o hash key 1 value 2 max 2\nnum fails 0\n"
      ".text:\n    tadd h, mlen, 1\n    lookup gpr0, h, mlen\n    je stored\n"
      "    add fails, 1\nstored:\n    tadd c, mlen, 200\n    lookup gpr1, c, mlen\n"
      "    update c, 7, 0x1ff\n    lookup gpr2, c, 7\n"
      "    tadd a, 1, 0xffff\n    lookup gpr3, a, 1\n    tadd a, mlen, 1\n"
      "    lookup gpr4, a, mlen\n    tadd r, mlen, -3\n    lookup gpr5, r, mlen\n"
      "    tadd g, rand, 1\n    lookup gpr6, g, rand\n    tadd g, ip.src, 1\n"
      "    lookup gpr7, g, ip.dst\n"
      "    print \"%u %u\", gpr0, gpr1\n    print \"%u %u\", gpr2, gpr3\n"
      "    print \"%u %u\", gpr4, gpr5\n    print \"%u %u\", gpr6, gpr7\n"
      "    tadd e, eth.src, 1\n    lookup gpr8, e, eth.src\n    tadd o, ip.proto, 300\n"
      "    lookup gpr9, o, ip.proto\n    print \"%u %u\", gpr8, gpr9\n"
      "    pass\n");
}

// A lookup after a tadd that a branch also reaches, from an update of
// another key: there it probes (the slot in hand is the other key's).
TEST(Jit, ALookupReachedByABranchProbesAgain) {
  expect_same(
      ".data:\ntable h hash key 4 value 4 max 16\n"
      ".text:\n    beq has.ip4, 0, other\n    tadd h, ip.src, 1\nlook:\n"
      "    lookup gpr0, h, ip.src\n    jne absent\n    print \"%u\", gpr0\n    pass\n"
      "absent:\n    drop\nother:\n    update h, mlen, 5\n    jmp look\n");
  expect_same(
      ".data:\ntable h hash key 2 value 8 max 16\n"
      ".text:\n    mov gpr1, mlen\n    bltu mlen, 40, other\n    tadd h, gpr1, 1\nlook:\n"
      "    lookup gpr0, h, gpr1\n    print \"%u\", gpr0\n    pass\nother:\n"
      "    update h, 99, 9\n    jmp look\n");
}

TEST(Jit, ForeachWalksNativelyAndTheBudgetStopsThemWhereTheInterpreterWould) {
  // Per packet: count bytes per source; walk the table removing small
  // counters, and break out at a big one; a timer sums what is left and
  // clears the table; a drop from inside a walk ends it.
  const char* src =
      ".data:\ntable bytes hash key 4 value 8 max 8\ntable idx array value 2 max 3\n"
      "table wide hash key 13 value 16 max 4\nbuf k 13\nbuf v 16\nnum total 0\n"
      ".timer sum 1s:\n    mov gpr2, 0\n    foreach bytes, gpr0, gpr1\n        add gpr2, gpr1\n"
      "    endfor\n    mov total, gpr2\n    tclear bytes\n    end\n"
      ".text:\n    tadd bytes, pkt.u32[26], mlen\n    tadd bytes, mlen, 1\n"
      "    mov heap.u32[k], mlen\n    update wide, k, v\n"
      "    foreach wide, k, v\n        add gpr6, heap.u32[k]\n    endfor\n"
      "    mov gpr5, 0\n    foreach bytes, gpr0, gpr1\n        add gpr5, 1\n"
      "        bleu gpr1, 200, small\n        bltu gpr5, 3, leave\n        drop\n"
      "leave:\n        break\nsmall:\n        bgtu gpr1, 1, keep\n"
      "        delete bytes, gpr0\nkeep:\n    endfor\n"
      "    foreach idx, gpr3, gpr4\n        update idx, gpr3, gpr5\n    endfor\n"
      "    print \"%u %u\", gpr5, gpr6\n    pass\n";
  expect_same(src);
  expect_same_under_every_budget(src, 70);
}

// Lru and idle tables refuse the inline probe (a lookup relinks and stamps
// its entry): the native code calls their functions, with the same result.
// Three packet lengths (the key) in a 3-entry lru table: evictions; the
// timers' entries (their now is 1000 + i) expire under the packets' steady
// clock.
TEST(Jit, LruAndIdleTablesCallTheirFunctions) {
  expect_same(
      ".data:\ntable r lru key 4 value 8 max 3\ntable s hash key 2 value 4 max 4 idle 1s\n"
      "table b lru key 1 value 2 max 1 idle 50ms\n"
      ".text:\n    lookup gpr0, r, mlen\n    jne miss\n    tadd r, mlen, 1\n    tadd b, 1, 1\n"
      "    pass\nmiss:\n    update r, mlen, 1\n    tadd s, mlen, 1\n    lookup gpr2, s, 3\n"
      "    delete s, 40\n    update b, mlen, gpr2\n    print \"%u %u\", gpr0, gpr2\n    drop\n"
      ".timer t 100ms:\n    tadd s, 3, 1\n    tadd r, 5, 1\n    lookup gpr1, b, 1\n    end\n");
}

TEST(Jit, RewritesOutputAndEmitsRunTheInterpretersHandlers) {
  expect_same(
      ".data:\nnum n 0\n.text:\n    add n, 1\n    print \"n %u len %u\", n, mlen\n"
      "    beq has.ip4, 0, other\n    rewrite ip.ttl, 9\n    csum\n    mov gpr0, ip.ttl\n"
      "    find gpr1, \"bytes\", 0\n    resize 70\n    bne wlen, 70, other\n"
      "    outlen 20\n    mov out.u32[2], ip.src\n    emit 3\n    mirror 2\n"
      "    log \"%u\", gpr0\n    dump 20\n    redirect 5\nother:\n    pass\n");
}

// print, log and dump run natively (their operands read by the code, the
// line through the interpreter's rate-limited sink): the same lines in the
// same order, the same lines suppressed, none for an instruction whose
// operand faults, and those before a fault kept.
TEST(Jit, OutputLinesAndTheirRateLimitAreTheInterpreters) {
  const std::string src =
      ".data:\nnum n 0\n.text:\n    add n, 1\n    print \"n %u len %u\", n, mlen\n"
      "    log \"%ip -> %ip\", ip.src, ip.dst\n    print n\n    print \"only text\"\n"
      "    mov gpr1, l4.dport\n    log \"port\", gpr1\n    print \"%x %d %mac\", gpr1, -5\n"
      "    dump 20\n    print \"byte %x\", pkt.u8[40]\n    mov gpr0, pkt.u8[50]\n"
      "    log \"%d %x\", gpr0, n\n    print \"%u\", pkt.u16[gpr0]\n    dump 0\n"
      "    print \"%u %u\", rand, pkt.u8[59]\n    print \"%u %u\", pkt.u8[60], rand\n"
      "    log \"%u\", rand\n    pass\n";
  expect_same(src);
  for (uint32_t burst : {0u, 1u, 7u, 60u}) {
    SCOPED_TRACE("burst " + std::to_string(burst));
    Limits limited;
    limited.output_burst = burst;  // (expect_same refills nothing)
    expect_same(src, limited);
  }
}

// rewrite runs natively: the same bytes and checksums (TCP, UDP with and
// without a checksum, IPv6 and packets without the field, where it fails
// and sets the flags so), header fields read after it give the new values,
// and a run that changed the packet counts as modified however it ends.
TEST(Jit, RewritesChangeThePacketAsTheInterpretersHandler) {
  expect_same(
      ".text:\n    mov gpr0, ip.ttl\n    rewrite ip.src, 0x0a000009\n    jne no_ip4\n"
      "    rewrite ip.dst, ip.dst\n    rewrite ip.ttl, 3\n    mov gpr2, ip.ttl\n"
      "    rewrite l4.sport, 1234\n    jne no_ports\n    rewrite l4.dport, l4.sport\n"
      "    print \"%u %u\", gpr0, gpr2\n    print \"%u %ip\", l4.dport, ip.src\n"
      "    mov gpr3, pkt.u8[60]\n"
      "    beq gpr3, 0, zero\n    drop\nzero:\n    pass\n"
      "no_ip4:\n    rewrite ip.tos, 0x2e\n    rewrite eth.src, 0x020000000009\n    je zero\n"
      "    drop\nno_ports:\n    rewrite ip.tos, mlen\n    pass\n");
  // Only rewrites of ip.src and ip.dst, as nat.ncpu: most runs leave by the
  // code's own count of a modified pass.
  expect_same(
      ".text:\n    beq has.ip4, 0, done\n    mov gpr1, ip.src\n    xor gpr1, 0xff\n"
      "    rewrite ip.src, gpr1\n    bne l4.sport, 53, done\n    rewrite ip.dst, gpr1\n"
      "    drop\ndone:\n    pass\n");
  // Network-layer fields alone, as nat.ncpu: the copy for IPv4 frames with
  // a 20-byte header parses at the rewrite what its shape leaves open (the
  // transport; a fragment, a transport header cut short go to the parser).
  expect_same(
      ".text:\n    beq has.ip4, 0, done\n    mov gpr1, ip.src\n    xor gpr1, 0xff\n"
      "    rewrite ip.src, gpr1\n    rewrite ip.dst, ip.src\n    beq ip.ttl, 64, done\n"
      "    drop\ndone:\n    pass\n");
  // Each address to itself: the checksums' words stay, but a UDP checksum
  // of 0xffff would come out 0, and is written 0xffff.
  expect_same(".text:\n    rewrite ip.src, ip.src\n    rewrite ip.dst, ip.dst\n    pass\n");
  expect_same(
      ".text:\n    rewrite l4.dport, l4.dport\n    jne other\n    pass\nother:\n    drop\n");
  // b faults: no change, the run aborted at the rewrite.
  expect_same(".text:\n    rewrite ip.src, pkt.u32[56]\n    pass\n");
}

// In a loop, where the budget hands a run to the interpreter at the loop's
// head: the lines printed and the rewrites done before it stopped are the
// interpreter's, under every budget.
TEST(Jit, OutputAndRewritesInALoopUnderEveryBudget) {
  expect_same_under_every_budget(
      ".text:\n    mov gpr0, 0\nloop:\n    print \"i %u\", gpr0\n"
      "    rewrite l4.sport, gpr0\n    rewrite ip.dst, gpr0\n    add gpr0, 1\n"
      "    blt gpr0, 3, loop\n    pass\n",
      20);
}

TEST(Jit, TimersAndInitRunNativeWithoutAPacket) {
  const char* src =
      ".data:\ntable t hash key 4 value 8 max 8\nnum ticks 0\n"
      ".init:\n    update t, 1, 5\n    mov gpr1, mlen\n    add ticks, gpr1\n    end\n"
      ".timer tick 100ms:\n    add ticks, 1\n    lookup gpr0, t, 1\n    tadd t, 2, gpr0\n"
      "    outlen 14\n    mov out.u16[12], 0x0806\n    emit 1\n    print \"tick %u\", ticks\n"
      "    mov gpr2, ticks\n    and gpr2, 3\n    bne gpr2, 2, ok\n    mov gpr3, pkt.u8[0]\n"
      "ok:\n    switch gpr2\n    case 1:\n        call f\n    endswitch\n    dump 4\n    end\n"
      "func f:\n    push ticks\n    pop gpr4\n    ret\n"
      ".text:\n    tadd t, 3, mlen\n    pass\n";
  expect_same(src);
  Limits tight;
  tight.budget = 6;  // the timer's run stops where the interpreter stops it
  expect_same(src, tight);
}

TEST(Jit, EveryExampleRunsNativeWithTheInterpretersResults) {
  std::vector<std::filesystem::path> files;
  for (const char* dir : {"examples", "tests/bench"})
    for (const auto& e :
         std::filesystem::directory_iterator(std::filesystem::path(NETCPU_SOURCE_DIR) / dir))
      if (e.path().extension() == ".ncpu") files.push_back(e.path());
  ASSERT_GE(files.size(), 16u);
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    std::ifstream in(f);
    std::stringstream text;
    text << in.rdbuf();
    expect_same(text.str());
  }
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
