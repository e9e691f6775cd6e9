// Turns fuzz input into a valid NetCPU program, drawing every instruction and
// operand from the instruction table (isa.h), so that new instructions are
// generated without an edit here: straight-line code, forward and backward
// branches, switch blocks, balanced push/pop, calls into a call graph without
// cycles, tables, strings, .init and a timer.
#pragma once

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <vector>

#include "netcpu/program.h"

namespace netcpu::fuzz {

struct GeneratorOptions {
  // Only instructions the JIT compiles (found by trying each one) and
  // forward branches, so that most programs run as native code.
  bool jit_shapes = false;
  // Packet-rewriting instructions (kResize and the like) only where the host can.
  bool resize = true;
};

Program generate_program(FuzzedDataProvider& in, const GeneratorOptions& options);

// The opcodes the JIT compiled in at least one of a few tries on its own.
const std::vector<Op>& jit_compiled_ops();

}  // namespace netcpu::fuzz
