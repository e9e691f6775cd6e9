// Shared helpers for the core's tests: assemble, verify and run snippets.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "netcpu/netcpu.h"

namespace netcpu::test {

// The 2004 NetCPU slides' example program, verbatim.
inline constexpr const char* kSlidesProgram = R"(# zona dati nello heap
.data:
num cnt 0 # contatore
#codice parte qui
.text:
mov $gpr0, $mlen # spostato lunghezza pkt in reg
print $gpr0 # stampo lunghezza mbuf
call $mycnt # chiamata a funzione
print 666
end
# la prox e' una funzione
func $mycnt:
add $cnt, 1
ret
)";

// Runs fn in a child process with stdout and stderr silenced. True when the
// child exits normally: no crash, no sanitizer report, no abort.
inline bool runs_cleanly(const std::function<void()>& fn) {
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) return true;  // cannot tell; the caller may run it in-process
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
    fn();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Assembles and verifies; fails the test with the diagnostic otherwise.
inline Program assemble_ok(std::string_view src, const std::string& file = "test.ncpu") {
  Diagnostic d;
  auto p = assemble(src, file, &d);
  EXPECT_TRUE(p.has_value()) << d.str() << "\n--- source:\n" << src;
  if (!p) return Program{};
  EXPECT_TRUE(verify(*p, nullptr, &d).has_value()) << d.str() << "\n--- source:\n" << src;
  return *p;
}

// The diagnostic of a program the assembler or the verifier rejects ("" if accepted).
inline std::string rejection(std::string_view src, const HostCaps* caps = nullptr) {
  Diagnostic d;
  auto p = assemble(src, "bad.ncpu", &d);
  if (!p) return d.str();
  if (!verify(*p, caps, &d)) return d.str();
  return "";
}

// A diagnostic that starts with `prefix` ("bad.ncpu:LINE:COL: error: ") and
// mentions `fragment`; `e` empty means the source was accepted.
inline ::testing::AssertionResult diagnostic_is(const std::string& e, std::string_view src,
                                                const std::string& prefix,
                                                const std::string& fragment) {
  if (e.empty())
    return ::testing::AssertionFailure() << "accepted, expected an error\n--- source:\n" << src;
  if (e.rfind(prefix, 0) != 0)
    return ::testing::AssertionFailure()
           << "got    '" << e << "'\nwanted '" << prefix << "...'\n--- source:\n"
           << src;
  if (e.find(fragment) == std::string::npos)
    return ::testing::AssertionFailure()
           << "got '" << e << "', wanted it to mention '" << fragment << "'";
  return ::testing::AssertionSuccess();
}

struct RunOutput {
  RunResult result;
  std::vector<std::string> lines;
  std::vector<uint8_t> packet;  // after the run
  std::unique_ptr<Instance> vm;
};

// Two runs of one program, by two engines or two instances, left the same
// result and emitted the same packets.
inline void expect_same_result(const Instance& vm_a, const RunResult& a, const Instance& vm_b,
                               const RunResult& b) {
  EXPECT_STREQ(verdict_name(a.verdict), verdict_name(b.verdict));
  EXPECT_EQ(a.aborted, b.aborted);
  EXPECT_STREQ(abort_reason_name(a.reason), abort_reason_name(b.reason));
  EXPECT_EQ(a.abort_pc, b.abort_pc);
  EXPECT_EQ(a.instructions, b.instructions);
  EXPECT_EQ(a.length, b.length);
  EXPECT_EQ(a.modified, b.modified);
  EXPECT_EQ(a.redirect_port, b.redirect_port);
  EXPECT_EQ(a.mirror_port, b.mirror_port);
  EXPECT_EQ(a.emitted, b.emitted);
  for (size_t e = 0; e < std::min(vm_a.emitted().size(), vm_b.emitted().size()); ++e) {
    const auto x = vm_a.emitted()[e].bytes(), y = vm_b.emitted()[e].bytes();
    EXPECT_EQ(std::vector<uint8_t>(x.begin(), x.end()), std::vector<uint8_t>(y.begin(), y.end()));
  }
}

