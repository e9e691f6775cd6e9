// The one way into the core for a program: the bytes of a file (NetCPU
// source or bytecode), or a tcpdump expression when the core has libpcap,
// become a program, and a program becomes a verified instance. Every host and
// the command line load through here, so that a program is read, named and
// refused the same way wherever it is loaded.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "netcpu/program.h"
#include "netcpu/vm.h"

namespace netcpu {

// Why a load failed, in the words every host shows: "FILE: corrupt bytecode:
// ...", "FILE:LINE:COL: error: ...", libpcap's own message for a filter.
struct LoadError {
  // The bytes are no program at all (corrupt bytecode), rather than a
  // program that is refused: the command line's exit codes tell them apart.
  bool bad_input = false;
  std::string text;
};

// Source or bytecode, told apart by bytecode's magic. `file` names the
// program in diagnostics and is its source file when the bytecode has none.
std::optional<Program> program_from_bytes(std::span<const uint8_t> bytes, const std::string& file,
                                          LoadError* error);

// Verifies `p` and makes an instance of it; a diagnostic that names no file
// names `file`.
std::unique_ptr<Instance> instantiate(Program p, const HostCaps& caps, const Limits& limits,
                                      OutputSink sink, const std::string& file, LoadError* error);

// Whether this core compiles tcpdump expressions (it was built with
// libpcap): the consoles' netcpu/filter and netcpu/netmask exist only then.
#ifdef NETCPU_HAVE_PCAP
inline constexpr bool kCoreCompilesFilters = true;
#else
inline constexpr bool kCoreCompilesFilters = false;
#endif

#ifdef NETCPU_HAVE_PCAP
// A tcpdump expression compiled by libpcap for the host's link (Ethernet:
// DLT_EN10MB, raw IP: DLT_RAW) with pcap_compile's netmask (host byte order;
// 0 as `tcpdump -r`), translated, assembled as `file`. On failure the
// error's text is libpcap's (or the translator's) message alone: callers say
// which filter it was.
std::optional<Program> program_from_filter(const std::string& expr, LinkType link, uint32_t netmask,
                                           const std::string& file, LoadError* error);
#endif

}  // namespace netcpu
