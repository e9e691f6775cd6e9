// The JIT against the interpreter. The input becomes a valid program
// (program_generator.h) and a few packets; three instances of the program,
// one with native code allowed (Limits::jit), one without (the interpreter,
// in its filter loop where the program is a filter) and one profiled (the
// whole interpreter's loop, counting each instruction), start from the same
// fresh state and run the same packets, each packet placed right before an
// unreadable page, with the program's timer between packets.
// Any difference in verdict, abort reason or pc, instruction count, packet
// bytes or length, emitted packets, heap, tables, counters or printed
// output stops the fuzzer with the program and the packet.
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "netcpu/netcpu.h"
#include "program_generator.h"
#include "sample_packets.h"

namespace {

using namespace netcpu;

constexpr uint32_t kMaxPacket = 1518;

struct Engine {
  std::unique_ptr<Instance> vm;
  std::string output;
  fuzz::GuardedPacket buffer{kMaxPacket};
};

std::string hex(std::span<const uint8_t> bytes) {
  std::string s;
  char b[4];
  for (uint8_t c : bytes) std::snprintf(b, sizeof b, "%02x", c), s += b;
  return s;
}

// Everything a run leaves behind that the two engines must agree on.
std::string state_of(Engine& e, const RunResult& r, const uint8_t* pkt, uint32_t len) {
  char head[256];
  std::snprintf(head, sizeof head,
                "verdict %s aborted %d reason %s pc %u instructions %u length %u modified %d "
                "redirect %d mirror %d emitted %u\n",
                verdict_name(r.verdict), r.aborted, abort_reason_name(r.reason), r.abort_pc,
                r.instructions, r.length, r.modified, r.redirect_port, r.mirror_port, r.emitted);
  std::string s = head;
  s += "packet " + hex({pkt, len}) + "\n";
  for (const auto& emitted : e.vm->emitted())
    s += "emitted to " + std::to_string(emitted.port) + ": " + hex(emitted.bytes()) + "\n";
  s += "heap " + hex(e.vm->heap()) + "\n";
  for (size_t t = 0; t < e.vm->table_count(); ++t) {
    s += "table " + e.vm->table(t).decl().name + ":";
    std::vector<std::string> entries;
    e.vm->table(t).for_each(
        [&](std::span<const uint8_t> k, uint32_t prefix, std::span<const uint8_t> v) {
          entries.push_back(" " + hex(k) + "/" + std::to_string(prefix) + "=" + hex(v));
        });
    std::sort(entries.begin(), entries.end());
    for (const auto& entry : entries) s += entry;
    s += "\n";
  }
  const Stats& st = e.vm->stats();
  s += "counters " + std::to_string(st.packets) + " " + std::to_string(st.passed) + " " +
       std::to_string(st.dropped) + " " + std::to_string(st.instructions) + " " +
       std::to_string(st.modified) + " " + std::to_string(st.redirected) + " " +
       std::to_string(st.aborted) + " " + std::to_string(st.errors) + " " +
       std::to_string(st.emitted) + " " + std::to_string(st.mirrored) + "\n";
  s += "output:\n" + e.output;
  e.output.clear();
  return s;
}

// The first line where two states differ, for the failure's headline.
std::string first_difference(const std::string& a, const std::string& b, const char* a_name,
                             const char* b_name) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  const size_t line = a.rfind('\n', i == 0 ? 0 : i - 1);
  const size_t from = line == std::string::npos ? 0 : line + 1;
  char names[64];
  std::snprintf(names, sizeof names, "%-12s ", a_name);
  std::string out = names + a.substr(from, a.find('\n', i) - from) + "\n";
  std::snprintf(names, sizeof names, "%-12s ", b_name);
  return out + names + b.substr(from, b.find('\n', i) - from);
}

std::vector<uint8_t> packet_from(FuzzedDataProvider& in) {
  if (in.ConsumeBool()) return in.ConsumeBytes<uint8_t>(in.ConsumeIntegralInRange<size_t>(0, 128));
  // A well-formed sample with a few bytes changed and maybe cut short:
  // most programs look at headers a random packet would not have.
  const auto& samples = fuzz::sample_packets();
  std::vector<uint8_t> p = samples[in.ConsumeIntegralInRange<size_t>(0, samples.size() - 1)].bytes;
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0 && !p.empty(); --n)
    p[in.ConsumeIntegralInRange<size_t>(0, p.size() - 1)] = in.ConsumeIntegral<uint8_t>();
  if (in.ConsumeIntegralInRange(0, 3) == 0)
    p.resize(in.ConsumeIntegralInRange<size_t>(0, p.size()));
  return p;
}

