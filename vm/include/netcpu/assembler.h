// NetCPU assembly source to Program. The language is a superset of the 2004
// NetCPU assembly; docs/language.md is the reference.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "netcpu/diagnostic.h"
#include "netcpu/program.h"

namespace netcpu {

// Assembles source; on error returns nullopt and fills *err with the
// file:line:col of the first error. `file` names the source in diagnostics
// and gives the program its default name (base name without extension).
std::optional<Program> assemble(std::string_view source, const std::string& file, Diagnostic* err);

}  // namespace netcpu
