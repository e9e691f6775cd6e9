// The classic BPF translator (netcpu/bpf_translate.h) against libpcap's own
// bpf_filter(): random classic BPF programs that bpf_validate() accepts, on
// random packets (placed right before an unreadable page). The translation
// must assemble, load, and give bpf_filter's verdict (non-zero: pass) both
// natively and interpreted, with the same instruction count both ways.
#include <fuzzer/FuzzedDataProvider.h>
#include <pcap/pcap.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.h"
#include "netcpu/bpf_translate.h"
#include "netcpu/netcpu.h"

namespace {

using namespace netcpu;

constexpr uint32_t kMaxPacket = 1518;

// Every opcode bpf_validate accepts and bpf_filter runs, found by asking
// them (a child tries each, as bpf_filter aborts on a few opcodes its
// validator lets through, such as ldx with an absolute address): the list
// follows whatever libpcap's filter machine takes.
bool filter_runs(const bpf_insn* prog) {
  const pid_t child = fork();
  if (child == 0) {
    const uint8_t packet[64] = {};
    bpf_filter(prog, packet, sizeof packet, sizeof packet);
    _exit(0);
  }
  int status = 0;
  return child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) &&
         WEXITSTATUS(status) == 0;
}

const std::vector<uint16_t>& valid_codes() {
  static const std::vector<uint16_t> codes = [] {
    std::vector<uint16_t> found;
    for (uint16_t code = 0; code < 256; ++code) {
      const bpf_insn prog[] = {{static_cast<u_short>(code), 0, 0, 1}, {BPF_RET | BPF_K, 0, 0, 1}};
      if (bpf_validate(prog, 2) && filter_runs(prog)) found.push_back(code);
    }
    return found;
  }();
  return codes;
}

std::vector<bpf_insn> program_from(FuzzedDataProvider& in) {
  const auto& codes = valid_codes();
  const size_t n = in.ConsumeIntegralInRange<size_t>(1, 24);
  std::vector<bpf_insn> prog(n);
  for (size_t i = 0; i < n; ++i) {
    bpf_insn& insn = prog[i];
    insn.code = i + 1 == n ? (in.ConsumeBool() ? BPF_RET | BPF_K : BPF_RET | BPF_A)
                           : codes[in.ConsumeIntegralInRange<size_t>(0, codes.size() - 1)];
    const size_t ahead = n - i - 1;  // jumps go forward and stay inside
    insn.jt = ahead ? in.ConsumeIntegralInRange<uint8_t>(
                          0, static_cast<uint8_t>(std::min<size_t>(ahead - 1, 255)))
                    : 0;
    insn.jf = ahead ? in.ConsumeIntegralInRange<uint8_t>(
                          0, static_cast<uint8_t>(std::min<size_t>(ahead - 1, 255)))
                    : 0;
    switch (in.ConsumeIntegralInRange(0, 3)) {
      case 0:
        insn.k = in.ConsumeIntegral<uint32_t>();
        break;
      case 1:
        insn.k = in.ConsumeIntegralInRange<uint32_t>(0, 15);  // scratch memory, shifts
        break;
      default:
        insn.k = in.ConsumeIntegralInRange<uint32_t>(0, 80);  // offsets into the headers
    }
    if (BPF_CLASS(insn.code) == BPF_JMP && BPF_OP(insn.code) == BPF_JA)
      insn.k = ahead ? in.ConsumeIntegralInRange<uint32_t>(0, static_cast<uint32_t>(ahead - 1)) : 0;
  }
  // bpf_filter's scratch memory M[] starts as whatever its stack held (the
  // translation's starts at 0): slots the program reads are zeroed first
  // (A is still 0 after), so that both have one meaning.
  std::vector<bpf_insn> zero_slots;
  for (const auto& insn : prog)
    if ((insn.code == (BPF_LD | BPF_MEM) || insn.code == (BPF_LDX | BPF_MEM)) && insn.k < 16)
      zero_slots.push_back({BPF_ST, 0, 0, insn.k});
  if (!zero_slots.empty()) {
    zero_slots.insert(zero_slots.begin(), {BPF_LD | BPF_IMM, 0, 0, 0});
    prog.insert(prog.begin(), zero_slots.begin(), zero_slots.end());
  }
  return prog;
}

