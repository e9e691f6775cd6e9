// netcpu filter: a tcpdump expression (or a `tcpdump -ddd` program) as
// readable, commented NetCPU assembly, compiled by libpcap itself.
#include <iostream>

#include "bpf_translate.h"
#include "cli_common.h"
#include "commands.h"

namespace netcpu::cli {

int cmd_filter(const FilterOptions& o) {
  int dlt;
  if (o.linktype == "ether")
    dlt = DLT_EN10MB;
  else if (o.linktype == "raw")
    dlt = DLT_RAW;
  else
    throw Failure(kUsage, "--linktype takes ether or raw");
  std::string error;
  std::optional<std::string> text;
  if (!o.cbpf.empty()) {
    if (!o.expr.empty()) throw Failure(kUsage, "give an expression or --cbpf FILE, not both");
    std::vector<uint8_t> bytes = read_file(o.cbpf);
    auto prog = tools::parse_cbpf_text(std::string(bytes.begin(), bytes.end()), &error);
    if (!prog) throw Failure(kBadInput, o.cbpf + ": " + error);
    text = tools::cbpf_to_assembly(*prog, "classic BPF from " + o.cbpf, &error);
    if (!text) throw Failure(kRejected, o.cbpf + ": " + error);
  } else {
    std::string expr;
    for (const auto& w : o.expr) expr += (expr.empty() ? "" : " ") + w;
    text = tools::filter_to_assembly(expr, dlt, &error);
    if (!text) throw Failure(kRejected, "filter '" + expr + "': " + error);
  }
  // Refuse to print what would not load: the translation must verify.
  Diagnostic d;
  auto p = assemble(*text, "<filter>", &d);
  if (!p || !verify(*p, nullptr, &d))
    throw Failure(kRejected, "translation does not verify: " + d.str());
  std::cout << *text;
  return kOk;
}

}  // namespace netcpu::cli
