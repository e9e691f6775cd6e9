// Prints the assembler fuzzer's dictionary (libFuzzer's -dict format): every
// mnemonic and mapped register from the instruction table, the gprs, and the
// language's own words, so that new instructions are in it without an edit.
#include <cstdio>
#include <string>
#include <string_view>

#include "netcpu/isa.h"

namespace {

void entry(std::string_view word) {
  std::printf("\"");
  for (unsigned char c : word) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      std::printf("\\x%02X", c);
    else
      std::printf("%c", c);
  }
  std::printf("\"\n");
}

}  // namespace

int main() {
  for (const auto& op : netcpu::kOpInfo) entry(op.mnemonic);
  for (const auto& reg : netcpu::kMappedInfo) entry(reg.name);
  for (int r = 0; r < netcpu::kGprCount; ++r) entry("gpr" + std::to_string(r));
  // Sections, directives, declarations, memory spaces and access types:
  // the grammar of docs/language.md, which the table does not hold.
  static const char* const kLanguage[] = {
      ".data:",     ".text:",    ".init:",      ".timer",
      "ms:",        ".loc",      ".onfault",    "func ",
      "num ",       "buf ",      "bytes ",      "array ",
      "const ",     ".equ",      "table ",      "hash",
      "lpm4",       "lpm6",      " key ",       " value ",
      " max ",      "pkt[",      "pkt.u16[",    "pkt.h32[",
      "pkt.u64[",   "out[",      "out.u32[",    "heap[",
      "heap.u8[",   "abort",     "pass",        "drop",
      "$",          "#",         ", ",          "]",
      "+",          "*",         "-",           "0x",
      "\"",         "192.0.2.1", "2001:db8::1", "02:00:00:00:00:01",
      "10.0.0.0/8", "PROTO_TCP", "PROTO_UDP",   "HOOK_PORT_IN",
      "lru",        " idle ",    "30s",         "500ms",
      "\n"};
  for (const char* w : kLanguage) entry(w);
}