std::string describe(const std::vector<bpf_insn>& prog, const std::vector<uint8_t>& pkt,
                     uint32_t wire, const std::string& assembly) {
  std::string s = "--- classic BPF (tcpdump -ddd):\n" + std::to_string(prog.size()) + "\n";
  for (const auto& i : prog)
    s += std::to_string(i.code) + " " + std::to_string(i.jt) + " " + std::to_string(i.jf) + " " +
         std::to_string(i.k) + "\n";
  s += "--- packet (" + std::to_string(pkt.size()) + " bytes, " + std::to_string(wire) +
       " on the wire):\n";
  char b[4];
  for (uint8_t c : pkt) std::snprintf(b, sizeof b, "%02x", c), s += b;
  return s + "\n--- translation:\n" + assembly;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  valid_codes();  // before fuzzing starts: the children must not inherit its state
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const std::vector<bpf_insn> prog = program_from(in);
  if (!bpf_validate(prog.data(), static_cast<int>(prog.size()))) return 0;
  const uint32_t extra = in.ConsumeBool() ? in.ConsumeIntegral<uint16_t>() : 0;
  const std::vector<uint8_t> bytes = in.ConsumeBytes<uint8_t>(kMaxPacket);
  const uint32_t len = static_cast<uint32_t>(bytes.size()), wire = len + extra;

  static fuzz::GuardedPacket buffer(kMaxPacket);
  const bool pcap_pass = bpf_filter(prog.data(), buffer.put(bytes), wire, len) != 0;

  std::string error;
  auto assembly = cbpf_to_assembly(prog, "fuzz", &error);
  if (!assembly)
    fuzz::fail("a program bpf_validate accepts is not translated: " + error,
               describe(prog, bytes, wire, ""));
  Diagnostic err;
  auto program = assemble(*assembly, "fuzz.ncpu", &err);
  if (!program)
    fuzz::fail("a translation does not assemble: " + err.str(),
               describe(prog, bytes, wire, *assembly));
  HostCaps caps;
  caps.max_packet = kMaxPacket;
  Limits limits;
  auto native = Instance::create(*program, caps, limits, nullptr, &err);
  limits.jit = false;
  auto interpreted = Instance::create(*program, caps, limits, nullptr, &err);
  if (!native || !interpreted)
    fuzz::fail("a translation does not load: " + err.str(), describe(prog, bytes, wire, *assembly));
  PacketMeta meta;
  meta.now_ms = 1;
  meta.wire_len = wire;
  RunResult r[2];
  int i = 0;
  for (Instance* vm : {native.get(), interpreted.get()}) {
    uint32_t l = len;
    r[i++] = vm->run(buffer.put(bytes), l, len, meta);
  }
  if (r[0].verdict != r[1].verdict || r[0].instructions != r[1].instructions ||
      r[0].aborted != r[1].aborted || r[0].abort_pc != r[1].abort_pc)
    fuzz::fail(
        "the translation runs differently natively and interpreted (" + native->runs_as() + ")",
        describe(prog, bytes, wire, *assembly));
  if ((r[1].verdict == Verdict::Pass) != pcap_pass)
    fuzz::fail(
        std::string("bpf_filter ") + (pcap_pass ? "accepts" : "rejects") +
            " the packet, the translation " + verdict_name(r[1].verdict) + "s it" +
            (r[1].aborted ? std::string(" (aborted: ") + abort_reason_name(r[1].reason) + ")" : ""),
        describe(prog, bytes, wire, *assembly));
  return 0;
}