// One run of src over packet with these limits.
inline RunOutput run_program_once(std::string_view src, std::vector<uint8_t> packet,
                                  const HostCaps& caps, const Limits& limits, PacketMeta meta) {
  RunOutput out;
  auto lines = std::make_shared<std::vector<std::string>>();
  Diagnostic d;
  out.vm = Instance::create(
      assemble_ok(src), caps, limits,
      [lines](OutputKind, std::string_view l) { lines->emplace_back(l); }, &d);
  EXPECT_TRUE(out.vm) << d.str();
  if (!out.vm) return out;
  uint32_t len = static_cast<uint32_t>(packet.size());
  packet.resize(std::max<size_t>(packet.size(), caps.max_packet));
  if (meta.now_ms == 0) meta.now_ms = 1000;
  out.result = out.vm->run(packet.data(), len, static_cast<uint32_t>(packet.size()), meta);
  packet.resize(len);
  out.packet = packet;
  out.lines = *lines;
  return out;
}

// Runs src over packet and returns what the run left. Where that ran
// native code, the same run interpreted must leave the same (so the tests
// that use this check both engines; the table seed is fixed for both, so
// walks print in one order).
inline RunOutput run_program(std::string_view src, std::vector<uint8_t> packet, HostCaps caps = {},
                             Limits limits = {}, PacketMeta meta = {}) {
  if (limits.table_seed == 0) limits.table_seed = 1;
  RunOutput out = run_program_once(src, packet, caps, limits, meta);
  if (!out.vm || !limits.jit || !out.vm->jit_compiled()) return out;
  Limits interpreted = limits;
  interpreted.jit = false;
  const RunOutput other = run_program_once(src, packet, caps, interpreted, meta);
  if (!other.vm) return out;
  SCOPED_TRACE(std::string("native against interpreted:\n") + std::string(src));
  EXPECT_EQ(other.lines, out.lines);
  EXPECT_EQ(other.packet, out.packet);
  expect_same_result(*out.vm, out.result, *other.vm, other.result);
  return out;
}

// Runs `body` (code, in a .text section unless it names one; `end` appended) on a 60-byte zero
// frame and returns the printed lines joined with '\n'.
inline std::string eval(const std::string& body,
                        std::vector<uint8_t> packet = std::vector<uint8_t>(60, 0)) {
  std::string src = body.find(".text:") == std::string::npos ? ".text:\n" + body : body;
  auto out = run_program(src + "\nend\n", std::move(packet));
  std::string s;
  for (size_t i = 0; i < out.lines.size(); ++i) s += (i ? "\n" : "") + out.lines[i];
  return s;
}

// A minimal Ethernet + IPv4 + TCP/UDP frame with correct checksums.
inline std::vector<uint8_t> ipv4_frame(uint8_t proto, uint32_t src, uint32_t dst, uint16_t sport,
                                       uint16_t dport, std::string_view payload = "") {
  std::vector<uint8_t> f(14 + 20 + (proto == 6 ? 20 : 8) + payload.size(), 0);
  uint8_t* e = f.data();
  const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02}, smac[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::copy(dmac, dmac + 6, e);
  std::copy(smac, smac + 6, e + 6);
  e[12] = 0x08, e[13] = 0x00;
  uint8_t* ip = e + 14;
  uint16_t tot = static_cast<uint16_t>(f.size() - 14);
  ip[0] = 0x45, ip[2] = tot >> 8, ip[3] = tot & 0xff, ip[8] = 64, ip[9] = proto;
  for (int i = 0; i < 4; ++i) ip[12 + i] = src >> (24 - 8 * i), ip[16 + i] = dst >> (24 - 8 * i);
  uint8_t* l4 = ip + 20;
  l4[0] = sport >> 8, l4[1] = sport & 0xff, l4[2] = dport >> 8, l4[3] = dport & 0xff;
  if (proto == 6) {
    l4[12] = 0x50, l4[13] = 0x18, l4[14] = 0xff;
  } else {
    uint16_t ul = static_cast<uint16_t>(8 + payload.size());
    l4[4] = ul >> 8, l4[5] = ul & 0xff;
  }
  std::copy(payload.begin(), payload.end(), f.begin() + (l4 - e) + (proto == 6 ? 20 : 8));
  recompute_checksums(f, LinkType::Ethernet, csum::kIp | csum::kL4);
  if (f.size() < 60) f.resize(60, 0);
  return f;
}

}  // namespace netcpu::test
