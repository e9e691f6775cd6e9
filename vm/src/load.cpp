#include "netcpu/load.h"

#include <string_view>

#include "netcpu/assembler.h"
#include "netcpu/bytecode.h"

namespace netcpu {

std::optional<Program> program_from_bytes(std::span<const uint8_t> bytes, const std::string& file,
                                          LoadError* error) {
  if (is_bytecode(bytes)) {
    std::string why;
    auto p = decode_bytecode(bytes, &why);
    if (!p) {
      *error = {true, file + ": corrupt bytecode: " + why};
      return std::nullopt;
    }
    if (p->source_file.empty()) p->source_file = file;
    return p;
  }
  Diagnostic d;
  auto p = assemble(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                    file, &d);
  if (!p) *error = {false, d.str()};
  return p;
}

std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink, const std::string& file, LoadError* error) {
  Diagnostic d;
  auto vm = Instance::create(std::move(p), caps, limits, std::move(sink), &d);
  if (!vm) {
    if (d.file.empty()) d.file = file;
    *error = {false, d.str()};
  }
  return vm;
}

}  // namespace netcpu
