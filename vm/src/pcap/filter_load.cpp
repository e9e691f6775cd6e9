// tcpdump expressions as programs: libpcap compiles, bpf_translate.cpp
// translates, the assembler makes the program every load entry hands on.
#include <string_view>

#include "netcpu/assembler.h"
#include "netcpu/bpf_translate.h"
#include "netcpu/load.h"

namespace netcpu {
namespace {

std::optional<Program> assemble_translation(const std::optional<std::string>& text,
                                            const std::string& translate_error,
                                            const std::string& file, LoadError* error) {
  if (!text) {
    *error = {false, translate_error};
    return std::nullopt;
  }
  Diagnostic d;
  auto p = assemble(*text, file, &d);
  // A translator bug, never the user's expression: say so.
  if (!p) *error = {false, "translated to invalid assembly: " + d.str()};
  return p;
}

}  // namespace

int link_dlt(LinkType link) { return link == LinkType::RawIp ? DLT_RAW : DLT_EN10MB; }

std::optional<Program> program_from_filter(const std::string& expr, int dlt, uint32_t netmask,
                                           const std::string& file, LoadError* error) {
  std::string why;
  auto text = filter_to_assembly(expr, dlt, &why, netmask);
  return assemble_translation(text, why, file, error);
}

std::optional<Program> program_from_filter(const std::string& expr, pcap_t* capture,
                                           uint32_t netmask, const std::string& file,
                                           LoadError* error) {
  std::string why;
  auto text = filter_to_assembly(expr, capture, &why, netmask);
  return assemble_translation(text, why, file, error);
}

std::optional<Program> program_from_filter(const std::string& expr, LinkType link, uint32_t netmask,
                                           const std::string& file, LoadError* error) {
  return program_from_filter(expr, link_dlt(link), netmask, file, error);
}

}  // namespace netcpu
