// The assembler on any text: it never crashes, and a source that assembles
// disassembles into text that assembles back to the same bytecode bytes.
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "netcpu/netcpu.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace netcpu;
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  Diagnostic err;
  auto program = assemble(source, "fuzz.ncpu", &err);
  if (!program) return 0;
  const std::string text = disassemble(*program);
  auto again = assemble(text, "fuzz.ncpu", &err);
  if (!again)
    fuzz::fail("the disassembly of a program does not assemble: " + err.str(),
               "--- source:\n" + std::string(source) + "\n--- disassembly:\n" + text);
  if (encode_bytecode(*program) != encode_bytecode(*again))
    fuzz::fail("the disassembly assembles to other bytecode",
               "--- source:\n" + std::string(source) + "\n--- disassembly:\n" + text +
                   "\n--- its disassembly:\n" + disassemble(*again));
  return 0;
}