struct Totals {
  uint64_t programs = 0, rejected = 0, native = 0;
  ~Totals() {
    if (std::getenv("NETCPU_FUZZ_VERBOSE"))
      std::fprintf(stderr,
                   "jit_diff: %" PRIu64 " programs, %" PRIu64 " rejected, %" PRIu64 " native\n",
                   programs, rejected, native);
  }
} totals;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  fuzz::GeneratorOptions options;
  options.jit_shapes = in.ConsumeIntegralInRange(0, 3) != 0;
  HostCaps caps;
  caps.link = in.ConsumeIntegralInRange(0, 3) == 0 ? LinkType::RawIp : LinkType::Ethernet;
  caps.max_packet = kMaxPacket;
  const Program program = fuzz::generate_program(in, options);
  ++totals.programs;

  Diagnostic err;
  if (!verify(program, &caps, &err)) {
    ++totals.rejected;
    if (std::getenv("NETCPU_FUZZ_STRICT"))
      fuzz::fail("the generator made a program the verifier rejects: " + err.str(),
                 disassemble(program, {.loc = false, .pcs = true}));
    return 0;
  }
  Limits limits;
  limits.budget = 4000;
  limits.output_per_second = 0;  // no refill by the clock: the two engines print alike
  limits.table_seed = 1;         // one hash function for both loads: tables compare slot by slot
  Engine native, interpreted, profiled;
  native.vm = Instance::create(
      program, caps, limits,
      [&](OutputKind k, std::string_view l) {
        native.output += std::to_string(int(k)) + " " + std::string(l) + "\n";
      },
      &err);
  limits.jit = false;
  interpreted.vm = Instance::create(
      program, caps, limits,
      [&](OutputKind k, std::string_view l) {
        interpreted.output += std::to_string(int(k)) + " " + std::string(l) + "\n";
      },
      &err);
  profiled.vm = Instance::create(
      program, caps, limits,
      [&](OutputKind k, std::string_view l) {
        profiled.output += std::to_string(int(k)) + " " + std::string(l) + "\n";
      },
      &err);
  if (profiled.vm) profiled.vm->set_profiling(true);
  if (!native.vm != !interpreted.vm || !native.vm != !profiled.vm)
    fuzz::fail("the program loads with the JIT on or off only: " + err.str(),
               disassemble(program, {.loc = false, .pcs = true}));
  if (!native.vm) return 0;  // .init stopped
  if (native.vm->jit_compiled()) ++totals.native;

  std::string history;
  for (int n = in.ConsumeIntegralInRange(1, 4); n > 0; --n) {
    const std::vector<uint8_t> bytes = packet_from(in);
    const size_t slack = in.ConsumeIntegralInRange(0, 3) == 0 ? kMaxPacket - bytes.size() : 0;
    PacketMeta meta;
    meta.port = in.ConsumeIntegralInRange<uint32_t>(0, 3);
    meta.dir = in.ConsumeIntegralInRange<uint8_t>(0, 1);
    meta.now_ms = 1000 * static_cast<uint64_t>(n) + 7;
    meta.wire_len =
        in.ConsumeBool() ? 0 : static_cast<uint32_t>(bytes.size()) + in.ConsumeIntegral<uint8_t>();
    std::string states[3];
    int i = 0;
    for (Engine* e : {&native, &interpreted, &profiled}) {
      uint8_t* pkt = e->buffer.put(bytes, slack);
      uint32_t len = static_cast<uint32_t>(bytes.size());
      const RunResult r = e->vm->run(pkt, len, static_cast<uint32_t>(bytes.size() + slack), meta);
      states[i] = state_of(*e, r, pkt, len);
      for (size_t t = 0; t < e->vm->program().timers.size(); ++t)
        states[i] += "timer: " + state_of(*e, e->vm->run_timer(t, meta), nullptr, 0);
      ++i;
    }
    history += "packet " + hex(bytes) + " port " + std::to_string(meta.port) + " dir " +
               std::to_string(meta.dir) + " wire_len " + std::to_string(meta.wire_len) + " room " +
               std::to_string(slack) + "\n";
    if (states[0] != states[1])
      fuzz::fail("the JIT and the interpreter differ (" + native.vm->runs_as() + ")\n" +
                     first_difference(states[0], states[1], "native:", "interpreted:"),
                 "--- program:\n" + disassemble(program, {.loc = false, .pcs = true}) +
                     "--- packets:\n" + history + "--- native:\n" + states[0] +
                     "--- interpreted:\n" + states[1]);
    if (states[1] != states[2])
      fuzz::fail("the interpreter's two loops differ\n" +
                     first_difference(states[1], states[2], "interpreted:", "profiled:"),
                 "--- program:\n" + disassemble(program, {.loc = false, .pcs = true}) +
                     "--- packets:\n" + history + "--- interpreted:\n" + states[1] +
                     "--- profiled:\n" + states[2]);
  }
  return 0;
}
