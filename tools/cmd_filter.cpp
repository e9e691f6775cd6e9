// netcpu filter: a tcpdump expression (or a `tcpdump -ddd` program) as
// readable, commented NetCPU assembly, compiled by libpcap itself.
#include <iostream>

#include "cli_common.h"
#include "commands.h"
#include "netcpu/bpf_translate.h"

namespace netcpu::cli {

namespace {

// ether and raw (a switch port, an lwIPv6 hook), or a capture's link type
// as libpcap names it (tcpdump -L, -y: IPV4, LINUX_SLL2, NULL...) or numbers it.
int link_type(const std::string& name) {
  if (name == "ether") return DLT_EN10MB;
  if (name == "raw") return DLT_RAW;
  int dlt = pcap_datalink_name_to_val(name.c_str());
  if (dlt < 0 && !name.empty() && name.find_first_not_of("0123456789") == std::string::npos &&
      name.size() < 6 && pcap_datalink_val_to_name(std::stoi(name)))
    dlt = std::stoi(name);
  if (dlt < 0)
    throw Failure(kUsage,
                  "--linktype takes ether, raw or a libpcap link type name or number "
                  "(EN10MB, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL, LOOP, ...), not '" +
                      name + "'");
  return dlt;
}

}  // namespace

int cmd_filter(const FilterOptions& o) {
  const int dlt = link_type(o.linktype);
  if (!o.pcap.empty() && o.linktype_given)
    throw Failure(kUsage, "give --linktype or --pcap FILE, not both");
  std::string error;
  std::optional<std::string> text;
  if (!o.cbpf.empty()) {
    if (!o.expr.empty()) throw Failure(kUsage, "give an expression or --cbpf FILE, not both");
    std::vector<uint8_t> bytes = read_file(o.cbpf);
    auto prog = parse_cbpf_text(std::string(bytes.begin(), bytes.end()), &error);
    if (!prog) throw Failure(kBadInput, o.cbpf + ": " + error);
    text = cbpf_to_assembly(*prog, "classic BPF from " + o.cbpf, &error);
    if (!text) throw Failure(kRejected, o.cbpf + ": " + error);
  } else {
    std::string expr;
    for (const auto& w : o.expr) expr += (expr.empty() ? "" : " ") + w;
    if (!o.pcap.empty()) {
      // As `tcpdump -r FILE` compiles it: the capture's link type, and
      // what its handle says that a link type alone does not.
      PcapReader capture(o.pcap);
      text = filter_to_assembly(expr, capture.handle(), &error);
    } else {
      text = filter_to_assembly(expr, dlt, &error);
    }
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
