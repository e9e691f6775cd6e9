// The sandbox: no program runs unless verify() accepts it. See
// docs/verifier.md for what is proven statically and what is checked at run time.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "netcpu/diagnostic.h"
#include "netcpu/program.h"

namespace netcpu {

struct HostCaps;

struct VerifyInfo {
  uint32_t instructions = 0;
  uint32_t max_stack = 0;       // data stack slots needed in the worst case
  uint32_t max_call_depth = 0;  // nested calls in the worst case
  bool writes_packet = false;   // stores into the packet, rewrites or recomputes its checksums
  // What loads but is most likely a mistake: a loop no path leaves, which
  // only the instruction budget (or a fault) ends, on every run that enters it.
  std::vector<Diagnostic> warnings;
};

// caps may be null: then only host-independent checks run.
std::optional<VerifyInfo> verify(const Program& p, const HostCaps* caps, Diagnostic* err);

}  // namespace netcpu
