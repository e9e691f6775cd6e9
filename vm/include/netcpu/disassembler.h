// Program to readable assembly that assembles back to the same bytecode.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "netcpu/program.h"

namespace netcpu {

struct DisasmOptions {
  bool loc = true;                      // emit .loc directives (needed to round-trip)
  std::span<const uint64_t> hits = {};  // per-instruction hit counts to show
  bool pcs = false;                     // show each instruction's pc in a comment
};

std::string disassemble(const Program& p, const DisasmOptions& opt = {});

// One instruction in assembly syntax (no label, no comment).
std::string format_insn(const Program& p, const Insn& insn);

}  // namespace netcpu
