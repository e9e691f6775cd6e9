// The header parser on any bytes, as an Ethernet frame or a bare IP packet
// (the first input byte chooses) ending right before an unreadable page:
// - parse_headers gives what its general walk alone gives (its short way
//   for the most common frames changes nothing);
// - every mapped register reads without a crash, through header_field and
//   header_field16;
// - where field_location() places a field (what the JIT compiles inline,
//   with no bounds check), its has:: bits guarantee the read is inside the
//   packet and the bytes there are header_field's value;
// - a program that copies every 8-byte mapped register into its heap leaves
//   the same heap natively and interpreted.
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "fuzz_support.h"
#include "netcpu/netcpu.h"

namespace {

using namespace netcpu;

// `num fN 0` and `mov fN, REG` for every 8-byte mapped register.
std::string copy_every_register() {
  std::string data = ".data:\n", text = ".text:\n";
  for (size_t i = 0; i < kMappedCount; ++i) {
    if (kMappedInfo[i].bytes != 8) continue;
    data += "num f" + std::to_string(i) + " 0\n";
    text += "  mov f" + std::to_string(i) + ", " + std::string(kMappedInfo[i].name) + "\n";
  }
  return data + text + "  pass\n";
}

struct Engines {
  std::unique_ptr<Instance> native, interpreted;
};

Engines load(LinkType link) {
  Diagnostic err;
  auto program = assemble(copy_every_register(), "every_register.ncpu", &err);
  if (!program) fuzz::fail("the register-copying program does not assemble", err.str());
  HostCaps caps;
  caps.link = link;
  Limits limits;
  Engines e;
  e.native = Instance::create(*program, caps, limits, nullptr, &err);
  limits.jit = false;
  e.interpreted = Instance::create(*program, caps, limits, nullptr, &err);
  if (!e.native || !e.interpreted)
    fuzz::fail("the register-copying program does not load", err.str());
  if (!e.native->jit_compiled())
    fuzz::fail("the register-copying program is not compiled", e.native->jit_status());
  return e;
}

uint64_t read_network_order(const uint8_t* at, unsigned width) {
  uint64_t v = 0;
  for (unsigned i = 0; i < width; ++i) v = v << 8 | at[i];
  return v;
}

void check_locations(std::span<const uint8_t> pkt, const Headers& h) {
  for (size_t i = 0; i < kMappedCount; ++i) {
    const auto reg = static_cast<MappedReg>(i);
    const auto loc = field_location(reg);
    const uint64_t value = header_field(reg, pkt, h);
    if (!loc || loc->from == FieldLocation::From::Flags ||
        loc->from == FieldLocation::From::Headers)
      continue;
    if (loc->when && !(h.flags & loc->when)) continue;
    const size_t at = (loc->from == FieldLocation::From::L3 ? h.l3 : h.l4) + size_t{loc->offset};
    const unsigned width = 1u << loc->width_log;
    if (at + width > pkt.size())
      fuzz::fail("a field's has:: bit is set but its bytes are outside the packet",
                 std::string(kMappedInfo[i].name) + " at " + std::to_string(at) + " of " +
                     std::to_string(pkt.size()));
    if (read_network_order(pkt.data() + at, width) != value)
      fuzz::fail("field_location and header_field disagree", std::string(kMappedInfo[i].name));
  }
  for (MappedReg reg : {MappedReg::Ip6Src, MappedReg::Ip6Dst})
    if (const uint8_t* field = header_field16(reg, pkt, h)) {
      uint8_t copy[16];
      std::memcpy(copy, field, sizeof copy);  // inside the packet, or ASan or the guard says so
      if (field < pkt.data() || field + 16 > pkt.data() + pkt.size())
        fuzz::fail("header_field16 points outside the packet");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > 1 + 1518) return 0;
  static Engines ethernet = load(LinkType::Ethernet), raw_ip = load(LinkType::RawIp);
  static fuzz::GuardedPacket buffer(1518);
  const bool is_ethernet = (data[0] & 1) == 0;
  const std::span<const uint8_t> bytes(data + 1, size - 1);
  uint8_t* pkt = buffer.put(bytes);
  const std::span<const uint8_t> packet(pkt, bytes.size());
  const LinkType link = is_ethernet ? LinkType::Ethernet : LinkType::RawIp;
  const Headers h = parse_headers(packet, link);
  if (!(h == parse_headers_walk(packet, link)))
    fuzz::fail("parse_headers' short way for common frames and the general walk disagree");
  check_locations(packet, h);

  Engines& e = is_ethernet ? ethernet : raw_ip;
  PacketMeta meta;
  meta.now_ms = 1234;
  meta.wire_len = (data[0] & 2) ? static_cast<uint32_t>(bytes.size() + 100) : 0;
  uint32_t native_len = static_cast<uint32_t>(bytes.size());
  const RunResult a = e.native->run(pkt, native_len, native_len, meta);
  uint32_t interpreted_len = static_cast<uint32_t>(bytes.size());
  const RunResult b = e.interpreted->run(pkt, interpreted_len, interpreted_len, meta);
  if (a.verdict != b.verdict || a.instructions != b.instructions || a.aborted != b.aborted)
    fuzz::fail("the register-copying program ends differently natively and interpreted");
  const auto ha = e.native->heap(), hb = e.interpreted->heap();
  for (size_t off = 0; off + 8 <= ha.size(); off += 8)
    if (std::memcmp(ha.data() + off, hb.data() + off, 8) != 0) {
      size_t n = 0, reg = 0;
      for (; reg < kMappedCount; ++reg)
        if (kMappedInfo[reg].bytes == 8 && n++ == off / 8) break;
      fuzz::fail("a mapped register reads differently natively and interpreted",
                 std::string(reg < kMappedCount ? kMappedInfo[reg].name : "?"));
    }
  return 0;
}
